// `tmemvm run`: boots the configured domains, restores what they should start with, runs them
// (interleaved when there are several, or when control actions must fire mid-run), applies the
// control actions, saves, records, and reports.
import { writeFileSync } from "node:fs";
import { ControlError, ControlPlane } from "./control-plane.js";
import type { Domain } from "./domain.js";
import { loadImage, type GuestImage } from "./image.js";
import { CONTROL_ACTIONS, type RunConfig } from "./run-config.js";
import { Vmm, type ConsoleSink } from "./vmm.js";

export interface RunOutput {
  /** Guest console and reports. */
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface RunReportOptions {
  summary: boolean;
  /** Write the final listing as JSON here ("-" = stdout). */
  listJson?: string;
  record?: string;
}

export interface RunResult {
  vmm: Vmm;
  control: ControlPlane;
  /** Domains that crashed, with why. */
  crashed: Domain[];
  /** 0 if every guest exited 0, else the first non-zero exit code. */
  exitCode: number;
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

export async function runGuests(cfg: RunConfig, report: RunReportOptions, out: RunOutput): Promise<RunResult> {
  const images = new Map<string, GuestImage>();
  for (const d of cfg.domains) if (!images.has(d.image)) images.set(d.image, loadImage(d.image));
  const vmm = await Vmm.create({ tmemMiB: cfg.tmemMiB });
  const control = new ControlPlane(vmm);
  // Recording starts before the domains boot: their policy and restored pages go in the trace.
  const recorder = report.record ? vmm.record(report.record, { ...cfg, domains: cfg.domains.map((d) => ({ ...d, layout: d.layout?.name })) }) : null;
  const several = cfg.domains.length > 1;
  const interleaved = several || cfg.control.length > 0;
  const used = new Map<string, number>();
  const sinks: (ConsoleSink & { end?(): void })[] = [];
  for (const d of cfg.domains) {
    const image = images.get(d.image)!;
    const base = d.name ?? image.name;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    const name = n === 1 ? base : `${base}-${n}`;
    const sink = several ? prefixedSink(name, out) : { stdout: out.stdout, stderr: out.stderr };
    sinks.push(sink);
    await vmm.boot({ image, name, ramMiB: d.ramMiB, weight: d.weight, capMiB: d.capMiB, layout: d.layout, privileged: d.privileged, args: d.args, console: sink, interleaved });
  }
  cfg.domains.forEach((d, i) => {
    if (d.restore) {
      const r = control.restore(vmm.domains[i].domid, d.restore);
      out.stderr(`restored ${r.pages} pages in ${r.pools} pools into ${vmm.domains[i].name} from ${d.restore}\n`);
    }
  });

  // Every action must name a domain that exists and carry sound numbers, before anything runs.
  for (const a of cfg.control) {
    if (CONTROL_ACTIONS[a.action].startsWith("DOMAIN")) control.domain(a.args[0]);
    const n = a.action === "flush" ? a.args[0] : a.action === "weight" || (a.action === "cap" && a.args[1] !== "none") ? a.args[1] : null;
    if (n !== null && !/^\d+$/.test(n)) throw new ControlError(`control action ${a.action}: ${n} is not a whole number`);
    if (a.action === "compress" && !["on", "off"].includes(a.args[1])) throw new ControlError(`control action compress takes on or off`);
  }
  const pending = [...cfg.control].sort((a, b) => a.at - b.at);
  const hypercalls = () => vmm.domains.reduce((n, d) => n + d.hypercalls, 0);
  const applyDue = () => {
    while (pending.length > 0 && pending[0].at <= hypercalls()) {
      const a = pending.shift()!;
      out.stderr(`control at ${hypercalls()} hypercalls: ${a.action} ${a.args.join(" ")}\n`);
      const msg = applyControl(control, a.action, a.args);
      if (msg) out.stderr(msg + "\n");
    }
  };
  try {
    applyDue();
    vmm.runAll({ seed: cfg.seed, quantum: cfg.quantum, onSlice: pending.length > 0 ? applyDue : undefined });
  } catch (e) {
    recorder?.close(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  for (const s of sinks) s.end?.();
  for (const a of pending) out.stderr(`control action ${a.at}:${a.action} never fired: the run ended after ${hypercalls()} hypercalls\n`);
  cfg.domains.forEach((d, i) => {
    if (d.save) {
      const r = control.save(vmm.domains[i].domid, d.save);
      out.stderr(`saved ${r.pages} persistent pages in ${r.pools} pools of ${vmm.domains[i].name} to ${d.save}\n`);
    }
  });
  const recorded = recorder?.close();
  if (report.summary) out.stderr(control.listText() + "\n");
  if (report.listJson) {
    const json = JSON.stringify(control.list(), null, 2) + "\n";
    if (report.listJson === "-") out.stdout(json);
    else writeFileSync(report.listJson, json);
  }
  if (recorder) out.stderr(`recorded ${recorded} hypercalls to ${recorder.path}\n`);
  const crashed = vmm.domains.filter((d) => d.state === "crashed");
  const failed = vmm.domains.find((d) => d.exitCode !== null && d.exitCode !== 0);
  return { vmm, control, crashed, exitCode: failed?.exitCode ?? 0 };
}

/** Applies one control action; returns a line to print, if any. */
export function applyControl(control: ControlPlane, action: string, args: string[]): string | null {
  const uuid = (s: string): [bigint, bigint] => {
    const parts = s.split(",").map((x) => BigInt(x));
    if (parts.length !== 2) throw new Error(`uuid ${s} is not LO,HI`);
    return [parts[0], parts[1]];
  };
  switch (action) {
    case "freeze":
      control.freeze(args[0]);
      return null;
    case "thaw":
      control.thaw(args[0]);
      return null;
    case "flush":
      return `flushed ${control.flush(Number(args[0]))} ephemeral pages`;
    case "weight":
      control.setWeight(args[0], Number(args[1]));
      return null;
    case "cap":
      control.setCapMiB(args[0], args[1] === "none" ? null : Number(args[1]));
      return null;
    case "compress":
      control.setCompress(args[0], args[1] === "on");
      return null;
    case "auth":
    case "deauth":
      control.authorise(args[0], uuid(args[1]), action === "auth");
      return null;
    case "destroy":
      control.destroy(args[0]);
      return null;
    case "save": {
      const r = control.save(args[0], args[1]);
      return `saved ${r.pages} persistent pages in ${r.pools} pools of ${args[0]} to ${args[1]}`;
    }
    case "list":
      return control.listText();
    default:
      throw new Error(`unknown control action ${action}`);
  }
}
