// A hypercall allocates nothing: puts (new and in place), flushes of pages and objects, and gets
// that hit and that miss, through the entry, hundreds of thousands of times, with no
// young-generation collection (a scavenge): one object allocated per op would fill the young
// generation many times over. A get that hits copies its frame out through the slab's staging
// page (FrameStore.copyOut), not through a fresh view of the frame.
import { GCProfiler } from "node:v8";
import { describe, expect, it } from "vitest";
import { HYPERVISOR_tmem_op, TMEM_FLUSH_OBJECT, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_PUT_PAGE } from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { Guest, newTmem } from "../support/harness.js";

const PAGES = 16;
/** Where the op structs are written, one per (command, page), and the page data frames. */
const STRUCTS = 0x1000;
const STRUCT_STRIDE = 128;
const DATA_PFN = 64;

/** Runs `n` rounds of `ops` (struct addresses) through the entry; returns the scavenges seen. */
function scavengesDuring(g: Guest, ops: number[], rounds: number): number {
  const h = g.domain.hypercall;
  const results = new Int32Array(ops.length);
  const round = () => {
    for (let i = 0; i < ops.length; i++) results[i] = h(HYPERVISOR_tmem_op, 0, ops[i], 0, 0, 0, 0, 0, 0, 0, 0, 0);
  };
  // Warm up: lazily made things (frame views, the page-scan kernel) and the JIT's first tiers.
  for (let r = 0; r < 2000; r++) round();
  const first = [...results];
  const profiler = new GCProfiler();
  profiler.start();
  for (let r = 0; r < rounds; r++) round();
  const { statistics } = profiler.stop();
  // Every round ends where it began, so each op answers the same every round.
  expect([...results]).toEqual(first);
  return statistics.filter((s) => s.gcType === "Scavenge" || s.gcType === "MinorMarkSweep" || s.gcType === "MinorMarkCompact").length;
}

function structs(g: Guest, pool: number, cmds: number[]): number[] {
  const at: number[] = [];
  for (const cmd of cmds) {
    for (let i = 0; i < PAGES; i++) {
      const addr = STRUCTS + at.length * STRUCT_STRIDE;
      const oid = [BigInt(i >> 2), 0n, 0n];
      g.ram.set(
        encodeOp(
          { cmd, poolId: pool, gen: { oid, index: i, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(DATA_PFN + i) } },
          g.domain.layout,
        ),
        addr,
      );
      at.push(addr);
    }
  }
  return at;
}

describe("hypercalls allocate nothing", () => {
  it("puts (new and in place), flushes and a missing get on a persistent pool", () => {
    const g = new Guest(newTmem(256), { ramMiB: 2 });
    for (let i = 0; i < PAGES; i++) g.fill(DATA_PFN + i, i + 1);
    const pool = g.newPool({ persistent: true });
    const ops = structs(g, pool, [TMEM_PUT_PAGE, TMEM_PUT_PAGE, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_PUT_PAGE, TMEM_FLUSH_OBJECT]);
    expect(scavengesDuring(g, ops, 10000)).toBe(0);
    expect(g.tmem.pages).toBe(0);
  });

  it("gets that hit, on a persistent pool (the page stays)", () => {
    const g = new Guest(newTmem(256), { ramMiB: 2 });
    for (let i = 0; i < PAGES; i++) g.fill(DATA_PFN + i, i + 1);
    const pool = g.newPool({ persistent: true });
    const puts = structs(g, pool, [TMEM_PUT_PAGE]);
    for (const at of puts) expect(g.domain.hypercall(HYPERVISOR_tmem_op, 0, at, 0, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(1);
    // written over the puts' structs (done with), each get into the frame its page came from
    const gets = structs(g, pool, [TMEM_GET_PAGE]);
    expect(scavengesDuring(g, gets, 10000)).toBe(0);
    expect(g.tmem.counters.ops).toBeGreaterThan(10000 * PAGES);
    expect(g.tmem.pages).toBe(PAGES);
  });

  it("puts, zero-page puts and flushes on an ephemeral pool", () => {
    const g = new Guest(newTmem(256), { ramMiB: 2 });
    for (let i = 0; i < PAGES; i += 2) g.fill(DATA_PFN + i, i + 1); // odd frames stay zero
    const pool = g.newPool();
    const ops = structs(g, pool, [TMEM_PUT_PAGE, TMEM_FLUSH_PAGE]);
    expect(scavengesDuring(g, ops, 10000)).toBe(0);
    expect(g.tmem.counters.zeroPages).toBe(0);
  });
});
