// Node's watchdog for guests run in the caller's thread: V8 can end a script that runs too long
// (node:vm's timeout does it from a thread of its own), and that reaches into Wasm, so a guest
// looping with no hypercall is ended without ending the process. The CLI gets the same guarantee
// by running guests in a worker it can terminate.
import { createContext, Script } from "node:vm";

const call = new Script("work()");
const context = createContext({ work: null as (() => unknown) | null });

/** `work()`'s value, or null if it still ran after `ms` milliseconds and was ended. */
export function watchdog<T>(work: () => T, ms: number): { value: T } | null {
  let value: T | undefined;
  context.work = () => (value = work());
  try {
    call.runInContext(context, { timeout: Math.max(1, Math.ceil(ms)) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_SCRIPT_EXECUTION_TIMEOUT") return null;
    throw e;
  } finally {
    context.work = null;
  }
  return { value: value as T };
}
