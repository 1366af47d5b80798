// `npm run bench`: tmem op cost through the real guest -> hypercall -> VMM path, by each data path
// side by side, against a bare 4 KiB copy between the same two memories (guest RAM and the frame
// store) in the same access pattern, at 1K and 1M resident pages, beside Xen's own figures on two
// CPUs; a put's copy into cold frames against warm ones; where an op's time goes (the ladder);
// metadata bytes per page; longest GC pause; the Wasm hot loops against their JavaScript
// equivalents; LZ4 in Wasm against native LZ4.
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
// workload: medians in ns per op on two CPUs, copied from the issues that measured them. Fixed
// references: the bench does not (and cannot) measure Xen, and a cold frame's cost differs so
// much between CPUs (Xen's put: 677 ns on the Xeon, 225 on the EPYC) that neither column alone is
// a yardstick; an op is judged against each.
const XEN_HOW = "Xen 4.12's tmem.c unmodified, gcc -O2, this workload driven by a C loop";
const XEN = [
  {
    id: "intel",
    cpu: "Intel Xeon",
    source: `issue 22's table: ${XEN_HOW}, on an Intel Xeon (medians of 3 rounds)`,
    nsPerOp: {
      1024: { put: 677, "get-hit": 168, "get-miss": 34, "flush-page": 78, "flush-object": 56, "copy-in": 422, "copy-out": 76 },
      [1 << 20]: { put: 706, "get-hit": 1632, "get-miss": 563, "flush-page": 98, "flush-object": 66, "copy-in": 422, "copy-out": 469 },
    },
  },
  {
    id: "amd",
    cpu: "AMD EPYC",
    source: `issue 13's table: ${XEN_HOW}, on an AMD EPYC (medians of 5 alternating runs)`,
    nsPerOp: {
      1024: { put: 225, "get-hit": 117, "get-miss": 27, "flush-page": 64, "flush-object": 49, "copy-in": 192, "copy-out": 53 },
      [1 << 20]: { put: 251, "get-hit": 1979, "get-miss": 969, "flush-page": 86, "flush-object": 60, "copy-in": 207, "copy-out": 670 },
    },
  },
];
const XEN_NOTE = "copies of measurements the bench did not make";
/** Xen's metadata per stored page at 1M pages (issue 13; a count of bytes, the same on any CPU). */
const XEN_META_1M = 140.8;
/**
 * The data paths the ops are measured through, each with the VMM options that select it, run side
 * by side at every size. The VMM has one path today (its TypeScript dispatch); when it gains a
 * data-path option, each path's entry passes it and the Wasm path is one more line here.
 */
const DATA_PATHS = [{ name: "js", vmmOptions: {} }];

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
 * Boots the bench guest on a tmem of `capacityMiB` through data path `path` and runs it with
 * `args`: its per-op medians (the first repeat, which faults frames in, left out as warm-up) and
 * what the caller needs.
 */
async function runGuest(path, capacityMiB, args, ops) {
  const vmm = await Vmm.create({ ...path.vmmOptions, tmemMiB: capacityMiB, assets: nodeAssets });
  const lines = [];
  const domain = await vmm.boot({
    image: loadImage(new URL("../build/bench.wasm", import.meta.url).pathname),
    ramMiB: 8,
    args: args.map(String),
    console: { stdout: (t) => lines.push(t), stderr: (t) => process.stderr.write(t) },
  });
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
  const rows = lines
    .join("")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const err = rows.find((r) => r.error);
  if (err) throw new Error(err.error);
  const nsPerOp = {};
  for (const op of ops) nsPerOp[op] = median(rows.filter((r) => r.op === op && r.rep > 0).map((r) => r.ns / r.n));
  return { vmm, domain, nsPerOp, setupGcMs, t0, t1 };
}

const OPS = ["put", "get-hit", "get-miss", "flush-page", "flush-object"];
/** One path's ops at `resident` pages; with `baseline`, also the bare copies between that run's two memories. */
async function measure(path, resident, baseline) {
  // Room for the resident pages and one repeat's puts: the store runs nearly full, as in use.
  const capacityMiB = Math.ceil(((resident + N + 1024) * 4096) / (1 << 20));
  const { vmm, domain, nsPerOp, setupGcMs, t0, t1 } = await runGuest(path, capacityMiB, [resident, N, REPS], OPS);
  const base = baseline ? copyBaselines({ store: vmm.tmem.store, ram: domain.ram, ramOff: 64 * 4096, resident, n: N, reps: REPS }) : null;
  // Only the guest's run: the baseline's own allocations are not tmem's pauses.
  const gc = await gcBetween(t0, t1);
  const pages = vmm.tmem.index.pages;
  const metaBytes = vmm.tmem.memoryHeld().metadataBytes;
  return {
    result: {
      path: path.name,
      resident,
      ops: nsPerOp,
      metaBytesPerPage: metaBytes / pages,
      pages,
      gcMaxMs: gc.maxMs,
      gcCount: gc.count,
      setupGcMs,
    },
    baseline: base,
  };
}

/** The bench guest's "ladder": the stages of a put and a get, each step adding one, on a tmem holding only `resident` pages. */
const LADDER = ["ladder-enosys", "ladder-enodev", "ladder-get-miss", "ladder-put-again", "ladder-get-hit"];
async function measureLadder(path, resident) {
  const { nsPerOp } = await runGuest(path, Math.ceil(((resident + 1024) * 4096) / (1 << 20)), [resident, N, REPS, "ladder"], LADDER);
  return nsPerOp;
}

// The stages first, on a small tmem: after the big runs, their stores' gigabytes are still being
// released, which the machine feels for a while. Then each size, the paths one after the other
// (side by side in time as well as in print); the bare copies once a size, after the first path.
const ladders = {};
for (const path of DATA_PATHS) {
  process.stderr.write(`measuring the stages of an op (${path.name} path)...\n`);
  ladders[path.name] = await measureLadder(path, 1024);
  if (global.gc) global.gc();
}
const results = [];
const baselines = {};
for (const size of SIZES) {
  for (const [i, path] of DATA_PATHS.entries()) {
    process.stderr.write(`measuring with ${size} resident pages (${path.name} path)...\n`);
    const { result, baseline } = await measure(path, size, i === 0);
    if (baseline) baselines[size] = baseline;
    results.push(result);
    if (global.gc) global.gc();
  }
}
const kernels = await benchKernels(quick);
const resultOf = (path, size) => results.find((r) => r.path === path && r.resident === size);

const fmtNs = (ns) => `${ns.toFixed(0).padStart(6)} ns`;
const cell = (s, w) => String(s).padStart(w);

console.log(`\nbare 4 KiB copies between guest RAM and the frame store, same run and access pattern (median of ${REPS - 1} x ${N}):`);
for (const size of SIZES) {
  const b = baselines[size];
  console.log(`\n${`${size} resident pages; guest RAM <-> slab unless "one memory"`.padEnd(64)}copy in (put's)  copy out (get's)`);
  for (const m of b.methods) {
    console.log(
      `  ${m.name.padEnd(48)}${m.copyIn.toFixed(0).padStart(9)} ns${m.copyIn === b.copyIn ? " *" : "  "}   ${m.copyOut.toFixed(0).padStart(9)} ns${m.copyOut === b.copyOut ? " *" : ""}`,
    );
  }
  console.log(
    `  (* the fastest copy between the two memories: the baseline below. "one memory" copies run in a memory of ${b.sharedFrames} frames holding`,
  );
  console.log(
    `   both sides, which the store cannot do; printed for reference only${b.crossMissing ? ". This runtime has no multi-memory Wasm: no cross-memory copy" : ""})`,
  );
  const cw = b.coldWarm;
  console.log(
    `\n  a put's copy into cold frames (pushed out of every cache by reading ${cw.evictMiB} MiB) against the same frames still in cache, ns per copy,`,
  );
  console.log(
    `  batches of ${cw.batchFrames} rising frames, median of ${cw.reps - 1}; "spaced": ${cw.spinNs.toFixed(0)} ns of other work between copies (taken off), as between two puts`,
  );
  console.log(
    `  ${"".padEnd(48)}${"back to back: cold".padStart(18)}${"warm".padStart(7)}${"cold/warm".padStart(11)}${"spaced: cold".padStart(14)}${"warm".padStart(7)}${"cold/warm".padStart(11)}`,
  );
  for (const m of cw.methods) {
    const { tight: t, spaced: s } = m;
    console.log(
      `  ${m.name.padEnd(48)}${cell(t.cold.toFixed(0), 18)}${cell(t.warm.toFixed(0), 7)}${cell(`${(t.cold / t.warm).toFixed(2)}x`, 11)}${cell(s.cold.toFixed(0), 14)}${cell(s.warm.toFixed(0), 7)}${cell(`${(s.cold / s.warm).toFixed(2)}x`, 11)}`,
    );
  }
}

console.log(
  `\ntmem ops through the guest's hypercall (median of ${REPS - 1} x ${N} ops), by data path, against the fastest bare copy above`,
);
console.log(`(a put divided by the copy in, the rest by the copy out), and Xen's own tmem on two CPUs, ${XEN_NOTE}:`);
for (const x of XEN) console.log(`  Xen, ${x.cpu}: ${x.source}`);
const paths = DATA_PATHS.map((p) => p.name);
const table = [];
const OP_ROWS = [
  ["put", "put", TARGET_RATIO],
  ["get (hit)", "get-hit", TARGET_RATIO],
  ["get (miss)", "get-miss", null],
  ["flush page", "flush-page", null],
  ["flush object (per page)", "flush-object", null],
];
const vsXen = (ns, ref) => (ref === undefined ? "-" : ns <= ref ? "yes" : `NO ${(ns / ref).toFixed(2)}x`);
for (const size of SIZES) {
  const b = baselines[size];
  const pathHead = paths.map((p) => `${cell(`${p}: ns/op`, 13)}${cell("x copy", 8)}${cell(`<= ${TARGET_RATIO}x`, 9)}`).join(" |");
  const xenHead = XEN.map((x) => `${cell(`Xen, ${x.cpu}`, 16)}${paths.map((p) => cell(`${p} <=`, 12)).join("")}`).join(" |");
  console.log(`\n${`${size} resident pages`.padEnd(26)}${pathHead} |${xenHead}`);
  if (!XEN.some((x) => x.nsPerOp[size])) console.log(`  (no Xen figure at ${size} pages: both tables have 1K and 1M only)`);
  for (const [name, key, target] of OP_ROWS) {
    const base = key === "put" ? b.copyIn : b.copyOut;
    const perPath = paths.map((p) => {
      const ns = resultOf(p, size).ops[key];
      const ratio = ns / base;
      const verdict = target === null ? "" : ratio <= target ? "meets" : "MISSES";
      table.push({
        path: p,
        resident: size,
        op: name,
        key,
        ns,
        ratio,
        target,
        xenNs: Object.fromEntries(XEN.map((x) => [x.id, x.nsPerOp[size]?.[key] ?? null])),
      });
      return { ns, ratio, verdict };
    });
    const pathCells = perPath.map((c) => `${cell(fmtNs(c.ns), 13)}${cell(`${c.ratio.toFixed(2)}x`, 8)}${cell(c.verdict, 9)}`).join(" |");
    const xenCells = XEN.map((x) => {
      const ref = x.nsPerOp[size]?.[key];
      return `${cell(ref === undefined ? "-" : `${ref} ns`, 16)}${perPath.map((c) => cell(vsXen(c.ns, ref), 12)).join("")}`;
    }).join(" |");
    console.log(`  ${name.padEnd(24)}${pathCells} |${xenCells}`);
  }
  const copyXen = XEN.map((x) => (x.nsPerOp[size] ? `${x.cpu} ${x.nsPerOp[size]["copy-in"]} / ${x.nsPerOp[size]["copy-out"]} ns` : null))
    .filter(Boolean)
    .join(", ");
  console.log(
    `  ${"the fastest bare copy in / out".padEnd(24)} ${b.copyIn.toFixed(0)} / ${b.copyOut.toFixed(0)} ns (${b.copyInBy} / ${b.copyOutBy})${copyXen ? `; Xen's memcpy: ${copyXen}` : ""}`,
  );
  for (const p of paths) {
    const r = resultOf(p, size);
    // The metadata budget is set for 1M pages; below that, fixed table minimums over few pages
    // make the per-page figure large and say nothing about the budget.
    const metaVerdict =
      size === META_AT
        ? `target <= ${TARGET_META} at 1M pages: ${r.metaBytesPerPage <= TARGET_META ? "meets" : "MISSES"}; Xen ${XEN_META_1M}`
        : `the <= ${TARGET_META} target applies at 1M pages only`;
    console.log(
      `  ${p}: metadata ${r.metaBytesPerPage.toFixed(1)} bytes/page over ${r.pages} stored pages (${metaVerdict});` +
        ` longest GC pause during the guest's run ${r.gcMaxMs.toFixed(2)} ms, of ${r.gcCount} (target <= ${TARGET_GC_MS}: ${r.gcMaxMs <= TARGET_GC_MS ? "meets" : "MISSES"};` +
        ` the store's set-up collection, forced before the run: ${r.setupGcMs.toFixed(1)} ms)`,
    );
  }
}

// Each step differs from the one before by one stage; the bench's own ops at 1K pages differ from
// the in-cache steps by their scale (fresh objects and frames, a bigger index).
const ladderSteps = (ladder, at1k) => {
  const steps = [
    ["the Wasm -> JS crossing and the entry's check (a hypercall other than tmem_op: -ENOSYS)", ladder["ladder-enosys"], null],
    [
      "+ the struct copied out and decoded, dispatch, counters (an empty pool slot: -ENODEV)",
      ladder["ladder-enodev"],
      ladder["ladder-enosys"],
    ],
    ["+ the lookup (a get whose page is missing)", ladder["ladder-get-miss"], ladder["ladder-enodev"]],
    ["put: + the copy in, in place (a put over a page already stored)", ladder["ladder-put-again"], ladder["ladder-get-miss"]],
    ["get: + the copy out (a get that hits)", ladder["ladder-get-hit"], ladder["ladder-get-miss"]],
  ];
  if (at1k) {
    steps.push([`get (miss) at the bench's scale: + the misses of ${N} more pages stored`, at1k["get-miss"], ladder["ladder-get-miss"]]);
    steps.push([
      `put at the bench's scale: + a fresh frame and records, the misses of ${N} new pages`,
      at1k.put,
      ladder["ladder-put-again"],
    ]);
    steps.push([`get (hit) at the bench's scale: + the misses of ${N} more pages stored`, at1k["get-hit"], ladder["ladder-get-hit"]]);
  }
  return steps;
};
console.log(
  `\nwhere an op's time goes: each step adds one stage to the one before (1024 resident pages and nothing else stored, so the index is in cache;`,
);
console.log(`median of ${REPS - 1} x ${N}); the last three rows are the bench's own ops at 1024 pages above`);
const stepsBy = Object.fromEntries(paths.map((p) => [p, ladderSteps(ladders[p], resultOf(p, 1024)?.ops)]));
console.log(`  ${"".padEnd(92)}${paths.map((p) => cell(`${p}: + ns`, 12) + cell("= ns", 8)).join("  ")}`);
for (const [i, [name]] of stepsBy[paths[0]].entries()) {
  const cells = paths.map((p) => {
    const [, ns, before] = stepsBy[p][i];
    return cell(before === null ? "" : `${ns >= before ? "+" : "-"}${Math.abs(ns - before).toFixed(0)}`, 12) + cell(ns.toFixed(0), 8);
  });
  console.log(`  ${name.padEnd(92)}${cells.join("  ")}`);
}
console.log("\nhot loops, Wasm against JavaScript (ns per 4 KiB page)");
for (const k of kernels.loops)
  console.log(
    `  ${k.name.padEnd(28)} wasm ${k.wasm.toFixed(0).padStart(6)}  js ${k.js.toFixed(0).padStart(6)}  js/wasm ${(k.js / k.wasm).toFixed(2)}x`,
  );
if (kernels.lz4) {
  const z = kernels.lz4;
  console.log("\nLZ4 per 4 KiB page, Wasm (AssemblyScript) against native (lz4-napi), same data");
  for (const c of z.cases) {
    console.log(
      `  ${c.data.padEnd(22)} compress wasm ${c.wasmCompress.toFixed(0).padStart(6)} ns  native ${c.nativeCompress.toFixed(0).padStart(6)} ns (${(c.wasmCompress / c.nativeCompress).toFixed(2)}x)` +
        `   decompress wasm ${c.wasmDecompress.toFixed(0).padStart(6)} ns  native ${c.nativeDecompress.toFixed(0).padStart(6)} ns (${(c.wasmDecompress / c.nativeDecompress).toFixed(2)}x)   ${c.bytes} bytes`,
    );
  }
  if (z.error) console.log(`  ${z.error}`);
  if (z.gain) console.log(`  pages stored per frame on the workload guests' data with compression on: ${z.gain}`);
}

mkdirSync("out", { recursive: true });
const xen = { note: XEN_NOTE, columns: XEN, metaBytesPerPage1M: XEN_META_1M };
writeFileSync(
  "out/bench.json",
  `${JSON.stringify({ node: process.version, n: N, reps: REPS, targetRatio: TARGET_RATIO, paths, xen, baselines, results, ladders, table, kernels }, null, 2)}\n`,
);
writeFileSync("out/bench.svg", await benchChart(table, baselines, { targetRatio: TARGET_RATIO, xen }));
console.log("\nwrote out/bench.json and out/bench.svg");
