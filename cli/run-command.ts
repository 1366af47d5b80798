// `tmemvm run`: boots the configured domains, restores what they should start with, runs them
// (interleaved when there are several, or when control actions must fire mid-run), applies the
// control actions, saves, records, and reports.
import { existsSync } from "node:fs";
import { actionText, ControlError, type ControlAction } from "../vmm/host/control-action.js";
import { ControlPlane, type Listing } from "../vmm/host/control-plane.js";
import type { Domain } from "../vmm/machine/domain.js";
import type { GuestImage } from "../vmm/machine/image.js";
import { keepAbandonedTrace, loadImage, OutputWriteError, readSaveFile, saveFileStore, traceFile, writeOutputFile } from "../vmm/platform/files.js";

export { keepAbandonedTrace };
import { checkOutputs, type InputClaim, type OutputClaim } from "./output-path.js";
import type { RunConfig } from "./run-config.js";
import { recordVmm } from "../vmm/trace/recorder.js";
import { Vmm, type ConsoleSink } from "../vmm/machine/vmm.js";

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
  record?: string;
  /** Stops the run at the guests' next hypercall once non-zero (another thread may set it). */
  stop?: Int32Array;
  /** Called when everything is checked and booted, just before the guests start running. */
  onStart?: () => void;
}

export interface RunResult {
  vmm: Vmm;
  control: ControlPlane;
  /** Domains that crashed, with why. */
  crashed: Domain[];
  /** 0 if every guest exited 0, else the first non-zero exit code (in domain order). */
  exitCode: number;
  /** The stop flag's value if the run was stopped before every guest ended, else 0. */
  stopped: number;
}

/** Every file the run will write, checked before anything boots (`config`: the config file read). */
export function checkRunOutputs(cfg: RunConfig, report: RunReportOptions, config?: string): void {
  const outputs: OutputClaim[] = [];
  for (const d of cfg.domains) if (d.save) outputs.push({ path: d.save, what: "--save", saveFile: true });
  for (const a of cfg.control) if (a.action === "save") outputs.push({ path: a.file, what: `control action ${a.at}:save`, saveFile: true });
  if (report.record) outputs.push({ path: report.record, what: "--record" });
  if (report.listJson && report.listJson !== "-") outputs.push({ path: report.listJson, what: "--list-json" });
  const inputs: InputClaim[] = cfg.domains.map((d) => ({ path: d.image, what: "the image" }));
  for (const d of cfg.domains) if (d.restore) inputs.push({ path: d.restore, what: "--restore", saveFile: true });
  for (const a of cfg.control) if (a.action === "restore") inputs.push({ path: a.file, what: `control action ${a.at}:restore`, saveFile: true });
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

export async function runGuests(cfg: RunConfig, report: RunReportOptions, reportOut: RunOutput): Promise<RunResult> {
  checkRunOutputs(cfg, report);
  // With the listing as JSON on stdout, stdout carries nothing else: guest consoles go to stderr.
  const out: RunOutput = report.listJson === "-" ? { stdout: reportOut.stderr, stderr: reportOut.stderr } : reportOut;
  const images = new Map<string, GuestImage>();
  for (const d of cfg.domains) if (!images.has(d.image)) images.set(d.image, loadImage(d.image));
  const used = new Map<string, number>();
  const names = cfg.domains.map((d) => {
    const base = d.name ?? images.get(d.image)!.name;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
  // Checked before booting, which can take a while (interleaved guests are rewritten with Asyncify):
  // the domains the actions name (by name or domid; a fresh VMM numbers them from 1) and the files to restore.
  for (const a of cfg.control) {
    const ref = "domain" in a ? a.domain : null;
    if (ref !== null && !names.some((n, i) => n === ref || i + 1 === Number(ref))) {
      throw new ControlError(`no domain ${ref}; domains: ${names.map((n, i) => `${i + 1} (${n})`).join(", ")}`);
    }
  }
  for (const d of cfg.domains) {
    if (d.restore && !existsSync(d.restore)) throw new ControlError(`${d.restore}: no such file`);
  }
  const vmm = await Vmm.create({ tmemMiB: cfg.tmemMiB, stop: report.stop });
  const control = new ControlPlane(vmm, saveFileStore);
  // Recording starts before the domains boot: their policy and restored pages go in the trace.
  const traceSink = report.record ? traceFile(report.record) : null;
  const recorder = traceSink ? recordVmm(vmm, traceSink, { ...cfg, domains: cfg.domains.map((d) => ({ ...d, layout: d.layout?.name })), control: cfg.control.map((c) => `${c.at}:${actionText(c)}`) }, control) : null;
  const several = cfg.domains.length > 1;
  const interleaved = several || cfg.control.length > 0;
  const sinks: (ConsoleSink & { end?(): void })[] = [];
  for (const [i, d] of cfg.domains.entries()) {
    const image = images.get(d.image)!;
    const name = names[i];
    const sink = several ? prefixedSink(name, out) : { stdout: out.stdout, stderr: out.stderr };
    sinks.push(sink);
    await vmm.boot({ image, name, ramMiB: d.ramMiB, weight: d.weight, capMiB: d.capMiB, layout: d.layout, privileged: d.privileged, args: d.args, console: sink, interleaved });
  }
  cfg.domains.forEach((d, i) => {
    if (d.restore) {
      const r = control.restore(vmm.domains[i].domid, readSaveFile(d.restore), d.restore);
      out.stderr(`restored ${r.pages} pages in ${r.pools} pools into ${vmm.domains[i].name} from ${d.restore}\n`);
    }
  });

  const pending = [...cfg.control].sort((a, b) => a.at - b.at);
  const hypercalls = () => vmm.domains.reduce((n, d) => n + d.hypercalls, 0);
  const applyDue = () => {
    while (pending.length > 0 && pending[0].at <= hypercalls()) {
      const a = pending.shift()!;
      out.stderr(`control at ${hypercalls()} hypercalls: ${actionText(a)}\n`);
      try {
        const msg = applyControl(control, a);
        if (msg) out.stderr(msg + "\n");
      } catch (e) {
        if (e instanceof OutputWriteError) throw new OutputWriteError(`control action ${a.at}:${a.action}`, e.path, e.code, e.cause);
        // An action the run made moot (the domain was destroyed) is reported; the run goes on.
        if (!(e instanceof ControlError)) throw e;
        out.stderr(`control action ${a.action} failed: ${e.message}\n`);
      }
    }
  };
  try {
    applyDue();
    report.onStart?.();
    vmm.runAll({ seed: cfg.seed, quantum: cfg.quantum, onSlice: pending.length > 0 ? applyDue : undefined });
  } catch (e) {
    try {
      recorder?.close(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
    } catch {
      // The run's own failure is the one to report.
    }
    throw e;
  }
  const stopped = report.stop?.[0] ?? 0;
  for (const s of sinks) s.end?.();
  const stopReason = stopped === 0 ? undefined : stopped === STOP_TIMEOUT ? "timeout" : stopped === STOP_TERMINATE ? "terminated" : "interrupted";
  if (stopReason) out.stderr(`run stopped after ${hypercalls()} hypercalls (${stopReason})\n`);
  for (const a of pending) out.stderr(`control action ${a.at}:${a.action} never fired: the run ended after ${hypercalls()} hypercalls\n`);
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
  cfg.domains.forEach((d, i) => {
    const domain = vmm.domains[i];
    // A guest stopped half-way leaves half a state: it is not saved as if it were a finished one.
    // One that had ended before the stop is whole, and saved as in a run that was not stopped.
    const ended = domain.state === "exited" || domain.state === "crashed";
    if (d.save && stopped !== 0 && !ended) out.stderr(`not saving ${domain.name} to ${d.save}: the run was stopped\n`);
    else if (d.save) {
      const r = control.save(domain.domid, d.save);
      output(() => {
        writeOutputFile(d.save!, r.file, "--save");
        out.stderr(`saved ${r.pages} persistent pages in ${r.pools} pools of ${domain.name} to ${d.save}\n`);
      });
    }
  });
  let recorded = 0;
  recorded = recorder?.close(stopReason) ?? 0;
  if (traceSink?.failure) failures.push(traceSink.failure);
  if (report.summary) out.stderr(control.listText() + "\n");
  if (report.listJson) {
    const json = JSON.stringify(control.list(), null, 2) + "\n";
    if (report.listJson === "-") reportOut.stdout(json);
    else output(() => writeOutputFile(report.listJson!, json, "--list-json"));
  }
  if (recorder && !failures.some((f) => f.path === recorder.path)) out.stderr(`recorded ${recorded} hypercalls to ${recorder.path}\n`);
  for (const f of failures.slice(1)) out.stderr(`tmemvm: ${f.message}\n`);
  if (failures.length > 0) throw failures[0];
  const crashed = vmm.domains.filter((d) => d.state === "crashed");
  const failed = vmm.domains.find((d) => d.exitCode !== null && d.exitCode !== 0);
  return { vmm, control, crashed, exitCode: failed?.exitCode ?? 0, stopped };
}

/** Applies one control action; returns a line to print, if any. */
function applyControl(control: ControlPlane, a: ControlAction): string | null {
  const r = control.apply(a);
  switch (a.action) {
    case "flush":
      return `flushed ${r as number} ephemeral pages`;
    case "save": {
      const saved = r as { pools: number; pages: number };
      return `saved ${saved.pages} persistent pages in ${saved.pools} pools of ${a.domain} to ${a.file}`;
    }
    case "list":
      return control.listText(r as Listing);
    default:
      return null;
  }
}
