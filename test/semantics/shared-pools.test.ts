// Shared pools with several domains, against Xen 4.12's rules (spec 4.4, 4.5, 4.7, 4.12, 4.13):
// whose frozen flag a put or flush reads, which domain an object's last client is, and what a
// domain holding one pool in two slots keeps when it destroys one. Every op goes through the
// hypercall entry of a domain, as a guest's would.
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { readSaveFile, restoreClient, saveClient, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { Guest, newTmem, type TestTmem, pattern, samePage } from "../support/harness.js";

const U: [bigint, bigint] = [0x1111222233334444n, 0x5555666677778888n];
const OID1 = [1n];
const OID2 = [2n];

/**
 * dom2 creates shared pool U (so owns it), then dom1 joins it. Returns each one's slot for U.
 * (The domids are whatever the harness hands out; `owner` and `sharer` name their roles.)
 */
function ownerAndSharer(capacityFrames = 64) {
  const tmem = newTmem(capacityFrames);
  const sharer = new Guest(tmem); // "dom1"
  const owner = new Guest(tmem); // "dom2"
  tmem.authoriseSharedPool(owner.domain.domid, U, true);
  tmem.authoriseSharedPool(sharer.domain.domid, U, true);
  const uo = owner.newPool({ shared: true, uuid: U });
  const us = sharer.newPool({ shared: true, uuid: U });
  expect(uo).toBe(0);
  expect(us).toBe(0);
  expect(tmem.pools()).toHaveLength(1);
  return { tmem, owner, sharer, uo, us };
}

const freeze = (tmem: TestTmem, g: Guest, frozen = true) => tmem.control.setFrozen(g.domain.client, frozen);

/** The bytes a guest gets back for (pool, oid, index), or the get's result if it was not a hit. */
function fetch(g: Guest, pool: number, oid: bigint[], index: number): Uint8Array | number {
  g.frame(30).fill(0xcd);
  const r = g.get(pool, oid, index, 30);
  return r === 1 ? g.frame(30).slice() : r;
}

describe("rule 1: frozen means the pool's owner is frozen", () => {
  it("a sharer's new put into a pool whose owner is frozen gets EFROZEN and stores nothing", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    freeze(tmem, owner);
    sharer.fill(10, 1);
    expect(sharer.put(us, OID1, 0, 10)).toBe(-C.EFROZEN);
    expect(owner.put(uo, OID1, 1, 10)).toBe(-C.EFROZEN);
    expect(sharer.get(us, OID1, 0, 11)).toBe(-C.EEMPTY);
    expect(tmem.pages).toBe(0);
    tmem.checkInvariants();
  });

  it("a frozen sharer's put and flushes into a pool whose owner is not frozen succeed", () => {
    const { tmem, owner, sharer, us } = ownerAndSharer();
    // Its own private pool does follow its frozen flag.
    const priv = sharer.newPool();
    freeze(tmem, sharer);
    sharer.fill(10, 2);
    expect(sharer.put(priv, OID1, 0, 10)).toBe(-C.EFROZEN);
    expect(sharer.put(us, OID1, 0, 10)).toBe(1);
    expect(sharer.put(us, OID1, 1, 10)).toBe(1);
    expect(sharer.put(us, OID2, 0, 10)).toBe(1);
    expect(sharer.flushPage(us, OID1, 0)).toBe(1);
    expect(sharer.flushObject(us, OID2)).toBe(1);
    expect(fetch(owner, 0, OID1, 0)).toBe(0);
    expect(fetch(owner, 0, OID2, 0)).toBe(0);
    expect(samePage(fetch(owner, 0, OID1, 1) as Uint8Array, pattern(2))).toBe(true);
    tmem.checkInvariants();
  });

  it("with the owner frozen, a sharer's flushes are done and answer EFROZEN; duplicate puts and gets still work", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    owner.fill(10, 3);
    for (let i = 0; i < 3; i++) expect(owner.put(uo, OID1, i, 10)).toBe(1);
    expect(owner.put(uo, OID2, 0, 10)).toBe(1);
    freeze(tmem, owner);
    sharer.fill(10, 4);
    expect(sharer.put(us, OID1, 0, 10)).toBe(1); // duplicate: allowed when frozen
    expect(samePage(fetch(sharer, us, OID1, 0) as Uint8Array, pattern(4))).toBe(true);
    expect(sharer.flushPage(us, OID1, 1)).toBe(-C.EFROZEN);
    expect(sharer.flushPage(us, OID1, 1)).toBe(-C.EFROZEN); // found or not
    expect(fetch(sharer, us, OID1, 1)).toBe(0);
    expect(sharer.flushObject(us, OID2)).toBe(-C.EFROZEN);
    expect(fetch(sharer, us, OID2, 0)).toBe(0);
    freeze(tmem, owner, false);
    expect(sharer.flushPage(us, OID1, 2)).toBe(1);
    expect(sharer.put(us, OID2, 5, 10)).toBe(1);
    tmem.checkInvariants();
  });
});

describe("rule 2: a put records the pool's owner as the object's last client, a get the caller", () => {
  it("a sharer's put goes with the owner when the owner leaves; GET then answers EEMPTY", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    sharer.fill(10, 5);
    expect(sharer.put(us, OID1, 0, 10)).toBe(1);
    expect(owner.destroyPool(uo)).toBe(1);
    expect(sharer.get(us, OID1, 0, 11)).toBe(-C.EEMPTY);
    // The pool survives with its remaining sharer, who owns it now.
    expect(tmem.pools()).toHaveLength(1);
    expect(tmem.pools()[0].owner).toBe(sharer.domain.client);
    expect(sharer.put(us, OID1, 0, 10)).toBe(1);
    expect(samePage(fetch(sharer, us, OID1, 0) as Uint8Array, pattern(5))).toBe(true);
    tmem.checkInvariants();
  });

  it("when the sharer that is not the owner leaves, the objects it put stay", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    sharer.fill(10, 6);
    expect(sharer.put(us, OID1, 0, 10)).toBe(1);
    expect(sharer.destroyPool(us)).toBe(1);
    expect(samePage(fetch(owner, uo, OID1, 0) as Uint8Array, pattern(6))).toBe(true);
    expect(tmem.pools()[0].owner).toBe(owner.domain.client);
    expect(tmem.pools()[0].sharers.size).toBe(1);
    tmem.checkInvariants();
  });

  it("a get records the caller: an object a sharer got last leaves with that sharer", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    owner.fill(10, 7);
    expect(owner.put(uo, OID1, 0, 10)).toBe(1);
    expect(owner.put(uo, OID2, 0, 10)).toBe(1);
    expect(sharer.get(us, OID2, 0, 11)).toBe(1);
    expect(sharer.destroyPool(us)).toBe(1);
    // OID2 went with the sharer; OID1 (last client the owner) stayed: a miss, not EEMPTY.
    expect(fetch(owner, uo, OID2, 0)).toBe(0);
    expect(samePage(fetch(owner, uo, OID1, 0) as Uint8Array, pattern(7))).toBe(true);
    tmem.checkInvariants();
  });

  it("when the owner leaves, objects a sharer got last stay; those the owner touched last go", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    owner.fill(10, 8);
    expect(owner.put(uo, OID1, 0, 10)).toBe(1);
    expect(owner.put(uo, OID2, 0, 10)).toBe(1);
    expect(sharer.get(us, OID2, 0, 11)).toBe(1);
    expect(owner.destroyPool(uo)).toBe(1);
    expect(fetch(sharer, us, OID1, 0)).toBe(0);
    expect(samePage(fetch(sharer, us, OID2, 0) as Uint8Array, pattern(8))).toBe(true);
    tmem.checkInvariants();
  });

  it.each([
    ["a page over a page (the frame reused)", 9],
    ["a zero page over a page (stored anew)", -1],
  ])("a sharer's duplicate put records the owner too: %s", (_, seed) => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    owner.fill(10, 10);
    expect(owner.put(uo, OID1, 0, 10)).toBe(1);
    expect(sharer.get(us, OID1, 0, 11)).toBe(1); // last client: the sharer
    if (seed < 0) sharer.frame(12).fill(0);
    else sharer.fill(12, seed);
    expect(sharer.put(us, OID1, 0, 12)).toBe(1); // last client: the owner again
    expect(sharer.destroyPool(us)).toBe(1);
    const want = seed < 0 ? new Uint8Array(4096) : pattern(seed);
    expect(samePage(fetch(owner, uo, OID1, 0) as Uint8Array, want)).toBe(true);
    tmem.checkInvariants();
  });

  it("ownership passes to the next sharer, whose frozen flag then rules the pool", () => {
    const tmem = newTmem(64);
    const [a, b, c] = [new Guest(tmem), new Guest(tmem), new Guest(tmem)];
    for (const g of [a, b, c]) tmem.authoriseSharedPool(g.domain.domid, U, true);
    const [pa, pb, pc] = [a, b, c].map((g) => g.newPool({ shared: true, uuid: U }));
    expect(tmem.pools()[0].owner).toBe(a.domain.client);
    expect(a.destroyPool(pa)).toBe(1);
    expect(tmem.pools()[0].owner).toBe(b.domain.client);
    freeze(tmem, b);
    c.fill(10, 11);
    expect(c.put(pc, OID1, 0, 10)).toBe(-C.EFROZEN);
    freeze(tmem, b, false);
    freeze(tmem, a); // the old owner no longer matters
    expect(c.put(pc, OID1, 0, 10)).toBe(1);
    // Its pages are charged to the owner, and move with the pool to the last sharer.
    expect(b.domain.client.ephemeralPages).toBe(1);
    expect(c.domain.client.ephemeralPages).toBe(0);
    expect(c.get(pc, OID1, 0, 11)).toBe(1); // last client c: stays when b leaves
    expect(b.destroyPool(pb)).toBe(1);
    expect(tmem.pools()[0].owner).toBe(c.domain.client);
    expect(c.domain.client.ephemeralPages).toBe(1);
    expect(b.domain.client.ephemeralPages).toBe(0);
    expect(samePage(fetch(c, pc, OID1, 0) as Uint8Array, pattern(11))).toBe(true);
    tmem.checkInvariants();
    expect(c.destroyPool(pc)).toBe(1);
    expect(tmem.pools()).toHaveLength(0);
    expect(tmem.pages).toBe(0);
    tmem.checkInvariants();
  });
});

describe("rule 3: a domain holding one shared pool in two slots", () => {
  it("destroying one slot clears only that slot: no object flushed, no ownership change", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    const uo2 = owner.newPool({ shared: true, uuid: U });
    expect(uo2).toBe(1);
    expect(tmem.pools()).toHaveLength(1);
    owner.fill(10, 12);
    expect(owner.put(uo, OID1, 0, 10)).toBe(1); // last client: the owner
    expect(owner.destroyPool(uo)).toBe(1);
    expect(owner.get(uo, OID1, 0, 11)).toBe(-C.ENODEV);
    expect(samePage(fetch(owner, uo2, OID1, 0) as Uint8Array, pattern(12))).toBe(true);
    expect(samePage(fetch(sharer, us, OID1, 0) as Uint8Array, pattern(12))).toBe(true);
    expect(tmem.pools()[0].owner).toBe(owner.domain.client);
    expect(tmem.pools()[0].sharers.size).toBe(2);
    // Still the owner: its frozen flag still rules the sharer's puts.
    freeze(tmem, owner);
    expect(sharer.put(us, OID2, 0, 10)).toBe(-C.EFROZEN);
    freeze(tmem, owner, false);
    tmem.checkInvariants();
  });

  it("destroying the last slot is a normal leave: its objects go, ownership passes on", () => {
    const { tmem, owner, sharer, uo, us } = ownerAndSharer();
    const uo2 = owner.newPool({ shared: true, uuid: U });
    owner.fill(10, 13);
    expect(owner.put(uo2, OID1, 0, 10)).toBe(1);
    expect(owner.put(uo2, OID2, 0, 10)).toBe(1);
    expect(sharer.get(us, OID2, 0, 11)).toBe(1); // last client: the sharer
    expect(owner.destroyPool(uo2)).toBe(1);
    expect(owner.get(uo, OID1, 0, 11)).toBe(1); // still there: uo is held
    expect(owner.destroyPool(uo)).toBe(1);
    expect(fetch(sharer, us, OID1, 0)).toBe(0); // last client was the owner: gone
    expect(samePage(fetch(sharer, us, OID2, 0) as Uint8Array, pattern(13))).toBe(true);
    expect(tmem.pools()[0].owner).toBe(sharer.domain.client);
    expect([...tmem.pools()[0].sharers]).toEqual([sharer.domain.client]);
    tmem.checkInvariants();
  });

  it("a sole sharer in two slots keeps the pool until its last slot goes, then frees its global slot", () => {
    const tmem = newTmem(64);
    const g = new Guest(tmem);
    tmem.authoriseSharedPool(g.domain.domid, U, true);
    const s0 = g.newPool({ shared: true, uuid: U });
    const s1 = g.newPool({ shared: true, uuid: U });
    g.fill(10, 14);
    expect(g.put(s0, OID1, 0, 10)).toBe(1);
    expect(g.destroyPool(s1)).toBe(1);
    expect(samePage(fetch(g, s0, OID1, 0) as Uint8Array, pattern(14))).toBe(true);
    expect(g.destroyPool(s0)).toBe(1);
    expect(tmem.pools()).toHaveLength(0);
    expect(tmem.usage().usedFrames).toBe(0);
    // All 16 global shared slots are free again.
    for (let i = 0; i < 16; i++) tmem.authoriseSharedPool(g.domain.domid, [BigInt(i + 1), 0n], true);
    for (let i = 0; i < 16; i++) expect(g.newPool({ shared: true, uuid: [BigInt(i + 1), 0n] })).toBe(i);
    expect(tmem.pools().filter((p) => p.shared)).toHaveLength(16);
    tmem.checkInvariants();
  });

  it("a domain destroyed while holding the pool in two slots leaves it once", () => {
    const { tmem, owner, sharer, us } = ownerAndSharer();
    owner.newPool({ shared: true, uuid: U });
    owner.fill(10, 15);
    expect(owner.put(0, OID1, 0, 10)).toBe(1);
    tmem.destroyClient(owner.domain.domid);
    expect(sharer.get(us, OID1, 0, 11)).toBe(-C.EEMPTY);
    expect(tmem.pools()[0].owner).toBe(sharer.domain.client);
    expect(tmem.pools()[0].sharers.size).toBe(1);
    tmem.checkInvariants();
  });
});

describe("a duplicate put that cannot be stored flushes the old copy", () => {
  it("with compression on, a page that no longer compresses finds no frame: ENOSPC, nothing readable", () => {
    // Two frames: a compressed page shares one with another compressed page; the other frame
    // holds a raw page. Persistent pages cannot be evicted.
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    const compressible = (seed: number) => {
      const f = g.frame(10);
      f.fill(0);
      for (let i = 0; i < 64; i++) f[i * 64] = seed + i;
    };
    compressible(1);
    expect(g.put(p, OID1, 0, 10)).toBe(1);
    compressible(2);
    expect(g.put(p, OID1, 1, 10)).toBe(1);
    g.fill(10, 16);
    expect(g.put(p, OID1, 2, 10)).toBe(1);
    expect(tmem.counters.compressedPages).toBe(2);
    expect(tmem.usage().freeFrames).toBe(0);
    g.fill(10, 17); // incompressible: needs a whole frame
    expect(g.put(p, OID1, 0, 10)).toBe(-C.ENOSPC);
    expect(g.get(p, OID1, 0, 11)).toBe(0); // not the old copy
    expect(g.get(p, OID1, 1, 11)).toBe(1);
    expect(p).toBe(0);
    expect(tmem.pools()[0].stats.dupPutsFlushed).toBe(1);
    tmem.checkInvariants();
  });

  it("a sharer's duplicate put into a pool whose owner is live-migrating is refused with ENOSPC, old copy flushed", () => {
    const legacy = opLayout("xen-4.1-oid3/x86_64")!;
    const tmem = newTmem(64);
    const dom0 = new Guest(tmem, { layout: legacy, privileged: true });
    const owner = new Guest(tmem, { layout: legacy });
    const sharer = new Guest(tmem, { layout: legacy });
    const flags = encodePoolFlags({ shared: true, persistent: true });
    for (const g of [owner, sharer])
      expect(dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: U, flags: 1, arg1: g.domain.domid } })).toBe(1);
    const po = owner.newPool({ flags, uuid: U });
    const ps = sharer.newPool({ flags, uuid: U });
    const oid = [1n, 0n, 0n];
    owner.fill(10, 18);
    expect(owner.put(po, oid, 0, 10)).toBe(1);
    expect(owner.put(po, oid, 1, 10)).toBe(1);
    expect(owner.put(po, [2n, 0n, 0n], 0, 10)).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: owner.domain.domid, arg1: 1 })).toBe(1);
    sharer.fill(10, 19);
    expect(sharer.put(ps, oid, 0, 10)).toBe(-C.ENOSPC);
    expect(sharer.get(ps, oid, 0, 11)).toBe(0);
    // Every persistent page that left the owner's pool is logged for the owner's migration,
    // whoever removed it and however: the refused duplicate put, a page flush, an object flush.
    expect(sharer.flushPage(ps, oid, 1)).toBe(-C.EFROZEN);
    expect(sharer.flushObject(ps, [2n, 0n, 0n])).toBe(-C.EFROZEN);
    const bufAt = 0x8000;
    const invalidated: number[][] = [];
    for (;;) {
      const r = dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: owner.domain.domid, arg1: 32, buf: BigInt(bufAt) });
      if (r === 0) break; // the log's end, as Xen answered it
      expect(r).toBe(1);
      const v = new DataView(dom0.ram.buffer, bufAt);
      invalidated.push([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]);
    }
    // (pool id, index, oid[0])
    expect(invalidated).toEqual([
      [po, 0, 1],
      [po, 1, 1],
      [po, 0, 2],
    ]);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: owner.domain.domid })).toBe(0);
    expect(sharer.put(ps, oid, 0, 10)).toBe(1);
    tmem.checkInvariants();
  });
});

describe("the control plane follows the same rules", () => {
  const legacy = opLayout("xen-4.1-oid3/x86_64")!;
  const sharedFlags = encodePoolFlags({ shared: true });

  function legacyPair() {
    const tmem = newTmem(64);
    const dom0 = new Guest(tmem, { layout: legacy, privileged: true });
    const owner = new Guest(tmem, { layout: legacy });
    const sharer = new Guest(tmem, { layout: legacy });
    for (const g of [owner, sharer])
      expect(dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: U, flags: 1, arg1: g.domain.domid } })).toBe(1);
    const po = owner.newPool({ flags: sharedFlags, uuid: U });
    const ps = sharer.newPool({ flags: sharedFlags, uuid: U });
    const list = () => {
      const bufAt = 0x8000;
      expect(dom0.control(C.TMEMC_LIST, { arg1: 4096, buf: BigInt(bufAt) })).toBe(0);
      return Buffer.from(dom0.ram.subarray(bufAt, bufAt + 4096))
        .toString("latin1")
        .split("\0")[0];
    };
    return { tmem, dom0, owner, sharer, po, ps, list };
  }

  it("TMEMC_FREEZE of the owner refuses the sharer's new puts; TMEMC_THAW lets them in", () => {
    const { dom0, owner, sharer, ps } = legacyPair();
    const oid = [1n, 0n, 0n];
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: owner.domain.domid })).toBe(0);
    expect(sharer.put(ps, oid, 0, 10)).toBe(-C.EFROZEN);
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: sharer.domain.domid })).toBe(0);
    expect(dom0.control(C.TMEMC_THAW, { cliId: owner.domain.domid })).toBe(0);
    expect(sharer.put(ps, oid, 0, 10)).toBe(1); // the sharer is frozen, the owner is not
    expect(sharer.flushPage(ps, oid, 0)).toBe(1);
  });

  it("TMEMC_SAVE_BEGIN freezes the owner, and so the pool, for every sharer until SAVE_END", () => {
    const { dom0, owner, sharer, ps } = legacyPair();
    const oid = [1n, 0n, 0n];
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: owner.domain.domid })).toBe(1);
    expect(sharer.put(ps, oid, 0, 10)).toBe(-C.EFROZEN);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: owner.domain.domid })).toBe(0);
    expect(sharer.put(ps, oid, 0, 10)).toBe(1);
  });

  it("TMEMC_LIST names each shared pool's sharers, owner first, and the new owner after a hand-over", () => {
    const { owner, sharer, po, ps, list } = legacyPair();
    const ps2 = sharer.newPool({ flags: sharedFlags, uuid: U });
    const [o, s] = [owner.domain.domid, sharer.domain.domid];
    const text = list();
    expect(text).toMatch(new RegExp(`^S=SI:0,PT:ES,U0:${U[0].toString(16)},U1:${U[1].toString(16)},SC:${o},SC:${s}$`, "m"));
    expect(text).toMatch(new RegExp(`^P=CI:${s},PI:${ps},PT:ES`, "m"));
    expect(text).toMatch(new RegExp(`^P=CI:${s},PI:${ps2},PT:ES`, "m"));
    expect(owner.destroyPool(po)).toBe(1);
    expect(list()).toMatch(new RegExp(`^S=SI:0,PT:ES,U0:[0-9a-f]+,U1:[0-9a-f]+,SC:${s}$`, "m"));
    expect(sharer.destroyPool(ps)).toBe(1);
    expect(list()).toMatch(/^S=SI:0,/m);
    expect(sharer.destroyPool(ps2)).toBe(1);
    expect(list()).not.toMatch(/^S=/m);
  });

  it("a restore whose shared pool would join a frozen owner's pool is refused before anything changes", () => {
    const { tmem, dom0, owner, sharer } = legacyPair();
    const perFlags = encodePoolFlags({ shared: true, persistent: true });
    const V: [bigint, bigint] = [0xaaan, 0xbbbn];
    const target = new Guest(tmem, { layout: legacy });
    for (const g of [owner, sharer, target]) dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: V, flags: 1, arg1: g.domain.domid } });
    const vo = owner.newPool({ flags: perFlags, uuid: V });
    const vs = sharer.newPool({ flags: perFlags, uuid: V });
    sharer.fill(10, 20);
    expect(sharer.put(vs, [1n, 0n, 0n], 0, 10)).toBe(1);
    const file = saveClient(tmem, sharer.domain.client, "sharer", legacy.name);
    expect(readSaveFile(file).meta.pageCount).toBe(1);
    freeze(tmem, owner);
    const poolsBefore = target.domain.client.pools.slice();
    expect(() => restoreClient(tmem, target.domain.client, file)).toThrow(SaveFileError);
    expect(() => restoreClient(tmem, target.domain.client, file)).toThrow(`domain ${owner.domain.domid} is frozen`);
    expect(target.domain.client.pools).toEqual(poolsBefore);
    freeze(tmem, owner, false);
    expect(restoreClient(tmem, target.domain.client, file)).toEqual({ pools: 2, pages: 1 });
    expect(owner.get(vo, [1n, 0n, 0n], 0, 11)).toBe(1);
    tmem.checkInvariants();
  });
});
