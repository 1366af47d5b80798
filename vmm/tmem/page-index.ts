// The object and page metadata of every pool: which (pool, oid) objects exist, which (object,
// index) pages they hold, where the store keeps each page's bytes (a PageHandle, opaque here),
// and each client's ephemeral LRU order. It knows structure only; the rules of put/get/flush
// live in tmem.ts.
//
// Records are array-of-structs in one Int32Array each, so everything about a page is one 32-byte
// record (half a cache line) and an op touches a handful of cache lines, not one per field:
//
//   page   [ obj | index | where | objNext | objPrev | cliNext | cliPrev | stamp ]      8 words
//   object [ pool | oid0..oid5 | firstPage | pages | lastClient | poolNext | poolPrev | hash | - - - ] 16
//
// The hash tables hold only record ids and compare keys in the records: about 6 bytes a page.
// With the page's share of its object, a stored page costs about 42 bytes of metadata. A page's
// hash derives from its object's key (pool, oid), not from the object's record id, so a lookup
// can probe the object table and the page table at once: their cache misses overlap. The page
// table keeps each slot's distance from its home slot in a byte beside it (saturating at 255), so
// removing a page shifts its run back without hashing (or reading) any other page. The hash is
// keyed at random per index: guests choose every key, and must not be able to aim them at one slot.
//
// Every record id and slot index read here comes from the index itself, so each typed-array read
// is in range by construction: the `!` on each says so (this folder compiles with
// noUncheckedIndexedAccess).

import type { PageHandle } from "../store/page-store.js";
import type { ClientSlot, DomId, ObjectRecord, PageRecord, PoolHandle } from "./ids.js";

const NIL = -1;
const EMPTY = -1;

// page record fields
const PG = 8;
const P_OBJ = 0;
const P_INDEX = 1;
const P_WHERE = 2;
const P_OBJ_NEXT = 3;
const P_OBJ_PREV = 4;
const P_CLI_NEXT = 5;
const P_CLI_PREV = 6;
const P_STAMP = 7;

// object record fields
const OB = 16;
const O_POOL = 0;
const O_OID = 1;
const O_FIRST = 7;
const O_PAGES = 8;
const O_LAST_CLIENT = 9;
const O_POOL_NEXT = 10;
const O_POOL_PREV = 11;
/** The object's hash, kept so nothing recomputes it (page hashes derive from it). */
const O_HASH = 12;

const PAGES = 0;
const OBJECTS = 1;

/** Page records an index makes room for at first (32 KiB of them); it grows past them as pages are stored. */
const FIRST_PAGES = 1024;
/**
 * How much a full record array grows by. 1.25, not 1.5 or 2: a record array may sit this much
 * above what it holds, and with the page table (at most 8/3 slots a page after it doubles, 5 bytes
 * a slot) and the objects' records, 1.25 keeps a page's metadata under 64 bytes at the worst
 * point (32 × 1.25 + 13.3 + 64 / 16 × 1.25 + the object table: about 59 bytes for 16-page objects)
 * where 1.5 could pass it. The price is copying: a record is copied about four times on average
 * as its array grows (once at 2).
 */
const RECORD_GROWTH = 1.25;

function grown(a: Int32Array, records: number, stride: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(records * stride).fill(NIL, a.length);
  b.set(a);
  return b;
}

/**
 * Murmur3's finaliser: every input bit reaches every output bit. The result is an int32: hashes
 * are only masked, XORed or stored in an Int32Array, and an int32 stays a small integer in V8,
 * where a uint32 past 2^31 would be a heap number (an allocation on the op path).
 */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Distances past this are kept as this in the distance byte (and worked out from the hash when needed). */
const DIST_SATURATED = 255;

/** A random 32-bit key, so the slots a guest's keys land in cannot be worked out beforehand. */
function randomHashKey(): number {
  const k = new Int32Array(1);
  globalThis.crypto.getRandomValues(k);
  return k[0]!;
}

function tableFor(entries: number): Int32Array<ArrayBuffer> {
  let cap = 64;
  while (cap * 3 < entries * 4) cap *= 2; // load factor <= 0.75
  return new Int32Array(cap).fill(EMPTY);
}

export class PageIndex {
  private pg: Int32Array;
  private pgCap: number;
  private pgFree = NIL;
  private pgNextId = 0;
  private ob: Int32Array;
  private obCap: number;
  private obFree = NIL;
  private obNextId = 0;
  private pageSlots: Int32Array;
  /** Each page-table slot's distance from its home slot (0 for an empty slot). */
  private pageDist: Uint8Array;
  private objectSlots: Int32Array;
  /** Head of each pool handle's object list. */
  private poolFirst = new Int32Array(16).fill(NIL);
  /** Each client's ephemeral LRU (head = oldest), by client slot. Persistent pages are on none. */
  private cliHead = new Int32Array(8).fill(NIL);
  private cliTail = new Int32Array(8).fill(NIL);
  private clock = 0;
  /**
   * The page locatePage found last and its page-table slot: removing that page (a flush, an
   * exclusive get) starts from the slot instead of hashing and probing again. Checked before use
   * (slots[foundSlot] === page): anything that moved it since just means a fresh probe.
   */
  private foundPage = NIL;
  private foundSlot = 0;
  /** The object findObject returned last (a freed record has pool -1, so it never matches). */
  private lastObject = NIL;
  private liveObjects = 0;
  private livePages = 0;

  /**
   * The hash's key. Guests choose every key (pool, oid, index), and the hash functions are public:
   * with a known key a guest could make any number of its pages share one slot's run (found in
   * this round: 257 such puts made the table double without end until the host ran out of
   * memory). A random key per index hides where keys land; the saturating distance byte (place)
   * keeps even a run of colliding keys to a slower lookup, never a larger table.
   */
  private readonly hashKey: number;
  /** Each oid word's own key, derived from hashKey (objectHash). */
  private readonly wordKeys = new Int32Array(6);

  /**
   * `expectedPages`: how many pages the index may hold (the frame store's capacity); it sizes for
   * at most FIRST_PAGES of them and grows with what is stored, so a large capacity with few pages
   * stored costs little. `hashKey`: a fixed key (tests, fuzzers); by default a random one.
   */
  constructor(expectedPages = FIRST_PAGES, hashKey?: number) {
    this.hashKey = hashKey === undefined ? randomHashKey() : hashKey | 0;
    for (let i = 0; i < 6; i++) this.wordKeys[i] = mix(this.hashKey + Math.imul(i + 1, 0x9e3779b9));
    this.pgCap = Math.max(64, Math.min(expectedPages, FIRST_PAGES));
    this.obCap = Math.max(64, this.pgCap >>> 3);
    this.pg = new Int32Array(this.pgCap * PG).fill(NIL);
    this.ob = new Int32Array(this.obCap * OB).fill(NIL);
    this.pageSlots = tableFor(this.pgCap);
    this.pageDist = new Uint8Array(this.pageSlots.length);
    this.objectSlots = tableFor(this.obCap);
  }

  get objects(): number {
    return this.liveObjects;
  }

  get pages(): number {
    return this.livePages;
  }

  /** Bytes of metadata held (every array, at its allocated size), for the memory budget. */
  get sizeBytes(): number {
    return [this.pg, this.ob, this.pageSlots, this.pageDist, this.objectSlots, this.poolFirst, this.cliHead, this.cliTail].reduce(
      (n, a) => n + a.byteLength,
      0,
    );
  }

  // ---- record fields, for the rules in tmem.ts ----
  /** Where the store keeps the page's bytes. */
  whereOf(pg: PageRecord): PageHandle {
    return this.pg[pg * PG + P_WHERE] as PageHandle;
  }
  objectOf(pg: PageRecord): ObjectRecord {
    return this.pg[pg * PG + P_OBJ] as ObjectRecord;
  }
  indexOf(pg: PageRecord): number {
    return this.pg[pg * PG + P_INDEX]! >>> 0;
  }
  nextInObject(pg: PageRecord): PageRecord {
    return this.pg[pg * PG + P_OBJ_NEXT] as PageRecord;
  }
  poolOf(ob: ObjectRecord): PoolHandle {
    return this.ob[ob * OB + O_POOL] as PoolHandle;
  }
  firstPage(ob: ObjectRecord): PageRecord {
    return this.ob[ob * OB + O_FIRST] as PageRecord;
  }
  pagesIn(ob: ObjectRecord): number {
    return this.ob[ob * OB + O_PAGES]!;
  }
  lastClient(ob: ObjectRecord): DomId {
    return this.ob[ob * OB + O_LAST_CLIENT] as DomId;
  }
  setLastClient(ob: ObjectRecord, domid: DomId): void {
    this.ob[ob * OB + O_LAST_CLIENT] = domid;
  }
  firstObject(poolHandle: PoolHandle): ObjectRecord {
    return this.poolFirst[poolHandle] as ObjectRecord;
  }
  nextObject(ob: ObjectRecord): ObjectRecord {
    return this.ob[ob * OB + O_POOL_NEXT] as ObjectRecord;
  }
  /** The object's id words (a view; copy it to keep it). */
  oidOf(ob: ObjectRecord): Uint32Array {
    return new Uint32Array(this.ob.buffer, (ob * OB + O_OID) * 4, 6);
  }
  lruHead(cliSlot: ClientSlot): PageRecord {
    return this.cliHead[cliSlot] as PageRecord;
  }
  lruNext(pg: PageRecord): PageRecord {
    return this.pg[pg * PG + P_CLI_NEXT] as PageRecord;
  }
  /** True if the page is on a client's LRU list. */
  onLru(pg: PageRecord, cliSlot: ClientSlot): boolean {
    const b = pg * PG;
    return this.pg[b + P_CLI_PREV] !== NIL || this.pg[b + P_CLI_NEXT] !== NIL || this.cliHead[cliSlot] === pg;
  }

  ensurePoolHandle(handle: PoolHandle): void {
    if (handle >= this.poolFirst.length) this.poolFirst = grown(this.poolFirst, Math.max(handle + 1, this.poolFirst.length * 2), 1);
  }

  ensureClientSlot(slot: ClientSlot): void {
    if (slot >= this.cliHead.length) {
      const n = Math.max(slot + 1, this.cliHead.length * 2);
      this.cliHead = grown(this.cliHead, n, 1);
      this.cliTail = grown(this.cliTail, n, 1);
    }
  }

  // ---------------------------------------------------------------- objects

  private objectHash(pool: number, o: Int32Array | Uint32Array, base: number): number {
    // Murmur3's block step over the pool and the six oid words, each word first through a keyed
    // bijection that spreads any difference over the whole word (Murmur3's finaliser of the word
    // XOR a key of its own), so how two oids' words differ reaches the state as a difference that
    // depends on the key. Murmur3's own seed, which enters only the start, leaves collisions that
    // hold for every seed (fuzz/oid-families.ts builds them: 32 oids a family). Adding the key to
    // each word, as this did before, was not enough: it changes a word's difference only through
    // carries, and the same families still collided, all 32 oids, under about one key in 60
    // (test/security/hash-flooding.test.ts).
    const wk = this.wordKeys;
    let h = Math.imul(pool ^ this.hashKey, 0xcc9e2d51);
    for (let i = 0; i < 6; i++) {
      let k = o[base + i]! ^ wk[i]!;
      k ^= k >>> 16;
      k = Math.imul(k, 0x85ebca6b);
      k ^= k >>> 13;
      k = Math.imul(k, 0xc2b2ae35);
      k ^= k >>> 16;
      h ^= k;
      h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
    }
    return mix(h);
  }

  /** The object (poolHandle, oid words), or -1. */
  findObject(poolHandle: PoolHandle, oid: Uint32Array): ObjectRecord {
    return this.findObjectHashed(poolHandle, oid, -1);
  }

  /** findObject with the key's hash already known (-1: compute it; a hash of -1 is just computed again). */
  private findObjectHashed(poolHandle: PoolHandle, oid: Uint32Array, hash: number): ObjectRecord {
    const r = this.ob;
    const o0 = oid[0]! | 0,
      o1 = oid[1]! | 0,
      o2 = oid[2]! | 0,
      o3 = oid[3]! | 0,
      o4 = oid[4]! | 0,
      o5 = oid[5]! | 0;
    // Front ends work an object at a time (a file's pages, frontswap's 16 pages an object): the
    // last object found is checked first, against its record, which is still in cache.
    const last = this.lastObject;
    if (last !== NIL) {
      const b = last * OB;
      if (
        r[b + O_POOL] === poolHandle &&
        r[b + 1] === o0 &&
        r[b + 2] === o1 &&
        r[b + 3] === o2 &&
        r[b + 4] === o3 &&
        r[b + 5] === o4 &&
        r[b + 6] === o5
      )
        return last as ObjectRecord;
    }
    const slots = this.objectSlots;
    const mask = slots.length - 1;
    for (let i = (hash === -1 ? this.objectHash(poolHandle, oid, 0) : hash) & mask; ; i = (i + 1) & mask) {
      const ob = slots[i]!;
      if (ob === EMPTY) return NIL as ObjectRecord;
      const b = ob * OB;
      if (
        r[b + O_POOL] === poolHandle &&
        r[b + 1] === o0 &&
        r[b + 2] === o1 &&
        r[b + 3] === o2 &&
        r[b + 4] === o3 &&
        r[b + 5] === o4 &&
        r[b + 6] === o5
      ) {
        this.lastObject = ob;
        return ob as ObjectRecord;
      }
    }
  }

  createObject(poolHandle: PoolHandle, oid: Uint32Array): ObjectRecord {
    let ob = this.obFree;
    if (ob !== NIL) this.obFree = this.ob[ob * OB + O_POOL_NEXT]!;
    else {
      if (this.obNextId === this.obCap) {
        this.obCap = Math.ceil(this.obCap * RECORD_GROWTH);
        this.ob = grown(this.ob, this.obCap, OB);
      }
      ob = this.obNextId++;
    }
    const r = this.ob;
    const b = ob * OB;
    r[b + O_POOL] = poolHandle;
    for (let i = 0; i < 6; i++) r[b + O_OID + i] = oid[i]!;
    r[b + O_HASH] = this.objectHash(poolHandle, oid, 0);
    r[b + O_FIRST] = NIL;
    r[b + O_PAGES] = 0;
    r[b + O_LAST_CLIENT] = NIL;
    const head = this.poolFirst[poolHandle]!;
    r[b + O_POOL_PREV] = NIL;
    r[b + O_POOL_NEXT] = head;
    if (head !== NIL) r[head * OB + O_POOL_PREV] = ob;
    this.poolFirst[poolHandle] = ob;
    if ((this.liveObjects + 1) * 4 > this.objectSlots.length * 3) this.rehash(OBJECTS, this.objectSlots.length * 2, ob);
    this.place(OBJECTS, ob);
    this.liveObjects++;
    return ob as ObjectRecord;
  }

  private destroyObject(ob: number): void {
    const r = this.ob;
    const b = ob * OB;
    const pool = r[b + O_POOL]!;
    this.unslot(OBJECTS, ob);
    const prev = r[b + O_POOL_PREV]!;
    const next = r[b + O_POOL_NEXT]!;
    if (prev !== NIL) r[prev * OB + O_POOL_NEXT] = next;
    else this.poolFirst[pool] = next;
    if (next !== NIL) r[next * OB + O_POOL_PREV] = prev;
    r[b + O_POOL] = NIL;
    r[b + O_POOL_NEXT] = this.obFree;
    this.obFree = ob;
    this.liveObjects--;
  }

  // ---------------------------------------------------------------- pages

  private pageHash(objectHash: number, index: number): number {
    return mix(objectHash ^ Math.imul(index ^ 0x7f4a7c15, 0x85ebca77));
  }

  /**
   * The page (poolHandle, oid, index), or -1 (its object is objectOf(page); findObject, which
   * checks the object found here first, answers for a missing page's object at once). Both
   * tables are probed before either answer is looked at, so the two cache misses overlap.
   */
  locatePage(poolHandle: PoolHandle, oid: Uint32Array, index: number): PageRecord {
    const idx = index | 0;
    const oh = this.objectHash(poolHandle, oid, 0);
    const pSlots = this.pageSlots;
    const pMask = pSlots.length - 1;
    let pi = this.pageHash(oh, idx) & pMask;
    let pg = pSlots[pi]!;
    const r = this.pg;
    // Touch the first candidate's record now, so its miss overlaps the object lookup's.
    let candidateObj = pg === EMPTY ? NIL : r[pg * PG + P_OBJ];
    const ob = this.findObjectHashed(poolHandle, oid, oh);
    if (ob === NIL) return NIL as PageRecord;
    for (;;) {
      if (pg === EMPTY) return NIL as PageRecord;
      if (candidateObj === ob && r[pg * PG + P_INDEX] === idx) {
        this.foundPage = pg;
        this.foundSlot = pi;
        return pg as PageRecord;
      }
      pi = (pi + 1) & pMask;
      pg = pSlots[pi]!;
      candidateObj = pg === EMPTY ? NIL : r[pg * PG + P_OBJ];
    }
  }

  /** Where warmNextPage leaves what it read, so the read is not optimised away. */
  warmSink = 0;

  /**
   * Reads the record the next addPage will fill, so that cache miss overlaps whatever the caller
   * does next (a put copies its page meanwhile).
   */
  warmNextPage(): void {
    const pg = this.pgFree;
    if (pg !== NIL) this.warmSink = this.pg[pg * PG + P_OBJ_NEXT]!;
  }

  findPage(ob: ObjectRecord, index: number): PageRecord {
    const slots = this.pageSlots;
    const mask = slots.length - 1;
    const r = this.pg;
    const idx = index | 0;
    for (let i = this.pageHash(this.ob[ob * OB + O_HASH]!, idx) & mask; ; i = (i + 1) & mask) {
      const pg = slots[i]!;
      if (pg === EMPTY) return NIL as PageRecord;
      if (r[pg * PG + P_OBJ] === ob && r[pg * PG + P_INDEX] === idx) return pg as PageRecord;
    }
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
    const objects = new Map<number, number>();
    const pages = new Map<number, number>();
    let mostObjects = 0;
    let mostPages = 0;
    let longestRun = 0;
    for (const ob of this.objectSlots) if (ob !== EMPTY) mostObjects = Math.max(mostObjects, count(objects, this.ob[ob * OB + O_HASH]!));
    const slots = this.pageSlots;
    const mask = slots.length - 1;
    for (let i = 0; i < slots.length; i++) {
      const pg = slots[i]!;
      if (pg === EMPTY) continue;
      const h = this.hashOfId(PAGES, pg);
      mostPages = Math.max(mostPages, count(pages, h));
      longestRun = Math.max(longestRun, (i - h) & mask);
    }
    return { objects: mostObjects, pages: mostPages, longestRun };
  }

  /** `cliSlot` is the client charged for an ephemeral page (-1 for a persistent one). */
  addPage(ob: ObjectRecord, index: number, where: PageHandle, cliSlot: ClientSlot): PageRecord {
    let pg = this.pgFree;
    if (pg !== NIL) this.pgFree = this.pg[pg * PG + P_OBJ_NEXT]!;
    else {
      if (this.pgNextId === this.pgCap) {
        this.pgCap = Math.ceil(this.pgCap * RECORD_GROWTH);
        this.pg = grown(this.pg, this.pgCap, PG);
      }
      pg = this.pgNextId++;
    }
    const r = this.pg;
    const b = pg * PG;
    r[b + P_OBJ] = ob;
    r[b + P_INDEX] = index | 0;
    r[b + P_WHERE] = where;
    const obb = ob * OB;
    const first = this.ob[obb + O_FIRST]!;
    r[b + P_OBJ_PREV] = NIL;
    r[b + P_OBJ_NEXT] = first;
    if (first !== NIL) r[first * PG + P_OBJ_PREV] = pg;
    this.ob[obb + O_FIRST] = pg;
    this.ob[obb + O_PAGES]!++;
    r[b + P_CLI_NEXT] = NIL;
    r[b + P_CLI_PREV] = NIL;
    if (cliSlot !== NIL) this.cliAppend(pg, cliSlot);
    if ((this.livePages + 1) * 4 > this.pageSlots.length * 3) this.rehash(PAGES, this.pageSlots.length * 2, pg);
    this.place(PAGES, pg);
    this.livePages++;
    return pg as PageRecord;
  }

  /**
   * Unlinks page `pg` everywhere (the object goes with its last page) and returns where its
   * bytes are, which the caller frees. `cliSlot`: the client whose LRU holds it, -1 if persistent.
   */
  removePage(pg: PageRecord, cliSlot: ClientSlot): PageHandle {
    const r = this.pg;
    const b = pg * PG;
    const ob = r[b + P_OBJ]!;
    this.unslot(PAGES, pg);
    const prev = r[b + P_OBJ_PREV]!;
    const next = r[b + P_OBJ_NEXT]!;
    if (prev !== NIL) r[prev * PG + P_OBJ_NEXT] = next;
    else this.ob[ob * OB + O_FIRST] = next;
    if (next !== NIL) r[next * PG + P_OBJ_PREV] = prev;
    if (cliSlot !== NIL) this.cliUnlink(pg, cliSlot);
    if (--this.ob[ob * OB + O_PAGES]! === 0) this.destroyObject(ob);
    const where = r[b + P_WHERE] as PageHandle;
    r[b + P_OBJ] = NIL;
    r[b + P_WHERE] = NIL;
    r[b + P_OBJ_NEXT] = this.pgFree;
    this.pgFree = pg;
    this.livePages--;
    return where;
  }

  /** Moves an ephemeral page to the most-recently-used end of its client's list. */
  lruTouch(pg: PageRecord, cliSlot: ClientSlot): void {
    if (this.cliTail[cliSlot] !== pg) {
      this.cliUnlink(pg, cliSlot);
      this.cliAppend(pg, cliSlot);
    } else {
      this.pg[pg * PG + P_STAMP] = ++this.clock;
    }
  }

  /** Charges an ephemeral page to another client (a shared pool changed owner). */
  moveToClient(pg: PageRecord, from: ClientSlot, to: ClientSlot): void {
    this.cliUnlink(pg, from);
    this.cliAppend(pg, to);
  }

  /** True if `a` was used before `b` (stamps wrap; live pages span far less than 2^31 uses). */
  olderThan(a: PageRecord, b: PageRecord): boolean {
    return ((this.pg[a * PG + P_STAMP]! - this.pg[b * PG + P_STAMP]!) | 0) < 0;
  }

  private cliAppend(pg: number, c: number): void {
    const r = this.pg;
    const tail = this.cliTail[c]!;
    r[pg * PG + P_CLI_PREV] = tail;
    r[pg * PG + P_CLI_NEXT] = NIL;
    if (tail !== NIL) r[tail * PG + P_CLI_NEXT] = pg;
    else this.cliHead[c] = pg;
    this.cliTail[c] = pg;
    this.clock = (this.clock + 1) | 0;
    r[pg * PG + P_STAMP] = this.clock;
  }

  private cliUnlink(pg: number, c: number): void {
    const r = this.pg;
    const prev = r[pg * PG + P_CLI_PREV]!;
    const next = r[pg * PG + P_CLI_NEXT]!;
    if (prev !== NIL) r[prev * PG + P_CLI_NEXT] = next;
    else this.cliHead[c] = next;
    if (next !== NIL) r[next * PG + P_CLI_PREV] = prev;
    else this.cliTail[c] = prev;
    r[pg * PG + P_CLI_PREV] = NIL;
    r[pg * PG + P_CLI_NEXT] = NIL;
  }

  // ---------------------------------------------------------------- tables

  private hashOfId(table: number, id: number): number {
    if (table === PAGES) return this.pageHash(this.ob[this.pg[id * PG + P_OBJ]! * OB + O_HASH]!, this.pg[id * PG + P_INDEX]!);
    return this.ob[id * OB + O_HASH]!;
  }

  private place(table: number, id: number): void {
    const slots = table === PAGES ? this.pageSlots : this.objectSlots;
    const mask = slots.length - 1;
    let i = this.hashOfId(table, id) & mask;
    if (table === OBJECTS) {
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = id;
      return;
    }
    // Robin Hood: an entry further from its home takes the slot of one nearer to its own, so each
    // run stays ordered by distance and removal can shift back by distances alone. A distance
    // past the byte's range is kept as DIST_SATURATED and, where it decides anything, worked out
    // from the occupant's hash; a longer run (only colliding keys make one) is never a reason to
    // grow the table, which could not spread keys whose whole hashes are equal.
    const dist = this.pageDist;
    let cur = id;
    let d = 0;
    for (;;) {
      const occupant = slots[i]!;
      if (occupant === EMPTY) {
        slots[i] = cur;
        dist[i] = Math.min(d, DIST_SATURATED);
        return;
      }
      const od = dist[i]! < DIST_SATURATED ? dist[i]! : this.trueDistance(i, occupant, mask);
      if (od < d) {
        slots[i] = cur;
        dist[i] = Math.min(d, DIST_SATURATED);
        cur = occupant;
        d = od;
      }
      i = (i + 1) & mask;
      d++;
    }
  }

  /** How far page `pg`, in slot `i`, sits from its home slot. */
  private trueDistance(i: number, pg: number, mask: number): number {
    return (i - this.hashOfId(PAGES, pg)) & mask;
  }

  /**
   * Removes record `id` from its linear-probing table and shifts later members of its run back,
   * so every id stays reachable from its home slot (no tombstones).
   */
  private unslot(table: number, id: number): void {
    const slots = table === PAGES ? this.pageSlots : this.objectSlots;
    const mask = slots.length - 1;
    let i = table === PAGES && this.foundPage === id && slots[this.foundSlot] === id ? this.foundSlot : this.hashOfId(table, id) & mask;
    while (slots[i] !== id) {
      if (slots[i] === EMPTY) throw new Error(`page index: record ${id} is not in its table`);
      i = (i + 1) & mask;
    }
    if (table === PAGES) {
      // Shift the run back by distances alone: no hashing, no other record read (but for a
      // saturated distance, which only colliding keys make).
      const dist = this.pageDist;
      let hole = i;
      for (let j = (i + 1) & mask; slots[j] !== EMPTY && dist[j]! > 0; j = (j + 1) & mask) {
        const moved = slots[j]!;
        slots[hole] = moved;
        dist[hole] = dist[j]! < DIST_SATURATED ? dist[j]! - 1 : Math.min(this.trueDistance(j, moved, mask) - 1, DIST_SATURATED);
        hole = j;
      }
      slots[hole] = EMPTY;
      dist[hole] = 0;
      return;
    }
    let hole = i;
    for (let j = (i + 1) & mask; slots[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.hashOfId(table, slots[j]!) & mask;
      if (((hole - home) & mask) <= ((j - home) & mask)) {
        slots[hole] = slots[j]!;
        hole = j;
      }
    }
    slots[hole] = EMPTY;
  }

  /** Makes `table` `capacity` slots and places every record in it but `adding`, which the caller places next. */
  private rehash(table: number, capacity: number, adding: number): void {
    const fresh = new Int32Array(capacity).fill(EMPTY);
    if (table === PAGES) {
      this.pageSlots = fresh;
      this.pageDist = new Uint8Array(capacity);
    } else this.objectSlots = fresh;
    // In record order, not the old table's: placing a record reads it (and a page's object) for
    // its hash, and records read in order come from memory in order, where the old table's order
    // makes each read a cache miss. A table grows while a guest waits on a put: this is its pause.
    const records = table === PAGES ? this.pg : this.ob;
    const stride = table === PAGES ? PG : OB;
    const live = table === PAGES ? P_OBJ : O_POOL;
    const ids = table === PAGES ? this.pgNextId : this.obNextId;
    for (let id = 0; id < ids; id++) if (id !== adding && records[id * stride + live] !== NIL) this.place(table, id);
  }
}
