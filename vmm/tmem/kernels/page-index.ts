// The page index in WebAssembly (AssemblyScript, compiled by asc into build/kernels/page-index.wasm):
// which (pool, oid) objects exist, which (object, index) pages they hold, where the store keeps each
// page's bytes (an opaque int32 here), and each client's ephemeral LRU order. Its records, tables
// and lists live in this module's own linear memory, so lookups run as Wasm and so Wasm code can
// reach them without JavaScript in between; ../page-index.ts is the TypeScript face the rules in
// tmem.ts call. It knows structure only.
//
// Records are array-of-structs, so everything about a page is one 32-byte record (half a cache
// line) and an op touches a handful of cache lines, not one per field:
//
//   page   [ obj | index | where | objNext | objPrev | cliNext | cliPrev | stamp ]      8 words
//   object [ pool | oid0..oid5 | firstPage | pages | lastClient | poolNext | poolPrev | hash | - - - ] 16
//
// The hash tables hold only record ids and compare keys in the records: about 6 bytes a page.
// A page's hash derives from its object's key (pool, oid), not from the object's record id, so a
// lookup probes the object table and the page table at once: their cache misses overlap. The page
// table keeps each slot's distance from its home slot in a byte beside it (saturating at 255), so
// removing a page shifts its run back without hashing (or reading) any other page. The hash is
// keyed at random per index: guests choose every key, and must not be able to aim them at one slot.
//
// The arrays are allocated from the runtime's heap (TLSF, `--runtime minimal`; nothing here is a
// managed object) and grow by reallocation; the memory itself grows in place, so a growing index is
// never a large JavaScript allocation for the collector to account for.

const NIL: i32 = -1;
const EMPTY: i32 = -1;

// page record fields (words)
const PG: i32 = 8;
const P_OBJ: i32 = 0;
const P_INDEX: i32 = 1;
const P_WHERE: i32 = 2;
const P_OBJ_NEXT: i32 = 3;
const P_OBJ_PREV: i32 = 4;
const P_CLI_NEXT: i32 = 5;
const P_CLI_PREV: i32 = 6;
const P_STAMP: i32 = 7;

// object record fields (words)
const OB: i32 = 16;
const O_POOL: i32 = 0;
const O_OID: i32 = 1;
const O_FIRST: i32 = 7;
const O_PAGES: i32 = 8;
const O_LAST_CLIENT: i32 = 9;
const O_POOL_NEXT: i32 = 10;
const O_POOL_PREV: i32 = 11;
/** The object's hash, kept so nothing recomputes it (page hashes derive from it). */
const O_HASH: i32 = 12;

/** Page records an index makes room for at first (32 KiB of them); it grows past them as pages are stored. */
const FIRST_PAGES: i32 = 1024;
/**
 * How much a full record array grows by. 1.25, not 1.5 or 2: a record array may sit this much
 * above what it holds, and with the page table (at most 8/3 slots a page after it doubles, 5 bytes
 * a slot) and the objects' records, 1.25 keeps a page's metadata under 64 bytes at the worst
 * point (32 × 1.25 + 13.3 + 64 / 16 × 1.25 + the object table: about 59 bytes for 16-page objects)
 * where 1.5 could pass it. The price is copying: a record is copied about four times on average
 * as its array grows (once at 2).
 */
function grownCapacity(cap: i32): i32 {
  return cap + ((cap + 3) >> 2);
}

/**
 * An index sized for at least this many pages (a store of 256 MiB or more) has its memory grown
 * once, in init, to what that many pages' metadata can take (RESERVE_BYTES_PER_PAGE each, the
 * budget), and its arrays then grow inside it: a grow of the memory itself later, in the middle
 * of a hypercall, is what would make V8 collect (frame-store.ts's WHOLE_SLABS_FROM_FRAMES says
 * why). The system backs a page of the reserve only when an array first uses it.
 */
const RESERVE_FROM_PAGES: i32 = 1 << 16;
/** The most pages reserved for (4 GiB of frames): a larger store's index grows past its reserve. */
const RESERVE_AT_MOST_PAGES: i32 = 1 << 20;
const RESERVE_BYTES_PER_PAGE: usize = 64;

/** Distances past this are kept as this in the distance byte (and worked out from the hash when needed). */
const DIST_SATURATED: i32 = 255;

// ---------------------------------------------------------------- state

let pg: usize = 0; // page records
let pgCap: i32 = 0;
let pgFree: i32 = NIL;
let pgNextId: i32 = 0;
let ob: usize = 0; // object records
let obCap: i32 = 0;
let obFree: i32 = NIL;
let obNextId: i32 = 0;
let pageSlots: usize = 0;
let pageDist: usize = 0; // one byte a page slot: its distance from home (0 for an empty slot)
let pageSlotCount: i32 = 0;
let objectSlots: usize = 0;
let objectSlotCount: i32 = 0;
let poolFirst: usize = 0; // head of each pool handle's object list
let poolCount: i32 = 0;
let cliHead: usize = 0; // each client's ephemeral LRU (head = oldest), by client slot
let cliTail: usize = 0;
let cliCount: i32 = 0;
let clock: i32 = 0;
/**
 * The page locatePage found last and its page-table slot: removing that page (a flush, an
 * exclusive get) starts from the slot instead of hashing and probing again. Checked before use
 * (slots[foundSlot] === page): anything that moved it since just means a fresh probe.
 */
let foundPage: i32 = NIL;
let foundSlot: i32 = 0;
/** The object findObject returned last (a freed record has pool -1, so it never matches). */
let lastObject: i32 = NIL;
let liveObjects: i32 = 0;
let livePages: i32 = 0;
let hashKey: i32 = 0;
let wk0: i32 = 0;
let wk1: i32 = 0;
let wk2: i32 = 0;
let wk3: i32 = 0;
let wk4: i32 = 0;
let wk5: i32 = 0;
/** Six words holding the oid of the call that takes one. */
const OID_WORDS: i32 = 6;
let oidArg: usize = 0;
/** Where warmNextPage leaves what it read, so the read is not optimised away. */
let warmSink: i32 = 0;

// ---------------------------------------------------------------- memory

@inline function ld(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}
@inline function st(base: usize, i: i32, v: i32): void {
  store<i32>(base + (<usize>i << 2), v);
}

/** `words` int32s, each -1. */
function allocFilled(words: i32): usize {
  const p = heap.alloc(<usize>words << 2);
  memory.fill(p, 0xff, <usize>words << 2);
  return p;
}

/** `a` (holding `oldWords`) grown to `newWords`, the new words -1. */
function grow(a: usize, oldWords: i32, newWords: i32): usize {
  const p = heap.realloc(a, <usize>newWords << 2);
  memory.fill(p + (<usize>oldWords << 2), 0xff, <usize>(newWords - oldWords) << 2);
  return p;
}

function tableSlotsFor(entries: i32): i32 {
  let cap = 64;
  while (cap * 3 < entries * 4) cap *= 2; // load factor <= 0.75
  return cap;
}

/**
 * Murmur3's finaliser: every input bit reaches every output bit.
 */
@inline function mix(h: i32): i32 {
  h ^= <i32>(<u32>h >> 16);
  h *= 0x85ebca6b;
  h ^= <i32>(<u32>h >> 13);
  h *= 0xc2b2ae35;
  h ^= <i32>(<u32>h >> 16);
  return h;
}

function freeAll(): void {
  if (pg != 0) {
    heap.free(pg);
    heap.free(ob);
    heap.free(pageSlots);
    heap.free(pageDist);
    heap.free(objectSlots);
    heap.free(poolFirst);
    heap.free(cliHead);
    heap.free(cliTail);
    pg = 0;
  }
}

/**
 * Makes the index empty, sized for `expectedPages` (the frame store's capacity; it sizes for at
 * most FIRST_PAGES of them and grows with what is stored), with hash key `key`.
 */
export function init(expectedPages: i32, key: i32): void {
  freeAll();
  if (oidArg == 0) oidArg = heap.alloc(<usize>OID_WORDS << 2);
  if (expectedPages >= RESERVE_FROM_PAGES) heap.free(heap.alloc(<usize>min(expectedPages, RESERVE_AT_MOST_PAGES) * RESERVE_BYTES_PER_PAGE));
  hashKey = key;
  wk0 = mix(key + 1 * 0x9e3779b9);
  wk1 = mix(key + 2 * 0x9e3779b9);
  wk2 = mix(key + 3 * 0x9e3779b9);
  wk3 = mix(key + 4 * 0x9e3779b9);
  wk4 = mix(key + 5 * 0x9e3779b9);
  wk5 = mix(key + 6 * 0x9e3779b9);
  pgCap = max(64, min(expectedPages, FIRST_PAGES));
  obCap = max(64, pgCap >>> 3);
  pg = allocFilled(pgCap * PG);
  ob = allocFilled(obCap * OB);
  pageSlotCount = tableSlotsFor(pgCap);
  pageSlots = allocFilled(pageSlotCount);
  pageDist = heap.alloc(<usize>pageSlotCount);
  memory.fill(pageDist, 0, <usize>pageSlotCount);
  objectSlotCount = tableSlotsFor(obCap);
  objectSlots = allocFilled(objectSlotCount);
  poolCount = 16;
  poolFirst = allocFilled(poolCount);
  cliCount = 8;
  cliHead = allocFilled(cliCount);
  cliTail = allocFilled(cliCount);
  pgFree = NIL;
  pgNextId = 0;
  obFree = NIL;
  obNextId = 0;
  clock = 0;
  foundPage = NIL;
  foundSlot = 0;
  lastObject = NIL;
  liveObjects = 0;
  livePages = 0;
}

export function objects(): i32 {
  return liveObjects;
}

export function pages(): i32 {
  return livePages;
}

/** Bytes of metadata held (every array, at its allocated size), for the memory budget. */
export function sizeBytes(): i32 {
  return (pgCap * PG + obCap * OB + pageSlotCount + objectSlotCount + poolCount + 2 * cliCount) * 4 + pageSlotCount;
}

// ---------------------------------------------------------------- record fields

export function whereOf(p: i32): i32 {
  return ld(pg, p * PG + P_WHERE);
}
export function objectOf(p: i32): i32 {
  return ld(pg, p * PG + P_OBJ);
}
export function indexOf(p: i32): i32 {
  return ld(pg, p * PG + P_INDEX);
}
export function nextInObject(p: i32): i32 {
  return ld(pg, p * PG + P_OBJ_NEXT);
}
export function poolOf(o: i32): i32 {
  return ld(ob, o * OB + O_POOL);
}
export function firstPage(o: i32): i32 {
  return ld(ob, o * OB + O_FIRST);
}
export function pagesIn(o: i32): i32 {
  return ld(ob, o * OB + O_PAGES);
}
export function lastClient(o: i32): i32 {
  return ld(ob, o * OB + O_LAST_CLIENT);
}
export function setLastClient(o: i32, domid: i32): void {
  st(ob, o * OB + O_LAST_CLIENT, domid);
}
export function firstObject(poolHandle: i32): i32 {
  return ld(poolFirst, poolHandle);
}
export function nextObject(o: i32): i32 {
  return ld(ob, o * OB + O_POOL_NEXT);
}
/** Where the object's six id words are (valid until the next call that may grow the records). */
export function oidAt(o: i32): usize {
  return ob + (<usize>(o * OB + O_OID) << 2);
}
export function lruHead(cliSlot: i32): i32 {
  return ld(cliHead, cliSlot);
}
export function lruNext(p: i32): i32 {
  return ld(pg, p * PG + P_CLI_NEXT);
}
/** True if the page is on a client's LRU list. */
export function onLru(p: i32, cliSlot: i32): bool {
  const b = p * PG;
  return ld(pg, b + P_CLI_PREV) != NIL || ld(pg, b + P_CLI_NEXT) != NIL || ld(cliHead, cliSlot) == p;
}

export function ensurePoolHandle(handle: i32): void {
  if (handle >= poolCount) {
    const n = max(handle + 1, poolCount * 2);
    poolFirst = grow(poolFirst, poolCount, n);
    poolCount = n;
  }
}

export function ensureClientSlot(slot: i32): void {
  if (slot >= cliCount) {
    const n = max(slot + 1, cliCount * 2);
    cliHead = grow(cliHead, cliCount, n);
    cliTail = grow(cliTail, cliCount, n);
    cliCount = n;
  }
}

// ---------------------------------------------------------------- objects

/** The hash of (pool, the oid at `o`). */
function objectHash(pool: i32, o: usize): i32 {
  // Murmur3's block step over the pool and the six oid words, each word first through a keyed
  // bijection that spreads any difference over the whole word (Murmur3's finaliser of the word
  // XOR a key of its own), so how two oids' words differ reaches the state as a difference that
  // depends on the key. Murmur3's own seed, which enters only the start, leaves collisions that
  // hold for every seed (fuzz/oid-families.ts builds them: 32 oids a family); adding the key to
  // each word changes a word's difference only through carries, and the same families still
  // collided under about one key in 60 (test/security/hash-flooding.test.ts).
  let h = (pool ^ hashKey) * 0xcc9e2d51;
  h = objectStep(h, load<i32>(o, 0), wk0);
  h = objectStep(h, load<i32>(o, 4), wk1);
  h = objectStep(h, load<i32>(o, 8), wk2);
  h = objectStep(h, load<i32>(o, 12), wk3);
  h = objectStep(h, load<i32>(o, 16), wk4);
  h = objectStep(h, load<i32>(o, 20), wk5);
  return mix(h);
}

@inline function objectStep(h: i32, word: i32, wordKey: i32): i32 {
  h ^= mix(word ^ wordKey);
  return rotl<i32>(h, 13) * 5 + 0xe6546b64;
}

@inline function sameKey(o: i32, poolHandle: i32, oid: usize): bool {
  const b = ob + (<usize>(o * OB) << 2);
  return (
    load<i32>(b) == poolHandle &&
    load<i32>(b, 4) == load<i32>(oid, 0) &&
    load<i32>(b, 8) == load<i32>(oid, 4) &&
    load<i32>(b, 12) == load<i32>(oid, 8) &&
    load<i32>(b, 16) == load<i32>(oid, 12) &&
    load<i32>(b, 20) == load<i32>(oid, 16) &&
    load<i32>(b, 24) == load<i32>(oid, 20)
  );
}

/** The oid words o0..o5, kept where the calls that take an oid read it. */
@inline function setOid(o0: i32, o1: i32, o2: i32, o3: i32, o4: i32, o5: i32): void {
  store<i32>(oidArg, o0, 0);
  store<i32>(oidArg, o1, 4);
  store<i32>(oidArg, o2, 8);
  store<i32>(oidArg, o3, 12);
  store<i32>(oidArg, o4, 16);
  store<i32>(oidArg, o5, 20);
}

/** The object (poolHandle, oid o0..o5), or -1. */
export function findObject(poolHandle: i32, o0: i32, o1: i32, o2: i32, o3: i32, o4: i32, o5: i32): i32 {
  setOid(o0, o1, o2, o3, o4, o5);
  return findObjectHashed(poolHandle, oidArg, 0, false);
}

function findObjectHashed(poolHandle: i32, oid: usize, hash: i32, hashed: bool): i32 {
  // Front ends work an object at a time (a file's pages, frontswap's 16 pages an object): the
  // last object found is checked first, against its record, which is still in cache.
  const last = lastObject;
  if (last != NIL && sameKey(last, poolHandle, oid)) return last;
  const mask = objectSlotCount - 1;
  for (let i = (hashed ? hash : objectHash(poolHandle, oid)) & mask; ; i = (i + 1) & mask) {
    const o = ld(objectSlots, i);
    if (o == EMPTY) return NIL;
    if (sameKey(o, poolHandle, oid)) {
      lastObject = o;
      return o;
    }
  }  return NIL; // not reached: a table is never full
}

/** A new object (poolHandle, oid o0..o5), which must not exist yet. */
export function createObject(poolHandle: i32, o0: i32, o1: i32, o2: i32, o3: i32, o4: i32, o5: i32): i32 {
  setOid(o0, o1, o2, o3, o4, o5);
  let o = obFree;
  if (o != NIL) obFree = ld(ob, o * OB + O_POOL_NEXT);
  else {
    if (obNextId == obCap) {
      const n = grownCapacity(obCap);
      ob = grow(ob, obCap * OB, n * OB);
      obCap = n;
    }
    o = obNextId++;
  }
  const b = o * OB;
  st(ob, b + O_POOL, poolHandle);
  for (let i = 0; i < 6; i++) st(ob, b + O_OID + i, load<i32>(oidArg + (<usize>i << 2)));
  st(ob, b + O_HASH, objectHash(poolHandle, oidArg));
  st(ob, b + O_FIRST, NIL);
  st(ob, b + O_PAGES, 0);
  st(ob, b + O_LAST_CLIENT, NIL);
  const head = ld(poolFirst, poolHandle);
  st(ob, b + O_POOL_PREV, NIL);
  st(ob, b + O_POOL_NEXT, head);
  if (head != NIL) st(ob, head * OB + O_POOL_PREV, o);
  st(poolFirst, poolHandle, o);
  if ((liveObjects + 1) * 4 > objectSlotCount * 3) rehashObjects(objectSlotCount * 2, o);
  placeObject(o);
  liveObjects++;
  return o;
}

function destroyObject(o: i32): void {
  const b = o * OB;
  const pool = ld(ob, b + O_POOL);
  unslotObject(o);
  const prev = ld(ob, b + O_POOL_PREV);
  const next = ld(ob, b + O_POOL_NEXT);
  if (prev != NIL) st(ob, prev * OB + O_POOL_NEXT, next);
  else st(poolFirst, pool, next);
  if (next != NIL) st(ob, next * OB + O_POOL_PREV, prev);
  st(ob, b + O_POOL, NIL);
  st(ob, b + O_POOL_NEXT, obFree);
  obFree = o;
  liveObjects--;
}

// ---------------------------------------------------------------- pages

@inline function pageHash(objectHashValue: i32, index: i32): i32 {
  return mix(objectHashValue ^ ((index ^ 0x7f4a7c15) * 0x85ebca77));
}

/**
 * The page (poolHandle, oid o0..o5, index), or -1 (its object is objectOf(page);
 * findObject, which checks the object found here first, answers for a missing page's object at
 * once). Both tables are probed before either answer is looked at, so the two cache misses overlap.
 */
export function locatePage(poolHandle: i32, o0: i32, o1: i32, o2: i32, o3: i32, o4: i32, o5: i32, index: i32): i32 {
  setOid(o0, o1, o2, o3, o4, o5);
  return locate(poolHandle, oidArg, index);
}

/** locatePage with the oid at `oid` in this memory. */
function locate(poolHandle: i32, oid: usize, index: i32): i32 {
  const oh = objectHash(poolHandle, oid);
  const pMask = pageSlotCount - 1;
  let pi = pageHash(oh, index) & pMask;
  let p = ld(pageSlots, pi);
  // Touch the first candidate's record now, so its miss overlaps the object lookup's.
  let candidateObj = p == EMPTY ? NIL : ld(pg, p * PG + P_OBJ);
  const o = findObjectHashed(poolHandle, oid, oh, true);
  if (o == NIL) return NIL;
  for (;;) {
    if (p == EMPTY) return NIL;
    if (candidateObj == o && ld(pg, p * PG + P_INDEX) == index) {
      foundPage = p;
      foundSlot = pi;
      return p;
    }
    pi = (pi + 1) & pMask;
    p = ld(pageSlots, pi);
    candidateObj = p == EMPTY ? NIL : ld(pg, p * PG + P_OBJ);
  }  return NIL; // not reached: a table is never full
}

/**
 * Reads the record the next addPage will fill, so that cache miss overlaps whatever the caller
 * does next (a put copies its page meanwhile).
 */
export function warmNextPage(): void {
  const p = pgFree;
  if (p != NIL) warmSink = ld(pg, p * PG + P_OBJ_NEXT);
}

export function findPage(o: i32, index: i32): i32 {
  const mask = pageSlotCount - 1;
  for (let i = pageHash(ld(ob, o * OB + O_HASH), index) & mask; ; i = (i + 1) & mask) {
    const p = ld(pageSlots, i);
    if (p == EMPTY) return NIL;
    if (ld(pg, p * PG + P_OBJ) == o && ld(pg, p * PG + P_INDEX) == index) return p;
  }  return NIL; // not reached: a table is never full
}

/** `cliSlot` is the client charged for an ephemeral page (-1 for a persistent one). */
export function addPage(o: i32, index: i32, where: i32, cliSlot: i32): i32 {
  let p = pgFree;
  if (p != NIL) pgFree = ld(pg, p * PG + P_OBJ_NEXT);
  else {
    if (pgNextId == pgCap) {
      const n = grownCapacity(pgCap);
      pg = grow(pg, pgCap * PG, n * PG);
      pgCap = n;
    }
    p = pgNextId++;
  }
  const b = p * PG;
  st(pg, b + P_OBJ, o);
  st(pg, b + P_INDEX, index);
  st(pg, b + P_WHERE, where);
  const obb = o * OB;
  const first = ld(ob, obb + O_FIRST);
  st(pg, b + P_OBJ_PREV, NIL);
  st(pg, b + P_OBJ_NEXT, first);
  if (first != NIL) st(pg, first * PG + P_OBJ_PREV, p);
  st(ob, obb + O_FIRST, p);
  st(ob, obb + O_PAGES, ld(ob, obb + O_PAGES) + 1);
  st(pg, b + P_CLI_NEXT, NIL);
  st(pg, b + P_CLI_PREV, NIL);
  if (cliSlot != NIL) cliAppend(p, cliSlot);
  if ((livePages + 1) * 4 > pageSlotCount * 3) rehashPages(pageSlotCount * 2, p);
  placePage(p);
  livePages++;
  return p;
}

/**
 * Unlinks page `p` everywhere (the object goes with its last page) and returns where its bytes
 * are, which the caller frees. `cliSlot`: the client whose LRU holds it, -1 if persistent.
 */
export function removePage(p: i32, cliSlot: i32): i32 {
  const b = p * PG;
  const o = ld(pg, b + P_OBJ);
  unslotPage(p);
  const prev = ld(pg, b + P_OBJ_PREV);
  const next = ld(pg, b + P_OBJ_NEXT);
  if (prev != NIL) st(pg, prev * PG + P_OBJ_NEXT, next);
  else st(ob, o * OB + O_FIRST, next);
  if (next != NIL) st(pg, next * PG + P_OBJ_PREV, prev);
  if (cliSlot != NIL) cliUnlink(p, cliSlot);
  const left = ld(ob, o * OB + O_PAGES) - 1;
  st(ob, o * OB + O_PAGES, left);
  if (left == 0) destroyObject(o);
  const where = ld(pg, b + P_WHERE);
  st(pg, b + P_OBJ, NIL);
  st(pg, b + P_WHERE, NIL);
  st(pg, b + P_OBJ_NEXT, pgFree);
  pgFree = p;
  livePages--;
  return where;
}

/** Moves an ephemeral page to the most-recently-used end of its client's list. */
export function lruTouch(p: i32, cliSlot: i32): void {
  if (ld(cliTail, cliSlot) != p) {
    cliUnlink(p, cliSlot);
    cliAppend(p, cliSlot);
  } else {
    clock++;
    st(pg, p * PG + P_STAMP, clock);
  }
}

/** Charges an ephemeral page to another client (a shared pool changed owner). */
export function moveToClient(p: i32, from: i32, to: i32): void {
  cliUnlink(p, from);
  cliAppend(p, to);
}

/** True if `a` was used before `b` (stamps wrap; live pages span far less than 2^31 uses). */
export function olderThan(a: i32, b: i32): bool {
  return ld(pg, a * PG + P_STAMP) - ld(pg, b * PG + P_STAMP) < 0;
}

function cliAppend(p: i32, c: i32): void {
  const tail = ld(cliTail, c);
  st(pg, p * PG + P_CLI_PREV, tail);
  st(pg, p * PG + P_CLI_NEXT, NIL);
  if (tail != NIL) st(pg, tail * PG + P_CLI_NEXT, p);
  else st(cliHead, c, p);
  st(cliTail, c, p);
  clock++;
  st(pg, p * PG + P_STAMP, clock);
}

function cliUnlink(p: i32, c: i32): void {
  const prev = ld(pg, p * PG + P_CLI_PREV);
  const next = ld(pg, p * PG + P_CLI_NEXT);
  if (prev != NIL) st(pg, prev * PG + P_CLI_NEXT, next);
  else st(cliHead, c, next);
  if (next != NIL) st(pg, next * PG + P_CLI_PREV, prev);
  else st(cliTail, c, prev);
  st(pg, p * PG + P_CLI_PREV, NIL);
  st(pg, p * PG + P_CLI_NEXT, NIL);
}

// ---------------------------------------------------------------- tables

/** Page `p`'s hash. */
export function pageHashOf(p: i32): i32 {
  return pageHash(ld(ob, ld(pg, p * PG + P_OBJ) * OB + O_HASH), ld(pg, p * PG + P_INDEX));
}

/** Object `o`'s hash. */
export function objectHashOf(o: i32): i32 {
  return ld(ob, o * OB + O_HASH);
}

/** The hash of (pool, oid o0..o5), as the object table places it. */
export function hashObject(pool: i32, o0: i32, o1: i32, o2: i32, o3: i32, o4: i32, o5: i32): i32 {
  setOid(o0, o1, o2, o3, o4, o5);
  return objectHash(pool, oidArg);
}
/** The hash of page `index` of an object whose hash is `objectHashValue`. */
export function hashPage(objectHashValue: i32, index: i32): i32 {
  return pageHash(objectHashValue, index);
}

// Where the tables are and how long (valid until the next call that may grow them), for oracles
// that read them whole.
export function pageSlotsAt(): usize {
  return pageSlots;
}
export function pageDistAt(): usize {
  return pageDist;
}
export function pageSlotsLength(): i32 {
  return pageSlotCount;
}
export function objectSlotsAt(): usize {
  return objectSlots;
}
export function objectSlotsLength(): i32 {
  return objectSlotCount;
}

function placeObject(o: i32): void {
  const mask = objectSlotCount - 1;
  let i = ld(ob, o * OB + O_HASH) & mask;
  while (ld(objectSlots, i) != EMPTY) i = (i + 1) & mask;
  st(objectSlots, i, o);
}

function placePage(id: i32): void {
  // Robin Hood: an entry further from its home takes the slot of one nearer to its own, so each
  // run stays ordered by distance and removal can shift back by distances alone. A distance past
  // the byte's range is kept as DIST_SATURATED and, where it decides anything, worked out from the
  // occupant's hash; a longer run (only colliding keys make one) is never a reason to grow the
  // table, which could not spread keys whose whole hashes are equal.
  const mask = pageSlotCount - 1;
  let i = pageHashOf(id) & mask;
  let cur = id;
  let d = 0;
  for (;;) {
    const occupant = ld(pageSlots, i);
    if (occupant == EMPTY) {
      st(pageSlots, i, cur);
      store<u8>(pageDist + <usize>i, <u8>min(d, DIST_SATURATED));
      return;
    }
    const stored = <i32>load<u8>(pageDist + <usize>i);
    const od = stored < DIST_SATURATED ? stored : trueDistance(i, occupant, mask);
    if (od < d) {
      st(pageSlots, i, cur);
      store<u8>(pageDist + <usize>i, <u8>min(d, DIST_SATURATED));
      cur = occupant;
      d = od;
    }
    i = (i + 1) & mask;
    d++;
  }
}

/** How far page `p`, in slot `i`, sits from its home slot. */
function trueDistance(i: i32, p: i32, mask: i32): i32 {
  return (i - pageHashOf(p)) & mask;
}

/**
 * Removes page `id` from the page table and shifts later members of its run back, by distances
 * alone: no hashing, no other record read (but for a saturated distance, which only colliding keys
 * make). No tombstones.
 */
function unslotPage(id: i32): void {
  const mask = pageSlotCount - 1;
  let i = foundPage == id && ld(pageSlots, foundSlot) == id ? foundSlot : pageHashOf(id) & mask;
  while (ld(pageSlots, i) != id) {
    if (ld(pageSlots, i) == EMPTY) unreachable(); // a broken invariant: the record is not in its table
    i = (i + 1) & mask;
  }
  let hole = i;
  for (let j = (i + 1) & mask; ld(pageSlots, j) != EMPTY; j = (j + 1) & mask) {
    const dj = <i32>load<u8>(pageDist + <usize>j);
    if (dj == 0) break;
    const moved = ld(pageSlots, j);
    st(pageSlots, hole, moved);
    store<u8>(pageDist + <usize>hole, <u8>(dj < DIST_SATURATED ? dj - 1 : min(trueDistance(j, moved, mask) - 1, DIST_SATURATED)));
    hole = j;
  }
  st(pageSlots, hole, EMPTY);
  store<u8>(pageDist + <usize>hole, 0);
}

function unslotObject(id: i32): void {
  const mask = objectSlotCount - 1;
  let i = ld(ob, id * OB + O_HASH) & mask;
  while (ld(objectSlots, i) != id) {
    if (ld(objectSlots, i) == EMPTY) unreachable();
    i = (i + 1) & mask;
  }
  let hole = i;
  for (let j = (i + 1) & mask; ld(objectSlots, j) != EMPTY; j = (j + 1) & mask) {
    const home = ld(ob, ld(objectSlots, j) * OB + O_HASH) & mask;
    if (((hole - home) & mask) <= ((j - home) & mask)) {
      st(objectSlots, hole, ld(objectSlots, j));
      hole = j;
    }
  }
  st(objectSlots, hole, EMPTY);
}

// A table grows while a guest waits on a put: this is its pause. Records are placed in record
// order, not the old table's: placing a record reads it (and a page's object) for its hash, and
// records read in order come from memory in order, where the old table's order makes each read a
// cache miss.

/** Makes the page table `capacity` slots and places every page in it but `adding`, which the caller places next. */
function rehashPages(capacity: i32, adding: i32): void {
  heap.free(pageSlots);
  heap.free(pageDist);
  pageSlotCount = capacity;
  pageSlots = allocFilled(capacity);
  pageDist = heap.alloc(<usize>capacity);
  memory.fill(pageDist, 0, <usize>capacity);
  for (let id = 0; id < pgNextId; id++) if (id != adding && ld(pg, id * PG + P_OBJ) != NIL) placePage(id);
}

/** Makes the object table `capacity` slots and places every object in it but `adding`. */
function rehashObjects(capacity: i32, adding: i32): void {
  heap.free(objectSlots);
  objectSlotCount = capacity;
  objectSlots = allocFilled(capacity);
  for (let id = 0; id < obNextId; id++) if (id != adding && ld(ob, id * OB + O_POOL) != NIL) placeObject(id);
}

// The record arrays and the use clock, for white-box tests (the addresses are valid until the
// next call that may grow the records).
export function pageRecordsAt(): usize {
  return pg;
}
export function pageRecordCapacity(): i32 {
  return pgCap;
}
export function objectRecordsAt(): usize {
  return ob;
}
export function objectRecordCapacity(): i32 {
  return obCap;
}
export function useClock(): i32 {
  return clock;
}
export function setUseClock(value: i32): void {
  clock = value;
}
