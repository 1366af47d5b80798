// The machine: one tmem backend shared by every domain, guests booted from images with WASI for
// their console, clock and arguments, and run to completion: one alone, or several interleaved
// at hypercall boundaries by the seeded scheduler.
import { init as initWasi, WASI } from "@wasmer/wasi";
import { mibToFrames } from "../../hypercall-abi/frames.js";
import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME } from "../../hypercall-abi/hypercall-import.js";
import type { OpLayout } from "../../hypercall-abi/op-layouts.js";
import { asyncifiedModule } from "./asyncify.js";
import { Domain } from "./domain.js";
import { NOT_RAM, type GuestAddress, type GuestMemory } from "../boundary/guest-memory.js";
import { hostFault, HostInvariantError } from "./host-fault.js";
import { ImageError, type GuestImage } from "./image.js";
import { Scheduler } from "./scheduler.js";
import { Tmem } from "../tmem/tmem.js";
import { Tmemc } from "../tmem-control/tmemc.js";
import { Kernels, type AssetLoader } from "../store/asset-loader.js";

export { Kernels } from "../store/asset-loader.js";

export interface VmmOptions {
  /** Host memory lent to tmem, in MiB (or give tmemFrames instead). */
  tmemMiB?: number;
  /** Host memory lent to tmem, in 4 KiB frames (an ABI tester's few frames), instead of tmemMiB. */
  tmemFrames?: number;
  /**
   * Where the VMM's Wasm kernels come from: a loader (Node's nodeAssets, the page's), or Kernels
   * already compiled, to share them between machines.
   */
  assets: Pick<AssetLoader, "kernel"> | Kernels;
  /**
   * A flag (possibly in shared memory, set by another thread) that stops every guest at its next
   * hypercall once it is non-zero: the run ends with the guests left running and tmem intact.
   */
  stop?: Int32Array;
  /**
   * A word (possibly in shared memory) the VMM keeps at the number of hypercalls made so far
   * (wrapping at 2^31): another thread reads it to show a long run's progress.
   */
  hypercallCounter?: Int32Array;
  /** The page index's hash key; by default random (Tmem's hashKey says why a fuzzer fixes it). */
  hashKey?: number;
}

export interface ConsoleSink {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface DomainSpec {
  image: GuestImage;
  name?: string;
  ramMiB?: number;
  privileged?: boolean;
  layout?: OpLayout;
  /** argv[1..] for the guest (argv[0] is its name). */
  args?: string[];
  console?: ConsoleSink;
  /** Share of ephemeral tmem under pressure (0 = no claim; all 0 = plain global LRU). */
  weight?: number;
  /** Most persistent tmem this domain may hold, in MiB. */
  capMiB?: number;
  /** Compress this domain's pages (LZ4; off by default, as Xen's tmem_compress). */
  compress?: boolean;
  /** Boot the image suspendable, so run() can interleave it with other domains. */
  interleaved?: boolean;
}

/**
 * What wants to see the machine's life besides the guests' hypercalls (the trace recorder, which
 * sets itself here from above the machine): domains booted and ended, runs and their slices.
 */
export interface MachineObserver {
  domainBooted(domain: Domain): void;
  runStarted(seed: number, quantum: number, domains: Domain[]): void;
  sliceStarted(domain: Domain, budget: number): void;
  sliceEnded(): void;
  /** Before a domain's end changes tmem (a crash or a destroy takes its client). */
  domainEnding(domain: Domain): void;
  domainEnded(domain: Domain, how: "exited" | "crashed" | "destroyed"): void;
}

export interface RunOptions {
  /** Scheduler seed: the same seed gives the same interleaving. */
  seed?: number;
  /** Mean hypercalls per time slice. */
  quantum?: number;
  /** Called after every time slice (progress, sampling). */
  onSlice?: () => void;
  /** Cut even a lone domain's run into the scheduler's slices, so that it can be paused between them. */
  sliced?: boolean;
  /**
   * End the run once this many hypercalls were made in it (the domains stay suspended, ready to
   * go on): slices are cut short to end exactly there. Only for suspendable domains.
   */
  maxHypercalls?: number;
  /** End the run as soon as one of its domains ends (exits, crashes, is destroyed). */
  untilDomainEnds?: boolean;
}

/** Why a stepwise run ended: every domain ended, the hypercall budget was spent, or one domain ended. */
export type RunEnd = "ended" | "hypercalls" | "domain-ended" | "stopped";

/** tmem's capacity in frames, from whichever of tmemMiB and tmemFrames is given (one must be). */
function tmemCapacityFrames(opts: VmmOptions): number {
  const maxMiB = 1 << 20;
  if (opts.tmemFrames !== undefined) {
    if (opts.tmemMiB !== undefined) throw new RangeError("give tmem's capacity as tmemMiB or tmemFrames, not both");
    const f = opts.tmemFrames;
    if (!Number.isInteger(f) || f < 0 || f > mibToFrames(maxMiB))
      throw new RangeError(`tmem capacity must be 0..${mibToFrames(maxMiB)} frames, got ${f}`);
    return f;
  }
  const mib = opts.tmemMiB;
  if (!Number.isInteger(mib) || mib! < 0 || mib! > maxMiB) throw new RangeError(`tmem capacity must be 0..${maxMiB} MiB, got ${mib}`);
  return mibToFrames(mib!);
}

/** A domain with RAM and a tmem client but no guest code: the host alone issues its hypercalls. */
export interface BareDomainSpec {
  name: string;
  ramMiB: number;
  privileged?: boolean;
  layout?: OpLayout;
  weight?: number;
  capMiB?: number;
  compress?: boolean;
}

export const DEFAULT_RAM_MIB = 32;
export const DEFAULT_TMEM_MIB = 64;
export const DEFAULT_QUANTUM = 64;
/** Top of guest RAM the VMM borrows for a suspended guest's Asyncify stack (given back intact). */
const ASYNC_STACK_BYTES = 16 * 1024;

type FdWrite = (fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => number;
const WASI_ESUCCESS = 0;
const WASI_EFAULT = 21;

/** A guest's proc_exit, carried to the VMM as an exception through the guest's frames. */
class GuestExit {
  constructor(readonly code: number) {}
}

/** Thrown through a guest's frames when the stop flag is set: the run ends, nothing crashed. */
const STOPPED = Symbol("stopped");

/** Thrown through a guest's frames when the hypercall hook destroyed the domain making the call. */
const DESTROYED = Symbol("destroyed");

/** A run the stop flag ended between slices: its scheduler and domains, to carry on with. */
interface PausedRun {
  scheduler: Scheduler;
  runnable: Vcpu[];
  which: Domain[];
  opts: RunOptions;
}

interface AsyncifyExports {
  asyncify_start_unwind(addr: number): void;
  asyncify_stop_unwind(): void;
  asyncify_start_rewind(addr: number): void;
  asyncify_stop_rewind(): void;
}

/** A domain's virtual CPU: its instance and where it stands in its run. */
interface Vcpu {
  domain: Domain;
  wasi: WASI | null;
  start: () => void;
  async: AsyncifyExports | null;
  console: ConsoleSink | undefined;
  /** Hypercalls left in this time slice. */
  budget: number;
  unwinding: boolean;
  rewinding: boolean;
  /** The result of the hypercall the guest was suspended in. */
  savedResult: number;
  /** The suspended guest's Asyncify stack, kept outside its RAM while it waits. */
  stack: Uint8Array | null;
  /** The guest's own bytes under the borrowed stack area. */
  original: Uint8Array | null;
  /** The stop flag was thrown through its frames mid-slice: it cannot be continued. */
  broken: boolean;
}

let wasiReady: Promise<void> | null = null;

/** Where a suspended guest's Asyncify stack goes: the top ASYNC_STACK_BYTES of its RAM (at least 1 MiB). */
function asyncStackAt(ram: GuestMemory): GuestAddress {
  const at = ram.address(ram.sizeBytes - ASYNC_STACK_BYTES, 0, ASYNC_STACK_BYTES);
  if (at === NOT_RAM) throw new Error("guest RAM is smaller than the Asyncify stack area");
  return at;
}

/** The bytes of the Asyncify stack area, which asyncStackAt() placed in RAM. */
function borrowed(bytes: Uint8Array | typeof NOT_RAM): Uint8Array {
  if (bytes === NOT_RAM) throw new Error("the Asyncify stack area is not in RAM");
  return bytes;
}

/**
 * fd_write for stdout/stderr that hands the bytes to the sink as the guest writes them
 * (@wasmer/wasi buffers them until the guest exits, and cannot be read while it runs).
 */
function streamingFdWrite(domain: Domain, sink: ConsoleSink, fallback: FdWrite): FdWrite {
  const decoder = new TextDecoder();
  return (fd, iovs, iovsLen, nwrittenPtr) => {
    if (fd !== 1 && fd !== 2) return fallback(fd, iovs, iovsLen, nwrittenPtr);
    const ram = domain.ram;
    const vec = ram.address(iovs, 0, iovsLen * 8);
    const out = ram.address(nwrittenPtr, 0, 4);
    if (vec === NOT_RAM || out === NOT_RAM) return WASI_EFAULT;
    let text = "";
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      // struct iovec { u32 buf; u32 len; }, each checked where it is read.
      const entry = ram.offset(vec, 8 * i, 8);
      const lenAt = entry === NOT_RAM ? NOT_RAM : ram.offset(entry, 4, 4);
      const ptr = entry === NOT_RAM ? NOT_RAM : ram.readU32(entry);
      const len = lenAt === NOT_RAM ? NOT_RAM : ram.readU32(lenAt);
      if (ptr === NOT_RAM || len === NOT_RAM) return WASI_EFAULT;
      const buf = ram.address(ptr, 0, len);
      const bytes = buf === NOT_RAM ? NOT_RAM : ram.slice(buf, len);
      if (bytes === NOT_RAM) return WASI_EFAULT;
      text += decoder.decode(bytes, { stream: true });
      total += len;
    }
    ram.writeU32(out, total);
    if (fd === 1) sink.stdout(text);
    else sink.stderr(text);
    return WASI_ESUCCESS;
  };
}

export class Vmm {
  readonly tmem: Tmem;
  /** The guest-visible TMEMC sub-ops over `tmem`, shared by every domain. */
  readonly tmemc: Tmemc;
  /** The VMM's Wasm kernels, compiled on first use, for its RAMs and tmem's compressor. */
  readonly kernels: Kernels;
  readonly domains: Domain[] = [];
  private nextDomid = 1;
  private readonly vcpus = new Map<Domain, Vcpu>();
  private readonly stop: Int32Array | null;
  private readonly hypercallCounter: Int32Array | null;
  observer: MachineObserver | null = null;
  /** Set once host code failed inside a hypercall: nothing runs after it. */
  private broken: HostInvariantError | null = null;
  /**
   * A time (Date.now()) after which a running guest is stopped at its next hypercall: a
   * suspendable one is descheduled there, a plain one stopped for good. Infinity: none.
   */
  deadline = Infinity;
  /** The vCPU whose guest code is on the stack now, and whether it is inside the VMM's hypercall. */
  private current: Vcpu | null = null;
  private inHypercall = false;
  /** Hypercalls the guests have made through their imports, all domains together. */
  private made = 0;
  /** The hook runs when `made` reaches this (Infinity: no hook). */
  private hookAt = Infinity;
  private hook: (() => void) | null = null;
  private paused: PausedRun | null = null;

  private constructor(opts: VmmOptions) {
    this.stop = opts.stop ?? null;
    this.hypercallCounter = opts.hypercallCounter ?? null;
    const kernels = opts.assets instanceof Kernels ? opts.assets : new Kernels(opts.assets);
    this.kernels = kernels;
    this.tmem = new Tmem({
      capacityFrames: tmemCapacityFrames(opts),
      compressor: () => kernels.lz4(),
      indexModule: kernels.pageIndex(),
      hashKey: opts.hashKey,
    });
    this.tmemc = new Tmemc(this.tmem);
  }

  /** Hypercalls the guests have made (the host's own calls through a domain are not counted). */
  get hypercallsMade(): number {
    return this.made;
  }

  /**
   * Runs `hook` once `at` hypercalls have been made, just before the next one, inside the guest's
   * call: a control action so lands at its exact count, with no need to slice a lone guest (and
   * so rewrite it with Asyncify) to look in between. One hook at a time; the hook may set the
   * next. If it destroys the calling domain, that guest stops there.
   */
  setHypercallHook(at: number, hook: () => void): void {
    this.hookAt = at;
    this.hook = hook;
  }

  clearHypercallHook(): void {
    this.hookAt = Infinity;
    this.hook = null;
  }

  /** In a guest's hypercall: counts it, first running the hook if this is its moment. */
  private counted(domain: Domain): void {
    if (this.made === this.hookAt) {
      const hook = this.hook!;
      this.clearHypercallHook();
      try {
        hook();
      } catch (e) {
        // The host's own code failed, not the guest: the VMM stops, as for a fault in the call.
        throw (this.broken ??= hostFault(domain.name, e));
      }
      if (domain.state !== "running") throw DESTROYED;
    }
    this.made++;
    if (this.hypercallCounter !== null) this.hypercallCounter[0] = this.made;
  }

  static async create(opts: VmmOptions): Promise<Vmm> {
    wasiReady ??= initWasi();
    await wasiReady;
    return new Vmm(opts);
  }

  /** Creates a domain for `spec.image` and instantiates it; nothing runs until run(). */
  async boot(spec: DomainSpec): Promise<Domain> {
    const image = spec.image;
    const ramMiB = spec.ramMiB ?? Math.max(DEFAULT_RAM_MIB, image.minRamMiB);
    if (ramMiB < image.minRamMiB)
      throw new ImageError(`${image.name}: needs at least ${image.minRamMiB} MiB of RAM, --mem gives ${ramMiB}`);
    if (image.maxRamMiB !== null && ramMiB > image.maxRamMiB) {
      throw new ImageError(`${image.name}: accepts at most ${image.maxRamMiB} MiB of RAM, --mem gives ${ramMiB}`);
    }
    const module = spec.interleaved ? await asyncifiedModule(image) : image.module;
    const name = spec.name ?? image.name;
    // A guest that imports no WASI gets none (@wasmer/wasi refuses such a module).
    const wasi = image.wasiImports.length > 0 ? new WASI({ args: [name, ...(spec.args ?? [])], env: {} }) : null;
    const wasiImports = (wasi?.getImports(module) ?? {}) as { wasi_snapshot_preview1?: Record<string, unknown> };
    const wasiFns = wasiImports.wasi_snapshot_preview1 ?? {};
    const missing = image.wasiImports.find((n) => !(n in wasiFns));
    if (missing) throw new ImageError(`${image.name}: imports wasi_snapshot_preview1.${missing}, which the VMM does not provide`);

    const domain = new Domain(this.tmem, {
      domid: this.nextDomid++,
      name,
      ramMiB,
      privileged: spec.privileged ?? false,
      layout: spec.layout,
      control: this.tmemc,
      kernels: this.kernels,
    });
    this.setBootPolicy(domain, spec);
    this.observer?.domainBooted(domain);
    const sink = spec.console;
    if (sink && typeof wasiFns.fd_write === "function") wasiFns.fd_write = streamingFdWrite(domain, sink, wasiFns.fd_write as FdWrite);
    if ("proc_exit" in wasiFns) {
      wasiFns.proc_exit = (code: number) => {
        throw new GuestExit(code >>> 0);
      };
    }

    const vcpu: Vcpu = {
      domain,
      wasi,
      start: () => {},
      async: null,
      console: sink,
      budget: Infinity,
      unwinding: false,
      rewinding: false,
      savedResult: 0,
      stack: null,
      original: null,
      broken: false,
    };
    const unguarded = domain.hypercall;
    // Host code that throws here broke an invariant (a guest's mistakes are errnos): the VMM
    // stops, even if the guest's code would catch the exception.
    const entry: typeof unguarded = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
      // Left set if the watchdog ends the thread's work in here (see abandonCurrent).
      this.inHypercall = true;
      try {
        const r = unguarded(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        this.inHypercall = false;
        return r;
      } catch (e) {
        this.inHypercall = false;
        throw (this.broken ??= hostFault(name, e));
      }
    };
    const stop = this.stop;
    const hypercall: typeof entry = spec.interleaved
      ? (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
          // Registers spelled out: a rest parameter would allocate an array on every hypercall.
          if (vcpu.rewinding) return this.resumed(vcpu);
          if (stop !== null && stop[0] !== 0) throw STOPPED;
          this.counted(domain);
          const result = entry(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
          if (--vcpu.budget <= 0 || this.pastDeadline()) return this.suspend(vcpu, result);
          return result;
        }
      : (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
          if ((stop !== null && stop[0] !== 0) || this.pastDeadline()) throw STOPPED;
          this.counted(domain);
          return entry(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
        };
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(module, {
        ...wasiImports,
        env: { memory: domain.ram.memory },
        [HYPERCALL_IMPORT_MODULE]: { [HYPERCALL_IMPORT_NAME]: hypercall },
      } as WebAssembly.Imports);
    } catch (e) {
      // A start section runs during instantiation: a trap there means the image cannot boot at all.
      if (!(e instanceof WebAssembly.RuntimeError) || this.broken) throw e;
      throw new ImageError(`${name}: its start function trapped before _start, while the image was instantiated (${e.message})`);
    }
    wasi?.instantiate(instance, {});
    vcpu.start = instance.exports._start as () => void;
    if (spec.interleaved) vcpu.async = instance.exports as unknown as AsyncifyExports;
    this.domains.push(domain);
    this.vcpus.set(domain, vcpu);
    return domain;
  }

  /**
   * Creates a domain with no image (an ABI tester's): RAM, a layout, privilege, policy and a tmem
   * client. It is never run (runAll leaves it out); its hypercalls come from the host.
   */
  addDomain(spec: BareDomainSpec): Domain {
    const domain = new Domain(this.tmem, {
      domid: this.nextDomid++,
      name: spec.name,
      ramMiB: spec.ramMiB,
      privileged: spec.privileged ?? false,
      layout: spec.layout,
      control: this.tmemc,
      kernels: this.kernels,
    });
    this.setBootPolicy(domain, spec);
    this.observer?.domainBooted(domain);
    this.domains.push(domain);
    return domain;
  }

  /** The policy a domain is made with (weight, cap, compression), set the one way policy is. */
  private setBootPolicy(domain: Domain, spec: Pick<DomainSpec, "weight" | "capMiB" | "compress">): void {
    this.tmem.setPolicy(domain.domid, {
      weight: spec.weight,
      capPages: spec.capMiB === undefined ? undefined : mibToFrames(spec.capMiB),
      compress: spec.compress,
    });
  }

  /** Whether `domain` has guest code to run (a domain made by addDomain has none). */
  runs(domain: Domain): boolean {
    return this.vcpus.has(domain);
  }

  /** Runs one domain to the end; returns its exit code, or null if it crashed. */
  run(domain: Domain): number | null {
    this.runAll({}, [domain]);
    return domain.exitCode;
  }

  /**
   * Runs domains (all booted ones by default) until every one has exited or crashed,
   * interleaving them at hypercall boundaries under a seeded scheduler. A domain that traps is
   * marked crashed and its tmem client destroyed; the others carry on. Host code failing inside a
   * hypercall throws a HostInvariantError out of here: no domain is marked crashed for it. A run
   * the stop flag ended between slices (an onSlice that set it: the browser page pausing) leaves
   * its domains running, each suspended at a hypercall boundary; once the flag is clear, runAll on
   * them carries on.
   */
  runAll(opts: RunOptions = {}, which?: Domain[]): void {
    for (const _ of this.slices(opts, which));
  }

  /** Whether a domain booted suspendable, so that a run can pause it between hypercalls. */
  suspendable(domain: Domain): boolean {
    return this.vcpus.get(domain)?.async != null;
  }

  private pastDeadline(): boolean {
    return this.deadline !== Infinity && Date.now() >= this.deadline;
  }

  /**
   * runAll, one slice at a time: it yields after each slice, so that a caller may pause between
   * them (return() the generator: the domains stay suspended, and a later run goes on) without
   * changing the schedule. It returns why the run ended.
   */
  *slices(opts: RunOptions = {}, which: Domain[] = this.domains.filter((d) => this.vcpus.has(d))): Generator<void, RunEnd> {
    if (this.broken) throw this.broken;
    const scheduler = new Scheduler(opts.seed ?? 1, opts.quantum ?? DEFAULT_QUANTUM);
    const runnable: Vcpu[] = [];
    for (const d of which) {
      const v = this.vcpus.get(d);
      const suspended = d.state === "running" && v?.async && !v.broken && !v.unwinding && !v.rewinding;
      if (!v || (d.state !== "created" && !suspended)) throw new Error(`domain ${d.domid} is not ready to run (${d.state})`);
      if (runnable.length > 0 && !v.async) throw new Error(`domain ${d.domid} was not booted interleaved`);
      d.state = "running";
      runnable.push(v);
    }
    if ((runnable.length > 1 || opts.maxHypercalls !== undefined) && !runnable[0].async)
      throw new Error(`domain ${runnable[0].domain.domid} was not booted interleaved`);
    this.paused = null;
    this.observer?.runStarted(scheduler.seed, scheduler.quantum, which);
    return yield* this.schedule(scheduler, runnable, which, opts);
  }

  /** Whether a run the stop flag ended between slices can carry on with resume(). */
  get resumable(): boolean {
    return this.paused?.runnable.some((v) => v.domain.state === "running") === true;
  }

  /**
   * Carries on the run the stop flag ended between slices, with the same scheduler: pausing and
   * resuming (the page's bursts) draws no new seed and changes no choice, so a run in bursts is
   * the run in one go.
   */
  resume(onSlice?: () => void): RunEnd {
    if (this.broken) throw this.broken;
    const p = this.paused;
    if (!p) throw new Error("no paused run to resume");
    this.paused = null;
    const runnable = p.runnable.filter((v) => v.domain.state === "running");
    const run = this.schedule(p.scheduler, runnable, p.which, { ...p.opts, onSlice: onSlice ?? p.opts.onSlice });
    for (;;) {
      const r = run.next();
      if (r.done) return r.value;
    }
  }

  private *schedule(scheduler: Scheduler, runnable: Vcpu[], which: Domain[], opts: RunOptions): Generator<void, RunEnd> {
    const made = () => which.reduce((n, d) => n + d.hypercalls, 0);
    const budgetEnd = opts.maxHypercalls === undefined ? Infinity : made() + opts.maxHypercalls;
    while (runnable.length > 0) {
      if ((this.stop !== null && this.stop[0] !== 0) || this.pastDeadline()) {
        // A run paused between slices (the page's bursts) can carry on with resume().
        if (!runnable.some((v) => v.broken)) this.paused = { scheduler, runnable, which, opts };
        return "stopped";
      }
      const left = budgetEnd - made();
      if (left <= 0) return "hypercalls";
      const v = runnable[scheduler.pick(runnable.length)];
      // Alone, a domain runs to its end unless someone wants to look in between slices.
      const budget = v.async && (runnable.length > 1 || opts.onSlice || opts.sliced || left !== Infinity) ? scheduler.slice() : Infinity;
      // The trace keeps the scheduler's budget; a slice cut short by maxHypercalls just makes fewer.
      v.budget = Math.min(budget, left);
      this.observer?.sliceStarted(v.domain, budget);
      this.step(v);
      this.observer?.sliceEnded();
      opts.onSlice?.();
      // A slice may end a domain, and onSlice may destroy others.
      const before = runnable.length;
      for (let i = runnable.length - 1; i >= 0; i--) if (runnable[i].domain.state !== "running") runnable.splice(i, 1);
      if (opts.untilDomainEnds && runnable.length < before) return "domain-ended";
      if (runnable.length > 0) yield;
    }
    return "ended";
  }

  /**
   * After a watchdog ended the thread's work mid-slice (a guest that made no hypercall for too
   * long): the guest that was running is marked crashed with `reason`, and its tmem client
   * freed, as a trap would. If the VMM was inside a hypercall then, tmem may be half-changed:
   * the VMM is broken and runs nothing more. Returns the domain ended, or null if none ran.
   */
  abandonCurrent(reason: string): Domain | null {
    const v = this.current;
    this.current = null;
    if (!v) return null;
    if (this.inHypercall) {
      this.broken ??= new HostInvariantError(`the run was ended inside the hypercall of domain ${v.domain.name}: ${reason}`);
      throw this.broken;
    }
    v.broken = true;
    v.unwinding = v.rewinding = false;
    this.finish(v, null, reason);
    return v.domain;
  }

  /** Runs a vCPU until it is descheduled, exits or crashes. */
  private step(v: Vcpu): void {
    const ram = v.domain.ram;
    const stackAt = asyncStackAt(ram);
    this.current = v;
    try {
      if (v.stack) {
        v.original = borrowed(ram.read(stackAt, ASYNC_STACK_BYTES));
        ram.write(stackAt, v.stack);
        v.stack = null;
        v.rewinding = true;
        v.async!.asyncify_start_rewind(stackAt);
      }
      const returned: unknown = v.start();
      if (this.broken) throw this.broken;
      if (v.unwinding) {
        v.async!.asyncify_stop_unwind();
        v.unwinding = false;
        v.stack = borrowed(ram.read(stackAt, ASYNC_STACK_BYTES));
        ram.write(stackAt, v.original!);
        v.original = null;
        return;
      }
      // A _start that returns i32 (as an embedded C main may) gives its exit code that way;
      // WASI's _start returns nothing and exits non-zero through proc_exit.
      this.finish(v, typeof returned === "number" ? returned >>> 0 : 0, null);
    } catch (e) {
      if (e === STOPPED) {
        v.broken = true;
        return;
      }
      if (e === DESTROYED) return;
      if (this.broken) throw this.broken;
      if (e instanceof GuestExit) this.finish(v, e.code, null);
      else this.finish(v, null, e instanceof Error ? e.message : String(e));
    } finally {
      this.current = null;
    }
  }

  /** In the hypercall import: unwind the guest to the scheduler, keeping the call's result. */
  private suspend(v: Vcpu, result: number): number {
    const ram = v.domain.ram;
    const stackAt = asyncStackAt(ram);
    v.savedResult = result;
    v.original = borrowed(ram.read(stackAt, ASYNC_STACK_BYTES));
    // Asyncify's header: where its data starts and where the area ends.
    const end = ram.offset(stackAt, 4, 4);
    if (end === NOT_RAM) throw new Error("the Asyncify stack area is not in RAM");
    ram.writeU32(stackAt, stackAt + 8);
    ram.writeU32(end, stackAt + ASYNC_STACK_BYTES);
    v.unwinding = true;
    v.async!.asyncify_start_unwind(stackAt);
    return 0;
  }

  /** In the hypercall import, on the way back in: the guest gets the result it was waiting for. */
  private resumed(v: Vcpu): number {
    v.async!.asyncify_stop_rewind();
    v.rewinding = false;
    v.domain.ram.write(asyncStackAt(v.domain.ram), v.original!);
    v.original = null;
    return v.savedResult;
  }

  private finish(v: Vcpu, exitCode: number | null, crash: string | null): void {
    const d = v.domain;
    this.observer?.domainEnding(d);
    d.exitCode = exitCode;
    d.crash = crash;
    const how = crash === null ? "exited" : "crashed";
    d.state = how;
    if (crash !== null) this.tmem.destroyClient(d.domid);
    this.observer?.domainEnded(d, how);
    this.flushConsole(d);
  }

  /** Output the guest wrote through @wasmer/wasi's own buffers, forwarded to its sink. */
  flushConsole(domain: Domain): { stdout: string; stderr: string } {
    const v = this.vcpus.get(domain);
    if (!v?.wasi) return { stdout: "", stderr: "" };
    const stdout = v.wasi.getStdoutString();
    const stderr = v.wasi.getStderrString();
    if (v.console) {
      if (stdout) v.console.stdout(stdout);
      if (stderr) v.console.stderr(stderr);
    }
    return { stdout, stderr };
  }

  /** Destroys a domain: it stops (if it had not ended) and its tmem client frees everything. */
  destroy(domain: Domain): void {
    this.observer?.domainEnding(domain);
    if (domain.state === "created" || domain.state === "running") {
      domain.state = "crashed";
      domain.crash = "destroyed";
    }
    this.tmem.destroyClient(domain.domid);
    this.observer?.domainEnded(domain, "destroyed");
  }
}
