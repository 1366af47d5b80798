// The hypercall entry on its own: which register values reach tmem, what an observer sees, and
// what the domain's counters say afterwards.
import { describe, expect, it } from "vitest";
import { EFAULT, ENOSYS, HYPERVISOR_tmem_op, TMEM_NEW_POOL, TMEMC_LIST } from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import type { Domain } from "../../vmm/machine/domain.js";
import { Guest, newTmem, OP_ADDR } from "../support/harness.js";

const NR = HYPERVISOR_tmem_op;

function withNewPoolStruct(g: Guest): void {
  const flags = encodePoolFlags({ version: g.domain.layout.specVersion });
  g.ram.set(encodeOp({ cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0n, 0n], flags, arg1: 0 } }, g.domain.layout), OP_ADDR);
}

describe("hypercall entry", () => {
  it("only rax = 38 with a zero high half reaches tmem; every call is counted", () => {
    const g = new Guest(newTmem(4));
    withNewPoolStruct(g);
    const h = g.domain.hypercall;
    const calls = g.domain.hypercalls;
    for (const [lo, hi] of [
      [NR, 1],
      [NR, -1],
      [NR, 0x80000000 | 0],
      [NR - 1, 0],
      [NR + 1, 0],
      [0, 0],
      [NR | 0x100, 0],
    ]) {
      expect(h(lo, hi, OP_ADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(-ENOSYS);
    }
    expect(g.domain.hypercalls).toBe(calls + 7);
    expect(g.domain.faults).toBe(0);
    expect(g.tmem.pools().length).toBe(0);
    expect(h(NR, 0, OP_ADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(0);
    expect(g.tmem.pools().length).toBe(1);
    expect(g.domain.hypercalls).toBe(calls + 8);
  });

  it("a struct at guest address 0 is read like any other", () => {
    const g = new Guest(newTmem(4));
    const flags = encodePoolFlags({ version: g.domain.layout.specVersion });
    g.ram.set(encodeOp({ cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0n, 0n], flags, arg1: 0 } }, g.domain.layout), 0);
    expect(g.domain.hypercall(NR, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(0);
    expect(g.tmem.pools().length).toBe(1);
    expect(g.domain.faults).toBe(0);
  });

  it("a struct pointer outside RAM is EFAULT and counted as a fault", () => {
    const g = new Guest(newTmem(4));
    const h = g.domain.hypercall;
    expect(h(NR, 0, 1024 * 1024 - 8, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(-EFAULT);
    expect(h(NR, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(-EFAULT);
    expect(g.domain.faults).toBe(2);
    expect(g.domain.hypercalls).toBe(2);
  });

  it("an observer sees the twelve register halves before the op and the result after it", () => {
    const g = new Guest(newTmem(4));
    withNewPoolStruct(g);
    const seen: string[] = [];
    g.domain.observer = {
      before: (d: Domain, regs: Int32Array) => {
        seen.push(`before ${d.domid} ${[...regs].join(",")} pools=${g.tmem.pools().length}`);
      },
      after: (d: Domain, regs: Int32Array, result: number) => {
        seen.push(`after ${d.domid} ${[...regs].join(",")} result=${result} pools=${g.tmem.pools().length}`);
      },
    };
    const regs = [NR, 0, OP_ADDR, 0, 3, -4, 5, -6, 7, -8, 9, -10];
    expect(
      g.domain.hypercall(regs[0], regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7], regs[8], regs[9], regs[10], regs[11]),
    ).toBe(0);
    const id = g.domain.domid;
    expect(seen).toEqual([`before ${id} ${regs.join(",")} pools=0`, `after ${id} ${regs.join(",")} result=0 pools=1`]);
    // an observer with only one of the two hooks
    g.domain.observer = { after: (_d, _r, result) => void seen.push(`only after ${result}`) };
    expect(g.domain.hypercall(NR + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(-ENOSYS);
    g.domain.observer = { before: () => void seen.push("only before") };
    expect(g.domain.hypercall(NR, 0, OP_ADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(1);
    expect(seen.slice(2)).toEqual([`only after ${-ENOSYS}`, "only before"]);
  });

  it("TMEM_CONTROL gets the op's buffer, so a listing lands in guest RAM", () => {
    const g = new Guest(newTmem(4), { layout: OP_LAYOUTS.get("xen-4.1-oid3/x86_64")!, privileged: true });
    g.newPool();
    expect(g.control(TMEMC_LIST, { arg1: 512, buf: 0x4000n })).toBe(0);
    const text = new TextDecoder().decode(g.ram.subarray(0x4000, 0x4000 + 512)).split("\0")[0];
    expect(text.length).toBeGreaterThan(0);
    expect(text).toMatch(/\S/);
  });
});
