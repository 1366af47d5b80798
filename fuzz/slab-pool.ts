// The fuzzers' pool of frame-store slabs, reused from one case's tmem to the next (a case makes a
// tmem of a few frames thousands of times a second; a new Wasm memory for each costs its mapping,
// a page fault per page touched and a collection to unmap). Owned by the harness that makes the
// cases and handed to each tmem it builds (TmemOptions.slabs); the VMM keeps no pool of its own.

/** Released slabs that may grow up to this size are kept, up to MAX_KEPT of each (1 MiB of frames and the staging page). */
const MAX_PAGES = 17;
/** Slabs kept per size. */
const MAX_KEPT = 64;
/**
 * Larger slabs (a filled tmem's: its frames are all written, so a new memory costs a page fault
 * a frame) are kept too, two of a size, up to this many Wasm pages in all (64 MiB).
 */
const LARGE_KEPT = 2;
const LARGE_BUDGET_PAGES = 1024;

/** What the pool keeps of a slab: its Wasm memory, its maximum, and whatever comes with it (the store's page copy). */
interface SlabLike {
  readonly memory: WebAssembly.Memory;
  readonly maxPages: number;
}

export class SlabPool<S extends SlabLike> {
  private readonly spare = new Map<number, S[]>();
  private largePages = 0;

  /**
   * A released slab whose memory may grow to `maxPages` Wasm pages, zeroed at the size it grew
   * to, or undefined (the store makes one). Slabs are kept by their maximum: a memory never
   * shrinks, so the size one has now is whatever its last store grew it to.
   */
  take(maxPages: number): S | undefined {
    const slab = this.spare.get(maxPages)?.pop();
    if (slab) {
      new Uint8Array(slab.memory.buffer).fill(0);
      if (maxPages > MAX_PAGES) this.largePages -= slab.memory.buffer.byteLength / 65536;
    }
    return slab;
  }

  give(slab: S): void {
    // A large slab counts against the budget for the memory it holds now, not its maximum.
    const pages = slab.memory.buffer.byteLength / 65536;
    const large = slab.maxPages > MAX_PAGES;
    if (large && this.largePages + pages > LARGE_BUDGET_PAGES) return;
    const list = this.spare.get(slab.maxPages) ?? [];
    this.spare.set(slab.maxPages, list);
    if (list.length >= (large ? LARGE_KEPT : MAX_KEPT)) return;
    list.push(slab);
    if (large) this.largePages += pages;
  }
}
