// The page index's kernel with one weakness planted (vmm/tmem/kernels/page-index.ts, one line
// replaced): what the hash-flooding tests and the fuzzers' net must catch.
import { readFileSync } from "node:fs";
import { compilePlanted, type Plant } from "./planted-kernel.js";

/** The line that mixes each oid word, under its own key, into the object hash. */
const WORD_STEP = "  h ^= mix(word ^ wordKey);";

/**
 * Murmur3's own block step, no key in the words: the key then only seeds the hash, and oid
 * families built from the algorithm alone (fuzz/oid-families.ts) collide under every key.
 */
export const KEY_ONLY_SEEDS: Plant = { line: WORD_STEP, by: "  h ^= rotl<i32>(word * 0xcc9e2d51, 15) * 0x1b873593;" };

/**
 * The key added to every word before Murmur3's block step (this index's hash until the families
 * were tried): a word's difference changes only through carries, so families still collide under
 * some keys.
 */
export const KEY_ADDED_TO_WORDS: Plant = { line: WORD_STEP, by: "  h ^= rotl<i32>((word + hashKey) * 0xcc9e2d51, 15) * 0x1b873593;" };

const compiled = new Map<Plant, string>();

/** Compiles the planted kernel (once per plant and process); returns the .wasm file's path. */
export function plantedPageIndex(plant: Plant): string {
  let wasm = compiled.get(plant);
  if (!wasm) compiled.set(plant, (wasm = compilePlanted("vmm/tmem/kernels/page-index.ts", plant, ["--runtime", "minimal"])));
  return wasm;
}

/** The planted kernel, compiled. */
export function plantedPageIndexModule(plant: Plant): WebAssembly.Module {
  return new WebAssembly.Module(readFileSync(plantedPageIndex(plant)));
}
