// A coverage corpus kept as libFuzzer and AFL keep theirs: a directory, one input per file. Every
// file is an input whatever its name or bytes (the coverage target takes any bytes), so a corpus
// from another engine or machine is used as it is; tmemvm names the files it writes by the SHA-1
// of their content (saveCorpusInput), so merging two corpora is `cp`.
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The name a file has while it is being written, before it is renamed into place. */
export const PARTIAL_SUFFIX = ".part";

/** The directory's inputs, in name order (the same order on every machine). */
export function corpusFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.endsWith(PARTIAL_SUFFIX))
    .sort()
    .map((f) => join(dir, f))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

/** An input's name in a corpus written by tmemvm, and how a hung input is known again under any name. */
export function inputDigest(input: Uint8Array): string {
  return createHash("sha1").update(input).digest("hex");
}
