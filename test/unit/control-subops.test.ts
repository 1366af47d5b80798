// The TMEMC control sub-ops, TMEM_AUTH and TMEM_RESTORE_NEW as a privileged guest of a 4.0-4.5
// generation issues them through the hypercall entry: what each answers, what it changes, and
// each refusal. (generations.test.ts runs the happy save/restore path once per layout.)
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import type { ControlArgs } from "../../vmm/tmem-control/tmemc.js";
import { Guest, newTmem, type TestTmem, pattern } from "../support/harness.js";
import { poolId as asPool } from "../support/brands.js";

const V1 = opLayout("xen-4.1-oid3/x86_64")!;
const V0 = opLayout("xen-4.0-legacy/x86_64")!;
const BUF = 0x20000;
const END = -1; // NEXT_PAGE: nothing left in the pool
const INV_END = 0; // NEXT_INV: nothing left in the log
const NO_CLIENT = -1; // Xen 4.0-4.5's answer to a save sub-op naming no client or pool

function setup(layout: OpLayout = V1, capacityFrames = 256) {
  const tmem = newTmem(capacityFrames);
  const dom0 = new Guest(tmem, { layout, privileged: true, ramMiB: 2 });
  const a = new Guest(tmem, { layout });
  return { tmem, dom0, a, cli: a.domain.domid };
}

const oid3 = (x: number, layout: OpLayout = V1) => [BigInt(x), 0x77n, 0x88n].slice(0, layout.oidWords);

/** Puts pages `indexes` of object `o` into `pool`, each with content pattern(index). */
function putPages(g: Guest, pool: number, o: number, indexes: number[]): void {
  for (const i of indexes) {
    g.fill(10, i);
    expect(g.put(pool, oid3(o, g.domain.layout), i, 10)).toBe(1);
  }
}

/** TMEMC_LIST's text as the caller's buffer holds it. */
function list(dom0: Guest, long: boolean): string {
  dom0.ram.fill(0xaa, BUF, BUF + 8192);
  expect(dom0.control(C.TMEMC_LIST, { arg1: 8192, arg2: long ? 1 : 0, buf: BigInt(BUF) })).toBe(0);
  const bytes = dom0.ram.subarray(BUF, BUF + 8192);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString("latin1");
}

/** A handle SAVE_GET_NEXT_PAGE or NEXT_INV wrote at `at`: pool id, index, object id words. */
function handleAt(g: Guest, at: number): { poolId: number; index: number; oid: bigint[] } {
  const v = new DataView(g.ram.buffer, at);
  const words = g.domain.layout.oidWords;
  return {
    poolId: v.getUint32(0, true),
    index: v.getUint32(4, true),
    oid: [...Array(words)].map((_, i) => v.getBigUint64(8 + 8 * i, true)),
  };
}

/** The control op the host issues without a guest buffer (the Tmem API, as the VMM's host side calls it). */
function hostControl(tmem: TestTmem, subop: number, f: { cliId: number; poolId?: number; arg1?: number }): number {
  const a: ControlArgs = {
    poolId: asPool(f.poolId ?? 0),
    subop,
    cliId: f.cliId,
    ctrlArg1: f.arg1 ?? 0,
    ctrlArg2: 0,
    oid: new Uint32Array(6),
    uuid: new Uint32Array(4),
    flags: 0,
    arg1: 0,
  };
  return tmem.control.subop(a, null);
}

describe("TMEMC_FLUSH and TMEMC_QUERY_FREEABLE_MB", () => {
  it("FLUSH evicts the least recently used ephemeral pages, rounding KiB up to pages, and answers KiB freed", () => {
    const { dom0, a } = setup();
    const eph = a.newPool();
    const per = a.newPool({ persistent: true });
    putPages(a, eph, 1, [0, 1, 2, 3, 4]);
    putPages(a, per, 1, [0, 1]);
    expect(dom0.control(C.TMEMC_FLUSH, { arg1: 0 })).toBe(0);
    expect(dom0.control(C.TMEMC_FLUSH, { arg1: 6 })).toBe(8); // 6 KiB: two pages, the oldest
    // A private ephemeral get hands the page over (it leaves tmem); a miss is 0.
    expect(a.get(eph, oid3(1), 0, 11)).toBe(0);
    expect(a.get(eph, oid3(1), 1, 11)).toBe(0);
    expect(a.get(eph, oid3(1), 2, 11)).toBe(1);
    expect(a.frame(11)).toEqual(pattern(2));
    // More than there is: every ephemeral page, persistent ones never.
    expect(dom0.control(C.TMEMC_FLUSH, { arg1: 1000 })).toBe(8);
    expect(a.get(eph, oid3(1), 3, 11)).toBe(-C.EEMPTY);
    for (const i of [0, 1]) expect(a.get(per, oid3(1), i, 11)).toBe(1);
    expect(dom0.control(C.TMEMC_FLUSH, { arg1: 1000 })).toBe(0);
  });

  it("FLUSH names every client (cli_id 0xFFFF) or is refused, flushing nothing", () => {
    const { dom0, a, cli } = setup();
    const eph = a.newPool();
    putPages(a, eph, 1, [0, 1]);
    expect(dom0.control(C.TMEMC_FLUSH, { cliId: cli, arg1: 100 })).toBe(-C.EINVAL);
    expect(dom0.control(C.TMEMC_FLUSH, { cliId: 0xffffffff, arg1: 100 })).toBe(8);
  });

  it("QUERY_FREEABLE_MB counts free tmem memory plus every ephemeral page, in whole MiB", () => {
    const { dom0, a } = setup(V1, 512);
    expect(dom0.control(C.TMEMC_QUERY_FREEABLE_MB)).toBe(2);
    const per = a.newPool({ persistent: true });
    const eph = a.newPool();
    for (let i = 0; i < 256; i++) {
      a.fill(10, i + 1);
      expect(a.put(per, oid3(1), i, 10)).toBe(1);
    }
    expect(dom0.control(C.TMEMC_QUERY_FREEABLE_MB)).toBe(1);
    putPages(a, eph, 2, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(dom0.control(C.TMEMC_QUERY_FREEABLE_MB)).toBe(1); // 246 free + 10 ephemeral
    a.fill(10, 999);
    expect(a.put(per, oid3(3), 0, 10)).toBe(1);
    expect(dom0.control(C.TMEMC_QUERY_FREEABLE_MB)).toBe(0); // 245 + 10
  });
});

describe("TMEMC_SET_* and the SAVE_GET_CLIENT_* queries", () => {
  it("weight, cap and compress each change only their own setting, and read back", () => {
    const { dom0, cli } = setup();
    const get = (subop: number) => dom0.control(subop, { cliId: cli });
    expect([get(C.TMEMC_SAVE_GET_CLIENT_WEIGHT), get(C.TMEMC_SAVE_GET_CLIENT_CAP), get(C.TMEMC_SAVE_GET_CLIENT_FLAGS)]).toEqual([0, 0, 0]);
    expect(dom0.control(C.TMEMC_SET_COMPRESS, { cliId: cli, arg1: 5 })).toBe(0);
    expect([get(C.TMEMC_SAVE_GET_CLIENT_WEIGHT), get(C.TMEMC_SAVE_GET_CLIENT_CAP), get(C.TMEMC_SAVE_GET_CLIENT_FLAGS)]).toEqual([
      0,
      0,
      C.TMEM_CLIENT_COMPRESS,
    ]);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: 3 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: cli, arg1: 7 })).toBe(0);
    expect([get(C.TMEMC_SAVE_GET_CLIENT_WEIGHT), get(C.TMEMC_SAVE_GET_CLIENT_CAP), get(C.TMEMC_SAVE_GET_CLIENT_FLAGS)]).toEqual([
      7,
      3,
      C.TMEM_CLIENT_COMPRESS,
    ]);
    // The frozen bit is the state the last SAVE_BEGIN found (none yet), not the freeze itself.
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: cli })).toBe(0);
    expect(get(C.TMEMC_SAVE_GET_CLIENT_FLAGS)).toBe(C.TMEM_CLIENT_COMPRESS);
    expect(dom0.control(C.TMEMC_SET_COMPRESS, { cliId: cli, arg1: 0 })).toBe(0);
    expect(get(C.TMEMC_SAVE_GET_CLIENT_FLAGS)).toBe(0);
    expect([get(C.TMEMC_SAVE_GET_CLIENT_WEIGHT), get(C.TMEMC_SAVE_GET_CLIENT_CAP)]).toEqual([7, 3]);
  });

  it("SET_CAP's cap is stored and reported, never enforced, as in Xen 4.0-4.7; the host's cap is", () => {
    const { tmem, dom0, a, cli } = setup();
    const per = a.newPool({ persistent: true });
    for (const cap of [2, 0]) {
      expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: cap })).toBe(0);
      expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_CAP, { cliId: cli })).toBe(cap);
      expect(a.domain.client.capPages).toBe(Infinity);
    }
    putPages(a, per, 1, [0, 1, 2]);
    // tmemvm's own cap, a host policy, is the one a put meets.
    tmem.setPolicy(a.domain.domid, { capPages: 0 });
    a.fill(10, 3);
    expect(a.put(per, oid3(1), 3, 10)).toBe(-C.ENOMEM);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_CAP, { cliId: cli })).toBe(0);
  });

  it("weight and cap past INT_MAX read back negative, as Xen's int did", () => {
    const { dom0, cli } = setup();
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: cli, arg1: 0x80000005 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: 0xfffffffe })).toBe(0);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_WEIGHT, { cliId: cli })).toBe(0x80000005 | 0);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_CAP, { cliId: cli })).toBe(-2);
  });

  it("the client queries answer -1 for a domain that has no client, the setters EINVAL", () => {
    const { dom0 } = setup();
    for (const subop of [C.TMEMC_SAVE_GET_CLIENT_WEIGHT, C.TMEMC_SAVE_GET_CLIENT_CAP, C.TMEMC_SAVE_GET_CLIENT_FLAGS]) {
      expect(dom0.control(subop, { cliId: 4321, arg1: 1 })).toBe(NO_CLIENT);
    }
    for (const subop of [C.TMEMC_SET_CAP, C.TMEMC_SET_COMPRESS, C.TMEMC_FREEZE]) {
      expect(dom0.control(subop, { cliId: 4321, arg1: 1 })).toBe(-C.EINVAL);
    }
  });
});

describe("TMEMC_LIST text", () => {
  it("G, C and P lines, short and long, each line ending in a newline", () => {
    const { tmem, dom0, a, cli } = setup();
    const per = a.newPool({ persistent: true });
    putPages(a, per, 1, [0, 1]);
    expect(a.flushPage(9, oid3(1), 0)).toBe(-C.ENODEV);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: cli, arg1: 4 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: cli, arg1: 9 })).toBe(0);
    const d0 = dom0.domain.domid;
    const ops = tmem.counters.ops + 1; // the LIST itself counts
    expect(list(dom0, false)).toBe(
      `G=Tt:${ops},Te:1,Et:0,Af:0\n` +
        `C=CI:${d0},ww:0,ca:0,co:0,fr:0\n` +
        `C=CI:${cli},ww:4,ca:9,co:0,fr:0\n` +
        `P=CI:${cli},PI:${per},PT:PP,U0:0,U1:0\n`,
    );
    expect(list(dom0, true)).toBe(
      `G=Tt:${ops + 1},Te:1,Et:0,Af:0,Fc:2,Oc:1\n` +
        `C=CI:${d0},ww:0,ca:0,co:0,fr:0,Ec:0,Pc:0\n` +
        `C=CI:${cli},ww:4,ca:9,co:0,fr:0,Ec:0,Pc:2\n` +
        `P=CI:${cli},PI:${per},PT:PP,U0:0,U1:0,Pc:2,Oc:1,ps:2,pt:2,pd:0,pr:0,px:0,gs:0,gt:0,fs:0,ft:0,os:0,ot:0,ev:0\n`,
    );
  });

  it("an S line per shared pool names its slot, type, uuid and sharers, the owner first", () => {
    const { dom0, a, cli } = setup();
    const b = new Guest(dom0.tmem, { layout: V1 });
    const U: [bigint, bigint] = [0xabcn, 0xdefn];
    expect(dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: U, flags: 1, arg1: 0xffff } })).toBe(1);
    const sb = b.newPool({ shared: true, uuid: U });
    const sa = a.newPool({ shared: true, uuid: U });
    putPages(a, sa, 1, [0]);
    const text = list(dom0, true);
    expect(text.split("\n")[1]).toBe(`S=SI:0,PT:ES,U0:abc,U1:def,SC:${b.domain.domid},SC:${cli},Pc:1,Oc:1`);
    expect(list(dom0, false).split("\n")[1]).toBe(`S=SI:0,PT:ES,U0:abc,U1:def,SC:${b.domain.domid},SC:${cli}`);
    expect(text).toContain(`P=CI:${cli},PI:${sa},PT:ES,U0:abc,U1:def`);
    expect(text).toContain(`P=CI:${b.domain.domid},PI:${sb},PT:ES,U0:abc,U1:def`);
  });

  it("lines are never cut: a declared length of 0 or 5 still gets every whole line, as 4.0-4.5 wrote them", () => {
    const { dom0, a } = setup();
    a.newPool({ persistent: true });
    const whole = list(dom0, false).replace(/Tt:\d+/, "");
    for (const arg1 of [0, 5]) {
      dom0.ram.fill(0xaa, BUF, BUF + 8192);
      expect(dom0.control(C.TMEMC_LIST, { arg1, buf: BigInt(BUF) })).toBe(0);
      const bytes = dom0.ram.subarray(BUF, BUF + 8192);
      expect(
        Buffer.from(bytes.subarray(0, bytes.indexOf(0)))
          .toString("latin1")
          .replace(/Tt:\d+/, ""),
      ).toBe(whole);
    }
  });
});

describe("TMEM_AUTH", () => {
  it("cli_id 0xFFFF opens shared pools to every domain, and closes them again", () => {
    const { dom0, a } = setup();
    const b = new Guest(dom0.tmem, { layout: V1 });
    const c = new Guest(dom0.tmem, { layout: V1 });
    const U: [bigint, bigint] = [5n, 6n];
    const auth = (flags: number) => dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: [0n, 0n], flags, arg1: 0xffff } });
    // Closed: each domain gets a pool of its own.
    const sa = a.newPool({ shared: true, uuid: U });
    const sb = b.newPool({ shared: true, uuid: U });
    putPages(a, sa, 1, [0]);
    expect(b.get(sb, oid3(1), 0, 11)).toBe(-C.EEMPTY);
    expect(a.destroyPool(sa)).toBe(1);
    expect(b.destroyPool(sb)).toBe(1);
    expect(auth(1)).toBe(1);
    const sa2 = a.newPool({ shared: true, uuid: U });
    const sb2 = b.newPool({ shared: true, uuid: U });
    putPages(a, sa2, 1, [0]);
    expect(b.get(sb2, oid3(1), 0, 11)).toBe(1);
    expect(b.frame(11)).toEqual(pattern(0));
    expect(auth(0)).toBe(1);
    const sc = c.newPool({ shared: true, uuid: U });
    expect(c.get(sc, oid3(1), 0, 11)).toBe(-C.EEMPTY);
  });

  it("a domain holds at most 16 authorised uuids; re-authorising one it holds still succeeds", () => {
    const { dom0, cli } = setup();
    const auth = (n: number, flags = 1) => dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: [BigInt(n), 1n], flags, arg1: cli } });
    for (let n = 0; n < 16; n++) expect(auth(n)).toBe(1);
    expect(auth(16)).toBe(-C.ENOMEM);
    expect(auth(3)).toBe(1);
    expect(auth(3, 0)).toBe(1);
    expect(auth(16)).toBe(1);
    expect(auth(17)).toBe(-C.ENOMEM);
  });
});

describe("TMEM_RESTORE_NEW and TMEMC_RESTORE_*", () => {
  const flagsV1 = encodePoolFlags({ persistent: true, version: V1.specVersion });
  const restoreNew = (dom0: Guest, target: number, slot: number, flags = flagsV1) =>
    dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: slot, creat: { uuid: [0n, 0n], flags, arg1: target } });

  it("RESTORE_NEW refuses a missing domain, a taken slot and another spec version", () => {
    const { dom0, a, cli } = setup();
    expect(restoreNew(dom0, 4321, 2)).toBe(-C.EINVAL);
    expect(a.newPool({ persistent: true })).toBe(0);
    expect(restoreNew(dom0, cli, 0)).toBe(-C.EEXIST);
    expect(restoreNew(dom0, cli, 2, encodePoolFlags({ persistent: true, version: V1.specVersion ^ 1 }))).toBe(-C.EPERM);
    expect(restoreNew(dom0, cli, 2)).toBe(2);
  });

  it("RESTORE_BEGIN answers 1 for a client with no pool (the client Xen would create), -1 for one with pools or no domain", () => {
    const { dom0, a, cli } = setup();
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: cli })).toBe(1);
    const p = a.newPool();
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: cli })).toBe(NO_CLIENT);
    expect(a.destroyPool(p)).toBe(1);
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: cli })).toBe(1);
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: 4321 })).toBe(NO_CLIENT);
  });

  it("RESTORE_PUT_PAGE needs a page-sized buffer in RAM; RESTORE_FLUSH_PAGE drops a restored page", () => {
    const { dom0, a, cli } = setup();
    expect(restoreNew(dom0, cli, 3)).toBe(3);
    dom0.ram.set(pattern(42), BUF);
    const put = (f: { arg1?: number; buf?: bigint; poolId?: number }) =>
      dom0.control(C.TMEMC_RESTORE_PUT_PAGE, {
        cliId: cli,
        poolId: f.poolId ?? 3,
        arg1: f.arg1 ?? 4096,
        arg2: 8,
        oid: oid3(1),
        buf: f.buf ?? BigInt(BUF),
      });
    expect(put({ arg1: 4095 })).toBe(-C.EINVAL);
    expect(put({ buf: BigInt(dom0.domain.ram.sizeBytes - 4095) })).toBe(-C.EFAULT);
    expect(put({ poolId: 2 })).toBe(NO_CLIENT);
    expect(a.get(3, oid3(1), 8, 11)).toBe(-C.EEMPTY);
    expect(put({})).toBe(1);
    expect(a.get(3, oid3(1), 8, 11)).toBe(1);
    expect(a.frame(11)).toEqual(pattern(42));
    const flush = (poolId: number, cliId: number = cli) =>
      dom0.control(C.TMEMC_RESTORE_FLUSH_PAGE, { cliId, poolId, arg2: 8, oid: oid3(1) });
    expect(flush(2)).toBe(NO_CLIENT);
    expect(flush(3, 4321)).toBe(NO_CLIENT);
    expect(a.get(3, oid3(1), 8, 11)).toBe(1);
    expect(flush(3)).toBe(1);
    expect(a.get(3, oid3(1), 8, 11)).toBe(-C.EEMPTY);
  });
});

describe("the legacy save sub-ops", () => {
  it("SAVE_BEGIN: nothing to save for a domain without pools (not frozen); 1 and frozen otherwise", () => {
    const { dom0, a, cli } = setup();
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(0);
    expect(a.domain.client.frozen).toBe(false);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli })).toBe(0);
    // SAVE_END needs no save, as in Xen: it takes back the frozen state the last SAVE_BEGIN found.
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    const per = a.newPool({ persistent: true });
    expect(a.destroyPool(per)).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(0);
    a.newPool({ persistent: true });
    a.newPool();
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(a.domain.client.frozen).toBe(true);
    // What SAVE_BEGIN found (not frozen), not the freeze it set: a restore must not freeze.
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli })).toBe(0);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    expect(a.domain.client.frozen).toBe(false);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli })).toBe(0);
  });

  it("SAVE_END restores the frozen state the client had before the save", () => {
    const { dom0, a, cli } = setup();
    a.newPool({ persistent: true });
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: cli })).toBe(0);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    expect(dom0.control(C.TMEMC_SAVE_GET_CLIENT_FLAGS, { cliId: cli })).toBe(C.TMEM_CLIENT_FROZEN);
  });

  it("pool queries: flags, pages (an ephemeral pool's too), uuid as two little-endian u64", () => {
    const { dom0, a, cli } = setup();
    const U: [bigint, bigint] = [0x1122334455667788n, 0x99aabbccddeeff00n];
    a.newPool({ persistent: true });
    const eph = a.newPool();
    expect(dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: U, flags: 1, arg1: cli } })).toBe(1);
    const shared = a.newPool({ shared: true, uuid: U });
    putPages(a, eph, 1, [0, 1]);
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_NPAGES, { cliId: cli, poolId: eph })).toBe(2);
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_FLAGS, { cliId: cli, poolId: eph })).toBe(encodePoolFlags({ version: V1.specVersion }));
    dom0.ram.fill(0xee, BUF, BUF + 32);
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: shared, buf: BigInt(BUF) })).toBe(0);
    const v = new DataView(dom0.ram.buffer, BUF);
    expect([v.getBigUint64(0, true), v.getBigUint64(8, true)]).toEqual(U);
    expect(dom0.ram[BUF + 16]).toBe(0xee);
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: shared, buf: BigInt(dom0.domain.ram.sizeBytes - 8) })).toBe(
      -C.EFAULT,
    );
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: 9, buf: BigInt(BUF) })).toBe(NO_CLIENT);
    for (const subop of [C.TMEMC_SAVE_GET_POOL_FLAGS, C.TMEMC_SAVE_GET_POOL_NPAGES])
      expect(dom0.control(subop, { cliId: cli, poolId: 9 })).toBe(NO_CLIENT);
  });

  it("NEXT_PAGE: served without SAVE_BEGIN, as Xen; an ephemeral pool has no pages; the buffer must hold page + handle", () => {
    const { dom0, a, cli } = setup();
    const per = a.newPool({ persistent: true });
    const eph = a.newPool();
    putPages(a, per, 1, [0]);
    putPages(a, eph, 1, [0]);
    const next = (poolId: number, arg1 = 8192, buf = BigInt(BUF)) =>
      dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId, arg1, buf });
    expect(next(per)).toBe(1);
    expect(handleAt(dom0, BUF)).toEqual({ poolId: per, index: 0, oid: oid3(1) });
    expect(next(per)).toBe(END);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: 32, buf: BigInt(BUF) })).toBe(INV_END);
    // SAVE_BEGIN starts every pool's walk again.
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(next(eph)).toBe(END);
    expect(next(7)).toBe(END);
    expect(next(per, 4096 + 31)).toBe(-C.ENOMEM);
    expect(next(per, 4096 + 32)).toBe(1);
    expect(handleAt(dom0, BUF)).toEqual({ poolId: per, index: 0, oid: oid3(1) });
    expect(dom0.ram.slice(BUF + 32, BUF + 32 + 4096)).toEqual(pattern(0));
    expect(next(per)).toBe(END);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    // A buffer that leaves RAM (the page is spent: a failed copy is not retried).
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(next(per, 8192, BigInt(dom0.domain.ram.sizeBytes - 4096))).toBe(-C.EFAULT);
  });

  it("NEXT_PAGE names the pool's slot and each page's object and index, and skips pages flushed since", () => {
    const { dom0, a, cli } = setup();
    a.newPool();
    a.newPool();
    const per = a.newPool({ persistent: true });
    expect(per).toBe(2);
    putPages(a, per, 1, [5, 6]);
    putPages(a, per, 2, [7]);
    putPages(a, per, 3, [8]);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    const next = () => dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 8192, buf: BigInt(BUF) });
    const seen = new Map<string, number>();
    expect(next()).toBe(1);
    const first = handleAt(dom0, BUF);
    seen.set(`${first.oid[0]}/${first.index}`, first.poolId);
    expect(dom0.ram.slice(BUF + 32, BUF + 32 + 4096)).toEqual(pattern(first.index));
    // Flush (allowed while frozen: it answers EFROZEN) the pages not yet sent but one.
    const rest = [
      [1, 5],
      [1, 6],
      [2, 7],
      [3, 8],
    ].filter(([o, i]) => !(BigInt(o) === first.oid[0] && i === first.index));
    for (const [o, i] of rest.slice(1)) expect(a.flushPage(per, oid3(o), i)).toBe(-C.EFROZEN);
    expect(next()).toBe(1);
    const second = handleAt(dom0, BUF);
    expect(second).toEqual({ poolId: per, index: rest[0][1], oid: oid3(rest[0][0]) });
    expect(dom0.ram.slice(BUF + 32, BUF + 32 + 4096)).toEqual(pattern(second.index));
    expect(next()).toBe(END);
  });

  it("a live save logs persistent pages flushed meanwhile for NEXT_INV, each with its own object id", () => {
    const { dom0, a, cli } = setup();
    const b = new Guest(dom0.tmem, { layout: V1 });
    a.newPool();
    const per = a.newPool({ persistent: true });
    const eph = a.newPool();
    putPages(a, per, 1, [0, 1]);
    putPages(a, per, 2, [4]);
    putPages(a, eph, 1, [0]);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 1 })).toBe(1);
    const inv = (arg1 = 32, buf = BigInt(BUF)) => dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1, buf });
    expect(inv()).toBe(INV_END);
    expect(a.flushObject(per, oid3(2))).toBe(-C.EFROZEN);
    expect(a.flushPage(per, oid3(1), 1)).toBe(-C.EFROZEN);
    expect(a.flushPage(eph, oid3(1), 0)).toBe(-C.EFROZEN); // ephemeral: not logged
    // Another domain's new object may reuse the freed object's record: the log keeps its own copy.
    const bp = b.newPool({ persistent: true });
    putPages(b, bp, 9, [0]);
    putPages(b, bp, 10, [0]);
    expect(inv(31)).toBe(-C.ENOMEM);
    expect(inv()).toBe(1);
    expect(handleAt(dom0, BUF)).toEqual({ poolId: per, index: 4, oid: oid3(2) });
    expect(inv()).toBe(1);
    expect(handleAt(dom0, BUF)).toEqual({ poolId: per, index: 1, oid: oid3(1) });
    expect(inv()).toBe(INV_END);
    // A destroyed pool has no slot to name: its pages are not logged.
    expect(a.destroyPool(per)).toBe(1);
    expect(inv()).toBe(INV_END);
    // A buffer that leaves RAM.
    const second = a.newPool({ persistent: true });
    expect(dom0.control(C.TMEMC_THAW, { cliId: cli })).toBe(0);
    putPages(a, second, 1, [0]);
    expect(a.flushPage(second, oid3(1), 0)).toBe(1);
    expect(inv(32, BigInt(dom0.domain.ram.sizeBytes - 16))).toBe(-C.EFAULT);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
  });

  it("a save that is not live logs nothing; after a live save ends, duplicate puts are accepted again", () => {
    const { dom0, a, cli } = setup();
    const per = a.newPool({ persistent: true });
    putPages(a, per, 1, [0, 1]);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 0 })).toBe(1);
    expect(a.flushPage(per, oid3(1), 1)).toBe(-C.EFROZEN);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: 32, buf: BigInt(BUF) })).toBe(INV_END);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 1 })).toBe(1);
    expect(dom0.control(C.TMEMC_THAW, { cliId: cli })).toBe(0);
    a.fill(10, 50);
    expect(a.put(per, oid3(1), 0, 10)).toBe(-C.ENOSPC); // a duplicate while migrating
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    putPages(a, per, 1, [0]);
    expect(a.put(per, oid3(1), 0, 10)).toBe(1);
    expect(a.get(per, oid3(1), 0, 11)).toBe(1);
  });

  it("handles of a 4.0.0 guest are 16 bytes: pool, index and a 64-bit object id", () => {
    const { dom0, a, cli } = setup(V0);
    a.newPool({ flags: encodePoolFlags({ version: V0.specVersion }) });
    const per = a.newPool({ flags: encodePoolFlags({ persistent: true, version: V0.specVersion }) });
    putPages(a, per, 0x1234, [3, 4]);
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 1 })).toBe(1);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 4096 + 15, buf: BigInt(BUF) })).toBe(-C.ENOMEM);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 4096 + 16, buf: BigInt(BUF) })).toBe(1);
    const h = handleAt(dom0, BUF);
    expect(h.poolId).toBe(per);
    expect(h.oid).toEqual([0x1234n]);
    expect(dom0.ram.slice(BUF + 16, BUF + 16 + 4096)).toEqual(pattern(h.index));
    expect(a.flushPage(per, [0x1234n], 3)).toBe(-C.EFROZEN);
    dom0.ram.fill(0xee, BUF, BUF + 64);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: 15, buf: BigInt(BUF) })).toBe(-C.ENOMEM);
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: 16, buf: BigInt(BUF) })).toBe(1);
    expect(handleAt(dom0, BUF)).toEqual({ poolId: per, index: 3, oid: [0x1234n] });
    expect(dom0.ram[BUF + 16]).toBe(0xee);
  });

  it("from the host, sub-ops that need a buffer answer EFAULT without one", () => {
    const { tmem, dom0, a, cli } = setup();
    const per = a.newPool({ persistent: true });
    putPages(a, per, 1, [0]);
    expect(hostControl(tmem, C.TMEMC_SAVE_GET_POOL_UUID, { cliId: cli, poolId: per })).toBe(-C.EFAULT);
    expect(hostControl(tmem, C.TMEMC_RESTORE_PUT_PAGE, { cliId: cli, poolId: per, arg1: 4096 })).toBe(-C.EFAULT);
    expect(hostControl(tmem, C.TMEMC_LIST, { cliId: 0xffff, arg1: 100 })).toBe(-C.EFAULT);
    expect(hostControl(tmem, C.TMEMC_SAVE_BEGIN, { cliId: cli, arg1: 1 })).toBe(1);
    expect(hostControl(tmem, C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 8192 })).toBe(-C.EFAULT);
    expect(hostControl(tmem, C.TMEMC_SAVE_GET_NEXT_INV, { cliId: cli, arg1: 32 })).toBe(-C.EFAULT);
    // Nothing was handed out: the page is still there for a guest buffer.
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 8192, buf: BigInt(BUF) })).toBe(1);
  });
});
