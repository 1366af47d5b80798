// Short, seeded, bounded campaigns of every fuzzer; proof that the fuzzers find bugs planted in
// the worker's copy of the VMM (a preload module patches dist/, in that worker only) and save a
// replayable trace; and that the harness survives what a broken VMM does: a case that never
// returns, an exception while a crashed guest is torn down.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { runFuzz } from "../../fuzz/campaign.js";
import { EFAULT } from "../../hypercall-abi/constants.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { IMAGE_DIR } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

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
import { GuestMemory, NOT_RAM } from "DIST/vmm/boundary/guest-memory.js";
GuestMemory.prototype.address = function (lo, hi) {
  if (hi !== 0) return NOT_RAM;
  return (lo >>> 0) < this.sizeBytes ? lo >>> 0 : NOT_RAM; // the bug: addr + len is not checked
};
GuestMemory.prototype.decodeStruct = function (addr, d) {
  for (let i = 0; i < d.scratch.length; i++) d.scratch[i] = this.bytes[addr + i] ?? 0; // nor does the struct's read
  d.decode(d.scratchWords, 0);
  return true;
};`);

/** The trace diverges, replayed on the unbroken boundary, first at an -EFAULT the broken one did not give. */
function showsTheBug(trace: string): boolean {
  const d = replayTrace(new Uint8Array(readFileSync(trace)), testKernels).divergence;
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

/** A planted bug: each worker's 300th get never returns. */
const hangOn300thGet = () =>
  plant(`
import { Tmem } from "DIST/vmm/tmem/tmem.js";
const get = Tmem.prototype.get;
let calls = 0;
Tmem.prototype.get = function (...a) {
  if (++calls === 300) for (;;);
  return get.apply(this, a);
};`);

describe("the harness cannot hang or lose a failure", () => {
  it("a case that never returns fails on its budget, with its reproduction, and the campaign carries on", async () => {
    const hang = hangOn300thGet();
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

describe("--jobs: one worker per job, the case numbers split between them", () => {
  it("two jobs run the cases one job runs, and find the same failures, each reproducible alone", async () => {
    const one = await runFuzz({ target: "boundary", seed: 5, cases: 40, outDir: out(), imageDir, preload: BROKEN_RANGE });
    const two = await runFuzz({ target: "boundary", seed: 5, cases: 40, jobs: 2, outDir: out(), imageDir, preload: BROKEN_RANGE });
    expect(two.jobs).toBe(2);
    expect(two.cases).toBe(40);
    expect(two.perJob.map((j) => j.cases)).toEqual([20, 20]);
    expect(two.hypercalls).toBe(one.hypercalls);
    expect(two.failuresFound.length).toBeGreaterThan(0);
    expect(two.failuresFound.map((f) => [f.case, f.message, f.repro])).toEqual(one.failuresFound.map((f) => [f.case, f.message, f.repro]));
    // Job 1's failures are odd cases; its note's command runs that case alone, failing the same way.
    const odd = two.failuresFound.find((f) => f.case % 2 === 1)!;
    expect(odd.repro).toBe(`tmemvm fuzz --target boundary --seed 5 --case ${odd.case}`);
    const again = await runFuzz({ target: "boundary", seed: 5, onlyCase: odd.case, outDir: out(), imageDir, preload: BROKEN_RANGE });
    expect(again.failuresFound.map((f) => f.message)).toEqual([odd.message]);
  });

  it("a case that never returns is caught in whichever job runs it; both jobs carry on", async () => {
    const hang = hangOn300thGet();
    // The planted counter is per worker: each job's 300th get hangs, once.
    const r = await runFuzz({ target: "model", seed: 3, cases: 12, jobs: 2, outDir: out(), imageDir, preload: hang, caseBudgetMs: 1500 });
    expect(r.cases).toBe(12);
    expect(r.failuresFound).toHaveLength(2);
    expect(new Set(r.failuresFound.map((f) => f.case % 2))).toEqual(new Set([0, 1]));
    for (const f of r.failuresFound) {
      expect(f.message).toMatch(/ran past its budget of 1500 ms/);
      expect(f.repro).toBe(`tmemvm fuzz --target model --seed 3 --case ${f.case}`);
    }
  });

  it("--hypercalls stops the campaign once all jobs together have run that many", async () => {
    const r = await runFuzz({ target: "model", seed: 9, hypercalls: 3000, jobs: 2, outDir: out(), imageDir });
    expect(r.failuresFound).toEqual([]);
    expect(r.hypercalls).toBeGreaterThanOrEqual(3000);
    // Each job finishes at most the case it is in (256 hypercalls a model case).
    expect(r.hypercalls).toBeLessThan(3000 + 2 * 256);
    expect(r.perJob.every((j) => j.cases > 0)).toBe(true);
    expect(r.perJob.reduce((n, j) => n + j.hypercalls, 0)).toBe(r.hypercalls);
  });

  it("more jobs than --cases: only as many jobs as there are cases", async () => {
    const r = await runFuzz({ target: "model", seed: 1, cases: 2, jobs: 4, outDir: out(), imageDir });
    expect(r.jobs).toBe(2);
    expect(r.cases).toBe(2);
  });
});

describe("the coverage corpus as a directory, one input per file", () => {
  it("new inputs are written as files named by their SHA-1; a later campaign loads them all, foreign files too", async () => {
    const dir = join(out(), "corpus");
    mkdirSync(dir);
    // An AFL-style file that is no valid input: still an input.
    const foreign = Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff);
    writeFileSync(join(dir, "id:000000,orig:afl"), foreign);
    const a = await runFuzz({ target: "coverage", seed: 11, cases: 200, jobs: 2, corpusDir: dir, outDir: out(), imageDir });
    expect(a.failuresFound).toEqual([]);
    const written = readdirSync(dir).filter((f) => f !== "id:000000,orig:afl");
    expect(written.length).toBeGreaterThan(3);
    for (const f of written)
      expect(f).toBe(
        createHash("sha1")
          .update(readFileSync(join(dir, f)))
          .digest("hex"),
      );
    expect(new Uint8Array(readFileSync(join(dir, "id:000000,orig:afl")))).toEqual(foreign);
    // Every input that reached a new counter is in the directory: running exactly those files (one
    // job, one case each, nothing mutated) reaches everything the best job of the first campaign did.
    const files = readdirSync(dir).length;
    const b = await runFuzz({ target: "coverage", seed: 99, cases: files, corpusDir: dir, outDir: out(), imageDir });
    expect(b.cases).toBe(files);
    expect(b.coverage!.covered).toBeGreaterThanOrEqual(a.coverage!.covered);
    expect(readdirSync(dir)).toHaveLength(files);
  });
});

describe("a corpus file that hangs", () => {
  it("found by a rescan (another job wrote it), hangs a worker once: it is known by its bytes and never run again", async () => {
    const dir = out();
    const corpus = join(dir, "corpus");
    const log = join(dir, "hangs.log");
    // Each worker writes the hanging input into the directory at its 100th case, as another job
    // or tool would: only the worker's rescan (every 2 000 inputs) finds it, never the start.
    const hangOnMagic = plant(`
import { appendFileSync, writeFileSync } from "node:fs";
import { CaseExecutor } from "DIST/fuzz/case-executor.js";
const MAGIC = [0x68, 0x61, 0x6e, 0x67];
const corpusInput = CaseExecutor.prototype.runCorpusInput;
CaseExecutor.prototype.runCorpusInput = function (n, input, quiet) {
  if (input.length === 4 && MAGIC.every((b, i) => input[i] === b)) {
    appendFileSync(${JSON.stringify(log)}, "hang\\n");
    for (;;);
  }
  return corpusInput.call(this, n, input, quiet);
};
const run = CaseExecutor.prototype.run;
let runs = 0;
CaseExecutor.prototype.run = function (n, input) {
  if (++runs === 100) writeFileSync(${JSON.stringify(join(corpus, "from-elsewhere"))}, Uint8Array.from(MAGIC));
  return run.call(this, n, input);
};`);
    // Rescans at its 2 000th and 4 000th cases: the first hangs; the worker that takes over
    // rescans from nothing seen, finds the file again, and must pass it by.
    const r = await runFuzz({
      target: "coverage",
      seed: 5,
      cases: 4500,
      corpusDir: corpus,
      outDir: dir,
      imageDir,
      preload: hangOnMagic,
      caseBudgetMs: 1500,
    });
    expect(r.failuresFound.map((f) => f.message)).toEqual([]);
    expect(r.cases).toBe(4500);
    // A quiet run is nobody's case: no failure is recorded for it.
    expect(r.failuresFound).toEqual([]);
    expect(readFileSync(log, "utf8")).toBe("hang\n");
  }, 120_000);
});

describe("coverage failures under --jobs", () => {
  it("each is saved with its input, and its note's command (--input) reproduces it", async () => {
    // The coverage fuzzer explores an instrumented copy of the VMM: the bug goes into that copy.
    const broken = plant(`
import { CoverageFuzzer } from "DIST/fuzz/coverage-fuzzer.js";
const create = CoverageFuzzer.create;
CoverageFuzzer.create = (seed, hooks = {}) => create.call(CoverageFuzzer, seed, { ...hooks, beforeLoad: async (dist) => {
  const { GuestMemory, NOT_RAM } = await import(dist + "vmm/boundary/guest-memory.js");
  GuestMemory.prototype.address = function (lo, hi) {
    if (hi !== 0) return NOT_RAM;
    return (lo >>> 0) < this.sizeBytes ? lo >>> 0 : NOT_RAM;
  };
  GuestMemory.prototype.decodeStruct = function (addr, d) {
    for (let i = 0; i < d.scratch.length; i++) d.scratch[i] = this.bytes[addr + i] ?? 0;
    d.decode(d.scratchWords, 0);
    return true;
  };
} });`);
    const dir = out();
    const corpus = join(dir, "corpus");
    const r = await runFuzz({
      target: "coverage",
      seed: 7,
      cases: 300,
      jobs: 2,
      corpusDir: corpus,
      outDir: dir,
      imageDir,
      preload: broken,
    });
    expect(r.failuresFound.length).toBeGreaterThan(0);
    const f = r.failuresFound[0];
    const input = /^tmemvm fuzz --target coverage --input (\S+)$/.exec(f.repro)?.[1];
    expect(input, f.repro).toBeDefined();
    expect(readFileSync(join(dir, `coverage-seed7-case${f.case}.txt`), "utf8")).toContain(`reproduce: ${f.repro}`);
    // A failing input is kept for reproduction, not in the corpus the next campaign starts from.
    const bytes = new Uint8Array(readFileSync(input!));
    expect(readdirSync(corpus)).not.toContain(createHash("sha1").update(bytes).digest("hex"));
    const again = await runFuzz({ target: "coverage", seed: 7, input: bytes, outDir: out(), imageDir, preload: broken });
    expect(again.failuresFound.map((x) => x.message)).toEqual([f.message]);
  });
});
