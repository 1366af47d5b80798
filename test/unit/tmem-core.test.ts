// The tmem core through the hypercall entry: the counters a host sees (the trace state and
// TMEMC_LIST), pool creation limits and shared-pool rules, where pages are kept (zero pages,
// compression), the legacy READ/WRITE ops, weighted eviction, domain teardown, and the
// invariant check the fuzzers rely on.
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { ControlPlane } from "../../vmm/host/control-plane.js";
import { tmemState } from "../../vmm/snapshot/tmem-state.js";
import type { Tmem } from "../../vmm/tmem/tmem.js";
import { Guest, inside, newTmem, pattern } from "../support/harness.js";
import { dom } from "../support/brands.js";
import type { PageHandle } from "../../vmm/store/page-store.js";

const V1 = opLayout("xen-4.1-oid3/x86_64")!;
const O = [1n, 2n, 3n];
const ALL_ONES = (1n << 64n) - 1n;

/** A page that compresses well: a short pattern, then zeros. */
function compressible(seed: number): Uint8Array {
  const p = new Uint8Array(C.TMEM_PAGE_SIZE);
  p.set(pattern(seed).subarray(0, 64));
  return p;
}

const clientState = (tmem: Tmem, g: Guest) => tmemState(tmem).clients.find((c) => c.domid === g.domain.domid)!;
const poolState = (tmem: Tmem, g: Guest, poolId: number) => clientState(tmem, g).pools[poolId]!;

/** Opens shared pools to every domain (TMEM_AUTH with cli_id ALL, from a privileged 4.1 guest). */
function openSharing(tmem: Tmem): Guest {
  const dom0 = new Guest(tmem, { layout: V1, privileged: true });
  expect(dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: [0n, 0n], flags: 1, arg1: 0xffff } })).toBe(1);
  return dom0;
}

describe("what each op counts", () => {
  it("ops and errors per domain and host-wide; a miss on an empty pool is counted apart", () => {
    const tmem = newTmem();
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true }); // 0: not an error
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.get(p, O, 1, 11)).toBe(0); // a miss, not an error
    expect(g.get(5, O, 0, 11)).toBe(-C.ENODEV);
    const e = g.newPool();
    expect(g.get(e, O, 0, 11)).toBe(-C.EEMPTY);
    const c = clientState(tmem, g);
    expect([c.ops, c.errors, c.puts, c.gets, c.hits]).toEqual([6, 2, 1, 2, 0]); // ENODEV reaches no pool
    expect(tmem.counters).toMatchObject({ ops: 6, errors: 2, emptyPoolResults: 1 });
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(clientState(tmem, g)).toMatchObject({ ops: 7, errors: 2, gets: 3, hits: 1 });
  });

  it("the host's listing counts errors without the misses on empty pools, per domain and in all", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const plane = new ControlPlane({ domains: [a.domain, b.domain], tmem, destroy: () => undefined });
    const e = a.newPool();
    expect(a.get(e, O, 0, 11)).toBe(-C.EEMPTY);
    expect(a.get(e, O, 1, 11)).toBe(-C.EEMPTY);
    expect(a.get(9, O, 0, 11)).toBe(-C.ENODEV);
    expect(b.get(9, O, 0, 11)).toBe(-C.ENODEV);
    const l = plane.list();
    expect(l.domains.map((d) => [d.domid, d.errors, d.misses])).toEqual([
      [a.domain.domid, 1, 2],
      [b.domain.domid, 1, 0],
    ]);
    expect(l.errors).toBe(2);
  });

  it("pool counters: puts, good puts, duplicates replaced or flushed, gets, flushes", () => {
    const tmem = newTmem();
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(1);
    g.fill(10, 2);
    expect(g.put(p, O, 0, 10)).toBe(1); // duplicate, replaced in place
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(2));
    g.frame(10).fill(0);
    expect(g.put(p, O, 0, 10)).toBe(1); // duplicate, now a zero page
    expect(g.put(p, O, 0, 1n << 40n)).toBe(-C.EFAULT); // duplicate from a bad frame: the old copy goes
    expect(g.get(p, O, 0, 11)).toBe(-C.EEMPTY);
    expect(g.flushPage(p, O, 3)).toBe(1);
    expect(g.flushObject(p, O)).toBe(1);
    g.fill(10, 3);
    expect(g.put(p, O, 1, 10)).toBe(1);
    expect(g.flushPage(p, O, 1)).toBe(1);
    expect(g.put(p, O, 1, 10)).toBe(1);
    expect(g.flushObject(p, O)).toBe(1);
    expect(poolState(tmem, g, p)).toMatchObject({
      pages: 0,
      objects: 0,
      puts: 6,
      putsGood: 5,
      dupPutsFlushed: 1,
      dupPutsReplaced: 2,
      putsNoMem: 0,
      gets: 2,
      getsFound: 1,
      flushes: 2,
      flushesFound: 1,
      objectFlushes: 2,
      objectFlushesFound: 1,
    });
  });

  it("a put refused for want of memory, or over the cap, counts as a no-memory put", () => {
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 2; i++) {
      g.fill(10, i + 1);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    g.fill(10, 9);
    expect(g.put(p, O, 5, 10)).toBe(-C.ENOMEM);
    g.domain.tmem.setPolicy(g.domain.domid, { capPages: 2 });
    expect(g.put(p, O, 6, 10)).toBe(-C.ENOMEM);
    expect(poolState(tmem, g, p)).toMatchObject({ putsNoMem: 2, puts: 4, putsGood: 2 });
    expect(tmem.counters.putsNoMem).toBe(2);
  });

  it("a duplicate put that cannot be stored again leaves nothing and counts as flushed", () => {
    // Capacity 1: the page is compressible, the domain compresses, so the duplicate takes the
    // slow path (the old copy goes first), and its new form must fit again.
    const tmem = newTmem(1);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(1);
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    g.frame(10).set(compressible(2));
    expect(g.put(p, O, 0, 10)).toBe(1); // into a chunk (the frame was freed first)
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(compressible(2));
    expect(poolState(tmem, g, p)).toMatchObject({ dupPutsReplaced: 1, putsGood: 2 });
  });

  it("evictions are counted for the pool, its owner and the host", () => {
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    const e = g.newPool();
    for (let i = 0; i < 3; i++) {
      g.fill(10, i + 1);
      expect(g.put(e, O, i, 10)).toBe(1);
    }
    expect(poolState(tmem, g, e).evictions).toBe(1);
    expect(clientState(tmem, g).evictions).toBe(1);
    expect(tmem.counters.evictions).toBe(1);
  });
});

describe("pools", () => {
  it("a domain has 16 pool slots: the 17th NEW_POOL is EPERM", () => {
    const g = new Guest(newTmem());
    for (let i = 0; i < 16; i++) expect(g.newPool()).toBe(i);
    expect(g.newPool()).toBe(-C.EPERM);
    expect(g.destroyPool(7)).toBe(1);
    expect(g.newPool()).toBe(7);
  });

  it("the host has 16 shared pools: a 17th uuid is EPERM; a freed shared slot is reused", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const gs = [new Guest(tmem), new Guest(tmem)];
    for (let i = 0; i < 16; i++) expect(gs[i >> 3].newPool({ shared: true, uuid: [BigInt(i + 1), 0n] })).toBe(i & 7);
    const late = new Guest(tmem);
    expect(late.newPool({ shared: true, uuid: [100n, 0n] })).toBe(-C.EPERM);
    expect(late.newPool({ shared: true, uuid: [1n, 0n] })).toBe(0); // joining is not creating
    expect(gs[0].destroyPool(1)).toBe(1); // uuid 2: its only sharer leaves
    expect(late.newPool({ shared: true, uuid: [100n, 0n] })).toBe(1);
  });

  it("a shared NEW_POOL refused for want of a slot in the domain takes no shared slot of the host", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const full = new Guest(tmem);
    for (let i = 0; i < 16; i++) expect(full.newPool()).toBe(i);
    expect(full.newPool({ shared: true, uuid: [500n, 0n] })).toBe(-C.EPERM);
    const gs = [new Guest(tmem), new Guest(tmem)];
    for (let i = 0; i < 16; i++) expect(gs[i >> 3].newPool({ shared: true, uuid: [BigInt(i + 1), 0n] })).toBe(i & 7);
    expect(gs[1].newPool({ shared: true, uuid: [500n, 0n] })).toBe(-C.EPERM);
  });

  it("with sharing open, a private pool stays private (uuid 0 is not a shared pool)", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool();
    const pb = b.newPool();
    a.fill(10, 1);
    expect(a.put(pa, O, 0, 10)).toBe(1);
    expect(b.get(pb, O, 0, 11)).toBe(-C.EEMPTY);
  });

  it("a uuid with one all-ones half is shareable; all ones in both halves gets a private pool", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    for (const [uuid, shared] of [
      [[ALL_ONES, 5n], true],
      [[5n, ALL_ONES], true],
      [[ALL_ONES, ALL_ONES], false],
    ] as const) {
      const pa = a.newPool({ shared: true, uuid: [...uuid] });
      const pb = b.newPool({ shared: true, uuid: [...uuid] });
      a.fill(10, 4);
      expect(a.put(pa, O, 0, 10)).toBe(1);
      expect(b.get(pb, O, 0, 11)).toBe(shared ? 1 : -C.EEMPTY);
    }
  });

  it("a shared pool is found by uuid after an earlier shared slot was freed", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const first = a.newPool({ shared: true, uuid: [1n, 1n] });
    const second = a.newPool({ shared: true, uuid: [2n, 2n] });
    expect(a.destroyPool(first)).toBe(1);
    a.fill(10, 6);
    expect(a.put(second, O, 0, 10)).toBe(1);
    const pb = b.newPool({ shared: true, uuid: [2n, 2n] });
    expect(b.get(pb, O, 0, 11)).toBe(1);
    expect(b.frame(11)).toEqual(pattern(6));
    // Pools whose uuids share one half are different pools: both halves must match.
    const c1 = a.newPool({ shared: true, uuid: [3n, 9n] });
    const c2 = a.newPool({ shared: true, uuid: [4n, 9n] });
    const c3 = a.newPool({ shared: true, uuid: [5n, 10n] });
    const c4 = a.newPool({ shared: true, uuid: [5n, 11n] });
    for (const [pool, seed] of [
      [c1, 31],
      [c2, 32],
      [c3, 33],
      [c4, 34],
    ]) {
      a.fill(10, seed);
      expect(a.put(pool, O, 0, 10)).toBe(1);
    }
    for (const [pool, seed] of [
      [c1, 31],
      [c3, 33],
    ]) {
      expect(a.get(pool, O, 0, 11)).toBe(1);
      expect(a.frame(11)).toEqual(pattern(seed));
    }
    for (const [uuid, seed] of [
      [[4n, 9n], 32],
      [[5n, 11n], 34],
    ] as const) {
      const joined = b.newPool({ shared: true, uuid: [...uuid] });
      expect(b.get(joined, O, 0, 11)).toBe(1);
      expect(b.frame(11)).toEqual(pattern(seed));
    }
  });

  it("a uuid authorised, then deauthorised, by the host no longer lets a domain join", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const U: [bigint, bigint] = [7n, 8n];
    tmem.authoriseSharedPool(a.domain.domid, U, true);
    tmem.authoriseSharedPool(b.domain.domid, U, true);
    tmem.authoriseSharedPool(b.domain.domid, U, false);
    const pa = a.newPool({ shared: true, uuid: U });
    const pb = b.newPool({ shared: true, uuid: U });
    a.fill(10, 1);
    expect(a.put(pa, O, 0, 10)).toBe(1);
    expect(b.get(pb, O, 0, 11)).toBe(-C.EEMPTY);
  });

  it("authorising one uuid lets a domain share that uuid only", () => {
    const tmem = newTmem();
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    for (const g of [a, b]) tmem.authoriseSharedPool(g.domain.domid, [0x10n, 0x20n], true);
    for (const [uuid, shared] of [
      [[0x10n, 0x21n], false],
      [[0x11n, 0x20n], false],
      [[0x10n, 0x20n], true],
    ] as const) {
      const pa = a.newPool({ shared: true, uuid: [...uuid] });
      const pb = b.newPool({ shared: true, uuid: [...uuid] });
      a.fill(10, 5);
      expect(a.put(pa, O, 0, 10)).toBe(1);
      expect(b.get(pb, O, 0, 11)).toBe(shared ? 1 : -C.EEMPTY);
    }
  });

  it("a shared persistent pool (4.0-4.4) passes its pages' charge to the next sharer when the owner leaves", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const flags = encodePoolFlags({ persistent: true, shared: true, version: V1.specVersion });
    const a = new Guest(tmem, { layout: V1 });
    const b = new Guest(tmem, { layout: V1 });
    const pa = a.newPool({ shared: true, persistent: true, uuid: [3n, 3n], flags });
    const pb = b.newPool({ shared: true, persistent: true, uuid: [3n, 3n], flags });
    for (let i = 0; i < 2; i++) {
      b.fill(10, i);
      expect(b.put(pb, O, i, 10)).toBe(1);
    }
    expect([clientState(tmem, a).persistentPages, clientState(tmem, b).persistentPages]).toEqual([2, 0]);
    // b's READ makes it the object's last client, so the object stays when a leaves.
    expect(b.op({ cmd: C.TMEM_READ, poolId: pb, gen: { oid: O, index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 11n } })).toBe(1);
    expect(a.destroyPool(pa)).toBe(1);
    expect([clientState(tmem, a).persistentPages, clientState(tmem, b).persistentPages]).toEqual([0, 2]);
    expect(b.get(pb, O, 1, 11)).toBe(1);
    tmem.checkInvariants();
  });
});

describe("where a page is kept", () => {
  it("zero pages take no frame, up to twice the capacity plus 1024 pages; then they take frames", () => {
    const tmem = newTmem(4);
    const g = new Guest(tmem, { ramMiB: 1 });
    const p = g.newPool({ persistent: true });
    g.frame(10).fill(0);
    const limit = 2 * 4 + 1024;
    for (let i = 0; i < limit; i++) expect(g.put(p, O, i, 10)).toBe(1);
    expect(tmem.usage().usedFrames).toBe(0);
    expect(tmem.counters.zeroPages).toBe(limit);
    expect(g.put(p, O, limit, 10)).toBe(1);
    expect(tmem.usage().usedFrames).toBe(1);
    g.frame(11).fill(1);
    expect(g.get(p, O, limit, 11)).toBe(1);
    expect(g.frame(11).every((x) => x === 0)).toBe(true);
  });

  it("without compression a compressible page takes a whole frame; with it, a chunk", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.frame(10).set(compressible(1));
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect([tmem.counters.compressedPages, tmem.usage().usedFrames]).toEqual([0, 1]);
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    g.frame(10).set(compressible(2));
    expect(g.put(p, O, 0, 10)).toBe(1); // a duplicate of a compressible page, compressed now
    expect(tmem.counters.compressedPages).toBe(1);
    g.frame(10).set(compressible(3));
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(tmem.counters.compressedPages).toBe(1);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(compressible(3));
    tmem.checkInvariants();
  });

  it("a compressed put with room to spare evicts nothing", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    const e = g.newPool();
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 3; i++) {
      g.fill(10, i + 1);
      expect(g.put(e, O, i, 10)).toBe(1);
    }
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    for (let i = 0; i < 2; i++) {
      g.frame(10).set(compressible(i + 7));
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    expect(tmem.counters).toMatchObject({ evictions: 0, compressedPages: 2 });
    expect(clientState(tmem, g).ephemeralPages).toBe(3);
    tmem.checkInvariants();
  });

  it("a compressed put evicts ephemeral pages for its chunk; the eviction may take its own object's page", () => {
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    const e = g.newPool();
    g.fill(10, 1);
    expect(g.put(e, O, 0, 10)).toBe(1);
    g.fill(10, 2);
    expect(g.put(e, [5n], 0, 10)).toBe(1);
    // The store is full: a compressed page needs a chunk frame, so the oldest page goes: the only
    // page of the object the new page joins.
    g.frame(10).set(compressible(3));
    expect(g.put(e, O, 2, 10)).toBe(1);
    expect(tmem.counters.evictions).toBe(1);
    expect(poolState(tmem, g, e)).toMatchObject({ pages: 2, objects: 2 });
    expect(tmem.counters.compressedPages).toBe(1);
    expect(g.get(e, O, 2, 11)).toBe(1);
    expect(g.frame(11)).toEqual(compressible(3));
    tmem.checkInvariants();
  });

  it("a put whose eviction took its own object's only page still stores the page", () => {
    const tmem = newTmem(1);
    const g = new Guest(tmem);
    const e = g.newPool();
    g.fill(10, 1);
    expect(g.put(e, O, 0, 10)).toBe(1);
    g.fill(10, 2);
    expect(g.put(e, O, 1, 10)).toBe(1); // evicts page 0, and with it the object
    tmem.checkInvariants();
    expect(poolState(tmem, g, e)).toMatchObject({ pages: 1, objects: 1 });
    expect(g.get(e, O, 1, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(2));
  });

  it("a compressed put that finds no room (nothing ephemeral to evict) is ENOMEM", () => {
    const tmem = newTmem(1);
    const g = new Guest(tmem);
    g.domain.tmem.setPolicy(g.domain.domid, { compress: true });
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(1);
    g.frame(10).set(compressible(2));
    expect(g.put(p, O, 1, 10)).toBe(-C.ENOMEM);
    expect(poolState(tmem, g, p).putsNoMem).toBe(1);
  });
});

describe("READ and WRITE (4.0-4.3)", () => {
  const setup = (persistent: boolean, shared = false) => {
    const tmem = newTmem();
    if (shared) openSharing(tmem);
    const g = new Guest(tmem, { layout: V1 });
    const p = g.newPool({ persistent, shared, uuid: shared ? [9n, 9n] : [0n, 0n] });
    const op = (cmd: number, f: { index?: number; t?: number; pf?: number; len?: number; cmfn?: bigint }) =>
      g.op({
        cmd,
        poolId: p,
        gen: { oid: O, index: f.index ?? 0, tmemOffset: f.t ?? 0, pfnOffset: f.pf ?? 0, len: f.len ?? 0, cmfn: f.cmfn ?? 10n },
      });
    return { tmem, g, p, op };
  };

  it("ranges that end exactly at the page end are accepted", () => {
    const { g, p, op } = setup(true);
    g.fill(10, 1);
    expect(op(C.TMEM_WRITE, { len: 4096 })).toBe(1);
    expect(op(C.TMEM_WRITE, { t: 4096, len: 0 })).toBe(1);
    expect(op(C.TMEM_WRITE, { pf: 4096, len: 0 })).toBe(1);
    expect(op(C.TMEM_WRITE, { t: 4000, pf: 0, len: 96 })).toBe(1);
    expect(op(C.TMEM_WRITE, { t: 0, pf: 4000, len: 96 })).toBe(1);
    expect(g.get(p, O, 0, 11)).toBe(1);
    const want = pattern(1).slice();
    want.set(pattern(1).subarray(0, 96), 4000);
    want.set(pattern(1).subarray(4000, 4096), 0);
    expect(g.frame(11)).toEqual(want);
    g.frame(12).fill(0xee);
    expect(op(C.TMEM_READ, { len: 4096, cmfn: 12n })).toBe(1);
    expect(g.frame(12)).toEqual(want);
    for (const f of [{ t: 4096 }, { pf: 4096 }, { t: 4000, len: 96 }, { pf: 4000, len: 96 }])
      expect(op(C.TMEM_READ, { ...f, cmfn: 12n })).toBe(1);
  });

  it("READ from a bad frame is EFAULT and keeps the page; from frame 0 it works", () => {
    const { g, op } = setup(false);
    g.fill(10, 2);
    expect(g.put(0, O, 0, 10)).toBe(1);
    expect(op(C.TMEM_READ, { len: 8, cmfn: 1n << 40n })).toBe(-C.EFAULT);
    expect(op(C.TMEM_WRITE, { len: 8, cmfn: 1n << 40n })).toBe(-C.EFAULT);
    expect(op(C.TMEM_READ, { len: 4096, cmfn: 0n })).toBe(1);
    expect(g.frame(0)).toEqual(pattern(2));
    g.frame(0).fill(3, 0, 8);
    expect(op(C.TMEM_WRITE, { index: 1, len: 8, cmfn: 0n })).toBe(1);
    // A private ephemeral page leaves tmem when read, as with GET.
    expect(op(C.TMEM_READ, { len: 8, cmfn: 12n })).toBe(0);
    expect(op(C.TMEM_READ, { index: 1, len: 8, cmfn: 12n })).toBe(1);
    expect([...g.frame(12).subarray(0, 8)]).toEqual([3, 3, 3, 3, 3, 3, 3, 3]);
    expect(op(C.TMEM_READ, { index: 1, len: 8, cmfn: 12n })).toBe(-C.EEMPTY);
  });

  it("READ of a persistent page keeps it; a miss is 0; each READ counts as a get", () => {
    const { tmem, g, p, op } = setup(true);
    g.fill(10, 3);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(op(C.TMEM_READ, { len: 16, cmfn: 12n })).toBe(1);
    expect(op(C.TMEM_READ, { len: 16, cmfn: 12n })).toBe(1);
    expect(op(C.TMEM_READ, { index: 5, len: 16, cmfn: 12n })).toBe(0);
    expect(poolState(tmem, g, p)).toMatchObject({ gets: 3, getsFound: 2, pages: 1 });
  });

  it("READ of a shared ephemeral page keeps it and makes it the newest", () => {
    const { tmem, g, p, op } = setup(false, true);
    const cap = tmem.capacityFrames;
    for (let i = 0; i < cap; i++) {
      g.fill(10, i + 1);
      expect(g.op({ cmd: C.TMEM_PUT_PAGE, poolId: p, gen: { oid: O, index: i, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 10n } })).toBe(1);
    }
    expect(op(C.TMEM_READ, { index: 0, len: 4096, cmfn: 12n })).toBe(1);
    expect(g.frame(12)).toEqual(pattern(1));
    g.fill(10, 999);
    expect(g.op({ cmd: C.TMEM_PUT_PAGE, poolId: p, gen: { oid: O, index: cap, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 10n } })).toBe(1);
    // Page 1, not page 0 (just read), was the least recently used.
    expect(op(C.TMEM_READ, { index: 0, len: 4096, cmfn: 12n })).toBe(1);
    expect(op(C.TMEM_READ, { index: 1, len: 4096, cmfn: 12n })).toBe(0);
  });
});

describe("weighted eviction", () => {
  function fill(_tmem: Tmem, g: Guest, pool: number, n: number, from = 0) {
    for (let i = from; i < from + n; i++) {
      g.fill(10, i + 1000 * g.domain.domid);
      expect(g.put(pool, O, i, 10)).toBe(1);
    }
  }

  it("the victim is the domain furthest over its share (pages per unit of weight), not the oldest page", () => {
    const tmem = newTmem(8);
    const b = new Guest(tmem); // the first domain: a tie-break by age or order would pick it
    const a = new Guest(tmem);
    const ea = a.newPool();
    const eb = b.newPool();
    a.domain.tmem.setPolicy(a.domain.domid, { weight: 1 });
    b.domain.tmem.setPolicy(b.domain.domid, { weight: 4 });
    fill(tmem, b, eb, 5); // b's pages are the oldest: 5 per 4
    fill(tmem, a, ea, 3); // 3 per 1
    fill(tmem, b, eb, 1, 5); // full: a goes
    expect([clientState(tmem, a).ephemeralPages, clientState(tmem, b).ephemeralPages]).toEqual([2, 6]);
    expect(a.get(ea, O, 0, 11)).toBe(0); // a's oldest
  });

  it("once weights are set, a weight-0 domain's pages go first", () => {
    const tmem = newTmem(4);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const ea = a.newPool();
    const eb = b.newPool();
    b.domain.tmem.setPolicy(b.domain.domid, { weight: 1 });
    fill(tmem, b, eb, 3);
    fill(tmem, a, ea, 1);
    fill(tmem, b, eb, 1, 3);
    expect([clientState(tmem, a).ephemeralPages, clientState(tmem, b).ephemeralPages]).toEqual([0, 4]);
  });

  it("a lone weighted domain under one page per unit of weight is still evicted from", () => {
    const tmem = newTmem(2);
    const a = new Guest(tmem);
    const per = a.newPool({ persistent: true });
    const ea = a.newPool();
    a.domain.tmem.setPolicy(a.domain.domid, { weight: 8 });
    fill(tmem, a, per, 1);
    fill(tmem, a, ea, 1);
    a.fill(10, 77);
    expect(a.put(per, O, 5, 10)).toBe(1); // evicts a's only ephemeral page (load 1/8)
    expect(clientState(tmem, a).ephemeralPages).toBe(0);
  });
});

describe("domain teardown", () => {
  it("destroying a domain frees its pages; shared pools stay with the others; an unknown domid is ignored", () => {
    const tmem = newTmem();
    openSharing(tmem);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool({ persistent: true });
    a.newPool();
    const sa = a.newPool({ shared: true, uuid: [4n, 4n] });
    const sb = b.newPool({ shared: true, uuid: [4n, 4n] });
    a.fill(10, 1);
    b.fill(10, 2);
    expect(a.put(pa, O, 0, 10)).toBe(1);
    expect(b.put(sb, O, 0, 10)).toBe(1);
    expect(b.get(sb, O, 0, 11)).toBe(1); // b is the object's last client: it stays when a goes
    expect(sa).toBe(2);
    expect(tmem.usage().usedFrames).toBe(2);
    tmem.destroyClient(a.domain.domid);
    tmem.destroyClient(dom(4242));
    expect(tmem.findClient(a.domain.domid)).toBeUndefined();
    expect(tmem.usage().usedFrames).toBe(1);
    expect(b.get(sb, O, 0, 11)).toBe(1);
    tmem.checkInvariants();
  });
});

describe("the invariant check notices broken counts", () => {
  function populated() {
    const tmem = newTmem(16);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    const e = g.newPool();
    for (let i = 0; i < 3; i++) {
      g.fill(10, i + 1);
      expect(g.put(p, O, i, 10)).toBe(1);
      expect(g.put(e, O, i, 10)).toBe(1);
    }
    tmem.checkInvariants();
    return { tmem, g, pool: g.domain.client.pools[p]!, eph: g.domain.client.pools[e]!, client: g.domain.client };
  }

  it("a pool's page or object count", () => {
    const a = populated();
    a.pool.stats.pages++;
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: pool \d+ holds 3 pages, counts 4$/);
    const b = populated();
    b.pool.stats.objects--;
    expect(() => b.tmem.checkInvariants()).toThrow(/^tmem invariant broken: pool \d+ holds 1 objects, counts 0$/);
  });

  it("a client's page counts", () => {
    const a = populated();
    a.client.persistentPages++;
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: client \d+ counts 3\/4 pages, holds 3\/3$/);
    const b = populated();
    b.client.ephemeralPages--;
    expect(() => b.tmem.checkInvariants()).toThrow(/client \d+ counts 2\/3 pages, holds 3\/3/);
  });

  it("objects or pages in the index that no pool holds", () => {
    const a = populated();
    const ix = inside(a.tmem).index;
    ix.ensurePoolHandle(40);
    ix.createObject(40, Uint32Array.from([1, 0, 0, 0, 0, 0]));
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: pools hold 6 pages\/2 objects, the index 6\/3$/);
    const b = populated();
    inside(b.tmem).index.ensurePoolHandle(40);
    inside(b.tmem).index.addPage(
      inside(b.tmem).index.createObject(40, Uint32Array.from([1, 0, 0, 0, 0, 0])),
      0,
      inside(b.tmem).pageStore.zeroPage(),
      -1,
    );
    expect(() => b.tmem.checkInvariants()).toThrow(/^tmem invariant broken: pools hold 6 pages\/2 objects, the index 7\/3$/);
  });

  it("a pool owned by a client that is gone", () => {
    const a = populated();
    const other = new Guest(a.tmem);
    a.pool.owner = other.domain.client;
    a.tmem.destroyClient(other.domain.domid);
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: pool \d+ is owned by a destroyed client$/);
  });

  it("a frame in use that no page holds", () => {
    const a = populated();
    inside(a.tmem).store.alloc();
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: 6 pages in frames and 0 chunk frames, but 7 frames in use$/);
  });

  it("an ephemeral page off its client's LRU list", () => {
    const a = populated();
    const ix = inside(a.tmem).index;
    const pg = ix.lruHead(a.client.slot);
    ix.removePage(pg, a.client.slot);
    ix.addPage(ix.findObject(a.eph.handle, ix.oidOf(ix.objectOf(ix.firstPage(ix.firstObject(a.eph.handle))))), 9, 0 as PageHandle, -1);
    expect(() => a.tmem.checkInvariants()).toThrow(/^tmem invariant broken: page \d+ is off its client's LRU in a EP pool$/);
  });
});
