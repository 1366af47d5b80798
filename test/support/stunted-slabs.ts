// A slab source for a host out of memory: its memories stop growing at a set size, however far
// they say they may grow, and it may refuse to make more than so many. It fails as V8 does when
// the host has no memory for a Wasm memory: a RangeError from grow() or from the constructor.
import type { Slab, SlabSource } from "../../vmm/store/frame-store.js";
import { pageCopyIn } from "../../vmm/store/page-copy.js";

export class StuntedSlabs implements SlabSource {
  private made = 0;

  /** Memories of `realPages` Wasm pages at most (a first MiB if they have that), and `slabsAllowed` of them. */
  constructor(
    private readonly realPages: number,
    private readonly slabsAllowed = Infinity,
  ) {}

  take(maxPages: number): Slab {
    if (this.made >= this.slabsAllowed) throw new RangeError("WebAssembly.Memory(): could not allocate memory");
    this.made++;
    const memory = new WebAssembly.Memory({ initial: Math.min(16, this.realPages), maximum: this.realPages });
    return { memory, maxPages, copy: pageCopyIn(memory) };
  }

  give(): void {}
}
