// The rules of tmem's guest ops, as the spec gives them, through the real hypercall entry.
import { describe, expect, it } from "vitest";
import { EEMPTY, EFAULT, EFROZEN, ENODEV, ENOMEM, ENOSPC, EPERM } from "../../hypercall-abi/constants.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Guest, newTmem, pattern } from "../support/harness.js";
import type { Tmem } from "../../vmm/tmem/tmem.js";

const O = [7n, 8n, 9n];

/** Every count in tmem agrees with every other: pools, clients, the page index, the frame store. */
function expectAccountingAddsUp(tmem: Tmem): void {
  const pools = tmem.pools();
  const poolPages = pools.reduce((n, p) => n + p.stats.pages, 0);
  const poolObjects = pools.reduce((n, p) => n + p.stats.objects, 0);
  let clientPages = 0;
  for (const c of tmem.clients) clientPages += c.ephemeralPages + c.persistentPages;
  expect(poolPages).toBe(tmem.pages);
  expect(poolObjects).toBe(tmem.usage().objects);
  expect(clientPages).toBe(tmem.pages);
  expect(tmem.usage().usedFrames + tmem.counters.zeroPages).toBe(tmem.pages);
  expect(() => tmem.checkInvariants()).not.toThrow();
}

describe("pools", () => {
  it("take the lowest free slot, reused after destroy; a 17th is refused", () => {
    const g = new Guest(newTmem());
    for (let i = 0; i < 16; i++) expect(g.newPool()).toBe(i);
    expect(g.newPool()).toBe(-EPERM);
    expect(g.destroyPool(5)).toBe(1);
    expect(g.destroyPool(5)).toBe(0);
    expect(g.newPool({ persistent: true })).toBe(5);
  });

  it("refuse bad flags with EPERM, in Xen's order", () => {
    const g = new Guest(newTmem());
    expect(g.newPool({ flags: encodePoolFlags({ version: 0 }) })).toBe(-EPERM);
    expect(g.newPool({ flags: encodePoolFlags({ pageSizeField: 1 }) })).toBe(-EPERM);
    expect(g.newPool({ flags: encodePoolFlags({}) | 4 })).toBe(-EPERM);
    expect(g.newPool({ flags: encodePoolFlags({}) | 0x100 })).toBe(-EPERM);
    expect(g.newPool({ persistent: true, shared: true, uuid: [1n, 2n] })).toBe(-EPERM);
    expect(g.newPool({ flags: encodePoolFlags({}) | 8 })).toBe(0); // bit 3 is not checked
  });

  it("destroying a pool frees its pages and frames", () => {
    const tmem = newTmem();
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 10; i++) {
      g.fill(20, i);
      expect(g.put(p, O, i, 20)).toBe(1);
    }
    expect(tmem.usage().usedFrames).toBe(10);
    expect(g.destroyPool(p)).toBe(1);
    expect(tmem.usage().usedFrames).toBe(0);
    expectAccountingAddsUp(tmem);
  });
});

describe("put and get", () => {
  it("persistent: get returns the bytes put, and is not destructive", () => {
    const g = new Guest(newTmem());
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    expect(g.put(p, O, 3, 10)).toBe(1);
    g.frame(10).fill(0);
    for (const into of [11, 12]) {
      expect(g.get(p, O, 3, into)).toBe(1);
      expect(g.frame(into)).toEqual(pattern(1));
    }
  });

  it("private ephemeral: a get hit removes the page; an emptied pool answers EEMPTY", () => {
    const g = new Guest(newTmem());
    const p = g.newPool();
    expect(g.get(p, O, 0, 11)).toBe(-EEMPTY);
    g.fill(10, 2);
    g.put(p, O, 0, 10);
    g.put(p, O, 1, 10);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(2));
    expect(g.get(p, O, 0, 11)).toBe(0);
    expect(g.get(p, O, 1, 11)).toBe(1);
    expect(g.get(p, O, 1, 11)).toBe(-EEMPTY);
  });

  it("put-put-get returns the newer data; a failed duplicate put leaves no copy at all", () => {
    const tmem = newTmem();
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    g.put(p, O, 0, 10);
    g.fill(10, 2);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(2));
    expect(g.put(p, O, 0, 1n << 40n)).toBe(-EFAULT);
    expect(g.get(p, O, 0, 11)).toBe(-EEMPTY);
    expectAccountingAddsUp(tmem);
  });

  it("objects are told apart by all 192 bits of the oid and by index", () => {
    const g = new Guest(newTmem());
    const p = g.newPool({ persistent: true });
    const oids = [
      [1n, 0n, 0n],
      [0n, 1n, 0n],
      [0n, 0n, 1n],
      [1n << 63n, 0n, 0n],
      [0n, 0n, 1n << 32n],
    ];
    oids.forEach((oid, i) => {
      g.fill(10, i);
      g.put(p, oid, 0, 10);
      g.fill(10, 100 + i);
      g.put(p, oid, 0xffffffff, 10);
    });
    oids.forEach((oid, i) => {
      g.get(p, oid, 0, 11);
      expect(g.frame(11)).toEqual(pattern(i));
      g.get(p, oid, 0xffffffff, 11);
      expect(g.frame(11)).toEqual(pattern(100 + i));
    });
  });

  it("a get into a frame outside RAM fails and keeps the page", () => {
    const g = new Guest(newTmem());
    const p = g.newPool();
    g.fill(10, 3);
    g.put(p, O, 0, 10);
    expect(g.get(p, O, 0, g.domain.ram.frames)).toBe(-EFAULT);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(3));
  });
});

describe("flush", () => {
  it("flush page and flush object return 1 whether or not anything was there", () => {
    const tmem = newTmem();
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 7);
    for (let i = 0; i < 5; i++) g.put(p, O, i, 10);
    g.put(p, [1n], 0, 10);
    expect(g.flushPage(p, O, 2)).toBe(1);
    expect(g.flushPage(p, O, 2)).toBe(1);
    expect(g.get(p, O, 2, 11)).toBe(0);
    expect(g.flushObject(p, O)).toBe(1);
    expect(g.flushObject(p, O)).toBe(1);
    for (let i = 0; i < 5; i++) expect(g.get(p, O, i, 11)).toBe(0);
    expect(g.get(p, [1n], 0, 11)).toBe(1);
    expect(tmem.usage().objects).toBe(1);
    expectAccountingAddsUp(tmem);
  });
});

describe("frozen client", () => {
  it("refuses new puts, allows duplicate puts and gets, flushes but answers EFROZEN", () => {
    const g = new Guest(newTmem());
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    g.put(p, O, 0, 10);
    g.put(p, O, 1, 10);
    g.domain.tmem.setPolicy(g.domain.domid, { frozen: true });
    expect(g.put(p, O, 2, 10)).toBe(-EFROZEN);
    g.fill(10, 2);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(2));
    expect(g.flushPage(p, O, 1)).toBe(-EFROZEN);
    expect(g.get(p, O, 1, 11)).toBe(0);
  });
});

describe("capacity", () => {
  it("evicts the least recently used ephemeral page first", () => {
    const tmem = newTmem(4);
    const g = new Guest(tmem);
    const p = g.newPool();
    for (let i = 0; i < 6; i++) {
      g.fill(10, i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    expect(tmem.counters.evictions).toBe(2);
    expect(g.get(p, O, 0, 11)).toBe(0);
    expect(g.get(p, O, 1, 11)).toBe(0);
    for (let i = 2; i < 6; i++) {
      expect(g.get(p, O, i, 11)).toBe(1);
      expect(g.frame(11)).toEqual(pattern(i));
    }
    expectAccountingAddsUp(tmem);
  });

  it("never evicts persistent pages: a put finds no room and fails with ENOMEM", () => {
    const tmem = newTmem(3);
    const g = new Guest(tmem);
    const per = g.newPool({ persistent: true });
    const eph = g.newPool();
    g.put(eph, O, 0, 10);
    for (let i = 0; i < 3; i++) {
      g.fill(10, i);
      expect(g.put(per, O, i, 10)).toBe(1);
    }
    expect(g.put(per, O, 3, 10)).toBe(-ENOMEM);
    expect(g.put(eph, O, 1, 10)).toBe(-ENOMEM);
    for (let i = 0; i < 3; i++) {
      expect(g.get(per, O, i, 11)).toBe(1);
      expect(g.frame(11)).toEqual(pattern(i));
    }
    expectAccountingAddsUp(tmem);
  });

  it("with no tmem capacity every put of data fails cleanly", () => {
    const g = new Guest(newTmem(0));
    const p = g.newPool();
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(-ENOMEM);
    expect(g.get(p, O, 0, 10)).toBe(-EEMPTY);
  });

  it("stores zero pages without a frame, and gives back zeros", () => {
    const tmem = newTmem(0);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.frame(10).fill(0);
    for (let i = 0; i < 100; i++) expect(g.put(p, O, i, 10)).toBe(1);
    expect(tmem.usage().usedFrames).toBe(0);
    expect(tmem.counters.zeroPages).toBe(100);
    g.frame(11).fill(0xaa);
    expect(g.get(p, O, 42, 11)).toBe(1);
    expect(g.frame(11).every((b) => b === 0)).toBe(true);
    // A zero page overwritten with data needs a frame, and there is none: the old copy goes.
    g.fill(10, 3);
    expect(g.put(p, O, 42, 10)).toBe(-ENOSPC);
    expect(g.get(p, O, 42, 11)).toBe(0);
    expectAccountingAddsUp(tmem);
  });

  it("a page becoming zero gives its frame back; becoming data again takes one", () => {
    const tmem = newTmem(4);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 5);
    g.put(p, O, 0, 10);
    expect(tmem.usage().usedFrames).toBe(1);
    g.frame(10).fill(0);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(tmem.usage().usedFrames).toBe(0);
    g.fill(10, 6);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(6));
    expectAccountingAddsUp(tmem);
  });
});

describe("shared pools", () => {
  const uuid: [bigint, bigint] = [0x0123456789abcdefn, 0xfedcba9876543210n];

  it("an unauthorised shared pool is silently private (default deny)", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool({ shared: true, uuid });
    const pb = b.newPool({ shared: true, uuid });
    a.fill(10, 1);
    a.put(pa, O, 0, 10);
    expect(b.get(pb, O, 0, 11)).toBe(-EEMPTY);
    expect(tmem.pools().every((p) => !p.shared)).toBe(true);
  });

  it("authorised sharers see one pool; gets do not remove; the owner leaving takes what it touched last", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    tmem.authoriseSharedPool(a.domain.domid, uuid, true);
    tmem.authoriseSharedPool(b.domain.domid, uuid, true);
    const pa = a.newPool({ shared: true, uuid });
    const pb = b.newPool({ shared: true, uuid });
    a.fill(10, 1);
    expect(a.put(pa, O, 0, 10)).toBe(1);
    b.fill(10, 2);
    expect(b.put(pb, O, 1, 10)).toBe(1);
    expect(b.get(pb, O, 0, 11)).toBe(1);
    expect(b.frame(11)).toEqual(pattern(1));
    expect(a.get(pa, O, 0, 11)).toBe(1);
    expect(a.destroyPool(pa)).toBe(1);
    // Object O was last touched by a (b's put into it recorded the owner, a), so it went with a
    // (the pool is empty now); the pool survives with b, its owner now.
    expect(b.get(pb, O, 1, 11)).toBe(-EEMPTY);
    b.put(pb, [5n], 0, 10);
    expect(b.get(pb, [5n], 0, 11)).toBe(1);
    expectAccountingAddsUp(tmem);
    expect(b.destroyPool(pb)).toBe(1);
    expect(tmem.pools()).toHaveLength(0);
    expectAccountingAddsUp(tmem);
  });

  it("an all-ones uuid always gives a private pool", () => {
    const tmem = newTmem();
    tmem.setSharedAuth(true);
    const a = new Guest(tmem);
    a.newPool({ shared: true, uuid: [(1n << 64n) - 1n, (1n << 64n) - 1n] });
    expect(tmem.pools()[0].shared).toBe(false);
  });
});

describe("domains", () => {
  it("a destroyed domain frees everything it held", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool({ persistent: true });
    const pb = b.newPool({ persistent: true });
    for (let i = 0; i < 4; i++) a.put(pa, O, i, 10);
    b.fill(10, 9);
    b.put(pb, O, 0, 10);
    tmem.destroyClient(a.domain.domid);
    expect(tmem.usage().usedFrames).toBe(1);
    expect(b.get(pb, O, 0, 11)).toBe(1);
    expect(b.frame(11)).toEqual(pattern(9));
    expectAccountingAddsUp(tmem);
  });

  it("pool ids are per domain: one guest's id never reaches another's pool", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool({ persistent: true });
    a.put(pa, O, 0, 10);
    expect(b.get(pa, O, 0, 11)).toBe(-ENODEV);
  });
});
