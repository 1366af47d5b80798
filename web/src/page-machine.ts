// A VMM running in the page: booted from the form, run in short bursts between frames so the page
// stays responsive (pause, step, live charts), every hypercall kept for the log, optionally
// recorded into an in-memory .tmtr trace.
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { ControlPlane } from "../../vmm/host/control-plane.js";
import type { Domain } from "../../vmm/machine/domain.js";
import { imageFromBytes } from "../../vmm/machine/image.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { recordVmm, type TraceRecorder } from "../../vmm/trace/recorder.js";
import { MemoryTraceSink } from "../../vmm/trace/trace-sink.js";
import { pageAssets } from "./assets.js";

export interface GuestConfig {
  image: string;
  name: string;
  ramMiB: number;
  weight: number;
  /** Persistent tmem cap in MiB, or null for none. */
  capMiB: number | null;
  compress: boolean;
  layout: string;
  args: string[];
  /** A save file to restore into the guest before it runs. */
  restore?: { name: string; bytes: Uint8Array };
}

export interface MachineConfig {
  tmemMiB: number;
  seed: number;
  quantum: number;
  record: boolean;
  guests: GuestConfig[];
}

/** One hypercall, as the log shows it. */
export interface LogEntry {
  seq: number;
  domid: number;
  guest: string;
  cmd: number;
  /** The struct as the guest passed it (null if its pointer was outside its RAM). */
  struct: Uint8Array | null;
  layout: string;
  result: number;
}

/** A point of the live charts, taken every `sampleEvery` hypercalls. */
export interface Sample {
  hypercalls: number;
  /** Milliseconds since the run started. */
  ms: number;
  guests: { name: string; hitRatio: number | null; pages: number; puts: number; gets: number; evictions: number }[];
}

const LOG_KEEP = 20_000;

export class PageMachine {
  readonly control: ControlPlane;
  readonly consoles = new Map<number, string>();
  readonly log: LogEntry[] = [];
  /** Hypercalls seen in all (the log keeps the last LOG_KEEP). */
  seen = 0;
  readonly samples: Sample[] = [];
  private runs = 0;
  private lastSample = new Map<number, { gets: number; hits: number }>();
  private started = 0;
  private nextSample: number;
  private readonly sink: MemoryTraceSink | null;
  private readonly recorder: TraceRecorder | null;
  onConsole: (domid: number, text: string) => void = () => {};

  /** `stop` is the VMM's stop flag: set between slices, it ends a burst with every guest suspended. */
  private constructor(readonly vmm: Vmm, readonly cfg: MachineConfig, readonly sampleEvery: number, private readonly stop: Int32Array) {
    this.control = new ControlPlane(vmm);
    this.nextSample = sampleEvery;
    this.sink = cfg.record ? new MemoryTraceSink() : null;
    this.recorder = this.sink ? recordVmm(vmm, this.sink, { page: true, tmemMiB: cfg.tmemMiB, seed: cfg.seed, guests: cfg.guests.map(({ restore: _r, ...g }) => g) }, this.control) : null;
  }

  /** Boots the configured guests; a bad image, layout or option throws before anything runs. */
  static async boot(cfg: MachineConfig, images: ReadonlyMap<string, Uint8Array>, sampleEvery: number): Promise<PageMachine> {
    const built = cfg.guests.map((g) => {
      const bytes = images.get(g.image);
      if (!bytes) throw new Error(`no image ${g.image}`);
      const layout = opLayout(g.layout);
      if (!layout) throw new Error(`unknown layout ${g.layout}`);
      return { image: imageFromBytes(bytes, g.image), layout };
    });
    const stop = new Int32Array(1);
    const vmm = await Vmm.create({ tmemMiB: cfg.tmemMiB, stop, assets: pageAssets() });
    const m = new PageMachine(vmm, cfg, sampleEvery, stop);
    for (const [i, g] of cfg.guests.entries()) {
      let domid = -1;
      const write = (t: string) => m.consoleWrite(domid, t);
      const d = await vmm.boot({
        image: built[i].image, name: g.name, ramMiB: g.ramMiB, layout: built[i].layout, weight: g.weight,
        capMiB: g.capMiB ?? undefined, compress: g.compress, args: g.args, interleaved: true,
        console: { stdout: write, stderr: write },
      });
      domid = d.domid;
      m.consoles.set(domid, "");
      m.watch(d);
    }
    cfg.guests.forEach((g, i) => {
      if (g.restore) m.control.restore(vmm.domains[i].domid, g.restore.bytes, g.restore.name);
    });
    return m;
  }

  private consoleWrite(domid: number, text: string): void {
    this.consoles.set(domid, (this.consoles.get(domid) ?? "") + text);
    this.onConsole(domid, text);
  }

  /** Keeps every hypercall of `d` for the log, after whatever already observes it (the recorder). */
  private watch(d: Domain): void {
    const inner = d.observer;
    let struct: Uint8Array | null = null;
    d.observer = {
      before: (dom, regs) => {
        inner?.before?.(dom, regs);
        const at = dom.ram.address(regs[2], regs[3], dom.layout.size);
        const bytes = typeof at === "number" ? dom.ram.read(at, dom.layout.size) : null;
        struct = bytes instanceof Uint8Array ? bytes : null;
      },
      after: (dom, regs, result, op, cmfn) => {
        inner?.after?.(dom, regs, result, op, cmfn);
        const cmd = struct ? new DataView(struct.buffer).getUint32(0, true) : -1;
        this.log.push({ seq: ++this.seen, domid: dom.domid, guest: dom.name, cmd, struct, layout: dom.layout.name, result });
        if (this.log.length > LOG_KEEP * 1.5) this.log.splice(0, this.log.length - LOG_KEEP);
      },
    };
  }

  /** Domains that have not ended. */
  get live(): Domain[] {
    return this.vmm.domains.filter((d) => d.state === "created" || d.state === "running");
  }

  get done(): boolean {
    return this.live.length === 0;
  }

  /**
   * Runs until `ms` milliseconds have passed (checked between scheduler slices) or, with
   * `slices`, that many slices; returns whether guests are left to run.
   */
  run(opts: { ms?: number; slices?: number; quantum?: number }): boolean {
    const live = this.live;
    if (live.length === 0) return false;
    if (this.started === 0) this.started = performance.now();
    const until = performance.now() + (opts.ms ?? Infinity);
    let slices = 0;
    this.stop[0] = 0;
    // Each burst is a run of its own in the trace, with its own seed; replay re-runs each one.
    this.vmm.runAll({
      seed: this.cfg.seed + this.runs++,
      quantum: opts.quantum ?? this.cfg.quantum,
      onSlice: () => {
        this.maybeSample();
        if (++slices >= (opts.slices ?? Infinity) || performance.now() >= until) this.stop[0] = 1;
      },
    }, live);
    this.stop[0] = 0;
    if (this.done) this.takeSample();
    return !this.done;
  }

  private maybeSample(): void {
    if (this.seen < this.nextSample) return;
    this.nextSample = this.seen + this.sampleEvery;
    this.takeSample();
  }

  /** A point for the charts now: each guest's hit ratio since the last point, its pages and counts. */
  takeSample(): void {
    const guests: Sample["guests"] = [];
    for (const d of this.vmm.domains) {
      const c = this.vmm.tmem.findClient(d.domid);
      if (!c) {
        guests.push({ name: d.name, hitRatio: null, pages: 0, puts: 0, gets: 0, evictions: 0 });
        continue;
      }
      const prev = this.lastSample.get(d.domid) ?? { gets: 0, hits: 0 };
      const dg = c.gets - prev.gets;
      this.lastSample.set(d.domid, { gets: c.gets, hits: c.hits });
      const puts = c.pools.reduce((n, p) => n + (p?.stats.puts ?? 0), 0);
      guests.push({ name: d.name, hitRatio: dg > 0 ? (c.hits - prev.hits) / dg : null, pages: c.ephemeralPages + c.persistentPages, puts, gets: c.gets, evictions: c.evictions });
    }
    this.samples.push({ hypercalls: this.seen, ms: performance.now() - this.started, guests });
  }

  /** Ends the recording (if any) and returns the trace's bytes. */
  finishTrace(): Uint8Array | null {
    if (!this.recorder || !this.sink) return null;
    this.recorder.close(this.done ? null : "stopped in the page");
    return this.sink.bytes();
  }

  get recording(): boolean {
    return this.recorder !== null && !this.recorder.closed;
  }
}
