// Bad input at the hypercall boundary: each gets the specified errno, nothing throws into the
// host, and no stored page changes or goes missing; any op at all changes the stored pages only
// as its documented effect allows.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EEMPTY,
  EFAULT,
  ENODEV,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  EOPNOTSUPP,
  EPERM,
  HYPERVISOR_tmem_op,
  TMEM_DESTROY_POOL,
  TMEM_FLUSH_OBJECT,
  TMEM_FLUSH_PAGE,
  TMEM_GET_PAGE,
  TMEM_NEW_POOL,
  TMEM_PUT_PAGE,
} from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Guest, newTmem, OP_ADDR, pattern, samePage } from "../support/harness.js";

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
  const opsBefore = tmem.pages;
  const intact = () => {
    expect(tmem.pages).toBe(opsBefore);
    expect(tmem.usage().usedFrames).toBe(opsBefore);
    for (let i = 0; i < 8; i++) {
      // Read the frame store directly: a get would itself be an op under test.
      expect(tmem.pageBytes(tmem.pools()[0], new Uint32Array([1, 0, 2, 0, 3, 0]), i)).toEqual(pattern(i));
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
    const bytes = encodeOp(
      { cmd: TMEM_GET_PAGE, poolId: p, gen: { oid: O, index: 3, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 20n } },
      g.domain.layout,
    );
    for (const addr of [0x101, 0x102, 0x103]) {
      g.frame(20).fill(0);
      expect(g.opBytes(bytes, addr)).toBe(1);
      expect(samePage(g.frame(20), pattern(3))).toBe(true);
    }
    intact();
  });

  it("a struct ending exactly at the end of RAM is read", () => {
    const { g, p, intact } = guestWithPages();
    const bytes = encodeOp(
      { cmd: TMEM_FLUSH_PAGE, poolId: p, gen: { oid: O, index: 99, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0n } },
      g.domain.layout,
    );
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

// ---------------------------------------------------------------- property: any op, any registers
//
// Ops are built byte by byte from the spec's x86-64 layout (2.2/2.3), not with hypercall-abi's
// codec, and most of them name the live pool and its object, so they do reach its pages. A tiny
// oracle of that persistent pool says what each op may do to them: only a successful put, flush
// or destroy naming a page changes it, and a failed duplicate put flushes it. After every op the
// pool's pages are compared with the oracle byte for byte, and every get hit's bytes too.

const OP_BYTES = 56;
const LIVE_OID = [1n, 2n, 3n];
const SOURCE_FRAMES = [10, 11, 12, 13];

interface Step {
  /** 56 bytes: an op from fields, or any bytes at all. */
  op: { cmd: number; poolId: number; oid: bigint[]; index: number; cmfn: bigint } | Uint8Array;
  /** Where the op is written; rdi's low half. */
  at: "op" | "end" | "past-end" | number;
  rax: bigint;
  /** rdi's high half (nonzero: an address above 4 GiB). */
  rdiHigh: bigint;
  /** Refill a source frame first: a pattern, all zero, or one non-zero byte anywhere. */
  fill: { frame: number; kind: "pattern" | "zero" | "one-byte"; seed: number; at: number } | null;
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const stepArb: fc.Arbitrary<Step> = fc.record({
  op: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        cmd: fc.oneof(
          { weight: 20, arbitrary: fc.constant(TMEM_PUT_PAGE) },
          { weight: 20, arbitrary: fc.constant(TMEM_GET_PAGE) },
          { weight: 6, arbitrary: fc.constant(TMEM_FLUSH_PAGE) },
          { weight: 2, arbitrary: fc.constant(TMEM_FLUSH_OBJECT) },
          { weight: 1, arbitrary: fc.constant(TMEM_DESTROY_POOL) },
          { weight: 2, arbitrary: fc.constant(TMEM_NEW_POOL) },
          { weight: 3, arbitrary: fc.constantFrom(0, 3, 8, 9, 10, 101, 102) },
          { weight: 2, arbitrary: fc.nat({ max: 0xffffffff }) },
        ),
        poolId: fc.oneof(
          { weight: 8, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constantFrom(1, -1, 16, -0x80000000, 0x7fffffff) },
          { weight: 1, arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }) },
        ),
        oid: fc.oneof(
          { weight: 6, arbitrary: fc.constant(LIVE_OID) },
          { weight: 1, arbitrary: fc.constantFrom<bigint[]>([1n, 2n, 4n], [1n, 2n, 3n | (1n << 63n)], [1n + (1n << 32n), 2n, 3n]) },
          // NEW_POOL's flags share bytes 24..27 with oid[2]: valid flags, persistent or not.
          {
            weight: 1,
            arbitrary: fc.constantFrom<bigint[]>(
              [0n, 0n, BigInt(encodePoolFlags({ persistent: true }))],
              [0n, 0n, BigInt(encodePoolFlags({}))],
            ),
          },
          { weight: 1, arbitrary: fc.tuple(u64, u64, u64).map((t): bigint[] => [...t]) },
        ),
        index: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: 9 }) }, { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) }),
        cmfn: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...SOURCE_FRAMES.map(BigInt)) },
          { weight: 2, arbitrary: fc.constantFrom(0n, 255n, 256n, (1n << 32n) + 10n, (1n << 63n) + 10n, (1n << 64n) - 1n) },
          { weight: 1, arbitrary: u64 },
        ),
      }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: OP_BYTES, maxLength: OP_BYTES }) },
  ),
  at: fc.oneof(
    { weight: 6, arbitrary: fc.constant("op" as const) },
    { weight: 1, arbitrary: fc.constantFrom("end" as const, "past-end" as const) },
    { weight: 1, arbitrary: fc.nat({ max: (1 << 20) - OP_BYTES }) },
  ),
  rax: fc.oneof(
    { weight: 8, arbitrary: fc.constant(NR) },
    { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: (1n << 32n) - 1n }).map((h) => NR | (h << 32n)) },
    { weight: 1, arbitrary: u64 },
  ),
  rdiHigh: fc.oneof({ weight: 8, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.bigInt({ min: 1n, max: (1n << 32n) - 1n }) }),
  fill: fc.option(
    fc.record({
      frame: fc.constantFrom(...SOURCE_FRAMES),
      kind: fc.constantFrom("pattern" as const, "zero" as const, "one-byte" as const),
      seed: fc.nat({ max: 1000 }),
      at: fc.nat({ max: 4095 }),
    }),
    { nil: null },
  ),
});

/** The spec's x86-64 v1 layout, written out here: cmd @0, pool_id @4, oid @8/16/24, index @32, cmfn @48. */
function encodeGen(f: { cmd: number; poolId: number; oid: bigint[]; index: number; cmfn: bigint }): Uint8Array {
  const b = new Uint8Array(OP_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(0, f.cmd >>> 0, true);
  v.setInt32(4, f.poolId, true);
  f.oid.forEach((w, i) => {
    v.setBigUint64(8 + 8 * i, w, true);
  });
  v.setUint32(32, f.index >>> 0, true);
  v.setBigUint64(48, f.cmfn, true);
  return b;
}

function decodeGen(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset, OP_BYTES);
  return {
    cmd: v.getUint32(0, true),
    poolId: v.getInt32(4, true),
    oid: [v.getBigUint64(8, true), v.getBigUint64(16, true), v.getBigUint64(24, true)],
    index: v.getUint32(32, true),
    cmfn: v.getBigUint64(48, true),
  };
}

const handleKey = (oid: bigint[], index: number) => `${oid.join(":")}/${index}`;

/** What the oracle checked, to show the property's checks do bite. */
interface Reached {
  liveOps: number;
  putsStored: number;
  dupPutsFailed: number;
  sparsePutsStored: number;
  getHitsCompared: number;
  flushesOfStoredPages: number;
  destroys: number;
  highRaxRefused: number;
}

/** Runs `steps` against a fresh guest whose pool 0 (persistent) holds object LIVE_OID pages 0..7. */
function runAgainstOracle(steps: Step[], seen: Reached): void {
  const tmem = newTmem(24);
  const g = new Guest(tmem);
  const p = g.newPool({ persistent: true });
  expect(p).toBe(0);
  const live = tmem.pools()[0];
  const oracle = new Map<string, Uint8Array>();
  for (let i = 0; i < 8; i++) {
    g.fill(10, i);
    expect(g.put(p, LIVE_OID, i, 10)).toBe(1);
    oracle.set(handleKey(LIVE_OID, i), pattern(i));
  }
  let alive = true;
  const size = g.domain.ram.sizeBytes;
  const frames = BigInt(g.domain.ram.frames);

  const compare = (context: string) => {
    if (!alive) {
      expect(tmem.pools(), context).not.toContain(live);
      return;
    }
    const actual = new Map<string, Uint8Array>();
    tmem.forEachPage(live, (oid, index, bytes) => {
      const words = [0, 1, 2].map((k) => BigInt(oid[2 * k]) | (BigInt(oid[2 * k + 1]) << 32n));
      actual.set(handleKey(words, index), bytes.slice());
    });
    expect([...actual.keys()].sort(), context).toEqual([...oracle.keys()].sort());
    for (const [k, want] of oracle) expect(samePage(actual.get(k)!, want), `${context}: page ${k}`).toBe(true);
  };

  for (const [n, step] of steps.entries()) {
    if (step.fill) {
      const f = g.frame(step.fill.frame);
      if (step.fill.kind === "pattern") f.set(pattern(step.fill.seed));
      else f.fill(0);
      if (step.fill.kind === "one-byte") f[step.fill.at] = 1 + (step.fill.seed % 255);
    }
    const bytes = step.op instanceof Uint8Array ? step.op : encodeGen(step.op);
    const at = step.at === "op" ? OP_ADDR : step.at === "end" ? size - OP_BYTES : step.at === "past-end" ? size - OP_BYTES + 1 : step.at;
    const inRam = at + OP_BYTES <= size;
    if (inRam) g.ram.set(bytes, at);
    const r = g.hypercall(step.rax, BigInt(at) | (step.rdiHigh << 32n));
    const context = `step ${n}: ${JSON.stringify(step, (_, x) => (typeof x === "bigint" ? x.toString() : x))} -> ${r}`;
    expect(Number.isInteger(r) && r >= -0x80000000 && r <= 0x7fffffff, context).toBe(true);

    if (step.rax !== NR) {
      expect(r, context).toBe(-ENOSYS);
      if ((step.rax & 0xffffffffn) === NR) seen.highRaxRefused++;
      compare(context);
      continue;
    }
    if (!inRam || step.rdiHigh !== 0n) {
      expect(r, context).toBe(-EFAULT);
      compare(context);
      continue;
    }
    const op = decodeGen(bytes);
    if (!alive || op.poolId !== p) {
      compare(context);
      continue;
    }
    const key = handleKey(op.oid, op.index);
    const existed = oracle.has(key);
    const frameOk = op.cmfn < frames;
    seen.liveOps++;
    switch (op.cmd) {
      case TMEM_PUT_PAGE:
        if (!frameOk) expect(r, context).toBe(-EFAULT);
        else if (existed) expect([1, -ENOSPC], context).toContain(r);
        else expect([1, -ENOMEM], context).toContain(r);
        if (r === 1) {
          const page = g.frame(Number(op.cmfn)).slice();
          oracle.set(key, page);
          seen.putsStored++;
          if (page.filter((x) => x !== 0).length === 1) seen.sparsePutsStored++;
        } else if (existed) {
          oracle.delete(key); // a failed duplicate put leaves no old copy
          seen.dupPutsFailed++;
        }
        break;
      case TMEM_GET_PAGE:
        if (oracle.size === 0) expect(r, context).toBe(-EEMPTY);
        else if (!existed) expect(r, context).toBe(0);
        else if (!frameOk) expect(r, context).toBe(-EFAULT);
        else {
          expect(r, context).toBe(1);
          expect(samePage(g.frame(Number(op.cmfn)), oracle.get(key)!), `${context}: bytes got`).toBe(true);
          seen.getHitsCompared++;
        }
        break;
      case TMEM_FLUSH_PAGE:
        expect(r, context).toBe(1);
        if (oracle.delete(key)) seen.flushesOfStoredPages++;
        break;
      case TMEM_FLUSH_OBJECT:
        expect(r, context).toBe(1);
        for (const k of [...oracle.keys()]) if (k.startsWith(`${op.oid.join(":")}/`)) oracle.delete(k);
        break;
      case TMEM_DESTROY_POOL:
        expect(r, context).toBe(1);
        oracle.clear();
        alive = false;
        seen.destroys++;
        break;
      case TMEM_NEW_POOL:
        expect(r === -EPERM || (r > 0 && r < 16), context).toBe(true);
        break;
      case 0:
      case 101:
      case 102:
        expect(r, context).toBe(-EOPNOTSUPP);
        break;
      default:
        expect(r, context).toBe(-ENOSYS);
    }
    compare(context);
  }
  tmem.checkInvariants();
}

describe("any op, any registers", () => {
  it("never throw, and the live pool's pages change only as each op's documented effect allows", () => {
    const seen: Reached = {
      liveOps: 0,
      putsStored: 0,
      dupPutsFailed: 0,
      sparsePutsStored: 0,
      getHitsCompared: 0,
      flushesOfStoredPages: 0,
      destroys: 0,
      highRaxRefused: 0,
    };
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40, size: "max" }), (steps) => runAgainstOracle(steps, seen)),
      { numRuns: 300, seed: 20261123 },
    );
    // The checks above bite only if the ops reached the live pool's pages in every way.
    expect(seen).toMatchObject({
      liveOps: expect.toSatisfy((n: number) => n > 1000),
      putsStored: expect.toSatisfy((n: number) => n > 300),
      dupPutsFailed: expect.toSatisfy((n: number) => n > 40),
      sparsePutsStored: expect.toSatisfy((n: number) => n > 50),
      getHitsCompared: expect.toSatisfy((n: number) => n > 100),
      flushesOfStoredPages: expect.toSatisfy((n: number) => n > 50),
      destroys: expect.toSatisfy((n: number) => n > 20),
      highRaxRefused: expect.toSatisfy((n: number) => n > 100),
    });
  });
});
