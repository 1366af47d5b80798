// The op reader on its own, against offsets worked out here by hand from Xen's struct tmem_op
// declarations and the two ABIs (x86_64: 8-byte longs aligned to 8; i386: 4-byte longs, and
// 64-bit members aligned to 4 inside structs). Nothing below reads hypercall-abi's layout offsets.
import { describe, expect, it } from "vitest";
import { OP_LAYOUTS, type LayoutName } from "../../hypercall-abi/op-layouts.js";
import { OpReader } from "../../vmm/boundary/op-reader.js";
import { OpArgs } from "../../vmm/boundary/op-args.js";
import { GuestMemory, type GuestAddress } from "../../vmm/boundary/guest-memory.js";
import { testKernels } from "../support/kernels.js";

interface Hand {
  size: number;
  /** oid: byte offset and number of 32-bit words */
  gen: {
    oid: number;
    oidWords: number;
    index: number;
    tmemOffset: number;
    pfnOffset: number;
    len: number;
    cmfn: number;
    cmfnWords: number;
  };
  ctrl: { subop: number; cliId: number; arg1: number; arg2: number; oid: number; oidWords: number; buf: number; bufWords: number } | null;
}

// cmd at 0, pool_id at 4, the union at 8 in every layout; creat is uuid[2] at 8, flags 24, arg1 28.
const HAND: Record<LayoutName, Hand> = {
  "xen-4.0-legacy/x86_64": {
    size: 40,
    gen: { oid: 8, oidWords: 2, index: 16, tmemOffset: 20, pfnOffset: 24, len: 28, cmfn: 32, cmfnWords: 2 },
    ctrl: { subop: 8, cliId: 12, arg1: 16, arg2: 20, oid: 24, oidWords: 2, buf: 32, bufWords: 2 },
  },
  "xen-4.0-legacy/x86_32": {
    size: 36,
    gen: { oid: 8, oidWords: 2, index: 16, tmemOffset: 20, pfnOffset: 24, len: 28, cmfn: 32, cmfnWords: 1 },
    ctrl: { subop: 8, cliId: 12, arg1: 16, arg2: 20, oid: 24, oidWords: 2, buf: 32, bufWords: 1 },
  },
  "xen-4.1-oid3/x86_64": {
    size: 56,
    gen: { oid: 8, oidWords: 6, index: 32, tmemOffset: 36, pfnOffset: 40, len: 44, cmfn: 48, cmfnWords: 2 },
    ctrl: { subop: 8, cliId: 12, arg1: 16, arg2: 20, oid: 24, oidWords: 6, buf: 48, bufWords: 2 },
  },
  "xen-4.1-oid3/x86_32": {
    size: 52,
    gen: { oid: 8, oidWords: 6, index: 32, tmemOffset: 36, pfnOffset: 40, len: 44, cmfn: 48, cmfnWords: 1 },
    ctrl: { subop: 8, cliId: 12, arg1: 16, arg2: 20, oid: 24, oidWords: 6, buf: 48, bufWords: 1 },
  },
  "xen-4.12-oid3/x86_64": {
    size: 56,
    gen: { oid: 8, oidWords: 6, index: 32, tmemOffset: 36, pfnOffset: 40, len: 44, cmfn: 48, cmfnWords: 2 },
    ctrl: null,
  },
  "xen-4.12-oid3/x86_32": {
    size: 52,
    gen: { oid: 8, oidWords: 6, index: 32, tmemOffset: 36, pfnOffset: 40, len: 44, cmfn: 48, cmfnWords: 1 },
    ctrl: null,
  },
};

const CREAT_CMDS = [1, 101, 102]; // NEW_POOL, AUTH, RESTORE_NEW
const GEN_CMDS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 100, 103, 0x80000001, 0xffffffff];

/** A struct whose every 32-bit word is distinct, with the top bit set in half of them. */
function struct(size: number, cmd: number, seed: number): { bytes: Uint8Array; word: (off: number) => number } {
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  for (let off = 0; off < size; off += 4)
    dv.setUint32(off, (((seed * 0x9e3779b1) ^ (off * 0x01000193)) + (off & 4 ? 0x80000000 : 0)) >>> 0, true);
  dv.setUint32(0, cmd >>> 0, true);
  return { bytes, word: (off) => dv.getUint32(off, true) };
}

/** Reads `bytes` placed at byte `at` of a RAM buffer, as the boundary would. */
function readAt(reader: OpReader, bytes: Uint8Array, at: number, a = new OpArgs(), cmfn = new Uint32Array([7, 7])) {
  const ram = new GuestMemory(1, testKernels);
  ram.bytes.fill(0xa5, 0, 256);
  ram.bytes.set(bytes, at);
  reader.read(ram, at as GuestAddress, a, cmfn);
  return { a, cmfn };
}

const words = (word: (off: number) => number, off: number, n: number) =>
  Array.from({ length: 6 }, (_, i) => (i < n ? word(off + 4 * i) : 0));

for (const [name, hand] of Object.entries(HAND) as [LayoutName, Hand][]) {
  describe(`op reader, ${name}`, () => {
    const layout = OP_LAYOUTS.get(name)!;
    const reader = new OpReader(layout);

    it(`is ${hand.size} bytes`, () => {
      expect(layout.size).toBe(hand.size);
    });

    for (const at of [0, 4, 1, 2, 3, 200 - hand.size]) {
      it(`reads the gen fields of every data command, struct at byte ${at}`, () => {
        for (const cmd of GEN_CMDS) {
          const { bytes, word } = struct(hand.size, cmd, cmd);
          const { a, cmfn } = readAt(reader, bytes, at);
          const g = hand.gen;
          expect(a.cmd).toBe(cmd >>> 0);
          expect(a.poolId).toBe(word(4) | 0);
          expect([...a.oid]).toEqual(words(word, g.oid, g.oidWords));
          expect(a.index).toBe(word(g.index));
          expect(a.tmemOffset).toBe(word(g.tmemOffset));
          expect(a.pfnOffset).toBe(word(g.pfnOffset));
          expect(a.len).toBe(word(g.len));
          expect(cmfn[0]).toBe(word(g.cmfn));
          expect(cmfn[1]).toBe(g.cmfnWords === 2 ? word(g.cmfn + 4) : 0);
        }
      });

      it(`reads the creat fields of NEW_POOL, AUTH and RESTORE_NEW, struct at byte ${at}`, () => {
        for (const cmd of CREAT_CMDS) {
          const { bytes, word } = struct(hand.size, cmd, cmd + 1);
          const { a, cmfn } = readAt(reader, bytes, at);
          expect(a.cmd).toBe(cmd);
          expect(a.poolId).toBe(word(4) | 0);
          expect([...a.uuid]).toEqual([word(8), word(12), word(16), word(20)]);
          expect(a.flags).toBe(word(24));
          expect(a.arg1).toBe(word(28));
          // no frame: cmfn is cleared, whatever the previous op left there
          expect([...cmfn]).toEqual([0, 0]);
        }
      });

      it(`reads TMEM_CONTROL as ${hand.ctrl ? "the ctrl fields" : "a data op (this layout has no ctrl)"}, struct at byte ${at}`, () => {
        const { bytes, word } = struct(hand.size, 0, 77);
        const { a, cmfn } = readAt(reader, bytes, at);
        expect(a.cmd).toBe(0);
        expect(a.poolId).toBe(word(4) | 0);
        const c = hand.ctrl;
        if (c) {
          expect(a.subop).toBe(word(c.subop));
          expect(a.cliId).toBe(word(c.cliId));
          expect(a.ctrlArg1).toBe(word(c.arg1));
          expect(a.ctrlArg2).toBe(word(c.arg2));
          expect([...a.oid]).toEqual(words(word, c.oid, c.oidWords));
          expect(a.ctrlBufLo).toBe(word(c.buf));
          expect(a.ctrlBufHi).toBe(c.bufWords === 2 ? word(c.buf + 4) : 0);
          expect([...cmfn]).toEqual([0, 0]);
        } else {
          expect([...a.oid]).toEqual(words(word, hand.gen.oid, hand.gen.oidWords));
          expect(a.index).toBe(word(hand.gen.index));
          expect(cmfn[0]).toBe(word(hand.gen.cmfn));
          expect(cmfn[1]).toBe(hand.gen.cmfnWords === 2 ? word(hand.gen.cmfn + 4) : 0);
        }
      });
    }

    it("reads nothing outside the struct: the bytes around it do not matter", () => {
      const { bytes } = struct(hand.size, 4, 5);
      const one = readAt(reader, bytes, 64);
      const ram = new GuestMemory(1, testKernels);
      ram.bytes.set(bytes, 64);
      const a = new OpArgs();
      const cmfn = new Uint32Array(2);
      reader.read(ram, 64 as GuestAddress, a, cmfn);
      expect({ ...a, oid: [...a.oid], uuid: [...a.uuid] }).toEqual({ ...one.a, oid: [...one.a.oid], uuid: [...one.a.uuid] });
      expect([...cmfn]).toEqual([...one.cmfn]);
    });

    it("a second read with high words now zero leaves none of the first read's high words", () => {
      const { bytes, word } = struct(hand.size, 4, 9);
      const a = new OpArgs();
      const cmfn = new Uint32Array(2);
      readAt(reader, bytes, 8, a, cmfn);
      const zeroed = bytes.slice();
      zeroed.fill(0, 8);
      readAt(reader, zeroed, 8, a, cmfn);
      expect([...a.oid]).toEqual([0, 0, 0, 0, 0, 0]);
      expect([...cmfn]).toEqual([0, 0]);
      expect(a.poolId).toBe(word(4) | 0);
    });
  });
}

describe("op reader construction", () => {
  it("refuses a layout with a field that is not 4-byte aligned", () => {
    const good = OP_LAYOUTS.get("xen-4.12-oid3/x86_64")!;
    const fields = new Map(good.fields);
    const [path, f] = [...fields][2];
    fields.set(path, { ...f, offset: f.offset + 2 });
    expect(() => new OpReader({ ...good, fields })).toThrow(/not 4-byte aligned/);
  });
});
