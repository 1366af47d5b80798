// Compares a 4 KiB page in one memory (a guest's RAM) with one kept in another, and keeps a copy,
// each a few Wasm instructions over the two memories: in JavaScript the comparison is a loop of
// 1 024 word reads (about 0.8 µs a page, most of what recording a cache workload cost); here it
// is 256 16-byte compares. Multi-memory Wasm, as the store's cross-memory copy (Node >= 22).
//
// Written out by hand, as cross-copy.ts is; the sections are sized by section() below. Memories
// in import order: `env.source` is memory 0, `env.kept` memory 1. A load from memory 1 sets bit 6
// of its alignment byte and names the memory after it.
//   same(s, k) -> i32: 1 if the 4 KiB at s in memory 0 equal those at k in memory 1, else 0
//     i = 0; loop { if (any_true(load0(s + i) xor load1(k + i))) return 0; i += 16; br_if i < 4096 }; 1
//   keep(s, k): memory.copy 1 0 (k, s, 4096)
// An offset whose page runs past its memory's end traps (a WebAssembly.RuntimeError).

const u8 = (...b: number[]) => b;
/** A section: its id, its length in bytes (all of these are under 128), its contents. */
const section = (id: number, ...body: number[][]) => {
  const b = body.flat();
  return [id, b.length, ...b];
};
const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
const I32 = 0x7f;
const get = (i: number) => u8(0x20, i);

// biome-ignore format: one row an instruction group, as the comment above reads it
const SAME_BODY = [
  ...u8(0x01, 0x01, I32), // one local: i
  ...u8(0x03, 0x40), // loop
  ...get(0), ...get(2), 0x6a, ...u8(0xfd, 0x00, 0x04, 0x00), // v128.load (memory 0) s + i
  ...get(1), ...get(2), 0x6a, ...u8(0xfd, 0x00, 0x44, 0x01, 0x00), // v128.load (memory 1) k + i
  ...u8(0xfd, 0x51), // v128.xor
  ...u8(0xfd, 0x53), // v128.any_true
  ...u8(0x04, 0x40, 0x41, 0x00, 0x0f, 0x0b), // if: return 0
  ...get(2), ...u8(0x41, 0x10, 0x6a, 0x22, 0x02), // i += 16 (local.tee)
  ...u8(0x41, 0x80, 0x20, 0x49, 0x0d, 0x00), // br_if i < 4096
  0x0b, // end loop
  ...u8(0x41, 0x01, 0x0b), // 1
];
const KEEP_BODY = [0x00, ...get(1), ...get(0), ...u8(0x41, 0x80, 0x20), ...u8(0xfc, 0x0a, 0x01, 0x00), 0x0b];

export const PAGE_COMPARE_WASM = new Uint8Array([
  ...u8(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00),
  ...section(0x01, [2], u8(0x60, 2, I32, I32, 1, I32), u8(0x60, 2, I32, I32, 0)), // (i32, i32) -> i32; (i32, i32) -> ()
  ...section(0x02, [2], name("env"), name("source"), u8(0x02, 0x00, 0x01), name("env"), name("kept"), u8(0x02, 0x00, 0x01)),
  ...section(0x03, u8(2, 0, 1)),
  ...section(0x07, [2], name("same"), u8(0x00, 0x00), name("keep"), u8(0x00, 0x01)),
  ...section(0x0a, [2], [SAME_BODY.length], SAME_BODY, [KEEP_BODY.length], KEEP_BODY),
]);

export interface PageCompare {
  /** Whether the 4 KiB at `source` (a byte offset in the source memory) equal those at `kept`. */
  same(source: number, kept: number): number;
  /** Copies the 4 KiB at `source` to `kept`. */
  keep(source: number, kept: number): void;
}

let module: WebAssembly.Module | null = null;

/** The compare and copy between `source` and `kept`. */
export function pageCompare(source: WebAssembly.Memory, kept: WebAssembly.Memory): PageCompare {
  module ??= new WebAssembly.Module(PAGE_COMPARE_WASM);
  return new WebAssembly.Instance(module, { env: { source, kept } }).exports as unknown as PageCompare;
}
