// The tmem core: the rules of Xen's tmem (xen/common/tmem.c in spirit) for pools, objects and
// pages, with accounting. It never sees guest memory: a data op brings the guest's bytes and the
// byte offset of the frame the boundary resolved (-1 for a frame that is not guest RAM).
import {
  EEMPTY,
  EFAULT,
  EINVAL,
  ENOSPC,
  EFROZEN,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  EPERM,
  MAX_GLOBAL_SHARED_POOLS,
  MAX_POOLS_PER_DOMAIN,
  TMEM_AUTH,
  TMEM_CONTROL,
  TMEM_DESTROY_POOL,
  TMEM_FLUSH_OBJECT,
  TMEM_FLUSH_PAGE,
  TMEM_GET_PAGE,
  TMEM_NEW_PAGE,
  TMEM_NEW_POOL,
  TMEM_PAGE_SIZE,
  TMEM_READ,
  TMEM_WRITE,
  TMEM_XCHG,
  TMEM_PUT_PAGE,
  TMEM_RESTORE_NEW,
} from "../../hypercall-abi/constants.js";
import { decodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { uuidFromWords } from "../../hypercall-abi/uuid.js";
import { DEFAULT_LAYOUT } from "../../hypercall-abi/op-layouts.js";
import { RULES, type HypervisorRules } from "./rules.js";
import { Tmemc, type GuestBuffer } from "../control/tmemc.js";
import { Client, uuidKey } from "./client.js";
import { FrameStore } from "../store/frame-store.js";
import type { OpArgs } from "./op-args.js";
import { PageIndex } from "./page-index.js";
import { ChunkStore } from "../store/chunk-store.js";
import { Lz4 } from "../store/kernels.js";
import { Pool } from "./pool.js";
import { pageMemory, type PageMemory } from "./page-memory.js";

const NIL = -1;
const ALL_ONES = (1n << 64n) - 1n;
// Where a page's data is, in the page index's frame field: a frame number (>= 0), no frame at all
// for a zero page, or a chunk of the chunk store for a compressed page.
const ZERO_PAGE_LOC = -2;
const chunkLoc = (chunk: number): number => -3 - chunk;
const chunkOf = (where: number): number => -3 - where;

/** The source of NEW_PAGE: a zero-filled page. */
const ZERO_PAGE = pageMemory(new Uint8Array(TMEM_PAGE_SIZE));

/** READ/WRITE offsets: each within a page and each range ending inside it, in exact arithmetic. */
function partialRangeOk(a: OpArgs): boolean {
  return a.tmemOffset <= TMEM_PAGE_SIZE && a.pfnOffset <= TMEM_PAGE_SIZE && a.len <= TMEM_PAGE_SIZE &&
    a.tmemOffset + a.len <= TMEM_PAGE_SIZE && a.pfnOffset + a.len <= TMEM_PAGE_SIZE;
}

export interface TmemOptions {
  /** Frames of page data the host lends to tmem (its capacity). */
  capacityFrames: number;
}

export interface GlobalCounters {
  ops: number;
  errors: number;
  /** Of the errors, -EEMPTY (a get or READ on an empty pool). */
  emptyPoolResults: number;
  evictions: number;
  /** Puts refused because no frame could be found. */
  putsNoMem: number;
  /** Pages held now as zero pages (no frame) and as compressed chunks. */
  zeroPages: number;
  compressedPages: number;
  /** Puts with compression on whose page did not shrink to half a page (stored raw). */
  poorCompression: number;
}

export class Tmem {
  readonly store: FrameStore;
  readonly index: PageIndex;
  readonly counters: GlobalCounters = { ops: 0, errors: 0, emptyPoolResults: 0, evictions: 0, putsNoMem: 0, zeroPages: 0, compressedPages: 0, poorCompression: 0 };
  /** Zero pages cost no frame; this bounds their metadata. */
  private readonly zeroPageLimit: number;
  private chunkStore: ChunkStore | null = null;
  private lz4Kernel: Lz4 | null = null;
  private readonly clientsById = new Map<number, Client>();
  private readonly freeClientSlots: number[] = [];
  private nextClientSlot = 0;
  private readonly poolsByHandle: (Pool | null)[] = [];
  private readonly freeHandles: number[] = [];
  /** The host-wide table of shared pools, looked up by uuid. */
  private readonly sharedPools: (Pool | null)[] = new Array(MAX_GLOBAL_SHARED_POOLS).fill(null);
  /** Xen's global "shared_auth" switch: on = shared pools need no authorisation. Default off. */
  sharedAuthOpen = false;
  /** The control plane's ops (TMEMC_*, AUTH, RESTORE_NEW), on this backend. */
  readonly control: Tmemc = new Tmemc(this);

  constructor(opts: TmemOptions) {
    this.store = new FrameStore(opts.capacityFrames);
    this.index = new PageIndex(opts.capacityFrames);
    this.zeroPageLimit = 2 * opts.capacityFrames + 1024;
  }

  private chunks(): ChunkStore {
    return (this.chunkStore ??= new ChunkStore(this.store));
  }

  private lz4(): Lz4 {
    return (this.lz4Kernel ??= new Lz4());
  }

  get clients(): Iterable<Client> {
    return this.clientsById.values();
  }

  /** The client of `domid`, created on first use as Xen creates it on a domain's first op. */
  client(domid: number, rules: HypervisorRules = RULES[DEFAULT_LAYOUT.generation], privileged = false): Client {
    let c = this.clientsById.get(domid);
    if (!c) {
      const slot = this.freeClientSlots.pop() ?? this.nextClientSlot++;
      this.index.ensureClientSlot(slot);
      c = new Client(slot, domid, rules, privileged);
      this.clientsById.set(domid, c);
    }
    return c;
  }

  findClient(domid: number): Client | undefined {
    return this.clientsById.get(domid);
  }

  /** Every pool alive, each once (a shared pool appears in several clients' tables). */
  pools(): Pool[] {
    return this.poolsByHandle.filter((p): p is Pool => p !== null);
  }

  /**
   * One guest tmem op, after the boundary copied and decoded the struct. Order of checks is
   * Xen 4.12's dispatcher; returns the hypercall result.
   */
  op(client: Client, a: OpArgs, mem: PageMemory, frameOffset: number, buf: GuestBuffer | null = null): number {
    client.ops++;
    this.counters.ops++;
    const r = this.dispatch(client, a, mem, frameOffset, buf);
    if (r < 0) {
      // Counted as Xen's errored ops (TMEMC_LIST's Te), and apart, for the host, as the misses they are.
      client.errors++;
      this.counters.errors++;
      if (r === -EEMPTY) {
        client.emptyPoolResults++;
        this.counters.emptyPoolResults++;
      }
    }
    return r;
  }

  private dispatch(client: Client, a: OpArgs, mem: PageMemory, frameOffset: number, buf: GuestBuffer | null): number {
    const cmd = a.cmd;
    const rules = client.rules;
    if (cmd === TMEM_CONTROL || cmd === TMEM_AUTH || cmd === TMEM_RESTORE_NEW) {
      // Control moved to sysctl in 4.6, auth and restore-new in 4.9. Before that they were guest
      // commands; only a domain the VMM made privileged may issue them (XSA-15's missing check).
      if (!rules.guestControl) return -EOPNOTSUPP;
      if (!client.privileged) return -EPERM;
      if (cmd === TMEM_CONTROL) return this.control.subop(a, buf);
      return cmd === TMEM_AUTH ? this.control.auth(a) : this.control.restoreNew(a);
    }
    if (cmd === TMEM_NEW_POOL) return this.newPool(client, a.flags, a.uuid);
    if (cmd === TMEM_DESTROY_POOL) return this.destroyPool(client, a.poolId);
    const pool = client.pool(a.poolId);
    if (pool === null) return -ENODEV;
    switch (cmd) {
      case TMEM_PUT_PAGE:
        return this.put(client, pool, a.oid, a.index, mem, frameOffset);
      case TMEM_GET_PAGE:
        return this.get(client, pool, a.oid, a.index, mem, frameOffset);
      case TMEM_FLUSH_PAGE:
        return this.flushPage(pool, a.oid, a.index);
      case TMEM_FLUSH_OBJECT:
        return this.flushObject(pool, a.oid);
    }
    if (rules.legacyDataOps) {
      switch (cmd) {
        case TMEM_NEW_PAGE:
          return this.put(client, pool, a.oid, a.index, ZERO_PAGE, 0);
        case TMEM_READ:
          return this.read(client, pool, a, mem, frameOffset);
        case TMEM_WRITE:
          return this.write(client, pool, a, mem, frameOffset);
        case TMEM_XCHG:
          return 0;
      }
    }
    return rules.unknownCommandResult;
  }

  // ---------------------------------------------------------------- pools

  newPool(client: Client, flags: number, uuidWords: Uint32Array): number {
    const f = decodePoolFlags(flags);
    const rules = client.rules;
    if (f.version !== rules.specVersion) return -EPERM;
    if (f.shared && f.persistent && rules.refusesSharedPersistent) return -EPERM;
    if (f.pageSizeField !== 0) return -EPERM;
    if (rules.checksReservedBits && (f.precompressed || f.reserved !== 0)) return -EPERM;
    const slot = client.pools.indexOf(null);
    if (slot < 0) return -EPERM;
    return this.createPoolInSlot(client, slot, flags, uuidWords);
  }

  /** Creates a pool from NEW_POOL's flags and uuid in `slot` (free) of `client`. */
  createPoolInSlot(client: Client, slot: number, flags: number, uuidWords: Uint32Array): number {
    const { persistent } = decodePoolFlags(flags);
    let { shared } = decodePoolFlags(flags);

    const uuid = uuidFromWords(uuidWords);
    // An all-ones uuid, or one this domain is not authorised for, silently gets a private pool.
    if (shared && ((uuid[0] === ALL_ONES && uuid[1] === ALL_ONES) || !this.mayShare(client, uuid))) shared = false;

    if (shared) {
      const existing = this.sharedPoolByUuid(uuid);
      if (existing) {
        // A second slot for a pool the domain already shares adds no second sharer entry.
        existing.sharers.add(client);
        client.pools[slot] = existing;
        return slot;
      }
      const globalSlot = this.sharedPools.indexOf(null);
      // Unlike Xen 4.5-4.12, the caller's slot is not filled before this check, so a refused
      // 17th shared pool leaves no dangling pool behind.
      if (globalSlot < 0) return -EPERM;
      const pool = this.createPool(client, persistent, true, uuid, flags);
      this.sharedPools[globalSlot] = pool;
      client.pools[slot] = pool;
      return slot;
    }
    client.pools[slot] = this.createPool(client, persistent, false, [0n, 0n], flags);
    return slot;
  }

  /**
   * The existing shared pool a NEW_POOL (or a restore) of `client` with these flags and uuid
   * would join, or null if it would get a pool of its own.
   */
  poolToJoin(client: Client, flags: number, uuidWords: Uint32Array): Pool | null {
    if (!decodePoolFlags(flags).shared) return null;
    const uuid = uuidFromWords(uuidWords);
    if ((uuid[0] === ALL_ONES && uuid[1] === ALL_ONES) || !this.mayShare(client, uuid)) return null;
    return this.sharedPoolByUuid(uuid);
  }

  /** The host-wide shared pool table (16 global slots; null = free), for the control plane. */
  get sharedPoolSlots(): readonly (Pool | null)[] {
    return this.sharedPools;
  }

  private sharedPoolByUuid(uuid: readonly [bigint, bigint]): Pool | null {
    return this.sharedPools.find((p) => p !== null && p.uuid[0] === uuid[0] && p.uuid[1] === uuid[1]) ?? null;
  }

  private mayShare(client: Client, uuid: readonly [bigint, bigint]): boolean {
    return this.sharedAuthOpen || client.authorisedUuids.has(uuidKey(uuid));
  }

  private createPool(owner: Client, persistent: boolean, shared: boolean, uuid: readonly [bigint, bigint], flags: number): Pool {
    const handle = this.freeHandles.pop() ?? this.poolsByHandle.length;
    const pool = new Pool(handle, persistent, shared, [uuid[0], uuid[1]], flags, owner);
    pool.sharers.add(owner);
    this.poolsByHandle[handle] = pool;
    this.index.ensurePoolHandle(handle);
    return pool;
  }

  /** DESTROY_POOL: 1 if the slot held a pool, 0 for a bad id or an empty slot. */
  destroyPool(client: Client, poolId: number): number {
    const pool = client.pool(poolId);
    if (pool === null) return 0;
    client.pools[poolId] = null;
    client.destroyedPools[poolId] = pool;
    this.leavePool(client, pool);
    return 1;
  }

  /**
   * `client` stops using `pool`. A private pool is freed; a shared pool loses the objects this
   * client touched last, and is freed with its last sharer.
   */
  private leavePool(client: Client, pool: Pool): void {
    // A domain may hold one shared pool in several slots; it leaves only with the last of them.
    if (client.pools.includes(pool)) return;
    pool.sharers.delete(client);
    if (pool.sharers.size === 0) {
      this.flushPoolObjects(pool, NIL);
      this.poolsByHandle[pool.handle] = null;
      this.freeHandles.push(pool.handle);
      const g = this.sharedPools.indexOf(pool);
      if (g >= 0) this.sharedPools[g] = null;
      return;
    }
    this.flushPoolObjects(pool, client.domid);
    if (pool.owner === client) {
      const heir = pool.sharers.values().next().value!;
      const pages = pool.stats.pages;
      if (pool.persistent) {
        client.persistentPages -= pages;
        heir.persistentPages += pages;
      } else {
        client.ephemeralPages -= pages;
        heir.ephemeralPages += pages;
        this.forEachPageId(pool, (pg) => this.index.moveToClient(pg, client.slot, heir.slot));
      }
      pool.owner = heir;
    }
  }

  /** Flushes every object of `pool`, or only those last touched by `onlyLastClient`. */
  private flushPoolObjects(pool: Pool, onlyLastClient: number): void {
    const ix = this.index;
    let ob = ix.firstObject(pool.handle);
    while (ob !== NIL) {
      const next = ix.nextObject(ob);
      if (onlyLastClient === NIL || ix.lastClient(ob) === onlyLastClient) this.flushObjectRecord(pool, ob);
      ob = next;
    }
  }

  // ---------------------------------------------------------------- pages

  /** PUT_PAGE: 1 on success; see the spec for each error. */
  put(client: Client, pool: Pool, oid: Uint32Array, index: number, mem: PageMemory, frameOffset: number): number {
    const ix = this.index;
    const s = pool.stats;
    s.puts++;
    client.puts++;
    // Xen works on the pool's owner (pool->client), not the caller: the owner's frozen and
    // migrating flags decide, and the owner is recorded as the object's last client. For a
    // private pool they are the same domain; for a shared pool a sharer's put follows the owner.
    const owner = pool.owner;
    const pg = ix.locatePage(pool.handle, oid, index);
    const ob = ix.located;
    if (pg !== NIL) {
      // Duplicate put (allowed when frozen): replace, or flush the old copy if the new one
      // cannot be had, so a get never returns the older data (put-put-get coherency).
      if (frameOffset < 0 || owner.migrating) {
        this.removePage(pool, pg);
        s.dupPutsFlushed++;
        return owner.migrating ? -ENOSPC : -EFAULT;
      }
      const zero = mem.isZero(frameOffset);
      const where = ix.frameOf(pg);
      if (where >= 0 && !zero && !owner.compress) {
        // The common case, a full page over a full page: the same frame, no allocation.
        this.store.copyIn(where, mem.frameView(frameOffset));
        if (pool.ephemeral) ix.lruTouch(pg, owner.slot);
        ix.setLastClient(ob, owner.domid);
        s.dupPutsReplaced++;
        s.putsGood++;
        return 1;
      }
      // Stored differently now (a zero page, compressed): the old copy goes first, so if the new
      // one finds no room the put fails with nothing readable left (-ENOSPC, as Xen).
      this.removePage(pool, pg);
      if (this.storeNew(pool, oid, index, mem, frameOffset, zero, ix.findObject(pool.handle, oid)) !== 1) {
        s.dupPutsFlushed++;
        return -ENOSPC;
      }
      s.dupPutsReplaced++;
      return 1;
    }
    if (owner.frozen) return -EFROZEN;
    if (frameOffset < 0) return -EFAULT;
    if (pool.persistent && owner.persistentPages >= owner.capPages) {
      s.putsNoMem++;
      this.counters.putsNoMem++;
      return -ENOMEM;
    }
    return this.storeNew(pool, oid, index, mem, frameOffset, mem.isZero(frameOffset), ob);
  }

  /**
   * Stores a page that is not in the pool: a zero page without a frame, a compressed page in a
   * chunk (when the owner compresses and it shrinks to half a page or less), or a frame. Evicts
   * ephemeral pages until it fits; -ENOMEM if it cannot.
   */
  private storeNew(pool: Pool, oid: Uint32Array, index: number, mem: PageMemory, frameOffset: number, zero: boolean, found: number): number {
    const ix = this.index;
    const s = pool.stats;
    let where = NIL;
    let evicted = false;
    if (zero && ix.pages < this.zeroPageLimit) {
      where = ZERO_PAGE_LOC;
      this.counters.zeroPages++;
    } else {
      if (pool.owner.compress) {
        const block = this.lz4().compress(mem.frameView(frameOffset), ChunkStore.maxBlockBytes);
        if (block !== null) {
          let chunk = this.chunks().alloc(block.length);
          while (chunk === NIL && this.evictOne()) {
            evicted = true;
            chunk = this.chunks().alloc(block.length);
          }
          if (chunk === NIL) return this.noMemory(pool);
          this.chunks().write(chunk, block);
          where = chunkLoc(chunk);
          this.counters.compressedPages++;
        } else {
          this.counters.poorCompression++;
        }
      }
      if (where === NIL) {
        ix.warmNextPage();
        let frame = this.store.alloc();
        while (frame === NIL && this.evictOne()) {
          evicted = true;
          frame = this.store.alloc();
        }
        if (frame === NIL) return this.noMemory(pool);
        this.store.copyIn(frame, mem.frameView(frameOffset));
        where = frame;
      }
    }
    // An eviction may have taken the last page of this very object.
    let ob = evicted ? ix.findObject(pool.handle, oid) : found;
    if (ob === NIL) {
      ob = ix.createObject(pool.handle, oid);
      s.objects++;
    }
    ix.addPage(ob, index, where, pool.persistent ? NIL : pool.owner.slot);
    ix.setLastClient(ob, pool.owner.domid);
    s.pages++;
    s.putsGood++;
    if (pool.persistent) pool.owner.persistentPages++;
    else pool.owner.ephemeralPages++;
    return 1;
  }

  private noMemory(pool: Pool): number {
    pool.stats.putsNoMem++;
    this.counters.putsNoMem++;
    return -ENOMEM;
  }

  /** GET_PAGE: 1 hit, 0 miss, -EEMPTY for a pool with no pages at all. */
  get(client: Client, pool: Pool, oid: Uint32Array, index: number, mem: PageMemory, frameOffset: number): number {
    const ix = this.index;
    const s = pool.stats;
    s.gets++;
    client.gets++;
    if (s.pages === 0) return -EEMPTY;
    const pg = ix.locatePage(pool.handle, oid, index);
    if (pg === NIL) return 0;
    const ob = ix.located;
    // Checked before anything is unlinked: a get into a bad frame keeps the page (Xen 4.1-4.12
    // unlinked first and leaked it).
    if (frameOffset < 0) return -EFAULT;
    const where = ix.frameOf(pg);
    if (where >= 0) this.store.copyOut(where, mem.bytes, frameOffset);
    else this.loadSpecial(where, mem.frameView(frameOffset));
    s.getsFound++;
    client.hits++;
    if (pool.persistent) return 1;
    if (pool.shared) {
      ix.lruTouch(pg, pool.owner.slot);
      ix.setLastClient(ob, client.domid);
    } else {
      // A private ephemeral get is exclusive: the page now lives in the guest only.
      this.removePage(pool, pg);
    }
    return 1;
  }

  /** Writes a zero page's or a compressed page's bytes into `dst`. */
  private loadSpecial(where: number, dst: Uint8Array): void {
    if (where === ZERO_PAGE_LOC) {
      dst.fill(0);
      return;
    }
    if (!this.lz4().decompressInto(this.chunks().read(chunkOf(where)), dst)) {
      throw new Error(`tmem invariant broken: compressed page in chunk ${chunkOf(where)} does not decompress to a page`);
    }
  }

  /** A page's bytes wherever they are kept (a view for a frame, a fresh array otherwise). */
  private contentOf(where: number): Uint8Array {
    if (where >= 0) return this.store.view(where);
    const page = new Uint8Array(TMEM_PAGE_SIZE);
    this.loadSpecial(where, page);
    return page;
  }

  /**
   * READ (4.0-4.3): `len` bytes of the page from `tmem_offset` into the guest frame at
   * `pfn_offset`; private ephemeral pages go, as with GET. Ranges are checked without wrap-around
   * (CVE-2012-6032): any value over a page, or a range past its end, is -EINVAL.
   */
  private read(client: Client, pool: Pool, a: OpArgs, mem: PageMemory, frameOffset: number): number {
    if (!partialRangeOk(a)) return -EINVAL;
    const ix = this.index;
    pool.stats.gets++;
    if (pool.stats.pages === 0) return -EEMPTY;
    const pg = ix.locatePage(pool.handle, a.oid, a.index);
    if (pg === NIL) return 0;
    const ob = ix.located;
    if (frameOffset < 0) return -EFAULT;
    const page = this.contentOf(ix.frameOf(pg));
    mem.bytes.set(page.subarray(a.tmemOffset, a.tmemOffset + a.len), frameOffset + a.pfnOffset);
    pool.stats.getsFound++;
    if (pool.ephemeral && !pool.shared) this.removePage(pool, pg);
    else {
      if (pool.ephemeral) ix.lruTouch(pg, pool.owner.slot);
      ix.setLastClient(ob, client.domid);
    }
    return 1;
  }

  /**
   * WRITE (4.0-4.3): `len` bytes from the guest frame at `pfn_offset` into the page at
   * `tmem_offset`, as a put of the whole resulting page. A new page's other bytes are zero (Xen
   * left them uninitialised, leaking old data).
   */
  private write(client: Client, pool: Pool, a: OpArgs, mem: PageMemory, frameOffset: number): number {
    if (!partialRangeOk(a)) return -EINVAL;
    if (frameOffset < 0) return -EFAULT;
    const ix = this.index;
    const pg = ix.locatePage(pool.handle, a.oid, a.index);
    const page = new Uint8Array(TMEM_PAGE_SIZE);
    if (pg !== NIL) page.set(this.contentOf(ix.frameOf(pg)));
    page.set(mem.bytes.subarray(frameOffset + a.pfnOffset, frameOffset + a.pfnOffset + a.len), a.tmemOffset);
    return this.put(client, pool, a.oid, a.index, pageMemory(page), 0);
  }

  /** FLUSH_PAGE: 1 whether or not the page existed; -EFROZEN (after flushing) if the pool's owner is frozen. */
  flushPage(pool: Pool, oid: Uint32Array, index: number): number {
    const ix = this.index;
    pool.stats.flushes++;
    const pg = ix.locatePage(pool.handle, oid, index);
    if (pg !== NIL) {
      this.removePage(pool, pg);
      pool.stats.flushesFound++;
    }
    // The owner's frozen flag, as for a put: a frozen sharer's flush of a pool it does not own is 1.
    return pool.owner.frozen ? -EFROZEN : 1;
  }

  /** FLUSH_OBJECT: 1 whether or not the object existed; -EFROZEN (after flushing) if the pool's owner is frozen. */
  flushObject(pool: Pool, oid: Uint32Array): number {
    pool.stats.objectFlushes++;
    const ob = this.index.findObject(pool.handle, oid);
    if (ob !== NIL) {
      this.flushObjectRecord(pool, ob);
      pool.stats.objectFlushesFound++;
    }
    return pool.owner.frozen ? -EFROZEN : 1;
  }

  /** Removes every page of object `ob` (which goes with its last page): O(pages in it). */
  private flushObjectRecord(pool: Pool, ob: number): void {
    const ix = this.index;
    let n = ix.pagesIn(ob);
    while (n-- > 0) this.removePage(pool, ix.firstPage(ob));
  }

  /** Unlinks a page, frees its frame and keeps every count exact. */
  private removePage(pool: Pool, pg: number): void {
    // While the owner live-migrates, every persistent page that goes (flushed page or object, a
    // refused duplicate put) is logged, so the target drops the copy it was already sent.
    if (pool.persistent && pool.owner.migrating) this.control.noteFlushed(pool, this.index.oidOf(this.index.objectOf(pg)), this.index.indexOf(pg));
    const objectsBefore = this.index.objects;
    const where = this.index.removePage(pg, pool.persistent ? NIL : pool.owner.slot);
    if (where >= 0) this.store.free(where);
    else if (where === ZERO_PAGE_LOC) this.counters.zeroPages--;
    else {
      this.chunks().free(chunkOf(where));
      this.counters.compressedPages--;
    }
    pool.stats.pages--;
    if (this.index.objects < objectsBefore) pool.stats.objects--;
    // A pool's pages are charged to its owner (a shared pool's first sharer still in it).
    if (pool.persistent) pool.owner.persistentPages--;
    else pool.owner.ephemeralPages--;
  }

  /**
   * Drops one ephemeral page; false if there is none. With every weight 0 (the default) the
   * victim is the least recently used page host-wide, as in Xen. Once weights are set, it is the
   * least recently used page of the client furthest over its weighted share (pages per unit of
   * weight; weight 0 claims no share). Xen's own quota test is inverted (spec 4.9), so its
   * formula is not reproduced. O(clients) per eviction, independent of the number of pages.
   */
  evictOne(): boolean {
    const ix = this.index;
    let byWeight: Client | null = null;
    let byAge: Client | null = null;
    let worst = -1;
    let weighted = false;
    for (const c of this.clientsById.values()) {
      if (c.weight > 0) weighted = true;
      const head = ix.lruHead(c.slot);
      if (head === NIL) continue;
      const load = c.weight > 0 ? c.ephemeralPages / c.weight : Infinity;
      if (load > worst) {
        worst = load;
        byWeight = c;
      }
      if (byAge === null || ix.olderThan(head, ix.lruHead(byAge.slot))) byAge = c;
    }
    const victim = weighted ? byWeight : byAge;
    if (victim === null) return false;
    const pg = ix.lruHead(victim.slot);
    const pool = this.poolsByHandle[ix.poolOf(ix.objectOf(pg))]!;
    this.removePage(pool, pg);
    pool.stats.evictions++;
    pool.owner.evictions++;
    this.counters.evictions++;
    return true;
  }

  /**
   * Checks that every count agrees with the page index and the frame store; throws (a broken
   * host invariant) if not. Tests and fuzzers call it; O(pages).
   */
  checkInvariants(): void {
    const ix = this.index;
    const fail = (what: string) => {
      throw new Error(`tmem invariant broken: ${what}`);
    };
    let pages = 0;
    let objects = 0;
    const perClient = new Map<Client, { eph: number; per: number }>();
    for (const c of this.clientsById.values()) perClient.set(c, { eph: 0, per: 0 });
    for (const pool of this.pools()) {
      let n = 0;
      let obs = 0;
      for (let ob = ix.firstObject(pool.handle); ob !== NIL; ob = ix.nextObject(ob)) {
        obs++;
        let inObject = 0;
        for (let pg = ix.firstPage(ob); pg !== NIL; pg = ix.nextInObject(pg)) {
          inObject++;
          const onList = ix.onLru(pg, pool.owner.slot);
          if (onList !== pool.ephemeral) fail(`page ${pg} is ${onList ? "on" : "off"} its client's LRU in a ${pool.typeCode} pool`);
        }
        if (inObject !== ix.pagesIn(ob) || inObject === 0) fail(`object ${ob} holds ${inObject} pages, counts ${ix.pagesIn(ob)}`);
        n += inObject;
      }
      if (n !== pool.stats.pages) fail(`pool ${pool.handle} holds ${n} pages, counts ${pool.stats.pages}`);
      if (obs !== pool.stats.objects) fail(`pool ${pool.handle} holds ${obs} objects, counts ${pool.stats.objects}`);
      const owner = perClient.get(pool.owner);
      if (!owner) fail(`pool ${pool.handle} is owned by a destroyed client`);
      if (pool.persistent) owner!.per += n;
      else owner!.eph += n;
      pages += n;
      objects += obs;
    }
    for (const [c, counted] of perClient) {
      if (counted.eph !== c.ephemeralPages || counted.per !== c.persistentPages) {
        fail(`client ${c.domid} counts ${c.ephemeralPages}/${c.persistentPages} pages, holds ${counted.eph}/${counted.per}`);
      }
      let onList = 0;
      for (let pg = ix.lruHead(c.slot); pg !== NIL; pg = ix.lruNext(pg)) onList++;
      if (onList !== c.ephemeralPages) fail(`client ${c.domid} LRU holds ${onList} pages, counts ${c.ephemeralPages}`);
    }
    if (pages !== ix.pages || objects !== ix.objects) fail(`pools hold ${pages} pages/${objects} objects, the index ${ix.pages}/${ix.objects}`);
    const framed = ix.pages - this.counters.zeroPages - this.counters.compressedPages;
    const chunkFrames = this.chunkStore?.frames ?? 0;
    if (framed + chunkFrames !== this.store.usedFrames) {
      fail(`${framed} pages in frames and ${chunkFrames} chunk frames, but ${this.store.usedFrames} frames in use`);
    }
  }

  /** Persistent pages held host-wide. */
  persistentPages(): number {
    let n = 0;
    for (const c of this.clientsById.values()) n += c.persistentPages;
    return n;
  }

  /** The bytes of page (oid, index) in `pool`, or null (a view: copy it to keep it). */
  pageBytes(pool: Pool, oid: Uint32Array, index: number): Uint8Array | null {
    const pg = this.index.locatePage(pool.handle, oid, index);
    return pg === NIL ? null : this.contentOf(this.index.frameOf(pg));
  }

  private forEachPageId(pool: Pool, fn: (pg: number) => void): void {
    const ix = this.index;
    for (let ob = ix.firstObject(pool.handle); ob !== NIL; ob = ix.nextObject(ob)) {
      for (let pg = ix.firstPage(ob); pg !== NIL; pg = ix.nextInObject(pg)) fn(pg);
    }
  }

  /** Calls `fn` with the oid words and index of every page of `pool`. */
  forEachPage(pool: Pool, fn: (oid: Uint32Array, index: number, bytes: Uint8Array) => void): void {
    const ix = this.index;
    for (let ob = ix.firstObject(pool.handle); ob !== NIL; ob = ix.nextObject(ob)) {
      const oid = ix.oidOf(ob);
      for (let pg = ix.firstPage(ob); pg !== NIL; pg = ix.nextInObject(pg)) fn(oid, ix.indexOf(pg), this.contentOf(ix.frameOf(pg)));
    }
  }

  // ---------------------------------------------------------------- domains

  /** A domain died or was destroyed: everything it held goes (shared pools survive others). */
  destroyClient(domid: number): void {
    const c = this.clientsById.get(domid);
    if (!c) return;
    for (let i = 0; i < MAX_POOLS_PER_DOMAIN; i++) {
      const pool = c.pools[i];
      if (pool) {
        c.pools[i] = null;
        this.leavePool(c, pool);
      }
    }
    this.clientsById.delete(domid);
    this.freeClientSlots.push(c.slot);
  }

  /** Authorise (or deauthorise) `domid` to create or join the shared pool `uuid`. */
  authoriseSharedPool(domid: number, uuid: readonly [bigint, bigint], allow: boolean): void {
    const c = this.client(domid);
    if (allow) c.authorisedUuids.add(uuidKey(uuid));
    else c.authorisedUuids.delete(uuidKey(uuid));
  }
}
