// Records a run into a .tmtr trace: every hypercall of the domains it observes (registers, the
// guest memory the op reads, the memory it wrote, the result) and, in order among them, every
// host event that decides a later result: domains created with their policy, control actions,
// policy set directly by a program, domains that ended, the scheduler's slices.
import {
  HYPERVISOR_tmem_op,
  TMEM_AUTH,
  TMEM_CONTROL,
  TMEM_GET_PAGE,
  TMEM_PAGE_SIZE,
  TMEM_PUT_PAGE,
  TMEM_READ,
  TMEM_RESTORE_NEW,
  TMEM_WRITE,
  TMEMC_LIST,
  TMEMC_RESTORE_PUT_PAGE,
  TMEMC_SAVE_GET_NEXT_INV,
  TMEMC_SAVE_GET_NEXT_PAGE,
  TMEMC_SAVE_GET_POOL_UUID,
} from "../../hypercall-abi/constants.js";
import type { Domain } from "../machine/domain.js";
import type { MachineObserver, Vmm } from "../machine/vmm.js";
import type { HypercallObserver } from "../boundary/hypercall.js";
import type { OpArgs } from "../boundary/op-args.js";
import { NOT_RAM } from "../boundary/guest-memory.js";
import type { Tmem } from "../tmem/tmem.js";
import type { DomId } from "../tmem/ids.js";
import type { ControlObserver, ControlPlane } from "../host/control-plane.js";
import { policyOf, samePolicy, tmemState } from "../snapshot/tmem-state.js";
import {
  encodeEnd,
  encodeEvent,
  encodeHeader,
  encodeHypercall,
  FLAG_SCHEDULED,
  hypercallRecordLength,
  writeHypercall,
  type HypercallRecord,
  type Region,
  type RegionRef,
  type TraceEvent,
  type TracePolicy,
} from "./trace-format.js";
import type { TraceSink } from "./trace-sink.js";
import { PageRefs } from "./page-refs.js";

export type { TraceSink };

const FLUSH_BYTES = 1 << 20;

/** Reads `len` bytes at 64-bit guest address (lo, hi) of `domain`, or null if not all RAM. */
function regionAt(domain: Domain, lo: number, hi: number, len: number): Region | null {
  const at = domain.ram.address(lo, hi, len);
  const bytes = at === NOT_RAM ? NOT_RAM : domain.ram.read(at, len);
  return at === NOT_RAM || bytes === NOT_RAM ? null : { addr: at, bytes };
}

/**
 * Records everything `vmm` does from now on to a .tmtr trace written to `sink` (a file: traceFile()
 * of vmm/platform/files.ts; memory: MemoryTraceSink): the domains there are and those booted
 * later, their hypercalls, control actions, ends and scheduling. `run` is what the run was asked
 * to do, kept in the header for readers. End it with close() on the recorder returned, however
 * the run ends.
 */
export function recordVmm(vmm: Vmm, sink: TraceSink, run?: unknown, control?: ControlPlane): TraceRecorder {
  if (liveRecorder(vmm.observer)) throw new Error(`already recording to ${liveRecorder(vmm.observer)!.path}`);
  const rec = new TraceRecorder(sink, vmm.tmem, run);
  try {
    for (const d of vmm.domains) rec.attach(d);
  } catch (e) {
    rec.close("recording could not start");
    throw e;
  }
  vmm.observer = rec;
  const unobserve = control?.observe(rec) ?? (() => {});
  rec.detach = () => {
    if (vmm.observer === rec) vmm.observer = null;
    unobserve();
  };
  return rec;
}

/** The trace `observer` records to, if it is a recorder still open. */
export function liveRecorder(observer: unknown): TraceRecorder | null {
  return observer instanceof TraceRecorder && !observer.closed ? observer : null;
}

export class TraceRecorder implements HypercallObserver, MachineObserver, ControlObserver {
  /** The sink's name (a file's path). */
  readonly path: string;
  private sink: TraceSink | null;
  /** Records since the last write, encoded in place (a write a record would be a system call a hypercall). */
  private readonly batch = new Uint8Array(FLUSH_BYTES);
  private readonly batchView = new DataView(this.batch.buffer);
  private used = 0;
  /** Each domain's op struct as it was before the op (the op may write over it), reused. */
  private readonly structs = new Map<Domain, Uint8Array>();
  private hypercalls = 0;
  private events = 0;
  private inputs: Region[] = [];
  /** Frames already in the trace: one put again, or got back, is written as a reference. */
  private readonly pages = new PageRefs();
  /** The policy of every client as the trace last left it, to spot changes made behind its back. */
  private readonly known = new Map<DomId, TracePolicy>();
  private sharedAuthOpen: boolean;
  /** The domain the scheduler is running now, if any. */
  private scheduled: Domain | null = null;
  private readonly forgetAbandon: () => void;
  private readonly observed: Domain[] = [];
  /** Set by recordVmm: stops the machine reporting to this recorder once it is closed. */
  detach: () => void = () => {};

  constructor(
    sink: TraceSink,
    readonly tmem: Tmem,
    run?: unknown,
  ) {
    this.sink = sink;
    this.path = sink.name;
    this.sharedAuthOpen = tmem.sharedAuthOpen;
    this.push(
      encodeHeader({ capacityFrames: tmem.capacityFrames, sharedAuthOpen: tmem.sharedAuthOpen, ...(run === undefined ? {} : { run }) }),
    );
    // Clients there already go first, in the order tmem made them (its eviction breaks ties by it).
    this.syncPolicy();
    // Whatever ends the program, the trace gets its end record.
    this.forgetAbandon = sink.onAbandon?.(() => this.close("the process exited before the run ended")) ?? (() => {});
  }

  /** Starts observing a domain; it must not have used tmem yet (what it holds would be missing). */
  attach(domain: Domain): void {
    const c = domain.client;
    if (c.pools.some((p) => p !== null)) {
      throw new Error(`start recording before domain ${domain.name} uses tmem: its pools would be missing from the trace`);
    }
    // Its client, if new, goes in with the domain, not as a policy change; clients made since the
    // trace last looked go in before it, in the order tmem made them.
    const policy = policyOf(c);
    if (!this.known.has(domain.domid)) this.known.set(domain.domid, policy);
    this.syncPolicy();
    this.event({
      type: "domain",
      domid: domain.domid,
      name: domain.name,
      layout: domain.layout.name,
      ramMiB: domain.ram.sizeBytes >> 20,
      privileged: domain.privileged,
      policy,
    });
    domain.observer = this;
    this.observed.push(domain);
  }

  domainBooted(domain: Domain): void {
    this.attach(domain);
  }

  domainEnding(): void {
    this.syncPolicy();
  }

  actionStarting(): void {
    this.syncPolicy();
  }

  actionDone(action: string, domid: number | null, args: (string | number | boolean | null)[], result: unknown, blob?: Uint8Array): void {
    this.action(action, domid, args, result, blob);
  }

  /**
   * A control-plane action that ran (with what it returned); `blob` carries a restored save file.
   * The caller calls syncPolicy() before running it, so changes made before stay apart.
   */
  action(action: string, domid: number | null, args: (string | number | boolean | null)[], result: unknown, blob?: Uint8Array): void {
    this.event({ type: "action", action, domid, args, result: result ?? null }, blob);
    this.resync();
  }

  /** A domain ended; a crash or a destroy took its tmem client with it (syncPolicy() first, as for action). */
  domainEnded(domain: Domain, how: "exited" | "crashed" | "destroyed"): void {
    this.event({ type: "end", domid: domain.domid, how, exitCode: domain.exitCode, crash: domain.crash });
    this.resync();
  }

  runStarted(seed: number, quantum: number, domains: Domain[]): void {
    this.event({ type: "run", seed, quantum, domids: domains.map((d) => d.domid) });
  }

  sliceStarted(domain: Domain, budget: number): void {
    this.event({ type: "slice", domid: domain.domid, budget: Number.isFinite(budget) ? budget : 0 });
    this.scheduled = domain;
  }

  sliceEnded(): void {
    this.scheduled = null;
  }

  /** Writes down any policy a program changed since the trace last looked (before it matters). */
  syncPolicy(): void {
    const t = this.tmem;
    if (t.sharedAuthOpen !== this.sharedAuthOpen) {
      this.sharedAuthOpen = t.sharedAuthOpen;
      this.event({ type: "shared-auth", open: t.sharedAuthOpen });
    }
    let n = 0;
    for (const c of t.clients) {
      n++;
      const p = this.known.get(c.domid);
      if (p && samePolicy(c, p)) continue;
      const now = policyOf(c);
      this.known.set(c.domid, now);
      this.event({
        type: "policy",
        domid: c.domid,
        generation: c.rules.generation,
        privileged: c.privileged,
        policy: now,
        ...(p ? { was: p } : {}),
      });
    }
    if (n === this.known.size) return;
    // A client went away without a recorded end (a program destroyed it directly).
    for (const domid of [...this.known.keys()]) {
      if (t.findClient(domid)) continue;
      this.known.delete(domid);
      this.event({ type: "policy", domid, generation: "", privileged: false, policy: null });
    }
  }

  /** After something replay re-executes itself: take tmem's policies as known, unrecorded. */
  private resync(): void {
    this.sharedAuthOpen = this.tmem.sharedAuthOpen;
    this.known.clear();
    for (const c of this.tmem.clients) this.known.set(c.domid, policyOf(c));
  }

  before(domain: Domain, regs: Int32Array): void {
    this.syncPolicy();
    this.inputs = [];
    if (regs[0] !== HYPERVISOR_tmem_op || regs[1] !== 0) return;
    const at = domain.ram.address(regs[2], regs[3], domain.layout.size);
    if (at === NOT_RAM) return;
    let struct = this.structs.get(domain);
    if (struct === undefined) this.structs.set(domain, (struct = new Uint8Array(domain.layout.size)));
    if (domain.ram.readInto(at, struct)) this.inputs.push({ addr: at, bytes: struct });
  }

  /** Inputs beyond the struct are read here, from the boundary's decode: the ops that read them write no guest memory. */
  after(domain: Domain, regs: Int32Array, result: number, op: Readonly<OpArgs> | null, cmfn: Uint32Array): void {
    const inputs = this.inputs;
    const outputs: Region[] = [];
    const frame =
      op && (op.cmd === TMEM_PUT_PAGE || op.cmd === TMEM_WRITE || op.cmd === TMEM_GET_PAGE || op.cmd === TMEM_READ)
        ? this.frameOf(domain, cmfn)
        : null;
    const control = op?.cmd === TMEM_CONTROL && domain.layout.hasCtrl;
    const record = this.hypercalls + 1;
    if (frame && (op!.cmd === TMEM_PUT_PAGE || op!.cmd === TMEM_WRITE))
      inputs.push(this.referenced(domain, frame, { record, list: 0, index: inputs.length }));
    if (control && op!.subop === TMEMC_RESTORE_PUT_PAGE) {
      const buf = regionAt(domain, op!.ctrlBufLo, op!.ctrlBufHi, TMEM_PAGE_SIZE);
      if (buf) inputs.push(buf);
    }
    // Only what the op wrote: on a miss or an error the guest's memory is its own business.
    if (frame && result === 1 && op!.cmd === TMEM_GET_PAGE) outputs.push(this.referenced(domain, frame, { record, list: 1, index: 0 }));
    else if (frame && result === 1 && op!.cmd === TMEM_READ) {
      outputs.push({ addr: frame.addr + op!.pfnOffset, bytes: frame.bytes.slice(op!.pfnOffset, op!.pfnOffset + op!.len) });
    } else if (control) {
      const len = this.controlOutputLength(domain, op!, result);
      const out = len > 0 ? regionAt(domain, op!.ctrlBufLo, op!.ctrlBufHi, len) : null;
      if (out) outputs.push(out);
    }
    const flags = this.scheduled === domain ? FLAG_SCHEDULED : 0;
    this.hypercall({ domid: domain.domid, flags, regs, result, inputs, outputs });
    this.hypercalls++;
    // A privileged guest's control op may change any client's policy: replay does the same op.
    if (op && (op.cmd === TMEM_CONTROL || op.cmd === TMEM_AUTH || op.cmd === TMEM_RESTORE_NEW)) this.resyncIfChanged();
  }

  private resyncIfChanged(): void {
    if (this.tmem.sharedAuthOpen !== this.sharedAuthOpen) this.sharedAuthOpen = this.tmem.sharedAuthOpen;
    for (const c of this.tmem.clients) {
      const p = this.known.get(c.domid);
      if (!p || !samePolicy(c, p)) this.known.set(c.domid, policyOf(c));
    }
  }

  private controlOutputLength(domain: Domain, op: Readonly<OpArgs>, result: number): number {
    switch (op.subop) {
      case TMEMC_LIST: {
        if (result !== 0 || op.ctrlArg1 === 0) return 0;
        const buf = regionAt(domain, op.ctrlBufLo, op.ctrlBufHi, op.ctrlArg1);
        return buf ? buf.bytes.indexOf(0) + 1 : 0;
      }
      case TMEMC_SAVE_GET_POOL_UUID:
        return result === 0 ? domain.layout.uuidBytes : 0;
      case TMEMC_SAVE_GET_NEXT_PAGE:
        return result === 1 ? domain.layout.handleBytes + TMEM_PAGE_SIZE : 0;
      case TMEMC_SAVE_GET_NEXT_INV:
        return result === 1 ? domain.layout.handleBytes : 0;
      default:
        return 0;
    }
  }

  /** `frame` of `domain`'s RAM, to be written at `at`, as a reference if its bytes are in the trace already. */
  private referenced(domain: Domain, frame: Region, at: RegionRef): Region {
    const ref = this.pages.refOrRemember(domain.ram.memory, frame.addr, at);
    return ref === null ? frame : { addr: frame.addr, bytes: frame.bytes, ref };
  }

  private frameOf(domain: Domain, cmfn: Uint32Array): Region | null {
    const g = domain.ram.gfn(cmfn[0], cmfn[1]);
    // A view, not a copy: the record is encoded before the guest runs again.
    return g === NOT_RAM ? null : { addr: domain.ram.frameAddress(g), bytes: domain.ram.frameView(g) };
  }
  private event(e: TraceEvent, blob?: Uint8Array): void {
    this.push(encodeEvent(e, blob));
    this.events++;
  }

  private push(bytes: Uint8Array): void {
    if (this.sink === null) throw new Error(`the trace ${this.path} is closed`);
    if (this.used + bytes.length > this.batch.length) this.flush();
    if (bytes.length > this.batch.length) this.sink.write(bytes);
    else {
      this.batch.set(bytes, this.used);
      this.used += bytes.length;
    }
  }

  /** A hypercall's record, encoded straight into the batch (its regions may be views of guest RAM). */
  private hypercall(r: HypercallRecord): void {
    if (this.sink === null) throw new Error(`the trace ${this.path} is closed`);
    const n = hypercallRecordLength(r);
    if (this.used + n > this.batch.length) this.flush();
    if (n > this.batch.length) this.sink.write(encodeHypercall(r));
    else {
      writeHypercall(this.batch, this.batchView, this.used, r);
      this.used += n;
    }
  }

  /** Writes what is batched in one piece; the sink keeps a copy if it keeps anything. */
  private flush(): void {
    if (this.used === 0) return;
    this.sink!.write(this.batch.subarray(0, this.used));
    this.used = 0;
  }

  get closed(): boolean {
    return this.sink === null;
  }

  /**
   * The one way a trace ends, whether the run finished or was cut short (`reason`: interrupted,
   * timed out): writes the end record with the state tmem is in, and closes the sink. Later calls
   * do nothing. Returns the number of hypercalls recorded.
   */
  close(reason: string | null = null): number {
    if (this.sink === null) return this.hypercalls;
    this.forgetAbandon();
    this.syncPolicy();
    this.push(encodeEnd(this.hypercalls, this.events, { reason, state: tmemState(this.tmem), sharedAuthOpen: this.tmem.sharedAuthOpen }));
    this.flush();
    const sink = this.sink;
    this.sink = null;
    sink.close();
    this.detach();
    for (const d of this.observed) if (d.observer === this) d.observer = null;
    return this.hypercalls;
  }
}
