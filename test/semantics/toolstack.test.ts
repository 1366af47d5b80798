// A toolstack's whole save and restore, as Xen 4.0-4.5's libxc played it (the spec's 4.14): a
// privileged guest of each generation that had guest control lists, live-saves its own tmem into
// memory while it keeps putting and flushing, destroys its pools and restores them, with weight
// and cap restored as 0 as Xen 4.5's libxc sent them. Every persistent page must come back.
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { OP_LAYOUTS, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Guest, newTmem, pattern, samePage } from "../support/harness.js";

const BUF = 0x10000;
const FRAME = 10;
const withControl = [...OP_LAYOUTS.values()].filter((l) => l.hasCtrl).map((l) => [l.name, l] as const);

interface SavedPool {
  id: number;
  flags: number;
  npages: number;
  uuid: [bigint, bigint];
  pages: { oid: bigint[]; index: number; bytes: Uint8Array }[];
}

/** A handle as NEXT_PAGE and NEXT_INV write it: pool id, index, the object id's 64-bit words. */
function readHandle(g: Guest, at: number): { poolId: number; index: number; oid: bigint[] } {
  const v = new DataView(g.ram.buffer, at);
  const words = g.domain.layout.oidWords;
  return {
    poolId: v.getUint32(0, true),
    index: v.getUint32(4, true),
    oid: [...Array(words)].map((_, i) => v.getBigUint64(8 + 8 * i, true)),
  };
}

function listText(g: Guest, cliId: number): string {
  g.ram.fill(0xaa, BUF, BUF + 8192);
  expect(g.control(C.TMEMC_LIST, { cliId, arg1: 8192, arg2: 1, buf: BigInt(BUF) })).toBe(0);
  const bytes = g.ram.subarray(BUF, BUF + 8192);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString("latin1");
}

describe.each(withControl)("a toolstack saves and restores its own tmem, %s", (_, layout: OpLayout) => {
  const words = layout.oidWords;
  const oid = (o: number) => [BigInt(o), 0x55n, 0x66n].slice(0, words);
  const key = (pool: number, o: bigint[], index: number) => `${pool}/${o.join(",")}/${index}`;
  const handleBytes = layout.specVersion === 0 ? 16 : 32;

  it("lists, live-saves while putting and flushing, destroys, restores every persistent page", () => {
    const tmem = newTmem(1024);
    const dom0 = new Guest(tmem, { layout, privileged: true, ramMiB: 2 });
    const cli = dom0.domain.domid;
    /** What each persistent page holds: the pattern seed the guest last put there. */
    const truth = new Map<string, number>();
    let seed = 1;
    const put = (pool: number, o: number, index: number): number => {
      dom0.fill(FRAME, seed);
      const r = dom0.put(pool, oid(o), index, FRAME);
      if (r === 1) truth.set(key(pool, oid(o), index), seed);
      seed++;
      return r;
    };

    expect(dom0.newPool()).toBe(0); // ephemeral: travels empty
    const perA = dom0.newPool({ persistent: true, uuid: [0x1111n, 0x2222n] });
    const perB = dom0.newPool({ persistent: true });
    for (let o = 1; o <= 3; o++) for (let i = 0; i < 8; i++) expect(put(perA, o, i)).toBe(1);
    for (let i = 0; i < 5; i++) expect(put(perB, 9, i)).toBe(1);
    dom0.fill(FRAME, 999);
    expect(dom0.put(0, oid(1), 0, FRAME)).toBe(1);
    // Policy the save carries (compress) or reports (weight, the ABI's cap).
    expect(dom0.control(C.TMEMC_SET_COMPRESS, { cliId: cli, arg1: 1 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: cli, arg1: 5 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: 100 })).toBe(0);

    // xl tmem-list, all and for this domain.
    const all = listText(dom0, C.TMEM_CLI_ID_ALL);
    expect(all).toMatch(/^G=/);
    const mine = listText(dom0, cli);
    expect(mine.split("\n")[0]).toMatch(new RegExp(`^C=CI:${cli},ww:5,ca:100,co:1,fr:0`));
    expect(
      mine
        .split("\n")
        .slice(1, -1)
        .every((l) => l.startsWith(`P=CI:${cli},`)),
    ).toBe(true);
    expect(mine).toContain(`P=CI:${cli},PI:${perA},PT:PP,U0:1111,U1:2222`);

    // ---- save (live): the client freezes; the stream's header.
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 1 })).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_GET_VERSION, { cliId: 0 })).toBe(layout.specVersion);
    expect(dom0.control(C.TMEMC_SAVE_GET_MAXPOOLS, { cliId: cli })).toBe(16);
    const clientFlags = dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli });
    expect(clientFlags).toBe(C.TMEM_CLIENT_COMPRESS);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_WEIGHT, { cliId: cli })).toBe(5);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_CAP, { cliId: cli })).toBe(100);

    const stream: SavedPool[] = [];
    let step = 0;
    for (let id = 0; id < 16; id++) {
      const pf = dom0.control(C.TMEMC_SAVE_GET_POOL_FLAGS, { cliId: cli, poolId: id });
      if (pf === -1) continue;
      const npages = dom0.control(C.TMEMC_SAVE_GET_POOL_NPAGES, { cliId: cli, poolId: id });
      expect(dom0.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: id, buf: BigInt(BUF) })).toBe(0);
      const v = new DataView(dom0.ram.buffer, BUF);
      const pool: SavedPool = { id, flags: pf, npages, uuid: [v.getBigUint64(0, true), v.getBigUint64(8, true)], pages: [] };
      stream.push(pool);
      if ((pf & C.TMEM_POOL_PERSIST) === 0) continue;
      for (;;) {
        // The guest runs on: a new put is refused (frozen), a duplicate put fails and flushes the
        // old copy (migrating), a flush is done; the last two are logged for NEXT_INV.
        switch (step++ % 4) {
          case 0:
            expect(put(id, 7, step)).toBe(-C.EFROZEN);
            break;
          case 1: {
            const [o, index] = id === perA ? [2, step % 8] : [9, step % 5];
            const held = truth.delete(key(id, oid(o), index));
            expect(put(id, o, index)).toBe(held ? -C.ENOSPC : -C.EFROZEN);
            break;
          }
          case 2: {
            const [o, index] = id === perA ? [3, step % 8] : [9, step % 5];
            expect(dom0.flushPage(id, oid(o), index)).toBe(-C.EFROZEN);
            truth.delete(key(id, oid(o), index));
            break;
          }
        }
        const r = dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: id, arg1: 4096 + handleBytes, buf: BigInt(BUF) });
        if (r <= 0) {
          expect(r).toBe(-1);
          break;
        }
        expect(r).toBe(1);
        const h = readHandle(dom0, BUF);
        expect(h.poolId).toBe(id);
        pool.pages.push({ oid: h.oid, index: h.index, bytes: dom0.ram.slice(BUF + handleBytes, BUF + handleBytes + 4096) });
      }
    }
    expect(stream.map((p) => p.id)).toEqual([0, perA, perB]);
    expect(stream[0].npages).toBe(1); // an ephemeral pool's count, which libxc writes as 0
    expect(stream[1].uuid).toEqual([0x1111n, 0x2222n]); // a private pool's uuid travels
    // The guest is paused: the pages that left while the walk ran.
    const invalidated: { poolId: number; oid: bigint[]; index: number }[] = [];
    for (;;) {
      const r = dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: handleBytes, buf: BigInt(BUF) });
      if (r === 0) break;
      expect(r).toBe(1);
      invalidated.push(readHandle(dom0, BUF));
    }
    expect(invalidated.length).toBeGreaterThan(0);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    expect(dom0.domain.client.frozen).toBe(false);

    // ---- destroy: the domain's tmem goes.
    for (const p of stream) expect(dom0.destroyPool(p.id)).toBe(1);

    // ---- restore, as Xen 4.5's libxc: weight and cap sent as 0 whatever was saved.
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: cli })).toBe(1);
    if (clientFlags & C.TMEM_CLIENT_COMPRESS) expect(dom0.control(C.TMEMC_SET_COMPRESS, { cliId: cli, arg1: 1 })).toBe(0);
    if (clientFlags & C.TMEM_CLIENT_FROZEN) expect(dom0.control(C.TMEMC_FREEZE, { cliId: cli })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: cli, arg1: 0 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: 0 })).toBe(0);
    for (const p of stream) {
      expect(dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: p.id, creat: { uuid: p.uuid, flags: p.flags, arg1: cli } })).toBe(p.id);
      for (const pg of p.pages) {
        dom0.ram.set(pg.bytes, BUF);
        expect(
          dom0.control(C.TMEMC_RESTORE_PUT_PAGE, { cliId: cli, poolId: p.id, arg1: 4096, arg2: pg.index, oid: pg.oid, buf: BigInt(BUF) }),
        ).toBe(1);
      }
    }
    for (const h of invalidated) {
      expect(dom0.control(C.TMEMC_RESTORE_FLUSH_PAGE, { cliId: cli, poolId: h.poolId, arg2: h.index, oid: h.oid })).toBe(1);
    }

    // Every persistent page the guest held when the save ended, byte for byte, and nothing else.
    expect(truth.size).toBeGreaterThan(20);
    for (const [k, s] of truth) {
      const [pool, o, index] = k.split("/");
      const r = dom0.get(Number(pool), o.split(",").map(BigInt), Number(index), FRAME + 1);
      expect(r, k).toBe(1);
      expect(samePage(dom0.frame(FRAME + 1), pattern(s)), k).toBe(true);
    }
    expect(dom0.domain.client.persistentPages).toBe(truth.size);
    expect(dom0.get(0, oid(1), 0, FRAME + 1)).toBe(-C.EEMPTY); // ephemeral: back empty
    expect([
      dom0.control(C.TMEMC_SAVE_GET_CLIENT_WEIGHT, { cliId: cli }),
      dom0.control(C.TMEMC_SAVE_GET_CLIENT_CAP, { cliId: cli }),
    ]).toEqual([0, 0]);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli })).toBe(C.TMEM_CLIENT_COMPRESS);
    dom0.ram.fill(0, BUF, BUF + 16);
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: perA, buf: BigInt(BUF) })).toBe(0);
    const v = new DataView(dom0.ram.buffer, BUF);
    expect([v.getBigUint64(0, true), v.getBigUint64(8, true)]).toEqual([0x1111n, 0x2222n]);
  });

  it("a restore into a client a save froze is not frozen by the flags the save reports", () => {
    const tmem = newTmem(256);
    const dom0 = new Guest(tmem, { layout, privileged: true, ramMiB: 2 });
    const a = new Guest(tmem, { layout });
    const cli = a.domain.domid;
    const per = a.newPool({ persistent: true, flags: encodePoolFlags({ persistent: true, version: layout.specVersion }) });
    a.fill(FRAME, 3);
    expect(a.put(per, oid(1), 0, FRAME)).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(a.domain.client.frozen).toBe(true);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli }) & C.TMEM_CLIENT_FROZEN).toBe(0);
  });
});
