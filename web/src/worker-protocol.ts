// What the page and its machine worker say to each other. The page asks (boot, run, pause, step,
// a policy change, a save, the trace, a replay) and gets one reply per request; while a machine
// runs, the worker also sends updates: what changed since the last one, in the shapes the views
// draw (samples, results, the listing, console text, new log entries).
import type { DomainListing, Listing, StoredPage } from "../../vmm/api.js";
import type { GuestResult, LogEntry, MachineConfig, PolicyChange, Sample } from "./page-machine.js";

/** A domain as the page shows it (its policy is in the listing). */
export interface DomainView {
  domid: number;
  name: string;
  state: "created" | "running" | "exited" | "crashed";
  exitCode: number | null;
  crash: string | null;
  hypercalls: number;
}

export interface ReplayView {
  /** The report as `tmemvm replay` prints it. */
  report: string;
  divergence: { record: number; where: string; message: string } | null;
  records: number;
  /** The first record listed (numbered from 1), and the records around the divergence (or the first few). */
  from: number;
  items: { n: number; text: string }[];
}

export type Request =
  /** Answered once the worker has its assets. */
  | { type: "ready" }
  /** `machine` numbers the boot: the updates of this machine carry it. */
  | { type: "boot"; machine: number; cfg: MachineConfig; sampleEvery: number }
  /** Runs until every guest ended, a pause, or the slice that reaches `pauseAt` hypercalls; the reply says which. */
  | { type: "run"; pauseAt?: number }
  | { type: "pause" }
  | { type: "step" }
  | { type: "policy"; domid: number; change: PolicyChange }
  | { type: "save"; domid: number; name: string }
  | { type: "trace" }
  | { type: "discard" }
  /** A guest image added to the page, checked and kept under `name`. */
  | { type: "image"; name: string; fileName: string; bytes: Uint8Array }
  | { type: "replay"; bytes: Uint8Array }
  /** A pool's pages (at most `limit`), read without a get: nothing counted, taken or recorded. */
  | { type: "stored-pages"; domid: number; poolId: number; limit: number }
  /** One stored page's bytes, read the same way. */
  | { type: "page-contents"; domid: number; poolId: number; oid: bigint[]; index: number };

/**
 * Not a request (it has no reply): the page has drawn the last update of machine `drawn` it was
 * sent, and the frame that shows it. While guests run the worker sends an update only once the
 * page has drawn the one before, so updates never queue up on the page ahead of a reply, and the
 * page is sent no more than it can draw.
 */
export interface Drawn {
  drawn: number;
}

/** Where a run or a step stopped. */
export interface Stopped {
  done: boolean;
  seen: number;
}

export interface Replies {
  ready: null;
  /** The machine as booted. */
  boot: Update;
  run: Stopped;
  pause: null;
  step: Stopped;
  /** The domain's policy as tmem has it after the change (null: its tmem client is gone). */
  policy: DomainListing | null;
  save: { pools: number; pages: number; file: Uint8Array };
  trace: Uint8Array | null;
  discard: null;
  image: null;
  replay: ReplayView;
  "stored-pages": StoredPage[];
  "page-contents": Uint8Array | null;
}

/** The recording's state, as the page shows it beside the Record box. */
export interface RecordingView {
  records: boolean;
  recording: boolean;
  traceBytes: number;
  recordLimit: number;
}

/** What changed since the last update of machine `machine` (the boot's number). */
export interface Update {
  machine: number;
  seen: number;
  domains: DomainView[];
  listing: Listing;
  results: GuestResult[];
  samples: Sample[];
  consoles: [number, string][];
  log: PackedLog;
  recording: RecordingView;
}

/**
 * Log entries packed for the trip: one Int32Array row per entry (seq, domid, cmd, result, where
 * its struct starts in `structs` or -1, its length) and the structs' bytes, both transferred;
 * each domain's name and layout once.
 */
export interface PackedLog {
  rows: Int32Array;
  structs: Uint8Array;
  domains: [number, { guest: string; layout: string }][];
}

const ROW = 6;

export function packLog(entries: LogEntry[]): PackedLog {
  const rows = new Int32Array(entries.length * ROW);
  const size = entries.reduce((n, e) => n + (e.struct?.length ?? 0), 0);
  const structs = new Uint8Array(size);
  const domains = new Map<number, { guest: string; layout: string }>();
  let at = 0;
  entries.forEach((e, i) => {
    rows.set([e.seq, e.domid, e.cmd, e.result, e.struct ? at : -1, e.struct?.length ?? 0], i * ROW);
    if (e.struct) {
      structs.set(e.struct, at);
      at += e.struct.length;
    }
    if (!domains.has(e.domid)) domains.set(e.domid, { guest: e.guest, layout: e.layout });
  });
  return { rows, structs, domains: [...domains] };
}

export function unpackLog(p: PackedLog): LogEntry[] {
  const domains = new Map(p.domains);
  const out: LogEntry[] = [];
  for (let i = 0; i < p.rows.length; i += ROW) {
    const [seq, domid, cmd, result, at, len] = p.rows.subarray(i, i + ROW);
    const d = domains.get(domid)!;
    // Each struct a copy of its own: the log keeps it after the packed buffer is dropped.
    out.push({ seq, domid, guest: d.guest, cmd, struct: at < 0 ? null : p.structs.slice(at, at + len), layout: d.layout, result });
  }
  return out;
}
