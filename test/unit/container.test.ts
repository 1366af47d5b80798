// The container below save files and traces (vmm/container/): its header and its CRC-32 seals,
// checked against bytes built here from the documented layout with node:zlib's CRC-32 (not with
// the module's writer), every refusal with its byte offset, and both formats reading through it.
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSeal, encodeRecord, readRecord, sealAt, sealHolds } from "../../vmm/container/checksum.js";
import { ContainerError } from "../../vmm/container/container-error.js";
import { encodeHeader, isCutInMagic, readHeader, type ContainerKind } from "../../vmm/container/header.js";
import { readSaveFile, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { decodeTrace, TraceError } from "../../vmm/trace/trace-format.js";

class TestError extends ContainerError {}
const KIND: ContainerKind<TestError> = {
  magic: "TMXX",
  noun: "test file",
  refuseVersion: (v) => (v === 3 ? null : `version ${v} refused`),
  error: (message, offset) => new TestError(message, offset),
};

/** "magic" u16 version u16 0 u32 metaLen meta u32 crc32(all before), as the format's comment draws it. */
function header(magic: string, version: number, metaText: string): Buffer {
  const meta = Buffer.from(metaText);
  const fixed = Buffer.alloc(12);
  fixed.write(magic, 0, "latin1");
  fixed.writeUInt16LE(version, 4);
  fixed.writeUInt32LE(meta.length, 8);
  const body = Buffer.concat([fixed, meta]);
  const seal = Buffer.alloc(4);
  seal.writeUInt32LE(crc32(body) >>> 0);
  return Buffer.concat([body, seal]);
}

function refusal(f: () => unknown): ContainerError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ContainerError);
    return e as ContainerError;
  }
  throw new Error("no refusal");
}

describe("container header", () => {
  it("is laid out as documented, for any metadata object", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.integer({ min: 0, max: 0xffff }), (meta, version) => {
        const bytes = encodeHeader("TMXX", version, meta);
        expect(Buffer.from(bytes)).toEqual(header("TMXX", version, JSON.stringify(meta)));
      }),
      { numRuns: 200 },
    );
  });

  it("reads back what it wrote, and says where what follows begins", () => {
    const meta = { a: 1, b: ["x", null], c: { d: true } };
    const bytes = Buffer.concat([encodeHeader("TMXX", 3, meta), Buffer.from("rest")]);
    const h = readHeader(bytes, KIND);
    expect(h).toEqual({ version: 3, meta, end: bytes.length - 4 });
  });

  const good = header("TMXX", 3, '{"k":1}');
  const flipped = (at: number) => {
    const b = Buffer.from(good);
    b[at] ^= 1;
    return b;
  };
  const refusals: [string, Uint8Array, string][] = [
    ["another magic", header("TMXY", 3, "{}"), "not a test file (no TMXX magic) (byte offset 0)"],
    ["three bytes", Buffer.from("TMX"), "not a test file (no TMXX magic) (byte offset 0)"],
    ["the magic alone", Buffer.from("TMXX"), "truncated header (byte offset 4)"],
    ["15 bytes", good.subarray(0, 15), "truncated header (byte offset 15)"],
    ["a version the kind refuses", header("TMXX", 4, "{}"), "version 4 refused (byte offset 4)"],
    ["metadata cut short", good.subarray(0, good.length - 1), `truncated header (byte offset ${good.length - 1})`],
    ["a flipped metadata byte", flipped(13), `header checksum mismatch (byte offset ${good.length - 4})`],
    ["a flipped reserved byte", flipped(6), `header checksum mismatch (byte offset ${good.length - 4})`],
    ["metadata that is not JSON", header("TMXX", 3, "{nope"), "header metadata is not valid JSON (byte offset 12)"],
    ["no metadata", header("TMXX", 3, ""), "header metadata is not valid JSON (byte offset 12)"],
    ["metadata null", header("TMXX", 3, "null"), "header metadata is not a JSON object (byte offset 12)"],
    ["metadata a number", header("TMXX", 3, "7"), "header metadata is not a JSON object (byte offset 12)"],
    ["metadata an array", header("TMXX", 3, "[]"), "header metadata is not a JSON object (byte offset 12)"],
  ];
  for (const [what, bytes, message] of refusals) {
    it(`refuses ${what}, with the kind's own error`, () => {
      const e = refusal(() => readHeader(bytes, KIND));
      expect(e).toBeInstanceOf(TestError);
      expect(e.message).toBe(message);
    });
  }

  it("tells a file cut inside its magic (empty included) from one with another magic", () => {
    for (const n of [0, 1, 2, 3]) expect(isCutInMagic(Buffer.from("TMXX").subarray(0, n), "TMXX")).toBe(true);
    for (const b of ["TMXX", "TMXXY", "X", "TMY"]) expect(isCutInMagic(Buffer.from(b), "TMXX")).toBe(false);
  });
});

describe("container seals", () => {
  it("a record is u32 length, body, u32 CRC-32 of the body; read back with where the next begins", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 20 }), (body, after) => {
        const rec = encodeRecord(body);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(body.length);
        const seal = Buffer.alloc(4);
        seal.writeUInt32LE(crc32(body) >>> 0);
        expect(Buffer.from(rec)).toEqual(Buffer.concat([len, body, seal]));
        const file = Buffer.concat([Buffer.from("pre"), rec, after]);
        const r = readRecord(file, 3, "the record", KIND.error);
        expect(Buffer.from(r.body)).toEqual(Buffer.from(body));
        expect(r.next).toBe(3 + rec.length);
      }),
      { numRuns: 200 },
    );
  });

  it("a record cut short or with a bad seal is refused at its start", () => {
    const file = Buffer.concat([Buffer.from("pre"), encodeRecord(Buffer.from("hello"))]);
    const read = (f: Uint8Array) => refusal(() => readRecord(f, 3, "record 7", KIND.error));
    expect(read(file.subarray(0, 6)).message).toBe("truncated in the length of record 7 (byte offset 3)");
    expect(read(file.subarray(0, file.length - 1)).message).toBe("truncated inside record 7 (byte offset 3)");
    const bad = Buffer.from(file);
    bad[9] ^= 0x80;
    const e = read(bad);
    expect(e).toBeInstanceOf(TestError);
    expect(e.message).toBe("checksum mismatch in record 7 (byte offset 3)");
  });

  it("a seal written after a block holds; any flipped bit in the block or the seal breaks it, named by what it covers", () => {
    const out = new Uint8Array(40);
    out.set(Buffer.from("some block of bytes"), 5);
    sealAt(out, 5, 30);
    expect(Buffer.from(out.subarray(30, 34)).readUInt32LE()).toBe(crc32(out.subarray(5, 30)) >>> 0);
    expect(sealHolds(out, 5, 30)).toBe(true);
    for (const at of [5, 17, 29, 30, 33]) {
      const bad = out.slice();
      bad[at] ^= 4;
      expect(sealHolds(bad, 5, 30)).toBe(false);
      expect(refusal(() => checkSeal(bad, 5, 30, "page data", KIND.error)).message).toBe("page data checksum mismatch (byte offset 30)");
    }
  });
});

describe("both formats read through the container", () => {
  it("a save file's header is the container's: its refusals are SaveFileErrors worded alike", () => {
    expect(refusal(() => readSaveFile(header("TMTR", 1, "{}"))).message).toBe("not a tmemvm save file (no TMSV magic) (byte offset 0)");
    expect(refusal(() => readSaveFile(header("TMSV", 1, "null")))).toBeInstanceOf(SaveFileError);
    expect(refusal(() => readSaveFile(header("TMSV", 1, "null"))).message).toBe("header metadata is not a JSON object (byte offset 12)");
  });

  it("a save file whose sealed metadata lacks its pools, or holds a pool that is not an object, is refused, not a crash", () => {
    const withPages = (metaText: string) => Buffer.concat([header("TMSV", 1, metaText), Buffer.from([0, 0, 0, 0])]);
    expect(refusal(() => readSaveFile(withPages('{"pageCount":0}'))).message).toBe("header metadata lacks its pools (byte offset 12)");
    expect(refusal(() => readSaveFile(withPages('{"pageCount":0,"pools":[null]}'))).message).toBe("bad pool null (byte offset 12)");
  });

  it("a trace's header is the container's: its refusals are TraceErrors worded alike", () => {
    expect(refusal(() => decodeTrace(header("TMSV", 2, "{}"))).message).toBe("not a tmemvm trace (no TMTR magic) (byte offset 0)");
    const e = refusal(() => decodeTrace(header("TMTR", 2, "[1]")));
    expect(e).toBeInstanceOf(TraceError);
    expect(e.message).toBe("header metadata is not a JSON object (byte offset 12)");
  });

  it("a trace cut inside its magic, empty included, is incomplete, not another kind of file", () => {
    for (const cut of ["", "T", "TM", "TMT"]) {
      const e = refusal(() => decodeTrace(Buffer.from(cut)));
      expect(e).toBeInstanceOf(TraceError);
      expect(e.message).toBe(
        `incomplete trace: truncated at byte ${cut.length}, inside its header (the run was stopped before anything was recorded) (byte offset ${cut.length})`,
      );
    }
    expect(refusal(() => decodeTrace(Buffer.from("TMS"))).message).toBe("not a tmemvm trace (no TMTR magic) (byte offset 0)");
  });
});
