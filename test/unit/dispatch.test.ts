// The boundary's op dispatcher (vmm/boundary/dispatch.ts) at its edges: a control buffer at guest
// address 0 is as good as any other, and NEW_PAGE keeps a zero page (no frame).
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Guest, newTmem } from "../support/harness.js";

const V1 = opLayout("xen-4.1-oid3/x86_64")!;
const O = [5n, 6n, 7n];

function setup() {
  const tmem = newTmem();
  const dom0 = new Guest(tmem, { layout: V1, privileged: true });
  const a = new Guest(tmem, { layout: V1 });
  return { tmem, dom0, a };
}

describe("the control buffer at guest address 0", () => {
  it("TMEMC_LIST writes its text there", () => {
    const { dom0 } = setup();
    dom0.ram.fill(0xaa, 0, 4096);
    expect(dom0.control(C.TMEMC_LIST, { arg1: 64, buf: 0n })).toBe(0);
    const text = dom0.ram.subarray(0, 4096);
    expect(text.indexOf(0)).toBeGreaterThan(0);
    expect(Buffer.from(text.subarray(0, 2)).toString("latin1")).toBe("G=");
  });

  it("TMEMC_RESTORE_PUT_PAGE reads the page from there", () => {
    const { dom0, a } = setup();
    const flags = encodePoolFlags({ persistent: true, version: V1.specVersion });
    expect(dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: 2, creat: { uuid: [0n, 0n], flags, arg1: a.domain.domid } })).toBe(2);
    for (let i = 0; i < C.TMEM_PAGE_SIZE; i++) dom0.ram[i] = (i * 7 + 1) & 0xff;
    expect(
      dom0.control(C.TMEMC_RESTORE_PUT_PAGE, { cliId: a.domain.domid, poolId: 2, arg1: C.TMEM_PAGE_SIZE, arg2: 4, oid: O, buf: 0n }),
    ).toBe(1);
    // The op struct sits inside that page (at OP_ADDR): the page is RAM as the op saw it.
    const saved = dom0.ram.slice(0, C.TMEM_PAGE_SIZE);
    expect(a.get(2, O, 4, 11)).toBe(1);
    expect(a.frame(11)).toEqual(saved);
  });
});

describe("NEW_PAGE (4.0-4.3)", () => {
  it("keeps a zero page: no frame is taken, and a get reads zeros", () => {
    const { tmem, a } = setup();
    const p = a.newPool({ persistent: true });
    expect(a.op({ cmd: C.TMEM_NEW_PAGE, poolId: p, gen: { oid: O, index: 3, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0n } })).toBe(1);
    expect(tmem.usage().usedFrames).toBe(0);
    expect(tmem.counters.zeroPages).toBe(1);
    a.fill(12, 9);
    expect(a.get(p, O, 3, 12)).toBe(1);
    expect(a.frame(12)).toEqual(new Uint8Array(C.TMEM_PAGE_SIZE));
  });
});
