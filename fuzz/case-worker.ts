// The campaign's worker thread: runs cases one after another from the case it is told to start
// at, announcing each before it runs and reporting it after, so the main thread, which is never
// blocked, can tell which case overran its budget and terminate this thread.
import { parentPort, workerData } from "node:worker_threads";
import { CaseExecutor, type ExecutorOptions } from "./case-executor.js";

export interface WorkerStart extends ExecutorOptions {
  firstCase: number;
  /** Run only this many cases (undefined: until terminated). */
  count?: number;
  /** Coverage target: run only this input. */
  input?: Uint8Array;
  /** A module to import first (a test plants a bug in the worker's copy of the VMM with it). */
  preload?: string;
}

export type WorkerMessage =
  | { type: "start"; n: number; input: Uint8Array | null }
  | { type: "done"; n: number; outcome: import("./case-executor.js").CaseOutcome }
  | { type: "finished" };

const start = workerData as WorkerStart;
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

if (start.preload) await import(start.preload);
const executor = await CaseExecutor.create(start);
try {
  if (start.input) {
    post({ type: "start", n: 0, input: start.input });
    post({ type: "done", n: 0, outcome: executor.runSavedInput(start.input) });
  } else {
    for (let n = start.firstCase; start.count === undefined || n < start.firstCase + start.count; n++) {
      const input = executor.nextInput();
      post({ type: "start", n, input });
      post({ type: "done", n, outcome: await executor.run(n, input) });
    }
  }
} finally {
  executor.dispose();
}
post({ type: "finished" });
