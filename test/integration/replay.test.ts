// Record and replay of whole runs: every control action, caps, weights, compression, a restored
// save file, several interleaved bundled guests, policy set directly by a program, privileged
// guests' control ops, runs cut short. Each replays with no divergence; a trace with a planted
// change (a policy, an action removed, a seed, a result) is reported at the record where the
// re-executed run first differs from what the recorded run saw.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { TMEMC_FREEZE, TMEMC_SET_WEIGHT, TMEMC_THAW, ENOMEM, EFROZEN } from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { loadImage, traceFile } from "../../vmm/platform/files.js";
import { checkSpec, objectSource } from "../../vmm/api.js";
import { runGuests } from "../../cli/run-command.js";
import { TraceRecorder } from "../../vmm/trace/recorder.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace, type TraceEntry, type TraceEvent } from "../../vmm/trace/trace-format.js";
import { Tmem } from "../../vmm/tmem/tmem.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { Guest } from "../support/harness.js";
import { expectReplays } from "../support/replay-check.js";
import { imagePath, QUIET, runCli } from "../support/paths.js";
import { recordVmm } from "../../vmm/trace/recorder.js";
import { checkedLz4, testKernels } from "../support/kernels.js";
import { rewriteTrace } from "../support/trace-rewrite.js";

const dir = mkdtempSync(join(tmpdir(), "tmemvm-replay-"));
const build = imagePath;
const quiet = QUIET;
let traces = 0;

/** Two guests under memory pressure: a cleancache reader (a) and a frontswap writer (b). */
/** A guest as a config file writes it. */
type DomainConfig = {
  image: string;
  name?: string;
  ramMiB?: number;
  weight?: number;
  capMiB?: number;
  args?: string[];
  save?: string;
  restore?: string;
};

const pair = (): DomainConfig[] => [
  { image: build("precache"), name: "a", ramMiB: 4, args: ["200", "16", "2", "random", "3"] },
  { image: build("preswap"), name: "b", ramMiB: 4, args: ["150", "32", "800", "run", "5"] },
];

/** Runs of the pair with these control actions, recorded once and shared by the tests that read them. */
const pairRuns = new Map<string, Promise<{ path: string; bytes: Uint8Array }>>();
function recordPair(control: string[]): Promise<{ path: string; bytes: Uint8Array }> {
  const key = control.join("|");
  if (!pairRuns.has(key)) pairRuns.set(key, recordRun({ domains: pair() }, control));
  return pairRuns.get(key)!;
}

async function recordRun(
  cfg: { domains: DomainConfig[]; tmemMiB?: number; seed?: number },
  control: string[] = [],
): Promise<{ path: string; bytes: Uint8Array }> {
  const path = join(dir, `run${++traces}.tmtr`);
  const spec = checkSpec({ tmemMiB: 1, seed: 7, quantum: 16, control, record: path, ...cfg }, objectSource("test"));
  const r = await runGuests(spec, { summary: false }, quiet);
  expect(r.crashed.filter((d) => d.crash !== "destroyed")).toEqual([]);
  return { path, bytes: new Uint8Array(readFileSync(path)) };
}

const events = (bytes: Uint8Array) => decodeTrace(bytes).entries.filter((x): x is TraceEntry & { kind: "event" } => x.kind === "event");

/** 1-based number of the first hypercall record whose domain or result differs between two traces. */
function firstDifference(a: Uint8Array, b: Uint8Array): { number: number; a: number; b: number } {
  const ra = decodeTrace(a).records;
  const rb = decodeTrace(b).records;
  const i = ra.findIndex((x, k) => !rb[k] || rb[k].record.domid !== x.record.domid || rb[k].record.result !== x.record.result);
  expect(i).toBeGreaterThanOrEqual(0);
  return { number: i + 1, a: ra[i].record.result, b: rb[i].record.result };
}

describe("every control action, at its place in the run", () => {
  const save = join(dir, "mid-run.tmsv");
  it.each([
    ["freeze", ["150:freeze a", "700:thaw a"]],
    ["thaw", ["0:freeze b", "300:thaw b"]],
    ["flush", ["400:flush 60"]],
    ["weight", ["0:weight a 1", "0:weight b 1", "200:weight a 8"]],
    ["cap", ["200:cap b 0"]],
    ["compress", ["100:compress a on"]],
    ["auth", ["100:auth a 0x1234,0x5678"]],
    ["deauth", ["100:auth a 1,2", "300:deauth a 1,2"]],
    ["destroy", ["500:destroy a"]],
    ["save", [`600:save b ${save}`]],
    ["list", ["300:list"]],
  ])("%s: the run replays with no divergence, and the action is in the trace where it happened", async (action, control) => {
    const { path, bytes } = await recordPair(control);
    expectReplays(path);
    const at = Number(control.find((c) => c.split(":")[1].startsWith(action))!.split(":")[0]);
    const e = events(bytes).find(
      (x) =>
        (x.event.type === "action" && x.event.action === action) ||
        (x.event.type === "end" && x.event.how === "destroyed" && action === "destroy"),
    );
    expect(e, `no ${action} event in the trace`).toBeDefined();
    // Control actions fire between slices, at the first boundary at or past their hypercall count.
    expect(e!.after).toBeGreaterThanOrEqual(at);
    expect(e!.after).toBeLessThan(at + 2 * 16 + 1);
  });

  it.each([
    ["freeze", ["150:freeze a", "700:thaw a"]],
    ["flush", ["400:flush 60"]],
    ["cap", ["200:cap b 0"]],
    ["destroy", ["500:destroy a"]],
  ])("%s: a trace without the action diverges after where it was", async (action, control) => {
    const { bytes } = await recordPair(control);
    const e = events(bytes).find(
      (x) => (x.event.type === "action" && x.event.action === action) || (x.event.type === "end" && x.event.how === "destroyed"),
    )!;
    const r = replayTrace(
      rewriteTrace(bytes, (x) => (x.offset === e.offset ? null : x)),
      testKernels,
    );
    expect(r.divergence).not.toBeNull();
    expect(r.divergence!.record).toBeGreaterThan(e.after);
  });

  it("a list or save action whose recorded outcome was changed is reported at that action", async () => {
    const { bytes } = await recordPair(["300:list", `600:save b ${join(dir, "b.tmsv")}`]);
    for (const action of ["list", "save"]) {
      const e = events(bytes).find((x) => x.event.type === "action" && x.event.action === action)!;
      const planted = rewriteTrace(bytes, (x) => {
        if (x.offset !== e.offset || x.kind !== "event" || x.event.type !== "action") return x;
        const result = structuredClone(x.event.result) as Record<string, unknown>;
        if (action === "list") (result.counters as Record<string, number>).ops += 1;
        else result.crc32 = ((result.crc32 as number) ^ 1) >>> 0;
        return { ...x, event: { ...x.event, result } };
      });
      const r = replayTrace(planted, testKernels);
      expect(r.divergence).toMatchObject({ where: `the ${action} action after record ${e.after}`, record: e.after });
      expect(r.divergence!.message).toMatch(
        action === "list" ? /^tmem\.counters\.ops is \d+, recorded \d+$/ : /^the save\.crc32 is \d+, recorded \d+$/,
      );
    }
  });
});

describe("policy decides results: a changed policy in the trace diverges at the first result it changes", () => {
  it("caps: a persistent guest capped below its need gets -ENOMEM; a trace with a higher cap diverges there", async () => {
    const domains = (cap: number) => [
      { image: build("preswap"), name: "b", ramMiB: 4, capMiB: cap, args: ["300", "32", "1500", "run", "5"] },
    ];
    const capped = await recordRun({ tmemMiB: 4, domains: domains(0) });
    expectReplays(capped.bytes);
    const first = decodeTrace(capped.bytes).records.find((x) => x.record.result === -ENOMEM)!;
    expect(first).toBeDefined();
    const planted = rewriteTrace(capped.bytes, (x) =>
      x.kind === "event" && x.event.type === "domain" ? { ...x, event: { ...x.event, policy: { ...x.event.policy, capPages: 1024 } } } : x,
    );
    expect(replayTrace(planted, testKernels).divergence).toMatchObject({
      record: first.number,
      where: `record ${first.number} of ${decodeTrace(capped.bytes).records.length}`,
      message: `result 1, recorded ${-ENOMEM}`,
    });
  });

  it("weights: the trace of weights 1,2,4 with the weights of another run diverges where that run first differs", async () => {
    const three = (w: number[]) =>
      w.map((weight, i) => ({
        image: build("precache"),
        name: `p${i}`,
        ramMiB: 4,
        weight,
        args: ["200", "16", "2", "random", String(i + 1)],
      }));
    const a = await recordRun({ domains: three([1, 2, 4]) });
    const b = await recordRun({ domains: three([4, 2, 1]) });
    expectReplays(a.bytes);
    expectReplays(b.bytes);
    const diff = firstDifference(a.bytes, b.bytes);
    const weights = new Map([
      [1, 4],
      [2, 2],
      [3, 1],
    ]);
    const planted = rewriteTrace(a.bytes, (x) =>
      x.kind === "event" && x.event.type === "domain"
        ? { ...x, event: { ...x.event, policy: { ...x.event.policy, weight: weights.get(x.event.domid)! } } }
        : x,
    );
    expect(replayTrace(planted, testKernels).divergence).toMatchObject({
      record: diff.number,
      message: `result ${diff.b}, recorded ${diff.a}`,
    });
  });

  it("compression: a compressing guest's trace with compression turned off diverges where an uncompressed run first differs", async () => {
    const domains = [
      { image: build("precache"), name: "a", ramMiB: 4, args: ["200", "16", "2", "random", "3", "text"] },
      { image: build("precache"), name: "c", ramMiB: 4, args: ["200", "16", "2", "random", "4", "text"] },
    ];
    const on = await recordRun({ domains }, ["0:compress a on"]);
    const off = await recordRun({ domains }, ["0:compress a off"]);
    expectReplays(on.bytes);
    const diff = firstDifference(on.bytes, off.bytes);
    const planted = rewriteTrace(on.bytes, (x) =>
      x.kind === "event" && x.event.type === "action" && x.event.action === "compress" ? { ...x, event: { ...x.event, args: [false] } } : x,
    );
    expect(replayTrace(planted, testKernels).divergence).toMatchObject({
      record: diff.number,
      message: `result ${diff.b}, recorded ${diff.a}`,
    });
  });
});

describe("restore", () => {
  it("a run started from a save file replays with the restored pages; without them it diverges at the first get", async () => {
    const file = join(dir, "stored.tmsv");
    const args = (mode: string) => ["200", "32", "0", mode, "9"];
    await recordRun({ tmemMiB: 4, domains: [{ image: build("preswap"), name: "b", ramMiB: 4, args: args("store"), save: file }] });
    const { path, bytes } = await recordRun({
      tmemMiB: 4,
      domains: [{ image: build("preswap"), name: "b", ramMiB: 4, args: args("verify"), restore: file }],
    });
    expectReplays(path);
    const restore = events(bytes).find((x) => x.event.type === "action" && x.event.action === "restore")!;
    expect(restore.after).toBe(0);
    expect(restore.blob).toEqual(new Uint8Array(readFileSync(file)));
    expect((restore.event as TraceEvent & { type: "action" }).result).toEqual({ pools: 1, pages: 200 });
    const r = replayTrace(
      rewriteTrace(bytes, (x) => (x.offset === restore.offset ? null : x)),
      testKernels,
    );
    const firstGet = decodeTrace(bytes).records.find((x) => x.record.outputs.length > 0)!;
    expect(r.divergence).toMatchObject({ record: firstGet.number, message: expect.stringMatching(/^result -\d+, recorded 1$/) });
  });
});

describe("several interleaved guests", () => {
  it("precache, preswap, selftest and the in-guest fuzzer interleaved replay with no divergence; the scheduler is checked from its seed", async () => {
    const domains: DomainConfig[] = [
      ...pair(),
      { image: build("selftest"), ramMiB: 4, args: [] },
      { image: build("fuzzer"), ramMiB: 2, args: ["11", "1500"] },
    ];
    const { path, bytes } = await recordRun({ domains, seed: 3 }, ["300:weight a 2", "900:flush 20"]);
    const report = expectReplays(path);
    const t = decodeTrace(bytes);
    expect(new Set(t.records.map((x) => x.record.domid))).toEqual(new Set([1, 2, 3, 4]));
    const slices = t.entries.filter((x) => x.kind === "event" && x.event.type === "slice");
    expect(slices.length).toBeGreaterThan(20);
    expect(report.events).toBe(t.entries.length - t.records.length);
    // Another seed in the trace: the scheduler re-run from it picks differently, and says so.
    const planted = rewriteTrace(bytes, (x) =>
      x.kind === "event" && x.event.type === "run" ? { ...x, event: { ...x.event, seed: 4 } } : x,
    );
    expect(replayTrace(planted, testKernels).divergence).toMatchObject({
      where: expect.stringMatching(/^the scheduler's slice for domain \d after record \d+$/),
      message: expect.stringMatching(/^(the scheduler picks domain \d here, recorded \d|the slice's budget is \d+, recorded \d+)$/),
    });
    // A hypercall moved into another domain's slice is refused too.
    const firstB = t.records.find((x) => x.record.domid === 2)!;
    const moved = rewriteTrace(bytes, (x) =>
      x.kind === "hypercall" && x.number === firstB.number ? { ...x, record: { ...x.record, domid: 1 } } : x,
    );
    expect(replayTrace(moved, testKernels).divergence).toMatchObject({
      record: firstB.number,
      message: "domain 1 made it in a slice the scheduler gave domain 2",
    });
  });
});

describe("policy a program sets directly, and a privileged guest's control ops", () => {
  it("a cap, a weight and shared auth set between hypercalls are in the trace; without the cap it diverges at the first refused put", () => {
    const path = join(dir, "direct.tmtr");
    const tmem = new Tmem({ capacityFrames: 64, compressor: checkedLz4, indexModule: testKernels.pageIndex() });
    const dom0 = new Guest(tmem, { layout: opLayout("xen-4.1-oid3/x86_64")!, privileged: true });
    const g = new Guest(tmem, { layout: opLayout("xen-4.1-oid3/x86_64")! });
    const rec = new TraceRecorder(traceFile(path), tmem);
    rec.attach(dom0.domain);
    rec.attach(g.domain);
    const pool = g.newPool({ persistent: true });
    for (let i = 0; i < 4; i++) {
      g.fill(i + 1, i);
      expect(g.put(pool, [1n], i, i + 1)).toBe(1);
    }
    // dom0 freezes the guest through TMEM_CONTROL: replay does the same op.
    expect(dom0.control(TMEMC_FREEZE, { cliId: g.domain.domid })).toBe(0);
    expect(g.put(pool, [1n], 9, 1)).toBe(-EFROZEN);
    expect(dom0.control(TMEMC_THAW, { cliId: g.domain.domid })).toBe(0);
    expect(dom0.control(TMEMC_SET_WEIGHT, { cliId: g.domain.domid, arg1: 3 })).toBe(0);
    // The host sets policy without the control plane.
    g.domain.tmem.setPolicy(g.domain.domid, { capPages: 5 });
    tmem.setSharedAuth(true);
    expect(g.put(pool, [2n], 0, 1)).toBe(1);
    const refused = g.put(pool, [2n], 1, 2);
    expect(refused).toBe(-ENOMEM);
    expect(g.newPool({ shared: true, uuid: [5n, 6n] })).toBeGreaterThan(0);
    rec.close();
    const bytes = new Uint8Array(readFileSync(path));
    expectReplays(bytes);
    // The two clients there before recording began go first, with how to make them.
    const early = events(bytes).filter((x) => x.after === 0 && x.event.type === "policy");
    expect(early.map((x) => x.event)).toEqual(
      [dom0, g].map((d) => ({
        type: "policy",
        domid: d.domain.domid,
        generation: "xen-4.1-oid3",
        privileged: d === dom0,
        policy: expect.objectContaining({ weight: 0 }),
      })),
    );
    const policy = events(bytes).filter((x) => x.after > 0 && (x.event.type === "policy" || x.event.type === "shared-auth"));
    // The cap (and the weight the guest op set alongside, which the recorder took as its own) and the auth switch.
    expect(policy.map((x) => x.event.type)).toEqual(["shared-auth", "policy"]);
    const cap = policy[1];
    expect((cap.event as TraceEvent & { type: "policy" }).policy).toMatchObject({ capPages: 5, weight: 3 });
    const last = decodeTrace(bytes).records.find((x) => x.record.result === -ENOMEM)!;
    const r = replayTrace(
      rewriteTrace(bytes, (x) => (x.offset === cap.offset ? null : x)),
      testKernels,
    );
    expect(r.divergence).toMatchObject({ record: last.number, message: `result 1, recorded ${-ENOMEM}` });
  });
});

describe("runs cut short", () => {
  it("a run stopped mid-way gets its end record through close() and replays to where it stopped", async () => {
    const path = join(dir, "stopped.tmtr");
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
    const rec = recordVmm(vmm, traceFile(path), { why: "test" });
    for (const [name, args] of [
      ["a", ["400", "16", "3", "random"]],
      ["b", ["300", "32", "3000", "run"]],
    ] as const) {
      await vmm.boot({
        image: loadImage(build(name === "a" ? "precache" : "preswap")),
        name,
        ramMiB: 4,
        interleaved: true,
        args: [...args],
        console: quiet,
      });
    }
    let slices = 0;
    class Interrupted extends Error {}
    expect(() =>
      vmm.runAll({
        seed: 2,
        quantum: 8,
        onSlice: () => {
          if (++slices === 40) throw new Interrupted();
        },
      }),
    ).toThrow(Interrupted);
    const made = vmm.domains.reduce((n, d) => n + d.hypercalls, 0);
    expect(rec.close("interrupted")).toBe(made);
    expect(rec.close("again")).toBe(made);
    const r = expectReplays(path);
    expect(r).toMatchObject({ records: made, endedEarly: "interrupted" });
  });

  it("a process that exits mid-run still leaves a trace with its end record, which replays", () => {
    const path = join(dir, "exited.tmtr");
    const script = `
      import { Vmm } from ${JSON.stringify(new URL("../../dist/vmm/machine/vmm.js", import.meta.url).href)};
      import { loadImage, nodeAssets, traceFile } from ${JSON.stringify(new URL("../../dist/vmm/platform/files.js", import.meta.url).href)};
      import { recordVmm } from ${JSON.stringify(new URL("../../dist/vmm/trace/recorder.js", import.meta.url).href)};
      const vmm = await Vmm.create({ assets: nodeAssets, tmemMiB: 1 });
      recordVmm(vmm, traceFile(${JSON.stringify(path)}));
      // Exit from inside the guest's console write, part-way through its run.
      let lines = 0;
      const d = await vmm.boot({ image: loadImage(${JSON.stringify(build("selftest"))}), ramMiB: 4, console: { stdout: (t) => { lines += t.split("\\n").length - 1; if (lines >= 20) process.exit(130); }, stderr() {} } });
      vmm.run(d);
    `;
    const p = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(p.status).toBe(130);
    const t = decodeTrace(new Uint8Array(readFileSync(path)));
    expect(t.end.reason).toBe("the process exited before the run ended");
    expect(t.records.length).toBeGreaterThan(15);
    expect(expectReplays(path).endedEarly).toBe("the process exited before the run ended");
  });
});

describe("tmemvm replay", () => {
  const tmemvm = (...args: string[]) => runCli(args);

  it("a run with weights, a cap and control actions, recorded by the CLI, replays with no divergence", () => {
    const trace = join(dir, "cli.tmtr");
    const config = join(dir, "cli.json");
    writeFileSync(
      config,
      JSON.stringify({
        tmemMiB: 1,
        quantum: 16,
        domains: [
          { image: build("precache"), name: "a", ramMiB: 4, weight: 2, args: ["200", "16", "2", "random", "3"] },
          { image: build("preswap"), name: "b", ramMiB: 4, weight: 1, capMiB: 1, args: ["150", "32", "800", "run", "5"] },
        ],
        control: ["200:cap b 0", "300:freeze a", "600:thaw a", "700:flush 40", "800:weight b 5"],
      }),
    );
    const r = tmemvm("run", "--config", config, "--record", trace, "--no-summary");
    expect(r.stderr).toMatch(/recorded \d+ hypercalls/);
    const p = tmemvm("replay", trace);
    expect(p.stdout).toMatch(/^replayed \d+ hypercalls: no divergence \(and \d+ host events\)\n$/);
    expect(p.status).toBe(0);
    expectReplays(trace);
  });

  it("a trace path that cannot be written fails in one line before any guest runs", () => {
    const r = tmemvm("run", build("selftest"), "--record", join(dir, "no-such-dir", "t.tmtr"));
    expect(r.status).toBe(64);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`tmemvm: --record ${join(dir, "no-such-dir", "t.tmtr")}: no such directory ${join(dir, "no-such-dir")}\n`);
  });

  it("an empty trace, what a run stopped before anything was recorded leaves, is reported as incomplete in one line", () => {
    const empty = join(dir, "empty.tmtr");
    writeFileSync(empty, "");
    const p = tmemvm("replay", empty);
    expect(p.status).toBe(64);
    expect(p.stdout).toBe("");
    expect(p.stderr).toBe(
      "tmemvm: incomplete trace: truncated at byte 0, inside its header (the run was stopped before anything was recorded) (byte offset 0)\n",
    );
  });

  it("a trace of format 1 is refused in one line, naming both versions", () => {
    const meta = Buffer.from(JSON.stringify({ tmemMiB: 4, domains: [] }));
    const head = Buffer.alloc(12);
    head.write("TMTR");
    head.writeUInt16LE(1, 4);
    head.writeUInt32LE(meta.length, 8);
    const body = Buffer.concat([head, meta]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32(body) >>> 0);
    const old = join(dir, "v1.tmtr");
    writeFileSync(old, Buffer.concat([body, crc]));
    const p = tmemvm("replay", old);
    expect(p.status).toBe(64);
    expect(p.stdout).toBe("");
    expect(p.stderr).toBe(
      "tmemvm: trace made by format 1; this tmemvm reads 2 to 3 (it lacks the domains' policy and the control actions; record the run again) (byte offset 4)\n",
    );
  });

  it("a divergence exits 65 and names the record", async () => {
    const { bytes } = await recordPair(["200:cap b 0"]);
    const plantedBytes = rewriteTrace(bytes, (x) =>
      x.kind === "event" && x.event.type === "action" && x.event.action === "cap" ? { ...x, event: { ...x.event, args: [null] } } : x,
    );
    // Offsets as in the planted file (its cap event is longer).
    const first = decodeTrace(plantedBytes).records.find((x) => x.record.result === -ENOMEM)!;
    const planted = join(dir, "planted.tmtr");
    writeFileSync(planted, plantedBytes);
    const p = tmemvm("replay", planted);
    expect(p.status).toBe(65);
    expect(p.stdout).toBe(
      `diverged at record ${first.number} of ${decodeTrace(bytes).records.length} (byte offset ${first.offset}): result 1, recorded ${-ENOMEM}\n`,
    );
  });
});
