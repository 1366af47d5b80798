// The VMM's LZ4 kernel with one bug planted (vmm/store/kernels/lz4.ts, one line replaced): what
// the net (fuzz/lz4-block.ts, in the tests and the fuzzers) must catch.
import { compilePlanted, type Plant } from "./planted-kernel.js";

/** The last match may run to the very end of the block: into the final 5 bytes, which the format keeps for literals. */
export const MATCH_INTO_LAST_LITERALS: Plant = { line: "const matchLimit = end - LAST_LITERALS;", by: "const matchLimit = end;" };

/** Compiles the planted kernel; returns the .wasm file's path. */
export function plantedLz4(plant: Plant): string {
  return compilePlanted("vmm/store/kernels/lz4.ts", plant);
}
