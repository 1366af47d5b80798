// The fuzzers' pool of frame-store slabs, reused from one case's tmem to the next (a case makes a
// tmem of a few frames thousands of times a second; a new Wasm memory for each costs its mapping,
// a page fault per page touched and a collection to unmap). Owned by the harness that makes the
// cases and handed to each tmem it builds (TmemOptions.slabs); the VMM keeps no pool of its own.

/** Released slabs up to this size are kept, up to MAX_KEPT of each size (1 MiB of frames and the staging page). */
const MAX_PAGES = 17;
/** Slabs kept per size. */
const MAX_KEPT = 64;
/**
 * Larger slabs (a filled tmem's: its frames are all written, so a new memory costs a page fault
 * a frame) are kept too, two of a size, up to this many Wasm pages in all (64 MiB).
 */
const LARGE_KEPT = 2;
const LARGE_BUDGET_PAGES = 1024;

/** What the pool keeps of a slab: its Wasm memory, and whatever comes with it (the store's page copy). */
interface SlabLike {
  readonly memory: WebAssembly.Memory;
}

export class SlabPool<S extends SlabLike> {
  private readonly spare = new Map<number, S[]>();
  private largePages = 0;

  /** A released slab of `pages` Wasm pages, zeroed, or undefined (the store makes one). */
  take(pages: number): S | undefined {
    const slab = this.spare.get(pages)?.pop();
    if (slab) {
      new Uint8Array(slab.memory.buffer).fill(0);
      if (pages > MAX_PAGES) this.largePages -= pages;
    }
    return slab;
  }

  give(slab: S): void {
    const pages = slab.memory.buffer.byteLength / 65536;
    const large = pages > MAX_PAGES;
    if (large && this.largePages + pages > LARGE_BUDGET_PAGES) return;
    const list = this.spare.get(pages) ?? [];
    this.spare.set(pages, list);
    if (list.length >= (large ? LARGE_KEPT : MAX_KEPT)) return;
    list.push(slab);
    if (large) this.largePages += pages;
  }
}
