// `tmemvm run` executes its guests in this worker thread. Guests run synchronously inside Wasm, so
// a thread running them cannot see a signal or a timer; the CLI's main thread stays free for both
// and asks the run to stop through a shared flag that the VMM checks at every hypercall.
import { parentPort, workerData } from "node:worker_threads";
import type { MachineSpec } from "./run-config.js";
import { classifyError } from "./error-report.js";
import { runGuests } from "./run-command.js";

export interface RunWorkerData {
  /** The checked spec: plain data, it crosses to the thread as it is. */
  spec: MachineSpec;
  report: { summary: boolean; listJson?: string };
  /** Int32 stop flag (see STOP_* in run-command.ts). */
  stop: SharedArrayBuffer;
  /** Int32 count of hypercalls made, for the progress line. */
  hypercalls: SharedArrayBuffer;
}

export type RunWorkerMessage =
  | { kind: "out"; stream: "stdout" | "stderr"; text: string }
  | { kind: "running" }
  | { kind: "done"; exitCode: number; stopped: number; crashed: { name: string; crash: string }[] }
  /** A failure, classified here (see error-report.ts): the exit status and the line to print. */
  | { kind: "error"; status: number; message: string; stack?: string };

const port = parentPort!;
const send = (m: RunWorkerMessage) => port.postMessage(m);
const data = workerData as RunWorkerData;

try {
  const result = await runGuests(
    data.spec,
    {
      ...data.report,
      stop: new Int32Array(data.stop),
      hypercallCounter: new Int32Array(data.hypercalls),
      onStart: () => send({ kind: "running" }),
    },
    {
      stdout: (text) => send({ kind: "out", stream: "stdout", text }),
      stderr: (text) => send({ kind: "out", stream: "stderr", text }),
    },
  );
  send({
    kind: "done",
    exitCode: result.exitCode,
    stopped: result.stopped,
    crashed: result.crashed.map((d) => ({ name: d.name, crash: d.crash ?? "" })),
  });
} catch (e) {
  const verdict = classifyError(e);
  send({
    kind: "error",
    status: verdict.status,
    message: verdict.message ?? "",
    stack: verdict.internal && e instanceof Error ? e.stack : undefined,
  });
}
