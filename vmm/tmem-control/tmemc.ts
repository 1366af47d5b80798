// The control plane (what Xen's tmem_control.c was): freeze/thaw, weights, caps, compression,
// flushing for memory, listing, and the legacy save/restore sub-ops. Guests reach it through
// TMEM_CONTROL, TMEM_AUTH and TMEM_RESTORE_NEW when their generation had them and the VMM made
// them privileged (the boundary's dispatcher calls it); the host reaches it through the same
// methods. It drives the core; the core never calls it.
import {
  EEXIST,
  EFAULT,
  EINVAL,
  ENOMEM,
  EPERM,
  MAX_POOLS_PER_DOMAIN,
  TMEM_CLI_ID_ALL,
  TMEM_CLIENT_COMPRESS,
  TMEM_CLIENT_FROZEN,
  TMEM_PAGE_SIZE,
  TMEM_POOL_VERSION_MASK,
  TMEM_POOL_VERSION_SHIFT,
  TMEMC_DESTROY,
  TMEMC_FLUSH,
  TMEMC_FREEZE,
  TMEMC_LIST,
  TMEMC_QUERY_FREEABLE_MB,
  TMEMC_RESTORE_BEGIN,
  TMEMC_RESTORE_FLUSH_PAGE,
  TMEMC_RESTORE_PUT_PAGE,
  TMEMC_SAVE_BEGIN,
  TMEMC_SAVE_END,
  TMEMC_SAVE_GET_CLIENT_CAP,
  TMEMC_SAVE_GET_CLIENT_FLAGS,
  TMEMC_SAVE_GET_CLIENT_WEIGHT,
  TMEMC_SAVE_GET_MAXPOOLS,
  TMEMC_SAVE_GET_NEXT_INV,
  TMEMC_SAVE_GET_NEXT_PAGE,
  TMEMC_SAVE_GET_POOL_FLAGS,
  TMEMC_SAVE_GET_POOL_NPAGES,
  TMEMC_SAVE_GET_POOL_UUID,
  TMEMC_SAVE_GET_VERSION,
  TMEMC_SET_CAP,
  TMEMC_SET_COMPRESS,
  TMEMC_SET_WEIGHT,
  TMEMC_THAW,
  TMEM_SPEC_VERSION,
} from "../../hypercall-abi/constants.js";
import { framesToMib } from "../../hypercall-abi/frames.js";
import { uuidFromWords } from "../../hypercall-abi/uuid.js";
import { uuidKey, type Client, type SavedPage } from "../tmem/client.js";
import type { Pool } from "../tmem/pool.js";
import type { Tmem } from "../tmem/tmem.js";
import type { DomId, PoolId } from "../tmem/ids.js";
import { isZeroPage } from "../store/page-codec.js";

/**
 * The fields of a decoded tmem_op that control reads (the boundary's OpArgs has them): u.ctrl for
 * TMEM_CONTROL, u.creat for TMEM_AUTH and TMEM_RESTORE_NEW.
 */
export interface ControlArgs {
  readonly poolId: PoolId;
  readonly subop: number;
  readonly cliId: number;
  readonly ctrlArg1: number;
  readonly ctrlArg2: number;
  /** Object id as six 32-bit words, least significant first. */
  readonly oid: Uint32Array;
  /** creat.uuid as four 32-bit words, least significant first. */
  readonly uuid: Uint32Array;
  readonly flags: number;
  readonly arg1: number;
}

/** A guest buffer named by an op (ctrl.buf), bounds-checked by the boundary on every access. */
export interface GuestBuffer {
  /** Copies `bytes` to the buffer; false if that would leave guest RAM. */
  write(bytes: Uint8Array): boolean;
  /** `len` bytes of the buffer, or null if they are not all guest RAM. */
  read(len: number): Uint8Array | null;
  /** True if the buffer's first `len` bytes are all guest RAM. */
  fits(len: number): boolean;
}

/**
 * The tmem core as the control plane drives it: no wider than control needs, so control can be
 * built and tested over a stand-in. It reads the core's usage() and changes policy through
 * setPolicy, as every other writer does.
 */
export type ControlledTmem = Pick<
  Tmem,
  | "clients"
  | "findClient"
  | "sharedAuthOpen"
  | "setSharedAuth"
  | "setPolicy"
  | "usage"
  | "createPoolInSlot"
  | "put"
  | "flushPage"
  | "evictPages"
  | "pageBytes"
  | "forEachPage"
>;

/** Per-client progress of a legacy save. */
interface SaveState {
  /** Pages still to hand out, per pool slot (filled on the pool's first NEXT_PAGE). */
  pending: Map<PoolId, SavedPage[]>;
}

const MAX_AUTH_UUIDS = 16;
/** SAVE_GET_NEXT_PAGE answers this when its pool has nothing left (NEXT_INV answers 0). */
const SAVE_END_OF_LIST = -1;
/**
 * Xen 4.0-4.5's answer for a save sub-op naming a client or pool that does not exist: its result
 * variable started at -1 and was left there, so a toolstack sees -1, not an errno.
 */
const NO_SUCH_CLIENT = -1;

/**
 * Xen's TMEMC sub-ops over one tmem: the guest-visible control (the host's is ControlPlane). One
 * per tmem, made by whoever made the tmem (the VMM, replay, a fuzz case) and handed to each of its
 * domains, so every guest shares one save progress.
 */
export class Tmemc {
  private readonly saves = new Map<DomId, SaveState>();

  constructor(private readonly tmem: ControlledTmem) {}

  /** The clients a cli_id names: every client for 0xFFFF (a 32-bit -1 truncates to it). */
  private targets(cliId: DomId): Client[] | null {
    const id = (cliId & 0xffff) as DomId;
    if (id === TMEM_CLI_ID_ALL) return [...this.tmem.clients];
    const c = this.tmem.findClient(id);
    return c ? [c] : null;
  }

  /**
   * TMEM_CONTROL from a privileged guest: one TMEMC_* sub-op. `caller` is the issuing domain's
   * client (its generation decides SAVE_GET_VERSION); the host passes none.
   */
  subop(a: ControlArgs, buf: GuestBuffer | null, caller?: Client): number {
    // ctrl.cli_id becomes a domain id here, once (a 32-bit -1 truncates to ALL).
    const cliId = (a.cliId & 0xffff) as DomId;
    switch (a.subop) {
      case TMEMC_THAW:
      case TMEMC_FREEZE:
      case TMEMC_DESTROY: {
        // DESTROY only ever thawed, in Xen.
        const ts = this.targets(cliId);
        if (!ts) return -EINVAL;
        for (const c of ts) this.setFrozen(c, a.subop === TMEMC_FREEZE);
        return 0;
      }
      case TMEMC_FLUSH:
        if (cliId !== TMEM_CLI_ID_ALL) return -EINVAL;
        return this.flushKiB(a.ctrlArg1);
      case TMEMC_LIST: {
        // Xen 4.0-4.5 (every generation that let a guest list) never measured a line against
        // the declared length: each whole line, with its NUL, lands where it falls, and only
        // guest RAM bounds it. A reader therefore never sees half a line.
        if (cliId !== TMEM_CLI_ID_ALL && !this.tmem.findClient(cliId)) return NO_SUCH_CLIENT;
        if (!buf) return -EFAULT;
        const text = new TextEncoder().encode(this.list(a.ctrlArg2 !== 0, cliId));
        const out = new Uint8Array(text.length + 1);
        out.set(text);
        return buf.write(out) ? 0 : -EFAULT;
      }
      case TMEMC_SET_WEIGHT:
      case TMEMC_SET_CAP:
      case TMEMC_SET_COMPRESS: {
        const ts = this.targets(cliId);
        if (!ts) return -EINVAL;
        const change =
          a.subop === TMEMC_SET_WEIGHT
            ? { weight: a.ctrlArg1 }
            : a.subop === TMEMC_SET_CAP
              ? { abiCap: a.ctrlArg1 >>> 0 }
              : { compress: a.ctrlArg1 !== 0 };
        for (const c of ts) this.tmem.setPolicy(c.domid, change);
        return 0;
      }
      case TMEMC_QUERY_FREEABLE_MB:
        return this.freeableMiB();
      case TMEMC_SAVE_BEGIN:
        return this.saveBegin(cliId, a.ctrlArg1 !== 0);
      case TMEMC_SAVE_GET_VERSION:
        // Xen looked no client up: libxc asks with cli_id 0, a domain tmemvm never has.
        return caller?.rules.specVersion ?? TMEM_SPEC_VERSION;
      case TMEMC_SAVE_GET_MAXPOOLS:
        return MAX_POOLS_PER_DOMAIN;
      // Xen keeps weight and cap in an int: a u32 set past INT_MAX reads back negative.
      case TMEMC_SAVE_GET_CLIENT_WEIGHT: {
        const c = this.tmem.findClient(cliId);
        return c ? c.weight | 0 : NO_SUCH_CLIENT;
      }
      case TMEMC_SAVE_GET_CLIENT_CAP: {
        // A cap of -1 would read as "no client", so Xen answered -2 for it.
        const c = this.tmem.findClient(cliId);
        return c ? ((c.abiCap | 0) === -1 ? -2 : c.abiCap | 0) : NO_SUCH_CLIENT;
      }
      case TMEMC_SAVE_GET_CLIENT_FLAGS: {
        // The frozen bit is the state SAVE_BEGIN found, not the freeze SAVE_BEGIN itself set:
        // a restore that replayed the current state would freeze the target before its pages.
        const c = this.tmem.findClient(cliId);
        return c ? (c.compress ? TMEM_CLIENT_COMPRESS : 0) | (c.frozenBeforeSave ? TMEM_CLIENT_FROZEN : 0) : NO_SUCH_CLIENT;
      }
      case TMEMC_SAVE_GET_POOL_FLAGS:
      case TMEMC_SAVE_GET_POOL_NPAGES:
      case TMEMC_SAVE_GET_POOL_UUID: {
        const pool = this.tmem.findClient(cliId)?.pool(a.poolId) ?? null;
        if (!pool) return NO_SUCH_CLIENT;
        if (a.subop === TMEMC_SAVE_GET_POOL_FLAGS) return pool.flags | 0;
        // Ephemeral pools count too: it is the toolstack that writes 0 for them in its stream.
        if (a.subop === TMEMC_SAVE_GET_POOL_NPAGES) return pool.stats.pages;
        if (!buf) return -EFAULT;
        const uuid = new DataView(new ArrayBuffer(16));
        uuid.setBigUint64(0, pool.uuid[0], true);
        uuid.setBigUint64(8, pool.uuid[1], true);
        return buf.write(new Uint8Array(uuid.buffer)) ? 0 : -EFAULT;
      }
      case TMEMC_SAVE_GET_NEXT_PAGE:
        return this.saveNextPage(cliId, a.poolId, a.ctrlArg1, buf);
      case TMEMC_SAVE_GET_NEXT_INV:
        return this.saveNextInvalidation(cliId, a.ctrlArg1, buf);
      case TMEMC_SAVE_END:
        return this.saveEnd(cliId);
      case TMEMC_RESTORE_BEGIN:
        return this.restoreBegin(cliId);
      case TMEMC_RESTORE_PUT_PAGE: {
        const c = this.tmem.findClient(cliId);
        const pool = c?.pool(a.poolId) ?? null;
        if (!c || !pool) return NO_SUCH_CLIENT;
        if (a.ctrlArg1 < TMEM_PAGE_SIZE) return -EINVAL;
        const page = buf?.read(TMEM_PAGE_SIZE);
        if (!page) return -EFAULT;
        return this.tmem.put(c, pool, a.oid, a.ctrlArg2, page, isZeroPage(page));
      }
      case TMEMC_RESTORE_FLUSH_PAGE: {
        const c = this.tmem.findClient(cliId);
        const pool = c?.pool(a.poolId) ?? null;
        if (!c || !pool) return NO_SUCH_CLIENT;
        return this.tmem.flushPage(pool, a.oid, a.ctrlArg2);
      }
      default:
        return -EINVAL;
    }
  }

  /** TMEM_AUTH: creat.arg1 = cli_id, creat.flags = 1 (authorise) or 0 (revoke), creat.uuid. */
  auth(a: ControlArgs): number {
    const flags = a.flags;
    if (flags !== 0 && flags !== 1) return -EINVAL; // Xen 4.0-4.4 wrote before its array on these
    const uuid = uuidFromWords(a.uuid);
    if ((a.arg1 & 0xffff) === TMEM_CLI_ID_ALL) {
      this.tmem.setSharedAuth(flags === 1);
      return 1;
    }
    const c = this.tmem.findClient(a.arg1 as DomId);
    if (!c) return -EINVAL;
    const key = uuidKey(uuid);
    const had = c.authorisedUuids.has(key);
    if (flags === 0) {
      if (!had) return 0;
      this.tmem.setPolicy(c.domid, { authorised: [...c.authorisedUuids].filter((u) => u !== key) });
      return 1;
    }
    if (had) return 1;
    if (c.authorisedUuids.size >= MAX_AUTH_UUIDS) return -ENOMEM;
    this.tmem.setPolicy(c.domid, { authorised: [...c.authorisedUuids, key] });
    return 1;
  }

  /** TMEM_RESTORE_NEW: create a pool in slot pool_id of domain creat.arg1 (a restore target). */
  restoreNew(a: ControlArgs): number {
    const slot = (a.poolId >>> 0) as PoolId;
    if (slot >= MAX_POOLS_PER_DOMAIN) return -EINVAL;
    const c = this.tmem.findClient(a.arg1 as DomId);
    if (!c) return -EINVAL;
    if (c.pools[slot] !== null) return -EEXIST;
    if (((a.flags >>> TMEM_POOL_VERSION_SHIFT) & TMEM_POOL_VERSION_MASK) !== c.rules.specVersion) return -EPERM;
    return this.tmem.createPoolInSlot(c, slot, a.flags, a.uuid);
  }

  setFrozen(c: Client, frozen: boolean): void {
    this.tmem.setPolicy(c.domid, { frozen });
  }

  /** Evicts ephemeral pages until `kib` KiB are freed or none are left; returns KiB freed. */
  flushKiB(kib: number): number {
    return (this.tmem.evictPages(Math.ceil(kib / (TMEM_PAGE_SIZE / 1024))) * TMEM_PAGE_SIZE) / 1024;
  }

  /** Free tmem memory plus every ephemeral page (which could be freed), in whole MiB. */
  freeableMiB(): number {
    const u = this.tmem.usage();
    return framesToMib(u.freeFrames + u.clients.reduce((n, c) => n + c.ephemeralPages, 0));
  }

  /**
   * `xl tmem-list`'s text: a G= line, an S= line per shared pool (its sharers as SC:, the owner
   * first: the domain whose frozen flag and accounting the pool follows), then C= and P= lines
   * per client. For one client (`cliId` not 0xFFFF), that client's C= and P= lines only.
   */
  list(long: boolean, cliId = TMEM_CLI_ID_ALL): string {
    const t = this.tmem.usage();
    const g = t.counters;
    const u = (x: bigint) => x.toString(16);
    const all = cliId === TMEM_CLI_ID_ALL;
    const lines = all
      ? [`G=Tt:${g.ops},Te:${g.errors},Et:${g.evictions},Af:${g.putsNoMem}${long ? `,Fc:${t.pages},Oc:${t.objects}` : ""}`]
      : [];
    if (all)
      t.sharedPools.forEach((p, si) => {
        if (!p) return;
        lines.push(
          `S=SI:${si},PT:${p.type},U0:${u(p.uuid[0])},U1:${u(p.uuid[1])}${p.sharers.map((d) => `,SC:${d}`).join("")}${long ? `,Pc:${p.stats.pages},Oc:${p.stats.objects}` : ""}`,
        );
      });
    for (const c of t.clients) {
      if (!all && c.domid !== cliId) continue;
      const pol = c.policy;
      lines.push(
        `C=CI:${c.domid},ww:${pol.weight},ca:${c.abiCap},co:${pol.compress ? 1 : 0},fr:${pol.frozen ? 1 : 0}${long ? `,Ec:${c.ephemeralPages},Pc:${c.persistentPages}` : ""}`,
      );
      c.pools.forEach((p, id) => {
        if (!p) return;
        const s = p.stats;
        let line = `P=CI:${c.domid},PI:${id},PT:${p.type},U0:${u(p.uuid[0])},U1:${u(p.uuid[1])}`;
        if (long) {
          line +=
            `,Pc:${s.pages},Oc:${s.objects},ps:${s.putsGood},pt:${s.puts},pd:${s.dupPutsFlushed},pr:${s.dupPutsReplaced},px:${s.putsNoMem}` +
            `,gs:${s.getsFound},gt:${s.gets},fs:${s.flushesFound},ft:${s.flushes},os:${s.objectFlushesFound},ot:${s.objectFlushes},ev:${s.evictions}`;
        }
        lines.push(line);
      });
    }
    return `${lines.join("\n")}\n`;
  }

  // ---------------------------------------------------------------- legacy save/restore

  private saveBegin(cliId: DomId, live: boolean): number {
    const c = this.tmem.findClient(cliId);
    if (!c || c.pools.every((p) => p === null)) return 0; // nothing to save
    this.tmem.setPolicy(c.domid, { frozenBeforeSave: c.frozen, frozen: true, migrating: live });
    // The core logs into this list while the client migrates; NEXT_INV takes from it.
    c.invalidated.length = 0;
    this.saves.set(cliId, { pending: new Map() });
    return 1;
  }

  /** The client's save progress; Xen kept a cursor per pool whether or not a save had begun. */
  private saveOf(cliId: DomId): SaveState {
    let save = this.saves.get(cliId);
    if (!save) {
      save = { pending: new Map() };
      this.saves.set(cliId, save);
    }
    return save;
  }

  private saveNextPage(cliId: DomId, poolId: PoolId, bufSize: number, buf: GuestBuffer | null): number {
    const c = this.tmem.findClient(cliId);
    const pool = c?.pool(poolId) ?? null;
    if (!c || !pool?.persistent) return SAVE_END_OF_LIST;
    const save = this.saveOf(cliId);
    const handleBytes = handleSize(c);
    if (bufSize < TMEM_PAGE_SIZE + handleBytes) return -ENOMEM;
    if (!buf) return -EFAULT;
    let pending = save.pending.get(poolId);
    if (!pending) {
      pending = this.persistentHandles(pool, poolId);
      save.pending.set(poolId, pending);
    }
    for (;;) {
      const h = pending.pop();
      if (!h) return SAVE_END_OF_LIST;
      const page = this.tmem.pageBytes(pool, h.oid, h.index);
      if (!page) continue; // flushed since the save began
      const out = new Uint8Array(handleBytes + TMEM_PAGE_SIZE);
      writeHandle(out, c, h);
      out.set(page, handleBytes);
      return buf.write(out) ? 1 : -EFAULT;
    }
  }

  private saveNextInvalidation(cliId: DomId, bufSize: number, buf: GuestBuffer | null): number {
    const c = this.tmem.findClient(cliId);
    if (!c) return NO_SUCH_CLIENT;
    const handleBytes = handleSize(c);
    if (bufSize < handleBytes) return -ENOMEM;
    if (!buf) return -EFAULT;
    const h = c.invalidated.shift();
    if (!h) return 0; // Xen's end of this list is 0, unlike NEXT_PAGE's -1
    const out = new Uint8Array(handleBytes);
    writeHandle(out, c, h);
    return buf.write(out) ? 1 : -EFAULT;
  }

  /** As Xen: any existing client, saving or not, takes back the frozen state SAVE_BEGIN found. */
  private saveEnd(cliId: DomId): number {
    const c = this.tmem.findClient(cliId);
    if (!c) return NO_SUCH_CLIENT;
    this.tmem.setPolicy(c.domid, { migrating: false, frozen: c.frozenBeforeSave });
    c.invalidated.length = 0;
    this.saves.delete(cliId);
    return 0;
  }

  /**
   * Xen created the client here and answered 1, or -1 if it existed. A tmemvm domain has its
   * client from boot, so a client with no pool stands for the one Xen would create (1); one with
   * a pool is the existing client Xen refused (-1). A domid with no domain is -1 too: there is no
   * domain to restore into.
   */
  private restoreBegin(cliId: DomId): number {
    const c = this.tmem.findClient(cliId);
    if (!c || c.pools.some((p) => p !== null)) return NO_SUCH_CLIENT;
    return 1;
  }

  private persistentHandles(pool: Pool, poolId: PoolId): SavedPage[] {
    const out: SavedPage[] = [];
    this.tmem.forEachPage(pool, (oid, index) => out.push({ poolId, oid: oid.slice(), index }));
    return out.reverse();
  }
}

/** struct tmem_handle: 16 bytes with a 64-bit object id (4.0.0/4.0.1), 32 with oid[3]. */
const handleSize = (c: Client): number => (c.rules.specVersion === 0 ? 16 : 32);

function writeHandle(out: Uint8Array, c: Client, h: SavedPage): void {
  const v = new DataView(out.buffer, out.byteOffset);
  v.setUint32(0, h.poolId, true);
  v.setUint32(4, h.index, true);
  const words = handleSize(c) === 16 ? 2 : 6;
  for (let i = 0; i < words; i++) v.setUint32(8 + 4 * i, h.oid[i], true);
}
