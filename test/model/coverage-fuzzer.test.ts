// The coverage-guided fuzzer: its counters are istanbul's, moved into one typed array (every
// statement, branch arm and function still counted, each at its own index); and it finds bugs
// planted in the instrumented copy of the VMM it runs, through CaseRun's oracles.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInstrumenter } from "istanbul-lib-instrument";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CoverageFuzzer, directCounters } from "../../fuzz/coverage-fuzzer.js";

const SOURCE = `
export function pick(a, b) {
  if (a > 0) return b ? "both" : "a";
  for (let i = 0; i < b; i++) a = a || i;
  return a ?? "none";
}
export const twice = (x) => pick(x, x) + pick(-x, 0);
`;

describe("istanbul's counters, as direct increments", () => {
  it("every counter moves at its own index exactly as istanbul's own would", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-direct-"));
    try {
      const gcv = "__direct_counters_test__";
      const instrumenter = createInstrumenter({ esModules: true, coverageVariable: gcv, compact: true, produceSourceMap: false });
      const code = instrumenter.instrumentSync(SOURCE, join(dir, "pick.js"));
      const counters = instrumenter.lastFileCoverage() as unknown as {
        s: Record<string, number>;
        f: Record<string, number>;
        b: Record<string, number[]>;
      };
      const hitsFile = join(dir, "hits.js");
      const first = 5;
      const direct = directCounters(code, counters, first, pathToFileURL(hitsFile).href);
      const flat =
        Object.keys(counters.s).length + Object.keys(counters.f).length + Object.values(counters.b).reduce((n, arms) => n + arms.length, 0);
      expect(direct.count).toBe(flat);
      expect(direct.code).not.toMatch(/cov_[0-9a-z]+\(\)\.[sfb]\[/);
      writeFileSync(hitsFile, `export const hits = new Uint32Array(${first + direct.count});\n`);
      writeFileSync(join(dir, "istanbul.js"), code);
      writeFileSync(join(dir, "direct.js"), direct.code);
      const viaIstanbul = await import(pathToFileURL(join(dir, "istanbul.js")).href);
      const viaDirect = await import(pathToFileURL(join(dir, "direct.js")).href);
      const { hits } = (await import(pathToFileURL(hitsFile).href)) as { hits: Uint32Array };
      for (const args of [
        [1, 0],
        [1, 1],
        [0, 3],
        [-2, 2],
        [0, 0],
      ] as const) {
        expect(viaDirect.pick(...args)).toEqual(viaIstanbul.pick(...args));
      }
      expect(viaDirect.twice(2)).toEqual(viaIstanbul.twice(2));
      const istanbul = (globalThis as unknown as Record<string, Record<string, typeof counters>>)[gcv][join(dir, "pick.js")];
      const expected = [...Object.values(istanbul.s), ...Object.values(istanbul.f), ...Object.values(istanbul.b).flat()];
      expect([...hits.subarray(first)]).toEqual(expected);
      expect([...hits.subarray(0, first)]).toEqual([0, 0, 0, 0, 0]);
      // Some counters moved and some did not: the comparison above is not of all zeros.
      expect(expected.filter((n) => n === 0).length).toBeGreaterThan(0);
      expect(expected.filter((n) => n > 1).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bugs planted in the instrumented VMM are found", () => {
  let fuzzer: CoverageFuzzer;
  beforeAll(async () => {
    fuzzer = await CoverageFuzzer.create(1);
  }, 120_000);
  afterAll(() => fuzzer?.dispose());

  /** Runs inputs until one fails (at most `limit`); its message, or null. */
  const firstFailure = (limit: number): string | null => {
    for (let i = 0; i < limit; i++) {
      const f = fuzzer.execute(fuzzer.next());
      if (f) return f.message;
    }
    return null;
  };

  it("an unplanted run finds nothing, and reaches counters", () => {
    expect(firstFailure(300)).toBeNull();
    expect(fuzzer.coverage.covered).toBeGreaterThan(800);
    expect(fuzzer.coverage.total).toBeGreaterThan(fuzzer.coverage.covered);
  });

  it("a struct check that forgets the struct's length", async () => {
    const { GuestMemory, NOT_RAM } = await import(`${fuzzer.instrumentedDist}vmm/boundary/guest-memory.js`);
    const { address, decodeStruct } = GuestMemory.prototype;
    GuestMemory.prototype.address = function (this: { sizeBytes: number }, lo: number, hi: number) {
      if (hi !== 0) return NOT_RAM;
      return lo >>> 0 < this.sizeBytes ? lo >>> 0 : NOT_RAM;
    };
    // ... nor does the struct's read.
    GuestMemory.prototype.decodeStruct = function (
      this: { bytes: Uint8Array },
      addr: number,
      d: { scratch: Uint8Array; scratchWords: Int32Array; decode(w: Int32Array, at: number): void },
    ) {
      for (let i = 0; i < d.scratch.length; i++) d.scratch[i] = this.bytes[addr + i] ?? 0;
      d.decode(d.scratchWords, 0);
      return true;
    };
    try {
      expect(firstFailure(3000)).toMatch(/is not one the spec allows|RAM changed|threw/);
    } finally {
      GuestMemory.prototype.address = address;
      GuestMemory.prototype.decodeStruct = decodeStruct;
    }
  });

  it("a get that hands back a page with one bit flipped", async () => {
    const { Tmem } = await import(`${fuzzer.instrumentedDist}vmm/tmem/tmem.js`);
    const get = Tmem.prototype.get;
    Tmem.prototype.get = function (this: unknown, ...a: unknown[]) {
      const r = get.apply(this, a);
      const dst = a[4] as Uint8Array | null;
      if (r === 1 && dst) dst[100] ^= 4;
      return r;
    };
    try {
      expect(firstFailure(3000)).toMatch(/RAM|page|changed/);
    } finally {
      Tmem.prototype.get = get;
    }
  });

  it("with the plants gone, inputs pass again", () => {
    expect(firstFailure(200)).toBeNull();
  });
});
