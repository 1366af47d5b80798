// `tmemvm run`: boots the configured domains, restores what they should start with, runs them
// (interleaved when there are several, or when control actions must fire mid-run), applies the
// control actions, saves, records, and reports.
import { existsSync, writeFileSync } from "node:fs";
import { actionText, ControlError, type ControlAction } from "../vmm/host/control-action.js";
import { ControlPlane, type Listing } from "../vmm/host/control-plane.js";
import type { Domain } from "../vmm/machine/domain.js";
import type { GuestImage } from "../vmm/machine/image.js";
import { loadImage, nodeAssets, readSaveFile, saveFileStore, traceFile } from "../vmm/platform/files.js";
import { checkOutputFile } from "./output-path.js";
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

/** Every file the run will write, checked before anything boots. */
export function checkRunOutputs(cfg: RunConfig, report: RunReportOptions): void {
  for (const d of cfg.domains) if (d.save) checkOutputFile(d.save, "--save");
  for (const a of cfg.control) if (a.action === "save") checkOutputFile(a.file, `control action ${a.at}:save`);
  if (report.record) checkOutputFile(report.record, "--record");
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
  const vmm = await Vmm.create({ tmemMiB: cfg.tmemMiB, stop: report.stop, assets: nodeAssets });
  const control = new ControlPlane(vmm, saveFileStore);
  // Recording starts before the domains boot: their policy and restored pages go in the trace.
  const recorder = report.record ? recordVmm(vmm, traceFile(report.record), { ...cfg, domains: cfg.domains.map((d) => ({ ...d, layout: d.layout?.name })), control: cfg.control.map((c) => `${c.at}:${actionText(c)}`) }, control) : null;
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
    recorder?.close(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  const stopped = report.stop?.[0] ?? 0;
  for (const s of sinks) s.end?.();
  const stopReason = stopped === 0 ? undefined : stopped === STOP_TIMEOUT ? "timeout" : stopped === STOP_TERMINATE ? "terminated" : "interrupted";
  if (stopReason) out.stderr(`run stopped after ${hypercalls()} hypercalls (${stopReason})\n`);
  for (const a of pending) out.stderr(`control action ${a.at}:${a.action} never fired: the run ended after ${hypercalls()} hypercalls\n`);
  cfg.domains.forEach((d, i) => {
    // A guest stopped half-way leaves half a state: it is not saved as if it were a finished one.
    if (d.save && stopped !== 0) out.stderr(`not saving ${vmm.domains[i].name} to ${d.save}: the run was stopped\n`);
    else if (d.save) {
      const r = control.save(vmm.domains[i].domid, d.save);
      writeFileSync(d.save, r.file);
      out.stderr(`saved ${r.pages} persistent pages in ${r.pools} pools of ${vmm.domains[i].name} to ${d.save}\n`);
    }
  });
  const recorded = recorder?.close(stopReason);
  if (report.summary) out.stderr(control.listText() + "\n");
  if (report.listJson) {
    const json = JSON.stringify(control.list(), null, 2) + "\n";
    if (report.listJson === "-") reportOut.stdout(json);
    else writeFileSync(report.listJson, json);
  }
  if (recorder) out.stderr(`recorded ${recorded} hypercalls to ${recorder.path}\n`);
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
