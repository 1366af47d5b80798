// `tmemvm fuzz`: runs one fuzzer for a time or a number of cases, seeded, reporting progress, and
// saves every failure as a replayable trace beside a note with its seed and the command that
// reproduces it. Guests and the VMM run synchronously, so a case that never returns cannot be
// interrupted from its own thread: the cases run in a worker thread, announcing each case before
// running it, and this (main) thread watches. A case that runs past its budget is a failure,
// saved with its reproduction; the worker is terminated and a new one carries on from the next
// case. A worker that dies any other way is the current case's failure too.
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { saveCoverageInput, saveFailure, FUZZ_TARGETS, type CaseOutcome, type FuzzFailure, type FuzzTarget } from "./case-executor.js";
import type { WorkerMessage, WorkerStart } from "./case-worker.js";

export { FUZZ_TARGETS, type FuzzFailure, type FuzzTarget };

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
  /** A case that runs longer than this fails (default 20 s). */
  caseBudgetMs?: number;
  /** A module the worker imports before its first case (tests plant bugs with it). */
  preload?: string;
  onProgress?: (p: FuzzProgress) => void;
}

export interface FuzzProgress {
  target: FuzzTarget;
  cases: number;
  /** Hypercalls executed. */
  execs: number;
  failures: number;
  elapsedMs: number;
  /** Time since the first case started (elapsedMs less the fuzzer's setup): what rates divide by. */
  fuzzingMs: number;
  /** Coverage counters reached (coverage target only). */
  coverage?: { covered: number; total: number };
}

export interface FuzzReport extends FuzzProgress {
  failuresFound: FuzzFailure[];
}

export const DEFAULT_CASE_BUDGET_MS = 20000;

/** The worker's compiled script: beside this module when it runs compiled, else in dist/. */
function workerScript(): URL {
  const beside = new URL("./case-worker.js", import.meta.url);
  return existsSync(beside) ? beside : new URL("../dist/fuzz/case-worker.js", import.meta.url);
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const start = performance.now();
  const budget = o.caseBudgetMs ?? DEFAULT_CASE_BUDGET_MS;
  const failures: FuzzFailure[] = [];
  const progress: FuzzProgress = { target: o.target, cases: 0, execs: 0, failures: 0, elapsedMs: 0, fuzzingMs: 0 };
  const single = o.onlyCase !== undefined || o.input !== undefined;
  // The clock for --seconds starts when the worker begins its first case (the coverage target
  // instruments the VMM first), and every campaign runs at least one case: one that ran none has
  // tested nothing.
  let fuzzStart: number | null = null;
  const done = () => progress.cases > 0 &&
    (single ? true : o.cases !== undefined ? progress.cases >= o.cases : fuzzStart !== null && performance.now() - fuzzStart >= (o.seconds ?? 10) * 1000);
  let lastReport = 0;
  const tick = () => {
    progress.elapsedMs = performance.now() - start;
    progress.fuzzingMs = fuzzStart === null ? 0 : performance.now() - fuzzStart;
    if (progress.elapsedMs - lastReport >= 200) {
      lastReport = progress.elapsedMs;
      o.onProgress?.({ ...progress });
    }
  };
  const exec = { target: o.target, seed: o.seed, outDir: o.outDir, imageDir: o.imageDir };
  const record = (f: FuzzFailure) => {
    failures.push(f);
    progress.failures++;
  };
  const repro = (n: number, input: Uint8Array | null) => (input && o.target === "coverage" ? ` (input: ${saveCoverageInput(exec, n, input)})` : "");

  let next = o.onlyCase ?? 0;
  while (!done()) {
    // One worker at a time; it runs until told to stop, overruns a case, or dies.
    const outcome = await new Promise<"stop" | "restart">((resolve) => {
      const data: WorkerStart = { ...exec, firstCase: next, count: single ? 1 : o.cases !== undefined ? o.cases - progress.cases : undefined, input: o.input, preload: o.preload };
      const worker = new Worker(workerScript(), { workerData: data });
      let current: { n: number; input: Uint8Array | null; since: number } | null = null;
      let settled = false;
      const finish = (how: "stop" | "restart") => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        void worker.terminate();
        resolve(how);
      };
      const fail = (message: string) => {
        const c = current!;
        record(saveFailure(exec, c.n, `case ${c.n}: ${message}`, null, repro(c.n, c.input)));
        progress.cases++;
        next = c.n + 1;
        current = null;
        tick();
      };
      const watchdog = setInterval(() => {
        if (current && performance.now() - current.since > budget) {
          fail(`ran past its budget of ${budget} ms (an endless loop or a hang)`);
          finish(done() ? "stop" : "restart");
        } else if (!current && done()) finish("stop");
      }, Math.min(250, Math.max(10, budget / 4)));
      worker.on("message", (m: WorkerMessage) => {
        if (settled) return;
        if (m.type === "start") {
          current = { n: m.n, input: m.input, since: performance.now() };
          fuzzStart ??= current.since;
        }
        else if (m.type === "done") {
          const r: CaseOutcome = m.outcome;
          current = null;
          next = m.n + 1;
          progress.cases++;
          progress.execs += r.execs;
          if (r.coverage) progress.coverage = r.coverage;
          if (r.failure) record(r.failure);
          tick();
          if (done()) finish("stop");
        } else finish("stop");
      });
      worker.on("error", (e) => {
        if (settled) return;
        if (current) fail(`the worker running it died: ${e instanceof Error ? e.message : String(e)}`);
        else record(saveFailure(exec, next, `the fuzzing worker failed outside a case: ${e instanceof Error ? e.message : String(e)}`, null));
        finish(done() || !current ? "stop" : "restart");
      });
      worker.on("exit", () => {
        if (settled) return;
        if (current) fail("the worker running it exited");
        finish(done() ? "stop" : "restart");
      });
    });
    if (outcome === "stop") break;
  }
  progress.elapsedMs = performance.now() - start;
  progress.fuzzingMs = fuzzStart === null ? 0 : performance.now() - fuzzStart;
  return { ...progress, failuresFound: failures };
}
