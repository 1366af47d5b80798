// The fuzzers' reference model of tmem, written from the spec (xen-tmem-spec.md sections 3-4,
// Xen 4.12 baseline with each generation's deltas) and the README's stated policies, never from
// the core's code. It predicts every op's result and effect exactly: which pages exist with which
// bytes, ephemeral ones included. Ephemeral pages do not vanish at will: a page goes only by an op
// that names it or by an eviction the model can justify (a put that needed room it did not have,
// a control flush), and the victim is the one the stated LRU policy picks. Where the model cannot
// know the outcome (compressed sizes decide whether a page fits), it accepts either result the
// spec allows and takes the number of evictions from the core's counter, but still predicts which
// pages went. Rules of shared pools are Xen 4.12's (spec 4.4, 4.5, 4.7):
//  - a new put and a flush read the frozen flag of the pool's owner, not the caller's;
//  - a put (new or duplicate) makes the owner the object's last client, a get the caller;
//  - a sharer's DESTROY_POOL flushes only the objects whose last client it is and leaves; the
//    owner's leaving hands the pool to the next sharer; the last sharer frees it;
//  - a domain holding the pool in two slots: destroying one only clears that slot; destroying
//    its last slot is an ordinary leave (tmemvm's deliberate difference, README).
import * as C from "../hypercall-abi/constants.js";
import { framesToMib } from "../hypercall-abi/frames.js";
import { decodePoolFlags } from "../hypercall-abi/pool-flags.js";
import type { DecodedOp } from "./layout-facts.js";

const PAGE = C.TMEM_PAGE_SIZE;
const ALL_ONES = (1n << 64n) - 1n;
const MAX_AUTH_UUIDS = 16;
/** SAVE_GET_NEXT_PAGE / NEXT_INV at the end of their list. */
const END_OF_LIST = -1;

/** What a hypervisor generation serves, per the spec's version map (section 0) and 4.2-4.3. */
export interface GenerationRules {
  specVersion: number;
  /** 4.0.2+: PRECOMPRESSED and reserved bits 8-23 refused. */
  reservedBitsChecked: boolean;
  /** 4.5+: shared + persistent refused. */
  sharedPersistentRefused: boolean;
  /** 4.0-4.3: NEW_PAGE, READ, WRITE, XCHG served. */
  legacyDataOps: boolean;
  /** An unknown command on a valid pool: 0 before 4.4, -ENOSYS after. */
  unknownResult: number;
  /** TMEM_CONTROL / AUTH / RESTORE_NEW reach tmem (before 4.6); privileged domains only. */
  guestControl: boolean;
  /** struct tmem_handle bytes in the save stream (16 with a 64-bit oid, 32 with oid[3]). */
  handleBytes: number;
}

export function generationRules(layoutName: string): GenerationRules {
  if (layoutName.startsWith("xen-4.0-"))
    return {
      specVersion: 0,
      reservedBitsChecked: false,
      sharedPersistentRefused: false,
      legacyDataOps: true,
      unknownResult: 0,
      guestControl: true,
      handleBytes: 16,
    };
  if (layoutName.startsWith("xen-4.1-"))
    return {
      specVersion: 1,
      reservedBitsChecked: true,
      sharedPersistentRefused: false,
      legacyDataOps: true,
      unknownResult: 0,
      guestControl: true,
      handleBytes: 32,
    };
  return {
    specVersion: 1,
    reservedBitsChecked: true,
    sharedPersistentRefused: true,
    legacyDataOps: false,
    unknownResult: -C.ENOSYS,
    guestControl: false,
    handleBytes: 32,
  };
}

type Storage = "frame" | "zero" | "unknown";

export interface MPage {
  oid: number[];
  /** The same object id, as the core's lookups take it (made once per page). */
  oid32: Uint32Array;
  index: number;
  bytes: Uint8Array;
  /** Use order for LRU (ephemeral pages); pages handed over together share one. */
  stamp: number;
  storage: Storage;
}

export class MPool {
  readonly pages = new Map<string, MPage>();
  /** oid key -> domid of the object's last client. */
  readonly lastClient = new Map<string, number>();
  /** oid key -> the object's pages here, by page key (a flush of the object takes them, not a walk of the pool). */
  readonly objects = new Map<string, Map<string, MPage>>();
  /** Sharers in the order they joined (a private pool: its owner). */
  readonly sharers: MDomain[] = [];
  /** The core's pool this one was last matched with, and the match's stamp (CaseRun.compare). */
  core: unknown = null;
  coreGen = 0;

  constructor(
    readonly id: number,
    readonly persistent: boolean,
    readonly shared: boolean,
    readonly uuid: readonly [bigint, bigint],
    readonly flags: number,
    public owner: MDomain,
  ) {}

  /** A (domain, slot) through which the core's copy of this pool can be reached. */
  where(): [MDomain, number] | null {
    for (const d of this.sharers) {
      const s = d.slots.indexOf(this);
      if (s >= 0) return [d, s];
    }
    return null;
  }
}

export interface ModelDomainSpec {
  domid: number;
  layoutName: string;
  privileged: boolean;
  ramFrames: number;
}

export class MDomain {
  readonly slots: (MPool | null)[] = new Array(C.MAX_POOLS_PER_DOMAIN).fill(null);
  frozen = false;
  weight = 0;
  capPages = Infinity;
  /** TMEMC_SET_CAP's cap: reported, never enforced. */
  abiCap = 0;
  compress = false;
  migrating = false;
  frozenBeforeSave = false;
  readonly auth = new Set<string>();
  /**
   * The ephemeral pages of the pools this domain owns, least recently used first: a Map keeps
   * insertion order, and a page is (re)inserted whenever it gets a new stamp, so the order is the
   * stamps' (pages handed over together share one stamp and sit together). An eviction reads the
   * first entry instead of walking every page.
   */
  readonly lru = new Map<MPage, MPool>();
  /** Persistent handles flushed while migrating ("pool/oid/index"). */
  readonly invalidated = new Set<string>();
  readonly rules: GenerationRules;

  constructor(readonly spec: ModelDomainSpec) {
    this.rules = generationRules(spec.layoutName);
  }

  get domid(): number {
    return this.spec.domid;
  }
}

/** A save of a domain, as the model holds it (Model.save). */
export interface MSave {
  pools: { slot: number; flags: number; uuid: readonly [bigint, bigint]; pages: { oid: number[]; index: number; bytes: Uint8Array }[] }[];
  weight: number;
  capPages: number;
  abiCap: number;
  compress: boolean;
}

/** What the core did, as far as the model needs to see it. */
export interface Observed {
  result: number;
  /** Pages the core evicted during the op (its counter's change). */
  evictions: number;
  /** Whether the core holds page (oid, index) in the pool the model reaches through (domain, slot). */
  present(domid: number, slot: number, oid: number[], index: number): boolean;
}

/** The model's verdict on one op: a failure, or the guest RAM ranges the op was allowed to write. */
export interface Verdict {
  failure: string | null;
  writes: [number, number][];
}

/**
 * An object id's key in the model's maps: its six 32-bit words (missing ones are 0, as in the
 * 192-bit id) as twelve 16-bit characters, and a page's with its index as two more. Made and
 * hashed per op: character codes, not six numbers formatted in decimal.
 */
const oidKey = (oid: number[]) =>
  String.fromCharCode(
    oid[0] & 0xffff,
    oid[0] >>> 16,
    (oid[1] ?? 0) & 0xffff,
    (oid[1] ?? 0) >>> 16,
    (oid[2] ?? 0) & 0xffff,
    (oid[2] ?? 0) >>> 16,
    (oid[3] ?? 0) & 0xffff,
    (oid[3] ?? 0) >>> 16,
    (oid[4] ?? 0) & 0xffff,
    (oid[4] ?? 0) >>> 16,
    (oid[5] ?? 0) & 0xffff,
    (oid[5] ?? 0) >>> 16,
  );
const pageKey = (oid: number[], index: number) => oidKey(oid) + String.fromCharCode(index & 0xffff, index >>> 16);
/** A page as messages name it: its oid's words in decimal, then its index ("1,0,0,0,0,0/3"). */
const pageName = (oid: number[], index: number) => `${oid.join(",")}/${index >>> 0}`;
const uuidKey = (u: readonly [bigint, bigint]) => `${u[0].toString(16)}:${u[1].toString(16)}`;
const ZERO_PAGE = new Uint8Array(PAGE);
const isZero = (b: Uint8Array) => {
  if (b.length === PAGE) return Buffer.compare(b, ZERO_PAGE) === 0;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
};
const errno = (r: number) => r < 0;

/**
 * The model's page copies, carved from chunks: a 4 KiB ArrayBuffer per put cost its allocation
 * and, collected, much of the fuzzers' GC time. A page's bytes are written once, when carved,
 * and never after (a changed page gets new bytes). A released model's chunks serve the next.
 */
const CHUNK_BYTES = 64 * PAGE;
/**
 * Chunks kept for the next model: 160 MiB, what the largest filled tmem's model holds (40 000
 * pages and the mix's). A new chunk's pages each cost a page fault when first written, some 20 us
 * on this project's VM, several times what the rest of a put's checks cost.
 */
const MAX_SPARE_CHUNKS = 640;
const spareChunks: Uint8Array[] = [];
class PageArena {
  private readonly chunks: Uint8Array[] = [];
  private chunk: Uint8Array | null = null;
  private at = CHUNK_BYTES;

  copy(data: Uint8Array): Uint8Array {
    if (data.length !== PAGE) return data.slice();
    if (this.at === CHUNK_BYTES) {
      this.chunk = spareChunks.pop() ?? new Uint8Array(CHUNK_BYTES);
      this.chunks.push(this.chunk);
      this.at = 0;
    }
    const page = this.chunk!.subarray(this.at, this.at + PAGE);
    this.at += PAGE;
    page.set(data);
    return page;
  }

  release(): void {
    for (const c of this.chunks) if (spareChunks.length < MAX_SPARE_CHUNKS) spareChunks.push(c);
    this.chunks.length = 0;
    this.chunk = null;
    this.at = CHUNK_BYTES;
  }
}

export class Model {
  readonly domains: MDomain[];
  private readonly pools: MPool[] = [];
  private readonly sharedTable: (MPool | null)[] = new Array(C.MAX_GLOBAL_SHARED_POOLS).fill(null);
  sharedAuthOpen = false;
  private clock = 0;
  private nextPoolId = 0;
  /** Pages held in all pools, and those of them that take a frame (kept as pages come and go). */
  private pageCount = 0;
  private framedCount = 0;
  /** Once a client compresses, page sizes (and so room) are no longer predictable. */
  private compressionSeen = false;
  private readonly zeroPageLimit: number;
  /** Set while an op runs: evictions predicted so far, and the victims. */
  private evicted: { pool: MPool; page: MPage }[] = [];
  /** hypercall()'s answer, one object refilled per op. */
  private readonly verdict: Verdict = { failure: null, writes: [] };
  private observed: Observed | null = null;
  private readonly arena = new PageArena();

  constructor(
    readonly capacityFrames: number,
    domains: ModelDomainSpec[],
  ) {
    this.domains = domains.map((d) => new MDomain(d));
    this.zeroPageLimit = 2 * capacityFrames + 1024;
  }

  /** The case is over: no page of this model may be read again (their bytes serve the next model). */
  release(): void {
    this.arena.release();
  }

  domain(domid: number): MDomain | undefined {
    return this.domains.find((d) => d.domid === domid);
  }

  livePools(): readonly MPool[] {
    return this.pools;
  }

  get precise(): boolean {
    return !this.compressionSeen;
  }

  // ------------------------------------------------------------ host actions (control plane)

  authorise(d: MDomain, uuid: readonly [bigint, bigint], allow: boolean): void {
    if (allow) d.auth.add(uuidKey(uuid));
    else d.auth.delete(uuidKey(uuid));
  }

  /**
   * The host caps `d`'s persistent pages at `mib` MiB (null: no cap). The model's own sums: a MiB
   * is 2^20 bytes, a page 4 KiB, so 256 pages a MiB (not the ABI module's conversion, which the
   * core uses).
   */
  setCapMiB(d: MDomain, mib: number | null): void {
    d.capPages = mib === null ? Infinity : (mib * (1 << 20)) / PAGE;
  }

  setCompress(d: MDomain, on: boolean): void {
    d.compress = on;
    if (on) this.compressionSeen = true;
  }

  /** The host evicts up to `pages` ephemeral pages; returns the victims' count. */
  hostFlush(pages: number, obs: Observed): string | null {
    this.begin(obs);
    let n = 0;
    while (n < pages && this.evictOne()) n++;
    return this.end();
  }

  /** What a save of `d` holds, by the model: its pools by slot, the persistent ones' pages, its policy (README "Save and restore"). */
  save(d: MDomain): MSave {
    const pools: MSave["pools"] = [];
    d.slots.forEach((p, slot) => {
      if (p)
        pools.push({
          slot,
          flags: p.flags,
          uuid: p.uuid,
          pages: p.persistent ? [...p.pages.values()].map((g) => ({ oid: g.oid, index: g.index, bytes: g.bytes })) : [],
        });
    });
    return { pools, weight: d.weight, capPages: d.capPages, abiCap: d.abiCap, compress: d.compress };
  }

  /**
   * The host restores `save` into `d`; the core took it (`taken`) or refused it. Xen's rules
   * (spec 4.14, 4.5): a restore goes into a client that does not exist yet (RESTORE_BEGIN fails on
   * one that does; a tmemvm domain's client exists from boot, so one holding a pool is taken as
   * existing, as TMEMC_RESTORE_BEGIN takes it), which so is not frozen; a page may not go into a
   * pool whose owner is frozen (a shared pool it joins). Besides, tmemvm's: the file restores
   * whole or not at all, its pages need room (ephemeral pages may be evicted for it, and stay
   * evicted if it fails after all), and a 17th shared pool is refused. Restored pages are not
   * held to the cap; the saved policy replaces the domain's.
   */
  restore(d: MDomain, save: MSave, taken: boolean, obs: Observed): string | null {
    this.begin(obs);
    const verdict = this.restoreVerdict(d, save, taken);
    return verdict ?? this.end();
  }

  private restoreVerdict(d: MDomain, save: MSave, taken: boolean): string | null {
    const refused = (why: string) => (taken ? `restore into domain ${d.domid}: the core restored it, the model refuses it (${why})` : null);
    if (d.slots.some((p) => p !== null)) return refused("it holds a pool: Xen restores only into a client that does not exist yet");
    if (d.frozen) return refused("it is frozen");
    for (const p of save.pools) {
      const owner = p.pages.length > 0 ? (this.poolFor(d, p.flags, p.uuid)?.join?.owner ?? d) : null;
      if (owner?.frozen) return refused(`a page would go into a pool whose owner, domain ${owner.domid}, is frozen`);
    }
    const pages = save.pools.flatMap((p) => p.pages);
    const precise = this.precise && !save.compress && this.totalPages() + pages.length < this.zeroPageLimit;
    if (precise) {
      let ephemeral = 0;
      for (const x of this.domains) ephemeral += x.lru.size;
      const need = pages.filter((g) => !isZero(g.bytes)).length;
      if (need > this.capacityFrames - this.framedPages() + ephemeral)
        return refused(`${need} frames needed, ${this.capacityFrames - this.framedPages()} free and ${ephemeral} ephemeral pages`);
    } else if (!taken) {
      // Room depends on compressed sizes (or on where the zero-page limit falls): follow the core's
      // answer, and its evictions.
      while (this.evicted.length < this.observed!.evictions && this.evictOne());
      return null;
    }
    const created: number[] = [];
    const undo = (why: string): string | null => {
      for (const slot of created) {
        const p = d.slots[slot]!;
        d.slots[slot] = null;
        this.leave(d, p);
      }
      return refused(why);
    };
    for (const p of save.pools) {
      const to = this.poolFor(d, p.flags, p.uuid);
      if (to === null) return undo("a 17th shared pool");
      this.placePool(d, p.slot, p.flags, p.uuid, to);
      created.push(p.slot);
    }
    for (const p of save.pools) {
      const pool = d.slots[p.slot]!;
      for (const g of p.pages) {
        const old = pool.pages.get(pageKey(g.oid, g.index));
        if (old) this.removePage(pool, old);
        const zero = isZero(g.bytes);
        if (!precise) {
          this.insertPage(pool, g.oid, g.index, g.bytes, zero ? "zero" : "unknown");
          continue;
        }
        const storage: Storage = zero && this.totalPages() < this.zeroPageLimit ? "zero" : "frame";
        if (storage === "frame") {
          while (this.framedPages() >= this.capacityFrames && this.evictOne());
          if (this.framedPages() >= this.capacityFrames) return undo("its pages do not fit");
        }
        this.insertPage(pool, g.oid, g.index, g.bytes, storage);
      }
    }
    if (!precise) while (this.evicted.length < this.observed!.evictions && this.evictOne());
    if (!taken) return `restore into domain ${d.domid}: the core refused it, the model restores it`;
    d.weight = save.weight;
    d.capPages = save.capPages;
    d.abiCap = save.abiCap;
    this.setCompress(d, save.compress);
    return null;
  }

  // ------------------------------------------------------------ one hypercall

  /**
   * Checks one hypercall's result against the model and applies it. `structOk` false: the struct
   * was not all guest RAM; `op` is the struct as the fuzzers' codec decoded it; `ram` the caller's
   * RAM before the op (its frames are read for puts) and after it (for what gets wrote). The
   * verdict is one object, refilled by the next call.
   */
  hypercall(
    d: MDomain,
    raxOk: boolean,
    structOk: boolean,
    op: DecodedOp | null,
    ramBefore: (at: number, len: number) => Uint8Array,
    ramAfter: Uint8Array,
    obs: Observed,
  ): Verdict {
    const v = this.verdict;
    const writes = v.writes;
    if (writes.length !== 0) writes.length = 0;
    const r = obs.result;
    if (!raxOk) v.failure = r === -C.ENOSYS ? null : `a hypercall number other than 38 must give -ENOSYS`;
    else if (!structOk || !op) v.failure = r === -C.EFAULT ? null : `a struct outside guest RAM must give -EFAULT`;
    else {
      this.begin(obs);
      const problem = this.dispatch(d, op, ramBefore, ramAfter, r, writes);
      const after = this.end();
      v.failure = problem || after || null;
    }
    return v;
  }

  private begin(obs: Observed): void {
    if (this.evicted.length !== 0) this.evicted.length = 0;
    this.observed = obs;
  }

  /** After an op: the evictions the core made are the ones the model justified. */
  private end(): string | null {
    const obs = this.observed!;
    this.observed = null;
    if (obs.evictions !== this.evicted.length) {
      return `the core evicted ${obs.evictions} page(s) where the model needed ${this.evicted.length} (${this.evicted.map((v) => pageName(v.page.oid, v.page.index)).join(" ") || "none"})`;
    }
    for (const v of this.evicted) {
      const w = v.pool.where();
      if (
        w &&
        v.pool.pages.get(pageKey(v.page.oid, v.page.index)) === undefined &&
        obs.present(w[0].domid, w[1], v.page.oid, v.page.index)
      ) {
        return `eviction took another page than the least recently used one, ${pageName(v.page.oid, v.page.index)} of pool ${w[1]} of domain ${w[0].domid}`;
      }
    }
    return null;
  }

  private expect(r: number, want: number, what: string): string | null {
    return r === want ? null : `${what}: result ${r}, the model expects ${want}`;
  }

  private frameOf(d: MDomain, op: DecodedOp): number {
    return op.cmfnHi === 0 && op.cmfnLo >>> 0 < d.spec.ramFrames ? (op.cmfnLo >>> 0) * PAGE : -1;
  }

  private dispatch(
    d: MDomain,
    op: DecodedOp,
    ramBefore: (at: number, len: number) => Uint8Array,
    ramAfter: Uint8Array,
    r: number,
    writes: [number, number][],
  ): string | null {
    const rules = d.rules;
    const cmd = op.cmd >>> 0;
    if (cmd === C.TMEM_CONTROL || cmd === C.TMEM_AUTH || cmd === C.TMEM_RESTORE_NEW) {
      if (!rules.guestControl) return this.expect(r, -C.EOPNOTSUPP, "control from a 4.6+ guest");
      if (!d.spec.privileged) return this.expect(r, -C.EPERM, "control from an unprivileged guest");
      if (cmd === C.TMEM_AUTH) return this.auth(op, r);
      if (cmd === C.TMEM_RESTORE_NEW) return this.restoreNew(op, r);
      return this.control(d, op, ramBefore, ramAfter, r, writes);
    }
    if (cmd === C.TMEM_NEW_POOL) return this.newPool(d, op, r);
    if (cmd === C.TMEM_DESTROY_POOL) return this.destroyPool(d, op.poolId, r);
    const pool = this.slot(d, op.poolId);
    if (!pool) return this.expect(r, -C.ENODEV, "an op on a pool id with no pool");
    const frame = this.frameOf(d, op);
    switch (cmd) {
      case C.TMEM_PUT_PAGE:
        return this.put(pool, op.oid, op.index, frame < 0 ? null : ramBefore(frame, PAGE), r, "put");
      case C.TMEM_GET_PAGE:
        return this.get(d, pool, op.oid, op.index, frame, ramAfter, r, writes, 0, 0, PAGE);
      case C.TMEM_FLUSH_PAGE:
        return this.flushPage(pool, op.oid, op.index, r);
      case C.TMEM_FLUSH_OBJECT:
        return this.flushObject(pool, op.oid, r);
    }
    if (rules.legacyDataOps) {
      switch (cmd) {
        case C.TMEM_NEW_PAGE:
          return this.put(pool, op.oid, op.index, new Uint8Array(PAGE), r, "new page");
        case C.TMEM_READ:
          if (!rangeOk(op)) return this.expect(r, -C.EINVAL, "read with an out-of-page range");
          return this.get(d, pool, op.oid, op.index, frame, ramAfter, r, writes, op.tmemOffset, op.pfnOffset, op.len);
        case C.TMEM_WRITE: {
          if (!rangeOk(op)) return this.expect(r, -C.EINVAL, "write with an out-of-page range");
          if (frame < 0) return this.expect(r, -C.EFAULT, "write from a frame that is not RAM");
          const old = pool.pages.get(pageKey(op.oid, op.index));
          const page = old ? old.bytes.slice() : new Uint8Array(PAGE);
          page.set(ramBefore(frame + op.pfnOffset, op.len), op.tmemOffset);
          return this.put(pool, op.oid, op.index, page, r, "write");
        }
        case C.TMEM_XCHG:
          return this.expect(r, 0, "xchg");
      }
    }
    return this.expect(r, rules.unknownResult, `command ${cmd} (not served by this generation)`);
  }

  private slot(d: MDomain, poolId: number): MPool | null {
    return poolId >>> 0 < C.MAX_POOLS_PER_DOMAIN ? d.slots[poolId >>> 0] : null;
  }

  // ------------------------------------------------------------ pools

  private newPool(d: MDomain, op: DecodedOp, r: number): string | null {
    const f = op.flags >>> 0;
    const rules = d.rules;
    const { persistent, shared, version, pageSizeField, precompressed, reserved } = decodePoolFlags(f);
    const refused =
      version !== rules.specVersion ||
      (shared && persistent && rules.sharedPersistentRefused) ||
      pageSizeField !== 0 ||
      (rules.reservedBitsChecked && (precompressed || reserved !== 0));
    if (refused) return this.expect(r, -C.EPERM, "new pool with flags this generation refuses");
    const slot = d.slots.indexOf(null);
    if (slot < 0) return this.expect(r, -C.EPERM, "new pool with all 16 slots used");
    return this.createInSlot(d, slot, f, op.uuid, r, "new pool");
  }

  /**
   * The pool a new pool of `d` with these flags and uuid becomes: the shared pool it joins, a new
   * one, or null (a 17th shared pool). Nothing is changed.
   */
  private poolFor(
    d: MDomain,
    flags: number,
    uuid: readonly [bigint, bigint],
  ): { join: MPool | null; shared: boolean; persistent: boolean } | null {
    const { persistent } = decodePoolFlags(flags);
    let { shared } = decodePoolFlags(flags);
    if (shared && ((uuid[0] === ALL_ONES && uuid[1] === ALL_ONES) || !(this.sharedAuthOpen || d.auth.has(uuidKey(uuid))))) shared = false;
    if (!shared) return { join: null, shared, persistent };
    const join = this.sharedTable.find((p) => p !== null && p.uuid[0] === uuid[0] && p.uuid[1] === uuid[1]) ?? null;
    if (join === null && !this.sharedTable.includes(null)) return null;
    return { join, shared, persistent };
  }

  /** Puts the pool poolFor() chose in `d`'s `slot`. */
  private placePool(
    d: MDomain,
    slot: number,
    flags: number,
    uuid: readonly [bigint, bigint],
    to: { join: MPool | null; shared: boolean; persistent: boolean },
  ): MPool {
    if (to.join) {
      if (!to.join.sharers.includes(d)) to.join.sharers.push(d);
      return (d.slots[slot] = to.join);
    }
    const p = this.addPool(d, to.persistent, to.shared, uuid, flags);
    if (to.shared) this.sharedTable[this.sharedTable.indexOf(null)] = p;
    return (d.slots[slot] = p);
  }

  private createInSlot(d: MDomain, slot: number, flags: number, uuid: readonly [bigint, bigint], r: number, what: string): string | null {
    const { persistent } = decodePoolFlags(flags);
    let { shared } = decodePoolFlags(flags);
    // All-ones uuid, or one this domain is not authorised for: silently private (4.9+ rule).
    if (shared && ((uuid[0] === ALL_ONES && uuid[1] === ALL_ONES) || !(this.sharedAuthOpen || d.auth.has(uuidKey(uuid))))) shared = false;
    if (shared) {
      const existing = this.sharedTable.find((p) => p !== null && p.uuid[0] === uuid[0] && p.uuid[1] === uuid[1]);
      if (existing) {
        const e = this.expect(r, slot, `${what} joining shared pool ${uuidKey(uuid)}`);
        if (e) return e;
        if (!existing.sharers.includes(d)) existing.sharers.push(d);
        d.slots[slot] = existing;
        return null;
      }
      const g = this.sharedTable.indexOf(null);
      if (g < 0) return this.expect(r, -C.EPERM, `${what}: a 17th shared pool`);
      const e = this.expect(r, slot, what);
      if (e) return e;
      const p = this.addPool(d, persistent, true, uuid, flags);
      this.sharedTable[g] = p;
      d.slots[slot] = p;
      return null;
    }
    const e = this.expect(r, slot, what);
    if (e) return e;
    d.slots[slot] = this.addPool(d, persistent, false, uuid, flags);
    return null;
  }

  private addPool(owner: MDomain, persistent: boolean, shared: boolean, uuid: readonly [bigint, bigint], flags: number): MPool {
    const p = new MPool(this.nextPoolId++, persistent, shared, uuid, flags, owner);
    p.sharers.push(owner);
    this.pools.push(p);
    return p;
  }

  private destroyPool(d: MDomain, poolId: number, r: number): string | null {
    const pool = this.slot(d, poolId);
    if (!pool) return this.expect(r, 0, "destroy of an empty or out-of-range slot");
    const e = this.expect(r, 1, "destroy pool");
    if (e) return e;
    d.slots[poolId >>> 0] = null;
    this.leave(d, pool);
    return null;
  }

  /** `d` gave up a slot holding `pool`. */
  leave(d: MDomain, pool: MPool): void {
    if (d.slots.includes(pool)) return; // still held in another slot: nothing else happens
    pool.sharers.splice(pool.sharers.indexOf(d), 1);
    if (pool.sharers.length === 0) {
      for (const p of [...pool.pages.values()]) this.removePage(pool, p);
      this.pools.splice(this.pools.indexOf(pool), 1);
      const g = this.sharedTable.indexOf(pool);
      if (g >= 0) this.sharedTable[g] = null;
      return;
    }
    for (const p of [...pool.pages.values()]) if (pool.lastClient.get(oidKey(p.oid)) === d.domid) this.removePage(pool, p);
    if (pool.owner === d) {
      pool.owner = pool.sharers[0];
      // Its pages are now the heir's, most recently used on its list, in an order the spec
      // leaves open: they share one stamp.
      const stamp = ++this.clock;
      if (!pool.persistent) {
        for (const p of pool.pages.values()) {
          p.stamp = stamp;
          d.lru.delete(p);
          pool.owner.lru.set(p, pool);
        }
      }
    }
  }

  // ------------------------------------------------------------ pages

  private removePage(pool: MPool, p: MPage): void {
    const k = pageKey(p.oid, p.index);
    if (!pool.pages.delete(k)) return;
    this.pageCount--;
    if (p.storage !== "zero") this.framedCount--;
    if (!pool.persistent) pool.owner.lru.delete(p);
    const ok = oidKey(p.oid);
    const obj = pool.objects.get(ok)!;
    obj.delete(k);
    if (obj.size > 0) return;
    pool.objects.delete(ok);
    pool.lastClient.delete(ok);
  }

  /** The page was used now: the newest stamp, and (ephemeral) the most recent end of its owner's LRU. */
  private touch(pool: MPool, page: MPage): void {
    page.stamp = ++this.clock;
    if (pool.persistent) return;
    const lru = pool.owner.lru;
    lru.delete(page);
    lru.set(page, pool);
  }

  private ownerPersistentPages(d: MDomain): number {
    let n = 0;
    for (const p of this.pools) if (p.persistent && p.owner === d) n += p.pages.size;
    return n;
  }

  private totalPages(): number {
    return this.pageCount;
  }

  /** Pages that take a frame (not zero pages). */
  private framedPages(): number {
    return this.framedCount;
  }

  /**
   * PUT_PAGE (and NEW_PAGE, WRITE, RESTORE_PUT_PAGE): `data` null for a frame that is not RAM.
   */
  private put(pool: MPool, oid: number[], index: number, data: Uint8Array | null, r: number, what: string): string | null {
    const key = pageKey(oid, index);
    const old = pool.pages.get(key);
    const owner = pool.owner;
    if (old) {
      if (data === null || owner.migrating) {
        const e = this.expect(
          r,
          owner.migrating ? -C.ENOSPC : -C.EFAULT,
          `duplicate ${what} ${owner.migrating ? "while migrating" : "from a bad frame"}`,
        );
        if (e) return e;
        this.removePage(pool, old);
        return null;
      }
      const zero = isZero(data);
      if (this.precise && old.storage === "frame" && !zero && !owner.compress) {
        const e = this.expect(r, 1, `duplicate ${what}`);
        if (e) return e;
        old.bytes = this.arena.copy(data);
        this.touch(pool, old);
        pool.lastClient.set(oidKey(oid), owner.domid);
        return null;
      }
      this.removePage(pool, old);
      return this.storeNew(pool, oid, index, data, zero, r, -C.ENOSPC, `duplicate ${what}`);
    }
    if (owner.frozen) return this.expect(r, -C.EFROZEN, `${what} of a new page into a pool whose owner (domain ${owner.domid}) is frozen`);
    if (data === null) return this.expect(r, -C.EFAULT, `${what} from a frame that is not RAM`);
    // (No cap, no count: the walk of every pool is for a domain the host capped.)
    if (pool.persistent && owner.capPages !== Infinity && this.ownerPersistentPages(owner) >= owner.capPages)
      return this.expect(r, -C.ENOMEM, `${what} over the owner's cap of ${owner.capPages} pages`);
    return this.storeNew(pool, oid, index, data, isZero(data), r, -C.ENOMEM, what);
  }

  private storeNew(
    pool: MPool,
    oid: number[],
    index: number,
    data: Uint8Array,
    zero: boolean,
    r: number,
    noRoom: number,
    what: string,
  ): string | null {
    let ok: boolean;
    let storage: Storage = "frame";
    if (zero && this.totalPages() < this.zeroPageLimit) {
      storage = "zero";
      ok = true;
    } else if (this.precise) {
      while (this.framedPages() >= this.capacityFrames && this.evictOne());
      ok = this.framedPages() < this.capacityFrames;
    } else {
      // Room depends on compressed sizes: follow the core's answer and its eviction count.
      if (r !== 1 && r !== noRoom) return `${what}: result ${r}, the model expects 1 or ${noRoom}`;
      while (this.evicted.length < this.observed!.evictions && this.evictOne());
      if (this.evicted.length < this.observed!.evictions)
        return `${what}: the core evicted ${this.observed!.evictions} page(s), only ${this.evicted.length} were ephemeral`;
      ok = r === 1;
      storage = pool.owner.compress ? "unknown" : "frame";
    }
    const e = this.expect(r, ok ? 1 : noRoom, what);
    if (e || !ok) return e;
    this.insertPage(pool, oid, index, data, storage);
    return null;
  }

  private insertPage(pool: MPool, oid: number[], index: number, data: Uint8Array, storage: Storage): void {
    const key = pageKey(oid, index);
    const page: MPage = {
      oid: oid.slice(),
      oid32: Uint32Array.from(oid),
      index: index >>> 0,
      bytes: this.arena.copy(data),
      stamp: 0,
      storage,
    };
    pool.pages.set(key, page);
    this.touch(pool, page);
    this.pageCount++;
    if (storage !== "zero") this.framedCount++;
    const objKey = oidKey(oid);
    let obj = pool.objects.get(objKey);
    if (!obj) pool.objects.set(objKey, (obj = new Map()));
    obj.set(key, page);
    pool.lastClient.set(objKey, pool.owner.domid);
  }

  /**
   * Evicts the page the stated policy picks; false if no ephemeral page is left. With every
   * weight 0, the least recently used page host-wide; with weights, the least recently used page
   * of the domain furthest over its weighted share (pages per unit of weight, a weight-0 domain
   * with pages counting as infinitely over; ties to the earliest domain).
   */
  private evictOne(): boolean {
    // The oldest page of the chosen domain's LRU (with weights) or of all of them: the first entry
    // of a list, no walk of the pages. Ties (pages handed over together) take the full rule below.
    let chosen: MDomain | null = null;
    if (this.domains.some((d) => d.weight > 0)) {
      let worst = -1;
      for (const d of this.domains) {
        const n = d.lru.size;
        if (n === 0) continue;
        const load = d.weight > 0 ? n / d.weight : Infinity;
        if (load > worst) {
          worst = load;
          chosen = d;
        }
      }
      if (chosen === null) return false;
    } else {
      let oldest = Infinity;
      for (const d of this.domains) {
        const first = d.lru.keys().next();
        if (!first.done && first.value.stamp < oldest) {
          oldest = first.value.stamp;
          chosen = d;
        }
      }
      if (chosen === null) return false;
    }
    const it = chosen.lru.entries();
    const [page, pool] = it.next().value!;
    const second = it.next();
    if (!second.done && second.value[0].stamp === page.stamp) return this.evictOneOfTied();
    this.removePage(pool, page);
    this.evicted.push({ pool, page });
    return true;
  }

  private evictOneOfTied(): boolean {
    const byOwner = new Map<MDomain, { pool: MPool; page: MPage }[]>();
    for (const pool of this.pools) {
      if (pool.persistent) continue;
      for (const page of pool.pages.values()) {
        let l = byOwner.get(pool.owner);
        if (!l) byOwner.set(pool.owner, (l = []));
        l.push({ pool, page });
      }
    }
    if (byOwner.size === 0) return false;
    let candidates: { pool: MPool; page: MPage }[];
    if (this.domains.some((d) => d.weight > 0)) {
      let worst = -1;
      let chosen: MDomain | null = null;
      for (const d of this.domains) {
        const l = byOwner.get(d);
        if (!l) continue;
        const load = d.weight > 0 ? l.length / d.weight : Infinity;
        if (load > worst) {
          worst = load;
          chosen = d;
        }
      }
      candidates = byOwner.get(chosen!)!;
    } else candidates = [...byOwner.values()].flat();
    const oldest = Math.min(...candidates.map((c) => c.page.stamp));
    const tied = candidates.filter((c) => c.page.stamp === oldest);
    // Pages handed over together are equally old: the core may take any of them.
    const obs = this.observed;
    let victim = tied[0];
    if (tied.length > 1 && obs) {
      victim =
        tied.find((c) => {
          const w = c.pool.where();
          return w !== null && !obs.present(w[0].domid, w[1], c.page.oid, c.page.index);
        }) ?? tied[0];
    }
    this.removePage(victim.pool, victim.page);
    this.evicted.push(victim);
    return true;
  }

  private get(
    d: MDomain,
    pool: MPool,
    oid: number[],
    index: number,
    frame: number,
    ramAfter: Uint8Array,
    r: number,
    writes: [number, number][],
    from: number,
    to: number,
    len: number,
  ): string | null {
    const what = len === PAGE && from === 0 ? "get" : "read";
    if (pool.pages.size === 0) return this.expect(r, -C.EEMPTY, `${what} from a pool with no pages`);
    const page = pool.pages.get(pageKey(oid, index));
    // Messages made only when they are needed: a page's name costs its words in decimal.
    if (!page) return r === 0 ? null : this.expect(r, 0, `${what} of ${pageName(oid, index)}, which the model does not hold`);
    if (frame < 0) return this.expect(r, -C.EFAULT, `${what} into a frame that is not RAM`);
    if (r !== 1) return this.expect(r, 1, `${what} of ${pageName(oid, index)}`);
    writes.push([frame + to, len]);
    const got = ramAfter.subarray(frame + to, frame + to + len);
    const want = page.bytes.subarray(from, from + len);
    const at = firstDifference(got, want);
    if (at < len)
      return `${what} of ${pageName(oid, index)} returned bytes other than the last page put (first difference at byte ${from + at})`;
    if (pool.persistent) return null;
    if (pool.shared) {
      this.touch(pool, page);
      pool.lastClient.set(oidKey(oid), d.domid);
    } else this.removePage(pool, page);
    return null;
  }

  private flushPage(pool: MPool, oid: number[], index: number, r: number): string | null {
    const e = this.expect(r, pool.owner.frozen ? -C.EFROZEN : 1, `flush page${pool.owner.frozen ? " with the pool's owner frozen" : ""}`);
    if (e) return e;
    const page = pool.pages.get(pageKey(oid, index));
    if (page) {
      this.removePage(pool, page);
      if (pool.persistent && pool.owner.migrating) pool.owner.invalidated.add(`${pool.owner.slots.indexOf(pool)}/${pageKey(oid, index)}`);
    }
    return null;
  }

  private flushObject(pool: MPool, oid: number[], r: number): string | null {
    const e = this.expect(r, pool.owner.frozen ? -C.EFROZEN : 1, `flush object${pool.owner.frozen ? " with the pool's owner frozen" : ""}`);
    if (e) return e;
    const obj = pool.objects.get(oidKey(oid));
    if (obj) for (const p of [...obj.values()]) this.removePage(pool, p);
    return null;
  }

  // ------------------------------------------------------------ control (TMEMC_*, AUTH, RESTORE_NEW)

  private client(cliId: number): MDomain | undefined {
    return this.domain(cliId & 0xffff);
  }

  /** The clients a cli_id names, or null: 0xFFFF is all of them. */
  private targets(cliId: number): MDomain[] | null {
    if ((cliId & 0xffff) === C.TMEM_CLI_ID_ALL) return this.domains;
    const c = this.client(cliId);
    return c ? [c] : null;
  }

  private control(
    d: MDomain,
    op: DecodedOp,
    ramBefore: (at: number, len: number) => Uint8Array,
    ramAfter: Uint8Array,
    r: number,
    writes: [number, number][],
  ): string | null {
    const sub = op.subop >>> 0;
    const name = `control sub-op ${sub}`;
    const ram = d.spec.ramFrames * PAGE;
    /** ctrl.buf's first `len` bytes as a RAM offset, or -1. */
    const buf = (len: number) => (op.bufHi === 0 && (op.bufLo >>> 0) + len <= ram ? op.bufLo >>> 0 : -1);
    const cli = this.client(op.cliId);
    switch (sub) {
      case C.TMEMC_THAW:
      case C.TMEMC_FREEZE:
      case C.TMEMC_DESTROY: {
        const ts = this.targets(op.cliId);
        const e = this.expect(r, ts ? 0 : -C.EINVAL, `${name} (freeze/thaw)`);
        if (!e && ts) for (const c of ts) c.frozen = sub === C.TMEMC_FREEZE;
        return e;
      }
      case C.TMEMC_FLUSH: {
        if ((op.cliId & 0xffff) !== C.TMEM_CLI_ID_ALL) return this.expect(r, -C.EINVAL, `${name} (flush) for one client`);
        const pages = Math.ceil((op.ctrlArg1 >>> 0) / (PAGE / 1024));
        let n = 0;
        while (n < pages && this.evictOne()) n++;
        return this.expect(r, n * (PAGE / 1024), `${name} (flush ${op.ctrlArg1 >>> 0} KiB)`);
      }
      case C.TMEMC_LIST: {
        // Whole lines land wherever they fall (4.0-4.5 never measured them against arg1): the
        // core knows the text's length, the model only where it starts and that it ends in a NUL.
        const all = (op.cliId & 0xffff) === C.TMEM_CLI_ID_ALL;
        if (!all && !cli) return this.expect(r, -1, `${name} (list) of an unknown client`);
        const at = buf(1);
        if (at < 0) return this.expect(r, -C.EFAULT, `${name} (list) into a buffer that is not RAM`);
        if (r === -C.EFAULT) return null; // the text would run past RAM: only the core knows its length
        const e = this.expect(r, 0, `${name} (list)`);
        if (e) return e;
        const end = ramAfter.indexOf(0, at);
        if (end < 0) return `${name} (list) wrote no NUL`;
        writes.push([at, end + 1 - at]);
        const text = new TextDecoder().decode(ramAfter.subarray(at, Math.min(end, at + 2)));
        if (text !== (all ? "G=" : "C=")) return `${name} (list) wrote "${text}…", not a ${all ? "G=" : "C="} line`;
        return null;
      }
      case C.TMEMC_SET_WEIGHT:
      case C.TMEMC_SET_CAP:
      case C.TMEMC_SET_COMPRESS: {
        const ts = this.targets(op.cliId);
        const e = this.expect(r, ts ? 0 : -C.EINVAL, `${name} (weight/cap/compress)`);
        if (!e && ts) {
          for (const c of ts) {
            if (sub === C.TMEMC_SET_WEIGHT) c.weight = op.ctrlArg1 >>> 0;
            else if (sub === C.TMEMC_SET_CAP) c.abiCap = op.ctrlArg1 >>> 0;
            else this.setCompress(c, op.ctrlArg1 !== 0);
          }
        }
        return e;
      }
      case C.TMEMC_QUERY_FREEABLE_MB: {
        if (!this.precise) return r >= 0 ? null : `${name} (freeable): result ${r}`;
        let eph = 0;
        for (const p of this.pools) if (!p.persistent) eph += p.pages.size;
        return this.expect(r, framesToMib(this.capacityFrames - this.framedPages() + eph), `${name} (freeable MiB)`);
      }
      case C.TMEMC_SAVE_BEGIN: {
        if (!cli || cli.slots.every((p) => p === null)) return this.expect(r, 0, `${name} (save begin) with nothing to save`);
        const e = this.expect(r, 1, `${name} (save begin)`);
        if (e) return e;
        cli.frozenBeforeSave = cli.frozen;
        cli.frozen = true;
        cli.migrating = op.ctrlArg1 !== 0;
        cli.invalidated.clear();
        return null;
      }
      case C.TMEMC_SAVE_GET_VERSION:
        return this.expect(r, d.rules.specVersion, `${name} (version, the caller's, whatever cli_id)`);
      case C.TMEMC_SAVE_GET_MAXPOOLS:
        return this.expect(r, C.MAX_POOLS_PER_DOMAIN, `${name} (max pools)`);
      case C.TMEMC_SAVE_GET_CLIENT_WEIGHT:
        return this.expect(r, cli ? cli.weight | 0 : -1, `${name} (weight)`);
      case C.TMEMC_SAVE_GET_CLIENT_CAP:
        return this.expect(r, cli ? ((cli.abiCap | 0) === -1 ? -2 : cli.abiCap | 0) : -1, `${name} (cap)`);
      case C.TMEMC_SAVE_GET_CLIENT_FLAGS:
        return this.expect(
          r,
          cli ? (cli.compress ? C.TMEM_CLIENT_COMPRESS : 0) | (cli.frozenBeforeSave ? C.TMEM_CLIENT_FROZEN : 0) : -1,
          `${name} (client flags, frozen as SAVE_BEGIN found it)`,
        );
      case C.TMEMC_SAVE_GET_POOL_FLAGS:
      case C.TMEMC_SAVE_GET_POOL_NPAGES:
      case C.TMEMC_SAVE_GET_POOL_UUID: {
        const pool = cli ? this.slot(cli, op.poolId) : null;
        if (!pool) return this.expect(r, -1, `${name} (pool info) of no pool`);
        if (sub === C.TMEMC_SAVE_GET_POOL_FLAGS) return this.expect(r, pool.flags | 0, `${name} (pool flags)`);
        if (sub === C.TMEMC_SAVE_GET_POOL_NPAGES) return this.expect(r, pool.pages.size, `${name} (pool pages)`);
        const at = buf(16);
        const e = this.expect(r, at < 0 ? -C.EFAULT : 0, `${name} (pool uuid)`);
        if (e || at < 0) return e;
        writes.push([at, 16]);
        const v = new DataView(ramAfter.buffer, ramAfter.byteOffset + at, 16);
        if (v.getBigUint64(0, true) !== pool.uuid[0] || v.getBigUint64(8, true) !== pool.uuid[1])
          return `${name} (pool uuid) wrote a uuid other than the pool's`;
        return null;
      }
      case C.TMEMC_SAVE_GET_NEXT_PAGE: {
        const pool = cli ? this.slot(cli, op.poolId) : null;
        if (!cli || !pool?.persistent) return this.expect(r, END_OF_LIST, `${name} (next page) of no pool or an ephemeral one`);
        const hb = cli.rules.handleBytes;
        if (op.ctrlArg1 >>> 0 < PAGE + hb) return this.expect(r, -C.ENOMEM, `${name} (next page) into a short buffer`);
        if (r === END_OF_LIST || r === -C.EFAULT) return null; // which pages remain is the core's walk
        const e = this.expect(r, 1, `${name} (next page)`);
        if (e) return e;
        const at = buf(hb + PAGE);
        if (at < 0) return `${name} (next page) returned 1 with a buffer that is not RAM`;
        writes.push([at, hb + PAGE]);
        const v = new DataView(ramAfter.buffer, ramAfter.byteOffset + at, hb);
        const oid = [0, 0, 0, 0, 0, 0];
        for (let i = 0; i < (hb - 8) / 4; i++) oid[i] = v.getUint32(8 + 4 * i, true);
        const page = pool.pages.get(pageKey(oid, v.getUint32(4, true)));
        if (v.getUint32(0, true) !== op.poolId >>> 0 || !page) return `${name} (next page) named a page the model does not hold`;
        if (firstDifference(ramAfter.subarray(at + hb, at + hb + PAGE), page.bytes) < PAGE)
          return `${name} (next page) returned other bytes than the page holds`;
        return null;
      }
      case C.TMEMC_SAVE_GET_NEXT_INV: {
        if (!cli) return this.expect(r, -1, `${name} (next invalidation) of no client`);
        const hb = cli.rules.handleBytes;
        if (op.ctrlArg1 >>> 0 < hb) return this.expect(r, -C.ENOMEM, `${name} (next invalidation) into a short buffer`);
        if (r === 0 || r === -C.EFAULT) return null; // 0: the log is empty
        const e = this.expect(r, 1, `${name} (next invalidation)`);
        if (e) return e;
        const at = buf(hb);
        if (at < 0) return `${name} (next invalidation) returned 1 with a buffer that is not RAM`;
        writes.push([at, hb]);
        return null;
      }
      case C.TMEMC_SAVE_END: {
        // Any client, saving or not, takes back the frozen state the last SAVE_BEGIN found.
        if (!cli) return this.expect(r, -1, `${name} (save end) of no client`);
        const e = this.expect(r, 0, `${name} (save end)`);
        if (e) return e;
        cli.migrating = false;
        cli.frozen = cli.frozenBeforeSave;
        return null;
      }
      case C.TMEMC_RESTORE_BEGIN:
        return this.expect(r, !cli || cli.slots.some((p) => p !== null) ? -1 : 1, `${name} (restore begin)`);
      case C.TMEMC_RESTORE_PUT_PAGE: {
        const pool = cli ? this.slot(cli, op.poolId) : null;
        if (!cli || !pool) return this.expect(r, -1, `${name} (restore put) of no pool`);
        if (op.ctrlArg1 >>> 0 < PAGE) return this.expect(r, -C.EINVAL, `${name} (restore put) with a short buffer`);
        const at = buf(PAGE);
        if (at < 0) return this.expect(r, -C.EFAULT, `${name} (restore put) from a buffer that is not RAM`);
        return this.put(pool, op.ctrlOid, op.ctrlArg2, ramBefore(at, PAGE), r, "restore put");
      }
      case C.TMEMC_RESTORE_FLUSH_PAGE: {
        const pool = cli ? this.slot(cli, op.poolId) : null;
        if (!cli || !pool) return this.expect(r, -1, `${name} (restore flush) of no pool`);
        return this.flushPage(pool, op.ctrlOid, op.ctrlArg2, r);
      }
      default:
        return this.expect(r, -C.EINVAL, `unknown ${name}`);
    }
  }

  private auth(op: DecodedOp, r: number): string | null {
    const flags = op.flags >>> 0;
    if (flags !== 0 && flags !== 1) return this.expect(r, -C.EINVAL, "auth with flags other than 0 and 1");
    if ((op.arg1 & 0xffff) === C.TMEM_CLI_ID_ALL) {
      const e = this.expect(r, 1, "auth switch for all clients");
      if (!e) this.sharedAuthOpen = flags === 1;
      return e;
    }
    const c = this.domain(op.arg1 >>> 0);
    if (!c) return this.expect(r, -C.EINVAL, "auth for an unknown client");
    const k = uuidKey(op.uuid);
    if (flags === 0) {
      const e = this.expect(r, c.auth.has(k) ? 1 : 0, "deauth");
      c.auth.delete(k);
      return e;
    }
    if (!c.auth.has(k) && c.auth.size >= MAX_AUTH_UUIDS) return this.expect(r, -C.ENOMEM, "auth with 16 uuids already");
    const e = this.expect(r, 1, "auth");
    c.auth.add(k);
    return e;
  }

  private restoreNew(op: DecodedOp, r: number): string | null {
    const slot = op.poolId >>> 0;
    if (slot >= C.MAX_POOLS_PER_DOMAIN) return this.expect(r, -C.EINVAL, "restore-new into a slot past 15");
    const c = this.domain(op.arg1 >>> 0);
    if (!c) return this.expect(r, -C.EINVAL, "restore-new for an unknown client");
    if (c.slots[slot]) return this.expect(r, -C.EEXIST, "restore-new into a used slot");
    if (((op.flags >>> C.TMEM_POOL_VERSION_SHIFT) & C.TMEM_POOL_VERSION_MASK) !== c.rules.specVersion)
      return this.expect(r, -C.EPERM, "restore-new with the wrong version");
    return this.createInSlot(c, slot, op.flags >>> 0, op.uuid, r, "restore-new");
  }
}

/** READ/WRITE's offsets and length: each within a page and each range ending inside it. */
function rangeOk(op: DecodedOp): boolean {
  const t = op.tmemOffset >>> 0;
  const p = op.pfnOffset >>> 0;
  const n = op.len >>> 0;
  return t <= PAGE && p <= PAGE && n <= PAGE && t + n <= PAGE && p + n <= PAGE;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  // Buffer.compare takes Uint8Arrays as they are: no Buffer wrappers made per call.
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  if (a.length === b.length && equal(a, b)) return n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

export { errno, pageKey, pageName };
