// The campaign's worker thread (one per job): runs cases one after another from the case it is
// told to start at, every `stride`-th (a job's share of the case numbers), writing each to the
// job's board (case-board.ts) before it runs and its totals after, so the main thread, which is
// never blocked, can tell which case overran its budget and terminate this thread. A coverage job
// with a corpus directory first runs the directory's inputs, then mutates; now and then it picks
// up the files other jobs wrote.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { CaseExecutor, OutputWriteError, type CaseOutcome, type ExecutorOptions, type FuzzFailure } from "./case-executor.js";
import { CaseBoard, FOUND_BY_RESCAN } from "./case-board.js";
import { corpusFiles, inputDigest } from "./corpus-dir.js";

export interface WorkerStart extends ExecutorOptions {
  firstCase: number;
  /** Case numbers go up by this much (the number of jobs). */
  stride: number;
  /** Run only this many cases (undefined: until terminated). */
  count?: number;
  /** Coverage target: run only this input. */
  input?: Uint8Array;
  /** A module to import first (a test plants a bug in the worker's copy of the VMM with it). */
  preload?: string;
  /** Coverage with --corpus: the directory's files at the start, and how far a worker before this one got. */
  corpus?: CorpusStart;
  /** This job's board (case-board.ts), kept across its workers. */
  board: SharedArrayBuffer;
  /** Every job's hypercalls so far (one BigInt64), when the campaign stops at hypercallLimit. */
  campaign?: SharedArrayBuffer;
  hypercallLimit?: number;
}

export interface CorpusStart {
  files: string[];
  /** Files before this index ran aloud in an earlier worker of this job: run them again quietly, for their coverage. */
  done: number;
  /** SHA-1 digests of corpus inputs that ran past their budget or killed a worker: not run again, under any name. */
  skip: string[];
}

/**
 * A quiet run is a corpus input run only for the coverage it reaches (another job runs it aloud,
 * or this job did before a restart): announced, so its budget is watched, but no case of its own.
 */
/** Per case, the worker writes its board (case-board.ts); it posts only what is rare. */
export type WorkerMessage =
  | { type: "failure"; n: number; failure: FuzzFailure }
  | { type: "input"; n: number; input: Uint8Array }
  /** A file could not be written (a full disk): the campaign stops with an I/O error. */
  | { type: "output-failed"; what: string; path: string; code: string | undefined; reason: string }
  | { type: "finished" };

/** How often (in inputs) a coverage job looks for the corpus files other jobs wrote. */
const RESCAN_EVERY = 2000;

const start = workerData as WorkerStart;
const board = new CaseBoard(start.board);
const total = start.campaign ? new BigInt64Array(start.campaign) : null;
const limit = start.hypercallLimit === undefined ? null : BigInt(start.hypercallLimit);
let limitReached = false;
/** Runs case `n` with the board kept up to date; its failure, if any, is posted. */
const runCase = async (
  n: number,
  input: Uint8Array | null,
  quiet: boolean,
  corpusFile: number | undefined,
  run: () => CaseOutcome | Promise<CaseOutcome>,
) => {
  if (!board.begin(n, input, quiet, corpusFile)) parentPort!.postMessage({ type: "input", n, input: input! } satisfies WorkerMessage);
  const outcome = await run();
  if (outcome.failure && !quiet) {
    parentPort!.postMessage({ type: "failure", n, failure: outcome.failure } satisfies WorkerMessage);
    board.posted();
  }
  board.end(outcome);
  // --hypercalls counts every job's: the job that takes the total past it, and every job after, stops.
  if (!quiet && total && limit !== null && Atomics.add(total, 0, BigInt(outcome.hypercalls)) + BigInt(outcome.hypercalls) >= limit)
    limitReached = true;
};

if (start.preload) await import(start.preload);
const executor = await CaseExecutor.create(start);
try {
  let n = start.firstCase;
  const left = () => !limitReached && (start.count === undefined || n < start.firstCase + start.count * start.stride);
  const read = (file: string): Uint8Array | null => {
    try {
      return readFileSync(file);
    } catch {
      return null; // gone since it was listed (another tool's merge): nothing to run
    }
  };
  if (start.input) {
    const input = start.input;
    await runCase(0, input, false, undefined, () => executor.runSavedInput(input));
  } else {
    const seen = new Set<string>();
    const quietly = (input: Uint8Array, corpusFile: number) =>
      runCase(n, input, true, corpusFile, () => executor.runCorpusInput(n, input, true));
    const skip = new Set(start.corpus?.skip);
    /** A corpus file's input, or null if it is gone or hung a worker before. */
    const corpusInput = (file: string): Uint8Array | null => {
      const input = read(file);
      return input && skip.size > 0 && skip.has(inputDigest(input)) ? null : input;
    };
    if (start.corpus) {
      // Every job needs every input's coverage; each input is one job's case (file i: job i mod jobs).
      const { files, done } = start.corpus;
      for (let i = 0; i < files.length && left(); i++) {
        seen.add(files[i]);
        const input = corpusInput(files[i]);
        if (!input) continue;
        if (i < done || i % start.stride !== (start.job ?? 0)) {
          await quietly(input, i);
          continue;
        }
        await runCase(n, input, false, i, () => executor.runCorpusInput(n, input, false));
        n += start.stride;
      }
    }
    for (let since = 0; left(); n += start.stride, since++) {
      if (start.corpus && start.corpusDir && since === RESCAN_EVERY) {
        // Other jobs' (or machines') new inputs: run quietly for their coverage, as the ones before a restart.
        since = 0;
        for (const file of corpusFiles(start.corpusDir)) {
          if (seen.has(file)) continue;
          seen.add(file);
          const input = corpusInput(file);
          if (input) await quietly(input, FOUND_BY_RESCAN);
        }
      }
      const input = executor.nextInput();
      await runCase(n, input, false, undefined, () => executor.run(n, input));
    }
  }
} catch (e) {
  if (!(e instanceof OutputWriteError)) throw e;
  const cause = e.cause instanceof Error ? e.cause.message : String(e.cause);
  parentPort!.postMessage({ type: "output-failed", what: e.what, path: e.path, code: e.code, reason: cause } satisfies WorkerMessage);
} finally {
  executor.dispose();
}
parentPort!.postMessage({ type: "finished" } satisfies WorkerMessage);
