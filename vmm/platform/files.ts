// What the VMM's Node programs read and write as files: guest images, traces, save files. The
// layers below take bytes and sinks; this is where a path becomes one (a browser page has its own
// equivalents in web/).
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { ControlError } from "../host/control-action.js";
import type { SaveFileStore } from "../host/control-plane.js";
import { ImageError, imageFromBytes, type GuestImage } from "../machine/image.js";
import { TraceError } from "../trace/trace-format.js";
import type { TraceSink } from "../trace/trace-sink.js";

export { nodeAssets } from "./assets.js";

/** The guest image in the file at `path`, checked against the guest ABI. */
export function loadImage(path: string): GuestImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(code === "ENOENT" ? `${path}: no such file` : code === "EISDIR" ? `${path}: is a directory` : `${path}: cannot read (${code ?? String(e)})`);
  }
  return imageFromBytes(bytes, basename(path, ".wasm"), path);
}

/** Called with each trace path as its file is closed (the test suite replays every one). */
export const closedTraces = new Set<(path: string) => void>();

/**
 * A trace written to the file at `path`, opened at once so that a path that cannot be written
 * fails before anything runs. If the process exits before the recorder closes it, the recorder
 * still writes its end record.
 */
export function traceFile(path: string): TraceSink {
  let fd: number | null;
  try {
    fd = openSync(path, "w");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TraceError(`cannot write the trace ${path}: ${code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (e as Error).message}`, null);
  }
  return {
    name: path,
    write(bytes) {
      writeSync(fd!, bytes);
    },
    close() {
      if (fd === null) return;
      closeSync(fd);
      fd = null;
      for (const f of closedTraces) f(path);
    },
    onAbandon(f) {
      process.once("exit", f);
      return () => process.removeListener("exit", f);
    },
  };
}

/** The bytes of the save file at `path`, for ControlPlane.restore. */
export function readSaveFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ControlError(`${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot read"}`);
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
    writeFileSync(path, bytes);
  },
};
