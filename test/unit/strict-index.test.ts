// The boundary reads guest-controlled offsets and indexes arrays with them: there, an index that
// may fall outside its array must say how it is known to be inside. The folders below compile with
// noUncheckedIndexedAccess (the rest of the tree does not yet); TypeScript has no per-folder
// option, so this compiles the whole program with it and keeps the findings in these folders.
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/paths.js";

const STRICT_FOLDERS = ["vmm/boundary", "vmm/tmem"];

describe("noUncheckedIndexedAccess", () => {
  it(`holds in ${STRICT_FOLDERS.join(", ")}`, () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(REPO, "tsconfig.json"),
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
    )!;
    // The program's own files (tsconfig.json's, so not the AssemblyScript kernels it excludes) in those folders.
    const inFolders = (file: string) => STRICT_FOLDERS.some((d) => relative(REPO, file).startsWith(`${d}/`));
    expect(config.fileNames.filter(inFolders).length).toBeGreaterThan(10);
    const program = ts.createProgram(config.fileNames.filter(inFolders), {
      ...config.options,
      noEmit: true,
      noUncheckedIndexedAccess: true,
    });
    const findings = program
      .getSourceFiles()
      .filter((f) => inFolders(f.fileName))
      .flatMap((f) =>
        program.getSemanticDiagnostics(f).map((d) => {
          const { line } = f.getLineAndCharacterOfPosition(d.start ?? 0);
          return `${relative(REPO, f.fileName)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
        }),
      );
    expect(findings).toEqual([]);
  }, 120_000);
});
