// The object and page metadata of every pool: which (pool, oid) objects exist, which (object,
// index) pages they hold, the frame each page's data sits in, and the ephemeral LRU order.
// Struct-of-arrays records with free lists; lookups through KeyTable. It knows structure only;
// the rules of put/get/flush live in tmem.ts.
import { KeyTable } from "./key-table.js";

const NIL = -1;

function grownInt32(a: Int32Array, n: number, fill = NIL): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n).fill(fill);
  b.set(a);
  return b;
}

function grownUint32(a: Uint32Array, n: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}

export class PageIndex {
  private readonly objectTable = new KeyTable(7);
  private readonly pageTable = new KeyTable(2);

  // ---- object records ----
  private obCap = 256;
  private obFree = NIL;
  private obNextId = 0;
  obPool = new Int32Array(this.obCap).fill(NIL);
  obOid = new Uint32Array(this.obCap * 6);
  obFirstPage = new Int32Array(this.obCap).fill(NIL);
  obPages = new Int32Array(this.obCap);
  /** Domain that last put or got a page of the object (shared-pool destroy needs it). */
  obLastClient = new Int32Array(this.obCap).fill(NIL);
  obPoolNext = new Int32Array(this.obCap).fill(NIL);
  obPoolPrev = new Int32Array(this.obCap).fill(NIL);
  /** Head of each pool handle's object list. */
  poolFirstObject = new Int32Array(16).fill(NIL);

  // ---- page records ----
  private pgCap = 1024;
  private pgFree = NIL;
  private pgNextId = 0;
  pgObj = new Int32Array(this.pgCap).fill(NIL);
  pgIndex = new Uint32Array(this.pgCap);
  pgFrame = new Int32Array(this.pgCap).fill(NIL);
  pgObjNext = new Int32Array(this.pgCap).fill(NIL);
  pgObjPrev = new Int32Array(this.pgCap).fill(NIL);
  /** Ephemeral LRU: head is the oldest page. Persistent pages are never on it. */
  pgLruNext = new Int32Array(this.pgCap).fill(NIL);
  pgLruPrev = new Int32Array(this.pgCap).fill(NIL);
  lruHead = NIL;
  lruTail = NIL;
  /** Each client's own ephemeral LRU, by client slot: weighted eviction takes from these. */
  pgCliNext = new Int32Array(this.pgCap).fill(NIL);
  pgCliPrev = new Int32Array(this.pgCap).fill(NIL);
  /** The client slot whose list a page is on. */
  pgCli = new Int32Array(this.pgCap).fill(NIL);
  cliHead = new Int32Array(8).fill(NIL);
  cliTail = new Int32Array(8).fill(NIL);
  private liveObjects = 0;
  private livePages = 0;

  get objects(): number {
    return this.liveObjects;
  }

  get pages(): number {
    return this.livePages;
  }

  /** Bytes of metadata held, for the memory budget. */
  get sizeBytes(): number {
    const ob = this.obCap * (4 * 8 + 4 * 6 - 4);
    const pg = this.pgCap * 4 * 10;
    return ob + pg + this.objectTable.sizeBytes + this.pageTable.sizeBytes + this.poolFirstObject.byteLength;
  }

  ensurePoolHandle(handle: number): void {
    if (handle >= this.poolFirstObject.length) {
      this.poolFirstObject = grownInt32(this.poolFirstObject, Math.max(handle + 1, this.poolFirstObject.length * 2));
    }
  }

  /** The object (poolHandle, oid words), or -1. */
  findObject(poolHandle: number, oid: Uint32Array): number {
    const p = this.objectTable.probe;
    p[0] = poolHandle;
    p[1] = oid[0]; p[2] = oid[1]; p[3] = oid[2]; p[4] = oid[3]; p[5] = oid[4]; p[6] = oid[5];
    return this.objectTable.find();
  }

  createObject(poolHandle: number, oid: Uint32Array): number {
    let ob = this.obFree;
    if (ob !== NIL) this.obFree = this.obPoolNext[ob];
    else {
      if (this.obNextId === this.obCap) this.growObjects();
      ob = this.obNextId++;
    }
    this.obPool[ob] = poolHandle;
    this.obOid.set(oid, ob * 6);
    this.obFirstPage[ob] = NIL;
    this.obPages[ob] = 0;
    this.obLastClient[ob] = NIL;
    const head = this.poolFirstObject[poolHandle];
    this.obPoolPrev[ob] = NIL;
    this.obPoolNext[ob] = head;
    if (head !== NIL) this.obPoolPrev[head] = ob;
    this.poolFirstObject[poolHandle] = ob;
    const p = this.objectTable.probe;
    p[0] = poolHandle;
    for (let i = 0; i < 6; i++) p[1 + i] = oid[i];
    this.objectTable.insert(ob);
    this.liveObjects++;
    return ob;
  }

  private destroyObject(ob: number): void {
    const pool = this.obPool[ob];
    const p = this.objectTable.probe;
    p[0] = pool;
    for (let i = 0; i < 6; i++) p[1 + i] = this.obOid[ob * 6 + i];
    this.objectTable.remove();
    const prev = this.obPoolPrev[ob];
    const next = this.obPoolNext[ob];
    if (prev !== NIL) this.obPoolNext[prev] = next;
    else this.poolFirstObject[pool] = next;
    if (next !== NIL) this.obPoolPrev[next] = prev;
    this.obPool[ob] = NIL;
    this.obPoolNext[ob] = this.obFree;
    this.obFree = ob;
    this.liveObjects--;
  }

  findPage(ob: number, index: number): number {
    const p = this.pageTable.probe;
    p[0] = ob;
    p[1] = index;
    return this.pageTable.find();
  }

  ensureClientSlot(slot: number): void {
    if (slot >= this.cliHead.length) {
      const n = Math.max(slot + 1, this.cliHead.length * 2);
      this.cliHead = grownInt32(this.cliHead, n);
      this.cliTail = grownInt32(this.cliTail, n);
    }
  }

  /** `cliSlot` is the client charged for an ephemeral page (-1 for a persistent one). */
  addPage(ob: number, index: number, frame: number, cliSlot: number): number {
    const ephemeral = cliSlot !== NIL;
    let pg = this.pgFree;
    if (pg !== NIL) this.pgFree = this.pgObjNext[pg];
    else {
      if (this.pgNextId === this.pgCap) this.growPages();
      pg = this.pgNextId++;
    }
    this.pgObj[pg] = ob;
    this.pgIndex[pg] = index;
    this.pgFrame[pg] = frame;
    const first = this.obFirstPage[ob];
    this.pgObjPrev[pg] = NIL;
    this.pgObjNext[pg] = first;
    if (first !== NIL) this.pgObjPrev[first] = pg;
    this.obFirstPage[ob] = pg;
    this.obPages[ob]++;
    this.pgLruPrev[pg] = NIL;
    this.pgLruNext[pg] = NIL;
    this.pgCli[pg] = cliSlot;
    if (ephemeral) {
      this.lruAppend(pg);
      this.cliAppend(pg);
    }
    const p = this.pageTable.probe;
    p[0] = ob;
    p[1] = index;
    this.pageTable.insert(pg);
    this.livePages++;
    return pg;
  }

  /**
   * Unlinks page `pg` everywhere (the object goes with its last page) and returns its frame,
   * which the caller frees.
   */
  removePage(pg: number): number {
    const ob = this.pgObj[pg];
    const p = this.pageTable.probe;
    p[0] = ob;
    p[1] = this.pgIndex[pg];
    this.pageTable.remove();
    const prev = this.pgObjPrev[pg];
    const next = this.pgObjNext[pg];
    if (prev !== NIL) this.pgObjNext[prev] = next;
    else this.obFirstPage[ob] = next;
    if (next !== NIL) this.pgObjPrev[next] = prev;
    if (this.pgCli[pg] !== NIL) {
      this.lruUnlink(pg);
      this.cliUnlink(pg);
      this.pgCli[pg] = NIL;
    }
    if (--this.obPages[ob] === 0) this.destroyObject(ob);
    const frame = this.pgFrame[pg];
    this.pgObj[pg] = NIL;
    this.pgFrame[pg] = NIL;
    this.pgObjNext[pg] = this.pgFree;
    this.pgFree = pg;
    this.livePages--;
    return frame;
  }

  /** Moves an ephemeral page to the most-recently-used end of both its lists. */
  lruTouch(pg: number): void {
    if (this.lruTail !== pg) {
      this.lruUnlink(pg);
      this.lruAppend(pg);
    }
    if (this.cliTail[this.pgCli[pg]] !== pg) {
      this.cliUnlink(pg);
      this.cliAppend(pg);
    }
  }

  /** Charges an ephemeral page to another client (a shared pool changed owner). */
  moveToClient(pg: number, cliSlot: number): void {
    this.cliUnlink(pg);
    this.pgCli[pg] = cliSlot;
    this.cliAppend(pg);
  }

  private cliAppend(pg: number): void {
    const c = this.pgCli[pg];
    const tail = this.cliTail[c];
    this.pgCliPrev[pg] = tail;
    this.pgCliNext[pg] = NIL;
    if (tail !== NIL) this.pgCliNext[tail] = pg;
    else this.cliHead[c] = pg;
    this.cliTail[c] = pg;
  }

  private cliUnlink(pg: number): void {
    const c = this.pgCli[pg];
    const prev = this.pgCliPrev[pg];
    const next = this.pgCliNext[pg];
    if (prev !== NIL) this.pgCliNext[prev] = next;
    else this.cliHead[c] = next;
    if (next !== NIL) this.pgCliPrev[next] = prev;
    else this.cliTail[c] = prev;
    this.pgCliPrev[pg] = NIL;
    this.pgCliNext[pg] = NIL;
  }

  private lruAppend(pg: number): void {
    const tail = this.lruTail;
    this.pgLruPrev[pg] = tail;
    this.pgLruNext[pg] = NIL;
    if (tail !== NIL) this.pgLruNext[tail] = pg;
    else this.lruHead = pg;
    this.lruTail = pg;
  }

  private lruUnlink(pg: number): void {
    const prev = this.pgLruPrev[pg];
    const next = this.pgLruNext[pg];
    if (prev !== NIL) this.pgLruNext[prev] = next;
    else this.lruHead = next;
    if (next !== NIL) this.pgLruPrev[next] = prev;
    else this.lruTail = prev;
    this.pgLruPrev[pg] = NIL;
    this.pgLruNext[pg] = NIL;
  }

  private growObjects(): void {
    const n = this.obCap * 2;
    this.obPool = grownInt32(this.obPool, n);
    this.obOid = grownUint32(this.obOid, n * 6);
    this.obFirstPage = grownInt32(this.obFirstPage, n);
    this.obPages = grownInt32(this.obPages, n, 0);
    this.obLastClient = grownInt32(this.obLastClient, n);
    this.obPoolNext = grownInt32(this.obPoolNext, n);
    this.obPoolPrev = grownInt32(this.obPoolPrev, n);
    this.obCap = n;
  }

  private growPages(): void {
    const n = this.pgCap * 2;
    this.pgObj = grownInt32(this.pgObj, n);
    this.pgIndex = grownUint32(this.pgIndex, n);
    this.pgFrame = grownInt32(this.pgFrame, n);
    this.pgObjNext = grownInt32(this.pgObjNext, n);
    this.pgObjPrev = grownInt32(this.pgObjPrev, n);
    this.pgLruNext = grownInt32(this.pgLruNext, n);
    this.pgLruPrev = grownInt32(this.pgLruPrev, n);
    this.pgCliNext = grownInt32(this.pgCliNext, n);
    this.pgCliPrev = grownInt32(this.pgCliPrev, n);
    this.pgCli = grownInt32(this.pgCli, n);
    this.pgCap = n;
  }
}
