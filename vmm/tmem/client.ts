// A tmem client: one domain's view of tmem, with its 16 pool slots and its policy knobs.
import { MAX_POOLS_PER_DOMAIN } from "../../hypercall-abi/constants.js";
import type { Pool } from "./pool.js";
import type { HypervisorRules } from "./rules.js";

export class Client {
  readonly pools: (Pool | null)[] = new Array(MAX_POOLS_PER_DOMAIN).fill(null);
  frozen = false;
  weight = 0;
  /** Max persistent pages this domain may hold (its tmem max_pages); Infinity = no cap. */
  capPages = Infinity;
  compress = false;
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
  /** Shared-pool uuids the control plane authorised for this domain ("lo:hi" hex). */
  readonly authorisedUuids = new Set<string>();

  /** Live migration in progress (between SAVE_BEGIN with live set and SAVE_END). */
  migrating = false;
  /** Frozen state to restore at SAVE_END. */
  frozenBeforeSave = false;

  constructor(
    /** Index of this client's ephemeral LRU list in the page index. */
    readonly slot: number,
    readonly domid: number,
    /** Which hypervisor generation's rules this client's ops follow. */
    readonly rules: HypervisorRules,
    /** A control domain (like dom0): may issue TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW. */
    readonly privileged = false,
  ) {}

  /** Pool slot for a guest pool_id; null for a bad id or an empty slot. */
  pool(poolId: number): Pool | null {
    // (uint32)pool_id >= 16 -> no pool: a negative id is out of range too, never an index.
    return (poolId >>> 0) < MAX_POOLS_PER_DOMAIN ? this.pools[poolId] : null;
  }
}

export const uuidKey = (uuid: readonly [bigint, bigint]): string => `${uuid[0].toString(16)}:${uuid[1].toString(16)}`;
