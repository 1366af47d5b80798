// Output files and directories are checked before a run starts, so a typo in --save costs one
// line up front instead of the whole run and an ENOENT at the end. Every command checks its
// outputs by the same rule: the directory a file goes in exists and is writable, an output
// directory's parent exists (it is made, its parents are not: a typo is not a new tree), and no
// two outputs, nor an output and an input, are one file (one would silently hold the other's bytes).
import { accessSync, constants, realpathSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

export class OutputPathError extends Error {
  /** A usage error, for the classifier (vmm/error-class.ts). */
  readonly errorClass = "usage";
}

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

/** A directory that will be created if missing: it is a writable directory, or its parent is. */
export function checkOutputDir(path: string, what: string): void {
  const dir = resolve(path);
  const st = statOf(dir);
  if (st) {
    if (!st.isDirectory()) throw new OutputPathError(`${what} ${path}: is a file, not a directory`);
    writableDir(dir, what, path);
    return;
  }
  const parent = dirname(dir);
  const pst = statOf(parent);
  if (!pst) throw new OutputPathError(`${what} ${path}: no such directory ${parent}`);
  if (!pst.isDirectory()) throw new OutputPathError(`${what} ${path}: ${parent} is a file, not a directory`);
  writableDir(parent, what, path);
}

/** Something a command writes: a file, or a directory it writes files in. */
export interface OutputClaim {
  path: string;
  /** How the user named it: "--save", "control action 10:save". */
  what: string;
  dir?: boolean;
  /** A save file: it may replace the save file a restore read. */
  saveFile?: boolean;
}

/** Something a command reads. A save file may be written back by a save (a restore-and-save cycle): it is read before. */
export interface InputClaim {
  path: string;
  what: string;
  saveFile?: boolean;
}

/** The file `path` names, through symbolic links and `..`, as far as it exists. */
function identity(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

/**
 * Checks every output as checkOutputFile/checkOutputDir do, and that no two outputs and no output
 * and input are the same file, but for a save file written back where a restore read it.
 */
export function checkOutputs(outputs: OutputClaim[], inputs: InputClaim[] = []): void {
  for (const o of outputs) (o.dir ? checkOutputDir : checkOutputFile)(o.path, o.what);
  const seen = new Map<string, OutputClaim>();
  for (const o of outputs) {
    const id = identity(o.path);
    const other = seen.get(id);
    if (other)
      throw new OutputPathError(
        `${other.what} ${other.path} and ${o.what} ${o.path} are the same ${o.dir ? "directory" : "file"}: each output needs its own`,
      );
    seen.set(id, o);
  }
  for (const i of inputs) {
    const o = seen.get(identity(i.path));
    if (o && !(i.saveFile && o.saveFile))
      throw new OutputPathError(`${o.what} ${o.path} would overwrite ${i.what} ${i.path}, which this run reads`);
  }
}
