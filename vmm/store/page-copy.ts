// A 4 KiB copy within one WebAssembly.Memory, as Wasm's own `memory.copy`, for the frame store's
// copy out of a slab. JavaScript can copy between two buffers only with a view of the source
// (TypedArray.set takes a whole array), and on Node 20 that view is a heap object per copy: one
// per get, the young generation filled every few thousand gets, a scavenge each time. Copying the
// frame first to a fixed staging page in its own slab (this module, no allocation) and from there
// with a view made once costs no more (the staging page stays in L1) and allocates nothing.
//
// The module is small enough to write out by hand (Wasm binary format, version 1): it imports
// `env.memory` and exports `copy(dst, src)`, one `memory.copy` of 4096 bytes (bulk memory, on by
// default since Node 16 and in every current browser). `npm run bench` uses the same bytes for
// its Wasm `memory.copy` baseline.
// biome-ignore format: one row per part of the module, as the comment above reads it
export const PAGE_COPY_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00, // type section: (i32, i32) -> ()
  0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01, // import env.memory, min 1 page
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x07, 0x08, 0x01, 0x04, 0x63, 0x6f, 0x70, 0x79, 0x00, 0x00, // export "copy" = function 0
  0x0a, 0x0f, 0x01, 0x0d, 0x00, // code section: one body, no locals
  0x20, 0x00, 0x20, 0x01, 0x41, 0x80, 0x20, // local.get 0, local.get 1, i32.const 4096
  0xfc, 0x0a, 0x00, 0x00, 0x0b, // memory.copy 0 0, end
]);

let module: WebAssembly.Module | null = null;

/** `copy(dst, src)`: 4096 bytes from byte `src` to byte `dst` of `memory` (both in bounds). */
export function pageCopyIn(memory: WebAssembly.Memory): (dst: number, src: number) => void {
  module ??= new WebAssembly.Module(PAGE_COPY_WASM);
  return (new WebAssembly.Instance(module, { env: { memory } }).exports as { copy(dst: number, src: number): void }).copy;
}
