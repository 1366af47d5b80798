// A guest's RAM: the WebAssembly.Memory the VMM created for it, seen as 4 KiB page frames.
// Guest addresses arrive as 64-bit register values split in two 32-bit halves; every check here
// works on exact integers (no wrap-around): an address is valid only if the whole range
// [addr, addr + len) lies inside RAM.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import type { Kernels } from "../store/asset-loader.js";
import type { PageScan } from "../store/kernels.js";

/** Byte offset into guest RAM, known to be in bounds for the length it was checked with. */
export type GuestOffset = number;

export const WASM_PAGE_BYTES = 65536;

/** The most RAM a guest can have: a 32-bit Wasm memory's 4 GiB, less the page the engine keeps. */
export const MAX_GUEST_RAM_MIB = 4095;

export class GuestMemory {
  readonly memory: WebAssembly.Memory;
  /** Guest RAM. The memory's maximum equals its initial size, so this view never detaches. */
  readonly bytes: Uint8Array;
  readonly sizeBytes: number;
  readonly frames: number;
  /** Guest RAM as 32-bit words, for aligned copies. */
  readonly words: Int32Array;
  /** A view of each guest frame, made on first use: page copies then allocate nothing. */
  private readonly frameViews: (Uint8Array | undefined)[] = [];
  private scan: PageScan | null = null;

  constructor(sizeMiB: number, private readonly kernels: Kernels) {
    if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > MAX_GUEST_RAM_MIB) {
      throw new RangeError(`guest RAM must be 1..${MAX_GUEST_RAM_MIB} MiB, got ${sizeMiB}`);
    }
    const pages = (sizeMiB * 1024 * 1024) / WASM_PAGE_BYTES;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.bytes = new Uint8Array(this.memory.buffer);
    this.sizeBytes = this.bytes.length;
    this.frames = this.sizeBytes >>> TMEM_PAGE_SHIFT;
    this.words = new Int32Array(this.memory.buffer);
  }

  /** True if the page at byte `offset` (a frame boundary) is all zero (scanned in Wasm, in place). */
  isZero(offset: GuestOffset): boolean {
    // Most pages that are not zero show it in their first 16 bytes: four word reads decide them
    // without the call into Wasm (which costs more than these reads).
    const w = this.words;
    const i = offset >>> 2;
    if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3]) !== 0) return false;
    this.scan ??= this.kernels.pageScanFor(this.memory);
    return this.scan.isZero(offset);
  }

  /** The 4 KiB view at byte offset `offset` (a frame boundary, already checked). */
  frameView(offset: GuestOffset): Uint8Array {
    const pfn = offset >>> TMEM_PAGE_SHIFT;
    return (this.frameViews[pfn] ??= this.bytes.subarray(offset, offset + TMEM_PAGE_SIZE));
  }

  /**
   * The offset of the `len`-byte range starting at the 64-bit address (lo, hi), or -1 unless the
   * range lies wholly inside RAM.
   */
  range(lo: number, hi: number, len: number): GuestOffset {
    if (hi !== 0) return -1;
    const addr = lo >>> 0;
    return addr + len <= this.sizeBytes ? addr : -1;
  }

  /** The byte offset of frame `pfn` given as a 64-bit (lo, hi) value, or -1 if it is not RAM. */
  frame(lo: number, hi: number): GuestOffset {
    if (hi !== 0) return -1;
    const pfn = lo >>> 0;
    return pfn < this.frames ? pfn * TMEM_PAGE_SIZE : -1;
  }
}
