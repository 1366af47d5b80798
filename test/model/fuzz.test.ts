// Short, seeded, bounded campaigns of every fuzzer; proof that the fuzzers find bugs planted in
// the worker's copy of the VMM (a preload module patches dist/, in that worker only) and save a
// replayable trace; and that the harness survives what a broken VMM does: a case that never
// returns, an exception while a crashed guest is torn down.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { runFuzz } from "../../fuzz/campaign.js";
import { EFAULT } from "../../hypercall-abi/constants.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { IMAGE_DIR } from "../support/paths.js";

const imageDir = IMAGE_DIR;
const dist = new URL("../../dist/", import.meta.url).href;
const out = () => mkdtempSync(join(tmpdir(), "tmemvm-fuzz-"));

/** A module that patches the worker's VMM before its first case. */
function plant(code: string): string {
  const file = join(out(), "plant.mjs");
  writeFileSync(file, code.replaceAll("DIST/", dist));
  return pathToFileURL(file).href;
}

describe("seeded campaigns find nothing wrong", () => {
  it.each([
    ["model", 40],
    ["boundary", 40],
    ["guest", 3],
    ["coverage", 150],
  ] as const)("%s: %i cases", async (target, cases) => {
    const r = await runFuzz({ target, seed: 20261123, cases, outDir: out(), imageDir });
    expect(r.failuresFound).toEqual([]);
    expect(r.cases).toBe(cases);
    expect(r.execs).toBeGreaterThanOrEqual(cases);
    if (target === "coverage") expect(r.coverage!.covered).toBeGreaterThan(800);
  });
});

const BROKEN_RANGE = plant(`
import { GuestMemory } from "DIST/vmm/boundary/guest-memory.js";
GuestMemory.prototype.range = function (lo, hi) {
  if (hi !== 0) return -1;
  return (lo >>> 0) < this.sizeBytes ? lo >>> 0 : -1; // the bug: addr + len is not checked
};`);

/** The trace diverges, replayed on the unbroken boundary, first at an -EFAULT the broken one did not give. */
function showsTheBug(trace: string): boolean {
  const d = replayTrace(new Uint8Array(readFileSync(trace))).divergence;
  return d !== null && new RegExp(`^result -${EFAULT}, recorded -?\\d+$`).test(d.message);
}

describe("a broken bounds check is found", () => {
  it("a struct check that forgets the struct's length: the boundary fuzzer fails, saves a trace and a reproduction", async () => {
    const dir = out();
    const r = await runFuzz({ target: "boundary", seed: 5, cases: 40, outDir: dir, imageDir, preload: BROKEN_RANGE });
    expect(r.failuresFound.length).toBeGreaterThan(0);
    const f = r.failuresFound[0];
    expect(f.repro).toMatch(/^tmemvm fuzz --target boundary --seed 5 --case \d+$/);
    expect(existsSync(f.trace!)).toBe(true);
    expect(decodeTrace(new Uint8Array(readFileSync(f.trace!))).records.length).toBeGreaterThan(0);
    // The trace holds the run as the bug made it: replayed on the correct code here, it parts at the
    // first struct the planted check let through, which the boundary now refuses.
    for (const x of r.failuresFound) expect(showsTheBug(x.trace!)).toBe(true);
    expect(readFileSync(join(dir, `boundary-seed5-case${f.case}.txt`), "utf8")).toContain("reproduce: tmemvm fuzz");
    // The same case alone fails the same way.
    const again = await runFuzz({ target: "boundary", seed: 5, onlyCase: f.case, outDir: out(), imageDir, preload: BROKEN_RANGE });
    expect(again.failuresFound[0]?.message).toBe(f.message);
  });

  it("the in-guest fuzzer notices the same bug from inside the VM", async () => {
    const r = await runFuzz({ target: "guest", seed: 1, cases: 2, outDir: out(), imageDir, preload: BROKEN_RANGE });
    expect(r.failuresFound.length).toBeGreaterThan(0);
    for (const x of r.failuresFound) expect(showsTheBug(x.trace!)).toBe(true);
  });
});

describe("the harness cannot hang or lose a failure", () => {
  it("a case that never returns fails on its budget, with its reproduction, and the campaign carries on", async () => {
    const hang = plant(`
import { Tmem } from "DIST/vmm/tmem/tmem.js";
const get = Tmem.prototype.get;
let calls = 0;
Tmem.prototype.get = function (...a) {
  if (++calls === 300) for (;;);
  return get.apply(this, a);
};`);
    const dir = out();
    const r = await runFuzz({ target: "model", seed: 3, cases: 6, outDir: dir, imageDir, preload: hang, caseBudgetMs: 1500 });
    expect(r.cases).toBe(6);
    expect(r.failuresFound).toHaveLength(1);
    const f = r.failuresFound[0];
    expect(f.message).toMatch(/ran past its budget of 1500 ms/);
    expect(f.repro).toBe(`tmemvm fuzz --target model --seed 3 --case ${f.case}`);
    expect(readFileSync(join(dir, `model-seed3-case${f.case}.txt`), "utf8")).toContain(f.repro);
  });

  it("an exception while a crashed guest is torn down is that case's failure; the next case still runs", async () => {
    const teardown = plant(`
import { Tmem } from "DIST/vmm/tmem/tmem.js";
const opStarted = Tmem.prototype.opStarted;
let calls = 0;
Tmem.prototype.opStarted = function (...a) {
  if (++calls === 500) throw new Error("planted: the host broke mid-op");
  return opStarted.apply(this, a);
};
Tmem.prototype.destroyClient = function () { throw new Error("planted: teardown failed"); };`);
    const r = await runFuzz({ target: "guest", seed: 2, cases: 2, outDir: out(), imageDir, preload: teardown });
    expect(r.cases).toBe(2);
    expect(r.failuresFound.length).toBeGreaterThanOrEqual(1);
    expect(r.failuresFound[0].message).toMatch(/planted/);
  });

  it("the guest fuzzer's invariants are checked while its pools are alive", async () => {
    // A count that goes wrong and is thrown away with the pool: invisible after the guest's
    // final DESTROY_POOLs.
    const miscount = plant(`
import { Tmem } from "DIST/vmm/tmem/tmem.js";
const flushObject = Tmem.prototype.flushObject;
Tmem.prototype.flushObject = function (client, pool, oid) {
  const r = flushObject.call(this, client, pool, oid);
  pool.stats.objects++;
  return r;
};`);
    const r = await runFuzz({ target: "guest", seed: 4, cases: 1, outDir: out(), imageDir, preload: miscount });
    expect(r.failuresFound[0]?.message).toMatch(/objects/);
  });
});
