// `tmemvm fuzz`: runs one fuzzer for a time, a number of cases or a number of hypercalls, seeded,
// reporting progress, and saves every failure as a replayable trace beside a note with its seed
// and the command that reproduces it. Guests and the VMM run synchronously, so a case that never
// returns cannot be interrupted from its own thread: the cases run in worker threads, one per job,
// each announcing a case before running it, and this (main) thread watches them all. A case that
// runs past its budget is a failure, saved with its reproduction; its worker is terminated and a
// new one carries on that job from its next case. A worker that dies any other way is its current
// case's failure too.
//
// Jobs split the case numbers: job j of N runs cases j, j + N, j + 2N, ..., so no two jobs run the
// same case, and case n is the case n a one-job run of the same seed runs (its note's `--seed S
// --case n` reproduces it alone). The coverage target's cases are mutations of each job's own
// corpus: job j mutates with its own seed stream (job 0 with the campaign's seed), and its failures
// are reproduced from the saved input, as in a one-job run.
import { existsSync, mkdirSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { saveCoverageInput, saveFailure, FUZZ_TARGETS, type CaseOutcome, type ExecutorOptions, type FuzzFailure, type FuzzTarget } from "./case-executor.js";
import type { CaseDone, CorpusStart, WorkerMessage, WorkerStart } from "./case-worker.js";
import { corpusFiles } from "./corpus-dir.js";
import { MAX_FUZZ_JOBS } from "./targets.js";

export { FUZZ_TARGETS, type FuzzFailure, type FuzzTarget };

export interface FuzzOptions {
  target: FuzzTarget;
  seed: number;
  /** Worker threads, each running its share of the cases (default 1). */
  jobs?: number;
  /** Stop after this many seconds of fuzzing... */
  seconds?: number;
  /** ...or after this many cases (inputs, for coverage), case numbers 0 to cases - 1... */
  cases?: number;
  /** ...or once this many hypercalls have run, over all jobs; whichever comes first (none given: 10 s). */
  hypercalls?: number;
  /** Run only this case (reproduce a failure). */
  onlyCase?: number;
  /** Coverage target: run only this saved input (reproduce a failure). */
  input?: Uint8Array;
  /** Coverage target: the corpus directory (read at the start, each new input written to it). */
  corpusDir?: string;
  /** Where failures are saved. */
  outDir: string;
  /** Directory of the guest images (fuzzer.wasm). */
  imageDir: string;
  /** A case that runs longer than this fails (default 20 s). */
  caseBudgetMs?: number;
  /** A module each worker imports before its first case (tests plant bugs with it). */
  preload?: string;
  onProgress?: (p: FuzzProgress) => void;
}

export interface JobProgress {
  cases: number;
  execs: number;
  hypercalls: number;
}

export interface FuzzProgress {
  target: FuzzTarget;
  jobs: number;
  cases: number;
  /** Hypercalls executed (coverage: inputs). */
  execs: number;
  /** Hypercalls executed (coverage: counted from its inputs). */
  hypercalls: number;
  failures: number;
  elapsedMs: number;
  /** Time since the first case started (elapsedMs less the fuzzer's setup): what rates divide by. */
  fuzzingMs: number;
  /** Coverage counters reached (coverage target only; with jobs, the job that reached most). */
  coverage?: { covered: number; total: number };
  perJob: JobProgress[];
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
  const single = o.onlyCase !== undefined || o.input !== undefined;
  const requested = o.jobs ?? 1;
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_FUZZ_JOBS) throw new RangeError(`jobs must be a whole number 1..${MAX_FUZZ_JOBS}`);
  // A job with no case number below --cases would have nothing to do.
  const jobs = single ? 1 : Math.min(requested, o.cases ?? requested);
  const failures: FuzzFailure[] = [];
  const perJob: JobProgress[] = Array.from({ length: jobs }, () => ({ cases: 0, execs: 0, hypercalls: 0 }));
  const progress: FuzzProgress = { target: o.target, jobs, cases: 0, execs: 0, hypercalls: 0, failures: 0, elapsedMs: 0, fuzzingMs: 0, perJob };
  const seconds = o.seconds ?? (o.cases === undefined && o.hypercalls === undefined ? 10 : undefined);
  // The clock for --seconds starts when a worker begins the first case (the coverage target
  // instruments the VMM first), and every campaign runs at least one case: one that ran none has
  // tested nothing.
  let fuzzStart: number | null = null;
  const campaignDone = () => progress.cases > 0 && (single ||
    (o.hypercalls !== undefined && progress.hypercalls >= o.hypercalls) ||
    (seconds !== undefined && fuzzStart !== null && performance.now() - fuzzStart >= seconds * 1000));
  let lastReport = 0;
  const tick = () => {
    progress.elapsedMs = performance.now() - start;
    progress.fuzzingMs = fuzzStart === null ? 0 : performance.now() - fuzzStart;
    if (progress.elapsedMs - lastReport >= 200) {
      lastReport = progress.elapsedMs;
      o.onProgress?.({ ...progress, perJob: perJob.map((j) => ({ ...j })) });
    }
  };
  const record = (f: FuzzFailure) => {
    failures.push(f);
    progress.failures++;
  };
  let corpus: string[] | undefined;
  if (o.corpusDir && o.target === "coverage" && !single) {
    mkdirSync(o.corpusDir, { recursive: true });
    corpus = corpusFiles(o.corpusDir);
  }

  const runJob = async (job: number) => {
    const exec: ExecutorOptions = { target: o.target, seed: o.seed, outDir: o.outDir, imageDir: o.imageDir, job, corpusDir: corpus ? o.corpusDir : undefined };
    const repro = (n: number, input: Uint8Array | null) => (input && o.target === "coverage" ? saveCoverageInput(exec, n, input) : null);
    const mine = perJob[job];
    let next = single ? (o.onlyCase ?? 0) : job;
    const corpusState: CorpusStart | undefined = corpus && { files: corpus, done: 0, skip: [] };
    const done = () => (single ? mine.cases > 0 : o.cases !== undefined && next >= o.cases) || campaignDone();
    while (!done()) {
      // This job's worker runs until told to stop, overruns a case, or dies.
      const outcome = await new Promise<"stop" | "restart">((resolve) => {
        const data: WorkerStart = {
          ...exec, firstCase: next, stride: jobs, input: o.input, preload: o.preload, corpus: corpusState && { ...corpusState, skip: [...corpusState.skip] },
          count: single ? 1 : o.cases !== undefined ? Math.ceil((o.cases - next) / jobs) : undefined,
        };
        const worker = new Worker(workerScript(), { workerData: data });
        let current: { n: number; input: Uint8Array | null; since: number; corpusFile?: number; quiet?: boolean } | null = null;
        let settled = false;
        const finish = (how: "stop" | "restart") => {
          if (settled) return;
          settled = true;
          clearInterval(watchdog);
          void worker.terminate();
          resolve(how);
        };
        const corpusPassed = (c: { corpusFile?: number }, overran: boolean) => {
          if (c.corpusFile === undefined || !corpusState) return;
          corpusState.done = Math.max(corpusState.done, c.corpusFile + 1);
          if (overran) corpusState.skip.push(c.corpusFile);
        };
        const fail = (message: string) => {
          const c = current!;
          current = null;
          corpusPassed(c, true);
          // A quiet run is another job's case (or one already reported): only skipped from now on.
          if (c.quiet) return;
          record(saveFailure(exec, c.n, `case ${c.n}: ${message}`, null, repro(c.n, c.input)));
          progress.cases++;
          mine.cases++;
          next = c.n + jobs;
          tick();
        };
        const watchdog = setInterval(() => {
          if (current && performance.now() - current.since > budget) {
            fail(`ran past its budget of ${budget} ms (an endless loop or a hang)`);
            finish(done() ? "stop" : "restart");
          } else if (!current && done()) finish("stop");
        }, Math.min(250, Math.max(10, budget / 4)));
        const caseDone = (m: CaseDone) => {
          const r: CaseOutcome = m.outcome;
          if (current) corpusPassed(current, false);
          current = null;
          if (r.coverage && (!progress.coverage || r.coverage.covered > progress.coverage.covered)) progress.coverage = r.coverage;
          if (m.quiet) return;
          next = m.n + jobs;
          progress.cases++;
          progress.execs += r.execs;
          progress.hypercalls += r.hypercalls;
          mine.cases++;
          mine.execs += r.execs;
          mine.hypercalls += r.hypercalls;
          if (r.failure) record(r.failure);
          tick();
        };
        worker.on("message", (m: WorkerMessage) => {
          if (settled) return;
          if (m.done) caseDone(m.done);
          if (m.type === "finished" || done()) {
            finish("stop");
            return;
          }
          current = { n: m.start.n, input: m.start.input, since: performance.now(), corpusFile: m.start.corpusFile, quiet: m.start.quiet };
          if (!m.start.quiet) fuzzStart ??= current.since;
        });
        worker.on("error", (e) => {
          if (settled) return;
          const message = e instanceof Error ? e.message : String(e);
          const inCase = current !== null;
          if (inCase) fail(`the worker running it died: ${message}`);
          else record(saveFailure(exec, next, `the fuzzing worker failed outside a case: ${message}`, null));
          // Outside a case it is the set-up that fails, and would fail again.
          finish(done() || !inCase ? "stop" : "restart");
        });
        worker.on("exit", () => {
          if (settled) return;
          if (current) fail("the worker running it exited");
          finish(done() ? "stop" : "restart");
        });
      });
      if (outcome === "stop") break;
    }
  };
  await Promise.all(Array.from({ length: jobs }, (_, j) => runJob(j)));
  progress.elapsedMs = performance.now() - start;
  progress.fuzzingMs = fuzzStart === null ? 0 : performance.now() - fuzzStart;
  return { ...progress, failuresFound: failures.sort((a, b) => a.case - b.case) };
}
