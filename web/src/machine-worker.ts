// The page's machine, in a Web Worker of its own: the VMM, its guests and trace replays run here, so
// a burst of guest code never holds the page's main thread (its input, its drawing). The page asks
// by message (worker-protocol.ts); a run goes on in short bursts, each followed by a task of its
// own, so a request (pause, a policy change) is answered within a burst; an update of what changed
// goes to the page while guests run at most every UPDATE_MS and once the page has drawn the one
// before, and whenever a run or step stops.
import "./buffer-shim.js";
import { COMMAND_NAMES, describeResult } from "../../hypercall-abi/op-describe.js";
import { decodeOp } from "../../hypercall-abi/op-codec.js";
import { DEFAULT_LAYOUT_NAME, opLayout } from "../../hypercall-abi/op-layouts.js";
import { decodeTrace, formatReplayReport, imageFromBytes, replay, type TraceEntry } from "../../vmm/api.js";
import { images, loadAssets, pageAssets } from "./assets.js";
import { PageMachine } from "./page-machine.js";
import { packLog, type DomainView, type Drawn, type Replies, type ReplayView, type Request, type Update } from "./worker-protocol.js";

/** A burst's length: a request waits at most this long (and a slice) for the burst to end. */
const BURST_MS = 10;
/** The least time between two updates while guests run (the page draws each one). */
const UPDATE_MS = 50;

let machine: PageMachine | null = null;
/** The boot's number, in each update: the page drops an update of a machine it has discarded. */
let generation = 0;
let running: { resolve: (s: Replies["run"]) => void; reject: (e: Error) => void; pauseAt?: number } | null = null;
let lastUpdate = 0;
/** Whether the page has drawn the last update sent (it says so): while guests run, the next waits for it. */
let pageDrawn = true;
/** What the page has been sent of the current machine. */
let sent = { samples: 0, seq: 0 };
let consoles: [number, string][] = [];
const ready = loadAssets();

// The browser test reads this through the devtools protocol while the page's main thread is held.
Object.assign(globalThis, { tmemvmHypercalls: () => machine?.seen ?? 0 });

function domains(m: PageMachine): DomainView[] {
  return m.vmm.domains.map((d) => ({
    domid: d.domid,
    name: d.name,
    state: d.state,
    exitCode: d.exitCode,
    crash: d.crash,
    hypercalls: d.hypercalls,
  }));
}

/** What changed since the last update. */
function changes(m: PageMachine): Update {
  lastUpdate = performance.now();
  let from = m.log.length;
  while (from > 0 && m.log[from - 1].seq > sent.seq) from--;
  const log = packLog(m.log.slice(from));
  const samples = m.samples.slice(sent.samples);
  sent = { samples: m.samples.length, seq: m.seen };
  const u: Update = {
    machine: generation,
    seen: m.seen,
    domains: domains(m),
    listing: m.control.listing(),
    results: m.results(),
    samples,
    consoles,
    log,
    recording: { records: m.records, recording: m.recording, traceBytes: m.traceBytes, recordLimit: m.recordLimit },
  };
  consoles = [];
  return u;
}

/** Sends what changed, the log's buffers transferred. */
function update(m: PageMachine): void {
  const u = changes(m);
  pageDrawn = false;
  postMessage({ update: u }, { transfer: [u.log.rows.buffer, u.log.structs.buffer] });
}

const yieldTask = (() => {
  // A message to itself is a task of its own with no timer clamp (nested setTimeouts wait 4 ms).
  const ch = new MessageChannel();
  const waiting: (() => void)[] = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  return (f: () => void) => {
    waiting.push(f);
    ch.port2.postMessage(null);
  };
})();

function burst(): void {
  const m = machine;
  const r = running;
  if (!r || !m) return;
  let more: boolean;
  try {
    more = m.run({ ms: BURST_MS, until: r.pauseAt });
  } catch (e) {
    running = null;
    update(m);
    r.reject(e as Error);
    return;
  }
  if (!more) {
    running = null;
    update(m);
    r.resolve({ done: true, seen: m.seen });
    return;
  }
  if (m.seen >= (r.pauseAt ?? Infinity)) {
    stopRun();
    return;
  }
  if (pageDrawn && performance.now() - lastUpdate >= UPDATE_MS) update(m);
  yieldTask(burst);
}

function need(): PageMachine {
  if (!machine) throw new Error("no machine is booted");
  return machine;
}

/** Starts a run; it goes on after this returns, and the promise says where it stopped. */
function startRun(pauseAt: number | undefined): Promise<Replies["run"]> {
  const m = need();
  if (running) throw new Error("already running");
  const stopped = new Promise<Replies["run"]>((resolve, reject) => {
    // A pause point already passed stops nothing: the run goes on to the end.
    running = { resolve, reject, pauseAt: pauseAt !== undefined && pauseAt > m.seen ? pauseAt : undefined };
  });
  yieldTask(burst);
  return stopped;
}

/** Ends a run at the end of its burst: its reply says where it stopped. */
function stopRun(): void {
  const r = running;
  if (!r || !machine) return;
  running = null;
  update(machine);
  r.resolve({ done: machine.done, seen: machine.seen });
}

/** The records around a replay's first divergence (or the first few), each in one line. */
function replayView(bytes: Uint8Array): ReplayView {
  const decoded = decodeTrace(bytes);
  const report = replay(bytes, { assets: pageAssets() });
  const d = report.divergence;
  const layouts = new Map<number, string>();
  for (const e of decoded.entries) if (e.kind === "event" && e.event.type === "domain") layouts.set(e.event.domid, e.event.layout);
  const hyper = decoded.entries.filter((e): e is Extract<TraceEntry, { kind: "hypercall" }> => e.kind === "hypercall");
  const at = d ? d.record : 1;
  const from = Math.max(1, at - 8);
  const items = hyper.slice(from - 1, at + 8).map((e) => {
    const r = e.record;
    const layout = opLayout(layouts.get(r.domid) ?? DEFAULT_LAYOUT_NAME)!;
    const struct = r.inputs[0]?.bytes;
    const cmd = struct && struct.length === layout.size ? decodeOp(struct, layout).cmd : -1;
    return { n: e.number, text: `domain ${r.domid}  ${COMMAND_NAMES.get(cmd) ?? `rax ${r.regs[0]}`}  -> ${describeResult(r.result)}` };
  });
  return {
    report: formatReplayReport(report).trim(),
    divergence: d && { record: d.record, where: d.where, message: d.message },
    records: report.records,
    from,
    items,
  };
}

async function handle(r: Exclude<Request, { type: "run" }>): Promise<unknown> {
  await ready;
  switch (r.type) {
    case "ready":
      return null;
    case "boot": {
      stopRun();
      machine = null;
      generation = r.machine;
      sent = { samples: 0, seq: 0 };
      pageDrawn = true;
      consoles = [];
      const m = await PageMachine.boot(r.cfg, images, r.sampleEvery);
      m.onConsole = (domid, text) => {
        const last = consoles.at(-1);
        if (last && last[0] === domid) last[1] += text;
        else consoles.push([domid, text]);
      };
      machine = m;
      return changes(m) satisfies Replies["boot"];
    }
    case "discard":
      stopRun();
      machine = null;
      return null;
    case "pause":
      stopRun();
      return null;
    case "step": {
      const m = need();
      const more = m.run({ slices: 1 });
      update(m);
      return { done: !more, seen: m.seen } satisfies Replies["step"];
    }
    case "policy": {
      const m = need();
      m.policy(r.domid, r.change);
      return m.control.listing().domains.find((d) => d.domid === r.domid) ?? null;
    }
    case "save":
      return need().save(r.domid, r.name);
    case "trace":
      return need().finishTrace();
    case "image":
      imageFromBytes(r.bytes, r.name, r.fileName);
      images.set(r.name, r.bytes);
      // Such an image runs with Asyncify (binaryen, a chunk of its own): fetched now, while the page is surely online.
      void import("binaryen").catch(() => {});
      return null;
    case "replay":
      return replayView(r.bytes);
    case "stored-pages":
      return need().control.storedPages(r.domid, r.poolId, r.limit);
    case "page-contents":
      return need().control.pageContents(r.domid, r.poolId, r.oid, r.index);
  }
}

/** Requests are handled one after another, in the order sent; a run's reply waits for its end, the queue does not. */
let queue: Promise<unknown> = Promise.resolve();

addEventListener("message", (e: MessageEvent<{ id: number; request: Request } | Drawn>) => {
  if ("drawn" in e.data) {
    // One of a machine since replaced frees nothing: the new machine's page has its own updates to draw.
    if (e.data.drawn === generation) pageDrawn = true;
    return;
  }
  const { id, request } = e.data;
  const step = queue.then(async () => {
    if (request.type !== "run") return { value: await handle(request) };
    await ready;
    // Not awaited: the run goes on while later requests (pause, policy) are handled between bursts.
    return { later: startRun(request.pauseAt) };
  });
  queue = step.catch(() => {});
  step
    .then((s) => ("later" in s ? s.later : s.value))
    .then(
      (value) => {
        // A save file is made for this reply alone: its buffer moves; a trace stays (it may be asked for again).
        const file = request.type === "save" ? (value as Replies["save"]).file : null;
        postMessage({ id, value }, { transfer: file ? [file.buffer as ArrayBuffer] : [] });
        // The rest of what a policy change changed follows its answer: at the end of this burst, or now if none runs.
        if (request.type === "policy" && machine) {
          if (running) lastUpdate = 0;
          else update(machine);
        }
      },
      (err: unknown) => postMessage({ id, error: err instanceof Error ? err.message : String(err) }),
    );
});
