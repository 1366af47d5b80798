// A domain driven directly through its hypercall entry, as a guest would, without a Wasm guest:
// ops are encoded with hypercall-abi into the domain's RAM and the entry gets the registers.
import { encodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { DEFAULT_LAYOUT, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import {
  HYPERVISOR_tmem_op,
  TMEM_DESTROY_POOL,
  TMEM_FLUSH_OBJECT,
  TMEM_FLUSH_PAGE,
  TMEM_GET_PAGE,
  TMEM_NEW_POOL,
  TMEM_PAGE_SIZE,
  TMEM_PUT_PAGE,
} from "../../hypercall-abi/constants.js";
import { Domain } from "../../vmm/machine/domain.js";
import { Tmem } from "../../vmm/tmem/tmem.js";
import { Tmemc } from "../../vmm/tmem-control/tmemc.js";
import type { PageIndex } from "../../vmm/tmem/page-index.js";
import type { Unbranded } from "./brands.js";
import type { PageStore } from "../../vmm/store/page-store.js";
import type { FrameStore } from "../../vmm/store/frame-store.js";
import { checkedLz4, testKernels } from "./kernels.js";

/** Where the harness writes its op struct in guest RAM. */
export const OP_ADDR = 0x100;

/**
 * The core's private state, for the white-box tests that break it on purpose (invariant checks,
 * hash flooding): nothing else reaches it.
 */
export const inside = (t: Tmem): { index: Unbranded<PageIndex>; pageStore: PageStore; store: FrameStore } =>
  t as unknown as { index: Unbranded<PageIndex>; pageStore: PageStore; store: FrameStore };

/** A tmem the harness owns, with its TMEMC sub-ops, as the VMM owns both. */
export class TestTmem extends Tmem {
  readonly control = new Tmemc(this);
}

export function newTmem(capacityFrames = 256): TestTmem {
  return new TestTmem({ capacityFrames, compressor: checkedLz4, indexModule: testKernels.pageIndex() });
}

let nextDomid = 1;

export class Guest {
  readonly domain: Domain;
  constructor(
    readonly tmem: Tmem,
    opts: { ramMiB?: number; layout?: OpLayout; privileged?: boolean } = {},
  ) {
    this.domain = new Domain(tmem, {
      domid: nextDomid++,
      name: "test",
      ramMiB: opts.ramMiB ?? 1,
      layout: opts.layout,
      privileged: opts.privileged,
      control: tmem instanceof TestTmem ? tmem.control : new Tmemc(tmem),
      kernels: testKernels,
    });
  }

  /** TMEM_CONTROL (layouts that have it). */
  control(subop: number, f: { cliId?: number; arg1?: number; arg2?: number; poolId?: number; oid?: bigint[]; buf?: bigint } = {}): number {
    const words = this.domain.layout.oidWords;
    return this.op({
      cmd: 0,
      poolId: f.poolId ?? 0,
      ctrl: {
        subop,
        cliId: f.cliId ?? 0xffff,
        arg1: f.arg1 ?? 0,
        arg2: f.arg2 ?? 0,
        oid: [...(f.oid ?? []), 0n, 0n, 0n].slice(0, words),
        buf: f.buf ?? 0n,
      },
    });
  }

  get ram(): Uint8Array {
    return this.domain.ram.bytes;
  }

  /** Raw entry: 64-bit register values as bigints. */
  hypercall(rax: bigint, rdi: bigint): number {
    const lo = (x: bigint) => Number(BigInt.asIntN(32, x));
    const hi = (x: bigint) => Number(BigInt.asIntN(32, x >> 32n));
    return this.domain.hypercall(lo(rax), hi(rax), lo(rdi), hi(rdi), 0, 0, 0, 0, 0, 0, 0, 0);
  }

  /** Writes `bytes` at `addr` and issues tmem_op on it. */
  opBytes(bytes: Uint8Array, addr = OP_ADDR): number {
    this.ram.set(bytes, addr);
    return this.hypercall(BigInt(HYPERVISOR_tmem_op), BigInt(addr));
  }

  op(op: TmemOp): number {
    return this.opBytes(encodeOp(op, this.domain.layout));
  }

  newPool(opts: { persistent?: boolean; shared?: boolean; uuid?: [bigint, bigint]; flags?: number } = {}): number {
    const flags = opts.flags ?? encodePoolFlags({ ...opts, version: this.domain.layout.specVersion });
    return this.op({ cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: opts.uuid ?? [0n, 0n], flags, arg1: 0 } });
  }

  destroyPool(poolId: number): number {
    return this.op({ cmd: TMEM_DESTROY_POOL, poolId, gen: gen([0n], 0, 0n, this.domain.layout) });
  }

  put(poolId: number, oid: bigint[], index: number, pfn: bigint | number): number {
    return this.op({ cmd: TMEM_PUT_PAGE, poolId, gen: gen(oid, index, BigInt(pfn), this.domain.layout) });
  }

  get(poolId: number, oid: bigint[], index: number, pfn: bigint | number): number {
    return this.op({ cmd: TMEM_GET_PAGE, poolId, gen: gen(oid, index, BigInt(pfn), this.domain.layout) });
  }

  flushPage(poolId: number, oid: bigint[], index: number): number {
    return this.op({ cmd: TMEM_FLUSH_PAGE, poolId, gen: gen(oid, index, 0n, this.domain.layout) });
  }

  flushObject(poolId: number, oid: bigint[]): number {
    return this.op({ cmd: TMEM_FLUSH_OBJECT, poolId, gen: gen(oid, 0, 0n, this.domain.layout) });
  }

  /** Fills frame `pfn` with bytes derived from `seed`. */
  fill(pfn: number, seed: number): void {
    this.frame(pfn).set(pattern(seed));
  }

  frame(pfn: number): Uint8Array {
    return this.ram.subarray(pfn * TMEM_PAGE_SIZE, (pfn + 1) * TMEM_PAGE_SIZE);
  }
}

export function pattern(seed: number): Uint8Array {
  const p = new Uint8Array(TMEM_PAGE_SIZE);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < p.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    p[i] = x & 0xff;
  }
  return p;
}

function gen(oid: bigint[], index: number, cmfn: bigint, layout: OpLayout) {
  const words = layout.oidWords;
  const full = [...oid, 0n, 0n, 0n].slice(0, words);
  return { oid: full, index, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn };
}

export { DEFAULT_LAYOUT };

/** Byte equality of two pages, fast enough for property loops (toEqual walks element by element). */
export function samePage(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
