// How the hypercall log names what a hypercall did: its command by name (or why it has none) and
// its result in the command's own terms (a get hits or misses; an error by its errno name).
import { TMEM_GET_PAGE } from "../../hypercall-abi/constants.js";
import { COMMAND_NAMES, describeResult } from "../../hypercall-abi/op-describe.js";
import type { LogEntry } from "./page-machine.js";

/** The command's name; a struct the VMM could not read has no command to name. */
export function commandText(e: LogEntry): string {
  if (!e.struct) return "no struct (pointer outside RAM)";
  return COMMAND_NAMES.get(e.cmd) ?? `command ${e.cmd} (unknown)`;
}

/** "hit" or "miss" for a get, "-22 (-EINVAL)" for an error, else the number. */
export function resultText(e: LogEntry): string {
  if (e.struct && e.cmd === TMEM_GET_PAGE && (e.result === 0 || e.result === 1)) return e.result === 1 ? "hit" : "miss";
  return describeResult(e.result);
}
