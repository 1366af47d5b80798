// `tmemvm run`: builds the spec's machine (vmm/spec/ boots, restores, records and fires the control
// actions), runs it, saves, and reports; each output is written whole or not at all.
import {
  buildMachine,
  keepAbandonedTrace,
  nodeMachinePlatform,
  OutputWriteError,
  traceFile,
  writeOutputFile,
  type ConsoleSink,
  type ControlPlane,
  type MachineSpec,
  type Vmm,
} from "../vmm/node.js";
import { checkOutputs, type InputClaim, type OutputClaim } from "./output-path.js";

export { keepAbandonedTrace };

export interface RunOutput {
  /** Guest console and reports. */
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Values of the stop flag: why the run was stopped. */
export const STOP_INTERRUPT = 1;
export const STOP_TIMEOUT = 2;
export const STOP_TERMINATE = 3;

export interface RunReportOptions {
  summary: boolean;
  /** Write the final listing as JSON here ("-" = stdout). */
  listJson?: string;
  /** Stops the run at the guests' next hypercall once non-zero (another thread may set it). */
  stop?: Int32Array;
  /** Kept at the hypercalls made so far, for the main thread's progress line. */
  hypercallCounter?: Int32Array;
  /** Called when everything is checked and booted, just before the guests start running. */
  onStart?: () => void;
}

export interface RunResult {
  vmm: Vmm;
  control: ControlPlane;
  /** Domains that crashed, with why. */
  crashed: Vmm["domains"];
  /** 0 if every guest exited 0, else the first non-zero exit code (in domain order). */
  exitCode: number;
  /** The stop flag's value if the run was stopped before every guest ended, else 0. */
  stopped: number;
}

/** Every file the run will write, checked before anything boots (`config`: the config file read). */
export function checkRunOutputs(spec: MachineSpec, report: RunReportOptions, config?: string): void {
  const outputs: OutputClaim[] = [];
  for (const g of spec.guests) if (g.save) outputs.push({ path: g.save, what: "--save", saveFile: true });
  for (const a of spec.control)
    if (a.action === "save") outputs.push({ path: a.file, what: `control action ${a.at}:save`, saveFile: true });
  if (spec.record) outputs.push({ path: spec.record, what: "--record" });
  if (report.listJson && report.listJson !== "-") outputs.push({ path: report.listJson, what: "--list-json" });
  const inputs: InputClaim[] = spec.guests.flatMap((g) => (typeof g.image === "string" ? [{ path: g.image, what: "the image" }] : []));
  for (const g of spec.guests) if (g.restore) inputs.push({ path: g.restore, what: "--restore", saveFile: true });
  for (const a of spec.control)
    if (a.action === "restore") inputs.push({ path: a.file, what: `control action ${a.at}:restore`, saveFile: true });
  if (config) inputs.push({ path: config, what: "--config" });
  checkOutputs(outputs, inputs);
}

/** Console lines of one of several guests, each prefixed with its name. */
export function prefixedSink(name: string, out: RunOutput): ConsoleSink & { end(): void } {
  const partial = { stdout: "", stderr: "" };
  const emit = (which: "stdout" | "stderr", text: string) => {
    const lines = (partial[which] + text).split("\n");
    partial[which] = lines.pop()!;
    for (const l of lines) out[which](`[${name}] ${l}\n`);
  };
  return {
    stdout: (t) => emit("stdout", t),
    stderr: (t) => emit("stderr", t),
    end: () => {
      for (const which of ["stdout", "stderr"] as const) if (partial[which]) out[which](`[${name}] ${partial[which]}\n`);
    },
  };
}

export async function runGuests(spec: MachineSpec, report: RunReportOptions, reportOut: RunOutput): Promise<RunResult> {
  checkRunOutputs(spec, report);
  // With the listing as JSON on stdout, stdout carries nothing else: guest consoles go to stderr.
  const out: RunOutput = report.listJson === "-" ? { stdout: reportOut.stderr, stderr: reportOut.stderr } : reportOut;
  const sinks: (ConsoleSink & { end?(): void })[] = [];
  const several = spec.guests.length > 1;
  const platform = nodeMachinePlatform();
  let traceSink: ReturnType<typeof traceFile> | null = null;
  platform.traceSink = (path) => (traceSink = traceFile(path));
  // A failed write names the output as the user gave it.
  const saves = new Set(spec.guests.flatMap((g) => (g.save ? [g.save] : [])));
  platform.saveFiles = {
    read: platform.saveFiles.read,
    write: (path, bytes) => writeOutputFile(path, bytes, saves.has(path) ? "--save" : "the control action's save"),
  };
  const m = await buildMachine(spec, platform, {
    stop: report.stop,
    hypercallCounter: report.hypercallCounter,
    log: (line) => out.stderr(`${line}\n`),
    console: (_, name) => {
      const sink = several ? prefixedSink(name, out) : { stdout: out.stdout, stderr: out.stderr };
      sinks.push(sink);
      return sink;
    },
  });
  report.onStart?.();
  try {
    m.run();
  } catch (e) {
    try {
      m.recorder?.close(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
    } catch {
      // The run's own failure is the one to report.
    }
    throw e;
  }
  const stopped = report.stop?.[0] ?? 0;
  for (const s of sinks) s.end?.();
  const stopReason =
    stopped === 0 ? undefined : stopped === STOP_TIMEOUT ? "timeout" : stopped === STOP_TERMINATE ? "terminated" : "interrupted";
  if (stopReason) out.stderr(`run stopped after ${m.hypercalls} hypercalls (${stopReason})\n`);
  for (const a of m.unfired) out.stderr(`control action ${a.at}:${a.action} never fired: the run ended after ${m.hypercalls} hypercalls\n`);
  // One output that cannot be written does not cost the others: each is tried, the first failure
  // is thrown once all are done and the rest are reported.
  const failures: OutputWriteError[] = [];
  const output = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof OutputWriteError)) throw e;
      failures.push(e);
    }
  };
  // Every guest that had ended is saved, a stopped run's too; one stopped half-way is not.
  m.saveAll(output);
  const recorded = m.recorder?.close(stopReason) ?? 0;
  const traceFailure = (traceSink as ReturnType<typeof traceFile> | null)?.failure;
  if (traceFailure) failures.push(traceFailure);
  if (report.summary) out.stderr(`${m.control.listText()}\n`);
  if (report.listJson) {
    const json = `${JSON.stringify(m.control.list(), null, 2)}\n`;
    if (report.listJson === "-") reportOut.stdout(json);
    else output(() => writeOutputFile(report.listJson!, json, "--list-json"));
  }
  const recorder = m.recorder;
  if (recorder && !failures.some((f) => f.path === recorder.path)) out.stderr(`recorded ${recorded} hypercalls to ${recorder.path}\n`);
  for (const f of failures.slice(1)) out.stderr(`tmemvm: ${f.message}\n`);
  if (failures.length > 0) throw failures[0];
  const crashed = m.vmm.domains.filter((d) => d.state === "crashed");
  const failed = m.vmm.domains.find((d) => d.exitCode !== null && d.exitCode !== 0);
  return { vmm: m.vmm, control: m.control, crashed, exitCode: failed?.exitCode ?? 0, stopped };
}
