// Short, seeded, bounded campaigns of every fuzzer, and proof that the fuzzers find a broken
// bounds check (planted here, in this test's process only) and save a replayable trace.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GuestMemory } from "../vmm/guest-memory.js";
import { runFuzz } from "../vmm/fuzz/campaign.js";
import { decodeTrace } from "../vmm/trace/trace-format.js";
import { expectReplays } from "./replay-check.js";

const imageDir = new URL("../build/", import.meta.url).pathname;
const out = () => mkdtempSync(join(tmpdir(), "tmemvm-fuzz-"));

describe("seeded campaigns find nothing wrong", () => {
  it.each([
    ["model", 40],
    ["boundary", 60],
    ["guest", 3],
    ["coverage", 400],
  ] as const)("%s: %i cases", async (target, cases) => {
    const r = await runFuzz({ target, seed: 20261123, cases, outDir: out(), imageDir });
    expect(r.failuresFound).toEqual([]);
    expect(r.cases).toBe(cases);
    expect(r.execs).toBeGreaterThanOrEqual(cases);
    if (target === "coverage") expect(r.coverage!.covered).toBeGreaterThan(800);
  });
});

describe("a broken bounds check is found", () => {
  const original = GuestMemory.prototype.range;
  afterEach(() => {
    GuestMemory.prototype.range = original;
  });

  it("a struct check that forgets the struct's length: the boundary fuzzer fails, saves a trace and a reproduction", async () => {
    GuestMemory.prototype.range = function (lo: number, hi: number) {
      if (hi !== 0) return -1;
      return (lo >>> 0) < this.sizeBytes ? lo >>> 0 : -1; // the bug: addr + len is not checked
    };
    const dir = out();
    const r = await runFuzz({ target: "boundary", seed: 5, cases: 40, outDir: dir, imageDir });
    expect(r.failuresFound.length).toBeGreaterThan(0);
    const f = r.failuresFound[0];
    expect(f.repro).toMatch(/^tmemvm fuzz --target boundary --seed 5 --case \d+$/);
    expect(existsSync(f.trace!)).toBe(true);
    expect(decodeTrace(new Uint8Array(readFileSync(f.trace!))).records.length).toBeGreaterThan(0);
    // The trace replays with no divergence on the code it was recorded on (the bug still planted).
    for (const x of r.failuresFound) expectReplays(x.trace!);
    expect(readFileSync(join(dir, `boundary-seed5-case${f.case}.txt`), "utf8")).toContain("reproduce: tmemvm fuzz");
    // The same case alone fails the same way.
    const again = await runFuzz({ target: "boundary", seed: 5, onlyCase: f.case, outDir: out(), imageDir });
    expect(again.failuresFound[0]?.message).toBe(f.message);
  });

  it("the in-guest fuzzer notices the same bug from inside the VM", async () => {
    GuestMemory.prototype.range = function (lo: number, hi: number) {
      if (hi !== 0) return -1;
      return (lo >>> 0) < this.sizeBytes ? lo >>> 0 : -1;
    };
    const r = await runFuzz({ target: "guest", seed: 1, cases: 2, outDir: out(), imageDir });
    expect(r.failuresFound.length).toBeGreaterThan(0);
    for (const x of r.failuresFound) expectReplays(x.trace!);
  });
});
