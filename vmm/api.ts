// The package's programmatic entry, for test suites that exercise their own guests: boot images
// with options, run them, read the tmem listing, issue hypercalls from the host as a domain,
// record a run and replay its trace. It is a thin layer over the same parts the CLI uses (Vmm,
// ControlPlane, the trace recorder and replayer). It runs on any platform (`tmemvm/browser`):
// what only a platform has (files, a watchdog) comes in as an ApiPlatform, which vmm/node.ts
// (`tmemvm`) binds for Node.
import { HYPERVISOR_tmem_op, TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../hypercall-abi/constants.js";
import { encodeOp, type CreatArgs, type CtrlArgs, type GenArgs, type TmemOp } from "../hypercall-abi/op-codec.js";
import { DEFAULT_LAYOUT, opLayout, OP_LAYOUTS, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { ControlError, DomainNotFound, type DomainRef } from "./host/control-action.js";
import { ControlPlane, type Listing, type SaveFileStore } from "./host/control-plane.js";
import type { Domain, DomainState } from "./machine/domain.js";
import {
  GuestAddressError,
  GuestFrameError,
  hostHypercall,
  readFrame,
  readGuest,
  RegisterValueError,
  writeFrame,
  writeGuest,
  type GuestNumber,
} from "./machine/guest-access.js";
import { tmemState, type TraceState } from "./snapshot/tmem-state.js";
import { ImageError, imageFromBytes, type GuestImage } from "./machine/image.js";
import type { AssetLoader } from "./store/asset-loader.js";
import { buildMachine, type BuiltMachine, type MachinePlatform } from "./spec/build-machine.js";
import { checkSpec, objectSource } from "./spec/machine-spec.js";
import { recordVmm, type TraceRecorder } from "./trace/recorder.js";
import { replayTrace, type ReplayReport } from "./trace/replay.js";
import type { TraceSink } from "./trace/trace-sink.js";
import { DEFAULT_QUANTUM, DEFAULT_TMEM_MIB, type Kernels, Vmm, type RunEnd, type RunOptions as VmmRunOptions } from "./machine/vmm.js";

export * as abi from "../hypercall-abi/index.js";
export { ControlError, ControlPlane, DomainNotFound, GuestAddressError, GuestFrameError, ImageError, RegisterValueError, Vmm };
export { HostInvariantError } from "./machine/host-fault.js";
/** An optional peer dependency (binaryen, istanbul-lib-instrument) that a feature needs is not installed: a usage error naming it. */
export { MissingPackageError } from "./machine/optional-package.js";
export type { GuestNumber };
/** tmem's usage as a read-only snapshot: frames used, global counters, per client its policy, pages, counts and pools. */
export type TmemState = TraceState;
export type { ActionResult, DomainListing, Listing, PoolListing, StoredPage } from "./host/control-plane.js";
export type { ControlAction, DomainRef } from "./host/control-action.js";
export type { DomainState } from "./machine/domain.js";
export type { Divergence, ReplayReport } from "./trace/replay.js";
export { TraceError } from "./trace/trace-format.js";
// Reading traces: each record as written, and a replay report as one text (the CLI and the page show it).
export { decodeTrace, type TraceEntry, type TraceEvent } from "./trace/trace-format.js";
export { formatReplayReport } from "./trace/replay.js";
export type { AssetLoader, KernelName } from "./store/asset-loader.js";
// The one machine description and its builder, for the front ends (the CLI builds every run through them).
export { buildMachine, BuiltMachine, type BuildOptions, type MachinePlatform } from "./spec/build-machine.js";
export {
  checkSpec,
  fileSource,
  keyName,
  objectSource,
  parseTimedAction,
  specForReaders,
  type GuestSpec as SpecGuest,
  type MachineSpec,
  type SpecOrigin,
  type TimedAction,
} from "./spec/machine-spec.js";
export { GUEST_KEYS, MACHINE_KEYS, NUMBERS_HELP, parseWhole, rangeText, ruleOf, type NumberKey } from "./spec/spec-keys.js";
export { SpecError } from "./spec/spec-error.js";
export { counted } from "./spec/counted.js";
export { memoryPlatform, type MemoryPlatform } from "./spec/memory-platform.js";
export { imageFromBytes } from "./machine/image.js";
export type { ConsoleSink } from "./machine/vmm.js";
// What the CLI's run options say about the spec: their defaults and the control actions' words.
export { DEFAULT_QUANTUM, DEFAULT_RAM_MIB, DEFAULT_TMEM_MIB } from "./machine/vmm.js";
export { ACTION_WORDS } from "./host/control-action.js";
export { classifyError, type ErrorClass, type ErrorVerdict } from "./error-class.js";
export type { CreatArgs, CtrlArgs, GenArgs, TmemOp } from "../hypercall-abi/op-codec.js";

// For harnesses that drive domains below the Machine, as the fuzzers do (they build thousands of
// cases a second and cannot pay for a Machine each): the trace recorder and an in-memory sink,
// the scheduler's seeded PRNG, and the types of what they observe. Typed like the rest; the
// Machine above is the stable way in.
export { seededRandom } from "./machine/scheduler.js";
export { MemoryTraceSink, type TraceSink } from "./trace/trace-sink.js";
export { recordVmm, TraceRecorder } from "./trace/recorder.js";
export type { Domain } from "./machine/domain.js";
export type { GuestImage } from "./machine/image.js";
export type { HypercallObserver } from "./boundary/hypercall.js";
// Types a program names when it uses the exported classes (Vmm, ControlPlane, traces, specs).
export type {
  DomainSpec,
  MachineObserver,
  RunEnd,
  VmmOptions,
  BareDomainSpec as VmmDomainSpec,
  RunOptions as VmmRunOptions,
} from "./machine/vmm.js";
export type { DomId } from "./tmem/ids.js";
export type { ControlledVmm, ControlObserver, SaveFileStore } from "./host/control-plane.js";
export type { DecodedTrace, HypercallRecord } from "./trace/trace-format.js";
export type { GuestKey, MachineKey, WholeKey } from "./spec/spec-keys.js";
export type { HypercallCaller, HypercallImport } from "./boundary/hypercall.js";
export type { Kernels } from "./store/asset-loader.js";
export type { TracePolicy, TraceState } from "./snapshot/tmem-state.js";

/** One guest to boot. */
export interface GuestSpec {
  /**
   * The image: a path to a `.wasm` file, its bytes, or the name of an image bundled with the
   * package (`selftest`, `selftest-c`, `precache`, `preswap`).
   */
  image: string | Uint8Array;
  /** Its name in listings and control calls (default: the image's name, made unique). */
  name?: string;
  /** Guest RAM in MiB (default 32, or what the image needs). */
  ramMiB?: number;
  /** The struct tmem_op layout the guest was built for (default `xen-4.12-oid3/x86_64`). */
  layout?: string;
  /** A control domain (like dom0): may issue TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW. */
  privileged?: boolean;
  /** Share of ephemeral tmem under pressure (0 = no claim). */
  weight?: number;
  /** Most persistent tmem this domain may hold, in MiB. */
  capMiB?: number;
  /** Compress this domain's pages. */
  compress?: boolean;
  /** argv[1..] for the guest. */
  args?: string[];
  /** A save file (`.tmsv`) to restore into the domain before it runs. */
  restore?: string;
}

/**
 * What only some platforms have, handed to boot() and replay(). Node's (vmm/node.ts) reads
 * images, traces and save files from paths; without one, images are bytes or bundled names and
 * nothing is read or written by path.
 */
export interface ApiPlatform {
  /** The guest image in the file at `path`, checked (throws ImageError). */
  loadImage?(path: string): GuestImage;
  /** Whether something exists at `path` (a bare name that is no file is a bundled image's). */
  fileExists?(path: string): boolean;
  /** The bytes of the file at `path` (a trace to replay). */
  readFile?(path: string): Uint8Array;
  /** A trace written to the file at `path`, opened at once. */
  traceFile?(path: string): TraceSink;
  /** Save files by path, for `restore` and the control plane's save and restore actions. */
  saveFiles?: SaveFileStore;
  /**
   * Runs `work` in this thread, ending it if it still runs after `ms` milliseconds (a guest
   * looping with no hypercall): returns its value, or null if it was ended. Node's ends it from
   * another thread; without one, run() cannot end such a guest (see RunOptions.hangAfter).
   */
  watchdog?<T>(work: () => T, ms: number): { value: T } | null;
  /** The VMM's Wasm kernels and the bundled guest images (Node's read them from the package). */
  assets?: AssetLoader;
  /** The kernels already compiled, to share them between machines (a fuzzer's thread); else compiled from assets. */
  kernels?: Kernels;
}

export interface BootOptions {
  /** Host memory lent to tmem, in MiB (default 64). */
  tmemMiB?: number;
  /** Host memory lent to tmem, in 4 KiB frames (e.g. 4..40 for an ABI tester), instead of tmemMiB. */
  tmemFrames?: number;
  /** Scheduler seed for several guests: the same seed interleaves them the same way. */
  seed?: number;
  /** Mean hypercalls per time slice when several guests interleave. */
  quantum?: number;
  /** Record every hypercall (the guests' and the host's) to this `.tmtr` trace until close(). */
  record?: string;
  /** Control actions at hypercall counts, as a config's `control`: `"5000:weight web 4"` or `{ at, action, args }`. */
  control?: (string | { at: number; action: string; args?: string[] })[];
  /** Files and the like (vmm/node.ts passes Node's); none by default. */
  platform?: ApiPlatform;
  /**
   * Boot every guest suspendable (with Asyncify, as several guests always are), so that a run
   * can pause at any hypercall: needed for step(), and for run()'s signal to be seen while a
   * single guest runs. Default: only when there are several guests (one plain guest boots
   * faster, and runs in one go).
   */
  suspendable?: boolean;
}

/** How far run() and step() may go. */
export interface RunOptions {
  /**
   * Stop after this many milliseconds: each guest stops at its next hypercall (a suspendable one
   * can be run on later; a plain one cannot).
   */
  timeout?: number;
  /**
   * Stop when this signal aborts. It is seen between time slices, so a suspendable machine sees
   * it within a few milliseconds; a machine with one plain guest only before it starts.
   */
  signal?: AbortSignal;
  /**
   * With a timeout or a signal: a guest that keeps the thread this many milliseconds without a
   * hypercall that ends its slice (for a plain guest: beyond the timeout) is ended as hung by
   * the platform's watchdog, as the CLI ends one (default 2000). The guests run in the
   * caller's thread, so this is how a guest looping with no hypercall cannot hang the process.
   */
  hangAfter?: number;
}

/** A stepwise run's bounds: it ends at the first of these (or at a RunOptions limit). */
export interface StepOptions extends RunOptions {
  /** Stop once this many hypercalls (all guests together) were made in the step. */
  hypercalls?: number;
}

/** Why a run or a step stopped before every guest ended. */
export type StopReason = "timeout" | "aborted" | "hung";

export interface StepReport {
  /**
   * Why the step ended: every guest ended ("ended"), its hypercall budget was spent, a guest
   * ended ("domain-ended"), or a StopReason.
   */
  end: "ended" | "hypercalls" | "domain-ended" | StopReason;
  /** Hypercalls the guests made in this step. */
  hypercalls: number;
  guests: GuestReport[];
}

/**
 * A domain with no guest image, for an ABI tester that issues every hypercall itself
 * (Machine.addDomain). Its RAM is whole MiB, as every domain's is: guest RAM is a Wasm memory.
 */
export type BareDomainSpec = Pick<GuestSpec, "ramMiB" | "layout" | "privileged" | "weight" | "capMiB" | "compress"> & {
  /** Its name (unique in the machine). RAM defaults to 1 MiB here, not the 32 an image gets. */
  name: string;
};

/** A domain as the API describes it. */
export interface DomainInfo {
  domid: number;
  name: string;
  /** Its struct tmem_op layout's name. */
  layout: string;
  privileged: boolean;
  /** Its RAM: guest-physical addresses 0 .. ramBytes - 1, frames 0 .. frames - 1. */
  ramBytes: number;
  frames: number;
  state: DomainState;
  /** False for a domain made by addDomain: it has no guest code, only the host's hypercalls. */
  hasImage: boolean;
}

/** What one guest did. */
export interface GuestReport {
  name: string;
  domid: number;
  state: DomainState;
  /** Its exit code (`_start`'s return or proc_exit), or null if it did not exit. */
  exitCode: number | null;
  /** Why it crashed, if it did. */
  crash: string | null;
  /** Everything it wrote to its stdout and stderr. */
  stdout: string;
  stderr: string;
  hypercalls: number;
}

export interface RunReport {
  /** Every guest exited with 0. */
  ok: boolean;
  guests: GuestReport[];
  /** The tmem listing once the run ended. */
  listing: Listing;
  /** Why the run stopped before every guest ended, or null if it did not. */
  stopped: StopReason | null;
}

/**
 * A struct tmem_op for hypercall(): any field left out is zero, except `gen.cmfn` and
 * `ctrl.buf`, which default to the scratch frame the host lends the op (see hypercall()).
 */
export interface HostOp {
  cmd: number;
  poolId?: number;
  creat?: Partial<CreatArgs>;
  gen?: Partial<GenArgs>;
  ctrl?: Partial<CtrlArgs>;
}

export interface HostHypercallResult {
  /** The hypercall's result (1 hit or success, 0 miss, a negative errno). */
  result: number;
  /** The scratch frame after the op: a get's page, a control op's output. */
  frame: Uint8Array;
}

function loadGuestImage(image: string | Uint8Array, platform: ApiPlatform): GuestImage {
  if (typeof image !== "string") return imageFromBytes(image, "guest");
  if (!platform.fileExists?.(image) && /^[\w-]+$/.test(image)) {
    const bundled = platform.assets?.image(image);
    if (bundled) return imageFromBytes(bundled, image, image, platform.assets);
  }
  if (!platform.loadImage) throw new ImageError(`${image}: not a bundled image, and this platform reads no files: pass the image's bytes`);
  return platform.loadImage(image);
}

/** The builder's view of an API platform: what it lacks is refused when a spec needs it. */
function machinePlatform(platform: ApiPlatform): MachinePlatform {
  return {
    image: (ref) => loadGuestImage(ref, platform),
    saveFiles: {
      read: (path) => needs(platform.saveFiles, "restore").read(path),
      write: (path, bytes) => needs(platform.saveFiles, "save").write(path, bytes),
    },
    traceSink: (path) => needs(platform.traceFile, "record")(path),
    kernels: kernelsOf(platform),
  };
}

/** A platform capability that is missing, named with what needed it. */
function needs<T>(what: T | undefined, why: string): T {
  if (what === undefined) throw new ControlError(`${why} needs a file system: use tmemvm's Node entry, or pass bytes`);
  return what;
}

interface Captured {
  stdout: string;
  stderr: string;
}

/** A VMM with booted guests, ready to run. */
export class Machine {
  /** The control plane: freeze/thaw, weight, cap, compress, authorise, save/restore, list. */
  readonly control: ControlPlane;
  private readonly consoles = new Map<Domain, Captured>();
  private recorder: TraceRecorder | null = null;
  private running = false;

  private constructor(
    /** The machine itself, for what this API does not cover. */
    readonly vmm: Vmm,
    control: ControlPlane,
    recorder: TraceRecorder | null,
    private readonly options: BootOptions,
    /** The spec's schedule (its control actions); none for an empty machine. */
    private readonly built: BuiltMachine | null,
  ) {
    this.control = control;
    this.recorder = recorder;
  }

  /** @internal Use emptyMachine(). */
  static async empty(options: BootOptions): Promise<Machine> {
    const { tmemMiB, tmemFrames, record } = options;
    const size = tmemFrames === undefined ? { tmemMiB: tmemMiB ?? DEFAULT_TMEM_MIB } : { tmemFrames, tmemMiB };
    const vmm = await Vmm.create({ ...size, assets: kernelsOf(options.platform ?? {}), stop: new Int32Array(1) });
    const control = new ControlPlane(vmm, options.platform?.saveFiles);
    const recorder = record ? recordVmm(vmm, needs(options.platform?.traceFile, "record")(record), { guests: [] }, control) : null;
    return new Machine(vmm, control, recorder, options, null);
  }

  /** @internal Use boot(). */
  static async create(guests: readonly GuestSpec[], options: BootOptions): Promise<Machine> {
    // The same check and builder as every front end: mistakes are SpecErrors named spec.guests[i].key.
    const { platform = {}, suspendable, ...described } = options;
    const spec = checkSpec({ ...described, guests }, objectSource("spec"));
    const consoles: Captured[] = [];
    const built = await buildMachine(spec, machinePlatform(platform), {
      stop: new Int32Array(1),
      suspendable,
      console: (i) => {
        const captured: Captured = (consoles[i] = { stdout: "", stderr: "" });
        return { stdout: (t) => (captured.stdout += t), stderr: (t) => (captured.stderr += t) };
      },
    });
    const m = new Machine(built.vmm, built.control, built.recorder, options, built);
    built.vmm.domains.forEach((d, i) => {
      m.consoles.set(d, consoles[i]);
    });
    return m;
  }

  /** The booted guests, in boot order. */
  get guests(): GuestReport[] {
    return this.vmm.domains.filter((d) => this.vmm.runs(d)).map((d) => this.report(d));
  }

  /**
   * Runs every guest to its end, several interleaved under the seeded scheduler (a run paused by
   * step() or stopped between slices goes on where it was). The guests run in the caller's
   * thread, in bursts between which the event loop turns, so `signal` and `timeout` are seen;
   * `hangAfter` says how a guest that makes no hypercall is ended.
   * @throws {Error} every guest had ended already; the machine is running (await that run).
   * @throws {HostInvariantError} host code failed inside a hypercall (no guest is blamed).
   */
  async run(options: RunOptions = {}): Promise<RunReport> {
    const end = await this.drive({}, options);
    const guests = this.guests;
    const stopped = end === "timeout" || end === "aborted" || end === "hung" ? end : null;
    return { ok: stopped === null && guests.every((g) => g.exitCode === 0), guests, listing: this.list(), stopped };
  }

  /**
   * Runs the guests until `hypercalls` hypercalls were made or a guest ends, whichever comes
   * first (or a timeout, signal or hang), and leaves the rest suspended for the next step() or
   * run(): a harness's single-stepping. Each step is a run of the seeded scheduler of its own.
   * Needs a suspendable machine (several guests, or `suspendable: true` at boot).
   * @throws {RangeError} a plain single guest, or a bad bound.
   */
  async step(options: StepOptions = {}): Promise<StepReport> {
    const n = options.hypercalls;
    if (n !== undefined && (!Number.isSafeInteger(n) || n < 1))
      throw new RangeError(`hypercalls must be a whole number >= 1, got ${String(n)}`);
    if (this.runnable().some((d) => !this.vmm.suspendable(d)))
      throw new RangeError("step() needs suspendable guests: boot with suspendable: true");
    const before = this.madeByGuests();
    const end = await this.drive({ maxHypercalls: n, untilDomainEnds: true }, options);
    return { end, hypercalls: this.madeByGuests() - before, guests: this.guests };
  }

  private runnable(): Domain[] {
    return this.vmm.domains.filter(
      (d) => this.vmm.runs(d) && (d.state === "created" || (d.state === "running" && this.vmm.suspendable(d))),
    );
  }

  private madeByGuests(): number {
    return this.vmm.domains.reduce((n, d) => n + (this.vmm.runs(d) ? d.hypercalls : 0), 0);
  }

  /**
   * Drives the scheduler's slices in bursts of about BURST_MS, turning the event loop between
   * them; each burst is under the platform's watchdog when the run has a bound.
   */
  private async drive(bounds: VmmRunOptions, options: RunOptions): Promise<StepReport["end"]> {
    const { timeout, signal, hangAfter = DEFAULT_HANG_MS } = options;
    if (timeout !== undefined && !(typeof timeout === "number" && timeout > 0 && Number.isFinite(timeout)))
      throw new RangeError(`timeout must be a number of milliseconds > 0, got ${String(timeout)}`);
    if (!(typeof hangAfter === "number" && hangAfter > 0 && Number.isFinite(hangAfter)))
      throw new RangeError(`hangAfter must be a number of milliseconds > 0, got ${String(hangAfter)}`);
    if (this.running) throw new Error("this machine is running already: await its run first");
    const which = this.runnable();
    if (which.length === 0)
      throw new Error(
        "this machine has already run: every guest has ended, or was stopped for good (a plain guest stopped mid-run); boot another",
      );
    if (signal?.aborted) return "aborted";
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    const bounded = timeout !== undefined || signal !== undefined;
    const sliceable = which.every((d) => this.vmm.suspendable(d));
    const slices = this.vmm.slices(
      { seed: this.options.seed ?? 1, quantum: this.options.quantum ?? DEFAULT_QUANTUM, sliced: sliceable, ...bounds },
      which,
    );
    const watchdog = this.options.platform?.watchdog;
    this.running = true;
    this.vmm.deadline = deadline;
    try {
      // The spec's control actions: those due at 0 now, the rest at their exact hypercall counts.
      this.built?.start();
      for (;;) {
        const burstEnd = Math.min(Date.now() + BURST_MS, deadline);
        const burst = (): RunEnd | null => {
          for (;;) {
            const r = slices.next();
            if (r.done) return r.value;
            if (Date.now() >= burstEnd || signal?.aborted) return null;
          }
        };
        // A plain guest runs in one burst: only a guest still running well past the deadline hangs.
        const limit = sliceable ? hangAfter : deadline === Infinity ? null : deadline - Date.now() + hangAfter;
        const out = bounded && watchdog && limit !== null ? watchdog(burst, limit) : { value: burst() };
        if (out === null) {
          this.vmm.abandonCurrent(`made no hypercall for ${hangAfter} ms after its slice or the run's deadline: ended by the watchdog`);
          return "hung";
        }
        const end = out.value;
        if (end === "stopped") return Date.now() >= deadline ? "timeout" : "aborted";
        if (end !== null) return end;
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (signal?.aborted || Date.now() >= deadline) {
          slices.return("stopped");
          return signal?.aborted ? "aborted" : "timeout";
        }
      }
    } finally {
      this.running = false;
      this.vmm.deadline = Infinity;
      this.built?.ended();
    }
  }

  /** The tmem listing now: per domain and pool, pages and op counts. */
  list(): Listing {
    return this.control.list();
  }

  /**
   * Issues a tmem_op hypercall as `guest` (name or domid), from the host, before or after the
   * run. The op's struct and its page travel through two scratch frames at the top of the
   * guest's RAM, which are given back to the guest intact afterwards. `page` (4096 bytes) is put
   * into the scratch frame first: the data of a put. The trace records these calls like the
   * guest's own.
   */
  hypercall(guest: DomainRef, op: HostOp, page?: Uint8Array): HostHypercallResult {
    const d = this.clientDomain(guest);
    if (page && page.length !== TMEM_PAGE_SIZE) throw new RangeError(`a page is ${TMEM_PAGE_SIZE} bytes, got ${page.length}`);
    const frameAt = d.ram.sizeBytes - TMEM_PAGE_SIZE;
    const structAt = frameAt - TMEM_PAGE_SIZE;
    const saved = readGuest(d, structAt, 2 * TMEM_PAGE_SIZE);
    try {
      writeGuest(d, frameAt, page ?? new Uint8Array(TMEM_PAGE_SIZE));
      writeGuest(d, structAt, encodeOp(fullOp(op, d.layout, frameAt), d.layout));
      return { result: hostHypercall(d, HYPERVISOR_tmem_op, [structAt]), frame: readGuest(d, frameAt, TMEM_PAGE_SIZE) };
    } finally {
      writeGuest(d, structAt, saved);
    }
  }

  /**
   * Hypercall `nr` as domain `domain` (name or domid) with raw 64-bit registers, as a guest makes
   * it: the hypercall import carries rax (`nr`) and five argument registers (rdi, rsi, rdx, r10,
   * r8, in that order; missing ones are 0), each any 64-bit value (a negative one is taken as its
   * two's complement). For tmem_op (38), argument 1 is the guest-physical address of the struct,
   * which need not be aligned; a struct not wholly inside RAM gets -EFAULT. Returns rax as the
   * guest reads it: sign-extended from 32 bits (1, 0, a pool id or a negative errno). Recorded
   * like the guest's own hypercalls.
   * @throws {DomainNotFound} no such domain; {ControlError} its tmem client was destroyed;
   *   {RegisterValueError} a value that does not fit 64 bits, or more than five arguments.
   */
  hypercallRaw(domain: DomainRef, nr: GuestNumber, args: readonly GuestNumber[] = []): number {
    return hostHypercall(this.clientDomain(domain), nr, args);
  }

  /**
   * A copy of `length` bytes of `domain`'s RAM from guest-physical `address` (any alignment).
   * @throws {GuestAddressError} the range is not wholly inside RAM (it carries the address).
   */
  readMemory(domain: DomainRef, address: GuestNumber, length: number): Uint8Array {
    return readGuest(this.domainOf(domain), address, length);
  }

  /**
   * Writes `bytes` into `domain`'s RAM at guest-physical `address` (any alignment); nothing is
   * written unless all of it fits.
   * @throws {GuestAddressError} the range is not wholly inside RAM (it carries the address).
   */
  writeMemory(domain: DomainRef, address: GuestNumber, bytes: Uint8Array): void {
    writeGuest(this.domainOf(domain), address, bytes);
  }

  /**
   * A copy of frame `pfn` (4096 bytes at `pfn << 12`) of `domain`'s RAM.
   * @throws {GuestFrameError} `pfn` is not one of its frames.
   */
  readFrame(domain: DomainRef, pfn: GuestNumber): Uint8Array {
    return readFrame(this.domainOf(domain), pfn);
  }

  /**
   * Writes frame `pfn` of `domain`'s RAM (exactly 4096 bytes).
   * @throws {GuestFrameError} `pfn` is not one of its frames.
   */
  writeFrame(domain: DomainRef, pfn: GuestNumber, bytes: Uint8Array): void {
    writeFrame(this.domainOf(domain), pfn, bytes);
  }

  /**
   * Adds a domain with no guest image: its RAM, layout, privilege and policy, and a tmem client.
   * It never runs; the host issues its hypercalls (hypercallRaw, hypercall). Recorded like a
   * booted domain, so a trace of an ABI tester's calls replays.
   * @throws {RangeError} a name in use, an unknown layout, RAM out of 1..4095 MiB.
   */
  addDomain(spec: BareDomainSpec): DomainInfo {
    if (typeof spec.name !== "string" || spec.name === "")
      throw new RangeError(`a domain's name is a non-empty string, got ${String(spec.name)}`);
    if (this.vmm.domains.some((d) => d.name === spec.name)) throw new RangeError(`a domain named ${spec.name} exists already`);
    const layout = spec.layout === undefined ? DEFAULT_LAYOUT : opLayout(spec.layout);
    if (!layout) throw new RangeError(`unknown layout ${spec.layout}; one of: ${[...OP_LAYOUTS.keys()].join(", ")}`);
    const d = this.vmm.addDomain({ ...spec, ramMiB: spec.ramMiB ?? 1, layout });
    return this.info(d);
  }

  /** A domain by name or domid. @throws {DomainNotFound} */
  domain(ref: DomainRef): DomainInfo {
    return this.info(this.domainOf(ref));
  }

  /** Every domain, in creation order. */
  get domains(): DomainInfo[] {
    return this.vmm.domains.map((d) => this.info(d));
  }

  /** tmem's usage now, as a read-only snapshot (a copy: changing it changes nothing). */
  tmemState(): TmemState {
    return tmemState(this.vmm.tmem);
  }

  private domainOf(ref: DomainRef): Domain {
    return this.control.domain(ref);
  }

  /** A domain whose tmem client is still there, for a hypercall from the host. */
  private clientDomain(ref: DomainRef): Domain {
    const d = this.domainOf(ref);
    if (!this.vmm.tmem.findClient(d.domid)) throw new ControlError(`domain ${d.name} has no tmem client (it was destroyed)`);
    return d;
  }

  private info(d: Domain): DomainInfo {
    return {
      domid: d.domid,
      name: d.name,
      layout: d.layout.name,
      privileged: d.privileged,
      ramBytes: d.ram.sizeBytes,
      frames: d.ram.frames,
      state: d.state,
      hasImage: this.vmm.runs(d),
    };
  }

  /** Ends the trace (if recording) with its end record; returns the hypercalls recorded. */
  close(): number | null {
    const r = this.recorder;
    this.recorder = null;
    if (!r) return null;
    return r.close();
  }

  private report(d: Domain): GuestReport {
    const c = this.consoles.get(d)!;
    return {
      name: d.name,
      domid: d.domid,
      state: d.state,
      exitCode: d.exitCode,
      crash: d.crash,
      stdout: c.stdout,
      stderr: c.stderr,
      hypercalls: d.hypercalls,
    };
  }
}

/** The platform's loader of the VMM's Wasm kernels (LZ4, the page scan), which every VMM needs. */
function kernelsOf(platform: ApiPlatform): Pick<AssetLoader, "kernel"> | Kernels {
  if (platform.kernels) return platform.kernels;
  if (!platform.assets)
    throw new ControlError("this platform gives no assets (the VMM's Wasm kernels): use tmemvm's Node entry, or pass platform.assets");
  return platform.assets;
}

/** As the CLI's watchdog: a guest that makes no hypercall this long after a stop is ended. */
const DEFAULT_HANG_MS = 2000;
/** How long the guests run between two turns of the event loop (a signal is seen within it). */
const BURST_MS = 10;

function fullOp(op: HostOp, layout: OpLayout, frameAt: number): TmemOp {
  const oid = (words?: bigint[]) => words ?? new Array<bigint>(layout.oidWords).fill(0n);
  const frame = BigInt(frameAt >>> TMEM_PAGE_SHIFT);
  const full: TmemOp = { cmd: op.cmd, poolId: op.poolId ?? 0 };
  if (op.creat) full.creat = { uuid: op.creat.uuid ?? [0n, 0n], flags: op.creat.flags ?? 0, arg1: op.creat.arg1 ?? 0 };
  if (op.gen) {
    const g = op.gen;
    full.gen = {
      oid: oid(g.oid),
      index: g.index ?? 0,
      tmemOffset: g.tmemOffset ?? 0,
      pfnOffset: g.pfnOffset ?? 0,
      len: g.len ?? 0,
      cmfn: g.cmfn ?? frame,
    };
  }
  if (op.ctrl) {
    const c = op.ctrl;
    full.ctrl = {
      subop: c.subop ?? 0,
      cliId: c.cliId ?? 0,
      arg1: c.arg1 ?? 0,
      arg2: c.arg2 ?? 0,
      oid: oid(c.oid),
      buf: c.buf ?? BigInt(frameAt),
    };
  }
  return full;
}

/**
 * Boots guests in a fresh VMM. Nothing runs until `run()`; hypercalls from the host may be
 * issued before and after. A bad image, layout or option throws before anything boots.
 *
 * ```js
 * const vm = await boot([{ image: "selftest" }]);
 * const { ok, guests } = vm.run();
 * ```
 */
export function boot(guests: GuestSpec | readonly GuestSpec[], options: BootOptions = {}): Promise<Machine> {
  return Machine.create(isList(guests) ? guests : [guests], options);
}

const isList = (g: GuestSpec | readonly GuestSpec[]): g is readonly GuestSpec[] => Array.isArray(g);

/**
 * A VMM with no guests, for an ABI tester: add image-less domains with addDomain() and issue
 * their hypercalls with hypercallRaw(). Options as boot()'s (tmemFrames for a small tmem).
 *
 * ```js
 * const vm = await emptyMachine({ tmemFrames: 8 });
 * vm.addDomain({ name: "a", layout: "xen-4.1-oid3/x86_32" });
 * vm.writeMemory("a", 0x1003, structBytes);
 * const result = vm.hypercallRaw("a", 38, [0x1003]);
 * ```
 */
export function emptyMachine(options: BootOptions = {}): Promise<Machine> {
  return Machine.empty(options);
}

/**
 * Re-executes a recorded trace (its bytes, or a path where the platform reads files) against a
 * fresh VMM; `divergence` is null when it reproduces.
 */
export function replay(trace: string | Uint8Array, platform: ApiPlatform = {}): ReplayReport {
  return replayTrace(typeof trace === "string" ? needs(platform.readFile, "a trace by path")(trace) : trace, kernelsOf(platform));
}
