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
import { GuestAddressError, GuestFrameError, hostHypercall, readFrame, readGuest, RegisterValueError, writeFrame, writeGuest, type GuestNumber } from "./machine/guest-access.js";
import { tmemState, type TraceState } from "./snapshot/tmem-state.js";
import { ImageError, imageFromBytes, type GuestImage } from "./machine/image.js";
import { assets } from "./store/asset-loader.js";
import { recordVmm, type TraceRecorder } from "./trace/recorder.js";
import { replayTrace, type ReplayReport } from "./trace/replay.js";
import type { TraceSink } from "./trace/trace-sink.js";
import { DEFAULT_QUANTUM, DEFAULT_TMEM_MIB, Vmm, type VmmOptions } from "./machine/vmm.js";

export * as abi from "../hypercall-abi/index.js";
export { ControlError, ControlPlane, DomainNotFound, GuestAddressError, GuestFrameError, ImageError, RegisterValueError, Vmm };
export type { GuestNumber };
/** tmem's usage as a read-only snapshot: frames used, global counters, per client its policy, pages, counts and pools. */
export type TmemState = TraceState;
export type { ActionResult, DomainListing, Listing, PoolListing } from "./host/control-plane.js";
export type { ControlAction, DomainRef } from "./host/control-action.js";
export type { DomainState } from "./machine/domain.js";
export type { Divergence, ReplayReport } from "./trace/replay.js";
export { TraceError } from "./trace/trace-format.js";
export type { CreatArgs, CtrlArgs, GenArgs, TmemOp } from "../hypercall-abi/op-codec.js";

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
  /** Files and the like (vmm/node.ts passes Node's); none by default. */
  platform?: ApiPlatform;
}

/**
 * A domain with no guest image, for an ABI tester that issues every hypercall itself
 * (Machine.addDomain). Its RAM is whole MiB, as every domain's is: guest RAM is a Wasm memory.
 */
export interface BareDomainSpec {
  /** Its name (unique in the machine). */
  name: string;
  /** RAM in MiB, 1..4095 (default 1). */
  ramMiB?: number;
  /** The struct tmem_op layout its ops use (default `xen-4.12-oid3/x86_64`). */
  layout?: string;
  /** A control domain (like dom0): may issue TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW. */
  privileged?: boolean;
  weight?: number;
  capMiB?: number;
  compress?: boolean;
}

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
  /** The tmem listing once every guest has ended. */
  listing: Listing;
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
    const bundled = assets().image(image);
    if (bundled) return imageFromBytes(bundled, image);
  }
  if (!platform.loadImage) throw new ImageError(`${image}: not a bundled image, and this platform reads no files: pass the image's bytes`);
  return platform.loadImage(image);
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
  private ran = false;

  private constructor(
    /** The machine itself, for what this API does not cover. */
    readonly vmm: Vmm,
    private readonly options: BootOptions,
  ) {
    this.control = new ControlPlane(vmm, options.platform?.saveFiles);
  }

  /** @internal Use emptyMachine(). */
  static async empty(options: BootOptions): Promise<Machine> {
    const m = new Machine(await Vmm.create(tmemSize(options)), options);
    if (options.record) m.recorder = recordVmm(m.vmm, needs(options.platform?.traceFile, "record")(options.record), { guests: [] }, m.control);
    return m;
  }

  /** @internal Use boot(). */
  static async create(guests: readonly GuestSpec[], options: BootOptions): Promise<Machine> {
    if (guests.length === 0) throw new RangeError("boot needs at least one guest");
    // Every image and layout is checked before anything boots.
    const platform = options.platform ?? {};
    const images = guests.map((g) => loadGuestImage(g.image, platform));
    const layouts = guests.map((g) => layoutOf(g.layout));
    const m = new Machine(await Vmm.create(tmemSize(options)), options);
    // Recording starts before the guests boot: their policy and restored pages go in the trace.
    if (options.record) m.recorder = recordVmm(m.vmm, needs(platform.traceFile, "record")(options.record), { guests: guests.map((g) => ({ ...g, image: typeof g.image === "string" ? g.image : "<bytes>" })) }, m.control);
    const used = new Map<string, number>();
    for (const [i, g] of guests.entries()) {
      const base = g.name ?? images[i].name;
      const n = (used.get(base) ?? 0) + 1;
      used.set(base, n);
      const captured: Captured = { stdout: "", stderr: "" };
      const domain = await m.vmm.boot({
        image: images[i], name: n === 1 ? base : `${base}-${n}`, ramMiB: g.ramMiB, layout: layouts[i], privileged: g.privileged,
        weight: g.weight, capMiB: g.capMiB, compress: g.compress, args: g.args, interleaved: guests.length > 1,
        console: { stdout: (t) => (captured.stdout += t), stderr: (t) => (captured.stderr += t) },
      });
      m.consoles.set(domain, captured);
    }
    guests.forEach((g, i) => {
      if (g.restore) m.control.restore(m.vmm.domains[i].domid, needs(platform.saveFiles, "restore").read(g.restore), g.restore);
    });
    return m;
  }

  /** The booted guests, in boot order. */
  get guests(): GuestReport[] {
    return this.vmm.domains.filter((d) => this.vmm.runs(d)).map((d) => this.report(d));
  }

  /** Runs every guest to its end (several interleave under the seeded scheduler). Once. */
  run(): RunReport {
    if (this.ran) throw new Error("this machine has already run; boot another");
    this.ran = true;
    this.vmm.runAll({ seed: this.options.seed ?? 1, quantum: this.options.quantum ?? DEFAULT_QUANTUM });
    const guests = this.guests;
    return { ok: guests.every((g) => g.exitCode === 0), guests, listing: this.list() };
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
    if (typeof spec.name !== "string" || spec.name === "") throw new RangeError(`a domain's name is a non-empty string, got ${String(spec.name)}`);
    if (this.vmm.domains.some((d) => d.name === spec.name)) throw new RangeError(`a domain named ${spec.name} exists already`);
    const d = this.vmm.addDomain({ ...spec, ramMiB: spec.ramMiB ?? 1, layout: layoutOf(spec.layout) });
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
    return { domid: d.domid, name: d.name, layout: d.layout.name, privileged: d.privileged, ramBytes: d.ram.sizeBytes, frames: d.ram.frames, state: d.state, hasImage: this.vmm.runs(d) };
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
    return { name: d.name, domid: d.domid, state: d.state, exitCode: d.exitCode, crash: d.crash, stdout: c.stdout, stderr: c.stderr, hypercalls: d.hypercalls };
  }
}

/** tmem's size as the VMM takes it: frames if given, else MiB (default 64). */
function tmemSize(o: BootOptions): VmmOptions {
  return o.tmemFrames === undefined ? { tmemMiB: o.tmemMiB ?? DEFAULT_TMEM_MIB } : { tmemFrames: o.tmemFrames, tmemMiB: o.tmemMiB };
}

function layoutOf(name: string | undefined): OpLayout {
  if (name === undefined) return DEFAULT_LAYOUT;
  const l = opLayout(name);
  if (!l) throw new RangeError(`unknown layout ${name}; one of: ${[...OP_LAYOUTS.keys()].join(", ")}`);
  return l;
}

function fullOp(op: HostOp, layout: OpLayout, frameAt: number): TmemOp {
  const oid = (words?: bigint[]) => words ?? new Array<bigint>(layout.oidWords).fill(0n);
  const frame = BigInt(frameAt >>> TMEM_PAGE_SHIFT);
  const full: TmemOp = { cmd: op.cmd, poolId: op.poolId ?? 0 };
  if (op.creat) full.creat = { uuid: op.creat.uuid ?? [0n, 0n], flags: op.creat.flags ?? 0, arg1: op.creat.arg1 ?? 0 };
  if (op.gen) {
    const g = op.gen;
    full.gen = { oid: oid(g.oid), index: g.index ?? 0, tmemOffset: g.tmemOffset ?? 0, pfnOffset: g.pfnOffset ?? 0, len: g.len ?? 0, cmfn: g.cmfn ?? frame };
  }
  if (op.ctrl) {
    const c = op.ctrl;
    full.ctrl = { subop: c.subop ?? 0, cliId: c.cliId ?? 0, arg1: c.arg1 ?? 0, arg2: c.arg2 ?? 0, oid: oid(c.oid), buf: c.buf ?? BigInt(frameAt) };
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
  return replayTrace(typeof trace === "string" ? needs(platform.readFile, "a trace by path")(trace) : trace);
}
