// A 4 KiB copy between two WebAssembly.Memory objects, guest RAM and a frame-store slab, as one
// Wasm `memory.copy` from one memory to the other. JavaScript can copy between two buffers only
// through a typed array of the source (a view per copy, or a staging page: see page-copy.ts);
// a module that imports both memories copies straight across, allocating nothing.
//
// Two memories in one module need Wasm multi-memory (Wasm 3.0; on by default since V8 12.0, so
// in Node 22 and later and current Chromium). Node 20's V8 refuses the module at compile time
// ("At most one memory is supported"): crossCopy() says so in a CrossCopyUnsupportedError.
//
// Written out by hand (Wasm binary format, version 1). The memories are numbered in the order
// they are imported: `env.guest` is memory 0, `env.frames` memory 1. `memory.copy` is 0xFC 0x0A
// followed by the destination's memory index, then the source's; its operands on the stack are
// (destination offset, source offset, length). Both exports take (guest offset, frame offset):
//   copyIn(g, f):  memory.copy 1 0 (f, g, 4096)   guest page -> frame, a put's copy
//   copyOut(g, f): memory.copy 0 1 (g, f, 4096)   frame -> guest page, a get's copy
// An offset whose page runs past its memory's end traps (a WebAssembly.RuntimeError): nothing
// is copied.
// biome-ignore format: one row per part of the module, as the comment above reads it
export const CROSS_COPY_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00, // type section: (i32, i32) -> ()
  0x02, 0x1c, 0x02, // import section, 28 bytes, two imports:
  0x03, 0x65, 0x6e, 0x76, 0x05, 0x67, 0x75, 0x65, 0x73, 0x74, 0x02, 0x00, 0x01, //   env.guest, memory 0, min 1 page
  0x03, 0x65, 0x6e, 0x76, 0x06, 0x66, 0x72, 0x61, 0x6d, 0x65, 0x73, 0x02, 0x00, 0x01, //   env.frames, memory 1, min 1 page
  0x03, 0x03, 0x02, 0x00, 0x00, // function section: two functions of type 0
  0x07, 0x14, 0x02, // export section, 20 bytes, two exports:
  0x06, 0x63, 0x6f, 0x70, 0x79, 0x49, 0x6e, 0x00, 0x00, //   "copyIn" = function 0
  0x07, 0x63, 0x6f, 0x70, 0x79, 0x4f, 0x75, 0x74, 0x00, 0x01, //   "copyOut" = function 1
  0x0a, 0x1d, 0x02, // code section, 29 bytes, two bodies of 13 bytes, no locals:
  0x0d, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x80, 0x20, 0xfc, 0x0a, 0x01, 0x00, 0x0b, //   local.get 1, local.get 0, i32.const 4096, memory.copy 1 0
  0x0d, 0x00, 0x20, 0x00, 0x20, 0x01, 0x41, 0x80, 0x20, 0xfc, 0x0a, 0x00, 0x01, 0x0b, //   local.get 0, local.get 1, i32.const 4096, memory.copy 0 1
]);

/** Page copies between one guest's RAM and one frame slab; offsets are bytes, each page within its memory. */
export interface CrossCopy {
  /** The 4 KiB at `guestOffset` in guest RAM into the frame at `frameOffset` in the slab. */
  copyIn(guestOffset: number, frameOffset: number): void;
  /** The frame at `frameOffset` in the slab into the 4 KiB at `guestOffset` in guest RAM. */
  copyOut(guestOffset: number, frameOffset: number): void;
}

/** This runtime's WebAssembly cannot see two memories from one module. */
export class CrossCopyUnsupportedError extends Error {
  /** A runtime tmemvm does not support (engines: Node >= 22): the user's to change. */
  readonly errorClass = "usage";
  constructor(cause: unknown) {
    super(
      `this runtime's WebAssembly has no multi-memory (needed to copy between guest RAM and the frame store in one step; Node >= 22 has it): ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
    this.name = "CrossCopyUnsupportedError";
  }
}

let module: WebAssembly.Module | null = null;

/** Whether this runtime compiles the cross-memory copy (multi-memory Wasm). */
export function crossCopySupported(): boolean {
  return WebAssembly.validate(CROSS_COPY_WASM);
}

/** The copies between `guest` (guest RAM) and `frames` (a slab); throws CrossCopyUnsupportedError where multi-memory is missing. */
export function crossCopy(guest: WebAssembly.Memory, frames: WebAssembly.Memory): CrossCopy {
  if (!module) {
    try {
      module = new WebAssembly.Module(CROSS_COPY_WASM);
    } catch (e) {
      throw new CrossCopyUnsupportedError(e);
    }
  }
  return new WebAssembly.Instance(module, { env: { guest, frames } }).exports as unknown as CrossCopy;
}

/** The memory behind each guest RAM's buffer: guest RAM registers itself, the frame store looks it up. */
const guestMemories = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();

/**
 * Makes `memory` (a guest's RAM, which never grows, so its buffer stays) known to frame stores: a
 * page they copy to or from a view of it goes by crossCopy(), one `memory.copy`, rather than a
 * TypedArray copy (staged, for a get).
 */
export function registerGuestMemory(memory: WebAssembly.Memory): void {
  guestMemories.set(memory.buffer, memory);
}

/** The registered guest memory whose buffer `buffer` is, if any. */
export function guestMemoryOf(buffer: ArrayBufferLike): WebAssembly.Memory | undefined {
  return guestMemories.get(buffer);
}

/** Copies already made, by slab then guest memory: slabs and guest RAM outlive a store (pooled, reused). */
const made = new WeakMap<WebAssembly.Memory, WeakMap<WebAssembly.Memory, CrossCopy>>();

/** crossCopy(guest, frames), made once for each pair while both live. */
export function crossCopyFor(guest: WebAssembly.Memory, frames: WebAssembly.Memory): CrossCopy {
  let byGuest = made.get(frames);
  if (byGuest === undefined) made.set(frames, (byGuest = new WeakMap()));
  let c = byGuest.get(guest);
  if (c === undefined) byGuest.set(guest, (c = crossCopy(guest, frames)));
  return c;
}
