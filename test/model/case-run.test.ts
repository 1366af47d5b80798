// A CaseRun's set-up reuses the RAM of finished cases (a 1 MiB WebAssembly.Memory per domain is
// what made set-up cost): the reset must be exact, so nothing of one case reaches the next, and a
// case run alone behaves as it does in the middle of a campaign.
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { CaseRun, FIRST_FRAME, OP_AT } from "../../fuzz/case-run.js";
import { HypercallFuzzer } from "../../fuzz/hypercall-fuzzer.js";

const L = opLayout("xen-4.12-oid3/x86_64")!;
const setup = (domains: number) => ({
  capacityFrames: 8,
  domains: Array.from({ length: domains }, () => ({ layout: L, privileged: false, authorised: true })),
});
const rax = BigInt(C.HYPERVISOR_tmem_op);
const at = BigInt(OP_AT);
const at_ = at;
const nonZeroAt = (b: Uint8Array) => b.findIndex((x) => x !== 0);

/** A few ops that write guest RAM: a filled frame, a pool, a put, a get into another frame. */
function busy(run: CaseRun, d: number): void {
  run.fill(d, FIRST_FRAME, 1);
  run.fill(d, FIRST_FRAME + 2, 3, 4095);
  const flags = encodePoolFlags({ persistent: true, version: L.specVersion });
  expect(run.step(d, encodeOp({ cmd: C.TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0n, 0n], flags, arg1: 0 } }, L), rax, at)).toBeNull();
  const gen = (cmd: number, frame: number) =>
    encodeOp(
      { cmd, poolId: 0, gen: { oid: [1n, 0n, 0n], index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(FIRST_FRAME + frame) } },
      L,
    );
  expect(run.step(d, gen(C.TMEM_PUT_PAGE, 0), rax, at)).toBeNull();
  expect(run.step(d, gen(C.TMEM_GET_PAGE, 5), rax, at)).toBeNull();
}

describe("a CaseRun's RAM, reused, starts every case all zeros", () => {
  it("after a case that finished cleanly", () => {
    const a = new CaseRun(setup(2), 1);
    busy(a, 0);
    busy(a, 1);
    expect(a.finish(6)).toBeNull();
    const rams = a.doms.map((d) => d.domain.ram);
    a.release();
    const b = new CaseRun(setup(2), 2);
    // The same memories serve the next case, which sees none of the last one's bytes.
    expect(new Set(b.doms.map((d) => d.domain.ram))).toEqual(new Set(rams));
    for (const d of b.doms) expect(nonZeroAt(d.domain.ram.bytes)).toBe(-1);
    expect(b.finish(0)).toBeNull();
    b.release();
  });

  it("after a case that failed, or never finished, with bytes where no op of its wrote", () => {
    const a = new CaseRun(setup(1), 1);
    busy(a, 0);
    // What a VMM bug leaves behind: a write the oracles were never told of, far from the op.
    a.doms[0].domain.ram.bytes[0xabcde] = 0x5a;
    expect(a.finish(3)?.message).toMatch(/RAM changed outside what its ops may write, at byte 703710/);
    const ram = a.doms[0].domain.ram;
    a.release();
    const b = new CaseRun(setup(1), 2);
    expect(b.doms[0].domain.ram).toBe(ram);
    expect(nonZeroAt(ram.bytes)).toBe(-1);
    expect(b.finish(0)).toBeNull();
    busy(b, 0);
    b.doms[0].domain.ram.bytes[12345] = 1; // and a case abandoned without finish()
    b.release();
    const c = new CaseRun(setup(1), 3);
    expect(nonZeroAt(c.doms[0].domain.ram.bytes)).toBe(-1);
    expect(c.finish(0)).toBeNull();
    c.release();
  });
});

it("a case gives the same outcome run alone as after other cases", () => {
  for (const mode of ["model", "boundary"] as const) {
    const campaign = new HypercallFuzzer({ mode, seed: 11, opsPerCase: 64 });
    const outcomes = Array.from({ length: 12 }, (_, n) => campaign.runCase(n));
    for (const n of [0, 7, 11]) expect(new HypercallFuzzer({ mode, seed: 11, opsPerCase: 64 }).runCase(n)).toEqual(outcomes[n]);
  }
});

describe("the RAM oracle, after every hypercall", () => {
  type Hypercall = (...regs: number[]) => number;
  /** Makes domain `d`'s next hypercalls also write one byte at `at` of domain `victim`'s RAM, as a VMM bug would. */
  function strayWrite(run: CaseRun, d: number, victim: number, at: number): void {
    const dom = run.doms[d].domain as unknown as { hypercall: Hypercall };
    const real = dom.hypercall;
    dom.hypercall = (...regs) => {
      const r = real(...regs);
      run.doms[victim].domain.ram.bytes[at] ^= 0x40;
      return r;
    };
  }
  const put = (frame: number) =>
    encodeOp(
      { cmd: C.TMEM_PUT_PAGE, poolId: 0, gen: { oid: [1n, 0n, 0n], index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(frame) } },
      L,
    );
  const newPool = () =>
    encodeOp(
      {
        cmd: C.TMEM_NEW_POOL,
        poolId: 0,
        creat: { uuid: [0n, 0n], flags: encodePoolFlags({ persistent: true, version: L.specVersion }), arg1: 0 },
      },
      L,
    );
  const page = 4096;

  // Each byte of the pages the op may have touched (its struct's, the frame it names and those
  // either side), at either end and inside: the op that wrote it is the one blamed.
  for (const at of [OP_AT + 40, (FIRST_FRAME - 1) * page, FIRST_FRAME * page + 2048, (FIRST_FRAME + 2) * page - 1]) {
    it(`a write at byte ${at} of the caller's RAM, beside what a put may touch, fails that put`, () => {
      const run = new CaseRun(setup(1), 1);
      expect(run.step(0, newPool(), rax, at_)).toBeNull();
      strayWrite(run, 0, 0, at);
      expect(run.step(0, put(FIRST_FRAME), rax, at_)?.message).toMatch(
        new RegExp(`^guest RAM changed outside what the op may write, at byte ${at} \\[domain 1, .*cmd TMEM_PUT_PAGE, result 1\\]$`),
      );
      run.release();
    });
  }

  it("a write to another domain's frame of the same number fails that op", () => {
    const run = new CaseRun(setup(2), 1);
    expect(run.step(0, newPool(), rax, at_)).toBeNull();
    strayWrite(run, 0, 1, (FIRST_FRAME + 3) * page + 7);
    expect(run.step(0, put(FIRST_FRAME + 3), rax, at_)?.message).toMatch(/^domain 2's RAM changed \(its frame at byte 28672\)/);
    run.release();
  });

  it("a write far from any op is found by the sweep, within a pass over the RAM", () => {
    const run = new CaseRun(setup(1), 1);
    expect(run.step(0, newPool(), rax, at_)).toBeNull();
    const far = 0xabcd5;
    strayWrite(run, 0, 0, far);
    let failure = null;
    for (let op = 0; op < 256 && !failure; op++) failure = run.step(0, put(FIRST_FRAME), rax, at_);
    expect(failure?.message).toMatch(
      new RegExp(`^domain 1's RAM changed outside what its ops may write, at byte ${far}, found by the sweep`),
    );
    run.release();
  });
});
