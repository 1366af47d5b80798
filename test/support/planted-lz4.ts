// The VMM's LZ4 kernel with one bug planted, compiled by asc into a temporary file: what the
// net (fuzz/lz4-block.ts, in the tests and the fuzzers) must catch. The source is the real
// kernel's (vmm/store/kernels/lz4.ts) with one line replaced, so the plant follows the kernel.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO as PACKAGE_ROOT } from "./paths.js";

export interface Lz4Plant {
  /** The line of the kernel replaced, and what replaces it. */
  line: string;
  by: string;
}

/** The last match may run to the very end of the block: into the final 5 bytes, which the format keeps for literals. */
export const MATCH_INTO_LAST_LITERALS: Lz4Plant = { line: "const matchLimit = end - LAST_LITERALS;", by: "const matchLimit = end;" };

/** Compiles the planted kernel; returns the .wasm file's path. */
export function plantedLz4(plant: Lz4Plant): string {
  const src = readFileSync(join(PACKAGE_ROOT, "vmm", "store", "kernels", "lz4.ts"), "utf8");
  if (!src.includes(plant.line)) throw new Error(`the LZ4 kernel no longer has the line the plant replaces: ${plant.line}`);
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-lz4-plant-"));
  const file = join(dir, "lz4.ts");
  writeFileSync(file, src.replace(plant.line, plant.by));
  const wasm = join(dir, "lz4.wasm");
  execFileSync(
    join(PACKAGE_ROOT, "node_modules", ".bin", "asc"),
    [file, "--config", join(PACKAGE_ROOT, "vmm", "store", "kernels", "asconfig.json"), "-o", wasm],
    { cwd: PACKAGE_ROOT, stdio: "pipe" },
  );
  return wasm;
}
