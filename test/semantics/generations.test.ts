// Every ABI generation a guest may be built for: its layout, its rules, its legacy commands, and
// the privileged commands it had, through the real hypercall entry.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { OP_LAYOUTS, opLayout, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { Guest, newTmem, pattern } from "../support/harness.js";

const layouts = [...OP_LAYOUTS.values()];
const named = (l: OpLayout) => [l.name, l] as const;
const O = [5n, 6n, 7n];

describe.each(layouts.map(named))("%s", (_, layout) => {
  const oid = O.slice(0, layout.oidWords);
  const legacy = layout.generation !== "xen-4.12-oid3";

  it("put, get, flush work with this layout's struct", () => {
    const g = new Guest(newTmem(), { layout });
    const p = g.newPool({ persistent: true });
    expect(p).toBe(0);
    g.fill(10, 4);
    expect(g.put(p, oid, 1, 10)).toBe(1);
    expect(g.get(p, oid, 1, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(4));
    expect(g.flushObject(p, oid)).toBe(1);
    expect(g.get(p, oid, 1, 11)).toBe(-C.EEMPTY);
  });

  it(`NEW_POOL demands spec version ${layout.specVersion}`, () => {
    const g = new Guest(newTmem(), { layout });
    expect(g.newPool({ flags: encodePoolFlags({ version: layout.specVersion ^ 1 }) })).toBe(-C.EPERM);
    expect(g.newPool({ flags: encodePoolFlags({ version: layout.specVersion }) })).toBe(0);
  });

  it(
    legacy
      ? "serves NEW_PAGE, READ, WRITE, XCHG; an unknown command is 0"
      : "refuses NEW_PAGE, READ, WRITE, XCHG and unknown commands with ENOSYS",
    () => {
      const g = new Guest(newTmem(), { layout });
      const p = g.newPool({ persistent: true });
      const gen = (cmd: number, f: { index?: number; t?: number; pf?: number; len?: number; cmfn?: bigint } = {}) =>
        g.op({
          cmd,
          poolId: p,
          gen: { oid, index: f.index ?? 0, tmemOffset: f.t ?? 0, pfnOffset: f.pf ?? 0, len: f.len ?? 0, cmfn: f.cmfn ?? 10n },
        });
      if (!legacy) {
        for (const cmd of [C.TMEM_NEW_PAGE, C.TMEM_READ, C.TMEM_WRITE, C.TMEM_XCHG, 50]) expect(gen(cmd)).toBe(-C.ENOSYS);
        return;
      }
      expect(gen(C.TMEM_NEW_PAGE, { index: 9 })).toBe(1);
      g.fill(11, 1);
      expect(g.get(p, oid, 9, 11)).toBe(1);
      expect(g.frame(11).every((b) => b === 0)).toBe(true);
      // WRITE 100 bytes from frame 10 at offset 50 into a new page at offset 200.
      g.fill(10, 2);
      expect(gen(C.TMEM_WRITE, { index: 3, t: 200, pf: 50, len: 100 })).toBe(1);
      expect(g.get(p, oid, 3, 11)).toBe(1);
      const want = new Uint8Array(4096);
      want.set(pattern(2).subarray(50, 150), 200);
      expect(g.frame(11)).toEqual(want);
      // READ 64 bytes from offset 210 into frame 12 at offset 4000.
      g.frame(12).fill(0xee);
      expect(gen(C.TMEM_READ, { index: 3, t: 210, pf: 4000, len: 64, cmfn: 12n })).toBe(1);
      expect(g.frame(12).subarray(4000, 4064)).toEqual(pattern(2).subarray(60, 124));
      expect(g.frame(12)[3999]).toBe(0xee);
      expect(g.frame(12)[4064]).toBe(0xee);
      // Offsets and lengths past a page, and sums that would wrap in 32 bits: EINVAL.
      for (const bad of [
        { t: 4097 },
        { pf: 4096, len: 1 },
        { t: 4000, len: 200 },
        { len: 0xffffffff, t: 1 },
        { t: 0xfffffff0, len: 0x20 },
      ]) {
        expect(gen(C.TMEM_READ, { index: 3, ...bad })).toBe(-C.EINVAL);
        expect(gen(C.TMEM_WRITE, { index: 3, ...bad })).toBe(-C.EINVAL);
      }
      expect(gen(C.TMEM_XCHG)).toBe(0);
      expect(gen(50)).toBe(0);
    },
  );

  it(legacy ? "accepts shared + persistent pools (refused from 4.5)" : "refuses shared + persistent pools", () => {
    const g = new Guest(newTmem(), { layout });
    expect(
      g.newPool({
        persistent: true,
        shared: true,
        uuid: [1n, 2n],
        flags: encodePoolFlags({ persistent: true, shared: true, version: layout.specVersion }),
      }),
    ).toBe(legacy ? 0 : -C.EPERM);
  });
});

describe.each(layouts.filter((l) => l.hasCtrl).map(named))("privileged commands, %s", (_, layout) => {
  it("an unprivileged guest gets EPERM for CONTROL, AUTH and RESTORE_NEW, and nothing changes", () => {
    const tmem = newTmem();
    const victim = new Guest(tmem, { layout });
    const attacker = new Guest(tmem, { layout });
    const p = victim.newPool({ persistent: true });
    victim.put(p, O.slice(0, layout.oidWords), 0, 10);
    for (const subop of [C.TMEMC_FREEZE, C.TMEMC_FLUSH, C.TMEMC_LIST, C.TMEMC_SET_WEIGHT, C.TMEMC_SAVE_BEGIN, C.TMEMC_RESTORE_PUT_PAGE]) {
      expect(attacker.control(subop, { cliId: victim.domain.domid, arg1: 1000 })).toBe(-C.EPERM);
    }
    expect(attacker.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: [1n, 2n], flags: 1, arg1: 0xffff } })).toBe(-C.EPERM);
    expect(
      attacker.op({
        cmd: C.TMEM_RESTORE_NEW,
        poolId: 1,
        creat: { uuid: [0n, 0n], flags: encodePoolFlags({ version: layout.specVersion }), arg1: victim.domain.domid },
      }),
    ).toBe(-C.EPERM);
    expect(victim.domain.client.frozen).toBe(false);
    expect(victim.domain.client.weight).toBe(0);
    expect(victim.domain.client.pools[1]).toBeNull();
    expect(tmem.sharedAuthOpen).toBe(false);
    expect(tmem.pages).toBe(1);
  });

  it("a privileged domain freezes and thaws, weighs, lists and authorises", () => {
    const tmem = newTmem();
    const dom0 = new Guest(tmem, { layout, privileged: true });
    const a = new Guest(tmem, { layout });
    const b = new Guest(tmem, { layout });
    const oid = O.slice(0, layout.oidWords);
    const pa = a.newPool({ persistent: true });
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: a.domain.domid })).toBe(0);
    expect(a.put(pa, oid, 0, 10)).toBe(-C.EFROZEN);
    expect(dom0.control(C.TMEMC_THAW, { cliId: 0xffffffff })).toBe(0);
    expect(a.put(pa, oid, 0, 10)).toBe(1);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: a.domain.domid, arg1: 7 })).toBe(0);
    expect(a.domain.client.weight).toBe(7);
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: 4242, arg1: 7 })).toBe(-C.EINVAL);
    // LIST writes NUL-terminated text into the caller's buffer, whole lines only, never past RAM.
    const bufAt = 0x8000;
    const textAt = () =>
      Buffer.from(dom0.ram.subarray(bufAt, bufAt + 4096))
        .toString("latin1")
        .split("\0")[0];
    expect(dom0.control(C.TMEMC_LIST, { arg1: 4096, arg2: 1, buf: BigInt(bufAt) })).toBe(0);
    const text = textAt();
    expect(text).toMatch(/^G=Tt:\d+/);
    expect(text).toMatch(new RegExp(`C=CI:${a.domain.domid},ww:7`));
    expect(text).toMatch(new RegExp(`P=CI:${a.domain.domid},PI:${pa},PT:PP.*,Pc:1`));
    // 4.0-4.5 measured no line against the declared length: a short one still gets every line.
    dom0.ram.fill(0xaa, bufAt, bufAt + 4096);
    expect(dom0.control(C.TMEMC_LIST, { arg1: 10, arg2: 1, buf: BigInt(bufAt) })).toBe(0);
    expect(textAt().replace(/Tt:\d+/, "")).toBe(text.replace(/Tt:\d+/, ""));
    expect(dom0.ram[bufAt + text.length]).toBe(0);
    expect(dom0.ram[bufAt + text.length + 1]).toBe(0xaa);
    expect(dom0.control(C.TMEMC_LIST, { arg1: 4096, arg2: 1, buf: BigInt(dom0.domain.ram.sizeBytes - 100) })).toBe(-C.EFAULT);
    expect(dom0.control(C.TMEMC_LIST, { arg1: 4096, buf: layout.longBytes === 8 ? 1n << 40n : 0xffffff00n })).toBe(-C.EFAULT);
    // AUTH: a and b may now share uuid U.
    const U: [bigint, bigint] = [0xabcn, 0xdefn];
    const auth = (cli: number, flags: number) => dom0.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: U, flags, arg1: cli } });
    expect(auth(a.domain.domid, 1)).toBe(1);
    expect(auth(b.domain.domid, 1)).toBe(1);
    expect(auth(b.domain.domid, 2)).toBe(-C.EINVAL);
    expect(auth(4242, 1)).toBe(-C.EINVAL);
    const sa = a.newPool({ shared: true, uuid: U, flags: encodePoolFlags({ shared: true, version: layout.specVersion }) });
    const sb = b.newPool({ shared: true, uuid: U, flags: encodePoolFlags({ shared: true, version: layout.specVersion }) });
    a.fill(10, 8);
    a.put(sa, oid, 0, 10);
    expect(b.get(sb, oid, 0, 11)).toBe(1);
    expect(b.frame(11)).toEqual(pattern(8));
    expect(auth(b.domain.domid, 0)).toBe(1);
    expect(auth(b.domain.domid, 0)).toBe(0);
  });

  it("save with SAVE_* and restore with RESTORE_* into another domain, bit-exact", () => {
    const tmem = newTmem(512);
    const dom0 = new Guest(tmem, { layout, privileged: true, ramMiB: 2 });
    const src = new Guest(tmem, { layout });
    const dst = new Guest(tmem, { layout });
    const words = layout.oidWords;
    const per = src.newPool({ persistent: true });
    src.newPool(); // ephemeral: not saved
    for (let i = 0; i < 20; i++) {
      src.fill(10, i);
      expect(src.put(per, [BigInt(i % 3), 9n, 9n].slice(0, words), i, 10)).toBe(1);
    }
    const cli = src.domain.domid;
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: cli })).toBe(1);
    expect(src.domain.client.frozen).toBe(true);
    // libxc asks with cli_id 0, which names no domain here: the caller's version all the same.
    expect(dom0.control(C.TMEMC_SAVE_GET_VERSION, { cliId: 0 })).toBe(layout.specVersion);
    expect(dom0.control(C.TMEMC_SAVE_GET_MAXPOOLS, { cliId: cli })).toBe(16);
    const flags = dom0.control(C.TMEMC_SAVE_GET_POOL_FLAGS, { cliId: cli, poolId: per });
    expect(dom0.control(C.TMEMC_SAVE_GET_POOL_NPAGES, { cliId: cli, poolId: per })).toBe(20);
    const handleBytes = layout.specVersion === 0 ? 16 : 32;
    const bufAt = 0x10000;
    expect(dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 4096 + handleBytes - 1, buf: BigInt(bufAt) })).toBe(
      -C.ENOMEM,
    );
    const saved: { oid: bigint[]; index: number; page: Uint8Array }[] = [];
    for (;;) {
      const r = dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: cli, poolId: per, arg1: 8192, buf: BigInt(bufAt) });
      if (r === -1) break;
      expect(r).toBe(1);
      const v = new DataView(dom0.ram.buffer, bufAt);
      expect(v.getUint32(0, true)).toBe(per);
      const oid = [...Array(words)].map((_, i) => v.getBigUint64(8 + 8 * i, true));
      saved.push({ oid, index: v.getUint32(4, true), page: dom0.ram.slice(bufAt + handleBytes, bufAt + handleBytes + 4096) });
    }
    expect(saved).toHaveLength(20);
    expect(dom0.control(C.TMEMC_SAVE_END, { cliId: cli })).toBe(0);
    expect(src.domain.client.frozen).toBe(false);

    const target = dst.domain.domid;
    expect(dom0.control(C.TMEMC_RESTORE_BEGIN, { cliId: target })).toBe(1);
    expect(dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: 4, creat: { uuid: [0n, 0n], flags, arg1: target } })).toBe(4);
    expect(dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: 16, creat: { uuid: [0n, 0n], flags, arg1: target } })).toBe(-C.EINVAL);
    expect(dom0.op({ cmd: C.TMEM_RESTORE_NEW, poolId: -1, creat: { uuid: [0n, 0n], flags, arg1: target } })).toBe(-C.EINVAL);
    for (const s of saved) {
      dom0.ram.set(s.page, bufAt);
      expect(
        dom0.control(C.TMEMC_RESTORE_PUT_PAGE, { cliId: target, poolId: 4, arg1: 4096, arg2: s.index, oid: s.oid, buf: BigInt(bufAt) }),
      ).toBe(1);
    }
    for (let i = 0; i < 20; i++) {
      expect(dst.get(4, [BigInt(i % 3), 9n, 9n].slice(0, words), i, 11)).toBe(1);
      expect(dst.frame(11)).toEqual(pattern(i));
    }
  });

  // Deliberate differences (README, Semantics): Xen's own save path had bugs tmemvm does not copy.
  it("NEXT_PAGE hands out every page once, a pool's first and a lone page included (Xen 4.0-4.12 skipped the first)", () => {
    const tmem = newTmem();
    const dom0 = new Guest(tmem, { layout, privileged: true, ramMiB: 2 });
    const a = new Guest(tmem, { layout });
    const oid = O.slice(0, layout.oidWords);
    const flags = encodePoolFlags({ persistent: true, version: layout.specVersion });
    const lone = a.newPool({ flags });
    const three = a.newPool({ flags });
    a.fill(10, 40);
    expect(a.put(lone, oid, 0, 10)).toBe(1);
    for (let i = 0; i < 3; i++) {
      a.fill(10, 50 + i);
      expect(a.put(three, oid, i, 10)).toBe(1);
    }
    const handleBytes = layout.specVersion === 0 ? 16 : 32;
    const walk = (poolId: number) => {
      const seen: number[] = [];
      while (dom0.control(C.TMEMC_SAVE_GET_NEXT_PAGE, { cliId: a.domain.domid, poolId, arg1: 8192, buf: 0x10000n }) === 1) {
        const index = new DataView(dom0.ram.buffer, 0x10000).getUint32(4, true);
        expect(dom0.ram.slice(0x10000 + handleBytes, 0x10000 + handleBytes + 4096)).toEqual(pattern((poolId === lone ? 40 : 50) + index));
        seen.push(index);
      }
      return seen.sort();
    };
    // A buffer is served, as 4.0-4.3 served it (4.4-4.12 refused every buffer: nothing was saved).
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: a.domain.domid })).toBe(1);
    expect(walk(lone)).toEqual([0]);
    expect(walk(three)).toEqual([0, 1, 2]);
  });

  it("shared pools need authorisation by default, as from Xen 4.9 (earlier Xen allowed them unless booted with tmem_shared_auth)", () => {
    const tmem = newTmem();
    const a = new Guest(tmem, { layout });
    const b = new Guest(tmem, { layout });
    const oid = O.slice(0, layout.oidWords);
    const flags = encodePoolFlags({ shared: true, version: layout.specVersion });
    const sa = a.newPool({ shared: true, uuid: [3n, 4n], flags });
    const sb = b.newPool({ shared: true, uuid: [3n, 4n], flags });
    a.fill(10, 5);
    expect(a.put(sa, oid, 0, 10)).toBe(1);
    expect(b.get(sb, oid, 0, 11)).toBe(-C.EEMPTY);
    expect(a.domain.client.pools[sa]!.shared).toBe(false);
  });

  it("save sub-ops naming a missing client or pool answer -1, as Xen 4.0-4.5 did, and touch nothing (XSA-15)", () => {
    const dom0 = new Guest(newTmem(), { layout, privileged: true });
    expect(dom0.control(C.TMEMC_SAVE_BEGIN, { cliId: 999 })).toBe(0);
    for (const subop of [
      C.TMEMC_SAVE_GET_POOL_FLAGS,
      C.TMEMC_SAVE_GET_NEXT_PAGE,
      C.TMEMC_SAVE_GET_NEXT_INV,
      C.TMEMC_SAVE_END,
      C.TMEMC_RESTORE_BEGIN,
      C.TMEMC_RESTORE_PUT_PAGE,
      C.TMEMC_RESTORE_FLUSH_PAGE,
    ]) {
      expect(dom0.control(subop, { cliId: 999, poolId: -3, arg1: 8192 })).toBe(-1);
    }
    expect(dom0.control(77, {})).toBe(-C.EINVAL);
  });
});

describe("recorded ops issued by a guest of each layout get the documented result", () => {
  const recorded = JSON.parse(readFileSync(new URL("../fixtures/tmem-structs.json", import.meta.url), "utf8")) as {
    layouts: Record<string, { vectors: { name: string; kind: string; hex: string }[] }>;
  };
  // For an unprivileged guest whose pool slots 0..15 are already taken by persistent pools
  // ("setup: pools"), or that has none ("setup: fresh").
  const expected = (name: string, gen: string): [number, "pools" | "fresh"] => {
    const v1 = gen !== "xen-4.0-legacy";
    const ctrlGen = gen !== "xen-4.12-oid3";
    switch (name) {
      case "new_pool private ephemeral 4K v1":
      case "new_pool private persistent 4K v1":
      case "new_pool shared ephemeral with uuid":
        return [v1 ? 0 : -C.EPERM, "fresh"]; // the vectors carry version 1, which 4.0.0 refuses
      case "put_page":
        return [1, "pools"];
      case "get_page":
        return [-C.EEMPTY, "pools"];
      case "flush_page":
      case "flush_object":
      case "destroy_pool":
        return [1, "pools"];
      case "put_page negative pool id":
        return [-C.ENODEV, "pools"];
      case "auth (privileged)":
      case "restore_new (privileged)":
      case "control list all clients":
        return [ctrlGen ? -C.EPERM : -C.EOPNOTSUPP, "pools"];
      case "read with offsets (legacy cmd 8)":
        return [ctrlGen ? -C.EEMPTY : -C.ENOSYS, "pools"];
      default:
        throw new Error(`no documented result for vector ${name}`);
    }
  };
  const cases = Object.entries(recorded.layouts).flatMap(([layoutName, l]) => l.vectors.map((v) => [layoutName, v.name, v.hex] as const));
  it.each(cases)("%s: %s", (layoutName, name, hex) => {
    const layout = opLayout(layoutName)!;
    const [want, setup] = expected(name, layout.generation);
    const g = new Guest(newTmem(), { layout, ramMiB: 4 });
    if (setup === "pools") for (let i = 0; i < 16; i++) expect(g.newPool({ persistent: true })).toBe(i);
    g.fill(499, 1);
    expect(g.opBytes(Buffer.from(hex, "hex"))).toBe(want);
  });
});
