// The VMM's own Wasm hot loops (vmm/kernels/*.ts, compiled by asc into build/kernels/): a page
// scan that runs in place on a guest's RAM, and LZ4 with its own memory.
// Each is given its compiled module (asset-loader.ts's Kernels compiles them from a loader's bytes).

export interface PageScan {
  /** True if the 4 KiB page at byte `addr` of the memory is all zero. */
  isZero(addr: number): boolean;
}

/** A page scanner over `memory` (a guest's RAM): it reads only the pages it is asked about. */
export function pageScanFor(module: WebAssembly.Module, memory: WebAssembly.Memory): PageScan {
  const e = new WebAssembly.Instance(module, { env: { memory } }).exports as { isZero(addr: number): number };
  return { isZero: (addr) => e.isZero(addr) !== 0 };
}

export class Lz4 {
  private readonly e: {
    compress(src: number, len: number, dst: number, cap: number): number;
    decompress(src: number, len: number, dst: number, cap: number): number;
    memory: WebAssembly.Memory;
  };
  private readonly mem: Uint8Array;
  private readonly input: number;
  private readonly output: number;
  private readonly bufferBytes: number;

  constructor(module: WebAssembly.Module) {
    const exports = new WebAssembly.Instance(module, {}).exports as Record<string, unknown>;
    this.e = exports as unknown as Lz4["e"];
    this.mem = new Uint8Array(this.e.memory.buffer);
    this.input = (exports.INPUT as WebAssembly.Global).value as number;
    this.output = (exports.OUTPUT as WebAssembly.Global).value as number;
    this.bufferBytes = (exports.BUFFER_BYTES as WebAssembly.Global).value as number;
  }

  /** The LZ4 block of `src`, or null if it would exceed `maxBytes`. The result is a view: copy it. */
  compress(src: Uint8Array, maxBytes: number): Uint8Array | null {
    if (src.length > this.bufferBytes) throw new RangeError(`LZ4: ${src.length} bytes exceed the ${this.bufferBytes}-byte buffer`);
    this.mem.set(src, this.input);
    const n = this.e.compress(this.input, src.length, this.output, Math.min(maxBytes, this.bufferBytes));
    return n === 0 ? null : this.mem.subarray(this.output, this.output + n);
  }

  /** Decompresses `block` into `dst` (exactly dst.length bytes expected); false if malformed. */
  decompressInto(block: Uint8Array, dst: Uint8Array): boolean {
    if (block.length > this.bufferBytes || dst.length > this.bufferBytes) return false;
    this.mem.set(block, this.input);
    const n = this.e.decompress(this.input, block.length, this.output, dst.length);
    if (n !== dst.length) return false;
    dst.set(this.mem.subarray(this.output, this.output + n));
    return true;
  }

  /** Decompresses into a new array of at most `maxBytes`, or null if malformed. */
  decompress(block: Uint8Array, maxBytes: number): Uint8Array | null {
    if (block.length > this.bufferBytes) return null;
    this.mem.set(block, this.input);
    const n = this.e.decompress(this.input, block.length, this.output, Math.min(maxBytes, this.bufferBytes));
    return n < 0 ? null : this.mem.slice(this.output, this.output + n);
  }
}
