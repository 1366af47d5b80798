// The object table's backward shift on removal: a member of the run after the removed object
// moves back only if the hole lies between its home and its slot; one homed past the hole stays,
// or it would sit before its home and no lookup would find it again. (The hash only chooses keys.)
import { expect, it } from "vitest";
import { rawIndex, type RawIndex } from "../support/brands.js";
import type { PageHandle } from "../../vmm/store/page-store.js";

interface Inside {
  objectSlots: Int32Array;
  objectHash(pool: number, o: Uint32Array, base: number): number;
}
const inside = (ix: RawIndex) => ix as unknown as Inside;
const oidOf = (k: number) => Uint32Array.from([k, 0, 0, 0, 0, 0]);
const objectHome = (ix: RawIndex, oid: Uint32Array) => inside(ix).objectHash(0, oid, 0) & (inside(ix).objectSlots.length - 1);
/** One hash key for the index that finds the keys and the one they go into (by default each index draws its own). */
const KEY = 0x2f6b1d3;

const oidHomedAt = (ix: RawIndex, home: number, from = 1): number => {
  for (let k = from; ; k++) if (objectHome(ix, oidOf(k)) === home) return k;
};

it("removing an object keeps the objects homed at the next slots where lookups find them", () => {
  const probe = rawIndex(64, KEY);
  const size = inside(probe).objectSlots.length;
  // Every start, so the wrap-around and the slots where wrong arithmetic would move one are all met.
  for (let h = 0; h < size; h++) {
    const keys = [h, (h + 1) % size, (h + 2) % size].map((home) => oidHomedAt(probe, home));
    const ix = rawIndex(64, KEY);
    ix.ensurePoolHandle(0);
    keys.forEach((k, i) => {
      ix.addPage(ix.createObject(0, oidOf(k)), 0, i as PageHandle, -1);
    });
    expect(inside(ix).objectSlots.length).toBe(size);
    ix.removePage(ix.locatePage(0, oidOf(keys[0]), 0), -1);
    expect(ix.findObject(0, oidOf(keys[0]))).toBe(-1);
    for (const [i, k] of keys.entries()) if (i > 0) expect(ix.whereOf(ix.locatePage(0, oidOf(k), 0)), `start ${h}, key ${i}`).toBe(i);
  }
});
