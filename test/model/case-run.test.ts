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
