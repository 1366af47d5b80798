// Every file tmemvm writes goes through here: it is written under a temporary name beside its
// final one and renamed into place only once whole, so a full disk or a killed process leaves the
// previous file untouched rather than torn (a torn save file or trace is refused on reading, and
// the good one it replaced would be lost). The temporary name ends in PARTIAL_SUFFIX so that a
// directory reader (a fuzz corpus) skips it.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { threadId } from "node:worker_threads";

/** The ending of a file still being written. */
export const PARTIAL_SUFFIX = ".part";

/**
 * A file output that could not be written: names the output (`what`, as the user gave it: a flag,
 * a control action) and the file, and carries Node's errno code for the error classifier.
 */
export class OutputWriteError extends Error {
  readonly errorClass = "io";
  constructor(
    readonly what: string,
    readonly path: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`cannot write ${what} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "OutputWriteError";
  }
}

/**
 * Where `path` is written before it is renamed into place. The owner (process and thread) is in
 * the name, so two threads writing the same file (fuzz jobs saving one corpus input) never share
 * one, and a thread that watches another can find the file it left (`owner` given).
 */
export function partialPath(path: string, owner = `${process.pid}-${threadId}`): string {
  return join(dirname(path), `.${basename(path)}.${owner}${PARTIAL_SUFFIX}`);
}

/** Whether something other than a regular file or a directory is at `path`. */
function isSpecialFile(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

const removeQuietly = (path: string) => {
  try {
    rmSync(path, { force: true });
  } catch {
    // The error that matters is the write's, already being reported.
  }
};

/** A file written in pieces, appearing under its name only at commit(). */
export interface OutputFile {
  readonly path: string;
  write(bytes: Uint8Array | string): void;
  /** Flushes, closes and renames the whole file into place. */
  commit(): void;
  /** Drops what was written; the file at `path`, if any, is left as it was. */
  abort(): void;
}

/**
 * Opens `path` for writing under its partial name. `what` names the output in errors
 * ("--save", "--record"); every failure is an OutputWriteError and leaves no partial file.
 */
export function openOutputFile(path: string, what: string): OutputFile {
  // A device or a pipe (/dev/stdout, /dev/full, a FIFO) is written in place: renaming a file over
  // it would replace the device node itself.
  const partial = isSpecialFile(path) ? null : partialPath(path);
  const target = partial ?? path;
  const fail = (e: unknown): never => {
    out.abort();
    throw new OutputWriteError(what, path, (e as NodeJS.ErrnoException)?.code, e);
  };
  let fd: number | null = null;
  const out: OutputFile = {
    path,
    write(bytes) {
      if (fd === null) throw new OutputWriteError(what, path, undefined, new Error("the file is already closed"));
      try {
        const b = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
        for (let at = 0; at < b.length; ) at += writeSync(fd, b, at);
      } catch (e) {
        fail(e);
      }
    },
    commit() {
      if (fd === null) return;
      try {
        // On disk before the rename, or a crash could leave the new name on an empty file.
        if (partial !== null) fsyncSync(fd);
        closeSync(fd);
        fd = null;
        if (partial !== null) renameSync(partial, path);
      } catch (e) {
        fail(e);
      }
    },
    abort() {
      if (fd !== null) {
        try {
          closeSync(fd);
        } catch {
          // Closing is all that is left to do with it.
        }
        fd = null;
      }
      if (partial !== null) removeQuietly(partial);
    },
  };
  try {
    fd = openSync(target, "w");
  } catch (e) {
    throw new OutputWriteError(what, path, (e as NodeJS.ErrnoException).code, e);
  }
  return out;
}

/** Writes the whole of `bytes` to `path`, or nothing (see openOutputFile). */
export function writeOutputFile(path: string, bytes: Uint8Array | string, what: string): void {
  const f = openOutputFile(path, what);
  f.write(bytes);
  f.commit();
}

/**
 * Makes the output directory `path` if it is not there. Its parent must exist: a typo in a path
 * is refused up front (cli/output-path.ts), never answered with a tree of new directories.
 */
export function makeOutputDir(path: string, what: string): void {
  try {
    mkdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new OutputWriteError(what, path, (e as NodeJS.ErrnoException).code, e);
  }
}
