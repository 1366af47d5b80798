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
  /** Host memory lent to tmem, in MiB. */
  tmemMiB: number;
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
  observer: MachineObserver | null = null;
  /** Set once host code failed inside a hypercall: nothing runs after it. */
  private broken: HostInvariantError | null = null;

  private constructor(opts: VmmOptions) {
    this.stop = opts.stop ?? null;
    if (!Number.isInteger(opts.tmemMiB) || opts.tmemMiB < 0 || opts.tmemMiB > 1 << 20) {
      throw new RangeError(`tmem capacity must be 0..${1 << 20} MiB, got ${opts.tmemMiB}`);
    }
    const kernels = opts.assets instanceof Kernels ? opts.assets : new Kernels(opts.assets);
    this.kernels = kernels;
    this.tmem = new Tmem({ capacityFrames: mibToFrames(opts.tmemMiB), compressor: () => kernels.lz4(), hashKey: opts.hashKey });
    this.tmemc = new Tmemc(this.tmem);
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
    if (ramMiB < image.minRamMiB) throw new ImageError(`${image.name}: needs at least ${image.minRamMiB} MiB of RAM, --mem gives ${ramMiB}`);
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
    this.tmem.setPolicy(domain.domid, { weight: spec.weight, capPages: spec.capMiB === undefined ? undefined : mibToFrames(spec.capMiB), compress: spec.compress });
    this.observer?.domainBooted(domain);
    const sink = spec.console;
    if (sink && typeof wasiFns.fd_write === "function") wasiFns.fd_write = streamingFdWrite(domain, sink, wasiFns.fd_write as FdWrite);
    if ("proc_exit" in wasiFns) {
      wasiFns.proc_exit = (code: number) => {
        throw new GuestExit(code >>> 0);
      };
    }

    const vcpu: Vcpu = {
      domain, wasi, start: () => {}, async: null, console: sink, budget: Infinity,
      unwinding: false, rewinding: false, savedResult: 0, stack: null, original: null, broken: false,
    };
    const unguarded = domain.hypercall;
    // Host code that throws here broke an invariant (a guest's mistakes are errnos): the VMM
    // stops, even if the guest's code would catch the exception.
    const entry: typeof unguarded = (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
      try {
        return unguarded(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
      } catch (e) {
        throw (this.broken ??= hostFault(name, e));
      }
    };
    const stop = this.stop;
    const hypercall: typeof entry = spec.interleaved
      ? (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
          // Registers spelled out: a rest parameter would allocate an array on every hypercall.
          if (vcpu.rewinding) return this.resumed(vcpu);
          if (stop !== null && stop[0] !== 0) throw STOPPED;
          const result = entry(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
          if (--vcpu.budget <= 0) return this.suspend(vcpu, result);
          return result;
        }
      : stop !== null
        ? (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) => {
            if (stop[0] !== 0) throw STOPPED;
            return entry(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11);
          }
        : entry;
    const instance = new WebAssembly.Instance(module, { ...wasiImports, env: { memory: domain.ram.memory }, [HYPERCALL_IMPORT_MODULE]: { [HYPERCALL_IMPORT_NAME]: hypercall } } as WebAssembly.Imports);
    wasi?.instantiate(instance, {});
    vcpu.start = instance.exports._start as () => void;
    if (spec.interleaved) vcpu.async = instance.exports as unknown as AsyncifyExports;
    this.domains.push(domain);
    this.vcpus.set(domain, vcpu);
    return domain;
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
  runAll(opts: RunOptions = {}, which: Domain[] = this.domains): void {
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
    if (runnable.length > 1 && !runnable[0].async) throw new Error(`domain ${runnable[0].domain.domid} was not booted interleaved`);
    this.observer?.runStarted(scheduler.seed, scheduler.quantum, which);
    while (runnable.length > 0) {
      if (this.stop !== null && this.stop[0] !== 0) return;
      const v = runnable[scheduler.pick(runnable.length)];
      // Alone, a domain runs to its end unless someone wants to look in between slices.
      v.budget = v.async && (runnable.length > 1 || opts.onSlice) ? scheduler.slice() : Infinity;
      this.observer?.sliceStarted(v.domain, v.budget);
      this.step(v);
      this.observer?.sliceEnded();
      opts.onSlice?.();
      // A slice may end a domain, and onSlice may destroy others.
      for (let i = runnable.length - 1; i >= 0; i--) if (runnable[i].domain.state !== "running") runnable.splice(i, 1);
    }
  }

  /** Runs a vCPU until it is descheduled, exits or crashes. */
  private step(v: Vcpu): void {
    const ram = v.domain.ram;
    const stackAt = asyncStackAt(ram);
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
      if (this.broken) throw this.broken;
      if (e instanceof GuestExit) this.finish(v, e.code, null);
      else this.finish(v, null, e instanceof Error ? e.message : String(e));
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
