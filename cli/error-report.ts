// Prints what went wrong: vmm/error-class.ts decides what kind of failure an exception is, this
// module only adds what is the CLI's own (commander's verdicts, failures the CLI decided on with
// their status) and turns a class into the exit status of the table in exit-status.ts.
import { CommanderError } from "commander";
import { classifyError as classOf, type ErrorClass } from "../vmm/api.js";
import { EXIT_DIVERGED, EXIT_GUEST_CRASHED, EXIT_INTERNAL, EXIT_IO, EXIT_OK, EXIT_USAGE } from "./exit-status.js";

/** A failure the CLI itself decided on, with its exit status (usage unless told otherwise). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_USAGE,
  ) {
    super(message);
  }
}

export interface ErrorVerdict {
  status: number;
  /** The line to print after "tmemvm: ", or null for nothing (commander printed the help). */
  message: string | null;
  /** A bug in tmemvm: worth a stack trace with TMEMVM_DEBUG=1. */
  internal: boolean;
}

const STATUS: Record<ErrorClass, number> = {
  usage: EXIT_USAGE,
  data: EXIT_DIVERGED,
  "guest-crash": EXIT_GUEST_CRASHED,
  io: EXIT_IO,
  internal: EXIT_INTERNAL,
};

export function classifyError(e: unknown): ErrorVerdict {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) return { status: EXIT_OK, message: null, internal: false }; // --help, --version
    if (e.code === "commander.help") return { status: EXIT_USAGE, message: null, internal: false }; // no command: the help was shown
    return { status: EXIT_USAGE, message: e.message.replace(/^error: /, ""), internal: false };
  }
  if (e instanceof CliError) return { status: e.exitCode, message: e.message, internal: e.exitCode === EXIT_INTERNAL };
  const v = classOf(e);
  return { status: STATUS[v.class], message: v.message, internal: v.class === "internal" };
}
