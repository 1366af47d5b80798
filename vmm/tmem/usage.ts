// What the core shows of itself: a read-only snapshot, made on request, for listings, traces and
// the fuzzers' oracles. Nothing in it is the core's own state: changing it changes nothing.
import type { ClientPolicy } from "./client-policy.js";
import type { PoolCounters } from "./client.js";

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

export interface PoolUsage {
  /** The pool's host-wide number (a client's slot numbers it per domain). */
  handle: number;
  /** Xen's two-letter type: E/P + P/S. */
  type: string;
  persistent: boolean;
  shared: boolean;
  uuid: readonly [bigint, bigint];
  /** The flags word the guest created it with. */
  flags: number;
  /** Domains sharing it, its owner first. */
  sharers: number[];
  stats: Readonly<PoolCounters>;
}

export interface ClientUsage {
  domid: number;
  generation: string;
  privileged: boolean;
  policy: Readonly<ClientPolicy>;
  /** The ABI's cap (TMEMC_SET_CAP): stored and reported, never enforced. */
  abiCap: number;
  migrating: boolean;
  frozenBeforeSave: boolean;
  /** Authorised shared-pool uuids ("lo:hi" hex), in the order they were authorised. */
  authorised: string[];
  ephemeralPages: number;
  persistentPages: number;
  ops: number;
  errors: number;
  emptyPoolResults: number;
  evictions: number;
  puts: number;
  gets: number;
  hits: number;
  /** Its 16 pool slots (null: empty). */
  pools: (PoolUsage | null)[];
  /** The last pool destroyed in each slot, with the counters it ended with. */
  destroyedPools: (PoolUsage | null)[];
}

export interface TmemUsage {
  capacityFrames: number;
  usedFrames: number;
  freeFrames: number;
  /** Pages and objects held now, host-wide. */
  pages: number;
  objects: number;
  /** Persistent pages held now, host-wide. */
  persistentPages: number;
  counters: Readonly<GlobalCounters>;
  sharedAuthOpen: boolean;
  /** The host-wide shared pool table (16 slots). */
  sharedPools: (PoolUsage | null)[];
  /** Every client, in the order the core made them. */
  clients: ClientUsage[];
}
