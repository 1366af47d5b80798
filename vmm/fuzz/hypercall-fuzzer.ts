// Fuzzing the hypercall boundary from the host side. One case = a fresh VMM with a few domains of
// random layouts (one perhaps privileged), each with some pools, then a run of hypercalls that are
// either well-formed ops on live handles ("model": the op mix a guest's front ends produce) or
// those ops' structs and registers mutated at random ("boundary": full 64-bit registers, pointers
// straddling the end of RAM, cmfn past RAM, every cmd, negative and huge pool ids, every flag bit).
// Oracles, checked on every op:
//  - the host never throws (a broken host invariant throws and is a failure);
//  - the result is an i32 the spec allows for that command;
//  - no byte of guest RAM changed except the op's own frame on a get (XSA-122's "stack rubble"),
//    and no other domain's RAM changed at all;
//  - the shadow model (shadow.ts): gets return the last page put, persistent pages are never lost;
//  - every count adds up (Tmem.checkInvariants), every 64 ops and at the end.
import { readFileSync } from "node:fs";
import { RECORDED_STRUCTS } from "../assets.js";
import * as C from "../../hypercall-abi/constants.js";
import { encodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import { COMMAND_NAMES, describeResult } from "../../hypercall-abi/op-describe.js";
import { OP_LAYOUTS, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Domain } from "../domain.js";
import type { HypercallObserver } from "../hypercall.js";
import { seededRandom } from "../scheduler.js";
import { Tmem } from "../tmem/tmem.js";
import { equal, firstDifference, Shadow, type OpView } from "./shadow.js";

export type HypercallFuzzMode = "model" | "boundary";

export interface CaseFailure {
  case: number;
  /** 0-based hypercall within the case. */
  op: number;
  message: string;
}

const LAYOUTS = [...OP_LAYOUTS.values()];
/** Where each domain keeps its op struct; frames for data start above. */
export const OP_AT = 0x800;
export const FIRST_FRAME = 4;
export const FRAMES_USED = 12;
const INTERESTING_32 = [0, 1, 2, 15, 16, 17, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xffff, 0x10000, 256, 4096, 4097];

/** Recorded Xen structs (a package asset, recorded from Xen's own headers) by layout name. */
export function recordedStructs(): Map<string, Uint8Array[]> {
  const seeds = new Map<string, Uint8Array[]>();
  const rec = JSON.parse(readFileSync(RECORDED_STRUCTS, "utf8")) as { layouts: Record<string, { vectors: { hex: string }[] }> };
  for (const [name, l] of Object.entries(rec.layouts)) seeds.set(name, l.vectors.map((v) => Buffer.from(v.hex, "hex")));
  return seeds;
}

interface FuzzDomain {
  domain: Domain;
  /** Pool ids the domain created. */
  pools: number[];
}

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
  readonly opsPerCase: number;

  constructor(readonly opts: HypercallFuzzOptions) {
    this.opsPerCase = opts.opsPerCase ?? 256;
  }

  /** Runs case `n` (deterministic from the seed and n); returns its first failure or null. */
  runCase(n: number, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver): CaseFailure | null {
    const rnd = seededRandom((this.opts.seed * 0x9e3779b1 + n * 0x85ebca77) >>> 0);
    const int = (k: number) => Math.floor(rnd() * k);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
    const boundary = this.opts.mode === "boundary";
    const setup: CaseSetup = {
      capacityFrames: 8 + int(40),
      domains: Array.from({ length: 1 + int(3) }, () => ({
        layout: boundary ? pick(LAYOUTS) : pick(LAYOUTS.filter((l) => l.generation === "xen-4.12-oid3")),
        privileged: boundary && int(4) === 0,
        authorised: int(2) === 0,
      })),
    };
    const run = new CaseRun(setup, n, observer ?? this.opts.observer);
    for (let op = 0; op < this.opsPerCase; op++) {
      const d = int(setup.domains.length);
      const fd = run.doms[d];
      if (int(8) === 0) run.fill(d, FIRST_FRAME + int(FRAMES_USED), int(3));
      const struct = this.makeStruct(fd, fd.domain.layout, int, pick, rnd, SHARED_UUID);
      let rax = BigInt(C.HYPERVISOR_tmem_op);
      let rdi = BigInt(OP_AT);
      if (boundary) {
        const r = int(16);
        const size = fd.domain.layout.size;
        if (r === 0) rax = BigInt.asUintN(64, BigInt(int(0x100000000)) | (BigInt(int(4)) << 32n));
        if (r === 1) rdi = BigInt(fd.domain.ram.sizeBytes - int(size + 1));
        if (r === 2) rdi = BigInt.asUintN(64, (BigInt(int(0x10000)) << 32n) | BigInt(OP_AT));
        if (r === 3) rdi = BigInt(OP_AT + 1 + int(3));
        if (r === 4) rdi = BigInt.asUintN(64, -BigInt(1 + int(64)));
      }
      const failure = run.step(d, struct, rax, rdi, int(2) ? 0 : int(0x7fffffff));
      if (failure) return failure;
    }
    return run.finish(this.opsPerCase);
  }

  /** The op this case issues next: well-formed, or (boundary mode) mutated. */
  private makeStruct(fd: FuzzDomain, layout: OpLayout, int: (k: number) => number, pick: <T>(xs: readonly T[]) => T, rnd: () => number, uuid: [bigint, bigint]): Uint8Array {
    const words = layout.oidWords;
    const oid = () => [BigInt(int(3)), BigInt(int(2)), BigInt(int(2) * 7)].slice(0, words);
    const pool = () => (fd.pools.length > 0 && int(8) !== 0 ? pick(fd.pools) : int(18) - 1);
    const frame = () => BigInt(FIRST_FRAME + int(FRAMES_USED));
    const gen = (cmd: number): TmemOp => ({ cmd, poolId: pool(), gen: { oid: oid(), index: int(6), tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: frame() } });
    const r = int(20);
    let op: TmemOp;
    if (r < 2 || fd.pools.length === 0) {
      const persistent = int(2) === 0;
      const shared = !persistent && int(3) === 0;
      op = { cmd: C.TMEM_NEW_POOL, poolId: 0, creat: { uuid: shared ? uuid : [0n, 0n], flags: encodePoolFlags({ persistent, shared, version: layout.specVersion }), arg1: 0 } };
    } else if (r < 9) op = gen(C.TMEM_PUT_PAGE);
    else if (r < 15) op = gen(C.TMEM_GET_PAGE);
    else if (r < 17) op = gen(C.TMEM_FLUSH_PAGE);
    else if (r < 19) op = gen(C.TMEM_FLUSH_OBJECT);
    else op = int(4) === 0 ? gen(C.TMEM_DESTROY_POOL) : gen(C.TMEM_PUT_PAGE);
    let bytes = encodeOp(op, layout);
    if (this.opts.mode === "model") return bytes;
    // Boundary mode: start from a recorded struct now and then, then mutate.
    const recorded = this.seeds.get(layout.name);
    if (recorded && int(6) === 0) bytes = pick(recorded).slice();
    const v = new DataView(bytes.buffer);
    for (let m = int(4); m > 0; m--) {
      const kind = int(5);
      const at = 4 * int(layout.size / 4);
      if (kind === 0) bytes[int(bytes.length)] ^= 1 << int(8);
      else if (kind === 1) v.setUint32(at, pick(INTERESTING_32), true);
      else if (kind === 2) v.setUint32(0, int(3) === 0 ? int(0x100000000) : int(12), true);
      else if (kind === 3) v.setInt32(4, pick([-1, -0x80000000, 16, 0x7fffffff, 15, int(16)]), true);
      else v.setUint32(at, Math.floor(rnd() * 0x100000000), true);
    }
    return bytes;
  }

  static viewOf(dom: Domain, at: number): OpView {
    const words = new Uint32Array(2);
    const args = dom.opArgs;
    // Decode with the domain's own reader into a scratch copy of its args.
    const saved = { ...args, oid: args.oid.slice(), uuid: args.uuid.slice() };
    dom.opReader.read(dom.ram.bytes, dom.ram.words, at, args, words);
    const view: OpView = {
      cmd: args.cmd,
      pool: dom.client.pool(args.poolId),
      oid: args.oid.slice(),
      index: args.index,
      frame: dom.ram.frame(words[0], words[1]),
    };
    Object.assign(args, saved);
    return view;
  }
}

const lo = (x: bigint) => Number(BigInt.asIntN(32, x));
const hi = (x: bigint) => Number(BigInt.asIntN(32, x >> 32n));


const E = (...xs: number[]) => new Set(xs.map((x) => -x));

/** The results the spec allows for an op, or null when any i32 may be right (privileged control). */
function allowedResults(rax: bigint, structFits: boolean, cmd: number | null, dom: Domain, poolExists: boolean): ((r: number) => boolean) | null {
  if (rax !== BigInt(C.HYPERVISOR_tmem_op)) return (r) => r === -C.ENOSYS;
  if (!structFits || cmd === null) return (r) => r === -C.EFAULT;
  const rules = dom.client.rules;
  const inSet = (ok: number[], errs: Set<number>) => (r: number) => ok.includes(r) || errs.has(r);
  switch (cmd) {
    case C.TMEM_CONTROL:
    case C.TMEM_AUTH:
    case C.TMEM_RESTORE_NEW:
      if (!rules.guestControl) return (r) => r === -C.EOPNOTSUPP;
      if (!dom.privileged) return (r) => r === -C.EPERM;
      return null;
    case C.TMEM_NEW_POOL:
      return (r) => (r >= 0 && r < C.MAX_POOLS_PER_DOMAIN) || r === -C.EPERM || r === -C.ENOMEM;
    case C.TMEM_DESTROY_POOL:
      return (r) => r === 0 || r === 1;
  }
  if (!poolExists) return (r) => r === -C.ENODEV;
  switch (cmd) {
    case C.TMEM_PUT_PAGE:
      return inSet([1], E(C.EFROZEN, C.ENOMEM, C.ENOSPC, C.EFAULT));
    case C.TMEM_GET_PAGE:
      return inSet([0, 1], E(C.EEMPTY, C.EFAULT));
    case C.TMEM_FLUSH_PAGE:
    case C.TMEM_FLUSH_OBJECT:
      return inSet([1], E(C.EFROZEN));
  }
  if (rules.legacyDataOps && (cmd === C.TMEM_NEW_PAGE || cmd === C.TMEM_READ || cmd === C.TMEM_WRITE || cmd === C.TMEM_XCHG)) {
    return inSet([0, 1], E(C.EINVAL, C.EEMPTY, C.EFAULT, C.ENOMEM, C.ENOSPC, C.EFROZEN));
  }
  return (r) => r === rules.unknownCommandResult;
}

export interface CaseSetup {
  capacityFrames: number;
  domains: { layout: OpLayout; privileged: boolean; authorised: boolean }[];
}

export const SHARED_UUID: [bigint, bigint] = [0xabcdn, 0x1234n];

/**
 * One fuzz case being executed: its VMM, its domains, the shadow model and the RAM snapshots
 * the oracles compare with. Generated cases, fast-check's op lists and coverage-guided inputs all
 * run through step().
 */
export class CaseRun {
  readonly tmem: Tmem;
  readonly doms: FuzzDomain[] = [];
  private readonly shadow = new Shadow();
  private readonly snapshots: Uint8Array[];
  private uncertain = false;
  private ops = 0;

  constructor(setup: CaseSetup, readonly caseNo: number, observer?: (domains: Domain[], tmemMiB: number) => HypercallObserver) {
    this.tmem = new Tmem({ capacityFrames: setup.capacityFrames });
    setup.domains.forEach((d, i) => {
      const domain = new Domain(this.tmem, { domid: i + 1, name: `fuzz${i}`, ramMiB: 1, layout: d.layout, privileged: d.privileged });
      this.doms.push({ domain, pools: [] });
      if (d.authorised) this.tmem.authoriseSharedPool(domain.domid, SHARED_UUID, true);
    });
    if (observer) {
      const obs = observer(this.doms.map((d) => d.domain), (setup.capacityFrames * 4096) / (1 << 20));
      for (const d of this.doms) d.domain.observer = obs;
    }
    this.snapshots = this.doms.map((d) => d.domain.ram.bytes.slice());
  }

  /** A guest's own write to one of its frames: zeros, a pattern, or another pattern. */
  fill(d: number, frame: number, kind: number): void {
    const ram = this.doms[d].domain.ram.bytes;
    for (let i = frame * 4096; i < (frame + 1) * 4096; i++) ram[i] = kind === 0 ? 0 : (i * (this.caseNo + this.ops + 7 + kind)) >>> 3;
    this.snapshots[d].set(ram.subarray(frame * 4096, (frame + 1) * 4096), frame * 4096);
  }

  /** Domain `d` writes `struct` at `rdi` (if that is RAM) and makes the hypercall; checks every oracle. */
  step(d: number, struct: Uint8Array, rax: bigint, rdi: bigint, rsi = 0): CaseFailure | null {
    const op = this.ops++;
    const fd = this.doms[d];
    const dom = fd.domain;
    const layout = dom.layout;
    const ram = dom.ram.bytes;
    const snap = this.snapshots[d];
    const at = Number(rdi);
    const structFits = rdi + BigInt(layout.size) <= BigInt(dom.ram.sizeBytes);
    if (structFits) {
      ram.set(struct.subarray(0, layout.size), at);
      snap.set(struct.subarray(0, layout.size), at);
    }
    const view = structFits && rax === BigInt(C.HYPERVISOR_tmem_op) ? HypercallFuzzer.viewOf(dom, at) : null;
    const before = view && view.frame >= 0 ? ram.slice(view.frame, view.frame + 4096) : null;
    let result: number;
    try {
      result = dom.hypercall(lo(rax), hi(rax), lo(rdi), hi(rdi), rsi, 0, 0, 0, 0, 0, 0, 0);
    } catch (e) {
      return { case: this.caseNo, op, message: `the host threw: ${e instanceof Error ? e.message : String(e)}` };
    }
    const cmdName = view ? (COMMAND_NAMES.get(view.cmd) ?? String(view.cmd)) : "-";
    const fail = (message: string): CaseFailure => ({ case: this.caseNo, op, message: `${message} [domain ${dom.domid}, ${layout.name}, cmd ${cmdName}, result ${describeResult(result)}]` });
    if (!Number.isInteger(result) || result < -0x80000000 || result > 0x7fffffff) return fail("result is not an i32");
    const allowed = allowedResults(rax, structFits, view?.cmd ?? null, dom, view?.pool !== null && view?.pool !== undefined);
    if (allowed !== null && !allowed(result)) return fail(`result ${describeResult(result)} is not one the spec allows`);
    if ((view?.cmd === C.TMEM_CONTROL || view?.cmd === C.TMEM_AUTH || view?.cmd === C.TMEM_RESTORE_NEW) && result >= 0 && dom.privileged) {
      this.uncertain = true; // the model does not follow control ops
    }
    if (view?.cmd === C.TMEM_NEW_POOL && result >= 0 && result < 16 && !fd.pools.includes(result)) fd.pools.push(result);
    // XSA-122: nothing outside the op's frame (on a get or read) and the struct changes.
    if (view && (view.cmd === C.TMEM_GET_PAGE || view.cmd === C.TMEM_READ) && view.frame >= 0) snap.set(ram.subarray(view.frame, view.frame + 4096), view.frame);
    if (view?.cmd === C.TMEM_CONTROL && dom.privileged) snap.set(ram); // control ops write their buffers
    if (!equal(ram, snap)) return fail(`guest RAM changed outside the op's frame, at byte ${firstDifference(ram, snap)}`);
    for (const [k, other] of this.doms.entries()) {
      if (other !== fd && !equal(other.domain.ram.bytes, this.snapshots[k])) return fail(`domain ${other.domain.domid}'s RAM changed`);
    }
    if (view && !this.uncertain) {
      const problem = this.shadow.check(dom, view, result, before, view.frame >= 0 ? ram.subarray(view.frame, view.frame + 4096) : null);
      if (problem) return fail(problem);
    }
    this.shadow.prune(this.tmem.pools());
    if (op % 64 === 63) {
      try {
        this.tmem.checkInvariants();
      } catch (e) {
        return fail((e as Error).message);
      }
    }
    return null;
  }

  /** The end-of-case oracles: invariants, and every persistent page the model holds. */
  finish(op: number): CaseFailure | null {
    try {
      this.tmem.checkInvariants();
    } catch (e) {
      return { case: this.caseNo, op, message: (e as Error).message };
    }
    if (!this.uncertain) {
      const lost = this.shadow.verifyAll((pool, oid, index) => this.tmem.pageBytes(pool, oid, index));
      if (lost) return { case: this.caseNo, op, message: lost };
    }
    return null;
  }
}
