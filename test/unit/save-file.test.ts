// The save file on its own: a file rebuilt here from the documented format (not with the
// module's writer) for every refusal the reader names, and restores checked page by page.
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readSaveFile, restoreClient, saveClient, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { Guest, newTmem, pattern, samePage } from "../support/harness.js";

const O = [9n, 8n, 7n];
const RECORD = 32 + 4096;

/** header "TMSV" u16 version u16 0 u32 metaLen meta u32 crc | records | u32 crc(records) */
function build(meta: object, records: Uint8Array[], version = 1): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const headerLen = 12 + json.length;
  const out = new Uint8Array(headerLen + 4 + records.length * RECORD + 4);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("TMSV"));
  v.setUint16(4, version, true);
  v.setUint32(8, json.length, true);
  out.set(json, 12);
  v.setUint32(headerLen, crc32(out.subarray(0, headerLen)) >>> 0, true);
  records.forEach((r, i) => {
    out.set(r, headerLen + 4 + i * RECORD);
  });
  const end = headerLen + 4 + records.length * RECORD;
  v.setUint32(end, crc32(out.subarray(headerLen + 4, end)) >>> 0, true);
  return out;
}

function record(poolId: number, oid: number[], index: number, seed: number): Uint8Array {
  const r = new Uint8Array(RECORD);
  const v = new DataView(r.buffer);
  v.setUint32(0, poolId, true);
  oid.forEach((w, i) => {
    v.setUint32(4 + 4 * i, w, true);
  });
  v.setUint32(28, index, true);
  r.set(pattern(seed), 32);
  return r;
}

const PERSIST = 1 | (1 << 24);
const baseMeta = (pools: object[], pageCount: number, extra: object = {}) => ({
  domain: "d",
  layout: "xen-4.12-oid3/x86_64",
  weight: 3,
  capPages: 50,
  compress: false,
  pageCount,
  pools,
  ...extra,
});

describe("save file reader", () => {
  it("reads a file built from the format, and restores its pages, pools and policy", () => {
    const recs = [
      record(2, [1, 2, 3, 4, 5, 6], 0xfffffffe, 1),
      record(2, [1, 2, 3, 4, 5, 6], 3, 2),
      record(5, [7, 0, 0, 0, 0, 0xffffffff], 0, 3),
    ];
    const file = build(
      baseMeta(
        [
          { id: 2, flags: PERSIST, uuid: ["0", "0"], pages: 2 },
          { id: 5, flags: PERSIST, uuid: ["0", "0"], pages: 1 },
          { id: 7, flags: 1 << 24, uuid: ["0", "0"], pages: 0 },
        ],
        3,
      ),
      recs,
    );
    expect(readSaveFile(file).meta.pageCount).toBe(3);
    const tmem = newTmem(16);
    const g = new Guest(tmem);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 3, pages: 3 });
    const c = g.domain.client;
    expect([c.weight, c.capPages, c.compress]).toEqual([3, 50, false]);
    expect(c.pools.map((p, i) => (p ? `${i}${p.typeCode}` : "")).join("")).toBe("2PP5PP7EP");
    expect(g.get(2, [0x0000000200000001n, 0x0000000400000003n, 0x0000000600000005n], 0xfffffffe, 11)).toBe(1);
    expect(samePage(g.frame(11), pattern(1))).toBe(true);
    expect(g.get(2, [0x0000000200000001n, 0x0000000400000003n, 0x0000000600000005n], 3, 11)).toBe(1);
    expect(samePage(g.frame(11), pattern(2))).toBe(true);
    expect(g.get(5, [7n, 0n, 0xffffffff00000000n], 0, 11)).toBe(1);
    expect(samePage(g.frame(11), pattern(3))).toBe(true);
    expect(c.persistentPages).toBe(3);
  });

  const refusals: [string, () => Uint8Array, RegExp][] = [
    ["no magic", () => new TextEncoder().encode("TMSX and more bytes than a header"), /no TMSV magic/],
    ["three bytes", () => new TextEncoder().encode("TMS"), /no TMSV magic/],
    ["magic only", () => new TextEncoder().encode("TMSV"), /truncated header/],
    ["15 bytes", () => build(baseMeta([], 0), []).subarray(0, 15), /truncated header/],
    ["version 2", () => build(baseMeta([], 0), [], 2), /version 2 is not supported/],
    ["metadata cut short", () => build(baseMeta([], 0), []).subarray(0, 40), /truncated header/],
    ["a page more than the file holds", () => build(baseMeta([], 1), []), /should hold 1 pages/],
    ["a negative page count", () => build(baseMeta([], -1), []), /should hold -1 pages/],
    ["a fractional page count", () => build(baseMeta([], 0.5), []), /should hold 0.5 pages/],
    [
      "a trailing byte",
      () => {
        const f = build(baseMeta([], 0), []);
        const g = new Uint8Array(f.length + 1);
        g.set(f);
        return g;
      },
      /should hold 0 pages/,
    ],
    ["an abiCap that is not a u32", () => build(baseMeta([], 0, { abiCap: -1 }), []), /bad abiCap -1/],
    ["an abiCap that is a string", () => build(baseMeta([], 0, { abiCap: "7" }), []), /bad abiCap "7"/],
    ["pool id 16", () => build(baseMeta([{ id: 16, flags: PERSIST, uuid: ["0", "0"], pages: 0 }], 0), []), /bad pool id 16/],
    ["pool id -1", () => build(baseMeta([{ id: -1, flags: PERSIST, uuid: ["0", "0"], pages: 0 }], 0), []), /bad pool id -1/],
    ["pool id 1.5", () => build(baseMeta([{ id: 1.5, flags: PERSIST, uuid: ["0", "0"], pages: 0 }], 0), []), /bad pool id 1.5/],
    [
      "a pool id twice",
      () =>
        build(
          baseMeta(
            [
              { id: 3, flags: PERSIST, uuid: ["0", "0"], pages: 0 },
              { id: 3, flags: PERSIST, uuid: ["0", "0"], pages: 0 },
            ],
            0,
          ),
          [],
        ),
      /bad pool id 3/,
    ],
    [
      "a page of an unsaved pool",
      () => build(baseMeta([{ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 0 }], 2), [record(0, [1], 0, 1), record(4, [1], 0, 1)]),
      /page 1 names pool 4/,
    ],
    [
      "a page of an ephemeral pool",
      () => build(baseMeta([{ id: 0, flags: 1 << 24, uuid: ["0", "0"], pages: 1 }], 1), [record(0, [1], 0, 1)]),
      /page 0 names pool 0/,
    ],
  ];
  for (const [what, file, message] of refusals) {
    it(`refuses ${what}`, () => {
      expect(() => readSaveFile(file())).toThrow(SaveFileError);
      expect(() => readSaveFile(file())).toThrow(message);
    });
  }
  it("pool id 15 is the last one allowed", () => {
    expect(readSaveFile(build(baseMeta([{ id: 15, flags: PERSIST, uuid: ["0", "0"], pages: 0 }], 0), [])).meta.pools[0].id).toBe(15);
  });
});

describe("save and restore", () => {
  function saved(opts: { pages?: number; cap?: number } = {}) {
    const tmem = newTmem(64);
    const g = new Guest(tmem);
    g.newPool(); // slot 0, ephemeral: saved empty
    const p = g.newPool({ persistent: true }); // slot 1
    g.put(0, O, 0, 10);
    for (let i = 0; i < (opts.pages ?? 3); i++) {
      g.fill(10, 60 + i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    if (opts.cap !== undefined) g.domain.tmem.setPolicy(g.domain.domid, { capPages: opts.cap });
    return saveClient(tmem, g.domain.client, "src", g.domain.layout.name);
  }

  it("persistent pages come back in their slot; ephemeral pools come back empty; no cap stays none", () => {
    const file = saved();
    const { meta } = readSaveFile(file);
    expect(meta.pools).toEqual([
      { id: 0, flags: expect.any(Number), uuid: ["0", "0"], pages: 0 },
      { id: 1, flags: expect.any(Number), uuid: ["0", "0"], pages: 3 },
    ]);
    expect(meta.capPages).toBeNull();
    const tmem = newTmem(64);
    const h = new Guest(tmem);
    h.domain.tmem.setPolicy(h.domain.domid, { capPages: 1 }); // restored pages are not capped by it; the saved "none" replaces it
    expect(restoreClient(tmem, h.domain.client, file)).toEqual({ pools: 2, pages: 3 });
    expect(h.domain.client.capPages).toBe(Infinity);
    expect(h.get(0, O, 0, 11)).toBeLessThanOrEqual(0);
    for (let i = 0; i < 3; i++) {
      expect(h.get(1, O, i, 11)).toBe(1);
      expect(samePage(h.frame(11), pattern(60 + i))).toBe(true);
    }
  });

  it("refuses a domain that holds a pool (in any slot), too little room, or a frozen domain, and restores nothing", () => {
    const file = saved({ pages: 5 });
    const busy = newTmem(64);
    const b = new Guest(busy);
    b.newPool();
    b.newPool();
    expect(() => restoreClient(busy, b.domain.client, file)).toThrow(
      /domain \d+ already holds pool 0: a restore goes into a domain with no pool/,
    );
    // Xen restores only into a client that does not exist yet: a pool in a slot the file does not use refuses it too.
    for (let i = 0; i < 5; i++) b.newPool();
    for (let i = 0; i < 6; i++) expect(b.destroyPool(i)).toBe(1);
    expect(() => restoreClient(busy, b.domain.client, file)).toThrow(
      /domain \d+ already holds pool 6: a restore goes into a domain with no pool/,
    );
    expect(b.domain.client.pools.filter((p) => p !== null)).toHaveLength(1);
    // room for 5 pages: exactly enough
    const exact = newTmem(5);
    expect(restoreClient(exact, new Guest(exact).domain.client, file).pages).toBe(5);
    // 4 free frames, and ephemeral pages that could be evicted count as room; persistent ones do not
    const small = newTmem(5);
    const s = new Guest(small);
    const sp = s.newPool({ persistent: true });
    s.fill(10, 1);
    s.put(sp, O, 0, 10);
    const target = new Guest(small);
    expect(() => restoreClient(small, target.domain.client, file)).toThrow(/5 pages do not fit/);
    expect(target.domain.client.pools.every((x) => x === null)).toBe(true);
    const roomy = newTmem(6);
    const e = new Guest(roomy);
    const ep = e.newPool();
    e.fill(10, 1);
    e.put(ep, O, 0, 10);
    const into = new Guest(roomy);
    expect(restoreClient(roomy, into.domain.client, file).pages).toBe(5);
    const frozen = newTmem(64);
    const f = new Guest(frozen);
    f.domain.tmem.setPolicy(f.domain.domid, { frozen: true });
    expect(() => restoreClient(frozen, f.domain.client, file)).toThrow(/is frozen/);
    expect(f.domain.client.pools.every((x) => x === null)).toBe(true);
  });

  it("TMEMC_SET_CAP's cap travels in the file and comes back; 0, its default, is left out", () => {
    const tmem = newTmem(64);
    const g = new Guest(tmem);
    g.newPool({ persistent: true });
    expect(readSaveFile(saveClient(tmem, g.domain.client, "g", g.domain.layout.name)).meta).not.toHaveProperty("abiCap");
    tmem.setPolicy(g.domain.domid, { abiCap: 0xfffffffe });
    const file = saveClient(tmem, g.domain.client, "g", g.domain.layout.name);
    expect(readSaveFile(file).meta.abiCap).toBe(0xfffffffe);
    const h = new Guest(tmem);
    restoreClient(tmem, h.domain.client, file);
    expect([h.domain.client.abiCap, h.domain.client.capPages]).toEqual([0xfffffffe, Infinity]);
  });

  it("a saved cap comes back after the pages are in", () => {
    const file = saved({ cap: 2 });
    expect(readSaveFile(file).meta.capPages).toBe(2);
    const tmem = newTmem(64);
    const h = new Guest(tmem);
    expect(restoreClient(tmem, h.domain.client, file).pages).toBe(3);
    expect(h.domain.client.capPages).toBe(2);
  });
});
