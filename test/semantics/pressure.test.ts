// Several domains competing for one tmem: eviction order, weighted shares, caps, and the promise
// that persistent pages are never lost, whatever the workload.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EEMPTY, ENOMEM } from "../../hypercall-abi/constants.js";
import { Guest, newTmem, pattern, samePage } from "../support/harness.js";

describe("eviction", () => {
  it("with all weights 0, evicts in global LRU order across domains", () => {
    const tmem = newTmem(6);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool();
    const pb = b.newPool();
    a.fill(10, 1);
    b.fill(10, 2);
    // a0 b0 a1 b1 a2 b2, then a0 is touched by a duplicate put; two new pages evict b0, a1.
    for (let i = 0; i < 3; i++) {
      a.put(pa, [1n], i, 10);
      b.put(pb, [1n], i, 10);
    }
    a.put(pa, [1n], 0, 10);
    b.put(pb, [2n], 0, 10);
    b.put(pb, [2n], 1, 10);
    expect(b.get(pb, [1n], 0, 11)).toBe(0);
    expect(a.get(pa, [1n], 1, 11)).toBe(0);
    for (const [g, p, i] of [
      [a, pa, 0],
      [a, pa, 2],
      [b, pb, 1],
      [b, pb, 2],
    ] as const)
      expect(g.get(p, [1n], i, 11)).toBe(1);
    tmem.checkInvariants();
  });

  it("with weights 1:2:4, each domain ends up holding its weighted share (within 2%)", () => {
    const capacity = 700;
    const tmem = newTmem(capacity);
    const weights = [1, 2, 4];
    const guests = weights.map((w) => {
      const g = new Guest(tmem);
      g.domain.tmem.setPolicy(g.domain.domid, { weight: w });
      g.fill(10, w);
      return { g, pool: g.newPool() };
    });
    for (let i = 0; i < 3000; i++) {
      for (const { g, pool } of guests) expect(g.put(pool, [7n], i, 10)).toBe(1);
    }
    const total = weights.reduce((x, y) => x + y, 0);
    guests.forEach(({ g }, k) => {
      const share = (capacity * weights[k]) / total;
      expect(Math.abs(g.domain.client.ephemeralPages - share)).toBeLessThanOrEqual(capacity * 0.02);
    });
    tmem.checkInvariants();
  });

  it("a weighted domain loses its own oldest pages first", () => {
    const tmem = newTmem(4);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    a.domain.tmem.setPolicy(a.domain.domid, { weight: 1 });
    b.domain.tmem.setPolicy(b.domain.domid, { weight: 1 });
    const pa = a.newPool();
    const pb = b.newPool();
    a.fill(10, 1);
    b.fill(10, 2);
    a.put(pa, [1n], 0, 10);
    b.put(pb, [1n], 0, 10);
    b.put(pb, [1n], 1, 10);
    b.put(pb, [1n], 2, 10); // b is over its half: the next eviction takes b's oldest
    a.put(pa, [1n], 1, 10);
    expect(b.get(pb, [1n], 0, 11)).toBe(0);
    expect(a.get(pa, [1n], 0, 11)).toBe(1);
    expect(b.get(pb, [1n], 1, 11)).toBe(1);
  });
});

describe("caps", () => {
  it("persistent pages count against the domain's cap: past it a put is ENOMEM while tmem has room", () => {
    const tmem = newTmem(100);
    const g = new Guest(tmem);
    g.domain.tmem.setPolicy(g.domain.domid, { capPages: 3 });
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 3; i++) expect(g.put(p, [1n], i, 10)).toBe(1);
    expect(g.put(p, [1n], 3, 10)).toBe(-ENOMEM);
    expect(g.put(p, [1n], 0, 10)).toBe(1); // a duplicate put needs no new page
    const e = g.newPool();
    expect(g.put(e, [1n], 0, 10)).toBe(1); // ephemeral pages are not capped
  });
});

describe("persistent pages are never lost (property over random workloads)", () => {
  type Op =
    | { kind: "put" | "get" | "flush"; dom: number; persistent: boolean; obj: number; index: number; seed: number }
    | { kind: "flushObject"; dom: number; persistent: boolean; obj: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constantFrom("put" as const, "get" as const, "flush" as const),
      dom: fc.nat(2),
      persistent: fc.boolean(),
      obj: fc.nat(3),
      index: fc.nat(7),
      seed: fc.nat(1000),
    }),
    fc.record({ kind: fc.constant("flushObject" as const), dom: fc.nat(2), persistent: fc.boolean(), obj: fc.nat(3) }),
  );

  it("under pressure: every persistent get returns the last put, ephemeral gets never return wrong data, counts add up", () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 4, max: 40 }),
        fc.array(fc.nat(4), { minLength: 3, maxLength: 3 }),
        (ops, capacity, weights) => {
          const tmem = newTmem(capacity);
          const doms = weights.map((w) => {
            const g = new Guest(tmem);
            g.domain.tmem.setPolicy(g.domain.domid, { weight: w });
            return { g, per: g.newPool({ persistent: true }), eph: g.newPool() };
          });
          // The model: persistent pages that must be there; ephemeral pages that may be.
          const persistent = doms.map(() => new Map<string, number>());
          const ephemeral = doms.map(() => new Map<string, number>());
          for (const o of ops) {
            const d = doms[o.dom];
            const pool = o.persistent ? d.per : d.eph;
            const model = (o.persistent ? persistent : ephemeral)[o.dom];
            const key = (i: number) => `${o.obj}/${i}`;
            if (o.kind === "put") {
              d.g.fill(10, o.seed);
              const r = d.g.put(pool, [BigInt(o.obj)], o.index, 10);
              if (r === 1) model.set(key(o.index), o.seed);
              else {
                expect(r).toBe(-ENOMEM);
                // A duplicate put reuses its frame and never fails; a present persistent page is one.
                if (o.persistent) expect(model.has(key(o.index))).toBe(false);
                model.delete(key(o.index));
              }
            } else if (o.kind === "get") {
              d.g.frame(11).fill(0x5a);
              const r = d.g.get(pool, [BigInt(o.obj)], o.index, 11);
              const want = model.get(key(o.index));
              if (o.persistent && want !== undefined) expect(r).toBe(1);
              if (r === 1) {
                expect(want).toBeDefined();
                expect(samePage(d.g.frame(11), pattern(want!))).toBe(true);
                if (!o.persistent) model.delete(key(o.index)); // exclusive get
              } else {
                expect([0, -EEMPTY]).toContain(r);
                if (!o.persistent) model.delete(key(o.index));
              }
            } else if (o.kind === "flush") {
              expect(d.g.flushPage(pool, [BigInt(o.obj)], o.index)).toBe(1);
              model.delete(key(o.index));
            } else {
              expect(d.g.flushObject(pool, [BigInt(o.obj)])).toBe(1);
              for (const k of [...model.keys()]) if (k.startsWith(`${o.obj}/`)) model.delete(k);
            }
          }
          tmem.checkInvariants();
          // Every persistent page the model holds is still there, bit-exact.
          doms.forEach((d, k) => {
            for (const [key, seed] of persistent[k]) {
              const [obj, index] = key.split("/").map(Number);
              expect(d.g.get(d.per, [BigInt(obj)], index, 12)).toBe(1);
              expect(samePage(d.g.frame(12), pattern(seed))).toBe(true);
            }
          });
        },
      ),
      { numRuns: 150, seed: 4242 },
    );
  });
});
