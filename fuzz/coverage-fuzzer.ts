// Coverage-guided fuzzing of the hypercall handler. Jazzer.js, the usual engine for JavaScript,
// does not load on these machines (its addon needs a newer glibc), and jsfuzz hooks CommonJS
// require() only and runs out of process. So: the VMM's compiled modules are instrumented with
// istanbul (statement, branch and function counters, the library nyc and c8 reports come from)
// into a scratch directory and imported from there; an input that reaches a counter nothing
// reached before joins the corpus; inputs are mutated from the corpus, which starts from the
// structs recorded from Xen's headers. The oracles are CaseRun's, as for every other fuzzer.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createInstrumenter } from "istanbul-lib-instrument";
import { PACKAGE_ROOT } from "../vmm/platform/assets.js";
import { seededRandom } from "../vmm/machine/scheduler.js";
import type { CaseFailure } from "./case-run.js";
import { recordedStructs } from "./layout-facts.js";

const COVERAGE_VAR = "__tmemvm_fuzz_coverage__";
const INTERESTING_32 = [0, 1, 15, 16, 17, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 4096, 4097, 255, 256];

type Target = typeof import("./coverage-target.js");

interface Counter {
  obj: Record<string, number> | number[];
  key: string | number;
}

/** The compiled tree (dist/): one level above this file when it runs compiled, else dist/ beside the sources. */
const here = new URL("../", import.meta.url).pathname;
const distRoot = existsSync(join(here, "fuzz", "coverage-target.js")) ? here : join(here, "dist");

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith(".js") ? [p] : [];
  });
}

export class CoverageFuzzer {
  private readonly corpus: Uint8Array[] = [];
  private uncovered: Counter[] = [];
  private covered = 0;
  private readonly random: () => number;
  execs = 0;
  /** Called with each input that reached a new counter, as it joins the corpus. */
  onNewInput: ((input: Uint8Array) => void) | null = null;

  private constructor(private readonly target: Target, private readonly scratch: string, seed: number) {
    this.random = seededRandom(seed);
  }

  /** Instruments dist/{vmm,hypercall-abi} (and copies dist/fuzz) into a scratch directory and loads the target from it. */
  static async create(seed: number, hooks: CoverageHooks = {}): Promise<CoverageFuzzer> {
    const scratch = mkdtempSync(join(tmpdir(), "tmemvm-coverage-"));
    const instrumenter = createInstrumenter({ esModules: true, coverageVariable: COVERAGE_VAR, compact: true, produceSourceMap: false });
    for (const top of ["vmm", "hypercall-abi", "fuzz"]) {
      for (const file of jsFiles(join(distRoot, top))) {
        const rel = relative(distRoot, file);
        const out = join(scratch, "dist", rel);
        mkdirSync(dirname(out), { recursive: true });
        // Source maps stay behind with the originals.
        const code = readFileSync(file, "utf8").replace(/^\/\/# sourceMappingURL=.*$/m, "");
        // The fuzzers themselves are not what is being explored.
        writeFileSync(out, rel.startsWith(`fuzz${sep}`) ? code : instrumenter.instrumentSync(code, file));
      }
    }
    // What the modules read beside themselves (vmm/platform/assets.ts): the Wasm kernels, the recorded structs.
    for (const extra of ["build/kernels", "hypercall-abi/recorded", "package.json"]) {
      cpSync(join(PACKAGE_ROOT, extra), join(scratch, extra), { recursive: true });
    }
    // Bare imports (binaryen, @wasmer/wasi) resolve from the node_modules ours resolve from: the
    // package's own, or the one it was hoisted into (npx, a local install).
    const wasi = fileURLToPath(import.meta.resolve("@wasmer/wasi"));
    symlinkSync(wasi.slice(0, wasi.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length), join(scratch, "node_modules"), "dir");
    await hooks.beforeLoad?.(pathToFileURL(join(scratch, "dist", sep)).href);
    const target = (await import(pathToFileURL(join(scratch, "dist", "fuzz", hooks.targetModule ?? "coverage-target.js")).href)) as Target;
    const f = new CoverageFuzzer(target, scratch, seed);
    f.collectCounters();
    f.seedCorpus();
    return f;
  }

  /** Removes the instrumented copy. */
  dispose(): void {
    rmSync(this.scratch, { recursive: true, force: true });
  }

  get corpusSize(): number {
    return this.corpus.length;
  }

  /** Counters reached / all counters, over the instrumented VMM. */
  get coverage(): { covered: number; total: number } {
    return { covered: this.covered, total: this.covered + this.uncovered.length };
  }

  private collectCounters(): void {
    const cov = (globalThis as Record<string, unknown>)[COVERAGE_VAR] as Record<string, { s: Record<string, number>; f: Record<string, number>; b: Record<string, number[]> }> | undefined;
    if (!cov) throw new Error("coverage fuzzer: instrumented modules did not register their counters");
    for (const file of Object.values(cov)) {
      for (const k of Object.keys(file.s)) this.uncovered.push({ obj: file.s, key: k });
      for (const k of Object.keys(file.f)) this.uncovered.push({ obj: file.f, key: k });
      for (const arr of Object.values(file.b)) for (let i = 0; i < arr.length; i++) this.uncovered.push({ obj: arr, key: i });
    }
    this.sweep();
  }

  /** Moves counters that became non-zero to the covered side; true if any did. */
  private sweep(): boolean {
    let found = false;
    const u = this.uncovered;
    for (let i = u.length - 1; i >= 0; i--) {
      const c = u[i];
      if ((c.obj as Record<string | number, number>)[c.key] > 0) {
        u[i] = u[u.length - 1];
        u.pop();
        this.covered++;
        found = true;
      }
    }
    return found;
  }

  private seedCorpus(): void {
    const recorded = recordedStructs();
    this.target.LAYOUT_LIST.forEach((l, i) => {
      const records = (recorded.get(l.name) ?? []).map((bytes) => {
        const r = new Uint8Array(this.target.RECORD_BYTES);
        r.set(bytes.subarray(0, 56), 1);
        return r;
      });
      this.corpus.push(concat([Uint8Array.from([i, 0, 24]), ...records]));
      if (records.length > 0) this.corpus.push(concat([Uint8Array.from([i, 3, 8]), ...records.reverse()]));
    });
  }

  /** The next input to run: a mutation of a corpus input. */
  next(): Uint8Array {
    return this.mutate(this.corpus[Math.floor(this.random() * this.corpus.length)]);
  }

  /** Runs one input; it joins the corpus if it reached a new counter. Returns its failure or null. */
  execute(input: Uint8Array): CaseFailure | null {
    this.execs++;
    const failure = this.target.runInput(input);
    if (this.sweep()) {
      this.corpus.push(input);
      this.onNewInput?.(input);
    }
    return failure;
  }

  /** Re-runs an input with an observer attached (to record its trace). */
  replayInput(input: Uint8Array, observer: Parameters<Target["runInput"]>[1]): CaseFailure | null {
    return this.target.runInput(input, observer);
  }

  private mutate(base: Uint8Array): Uint8Array {
    const r = this.random;
    const int = (k: number) => Math.floor(r() * k);
    let out: Uint8Array = base.slice();
    const R = this.target.RECORD_BYTES;
    const H = this.target.HEADER_BYTES;
    for (let n = 1 + int(4); n > 0; n--) {
      const kind = int(8);
      if (kind === 0 && out.length > 0) out[int(out.length)] ^= 1 << int(8);
      else if (kind === 1 && out.length > 0) out[int(out.length)] = int(256);
      else if (kind === 2 && out.length >= H + R) {
        // An interesting 32-bit value into a field of a struct (fields are 4-byte aligned).
        const rec = int(Math.floor((out.length - H) / R));
        const at = H + rec * R + 1 + 4 * int(14);
        new DataView(out.buffer).setUint32(at, INTERESTING_32[int(INTERESTING_32.length)], true);
      } else if (kind === 3 && out.length >= H + R) {
        const rec = int(Math.floor((out.length - H) / R));
        out = concat([out, out.subarray(H + rec * R, H + rec * R + R)]);
      } else if (kind === 4 && out.length >= H + 2 * R) {
        const rec = int(Math.floor((out.length - H) / R));
        out = concat([out.subarray(0, H + rec * R), out.subarray(H + rec * R + R)]);
      } else if (kind === 5) {
        const other = this.corpus[int(this.corpus.length)];
        if (other.length > H) out = concat([out, other.subarray(H + R * int(Math.max(1, Math.floor((other.length - H) / R))))]);
      } else if (kind === 6 && out.length >= H + R) {
        // Registers: a different control byte.
        const rec = int(Math.floor((out.length - H) / R));
        out[H + rec * R] = int(256);
      } else if (kind === 7 && out.length > 0) out[int(3) % out.length] = int(256);
    }
    return out.length > H + 64 * R ? out.subarray(0, H + 64 * R) : out;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What a campaign or a test hooks into the engine (campaign.ts: --corpus; test/model/fuzz-target.test.ts). */
export interface CoverageHooks {
  /** The module in dist/fuzz/ to load as the target (default coverage-target.js); it has coverage-target's exports. */
  targetModule?: string;
  /** Runs before the target loads, given the URL of the instrumented copy's dist/ (a test plants a bug there). */
  beforeLoad?: (distUrl: string) => unknown;
}
