#!/usr/bin/env node
// tmemvm: boot guest images under the VMM, replay traces, dissect op structs. Every failure is
// one line on stderr and a non-zero exit; a stack trace only with TMEMVM_DEBUG=1.
import { readFileSync, writeSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { Command, InvalidArgumentError, Option } from "commander";
import * as C from "../hypercall-abi/constants.js";
import { renderCHeader } from "../hypercall-abi/gen-c-header.js";
import { decodeOp, encodeOp, type TmemOp } from "../hypercall-abi/op-codec.js";
import { describeOp, opToJson, COMMAND_NAMES, SUBOP_NAMES, viewOf } from "../hypercall-abi/op-describe.js";
import { DEFAULT_LAYOUT_NAME, OP_LAYOUTS, opLayout, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../hypercall-abi/pool-flags.js";
import { runSpec, type MachineSpec, type TimedAction } from "./run-config.js";
import {
  ACTION_WORDS,
  counted,
  DEFAULT_QUANTUM,
  DEFAULT_RAM_MIB,
  DEFAULT_TMEM_MIB,
  NUMBERS_HELP,
  parseTimedAction,
  parseWhole,
  ruleOf,
  type NumberKey,
} from "../vmm/api.js";
import { classifyError, CliError } from "./error-report.js";
import { checkRunOutputs, keepAbandonedTrace, STOP_INTERRUPT, STOP_TERMINATE, STOP_TIMEOUT } from "./run-command.js";
import type { RunWorkerData, RunWorkerMessage } from "./run-worker.js";
import type { DemoWorkerData, DemoWorkerMessage } from "./demo-worker.js";
import {
  EXIT_DIVERGED,
  EXIT_FUZZ_FAILED,
  EXIT_GUEST_CRASHED,
  EXIT_INTERNAL,
  EXIT_INTERRUPTED,
  EXIT_IO,
  EXIT_TERMINATED,
  EXIT_TIMEOUT,
  EXIT_USAGE,
  guestExitStatus,
} from "./exit-status.js";
import { checkOutputs } from "./output-path.js";
import { ProgressLine } from "./progress-line.js";
import { COMPLETION_SHELLS, completionScript, type CompletionShell } from "./completion.js";
import { FUZZ_TARGETS, MAX_FUZZ_JOBS, type FuzzTarget } from "../fuzz/targets.js";
import type { FuzzReport } from "../fuzz/campaign.js";
import { bundledImages, formatReplayReport, IMAGE_DIR, packageVersion, replay as replayTrace, unreadableInput } from "../vmm/node.js";

/** How long a stopped run may take to reach its next hypercall before its thread is ended. */
const STOP_GRACE_MS = 2000;

/** A flag setting a spec key: parsed and ranged by the spec's table, as the same key in a config is. */
const specFlag =
  (flag: string, key: NumberKey) =>
  (value: string): number =>
    parseWhole(value, ruleOf(key), flag, "", flag);

/** A whole number from `min` up (a count, a case number). */
const atLeast =
  (what: string, min: number) =>
  (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value)))
      throw new InvalidArgumentError(`${what} must be a whole number >= ${min}`);
    return Number(value);
  };

/** Seconds, whole or decimal, more than 0 and at most a day. */
const secondsArg =
  (what: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86400)
      throw new InvalidArgumentError(`${what} must be a number of seconds, more than 0 and at most 86400`);
    return n;
  };

function layoutArg(value: string): OpLayout {
  const l = opLayout(value);
  if (!l) throw new InvalidArgumentError(`unknown layout; one of: ${[...OP_LAYOUTS.keys()].join(", ")}`);
  return l;
}

/** A whole number, decimal or 0x-hex, up to 2^64 - 1 (or a negative one down to -2^63). */
function bigArg(value: string): bigint {
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(value.trim())) throw new InvalidArgumentError("must be a whole number (decimal or 0x-hex)");
  const neg = value.trim().startsWith("-");
  const n = BigInt(value.trim().replace(/^-/, ""));
  if (neg ? n > 1n << 63n : n >= 1n << 64n) throw new InvalidArgumentError("does not fit in 64 bits");
  return neg ? -n : n;
}

const numArg =
  (bits: 32) =>
  (value: string): number => {
    const n = bigArg(value);
    if (n < -(1n << BigInt(bits - 1)) || n >= 1n << BigInt(bits)) throw new InvalidArgumentError(`does not fit in ${bits} bits`);
    return Number(n);
  };

const listArg = (value: string): bigint[] => value.split(",").map((x) => bigArg(x));

function nameOrNumber(names: Map<number, string>, prefix: string) {
  const byName = new Map([...names].map(([v, k]) => [k.replace(prefix, "").toLowerCase().replace(/_/g, "-"), v]));
  return (value: string): number => {
    const key = value
      .toLowerCase()
      .replace(/^tmemc?_/, "")
      .replace(/_/g, "-");
    if (byName.has(key)) return byName.get(key)!;
    if (byName.has(`${key}-page`)) return byName.get(`${key}-page`)!; // put, get

    if (/^(0x[0-9a-f]+|\d+)$/i.test(value)) return numArg(32)(value);
    throw new InvalidArgumentError(`unknown; one of: ${[...byName.keys()].join(", ")}, or a number`);
  };
}

interface RunOptions {
  mem?: number;
  tmem?: number;
  summary: boolean;
  layout?: OpLayout;
  privileged?: boolean;
  record?: string;
  config?: string;
  seed?: number;
  quantum?: number;
  weight?: number;
  control: TimedAction[];
  save: string[];
  restore: string[];
  listJson?: string;
  timeout?: number;
}

async function run(images: string[], guestArgs: string[], opts: RunOptions): Promise<number> {
  const spec = runSpec({
    images,
    args: guestArgs,
    mem: opts.mem,
    tmem: opts.tmem,
    layout: opts.layout?.name,
    privileged: opts.privileged,
    weight: opts.weight,
    seed: opts.seed,
    quantum: opts.quantum,
    control: opts.control,
    save: opts.save,
    restore: opts.restore,
    record: opts.record,
    config: opts.config,
  });
  const report = { summary: opts.summary, listJson: opts.listJson };
  checkRunOutputs(spec, report, opts.config);
  const done = await runInWorker(spec, report, opts.timeout);
  // Precedence when several things happened: a stop (signal, timeout) over a crash over the
  // guests' own codes, of which the first non-zero in domain order.
  if (done.stopped === STOP_INTERRUPT) return EXIT_INTERRUPTED;
  if (done.stopped === STOP_TERMINATE) return EXIT_TERMINATED;
  if (done.stopped === STOP_TIMEOUT) {
    process.stderr.write(`tmemvm: timed out after ${opts.timeout} s\n`);
    return EXIT_TIMEOUT;
  }
  if (done.crashed.length > 0) {
    const d = done.crashed[0];
    throw new CliError(`guest ${d.name} crashed: ${d.crash}`, EXIT_GUEST_CRASHED);
  }
  if (done.exitCode > guestExitStatus(done.exitCode))
    process.stderr.write(`tmemvm: guest exit code ${done.exitCode} is reported as ${guestExitStatus(done.exitCode)}\n`);
  return guestExitStatus(done.exitCode);
}

/**
 * Runs the guests in a worker thread, so that this thread can take SIGINT/SIGTERM and the
 * timeout while they run: it sets the stop flag, the guests stop at their next hypercall and the
 * run ends as usual (listing, trace end record). A guest that makes no hypercall within
 * STOP_GRACE_MS after that is ended with its thread, without a listing.
 */
function runInWorker(
  spec: MachineSpec,
  report: RunWorkerData["report"],
  timeoutSeconds: number | undefined,
): Promise<Extract<RunWorkerMessage, { kind: "done" }>> {
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const hypercalls = new SharedArrayBuffer(4);
  const made = new Int32Array(hypercalls);
  const data: RunWorkerData = { spec, report, stop, hypercalls };
  // On a terminal, a long run shows how far it got (progress-line.ts).
  let progress: ProgressLine | null = null;
  const worker = new Worker(new URL("./run-worker.js", import.meta.url), { workerData: data, stdout: false, stderr: false });
  /** The worker's name in its partial files (vmm/platform/output-file.ts); its threadId is gone once it has exited. */
  const owner = `${process.pid}-${worker.threadId}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    let forced = false;
    const stopRun = (why: number) => {
      if (Atomics.load(flag, 0) !== 0) {
        // Asked twice: end now.
        if (why !== STOP_TIMEOUT) {
          forced = true;
          void worker.terminate();
        }
        return;
      }
      Atomics.store(flag, 0, why);
      grace = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    };
    const onInt = () => stopRun(STOP_INTERRUPT);
    const onTerm = () => stopRun(STOP_TERMINATE);
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    // The timeout counts the guests' run, from when they start (not the loading before it).
    let timer: NodeJS.Timeout | undefined;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      progress?.stop();
      clearTimeout(timer);
      clearTimeout(grace);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      f();
    };
    worker.on("message", (m: RunWorkerMessage) => {
      if (m.kind === "out") {
        const to = m.stream === "stdout" ? process.stdout : process.stderr;
        if (progress) progress.around(to, m.text);
        else to.write(m.text);
      } else if (m.kind === "running") {
        if (timeoutSeconds !== undefined) timer = setTimeout(() => stopRun(STOP_TIMEOUT), timeoutSeconds * 1000);
        if (process.stderr.isTTY === true) progress = new ProgressLine(process.stderr, () => Atomics.load(made, 0));
      } else if (m.kind === "done") settle(() => resolve(m));
      else {
        // Classified in the worker, where the exception was: only its verdict crosses.
        const e = new CliError(m.message, m.status);
        if (m.stack) e.stack = m.stack;
        settle(() => reject(e));
      }
    });
    worker.on("error", (e) => settle(() => reject(e)));
    worker.on("exit", () => {
      // Ended before its recorder could close the trace: what it wrote is kept, with no end record.
      if (!settled && spec.record) keepAbandonedTrace(spec.record, owner);
      const why = Atomics.load(flag, 0);
      const code =
        why === STOP_TIMEOUT
          ? EXIT_TIMEOUT
          : why === STOP_TERMINATE
            ? EXIT_TERMINATED
            : why === STOP_INTERRUPT
              ? EXIT_INTERRUPTED
              : EXIT_INTERNAL;
      const what = why === STOP_TIMEOUT ? `timed out after ${timeoutSeconds} s` : why === STOP_TERMINATE ? "terminated" : "interrupted";
      const noEnd = `the run was ended without a listing${spec.record ? " (the trace has no end record)" : ""}`;
      settle(() =>
        reject(
          new CliError(
            why === 0
              ? "the run's thread ended without a result"
              : forced
                ? `${what} twice: ${noEnd}`
                : `${what}; a guest made no hypercall in the ${STOP_GRACE_MS / 1000} s after, so ${noEnd}`,
            code,
          ),
        ),
      );
    });
  });
}

/**
 * Runs the demo in a worker thread (demo-worker.ts), so that Ctrl-C stops its guests at their
 * next hypercall and the summary so far is printed; asked twice, the process ends at once.
 */
async function demoInWorker(opts: DemoWorkerData["opts"]): Promise<number> {
  const { demoProgressBar } = await import("./demo.js");
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const data: DemoWorkerData = { opts, stop };
  const worker = new Worker(new URL("./demo-worker.js", import.meta.url), { workerData: data, stdout: false, stderr: false });
  const bar = opts.progress ? demoProgressBar() : null;
  const onInt = () => {
    if (Atomics.load(flag, 0) !== 0) {
      bar?.stop();
      process.exit(EXIT_INTERRUPTED);
    }
    Atomics.store(flag, 0, STOP_INTERRUPT);
  };
  process.on("SIGINT", onInt);
  try {
    const end = await new Promise<DemoWorkerMessage>((resolve, reject) => {
      worker.on("message", (m: DemoWorkerMessage) => {
        if (m.kind === "out") (m.stream === "stdout" ? process.stdout : process.stderr).write(m.text);
        else if (m.kind === "progress") (bar?.[m.call] as ((...a: unknown[]) => void) | undefined)?.apply(bar, m.args);
        else resolve(m);
      });
      worker.on("error", reject);
      worker.on("exit", () => reject(new CliError("the demo's thread ended without a result", EXIT_INTERNAL)));
    });
    if (end.kind === "error") {
      const e = new CliError(end.message, end.status);
      if (end.stack) e.stack = end.stack;
      throw e;
    }
    if (end.kind === "guest-failed") throw new CliError(end.message, end.crashed ? EXIT_GUEST_CRASHED : guestExitStatus(end.exitCode ?? 0));
    if (end.kind === "done" && end.stopped) {
      process.stderr.write("tmemvm: interrupted\n");
      return EXIT_INTERRUPTED;
    }
    return 0;
  } finally {
    process.off("SIGINT", onInt);
    bar?.stop();
  }
}

function replay(path: string, opts: { json?: boolean }): number {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError(unreadableInput(path, e));
  }
  const report = replayTrace(bytes);
  process.stdout.write(opts.json ? `${JSON.stringify({ trace: path, ...report }, null, 2)}\n` : formatReplayReport(report));
  return report.divergence ? EXIT_DIVERGED : 0;
}

interface FuzzCliOptions {
  target: string;
  seconds: number;
  cases?: number;
  hypercalls?: number;
  jobs: number;
  corpus?: string;
  seed: number;
  case?: number;
  input?: string;
  out: string;
  images: string;
  caseBudget: number;
  json?: boolean;
}

/** A job count: a thread each, so more than the campaign can use is a typo, not a campaign. */
function jobsArg(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_FUZZ_JOBS)
    throw new InvalidArgumentError(`--jobs must be a whole number 1..${MAX_FUZZ_JOBS}`);
  return Number(value);
}

async function fuzz(opts: FuzzCliOptions, secondsGiven: boolean): Promise<number> {
  const targets = (opts.target === "all" ? [...FUZZ_TARGETS] : [opts.target]) as FuzzTarget[];
  // An option that does not apply to the chosen target is a mistake, not something to ignore.
  if (opts.input !== undefined && opts.target !== "coverage") throw new CliError("--input applies only to --target coverage");
  if (opts.case !== undefined && (opts.target === "coverage" || opts.target === "all"))
    throw new CliError("--case applies only to --target model, boundary or guest (a coverage case is reproduced with --input)");
  if (opts.input !== undefined && (opts.case !== undefined || opts.cases !== undefined || opts.hypercalls !== undefined))
    throw new CliError("--input runs one saved input: --cases and --hypercalls do not apply");
  if (opts.case !== undefined && opts.hypercalls !== undefined) throw new CliError("--case runs one case: --hypercalls does not apply");
  if (opts.jobs > 1 && (opts.case !== undefined || opts.input !== undefined))
    throw new CliError("--jobs applies to a campaign, not to one --case or --input");
  if (opts.corpus !== undefined && !["coverage", "all"].includes(opts.target))
    throw new CliError("--corpus applies only to --target coverage");
  if (opts.corpus !== undefined && opts.input !== undefined) throw new CliError("--input runs one saved input: --corpus does not apply");
  checkOutputs(
    [
      { path: opts.out, what: "--out", dir: true },
      ...(opts.corpus === undefined ? [] : [{ path: opts.corpus, what: "--corpus", dir: true }]),
    ],
    opts.input === undefined ? [] : [{ path: opts.input, what: "--input" }],
  );
  let input: Uint8Array | undefined;
  if (opts.input) {
    try {
      input = readFileSync(opts.input);
    } catch (e) {
      throw new CliError(unreadableInput(opts.input, e));
    }
  }
  // Loaded on use: the fuzzers weigh more than the rest of the CLI.
  const [{ checkGuestImage, runFuzz }, { default: cliProgress }] = await Promise.all([
    import("../fuzz/campaign.js"),
    import("cli-progress"),
  ]);
  // Before any target runs: an image that cannot boot is refused up front, not after the others' time.
  if (targets.includes("guest")) await checkGuestImage(opts.images);
  // The coverage target's instrumenter is an optional peer: missing, it is one line before anything runs, not a failure in a worker.
  if (targets.includes("coverage")) await (await import("../fuzz/coverage-fuzzer.js")).loadInstrumenter();
  const tty = process.stderr.isTTY === true;
  const reports = [];
  // With --cases or --hypercalls the default --seconds is no limit; any limit given ends a target's
  // campaign when it is reached first. For all, time and hypercalls are split across the targets.
  const seconds = secondsGiven || (opts.cases === undefined && opts.hypercalls === undefined) ? opts.seconds / targets.length : undefined;
  const hypercalls = opts.hypercalls === undefined ? undefined : Math.ceil(opts.hypercalls / targets.length);
  // Ctrl-C ends the campaign, not the process: the cases running finish and the summary covers
  // what ran. Asked twice, the process ends at once.
  const stop = new AbortController();
  const onInt = () => {
    if (stop.signal.aborted) process.exit(EXIT_INTERRUPTED);
    stop.abort();
  };
  process.on("SIGINT", onInt);
  try {
    for (const target of targets) {
      if (stop.signal.aborted) break;
      reports.push(await fuzzTarget(target));
    }
  } finally {
    process.off("SIGINT", onInt);
  }
  async function fuzzTarget(target: FuzzTarget) {
    const bar =
      tty && opts.case === undefined && !input
        ? new cliProgress.SingleBar(
            {
              format: `  ${target.padEnd(8)} {bar} {elapsed}s | {execs} ${target === "coverage" ? "inputs" : "hypercalls"} | {rate} ${target === "coverage" ? "inputs" : "hypercalls"}/s | {failures} failures{jobs}{cov}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
    // The bar fills towards whichever limit there is: cases, hypercalls, or seconds.
    const goal = opts.cases ?? hypercalls ?? Math.round(seconds!);
    const done = (p: { cases: number; hypercalls: number; elapsedMs: number }) =>
      opts.cases !== undefined ? p.cases : hypercalls !== undefined ? p.hypercalls : Math.floor(p.elapsedMs / 1000);
    bar?.start(goal, 0, { execs: 0, rate: 0, failures: 0, elapsed: "0.0", cov: "", jobs: "" });
    const report = await runFuzz({
      target,
      seed: opts.seed,
      jobs: opts.jobs,
      seconds,
      cases: opts.cases,
      hypercalls,
      onlyCase: opts.case,
      input,
      corpusDir: target === "coverage" ? opts.corpus : undefined,
      outDir: opts.out,
      imageDir: opts.images,
      caseBudgetMs: opts.caseBudget * 1000,
      signal: stop.signal,
      onProgress: (p) =>
        bar?.update(Math.min(goal, done(p)), {
          execs: p.execs,
          rate: Math.round(p.execs / (Math.max(1, p.fuzzingMs) / 1000)),
          failures: p.failures,
          elapsed: (p.elapsedMs / 1000).toFixed(1),
          jobs: p.jobs > 1 ? ` | ${p.jobs} jobs` : "",
          cov: p.coverage ? ` | coverage ${p.coverage.covered}/${p.coverage.total}` : "",
        }),
    });
    if (!stop.signal.aborted) bar?.update(goal);
    bar?.stop();
    return report;
  }
  // Rates per second of fuzzing (from the first case on: the coverage target instruments the VMM
  // first), over all jobs, then per job. A coverage case is an input (its row says so).
  const perSecond = (n: number, ms: number) => Math.round(n / (Math.max(1, ms) / 1000));
  const total = reports.reduce((n, r) => n + r.failures, 0);
  if (opts.json) {
    const targetsJson = reports.map((r) => ({
      target: r.target,
      cases: r.cases,
      hypercalls: r.hypercalls,
      hypercallsPerSecond: perSecond(r.hypercalls, r.fuzzingMs),
      ...(r.coverage ? { inputs: r.execs, inputsPerSecond: perSecond(r.execs, r.fuzzingMs), coverage: r.coverage } : {}),
      failures: r.failures,
      jobs: r.jobs,
      seconds: r.fuzzingMs / 1000,
      failuresFound: r.failuresFound,
    }));
    process.stdout.write(
      `${JSON.stringify({ seed: opts.seed, targets: targetsJson, failures: total, out: total === 0 ? null : opts.out, interrupted: stop.signal.aborted }, null, 2)}\n`,
    );
  } else {
    printFuzzTable(reports, perSecond, total, opts.out);
  }
  if (stop.signal.aborted) {
    process.stderr.write(
      `tmemvm: interrupted: the campaign was stopped after ${reports.reduce((n, r) => n + r.cases, 0)} cases${reports.length < targets.length ? ` (targets not run: ${targets.slice(reports.length).join(", ")})` : ""}\n`,
    );
    return EXIT_INTERRUPTED;
  }
  const idle = reports.find((r) => r.cases === 0);
  if (idle) throw new CliError(`the ${idle.target} fuzzer ran no case: nothing was tested`, EXIT_INTERNAL);
  return total === 0 ? 0 : EXIT_FUZZ_FAILED;
}

/** The fuzz summary as a table: a row a target, rates per second of fuzzing over all jobs, then per job. */
function printFuzzTable(reports: readonly FuzzReport[], perSecond: (n: number, ms: number) => number, total: number, outDir: string): void {
  process.stdout.write(
    `${"target".padEnd(8)} ${"cases".padStart(7)} ${"hypercalls".padStart(10)} ${"hypercalls/s".padStart(12)} ${"failures".padStart(9)} ${"jobs".padStart(5)} ${"per job/s".padStart(10)}\n`,
  );
  for (const r of reports) {
    const rate = perSecond(r.hypercalls, r.fuzzingMs);
    process.stdout.write(
      `${r.target.padEnd(8)} ${String(r.cases).padStart(7)} ${String(r.hypercalls).padStart(10)} ${String(rate).padStart(12)} ${String(r.failures).padStart(9)} ${String(r.jobs).padStart(5)} ${String(Math.round(rate / r.jobs)).padStart(10)}` +
        (r.coverage
          ? `   (cases are inputs: ${perSecond(r.execs, r.fuzzingMs)} inputs/s; coverage: ${r.coverage.covered} of ${r.coverage.total} statement/branch/function counters${r.jobs > 1 ? ", the best job's" : ""})`
          : "") +
        "\n",
    );
    for (const f of r.failuresFound)
      process.stdout.write(`  FAIL ${f.message}\n       reproduce: ${f.repro}${f.trace ? `\n       trace: ${f.trace}` : ""}\n`);
  }
  process.stdout.write(total === 0 ? "no failures\n" : `${counted(total, "failure")}, saved in ${outDir}/\n`);
}

function readHex(arg: string): Uint8Array {
  const text = arg === "-" ? readFileSync(0, "utf8") : arg;
  const clean = text.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) {
    throw new CliError("decode wants the struct as hex digits (whitespace, commas, colons and 0x prefixes are ignored)");
  }
  return Buffer.from(clean, "hex");
}

function decode(hex: string, opts: { layout?: OpLayout; json?: boolean }): number {
  const layout = opts.layout ?? opLayout(DEFAULT_LAYOUT_NAME)!;
  const bytes = readHex(hex);
  if (bytes.length !== layout.size) throw new CliError(`got ${bytes.length} bytes; a ${layout.name} struct tmem_op is ${layout.size}`);
  const op = decodeOp(bytes, layout);
  process.stdout.write(
    `${opts.json ? JSON.stringify(opToJson(op, layout), (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v), 2) : describeOp(op, layout)}\n`,
  );
  return 0;
}

interface EncodeOptions {
  cmd: number;
  layout?: OpLayout;
  pool: number;
  oid: bigint[];
  index: number;
  cmfn: bigint;
  tmemOffset: number;
  pfnOffset: number;
  len: number;
  uuid: bigint[];
  flags?: number;
  persistent?: boolean;
  shared?: boolean;
  version?: number;
  arg1: number;
  subop: number;
  cliId: number;
  arg2: number;
  buf: bigint;
}

function encode(o: EncodeOptions): number {
  const layout = o.layout ?? opLayout(DEFAULT_LAYOUT_NAME)!;
  const view = viewOf(o.cmd, layout);
  const words = layout.oidWords;
  if (o.oid.length > words) throw new CliError(`${layout.name} has ${counted(words, "oid word")}; --oid gave ${o.oid.length}`);
  const oid = [...o.oid, 0n, 0n, 0n].slice(0, words);
  const op: TmemOp = { cmd: o.cmd, poolId: o.pool };
  if (view === "creat") {
    if (o.uuid.length !== 2) throw new CliError("--uuid wants two words: lo,hi");
    const flags = o.flags ?? encodePoolFlags({ persistent: o.persistent, shared: o.shared, version: o.version ?? layout.specVersion });
    op.creat = { uuid: [o.uuid[0], o.uuid[1]], flags, arg1: o.arg1 };
  } else if (view === "ctrl") {
    op.ctrl = { subop: o.subop, cliId: o.cliId, arg1: o.arg1, arg2: o.arg2, oid, buf: o.buf };
  } else {
    op.gen = { oid, index: o.index, tmemOffset: o.tmemOffset, pfnOffset: o.pfnOffset, len: o.len, cmfn: o.cmfn };
  }
  process.stdout.write(`${Buffer.from(encodeOp(op, layout)).toString("hex")}\n`);
  return 0;
}

/** Help text that ends a command's --help: examples, each a command line that runs as written. */
function examples(lines: [command: string, what: string][]): string {
  const width = Math.max(...lines.map(([c]) => c.length));
  return `\nExamples:\n${lines.map(([c, w]) => `  $ ${c.padEnd(width)}  # ${w}`).join("\n")}`;
}

/** A repeatable option's values, in the order given. */
const repeated = (v: string, prev: string[]): string[] => [...prev, v];

const parseControlArg = (v: string): TimedAction => parseTimedAction(v, "--control", "", "--control");

export async function main(argvAll: string[]): Promise<number> {
  // Everything after the first "--" belongs to the guests.
  const dashes = argvAll.indexOf("--");
  const argv = dashes < 0 ? argvAll : argvAll.slice(0, dashes);
  const guestArgs = dashes < 0 ? [] : argvAll.slice(dashes + 1);
  const program = new Command()
    .name("tmemvm")
    .description("Xen's tmem hypercall, emulated inside a WebAssembly micro-VM")
    .version(packageVersion(), "-V, --version", "print tmemvm's version")
    .enablePositionalOptions() // encode has its own --version (the pool flags' spec version)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Exit status:
  0      every guest exited 0 (replay: no divergence; fuzz: no failure)
  1-63   a guest's exit code (a code above 63 is reported as 63)
  ${EXIT_USAGE}     usage error: nothing ran
  ${EXIT_DIVERGED}     replay: the trace diverged
  ${EXIT_FUZZ_FAILED}     fuzz: failures found
  ${EXIT_INTERNAL}     internal error (a bug in tmemvm)
  ${EXIT_IO}     an output could not be written
  ${EXIT_TIMEOUT}    --timeout expired
  ${EXIT_INTERRUPTED}    interrupted (SIGINT)
  ${EXIT_GUEST_CRASHED}    a guest crashed
  ${EXIT_TERMINATED}    terminated (SIGTERM)

${NUMBERS_HELP}
${examples([
  ["tmemvm run selftest", "run a bundled guest: every tmem op, checked"],
  ["tmemvm run precache --mem 16 --tmem 8 -- 1024 128 4", "a guest with arguments"],
  ["tmemvm run selftest --record s.tmtr", "record every hypercall..."],
  ["tmemvm replay s.tmtr", "...and re-execute them against a fresh VMM"],
  ["tmemvm fuzz --seconds 60 --jobs 2", "fuzz every target for a minute"],
  ["tmemvm encode --cmd put --oid 7 --index 3 --cmfn 4660", "a struct tmem_op as hex"],
  ["source <(tmemvm completion bash)", "tab completion in this shell (zsh: completion zsh)"],
])}`,
    );
  const layoutOption = () =>
    new Option("--layout <name>", `struct tmem_op layout: ${[...OP_LAYOUTS.keys()].join(", ")} (default ${DEFAULT_LAYOUT_NAME})`).argParser(
      layoutArg,
    );

  let exitCode = 0;
  program
    .command("run")
    .description("boot guest images and run them to completion (several interleave, sharing tmem)")
    .argument("[images...]", "guest images (.wasm files, or bundled names: tmemvm images); arguments for the guests follow --")
    .option("--mem <MiB>", `guest RAM (default ${DEFAULT_RAM_MIB}, or what the image needs)`, specFlag("--mem", "ramMiB"))
    .option("--tmem <MiB>", `host memory lent to tmem (default: ${DEFAULT_TMEM_MIB})`, specFlag("--tmem", "tmemMiB"))
    .addOption(layoutOption())
    .option("--privileged", "make the guest a control domain (may issue TMEM_CONTROL, AUTH, RESTORE_NEW)")
    .option("--weight <n>", "each guest's share of ephemeral tmem under pressure", specFlag("--weight", "weight"))
    .option("--config <file>", "JSON machine spec (guests, tmemMiB, seed, quantum, control, record); the options given here override it")
    .option("--seed <n>", "scheduler seed (same seed, same interleaving; default: 1)", specFlag("--seed", "seed"))
    .option("--quantum <n>", `mean hypercalls per time slice (default: ${DEFAULT_QUANTUM})`, specFlag("--quantum", "quantum"))
    .addOption(
      new Option(
        "--control <AT:ACTION ARGS>",
        `control action after AT hypercalls, repeatable: ${Object.entries(ACTION_WORDS)
          .map(([a, u]) => (u ? `${a} ${u}` : a))
          .join("; ")}`,
      )
        .argParser((v: string, prev: TimedAction[]) => [...prev, parseControlArg(v)])
        .default([] as TimedAction[], "none"),
    )
    .addOption(
      new Option("--save <[domain=]file>", "save the domain's tmem to a file when the run ends (repeatable)")
        .argParser(repeated)
        .default([] as string[], "none"),
    )
    .addOption(
      new Option("--restore <[domain=]file>", "restore a saved domain's tmem before it runs (repeatable)")
        .argParser(repeated)
        .default([] as string[], "none"),
    )
    .option("--record <trace>", "record every hypercall to a .tmtr trace")
    .option("--list-json <file>", "write the final tmem listing as JSON (- for stdout)")
    .option("--no-summary", "do not print the tmem listing at exit")
    .option("--timeout <seconds>", "stop the run after this long: listing printed, trace closed, exit 124", secondsArg("--timeout"))
    .addHelpText(
      "after",
      `\n${NUMBERS_HELP}\n${examples([
        ["tmemvm run selftest", "a bundled guest, by name"],
        ["tmemvm run guest.wasm --mem 16 --tmem 8 -- 1024 128", "your own image, arguments after --"],
        ["tmemvm run precache precache --tmem 1 --seed 7 -- 600 32 3 random", "two guests interleaved, sharing tmem"],
        ["tmemvm run selftest --layout xen-4.1-oid3/x86_32", "another Xen's struct layout and rules"],
        ["tmemvm run preswap --save db.tmsv -- 400 64 0 store", "save a guest's persistent pages..."],
        ["tmemvm run preswap --restore db.tmsv -- 400 64 0 verify", "...and restore them into the next run"],
        ["tmemvm run precache --control '200:freeze precache' -- 1024 128 4", "a control action after 200 hypercalls"],
      ])}`,
    )
    .action(async (images: string[], opts: RunOptions) => {
      exitCode = await run(images, guestArgs, opts);
    });

  program
    .command("images")
    .description("list the guest images bundled with tmemvm (run one by its name: tmemvm run selftest)")
    .option("--json", "print the list as JSON")
    .action((opts: { json?: boolean }) => {
      const images = bundledImages();
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(
            images.map((i) => ({ name: i.name, path: i.path, about: i.about ?? null })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      const width = Math.max(...images.map((i) => i.name.length));
      for (const i of images)
        process.stdout.write(`${i.name.padEnd(width)}  ${i.path}\n${i.about ? `${" ".repeat(width)}  ${i.about}\n` : ""}`);
    });

  program
    .command("demo")
    .description("three guests with weights 1, 2, 4 competing for tmem; writes a hit-ratio chart")
    .option("--out <dir>", "where the chart and JSON go", "out")
    .addOption(new Option("--images <dir>", "directory holding precache.wasm").default(IMAGE_DIR, "the bundled images"))
    .option("--seed <n>", "scheduler and workload seed", specFlag("--seed", "seed"), 1)
    .action(async (opts: { out: string; images: string; seed: number }) => {
      checkOutputs([{ path: opts.out, what: "--out", dir: true }]);
      exitCode = await demoInWorker({ imageDir: opts.images, outDir: opts.out, seed: opts.seed, progress: process.stderr.isTTY === true });
    });

  program
    .command("fuzz")
    .description("fuzz the hypercall boundary; every failure is saved as a trace with its seed")
    .option(
      "--target <name>",
      `fuzzer: ${FUZZ_TARGETS.join(", ")}, or all`,
      (v: string) => {
        if (v !== "all" && !(FUZZ_TARGETS as readonly string[]).includes(v))
          throw new InvalidArgumentError(`one of: ${FUZZ_TARGETS.join(", ")}, all`);
        return v;
      },
      "all",
    )
    .option("--seconds <n>", "how long to fuzz (split across targets for all)", secondsArg("--seconds"), 30)
    .option(
      "--cases <n>",
      "stop after this many cases per target instead (case numbers 0 to n-1, split across jobs)",
      atLeast("--cases", 1),
    )
    .option(
      "--hypercalls <n>",
      "stop once this many hypercalls have run, over all jobs (split across targets for all)",
      atLeast("--hypercalls", 1),
    )
    .option("--jobs <n>", "worker threads, each running its share of the cases (for all: each target in turn)", jobsArg, 1)
    .option("--corpus <dir>", "coverage target: corpus directory, one input per file (read at the start; new inputs written as <sha1>)")
    .option("--seed <n>", "seed", specFlag("--seed", "seed"), 1)
    .option("--case <n>", "model, boundary, guest: run only this case (reproduces a saved failure)", atLeast("--case", 0))
    .option("--input <file>", "coverage target: run only this saved input")
    .option("--out <dir>", "where failures are saved", "fuzz-failures")
    .addOption(new Option("--images <dir>", "directory holding fuzzer.wasm").default(IMAGE_DIR, "the bundled images"))
    .option("--case-budget <seconds>", "a case that runs longer fails (and the fuzzer moves on)", secondsArg("--case-budget"), 20)
    .option("--json", "print the summary as JSON on stdout (progress stays on stderr)")
    .addHelpText(
      "after",
      examples([
        ["tmemvm fuzz", "every target, 30 s in all"],
        ["tmemvm fuzz --target model --seconds 600 --jobs 2", "one target, two threads"],
        ["tmemvm fuzz --target boundary --case 1234 --seed 9", "reproduce a saved failure"],
        ["tmemvm fuzz --target coverage --corpus corpus/", "grow a corpus of new-coverage inputs"],
      ]),
    )
    .action(async (opts: FuzzCliOptions, cmd: Command) => {
      if (cmd.getOptionValueSource("images") === "cli" && !["guest", "all"].includes(opts.target))
        throw new CliError("--images applies only to --target guest (the fuzzer guest image)");
      exitCode = await fuzz(opts, cmd.getOptionValueSource("seconds") === "cli");
    });

  program
    .command("replay")
    .description("re-execute a recorded trace against a fresh VMM; exit 0 only if nothing diverges")
    .argument("<trace>", ".tmtr trace written by run --record")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      examples([["tmemvm run selftest --record s.tmtr && tmemvm replay s.tmtr", "record a run, then check it replays"]]),
    )
    .action((trace: string, opts: { json?: boolean }) => {
      exitCode = replay(trace, opts);
    });

  program
    .command("decode")
    .description("pretty-print a struct tmem_op given as hex ('-' reads stdin)")
    .argument("<hex>", "the struct's bytes as hex, or - for stdin")
    .addOption(layoutOption())
    .option("--json", "print JSON")
    .action((hex: string, opts: { layout?: OpLayout; json?: boolean }) => {
      exitCode = decode(hex, opts);
    });

  program
    .command("encode")
    .description("build a struct tmem_op and print it as hex")
    .requiredOption(
      "--cmd <cmd>",
      "command: put, get, flush-page, new-pool, control, ... or a number",
      nameOrNumber(COMMAND_NAMES, "TMEM_"),
    )
    .addOption(layoutOption())
    .option("--pool <id>", "pool_id", numArg(32), 0)
    .addOption(new Option("--oid <w0,w1,w2>", "object id words").argParser(listArg).default([0n], "0"))
    .option("--index <n>", "page index", numArg(32), 0)
    .addOption(new Option("--cmfn <pfn>", "guest frame number").argParser(bigArg).default(0n, "0"))
    .option("--tmem-offset <n>", "READ/WRITE: offset in the tmem page", numArg(32), 0)
    .option("--pfn-offset <n>", "READ/WRITE: offset in the guest frame", numArg(32), 0)
    .option("--len <n>", "READ/WRITE: bytes", numArg(32), 0)
    .addOption(new Option("--uuid <lo,hi>", "NEW_POOL/AUTH/RESTORE_NEW: uuid words").argParser(listArg).default([0n, 0n], "0,0"))
    .option("--flags <n>", "NEW_POOL: the raw flags word (overrides --persistent/--shared/--version)", numArg(32))
    .option("--persistent", "NEW_POOL: persistent pool")
    .option("--shared", "NEW_POOL: shared pool")
    .option("--version <n>", "NEW_POOL: spec version in the flags (default: the layout's)", numArg(32))
    .option("--arg1 <n>", "creat.arg1 or ctrl.arg1", numArg(32), 0)
    .option("--subop <subop>", "CONTROL: sub-op name or number", nameOrNumber(SUBOP_NAMES, "TMEMC_"), 0)
    .option("--cli-id <n>", "CONTROL: client id (0xffff = all)", numArg(32), C.TMEM_CLI_ID_ALL)
    .option("--arg2 <n>", "CONTROL: ctrl.arg2", numArg(32), 0)
    .addOption(new Option("--buf <addr>", "CONTROL: guest buffer address").argParser(bigArg).default(0n, "0"))
    .action((opts: EncodeOptions) => {
      exitCode = encode(opts);
    });

  program
    .command("header")
    .description("print the C header for guests (xen-tmem.h: constants, struct tmem_op layouts, the hypercall import)")
    .action(() => {
      process.stdout.write(renderCHeader());
    });

  program
    .command("completion")
    .description("print a tab-completion script for bash or zsh (load it with: source <(tmemvm completion bash))")
    .argument("<shell>", COMPLETION_SHELLS.join(" or "))
    .action((shell: string) => {
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell))
        throw new CliError(`no completion for ${shell}; one of: ${COMPLETION_SHELLS.join(", ")}`);
      const layouts = [...OP_LAYOUTS.keys()];
      process.stdout.write(
        completionScript(shell as CompletionShell, program, {
          options: {
            "--layout": layouts,
            "--target": [...FUZZ_TARGETS, "all"],
            "--config": "file",
            "--record": "file",
            "--save": "file",
            "--restore": "file",
            "--list-json": "file",
            "--input": "file",
            "--out": "dir",
            "--images": "dir",
            "--corpus": "dir",
            "--cmd": [...COMMAND_NAMES.values()].map((n) =>
              n
                .replace(/^TMEM_/, "")
                .toLowerCase()
                .replace(/_/g, "-"),
            ),
            "--subop": [...SUBOP_NAMES.values()].map((n) =>
              n
                .replace(/^TMEMC_/, "")
                .toLowerCase()
                .replace(/_/g, "-"),
            ),
          },
          positional: { run: bundledImages().map((i) => i.name), completion: COMPLETION_SHELLS },
        }),
      );
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    const verdict = classifyError(e);
    if (verdict.message !== null) process.stderr.write(`tmemvm: ${verdict.message}\n`);
    if (verdict.internal && process.env.TMEMVM_DEBUG) console.error(e);
    return verdict.status;
  }
}

// A reader that goes away (`tmemvm decode … | head`) ends the output, not the program with a trace.
// Any other failure to write stdout or stderr (a full disk, /dev/full) means output was lost: the
// command still finishes (its files are still written), then exits with EXIT_IO and one line.
let lostOutput: string | null = null;
for (const [stream, name] of [
  [process.stdout, "stdout"],
  [process.stderr, "stderr"],
] as const) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    lostOutput ??= `cannot write ${name}: ${e.message}`;
  });
}
process.on("exit", () => {
  if (lostOutput === null) return;
  try {
    writeSync(2, `tmemvm: ${lostOutput}\n`);
  } catch {
    // stderr is what failed: the status says it.
  }
  process.exitCode = EXIT_IO;
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
