// The recorder's memory of pages already in a trace: a page is named by reference only when its
// bytes are equal to the remembered page, whatever its hash, and what is remembered is bounded.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_COMPARE_WASM } from "../../vmm/trace/page-compare.js";
import { PageRefs } from "../../vmm/trace/page-refs.js";

const PAGE = 4096;
const ref = (record: number) => ({ record, list: 0 as const, index: 1 });
const page = (seed: number) => {
  const p = new Uint8Array(PAGE);
  for (let i = 0; i < PAGE; i++) p[i] = (seed * 131 + i * 7 + (i >> 8)) & 0xff;
  return p;
};

/** A guest's RAM of 16 frames, `p` written into frame `frame`: the memory and the frame's offset. */
function ramWith(p: Uint8Array, frame = 0, ram = new WebAssembly.Memory({ initial: 1 })): [WebAssembly.Memory, number] {
  new Uint8Array(ram.buffer).set(p, frame * PAGE);
  return [ram, frame * PAGE];
}

describe("PageRefs", () => {
  it("names the first copy of bytes written again, from whichever frame or memory", () => {
    const refs = new PageRefs();
    const ram = new WebAssembly.Memory({ initial: 1 });
    expect(refs.refOrRemember(...ramWith(page(1), 2, ram), ref(5))).toBeNull();
    expect(refs.refOrRemember(...ramWith(page(1), 6, ram), ref(9))).toEqual(ref(5));
    // Another guest's RAM: the same bytes all the same.
    expect(refs.refOrRemember(...ramWith(page(1), 1), ref(12))).toEqual(ref(5));
    expect(refs.refOrRemember(...ramWith(page(2), 3, ram), ref(13))).toBeNull();
  });

  it("never names a page that differs in any byte, sampled by the hash or not", () => {
    const ram = new WebAssembly.Memory({ initial: 1 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PAGE - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const refs = new PageRefs();
        const a = page(3);
        refs.refOrRemember(...ramWith(a, 0, ram), ref(1));
        const b = a.slice();
        b[at]! ^= flip;
        return (
          refs.refOrRemember(...ramWith(b, 1, ram), ref(2)) === null && refs.refOrRemember(...ramWith(b, 2, ram), ref(3))!.record === 2
        );
      }),
      { numRuns: 300 },
    );
  });

  it("keeps pages alike in every sampled word apart, and searches a bounded number of them", () => {
    const refs = new PageRefs();
    const ram = new WebAssembly.Memory({ initial: 1 });
    // Word 1 is never sampled (one word in 16 is, from word 0): 12 pages share every sampled word.
    const alike = Array.from({ length: 12 }, (_, k) => {
      const p = page(7);
      new DataView(p.buffer).setUint32(4, k, true);
      return p;
    });
    for (const [k, p] of alike.entries()) expect(refs.refOrRemember(...ramWith(p, 0, ram), ref(k + 1))).toBeNull();
    // The latest few are found; the earliest fell off their chain, so are written anew, never wrongly named.
    expect(refs.refOrRemember(...ramWith(alike[11]!, 1, ram), ref(100))).toEqual(ref(12));
    expect(refs.refOrRemember(...ramWith(alike[0]!, 1, ram), ref(101))).toBeNull();
  });

  it("forgets the oldest pages past its bound, and then writes them anew", () => {
    const refs = new PageRefs(3);
    const ram = new WebAssembly.Memory({ initial: 1 });
    for (let k = 1; k <= 4; k++) expect(refs.refOrRemember(...ramWith(page(k), k, ram), ref(k))).toBeNull();
    expect(refs.refOrRemember(...ramWith(page(1), 0, ram), ref(20))).toBeNull();
    expect(refs.refOrRemember(...ramWith(page(1), 5, ram), ref(21))).toEqual(ref(20));
    expect(refs.refOrRemember(...ramWith(page(4), 6, ram), ref(22))).toEqual(ref(4));
  });

  it("remembers more pages than its first memory holds, each one still found", () => {
    const refs = new PageRefs(40);
    const ram = new WebAssembly.Memory({ initial: 1 });
    for (let k = 0; k < 40; k++) expect(refs.refOrRemember(...ramWith(page(k), k % 16, ram), ref(k + 1))).toBeNull();
    for (let k = 0; k < 40; k++) expect(refs.refOrRemember(...ramWith(page(k), 15 - (k % 16), ram), ref(99))).toEqual(ref(k + 1));
  });
});

describe("the page compare module", () => {
  it("is valid Wasm, and compares the last byte of a page too", () => {
    expect(WebAssembly.validate(PAGE_COMPARE_WASM)).toBe(true);
    const refs = new PageRefs();
    const ram = new WebAssembly.Memory({ initial: 1 });
    const a = page(9);
    refs.refOrRemember(...ramWith(a, 0, ram), ref(1));
    const b = a.slice();
    b[PAGE - 1]! ^= 1;
    expect(refs.refOrRemember(...ramWith(b, 1, ram), ref(2))).toBeNull();
  });
});
