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
 * a frame, some 20 us each on this project's VM, where zeroing a kept page costs well under one)
 * are kept whatever their size, up to this many Wasm pages in all (256 MiB: the largest filled
 * tmem, 40 000 frames, and the capacities at the bitmap's edges beside it), the least recently
 * released going first. A request takes the kept slab with the smallest maximum that is at least
 * the one asked for and at most LARGE_FIT times it (zeroing a much larger slab would cost what
 * the faults cost): capacities drawn log-uniformly are seldom the same twice, so slabs kept by
 * their exact maximum were seldom taken again, and filled the budget.
 */
const LARGE_BUDGET_PAGES = 4096;
const LARGE_FIT = 4;
/**
 * One request in this many for a slab of at most FRESH_MAX_PAGES (a 1 023-1 025 frame tmem's)
 * gets no kept slab: the store makes one of its own, 1 MiB at first, and grows it by doubling
 * up to its maximum (16, 32, 64 and 65 Wasm pages) as frames are taken, so the store's growth
 * stays fuzzed (a kept slab has grown already). Larger fresh slabs would grow the same way at a
 * page fault a frame; each size is grown once a thread, the first time a tmem needs it.
 */
const FRESH_EVERY = 8;
const FRESH_MAX_PAGES = 65;

/** What the pool keeps of a slab: its Wasm memory, its maximum, and whatever comes with it (the store's page copy). */
interface SlabLike {
  readonly memory: WebAssembly.Memory;
  readonly maxPages: number;
}

export class SlabPool<S extends SlabLike> {
  private readonly spare = new Map<number, S[]>();
  /** Large slabs, least recently released first. */
  private readonly large: S[] = [];
  private largePages = 0;
  /** Requests for a large slab of at most FRESH_MAX_PAGES so far. */
  private smallTakes = 0;

  /**
   * A released slab whose memory may grow to at least `maxPages` Wasm pages, zeroed at the size
   * it grew to, or undefined (the store makes one). A memory never shrinks, so the size a slab
   * has now is whatever its last store grew it to.
   */
  take(maxPages: number): S | undefined {
    let slab: S | undefined;
    if (maxPages <= MAX_PAGES) slab = this.spare.get(maxPages)?.pop();
    else if (maxPages > FRESH_MAX_PAGES || this.smallTakes++ % FRESH_EVERY !== 0) {
      let best = -1;
      for (let i = 0; i < this.large.length; i++) {
        const m = this.large[i].maxPages;
        if (m >= maxPages && m <= LARGE_FIT * maxPages && (best < 0 || m < this.large[best].maxPages)) best = i;
      }
      if (best >= 0) {
        slab = this.large.splice(best, 1)[0];
        this.largePages -= pagesOf(slab);
      }
    }
    if (slab) new Uint8Array(slab.memory.buffer).fill(0);
    return slab;
  }

  give(slab: S): void {
    if (slab.maxPages > MAX_PAGES) {
      const pages = pagesOf(slab);
      if (pages > LARGE_BUDGET_PAGES) return;
      while (this.largePages + pages > LARGE_BUDGET_PAGES) this.largePages -= pagesOf(this.large.shift()!);
      this.large.push(slab);
      this.largePages += pages;
      return;
    }
    const list = this.spare.get(slab.maxPages) ?? [];
    this.spare.set(slab.maxPages, list);
    if (list.length < MAX_KEPT) list.push(slab);
  }
}

/** A slab counts against the budget for the memory it holds now, not its maximum. */
const pagesOf = (slab: SlabLike) => slab.memory.buffer.byteLength / 65536;
