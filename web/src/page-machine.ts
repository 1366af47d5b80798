// The page's VMM, run in its machine worker (machine-worker.ts): the form's machine spec, built by
// the one builder (vmm/spec/) as the CLI and the API build theirs, run in short bursts so that
// requests (pause, step, live policy) are answered between them, every hypercall kept for the log,
// optionally recorded into an in-memory .tmtr trace. The bursts pause and resume one schedule: the
// same spec and seed give the page the run the CLI gets, however the time is sliced.
import {
  buildMachine,
  checkSpec,
  memoryPlatform,
  objectSource,
  type BuiltMachine,
  type ControlPlane,
  type Domain,
  type AssetLoader,
  type MemoryPlatform,
} from "../../vmm/api.js";
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
  /** The trace ends after this many hypercalls (the page keeps it in memory, so it is bounded). */
  recordLimit?: number;
  guests: GuestConfig[];
  /** Control actions as `--control` takes them ("0:auth reader-a 0x46494c45,0x53484152"). */
  control?: string[];
}

/** A live policy change to one domain. */
export type PolicyChange = { weight: number } | { capMiB: number | null } | { compress: boolean } | { frozen: boolean };

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

/** A guest's outcome as `tmemvm demo` reports it (null counts: its tmem client is gone). */
export interface GuestResult {
  domid: number;
  name: string;
  weight: number | null;
  gets: number | null;
  hits: number | null;
  evictions: number | null;
}

/** One guest's part of a sample: counts since boot (cumulative), pages held now. */
export interface GuestSample {
  name: string;
  /** Its tmem client is gone (the domain was destroyed): the counts are those it had last. */
  gone: boolean;
  /** Hits per get since the last sample, or null if it made no get since. */
  hitRatio: number | null;
  pages: number;
  ephemeral: number;
  persistent: number;
  puts: number;
  gets: number;
  hits: number;
  evictions: number;
}

/** A point of the live charts, taken every `sampleEvery` hypercalls. */
export interface Sample {
  /** Hypercalls made so far, all guests together: the charts' x axis. */
  hypercalls: number;
  guests: GuestSample[];
}

const LOG_KEEP = 20_000;

/** The trace's name in the page (it is downloaded under it). */
const PAGE_TRACE = "page.tmtr";

/** The form as a machine spec (unchecked: checkSpec names its mistakes page.guests[i].key). */
export function pageSpec(cfg: MachineConfig): unknown {
  return {
    tmemMiB: cfg.tmemMiB,
    seed: cfg.seed,
    quantum: cfg.quantum,
    record: cfg.record ? PAGE_TRACE : undefined,
    guests: cfg.guests.map(({ restore, ...g }) => ({ ...g, restore: restore?.name })),
    control: cfg.control,
  };
}

export class PageMachine {
  readonly control: ControlPlane;
  readonly vmm: BuiltMachine["vmm"];
  readonly consoles = new Map<number, string>();
  readonly log: LogEntry[] = [];
  /** Hypercalls seen in all (the log keeps the last LOG_KEEP). */
  seen = 0;
  readonly samples: Sample[] = [];
  private lastSample = new Map<number, { gets: number; hits: number }>();
  private nextSample: number;
  onConsole: (domid: number, text: string) => void = () => {};

  /** `stop` is the VMM's stop flag: set between slices, it ends a burst with every guest suspended. */
  /** The trace, once it has ended (at the limit, or with the run). */
  private trace: Uint8Array | null = null;

  private constructor(
    private readonly built: BuiltMachine,
    readonly sampleEvery: number,
    private readonly stop: Int32Array,
    private readonly platform: MemoryPlatform,
    readonly recordLimit: number,
  ) {
    this.vmm = built.vmm;
    this.control = built.control;
    this.nextSample = sampleEvery;
  }

  /** Boots the configured guests; a bad image, layout or option throws before anything runs. */
  static async boot(
    cfg: MachineConfig,
    images: ReadonlyMap<string, Uint8Array>,
    sampleEvery: number,
    assets: AssetLoader = pageAssets(),
  ): Promise<PageMachine> {
    const spec = checkSpec(pageSpec(cfg), objectSource("page"));
    const saveFiles = new Map(cfg.guests.flatMap((g) => (g.restore ? [[g.restore.name, g.restore.bytes] as const] : [])));
    const stop = new Int32Array(1);
    let m: PageMachine | null = null;
    const domids: number[] = [];
    // The bundled images come with their suspendable forms: the page runs them without binaryen.
    const platform = memoryPlatform(images, assets, saveFiles, assets);
    const built = await buildMachine(spec, platform, {
      stop,
      // A lone guest too, so that Step can pause it between slices.
      suspendable: true,
      console: (i) => {
        const write = (t: string) => m?.consoleWrite(domids[i], t);
        return { stdout: write, stderr: write };
      },
    });
    m = new PageMachine(built, sampleEvery, stop, platform, cfg.recordLimit ?? Infinity);
    for (const d of built.vmm.domains) {
      domids.push(d.domid);
      m.consoles.set(d.domid, "");
      m.watch(d);
    }
    // The charts' first point: what tmem holds before any hypercall (a restored save file's pages).
    m.takeSample();
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
        // The recorder stops hearing once its trace ended at the limit.
        if (this.recording) inner?.before?.(dom, regs);
        const at = dom.ram.address(regs[2], regs[3], dom.layout.size);
        const bytes = typeof at === "number" ? dom.ram.read(at, dom.layout.size) : null;
        struct = bytes instanceof Uint8Array ? bytes : null;
      },
      after: (dom, regs, result, op, cmfn) => {
        if (this.recording) inner?.after?.(dom, regs, result, op, cmfn);
        const cmd = struct ? new DataView(struct.buffer).getUint32(0, true) : -1;
        this.log.push({ seq: ++this.seen, domid: dom.domid, guest: dom.name, cmd, struct, layout: dom.layout.name, result });
        if (this.recording && this.seen >= this.recordLimit)
          this.finishTrace(`the page's recording limit of ${this.recordLimit} hypercalls`);
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
   * Runs until `ms` milliseconds have passed (checked between scheduler slices), with `slices`
   * that many slices, or with `until` the slice in which the hypercall count reaches it; returns
   * whether guests are left to run.
   */
  run(opts: { ms?: number; slices?: number; until?: number }): boolean {
    if (this.done) return false;
    const until = performance.now() + (opts.ms ?? Infinity);
    let slices = 0;
    this.stop[0] = 0;
    // A burst ends between two slices; the next one resumes the same schedule (no new seed).
    this.built.run(() => {
      this.maybeSample();
      if (++slices >= (opts.slices ?? Infinity) || performance.now() >= until || this.seen >= (opts.until ?? Infinity)) this.stop[0] = 1;
    });
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
    const last = this.samples.at(-1);
    const guests = this.vmm.domains.map((d, i): GuestSample => {
      const c = this.vmm.tmem.findClient(d.domid);
      if (!c) {
        const was = last?.guests[i];
        return {
          name: d.name,
          gone: true,
          hitRatio: null,
          pages: 0,
          ephemeral: 0,
          persistent: 0,
          puts: was?.puts ?? 0,
          gets: was?.gets ?? 0,
          hits: was?.hits ?? 0,
          evictions: was?.evictions ?? 0,
        };
      }
      const prev = this.lastSample.get(d.domid) ?? { gets: 0, hits: 0 };
      const dg = c.gets - prev.gets;
      this.lastSample.set(d.domid, { gets: c.gets, hits: c.hits });
      return {
        name: d.name,
        gone: false,
        hitRatio: dg > 0 ? (c.hits - prev.hits) / dg : null,
        pages: c.ephemeralPages + c.persistentPages,
        ephemeral: c.ephemeralPages,
        persistent: c.persistentPages,
        puts: c.puts,
        gets: c.gets,
        hits: c.hits,
        evictions: c.evictions,
      };
    });
    this.samples.push({ hypercalls: this.seen, guests });
  }

  /** Each guest's tmem gets, hits and evictions so far, counted as the CLI's demo counts them. */
  results(): GuestResult[] {
    return this.vmm.domains.map((d) => {
      const c = this.vmm.tmem.findClient(d.domid);
      return {
        domid: d.domid,
        name: d.name,
        weight: c?.weight ?? null,
        gets: c?.gets ?? null,
        hits: c?.hits ?? null,
        evictions: c?.evictions ?? null,
      };
    });
  }

  /** A live policy change to domain `domid`; refused (thrown, with the reason) on a domain that has ended. */
  policy(domid: number, change: PolicyChange): void {
    const d = this.control.domain(domid);
    if (d.state === "exited" || d.state === "crashed")
      throw new Error(`${d.name} has ${d.state}: there is no running guest for a policy change to act on`);
    if ("weight" in change) this.control.setWeight(domid, change.weight);
    else if ("capMiB" in change) this.control.setCapMiB(domid, change.capMiB);
    else if ("compress" in change) this.control.setCompress(domid, change.compress);
    else if (change.frozen) this.control.freeze(domid);
    else this.control.thaw(domid);
  }

  /** Domain `domid`'s persistent pages as a save file (an ended domain's stay in tmem, to be saved). */
  save(domid: number, name: string): { pools: number; pages: number; file: Uint8Array } {
    return this.control.save(domid, name);
  }

  /** Ends the recording (if any; `reason` says why before the run's end) and returns the trace's bytes. */
  finishTrace(reason = "stopped in the page"): Uint8Array | null {
    const recorder = this.built.recorder;
    if (!recorder || !this.platform.trace) return null;
    if (this.trace) return this.trace;
    recorder.close(this.done ? null : reason);
    this.trace = this.platform.trace.bytes();
    return this.trace;
  }

  get recording(): boolean {
    return this.built.recorder !== null && !this.built.recorder.closed;
  }

  /** The trace's size in memory so far (0 when nothing is recorded). */
  get traceBytes(): number {
    return this.platform.trace?.sizeBytes ?? 0;
  }

  /** Whether this machine records a trace at all. */
  get records(): boolean {
    return this.built.recorder !== null;
  }
}
