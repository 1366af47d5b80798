// The campaign's worker thread (one per job): runs cases one after another from the case it is
// told to start at, every `stride`-th (a job's share of the case numbers), announcing each before
// it runs and reporting it after, so the main thread, which is never blocked, can tell which case
// overran its budget and terminate this thread. A coverage job with a corpus directory first runs
// the directory's inputs, then mutates; now and then it picks up the files other jobs wrote.
import { readFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { CaseExecutor, type CaseOutcome, type ExecutorOptions } from "./case-executor.js";
import { corpusFiles } from "./corpus-dir.js";

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
}

export interface CorpusStart {
  files: string[];
  /** Files before this index ran aloud in an earlier worker of this job: run them again quietly, for their coverage. */
  done: number;
  /** Indices of files that ran past their budget: not run again. */
  skip: number[];
}

/**
 * A quiet run is a corpus input run only for the coverage it reaches (another job runs it aloud,
 * or this job did before a restart): announced, so its budget is watched, but no case of its own.
 */
export interface CaseStart {
  n: number;
  input: Uint8Array | null;
  corpusFile?: number;
  quiet?: boolean;
}
export interface CaseDone {
  n: number;
  outcome: CaseOutcome;
  quiet?: boolean;
}
/**
 * One message per case: the previous case's outcome rides with the next case's announcement
 * (posting is a tenth of a short coverage input's time), so `done` always precedes `start`.
 */
export type WorkerMessage =
  | { type: "step"; done: CaseDone | null; start: CaseStart }
  | { type: "finished"; done: CaseDone | null };

/** How often (in inputs) a coverage job looks for the corpus files other jobs wrote. */
const RESCAN_EVERY = 2000;

const start = workerData as WorkerStart;
let pending: CaseDone | null = null;
const announce = (start: CaseStart) => {
  parentPort!.postMessage({ type: "step", done: pending, start } satisfies WorkerMessage);
  pending = null;
};
const report = (done: CaseDone) => {
  pending = done;
};

if (start.preload) await import(start.preload);
const executor = await CaseExecutor.create(start);
try {
  let n = start.firstCase;
  const left = () => start.count === undefined || n < start.firstCase + start.count * start.stride;
  const read = (file: string): Uint8Array | null => {
    try {
      return readFileSync(file);
    } catch {
      return null; // gone since it was listed (another tool's merge): nothing to run
    }
  };
  if (start.input) {
    announce({ n: 0, input: start.input });
    report({ n: 0, outcome: executor.runSavedInput(start.input) });
  } else {
    const seen = new Set<string>();
    const quietly = (input: Uint8Array, corpusFile?: number) => {
      announce({ n, input, corpusFile, quiet: true });
      report({ n, outcome: executor.runCorpusInput(n, input, true), quiet: true });
    };
    if (start.corpus) {
      // Every job needs every input's coverage; each input is one job's case (file i: job i mod jobs).
      const { files, done, skip } = start.corpus;
      for (let i = 0; i < files.length && left(); i++) {
        seen.add(files[i]);
        const input = skip.includes(i) ? null : read(files[i]);
        if (!input) continue;
        if (i < done || i % start.stride !== (start.job ?? 0)) {
          quietly(input, i);
          continue;
        }
        announce({ n, input, corpusFile: i });
        report({ n, outcome: executor.runCorpusInput(n, input, false) });
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
          const input = read(file);
          if (input) quietly(input);
        }
      }
      const input = executor.nextInput();
      announce({ n, input });
      report({ n, outcome: await executor.run(n, input) });
    }
  }
} finally {
  executor.dispose();
}
parentPort!.postMessage({ type: "finished", done: pending } satisfies WorkerMessage);
