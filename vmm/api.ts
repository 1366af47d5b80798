// The package's programmatic entry (`import { boot, replay } from "tmemvm"`), for test suites
// that exercise their own guests: boot images with options, run them, read the tmem listing,
// issue hypercalls from the host as a domain, record a run and replay its trace. It is a thin
// layer over the same parts the CLI uses (Vmm, ControlPlane, the trace recorder and replayer).
import { HYPERVISOR_tmem_op, TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../hypercall-abi/constants.js";
import { encodeOp, type CreatArgs, type CtrlArgs, type GenArgs, type TmemOp } from "../hypercall-abi/op-codec.js";
import { DEFAULT_LAYOUT, opLayout, OP_LAYOUTS, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { ControlError } from "./host/control-action.js";
import { ControlPlane, type Listing } from "./host/control-plane.js";
import type { Domain, DomainState } from "./machine/domain.js";
import { ImageError, imageFromBytes, type GuestImage } from "./machine/image.js";
import { fileExists, loadImage, readFileBytes, readSaveFile, saveFileStore, traceFile } from "./platform/files.js";
import { assets } from "./store/asset-loader.js";
import { recordVmm, type TraceRecorder } from "./trace/recorder.js";
import { replayTrace, type ReplayReport } from "./trace/replay.js";
import { DEFAULT_QUANTUM, DEFAULT_TMEM_MIB, Vmm } from "./machine/vmm.js";

export * as abi from "../hypercall-abi/index.js";
export { ControlError, ControlPlane, ImageError, Vmm };
export type { ActionResult, DomainListing, Listing, PoolListing } from "./host/control-plane.js";
export type { ControlAction, DomainRef } from "./host/control-action.js";
export type { DomainState } from "./machine/domain.js";
export type { Divergence, ReplayReport } from "./trace/replay.js";
export { TraceError } from "./trace/trace-format.js";
export { classifyError, type ErrorClass, type ErrorVerdict } from "./error-class.js";
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

export interface BootOptions {
  /** Host memory lent to tmem, in MiB (default 64). */
  tmemMiB?: number;
  /** Scheduler seed for several guests: the same seed interleaves them the same way. */
  seed?: number;
  /** Mean hypercalls per time slice when several guests interleave. */
  quantum?: number;
  /** Record every hypercall (the guests' and the host's) to this `.tmtr` trace until close(). */
  record?: string;
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

function loadGuestImage(image: string | Uint8Array): GuestImage {
  if (typeof image !== "string") return imageFromBytes(image, "guest");
  if (!fileExists(image) && /^[\w-]+$/.test(image)) {
    const bundled = assets().image(image);
    if (bundled) return imageFromBytes(bundled, image);
  }
  return loadImage(image);
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
    this.control = new ControlPlane(vmm, saveFileStore);
  }

  /** @internal Use boot(). */
  static async create(guests: readonly GuestSpec[], options: BootOptions): Promise<Machine> {
    if (guests.length === 0) throw new RangeError("boot needs at least one guest");
    // Every image and layout is checked before anything boots.
    const images = guests.map((g) => loadGuestImage(g.image));
    const layouts = guests.map((g) => layoutOf(g.layout));
    const m = new Machine(await Vmm.create({ tmemMiB: options.tmemMiB ?? DEFAULT_TMEM_MIB }), options);
    // Recording starts before the guests boot: their policy and restored pages go in the trace.
    if (options.record) m.recorder = recordVmm(m.vmm, traceFile(options.record), { guests: guests.map((g) => ({ ...g, image: typeof g.image === "string" ? g.image : "<bytes>" })) }, m.control);
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
      if (g.restore) m.control.restore(m.vmm.domains[i].domid, readSaveFile(g.restore), g.restore);
    });
    return m;
  }

  /** The booted guests, in boot order. */
  get guests(): GuestReport[] {
    return this.vmm.domains.map((d) => this.report(d));
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
  hypercall(guest: string | number, op: HostOp, page?: Uint8Array): HostHypercallResult {
    const d = this.control.domain(guest);
    if (!this.vmm.tmem.findClient(d.domid)) throw new ControlError(`domain ${d.name} has no tmem client (it was destroyed)`);
    if (page && page.length !== TMEM_PAGE_SIZE) throw new RangeError(`a page is ${TMEM_PAGE_SIZE} bytes, got ${page.length}`);
    const ram = d.ram;
    const frameAt = ram.sizeBytes - TMEM_PAGE_SIZE;
    const structAt = frameAt - TMEM_PAGE_SIZE;
    const saved = ram.bytes.slice(structAt, ram.sizeBytes);
    try {
      ram.bytes.fill(0, frameAt);
      if (page) ram.bytes.set(page, frameAt);
      ram.bytes.set(encodeOp(fullOp(op, d.layout, frameAt), d.layout), structAt);
      const result = d.hypercall(HYPERVISOR_tmem_op, 0, structAt, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      return { result, frame: ram.bytes.slice(frameAt, ram.sizeBytes) };
    } finally {
      ram.bytes.set(saved, structAt);
    }
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

/** Re-executes a recorded trace against a fresh VMM; `divergence` is null when it reproduces. */
export function replay(trace: string | Uint8Array): ReplayReport {
  return replayTrace(typeof trace === "string" ? readFileBytes(trace) : trace);
}
