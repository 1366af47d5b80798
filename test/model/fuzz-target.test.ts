// The exported fuzz target (`tmemvm/fuzz-target`: fuzz(data), the libFuzzer/Jazzer.js entry
// shape) driven by the project's own coverage-guided engine, exactly as an outside engine would
// drive it: a bug planted in the engine's copy of the VMM is found through the entry, which throws
// only then; without it, nothing the engine makes, nor any other bytes, makes the entry throw.
import { describe, expect, it } from "vitest";
import { CoverageFuzzer, type CoverageHooks } from "../../fuzz/coverage-fuzzer.js";
import { fuzz, FuzzTargetFailure } from "../../fuzz/fuzz-target.js";
import { seededRandom } from "../../vmm/machine/scheduler.js";

/** The engine's target is the entry, in coverage-target's shape (fuzz/entry-as-target.ts). */
const ENTRY: CoverageHooks = { targetModule: "entry-as-target.js" };

/** Runs the engine for up to `inputs` inputs; the first failure and the input that made it, or null. */
async function campaign(hooks: CoverageHooks, seed: number, inputs: number) {
  const engine = await CoverageFuzzer.create(seed, hooks);
  try {
    for (let i = 0; i < inputs; i++) {
      const input = engine.next();
      const failure = engine.execute(input);
      if (failure) return { failure, input, after: i + 1, coverage: engine.coverage };
    }
    return { failure: null, input: null, after: inputs, coverage: engine.coverage };
  } finally {
    engine.dispose();
  }
}

describe("fuzz(data): the hypercall boundary as a one-buffer fuzz target", () => {
  it("any bytes are an input: short, empty, zeros, random bytes never throw", () => {
    const rnd = seededRandom(13);
    const inputs = [new Uint8Array(0), new Uint8Array(2), Buffer.alloc(100), new Uint8Array(3 + 57 * 64).fill(0xff)];
    for (let i = 0; i < 200; i++) inputs.push(Uint8Array.from({ length: Math.floor(rnd() * 600) }, () => Math.floor(rnd() * 256)));
    for (const input of inputs) expect(() => fuzz(input)).not.toThrow();
  });

  it("the coverage-guided engine driving the entry finds nothing wrong in the VMM as it is", async () => {
    const r = await campaign(ENTRY, 20261125, 300);
    expect(r.failure).toBeNull();
    expect(r.coverage.covered).toBeGreaterThan(800);
  });

  it("a bounds check that forgets the struct's length, planted in the engine's VMM, is found through the entry", async () => {
    const r = await campaign(
      {
        ...ENTRY,
        // The engine's instrumented copy of the VMM, patched before the entry loads it.
        beforeLoad: async (dist) => {
          const { GuestMemory, NOT_RAM } = (await import(
            `${dist}vmm/boundary/guest-memory.js`
          )) as typeof import("../../vmm/boundary/guest-memory.js");
          GuestMemory.prototype.address = function (this: { sizeBytes: number }, lo: number, hi: number) {
            if (hi !== 0) return NOT_RAM;
            return lo >>> 0 < this.sizeBytes ? lo >>> 0 : NOT_RAM; // the bug: addr + len is not checked
          } as unknown as typeof GuestMemory.prototype.address;
          // ... nor does the struct's read.
          GuestMemory.prototype.decodeStruct = function (
            this: { bytes: Uint8Array },
            addr: number,
            d: import("../../vmm/boundary/guest-memory.js").StructDecoder,
          ) {
            for (let i = 0; i < d.scratch.length; i++) d.scratch[i] = this.bytes[addr + i] ?? 0;
            d.decode(d.scratchWords, 0);
            return true;
          };
        },
      },
      7,
      3000,
    );
    expect(r.failure?.message).toMatch(/^fuzz\(data\) threw: tmemvm: hypercall \d+ of the input: /);
    // The entry threw a FuzzTargetFailure, and the input is fine on the VMM without the bug.
    expect(r.failure!.op).toBeGreaterThanOrEqual(0);
    expect(() => fuzz(r.input!)).not.toThrow();
  });

  it("throws a FuzzTargetFailure naming the hypercall and the oracle", () => {
    const e = new FuzzTargetFailure(3, "result 7 is not one the spec allows");
    expect(e).toBeInstanceOf(Error);
    expect(e.message).toBe("tmemvm: hypercall 3 of the input: result 7 is not one the spec allows");
  });
});
