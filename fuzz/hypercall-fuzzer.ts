// Fuzzing the hypercall boundary from the host side. One case = a fresh VMM with a few domains of
// random layouts (one perhaps privileged), each with some pools, then a run of hypercalls that are
// either well-formed ops on live handles ("model": the op mix a guest's front ends produce, from
// several domains sharing pools, with the host's control actions in between) or those ops'
// structs and registers mutated at random ("boundary": full 64-bit registers, pointers straddling
// the end of RAM, cmfn past RAM, every cmd, negative and huge pool ids, every flag bit,
// near-overflow READ/WRITE ranges, control sub-ops from privileged legacy guests).
// Oracles, checked on every op (case-run.ts): the host never throws; the result is an i32 the
// spec allows for that command (control sub-ops each against their own); the reference model
// (shadow.ts) predicts it, and which pages exist with which bytes; guest RAM changes only where
// the op may write; an op that fails changes nothing; every count adds up.
import * as C from "../hypercall-abi/constants.js";
import { encodeOp, type TmemOp } from "../hypercall-abi/op-codec.js";
import { OP_LAYOUTS, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../hypercall-abi/pool-flags.js";
import { MemoryTraceSink, replay, seededRandom, type TraceRecorder, type Domain, type HypercallObserver } from "../vmm/node.js";
import {
  caseRecorder,
  CaseRun,
  fuzzKernels,
  FIRST_FRAME,
  FRAMES_USED,
  OP_AT,
  SHARED_UUID,
  OTHER_UUID,
  type CaseFailure,
  type CaseSetup,
  type HostAction,
} from "./case-run.js";
import { recordedStructs, writerFor } from "./layout-facts.js";
import { collisionFamilies } from "./oid-families.js";

export { CaseRun, FIRST_FRAME, FRAMES_USED, OP_AT, SHARED_UUID, type CaseFailure, type CaseSetup } from "./case-run.js";

export type HypercallFuzzMode = "model" | "boundary";

/**
 * Capacities either side of the free-frame bitmap's boundaries (vmm/store/free-frames.ts: 32
 * frames a level-0 word, 32 words a level-1 word): one word exactly, a second level, a level-1
 * word full, a third level.
 */
const LEVEL_EDGES = [31, 32, 33, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049];
/** A level-2 word full (32^3 frames), and a fourth level. */
const TOP_EDGES = [32767, 32768, 32769];
/** The objects a fill puts its pages in (32 pages an object, as frames fill a bitmap word), past the oids the mix makes up. */
const FILL_OID = 0x100;
/**
 * Oid families a guest can build without the page index's hash key, which collide under every
 * key of a hash whose key only seeds it (oid-families.ts): 32 oids a family for oid[3] layouts,
 * 2 for a 64-bit oid. The oracle (CaseRun) checks the core's hash still spreads them.
 */
const FAMILIES: Record<number, number[][][]> = { 1: collisionFamilies(4, 2), 3: collisionFamilies(4, 6) };

const LAYOUTS = [...OP_LAYOUTS.values()];
const NO_UUID: [bigint, bigint] = [0n, 0n];
const LEGACY_DATA_CMDS = [C.TMEM_NEW_PAGE, C.TMEM_READ, C.TMEM_WRITE, C.TMEM_XCHG, C.TMEM_READ, C.TMEM_WRITE];
const ODD_POOL_IDS = [-1, -0x80000000, 16, 0x7fffffff, 15];
const TMEM_OP_RAX = BigInt(C.HYPERVISOR_tmem_op);
const OP_AT_RDI = BigInt(OP_AT);
const INTERESTING_32 = [0, 1, 2, 15, 16, 17, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xffff, 0x10000, 256, 4096, 4097];
/** READ/WRITE lengths and offsets around the page end and the 32-bit wrap. */
const RANGE_EDGES = [0, 1, 64, 4095, 4096, 4097, 0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff];
const CONTROL_SUBOPS = [
  C.TMEMC_THAW,
  C.TMEMC_FREEZE,
  C.TMEMC_FLUSH,
  C.TMEMC_DESTROY,
  C.TMEMC_LIST,
  C.TMEMC_SET_WEIGHT,
  C.TMEMC_SET_CAP,
  C.TMEMC_SET_COMPRESS,
  C.TMEMC_QUERY_FREEABLE_MB,
  C.TMEMC_SAVE_BEGIN,
  C.TMEMC_SAVE_GET_VERSION,
  C.TMEMC_SAVE_GET_MAXPOOLS,
  C.TMEMC_SAVE_GET_CLIENT_WEIGHT,
  C.TMEMC_SAVE_GET_CLIENT_CAP,
  C.TMEMC_SAVE_GET_CLIENT_FLAGS,
  C.TMEMC_SAVE_GET_POOL_FLAGS,
  C.TMEMC_SAVE_GET_POOL_NPAGES,
  C.TMEMC_SAVE_GET_POOL_UUID,
  C.TMEMC_SAVE_GET_NEXT_PAGE,
  C.TMEMC_SAVE_GET_NEXT_INV,
  C.TMEMC_SAVE_END,
  C.TMEMC_RESTORE_BEGIN,
  C.TMEMC_RESTORE_PUT_PAGE,
  C.TMEMC_RESTORE_FLUSH_PAGE,
  9,
  31,
  34,
];

export interface HypercallFuzzOptions {
  mode: HypercallFuzzMode;
  seed: number;
  /** Hypercalls per case. */
  opsPerCase?: number;
  /** Attach this observer (a trace recorder) to every domain of the case. */
  observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver;
}

export class HypercallFuzzer {
  private readonly seeds = recordedStructs();
  /** Handles the current case put lately (per case: reset when a case starts). */
  private recent: { poolId: number; oid: number[]; index: number; halves: number[] | null }[] = [];
  /** Which of FAMILIES the current case draws its family oids from. */
  private family = 0;
  /** The current case's fill (fillTmem): its domain, pool and page count; the mix names its pages too. */
  private filled: { d: number; poolId: number; count: number } | null = null;
  /** Hypercalls the last case made (a case whose tmem is filled makes more than opsPerCase). */
  lastCaseHypercalls = 0;
  readonly opsPerCase: number;

  constructor(readonly opts: HypercallFuzzOptions) {
    this.opsPerCase = opts.opsPerCase ?? 256;
  }

  /**
   * Whether case `n` is one whose trace must replay exactly: no host actions and no shared-pool
   * authorisation, neither of which a trace records.
   */
  static replayable(n: number): boolean {
    // One case in 64 (it was 16): recording and replaying cost a case about as much again as
    // running it. The trade-off: the trace round trip is checked on fewer cases, and more cases
    // have host actions and shared-pool authorisation, which replayable cases leave out.
    return n % 64 === 7;
  }

  /**
   * Runs case `n` (deterministic from the seed and n); returns its first failure or null. A
   * replayable case is also recorded, and its trace must replay with no divergence.
   */
  runCase(n: number, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver): CaseFailure | null {
    const given = observer ?? this.opts.observer;
    if (given || !HypercallFuzzer.replayable(n)) return this.execute(n, given);
    // Recorded in memory and replayed at once: the same check as a trace file's, without the file.
    const sink = new MemoryTraceSink("case.tmtr");
    let rec: TraceRecorder | null = null;
    const record = caseRecorder(sink, { fuzz: this.opts.mode, seed: this.opts.seed, case: n });
    const failure = this.execute(n, (domains) => (rec = record(domains)));
    (rec as TraceRecorder | null)?.close();
    if (failure) return failure;
    const report = replay(sink.bytes(), fuzzKernels);
    if (report.divergence)
      return {
        case: n,
        op: report.divergence.record - 1,
        message: `the case's trace does not replay: record ${report.divergence.record}: ${report.divergence.message}`,
      };
    return null;
  }

  private execute(n: number, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver): CaseFailure | null {
    const rnd = seededRandom((this.opts.seed * 0x9e3779b1 + n * 0x85ebca77) >>> 0);
    const int = (k: number) => Math.floor(rnd() * k);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
    const boundary = this.opts.mode === "boundary";
    const replayable = HypercallFuzzer.replayable(n);
    const { frames, fill } = this.capacity(int, pick, replayable);
    const setup: CaseSetup = {
      capacityFrames: frames,
      domains: Array.from({ length: 1 + int(3) }, () => ({
        layout: boundary ? pick(LAYOUTS) : pick(LAYOUTS.filter((l) => l.generation === "xen-4.12-oid3")),
        privileged: boundary && int(3) === 0,
        authorised: !replayable && int(4) !== 0,
      })),
    };
    const run = new CaseRun(setup, n, observer);
    try {
      return this.drive(run, setup, n, int, pick, rnd, boundary, replayable, fill);
    } finally {
      this.lastCaseHypercalls = run.hypercalls;
      run.release();
    }
  }

  /**
   * The case's tmem size in frames, and how many pages to fill it with before the op mix. Most
   * cases are small (8-47 frames, so puts evict); the rest fill the tmem to about its capacity,
   * so the free-frame bitmap's words and upper levels fill and the mix runs on a full tmem:
   * capacities at the bitmap's boundaries, drawn log-uniformly up to 40 000 frames, and (rarely,
   * each costs some 33 000 puts) around a full level-2 word.
   */
  private capacity(int: (k: number) => number, pick: <T>(xs: readonly T[]) => T, replayable: boolean): { frames: number; fill: number } {
    // A filled case makes its fill's puts besides the mix: one case in 16 is filled, so about a
    // quarter of the hypercalls are fills. A case around a level-2 word makes some 33 000 (a
    // second or more, its frames all new memory): one in 16 384.
    const k = int(4096);
    let frames: number;
    if (k < 3840) return { frames: 8 + int(40), fill: 0 };
    if (k < 4064) frames = pick(LEVEL_EDGES);
    else if (k < 4095) frames = Math.floor(32 * 1250 ** (int(1 << 16) / (1 << 16)));
    else frames = int(4) === 0 ? pick(TOP_EDGES) : pick(LEVEL_EDGES);
    // A recorded case's trace carries every page put (and its replay puts them again): keep those small.
    if (replayable && frames > 65) frames = pick(LEVEL_EDGES.slice(0, 6));
    // Exactly full, one or a few short (the mix fills the rest), or past it (an ephemeral fill evicts).
    const fill = Math.max(0, frames + pick([0, 0, 0, -1, -2, -1 - int(8), 1 + int(8), -int(1 + (frames >> 3))]));
    return { frames, fill };
  }

  /**
   * Domain `d` makes a pool (persistent, mostly) and puts `count` pages into it, each from one of
   * its frames with a word of its own written first (so no two pages are alike and none is zero):
   * frames are taken lowest first, so object k's 32 pages fill bitmap word k. Every put runs
   * through the oracles like any op.
   */
  private fillTmem(run: CaseRun, d: number, count: number, int: (k: number) => number): CaseFailure | null {
    const fd = run.doms[d];
    const layout = fd.domain.layout;
    const w = writerFor(layout.name);
    w.start(C.TMEM_NEW_POOL, 0);
    w.creat(NO_UUID, encodePoolFlags({ persistent: int(4) !== 0, shared: false, version: layout.specVersion }), 0);
    const f = run.step(d, w.bytes, TMEM_OP_RAX, OP_AT_RDI);
    if (f) return f;
    const poolId = fd.pools[fd.pools.length - 1];
    if (poolId === undefined) return null;
    this.filled = { d, poolId, count };
    for (let i = 0; i < count; i++) {
      const frame = FIRST_FRAME + (i % FRAMES_USED);
      run.stamp(d, frame, (i * 8) & 4095, i + 1);
      w.start(C.TMEM_PUT_PAGE, poolId);
      w.gen(FILL_OID + (i >> 5), 0, 0, i & 31, frame);
      const failure = run.step(d, w.bytes, TMEM_OP_RAX, OP_AT_RDI);
      if (failure) return failure;
    }
    return null;
  }

  private drive(
    run: CaseRun,
    setup: CaseSetup,
    n: number,
    int: (k: number) => number,
    pick: <T>(xs: readonly T[]) => T,
    rnd: () => number,
    boundary: boolean,
    replayable: boolean,
    fill: number,
  ): CaseFailure | null {
    this.recent = [];
    this.filled = null;
    this.family = int(4);
    if (fill > 0) {
      const f = this.fillTmem(run, int(setup.domains.length), fill, int);
      if (f) return f;
    }
    for (let op = 0; op < this.opsPerCase; op++) {
      const d = int(setup.domains.length);
      const fd = run.doms[d];
      if (int(6) === 0)
        run.fill(d, FIRST_FRAME + int(FRAMES_USED), int(5), int(3) === 0 ? C.TMEM_PAGE_SIZE - 64 + int(64) : int(C.TMEM_PAGE_SIZE));
      if (!replayable && int(24) === 0) {
        const a = this.hostAction(int, pick, setup.domains.length);
        // Half the restores go into a domain that holds no pool (Xen restored only into a client
        // that did not exist yet; into one that holds a pool a restore is refused): its guest
        // destroys its pools first, and a third of the time the host freezes it.
        if (a.kind === "restore" && int(2) === 0) {
          const f = this.emptyDomain(run, a.d) ?? (int(3) === 0 ? run.host({ kind: "freeze", d: a.d }) : null);
          if (f) return f;
        }
        const f = run.host(a);
        if (f) return f;
      }
      const struct = this.makeStruct(d, fd.domain, fd.pools, fd.domain.layout, int, pick, rnd);
      let rax = TMEM_OP_RAX;
      let rdi = OP_AT_RDI;
      if (boundary) {
        const r = int(16);
        const size = fd.domain.layout.size;
        if (r === 0) rax = BigInt.asUintN(64, BigInt(int(0x100000000)) | (BigInt(int(4)) << 32n));
        if (r === 1) rdi = BigInt(fd.domain.ram.sizeBytes - int(size + 1));
        if (r === 2) rdi = BigInt.asUintN(64, (BigInt(int(0x10000)) << 32n) | BigInt(OP_AT));
        if (r === 3) rdi = BigInt(OP_AT + 1 + int(3));
        if (r === 4) rdi = BigInt.asUintN(64, -BigInt(1 + int(64)));
        // The right number in the low half, anything in the high half: still not tmem_op.
        if (r === 5)
          rax = BigInt.asUintN(64, BigInt(C.HYPERVISOR_tmem_op) | (BigInt(pick([1, 0x80000000, 0xffffffff, 1 + int(0xfffffffe)])) << 32n));
      }
      const failure = run.step(d, struct, rax, rdi, int(2) ? 0 : int(0x7fffffff));
      if (failure) return failure;
    }
    // Every eighth case saves a domain and restores it into a fresh tmem (not past a thousand
    // frames: a save file holds, and seals, every persistent page). It was every fourth: writing,
    // sealing and checking the file and building the fresh tmem cost the fuzzers a twentieth of
    // their time, and the host's saves and restores mid-case reach the other restore paths (into
    // frozen domains, domains that hold pools, and emptied ones) besides.
    return run.finish(run.hypercalls, n % 8 === 0 && setup.capacityFrames <= 1025 ? int(setup.domains.length) : -1);
  }

  /** Domain `d`'s guest destroys every pool it holds (hypercalls, checked as any). */
  private emptyDomain(run: CaseRun, d: number): CaseFailure | null {
    const fd = run.doms[d];
    const w = writerFor(fd.domain.layout.name);
    for (let slot = 0; slot < C.MAX_POOLS_PER_DOMAIN; slot++) {
      if (fd.model.slots[slot] === null) continue;
      w.start(C.TMEM_DESTROY_POOL, slot);
      const f = run.step(d, w.bytes, TMEM_OP_RAX, OP_AT_RDI);
      if (f) return f;
    }
    return null;
  }

  /** A control-plane action from the host, mid-case. */
  private hostAction(int: (k: number) => number, pick: <T>(xs: readonly T[]) => T, domains: number): HostAction {
    const d = int(domains);
    // A save writes (and seals) every persistent page a domain holds, a restore reads it all back:
    // one host action in 33 is each, not one in 11, or they cost the fuzzers a sixth of their time.
    const k = int(11);
    switch (k >= 9 && int(3) !== 0 ? 1 : k) {
      case 0:
        return { kind: "freeze", d };
      case 1:
      case 2:
      case 3:
        return { kind: "thaw", d };
      case 4:
        return { kind: "weight", d, value: pick([0, 0, 1, 2, 5]) };
      case 5:
        // Caps in MiB as the host sets them: none, 0, and real sizes, small ones (1-3 MiB: 256-768
        // frames, which bind in the cases whose tmem is filled) and up to a tmem's whole size.
        return { kind: "cap", d, value: pick([0, null, null, 1, 1, 2, 3, 1 + int(8), 1 + int(160)]) };
      case 6:
        return { kind: "compress", d, value: int(2) };
      case 7:
        return { kind: "flush", d, value: 1 + int(6) };
      case 9:
        return { kind: "save", d, value: 0 };
      case 10:
        return { kind: "restore", d, value: int(4) };
      default:
        return { kind: int(2) ? "auth" : "deauth", d, value: int(2) };
    }
  }

  /**
   * The op this case issues next: well-formed, or (boundary mode) mutated. Written in place at the
   * recorded offsets (layout-facts.ts); the result is valid until the next call.
   */
  private makeStruct(
    d: number,
    dom: Domain,
    pools: number[],
    layout: OpLayout,
    int: (k: number) => number,
    pick: <T>(xs: readonly T[]) => T,
    rnd: () => number,
  ): Uint8Array {
    const w = writerFor(layout.name);
    const words = layout.oidWords;
    const boundary = this.opts.mode === "boundary";
    const pool = () => (pools.length > 0 && int(8) !== 0 ? pick(pools) : int(18) - 1);
    const frame = () => FIRST_FRAME + int(FRAMES_USED);
    const gen = (cmd: number): void => {
      // Half the gets, flushes and puts name a handle this case put recently (a hit, a
      // duplicate put); the rest any handle.
      const recent = this.recent.length > 0 && int(2) === 0 && cmd !== C.TMEM_DESTROY_POOL ? pick(this.recent) : null;
      if (recent) {
        w.start(cmd, recent.poolId);
        w.gen(recent.oid[0], recent.oid[1], recent.oid[2], recent.index, frame());
        if (recent.halves) w.oidHalves(recent.halves);
        return;
      }
      // In a filled tmem, a third of the filling domain's ops name a page of the fill, or one
      // just past it: a flush frees a frame of a full word (a flushed object, a whole word), a
      // put then needs it found again.
      const filled = this.filled;
      if (filled !== null && filled.d === d && cmd !== C.TMEM_DESTROY_POOL && int(3) === 0) {
        const i = int(filled.count + 64);
        w.start(cmd, filled.poolId);
        w.gen(FILL_OID + (i >> 5), 0, 0, i & 31, frame());
        return;
      }
      const poolId = pool();
      const oid0 = int(3);
      const oid1 = words > 1 && int(4) === 0 ? 1 : 0;
      const oid2 = words > 1 && int(4) === 0 ? 7 : 0;
      // One op in six names a member of the case's oid family, at index 0 or 1.
      const halves = int(6) === 0 ? pick(FAMILIES[words][this.family]) : null;
      const index = halves ? int(2) : int(4);
      w.start(cmd, poolId);
      w.gen(oid0, oid1, oid2, index, frame());
      if (halves) w.oidHalves(halves);
      if (cmd === C.TMEM_PUT_PAGE) {
        this.recent.push({ poolId, oid: [oid0, oid1, oid2], index, halves });
        if (this.recent.length > 8) this.recent.shift();
      }
    };
    const legacy = layout.generation !== "xen-4.12-oid3";
    const r = int(22);
    if (r < 2 || pools.length === 0) {
      const persistent = int(2) === 0;
      const shared = !persistent && int(2) === 0;
      w.start(C.TMEM_NEW_POOL, 0);
      w.creat(
        shared ? (int(3) ? SHARED_UUID : OTHER_UUID) : NO_UUID,
        encodePoolFlags({ persistent, shared, version: layout.specVersion }),
        0,
      );
    } else if (r < 9) gen(C.TMEM_PUT_PAGE);
    else if (r < 15) gen(C.TMEM_GET_PAGE);
    else if (r < 17) gen(C.TMEM_FLUSH_PAGE);
    else if (r < 18) gen(C.TMEM_FLUSH_OBJECT);
    else if (r < 19) gen(int(2) ? C.TMEM_DESTROY_POOL : C.TMEM_GET_PAGE);
    else if (r < 20) {
      // NEW_PAGE, READ, WRITE, XCHG: served before 4.4, unknown after. Ranges near the page end
      // and the 32-bit wrap.
      gen(pick(LEGACY_DATA_CMDS));
      const len = int(3) ? int(4097) : pick(RANGE_EDGES);
      const edge = () =>
        pick([
          0,
          int(C.TMEM_PAGE_SIZE),
          (C.TMEM_PAGE_SIZE - len) >>> 0,
          (C.TMEM_PAGE_SIZE + 1 - len) >>> 0,
          (0x100000000 - len) >>> 0,
          pick(RANGE_EDGES),
        ]);
      const tmemOffset = edge();
      w.range(tmemOffset, edge(), len);
    } else if (boundary && dom.privileged && legacy) {
      const op = this.controlOp(dom, int, pick);
      const bytes = encodeOp(op, layout);
      if (op.cmd === C.TMEM_CONTROL) return bytes;
      w.bytes.set(bytes);
    } else gen(C.TMEM_PUT_PAGE);
    const bytes = w.bytes;
    if (!boundary || int(3) === 0) return bytes;
    // Boundary mode: start from a recorded struct now and then, then mutate.
    const recorded = this.seeds.get(layout.name);
    if (recorded && int(6) === 0) bytes.set(pick(recorded).subarray(0, bytes.length));
    const v = w.view;
    for (let m = int(4); m > 0; m--) {
      const kind = int(5);
      const at = 4 * int(layout.size / 4);
      if (kind === 0) bytes[int(bytes.length)] ^= 1 << int(8);
      else if (kind === 1) v.setUint32(at, pick(INTERESTING_32), true);
      else if (kind === 2) v.setUint32(layout.at.cmd, int(3) === 0 ? int(0x100000000) : int(12), true);
      else if (kind === 3) v.setInt32(layout.at.poolId, int(6) === 5 ? int(16) : pick(ODD_POOL_IDS), true);
      else v.setUint32(at, Math.floor(rnd() * 0x100000000), true);
    }
    return bytes;
  }

  /** A well-formed TMEM_CONTROL (or AUTH / RESTORE_NEW) from a privileged legacy guest. */
  private controlOp(dom: Domain, int: (k: number) => number, pick: <T>(xs: readonly T[]) => T): TmemOp {
    const ram = dom.ram.sizeBytes;
    const cliId = pick([1, 1, 2, 3, 0xffff, 0xffffffff, int(5), 0x10001]);
    const buf = pick([
      BigInt((FIRST_FRAME + int(FRAMES_USED)) * C.TMEM_PAGE_SIZE),
      BigInt(ram - 16 - int(64)),
      BigInt(ram - C.TMEM_PAGE_SIZE - 32),
      BigInt(ram),
      1n << 32n,
      BigInt(16 * C.TMEM_PAGE_SIZE + int(C.TMEM_PAGE_SIZE)),
    ]);
    const arg = () => pick([0, 1, 3, 4, 16, 4096, 4128, 0x7fffffff, 0xffffffff, int(64)]);
    const oid = [BigInt(int(3)), BigInt(int(2)), BigInt(int(2) * 7)].slice(0, dom.layout.oidWords);
    const k = int(8);
    if (k === 0) {
      return { cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: int(2) ? SHARED_UUID : OTHER_UUID, flags: pick([0, 1, 1, 2]), arg1: cliId } };
    }
    if (k === 1) {
      return {
        cmd: C.TMEM_RESTORE_NEW,
        poolId: int(4) ? int(4) : int(18) - 1,
        creat: {
          uuid: SHARED_UUID,
          flags: encodePoolFlags({ persistent: int(2) === 0, shared: int(3) === 0, version: dom.layout.specVersion }),
          arg1: pick([1, 2, 3, 9]),
        },
      };
    }
    return {
      cmd: C.TMEM_CONTROL,
      poolId: int(4) ? int(3) : int(18) - 1,
      ctrl: { subop: pick(CONTROL_SUBOPS), cliId, arg1: arg(), arg2: int(6), oid, buf },
    };
  }
}
