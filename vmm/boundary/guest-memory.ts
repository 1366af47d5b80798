// A guest's RAM: the WebAssembly.Memory the VMM created for it, seen as 4 KiB page frames, behind
// one small checked interface (in the manner of rust-vmm's vm-memory). Guest addresses arrive as
// 64-bit register values split in two 32-bit halves; address() and gfn() check them once, in
// exact integers (no wrap-around), and return a typed address or NOT_RAM. Every read and write
// takes a typed address and checks its whole range [addr, addr + len): a range that leaves RAM
// fails as the value NOT_RAM, never as -1 or an exception.
//
// Addresses are numbers, not bigints: RAM is at most 4095 MiB, so every address inside it is an
// exact integer below 2^32, and a register whose high half is not zero is refused before it
// becomes an address; the hot path (a put or get) then does no BigInt arithmetic.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import type { Kernels } from "../store/asset-loader.js";
import { registerGuestMemory } from "../store/cross-copy.js";
import type { PageScan } from "../store/kernels.js";

/** A guest physical address known to lie in RAM (for the length it was checked with). */
export type GuestAddress = number & { readonly __guestAddress: never };
/** A guest frame number known to name a frame of RAM. */
export type Gfn = number & { readonly __gfn: never };

/** What a check answers when the range is not all guest RAM. */
export const NOT_RAM: unique symbol = Symbol("not guest RAM");
export type NotRam = typeof NOT_RAM;

export const WASM_PAGE_BYTES = 65536;

/** The most RAM a guest can have: a 32-bit Wasm memory's 4 GiB, less the page the engine keeps. */
export const MAX_GUEST_RAM_MIB = 4095;

/** What decodes a struct out of guest RAM (the op reader): GuestMemory.decodeStruct gives it the words. */
export interface StructDecoder {
  /** Room for the struct when it is not word-aligned: bytes, and words over the same buffer. */
  readonly scratch: Uint8Array;
  readonly scratchWords: Int32Array;
  /** Reads each field once from `words`, the struct starting at word `at`. */
  decode(words: Int32Array, at: number): void;
}

export class GuestMemory {
  /** The Wasm memory, for the guest's instance (its `env.memory` import). */
  readonly memory: WebAssembly.Memory;
  /**
   * Guest RAM as the guest sees it, for what plays the guest (tests and fuzzers writing ops and
   * pages as a guest would). The VMM's own code goes through the checked methods below. The
   * memory's maximum equals its initial size, so these views never detach.
   */
  readonly bytes: Uint8Array;
  /** Guest RAM as 32-bit words, for aligned copies. */
  private readonly words: Int32Array;
  private readonly data: DataView;
  readonly sizeBytes: number;
  readonly frames: number;
  /** A view of each guest frame, made on first use: page copies then allocate nothing. */
  private readonly frameViews: (Uint8Array | undefined)[] = [];
  private scan: PageScan | null = null;

  constructor(
    sizeMiB: number,
    private readonly kernels: Kernels,
  ) {
    if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > MAX_GUEST_RAM_MIB) {
      throw new RangeError(`guest RAM must be 1..${MAX_GUEST_RAM_MIB} MiB, got ${sizeMiB}`);
    }
    const pages = (sizeMiB * 1024 * 1024) / WASM_PAGE_BYTES;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    // Frame stores then copy its pages to and from their slabs in one step.
    registerGuestMemory(this.memory);
    this.bytes = new Uint8Array(this.memory.buffer);
    this.words = new Int32Array(this.memory.buffer);
    this.data = new DataView(this.memory.buffer);
    this.sizeBytes = this.bytes.length;
    this.frames = this.sizeBytes >>> TMEM_PAGE_SHIFT;
  }

  // ---------------------------------------------------------------- checks: register -> typed

  /** The 64-bit address (lo, hi) if the `len` bytes from it all lie in RAM, else NOT_RAM. */
  address(lo: number, hi: number, len: number): GuestAddress | NotRam {
    if (hi !== 0) return NOT_RAM;
    const addr = lo >>> 0;
    return addr + len <= this.sizeBytes ? (addr as GuestAddress) : NOT_RAM;
  }

  /** The 64-bit frame number (lo, hi) if it names a frame of RAM, else NOT_RAM. */
  gfn(lo: number, hi = 0): Gfn | NotRam {
    if (hi !== 0) return NOT_RAM;
    const pfn = lo >>> 0;
    return pfn < this.frames ? (pfn as Gfn) : NOT_RAM;
  }

  /** `addr` + `offset`, if the `len` bytes from there still lie in RAM. */
  offset(addr: GuestAddress, offset: number, len: number): GuestAddress | NotRam {
    const at = addr + offset;
    return offset >= 0 && at + len <= this.sizeBytes ? (at as GuestAddress) : NOT_RAM;
  }

  /** The address of frame `gfn`'s first byte. */
  frameAddress(gfn: Gfn): GuestAddress {
    return (gfn * TMEM_PAGE_SIZE) as GuestAddress;
  }

  // ---------------------------------------------------------------- frames

  /** The 4 KiB view of frame `gfn` (made once per frame). */
  frameView(gfn: Gfn): Uint8Array {
    return (this.frameViews[gfn] ??= this.bytes.subarray(gfn * TMEM_PAGE_SIZE, gfn * TMEM_PAGE_SIZE + TMEM_PAGE_SIZE));
  }

  /** True if frame `gfn` is all zero (scanned in Wasm, in place). */
  isZero(gfn: Gfn): boolean {
    // Most pages that are not zero show it in their first 16 bytes: four word reads decide them
    // without the call into Wasm (which costs more than these reads).
    const w = this.words;
    const i = gfn << (TMEM_PAGE_SHIFT - 2);
    if ((w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]!) !== 0) return false;
    this.scan ??= this.kernels.pageScanFor(this.memory);
    return this.scan.isZero(gfn * TMEM_PAGE_SIZE);
  }

  // ---------------------------------------------------------------- checked slices

  /** A copy of the `len` bytes at `addr`, or NOT_RAM if they leave RAM. */
  read(addr: GuestAddress, len: number): Uint8Array | NotRam {
    return len >= 0 && addr + len <= this.sizeBytes ? this.bytes.slice(addr, addr + len) : NOT_RAM;
  }

  /** Copies `dst.length` bytes at `addr` into `dst` (allocating nothing); false if they leave RAM. */
  readInto(addr: GuestAddress, dst: Uint8Array): boolean {
    const n = dst.length;
    if (addr + n > this.sizeBytes) return false;
    const b = this.bytes;
    for (let i = 0; i < n; i++) dst[i] = b[addr + i]!;
    return true;
  }

  /**
   * Hands the struct at `addr` (`d.scratch.length` bytes, a whole number of words) to `d` to
   * decode, each field read once: in place when aligned, else copied whole into `d.scratch`
   * first. Allocates nothing; false (and nothing decoded) if it would leave RAM.
   */
  decodeStruct(addr: GuestAddress, d: StructDecoder): boolean {
    const s = d.scratch;
    const n = s.length;
    if (addr + n > this.sizeBytes) return false;
    if ((addr & 3) === 0) {
      d.decode(this.words, addr >>> 2);
      return true;
    }
    const b = this.bytes;
    for (let i = 0; i < n; i++) s[i] = b[addr + i]!;
    d.decode(d.scratchWords, 0);
    return true;
  }

  /** A view of the `len` bytes at `addr` (valid while the guest does not change them), or NOT_RAM. */
  slice(addr: GuestAddress, len: number): Uint8Array | NotRam {
    return len >= 0 && addr + len <= this.sizeBytes ? this.bytes.subarray(addr, addr + len) : NOT_RAM;
  }

  /** Writes `src` at `addr`; NOT_RAM (and nothing written) if it would leave RAM. */
  write(addr: GuestAddress, src: Uint8Array): true | NotRam {
    if (addr + src.length > this.sizeBytes) return NOT_RAM;
    this.bytes.set(src, addr);
    return true;
  }

  /** The little-endian u32 at `addr`, or NOT_RAM. */
  readU32(addr: GuestAddress): number | NotRam {
    return addr + 4 <= this.sizeBytes ? this.data.getUint32(addr, true) : NOT_RAM;
  }

  /** Writes the little-endian u32 `value` at `addr`; NOT_RAM if it would leave RAM. */
  writeU32(addr: GuestAddress, value: number): true | NotRam {
    if (addr + 4 > this.sizeBytes) return NOT_RAM;
    this.data.setUint32(addr, value, true);
    return true;
  }
}
