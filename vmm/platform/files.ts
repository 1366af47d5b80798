// What the VMM's Node programs read and write as files: guest images, traces, save files. The
// layers below take bytes and sinks; this is where a path becomes one (a browser page has its own
// equivalents in web/).
import { existsSync, readFileSync, renameSync } from "node:fs";
import { basename } from "node:path";
import { ControlError } from "../host/control-action.js";
import type { SaveFileStore } from "../host/control-plane.js";
import { ImageError, imageFromBytes, type GuestImage } from "../machine/image.js";
import { TraceError } from "../trace/trace-format.js";
import type { TraceSink } from "../trace/trace-sink.js";
import { openOutputFile, type OutputWriteError, partialPath, writeOutputFile, type OutputFile } from "./output-file.js";
import { nodeAssets } from "./assets.js";

export {
  makeOutputDir,
  openOutputFile,
  OutputWriteError,
  partialPath,
  PARTIAL_SUFFIX,
  writeOutputFile,
  type OutputFile,
} from "./output-file.js";

export { nodeAssets };

/** "`path`: why it could not be read", in the same words for every input (image, trace, save file). */
export function unreadableInput(path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === "ENOENT"
      ? "no such file"
      : code === "EISDIR"
        ? "is a directory"
        : code === "EACCES"
          ? "permission denied"
          : `cannot read (${code ?? String(e)})`;
  return `${path}: ${why}`;
}

/** The guest image in the file at `path`, checked against the guest ABI (a copy of a bundled image comes with its suspendable form). */
export function loadImage(path: string): GuestImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImageError(unreadableInput(path, e));
  }
  return imageFromBytes(bytes, basename(path, ".wasm"), path, nodeAssets);
}

/** Called with each trace path as its file is closed (the test suite replays every one). */
export const closedTraces = new Set<(path: string) => void>();

/** A trace file; `failure` says, once it is closed, whether it could not be written. */
export interface TraceFileSink extends TraceSink {
  readonly failure: OutputWriteError | null;
}

/**
 * A trace written to the file at `path`, opened at once so that a path that cannot be written
 * fails before anything runs. It is written under a partial name and renamed into place when the
 * recorder closes it, so a good trace at `path` is replaced only by a whole one. If the process
 * exits before the recorder closes it, the recorder still writes its end record (flagged with
 * why) and the file is renamed into place. A failed write (a full disk) does not stop the run nor
 * the recorder: the rest of the trace is dropped, the old file at `path` is left as it was, and
 * `failure` holds the error for whoever reports the outputs.
 */
export function traceFile(path: string, what = "--record"): TraceFileSink {
  let file: OutputFile | null;
  try {
    file = openOutputFile(path, what);
  } catch (e) {
    const code = (e as OutputWriteError).code;
    // A path that names no writable file is the user's to fix; anything else (a full disk) is I/O.
    if (!["ENOENT", "ENOTDIR", "EACCES", "EISDIR"].includes(code ?? "")) throw e;
    throw new TraceError(
      `cannot write the trace ${path}: ${code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (e as Error).message}`,
      null,
    );
  }
  let failure: OutputWriteError | null = null;
  const attempt = (f: () => void) => {
    try {
      f();
    } catch (e) {
      failure = e as OutputWriteError;
      file = null;
    }
  };
  return {
    name: path,
    get failure() {
      return failure;
    },
    write(bytes) {
      const f = file;
      if (f) attempt(() => f.write(bytes));
    },
    close() {
      const f = file;
      if (f === null) return;
      attempt(() => f.commit());
      file = null;
      if (!failure) for (const c of closedTraces) c(path);
    },
    onAbandon(f) {
      process.once("exit", f);
      return () => process.removeListener("exit", f);
    },
  };
}

/**
 * Puts in place the trace a thread left when it was ended before its recorder could close it
 * (`owner`: that thread's process and thread id): what it wrote is kept, without an end record,
 * which replay reports as incomplete. Returns whether there was one.
 */
export function keepAbandonedTrace(path: string, owner: string): boolean {
  try {
    renameSync(partialPath(path, owner), path);
    return true;
  } catch {
    return false;
  }
}

/** The bytes of the save file at `path`, for ControlPlane.restore. */
export function readSaveFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ControlError(unreadableInput(path, e));
  }
}

/** Whether something exists at `path`. */
export const fileExists = (path: string): boolean => existsSync(path);

/** The bytes of the file at `path` (Node's own error if it cannot be read). */
export const readFileBytes = (path: string): Uint8Array => readFileSync(path);

/** Save files on Node's file system, for the control plane's save and restore actions. */
export const saveFileStore: SaveFileStore = {
  read: readSaveFile,
  write(path, bytes) {
    writeOutputFile(path, bytes, "the save file");
  },
};
