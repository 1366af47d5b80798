// Guest RAM on its own: the zero-page scans (the Wasm one over guest RAM, the store's plain one over
// bytes) against a plain JavaScript scan with one non-zero byte at every position of a page, and
// the address checks on 64-bit (lo, hi) register halves, the high half in every sign, and the
// checked reads and writes, which fail as the value NOT_RAM.
import { describe, expect, it } from "vitest";
import { GuestMemory, NOT_RAM, type Gfn, type GuestAddress } from "../../vmm/boundary/guest-memory.js";
import { isZeroPage } from "../../vmm/store/page-codec.js";
import { testKernels } from "../support/kernels.js";

const PAGE = 4096;

/** The oracle: a byte loop, nothing clever. */
function plainIsZero(bytes: Uint8Array, offset: number): boolean {
  for (let i = offset; i < offset + PAGE; i++) if (bytes[i] !== 0) return false;
  return true;
}

describe("zero-page scan", () => {
  const ram = new GuestMemory(1, testKernels);
  const bytes = new Uint8Array(3 * PAGE);
  const plain = { bytes, isZero: (offset: number) => isZeroPage(bytes.subarray(offset, offset + PAGE)) };
  const guest = { bytes: ram.bytes, isZero: (offset: number) => ram.isZero((offset / PAGE) as Gfn) };
  const scans = [
    { name: "guest RAM (Wasm kernel)", mem: guest, pages: [0, PAGE, ram.sizeBytes / 2, ram.sizeBytes - PAGE] },
    { name: "plain bytes", mem: plain, pages: [0, PAGE, 2 * PAGE] },
  ];

  for (const { name, mem, pages } of scans) {
    it(`${name}: a page with one non-zero byte, at each of its 4096 positions, is not zero`, () => {
      const bytes = mem.bytes;
      for (const page of pages) {
        expect(mem.isZero(page)).toBe(true);
        for (const value of [0x01, 0x80]) {
          const wrong: number[] = [];
          for (let i = 0; i < PAGE; i++) {
            bytes[page + i] = value;
            if (mem.isZero(page) !== plainIsZero(bytes, page)) wrong.push(i);
            bytes[page + i] = 0;
          }
          expect(wrong, `page at ${page}, byte value ${value}: positions the scan got wrong`).toEqual([]);
        }
        expect(mem.isZero(page)).toBe(true);
      }
    });

    it(`${name}: bytes just outside a page do not make it non-zero`, () => {
      const bytes = mem.bytes;
      const page = pages[1];
      bytes[page - 1] = 1;
      bytes[page + PAGE] = 1;
      expect(mem.isZero(page)).toBe(true);
      expect(plainIsZero(bytes, page)).toBe(true);
      expect(mem.isZero(page - PAGE)).toBe(false);
      expect(mem.isZero(page + PAGE)).toBe(false);
      bytes[page - 1] = 0;
      bytes[page + PAGE] = 0;
    });

    it(`${name}: a page full of non-zero bytes, and a page of random sparse bytes`, () => {
      const bytes = mem.bytes;
      const page = pages[0];
      bytes.fill(0x5a, page, page + PAGE);
      expect(mem.isZero(page)).toBe(false);
      bytes.fill(0, page, page + PAGE);
      let s = 12345;
      for (let n = 0; n < 200; n++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const at = page + (s % PAGE);
        bytes[at] = (s >>> 16) & 0xff;
        expect(mem.isZero(page)).toBe(plainIsZero(bytes, page));
        bytes[at] = 0;
      }
    });
  }

  it("a guest frame's view is the page at that offset, in RAM itself, made once", () => {
    const m = new GuestMemory(1, testKernels);
    m.bytes[PAGE] = 7;
    const v = m.frameView(1 as Gfn);
    expect(v.length).toBe(PAGE);
    expect(v[0]).toBe(7);
    v[1] = 9;
    expect(m.bytes[PAGE + 1]).toBe(9);
    expect(m.frameView(1 as Gfn)).toBe(v);
  });
});

describe("guest RAM", () => {
  it("is 1..4095 whole MiB", () => {
    for (const bad of [0, -1, 1.5, 4096, Number.NaN])
      expect(() => new GuestMemory(bad, testKernels)).toThrow(new RangeError(`guest RAM must be 1..4095 MiB, got ${bad}`));
    // the largest is reserved, not touched: the OS maps its pages on first use
    expect(new GuestMemory(4095, testKernels).frames).toBe(4095 * 256);
    const m = new GuestMemory(2, testKernels);
    expect(m.sizeBytes).toBe(2 * 1024 * 1024);
    expect(m.bytes.length).toBe(2 * 1024 * 1024);
    expect(m.frames).toBe(512);
    expect(m.memory.buffer.byteLength).toBe(2 * 1024 * 1024);
  });

  it("a frame view is that frame's 4 KiB of RAM, the same view each time", () => {
    const m = new GuestMemory(1, testKernels);
    const v = m.frameView(5 as Gfn);
    expect(v.length).toBe(PAGE);
    expect(m.frameView(5 as Gfn)).toBe(v);
    v[0] = 1;
    v[PAGE - 1] = 2;
    expect(m.bytes[5 * PAGE]).toBe(1);
    expect(m.bytes[6 * PAGE - 1]).toBe(2);
    expect(m.frameView(6 as Gfn)[0]).toBe(0);
    expect(m.frameView(0 as Gfn).length).toBe(PAGE);
    expect(m.frameView(0 as Gfn).byteOffset).toBe(0);
    expect(m.frameAddress(5 as Gfn)).toBe(5 * PAGE);
  });

  const size = 1024 * 1024;
  const m = new GuestMemory(1, testKernels);
  // (lo, hi) as the int32 halves the Wasm import passes
  const cases: [string, number, number, number, number | typeof NOT_RAM][] = [
    ["the first byte", 0, 0, 1, 0],
    ["a struct ending exactly at the end", size - 56, 0, 56, size - 56],
    ["a struct one byte past the end", size - 55, 0, 56, NOT_RAM],
    ["an address exactly at the end, zero length", size, 0, 0, size],
    ["an address at the end, one byte", size, 0, 1, NOT_RAM],
    ["lo with its top bit set (2^31)", 0x80000000 | 0, 0, 1, NOT_RAM],
    ["lo = 2^32 - 1", -1, 0, 1, NOT_RAM],
    ["hi = 1", 0, 1, 1, NOT_RAM],
    ["hi = 2^31 (negative as int32)", 0, 0x80000000 | 0, 1, NOT_RAM],
    ["hi = 2^32 - 1 (-1 as int32)", 0, -1, 1, NOT_RAM],
    ["hi = 2^32 - 1 with a valid lo", 0x100, -1, 56, NOT_RAM],
  ];
  for (const [what, lo, hi, len, want] of cases) {
    it(`address: ${what} -> ${String(want)}`, () => {
      expect(m.address(lo, hi, len)).toBe(want);
    });
  }

  const frames: [string, number, number, number | typeof NOT_RAM][] = [
    ["frame 0", 0, 0, 0],
    ["the last frame", 255, 0, 255],
    ["one past the last frame", 256, 0, NOT_RAM],
    ["frame 2^31", 0x80000000 | 0, 0, NOT_RAM],
    ["frame 2^32 - 1", -1, 0, NOT_RAM],
    ["frame 2^32 (hi = 1)", 0, 1, NOT_RAM],
    ["hi = 2^31 (negative as int32)", 1, 0x80000000 | 0, NOT_RAM],
    ["hi = 2^32 - 1 (-1 as int32)", 1, -1, NOT_RAM],
  ];
  for (const [what, lo, hi, want] of frames) {
    it(`gfn: ${what} -> ${String(want)}`, () => {
      expect(m.gfn(lo, hi)).toBe(want);
    });
  }

  it("reads and writes only whole ranges inside RAM; anything else is NOT_RAM and changes nothing", () => {
    const r = new GuestMemory(1, testKernels);
    const end = r.address(size - 4, 0, 4) as GuestAddress;
    expect(r.write(end, Uint8Array.of(1, 2, 3, 4))).toBe(true);
    expect(r.read(end, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(r.readU32(end)).toBe(0x04030201);
    expect(r.write(end, Uint8Array.of(9, 9, 9, 9, 9))).toBe(NOT_RAM);
    expect(r.read(end, 5)).toBe(NOT_RAM);
    expect(r.slice(end, 5)).toBe(NOT_RAM);
    expect(r.bytes[size - 4]).toBe(1);
    const last = r.address(size - 2, 0, 2) as GuestAddress;
    expect(r.readU32(last)).toBe(NOT_RAM);
    expect(r.writeU32(last, 7)).toBe(NOT_RAM);
    expect(r.bytes[size - 2]).toBe(3);
    expect(r.offset(end, 4, 0)).toBe(size);
    expect(r.offset(end, 4, 1)).toBe(NOT_RAM);
    expect(r.offset(end, -1, 1)).toBe(NOT_RAM);
    const view = r.slice(end, 4) as Uint8Array;
    view[0] = 0x55;
    expect(r.bytes[size - 4]).toBe(0x55);
  });

  it("hands a struct to its decoder, aligned or not, and refuses one that leaves RAM", () => {
    const r = new GuestMemory(1, testKernels);
    const scratch = new Uint8Array(16);
    const seen: number[][] = [];
    const d = {
      scratch,
      scratchWords: new Int32Array(scratch.buffer),
      decode: (w: Int32Array, at: number) => seen.push([...new Uint8Array(w.buffer, w.byteOffset + 4 * at, 16)]),
    };
    for (let i = 0; i < 32; i++) r.bytes[0x100 + i] = i + 1;
    expect(r.decodeStruct(0x100 as GuestAddress, d)).toBe(true);
    expect(r.decodeStruct(0x103 as GuestAddress, d)).toBe(true);
    expect(seen).toEqual([[...Array(16)].map((_, i) => i + 1), [...Array(16)].map((_, i) => i + 4)]);
    expect(r.decodeStruct((size - 15) as GuestAddress, d)).toBe(false);
    expect(r.decodeStruct((size - 16) as GuestAddress, d)).toBe(true);
    expect(seen).toHaveLength(3);
  });
});
