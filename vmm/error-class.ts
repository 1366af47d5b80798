// What kind of failure an exception is, decided in one place for every front end: the CLI turns
// the class into its exit status and one line (cli/error-report.ts), the API's users can branch
// on it. It runs on any platform: Node's errno errors are known by their `code` string, and an
// error type of a front end (a bad flag, an unwritable output) says its own class by carrying an
// `errorClass` field, so this module imports no front end and nothing of Node.
//   - usage: the user asked for something tmemvm cannot do (a bad option, config, image, trace or
//     save file, an output path); nothing ran
//   - data: the input was read whole but disagrees with what the VMM does (a diverged replay)
//   - guest-crash: a guest trapped once it was running (an image that cannot start is usage)
//   - io: an output could not be written (disk full, /dev/full, a vanished directory)
//   - internal: a broken host invariant, or anything no class claims: a bug in tmemvm
// A guest's own mistakes never reach here: they are errnos in the guest's rax.
import { ControlError } from "./host/control-action.js";
import { HostInvariantError } from "./machine/host-fault.js";
import { ImageError } from "./machine/image.js";
import { SaveFileError } from "./snapshot/save-file.js";
import { TraceError } from "./trace/trace-format.js";
import { SpecError } from "./spec/spec-error.js";
import { GuestAddressError, RegisterValueError } from "./machine/guest-access.js";

export type ErrorClass = "usage" | "data" | "guest-crash" | "io" | "internal";

export const ERROR_CLASSES: readonly ErrorClass[] = ["usage", "data", "guest-crash", "io", "internal"];

export interface ErrorVerdict {
  class: ErrorClass;
  /** One line saying what failed, without a program name. */
  message: string;
}

/** The layers' typed errors that mean "asked for something tmemvm cannot do". */
const USAGE_ERRORS = [ControlError, ImageError, TraceError, SaveFileError, SpecError, GuestAddressError, RegisterValueError];

/** The class an error declares for itself (`errorClass`), if any. */
function declaredClass(e: unknown): ErrorClass | null {
  const c = (e as { errorClass?: unknown } | null)?.errorClass;
  return typeof c === "string" && (ERROR_CLASSES as readonly string[]).includes(c) ? (c as ErrorClass) : null;
}

/** A Node system error (it has an errno `code` and the call that failed): the file system or a stream said no. */
function isSystemError(e: unknown): e is Error & { code: string; syscall: string } {
  return (
    e instanceof Error && typeof (e as { code?: unknown }).code === "string" && typeof (e as { syscall?: unknown }).syscall === "string"
  );
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function classifyError(e: unknown): ErrorVerdict {
  const declared = declaredClass(e);
  if (declared) return { class: declared, message: messageOf(e) };
  if (USAGE_ERRORS.some((c) => e instanceof c)) return { class: "usage", message: messageOf(e) };
  if (e instanceof HostInvariantError) {
    // A trace that could not be written while a hypercall was recorded is a full disk, not a bug.
    const cause = e.cause;
    if (declaredClass(cause) === "io" || isSystemError(cause)) return { class: "io", message: messageOf(cause) };
    return { class: "internal", message: `internal error: ${e.message}` };
  }
  if (isSystemError(e)) return { class: "io", message: `cannot write an output: ${e.message}` };
  return { class: "internal", message: `internal error: ${messageOf(e)}` };
}
