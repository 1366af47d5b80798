// `tmemvm fuzz`: runs one or all fuzzers for a time or a number of cases, seeded, reporting
// progress, and saves every failure as a replayable trace beside a note with its seed and the
// command that reproduces it.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadImage } from "../image.js";
import type { Domain } from "../domain.js";
import { TraceRecorder } from "../trace/recorder.js";
import { Vmm } from "../vmm.js";
import { HypercallFuzzer, type CaseFailure } from "./hypercall-fuzzer.js";

import type { FuzzTarget } from "./targets.js";
export { FUZZ_TARGETS, type FuzzTarget } from "./targets.js";

export interface FuzzOptions {
  target: FuzzTarget;
  seed: number;
  /** Stop after this many seconds... */
  seconds?: number;
  /** ...or after this many cases (inputs, for coverage). */
  cases?: number;
  /** Run only this case (reproduce a failure). */
  onlyCase?: number;
  /** Coverage target: run only this saved input (reproduce a failure). */
  input?: Uint8Array;
  /** Where failures are saved. */
  outDir: string;
  /** Directory of the guest images (fuzzer.wasm). */
  imageDir: string;
  onProgress?: (p: FuzzProgress) => void;
}

export interface FuzzProgress {
  target: FuzzTarget;
  cases: number;
  /** Hypercalls executed. */
  execs: number;
  failures: number;
  elapsedMs: number;
  /** Coverage counters reached (coverage target only). */
  coverage?: { covered: number; total: number };
}

export interface FuzzFailure {
  target: FuzzTarget;
  seed: number;
  case: number;
  message: string;
  trace: string | null;
  repro: string;
}

export interface FuzzReport extends FuzzProgress {
  failuresFound: FuzzFailure[];
}

const GUEST_CALLS = 20000;

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  let start = performance.now();
  const failures: FuzzFailure[] = [];
  const progress: FuzzProgress = { target: o.target, cases: 0, execs: 0, failures: 0, elapsedMs: 0 };
  // The clock for --seconds starts when the fuzzer is ready (the coverage target instruments the
  // VMM first), and every campaign runs at least one case: one that ran none has tested nothing.
  let fuzzStart = start;
  const done = () => progress.cases > 0 &&
    (o.onlyCase !== undefined ? progress.cases >= 1 : o.cases !== undefined ? progress.cases >= o.cases : performance.now() - fuzzStart >= (o.seconds ?? 10) * 1000);
  let lastReport = 0;
  const tick = () => {
    progress.elapsedMs = performance.now() - start;
    if (progress.elapsedMs - lastReport >= 200) {
      lastReport = progress.elapsedMs;
      o.onProgress?.({ ...progress });
    }
  };
  mkdirSync(o.outDir, { recursive: true });
  const save = (n: number, message: string, record: ((path: string) => void) | null, repro = `tmemvm fuzz --target ${o.target} --seed ${o.seed} --case ${n}`): void => {
    const base = join(o.outDir, `${o.target}-seed${o.seed}-case${n}`);
    let trace: string | null = null;
    if (record) {
      trace = `${base}.tmtr`;
      record(trace);
    }
    writeFileSync(`${base}.txt`, `${message}\nreproduce: ${repro}\n${trace ? `trace: ${trace} (tmemvm replay ${trace})\n` : ""}`);
    failures.push({ target: o.target, seed: o.seed, case: n, message, trace, repro });
    progress.failures++;
  };
  const recorderFor = (path: string) => (domains: Domain[]) => {
    const rec = new TraceRecorder(path, domains[0].tmem, { fuzz: o.target, seed: o.seed });
    for (const d of domains) rec.attach(d);
    return rec;
  };

  if (o.target === "model" || o.target === "boundary") {
    const fuzzer = new HypercallFuzzer({ mode: o.target, seed: o.seed });
    for (let n = o.onlyCase ?? 0; !done(); n++) {
      const f = fuzzer.runCase(n);
      progress.cases++;
      progress.execs += f ? f.op + 1 : fuzzer.opsPerCase;
      if (f) {
        save(n, describe(f), (path) => {
          let rec: TraceRecorder | null = null;
          fuzzer.runCase(n, (domains) => (rec = recorderFor(path)(domains)));
          (rec as TraceRecorder | null)?.close();
        });
      }
      tick();
    }
  } else if (o.target === "guest") {
    const image = loadImage(join(o.imageDir, "fuzzer.wasm"));
    for (let n = o.onlyCase ?? 0; !done(); n++) {
      const seed = (o.seed * 1000003 + n) >>> 0;
      const runOnce = async (path: string | null) => {
        const vmm = await Vmm.create({ tmemMiB: 1 });
        let out = "";
        const rec = path ? vmm.record(path, { fuzz: o.target, seed: o.seed, case: n }) : null;
        const d = await vmm.boot({ image, ramMiB: 2, args: [String(seed), String(GUEST_CALLS)], console: { stdout: (t) => (out += t), stderr: (t) => (out += t) } });
        const code = vmm.run(d);
        rec?.close();
        let message: string | null = null;
        try {
          vmm.tmem.checkInvariants();
        } catch (e) {
          message = (e as Error).message;
        }
        if (code !== 0) message = d.crash ? `the fuzzer guest crashed: ${d.crash}` : `the fuzzer guest found violations: ${out.trim().split("\n").slice(0, 3).join(" / ")}`;
        return { message, hypercalls: d.hypercalls };
      };
      const r = await runOnce(null);
      progress.cases++;
      progress.execs += r.hypercalls;
      if (r.message) {
        const m = r.message;
        let tracePath: string | null = null;
        save(n, m, (path) => {
          tracePath = path;
        });
        if (tracePath) await runOnce(tracePath);
      }
      tick();
    }
  } else {
    // Loaded only here: istanbul's instrumenter (Babel) takes a second to import.
    const { CoverageFuzzer } = await import("./coverage-fuzzer.js");
    const fuzzer = await CoverageFuzzer.create(o.seed);
    fuzzStart = performance.now();
    try {
      if (o.input) {
        const f = fuzzer.replayInput(o.input, undefined);
        progress.cases = 1;
        progress.execs = 1;
        if (f) save(0, describe(f), null);
        return { ...progress, elapsedMs: performance.now() - start, failuresFound: failures };
      }
      while (!done()) {
        const r = fuzzer.step();
        progress.cases++;
        progress.execs = fuzzer.execs;
        progress.coverage = fuzzer.coverage;
        if (r) {
          const n = progress.cases;
          const inputPath = join(o.outDir, `coverage-seed${o.seed}-case${n}.bin`);
          writeFileSync(inputPath, r.input);
          save(n, describe(r.failure), (path) => {
            let rec: TraceRecorder | null = null;
            fuzzer.replayInput(r.input, (domains) => (rec = recorderFor(path)(domains)));
            (rec as TraceRecorder | null)?.close();
          }, `tmemvm fuzz --target coverage --seed ${o.seed} --input ${inputPath}`);
        }
        tick();
      }
    } finally {
      fuzzer.dispose();
    }
  }
  progress.elapsedMs = performance.now() - start;
  return { ...progress, failuresFound: failures };
}

function describe(f: CaseFailure): string {
  return `case ${f.case}, hypercall ${f.op}: ${f.message}`;
}
