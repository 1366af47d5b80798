// `tmemvm run`: builds the spec's machine (vmm/spec/ boots, restores, records and fires the control
// actions), runs it, saves, and reports.
import { writeFileSync } from "node:fs";
import { buildMachine, nodeMachinePlatform, type ConsoleSink, type ControlPlane, type MachineSpec, type Vmm } from "../vmm/node.js";
import { checkOutputFile } from "./output-path.js";

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

/** Every file the run will write, checked before anything boots. */
export function checkRunOutputs(spec: MachineSpec, report: RunReportOptions): void {
  for (const g of spec.guests) if (g.save) checkOutputFile(g.save, "--save");
  for (const a of spec.control) if (a.action === "save") checkOutputFile(a.file, `control action ${a.at}:save`);
  if (spec.record) checkOutputFile(spec.record, "--record");
  if (report.listJson && report.listJson !== "-") checkOutputFile(report.listJson, "--list-json");
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
  const m = await buildMachine(spec, nodeMachinePlatform(), {
    stop: report.stop,
    log: (line) => out.stderr(line + "\n"),
    console: (_, name) => {
      const sink = several ? prefixedSink(name, out) : { stdout: out.stdout, stderr: out.stderr };
      sinks.push(sink);
      return sink;
    },
  });
  report.onStart?.();
  m.run();
  const stopped = report.stop?.[0] ?? 0;
  for (const s of sinks) s.end?.();
  const stopReason = stopped === 0 ? undefined : stopped === STOP_TIMEOUT ? "timeout" : stopped === STOP_TERMINATE ? "terminated" : "interrupted";
  if (stopReason) out.stderr(`run stopped after ${m.hypercalls} hypercalls (${stopReason})\n`);
  for (const a of m.unfired) out.stderr(`control action ${a.at}:${a.action} never fired: the run ended after ${m.hypercalls} hypercalls\n`);
  m.saveAll();
  const recorded = m.recorder?.close(stopReason);
  if (report.summary) out.stderr(m.control.listText() + "\n");
  if (report.listJson) {
    const json = JSON.stringify(m.control.list(), null, 2) + "\n";
    if (report.listJson === "-") reportOut.stdout(json);
    else writeFileSync(report.listJson, json);
  }
  if (m.recorder) out.stderr(`recorded ${recorded} hypercalls to ${m.recorder.path}\n`);
  const crashed = m.vmm.domains.filter((d) => d.state === "crashed");
  const failed = m.vmm.domains.find((d) => d.exitCode !== null && d.exitCode !== 0);
  return { vmm: m.vmm, control: m.control, crashed, exitCode: failed?.exitCode ?? 0, stopped };
}
