// Coverage-guided fuzzing of the hypercall handler. Jazzer.js, the usual engine for JavaScript,
// does not load on these machines (its addon needs a newer glibc), and jsfuzz hooks CommonJS
// require() only and runs out of process. So: the VMM's compiled modules are instrumented with
// istanbul (statement, branch and function counters, the library nyc and c8 reports come from)
// into a scratch directory and imported from there; an input that reaches a counter nothing
// reached before joins the corpus; inputs are mutated from the corpus, which starts from the
// structs recorded from Xen's headers. The oracles are CaseRun's, as for every other fuzzer.
//
// istanbul counts through a function call and two property loads per increment
// (`cov_x().b[3][1]++`, on objects keyed by strings); the rewrite below turns every one into an
// increment of one element of a single Uint32Array shared by all the instrumented modules, so the
// VMM runs at near its own speed and the counters are swept as one typed array after each input.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PACKAGE_ROOT, seededRandom } from "../vmm/node.js";
import { importOptional } from "../vmm/harness.js";
import * as C from "../hypercall-abi/constants.js";
import { encodeOp } from "../hypercall-abi/op-codec.js";
import { FIRST_FRAME, FRAMES_USED, type CaseFailure } from "./case-run.js";
import { recordedStructs } from "./layout-facts.js";

const COVERAGE_VAR = "__tmemvm_fuzz_coverage__";
let fuzzersMade = 0;
const INTERESTING_32 = [0, 1, 15, 16, 17, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 4096, 4097, 255, 256];
/** The data ops a made-up record may carry (NEW_PAGE, READ, WRITE, XCHG: the legacy layouts only). */
const DATA_OPS = [
  C.TMEM_PUT_PAGE,
  C.TMEM_GET_PAGE,
  C.TMEM_GET_PAGE,
  C.TMEM_FLUSH_PAGE,
  C.TMEM_FLUSH_OBJECT,
  C.TMEM_READ,
  C.TMEM_WRITE,
  C.TMEM_XCHG,
  C.TMEM_NEW_PAGE,
];
const SMALL_OFFSETS = [0, 1, 8, 2048, 4095, 4096];

type Target = typeof import("./coverage-target.js");

/** The module (in the scratch dist/) that holds the counters every instrumented module increments. */
const HITS_MODULE = "coverage-hits.js";

/** istanbul's counters for one file, as instrumentSync left them. */
interface FileCounters {
  s: Record<string, number>;
  f: Record<string, number>;
  b: Record<string, number[]>;
}

/**
 * Rewrites istanbul's counter increments in `code` into increments of `hits` (imported from
 * `hitsUrl`), the file's counters taking `first`, `first + 1`, ...: statements, then functions,
 * then each branch's arms. Returns the code and the number of counters the file has.
 */
export function directCounters(code: string, counters: FileCounters, first: number, hitsUrl: string): { code: string; count: number } {
  let next = first;
  const sBase = next;
  next += Object.keys(counters.s).length;
  const fBase = next;
  next += Object.keys(counters.f).length;
  const bBase: number[] = [];
  for (const [k, arms] of Object.entries(counters.b)) {
    bBase[Number(k)] = next;
    next += arms.length;
  }
  const index = (kind: string, i: number, arm: number | undefined): number => {
    const at = kind === "s" ? sBase + i : kind === "f" ? fBase + i : bBase[i] + arm!;
    if (!(at >= first && at < next))
      throw new Error(`coverage fuzzer: counter ${kind}[${i}]${arm === undefined ? "" : `[${arm}]`} is not one istanbul declared`);
    return at;
  };
  const out = code.replace(
    /\bcov_[0-9a-z]+\(\)\.([sfb])\[(\d+)\](?:\[(\d+)\])?\+\+/g,
    (_m, kind: string, i: string, arm: string | undefined) =>
      `__hits[${index(kind, Number(i), arm === undefined ? undefined : Number(arm))}]++`,
  );
  // Anything istanbul counts some other way would be a counter this fuzzer never sees move.
  const left = /\bcov_[0-9a-z]+\(\)\.[a-zA-Z]+\[/.exec(out);
  if (left) throw new Error(`coverage fuzzer: an increment of a form not rewritten: ${out.slice(left.index, left.index + 40)}`);
  // An import is evaluated before the module's body, cycles or not: the counters exist before any code runs.
  return { code: `import { hits as __hits } from ${JSON.stringify(hitsUrl)};\n${out}`, count: next - first };
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

/** istanbul's instrumenter: an optional peer dependency, loaded on use (the CLI checks for it before a campaign). */
export const loadInstrumenter = () =>
  importOptional("istanbul-lib-instrument", "fuzz --target coverage", () => import("istanbul-lib-instrument"));

export class CoverageFuzzer {
  private readonly corpus: Uint8Array[] = [];
  /** Indices into `hits` of the counters no input has reached yet (the first `uncoveredCount`). */
  private readonly uncovered: Int32Array;
  private uncoveredCount: number;
  private covered = 0;
  private readonly random: () => number;
  execs = 0;
  /** Called with each input that reached a new counter, as it joins the corpus. */
  onNewInput: ((input: Uint8Array) => void) | null = null;

  /** `counters`: the indices into `hits` of the modules the target loaded. */
  private constructor(
    private readonly target: Target,
    private readonly scratch: string,
    private readonly hits: Uint32Array,
    counters: Int32Array,
    seed: number,
  ) {
    this.random = seededRandom(seed);
    this.uncovered = counters;
    this.uncoveredCount = counters.length;
  }

  /** Instruments dist/{vmm,hypercall-abi} (and copies dist/fuzz) into a scratch directory and loads the target from it. */
  static async create(seed: number, hooks: CoverageHooks = {}): Promise<CoverageFuzzer> {
    const scratch = mkdtempSync(join(tmpdir(), "tmemvm-coverage-"));
    // Each fuzzer's own registry: which modules its target loaded, whatever others in this process loaded.
    const coverageVar = `${COVERAGE_VAR}${++fuzzersMade}`;
    const { createInstrumenter } = await loadInstrumenter();
    const instrumenter = createInstrumenter({ esModules: true, coverageVariable: coverageVar, compact: true, produceSourceMap: false });
    const hitsPath = join(scratch, "dist", HITS_MODULE);
    const hitsUrl = pathToFileURL(hitsPath).href;
    let counters = 0;
    /** Each instrumented file's counters: the first index and how many. */
    const ranges = new Map<string, [number, number]>();
    for (const top of ["vmm", "hypercall-abi", "fuzz"]) {
      for (const file of jsFiles(join(distRoot, top))) {
        const rel = relative(distRoot, file);
        const out = join(scratch, "dist", rel);
        mkdirSync(dirname(out), { recursive: true });
        // Source maps stay behind with the originals.
        const code = readFileSync(file, "utf8").replace(/^\/\/# sourceMappingURL=.*$/m, "");
        // The fuzzers themselves are not what is being explored.
        if (rel.startsWith(`fuzz${sep}`)) {
          writeFileSync(out, code);
          continue;
        }
        const instrumented = instrumenter.instrumentSync(code, file);
        const direct = directCounters(instrumented, instrumenter.lastFileCoverage() as unknown as FileCounters, counters, hitsUrl);
        ranges.set(file, [counters, direct.count]);
        counters += direct.count;
        writeFileSync(out, direct.code);
      }
    }
    writeFileSync(hitsPath, `export const hits = new Uint32Array(${counters});\n`);
    // What the modules read beside themselves (vmm/platform/assets.ts): the Wasm kernels, the recorded structs.
    for (const extra of ["build/kernels", "hypercall-abi/recorded", "package.json"]) {
      cpSync(join(PACKAGE_ROOT, extra), join(scratch, extra), { recursive: true });
    }
    // Bare imports (binaryen, @wasmer/wasi) resolve from the node_modules ours resolve from: the
    // package's own, or the one it was hoisted into (npx, a local install).
    const wasi = fileURLToPath(import.meta.resolve("@wasmer/wasi"));
    symlinkSync(
      wasi.slice(0, wasi.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length),
      join(scratch, "node_modules"),
      "dir",
    );
    await hooks.beforeLoad?.(pathToFileURL(join(scratch, "dist", sep)).href);
    const target = (await import(pathToFileURL(join(scratch, "dist", "fuzz", hooks.targetModule ?? "coverage-target.js")).href)) as Target;
    const { hits } = (await import(hitsUrl)) as { hits: Uint32Array };
    // The modules the target loaded (each registered itself with istanbul as it was evaluated):
    // their counters are the ones that can move.
    const loaded = (globalThis as Record<string, unknown>)[coverageVar] as Record<string, unknown> | undefined;
    if (!loaded) throw new Error("coverage fuzzer: the instrumented modules did not register");
    const mine: number[] = [];
    for (const path of Object.keys(loaded)) {
      const [first, count] = ranges.get(path) ?? [0, 0];
      for (let i = first; i < first + count; i++) mine.push(i);
    }
    const f = new CoverageFuzzer(target, scratch, hits, Int32Array.from(mine), seed);
    f.sweep();
    f.seedCorpus();
    return f;
  }

  /** The file URL of the instrumented copy's dist/ (with a trailing slash): the modules the target runs. */
  get instrumentedDist(): string {
    return pathToFileURL(join(this.scratch, "dist", sep)).href;
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
    return { covered: this.covered, total: this.covered + this.uncoveredCount };
  }

  /** Moves counters that became non-zero to the covered side; true if any did. */
  private sweep(): boolean {
    const u = this.uncovered;
    const hits = this.hits;
    let n = this.uncoveredCount;
    const before = n;
    for (let i = n - 1; i >= 0; i--) {
      if (hits[u[i]] !== 0) u[i] = u[--n];
    }
    this.uncoveredCount = n;
    this.covered += before - n;
    return n !== before;
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
      // The set-up's own pages: got back (a hit copies a page out; an ephemeral hit takes it),
      // flushed, put again. Recorded structs name other objects, and a mutation seldom makes
      // pool, object and index all match at once.
      const op = (
        cmd: number,
        pool: number,
        page: number,
        extra: Partial<{ tmemOffset: number; pfnOffset: number; len: number; frame: number }> = {},
      ) => this.record(l, cmd, pool, BigInt(page & 1), page, extra.frame ?? FIRST_FRAME + 8 + (page % 4), extra);
      this.corpus.push(
        concat([
          Uint8Array.from([i, 0, 24]),
          op(C.TMEM_GET_PAGE, 0, 0),
          op(C.TMEM_GET_PAGE, 1, 1),
          op(C.TMEM_GET_PAGE, 1, 1),
          op(C.TMEM_FLUSH_PAGE, 0, 2),
          op(C.TMEM_GET_PAGE, 0, 2),
          op(C.TMEM_PUT_PAGE, 0, 2, { frame: FIRST_FRAME + 1 }),
          op(C.TMEM_GET_PAGE, 0, 2),
          op(C.TMEM_FLUSH_OBJECT, 1, 3),
          op(C.TMEM_READ, 0, 0, { tmemOffset: 8, pfnOffset: 16, len: 64 }),
        ]),
      );
    });
  }

  /** A record (normal registers) carrying a data op on a page of the set-up's kind (pool 0-1, object 0-1). */
  private record(
    layout: Target["LAYOUT_LIST"][number],
    cmd: number,
    pool: number,
    oid: bigint,
    index: number,
    frame: number,
    o: Partial<{ tmemOffset: number; pfnOffset: number; len: number }> = {},
  ): Uint8Array {
    const r = new Uint8Array(this.target.RECORD_BYTES);
    const gen = {
      oid: [oid, 0n, 0n].slice(0, layout.oidWords),
      index,
      tmemOffset: o.tmemOffset ?? 0,
      pfnOffset: o.pfnOffset ?? 0,
      len: o.len ?? 0,
      cmfn: BigInt(frame),
    };
    r.set(encodeOp({ cmd, poolId: pool, gen }, layout).subarray(0, this.target.RECORD_BYTES - 1), 1);
    return r;
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
      const kind = int(9);
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
      else if (kind === 8 && out.length >= H) {
        // A made-up data op on a page of the set-up's kind, in place of a record or after them.
        const layout = this.target.LAYOUT_LIST[out[0] % this.target.LAYOUT_LIST.length];
        const pick = (xs: number[]) => xs[int(xs.length)];
        const rec = this.record(
          layout,
          pick(DATA_OPS),
          int(4) === 0 ? int(16) : int(2),
          BigInt(int(3)),
          int(8),
          FIRST_FRAME + int(FRAMES_USED + 1),
          { tmemOffset: pick(SMALL_OFFSETS), pfnOffset: pick(SMALL_OFFSETS), len: pick(SMALL_OFFSETS) },
        );
        const records = Math.floor((out.length - H) / R);
        if (records > 0 && int(2) === 0) out.set(rec, H + int(records) * R);
        else out = concat([out, rec]);
      }
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
