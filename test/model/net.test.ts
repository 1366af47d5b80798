// The net a rewrite of the data path is proved by: each bug below is realistic, was planted one at
// a time, and once went unseen by every fuzzer. Each is planted again here, in the fuzzing
// worker's copy of the VMM (a preload module patches dist/, in that worker only), and a short
// seeded campaign must find it. What reaches each: capacities across the free-frame bitmap's
// levels, filled (1); caps drawn in MiB across real sizes, converted by the model itself (2);
// saves restored into frozen domains and domains that hold pools (3); oid families built without
// the hash key, with an oracle of how the hash spreads them (4); every LZ4 block checked against
// the format's end-of-block rules (5).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { runFuzz } from "../../fuzz/campaign.js";
import { IMAGE_DIR } from "../support/paths.js";
import { KEY_ONLY_SEEDS, plantedPageIndex } from "../support/planted-index.js";
import { MATCH_INTO_LAST_LITERALS, plantedLz4 } from "../support/planted-lz4.js";

const dist = new URL("../../dist/", import.meta.url).href;
const out = () => mkdtempSync(join(tmpdir(), "tmemvm-net-"));

function plant(code: string): string {
  const file = join(out(), "plant.mjs");
  writeFileSync(file, code.replaceAll("DIST/", dist));
  return pathToFileURL(file).href;
}

/** The first failure of a seeded campaign of `cases` cases of `target` with `preload` planted. */
async function firstFailure(
  target: "model" | "boundary",
  preload: string,
  cases: number,
): Promise<{ case: number; message: string } | undefined> {
  const r = await runFuzz({ target, seed: 1, cases, outDir: out(), imageDir: IMAGE_DIR, preload });
  return r.failuresFound[0];
}

const PLANTS = {
  "a free-frame bitmap whose summary bit stays set when a full word frees a frame": {
    code: `
import { FreeFrames } from "DIST/vmm/store/free-frames.js";
FreeFrames.prototype.free = function (frame) {
  this.levels[0][frame >>> 5] &= ~(1 << (frame & 31));
  this.used--;
};`,
    cases: 200,
    message: /put: result -12, the model expects 1/,
  },
  "the same, at level 2 only (a full level-1 word: 1 024 frames)": {
    code: `
import { FreeFrames } from "DIST/vmm/store/free-frames.js";
FreeFrames.prototype.free = function (frame) {
  const levels = this.levels;
  for (let k = 0, i = frame; k < levels.length && k < 2; k++, i >>>= 5) {
    const was = levels[k][i >>> 5];
    levels[k][i >>> 5] = was & ~(1 << (i & 31));
    if (was !== -1) break;
  }
  this.used--;
};`,
    cases: 300,
    message: /put: result -12, the model expects 1/,
  },
  "a cap not converted from MiB to frames": {
    code: `
import { ControlPlane } from "DIST/vmm/host/control-plane.js";
const apply = ControlPlane.prototype.apply;
ControlPlane.prototype.apply = function (a) {
  const r = apply.call(this, a);
  if (a.action === "cap" && a.capMiB !== null) this.vmm.tmem.setPolicy(this.client(a.domain).domid, { capPages: a.capMiB });
  return r;
};`,
    cases: 60,
    // A put over the unconverted cap, or the cap a save carries (the end-of-case save/restore).
    message: /result -12, the model expects 1|weight\/cap\/compress came back as \d+\/1\//,
  },
  "a restore that ignores the target's freeze": {
    code: `
import { ControlPlane } from "DIST/vmm/host/control-plane.js";
const restore = ControlPlane.prototype.restore;
ControlPlane.prototype.restore = function (ref, file, name) {
  const c = this.client(ref);
  const was = c.frozen;
  if (was) this.vmm.tmem.setPolicy(c.domid, { frozen: false });
  try { return restore.call(this, ref, file, name); } finally { if (was) this.vmm.tmem.setPolicy(c.domid, { frozen: true }); }
};`,
    cases: 400,
    message: /the core restored it, the model refuses it \(it is frozen\)/,
  },
} as const;

describe("bugs the fuzzers once missed, planted one at a time, are found", () => {
  for (const target of ["model", "boundary"] as const) {
    it.each(Object.entries(PLANTS))(`${target}: %s`, async (_, p) => {
      const f = await firstFailure(target, plant(p.code), p.cases);
      expect(f?.message).toMatch(p.message);
    });
  }

  it("a page-index hash whose key only seeds it (compiled with the plant)", async () => {
    const wasm = plantedPageIndex(KEY_ONLY_SEEDS);
    const code = `
import { readFileSync } from "node:fs";
import { Kernels } from "DIST/vmm/store/asset-loader.js";
const planted = new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)}));
Kernels.prototype.pageIndex = function () { return planted; };`;
    for (const target of ["model", "boundary"] as const) {
      const f = await firstFailure(target, plant(code), 60);
      expect(f?.message).toMatch(/the page index's hash does not spread the guests' keys/);
    }
  });

  it("an LZ4 compressor whose last match runs into the block's final 5 bytes (compiled with the plant)", async () => {
    const wasm = plantedLz4(MATCH_INTO_LAST_LITERALS);
    const code = `
import { readFileSync } from "node:fs";
import { Kernels } from "DIST/vmm/store/asset-loader.js";
import { Lz4 } from "DIST/vmm/store/kernels.js";
const planted = new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)}));
Kernels.prototype.lz4 = function () { return new Lz4(planted); };`;
    for (const target of ["model", "boundary"] as const) {
      const f = await firstFailure(target, plant(code), 60);
      expect(f?.message).toMatch(
        /LZ4 block of a 4096-byte page .*: the last match ends at byte 4096 of 4096: the last 5 bytes must be literals/,
      );
    }
  });
});
