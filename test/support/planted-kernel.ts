// A VMM kernel with one bug planted, compiled by asc into a temporary file: what the net must
// catch. The source is the real kernel's with one line replaced, so the plant follows the kernel.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { REPO as PACKAGE_ROOT } from "./paths.js";

export interface Plant {
  /** The line of the kernel replaced, and what replaces it. */
  line: string;
  by: string;
}

/**
 * Compiles the kernel at `source` (a path in the package) with `plant`, with the kernels' asc
 * options and `extra`; returns the .wasm file's path.
 */
export function compilePlanted(source: string, plant: Plant, extra: string[] = []): string {
  const src = readFileSync(join(PACKAGE_ROOT, source), "utf8");
  if (!src.includes(plant.line)) throw new Error(`${source} no longer has the line the plant replaces: ${plant.line}`);
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-plant-"));
  const file = join(dir, basename(source));
  writeFileSync(file, src.replace(plant.line, plant.by));
  const wasm = join(dir, `${basename(source, ".ts")}.wasm`);
  execFileSync(
    join(PACKAGE_ROOT, "node_modules", ".bin", "asc"),
    [file, "--config", join(PACKAGE_ROOT, "vmm", "store", "kernels", "asconfig.json"), ...extra, "-o", wasm],
    { cwd: PACKAGE_ROOT, stdio: "pipe" },
  );
  return wasm;
}
