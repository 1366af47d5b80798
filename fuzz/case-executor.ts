// Runs one fuzz case of any target and saves its failure (a note with the message and the
// command that reproduces it, and the case's trace). Everything a case does is contained in it:
// an exception anywhere (the oracles, a crashed guest's teardown, recording the trace) is that
// case's failure, and the next case runs. The campaign runs this in a worker thread it watches.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as C from "../hypercall-abi/constants.js";
import {
  buildMachine,
  checkSpec,
  loadImage,
  makeOutputDir,
  nodeAssets,
  objectSource,
  OutputWriteError,
  type TraceRecorder,
  writeOutputFile,
  type Domain,
  type GuestImage,
  type HypercallObserver,
  type MachinePlatform,
} from "../vmm/node.js";
import { caseRecorder, caseTraceFile, type CaseFailure } from "./case-run.js";
import type { CoverageFuzzer } from "./coverage-fuzzer.js";
import { inputHypercalls } from "./coverage-target.js";
import { HypercallFuzzer } from "./hypercall-fuzzer.js";

import type { FuzzTarget } from "./targets.js";
export { FUZZ_TARGETS, type FuzzTarget } from "./targets.js";
/** A file the campaign could not write: the campaign stops, it is no case's failure. */
export { makeOutputDir, OutputWriteError };

export interface FuzzFailure {
  target: FuzzTarget;
  seed: number;
  case: number;
  message: string;
  trace: string | null;
  repro: string;
}

export interface ExecutorOptions {
  target: FuzzTarget;
  seed: number;
  outDir: string;
  imageDir: string;
  /** Which job of a --jobs campaign this is (0 for a one-job run): the coverage mutator's seed stream. */
  job?: number;
  /** Coverage target: the corpus directory new inputs are written to (one file each, named by SHA-1). */
  corpusDir?: string;
}

export interface CaseOutcome {
  /** Hypercalls run (for coverage: inputs, 1 each). */
  execs: number;
  /** Hypercalls run (for coverage, counted from the input: its set-up's and one per record). */
  hypercalls: number;
  failure: FuzzFailure | null;
  coverage?: { covered: number; total: number };
}

const GUEST_CALLS = 20000;
/** The in-guest fuzzer's host-side invariant check, every so many hypercalls. */
const GUEST_CHECK_EVERY = 256;

const describe = (f: CaseFailure) => `case ${f.case}, hypercall ${f.op}: ${f.message}`;
const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Writes a failure's note (and lets `record` write its trace); returns what was saved. A coverage
 * case is reproduced from its saved input (`inputPath`): its bytes came from a corpus that grew.
 */
export function saveFailure(
  o: ExecutorOptions,
  n: number,
  message: string,
  record: ((path: string) => void) | null,
  inputPath: string | null = null,
): FuzzFailure {
  makeOutputDir(o.outDir, "--out");
  const base = join(o.outDir, `${o.target}-seed${o.seed}-case${n}`);
  let trace: string | null = null;
  let note = "";
  if (record) {
    try {
      record(`${base}.tmtr`);
      trace = `${base}.tmtr`;
    } catch (e) {
      // A full disk is the campaign's failure, not a note on this one.
      if (e instanceof OutputWriteError) throw e;
      note = `(recording the trace failed: ${messageOf(e)})\n`;
    }
  }
  const repro =
    inputPath !== null
      ? `tmemvm fuzz --target ${o.target} --input ${inputPath}`
      : `tmemvm fuzz --target ${o.target} --seed ${o.seed} --case ${n}${o.target === "guest" ? ` --images ${o.imageDir}` : ""}`;
  writeOutputFile(
    `${base}.txt`,
    `${message}\nreproduce: ${repro}\n${trace ? `trace: ${trace} (tmemvm replay ${trace})\n` : note}`,
    "--out",
  );
  return { target: o.target, seed: o.seed, case: n, message, trace, repro };
}

export class CaseExecutor {
  private hypercallFuzzer: HypercallFuzzer | null = null;
  private coverage: CoverageFuzzer | null = null;
  private image: GuestImage | null = null;
  /** The input the last execution added to the corpus, if any. */
  private newInput: Uint8Array | null = null;
  private saveNew: ((input: Uint8Array) => void) | null = null;

  private constructor(readonly o: ExecutorOptions) {}

  static async create(o: ExecutorOptions): Promise<CaseExecutor> {
    const x = new CaseExecutor(o);
    if (o.target === "model" || o.target === "boundary") x.hypercallFuzzer = new HypercallFuzzer({ mode: o.target, seed: o.seed });
    else if (o.target === "guest") x.image = loadImage(join(o.imageDir, "fuzzer.wasm"));
    else {
      // Loaded only here: istanbul's instrumenter (Babel) takes a second to import.
      const { CoverageFuzzer } = await import("./coverage-fuzzer.js");
      x.coverage = await CoverageFuzzer.create(coverageSeed(o.seed, o.job ?? 0));
      if (o.corpusDir) {
        const dir = o.corpusDir;
        x.coverage.onNewInput = (input) => (x.newInput = input);
        x.saveNew = (input) => saveCorpusInput(dir, input);
      }
    }
    return x;
  }

  dispose(): void {
    this.coverage?.dispose();
  }

  /** Coverage target: the next input (the campaign keeps it, in case the run never returns). */
  nextInput(): Uint8Array | null {
    return this.coverage?.next() ?? null;
  }

  /** Runs case `n` (for coverage: `input`); never throws. */
  async run(n: number, input: Uint8Array | null = null): Promise<CaseOutcome> {
    try {
      if (this.hypercallFuzzer) return this.runHypercallCase(this.hypercallFuzzer, n);
      if (this.image) return await this.runGuestCase(this.image, n);
      return this.runCoverageInput(this.coverage!, n, input ?? this.coverage!.next());
    } catch (e) {
      if (e instanceof OutputWriteError) throw e;
      // Whatever escaped the case's own oracles (a fuzzer bug, an exception outside a hypercall).
      const saved = this.coverage && input ? saveCoverageInput(this.o, n, input) : null;
      return { execs: 0, hypercalls: 0, failure: saveFailure(this.o, n, `case ${n}: the case threw: ${messageOf(e)}`, null, saved) };
    }
  }

  private runHypercallCase(fuzzer: HypercallFuzzer, n: number): CaseOutcome {
    let f: CaseFailure | null;
    try {
      f = fuzzer.runCase(n);
    } catch (e) {
      f = { case: n, op: -1, message: `the case threw: ${messageOf(e)}` };
    }
    if (!f) return { execs: fuzzer.lastCaseHypercalls, hypercalls: fuzzer.lastCaseHypercalls, failure: null };
    const failure = saveFailure(this.o, n, describe(f), (path) => {
      let rec: TraceRecorder | null = null;
      try {
        fuzzer.runCase(n, (domains) => (rec = caseRecorder(path, { fuzz: this.o.target, seed: this.o.seed, case: n })(domains)));
      } finally {
        (rec as TraceRecorder | null)?.close();
      }
    });
    return { execs: f.op + 1, hypercalls: f.op + 1, failure };
  }

  /**
   * One run of the in-guest fuzzer. The host checks tmem's invariants every few hundred
   * hypercalls and before each DESTROY_POOL, while the guest's pools are alive.
   */
  private async runGuestCase(image: GuestImage, n: number): Promise<CaseOutcome> {
    const seed = (this.o.seed * 1000003 + n) >>> 0;
    const runOnce = async (path: string | null) => {
      // Built as every machine is (the one spec and builder), with the hash key fixed by the case's
      // seed, as every fuzz case's (case-run.ts), so --case reruns it exactly.
      let out = "";
      const m = await buildMachine(guestCaseSpec(image, seed, GUEST_CALLS, path), guestCasePlatform(image), {
        hashKey: seed,
        traceMeta: { fuzz: "guest", seed: this.o.seed, case: n },
        console: () => ({ stdout: (t) => (out += t), stderr: (t) => (out += t) }),
      });
      const { vmm } = m;
      const rec = m.recorder;
      let broken: string | null = null;
      let calls = 0;
      const check = (when: string) => {
        if (broken !== null) return;
        try {
          vmm.tmem.checkInvariants();
        } catch (e) {
          broken = `${messageOf(e)} (${when})`;
        }
      };
      const d = vmm.domains[0];
      const watch: HypercallObserver<Domain> = {
        before: (dom, regs) => {
          rec?.before?.(dom, regs);
          calls++;
          const at = regs[0] === C.HYPERVISOR_tmem_op && regs[1] === 0 ? dom.ram.address(regs[2], regs[3], 4) : null;
          if (
            typeof at === "number" &&
            dom.ram.bytes[at] === C.TMEM_DESTROY_POOL &&
            dom.ram.bytes[at + 1] === 0 &&
            dom.ram.bytes[at + 2] === 0 &&
            dom.ram.bytes[at + 3] === 0
          )
            check(`before DESTROY_POOL, hypercall ${calls}`);
        },
        after: (dom, regs, result, op, cmfn) => {
          rec?.after?.(dom, regs, result, op, cmfn);
          if (calls % GUEST_CHECK_EVERY === 0) check(`after hypercall ${calls}`);
        },
      };
      d.observer = watch;
      let code: number | null = null;
      let threw: string | null = null;
      try {
        m.run();
        code = d.exitCode;
      } catch (e) {
        threw = messageOf(e);
      } finally {
        (rec as TraceRecorder | null)?.close();
      }
      if (threw === null) check("at the end");
      let message: string | null = broken;
      if (threw !== null) message = `the VMM threw while running the fuzzer guest: ${threw}`;
      else if (code !== 0)
        message = d.crash
          ? `the fuzzer guest crashed: ${d.crash}`
          : `the fuzzer guest found violations: ${out.trim().split("\n").slice(0, 3).join(" / ")}`;
      return { message, hypercalls: d.hypercalls };
    };
    const r = await runOnce(null);
    if (!r.message) return { execs: r.hypercalls, hypercalls: r.hypercalls, failure: null };
    let tracePath: string | null = null;
    const failure = saveFailure(this.o, n, `case ${n}: ${r.message}`, (path) => {
      tracePath = path;
    });
    if (tracePath) {
      try {
        await runOnce(tracePath);
      } catch (e) {
        if (e instanceof OutputWriteError) throw e;
        // the note is saved; the trace is what could be recorded
      }
    }
    return { execs: r.hypercalls, hypercalls: r.hypercalls, failure };
  }

  private runCoverageInput(fuzzer: CoverageFuzzer, n: number, input: Uint8Array): CaseOutcome {
    let f: CaseFailure | null;
    this.newInput = null;
    try {
      f = fuzzer.execute(input);
    } catch (e) {
      f = { case: 0, op: -1, message: `the input threw: ${messageOf(e)}` };
    }
    const coverage = fuzzer.coverage;
    const hypercalls = f && f.op >= 0 ? f.op + 1 : inputHypercalls(input);
    // A failing input is saved as a failure, not kept in the corpus (a campaign would trip on it again).
    if (!f && this.newInput && this.saveNew) this.saveNew(this.newInput);
    if (!f) return { execs: 1, hypercalls, failure: null, coverage };
    const inputPath = saveCoverageInput(this.o, n, input);
    const failure = saveFailure(
      this.o,
      n,
      describe(f),
      (path) => {
        let rec: TraceRecorder | null = null;
        try {
          fuzzer.replayInput(input, (domains) => (rec = caseRecorder(path, { fuzz: "coverage", seed: this.o.seed, case: n })(domains)));
        } finally {
          (rec as TraceRecorder | null)?.close();
        }
      },
      inputPath,
    );
    return { execs: 1, hypercalls, failure, coverage };
  }

  /** Coverage target, reproducing: run one saved input. */
  runSavedInput(input: Uint8Array): CaseOutcome {
    return this.runCoverageInput(this.coverage!, 0, input);
  }

  /**
   * Coverage target: runs an input from the corpus directory as case `n` (its failure saved as
   * any case's), or, `quiet`, only for the coverage it reaches (a restarted worker catching up).
   * It joins the corpus if it reaches a new counter; it is already in the directory.
   */
  runCorpusInput(n: number, input: Uint8Array, quiet: boolean): CaseOutcome {
    const save = this.saveNew;
    this.saveNew = null;
    try {
      if (!quiet) return this.runCoverageInput(this.coverage!, n, input);
      try {
        this.coverage!.execute(input);
      } catch {
        // already reported when it ran aloud
      }
      return { execs: 1, hypercalls: 0, failure: null, coverage: this.coverage!.coverage };
    } finally {
      this.saveNew = save;
    }
  }
}

/**
 * Boots the guest target's image once, unrun: an image that cannot boot (missing, needing more
 * RAM than a guest can have, trapping in its start function) is refused as the user's mistake
 * (an ImageError) before the campaign starts, rather than failing every case.
 */
export async function checkGuestImage(imageDir: string): Promise<void> {
  const image = loadImage(join(imageDir, "fuzzer.wasm"));
  await buildMachine(guestCaseSpec(image, 0, 0, null), guestCasePlatform(image));
}

/** A guest case as a machine spec: the fuzzer image alone, with its seed and call budget. */
function guestCaseSpec(image: GuestImage, seed: number, calls: number, record: string | null) {
  return checkSpec(
    { guests: [{ image: image.name, ramMiB: 2, args: [String(seed), String(calls)] }], tmemMiB: 1, ...(record ? { record } : {}) },
    objectSource("fuzz"),
  );
}

/** The guest cases' platform: their one image already loaded, nothing saved or restored, traces as case files. */
function guestCasePlatform(image: GuestImage): MachinePlatform {
  const none = (): never => {
    throw new Error("a guest fuzz case saves and restores nothing");
  };
  return { image: () => image, saveFiles: { read: none, write: none }, traceSink: caseTraceFile, kernels: nodeAssets };
}

/** Job j's seed stream for the coverage mutator: job 0 has the campaign's seed, so one job is the run it always was. */
export function coverageSeed(seed: number, job: number): number {
  return job === 0 ? seed : (seed ^ Math.imul(job, 0x9e3779b1)) >>> 0;
}

/**
 * Writes a corpus input as libFuzzer does: named by the SHA-1 of its bytes, so the same input
 * from any machine or job is the same file. Written beside and renamed, so another job reading the
 * directory never sees half a file.
 */
export function saveCorpusInput(dir: string, input: Uint8Array): string {
  const path = join(dir, createHash("sha1").update(input).digest("hex"));
  if (!existsSync(path)) writeOutputFile(path, input, "--corpus");
  return path;
}

/** Saves a coverage input where a failure's note can name it. */
export function saveCoverageInput(o: ExecutorOptions, n: number, input: Uint8Array): string {
  makeOutputDir(o.outDir, "--out");
  const path = join(o.outDir, `coverage-seed${o.seed}-case${n}.bin`);
  writeOutputFile(path, input, "--out");
  return path;
}
