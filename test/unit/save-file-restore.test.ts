// Save files: the reader's edges (a header exactly as long as it says, page counts that are not
// whole numbers, where each refusal points) and restores that must leave nothing behind when
// they cannot finish. Files are built here from the documented format, not with the writer.
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { readSaveFile, restoreClient, saveClient, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { Guest, newTmem, pattern } from "../support/harness.js";

const RECORD = 32 + 4096;
const PERSIST = 1 | (1 << 24);
const EPHEMERAL = 1 << 24;
const SHARED_EPHEMERAL = 2 | (1 << 24);

/** header "TMSV" u16 version u16 0 u32 metaLen meta u32 crc | records | u32 crc(records) */
function build(meta: object | string, records: Uint8Array[], recordBytes = records.length * RECORD): Uint8Array {
  const json = new TextEncoder().encode(typeof meta === "string" ? meta : JSON.stringify(meta));
  const headerLen = 12 + json.length;
  const out = new Uint8Array(headerLen + 4 + recordBytes + 4);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("TMSV"));
  v.setUint16(4, 1, true);
  v.setUint32(8, json.length, true);
  out.set(json, 12);
  v.setUint32(headerLen, crc32(out.subarray(0, headerLen)) >>> 0, true);
  records.forEach((r, i) => {
    out.set(r.subarray(0, Math.min(RECORD, recordBytes - i * RECORD)), headerLen + 4 + i * RECORD);
  });
  const end = headerLen + 4 + recordBytes;
  v.setUint32(end, crc32(out.subarray(headerLen + 4, end)) >>> 0, true);
  return out;
}

function record(poolId: number, index: number, seed: number): Uint8Array {
  const r = new Uint8Array(RECORD);
  const v = new DataView(r.buffer);
  v.setUint32(0, poolId, true);
  v.setUint32(4, 7, true);
  v.setUint32(28, index, true);
  r.set(pattern(seed), 32);
  return r;
}

const meta = (pools: object[], pageCount: number) => ({
  domain: "d",
  layout: "xen-4.12-oid3/x86_64",
  weight: 0,
  capPages: null,
  compress: false,
  pageCount,
  pools,
});
const headerLenOf = (m: object) => 12 + new TextEncoder().encode(JSON.stringify(m)).length;

/** The SaveFileError `fn` throws. */
function refusal(fn: () => unknown): SaveFileError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SaveFileError);
    return e as SaveFileError;
  }
  throw new Error("no refusal");
}

describe("save file reader edges", () => {
  it("a 16-byte file whose header says no metadata is read up to the metadata, which is not JSON", () => {
    const file = build("", [], 0).subarray(0, 16);
    expect(file.length).toBe(16);
    expect(refusal(() => readSaveFile(file)).message).toBe("header metadata is not valid JSON (byte offset 12)");
  });

  it("a header that says more metadata than the file holds is truncated", () => {
    const full = build(meta([], 0), []);
    for (const cut of [full.length - 5, 14]) {
      const file = full.slice(0, cut);
      expect(refusal(() => readSaveFile(file)).message).toBe(`truncated header (byte offset ${cut})`);
    }
  });

  it("a page count that is not a whole number is refused, even when the length matches", () => {
    const m = meta([{ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 1 }], 0.5);
    const file = build(m, [record(0, 0, 1)], RECORD / 2);
    const end = headerLenOf(m) + 4 + RECORD / 2;
    expect(file.length).toBe(end + 4);
    expect(refusal(() => readSaveFile(file)).message).toBe(
      `the file should hold 0.5 pages and end at byte ${end + 4}; it has ${end + 4} bytes (byte offset ${end})`,
    );
  });

  it("a file shorter than its pages says where it ends and where it should", () => {
    const m = meta([{ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 2 }], 2);
    const file = build(m, [record(0, 0, 1)]);
    const start = headerLenOf(m) + 4;
    expect(refusal(() => readSaveFile(file)).message).toBe(
      `the file should hold 2 pages and end at byte ${start + 2 * RECORD + 4}; it has ${file.length} bytes (byte offset ${file.length})`,
    );
  });

  it("a page naming an ephemeral pool is refused at that page's offset", () => {
    const m = meta(
      [
        { id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 1 },
        { id: 1, flags: EPHEMERAL, uuid: ["0", "0"], pages: 0 },
      ],
      2,
    );
    const file = build(m, [record(0, 0, 1), record(1, 0, 2)]);
    expect(refusal(() => readSaveFile(file)).message).toBe(
      `page 1 names pool 1, not a saved persistent pool (byte offset ${headerLenOf(m) + 4 + RECORD})`,
    );
  });
});

describe("restore", () => {
  it("pages an ephemeral pool claims do not count against the room (they are never restored)", () => {
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    const file = build(
      meta(
        [
          { id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 1 },
          { id: 1, flags: EPHEMERAL, uuid: ["0", "0"], pages: 500 },
        ],
        1,
      ),
      [record(0, 3, 4)],
    );
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 2, pages: 1 });
    expect(g.get(0, [7n], 3, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(4));
  });

  it("a frozen domain is refused even when the file has no pages", () => {
    const tmem = newTmem(4);
    const g = new Guest(tmem);
    g.domain.tmem.setPolicy(g.domain.domid, { frozen: true });
    const file = build(meta([{ id: 3, flags: EPHEMERAL, uuid: ["0", "0"], pages: 0 }], 0), []);
    expect(refusal(() => restoreClient(tmem, g.domain.client, file)).message).toBe(`domain ${g.domain.domid} is frozen (byte offset 0)`);
    expect(g.domain.client.pools[3]).toBeNull();
  });

  it("an empty shared pool may be joined although its owner is frozen", () => {
    const tmem = newTmem(4);
    tmem.setSharedAuth(true);
    const owner = new Guest(tmem);
    const sp = owner.newPool({ shared: true, uuid: [0xabn, 0xcdn] });
    owner.domain.tmem.setPolicy(owner.domain.domid, { frozen: true });
    const g = new Guest(tmem);
    const file = build(meta([{ id: 2, flags: SHARED_EPHEMERAL, uuid: ["ab", "cd"], pages: 0 }], 0), []);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 1, pages: 0 });
    expect(g.domain.client.pools[2]).toBe(owner.domain.client.pools[sp]);
  });

  it("a domain not authorised for a shared pool's uuid restores into a pool of its own, whatever that pool's owner does", () => {
    const tmem = newTmem(8);
    const owner = new Guest(tmem);
    tmem.authoriseSharedPool(owner.domain.domid, [0xabn, 0xcdn], true);
    const sp = owner.newPool({ shared: true, uuid: [0xabn, 0xcdn] });
    owner.domain.tmem.setPolicy(owner.domain.domid, { frozen: true });
    const g = new Guest(tmem);
    const SHARED_PERSIST = 2 | PERSIST;
    const file = build(meta([{ id: 1, flags: SHARED_PERSIST, uuid: ["ab", "cd"], pages: 1 }], 1), [record(1, 0, 5)]);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 1, pages: 1 });
    expect(g.domain.client.pools[1]).not.toBe(owner.domain.client.pools[sp]);
    expect(g.get(1, [7n], 0, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(5));
    // Authorised, it would join the frozen owner's pool: refused before anything changes.
    const h = new Guest(tmem);
    tmem.authoriseSharedPool(h.domain.domid, [0xabn, 0xcdn], true);
    expect(refusal(() => restoreClient(tmem, h.domain.client, file)).message).toBe(
      `domain ${owner.domain.domid} is frozen (byte offset 0)`,
    );
    // A uuid of all ones is never shared: its own pool again.
    const allOnes = build(meta([{ id: 1, flags: SHARED_PERSIST, uuid: ["ffffffffffffffff", "ffffffffffffffff"], pages: 1 }], 1), [
      record(1, 0, 6),
    ]);
    tmem.setSharedAuth(true);
    const k = new Guest(tmem);
    expect(restoreClient(tmem, k.domain.client, allOnes)).toEqual({ pools: 1, pages: 1 });
    expect(k.domain.client.pools[1]!.shared).toBe(false);
  });

  it("a uuid with all ones in one half only names a shared pool: a restore that would join it under a frozen owner is refused", () => {
    const ALL = "ffffffffffffffff";
    for (const uuid of [
      ["5", ALL],
      [ALL, "5"],
    ] as [string, string][]) {
      const tmem = newTmem(8);
      tmem.setSharedAuth(true);
      const owner = new Guest(tmem, { layout: opLayout("xen-4.1-oid3/x86_64")! });
      const words = uuid.map((h) => BigInt(`0x${h}`)) as [bigint, bigint];
      const sp = owner.newPool({ shared: true, persistent: true, uuid: words, flags: 2 | PERSIST });
      expect(owner.domain.client.pools[sp]!.shared).toBe(true);
      owner.domain.tmem.setPolicy(owner.domain.domid, { frozen: true });
      const g = new Guest(tmem);
      const file = build(meta([{ id: 1, flags: 2 | PERSIST, uuid, pages: 1 }], 1), [record(1, 0, 5)]);
      expect(refusal(() => restoreClient(tmem, g.domain.client, file)).message).toBe(
        `domain ${owner.domain.domid} is frozen (byte offset 0)`,
      );
    }
  });

  it("a private pool never joins a shared pool, even one whose uuid is zero", () => {
    const tmem = newTmem(8);
    tmem.setSharedAuth(true);
    const owner = new Guest(tmem);
    const sp = owner.newPool({ shared: true, uuid: [0n, 0n] });
    expect(owner.domain.client.pools[sp]!.shared).toBe(true);
    owner.domain.tmem.setPolicy(owner.domain.domid, { frozen: true });
    const g = new Guest(tmem);
    const file = build(meta([{ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 1 }], 1), [record(0, 2, 7)]);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 1, pages: 1 });
    expect(g.get(0, [7n], 2, 11)).toBe(1);
  });

  it("a file whose persistent pages cannot fit is refused before anything changes: no ephemeral page is evicted for it", () => {
    const tmem = newTmem(5);
    const other = new Guest(tmem);
    const e = other.newPool();
    for (let i = 0; i < 2; i++) {
      other.fill(10, i + 1);
      expect(other.put(e, [1n], i, 10)).toBe(1);
    }
    other.fill(10, 3);
    expect(other.put(other.newPool({ persistent: true }), [1n], 0, 10)).toBe(1); // room: 2 free + 2 ephemeral
    const persistent = (n: number) => ({ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: n });
    const big = build(
      meta([persistent(5), { id: 1, flags: EPHEMERAL, uuid: ["0", "0"], pages: 0 }], 5),
      [0, 1, 2, 3, 4].map((i) => record(0, i, i)),
    );
    const g = new Guest(tmem);
    expect(refusal(() => restoreClient(tmem, g.domain.client, big)).message).toBe("5 pages do not fit in this VMM's tmem (byte offset 12)");
    expect(tmem.counters.evictions).toBe(0);
    expect(other.get(e, [1n], 1, 11)).toBe(1);
    // Four fit (two free frames, two ephemeral pages to evict): restored, from a file that is a view into a larger buffer.
    const fits = build(
      meta([persistent(4)], 4),
      [0, 1, 2, 3].map((i) => record(0, i, i + 10)),
    );
    const held = new Uint8Array(fits.length + 100);
    held.set(fits, 100);
    expect(restoreClient(tmem, g.domain.client, held.subarray(100))).toEqual({ pools: 1, pages: 4 });
    expect(g.get(0, [7n], 3, 11)).toBe(1);
    expect(g.frame(11)).toEqual(pattern(13));
  });

  it("a refusal partway through names the page's offset in the file, wherever the file's bytes sit", () => {
    const tmem = newTmem(2);
    const g = new Guest(tmem);
    const owner = new Guest(tmem);
    // Two ephemeral zero pages of another domain count as room but free no frame.
    const e = owner.newPool();
    owner.frame(10).fill(0);
    for (let i = 0; i < 2; i++) expect(owner.put(e, [1n], i, 10)).toBe(1);
    const per = owner.newPool({ persistent: true });
    for (let i = 0; i < 2; i++) {
      owner.fill(10, i + 1);
      expect(owner.put(per, [1n], i, 10)).toBe(1);
    }
    const m = meta([{ id: 0, flags: PERSIST, uuid: ["0", "0"], pages: 2 }], 2);
    const file = build(m, [record(0, 0, 1), record(0, 1, 2)]);
    const held = new Uint8Array(file.length + 64);
    held.set(file, 64);
    const err = refusal(() => restoreClient(tmem, g.domain.client, held.subarray(64)));
    expect(err.message).toMatch(/^2 pages do not fit in this VMM's tmem \(page 0 was refused: -12\)/);
    expect(err.offset).toBe(headerLenOf(m) + 4);
    expect(g.domain.client.pools[0]).toBeNull();
  });

  it("a shared pool that finds every shared slot taken: refused, and nothing of the restore stays", () => {
    const src = newTmem(16);
    src.setSharedAuth(true);
    const s = new Guest(src);
    s.newPool({ persistent: true });
    s.newPool({ shared: true, uuid: [99n, 0n] });
    s.fill(10, 1);
    expect(s.put(0, [1n], 0, 10)).toBe(1);
    const file = saveClient(src, s.domain.client, "s", "xen-4.12-oid3/x86_64");

    const tmem = newTmem(16);
    tmem.setSharedAuth(true);
    const others = [new Guest(tmem), new Guest(tmem)];
    for (let i = 0; i < 16; i++) expect(others[i >> 3].newPool({ shared: true, uuid: [BigInt(i + 1), 0n] })).toBe(i & 7);
    const g = new Guest(tmem);
    const used = tmem.usage().usedFrames;
    expect(refusal(() => restoreClient(tmem, g.domain.client, file)).message).toMatch(
      /^pool 1 cannot be created .*every shared pool slot of this VMM is in use/,
    );
    expect(g.domain.client.pools.every((p) => p === null)).toBe(true);
    expect(g.domain.client.destroyedPools.every((p) => p === null)).toBe(true);
    expect(tmem.usage().usedFrames).toBe(used);
    tmem.checkInvariants();
    // Once a shared slot is free, the same file restores.
    expect(others[0].destroyPool(0)).toBe(1);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 2, pages: 1 });
    expect(g.get(0, [1n], 0, 11)).toBe(1);
  });

  it("pages that pass the room check but do not fit (the evictable pages were zero pages): refused, nothing stays", () => {
    const src = newTmem(8);
    const s = new Guest(src);
    s.newPool({ persistent: true });
    for (let i = 0; i < 3; i++) {
      s.fill(10, i + 1);
      expect(s.put(0, [1n], i, 10)).toBe(1);
    }
    const file = saveClient(src, s.domain.client, "s", "xen-4.12-oid3/x86_64");

    const tmem = newTmem(4);
    const other = new Guest(tmem);
    other.newPool({ persistent: true });
    other.newPool();
    for (let i = 0; i < 3; i++) {
      other.fill(10, i + 1);
      expect(other.put(0, [1n], i, 10)).toBe(1);
    }
    other.frame(10).fill(0);
    for (let i = 0; i < 5; i++) expect(other.put(1, [1n], i, 10)).toBe(1); // zero pages: no frame
    const g = new Guest(tmem);
    g.domain.tmem.setPolicy(g.domain.domid, { capPages: 9 });
    const e = refusal(() => restoreClient(tmem, g.domain.client, file));
    expect(e.message).toMatch(/^3 pages do not fit in this VMM's tmem \(page 1 was refused: -12\)/);
    expect(e.offset).toBe(file.length - 4 - 2 * RECORD);
    const c = g.domain.client;
    expect([c.pools.every((p) => p === null), c.destroyedPools.every((p) => p === null), c.persistentPages, c.capPages]).toEqual([
      true,
      true,
      0,
      9,
    ]);
    expect(other.get(0, [1n], 2, 11)).toBe(1);
    expect(other.frame(11)).toEqual(pattern(3));
    tmem.checkInvariants();
  });
});

describe("a restore's room check counts what the pages need", () => {
  /** Fills every free frame with another domain's persistent pages. */
  function fillUp(tmem: ReturnType<typeof newTmem>): void {
    const filler = new Guest(tmem);
    const p = filler.newPool({ persistent: true });
    for (let i = 0; ; i++) {
      filler.fill(10, 1000 + i);
      if (filler.put(p, [9n], i, 10) !== 1) break;
    }
    expect(tmem.usage().freeFrames).toBe(0);
  }

  it("a zero page needs no frame: a domain's save fits back into the room it freed", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    const per = g.newPool({ persistent: true });
    const seeds = [1, 0, 2]; // 0: a zero page
    seeds.forEach((s, i) => {
      if (s === 0) g.frame(10).fill(0);
      else g.fill(10, s);
      expect(g.put(per, [7n], i, 10)).toBe(1);
    });
    fillUp(tmem);
    const file = saveClient(tmem, g.domain.client, "g", g.domain.layout.name);
    expect(g.destroyPool(per)).toBe(1);
    expect(tmem.usage().freeFrames).toBe(2);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 1, pages: 3 });
    seeds.forEach((s, i) => {
      expect(g.get(per, [7n], i, 11)).toBe(1);
      expect(g.frame(11)).toEqual(s === 0 ? new Uint8Array(4096) : pattern(s));
    });
  });

  it("compressed pages need their chunks: four pages kept in one frame restore into that frame", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    tmem.setPolicy(g.domain.domid, { compress: true });
    const per = g.newPool({ persistent: true });
    const page = (s: number) => {
      const p = new Uint8Array(4096);
      p.set(pattern(s).subarray(0, 64));
      return p;
    };
    for (let i = 0; i < 4; i++) {
      g.frame(10).set(page(i + 1));
      expect(g.put(per, [7n], i, 10)).toBe(1);
    }
    expect(tmem.usage().usedFrames).toBe(1);
    fillUp(tmem);
    const file = saveClient(tmem, g.domain.client, "g", g.domain.layout.name);
    expect(g.destroyPool(per)).toBe(1);
    tmem.setPolicy(g.domain.domid, { compress: false }); // the save's policy, not the target's, decides how pages are kept
    expect(tmem.usage().freeFrames).toBe(1);
    expect(restoreClient(tmem, g.domain.client, file)).toEqual({ pools: 1, pages: 4 });
    expect(tmem.usage().freeFrames).toBe(0);
    expect(g.domain.client.compress).toBe(true);
    for (let i = 0; i < 4; i++) {
      expect(g.get(per, [7n], i, 11)).toBe(1);
      expect(g.frame(11)).toEqual(page(i + 1));
    }
  });

  it("pages that need more frames than there are free or evictable are refused before anything changes", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    const per = g.newPool({ persistent: true });
    for (let i = 0; i < 3; i++) {
      g.fill(10, i + 1);
      expect(g.put(per, [7n], i, 10)).toBe(1);
    }
    const file = saveClient(tmem, g.domain.client, "g", g.domain.layout.name);
    fillUp(tmem);
    expect(g.destroyPool(per)).toBe(1);
    const other = new Guest(tmem);
    other.fill(10, 77);
    expect(other.put(other.newPool({ persistent: true }), [1n], 0, 10)).toBe(1);
    expect(tmem.usage().freeFrames).toBe(2);
    expect(refusal(() => restoreClient(tmem, g.domain.client, file)).message).toBe(
      "3 pages do not fit in this VMM's tmem (byte offset 12)",
    );
    expect(g.domain.client.pools[per]).toBeNull();
  });
});
