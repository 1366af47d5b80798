// tmem holds host memory for what it stores, not for the capacity it was given: the frames the
// system backs are those written (a large store's slabs are whole from the start, a small one's
// grow as frames are taken) and the page index's arrays grow as pages are indexed; and a
// host with no memory for a slab to grow is a full store, met as tmem meets one (evict an
// ephemeral page, or -ENOMEM), never an exception through the guest's hypercall.
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { Tmem } from "../../vmm/tmem/tmem.js";
import { Guest } from "../support/harness.js";
import { testKernels } from "../support/kernels.js";
import { StuntedSlabs } from "../support/stunted-slabs.js";

const MiB = 1 << 20;
const O = [3n, 0n, 0n];

function tmemOf(capacityFrames: number, slabs?: StuntedSlabs): Tmem {
  return new Tmem({ capacityFrames, compressor: () => testKernels.lz4(), indexModule: testKernels.pageIndex(), slabs });
}

describe("tmem's memory grows with what it stores", () => {
  it("a 16 GiB tmem holding a few pages holds their frames and under a MiB of metadata", () => {
    const tmem = tmemOf(1 << 22);
    expect(tmem.memoryHeld().slabBytes).toBe(0);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 20; i++) {
      g.fill(10, i + 1);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    const held = tmem.memoryHeld();
    expect(held.slabBytes).toBe(21 * 4096); // the 20 frames written and the staging page
    // the free-frame bitmap is an eighth of a byte a frame of capacity (512 KiB here); the
    // index, sized for its first thousand pages, is about 50 KiB
    expect(held.metadataBytes).toBeLessThan(MiB);
  });

  it("grows as pages are stored, and stores into the same memory after a flush", () => {
    const tmem = tmemOf(1 << 22);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    const putAll = (seed: number) => {
      for (let i = 0; i < 3000; i++) {
        g.fill(10, seed + i);
        expect(g.put(p, O, i, 10)).toBe(1);
      }
    };
    putAll(1);
    const after = tmem.memoryHeld();
    expect(after.slabBytes).toBe(3001 * 4096); // 3000 frames written and the staging page
    expect(after.metadataBytes).toBeGreaterThan(tmemOf(1 << 22).memoryHeld().metadataBytes);
    expect(g.flushObject(p, O)).toBe(1);
    putAll(7);
    expect(tmem.memoryHeld()).toEqual(after);
    for (const i of [0, 254, 255, 1500, 2999]) {
      expect(g.get(p, O, i, 11)).toBe(1);
      g.fill(12, 7 + i);
      expect(g.frame(11)).toEqual(g.frame(12));
    }
  });

  it("a slab that cannot grow is a full store: -ENOMEM to a persistent put, an eviction for an ephemeral one", () => {
    const tmem = tmemOf(1000, new StuntedSlabs(16)); // room for 255 frames, however much is asked
    const g = new Guest(tmem);
    const pp = g.newPool({ persistent: true });
    for (let i = 0; i < 255; i++) {
      g.fill(10, i + 1);
      expect(g.put(pp, O, i, 10)).toBe(1);
    }
    g.fill(10, 999);
    expect(g.put(pp, O, 255, 10)).toBe(-C.ENOMEM);
    expect(tmem.counters.putsNoMem).toBe(1);
    expect(tmem.usage().usedFrames).toBe(255);
    // an ephemeral put makes room as for any full store: the oldest ephemeral page goes
    expect(g.flushPage(pp, O, 0)).toBe(1);
    const ep = g.newPool();
    expect(g.put(ep, O, 0, 10)).toBe(1);
    g.fill(10, 1000);
    expect(g.put(ep, O, 1, 10)).toBe(1);
    expect(tmem.counters.evictions).toBe(1);
    expect(g.get(ep, O, 0, 11)).toBe(0);
    expect(g.get(ep, O, 1, 11)).toBe(1);
    expect(g.frame(11)).toEqual(g.frame(10));
  });
});
