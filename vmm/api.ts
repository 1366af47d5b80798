// The package's programmatic entry (`import { boot, replay } from "tmemvm"`), for test suites
// that exercise their own guests: boot images with options, run them, read the tmem listing,
// issue hypercalls from the host as a domain, record a run and replay its trace. It is a thin
// layer over the same parts the CLI uses (Vmm, ControlPlane, the trace recorder and replayer).
import { HYPERVISOR_tmem_op, TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../hypercall-abi/constants.js";
import { encodeOp, type CreatArgs, type CtrlArgs, type GenArgs, type TmemOp } from "../hypercall-abi/op-codec.js";
import type { OpLayout } from "../hypercall-abi/op-layouts.js";
import { ControlError } from "./host/control-action.js";
import { ControlPlane, type Listing } from "./host/control-plane.js";
import type { Domain, DomainState } from "./machine/domain.js";
import { ImageError } from "./machine/image.js";
import { readFileBytes } from "./platform/files.js";
import { nodePlatform } from "./platform/node-platform.js";
import { buildMachine, type BuiltMachine } from "./spec/build-machine.js";
import { checkSpec, objectSource } from "./spec/machine-spec.js";
import type { TraceRecorder } from "./trace/recorder.js";
import { replayTrace, type ReplayReport } from "./trace/replay.js";
import { Vmm } from "./machine/vmm.js";

export * as abi from "../hypercall-abi/index.js";
export { ControlError, ControlPlane, ImageError, Vmm };
export type { ActionResult, DomainListing, Listing, PoolListing } from "./host/control-plane.js";
export type { ControlAction, DomainRef } from "./host/control-action.js";
export type { DomainState } from "./machine/domain.js";
export type { Divergence, ReplayReport } from "./trace/replay.js";
export { TraceError } from "./trace/trace-format.js";
// The one machine description and its builder, for the front ends (the CLI builds every run through them).
export { buildMachine, BuiltMachine, type BuildOptions, type MachinePlatform } from "./spec/build-machine.js";
export { checkSpec, fileSource, keyName, objectSource, parseTimedAction, specForReaders, type GuestSpec as SpecGuest, type MachineSpec, type SpecOrigin, type TimedAction } from "./spec/machine-spec.js";
export { GUEST_KEYS, MACHINE_KEYS, NUMBERS_HELP, parseWhole, rangeText, ruleOf, type NumberKey } from "./spec/spec-keys.js";
export { SpecError } from "./spec/spec-error.js";
export { nodePlatform, resolveImage } from "./platform/node-platform.js";
export type { ConsoleSink } from "./machine/vmm.js";
// What the CLI's run options say about the spec: their defaults and the control actions' words.
export { DEFAULT_QUANTUM, DEFAULT_RAM_MIB, DEFAULT_TMEM_MIB } from "./machine/vmm.js";
export { ACTION_WORDS } from "./host/control-action.js";
export type { CreatArgs, CtrlArgs, GenArgs, TmemOp } from "../hypercall-abi/op-codec.js";

/** One guest to boot. */
export interface GuestSpec {
  /**
   * The image: a path to a `.wasm` file, its bytes, or the name of an image bundled with the
   * package (`selftest`, `selftest-c`, `precache`, `preswap`).
   */
  image: string | Uint8Array;
  /** Its name in listings and control calls (default: the image's name, made unique). */
  name?: string;
  /** Guest RAM in MiB (default 32, or what the image needs). */
  ramMiB?: number;
  /** The struct tmem_op layout the guest was built for (default `xen-4.12-oid3/x86_64`). */
  layout?: string;
  /** A control domain (like dom0): may issue TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW. */
  privileged?: boolean;
  /** Share of ephemeral tmem under pressure (0 = no claim). */
  weight?: number;
  /** Most persistent tmem this domain may hold, in MiB. */
  capMiB?: number;
  /** Compress this domain's pages. */
  compress?: boolean;
  /** argv[1..] for the guest. */
  args?: string[];
  /** A save file (`.tmsv`) to restore into the domain before it runs. */
  restore?: string;
}

export interface BootOptions {
  /** Host memory lent to tmem, in MiB (default 64). */
  tmemMiB?: number;
  /** Scheduler seed for several guests: the same seed interleaves them the same way. */
  seed?: number;
  /** Mean hypercalls per time slice when several guests interleave. */
  quantum?: number;
  /** Record every hypercall (the guests' and the host's) to this `.tmtr` trace until close(). */
  record?: string;
  /** Control actions at hypercall counts, as a config's `control`: `"5000:weight web 4"` or `{ at, action, args }`. */
  control?: (string | { at: number; action: string; args?: string[] })[];
}

/** What one guest did. */
export interface GuestReport {
  name: string;
  domid: number;
  state: DomainState;
  /** Its exit code (`_start`'s return or proc_exit), or null if it did not exit. */
  exitCode: number | null;
  /** Why it crashed, if it did. */
  crash: string | null;
  /** Everything it wrote to its stdout and stderr. */
  stdout: string;
  stderr: string;
  hypercalls: number;
}

export interface RunReport {
  /** Every guest exited with 0. */
  ok: boolean;
  guests: GuestReport[];
  /** The tmem listing once every guest has ended. */
  listing: Listing;
}

/**
 * A struct tmem_op for hypercall(): any field left out is zero, except `gen.cmfn` and
 * `ctrl.buf`, which default to the scratch frame the host lends the op (see hypercall()).
 */
export interface HostOp {
  cmd: number;
  poolId?: number;
  creat?: Partial<CreatArgs>;
  gen?: Partial<GenArgs>;
  ctrl?: Partial<CtrlArgs>;
}

export interface HostHypercallResult {
  /** The hypercall's result (1 hit or success, 0 miss, a negative errno). */
  result: number;
  /** The scratch frame after the op: a get's page, a control op's output. */
  frame: Uint8Array;
}

interface Captured {
  stdout: string;
  stderr: string;
}

/** A VMM with booted guests, ready to run. */
export class Machine {
  /** The control plane: freeze/thaw, weight, cap, compress, authorise, save/restore, list. */
  readonly control: ControlPlane;
  private readonly consoles = new Map<Domain, Captured>();
  private recorder: TraceRecorder | null = null;
  private ran = false;

  /** The machine itself, for what this API does not cover. */
  readonly vmm: Vmm;

  private constructor(private readonly built: BuiltMachine) {
    this.vmm = built.vmm;
    this.control = built.control;
    this.recorder = built.recorder;
  }

  /** @internal Use boot(). */
  static async create(guests: readonly GuestSpec[], options: BootOptions): Promise<Machine> {
    // The same check and builder as every front end: mistakes are SpecErrors named spec.guests[i].key.
    const spec = checkSpec({ ...options, guests }, objectSource("spec"));
    const consoles: Captured[] = [];
    const built = await buildMachine(spec, nodePlatform(), {
      console: (i) => {
        const captured: Captured = (consoles[i] = { stdout: "", stderr: "" });
        return { stdout: (t) => (captured.stdout += t), stderr: (t) => (captured.stderr += t) };
      },
    });
    const m = new Machine(built);
    built.vmm.domains.forEach((d, i) => m.consoles.set(d, consoles[i]));
    return m;
  }

  /** The booted guests, in boot order. */
  get guests(): GuestReport[] {
    return this.vmm.domains.map((d) => this.report(d));
  }

  /** Runs every guest to its end (several interleave under the seeded scheduler). Once. */
  run(): RunReport {
    if (this.ran) throw new Error("this machine has already run; boot another");
    this.ran = true;
    this.built.run();
    const guests = this.guests;
    return { ok: guests.every((g) => g.exitCode === 0), guests, listing: this.list() };
  }

  /** The tmem listing now: per domain and pool, pages and op counts. */
  list(): Listing {
    return this.control.list();
  }

  /**
   * Issues a tmem_op hypercall as `guest` (name or domid), from the host, before or after the
   * run. The op's struct and its page travel through two scratch frames at the top of the
   * guest's RAM, which are given back to the guest intact afterwards. `page` (4096 bytes) is put
   * into the scratch frame first: the data of a put. The trace records these calls like the
   * guest's own.
   */
  hypercall(guest: string | number, op: HostOp, page?: Uint8Array): HostHypercallResult {
    const d = this.control.domain(guest);
    if (!this.vmm.tmem.findClient(d.domid)) throw new ControlError(`domain ${d.name} has no tmem client (it was destroyed)`);
    if (page && page.length !== TMEM_PAGE_SIZE) throw new RangeError(`a page is ${TMEM_PAGE_SIZE} bytes, got ${page.length}`);
    const ram = d.ram;
    const frameAt = ram.sizeBytes - TMEM_PAGE_SIZE;
    const structAt = frameAt - TMEM_PAGE_SIZE;
    const saved = ram.bytes.slice(structAt, ram.sizeBytes);
    try {
      ram.bytes.fill(0, frameAt);
      if (page) ram.bytes.set(page, frameAt);
      ram.bytes.set(encodeOp(fullOp(op, d.layout, frameAt), d.layout), structAt);
      const result = d.hypercall(HYPERVISOR_tmem_op, 0, structAt, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      return { result, frame: ram.bytes.slice(frameAt, ram.sizeBytes) };
    } finally {
      ram.bytes.set(saved, structAt);
    }
  }

  /** Ends the trace (if recording) with its end record; returns the hypercalls recorded. */
  close(): number | null {
    const r = this.recorder;
    this.recorder = null;
    if (!r) return null;
    return r.close();
  }

  private report(d: Domain): GuestReport {
    const c = this.consoles.get(d)!;
    return { name: d.name, domid: d.domid, state: d.state, exitCode: d.exitCode, crash: d.crash, stdout: c.stdout, stderr: c.stderr, hypercalls: d.hypercalls };
  }
}

function fullOp(op: HostOp, layout: OpLayout, frameAt: number): TmemOp {
  const oid = (words?: bigint[]) => words ?? new Array<bigint>(layout.oidWords).fill(0n);
  const frame = BigInt(frameAt >>> TMEM_PAGE_SHIFT);
  const full: TmemOp = { cmd: op.cmd, poolId: op.poolId ?? 0 };
  if (op.creat) full.creat = { uuid: op.creat.uuid ?? [0n, 0n], flags: op.creat.flags ?? 0, arg1: op.creat.arg1 ?? 0 };
  if (op.gen) {
    const g = op.gen;
    full.gen = { oid: oid(g.oid), index: g.index ?? 0, tmemOffset: g.tmemOffset ?? 0, pfnOffset: g.pfnOffset ?? 0, len: g.len ?? 0, cmfn: g.cmfn ?? frame };
  }
  if (op.ctrl) {
    const c = op.ctrl;
    full.ctrl = { subop: c.subop ?? 0, cliId: c.cliId ?? 0, arg1: c.arg1 ?? 0, arg2: c.arg2 ?? 0, oid: oid(c.oid), buf: c.buf ?? BigInt(frameAt) };
  }
  return full;
}

/**
 * Boots guests in a fresh VMM. Nothing runs until `run()`; hypercalls from the host may be
 * issued before and after. A bad image, layout or option throws before anything boots.
 *
 * ```js
 * const vm = await boot([{ image: "selftest" }]);
 * const { ok, guests } = vm.run();
 * ```
 */
export function boot(guests: GuestSpec | readonly GuestSpec[], options: BootOptions = {}): Promise<Machine> {
  return Machine.create(isList(guests) ? guests : [guests], options);
}

const isList = (g: GuestSpec | readonly GuestSpec[]): g is readonly GuestSpec[] => Array.isArray(g);

/** Re-executes a recorded trace against a fresh VMM; `divergence` is null when it reproduces. */
export function replay(trace: string | Uint8Array): ReplayReport {
  return replayTrace(typeof trace === "string" ? readFileBytes(trace) : trace);
}
