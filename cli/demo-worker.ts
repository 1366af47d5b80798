// `tmemvm demo` runs its guests in this worker thread, as `run` does (run-worker.ts): guests run
// synchronously inside Wasm, so only a thread not running them can take Ctrl-C; it sets the stop
// flag, and the guests stop at their next hypercall.
import { parentPort, workerData } from "node:worker_threads";
import { DemoGuestError, runDemo, type DemoOptions, type DemoProgress } from "./demo.js";
import { classifyError } from "./error-report.js";

export interface DemoWorkerData {
  opts: Omit<DemoOptions, "stop" | "bar">;
  /** Int32 stop flag: non-zero stops the guests. */
  stop: SharedArrayBuffer;
}

export type DemoWorkerMessage =
  | { kind: "out"; stream: "stdout" | "stderr"; text: string }
  /** The progress line is drawn by the main thread, whose stderr is the terminal. */
  | { kind: "progress"; call: "start" | "update" | "stop"; args: unknown[] }
  | { kind: "done"; stopped: boolean }
  | { kind: "guest-failed"; message: string; crashed: boolean; exitCode: number | null }
  /** A failure, classified here (see error-report.ts): the exit status and the line to print. */
  | { kind: "error"; status: number; message: string; stack?: string };

const port = parentPort!;
const send = (m: DemoWorkerMessage) => port.postMessage(m);
const data = workerData as DemoWorkerData;

const bar: DemoProgress = {
  start: (...args) => send({ kind: "progress", call: "start", args }),
  update: (...args) => send({ kind: "progress", call: "update", args }),
  stop: () => send({ kind: "progress", call: "stop", args: [] }),
};

try {
  const report = await runDemo(
    { ...data.opts, stop: new Int32Array(data.stop), bar: data.opts.progress ? bar : undefined },
    {
      stdout: (text) => send({ kind: "out", stream: "stdout", text }),
      stderr: (text) => send({ kind: "out", stream: "stderr", text }),
    },
  );
  send({ kind: "done", stopped: report.chart === null });
} catch (e) {
  if (e instanceof DemoGuestError) send({ kind: "guest-failed", message: e.message, crashed: e.crash !== null, exitCode: e.exitCode });
  else {
    const verdict = classifyError(e);
    send({
      kind: "error",
      status: verdict.status,
      message: verdict.message ?? "",
      stack: verdict.internal && e instanceof Error ? e.stack : undefined,
    });
  }
}
