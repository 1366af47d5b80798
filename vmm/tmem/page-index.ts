// The object and page metadata of every pool, as the rules in tmem.ts see it: which (pool, oid)
// objects exist, which (object, index) pages they hold, where the store keeps each page's bytes
// (a PageHandle, opaque here), and each client's ephemeral LRU order. The structure itself (its
// records, keyed hash tables and lists) is WebAssembly, kernels/page-index.ts, compiled into
// build/kernels/page-index.wasm: its memory is its own, grows in place as pages are stored, and is
// where Wasm code finds a page without a call into JavaScript. This class is its typed face:
// branded ids in and out, one instance of the module per index.
//
// Every record id here comes from the index itself; the module traps (a WebAssembly.RuntimeError)
// on a broken invariant, as the TypeScript index threw.

import type { PageHandle } from "../store/page-store.js";
import type { ClientSlot, DomId, ObjectRecord, PageRecord, PoolHandle } from "./ids.js";

/** Page records an index makes room for at first; it grows past them as pages are stored. */
const FIRST_PAGES = 1024;

/** What the module exports (kernels/page-index.ts): record ids, handles and words are int32. */
interface IndexExports {
  memory: WebAssembly.Memory;
  init(expectedPages: number, key: number): void;
  objects(): number;
  pages(): number;
  sizeBytes(): number;
  whereOf(pg: number): number;
  objectOf(pg: number): number;
  indexOf(pg: number): number;
  nextInObject(pg: number): number;
  poolOf(ob: number): number;
  firstPage(ob: number): number;
  pagesIn(ob: number): number;
  lastClient(ob: number): number;
  setLastClient(ob: number, domid: number): void;
  firstObject(pool: number): number;
  nextObject(ob: number): number;
  oidAt(ob: number): number;
  lruHead(slot: number): number;
  lruNext(pg: number): number;
  onLru(pg: number, slot: number): number;
  ensurePoolHandle(handle: number): void;
  ensureClientSlot(slot: number): void;
  findObject(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number): number;
  createObject(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number): number;
  locatePage(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number, index: number): number;
  warmNextPage(): void;
  findPage(ob: number, index: number): number;
  addPage(ob: number, index: number, where: number, slot: number): number;
  removePage(pg: number, slot: number): number;
  lruTouch(pg: number, slot: number): void;
  moveToClient(pg: number, from: number, to: number): void;
  olderThan(a: number, b: number): number;
  hashObject(pool: number, o0: number, o1: number, o2: number, o3: number, o4: number, o5: number): number;
  hashPage(objectHash: number, index: number): number;
  pageHashOf(pg: number): number;
  objectHashOf(ob: number): number;
  pageSlotsAt(): number;
  pageDistAt(): number;
  pageSlotsLength(): number;
  objectSlotsAt(): number;
  objectSlotsLength(): number;
  pageRecordsAt(): number;
  pageRecordCapacity(): number;
  objectRecordsAt(): number;
  objectRecordCapacity(): number;
  useClock(): number;
  setUseClock(value: number): void;
}

/** The module ran out of memory for the index (its heap asked for more than the host gives). */
function outOfMemory(): never {
  throw new RangeError("page index: the host has no more memory for tmem's metadata");
}

/**
 * Instances whose owner released them, by module, for the next index: a fuzzer makes thousands
 * of small tmems a second, and each new instance costs a memory's mapping and a collection to
 * unmap. Only instances whose memory stayed small are kept, and only a few.
 */
const spare = new WeakMap<WebAssembly.Module, IndexExports[]>();
const SPARE_INSTANCES = 16;
const SPARE_MEMORY_BYTES = 4 << 20;

/** A random 32-bit key, so the slots a guest's keys land in cannot be worked out beforehand. */
function randomHashKey(): number {
  const k = new Int32Array(1);
  globalThis.crypto.getRandomValues(k);
  return k[0]!;
}

export class PageIndex {
  private readonly e: IndexExports;
  private released = false;

  /**
   * `module`: build/kernels/page-index.wasm, compiled. `expectedPages`: how many pages the index
   * may hold (the frame store's capacity); it sizes for at most FIRST_PAGES of them and grows with
   * what is stored, so a large capacity with few pages stored costs little. `hashKey`: a fixed key
   * (tests, fuzzers); by default a random one. Guests choose every key (pool, oid, index), and the
   * hash functions are public: with a known key a guest could make any number of its pages share
   * one slot's run. A random key per index hides where keys land; the saturating distance byte
   * keeps even a run of colliding keys to a slower lookup, never a larger table.
   */
  constructor(
    private readonly module: WebAssembly.Module,
    expectedPages = FIRST_PAGES,
    hashKey?: number,
  ) {
    this.e =
      spare.get(module)?.pop() ?? (new WebAssembly.Instance(module, { env: { abort: outOfMemory } }).exports as unknown as IndexExports);
    this.e.init(expectedPages, hashKey === undefined ? randomHashKey() : hashKey | 0);
  }

  /** The index is done with; its instance may serve another index of the same module. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.e.memory.buffer.byteLength > SPARE_MEMORY_BYTES) return;
    let list = spare.get(this.module);
    if (!list) spare.set(this.module, (list = []));
    if (list.length < SPARE_INSTANCES) list.push(this.e);
  }

  get objects(): number {
    return this.e.objects();
  }

  get pages(): number {
    return this.e.pages();
  }

  /** Bytes of metadata held (every array, at its allocated size), for the memory budget. */
  get sizeBytes(): number {
    return this.e.sizeBytes();
  }

  // ---- record fields, for the rules in tmem.ts ----
  /** Where the store keeps the page's bytes. */
  whereOf(pg: PageRecord): PageHandle {
    return this.e.whereOf(pg) as PageHandle;
  }
  objectOf(pg: PageRecord): ObjectRecord {
    return this.e.objectOf(pg) as ObjectRecord;
  }
  indexOf(pg: PageRecord): number {
    return this.e.indexOf(pg) >>> 0;
  }
  nextInObject(pg: PageRecord): PageRecord {
    return this.e.nextInObject(pg) as PageRecord;
  }
  poolOf(ob: ObjectRecord): PoolHandle {
    return this.e.poolOf(ob) as PoolHandle;
  }
  firstPage(ob: ObjectRecord): PageRecord {
    return this.e.firstPage(ob) as PageRecord;
  }
  pagesIn(ob: ObjectRecord): number {
    return this.e.pagesIn(ob);
  }
  lastClient(ob: ObjectRecord): DomId {
    return this.e.lastClient(ob) as DomId;
  }
  setLastClient(ob: ObjectRecord, domid: DomId): void {
    this.e.setLastClient(ob, domid);
  }
  firstObject(poolHandle: PoolHandle): ObjectRecord {
    return this.e.firstObject(poolHandle) as ObjectRecord;
  }
  nextObject(ob: ObjectRecord): ObjectRecord {
    return this.e.nextObject(ob) as ObjectRecord;
  }
  /** The object's id words (a view; copy it to keep it). */
  oidOf(ob: ObjectRecord): Uint32Array {
    return new Uint32Array(this.e.memory.buffer, this.e.oidAt(ob), 6);
  }
  lruHead(cliSlot: ClientSlot): PageRecord {
    return this.e.lruHead(cliSlot) as PageRecord;
  }
  lruNext(pg: PageRecord): PageRecord {
    return this.e.lruNext(pg) as PageRecord;
  }
  /** True if the page is on a client's LRU list. */
  onLru(pg: PageRecord, cliSlot: ClientSlot): boolean {
    return this.e.onLru(pg, cliSlot) !== 0;
  }

  ensurePoolHandle(handle: PoolHandle): void {
    this.e.ensurePoolHandle(handle);
  }

  ensureClientSlot(slot: ClientSlot): void {
    this.e.ensureClientSlot(slot);
  }

  // ---------------------------------------------------------------- objects

  /** The object (poolHandle, oid words), or -1. */
  findObject(poolHandle: PoolHandle, oid: Uint32Array): ObjectRecord {
    return this.e.findObject(poolHandle, oid[0]!, oid[1]!, oid[2]!, oid[3]!, oid[4]!, oid[5]!) as ObjectRecord;
  }

  /** A new object (poolHandle, oid words), which must not exist yet. */
  createObject(poolHandle: PoolHandle, oid: Uint32Array): ObjectRecord {
    return this.e.createObject(poolHandle, oid[0]!, oid[1]!, oid[2]!, oid[3]!, oid[4]!, oid[5]!) as ObjectRecord;
  }

  // ---------------------------------------------------------------- pages

  /**
   * The page (poolHandle, oid, index), or -1 (its object is objectOf(page); findObject, which
   * checks the object found here first, answers for a missing page's object at once).
   */
  locatePage(poolHandle: PoolHandle, oid: Uint32Array, index: number): PageRecord {
    return this.e.locatePage(poolHandle, oid[0]!, oid[1]!, oid[2]!, oid[3]!, oid[4]!, oid[5]!, index) as PageRecord;
  }

  /**
   * Reads the record the next addPage will fill, so that cache miss overlaps whatever the caller
   * does next (a put copies its page meanwhile).
   */
  warmNextPage(): void {
    this.e.warmNextPage();
  }

  findPage(ob: ObjectRecord, index: number): PageRecord {
    return this.e.findPage(ob, index) as PageRecord;
  }

  /**
   * How far the keyed hash spreads what is stored: the most live objects that share one whole
   * 32-bit object hash, the most live pages that share one page hash, and the longest distance of
   * a page from its home slot. With a key the guest does not know, keys it chose collide no more
   * than chance lets them (three sharing a 32-bit hash: about n^3 / 2^66 for n keys), whatever
   * it chose; an oracle for the fuzzers and the hash-flooding test. O(pages), allocating.
   */
  hashSpread(): { objects: number; pages: number; longestRun: number } {
    const count = (m: Map<number, number>, h: number): number => {
      const n = (m.get(h) ?? 0) + 1;
      m.set(h, n);
      return n;
    };
    const e = this.e;
    const objects = new Map<number, number>();
    const pages = new Map<number, number>();
    let mostObjects = 0;
    let mostPages = 0;
    let longestRun = 0;
    for (const ob of this.objectSlots) if (ob !== -1) mostObjects = Math.max(mostObjects, count(objects, e.objectHashOf(ob)));
    const slots = this.pageSlots;
    const mask = slots.length - 1;
    for (let i = 0; i < slots.length; i++) {
      const pg = slots[i]!;
      if (pg === -1) continue;
      const h = e.pageHashOf(pg);
      mostPages = Math.max(mostPages, count(pages, h));
      longestRun = Math.max(longestRun, (i - h) & mask);
    }
    return { objects: mostObjects, pages: mostPages, longestRun };
  }

  /** `cliSlot` is the client charged for an ephemeral page (-1 for a persistent one). */
  addPage(ob: ObjectRecord, index: number, where: PageHandle, cliSlot: ClientSlot): PageRecord {
    return this.e.addPage(ob, index, where, cliSlot) as PageRecord;
  }

  /**
   * Unlinks page `pg` everywhere (the object goes with its last page) and returns where its
   * bytes are, which the caller frees. `cliSlot`: the client whose LRU holds it, -1 if persistent.
   */
  removePage(pg: PageRecord, cliSlot: ClientSlot): PageHandle {
    return this.e.removePage(pg, cliSlot) as PageHandle;
  }

  /** Moves an ephemeral page to the most-recently-used end of its client's list. */
  lruTouch(pg: PageRecord, cliSlot: ClientSlot): void {
    this.e.lruTouch(pg, cliSlot);
  }

  /** Charges an ephemeral page to another client (a shared pool changed owner). */
  moveToClient(pg: PageRecord, from: ClientSlot, to: ClientSlot): void {
    this.e.moveToClient(pg, from, to);
  }

  /** True if `a` was used before `b` (stamps wrap; live pages span far less than 2^31 uses). */
  olderThan(a: PageRecord, b: PageRecord): boolean {
    return this.e.olderThan(a, b) !== 0;
  }

  // ---- the tables and hash functions, for hashSpread and white-box tests (views: valid until the next change) ----

  get pageSlots(): Int32Array {
    return new Int32Array(this.e.memory.buffer, this.e.pageSlotsAt(), this.e.pageSlotsLength());
  }

  get pageDist(): Uint8Array {
    return new Uint8Array(this.e.memory.buffer, this.e.pageDistAt(), this.e.pageSlotsLength());
  }

  get objectSlots(): Int32Array {
    return new Int32Array(this.e.memory.buffer, this.e.objectSlotsAt(), this.e.objectSlotsLength());
  }

  get pg(): Int32Array {
    return new Int32Array(this.e.memory.buffer, this.e.pageRecordsAt(), this.e.pageRecordCapacity() * 8);
  }

  get ob(): Int32Array {
    return new Int32Array(this.e.memory.buffer, this.e.objectRecordsAt(), this.e.objectRecordCapacity() * 16);
  }

  get clock(): number {
    return this.e.useClock();
  }

  set clock(value: number) {
    this.e.setUseClock(value);
  }

  /** The object hash of (pool, the six words of `o` from `base`). */
  objectHash(pool: number, o: Int32Array | Uint32Array, base: number): number {
    return this.e.hashObject(pool, o[base]!, o[base + 1]!, o[base + 2]!, o[base + 3]!, o[base + 4]!, o[base + 5]!);
  }

  /** The page hash of `index` in an object whose hash is `objectHash`. */
  pageHash(objectHash: number, index: number): number {
    return this.e.hashPage(objectHash, index);
  }
}
