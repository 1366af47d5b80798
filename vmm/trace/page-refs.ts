// The pages a recorder has already written, so that a page written again is recorded as a
// reference to the earlier copy. A guest puts the same clean page each time its page cache drops
// it, and a get returns what an earlier put wrote: in a cache workload most pages a trace would
// carry are already in it (a precache run of 8192 file pages read 16 times: 698 MB of pages
// inline, 34 MB with references). A reference is taken only after the bytes compare equal, never
// on a hash alone; what is remembered is bounded, so a run with more distinct pages than the
// bound records some of them twice, never wrongly. The remembered bytes live in a Wasm memory of
// their own, compared with a guest's frame in place (page-compare.ts).
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { type PageCompare, pageCompare } from "./page-compare.js";
import type { RegionRef } from "./trace-format.js";

/** Distinct pages remembered (their bytes are kept to compare): 64 MiB. */
export const REMEMBERED_PAGES = 16384;

const WORDS = TMEM_PAGE_SIZE / 4;
const WASM_PAGE = 65536;

/**
 * A 32-bit hash of 64 of a page's words, one in every 16: a bucket, never a proof (the bytes are
 * compared whole), so it need only spread pages that differ somewhere among them.
 */
function pageHash(w: Int32Array, at: number): number {
  let h = 0x9e3779b9 | 0;
  for (let i = at; i < at + WORDS; i += 16) {
    h = Math.imul(h ^ w[i]!, 0x85ebca6b);
    h ^= h >>> 15;
  }
  return h;
}

/** Pages of one hash compared at most: pages alike in every sampled word cost a bounded search. */
const CHAIN = 4;

interface Remembered {
  /** Where its bytes are in the kept memory. */
  readonly slot: number;
  readonly ref: RegionRef;
  /** Another page of the same hash, remembered after this one. */
  next: Remembered | null;
}

export class PageRefs {
  /** Chains in the order their hash was first written (a Map keeps insertion order): the first goes when full. */
  private readonly byHash = new Map<number, Remembered>();
  private count = 0;
  /** The remembered pages' bytes, a slot each; grows as pages are remembered. */
  private readonly kept = new WebAssembly.Memory({ initial: 1 });
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly compares = new WeakMap<WebAssembly.Memory, { compare: PageCompare; words: Int32Array<ArrayBufferLike> }>();
  /** The last source's (a guest's RAM: its frames come one after another). */
  private lastSource: WebAssembly.Memory | null = null;
  private lastCompare: PageCompare | null = null;
  private lastWords: Int32Array<ArrayBufferLike> = new Int32Array(0);

  constructor(private readonly limit = REMEMBERED_PAGES) {}

  /**
   * Where the 4 KiB at byte `at` (a multiple of 4) of `source` were written before, if they are
   * remembered; otherwise remembers them as written at `ref` and returns null. `source` must not
   * grow while this is in use (a guest's RAM does not).
   */
  refOrRemember(source: WebAssembly.Memory, at: number, ref: RegionRef): RegionRef | null {
    if (source !== this.lastSource) this.use(source);
    const compare = this.lastCompare!;
    const h = pageHash(this.lastWords, at >>> 2);
    const first = this.byHash.get(h);
    let n = 0;
    for (let r: Remembered | null = first ?? null; r !== null; r = r.next) {
      if (compare.same(at, r.slot) !== 0) return r.ref;
      // Past the bound the chain's tail is forgotten: this page takes its place at the head.
      if (++n === CHAIN && r.next !== null) {
        this.forget(r.next);
        r.next = null;
      }
    }
    if (this.count >= this.limit) this.dropOldest();
    const slot = this.slot();
    compare.keep(at, slot);
    // The oldest chain just dropped may have been this hash's.
    this.byHash.set(h, { slot, ref, next: this.byHash.get(h) ?? null });
    this.count++;
    return null;
  }

  private use(source: WebAssembly.Memory): void {
    if ((source.buffer.byteLength & 3) !== 0) throw new RangeError("a page source is a Wasm memory");
    let c = this.compares.get(source);
    if (c === undefined) this.compares.set(source, (c = { compare: pageCompare(source, this.kept), words: new Int32Array(source.buffer) }));
    this.lastSource = source;
    this.lastCompare = c.compare;
    this.lastWords = c.words;
  }

  private slot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.nextSlot;
    this.nextSlot += TMEM_PAGE_SIZE;
    const have = this.kept.buffer.byteLength;
    // Doubling, up to the bound.
    if (this.nextSlot > have) this.kept.grow(Math.max(1, Math.ceil(Math.min(have, this.limit * TMEM_PAGE_SIZE - have) / WASM_PAGE)));
    return slot;
  }

  private forget(chain: Remembered): void {
    for (let r: Remembered | null = chain; r !== null; r = r.next) {
      this.freeSlots.push(r.slot);
      this.count--;
    }
  }

  private dropOldest(): void {
    const [h, chain] = this.byHash.entries().next().value!;
    this.byHash.delete(h);
    this.forget(chain);
  }
}
