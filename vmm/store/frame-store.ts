// Where page data lives: VMM-owned 4 KiB frames in slabs that grow as frames are taken, never in
// guest memory. Frames are plain integers so nothing per page is a JavaScript object.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { type CrossCopy, crossCopyFor, guestMemoryOf } from "./cross-copy.js";
import { FreeFrames } from "./free-frames.js";
import { pageCopyIn } from "./page-copy.js";

const SLAB_SHIFT = 18; // 262144 frames = 1 GiB per slab
export const SLAB_FRAMES = 1 << SLAB_SHIFT;
const SLAB_MASK = SLAB_FRAMES - 1;
const WASM_PAGE_BYTES = 65536;
/**
 * A new slab's size in Wasm pages (1 MiB: 255 frames and the staging page); it then doubles
 * each time its frames run out, up to its maximum. Doubling, not a fixed step, because each
 * grow detaches the memory's buffer and V8 counts the new one, whole, as memory newly allocated
 * outside its heap until the old one is collected, and answers enough of that with a major
 * collection: 4 MiB steps to 1 GiB count over a hundred GiB (measured: 256 grows, about a
 * hundred collections), where doubling counts under twice the slab in ten grows (one to three
 * collections). What doubling overshoots costs address space, not resident memory: a page of a
 * grown memory is faulted in only when a frame in it is written, and lowest-free-first
 * allocation (free-frames.ts) writes the frames from the bottom up.
 */
const FIRST_SLAB_PAGES = 16;
/**
 * A store of at least this many frames (256 MiB) makes each slab whole, at its maximum, when the
 * store is made, and never grows one. A grow of a large memory is what makes V8 collect: it counts
 * the grown memory, whole, as external memory newly allocated, and a few hundred MiB of that start
 * a full mark-compact (10-60 ms on this project's VM) in the middle of a guest's hypercall; made
 * up front, the collections happen while the machine is built. A whole slab costs no more
 * resident memory than a grown one: the system backs a page of it only when a frame in it is
 * first written, and lowest-free-first allocation writes the frames from the bottom up. Smaller
 * stores (the fuzzers make thousands a second) keep growing theirs from 1 MiB, which costs no
 * collection worth the name.
 */
const WHOLE_SLABS_FROM_FRAMES = 1 << 16;
/**
 * How many whole slabs a store makes when it is made (4 GiB); any past them are made, whole, when
 * their first frame is taken. Each Wasm memory reserves its own address space (V8 allows about a
 * hundred), and tmem may be lent up to 1 TiB.
 */
const WHOLE_SLABS_AT_START = 4;

/** A slab's Wasm memory and its page copy (an instance bound to it), reused together. */
export interface Slab {
  /** Stays the same object as it grows (Wasm code importing it sees the growth by itself). */
  readonly memory: WebAssembly.Memory;
  /** The memory's maximum in Wasm pages (JavaScript cannot read it back from the memory). */
  readonly maxPages: number;
  readonly copy: (dst: number, src: number) => void;
}

/**
 * Where a store's slabs come from and go back to, when its owner reuses them (the fuzzers make
 * thousands of small tmems a second, and a new Wasm memory costs its mapping, a page fault per
 * page touched, and a garbage collection to unmap). Without one, a store makes its own and
 * leaves them to the collector.
 */
export interface SlabSource {
  /**
   * A slab whose memory may grow to `maxPages` Wasm pages, all zeros at whatever size it has
   * now, or undefined to have the store make one.
   */
  take(maxPages: number): Slab | undefined;
  /** The store is done with `slab`. */
  give(slab: Slab): void;
}

/**
 * A new slab, of `maxPages` at most, `whole` (grown to its maximum now) or to be grown as frames
 * are taken: `source`'s if it has one. Throws RangeError when the host has no memory for it.
 */
function slabMemory(maxPages: number, source: SlabSource | null, whole: boolean): Slab {
  const slab = source?.take(maxPages) ?? newSlab(maxPages, whole ? maxPages : Math.min(FIRST_SLAB_PAGES, maxPages));
  const pages = slab.memory.buffer.byteLength / WASM_PAGE_BYTES;
  if (whole && pages < maxPages) slab.memory.grow(maxPages - pages);
  return slab;
}

function newSlab(maxPages: number, initialPages: number): Slab {
  const memory = new WebAssembly.Memory({ initial: initialPages, maximum: maxPages });
  return { memory, maxPages, copy: pageCopyIn(memory) };
}

/** A guest's RAM and its copies with each slab of one store. */
interface GuestCopies {
  readonly memory: WebAssembly.Memory;
  readonly bySlab: (CrossCopy | undefined)[];
}

export class FrameStore {
  readonly capacityFrames: number;
  /** Each slab's frames, as a view of its memory's current buffer (made again after a grow). */
  private readonly slabs: Uint8Array[] = [];
  /** The slabs, for growing and release(); then, for copyOut's hot path, each slab's copy, its staging page's offset and a view of that page. */
  private readonly owned: Slab[] = [];
  private readonly slabCopy: ((dst: number, src: number) => void)[] = [];
  private readonly stageAt: number[] = [];
  private readonly stages: Uint8Array[] = [];
  /**
   * Frames below this have memory behind them. Lowest-free-first allocation keeps the frames in
   * use a prefix of the store, so the frames with memory are a prefix too: every slab below the
   * last is whole, and alloc() need only compare with one number to know when to grow.
   */
  private backedFrames = 0;
  /** Frames below this have been taken at least once (and so written): the frames the system backs. */
  private touchedFrames = 0;
  /** Whether each slab is made whole (WHOLE_SLABS_FROM_FRAMES). */
  private readonly wholeSlabs: boolean;
  /** Which frames are in use; the lowest free one goes next (free-frames.ts says why). */
  private readonly inUse: FreeFrames;
  /** Per guest RAM (by its buffer), its cross-memory copy with each slab, made on first use. */
  private readonly crossBySource = new WeakMap<ArrayBufferLike, GuestCopies>();
  /** The last source looked up (a guest's ops come one after another). */
  private lastSource: ArrayBufferLike | null = null;
  private lastCopies: GuestCopies | null = null;
  private crossMade = 0;

  constructor(
    capacityFrames: number,
    private readonly slabSource: SlabSource | null = null,
  ) {
    if (!Number.isInteger(capacityFrames) || capacityFrames < 0 || capacityFrames > 0x7fffffff) {
      throw new RangeError(`frame store capacity must be a whole number of frames, got ${capacityFrames}`);
    }
    this.capacityFrames = capacityFrames;
    this.inUse = new FreeFrames(capacityFrames);
    this.wholeSlabs = capacityFrames >= WHOLE_SLABS_FROM_FRAMES;
    // A small store has no memory yet: its slabs are made and grown as frames are taken (alloc).
    // A large one makes its first slabs whole now (a host that refuses one leaves the frames past
    // it to alloc, which tries again and, refused again, finds the store full). Either way the memory
    // the system backs is the frames written, not the capacity.
    if (this.wholeSlabs) {
      try {
        for (let s = 0; s * SLAB_FRAMES < capacityFrames && s < WHOLE_SLABS_AT_START; s++) this.addSlab(s);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
      }
    }
    // Each slab is a WebAssembly.Memory's buffer, not a plain ArrayBuffer: on Node 20 a
    // TypedArray.set of a page from guest RAM (a WebAssembly.Memory) into a plain ArrayBuffer took
    // about ten times as long as into another WebAssembly.Memory, even for a cache-resident 1 MiB
    // slab (measured on this project's VM: 4.2 us against 0.4 us; `npm run bench` shows it as
    // the real memories' copy in). 1 GiB slabs keep the number of Wasm memories (each reserves
    // address space) small. A Wasm memory can grow in place, which a plain ArrayBuffer cannot.
  }

  /**
   * Bytes of the slabs' memory the system may back now, for tests and the memory budget: a grown
   * slab's whole memory; a whole slab's frames taken so far (a prefix: lowest-free-first) and its
   * staging page.
   */
  get slabBytes(): number {
    if (!this.wholeSlabs) return this.owned.reduce((n, slab) => n + slab.memory.buffer.byteLength, 0);
    let n = 0;
    for (let s = 0; s < this.owned.length; s++) {
      const touched = Math.min(Math.max(this.touchedFrames - s * SLAB_FRAMES, 0), this.framesIn(s));
      if (touched > 0) n += (touched + 1) * TMEM_PAGE_SIZE;
    }
    return n;
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

  /**
   * The lowest free frame, or -1 when the store is full or the host has no memory for the frame
   * (a grow that fails is the store being full: the caller evicts or refuses, as tmem does).
   */
  alloc(): number {
    const frame = this.inUse.alloc();
    if (frame >= this.backedFrames && !this.back(frame)) {
      this.inUse.free(frame);
      return -1;
    }
    if (frame >= this.touchedFrames) this.touchedFrames = frame + 1;
    return frame;
  }

  /** Grows the slabs until `frame` has memory behind it; false if the host refuses. */
  private back(frame: number): boolean {
    try {
      while (frame >= this.backedFrames) {
        const s = this.owned.length - 1;
        const last = this.owned[s];
        if (last === undefined || this.slabFrames(s) === this.framesIn(s)) this.addSlab(s + 1);
        else {
          const pages = last.memory.buffer.byteLength / WASM_PAGE_BYTES;
          if (pages >= last.maxPages)
            throw new Error(
              `frame store: slab ${s} is at its ${last.maxPages} pages but holds ${this.slabFrames(s)} of its ${this.framesIn(s)} frames`,
            );
          last.memory.grow(Math.min(pages, last.maxPages - pages));
          this.viewSlab(s);
        }
      }
      return true;
    } catch (e) {
      // V8 reports a memory it cannot make or grow (no address space, no memory) as a RangeError.
      if (e instanceof RangeError) return false;
      throw e;
    }
  }

  /** Frames of the store that fall in slab `s`. */
  private framesIn(s: number): number {
    return Math.min(SLAB_FRAMES, this.capacityFrames - s * SLAB_FRAMES);
  }

  /** Frames slab `s` has memory for now: all of its memory but the staging page at its end. */
  private slabFrames(s: number): number {
    const bytes = this.owned[s].memory.buffer.byteLength;
    return Math.min(this.framesIn(s), bytes / TMEM_PAGE_SIZE - 1);
  }

  private addSlab(s: number): void {
    const bytes = this.framesIn(s) << TMEM_PAGE_SHIFT;
    const slab = slabMemory(Math.ceil((bytes + TMEM_PAGE_SIZE) / WASM_PAGE_BYTES), this.slabSource, this.wholeSlabs);
    this.owned.push(slab);
    this.slabCopy.push(slab.copy);
    this.viewSlab(s);
  }

  /**
   * Makes slab `s`'s views again, over its memory's buffer as it is now (a grow detaches the old
   * one): its frames, and the staging page, which sits in the memory's last 4 KiB and so moves
   * up as the slab grows (where frames had no memory behind them yet).
   */
  private viewSlab(s: number): void {
    const buffer = this.owned[s].memory.buffer;
    const stageAt = buffer.byteLength - TMEM_PAGE_SIZE;
    this.slabs[s] = new Uint8Array(buffer, 0, this.slabFrames(s) << TMEM_PAGE_SHIFT);
    this.stageAt[s] = stageAt;
    this.stages[s] = new Uint8Array(buffer, stageAt, TMEM_PAGE_SIZE);
    this.backedFrames = s * SLAB_FRAMES + this.slabFrames(s);
  }

  /** Gives back `frame`, which alloc() handed out. */
  free(frame: number): void {
    this.inUse.free(frame);
  }

  /**
   * Copies one page (a 4 KiB view) into `frame`: from a guest's RAM by one cross-memory
   * `memory.copy` (the fastest copy between the two memories, `npm run bench` shows), from
   * anywhere else by TypedArray.set.
   */
  copyIn(frame: number, page: Uint8Array): void {
    const s = frame >>> SLAB_SHIFT;
    const at = (frame & SLAB_MASK) << TMEM_PAGE_SHIFT;
    const g = page.length === TMEM_PAGE_SIZE ? this.guestCopies(page.buffer) : null;
    if (g !== null) this.crossTo(g, s).copyIn(page.byteOffset, at);
    else this.slabs[s].set(page, at);
  }

  /**
   * Copies `frame` into `dst` at byte `dstOffset`, allocating nothing: into a guest's RAM by one
   * cross-memory `memory.copy`; anywhere else first to its slab's staging page (Wasm
   * `memory.copy`), then from there by a view made once (see page-copy.ts).
   */
  copyOut(frame: number, dst: Uint8Array, dstOffset: number): void {
    const s = frame >>> SLAB_SHIFT;
    const at = (frame & SLAB_MASK) << TMEM_PAGE_SHIFT;
    // Only within the view: the copy itself is bounded by the memory, not by `dst`.
    const g = dstOffset >= 0 && dst.length - dstOffset >= TMEM_PAGE_SIZE ? this.guestCopies(dst.buffer) : null;
    if (g !== null) {
      this.crossTo(g, s).copyOut(dst.byteOffset + dstOffset, at);
      return;
    }
    this.slabCopy[s](this.stageAt[s], at);
    dst.set(this.stages[s], dstOffset);
  }

  /** Cross-memory copies this store has taken up (one per guest RAM and slab that met): for tests. */
  get crossCopies(): number {
    return this.crossMade;
  }

  private guestCopies(buffer: ArrayBufferLike): GuestCopies | null {
    if (buffer === this.lastSource) return this.lastCopies;
    let g = this.crossBySource.get(buffer) ?? null;
    if (g === null) {
      const memory = guestMemoryOf(buffer);
      if (memory !== undefined) this.crossBySource.set(buffer, (g = { memory, bySlab: [] }));
    }
    this.lastSource = buffer;
    this.lastCopies = g;
    return g;
  }

  private crossTo(g: GuestCopies, s: number): CrossCopy {
    let c = g.bySlab[s];
    if (c === undefined) {
      c = g.bySlab[s] = crossCopyFor(g.memory, this.owned[s]!.memory);
      this.crossMade++;
    }
    return c;
  }

  /** The frame's bytes, as a view (valid until the frame is freed or the next alloc(), which may grow the slab under it). */
  view(frame: number): Uint8Array {
    const off = (frame & SLAB_MASK) << TMEM_PAGE_SHIFT;
    return this.slabs[frame >>> SLAB_SHIFT].subarray(off, off + TMEM_PAGE_SIZE);
  }

  /**
   * The store is done with: its slabs go back to the source it took them from, if any. The store
   * must not be used afterwards (its bytes stay readable until the source hands them out again).
   */
  release(): void {
    this.lastSource = null;
    this.lastCopies = null;
    const source = this.slabSource;
    const slabs = this.owned.splice(0);
    if (source) for (const m of slabs) source.give(m);
  }
}
