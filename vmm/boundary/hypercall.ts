// The boundary: the one hypercall entry a guest imports (`xen.hypercall`), with x86-64 register
// semantics. Only this layer reads guest memory for an op: it checks the struct pointer here, and
// the domain's OpDispatcher copies the struct out once and carries the op down to tmem.
import { EFAULT, ENOSYS, HYPERVISOR_tmem_op } from "../../hypercall-abi/constants.js";
import { HYPERCALL_PARAMS } from "../../hypercall-abi/hypercall-import.js";
import { NOT_RAM, type GuestMemory } from "./guest-memory.js";
import type { OpDispatcher } from "./dispatch.js";
import type { OpArgs } from "./op-args.js";

/**
 * The Wasm import `xen.hypercall`: (rax, rdi, rsi, rdx, r10, r8) each as (lo, hi) i32 halves,
 * returning rax's low 32 bits, which the guest sign-extends (every result is a long in i32 range).
 */
export type HypercallImport = (
  raxLo: number,
  raxHi: number,
  rdiLo: number,
  rdiHi: number,
  rsiLo: number,
  rsiHi: number,
  rdxLo: number,
  rdxHi: number,
  r10Lo: number,
  r10Hi: number,
  r8Lo: number,
  r8Hi: number,
) => number;

/**
 * What the entry counts on the calling domain: owned here, so the boundary does not depend on the
 * machine's Domain (which builds its entry from this module).
 */
export interface HypercallCaller {
  hypercalls: number;
  faults: number;
}

/** Something that wants to see every hypercall a domain makes (tracing, recording). */
export interface HypercallObserver<D extends HypercallCaller = HypercallCaller> {
  /** Called with the registers, before the op runs. */
  before?(domain: D, regs: Int32Array): void;
  /**
   * Called with the result, after the op ran, and the op as the boundary decoded it (with its
   * cmfn as (lo, hi)), or null if no struct was read (another hypercall, a bad struct pointer).
   */
  after?(domain: D, regs: Int32Array, result: number, op: Readonly<OpArgs> | null, cmfn: Uint32Array): void;
}

/** The entry of `domain`, whose RAM is `ram` and whose ops `ops` carries down. */
export function createHypercallEntry<D extends HypercallCaller & { readonly observer: HypercallObserver<D> | null }>(
  domain: D,
  ram: GuestMemory,
  ops: OpDispatcher,
): HypercallImport {
  const regs = new Int32Array(HYPERCALL_PARAMS);
  return (raxLo, raxHi, rdiLo, rdiHi, rsiLo, rsiHi, rdxLo, rdxHi, r10Lo, r10Hi, r8Lo, r8Hi) => {
    const obs = domain.observer;
    if (obs === null) return tmemOp(domain, ram, ops, raxLo, raxHi, rdiLo, rdiHi);
    regs[0] = raxLo;
    regs[1] = raxHi;
    regs[2] = rdiLo;
    regs[3] = rdiHi;
    regs[4] = rsiLo;
    regs[5] = rsiHi;
    regs[6] = rdxLo;
    regs[7] = rdxHi;
    regs[8] = r10Lo;
    regs[9] = r10Hi;
    regs[10] = r8Lo;
    regs[11] = r8Hi;
    obs.before?.(domain, regs);
    const r = tmemOp(domain, ram, ops, raxLo, raxHi, rdiLo, rdiHi);
    const decoded = raxLo === HYPERVISOR_tmem_op && raxHi === 0 && ram.address(rdiLo, rdiHi, ops.reader.layout.size) !== NOT_RAM;
    obs.after?.(domain, regs, r, decoded ? ops.args : null, ops.cmfn);
    return r;
  };
}

/** Hypercall `rax` with argument `rdi`: the tmem_op path, or -ENOSYS for any other number. */
export function tmemOp(
  domain: HypercallCaller,
  ram: GuestMemory,
  ops: OpDispatcher,
  raxLo: number,
  raxHi: number,
  rdiLo: number,
  rdiHi: number,
): number {
  domain.hypercalls++;
  if (raxLo !== HYPERVISOR_tmem_op || raxHi !== 0) return -ENOSYS;
  const at = ram.address(rdiLo, rdiHi, ops.reader.layout.size);
  if (at === NOT_RAM) {
    domain.faults++;
    return -EFAULT;
  }
  return ops.op(at);
}
