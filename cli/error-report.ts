// Every error `tmemvm` reports goes through classifyError: it decides, in one place, what kind of
// failure an exception is and so the one line printed and the exit status.
//   - a usage error (bad option, config, image, trace, save file, output path): nothing ran; 64
//   - a guest's crash is not an exception here: the run reports it (134) from the domain's state
//   - a broken host invariant, or any exception no class claims: a bug in tmemvm; 70
//   - a failed write of an output once the run is over (disk full): 74
// A guest's own mistakes never reach this module: they are errnos in the guest's rax.
import { CommanderError } from "commander";
import { ControlError } from "../vmm/host/control-action.js";
import { SaveFileError } from "../vmm/snapshot/save-file.js";
import { HostInvariantError } from "../vmm/machine/host-fault.js";
import { ImageError } from "../vmm/machine/image.js";
import { TraceError } from "../vmm/trace/trace-format.js";
import { EXIT_INTERNAL, EXIT_IO, EXIT_OK, EXIT_USAGE } from "./exit-status.js";
import { OutputPathError } from "./output-path.js";
import { ConfigError } from "./run-config.js";
import { SpecError } from "../vmm/api.js";

/** A failure the CLI itself decided on, with its exit status (usage unless told otherwise). */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = EXIT_USAGE) {
    super(message);
  }
}

/** Errors that mean "tmemvm was asked for something it cannot do": the user's to fix, not a bug. */
const USAGE_ERRORS = [ConfigError, SpecError, ControlError, ImageError, TraceError, SaveFileError, OutputPathError];

export interface ErrorVerdict {
  status: number;
  /** The line to print after "tmemvm: ", or null for nothing (commander printed the help). */
  message: string | null;
  /** A bug in tmemvm: worth a stack trace with TMEMVM_DEBUG=1. */
  internal: boolean;
}

export function classifyError(e: unknown): ErrorVerdict {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0) return { status: EXIT_OK, message: null, internal: false }; // --help, --version
    if (e.code === "commander.help") return { status: EXIT_USAGE, message: null, internal: false }; // no command: the help was shown
    return { status: EXIT_USAGE, message: e.message.replace(/^error: /, ""), internal: false };
  }
  if (e instanceof CliError) return { status: e.exitCode, message: e.message, internal: e.exitCode === EXIT_INTERNAL };
  if (USAGE_ERRORS.some((c) => e instanceof c)) return { status: EXIT_USAGE, message: (e as Error).message, internal: false };
  if (e instanceof HostInvariantError) return { status: EXIT_INTERNAL, message: `internal error: ${e.message}`, internal: true };
  const errno = e as NodeJS.ErrnoException;
  if (typeof errno?.code === "string" && errno.syscall !== undefined) return { status: EXIT_IO, message: `cannot write an output: ${errno.message}`, internal: false };
  return { status: EXIT_INTERNAL, message: `internal error: ${e instanceof Error ? e.message : String(e)}`, internal: true };
}
