// Hash flooding through the hypercall: a guest chooses every key (pool, oid, index) of its pages.
// Were it to learn the page index's hash key (each index draws a random one), it could aim any
// number of pages at one whole 32-bit hash, which no table size spreads. Before this was closed,
// 257 such puts made the page table double until the host ran out of memory. Here the attacker
// is given the key: every op must still answer right, and the table must keep its size.
import { describe, expect, it } from "vitest";
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { PageIndex } from "../../vmm/tmem/page-index.js";
import { Tmem } from "../../vmm/tmem/tmem.js";
import { Guest, inside as harnessInside } from "../support/harness.js";
import { testKernels } from "../support/kernels.js";
import { poolId } from "../support/brands.js";

/** The index's hash functions and tables (private: the attacker's knowledge, and what the test measures). */
interface Inside {
  pageSlots: Int32Array;
  pageDist: Uint8Array;
  objectHash(pool: number, o: Uint32Array, base: number): number;
  pageHash(objectHash: number, index: number): number;
}

const KEY = 0x1bad5eed;
const SRC = 10;
const DST = 11;

/** `n` (oid, index) keys of pool handle `handle` whose page hashes are all equal under KEY. */
function collidingKeys(handle: number, n: number): [bigint, number][] {
  const h = new PageIndex(64, KEY) as unknown as Inside;
  const C2 = 0x85ebca77;
  let inv = C2;
  for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(C2, inv)); // C2's inverse mod 2^32
  const target = 0x2468ace0;
  const keys: [bigint, number][] = [];
  const hashes = new Set<number>();
  for (let k = 1; keys.length < n; k++) {
    const oid = Uint32Array.of(k, 0, 0, 0, 0, 0);
    const index = (Math.imul(target ^ h.objectHash(handle, oid, 0), inv) ^ 0x7f4a7c15) >>> 0;
    hashes.add(h.pageHash(h.objectHash(handle, oid, 0), index | 0));
    keys.push([BigInt(k), index]);
  }
  expect(hashes.size).toBe(1);
  return keys;
}

describe("hash flooding", () => {
  it("2 000 puts aimed at one page hash with the key known: every put, get and flush answers right, the table grows only for its load", () => {
    const tmem = new Tmem({ capacityFrames: 4096, compressor: () => testKernels.lz4(), hashKey: KEY });
    const g = new Guest(tmem);
    const pool = g.newPool({ persistent: true });
    expect(pool).toBe(0);
    const handle = g.domain.client.pool(poolId(pool))!.handle;
    const keys = collidingKeys(handle, 2000);
    const inside = harnessInside(tmem).index as unknown as Inside;
    // The index starts with a table for 1024 pages (2048 slots) and doubles at three quarters
    // full: 2 000 pages take 4096 slots, whatever their hashes; collisions must not grow it more.
    expect(inside.pageSlots.length).toBe(2048);
    const page = (n: number) => g.ram.subarray(n * TMEM_PAGE_SIZE, (n + 1) * TMEM_PAGE_SIZE);
    keys.forEach(([oid, index], n) => {
      new DataView(g.ram.buffer).setUint32(SRC * TMEM_PAGE_SIZE, n + 1, true);
      expect(g.put(pool, [oid], index, SRC)).toBe(1);
    });
    expect(inside.pageSlots.length).toBe(4096);
    expect(Math.max(...inside.pageDist)).toBe(255);
    expect(tmem.pages).toBe(2000);
    keys.forEach(([oid, index], n) => {
      page(DST).fill(0);
      expect(g.get(pool, [oid], index, DST)).toBe(1);
      expect(new DataView(g.ram.buffer).getUint32(DST * TMEM_PAGE_SIZE, true)).toBe(n + 1);
    });
    keys.forEach(([oid, index], n) => {
      if (n % 2 === 0) expect(g.flushPage(pool, [oid], index)).toBe(1);
    });
    keys.forEach(([oid, index], n) => expect(g.get(pool, [oid], index, DST)).toBe(n % 2 === 0 ? 0 : 1));
    expect(tmem.pages).toBe(1000);
    tmem.checkInvariants();
  });
});
