// A tmem client (one domain's view of tmem, with its 16 pool slots and its policy knobs) and its
// pools. They point at each other (a client's pool table, a pool's owner and sharers), so they are
// declared together: two modules would import each other.
import { MAX_POOLS_PER_DOMAIN } from "../../hypercall-abi/constants.js";
import type { HypervisorRules } from "./rules.js";
import type { ClientSlot, DomId, PoolHandle, PoolId } from "./ids.js";

export class Client {
  readonly pools: (Pool | null)[] = new Array(MAX_POOLS_PER_DOMAIN).fill(null);
  // The policy and migration state: read by anyone, written only by Tmem.setPolicy (readonly here,
  // so any other writer fails to compile).
  readonly frozen: boolean = false;
  readonly weight: number = 0;
  /**
   * tmemvm's own cap, a host policy: the most persistent pages this domain may hold; Infinity =
   * no cap. TMEMC_SET_CAP never sets it (see abiCap).
   */
  readonly capPages: number = Infinity;
  /**
   * The cap of Xen 4.0-4.7's ABI (TMEMC_SET_CAP, SAVE_GET_CLIENT_CAP, LIST's ca): a u32, 0 at
   * creation, stored and reported, never enforced, as Xen never enforced it. Xen 4.5's toolstack
   * restores it as 0, which must not stop a restore.
   */
  readonly abiCap: number = 0;
  readonly compress: boolean = false;
  ephemeralPages = 0;
  persistentPages = 0;
  /** Hypercalls that reached tmem, and those that returned an error. */
  ops = 0;
  errors = 0;
  /** Of the errors, -EEMPTY: a get or READ on an empty pool, an ordinary miss to the host. */
  emptyPoolResults = 0;
  evictions = 0;
  /** Lifetime counts across all its pools (they outlive destroyed pools). */
  puts = 0;
  gets = 0;
  hits = 0;
  /** The last pool destroyed in each slot, with its final counters, for the host's listing. */
  readonly destroyedPools: (Pool | null)[] = new Array(MAX_POOLS_PER_DOMAIN).fill(null);
  /** Shared-pool uuids authorised for this domain ("lo:hi" hex). */
  readonly authorisedUuids: ReadonlySet<string> = new Set<string>();

  /** Live migration in progress (between SAVE_BEGIN with live set and SAVE_END). */
  readonly migrating: boolean = false;
  /** Frozen state to restore at SAVE_END. */
  readonly frozenBeforeSave: boolean = false;
  /**
   * Persistent pages that left this client's pools while it migrated, oldest first (the save's
   * NEXT_INV hands them out and empties it at each SAVE_BEGIN and SAVE_END).
   */
  readonly invalidated: SavedPage[] = [];

  constructor(
    /** Index of this client's ephemeral LRU list in the page index. */
    readonly slot: ClientSlot,
    readonly domid: DomId,
    /** Which hypervisor generation's rules this client's ops follow. */
    readonly rules: HypervisorRules,
    /** A control domain (like dom0): may issue TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW. */
    readonly privileged = false,
  ) {}

  /** Pool slot for a guest pool_id; null for a bad id or an empty slot. */
  pool(poolId: PoolId): Pool | null {
    // (uint32)pool_id >= 16 -> no pool: a negative id is out of range too, never an index.
    return poolId >>> 0 < MAX_POOLS_PER_DOMAIN ? this.pools[poolId]! : null;
  }
}

/** A Client as the core alone may change it (Tmem.setPolicy). */
export type WritableClient = { -readonly [K in keyof Client]: Client[K] } & { authorisedUuids: Set<string> };

/** A persistent page named for the save stream: pool slot, object id words, index. */
export interface SavedPage {
  poolId: PoolId;
  oid: Uint32Array;
  index: number;
}

export const uuidKey = (uuid: readonly [bigint, bigint]): string => `${uuid[0].toString(16)}:${uuid[1].toString(16)}`;

// A tmem pool: its kind, its uuid and its counters. Its objects and pages live in PageIndex,
// keyed by the pool's handle (a host-wide number, unlike the per-domain pool id).

export interface PoolCounters {
  /** Pages held now. */
  pages: number;
  objects: number;
  puts: number;
  /** Puts that stored a page (new or replaced). */
  putsGood: number;
  /** Duplicate puts that replaced the old copy. */
  dupPutsReplaced: number;
  /** Duplicate puts that failed and flushed the old copy. */
  dupPutsFlushed: number;
  /** Puts refused for lack of memory. */
  putsNoMem: number;
  gets: number;
  /** Gets that found the page (hits); misses are gets - getsFound. */
  getsFound: number;
  flushes: number;
  flushesFound: number;
  objectFlushes: number;
  objectFlushesFound: number;
  evictions: number;
}

export const newCounters = (): PoolCounters => ({
  pages: 0,
  objects: 0,
  puts: 0,
  putsGood: 0,
  dupPutsReplaced: 0,
  dupPutsFlushed: 0,
  putsNoMem: 0,
  gets: 0,
  getsFound: 0,
  flushes: 0,
  flushesFound: 0,
  objectFlushes: 0,
  objectFlushesFound: 0,
  evictions: 0,
});

export class Pool {
  /** Stats and the page count; `pages` is kept exact (EEMPTY depends on it). */
  readonly stats: PoolCounters = newCounters();
  /** Domains whose pool table points at this pool; one for a private pool. */
  readonly sharers = new Set<Client>();

  constructor(
    readonly handle: PoolHandle,
    readonly persistent: boolean,
    readonly shared: boolean,
    /** uuid[0], uuid[1] as created (only a shared pool is looked up by it). */
    readonly uuid: readonly [bigint, bigint],
    /** The flags word as the guest created it (the save stream carries it). */
    readonly flags: number,
    public owner: Client,
  ) {}

  get ephemeral(): boolean {
    return !this.persistent;
  }

  /** Xen's two-letter type: E/P (ephemeral/persistent) + P/S (private/shared). */
  get typeCode(): string {
    return (this.persistent ? "P" : "E") + (this.shared ? "S" : "P");
  }
}
