// The boundary reads guest-controlled offsets and indexes arrays with them: there, an index that
// may fall outside its array must say how it is known to be inside. The folders below compile with
// noUncheckedIndexedAccess (the rest of the tree does not yet); TypeScript has no per-folder
// option, so this compiles the whole program with it and keeps the findings in these folders.
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/paths.js";

const STRICT_FOLDERS = ["vmm/boundary", "vmm/tmem"];

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(REPO, folder), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourcesUnder(join(folder, e.name)) : e.name.endsWith(".ts") ? [join(REPO, folder, e.name)] : [],
  );
}

describe("noUncheckedIndexedAccess", () => {
  it(`holds in ${STRICT_FOLDERS.join(", ")}`, () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(REPO, "tsconfig.json"),
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
    )!;
    const program = ts.createProgram(STRICT_FOLDERS.flatMap(sourcesUnder), {
      ...config.options,
      noEmit: true,
      noUncheckedIndexedAccess: true,
    });
    const findings = program
      .getSourceFiles()
      .filter((f) => STRICT_FOLDERS.some((d) => relative(REPO, f.fileName).startsWith(`${d}/`)))
      .flatMap((f) =>
        program.getSemanticDiagnostics(f).map((d) => {
          const { line } = f.getLineAndCharacterOfPosition(d.start ?? 0);
          return `${relative(REPO, f.fileName)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
        }),
      );
    expect(findings).toEqual([]);
  }, 120_000);
});
