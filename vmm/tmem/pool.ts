// A tmem pool: its kind, its uuid and its counters. Its objects and pages live in PageIndex,
// keyed by the pool's handle (a host-wide number, unlike the per-domain pool id).
import type { Client } from "./client.js";

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
    readonly handle: number,
    readonly persistent: boolean,
    readonly shared: boolean,
    /** uuid[0], uuid[1] (only meaningful for a shared pool). */
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
