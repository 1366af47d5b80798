// The exit status of `tmemvm`, one table for every command. A guest's own exit code and the VMM's
// own outcomes never share a number: guests get 0..63, the VMM 64 and up (the sysexits.h band,
// then the shell's conventions for a timeout and for signals), as wasmtime keeps a trap (134) out
// of the range of codes a guest may exit with.

/** Every guest exited 0; a replay matched; a fuzz campaign found nothing. */
export const EXIT_OK = 0;
/** The highest guest exit code that passes through; a guest exiting with more is reported as this. */
const EXIT_GUEST_MAX = 63;
/** Bad command line or config, unreadable input, unwritable output, an image the VMM refuses: nothing ran. */
export const EXIT_USAGE = 64;
/** replay: the trace and the VMM disagree. */
export const EXIT_DIVERGED = 65;
/** fuzz: the campaign found failures. */
export const EXIT_FUZZ_FAILED = 66;
/** A broken host invariant (a bug in tmemvm); also a fuzz campaign that could run no case. */
export const EXIT_INTERNAL = 70;
/** Writing an output after the run failed (disk full, file vanished). */
export const EXIT_IO = 74;
/** --timeout expired: the run was stopped, the listing printed, the trace closed. */
export const EXIT_TIMEOUT = 124;
/** SIGINT (Ctrl-C): the run was stopped, the listing printed, the trace closed. */
export const EXIT_INTERRUPTED = 130;
/** A guest crashed: it trapped, or was destroyed by a control action (128 + SIGABRT, as wasmtime). */
export const EXIT_GUEST_CRASHED = 134;
/** SIGTERM: stopped as for SIGINT. */
export const EXIT_TERMINATED = 143;

/** The status a guest's exit code (an unsigned 32-bit number) is carried as. */
export function guestExitStatus(code: number): number {
  return Math.min(code, EXIT_GUEST_MAX);
}
