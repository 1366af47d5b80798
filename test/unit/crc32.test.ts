import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "../../vmm/container/crc32.js";

describe("crc32 (traces and save files, without node:zlib)", () => {
  it("gives the check value of the CRC-32 catalogue and zlib's answer on edge inputs", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    for (const b of [new Uint8Array(4096), new Uint8Array(4096).fill(0xff), Uint8Array.of(0x80)]) expect(crc32(b)).toBe(zlibCrc32(b) >>> 0);
  });

  it("agrees with node:zlib's crc32 on any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => crc32(b) === zlibCrc32(b) >>> 0),
      { numRuns: 500 },
    );
  });

  it("gives the CRC-32 of any range of the bytes, as of that range alone", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (b, x, y) => {
        const [from, to] = [x % (b.length + 1), y % (b.length + 1)].sort((p, q) => p - q);
        return crc32(b, from, to) === zlibCrc32(b.subarray(from, to)) >>> 0;
      }),
      { numRuns: 500 },
    );
  });
});
