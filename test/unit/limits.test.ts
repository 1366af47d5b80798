// Limits and bounds, each pinned from a second side: a domain's cap at exactly its edge, eviction
// of the oldest page (alone, after a touch, across domains), TMEMC_LIST's declared buffer, the
// high halves of guest pointers and frame numbers in every sign, and the save file's checksums.
import { describe, expect, it } from "vitest";
import { EFAULT, ENOMEM, HYPERVISOR_tmem_op, TMEM_PUT_PAGE, TMEMC_LIST, TMEMC_SET_CAP } from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import { readSaveFile, restoreClient, saveClient, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { Guest, newTmem, OP_ADDR, pattern, samePage } from "../support/harness.js";

const O = [5n, 6n, 7n];
const LAYOUT_WITH_CTRL = OP_LAYOUTS.get("xen-4.1-oid3/x86_64")!;
const RAM = 1024 * 1024;

describe("a domain's cap on persistent pages", () => {
  it("set by the host: exactly cap pages fit, the next put is ENOMEM, a flush makes room; TMEMC_SET_CAP does not touch it", () => {
    const tmem = newTmem(64);
    const dom0 = new Guest(tmem, { layout: LAYOUT_WITH_CTRL, privileged: true });
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    tmem.setPolicy(g.domain.domid, { capPages: 3 });
    // The ABI's cap is Xen's, stored and reported only: neither 0 nor 1 changes what fits.
    expect(dom0.control(TMEMC_SET_CAP, { cliId: g.domain.domid, arg1: 0 })).toBe(0);
    expect(dom0.control(TMEMC_SET_CAP, { cliId: g.domain.domid, arg1: 1 })).toBe(0);
    for (let i = 0; i < 3; i++) {
      g.fill(10, i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    g.fill(10, 99);
    expect(g.put(p, O, 3, 10)).toBe(-ENOMEM);
    expect(g.get(p, O, 3, 11)).toBe(0);
    // replacing a page it holds is not a new page
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.flushPage(p, O, 1)).toBe(1);
    expect(g.put(p, O, 3, 10)).toBe(1);
    expect(g.put(p, O, 4, 10)).toBe(-ENOMEM);
    expect(g.domain.client.persistentPages).toBe(3);
    tmem.checkInvariants();
  });

  it("a cap of one page: the first put fits, the second does not; a cap of 0 takes none", () => {
    const tmem = newTmem(16);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    g.fill(10, 1);
    g.domain.tmem.setPolicy(g.domain.domid, { capPages: 1 });
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(g.put(p, O, 1, 10)).toBe(-ENOMEM);
    const h = new Guest(tmem);
    const q = h.newPool({ persistent: true });
    h.fill(10, 1);
    h.domain.tmem.setPolicy(h.domain.domid, { capPages: 0 });
    expect(h.put(q, O, 0, 10)).toBe(-ENOMEM);
    expect(tmem.usage().usedFrames).toBe(1);
  });
});

describe("eviction takes the least recently used page", () => {
  it("one domain: a full tmem drops its oldest page for each new one", () => {
    const tmem = newTmem(5);
    const g = new Guest(tmem);
    const p = g.newPool();
    for (let i = 0; i < 5; i++) {
      g.fill(10, i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    g.fill(10, 5);
    expect(g.put(p, O, 5, 10)).toBe(1);
    expect(tmem.counters.evictions).toBe(1);
    // page 0 is gone (a miss is 0), pages 1..5 are there with their data
    expect(g.get(p, O, 0, 11)).toBe(0);
    for (let i = 1; i <= 5; i++) {
      expect(g.get(p, O, i, 11)).toBe(1);
      expect(samePage(g.frame(11), pattern(i))).toBe(true);
    }
  });

  it("a duplicate put makes a page the newest, so the next oldest goes instead", () => {
    const tmem = newTmem(3);
    const g = new Guest(tmem);
    const p = g.newPool();
    g.fill(10, 1);
    for (let i = 0; i < 3; i++) g.put(p, O, i, 10);
    expect(g.put(p, O, 0, 10)).toBe(1); // 0 is now the newest: order 1, 2, 0
    g.put(p, O, 3, 10); // evicts 1
    g.put(p, O, 4, 10); // evicts 2
    expect(tmem.counters.evictions).toBe(2);
    expect(g.get(p, O, 1, 11)).toBe(0);
    expect(g.get(p, O, 2, 11)).toBe(0);
    for (const i of [0, 3, 4]) expect(g.get(p, O, i, 11)).toBe(1);
  });

  it("across domains: the page used longest ago host-wide goes, whichever domain holds it", () => {
    const tmem = newTmem(4);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pa = a.newPool();
    const pb = b.newPool();
    a.fill(10, 1);
    b.fill(10, 2);
    b.put(pb, O, 0, 10); // oldest
    a.put(pa, O, 0, 10);
    a.put(pa, O, 1, 10);
    b.put(pb, O, 1, 10); // newest
    a.put(pa, O, 2, 10); // evicts b's page 0
    expect(b.get(pb, O, 0, 11)).toBe(0);
    a.put(pa, O, 3, 10); // evicts a's page 0
    expect(a.get(pa, O, 0, 11)).toBe(0);
    expect(tmem.counters.evictions).toBe(2);
    for (const [g, p, i] of [
      [a, pa, 1],
      [a, pa, 2],
      [a, pa, 3],
      [b, pb, 1],
    ] as const)
      expect(g.get(p, O, i, 11)).toBe(1);
    tmem.checkInvariants();
  });
});

describe("TMEMC_LIST's buffer: the whole text must be guest RAM; the declared length is not measured (4.0-4.5)", () => {
  const setup = () => {
    const tmem = newTmem(16);
    const dom0 = new Guest(tmem, { layout: LAYOUT_WITH_CTRL, privileged: true });
    dom0.newPool();
    return dom0;
  };

  it("a text that would run past the end of RAM: EFAULT, nothing written; declared past RAM, a text that fits is written", () => {
    const dom0 = setup();
    const short = RAM - 8;
    const before = dom0.ram.slice(short);
    expect(dom0.control(TMEMC_LIST, { arg1: 4, buf: BigInt(short) })).toBe(-EFAULT);
    expect(samePage(dom0.ram.subarray(short), before)).toBe(true);
    // The text is far shorter than a page, so it fits; Xen never looked at the declared length.
    const at = RAM - 4096;
    expect(dom0.control(TMEMC_LIST, { arg1: 64 * 1024, buf: BigInt(at) })).toBe(0);
    expect(Buffer.from(dom0.ram.subarray(at, at + 2)).toString("latin1")).toBe("G=");
  });

  it("a declared length of 2^32 - 1 at a low address: the text, its NUL, and not a byte more", () => {
    const dom0 = setup();
    const at = 0x8000;
    dom0.ram.fill(0xaa, at, at + 4096);
    expect(dom0.control(TMEMC_LIST, { arg1: 0xffffffff, buf: BigInt(at) })).toBe(0);
    const end = dom0.ram.indexOf(0, at);
    expect(end).toBeGreaterThan(at);
    expect(dom0.ram.subarray(end + 1, at + 4096).every((b) => b === 0xaa)).toBe(true);
  });

  it("a buffer whose address has high bits set: EFAULT", () => {
    const dom0 = setup();
    for (const hi of [1n, 0x80000000n, 0xffffffffn]) {
      expect(dom0.control(TMEMC_LIST, { arg1: 100, buf: (hi << 32n) | 0x8000n })).toBe(-EFAULT);
    }
    expect(dom0.ram.subarray(0x8000, 0x9000).every((b) => b === 0)).toBe(true);
  });
});

describe("guest pointers and frame numbers with high bits set", () => {
  const NR = BigInt(HYPERVISOR_tmem_op);

  it("an op struct pointer with any high half but 0 is EFAULT, whatever its low half", () => {
    const g = new Guest(newTmem(8));
    const p = g.newPool();
    g.fill(10, 1);
    g.ram.set(
      encodeOp(
        { cmd: TMEM_PUT_PAGE, poolId: p, gen: { oid: [1n, 0n, 0n], index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 10n } },
        g.domain.layout,
      ),
      OP_ADDR,
    );
    const faults = g.domain.faults;
    for (const hi of [1n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn]) {
      expect(g.hypercall(NR, (hi << 32n) | BigInt(OP_ADDR))).toBe(-EFAULT);
    }
    expect(g.domain.faults).toBe(faults + 5);
    expect(g.tmem.pages).toBe(0);
    // the same struct at its plain address is a put
    expect(g.hypercall(NR, BigInt(OP_ADDR))).toBe(1);
  });

  it("a put or get whose frame number has any high half but 0 is EFAULT and stores nothing", () => {
    const g = new Guest(newTmem(8));
    const p = g.newPool({ persistent: true });
    g.fill(10, 3);
    for (const hi of [1n, 0x80000000n, 0xffffffffn]) {
      expect(g.put(p, O, 0, (hi << 32n) | 10n)).toBe(-EFAULT);
    }
    expect(g.tmem.pages).toBe(0);
    expect(g.put(p, O, 0, 10)).toBe(1);
    for (const hi of [1n, 0x80000000n, 0xffffffffn]) {
      expect(g.get(p, O, 0, (hi << 32n) | 11n)).toBe(-EFAULT);
    }
    expect(g.frame(11).every((b) => b === 0)).toBe(true);
    expect(g.get(p, O, 0, 11)).toBe(1);
    expect(samePage(g.frame(11), pattern(3))).toBe(true);
  });
});

describe("save files: every checksum is checked", () => {
  const saved = () => {
    const tmem = newTmem(32);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 3; i++) {
      g.fill(10, 40 + i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    return saveClient(tmem, g.domain.client, "saved", g.domain.layout.name);
  };
  const pagesStart = (file: Uint8Array) => 12 + new DataView(file.buffer, file.byteOffset).getUint32(8, true) + 4;

  it("the unmodified file reads back and restores every page", () => {
    const file = saved();
    expect(readSaveFile(file).meta.pageCount).toBe(3);
    const tmem = newTmem(32);
    const h = new Guest(tmem);
    expect(restoreClient(tmem, h.domain.client, file)).toEqual({ pools: 1, pages: 3 });
    for (let i = 0; i < 3; i++) {
      expect(h.get(0, O, i, 11)).toBe(1);
      expect(samePage(h.frame(11), pattern(40 + i))).toBe(true);
    }
  });

  it("one flipped bit anywhere in the page data is refused by the reader", () => {
    const file = saved();
    const start = pagesStart(file);
    for (const at of [start, start + 32, Math.floor((start + file.length) / 2), file.length - 5]) {
      const bad = file.slice();
      bad[at] ^= 0x10;
      expect(() => readSaveFile(bad)).toThrow(/page data checksum mismatch/);
    }
  });

  it("a file with a damaged page restores nothing at all", () => {
    const file = saved();
    const bad = file.slice();
    bad[file.length - 100] ^= 0xff;
    const tmem = newTmem(32);
    const h = new Guest(tmem);
    expect(() => restoreClient(tmem, h.domain.client, bad)).toThrow(SaveFileError);
    expect(h.domain.client.pools.every((x) => x === null)).toBe(true);
    expect(tmem.pages).toBe(0);
  });

  it("a damaged header or trailer is refused", () => {
    const file = saved();
    const head = file.slice();
    head[14] ^= 1;
    expect(() => readSaveFile(head)).toThrow(/header checksum mismatch/);
    const tail = file.slice();
    tail[file.length - 1] ^= 1;
    expect(() => readSaveFile(tail)).toThrow(/page data checksum mismatch/);
  });
});
