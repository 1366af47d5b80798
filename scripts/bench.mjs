// `npm run bench`: tmem op cost through the real guest -> hypercall -> VMM path, side by side with
// a bare 4 KiB copy between the same two memories (guest RAM and the frame store) in the same
// access pattern, at 1K and 1M resident pages; metadata bytes per page; longest GC pause; the Wasm
// hot loops against their JavaScript equivalents; LZ4 in Wasm against native LZ4.
// Prints a table of ratios and writes out/bench.json and out/bench.svg.
import { mkdirSync, writeFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import * as vega from "vega";
import * as vl from "vega-lite";
import { loadImage } from "../dist/vmm/platform/files.js";
import { Vmm } from "../dist/vmm/machine/vmm.js";
import { benchKernels } from "./bench-kernels.mjs";

const quick = process.argv.includes("--quick");
const SIZES = quick ? [1024, 65536] : [1024, 1 << 20];
const N = quick ? 50000 : 200000;
const REPS = quick ? 3 : 7;
const TARGET_RATIO = 1.5;
const TARGET_META = 64;
const TARGET_GC_MS = 5;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// GC entries arrive asynchronously, so each is matched to a measuring window by its start time.
const gcEntries = [];
new PerformanceObserver((list) => gcEntries.push(...list.getEntries())).observe({ entryTypes: ["gc"] });
const gcMaxBetween = async (t0, t1) => {
  await new Promise((r) => setTimeout(r, 50));
  return gcEntries.filter((e) => e.startTime >= t0 && e.startTime <= t1).reduce((m, e) => Math.max(m, e.duration), 0);
};

/** The copy a put or get is made of, with nothing around it, in the same access pattern. */
function baselineCopies(vmm, domain, resident, n) {
  const store = vmm.tmem.store;
  const ram = domain.ram.bytes;
  const frames = [];
  for (let i = 0; i < n; i++) {
    const f = store.alloc();
    if (f < 0) throw new Error("frame store too small for the baseline");
    frames.push(f);
  }
  const srcOff = 64 * 4096;
  let x = 12345;
  const rnd = (m) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % m;
  };
  const ins = [];
  const outs = [];
  for (let r = 0; r < REPS; r++) {
    let t = process.hrtime.bigint();
    const src = domain.ram.frameView(srcOff);
    for (let i = 0; i < n; i++) store.copyIn(frames[i], src);
    ins.push(Number(process.hrtime.bigint() - t) / n);
    // Gets read resident pages at random: frames 0..resident-1 hold them.
    t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) store.copyOut(rnd(resident), ram, srcOff + 4096);
    outs.push(Number(process.hrtime.bigint() - t) / n);
  }
  for (const f of frames) store.free(f);
  return { copyIn: median(ins), copyOut: median(outs) };
}

async function measure(resident) {
  // Room for the resident pages and one repeat's puts: the store runs nearly full, as in use.
  const capacityMiB = Math.ceil(((resident + N + 1024) * 4096) / (1 << 20));
  const vmm = await Vmm.create({ tmemMiB: capacityMiB });
  const lines = [];
  const domain = await vmm.boot({ image: loadImage(new URL("../build/bench.wasm", import.meta.url).pathname), ramMiB: 8, args: [String(resident), String(N), String(REPS)], console: { stdout: (t) => lines.push(t), stderr: (t) => process.stderr.write(t) } });
  const t0 = performance.now();
  const code = vmm.run(domain);
  const base = baselineCopies(vmm, domain, resident, N);
  const gcMax = await gcMaxBetween(t0, performance.now());
  if (code !== 0) throw new Error(`bench guest exited ${code}: ${lines.join("")}`);
  const rows = lines.join("").trim().split("\n").map((l) => JSON.parse(l));
  const err = rows.find((r) => r.error);
  if (err) throw new Error(err.error);
  const ops = {};
  for (const op of ["put", "get-hit", "get-miss", "flush-page", "flush-object"]) {
    // The first repeat faults the frames in; it is warm-up.
    ops[op] = median(rows.filter((r) => r.op === op && r.rep > 0).map((r) => r.ns / r.n));
  }
  const pages = vmm.tmem.index.pages;
  const metaBytes = vmm.tmem.index.sizeBytes + vmm.tmem.store.metadataBytes;
  return { resident, ops, baseline: base, metaBytesPerPage: metaBytes / pages, pages, gcMaxMs: gcMax };
}

const results = [];
for (const size of SIZES) {
  process.stderr.write(`measuring with ${size} resident pages...\n`);
  results.push(await measure(size));
  if (global.gc) global.gc();
}
const kernels = await benchKernels(quick);

const fmt = (ns) => `${ns.toFixed(0).padStart(6)} ns  ${(1e9 / ns / 1e6).toFixed(2).padStart(6)} M/s`;
const table = [];
console.log(`\ntmem ops through the guest's hypercall (median of ${REPS - 1} x ${N} ops), against a bare 4 KiB copy between the same memories`);
for (const r of results) {
  console.log(`\n${r.resident} resident pages          ns/op     ops/s   x copy`);
  const rowsFor = [
    ["put", r.ops.put, r.baseline.copyIn, TARGET_RATIO],
    ["get (hit)", r.ops["get-hit"], r.baseline.copyOut, TARGET_RATIO],
    ["get (miss)", r.ops["get-miss"], r.baseline.copyOut, null],
    ["flush page", r.ops["flush-page"], r.baseline.copyOut, null],
    ["flush object (per page)", r.ops["flush-object"], r.baseline.copyOut, null],
    ["baseline copy in (put's)", r.baseline.copyIn, r.baseline.copyIn, null],
    ["baseline copy out (get's)", r.baseline.copyOut, r.baseline.copyOut, null],
  ];
  for (const [name, ns, base, target] of rowsFor) {
    const ratio = ns / base;
    const verdict = target === null ? "" : ratio <= target ? `  meets <= ${target}x` : `  MISSES <= ${target}x`;
    console.log(`  ${name.padEnd(26)}${fmt(ns)}  ${ratio.toFixed(2).padStart(5)}x${verdict}`);
    table.push({ resident: r.resident, op: name, ns, ratio, target });
  }
  console.log(`  metadata ${r.metaBytesPerPage.toFixed(1)} bytes/page (target <= ${TARGET_META})${r.metaBytesPerPage <= TARGET_META ? "" : "  MISSES"};` +
    ` longest GC pause ${r.gcMaxMs.toFixed(2)} ms (target <= ${TARGET_GC_MS})${r.gcMaxMs <= TARGET_GC_MS ? "" : "  MISSES"}`);
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
writeFileSync("out/bench.json", JSON.stringify({ node: process.version, n: N, reps: REPS, results, kernels }, null, 2) + "\n");
const spec = vl.compile({
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  title: "tmem op cost as a multiple of a bare 4 KiB copy (lower is better; target 1.5x)",
  width: 520, height: 260,
  data: { values: table.filter((t) => !t.op.startsWith("baseline")).map((t) => ({ ...t, size: `${t.resident} resident pages` })) },
  layer: [
    { mark: "bar", encoding: { x: { field: "op", type: "nominal", title: null, sort: null }, xOffset: { field: "size" }, y: { field: "ratio", type: "quantitative", title: "x bare copy" }, color: { field: "size", type: "nominal", title: null, legend: { labelLimit: 400 } } } },
    { mark: { type: "rule", strokeDash: [4, 4] }, encoding: { y: { datum: TARGET_RATIO } } },
  ],
}).spec;
const view = new vega.View(vega.parse(spec), { renderer: "none" });
writeFileSync("out/bench.svg", await view.toSVG());
view.finalize();
console.log("\nwrote out/bench.json and out/bench.svg");
