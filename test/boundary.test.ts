// Bad input at the hypercall boundary: each gets the specified errno, nothing throws into the
// host, and no stored page changes or goes missing.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EFAULT, ENODEV, ENOSYS, EOPNOTSUPP, EPERM, HYPERVISOR_tmem_op, TMEM_DESTROY_POOL,
  TMEM_FLUSH_OBJECT, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_PUT_PAGE,
} from "../hypercall-abi/constants.js";
import { encodeOp } from "../hypercall-abi/op-codec.js";
import { encodePoolFlags } from "../hypercall-abi/pool-flags.js";
import { Guest, newTmem, OP_ADDR, pattern, samePage } from "./harness.js";

const O = [1n, 2n, 3n];
const NR = BigInt(HYPERVISOR_tmem_op);

/** A guest holding persistent pages 0..7 (page i = pattern(i)); returns a check that all are intact. */
function guestWithPages() {
  const tmem = newTmem(64);
  const g = new Guest(tmem);
  const p = g.newPool({ persistent: true });
  for (let i = 0; i < 8; i++) {
    g.fill(10, i);
    expect(g.put(p, O, i, 10)).toBe(1);
  }
  const opsBefore = tmem.index.pages;
  const intact = () => {
    expect(tmem.index.pages).toBe(opsBefore);
    expect(tmem.store.usedFrames).toBe(opsBefore);
    for (let i = 0; i < 8; i++) {
      // Read the frame store directly: a get would itself be an op under test.
      const ob = tmem.index.findObject(tmem.pools()[0].handle, new Uint32Array([1, 0, 2, 0, 3, 0]));
      const pg = tmem.index.findPage(ob, i);
      expect(pg).toBeGreaterThanOrEqual(0);
      expect(tmem.store.view(tmem.index.frameOf(pg))).toEqual(pattern(i));
    }
  };
  return { g, p, intact };
}

describe("struct pointer", () => {
  it.each([
    ["just past RAM", (size: bigint) => size],
    ["straddling the end of RAM", (size: bigint) => size - 56n + 8n],
    ["one byte short at the end", (size: bigint) => size - 55n],
    ["above 4 GiB", () => (1n << 32n) + BigInt(OP_ADDR)],
    ["at 2^64 - 1", () => (1n << 64n) - 1n],
    ["at 2^63", () => 1n << 63n],
  ])("%s -> EFAULT", (_, addr) => {
    const { g, intact } = guestWithPages();
    expect(g.hypercall(NR, addr(BigInt(g.domain.ram.sizeBytes)))).toBe(-EFAULT);
    intact();
  });

  it("a struct at an unaligned address is read like any other", () => {
    const { g, p, intact } = guestWithPages();
    const bytes = encodeOp({ cmd: TMEM_GET_PAGE, poolId: p, gen: { oid: O, index: 3, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 20n } }, g.domain.layout);
    for (const addr of [0x101, 0x102, 0x103]) {
      g.frame(20).fill(0);
      expect(g.opBytes(bytes, addr)).toBe(1);
      expect(samePage(g.frame(20), pattern(3))).toBe(true);
    }
    intact();
  });

  it("a struct ending exactly at the end of RAM is read", () => {
    const { g, p, intact } = guestWithPages();
    const bytes = encodeOp({ cmd: TMEM_FLUSH_PAGE, poolId: p, gen: { oid: O, index: 99, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0n } }, g.domain.layout);
    expect(g.opBytes(bytes, g.domain.ram.sizeBytes - bytes.length)).toBe(1);
    intact();
  });
});

describe("registers", () => {
  it.each([0n, 37n, 39n, 0xffffffffn, NR + (1n << 32n), (1n << 64n) - 1n])("hypercall number %s -> ENOSYS", (nr) => {
    const { g, intact } = guestWithPages();
    expect(g.hypercall(nr, BigInt(OP_ADDR))).toBe(-ENOSYS);
    intact();
  });
});

describe("op fields", () => {
  const gen = (cmfn: bigint) => ({ oid: O, index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn });

  it.each([-1, -0x80000000, 16, 17, 0x7fffffff, 3])("pool id %s -> ENODEV for every data op", (poolId) => {
    const { g, intact } = guestWithPages();
    for (const cmd of [TMEM_PUT_PAGE, TMEM_GET_PAGE, TMEM_FLUSH_PAGE, TMEM_FLUSH_OBJECT, 99]) {
      expect(g.op({ cmd, poolId, gen: gen(10n) })).toBe(-ENODEV);
    }
    expect(g.op({ cmd: TMEM_DESTROY_POOL, poolId, gen: gen(0n) })).toBe(0);
    intact();
  });

  it.each([3, 8, 9, 10, 11, 99, 100, 103, 0xffffffff])("unknown or retired command %s on a valid pool -> ENOSYS", (cmd) => {
    const { g, p, intact } = guestWithPages();
    expect(g.op({ cmd, poolId: p, gen: gen(10n) })).toBe(-ENOSYS);
    intact();
  });

  it.each([0, 101, 102])("privileged command %s from a guest -> EOPNOTSUPP", (cmd) => {
    const { g, p, intact } = guestWithPages();
    expect(g.op({ cmd, poolId: p, creat: { uuid: [1n, 2n], flags: 1, arg1: g.domain.domid } })).toBe(-EOPNOTSUPP);
    intact();
  });

  it.each([
    ["a frame just past RAM", (frames: bigint) => frames],
    ["a frame number above 2^32", () => (1n << 32n) + 10n],
    ["frame 2^64 - 1", () => (1n << 64n) - 1n],
  ])("cmfn %s -> EFAULT for put and get", (_, cmfn) => {
    const { g, p, intact } = guestWithPages();
    const frames = BigInt(g.domain.ram.frames);
    expect(g.op({ cmd: TMEM_PUT_PAGE, poolId: p, gen: { ...gen(cmfn(frames)), index: 100 } })).toBe(-EFAULT);
    expect(g.op({ cmd: TMEM_GET_PAGE, poolId: p, gen: gen(cmfn(frames)) })).toBe(-EFAULT);
    intact();
  });

  it.each([
    ["version 0", encodePoolFlags({ version: 0 })],
    ["version 2", encodePoolFlags({ version: 2 })],
    ["version 255", encodePoolFlags({ version: 255 })],
    ["page size 8 KiB", encodePoolFlags({ pageSizeField: 1 })],
    ["page size field 15", encodePoolFlags({ pageSizeField: 15 })],
    ["reserved bit 8", encodePoolFlags({}) | 0x100],
    ["reserved bit 23", encodePoolFlags({}) | 0x800000],
    ["precompressed", encodePoolFlags({}) | 4],
  ])("NEW_POOL with %s -> EPERM", (_, flags) => {
    const { g, intact } = guestWithPages();
    const poolsBefore = g.tmem.pools().length;
    expect(g.newPool({ flags })).toBe(-EPERM);
    expect(g.tmem.pools()).toHaveLength(poolsBefore);
    intact();
  });
});

describe("any bytes, any registers", () => {
  it("never throw, and only data ops on a live pool touch stored pages", () => {
    const { g, p, intact } = guestWithPages();
    const dataOps = new Set([TMEM_PUT_PAGE, TMEM_GET_PAGE, TMEM_FLUSH_PAGE, TMEM_FLUSH_OBJECT, TMEM_DESTROY_POOL]);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 56, maxLength: 56 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (bytes, rax, rdi) => {
        const view = new DataView(bytes.buffer);
        if (dataOps.has(view.getUint32(0, true)) && view.getInt32(4, true) === p) view.setInt32(4, 16);
        const r1 = g.opBytes(bytes);
        const r2 = g.hypercall(rax, rdi);
        for (const r of [r1, r2]) {
          expect(Number.isInteger(r)).toBe(true);
          expect(r).toBeGreaterThanOrEqual(-0x80000000);
          expect(r).toBeLessThanOrEqual(0x7fffffff);
        }
      }),
      { numRuns: 2000, seed: 20261123 },
    );
    intact();
  });
});
