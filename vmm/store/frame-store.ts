// Where page data lives: VMM-owned 4 KiB frames in preallocated slabs, never in guest memory.
// Frames are plain integers so nothing per page is a JavaScript object.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { FreeFrames } from "./free-frames.js";
import { pageCopyIn } from "./page-copy.js";

const SLAB_SHIFT = 18; // 262144 frames = 1 GiB per slab
export const SLAB_FRAMES = 1 << SLAB_SHIFT;
const SLAB_MASK = SLAB_FRAMES - 1;
const WASM_PAGE_BYTES = 65536;
/** A slab's Wasm memory and its page copy (an instance bound to it), reused together. */
export interface Slab {
  readonly memory: WebAssembly.Memory;
  readonly copy: (dst: number, src: number) => void;
}

/**
 * Where a store's slabs come from and go back to, when its owner reuses them (the fuzzers make
 * thousands of small tmems a second, and a new Wasm memory costs its mapping, a page fault per
 * page touched, and a garbage collection to unmap). Without one, a store makes its own and
 * leaves them to the collector.
 */
export interface SlabSource {
  /** A slab of `pages` Wasm pages, all zeros, or undefined to have the store make one. */
  take(pages: number): Slab | undefined;
  /** The store is done with `slab`. */
  give(slab: Slab): void;
}

/** A slab of `pages` Wasm pages, all zeros: `source`'s if it has one. */
function slabMemory(pages: number, source: SlabSource | null): Slab {
  const reused = source?.take(pages);
  if (reused) return reused;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  return { memory, copy: pageCopyIn(memory) };
}

export class FrameStore {
  readonly capacityFrames: number;
  private readonly slabs: Uint8Array[] = [];
  /** The slabs, for release(); then, for copyOut's hot path, each slab's copy, its staging page's offset and a view of that page. */
  private readonly owned: Slab[] = [];
  private readonly slabCopy: ((dst: number, src: number) => void)[] = [];
  private readonly stageAt: number[] = [];
  private readonly stages: Uint8Array[] = [];
  /** Which frames are in use; the lowest free one goes next (free-frames.ts says why). */
  private readonly inUse: FreeFrames;

  constructor(capacityFrames: number, private readonly slabSource: SlabSource | null = null) {
    if (!Number.isInteger(capacityFrames) || capacityFrames < 0 || capacityFrames > 0x7fffffff) {
      throw new RangeError(`frame store capacity must be a whole number of frames, got ${capacityFrames}`);
    }
    this.capacityFrames = capacityFrames;
    this.inUse = new FreeFrames(capacityFrames);
    // All of tmem's memory up front: the OS maps it lazily, and no allocation (nor the garbage
    // collection that large allocations can set off) happens later, while guests run.
    // Each slab is a WebAssembly.Memory's buffer, not a plain ArrayBuffer: on Node 20 a
    // TypedArray.set of a page from guest RAM (a WebAssembly.Memory) into a plain ArrayBuffer took
    // about ten times as long as into another WebAssembly.Memory, even for a cache-resident 1 MiB
    // slab (measured on this project's VM: 4.2 us against 0.4 us; `npm run bench` shows it as
    // the real memories' copy in). 1 GiB slabs keep the number of Wasm memories (each reserves
    // address space) small.
    // Past each slab's frames, one staging page for copies out (copyOut).
    for (let f = 0; f < capacityFrames; f += SLAB_FRAMES) {
      const bytes = Math.min(SLAB_FRAMES, capacityFrames - f) << TMEM_PAGE_SHIFT;
      const pages = Math.ceil((bytes + TMEM_PAGE_SIZE) / WASM_PAGE_BYTES);
      const slab = slabMemory(pages, slabSource);
      this.owned.push(slab);
      this.slabs.push(new Uint8Array(slab.memory.buffer, 0, bytes));
      this.slabCopy.push(slab.copy);
      this.stageAt.push(bytes);
      this.stages.push(new Uint8Array(slab.memory.buffer, bytes, TMEM_PAGE_SIZE));
    }
  }

  /** Bytes of bookkeeping (not page data): the free-frame bitmap. */
  get metadataBytes(): number {
    return this.inUse.sizeBytes;
  }

  get usedFrames(): number {
    return this.inUse.usedFrames;
  }

  get freeFrames(): number {
    return this.capacityFrames - this.usedFrames;
  }

  /** The lowest free frame, or -1 when the store is full. */
  alloc(): number {
    return this.inUse.alloc();
  }

  /** Gives back `frame`, which alloc() handed out. */
  free(frame: number): void {
    this.inUse.free(frame);
  }

  /** Copies one page (a 4 KiB view) into `frame`. */
  copyIn(frame: number, page: Uint8Array): void {
    this.slabs[frame >>> SLAB_SHIFT].set(page, (frame & SLAB_MASK) << TMEM_PAGE_SHIFT);
  }

  /**
   * Copies `frame` into `dst` at byte `dstOffset`, allocating nothing: first to its slab's
   * staging page (Wasm `memory.copy`), then from there by a view made once (see page-copy.ts).
   */
  copyOut(frame: number, dst: Uint8Array, dstOffset: number): void {
    const s = frame >>> SLAB_SHIFT;
    this.slabCopy[s](this.stageAt[s], (frame & SLAB_MASK) << TMEM_PAGE_SHIFT);
    dst.set(this.stages[s], dstOffset);
  }

  /** The frame's bytes, as a view (valid until the frame is freed). */
  view(frame: number): Uint8Array {
    const off = (frame & SLAB_MASK) << TMEM_PAGE_SHIFT;
    return this.slabs[frame >>> SLAB_SHIFT].subarray(off, off + TMEM_PAGE_SIZE);
  }

  /**
   * The store is done with: its slabs go back to the source it took them from, if any. The store
   * must not be used afterwards (its bytes stay readable until the source hands them out again).
   */
  release(): void {
    const source = this.slabSource;
    const slabs = this.owned.splice(0);
    if (source) for (const m of slabs) source.give(m);
  }
}
