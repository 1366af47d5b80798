// isZeroPage on views that are not word-aligned or not a whole number of words: the byte path
// must see every byte, and the word path must not take a view whose tail is not a whole word.
import { describe, expect, it } from "vitest";
import { isZeroPage } from "../../vmm/store/page-codec.js";

describe("isZeroPage", () => {
  it("an unaligned all-zero view is zero; one non-zero byte anywhere in it is not", () => {
    const buf = new Uint8Array(4097 + 8);
    const view = buf.subarray(1, 4097);
    expect(isZeroPage(view)).toBe(true);
    for (const at of [0, 1, 2047, 4095]) {
      view[at] = 1;
      expect(isZeroPage(view)).toBe(false);
      view[at] = 0;
    }
    // A byte just past the view is not part of it.
    buf[4097] = 9;
    expect(isZeroPage(view)).toBe(true);
  });

  it("an aligned view whose length is not a multiple of 4 is checked to its last byte", () => {
    const buf = new Uint8Array(16);
    expect(isZeroPage(buf.subarray(0, 5))).toBe(true);
    buf[4] = 1;
    expect(isZeroPage(buf.subarray(0, 5))).toBe(false);
    expect(isZeroPage(buf.subarray(0, 4))).toBe(true);
  });
});
