// The one builder: a checked MachineSpec becomes a machine (a Vmm, its control plane, a recorder if
// asked, every guest booted and restored) that runs the spec's schedule. Every front end (the
// CLI's run and demo, the API's boot(), the page) builds through here, so the same spec and seed
// give the same run everywhere. What differs between Node and a browser comes in as a platform.
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { actionText, ControlError } from "../host/control-action.js";
import { ControlPlane, type Listing, type SaveFileStore } from "../host/control-plane.js";
import type { Domain } from "../machine/domain.js";
import type { GuestImage } from "../machine/image.js";
import { type Kernels, Vmm, type ConsoleSink } from "../machine/vmm.js";
import type { AssetLoader } from "../store/asset-loader.js";
import { recordVmm, type TraceRecorder } from "../trace/recorder.js";
import type { TraceSink } from "../trace/trace-sink.js";
import { keyName, specForReaders, type MachineSpec, type TimedAction } from "./machine-spec.js";
import { SpecError } from "./spec-error.js";
import { counted } from "./counted.js";

/** What differs between Node and a browser: where images, save files, traces and the VMM's kernels are. */
export interface MachinePlatform {
  /** The VMM's Wasm kernels (LZ4, the page scan): a loader, or kernels already compiled to share. */
  kernels: Pick<AssetLoader, "kernel"> | Kernels;
  /** The guest image a spec names (a path or a bundled image's name), or of these bytes. */
  image(ref: string | Uint8Array): GuestImage;
  /** Save files: restored from, saved to (also by `save` control actions). */
  saveFiles: SaveFileStore;
  /** Where the trace a spec's `record` names goes. */
  traceSink(ref: string): TraceSink;
}

export interface BuildOptions {
  /**
   * The page index's hash key (random by default): a fuzzer fixes it per case, so a case and its
   * coverage are the same on every run (Tmem's hashKey says why it is random otherwise).
   */
  hashKey?: number;
  /** What the trace's header says the run was asked to do (default: the spec itself). */
  traceMeta?: unknown;
  /** Each guest's console (by default, dropped). */
  console?(index: number, name: string): ConsoleSink;
  /** The builder's own lines: restores, control actions as they fire. */
  log?(line: string): void;
  /** The VMM's stop flag (possibly shared with another thread). */
  stop?: Int32Array;
  /** A word the VMM keeps at the hypercalls made so far (VmmOptions.hypercallCounter). */
  hypercallCounter?: Int32Array;
  /** Boot even a lone guest suspendable, so a run can pause between slices (the page steps it). */
  suspendable?: boolean;
}

/** A built machine: booted, restored, its control actions waiting for their hypercall counts. */
export class BuiltMachine {
  private readonly pending: TimedAction[];
  private started = false;

  constructor(
    readonly spec: MachineSpec,
    readonly vmm: Vmm,
    readonly control: ControlPlane,
    readonly recorder: TraceRecorder | null,
    private readonly platform: MachinePlatform,
    private readonly log: (line: string) => void,
  ) {
    // Stable: actions at the same count fire in the order they were given.
    this.pending = [...spec.control].sort((a, b) => a.at - b.at);
  }

  /** Hypercalls the guests have made so far, all together. */
  get hypercalls(): number {
    return this.vmm.hypercallsMade;
  }

  /** Control actions that have not fired (yet). */
  get unfired(): readonly TimedAction[] {
    return this.pending;
  }

  /** Every guest has ended. */
  get done(): boolean {
    return this.vmm.domains.every((d) => d.state === "exited" || d.state === "crashed");
  }

  /**
   * Runs the guests until every one has ended or the stop flag is set (between slices, by
   * `onSlice`, or at any hypercall, by another thread). After a stop between slices, run() again
   * carries on the same schedule, as if it had never paused.
   */
  run(onSlice?: () => void): void {
    try {
      if (!this.started) {
        this.start();
        this.vmm.runAll({ seed: this.spec.seed, quantum: this.spec.quantum, onSlice });
      } else if (this.vmm.resumable) {
        this.vmm.resume(onSlice);
      } else return;
    } catch (e) {
      this.recorder?.close(`the run failed: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    }
    this.ended();
  }

  /**
   * Before the guests' first hypercall (once): fires the actions due at 0 and sets the hook for
   * the next. A driver of its own (the API's bursts) calls it, then ended() after each run.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.fireDue();
  }

  /** After a run: an action due at the very count the run ended on has its moment (no hypercall follows it). */
  ended(): void {
    if (this.done) this.fireDue();
  }

  /** Fires every action due now, then waits for the next one inside the hypercall path. */
  private fireDue(): void {
    while (this.pending.length > 0 && this.pending[0].at <= this.hypercalls) this.fire(this.pending.shift()!);
    if (this.pending.length > 0) this.vmm.setHypercallHook(this.pending[0].at, () => this.fireDue());
    else this.vmm.clearHypercallHook();
  }

  private fire(a: TimedAction): void {
    this.log(`control at ${this.hypercalls} hypercalls: ${actionText(a)}`);
    try {
      const r = this.control.apply(a);
      if (a.action === "flush") this.log(`flushed ${r as number} ephemeral pages`);
      else if (a.action === "save") {
        const saved = r as { pools: number; pages: number };
        this.log(`saved ${counted(saved.pages, "persistent page")} in ${counted(saved.pools, "pool")} of ${a.domain} to ${a.file}`);
      } else if (a.action === "list") this.log(this.control.listText(r as Listing));
    } catch (e) {
      // An action the run made moot (its domain was destroyed) is reported; the run goes on.
      if (!(e instanceof ControlError)) throw e;
      this.log(`control action ${a.action} failed: ${e.message}`);
    }
  }

  /**
   * Writes each guest's `save` file, each write through `attempt` (which may carry on past a failed
   * one). A guest stopped half-way (the run was stopped before it
   * ended) leaves half a state: it is not saved as if it were a finished one.
   */
  saveAll(attempt: (write: () => void) => void = (write) => write()): void {
    this.spec.guests.forEach((g, i) => {
      if (!g.save) return;
      const d = this.vmm.domains[i];
      if (d.state === "running" || d.state === "created") {
        this.log(`not saving ${d.name} to ${g.save}: the run was stopped`);
        return;
      }
      const r = this.control.save(d.domid, g.save);
      attempt(() => {
        this.platform.saveFiles.write(g.save!, r.file);
        this.log(`saved ${counted(r.pages, "persistent page")} in ${counted(r.pools, "pool")} of ${d.name} to ${g.save}`);
      });
    });
  }
}

/** The names the guests get: their own, else their image's, made unique (precache, precache-2). */
function guestNames(spec: MachineSpec, images: GuestImage[]): string[] {
  const taken = new Set(spec.guests.flatMap((g) => (g.name === undefined ? [] : [g.name])));
  return spec.guests.map((g, i) => {
    if (g.name !== undefined) return g.name;
    const base = images[i].name;
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}

/**
 * Builds the machine `spec` describes on `platform`: every image loaded, every name and number
 * checked against it, and every save file read, before the first guest boots.
 */
export async function buildMachine(spec: MachineSpec, platform: MachinePlatform, options: BuildOptions = {}): Promise<BuiltMachine> {
  const origin = spec.origin;
  const key = (i: number, k: string) => `guests[${i}].${k}`;
  const images = spec.guests.map((g) => platform.image(g.image));
  const names = guestNames(spec, images);
  spec.guests.forEach((g, i) => {
    const image = images[i];
    if (g.ramMiB === undefined) return;
    const name = keyName(origin, key(i, "ramMiB"));
    if (g.ramMiB < image.minRamMiB)
      throw new SpecError(
        origin.name,
        key(i, "ramMiB"),
        g.ramMiB,
        `${name} is ${g.ramMiB}, but ${image.name} needs at least ${image.minRamMiB} MiB of RAM`,
      );
    if (image.maxRamMiB !== null && g.ramMiB > image.maxRamMiB)
      throw new SpecError(
        origin.name,
        key(i, "ramMiB"),
        g.ramMiB,
        `${name} is ${g.ramMiB}, but ${image.name} accepts at most ${image.maxRamMiB} MiB of RAM`,
      );
  });
  // The domains the actions name (by name or domid; a fresh VMM numbers them from 1).
  spec.control.forEach((a, i) => {
    const ref = "domain" in a ? a.domain : null;
    if (ref !== null && !names.some((n, k) => n === ref || k + 1 === Number(ref))) {
      throw new SpecError(
        origin.name,
        `control[${i}]`,
        `${a.at}:${actionText(a)}`,
        `${keyName(origin, `control[${i}]`)} "${a.at}:${actionText(a)}" names no domain ${ref}; domains: ${names.map((n, k) => `${k + 1} (${n})`).join(", ")}`,
      );
    }
  });
  const restores = spec.guests.map((g) => (g.restore === undefined ? null : platform.saveFiles.read(g.restore)));

  const size = spec.tmemFrames === undefined ? { tmemMiB: spec.tmemMiB } : { tmemFrames: spec.tmemFrames };
  const vmm = await Vmm.create({
    ...size,
    stop: options.stop,
    hypercallCounter: options.hypercallCounter,
    assets: platform.kernels,
    hashKey: options.hashKey,
  });
  const control = new ControlPlane(vmm, platform.saveFiles);
  // Recording starts before the guests boot: their policy and restored pages go in the trace.
  const recorder =
    spec.record === undefined ? null : recordVmm(vmm, platform.traceSink(spec.record), options.traceMeta ?? specForReaders(spec), control);
  const log = options.log ?? (() => {});
  // Only several guests interleave: a lone one runs unmodified, its control actions fired from inside its hypercalls.
  const interleaved = spec.guests.length > 1 || options.suspendable === true;
  const domains: Domain[] = [];
  for (const [i, g] of spec.guests.entries()) {
    domains.push(
      await vmm.boot({
        image: images[i],
        name: names[i],
        ramMiB: g.ramMiB,
        layout: opLayout(g.layout),
        privileged: g.privileged,
        weight: g.weight,
        capMiB: g.capMiB ?? undefined,
        compress: g.compress,
        args: g.args,
        interleaved,
        console: options.console?.(i, names[i]),
      }),
    );
  }
  restores.forEach((bytes, i) => {
    if (bytes === null) return;
    const file = spec.guests[i].restore!;
    const r = control.restore(domains[i].domid, bytes, file);
    log(`restored ${counted(r.pages, "page")} in ${counted(r.pools, "pool")} into ${domains[i].name} from ${file}`);
  });
  return new BuiltMachine(spec, vmm, control, recorder, platform, log);
}
