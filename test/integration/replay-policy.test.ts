// Record and replay see every way a client's policy changes. Each policy field the trace carries
// (weight, cap, compression, frozen, a shared-pool authorisation, the global shared-auth switch,
// migrating, frozen-before-save) is changed each way it can be: by a host control action, by a
// privileged guest's TMEMC sub-op or TMEM_AUTH, and directly by a program. The change is preceded
// and followed, with nothing between them, by each thing that could hide it from the recorder (a
// control action, another direct change, a domain's end, close()), then shown by hypercalls whose
// results depend on it. Each run must replay with no divergence, and the same trace without the
// recorded change must diverge: the first catches a recorder that misses a change, the second a
// replay that does not look at one.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  HYPERVISOR_tmem_op,
  TMEM_AUTH,
  TMEM_CLI_ID_ALL,
  TMEM_CONTROL,
  TMEM_GET_PAGE,
  TMEM_NEW_POOL,
  TMEM_PAGE_SIZE,
  TMEM_CLIENT_COMPRESS,
  TMEM_PUT_PAGE,
  TMEMC_FREEZE,
  TMEMC_SAVE_BEGIN,
  TMEMC_SAVE_END,
  TMEMC_SAVE_GET_CLIENT_CAP,
  TMEMC_SAVE_GET_CLIENT_FLAGS,
  TMEMC_SAVE_GET_CLIENT_WEIGHT,
  TMEMC_SET_CAP,
  TMEMC_SET_COMPRESS,
  TMEMC_SET_WEIGHT,
} from "../../hypercall-abi/constants.js";
import { encodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { boot, replay } from "../../vmm/node.js";
import { ControlPlane } from "../../vmm/host/control-plane.js";
import type { Domain } from "../../vmm/machine/domain.js";
import { imageFromBytes } from "../../vmm/machine/image.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { recordVmm, type TraceRecorder } from "../../vmm/trace/recorder.js";
import { formatReplayReport, replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace, type TraceEntry, type TraceEvent } from "../../vmm/trace/trace-format.js";
import { MemoryTraceSink } from "../../vmm/trace/trace-sink.js";
import { pattern } from "../support/harness.js";
import { testKernels } from "../support/kernels.js";
import { buildModule, HYPERCALL_IMPORT } from "../support/wasm-builder.js";
import { rewriteTrace } from "../support/trace-rewrite.js";

/** Every domain here speaks 4.1's ABI: the last with TMEM_CONTROL and TMEM_AUTH for a privileged guest. */
const LAYOUT = opLayout("xen-4.1-oid3/x86_64")!;
/** A guest that returns at once: domains here are driven by their hypercall entry, and end when run. */
const IDLE_BYTES = buildModule({ funcImports: [HYPERCALL_IMPORT] });
const IDLE = imageFromBytes(IDLE_BYTES, "idle");
const OP_ADDR = 0x100;
const DATA_PFN = 1;
const UUID: [bigint, bigint] = [0x1234n, 0x5678n];
const OTHER_UUID: [bigint, bigint] = [0x9abcn, 0xdef0n];

type Field = "weight" | "cap" | "compress" | "frozen" | "authorised" | "sharedAuthOpen" | "migrating" | "frozenBeforeSave";
type Way = "action" | "tmemc" | "direct";

/**
 * A program changing policy behind the control plane's back, as the API lets it (`vm.vmm`). The
 * one place these tests reach into the core: when the core takes policy changes through a method
 * of its own, only this changes.
 */
function setDirectly(vmm: Vmm, d: Domain, field: Field, on: boolean | number, uuid = UUID): void {
  const t = vmm.tmem;
  if (field === "sharedAuthOpen") {
    t.setSharedAuth(on as boolean);
    return;
  }
  if (field === "authorised") {
    t.authoriseSharedPool(d.domid, uuid, on as boolean);
    return;
  }
  if (field === "weight") t.setPolicy(d.domid, { weight: on as number });
  else if (field === "cap") t.setPolicy(d.domid, { capPages: on as number });
  else t.setPolicy(d.domid, { [field]: on as boolean });
}

/** A machine being recorded: a privileged dom0, the guest whose policy changes (g), a bystander (h). */
class Bench {
  private constructor(
    readonly vmm: Vmm,
    readonly control: ControlPlane,
    readonly rec: TraceRecorder,
    readonly sink: MemoryTraceSink,
    readonly dom0: Domain,
    readonly g: Domain,
    readonly h: Domain,
    readonly pool: number,
  ) {}

  static async start(): Promise<Bench> {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
    const control = new ControlPlane(vmm);
    const sink = new MemoryTraceSink();
    const rec = recordVmm(vmm, sink, { test: "replay-policy" }, control);
    const boot = (name: string, privileged = false) => vmm.boot({ image: IDLE, name, ramMiB: 1, layout: LAYOUT, privileged });
    const dom0 = await boot("dom0", true);
    const g = await boot("g");
    const h = await boot("h");
    const b0 = new Bench(vmm, control, rec, sink, dom0, g, h, 0);
    const pool = b0.newPool(g, { persistent: true });
    expect(pool).toBe(0);
    expect(b0.put(g, pool, 0)).toBe(1);
    expect(b0.put(h, b0.newPool(h, { persistent: true }), 0)).toBe(1);
    return b0;
  }

  op(d: Domain, op: TmemOp): number {
    d.ram.bytes.set(encodeOp(op, d.layout), OP_ADDR);
    return d.hypercall(HYPERVISOR_tmem_op, 0, OP_ADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }

  /** TMEM_CONTROL from dom0 about `target`. */
  ctl(subop: number, target: Domain, arg1 = 0, poolId = 0): number {
    return this.op(this.dom0, {
      cmd: TMEM_CONTROL,
      poolId,
      ctrl: { subop, cliId: target.domid, arg1, arg2: 0, oid: [0n, 0n, 0n], buf: 0n },
    });
  }

  /** TMEM_AUTH from dom0: `cliId` (a domain's, or all of them) may create or join UUID's shared pool. */
  auth(cliId: number, allow: boolean): number {
    return this.op(this.dom0, { cmd: TMEM_AUTH, poolId: 0, creat: { uuid: UUID, flags: allow ? 1 : 0, arg1: cliId } });
  }

  newPool(d: Domain, opts: { persistent?: boolean; shared?: boolean }): number {
    const flags = encodePoolFlags({ ...opts, version: d.layout.specVersion });
    return this.op(d, { cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: opts.shared ? UUID : [0n, 0n], flags, arg1: 0 } });
  }

  private gen(index: number) {
    return { oid: [1n, 0n, 0n], index, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(DATA_PFN) };
  }

  get(d: Domain, pool: number, index: number): number {
    return this.op(d, { cmd: TMEM_GET_PAGE, poolId: pool, gen: this.gen(index) });
  }

  put(d: Domain, pool: number, index: number): number {
    d.ram.bytes.set(pattern(index + 1), DATA_PFN * TMEM_PAGE_SIZE);
    return this.op(d, { cmd: TMEM_PUT_PAGE, poolId: pool, gen: this.gen(index) });
  }

  /**
   * Hypercalls whose results show every policy field of g: dom0 reads its weight, cap and flags;
   * g asks twice for UUID's shared pool (two private ones unless authorised) and looks in the
   * second for a page put in the first; g puts its page again (refused while migrating) and a new
   * one (refused under tmemvm's own cap, which no sub-op reports); dom0 ends a save (frozen as before it).
   */
  probe(): number[] {
    const { g } = this;
    const r = [this.ctl(TMEMC_SAVE_GET_CLIENT_WEIGHT, g), this.ctl(TMEMC_SAVE_GET_CLIENT_CAP, g), this.ctl(TMEMC_SAVE_GET_CLIENT_FLAGS, g)];
    const first = this.newPool(g, { shared: true });
    const second = this.newPool(g, { shared: true });
    r.push(first, second, this.put(g, first, 5), this.get(g, second, 5));
    r.push(this.put(g, this.pool, 0), this.put(g, this.pool, 1));
    r.push(this.ctl(TMEMC_SAVE_END, g), this.ctl(TMEMC_SAVE_GET_CLIENT_FLAGS, g));
    return r;
  }

  close(): Uint8Array {
    this.rec.close();
    return this.sink.bytes();
  }
}

interface Change {
  field: Field;
  /** How the test names it, if not by its field. */
  label?: string;
  /** False: undone before the probe, so only the trace's own checks can see it. */
  probed?: false;
  way: Way;
  /** Makes the change; the last thing it does is the change itself. */
  make(b: Bench): void;
  /** The trace event that carries it (an action, or the policy event a direct change became). */
  carriedBy?(x: TraceEntry & { kind: "event" }, b: Bench): boolean;
}

const action = (name: string) => (x: TraceEntry & { kind: "event" }, b: Bench) =>
  x.event.type === "action" && x.event.action === name && x.event.domid === b.g.domid;
const policyOfG = (test: (p: Record<string, unknown>) => boolean) => (x: TraceEntry & { kind: "event" }, b: Bench) =>
  x.event.type === "policy" &&
  x.event.domid === b.g.domid &&
  x.event.policy !== null &&
  test(x.event.policy as unknown as Record<string, unknown>);

const CHANGES: Change[] = [
  { field: "weight", way: "action", make: (b) => b.control.setWeight(b.g.domid, 7), carriedBy: action("weight") },
  { field: "weight", way: "tmemc", make: (b) => expect(b.ctl(TMEMC_SET_WEIGHT, b.g, 7)).toBe(0) },
  { field: "weight", way: "direct", make: (b) => setDirectly(b.vmm, b.g, "weight", 7), carriedBy: policyOfG((p) => p.weight === 7) },
  { field: "cap", way: "action", make: (b) => b.control.setCapMiB(b.g.domid, 0), carriedBy: action("cap") },
  { field: "cap", way: "tmemc", make: (b) => expect(b.ctl(TMEMC_SET_CAP, b.g, 3)).toBe(0) },
  { field: "cap", way: "direct", make: (b) => setDirectly(b.vmm, b.g, "cap", 1), carriedBy: policyOfG((p) => p.capPages === 1) },
  { field: "compress", way: "action", make: (b) => b.control.setCompress(b.g.domid, true), carriedBy: action("compress") },
  { field: "compress", way: "tmemc", make: (b) => expect(b.ctl(TMEMC_SET_COMPRESS, b.g, 1)).toBe(0) },
  {
    field: "compress",
    way: "direct",
    make: (b) => setDirectly(b.vmm, b.g, "compress", true),
    carriedBy: policyOfG((p) => p.compress === true),
  },
  { field: "frozen", way: "action", make: (b) => b.control.freeze(b.g.domid), carriedBy: action("freeze") },
  { field: "frozen", way: "tmemc", make: (b) => expect(b.ctl(TMEMC_FREEZE, b.g)).toBe(0) },
  { field: "frozen", way: "direct", make: (b) => setDirectly(b.vmm, b.g, "frozen", true), carriedBy: policyOfG((p) => p.frozen === true) },
  { field: "authorised", way: "action", make: (b) => b.control.authorise(b.g.domid, UUID, true), carriedBy: action("auth") },
  { field: "authorised", way: "tmemc", make: (b) => expect(b.auth(b.g.domid, true)).toBe(1) },
  {
    field: "authorised",
    way: "direct",
    make: (b) => setDirectly(b.vmm, b.g, "authorised", true),
    carriedBy: policyOfG((p) => (p.authorised as string[]).length === 1),
  },
  {
    // The same number of uuids, another one: a recorder that counts them would miss it.
    field: "authorised",
    label: "authorised (one uuid for another)",
    way: "direct",
    make: (b) => {
      b.control.authorise(b.g.domid, OTHER_UUID, true);
      b.ctl(TMEMC_SAVE_GET_CLIENT_WEIGHT, b.g); // a hypercall between: the recorder looks here
      setDirectly(b.vmm, b.g, "authorised", false, OTHER_UUID);
      setDirectly(b.vmm, b.g, "authorised", true);
    },
    carriedBy: (x, b) =>
      policyOfG((p) => (p.authorised as string[]).length === 1)(x, b) && x.event.type === "policy" && x.event.was?.authorised.length === 1,
  },
  { field: "sharedAuthOpen", way: "tmemc", make: (b) => expect(b.auth(TMEM_CLI_ID_ALL, true)).toBe(1) },
  {
    field: "sharedAuthOpen",
    way: "direct",
    make: (b) => setDirectly(b.vmm, b.g, "sharedAuthOpen", true),
    carriedBy: (x) => x.event.type === "shared-auth" && x.event.open,
  },
  {
    // Flipped and flipped back with nothing that shows it between: only the second flip can tell
    // replay that the first is missing.
    field: "sharedAuthOpen",
    label: "sharedAuthOpen (on, then off again)",
    way: "direct",
    probed: false,
    make: (b) => {
      setDirectly(b.vmm, b.g, "sharedAuthOpen", true);
      b.ctl(TMEMC_SAVE_GET_CLIENT_WEIGHT, b.g); // a hypercall between: the recorder looks here
      setDirectly(b.vmm, b.g, "sharedAuthOpen", false);
    },
    carriedBy: (x) => x.event.type === "shared-auth" && x.event.open,
  },
  {
    field: "compress",
    label: "compress (on, then off again)",
    way: "direct",
    probed: false,
    make: (b) => {
      setDirectly(b.vmm, b.g, "compress", true);
      b.ctl(TMEMC_SAVE_GET_CLIENT_WEIGHT, b.g); // a hypercall between: the recorder looks here
      setDirectly(b.vmm, b.g, "compress", false);
    },
    carriedBy: policyOfG((p) => p.compress === true),
  },
  { field: "migrating", way: "tmemc", make: (b) => expect(b.ctl(TMEMC_SAVE_BEGIN, b.g, 1)).toBe(1) },
  {
    field: "migrating",
    way: "direct",
    make: (b) => setDirectly(b.vmm, b.g, "migrating", true),
    carriedBy: policyOfG((p) => p.migrating === true),
  },
  {
    field: "frozenBeforeSave",
    way: "tmemc",
    make: (b) => {
      expect(b.ctl(TMEMC_FREEZE, b.g)).toBe(0);
      expect(b.ctl(TMEMC_SAVE_BEGIN, b.g)).toBe(1);
    },
  },
  {
    field: "frozenBeforeSave",
    way: "direct",
    make: (b) => {
      expect(b.ctl(TMEMC_SAVE_BEGIN, b.g)).toBe(1);
      setDirectly(b.vmm, b.g, "frozenBeforeSave", true);
    },
    carriedBy: policyOfG((p) => p.frozenBeforeSave === true),
  },
];

/** What comes right before the change, with nothing between. */
const BEFORE: [string, (b: Bench) => void][] = [
  ["a hypercall", () => {}],
  ["an action on another domain", (b) => b.control.setWeight(b.h.domid, 2)],
  ["an action on the same domain", (b) => b.control.thaw(b.g.domid)],
  ["a TMEMC sub-op on the same domain", (b) => expect(b.ctl(TMEMC_SET_WEIGHT, b.g, 2)).toBe(0)],
  ["a direct change to another domain", (b) => setDirectly(b.vmm, b.h, "compress", true)],
];

/** What comes right after it, with nothing between; `false`: the run ends there (no probe). */
const AFTER: [string, (b: Bench, field: Field) => boolean][] = [
  ["a hypercall", () => true],
  [
    "a list action",
    (b) => {
      b.control.list();
      return true;
    },
  ],
  [
    "an action on the same domain",
    (b, field) => {
      field === "weight" ? b.control.setCapMiB(b.g.domid, 2) : b.control.setWeight(b.g.domid, 9);
      return true;
    },
  ],
  [
    "an action on another domain",
    (b) => {
      b.control.setWeight(b.h.domid, 3);
      return true;
    },
  ],
  [
    "a flush action",
    (b) => {
      b.control.flush(1);
      return true;
    },
  ],
  [
    "a direct change to the same domain",
    (b, field) => {
      field === "weight" ? setDirectly(b.vmm, b.g, "cap", 50) : setDirectly(b.vmm, b.g, "weight", 11);
      return true;
    },
  ],
  [
    "a direct change to another domain",
    (b) => {
      setDirectly(b.vmm, b.h, "weight", 4);
      return true;
    },
  ],
  [
    "another domain destroyed",
    (b) => {
      b.control.destroy(b.h.domid);
      return true;
    },
  ],
  [
    "another domain exiting",
    (b) => {
      b.vmm.run(b.h);
      return true;
    },
  ],
  [
    "the domain itself exiting",
    (b) => {
      b.vmm.run(b.g);
      return true;
    },
  ],
  ["close()", () => false],
];

/** The trace re-encoded without the entry at `offset`. */
function without(bytes: Uint8Array, offset: number): Uint8Array {
  return rewriteTrace(bytes, (x) => (x.offset === offset ? null : x));
}

async function recordScenario(
  change: Change,
  before: (b: Bench) => void,
  after: (b: Bench, field: Field) => boolean,
): Promise<{ bench: Bench; bytes: Uint8Array; probed: number[] | null }> {
  const bench = await Bench.start();
  before(bench);
  change.make(bench);
  const probed = after(bench, change.field) ? bench.probe() : null;
  return { bench, bytes: bench.close(), probed };
}

const cases = CHANGES.flatMap((c) =>
  BEFORE.flatMap(([b, before]) =>
    AFTER.map(([a, after]) => ({ name: `${c.label ?? c.field} by ${c.way}, after ${b}, before ${a}`, c, before, after })),
  ),
);

describe("every policy field, changed every way, next to everything that could hide it", () => {
  it.each(cases.map((x) => [x.name, x] as const))(
    "%s: replays with no divergence; without the change it diverges",
    async (_, { c, before, after }) => {
      const { bench, bytes } = await recordScenario(c, before, after);
      const report = replayTrace(bytes, testKernels);
      expect(report.divergence, formatReplayReport(report)).toBeNull();
      if (!c.carriedBy) return;
      const carriers = decodeTrace(bytes).entries.filter(
        (x): x is TraceEntry & { kind: "event" } => x.kind === "event" && c.carriedBy!(x, bench),
      );
      expect(carriers.length, "the change is not in the trace").toBeGreaterThan(0);
      const planted = replayTrace(without(bytes, carriers[0].offset), testKernels);
      expect(planted.divergence, "replay did not notice the change was missing").not.toBeNull();
    },
  );

  it("each probe shows its field: the probes of an unchanged guest differ from those after each change", async () => {
    const base = (
      await recordScenario(
        { field: "weight", way: "direct", make: () => {} },
        () => {},
        () => true,
      )
    ).probed!;
    for (const c of CHANGES.filter((x) => x.probed !== false)) {
      const { probed } = await recordScenario(
        c,
        () => {},
        () => true,
      );
      expect(probed, `${c.label ?? c.field} by ${c.way}`).not.toEqual(base);
    }
  });
});

describe("through the package's API", () => {
  it("a program sets compression directly and a control action follows with nothing between: both replay, and each is needed", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tmemvm-replay-policy-")), "api.tmtr");
    const vm = await boot({ image: IDLE_BYTES, name: "g", ramMiB: 1, layout: LAYOUT.name, privileged: true }, { tmemMiB: 1, record: path });
    const g = vm.vmm.domains[0];
    const flags = () => vm.hypercall("g", { cmd: TMEM_CONTROL, ctrl: { subop: TMEMC_SAVE_GET_CLIENT_FLAGS, cliId: g.domid } }).result;
    const weight = () => vm.hypercall("g", { cmd: TMEM_CONTROL, ctrl: { subop: TMEMC_SAVE_GET_CLIENT_WEIGHT, cliId: g.domid } }).result;
    expect([flags(), weight()]).toEqual([0, 0]);
    setDirectly(vm.vmm, g, "compress", true);
    vm.control.setWeight("g", 5);
    expect([flags(), weight()]).toEqual([TMEM_CLIENT_COMPRESS, 5]);
    setDirectly(vm.vmm, g, "frozen", true);
    setDirectly(vm.vmm, g, "weight", 6);
    vm.close();
    const bytes = new Uint8Array(readFileSync(path));
    const report = replay(path);
    expect(report.divergence, formatReplayReport(report)).toBeNull();
    const events = decodeTrace(bytes).entries.filter((x): x is TraceEntry & { kind: "event" } => x.kind === "event");
    const direct = events.find((x) => x.event.type === "policy" && x.event.policy?.compress === true)!;
    const action = events.find((x) => x.event.type === "action" && x.event.action === "weight")!;
    const last = events.find((x) => x.event.type === "policy" && x.event.policy?.frozen === true)!;
    // The direct change goes in before the action, apart from it; the last two before the end.
    expect(direct.offset).toBeLessThan(action.offset);
    expect(direct.after).toBe(action.after);
    expect((last.event as TraceEvent & { type: "policy" }).policy).toMatchObject({ compress: true, weight: 6, frozen: true });
    for (const gone of [direct, action, last]) expect(replay(without(bytes, gone.offset)).divergence).not.toBeNull();
  });
});

describe("actions name domains by id in the trace", () => {
  it("a domain named like another domain's id does not take that domain's actions on replay", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
    const control = new ControlPlane(vmm);
    const sink = new MemoryTraceSink();
    const rec = recordVmm(vmm, sink, undefined, control);
    // Domain 1 is called "2"; the action is on domain 2, named "x".
    await vmm.boot({ image: IDLE, name: "2", ramMiB: 1, layout: LAYOUT });
    const x = await vmm.boot({ image: IDLE, name: "x", ramMiB: 1, layout: LAYOUT });
    control.setWeight("x", 5);
    control.freeze("x");
    expect(vmm.tmem.findClient(x.domid)!.weight).toBe(5);
    rec.close();
    const report = replayTrace(sink.bytes(), testKernels);
    expect(report.divergence, formatReplayReport(report)).toBeNull();
  });
});
