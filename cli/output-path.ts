// Output files and directories are checked before a run starts, so a typo in --save costs one
// line up front instead of the whole run and an ENOENT at the end.
import { accessSync, constants, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";

export class OutputPathError extends Error {}

/** The path's stat, or null if it does not exist (a missing part, or a file where a directory should be). */
function statOf(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw new OutputPathError(`${path}: cannot be checked (${code ?? (e as Error).message})`);
  }
}

/** The nearest ancestor of `path` that exists. */
function existingAncestor(path: string): { dir: string; st: Stats } | null {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statOf(dir);
    if (st) return { dir, st };
    if (dirname(dir) === dir) return null;
  }
}

function writableDir(dir: string, what: string, path: string): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new OutputPathError(`${what} ${path}: directory ${dir} is not writable`);
  }
}

/** A file that will be written: its directory exists and is writable, and it is not a directory. */
export function checkOutputFile(path: string, what: string): void {
  const abs = resolve(path);
  const st = statOf(abs);
  if (st?.isDirectory()) throw new OutputPathError(`${what} ${path}: is a directory`);
  if (st) {
    try {
      accessSync(abs, constants.W_OK);
    } catch {
      throw new OutputPathError(`${what} ${path}: is not writable`);
    }
    return;
  }
  const dir = dirname(abs);
  const dst = statOf(dir);
  if (!dst) {
    const up = existingAncestor(dir);
    if (up && !up.st.isDirectory()) throw new OutputPathError(`${what} ${path}: ${up.dir} is a file, not a directory`);
    throw new OutputPathError(`${what} ${path}: no such directory ${dir}`);
  }
  if (!dst.isDirectory()) throw new OutputPathError(`${what} ${path}: ${dir} is a file, not a directory`);
  writableDir(dir, what, path);
}

/** A directory that will be created if missing: it, or its nearest existing parent, is a writable directory. */
export function checkOutputDir(path: string, what: string): void {
  let dir = resolve(path);
  for (;;) {
    const st = statOf(dir);
    if (st) {
      if (!st.isDirectory()) throw new OutputPathError(`${what} ${path}: ${dir} is a file, not a directory`);
      writableDir(dir, what, path);
      return;
    }
    const up = dirname(dir);
    if (up === dir) throw new OutputPathError(`${what} ${path}: no existing parent directory`);
    dir = up;
  }
}
