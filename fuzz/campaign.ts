// `tmemvm fuzz`: runs one fuzzer for a time, a number of cases or a number of hypercalls, seeded,
// reporting progress, and saves every failure as a replayable trace beside a note with its seed
// and the command that reproduces it. Guests and the VMM run synchronously, so a case that never
// returns cannot be interrupted from its own thread: the cases run in worker threads, one per job,
// each writing the case it runs to its job's board (case-board.ts), and this (main) thread watches them all. A case that
// runs past its budget is a failure, saved with its reproduction; its worker is terminated and a
// new one carries on that job from its next case. A worker that dies any other way is its current
// case's failure too.
//
// Jobs split the case numbers: job j of N runs cases j, j + N, j + 2N, ..., so no two jobs run the
// same case, and case n is the case n a one-job run of the same seed runs (its note's `--seed S
// --case n` reproduces it alone). The coverage target's cases are mutations of each job's own
// corpus: job j mutates with its own seed stream (job 0 with the campaign's seed), and its failures
// are reproduced from the saved input, as in a one-job run.
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import {
  checkGuestImage,
  makeOutputDir,
  OutputWriteError,
  saveCoverageInput,
  saveFailure,
  FUZZ_TARGETS,
  type ExecutorOptions,
  type FuzzFailure,
  type FuzzTarget,
} from "./case-executor.js";
import { CaseBoard, OVERSIZED, type BoardCase } from "./case-board.js";
import type { WorkerMessage, WorkerStart } from "./case-worker.js";
import { corpusFiles, inputDigest } from "./corpus-dir.js";
import { MAX_FUZZ_JOBS } from "./targets.js";

export { checkGuestImage, FUZZ_TARGETS, type FuzzFailure, type FuzzTarget };

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
  /** Ends the campaign early (Ctrl-C): the cases running finish, and the report covers what ran. */
  signal?: AbortSignal;
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
  if (o.target === "guest") await checkGuestImage(o.imageDir);
  const start = performance.now();
  const budget = o.caseBudgetMs ?? DEFAULT_CASE_BUDGET_MS;
  const single = o.onlyCase !== undefined || o.input !== undefined;
  const requested = o.jobs ?? 1;
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_FUZZ_JOBS)
    throw new RangeError(`jobs must be a whole number 1..${MAX_FUZZ_JOBS}`);
  // A job with no case number below --cases would have nothing to do.
  const jobs = single ? 1 : Math.min(requested, o.cases ?? requested);
  const failures: FuzzFailure[] = [];
  const perJob: JobProgress[] = Array.from({ length: jobs }, () => ({ cases: 0, execs: 0, hypercalls: 0 }));
  const progress: FuzzProgress = {
    target: o.target,
    jobs,
    cases: 0,
    execs: 0,
    hypercalls: 0,
    failures: 0,
    elapsedMs: 0,
    fuzzingMs: 0,
    perJob,
  };
  const seconds = o.seconds ?? (o.cases === undefined && o.hypercalls === undefined ? 10 : undefined);
  // The clock for --seconds starts when a worker begins the first case (the coverage target
  // instruments the VMM first), and every campaign runs at least one case: one that ran none has
  // tested nothing.
  let fuzzStart: number | null = null;
  /** A file that could not be written (a full disk): every job stops, and the campaign fails with it. */
  let outputFailure: OutputWriteError | null = null;
  const campaignDone = () =>
    outputFailure !== null ||
    o.signal?.aborted === true ||
    (progress.cases > 0 &&
      (single ||
        (o.hypercalls !== undefined && progress.hypercalls >= o.hypercalls) ||
        (seconds !== undefined && fuzzStart !== null && performance.now() - fuzzStart >= seconds * 1000)));
  // Each job's board (case-board.ts) holds its totals, across the workers it goes through; a case
  // that overran or whose worker died is counted here, apart.
  const boards = Array.from({ length: jobs }, () => new CaseBoard());
  const lostCases = new Array<number>(jobs).fill(0);
  const campaignTotal = o.hypercalls !== undefined ? new SharedArrayBuffer(8) : undefined;
  const sync = () => {
    progress.cases = progress.execs = progress.hypercalls = 0;
    boards.forEach((b, j) => {
      const t = b.totals;
      perJob[j] = { cases: t.cases + lostCases[j], execs: t.execs, hypercalls: t.hypercalls };
      progress.cases += perJob[j].cases;
      progress.execs += t.execs;
      progress.hypercalls += t.hypercalls;
      const c = b.coverage;
      if (c && (!progress.coverage || c.covered > progress.coverage.covered)) progress.coverage = c;
      // The board's clock is the wall clock (shared between threads); this one is performance's.
      const first = b.firstStart;
      if (first !== null) fuzzStart = Math.min(fuzzStart ?? Infinity, performance.now() - (Date.now() - first));
    });
  };
  let lastReport = 0;
  const tick = () => {
    sync();
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
  /** Saves a failure found from this thread; a file that cannot be written stops the campaign instead. */
  const saved = (save: () => FuzzFailure): FuzzFailure | null => {
    try {
      return save();
    } catch (e) {
      if (!(e instanceof OutputWriteError)) throw e;
      outputFailure ??= e;
      return null;
    }
  };
  let corpus: string[] | undefined;
  if (o.corpusDir && o.target === "coverage" && !single) {
    makeOutputDir(o.corpusDir, "--corpus");
    corpus = corpusFiles(o.corpusDir);
  }

  const runJob = async (job: number) => {
    const exec: ExecutorOptions = {
      target: o.target,
      seed: o.seed,
      outDir: o.outDir,
      imageDir: o.imageDir,
      job,
      corpusDir: corpus ? o.corpusDir : undefined,
    };
    const repro = (n: number, input: Uint8Array | null) => (input && o.target === "coverage" ? saveCoverageInput(exec, n, input) : null);
    const board = boards[job];
    /** Corpus inputs that hung or killed this job's worker, by digest (corpus-dir.ts). */
    const skip: string[] = [];
    let lastLost = -1;
    // Cases run in increasing order, so the next is the one after the last that ended.
    const next = () => {
      const last = Math.max(board.lastCase, lastLost);
      return last < 0 ? (single ? (o.onlyCase ?? 0) : job) : last + jobs;
    };
    let received = 0;
    const done = () => (single ? perJob[job].cases > 0 : o.cases !== undefined && next() >= o.cases) || campaignDone();
    while (!done()) {
      // This job's worker runs until told to stop, overruns a case, or dies.
      const outcome = await new Promise<"stop" | "restart">((resolve) => {
        const first = next();
        const data: WorkerStart = {
          ...exec,
          firstCase: first,
          stride: jobs,
          input: o.input,
          preload: o.preload,
          board: board.buffer,
          campaign: campaignTotal,
          hypercallLimit: o.hypercalls,
          corpus: corpus && { files: corpus, done: board.corpusDone, skip: [...skip] },
          count: single ? 1 : o.cases !== undefined ? Math.ceil((o.cases - first) / jobs) : undefined,
        };
        const worker = new Worker(workerScript(), { workerData: data });
        let oversized: Uint8Array | null = null;
        let settled = false;
        const finish = (how: "stop" | "restart") => {
          if (settled) return;
          settled = true;
          clearInterval(watchdog);
          void worker.terminate();
          tick();
          resolve(how);
        };
        /** The current case failed from outside: it overran, or its worker died. */
        const fail = (c: BoardCase, message: string) => {
          board.abandon();
          const input = c.input === OVERSIZED ? oversized : c.input;
          // A corpus file is read again by every new worker (from the start, or at a rescan): one
          // that hung is known by its bytes, whatever its name, and not run again.
          if (c.corpusFile !== undefined && input) skip.push(inputDigest(input));
          // A quiet run is another job's case (or one already reported): only skipped from now on.
          if (c.quiet) return;
          const f = saved(() => saveFailure(exec, c.n, `case ${c.n}: ${message}`, null, repro(c.n, input)));
          if (f) record(f);
          lostCases[job]++;
          lastLost = c.n;
          tick();
        };
        // Stopping a job waits for every failure its worker has posted.
        const quiet = () => received >= board.failuresPosted;
        const watchdog = setInterval(
          () => {
            tick();
            const c = board.current();
            if (c && Date.now() - c.started > budget) {
              fail(c, `ran past its budget of ${budget} ms (an endless loop or a hang)`);
              finish(done() ? "stop" : "restart");
            } else if (done() && quiet()) finish("stop");
          },
          Math.min(200, Math.max(10, budget / 4)),
        );
        worker.on("message", (m: WorkerMessage) => {
          if (settled) return;
          if (m.type === "failure") {
            received++;
            record(m.failure);
          } else if (m.type === "input") oversized = m.input;
          else if (m.type === "output-failed") {
            outputFailure ??= new OutputWriteError(m.what, m.path, m.code, new Error(m.reason));
            finish("stop");
          } else finish("stop");
        });
        const died = (message: string) => {
          if (settled) return;
          const c = board.current();
          if (c) fail(c, message);
          else if (message !== "") {
            const f = saved(() => saveFailure(exec, next(), `the fuzzing worker failed outside a case: ${message}`, null));
            if (f) record(f);
          }
          // Outside a case it is the set-up that fails, and would fail again.
          finish(done() || (!c && message !== "") ? "stop" : "restart");
        };
        worker.on("error", (e) => died(`the worker running it died: ${e instanceof Error ? e.message : String(e)}`));
        worker.on("exit", () => died(board.current() ? "the worker running it exited" : ""));
      });
      if (outcome === "stop") break;
    }
  };
  await Promise.all(Array.from({ length: jobs }, (_, j) => runJob(j)));
  if (outputFailure) throw outputFailure;
  sync();
  progress.elapsedMs = performance.now() - start;
  progress.fuzzingMs = fuzzStart === null ? 0 : performance.now() - fuzzStart;
  return { ...progress, failuresFound: failures.sort((a, b) => a.case - b.case) };
}
