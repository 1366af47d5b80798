// Regression tests, one per bug class of XSA-15 (CVE-2012-3497 and its split CVEs), each named
// for it: the guest-reachable ways Xen's tmem broke, and what tmemvm does instead.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import type { Tmem } from "../../vmm/tmem/tmem.js";
import type { Pool } from "../../vmm/tmem/pool.js";
import { Guest, newTmem, OP_ADDR, pattern, samePage } from "../support/harness.js";

const legacy = opLayout("xen-4.1-oid3/x86_64")!;
const O = [3n, 0n, 0n];

/** Every stored page of `pool`, named and with a digest of its bytes. */
function pageDigests(tmem: Tmem, pool: Pool): string[] {
  const out: string[] = [];
  tmem.forEachPage(pool, (oid, index, bytes) =>
    out.push(`${[...oid].join(".")}/${index}:${createHash("sha256").update(bytes).digest("hex")}`),
  );
  return out.sort();
}

/** Everything observable about tmem's state, the bytes of every stored page included, to show an error changed nothing. */
function snapshot(tmem: Tmem): string {
  return JSON.stringify({
    pools: tmem.pools().map((p) => ({
      h: p.handle,
      t: p.typeCode,
      pages: p.stats.pages,
      objects: p.stats.objects,
      sharers: p.sharers.size,
      owner: p.owner.domid,
      data: pageDigests(tmem, p),
    })),
    clients: [...tmem.clients].map((c) => ({
      id: c.domid,
      f: c.frozen,
      w: c.weight,
      cap: c.capPages,
      eph: c.ephemeralPages,
      per: c.persistentPages,
      pools: c.pools.map((p) => p?.handle ?? null),
      auth: [...c.authorisedUuids],
    })),
    frames: tmem.usage().usedFrames,
    open: tmem.sharedAuthOpen,
  });
}

/** A copy of a guest's RAM with the op struct the harness writes blanked: what no op may change. */
function ramBesidesOp(g: Guest): Buffer {
  const copy = Buffer.from(g.ram);
  copy.fill(0, OP_ADDR, OP_ADDR + g.domain.layout.size);
  return copy;
}

function victimAndAttacker(privilegedAttacker = false) {
  const tmem = newTmem(64);
  const victim = new Guest(tmem, { layout: legacy });
  const attacker = new Guest(tmem, { layout: legacy, privileged: privilegedAttacker });
  const p = victim.newPool({ persistent: true, flags: encodePoolFlags({ persistent: true }) });
  victim.fill(10, 1);
  for (let i = 0; i < 4; i++) expect(victim.put(p, O, i, 10)).toBe(1);
  return { tmem, victim, attacker, p };
}

describe("XSA-15", () => {
  it("CVE-2012-6033: a control op from an unprivileged guest is refused and changes nothing", () => {
    const { tmem, victim, attacker } = victimAndAttacker();
    const before = snapshot(tmem);
    for (let subop = 0; subop <= 40; subop++) {
      expect(attacker.control(subop, { cliId: victim.domain.domid, arg1: 4096, buf: 0x2000n })).toBe(-C.EPERM);
    }
    expect(snapshot(tmem)).toBe(before);
  });

  it("CVE-2012-6036: a signed pool_id that passes a naive `< 16` check reaches no pool", () => {
    const { tmem, victim, attacker, p } = victimAndAttacker(true);
    const before = snapshot(tmem);
    for (const poolId of [-1, -2, -16, -0x80000000]) {
      for (const cmd of [C.TMEM_PUT_PAGE, C.TMEM_GET_PAGE, C.TMEM_FLUSH_PAGE, C.TMEM_FLUSH_OBJECT, C.TMEM_READ, C.TMEM_WRITE]) {
        expect(victim.op({ cmd, poolId, gen: { oid: O, index: 0, tmemOffset: 0, pfnOffset: 0, len: 1, cmfn: 10n } })).toBe(-C.ENODEV);
      }
      // The control page ops took a signed pool id in Xen (the CVE itself).
      for (const subop of [C.TMEMC_SAVE_GET_NEXT_PAGE, C.TMEMC_RESTORE_PUT_PAGE, C.TMEMC_RESTORE_FLUSH_PAGE, C.TMEMC_SAVE_GET_POOL_FLAGS]) {
        expect(attacker.control(subop, { cliId: victim.domain.domid, poolId, arg1: 8192, buf: 0x2000n })).toBe(-1); // Xen 4.0-4.5's "no pool"
      }
      expect(
        attacker.op({ cmd: C.TMEM_RESTORE_NEW, poolId, creat: { uuid: [0n, 0n], flags: encodePoolFlags({}), arg1: victim.domain.domid } }),
      ).toBe(-C.EINVAL);
    }
    expect(snapshot(tmem)).toBe(before);
    expect(victim.get(p, O, 0, 11)).toBe(1);
  });

  it("CVE-2012-6035: DESTROY_POOL with an unchecked pool id destroys nothing", () => {
    const { tmem, victim } = victimAndAttacker();
    const before = snapshot(tmem);
    for (const poolId of [16, 17, 255, 0x7fffffff, -1, -0x80000000, 5]) expect(victim.destroyPool(poolId)).toBe(0);
    expect(snapshot(tmem)).toBe(before);
  });

  it("3fed6db242: save and restore sub-ops naming a missing client answer -1 (Xen 4.0-4.5's value) or an errno, and change nothing", () => {
    const { tmem, attacker } = victimAndAttacker(true);
    const before = snapshot(tmem);
    for (const subop of [
      C.TMEMC_SAVE_GET_CLIENT_WEIGHT,
      C.TMEMC_SAVE_GET_CLIENT_CAP,
      C.TMEMC_SAVE_GET_CLIENT_FLAGS,
      C.TMEMC_SAVE_GET_POOL_FLAGS,
      C.TMEMC_SAVE_GET_POOL_NPAGES,
      C.TMEMC_SAVE_GET_POOL_UUID,
      C.TMEMC_SAVE_GET_NEXT_PAGE,
      C.TMEMC_SAVE_GET_NEXT_INV,
      C.TMEMC_SAVE_END,
      C.TMEMC_RESTORE_BEGIN,
      C.TMEMC_RESTORE_PUT_PAGE,
      C.TMEMC_RESTORE_FLUSH_PAGE,
      C.TMEMC_LIST,
    ]) {
      expect(attacker.control(subop, { cliId: 4242, poolId: 0, arg1: 8192, buf: 0x2000n })).toBe(-1);
    }
    for (const subop of [C.TMEMC_SET_WEIGHT, C.TMEMC_FREEZE]) expect(attacker.control(subop, { cliId: 4242, arg1: 1 })).toBe(-C.EINVAL);
    // The version names no client: the caller's generation's.
    expect(attacker.control(C.TMEMC_SAVE_GET_VERSION, { cliId: 4242 })).toBe(attacker.domain.layout.specVersion);
    expect(attacker.control(C.TMEMC_SAVE_BEGIN, { cliId: 4242 })).toBe(0); // nothing to save
    expect(snapshot(tmem)).toBe(before);
  });

  it("CVE-2012-6034: guest buffers are bounds-checked, never used as raw pointers", () => {
    const { tmem, victim, attacker, p } = victimAndAttacker(true);
    const size = BigInt(attacker.domain.ram.sizeBytes);
    // Every byte either guest could see, and tmem's state with every stored page's bytes: a write
    // that strayed (a partial copy up to the end of RAM, a wrapped address, the other domain's
    // RAM) or a read that stored a page would change one of them.
    // (RAM is filled first so that a stray write of zeros shows too.)
    for (const g of [attacker, victim]) g.ram.fill(0x5a);
    const attackerRam = ramBesidesOp(attacker);
    const victimRam = Buffer.from(victim.ram);
    const before = snapshot(tmem);
    // Buffers that end past RAM by at least a byte, for each op's length (4096, 16, 4096).
    for (const buf of [size, size - 1n, size - 16n, size - 4095n, 1n << 40n, (1n << 32n) + 0x2000n, (1n << 64n) - 8n]) {
      // LIST's text (well over 16 bytes, well under 4095) is what must fit, not its declared length.
      if (buf !== size - 4095n) expect(attacker.control(C.TMEMC_LIST, { arg1: 4096, buf })).toBe(-C.EFAULT);
      expect(attacker.control(C.TMEMC_RESTORE_PUT_PAGE, { cliId: victim.domain.domid, poolId: p, arg1: 4096, arg2: 9, buf })).toBe(
        -C.EFAULT,
      );
    }
    for (const buf of [size, size - 15n, 1n << 40n, (1n << 32n) + 0x2000n, (1n << 64n) - 8n]) {
      expect(attacker.control(C.TMEMC_SAVE_GET_POOL_UUID, { cliId: victim.domain.domid, poolId: p, buf })).toBe(-C.EFAULT);
    }
    expect(ramBesidesOp(attacker).equals(attackerRam)).toBe(true);
    expect(Buffer.from(victim.ram).equals(victimRam)).toBe(true);
    expect(snapshot(tmem)).toBe(before);
    tmem.checkInvariants();
    // The same ops with buffers that fit do write and read: the checks above are not vacuous.
    expect(attacker.control(C.TMEMC_LIST, { arg1: 4096, buf: size - 4096n })).toBe(0);
    expect(ramBesidesOp(attacker).equals(attackerRam)).toBe(false);
    expect(
      attacker.control(C.TMEMC_RESTORE_PUT_PAGE, { cliId: victim.domain.domid, poolId: p, arg1: 4096, arg2: 9, buf: size - 4096n }),
    ).toBe(1);
    expect(snapshot(tmem)).not.toBe(before);
  });

  it("CVE-2012-6032: READ/WRITE offset + len overflow is caught in exact arithmetic", () => {
    const { tmem, victim, p } = victimAndAttacker();
    const before = snapshot(tmem);
    victim.fill(11, 9);
    const ramBefore = ramBesidesOp(victim);
    const cases = [
      { t: 0xffffffff, pf: 0, len: 2 },
      { t: 1, pf: 0, len: 0xffffffff },
      { t: 0, pf: 0xfffff000, len: 0x1001 },
      { t: 4096, pf: 0, len: 1 },
      { t: 0, pf: 4095, len: 2 },
      { t: 0x80000000, pf: 0x80000000, len: 0x80000000 },
    ];
    for (const c of cases) {
      for (const cmd of [C.TMEM_READ, C.TMEM_WRITE]) {
        expect(victim.op({ cmd, poolId: p, gen: { oid: O, index: 0, tmemOffset: c.t, pfnOffset: c.pf, len: c.len, cmfn: 10n } })).toBe(
          -C.EINVAL,
        );
      }
    }
    expect(snapshot(tmem)).toBe(before);
    expect(ramBesidesOp(victim).equals(ramBefore)).toBe(true);
  });

  it("CVE-2012-6030/6031: no error path leaves state half-changed", () => {
    const { tmem, victim, attacker, p } = victimAndAttacker();
    const eph = victim.newPool({ flags: encodePoolFlags({}) });
    victim.fill(10, 2);
    victim.put(eph, O, 0, 10);
    const before = snapshot(tmem);
    const frames = BigInt(victim.domain.ram.frames);
    const failing = [
      () => victim.put(p, O, 100, frames), // new put from a bad frame
      () => victim.get(p, O, 0, frames), // get into a bad frame
      () => victim.get(eph, O, 0, frames), // destructive get into a bad frame
      () => victim.op({ cmd: 77, poolId: p, gen: { oid: O, index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 10n } }), // 0 in 4.1
      () => victim.newPool({ flags: encodePoolFlags({}) | 0x100 }),
      () => attacker.put(p, O, 0, 10),
      () => attacker.op({ cmd: C.TMEM_AUTH, poolId: 0, creat: { uuid: [1n, 1n], flags: 1, arg1: 0xffff } }),
    ];
    for (const f of failing) {
      expect(f()).toBeLessThanOrEqual(0);
      expect(snapshot(tmem)).toBe(before);
      tmem.checkInvariants();
    }
    for (let i = 0; i < 4; i++) {
      expect(victim.get(p, O, i, 11)).toBe(1);
      expect(samePage(victim.frame(11), pattern(1))).toBe(true);
    }
  });
});
