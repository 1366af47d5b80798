// One fuzz case being executed: its tmem, its domains, the host's control plane, the reference
// model and the RAM snapshots the oracles compare with. Generated cases, fast-check's op lists
// and coverage-guided inputs all run through step(); the host's control actions through host().
import * as C from "../hypercall-abi/constants.js";
import { FRAMES_PER_MIB } from "../hypercall-abi/frames.js";
import { COMMAND_NAMES, describeResult } from "../hypercall-abi/op-describe.js";
import type { OpLayout } from "../hypercall-abi/op-layouts.js";
import {
  ControlPlane,
  Domain,
  GuestMemory,
  Kernels,
  restoreClient,
  saveClient,
  SaveFileError,
  Tmem,
  Tmemc,
  type DomId,
  type Pool,
} from "../vmm/harness.js";
import { nodeAssets, traceFile, TraceRecorder, type HypercallObserver, type TraceSink } from "../vmm/node.js";
import { codecFor, type DecodedOp } from "./layout-facts.js";
import { checkedCompressor, type BlockCompressor } from "./lz4-block.js";
import { SlabPool } from "./slab-pool.js";
import { equal, firstDifference, Model, pageKey, type MDomain, type MPage, type MPool, type MSave, type Observed } from "./shadow.js";

export interface CaseFailure {
  case: number;
  /** 0-based hypercall within the case. */
  op: number;
  message: string;
}

/** Where each domain keeps its op struct; frames for data start above. */
export const OP_AT = 0x800;
export const FIRST_FRAME = 4;
export const FRAMES_USED = 12;
export const SHARED_UUID: [bigint, bigint] = [0xabcdn, 0x1234n];
export const OTHER_UUID: [bigint, bigint] = [0x5eedn, 0x77n];
/**
 * Every so many hypercalls, the model and the core are compared page by page, and the core's
 * invariants checked; both cost a walk of every page, so a tmem holding more pages than that is
 * checked every as many hypercalls as it holds pages (a filled tmem's cost per op stays flat).
 */
const FULL_COMPARE_EVERY = 32;
const INVARIANTS_EVERY = 64;
/** The case's page-index hash key: fixed by its number, so a case (and an input's coverage) runs the same every time, while cases differ. */
const caseHashKey = (caseNo: number): number => Math.imul(caseNo + 1, 0x9e3779b1);
/** Bytes of RAM swept per hypercall, one domain after another (1 MiB each: 256 hypercalls a domain). */
const RAM_CHUNK = 4096;
const PAGE = 4096;
/** A zero or compressed page of the core, loaded for a compare. */
const scratchPage = new Uint8Array(PAGE);

/** touched()'s list and marks, reused by every op (nothing allocated per hypercall). */
const touchedPages: number[] = [];
let touchedMarks = new Uint32Array(256);
let touchedStamp = 0;

function touchRange(a: number, len: number, ramBytes: number): void {
  if (a < 0) {
    if (a + len <= 0) return;
    len += a;
    a = 0;
  }
  if (!(a < ramBytes)) return;
  const last = Math.floor(Math.min(ramBytes - 1, a + Math.max(len, 1) - 1) / PAGE);
  for (let p = Math.floor(a / PAGE); p <= last; p++) {
    if (touchedMarks[p] !== touchedStamp) {
      touchedMarks[p] = touchedStamp;
      touchedPages.push(p);
    }
  }
}

/**
 * The pages an op may have touched, each once, as page numbers: its struct, the frame its cmfn
 * names and the frames either side, that frame's READ/WRITE range ends, its control buffer, and
 * the ranges the model let it write. The list is reused: valid until the next call.
 */
function touched(
  structAt: number,
  structSize: number,
  op: DecodedOp | null,
  writes: [number, number][],
  ramBytes: number,
): readonly number[] {
  if (touchedPages.length !== 0) touchedPages.length = 0; // the length setter is a runtime call
  if (touchedMarks.length < ramBytes / PAGE) touchedMarks = new Uint32Array(ramBytes / PAGE);
  touchedStamp = (touchedStamp + 1) >>> 0 || 1;
  if (touchedStamp === 1) touchedMarks.fill(0);
  if (structAt >= 0) touchRange(structAt, structSize, ramBytes);
  if (op) {
    if (op.cmfnHi === 0) {
      const frame = (op.cmfnLo >>> 0) * PAGE;
      touchRange(frame - PAGE, 3 * PAGE, ramBytes); // and the frames either side (an off-by-one frame)
      touchRange(frame + (op.pfnOffset >>> 0), 1, ramBytes);
      touchRange(frame + (op.pfnOffset >>> 0) + (op.len >>> 0), 1, ramBytes);
    }
    if (op.hasCtrl && op.bufHi === 0) {
      touchRange(op.bufLo >>> 0, 1, ramBytes);
      touchRange((op.bufLo >>> 0) + (op.ctrlArg1 >>> 0), 1, ramBytes);
    }
  }
  for (const [start, len] of writes) touchRange(start, len, ramBytes);
  return touchedPages;
}

export interface CaseSetup {
  capacityFrames: number;
  domains: { layout: OpLayout; privileged: boolean; authorised: boolean }[];
}

/** A control-plane action from the host between two hypercalls. */
export type HostAction =
  | { kind: "freeze" | "thaw"; d: number }
  | { kind: "weight"; d: number; value: number }
  | { kind: "cap"; d: number; value: number | null }
  | { kind: "compress"; d: number; value: number }
  | { kind: "flush"; d: number; value: number }
  | { kind: "auth" | "deauth"; d: number; value: number }
  /** Saves domain d's tmem (kept for the case's restores); restores the case's save `value` (modulo their number) into d. */
  | { kind: "save" | "restore"; d: number; value: number };

interface FuzzDomain {
  domain: Domain;
  model: MDomain;
  /** Pool ids the domain created. */
  pools: number[];
}

const TWO_53 = 1n << 53n;
const TMEM_OP_RAX = BigInt(C.HYPERVISOR_tmem_op);
const lo = (x: bigint) => Number(BigInt.asIntN(32, x));
const hi = (x: bigint) => Number(BigInt.asIntN(32, x >> 32n));
const E = (...xs: number[]) => new Set(xs.map((x) => -x));

const AUTH_ERRS = E(C.EINVAL, C.ENOMEM);
const RESTORE_NEW_ERRS = E(C.EINVAL, C.EEXIST, C.EPERM);
const PUT_ERRS = E(C.EFROZEN, C.ENOMEM, C.ENOSPC, C.EFAULT);
const GET_ERRS = E(C.EEMPTY, C.EFAULT);
const FLUSH_ERRS = E(C.EFROZEN);
const LEGACY_ERRS = E(C.EINVAL, C.EEMPTY, C.EFAULT, C.ENOMEM, C.ENOSPC, C.EFROZEN);
const CONTROL_RESULTS = new Map<number, (r: number) => boolean>();

/**
 * Whether the spec allows result `r` for an op (a coarse check beside the model's exact
 * prediction): each command, and each control sub-op, against its own set.
 */
function resultAllowed(r: number, raxOk: boolean, structFits: boolean, op: DecodedOp | null, dom: Domain, poolExists: boolean): boolean {
  if (!raxOk) return r === -C.ENOSYS;
  if (!structFits || op === null) return r === -C.EFAULT;
  const legacyControl = dom.layout.generation !== "xen-4.12-oid3";
  const cmd = op.cmd >>> 0;
  switch (cmd) {
    case C.TMEM_CONTROL:
    case C.TMEM_AUTH:
    case C.TMEM_RESTORE_NEW: {
      if (!legacyControl) return r === -C.EOPNOTSUPP;
      if (!dom.privileged) return r === -C.EPERM;
      if (cmd === C.TMEM_AUTH) return r === 0 || r === 1 || AUTH_ERRS.has(r);
      if (cmd === C.TMEM_RESTORE_NEW) return (r >= 0 && r < C.MAX_POOLS_PER_DOMAIN) || RESTORE_NEW_ERRS.has(r);
      const subop = op.subop >>> 0;
      let check = CONTROL_RESULTS.get(subop);
      if (!check) CONTROL_RESULTS.set(subop, (check = controlResults(subop)));
      return check(r);
    }
    case C.TMEM_NEW_POOL:
      return (r >= 0 && r < C.MAX_POOLS_PER_DOMAIN) || r === -C.EPERM || r === -C.ENOMEM;
    case C.TMEM_DESTROY_POOL:
      return r === 0 || r === 1;
  }
  if (!poolExists) return r === -C.ENODEV;
  switch (cmd) {
    case C.TMEM_PUT_PAGE:
      return r === 1 || PUT_ERRS.has(r);
    case C.TMEM_GET_PAGE:
      return r === 0 || r === 1 || GET_ERRS.has(r);
    case C.TMEM_FLUSH_PAGE:
    case C.TMEM_FLUSH_OBJECT:
      return r === 1 || FLUSH_ERRS.has(r);
  }
  if (legacyControl && (cmd === C.TMEM_NEW_PAGE || cmd === C.TMEM_READ || cmd === C.TMEM_WRITE || cmd === C.TMEM_XCHG)) {
    return r === 0 || r === 1 || LEGACY_ERRS.has(r);
  }
  return r === (legacyControl ? 0 : -C.ENOSYS);
}

/** Each TMEMC_* sub-op's own results (spec 3.3 and 4.14). */
function controlResults(subop: number): (r: number) => boolean {
  const one =
    (...ok: number[]) =>
    (r: number) =>
      ok.includes(r);
  switch (subop) {
    case C.TMEMC_THAW:
    case C.TMEMC_FREEZE:
    case C.TMEMC_DESTROY:
    case C.TMEMC_SET_WEIGHT:
    case C.TMEMC_SET_CAP:
    case C.TMEMC_SET_COMPRESS:
      return one(0, -C.EINVAL);
    case C.TMEMC_SAVE_END:
      return one(0, -1);
    case C.TMEMC_FLUSH:
      return (r) => (r >= 0 && r % 4 === 0) || r === -C.EINVAL;
    case C.TMEMC_LIST:
      return one(0, -1, -C.EFAULT);
    case C.TMEMC_QUERY_FREEABLE_MB:
      return (r) => r >= 0;
    case C.TMEMC_SAVE_BEGIN:
      return one(0, 1);
    case C.TMEMC_SAVE_GET_VERSION:
      return one(0, 1);
    case C.TMEMC_SAVE_GET_MAXPOOLS:
      return one(C.MAX_POOLS_PER_DOMAIN);
    case C.TMEMC_SAVE_GET_POOL_NPAGES:
      return (r) => r >= -1;
    case C.TMEMC_SAVE_GET_CLIENT_FLAGS:
      return one(0, 1, 2, 3, -1);
    case C.TMEMC_SAVE_GET_POOL_FLAGS:
    case C.TMEMC_SAVE_GET_CLIENT_WEIGHT:
    case C.TMEMC_SAVE_GET_CLIENT_CAP:
      return () => true; // a flags word as created; an int that a u32 past INT_MAX made negative
    case C.TMEMC_SAVE_GET_POOL_UUID:
      return one(0, -C.EFAULT, -1);
    case C.TMEMC_SAVE_GET_NEXT_PAGE:
      return one(1, -1, -C.ENOMEM, -C.EFAULT);
    case C.TMEMC_SAVE_GET_NEXT_INV:
      return one(1, 0, -1, -C.ENOMEM, -C.EFAULT);
    case C.TMEMC_RESTORE_BEGIN:
      return one(1, -1);
    case C.TMEMC_RESTORE_PUT_PAGE:
      return one(1, -C.EFROZEN, -C.ENOMEM, -C.ENOSPC, -C.EFAULT, -C.EINVAL, -1);
    case C.TMEMC_RESTORE_FLUSH_PAGE:
      return one(1, -C.EFROZEN, -1);
    default:
      return one(-C.EINVAL);
  }
}

/**
 * A domain's RAM with its snapshot (what the oracles expect the RAM to hold) and the pages either
 * was written at. A finished case's slot, zeroed again, serves the next case: creating a 1 MiB
 * WebAssembly.Memory (and collecting it) cost most of a case's set-up.
 */
interface RamSlot {
  ram: GuestMemory;
  snap: Uint8Array;
  /** Buffers over the same bytes, made once: Buffer.compare on ranges allocates nothing. */
  ramBuf: Buffer;
  snapBuf: Buffer;
  /** Per page: written (to the snapshot, so to the RAM too) during the case. */
  dirty: Uint8Array;
  dirtyPages: number[];
  /** The RAM as words, for filling pages a word at a time (as the guest would). */
  words: Int32Array;
}

const RAM_MIB = 1;
/** Slots of finished cases, RAM and snapshot all zeros again (CaseRun.release()). */
const spareRams: RamSlot[] = [];
let restoreRam: GuestMemory | null = null;
function takeRam(): RamSlot {
  const spare = spareRams.pop();
  if (spare) return spare;
  const ram = new GuestMemory(RAM_MIB, fuzzKernels);
  const snap = new Uint8Array(ram.sizeBytes);
  return {
    ram,
    snap,
    ramBuf: Buffer.from(ram.bytes.buffer, ram.bytes.byteOffset, ram.bytes.byteLength),
    snapBuf: Buffer.from(snap.buffer),
    dirty: new Uint8Array(ram.frames),
    dirtyPages: [],
    words: new Int32Array(ram.memory.buffer),
  };
}

/** The fuzzers' kernels on this thread, compiled once: every case's RAM and tmem, and its replays, use them. */
export const fuzzKernels = new Kernels(nodeAssets);

/**
 * One LZ4 instance for every case's tmem on this thread: it keeps nothing between calls (each
 * result is copied out before the next), and a new Wasm instance per case was a per-case cost.
 * Every block it writes is checked against the format (lz4-block.ts): the first that breaks it
 * is the case's failure, at the op that compressed it.
 */
let lz4: BlockCompressor | null = null;
let lz4Problem: string | null = null;
/** Frame-store slabs of finished cases, for the next case's tmem on this thread. */
const slabs = new SlabPool<NonNullable<ReturnType<NonNullable<ConstructorParameters<typeof Tmem>[0]["slabs"]>["take"]>>>();
const sharedLz4 = () => (lz4 ??= checkedCompressor(fuzzKernels.lz4(), (p) => (lz4Problem ??= p)));

export class CaseRun {
  readonly tmem: Tmem;
  private readonly tmemc: Tmemc;
  readonly doms: FuzzDomain[] = [];
  readonly model: Model;
  readonly control: ControlPlane;
  private readonly rams: RamSlot[];
  private readonly snapshots: Uint8Array[];
  /** Per domain, its RAM before the op (its snapshot), for the model: made once per case. */
  private readonly ramBefore: ((at: number, len: number) => Uint8Array)[];
  private readonly ramBufs: Buffer[];
  private readonly snapBufs: Buffer[];
  /** finish() found every domain's RAM equal to its snapshot, and nothing was written since. */
  private ramVerified = false;
  private compareGen = 0;
  private coreMarks = new Float64Array(64);
  private sweepDomain = 0;
  private sweepAt = 0;
  private ops = 0;
  private lastFullCompare = -1;
  /** The case's saves (host save actions): the file the core wrote, and what the model says it holds. */
  private readonly saves: { file: Uint8Array; model: MSave }[] = [];
  private lastInvariants = -1;
  private readonly setup: CaseSetup;

  constructor(
    setup: CaseSetup,
    readonly caseNo: number,
    observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver,
  ) {
    this.setup = setup;
    lz4Problem = null;
    this.tmem = new Tmem({
      capacityFrames: setup.capacityFrames,
      compressor: sharedLz4,
      indexModule: fuzzKernels.pageIndex(),
      hashKey: caseHashKey(caseNo),
      slabs,
    });
    this.tmemc = new Tmemc(this.tmem);
    // A new domain's RAM is all zeros, as a new (or a released, re-zeroed) slot is: its snapshot
    // needs no copy.
    this.rams = setup.domains.map(() => takeRam());
    const domains = setup.domains.map(
      (d, i) =>
        new Domain(this.tmem, {
          domid: i + 1,
          name: `fuzz${i}`,
          ramMiB: RAM_MIB,
          ram: this.rams[i].ram,
          layout: d.layout,
          privileged: d.privileged,
          control: this.tmemc,
          kernels: fuzzKernels,
        }),
    );
    this.model = new Model(
      setup.capacityFrames,
      domains.map((d) => ({ domid: d.domid, layoutName: d.layout.name, privileged: d.privileged, ramFrames: d.ram.frames })),
    );
    // The host's control plane over this case's domains (no Wasm instances: nothing else is used).
    // Its actions go into the case's trace when the case is recorded.
    this.control = new ControlPlane({ tmem: this.tmem, domains, destroy: () => undefined });
    domains.forEach((domain, i) => {
      this.doms.push({ domain, model: this.model.domains[i], pools: [] });
      if (setup.domains[i].authorised) {
        this.control.authorise(domain.domid, SHARED_UUID, true);
        this.model.authorise(this.model.domains[i], SHARED_UUID, true);
      }
    });
    if (observer) {
      const obs = observer(domains, setup.capacityFrames / FRAMES_PER_MIB);
      if (obs instanceof TraceRecorder) this.control.observe(obs);
      for (const d of domains) d.observer = obs;
    }
    this.snapshots = this.rams.map((r) => r.snap);
    this.ramBefore = this.snapshots.map((snap) => (a: number, n: number) => snap.subarray(a, a + n));
    this.ramBufs = this.rams.map((r) => r.ramBuf);
    this.snapBufs = this.rams.map((r) => r.snapBuf);
  }

  /** Writes `bytes` into domain `d`'s snapshot at `at`, remembering where (see release()). */
  private snapWrite(d: number, bytes: Uint8Array, at: number): void {
    const r = this.rams[d];
    r.snap.set(bytes, at);
    const last = (at + bytes.length - 1) >> 12;
    for (let p = at >> 12; p <= last; p++) {
      if (r.dirty[p] === 0) {
        r.dirty[p] = 1;
        r.dirtyPages.push(p);
      }
    }
  }

  /**
   * The case is over: its RAM and snapshots go back, all zeros again, for the next case. Exact:
   * the snapshot is non-zero only on pages it was written at; after a finish() that found the RAM
   * equal to it, so is the RAM, and only those pages are zeroed; otherwise (a failed or unfinished
   * case) all of the RAM is. Nothing of this case may be used afterwards.
   */
  release(): void {
    for (const r of this.rams) {
      if (!this.ramVerified) r.ram.bytes.fill(0);
      for (const p of r.dirtyPages) {
        r.dirty[p] = 0;
        r.snap.fill(0, p * PAGE, p * PAGE + PAGE);
        if (this.ramVerified) r.ram.bytes.fill(0, p * PAGE, p * PAGE + PAGE);
      }
      r.dirtyPages.length = 0;
      spareRams.push(r);
    }
    this.rams.length = 0;
    this.tmem.release();
    this.model.release();
    this.snapshots.length = 0;
  }

  /** The next RAM_CHUNK bytes of the sweep through every domain's RAM; a change found, described. */
  private sweepNext(op: number): string | null {
    const k = this.sweepDomain;
    const start = this.sweepAt;
    const ram = this.ramBufs[k];
    const end = Math.min(ram.length, start + RAM_CHUNK);
    this.sweepAt = end;
    if (end === ram.length) {
      this.sweepAt = 0;
      this.sweepDomain = (k + 1) % this.doms.length;
    }
    if (ram.compare(this.snapBufs[k], start, end, start, end) === 0) return null;
    const at = start + firstDifference(ram.subarray(start, end), this.snapshots[k].subarray(start, end));
    return `domain ${this.doms[k].domain.domid}'s RAM changed outside what its ops may write, at byte ${at}, found by the sweep after hypercall ${op} (each byte is swept every ${(this.doms.length * ram.length) / RAM_CHUNK} hypercalls)`;
  }

  /** The first domain (other than index `skip`) whose RAM differs from its snapshot, described; or null. */
  private firstRamChange(skip: number): string | null {
    for (const [k, fd] of this.doms.entries()) {
      if (k !== skip && !equal(fd.domain.ram.bytes, this.snapshots[k]))
        return `domain ${fd.domain.domid}'s RAM changed outside what its ops may write, at byte ${firstDifference(fd.domain.ram.bytes, this.snapshots[k])}`;
    }
    return null;
  }

  /** Hypercalls made so far (step() calls). */
  get hypercalls(): number {
    return this.ops;
  }

  /** A guest's own write of one word, `value`, at byte `at` (a multiple of 4) of its frame `frame`: a page unlike any other, cheaply. */
  stamp(d: number, frame: number, at: number, value: number): void {
    const r = this.rams[d];
    const w = (frame * C.TMEM_PAGE_SIZE + at) >> 2;
    this.ramVerified = false;
    r.words[w] = value;
    r.snap[w * 4] = value & 0xff;
    r.snap[w * 4 + 1] = (value >>> 8) & 0xff;
    r.snap[w * 4 + 2] = (value >>> 16) & 0xff;
    r.snap[w * 4 + 3] = value >>> 24;
    const p = frame;
    if (r.dirty[p] === 0) {
      r.dirty[p] = 1;
      r.dirtyPages.push(p);
    }
  }

  /** A guest's own write of `bytes` at byte `at` of its RAM (the coverage target's set-up pages, made once). */
  load(d: number, at: number, bytes: Uint8Array): void {
    this.ramVerified = false;
    this.doms[d].domain.ram.bytes.set(bytes, at);
    this.snapWrite(d, bytes, at);
  }

  /**
   * A guest's own write to one of its frames: 0 zeros, 1-2 a dense pattern, 3-4 a sparse page
   * (zeros but one byte, at `at`: anywhere, the last 64 bytes included).
   */
  fill(d: number, frame: number, kind: number, at = 4095): void {
    const ram = this.doms[d].domain.ram.bytes;
    const base = frame * C.TMEM_PAGE_SIZE;
    this.ramVerified = false;
    if (kind <= 0 || kind >= 3) ram.fill(0, base, base + C.TMEM_PAGE_SIZE);
    if (kind >= 3) ram[base + (at & 4095)] = 1 + ((this.caseNo + this.ops + kind) % 255);
    else if (kind > 0) {
      // A dense page, a word at a time: odd times odd, so no word is zero.
      const words = this.rams[d].words;
      const m = (2 * (this.caseNo + this.ops + kind) + 1) | 0;
      for (let w = base >> 2, end = w + C.TMEM_PAGE_SIZE / 4; w < end; w++) words[w] = Math.imul(2 * w + 1, m);
    }
    this.snapWrite(d, ram.subarray(base, base + C.TMEM_PAGE_SIZE), base);
  }

  /** What the core did, for the model: one object per case, refilled per op. */
  private readonly seen: Observed = {
    result: 0,
    evictions: 0,
    present: (domid, slot, oid, index) => {
      const pool = this.tmem.findClient(domid as DomId)?.pools[slot] ?? null;
      return pool !== null && this.tmem.pageBytes(pool, Uint32Array.from(oid), index) !== null;
    },
  };

  private observed(result: number, evictionsBefore: number): Observed {
    this.seen.result = result;
    this.seen.evictions = this.tmem.counters.evictions - evictionsBefore;
    return this.seen;
  }

  /** The host acts through its control plane; the model follows. */
  host(a: HostAction): CaseFailure | null {
    const op = this.ops;
    this.ramVerified = false;
    const fd = this.doms[a.d];
    const m = fd.model;
    const id = fd.domain.domid;
    const fail = (message: string): CaseFailure => ({
      case: this.caseNo,
      op,
      message: `${message} [host action ${a.kind} on domain ${id}]`,
    });
    try {
      switch (a.kind) {
        case "freeze":
          this.control.freeze(id);
          m.frozen = true;
          break;
        case "thaw":
          this.control.thaw(id);
          m.frozen = false;
          break;
        case "weight":
          this.control.setWeight(id, a.value);
          m.weight = a.value;
          break;
        case "cap":
          this.control.setCapMiB(id, a.value);
          this.model.setCapMiB(m, a.value);
          break;
        case "compress":
          this.control.setCompress(id, a.value !== 0);
          this.model.setCompress(m, a.value !== 0);
          break;
        case "auth":
        case "deauth": {
          const uuid = a.value ? OTHER_UUID : SHARED_UUID;
          this.control.authorise(id, uuid, a.kind === "auth");
          this.model.authorise(m, uuid, a.kind === "auth");
          break;
        }
        case "flush": {
          const before = this.tmem.counters.evictions;
          const n = this.control.flush(a.value);
          const problem = this.model.hostFlush(a.value, this.observed(n, before));
          if (problem) return fail(problem);
          break;
        }
        case "save":
          this.saves.push({ file: this.control.save(id, "case.tmsv").file, model: this.model.save(m) });
          break;
        case "restore": {
          // Into any domain: frozen or not, holding pools or not.
          if (this.saves.length === 0) break;
          const save = this.saves[a.value % this.saves.length];
          const before = this.tmem.counters.evictions;
          let taken = true;
          try {
            this.control.restore(id, save.file, "case.tmsv");
          } catch (e) {
            if (!(e instanceof SaveFileError)) throw e;
            taken = false;
          }
          const problem = this.model.restore(m, save.model, taken, this.observed(taken ? 1 : 0, before));
          if (problem) return fail(problem);
          for (const [slot, p] of m.slots.entries()) if (p && !fd.pools.includes(slot)) fd.pools.push(slot);
          break;
        }
      }
    } catch (e) {
      return fail(`the host's control plane threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (lz4Problem !== null) return fail(lz4Problem);
    return this.compare(false, (m) => fail(m));
  }

  /** The op step() is checking, for stepFail (one object and one closure per case, not per op). */
  private readonly stepAt = { op: 0, d: 0, decoded: null as DecodedOp | null, raxOk: false, result: 0 };
  private readonly stepFail = (message: string): CaseFailure => {
    const { op, d, decoded, raxOk, result } = this.stepAt;
    const dom = this.doms[d].domain;
    const cmdName =
      decoded && raxOk
        ? (COMMAND_NAMES.get(decoded.cmd) ?? String(decoded.cmd)) +
          (decoded.cmd === C.TMEM_CONTROL && decoded.hasCtrl ? ` subop ${decoded.subop}` : "")
        : "-";
    return {
      case: this.caseNo,
      op,
      message: `${message} [domain ${dom.domid}, ${dom.layout.name}, cmd ${cmdName}, result ${describeResult(result)}]`,
    };
  };

  /** Domain `d` writes `struct` at `rdi` (if that is RAM) and makes the hypercall; checks every oracle. */
  step(d: number, struct: Uint8Array, rax: bigint, rdi: bigint, rsi = 0): CaseFailure | null {
    const op = this.ops++;
    this.ramVerified = false;
    const fd = this.doms[d];
    const dom = fd.domain;
    const layout = dom.layout;
    const ram = dom.ram.bytes;
    const snap = this.snapshots[d];
    // rdi as a number when it is below 2^53 (RAM is far smaller): exact, no BigInt arithmetic.
    const at = rdi < TWO_53 ? Number(rdi) : -1;
    const structFits = at >= 0 && at + layout.size <= dom.ram.sizeBytes;
    if (structFits) {
      const bytes = struct.length === layout.size ? struct : struct.subarray(0, layout.size);
      ram.set(bytes, at);
      this.snapWrite(d, bytes, at);
    }
    const raxOk = rax === TMEM_OP_RAX;
    const decoded = structFits ? codecFor(layout.name).decode(ram, at) : null;
    const evictionsBefore = this.tmem.counters.evictions;
    let result: number;
    try {
      result = dom.hypercall(lo(rax), hi(rax), lo(rdi), hi(rdi), rsi, 0, 0, 0, 0, 0, 0, 0);
    } catch (e) {
      return { case: this.caseNo, op, message: `the host threw: ${e instanceof Error ? e.message : String(e)}` };
    }
    const at_ = this.stepAt;
    at_.op = op;
    at_.d = d;
    at_.decoded = decoded;
    at_.raxOk = raxOk;
    at_.result = result;
    const fail = this.stepFail;
    if (!Number.isInteger(result) || result < -0x80000000 || result > 0x7fffffff) return fail("result is not an i32");
    if (lz4Problem !== null) return fail(lz4Problem);
    const poolExists = decoded !== null && decoded.poolId >>> 0 < C.MAX_POOLS_PER_DOMAIN && fd.model.slots[decoded.poolId >>> 0] !== null;
    if (!resultAllowed(result, raxOk, structFits, raxOk ? decoded : null, dom, poolExists))
      return fail(`result ${describeResult(result)} is not one the spec allows`);
    const verdict = this.model.hypercall(
      fd.model,
      raxOk,
      structFits,
      decoded,
      this.ramBefore[d],
      ram,
      this.observed(result, evictionsBefore),
    );
    if (verdict.failure) return fail(verdict.failure);
    if (decoded?.cmd === C.TMEM_NEW_POOL && result >= 0 && result < C.MAX_POOLS_PER_DOMAIN && !fd.pools.includes(result))
      fd.pools.push(result);
    // XSA-122: nothing outside what the op may write changes, in the caller's RAM or another's.
    for (const [start, len] of verdict.writes) this.snapWrite(d, ram.subarray(start, start + len), start);
    // Every op: the pages it may have touched (its struct, the frame it names and the frames
    // either side, its READ/WRITE range ends, its control buffer, the ranges it was allowed to
    // write) in the caller's RAM, the named frame in every other domain's (a write to the wrong
    // domain), and the next RAM_CHUNK bytes of one domain's RAM in turn, so every byte of every
    // domain is swept every few hundred ops; all of every domain's RAM at the end of the case.
    const spots = touched(structFits ? at : -1, layout.size, decoded, verdict.writes, ram.length);
    const mine = this.ramBufs[d];
    const writes = verdict.writes;
    for (const p of spots) {
      const start = p * PAGE;
      // A page the op was allowed to write whole was just copied to the snapshot: equal already.
      if (writes.length === 1 && writes[0][0] <= start && writes[0][0] + writes[0][1] >= start + PAGE) continue;
      if (mine.compare(this.snapBufs[d], start, start + PAGE, start, start + PAGE) !== 0) {
        return fail(
          `guest RAM changed outside what the op may write, at byte ${start + firstDifference(ram.subarray(start, start + PAGE), snap.subarray(start, start + PAGE))}`,
        );
      }
    }
    const frame = decoded !== null && decoded.cmfnHi === 0 && decoded.cmfnLo >>> 0 < dom.ram.frames ? (decoded.cmfnLo >>> 0) * PAGE : -1;
    for (let k = 0; k < this.doms.length; k++) {
      if (k === d) continue;
      if (frame >= 0 && this.ramBufs[k].compare(this.snapBufs[k], frame, frame + PAGE, frame, frame + PAGE) !== 0)
        return fail(`domain ${this.doms[k].domain.domid}'s RAM changed (its frame at byte ${frame})`);
    }
    const sweep = this.sweepNext(op);
    if (sweep) return fail(sweep);
    // An op that fails changes nothing: the core still holds exactly the pools and page counts
    // the model holds, and the page it named the same bytes; every pool's every page every
    // FULL_COMPARE_EVERY ops and at the end of the case.
    const pages = this.tmem.pages;
    const full = op - this.lastFullCompare >= Math.max(pages, FULL_COMPARE_EVERY);
    if (full) this.lastFullCompare = op;
    const namedPool = result < 0 && !full && decoded !== null && decoded.poolId >>> 0 < 16 ? fd.model.slots[decoded.poolId >>> 0] : null;
    const problem = this.compare(full, fail, namedPool, namedPool ? pageKey(decoded!.oid, decoded!.index) : "");
    if (problem) return problem;
    if (full) {
      const spread = this.spreadProblem();
      if (spread) return fail(spread);
    }
    if (op - this.lastInvariants >= Math.max(pages, INVARIANTS_EVERY)) {
      this.lastInvariants = op;
      try {
        this.tmem.checkInvariants();
      } catch (e) {
        return fail((e as Error).message);
      }
    }
    return null;
  }

  /**
   * The core against the model: the same pools in the same slots, the same number of pages in
   * each, and every page's bytes (`all`) or those of the one page given (`pool`, `key`).
   */
  compare(all: boolean, fail: (m: string) => CaseFailure, pool: MPool | null = null, key = ""): CaseFailure | null {
    const t = this.tmem;
    let total = 0;
    // Which core pool each model pool is, this call (a stamp, not a Map made per hypercall).
    const gen = ++this.compareGen;
    for (const fd of this.doms) {
      const client = t.findClient(fd.domain.domid);
      const slots = fd.model.slots;
      const corePools = client?.pools;
      for (let s = 0; s < C.MAX_POOLS_PER_DOMAIN; s++) {
        const want = slots[s];
        const got = corePools?.[s] ?? null;
        if ((want === null) !== (got === null))
          return fail(
            `domain ${fd.domain.domid}'s slot ${s}: the model ${want ? "holds a pool" : "holds none"}, the core ${got ? "holds a pool" : "holds none"}`,
          );
        if (want === null) continue;
        if (want.coreGen === gen && want.core !== got) return fail(`shared pool ${want.uuid.join(":")} is more than one pool in the core`);
        want.coreGen = gen;
        want.core = got;
      }
    }
    const coreOf = (mp: MPool) => (mp.coreGen === gen ? (mp.core as Pool) : undefined);
    // Each core pool met this call, marked by its handle (a small host-wide number) with the stamp.
    let marks = this.coreMarks;
    for (const mp of this.model.livePools()) {
      total += mp.pages.size;
      const cp = coreOf(mp);
      const name = () => {
        const [owner, slot] = mp.where() ?? [null, -1];
        return `pool ${slot} of domain ${owner?.domid}`;
      };
      if (cp === undefined) return fail(`a pool of the model is held by no slot`);
      if (cp.handle >= marks.length) {
        const grown = new Float64Array(Math.max(cp.handle + 1, 2 * marks.length));
        grown.set(marks);
        this.coreMarks = marks = grown;
      }
      if (marks[cp.handle] === gen) return fail(`two pools of the model are one pool in the core`);
      marks[cp.handle] = gen;
      if (cp.persistent !== mp.persistent || cp.shared !== mp.shared)
        return fail(`${name()} is ${cp.typeCode} in the core, the model says ${mp.persistent ? "P" : "E"}${mp.shared ? "S" : "P"}`);
      if (cp.owner.domid !== mp.owner.domid)
        return fail(`${name()} is owned by domain ${cp.owner.domid} in the core, ${mp.owner.domid} in the model`);
      if (cp.stats.pages !== mp.pages.size)
        return fail(`${name()} holds ${cp.stats.pages} pages in the core, ${mp.pages.size} in the model`);
      if (all || pool === mp) {
        const one = all ? undefined : mp.pages.get(key);
        if (one) {
          const bad = this.pageProblem(cp, one);
          if (bad) return fail(`page ${pageKey(one.oid, one.index)} of ${name()} ${bad}`);
        } else if (all) {
          for (const page of mp.pages.values()) {
            const bad = this.pageProblem(cp, page);
            if (bad) return fail(`page ${pageKey(page.oid, page.index)} of ${name()} ${bad}`);
          }
        }
      }
    }
    if (t.pages !== total) return fail(`the core holds ${t.pages} pages, the model ${total}`);
    return null;
  }

  /**
   * Whether the page index's keyed hash spreads what the guests stored as chance would: no three
   * objects share a whole 32-bit object hash, nor three pages a page hash (for the at most 40 000
   * keys a case stores, chance makes that less than one in a million), whatever oids the guests chose;
   * they choose oid families that collide under every key of a hash whose key only seeds it.
   */
  private spreadProblem(): string | null {
    const s = this.tmem.hashSpread();
    if (s.objects <= 2 && s.pages <= 2) return null;
    return `the page index's hash does not spread the guests' keys: ${s.objects} objects share one object hash, ${s.pages} pages one page hash (the longest run is ${s.longestRun} slots)`;
  }

  /**
   * How the core's copy of a model page differs from it, or null. What Tmem.pageBytes() reads,
   * but a zero or compressed page is loaded into one reused page, not a new one per page.
   */
  private pageProblem(cp: Pool, page: MPage): string | null {
    const got = this.tmem.pageBytes(cp, page.oid32, page.index, scratchPage);
    if (got === null) return "was lost (the model holds it)";
    return equal(got, page.bytes) ? null : `changed (first difference at byte ${firstDifference(got, page.bytes)})`;
  }

  /**
   * The end-of-case oracles: invariants, the core against the model page by page, and (when
   * `saveDomain` >= 0) that domain saved and restored into a fresh tmem: its persistent pages
   * bit-exact, its ephemeral pools empty, its policy knobs kept.
   */
  finish(op: number, saveDomain = -1): CaseFailure | null {
    const fail = (message: string): CaseFailure => ({ case: this.caseNo, op, message });
    try {
      this.tmem.checkInvariants();
    } catch (e) {
      return fail((e as Error).message);
    }
    const ramChange = this.firstRamChange(-1);
    if (ramChange) return fail(ramChange);
    this.ramVerified = true;
    const spread = this.spreadProblem();
    if (spread) return fail(spread);
    const c = this.compare(true, fail);
    if (c || saveDomain < 0) return c;
    const fd = this.doms[saveDomain];
    const m = fd.model;
    let fresh: Tmem | null = null;
    try {
      const file = saveClient(this.tmem, this.tmem.findClient(fd.domain.domid)!, fd.domain.name, fd.domain.layout.name);
      fresh = new Tmem({
        capacityFrames: this.setup.capacityFrames,
        compressor: sharedLz4,
        indexModule: fuzzKernels.pageIndex(),
        hashKey: caseHashKey(this.caseNo),
        slabs,
      });
      // The restored domain runs nothing: its RAM is never read, so one serves every case.
      restoreRam ??= new GuestMemory(RAM_MIB, fuzzKernels);
      const target = new Domain(fresh, {
        domid: fd.domain.domid,
        name: fd.domain.name,
        ramMiB: RAM_MIB,
        ram: restoreRam,
        layout: fd.domain.layout,
        control: new Tmemc(fresh),
        kernels: fuzzKernels,
      });
      restoreClient(fresh, target.client, file);
      const rc = target.client;
      if (rc.weight !== m.weight || rc.capPages !== m.capPages || rc.compress !== m.compress)
        return fail(
          `save/restore of domain ${fd.domain.domid}: weight/cap/compress came back as ${rc.weight}/${rc.capPages}/${rc.compress}, not ${m.weight}/${m.capPages}/${m.compress}`,
        );
      let pagesWanted = 0;
      for (let s = 0; s < C.MAX_POOLS_PER_DOMAIN; s++) {
        const want = m.slots[s];
        const got = rc.pools[s];
        if ((want === null) !== (got === null))
          return fail(`save/restore of domain ${fd.domain.domid}: slot ${s} ${want ? "was not restored" : "appeared"}`);
        if (!want || !got) continue;
        if (got.persistent !== want.persistent) return fail(`save/restore of domain ${fd.domain.domid}: pool ${s} changed kind`);
        const expected = want.persistent ? want.pages.size : 0;
        pagesWanted += expected;
        if (got.stats.pages !== expected)
          return fail(`save/restore of domain ${fd.domain.domid}: pool ${s} came back with ${got.stats.pages} pages, not ${expected}`);
        if (!want.persistent) continue;
        for (const [key, page] of want.pages) {
          const bytes = fresh.pageBytes(got, Uint32Array.from(page.oid), page.index);
          if (!bytes || !equal(bytes, page.bytes))
            return fail(`save/restore of domain ${fd.domain.domid}: page ${key} of pool ${s} ${bytes ? "changed" : "was lost"}`);
        }
      }
      if (lz4Problem !== null) return fail(`save/restore of domain ${fd.domain.domid}: ${lz4Problem}`);
      if (fresh.pages !== pagesWanted)
        return fail(`save/restore of domain ${fd.domain.domid}: ${fresh.pages} pages restored, ${pagesWanted} saved`);
      fresh.checkInvariants();
    } catch (e) {
      // More persistent pages than frames (zero pages take none) may not fit a fresh tmem.
      if (e instanceof SaveFileError && /do not fit/.test(e.message)) return null;
      return fail(`save/restore of domain ${fd.domain.domid} threw: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      fresh?.release();
    }
    return null;
  }
}

/**
 * A failure's trace file. A case's machine is thrown away after it, so a trace that could not be
 * written (a full disk) is thrown at close, to stop the campaign, rather than kept for a report.
 */
export function caseTraceFile(path: string): TraceSink {
  const file = traceFile(path, "--out");
  return {
    name: file.name,
    write: (bytes) => file.write(bytes),
    close() {
      file.close();
      if (file.failure) throw file.failure;
    },
  };
}

/** An observer factory for CaseRun that records the case's domains to a trace at `path` (or into a sink). */
export function caseRecorder(path: string | TraceSink, run: unknown): (domains: Domain[]) => TraceRecorder {
  return (domains) => {
    const rec = new TraceRecorder(typeof path === "string" ? caseTraceFile(path) : path, domains[0].tmem, run);
    for (const d of domains) rec.attach(d);
    return rec;
  };
}
