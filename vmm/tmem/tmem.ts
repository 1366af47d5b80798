// The tmem core: the rules of Xen's tmem (xen/common/tmem.c in spirit) for pools, objects and
// pages, with accounting. It never sees guest memory: a data op brings a 4 KiB frame view to copy
// from or into (null for a frame that is not guest RAM), and the boundary has done the guest's
// address arithmetic, range checks and command dispatch (vmm/boundary/dispatch.ts).
import {
  EEMPTY,
  EFAULT,
  ENOSPC,
  EFROZEN,
  ENOMEM,
  EPERM,
  MAX_GLOBAL_SHARED_POOLS,
  MAX_POOLS_PER_DOMAIN,
  TMEM_PAGE_SIZE,
} from "../../hypercall-abi/constants.js";
import { decodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { uuidFromWords } from "../../hypercall-abi/uuid.js";
import { DEFAULT_LAYOUT } from "../../hypercall-abi/op-layouts.js";
import { RULES, type HypervisorRules } from "./rules.js";
import { Client, uuidKey, type WritableClient } from "./client.js";
import type { PolicyChange } from "./client-policy.js";
import type { ClientUsage, GlobalCounters, PoolUsage, TmemUsage } from "./usage.js";

export type { GlobalCounters } from "./usage.js";
import type { FrameStore, SlabSource } from "../store/frame-store.js";
import { PageIndex } from "./page-index.js";
import { isZeroPage, type PageCompressor } from "../store/page-codec.js";
import { NO_ROOM, PageKind, PageStore, type PageHandle } from "../store/page-store.js";
import { Pool } from "./pool.js";
import type { ClientSlot, DomId, ObjectRecord, PageRecord, PoolHandle, PoolId } from "./ids.js";

const NIL = -1;
/** NIL as the branded ids that take it (module-local, so a hot path reads a constant). */
const NO_CLIENT_SLOT = NIL as ClientSlot;
const NO_DOMID = NIL as DomId;
const ALL_ONES = (1n << 64n) - 1n;

export interface TmemOptions {
  /** Frames of page data the host lends to tmem (its capacity). */
  capacityFrames: number;
  /** Makes the compressor for clients with compression on, on first use (the VMM gives LZ4 in Wasm). */
  compressor: () => PageCompressor;
  /** The page index's Wasm module, compiled (build/kernels/page-index.wasm; Kernels.pageIndex()). */
  indexModule: WebAssembly.Module;
  /**
   * The page index's hash key (page-index.ts): by default a random one, which guests cannot aim
   * keys at. A fuzzer fixes it, so that a case, and the coverage an input reaches, is a function
   * of the case alone.
   */
  hashKey?: number;
  /** Where the frame store's memory comes from and goes back to at release() (a fuzzer's pool); by default its own. */
  slabs?: SlabSource;
}

export class Tmem {
  // The core's own state: nothing outside reads these; usage() shows them, the methods change them.
  /** Where pages' bytes live: frames, zero pages, compressed chunks. */
  private readonly pageStore: PageStore;
  /** The frames under it (the host's capacity and use). */
  private readonly store: FrameStore;
  private readonly index: PageIndex;
  /** Frames of page data the host lends (the capacity it was made with). */
  readonly capacityFrames: number;
  private readonly global: GlobalCounters = {
    ops: 0,
    errors: 0,
    emptyPoolResults: 0,
    evictions: 0,
    putsNoMem: 0,
    zeroPages: 0,
    compressedPages: 0,
    poorCompression: 0,
  };
  /** Zero pages cost no frame; this bounds their metadata. */
  private readonly zeroPageLimit: number;
  private readonly clientsById = new Map<DomId, Client>();
  private readonly freeClientSlots: ClientSlot[] = [];
  private nextClientSlot = 0;
  private readonly poolsByHandle: (Pool | null)[] = [];
  private readonly freeHandles: PoolHandle[] = [];
  /** The host-wide table of shared pools, looked up by uuid. */
  private readonly sharedPools: (Pool | null)[] = new Array(MAX_GLOBAL_SHARED_POOLS).fill(null);
  /** Xen's global "shared_auth" switch: on = shared pools need no authorisation. Default off. */
  private authOpen = false;

  constructor(opts: TmemOptions) {
    this.capacityFrames = opts.capacityFrames;
    this.pageStore = new PageStore(opts.capacityFrames, opts.compressor, opts.slabs ?? null);
    this.store = this.pageStore.frames;
    this.index = new PageIndex(opts.indexModule, opts.capacityFrames, opts.hashKey);
    this.zeroPageLimit = 2 * opts.capacityFrames + 1024;
  }

  /**
   * Host memory tmem holds now: its slabs' bytes (frames with memory behind them, a staging page
   * a slab) and its metadata arrays, at their allocated sizes. Both grow with what is stored.
   */
  memoryHeld(): { slabBytes: number; metadataBytes: number } {
    return { slabBytes: this.store.slabBytes, metadataBytes: this.index.sizeBytes + this.pageStore.metadataBytes };
  }

  get clients(): Iterable<Client> {
    return this.clientsById.values();
  }

  /** The client of `domid`, created on first use as Xen creates it on a domain's first op. */
  client(domid: DomId, rules: HypervisorRules = RULES[DEFAULT_LAYOUT.generation], privileged = false): Client {
    let c = this.clientsById.get(domid);
    if (!c) {
      const slot = this.freeClientSlots.pop() ?? (this.nextClientSlot++ as ClientSlot);
      this.index.ensureClientSlot(slot);
      c = new Client(slot, domid, rules, privileged);
      this.clientsById.set(domid, c);
    }
    return c;
  }

  findClient(domid: DomId): Client | undefined {
    return this.clientsById.get(domid);
  }

  /** The host-wide counts, live (read-only: the fuzzers' oracle reads evictions around every op). */
  get counters(): Readonly<GlobalCounters> {
    return this.global;
  }

  /** Xen's global "shared_auth" switch (TMEM_AUTH with cli_id ALL): on = shared pools need no authorisation. */
  get sharedAuthOpen(): boolean {
    return this.authOpen;
  }

  setSharedAuth(open: boolean): void {
    this.authOpen = open;
  }

  /**
   * Changes the policy of client `domid`, the one way anyone does (the host's control plane and
   * boot, TMEMC sub-ops, a restored save file, replay): the fields `change` gives. False if there
   * is no such client.
   */
  setPolicy(domid: DomId, change: PolicyChange): boolean {
    const c = this.clientsById.get(domid) as WritableClient | undefined;
    if (!c) return false;
    if (change.weight !== undefined) c.weight = change.weight;
    if (change.capPages !== undefined) c.capPages = change.capPages === null ? Infinity : change.capPages;
    if (change.abiCap !== undefined) c.abiCap = change.abiCap;
    if (change.compress !== undefined) c.compress = change.compress;
    if (change.frozen !== undefined) c.frozen = change.frozen;
    if (change.frozenBeforeSave !== undefined) c.frozenBeforeSave = change.frozenBeforeSave;
    if (change.migrating !== undefined) c.migrating = change.migrating;
    if (change.authorised !== undefined) {
      c.authorisedUuids.clear();
      for (const u of change.authorised) c.authorisedUuids.add(u);
    }
    return true;
  }

  /** Pages held now, host-wide (cheap: the fuzzers' oracle reads it after every op). */
  get pages(): number {
    return this.index.pages;
  }

  /**
   * The frames `pages` would take if stored now (a zero page none, a compressed one its share of a
   * chunk frame): a restore's room check.
   */
  framesFor(pages: Iterable<Uint8Array>, compress: boolean): number {
    return this.pageStore.framesFor(pages, compress);
  }

  /** A read-only snapshot of the core's use and policies, for listings, traces and oracles. */
  usage(): TmemUsage {
    const pool = (p: Pool | null): PoolUsage | null =>
      p && {
        handle: p.handle,
        type: p.typeCode,
        persistent: p.persistent,
        shared: p.shared,
        uuid: [p.uuid[0], p.uuid[1]],
        flags: p.flags,
        sharers: [p.owner.domid, ...[...p.sharers].filter((c) => c !== p.owner).map((c) => c.domid)],
        stats: { ...p.stats },
      };
    const clients = [...this.clientsById.values()].map(
      (c): ClientUsage => ({
        domid: c.domid,
        generation: c.rules.generation,
        privileged: c.privileged,
        policy: { weight: c.weight, capPages: Number.isFinite(c.capPages) ? c.capPages : null, compress: c.compress, frozen: c.frozen },
        abiCap: c.abiCap,
        migrating: c.migrating,
        frozenBeforeSave: c.frozenBeforeSave,
        authorised: [...c.authorisedUuids],
        ephemeralPages: c.ephemeralPages,
        persistentPages: c.persistentPages,
        ops: c.ops,
        errors: c.errors,
        emptyPoolResults: c.emptyPoolResults,
        evictions: c.evictions,
        puts: c.puts,
        gets: c.gets,
        hits: c.hits,
        pools: c.pools.map(pool),
        destroyedPools: c.destroyedPools.map(pool),
      }),
    );
    return {
      capacityFrames: this.capacityFrames,
      usedFrames: this.store.usedFrames,
      freeFrames: this.store.freeFrames,
      pages: this.index.pages,
      objects: this.index.objects,
      persistentPages: this.persistentPages(),
      counters: { ...this.global },
      sharedAuthOpen: this.authOpen,
      sharedPools: this.sharedPools.map(pool),
      clients,
    };
  }

  /** Every pool alive, each once (a shared pool appears in several clients' tables). */
  pools(): Pool[] {
    return this.poolsByHandle.filter((p): p is Pool => p !== null);
  }

  /** An op of `client` begins (counted before it runs: TMEMC_LIST counts itself). */
  opStarted(client: Client): void {
    client.ops++;
    this.global.ops++;
  }

  /** An op of `client` ended with hypercall result `r`, which is returned. */
  opFinished(client: Client, r: number): number {
    if (r < 0) {
      // Counted as Xen's errored ops (TMEMC_LIST's Te), and apart, for the host, as the misses they are.
      client.errors++;
      this.global.errors++;
      if (r === -EEMPTY) {
        client.emptyPoolResults++;
        this.global.emptyPoolResults++;
      }
    }
    return r;
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
    return this.createPoolInSlot(client, slot as PoolId, flags, uuidWords);
  }

  /** Creates a pool from NEW_POOL's flags and uuid in `slot` (free) of `client`. */
  createPoolInSlot(client: Client, slot: PoolId, flags: number, uuidWords: Uint32Array): number {
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
    // A private pool keeps the uuid it was created with, as Xen kept it: a save carries it.
    client.pools[slot] = this.createPool(client, persistent, false, uuid, flags);
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
    return this.authOpen || client.authorisedUuids.has(uuidKey(uuid));
  }

  private createPool(owner: Client, persistent: boolean, shared: boolean, uuid: readonly [bigint, bigint], flags: number): Pool {
    const handle = this.freeHandles.pop() ?? (this.poolsByHandle.length as PoolHandle);
    const pool = new Pool(handle, persistent, shared, [uuid[0], uuid[1]], flags, owner);
    pool.sharers.add(owner);
    this.poolsByHandle[handle] = pool;
    this.index.ensurePoolHandle(handle);
    return pool;
  }

  /** DESTROY_POOL: 1 if the slot held a pool, 0 for a bad id or an empty slot. */
  destroyPool(client: Client, poolId: PoolId): number {
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
      this.flushPoolObjects(pool, NO_DOMID);
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
  private flushPoolObjects(pool: Pool, onlyLastClient: DomId): void {
    const ix = this.index;
    let ob = ix.firstObject(pool.handle);
    while (ob !== NIL) {
      const next = ix.nextObject(ob);
      if (onlyLastClient === NIL || ix.lastClient(ob) === onlyLastClient) this.flushObjectRecord(pool, ob);
      ob = next;
    }
  }

  // ---------------------------------------------------------------- pages

  /**
   * PUT_PAGE: 1 on success; see the spec for each error. `page` is the 4 KiB frame to copy from
   * (null: the guest named a frame that is not its RAM), `zero` whether it is all zero.
   */
  put(client: Client, pool: Pool, oid: Uint32Array, index: number, page: Uint8Array | null, zero: boolean): number {
    const ix = this.index;
    const s = pool.stats;
    s.puts++;
    client.puts++;
    // Xen works on the pool's owner (pool->client), not the caller: the owner's frozen and
    // migrating flags decide, and the owner is recorded as the object's last client. For a
    // private pool they are the same domain; for a shared pool a sharer's put follows the owner.
    const owner = pool.owner;
    const pg = ix.locatePage(pool.handle, oid, index);
    if (pg !== NIL) {
      // Duplicate put (allowed when frozen): replace, or flush the old copy if the new one
      // cannot be had, so a get never returns the older data (put-put-get coherency).
      if (page === null || owner.migrating) {
        this.removePage(pool, pg);
        s.dupPutsFlushed++;
        return owner.migrating ? -ENOSPC : -EFAULT;
      }
      // The common case, a full page over a full page: the same frame, no allocation.
      if (!zero && !owner.compress && this.pageStore.overwrite(ix.whereOf(pg), page)) {
        if (pool.ephemeral) ix.lruTouch(pg, owner.slot);
        ix.setLastClient(ix.objectOf(pg), owner.domid);
        s.dupPutsReplaced++;
        s.putsGood++;
        return 1;
      }
      // Stored differently now (a zero page, compressed): the old copy goes first, so if the new
      // one finds no room the put fails with nothing readable left (-ENOSPC, as Xen).
      this.removePage(pool, pg);
      if (this.storeNew(pool, oid, index, page, zero) !== 1) {
        s.dupPutsFlushed++;
        return -ENOSPC;
      }
      s.dupPutsReplaced++;
      return 1;
    }
    if (owner.frozen) return -EFROZEN;
    if (page === null) return -EFAULT;
    if (pool.persistent && owner.persistentPages >= owner.capPages) {
      s.putsNoMem++;
      this.global.putsNoMem++;
      return -ENOMEM;
    }
    return this.storeNew(pool, oid, index, page, zero);
  }

  /**
   * Stores a page that is not in the pool, then indexes it under its object (found or created
   * after the store made room, as an eviction may take that object's last page): 1, or -ENOMEM.
   */
  private storeNew(pool: Pool, oid: Uint32Array, index: number, page: Uint8Array, zero: boolean): number {
    const where = this.place(pool, page, zero);
    if (where === NO_ROOM) {
      pool.stats.putsNoMem++;
      this.global.putsNoMem++;
      return -ENOMEM;
    }
    const ix = this.index;
    const s = pool.stats;
    let ob = ix.findObject(pool.handle, oid);
    if (ob === NIL) {
      ob = ix.createObject(pool.handle, oid);
      s.objects++;
    }
    ix.addPage(ob, index, where, pool.persistent ? NO_CLIENT_SLOT : pool.owner.slot);
    ix.setLastClient(ob, pool.owner.domid);
    s.pages++;
    s.putsGood++;
    if (pool.persistent) pool.owner.persistentPages++;
    else pool.owner.ephemeralPages++;
    return 1;
  }

  /**
   * Keeps `page`'s bytes in the store: a zero page without a frame, a compressed page in a chunk
   * (when the owner compresses and it shrinks to half a page or less), or a frame. Evicts
   * ephemeral pages until it fits; NO_ROOM if it cannot.
   */
  private place(pool: Pool, page: Uint8Array, zero: boolean): PageHandle {
    const ps = this.pageStore;
    // Zero pages cost no frame; their number is bounded all the same (metadata).
    if (zero && this.index.pages < this.zeroPageLimit) {
      this.global.zeroPages++;
      return ps.zeroPage();
    }
    if (pool.owner.compress) {
      const block = ps.compress(page);
      if (block !== null) {
        let where = ps.putBlock(block);
        while (where === NO_ROOM && this.evictOne()) where = ps.putBlock(block);
        if (where !== NO_ROOM) this.global.compressedPages++;
        return where;
      }
      this.global.poorCompression++;
    }
    this.index.warmNextPage();
    let where = ps.putPage(page);
    while (where === NO_ROOM && this.evictOne()) where = ps.putPage(page);
    return where;
  }

  /**
   * GET_PAGE: 1 hit, 0 miss, -EEMPTY for a pool with no pages at all. `dst` is the 4 KiB frame
   * to copy into (null: not the guest's RAM).
   */
  get(client: Client, pool: Pool, oid: Uint32Array, index: number, dst: Uint8Array | null): number {
    const ix = this.index;
    const s = pool.stats;
    s.gets++;
    client.gets++;
    if (s.pages === 0) return -EEMPTY;
    const pg = ix.locatePage(pool.handle, oid, index);
    if (pg === NIL) return 0;
    // Checked before anything is unlinked: a get into a bad frame keeps the page (Xen 4.1-4.12
    // unlinked first and leaked it).
    if (dst === null) return -EFAULT;
    this.pageStore.load(ix.whereOf(pg), dst);
    s.getsFound++;
    client.hits++;
    if (pool.persistent) return 1;
    if (pool.shared) {
      ix.lruTouch(pg, pool.owner.slot);
      ix.setLastClient(ix.objectOf(pg), client.domid);
    } else {
      // A private ephemeral get is exclusive: the page now lives in the guest only.
      this.removePage(pool, pg);
    }
    return 1;
  }

  /**
   * READ (4.0-4.3): the page's bytes from `tmemOffset` into `dst` (the guest's bytes, null if
   * not its RAM; the boundary checked both ranges); private ephemeral pages go, as with GET.
   */
  read(client: Client, pool: Pool, oid: Uint32Array, index: number, tmemOffset: number, dst: Uint8Array | null): number {
    const ix = this.index;
    pool.stats.gets++;
    if (pool.stats.pages === 0) return -EEMPTY;
    const pg = ix.locatePage(pool.handle, oid, index);
    if (pg === NIL) return 0;
    if (dst === null) return -EFAULT;
    const page = this.pageStore.content(ix.whereOf(pg));
    dst.set(page.subarray(tmemOffset, tmemOffset + dst.length));
    pool.stats.getsFound++;
    if (pool.ephemeral && !pool.shared) this.removePage(pool, pg);
    else {
      if (pool.ephemeral) ix.lruTouch(pg, pool.owner.slot);
      ix.setLastClient(ix.objectOf(pg), client.domid);
    }
    return 1;
  }

  /**
   * WRITE (4.0-4.3): `src` (the guest's bytes, ranges checked by the boundary) into the page at
   * `tmemOffset`, as a put of the whole resulting page. A new page's other bytes are zero (Xen
   * left them uninitialised, leaking old data).
   */
  write(client: Client, pool: Pool, oid: Uint32Array, index: number, tmemOffset: number, src: Uint8Array): number {
    const ix = this.index;
    const pg = ix.locatePage(pool.handle, oid, index);
    const page = new Uint8Array(TMEM_PAGE_SIZE);
    if (pg !== NIL) page.set(this.pageStore.content(ix.whereOf(pg)));
    page.set(src, tmemOffset);
    return this.put(client, pool, oid, index, page, isZeroPage(page));
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
  private flushObjectRecord(pool: Pool, ob: ObjectRecord): void {
    const ix = this.index;
    let n = ix.pagesIn(ob);
    while (n-- > 0) this.removePage(pool, ix.firstPage(ob));
  }

  /** Unlinks a page, frees its frame and keeps every count exact. */
  private removePage(pool: Pool, pg: PageRecord): void {
    if (pool.persistent && pool.owner.migrating) this.logInvalidated(pool, pg);
    const objectsBefore = this.index.objects;
    const kept = this.pageStore.free(this.index.removePage(pg, pool.persistent ? NO_CLIENT_SLOT : pool.owner.slot));
    if (kept === PageKind.Zero) this.global.zeroPages--;
    else if (kept === PageKind.Compressed) this.global.compressedPages--;
    pool.stats.pages--;
    if (this.index.objects < objectsBefore) pool.stats.objects--;
    // A pool's pages are charged to its owner (a shared pool's first sharer still in it).
    if (pool.persistent) pool.owner.persistentPages--;
    else pool.owner.ephemeralPages--;
  }

  /**
   * While a client migrates, every persistent page that leaves a pool it owns (flushed page or
   * object, a refused duplicate put), whoever removed it, is logged on the client for the save's
   * NEXT_INV, so the target drops the copy it was already sent. A pool no longer in the owner's
   * table (being destroyed) has no slot to name, and nothing of it is restored.
   */
  private logInvalidated(pool: Pool, pg: PageRecord): void {
    const c = pool.owner;
    const poolId = c.pools.indexOf(pool) as PoolId;
    if (poolId < 0) return;
    const ix = this.index;
    c.invalidated.push({ poolId, oid: ix.oidOf(ix.objectOf(pg)).slice(), index: ix.indexOf(pg) });
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
    this.global.evictions++;
    return true;
  }

  /** Evicts ephemeral pages until `pages` went or none is left (TMEMC_FLUSH, the host's flush): how many went. */
  evictPages(pages: number): number {
    let freed = 0;
    while (freed < pages && this.evictOne()) freed++;
    return freed;
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
    if (pages !== ix.pages || objects !== ix.objects)
      fail(`pools hold ${pages} pages/${objects} objects, the index ${ix.pages}/${ix.objects}`);
    const framed = ix.pages - this.global.zeroPages - this.global.compressedPages;
    const chunkFrames = this.pageStore.chunkFrames;
    if (framed + chunkFrames !== this.store.usedFrames) {
      fail(`${framed} pages in frames and ${chunkFrames} chunk frames, but ${this.store.usedFrames} frames in use`);
    }
  }

  /** How far the page index's keyed hash spreads the objects and pages stored (PageIndex.hashSpread): an oracle for the fuzzers. */
  hashSpread(): { objects: number; pages: number; longestRun: number } {
    return this.index.hashSpread();
  }

  /** This tmem is done with: its frames' memory goes back to the slab source it came from (TmemOptions.slabs), its index's instance to the next index. */
  release(): void {
    this.store.release();
    this.index.release();
  }

  /** Persistent pages held host-wide. */
  persistentPages(): number {
    let n = 0;
    for (const c of this.clientsById.values()) n += c.persistentPages;
    return n;
  }

  /**
   * The bytes of page (oid, index) in `pool`, or null: a view of its frame (copy it to keep it),
   * or, for a page kept without one, a new page, or `scratch` (4 KiB) if given.
   */
  pageBytes(pool: Pool, oid: Uint32Array, index: number, scratch?: Uint8Array): Uint8Array | null {
    const pg = this.index.locatePage(pool.handle, oid, index);
    if (pg === NIL) return null;
    const h = this.index.whereOf(pg);
    if (scratch === undefined || this.pageStore.inFrame(h)) return this.pageStore.content(h);
    this.pageStore.load(h, scratch);
    return scratch;
  }

  /**
   * Puts back a page a save file held, into persistent `pool` of `client`: as a put, but the
   * client's cap does not refuse it (what was saved under a cap is restored whole). 1, or the
   * put's error.
   */
  restorePage(client: Client, pool: Pool, oid: Uint32Array, index: number, page: Uint8Array, zero: boolean): number {
    const owner = pool.owner as WritableClient;
    const cap = owner.capPages;
    owner.capPages = Infinity;
    try {
      return this.put(client, pool, oid, index, page, zero);
    } finally {
      owner.capPages = cap;
    }
  }

  private forEachPageId(pool: Pool, fn: (pg: PageRecord) => void): void {
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
      for (let pg = ix.firstPage(ob); pg !== NIL; pg = ix.nextInObject(pg)) fn(oid, ix.indexOf(pg), this.pageStore.content(ix.whereOf(pg)));
    }
  }

  // ---------------------------------------------------------------- domains

  /** A domain died or was destroyed: everything it held goes (shared pools survive others). */
  destroyClient(domid: DomId): void {
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
  authoriseSharedPool(domid: DomId, uuid: readonly [bigint, bigint], allow: boolean): void {
    const key = uuidKey(uuid);
    const now = [...this.client(domid).authorisedUuids];
    if (allow === now.includes(key)) return;
    this.setPolicy(domid, { authorised: allow ? [...now, key] : now.filter((u) => u !== key) });
  }
}
