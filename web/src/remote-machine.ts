// The page's side of its machine worker: requests as promises, and the machine as the views draw
// it (domains, samples, results, the listing, consoles, the log), kept up to date from the
// worker's updates. The main thread never runs guest code: it only draws what the updates say.
import type { Listing } from "../../vmm/api.js";
import type { GuestResult, LogEntry, MachineConfig, PolicyChange, Sample } from "./page-machine.js";
import {
  type DomainView,
  type Drawn,
  type RecordingView,
  type Replies,
  type ReplayView,
  type Request,
  type Update,
  unpackLog,
} from "./worker-protocol.js";

const LOG_KEEP = 20_000;

/** The worker, started once with the page; every request goes through ask(). */
class WorkerLink {
  private readonly worker = new Worker(new URL("./machine-worker.ts", import.meta.url), { type: "module", name: "tmemvm machine" });
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  onUpdate: (u: Update) => void = () => {};

  constructor() {
    this.worker.onmessage = (e: MessageEvent<{ update?: Update; id?: number; value?: unknown; error?: string }>) => {
      const m = e.data;
      if (m.update) return this.onUpdate(m.update);
      const w = this.waiting.get(m.id!);
      this.waiting.delete(m.id!);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m.value);
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the machine worker failed: ${e.message}`);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
  }

  /** Tells the worker the page has drawn machine `generation`'s last update: it may send the next. */
  drawn(generation: number): void {
    this.worker.postMessage({ drawn: generation } satisfies Drawn);
  }

  ask<T extends Request["type"]>(request: Extract<Request, { type: T }>): Promise<Replies[T]> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, request });
    });
  }
}

let link: WorkerLink | null = null;
/** The current machine: updates go to it; one of a machine discarded since are dropped. */
let current: RemoteMachine | null = null;
let generation = 0;

function worker(): WorkerLink {
  if (!link) {
    link = new WorkerLink();
    link.onUpdate = (u) => {
      if (current && u.machine === current.generation) current.apply(u);
    };
  }
  return link;
}

/** Starts the worker; resolves once it has fetched the VMM's kernels and the bundled images (rejects if it could not). */
export function startWorker(): Promise<null> {
  return worker().ask({ type: "ready" });
}

/** A guest image added to the page: checked in the worker (it throws with the reason) and kept there. */
export function addImage(name: string, fileName: string, bytes: Uint8Array): Promise<null> {
  return worker().ask({ type: "image", name, fileName, bytes });
}

/** Replays a trace in the worker: its report and the records around its first divergence. */
export function replayInWorker(bytes: Uint8Array): Promise<ReplayView> {
  return worker().ask({ type: "replay", bytes });
}

/** Forgets the worker's machine (a run in progress stops at the end of its burst). */
export function discardRemote(): void {
  current = null;
  generation++;
  if (link) void link.ask({ type: "discard" });
}

export class RemoteMachine {
  readonly consoles = new Map<number, string>();
  readonly log: LogEntry[] = [];
  readonly samples: Sample[] = [];
  /** Hypercalls seen in all (the log keeps the last LOG_KEEP). */
  seen = 0;
  domains: DomainView[];
  private listed: Listing | null = null;
  private guestResults: GuestResult[] = [];
  private rec: RecordingView = { records: false, recording: false, traceBytes: 0, recordLimit: Infinity };
  onConsole: (domid: number, text: string) => void = () => {};
  /** After each update. */
  onUpdate: () => void = () => {};
  /** An update has come that the page has not yet said it drew. */
  private undrawn = false;

  private constructor(
    readonly generation: number,
    readonly sampleEvery: number,
    booted: Update,
  ) {
    this.domains = booted.domains;
    for (const d of booted.domains) this.consoles.set(d.domid, "");
    this.apply(booted);
  }

  /** Boots the configured guests in the worker; a bad image, layout or option rejects before anything runs. */
  static async boot(cfg: MachineConfig, sampleEvery: number): Promise<RemoteMachine> {
    const g = ++generation;
    current = null;
    const booted = await worker().ask({ type: "boot", machine: g, cfg, sampleEvery });
    if (g !== generation) throw new Error("another boot replaced this one");
    current = new RemoteMachine(g, sampleEvery, booted);
    return current;
  }

  /** Runs until every guest ends, pause(), or the slice that reaches `pauseAt` hypercalls: resolves to where it stopped. */
  run(pauseAt?: number): Promise<Replies["run"]> {
    return worker().ask({ type: "run", pauseAt });
  }

  pause(): Promise<null> {
    return worker().ask({ type: "pause" });
  }

  /** One scheduler slice. */
  step(): Promise<Replies["step"]> {
    return worker().ask({ type: "step" });
  }

  /** A live policy change: resolves to the domain's policy after it, or rejects with the reason it was refused. */
  policy(domid: number, change: PolicyChange): Promise<Replies["policy"]> {
    return worker().ask({ type: "policy", domid, change });
  }

  save(domid: number, name: string): Promise<Replies["save"]> {
    return worker().ask({ type: "save", domid, name });
  }

  /** A pool's pages, at most `limit`, read without a get (nothing counted or taken). */
  storedPages(domid: number, poolId: number, limit: number): Promise<Replies["stored-pages"]> {
    return worker().ask({ type: "stored-pages", domid, poolId, limit });
  }

  /** A stored page's bytes, read without a get; null if it is no longer there. */
  pageContents(domid: number, poolId: number, oid: bigint[], index: number): Promise<Replies["page-contents"]> {
    return worker().ask({ type: "page-contents", domid, poolId, oid, index });
  }

  /** Ends the recording (if any) and returns the trace's bytes. */
  finishTrace(): Promise<Uint8Array | null> {
    return worker().ask({ type: "trace" });
  }

  apply(u: Update): void {
    this.seen = u.seen;
    this.domains = u.domains;
    this.listed = u.listing;
    this.guestResults = u.results;
    this.rec = u.recording;
    this.samples.push(...u.samples);
    const entries = unpackLog(u.log);
    if (entries.length >= LOG_KEEP) this.log.splice(0, this.log.length, ...entries.slice(-LOG_KEEP));
    else {
      this.log.push(...entries);
      if (this.log.length > LOG_KEEP * 1.5) this.log.splice(0, this.log.length - LOG_KEEP);
    }
    // One call per domain and update: a console's view redraws (and scrolls) once.
    const written = new Map<number, string>();
    for (const [domid, text] of u.consoles) written.set(domid, (written.get(domid) ?? "") + text);
    for (const [domid, text] of written) {
      this.consoles.set(domid, (this.consoles.get(domid) ?? "") + text);
      this.onConsole(domid, text);
    }
    this.undrawn = true;
    this.onUpdate();
  }

  /**
   * The page has drawn what the updates so far say (and the frame that shows it): while guests
   * run, the worker sends the next update only after this, so the page is never sent more than it
   * draws and a reply never waits on the page behind a queue of updates.
   */
  drawn(): void {
    if (!this.undrawn || current !== this) return;
    this.undrawn = false;
    worker().drawn(this.generation);
  }

  /** tmem's listing as of the last update (as `xl tmem-list`). */
  listing(): Listing {
    if (!this.listed) throw new Error("no update from the machine yet");
    return this.listed;
  }

  /** Each guest's tmem gets, hits and evictions as of the last update, counted as the CLI's demo counts them. */
  results(): GuestResult[] {
    return this.guestResults;
  }

  /** Domains that have not ended. */
  get live(): DomainView[] {
    return this.domains.filter((d) => d.state === "created" || d.state === "running");
  }

  get done(): boolean {
    return this.live.length === 0;
  }

  get recording(): boolean {
    return this.rec.recording;
  }

  /** The trace's size in memory so far (0 when nothing is recorded). */
  get traceBytes(): number {
    return this.rec.traceBytes;
  }

  /** Whether this machine records a trace at all. */
  get records(): boolean {
    return this.rec.records;
  }

  get recordLimit(): number {
    return this.rec.recordLimit;
  }
}
