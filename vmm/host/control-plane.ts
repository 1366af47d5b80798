// The host's control plane over a running VMM, as `xl tmem-*` was: list, freeze/thaw, flush,
// weight/cap/compress, shared-pool authorisation, destroy, save/restore. Domains are named by
// name or id. The CLI's --control actions and the demo drive it; so can any program. Every action
// goes through apply(); a client's policy changes through the core's setPolicy, as it does from a
// guest's TMEMC sub-ops, a restored save file and replay.
import { uuidToHex } from "../../hypercall-abi/uuid.js";
import type { Domain } from "../machine/domain.js";
import type { Client } from "../tmem/client.js";
import type { Pool } from "../tmem/pool.js";
import type { PoolId } from "../tmem/ids.js";
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { restoreClient, saveClient } from "../snapshot/save-file.js";
import type { PolicyChange } from "../tmem/client-policy.js";
import type { PoolUsage } from "../tmem/usage.js";
import { mibToFrames } from "../../hypercall-abi/frames.js";
import { crc32 } from "../container/crc32.js";
import { ContainerError } from "../container/container-error.js";
import { tmemState } from "../snapshot/tmem-state.js";
import type { Vmm } from "../machine/vmm.js";
import { checkAction, ControlError, DomainNotFound, traceArgs, type ControlAction, type DomainRef } from "./control-action.js";

/** What the control plane needs of a VMM (replay drives it on a machine without guests). */
export type ControlledVmm = Pick<Vmm, "domains" | "tmem" | "destroy">;

/**
 * What hears the control plane's actions (the trace recorder registers itself with observe()):
 * told just before an action runs, so changes made before it stay apart, and after, with what it
 * returned; `blob` carries a restored save file.
 */
export interface ControlObserver {
  actionStarting(): void;
  actionDone(action: string, domid: number | null, args: (string | number | boolean | null)[], result: unknown, blob?: Uint8Array): void;
}

/** What an action returns: a flush the pages it evicted, a save or restore what it moved, a list the listing. */
export type ActionResult = null | number | { pools: number; pages: number } | Listing;

export interface PoolListing {
  poolId: number;
  type: string;
  /** A destroyed pool keeps the counters it had when its domain destroyed it. */
  destroyed: boolean;
  uuid: [string, string];
  pages: number;
  objects: number;
  puts: number;
  putsGood: number;
  gets: number;
  hits: number;
  misses: number;
  flushes: number;
  flushesFound: number;
  objectFlushes: number;
  evictions: number;
}

export interface DomainListing {
  domid: number;
  name: string;
  state: string;
  weight: number;
  capPages: number | null;
  compress: boolean;
  frozen: boolean;
  ephemeralPages: number;
  persistentPages: number;
  ops: number;
  /** Ops that failed; ordinary misses (-EEMPTY from an empty pool) are not errors here. */
  errors: number;
  /** Gets that found nothing, in every pool the domain had (live or destroyed). */
  misses: number;
  evictions: number;
  pools: PoolListing[];
  /** The last pool destroyed in each slot. */
  destroyedPools: PoolListing[];
}

export interface Listing {
  capacityFrames: number;
  usedFrames: number;
  /** Pages kept without a frame (all zero) and in compressed chunks. */
  zeroPages: number;
  compressedPages: number;
  /** Puts with compression on whose page did not shrink to half a page, so it was kept whole (since boot). */
  poorCompression: number;
  ops: number;
  /** Ops that failed, ordinary misses (-EEMPTY) aside. */
  errors: number;
  /** Gets that found nothing, over the listed domains. */
  misses: number;
  evictions: number;
  domains: DomainListing[];
}

/** A page a pool holds: its object id (three 64-bit words, as the struct's oid[3] gives them) and index. */
export interface StoredPage {
  oid: [bigint, bigint, bigint];
  index: number;
}

/** Where save and restore actions put and find save files (Node's file system, in vmm/platform/files.ts). */
export interface SaveFileStore {
  read(path: string): Uint8Array;
  write(path: string, bytes: Uint8Array): void;
}

export class ControlPlane {
  /** `files` serves the save and restore actions; without it they are refused (the page saves through save()). */
  private readonly observers = new Set<ControlObserver>();

  constructor(
    readonly vmm: ControlledVmm,
    private readonly files: SaveFileStore | null = null,
  ) {}

  /** Registers an observer of every action from now on; returns what unregisters it. */
  observe(observer: ControlObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  private saveFiles(): SaveFileStore {
    if (!this.files) throw new ControlError("save and restore actions need a file system here: use save() and restore() with bytes");
    return this.files;
  }

  /**
   * Runs an action, telling the observers (a recorder writes it to the trace at this point of the
   * run, with what it returned, so that replay does it again and compares).
   */
  private recorded<T>(a: ControlAction, domid: number | null, run: () => T, result: (r: T) => unknown = (r) => r, blob?: Uint8Array): T {
    for (const o of this.observers) o.actionStarting();
    const r = run();
    for (const o of this.observers) o.actionDone(a.action, domid, traceArgs(a), result(r), blob);
    return r;
  }

  /** Runs one action (checked here, whoever built it). */
  apply(a: ControlAction): ActionResult {
    checkAction(a);
    switch (a.action) {
      case "list":
        return this.list();
      case "flush": {
        return this.recorded(a, null, () => this.vmm.tmem.evictPages(a.pages));
      }
      case "destroy":
        this.vmm.destroy(this.domain(a.domain));
        return null;
      case "auth":
      case "deauth": {
        const domid = this.domain(a.domain).domid;
        const uuid: [bigint, bigint] = [a.uuid[0], a.uuid[1]];
        this.recorded(a, domid, () => this.vmm.tmem.authoriseSharedPool(domid, uuid, a.action === "auth"));
        return null;
      }
      case "save": {
        const { pools, pages, file } = this.save(a.domain, a.file);
        this.saveFiles().write(a.file, file);
        return { pools, pages };
      }
      case "restore":
        return this.restore(a.domain, this.saveFiles().read(a.file), a.file);
      default: {
        const c = this.client(a.domain);
        const change: PolicyChange =
          a.action === "weight"
            ? { weight: a.weight }
            : a.action === "cap"
              ? { capPages: a.capMiB === null ? null : mibToFrames(a.capMiB) }
              : a.action === "compress"
                ? { compress: a.on }
                : { frozen: a.action === "freeze" };
        this.recorded(a, c.domid, () => this.vmm.tmem.setPolicy(c.domid, change));
        return null;
      }
    }
  }

  domain(ref: DomainRef): Domain {
    const d = this.vmm.domains.find((x) => x.name === String(ref) || x.domid === Number(ref));
    if (!d) throw new DomainNotFound(ref, this.vmm.domains.map((x) => `${x.domid} (${x.name})`).join(", "));
    return d;
  }

  private client(ref: DomainRef): Client {
    const d = this.domain(ref);
    const c = this.vmm.tmem.findClient(d.domid);
    if (!c) throw new ControlError(`domain ${d.name} has no tmem client (it was destroyed)`);
    return c;
  }

  /** The `list` action: the listing, written to a trace being recorded (replay compares it). */
  list(): Listing {
    this.recorded(
      { action: "list" },
      null,
      () => null,
      () => tmemState(this.vmm.tmem),
    );
    return this.listing();
  }

  /**
   * The listing, unrecorded: a display refreshed while guests run (the page's, between bursts)
   * reads it as often as it redraws, which is no event of the run, so no trace should depend on it.
   */
  listing(): Listing {
    const t = this.vmm.tmem;
    const u = t.usage();
    const byDomid = new Map(u.clients.map((c) => [c.domid, c]));
    const domains: DomainListing[] = [];
    for (const d of this.vmm.domains) {
      const c = byDomid.get(d.domid);
      if (!c) continue;
      const listed = (pool: PoolUsage | null, poolId: number, destroyed: boolean): PoolListing[] => {
        if (!pool) return [];
        const s = pool.stats;
        return [
          {
            poolId,
            type: pool.type,
            destroyed,
            uuid: uuidToHex(pool.uuid),
            // A destroyed pool holds nothing for this domain, whatever its other sharers keep.
            pages: destroyed ? 0 : s.pages,
            objects: destroyed ? 0 : s.objects,
            puts: s.puts,
            putsGood: s.putsGood,
            gets: s.gets,
            hits: s.getsFound,
            misses: s.gets - s.getsFound,
            flushes: s.flushes,
            flushesFound: s.flushesFound,
            objectFlushes: s.objectFlushes,
            evictions: s.evictions,
          },
        ];
      };
      const pools = c.pools.flatMap((p, id) => listed(p, id, false));
      const destroyedPools = c.destroyedPools.flatMap((p, id) => listed(p, id, true));
      domains.push({
        domid: d.domid,
        name: d.name,
        state: d.state,
        weight: c.policy.weight,
        capPages: c.policy.capPages,
        compress: c.policy.compress,
        frozen: c.policy.frozen,
        ephemeralPages: c.ephemeralPages,
        persistentPages: c.persistentPages,
        ops: c.ops,
        errors: c.errors - c.emptyPoolResults,
        misses: c.gets - c.hits,
        evictions: c.evictions,
        pools,
        destroyedPools,
      });
    }
    return {
      capacityFrames: u.capacityFrames,
      usedFrames: u.usedFrames,
      zeroPages: u.counters.zeroPages,
      compressedPages: u.counters.compressedPages,
      poorCompression: u.counters.poorCompression,
      ops: u.counters.ops,
      errors: u.counters.errors - u.counters.emptyPoolResults,
      misses: domains.reduce((n, d) => n + d.misses, 0),
      evictions: u.counters.evictions,
      domains,
    };
  }

  /**
   * The pages pool `poolId` of `ref` holds, at most `limit` of them, in the core's order: what a
   * view of stored pages picks from. Unrecorded and read-only, like listing(): no counter or LRU
   * moves, so a display may call it between any two hypercalls.
   */
  storedPages(ref: DomainRef, poolId: number, limit = 1000): StoredPage[] {
    const pool = this.pool(ref, poolId);
    const out: StoredPage[] = [];
    this.vmm.tmem.forEachPage(pool, (oid, index) => {
      if (out.length < limit)
        out.push({ oid: [0, 1, 2].map((w) => BigInt(oid[2 * w]) | (BigInt(oid[2 * w + 1]) << 32n)) as StoredPage["oid"], index });
    });
    return out;
  }

  /**
   * A copy of the bytes (4096) stored for page (`oid`, `index`) in pool `poolId` of `ref`, as a
   * get would return them (a compressed or zero page comes back whole), or null if the pool holds
   * no such page. Unrecorded and read-only, like storedPages(): unlike a get, it neither takes
   * the page from a private ephemeral pool nor counts as a hit.
   */
  pageContents(ref: DomainRef, poolId: number, oid: readonly bigint[], index: number): Uint8Array | null {
    const pool = this.pool(ref, poolId);
    const words = new Uint32Array(6);
    oid.slice(0, 3).forEach((w, i) => {
      words[2 * i] = Number(BigInt.asUintN(32, w));
      words[2 * i + 1] = Number(BigInt.asUintN(32, w >> 32n));
    });
    const bytes = this.vmm.tmem.pageBytes(pool, words, index >>> 0, new Uint8Array(TMEM_PAGE_SIZE));
    return bytes && Uint8Array.from(bytes);
  }

  private pool(ref: DomainRef, poolId: number): Pool {
    const c = this.client(ref);
    const pool = c.pool(poolId as PoolId);
    if (!pool) throw new ControlError(`${this.domain(ref).name} has no pool ${poolId}`);
    return pool;
  }

  /** The listing (a new one unless given) as a table, one line per pool. */
  listText(l: Listing = this.list()): string {
    const head = `tmem: ${l.usedFrames}/${l.capacityFrames} frames used, ${l.ops} ops (${l.misses} misses, ${l.errors} errors), ${l.evictions} evictions`;
    const cols = ["domid", "name", "weight", "frozen", "pool", "type", "pages", "puts", "gets", "hits", "misses", "flushes", "evictions"];
    const rows = l.domains.flatMap((d) => {
      const pools = [...d.pools, ...d.destroyedPools].sort((a, b) => a.poolId - b.poolId || Number(a.destroyed) - Number(b.destroyed));
      const id = [d.domid, d.name, d.weight, d.frozen ? "yes" : "no"];
      // A domain that never had a pool says so, rather than showing a pool of zeros.
      if (pools.length === 0) return [[...id, "none", "-", "-", "-", "-", "-", "-", "-", "-"].map(String)];
      return pools.map((p) =>
        [
          ...id,
          p.poolId,
          p.destroyed ? `${p.type} destroyed` : p.type,
          p.destroyed ? "-" : p.pages,
          p.puts,
          p.gets,
          p.hits,
          p.misses,
          p.flushes,
          p.evictions,
        ].map(String),
      );
    });
    if (rows.length === 0) return head;
    const table = [cols, ...rows];
    const widths = cols.map((_, i) => Math.max(...table.map((r) => r[i].length)));
    return [head, ...table.map((r) => r.map((c, i) => (i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  "))].join("\n");
  }

  freeze(ref: DomainRef): void {
    this.apply({ action: "freeze", domain: ref });
  }

  thaw(ref: DomainRef): void {
    this.apply({ action: "thaw", domain: ref });
  }

  /** Evicts up to `pages` ephemeral pages host-wide; returns how many went. */
  flush(pages: number): number {
    return this.apply({ action: "flush", pages }) as number;
  }

  setWeight(ref: DomainRef, weight: number): void {
    this.apply({ action: "weight", domain: ref, weight });
  }

  /** Caps the domain's persistent tmem; null removes the cap. */
  setCapMiB(ref: DomainRef, mib: number | null): void {
    this.apply({ action: "cap", domain: ref, capMiB: mib });
  }

  setCompress(ref: DomainRef, on: boolean): void {
    this.apply({ action: "compress", domain: ref, on });
  }

  authorise(ref: DomainRef, uuid: [bigint, bigint], allow: boolean): void {
    this.apply({ action: allow ? "auth" : "deauth", domain: ref, uuid });
  }

  destroy(ref: DomainRef): void {
    this.apply({ action: "destroy", domain: ref });
  }

  /**
   * The domain's tmem (persistent pages, empty ephemeral pools) as a save file's bytes; `name`
   * (where the caller will put them) goes in the trace.
   */
  save(ref: DomainRef, name: string): { pools: number; pages: number; file: Uint8Array } {
    const d = this.domain(ref);
    const c = this.client(ref);
    const file = saveClient(this.vmm.tmem, c, d.name, d.layout.name);
    const saved = { pools: c.pools.filter((p) => p !== null).length, pages: c.persistentPages };
    // Replay saves again and compares the bytes by length and checksum.
    this.recorded(
      { action: "save", domain: c.domid, file: name },
      c.domid,
      () => saved,
      (r) => ({ ...r, bytes: file.length, crc32: crc32(file) }),
    );
    return { ...saved, file };
  }

  /** Restores a save file's bytes (read from `name`) into the domain, before it runs, as a migrated guest resumes. */
  restore(ref: DomainRef, file: Uint8Array, name: string): { pools: number; pages: number } {
    const c = this.client(ref);
    // The save file travels in the trace: replay restores the very bytes this run did.
    const restore = () => {
      try {
        return restoreClient(this.vmm.tmem, c, file);
      } catch (e) {
        throw e instanceof ContainerError ? e.inFile(name) : e;
      }
    };
    return this.recorded({ action: "restore", domain: c.domid, file: name }, c.domid, restore, undefined, file);
  }
}
