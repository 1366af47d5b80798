// `npm run bench`: tmem op cost through the real guest -> hypercall -> VMM path, side by side with
// a bare 4 KiB copy between the same two memories (guest RAM and the frame store) in the same
// access pattern, at 1K and 1M resident pages; metadata bytes per page; longest GC pause; the Wasm
// hot loops against their JavaScript equivalents; LZ4 in Wasm against native LZ4.
// Prints a table of ratios and writes out/bench.json and out/bench.svg.
import { mkdirSync, writeFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { loadImage, nodeAssets } from "../dist/vmm/platform/files.js";
import { Vmm } from "../dist/vmm/machine/vmm.js";
import { benchChart } from "./bench-chart.mjs";
import { copyBaselines } from "./bench-copy.mjs";
import { benchKernels } from "./bench-kernels.mjs";

const quick = process.argv.includes("--quick");
const SIZES = quick ? [1024, 65536] : [1024, 1 << 20];
const N = quick ? 50000 : 200000;
const REPS = quick ? 3 : 7;
const TARGET_RATIO = 1.5;
const TARGET_META = 64;
/** The resident size the metadata budget is set for (issue 13: at 1M pages). */
const META_AT = 1 << 20;
const TARGET_GC_MS = 5;
// Xen 4.12's tmem, unmodified, compiled natively (gcc -O2) and driven in a C loop with this bench's
// workload on this kind of machine: medians in ns per op, copied from issue 13's table. A fixed
// reference: the bench does not (and cannot) measure Xen.
const XEN_SOURCE = "issue 13's table: Xen 4.12's tmem.c, gcc -O2, this workload driven by a C loop";
const XEN_NATIVE = {
  1024: { put: 225, "get-hit": 117, "get-miss": 27, "flush-page": 64, "flush-object": 49, "copy-in": 192, "copy-out": 53 },
  [1 << 20]: { put: 251, "get-hit": 1979, "get-miss": 969, "flush-page": 86, "flush-object": 60, "copy-in": 207, "copy-out": 670 },
};
const XEN_META_1M = 140.8;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// GC entries arrive asynchronously, so each is matched to a measuring window by its start time.
const gcEntries = [];
new PerformanceObserver((list) => gcEntries.push(...list.getEntries())).observe({ entryTypes: ["gc"] });
/** The longest GC pause that started between t0 and t1, and how many pauses there were. */
const gcBetween = async (t0, t1) => {
  await new Promise((r) => setTimeout(r, 50));
  const inside = gcEntries.filter((e) => e.startTime >= t0 && e.startTime <= t1);
  return { maxMs: inside.reduce((m, e) => Math.max(m, e.duration), 0), count: inside.length };
};

/**
 * Boots the bench guest on a tmem of `capacityMiB` and runs it with `args`: its per-op medians
 * (the first repeat, which faults frames in, left out as warm-up) and what the caller needs.
 */
async function runGuest(capacityMiB, args, ops) {
  const vmm = await Vmm.create({ tmemMiB: capacityMiB, assets: nodeAssets });
  const lines = [];
  const domain = await vmm.boot({ image: loadImage(new URL("../build/bench.wasm", import.meta.url).pathname), ramMiB: 8, args: args.map(String), console: { stdout: (t) => lines.push(t), stderr: (t) => process.stderr.write(t) } });
  // What booting left for the collector (the guest's RAM and instance, the last run's store) would
  // be collected inside the guest's run unless done first. Done here, timed apart: the GC pause
  // below is what the ops themselves cost, the store's growth included (tmem takes its memory as
  // pages are stored, and V8 answers a memory that grows by much with a collection).
  const g0 = performance.now();
  if (global.gc) global.gc();
  const setupGcMs = performance.now() - g0;
  const t0 = performance.now();
  const code = vmm.run(domain);
  const t1 = performance.now();
  if (code !== 0) throw new Error(`bench guest exited ${code}: ${lines.join("")}`);
  const rows = lines.join("").trim().split("\n").map((l) => JSON.parse(l));
  const err = rows.find((r) => r.error);
  if (err) throw new Error(err.error);
  const nsPerOp = {};
  for (const op of ops) nsPerOp[op] = median(rows.filter((r) => r.op === op && r.rep > 0).map((r) => r.ns / r.n));
  return { vmm, domain, nsPerOp, setupGcMs, t0, t1 };
}

async function measure(resident) {
  // Room for the resident pages and one repeat's puts: the store runs nearly full, as in use.
  const capacityMiB = Math.ceil(((resident + N + 1024) * 4096) / (1 << 20));
  const { vmm, domain, nsPerOp, setupGcMs, t0, t1 } = await runGuest(capacityMiB, [resident, N, REPS], ["put", "get-hit", "get-miss", "flush-page", "flush-object"]);
  const base = copyBaselines({ store: vmm.tmem.store, ram: domain.ram.bytes, ramOff: 64 * 4096, resident, n: N, reps: REPS });
  // Only the guest's run: the baseline's own allocations are not tmem's pauses.
  const gc = await gcBetween(t0, t1);
  const pages = vmm.tmem.index.pages;
  const metaBytes = vmm.tmem.memoryHeld().metadataBytes;
  return { resident, ops: nsPerOp, baseline: base, metaBytesPerPage: metaBytes / pages, pages, gcMaxMs: gc.maxMs, gcCount: gc.count, setupGcMs };
}

/** The bench guest's "ladder": the stages of a put and a get, each step adding one, on a tmem holding only `resident` pages. */
const LADDER = ["ladder-enosys", "ladder-enodev", "ladder-get-miss", "ladder-put-again", "ladder-get-hit"];
async function measureLadder(resident) {
  const { nsPerOp } = await runGuest(Math.ceil(((resident + 1024) * 4096) / (1 << 20)), [resident, N, REPS, "ladder"], LADDER);
  return nsPerOp;
}

// The stages first, on a small tmem: after the big runs, their stores' gigabytes are still being
// released, which the machine feels for a while.
process.stderr.write("measuring the stages of an op...\n");
const ladder = await measureLadder(1024);
if (global.gc) global.gc();
const results = [];
for (const size of SIZES) {
  process.stderr.write(`measuring with ${size} resident pages...\n`);
  results.push(await measure(size));
  if (global.gc) global.gc();
}
const kernels = await benchKernels(quick);

const fmt = (ns) => `${ns.toFixed(0).padStart(6)} ns  ${(1e9 / ns / 1e6).toFixed(2).padStart(6)} M/s`;
const table = [];
console.log(`\nbare 4 KiB copies between guest RAM and the frame store, same run and access pattern (median of ${REPS - 1} x ${N}):`);
for (const r of results) {
  console.log(`\n${`${r.resident} resident pages`.padEnd(50)}copy in (put's)  copy out (get's)`);
  for (const m of r.baseline.methods) {
    console.log(`  ${m.name.padEnd(50)}${m.copyIn.toFixed(0).padStart(9)} ns${m.copyIn === r.baseline.copyIn ? " *" : "  "}   ${m.copyOut.toFixed(0).padStart(9)} ns${m.copyOut === r.baseline.copyOut ? " *" : ""}`);
  }
  console.log(`  (* the fastest: the baseline below; "one buffer" copies run in a memory of ${r.baseline.sharedFrames} frames holding both sides)`);
}
console.log(`\ntmem ops through the guest's hypercall (median of ${REPS - 1} x ${N} ops), against the fastest bare copy above,`);
console.log(`beside Xen's own tmem compiled natively (${XEN_SOURCE}; a fixed reference, not measured here)`);
for (const r of results) {
  const xen = XEN_NATIVE[r.resident];
  console.log(`\n${r.resident} resident pages          ns/op     ops/s   x copy  target <= ${TARGET_RATIO}x copy   Xen native  at or below Xen`);
  if (!xen) console.log(`  (no Xen-native figure at ${r.resident} pages: ${XEN_SOURCE} has 1K and 1M only)`);
  const rowsFor = [
    ["put", "put", r.ops.put, r.baseline.copyIn, TARGET_RATIO],
    ["get (hit)", "get-hit", r.ops["get-hit"], r.baseline.copyOut, TARGET_RATIO],
    ["get (miss)", "get-miss", r.ops["get-miss"], r.baseline.copyOut, null],
    ["flush page", "flush-page", r.ops["flush-page"], r.baseline.copyOut, null],
    ["flush object (per page)", "flush-object", r.ops["flush-object"], r.baseline.copyOut, null],
    ["bare copy in (put's)", "copy-in", r.baseline.copyIn, r.baseline.copyIn, null],
    ["bare copy out (get's)", "copy-out", r.baseline.copyOut, r.baseline.copyOut, null],
  ];
  for (const [name, key, ns, base, target] of rowsFor) {
    const ratio = ns / base;
    const verdict = target === null ? "" : ratio <= target ? "meets" : "MISSES";
    const ref = xen?.[key];
    const vsXen = ref === undefined || key.startsWith("copy") ? "" : ns <= ref ? "yes" : `NO (${(ns / ref).toFixed(1)}x)`;
    console.log(`  ${name.padEnd(24)}${fmt(ns)}  ${ratio.toFixed(2).padStart(5)}x  ${verdict.padEnd(18)}  ${ref === undefined ? "         -" : `${String(ref).padStart(7)} ns`}  ${vsXen}`);
    table.push({ resident: r.resident, op: name, ns, ratio, target, xenNs: ref ?? null });
  }
  // The metadata budget is set for 1M pages; below that, fixed table minimums over few pages
  // make the per-page figure large and say nothing about the budget.
  const metaVerdict = r.resident === META_AT ? `target <= ${TARGET_META} at 1M pages: ${r.metaBytesPerPage <= TARGET_META ? "meets" : "MISSES"}; Xen ${XEN_META_1M}` : `the <= ${TARGET_META} target applies at 1M pages only`;
  console.log(`  metadata ${r.metaBytesPerPage.toFixed(1)} bytes/page over ${r.pages} stored pages (${metaVerdict});` +
    ` longest GC pause during the guest's run ${r.gcMaxMs.toFixed(2)} ms, of ${r.gcCount} (target <= ${TARGET_GC_MS}: ${r.gcMaxMs <= TARGET_GC_MS ? "meets" : "MISSES"};` +
    ` the set-up's collection, forced before the run: ${r.setupGcMs.toFixed(1)} ms)`);
}
{
  // Each step differs from the one before by one stage; the bench's own put and get at 1K pages
  // differ from the last in-cache steps by their scale (fresh objects and frames, a bigger index).
  const at1k = results.find((r) => r.resident === 1024)?.ops;
  console.log(`\nwhere an op's time goes: each step adds one stage to the one before (1024 resident pages and nothing else stored, so the index is in cache; median of ${REPS - 1} x ${N})`);
  const steps = [
    ["the Wasm -> JS crossing and the entry's check (a hypercall other than tmem_op: -ENOSYS)", ladder["ladder-enosys"], 0],
    ["+ the struct copied out and decoded, dispatch, counters (an empty pool slot: -ENODEV)", ladder["ladder-enodev"], ladder["ladder-enosys"]],
    ["+ the lookup (a get whose page is missing)", ladder["ladder-get-miss"], ladder["ladder-enodev"]],
    ["+ the copy in, in place (a put over a page already stored)", ladder["ladder-put-again"], ladder["ladder-get-miss"]],
    ["get, + the copy out (a get that hits)", ladder["ladder-get-hit"], ladder["ladder-get-miss"]],
  ];
  if (at1k) {
    steps.push([`put at the bench's scale: + a fresh frame and records, the misses of ${N} new pages`, at1k.put, ladder["ladder-put-again"]]);
    steps.push([`get (hit) at the bench's scale: + the misses of ${N} more pages stored`, at1k["get-hit"], ladder["ladder-get-hit"]]);
  }
  for (const [name, ns, before] of steps) console.log(`  ${name.padEnd(92)}${(before === 0 ? "" : `+${(ns - before).toFixed(0)}`).padStart(7)} ns  = ${ns.toFixed(0).padStart(5)} ns`);
}
console.log("\nhot loops, Wasm against JavaScript (ns per 4 KiB page)");
for (const k of kernels.loops) console.log(`  ${k.name.padEnd(28)} wasm ${k.wasm.toFixed(0).padStart(6)}  js ${k.js.toFixed(0).padStart(6)}  js/wasm ${(k.js / k.wasm).toFixed(2)}x`);
if (kernels.lz4) {
  const z = kernels.lz4;
  console.log("\nLZ4 per 4 KiB page, Wasm (AssemblyScript) against native (lz4-napi), same data");
  for (const c of z.cases) {
    console.log(`  ${c.data.padEnd(22)} compress wasm ${c.wasmCompress.toFixed(0).padStart(6)} ns  native ${c.nativeCompress.toFixed(0).padStart(6)} ns (${(c.wasmCompress / c.nativeCompress).toFixed(2)}x)` +
      `   decompress wasm ${c.wasmDecompress.toFixed(0).padStart(6)} ns  native ${c.nativeDecompress.toFixed(0).padStart(6)} ns (${(c.wasmDecompress / c.nativeDecompress).toFixed(2)}x)   ${c.bytes} bytes`);
  }
  if (z.error) console.log(`  ${z.error}`);
  if (z.gain) console.log(`  pages stored per frame on the workload guests' data with compression on: ${z.gain}`);
}

mkdirSync("out", { recursive: true });
writeFileSync("out/bench.json", JSON.stringify({ node: process.version, n: N, reps: REPS, targetRatio: TARGET_RATIO, xenNative: { source: XEN_SOURCE, nsPerOp: XEN_NATIVE, metaBytesPerPage1M: XEN_META_1M }, results, ladder, table, kernels }, null, 2) + "\n");
writeFileSync("out/bench.svg", await benchChart(table, results, { targetRatio: TARGET_RATIO, xenSource: XEN_SOURCE }));
console.log("\nwrote out/bench.json and out/bench.svg");
