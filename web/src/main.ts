// The page: a form for the machine, the VMM run in a worker (remote-machine.ts), and views of what
// it does (charts, pools, consoles, the hypercall log), with the struct decoder/builder and traces.
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { decodeOp, encodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import { COMMAND_NAMES, describeOp, describeResult, SUBOP_NAMES, viewOf } from "../../hypercall-abi/op-describe.js";
import { DEFAULT_LAYOUT_NAME, OP_LAYOUTS, opLayout } from "../../hypercall-abi/op-layouts.js";
import { DEMO_GUESTS, DEMO_RAM_MIB, DEMO_SAMPLE_EVERY, DEMO_TMEM_MIB, demoArgs } from "../../cli/demo-setup.js";
import { DEFAULT_QUANTUM, type Listing } from "../../vmm/api.js";
import { BUNDLED } from "./assets.js";
import { liveCharts } from "./chart-series.js";
import { drawLines } from "./charts.js";
import { $, breakable, el, labelCells, patchChildren } from "./dom.js";
import { renderDomainControls, renderDomainNumbers } from "./domain-controls.js";
import { renderGuestForm } from "./guest-form.js";
import { commandText, resultText } from "./log-entry.js";
import { StoredPageView } from "./page-view.js";
import { renderResults } from "./results-table.js";
import type { GuestConfig, LogEntry } from "./page-machine.js";
import { addImage, discardRemote, RemoteMachine, replayInWorker, startWorker } from "./remote-machine.js";

const num = (id: string) => Number(($(id) as HTMLInputElement).value);

let guests: GuestConfig[] = [];
let machine: RemoteMachine | null = null;
let running = false;
let trace: Uint8Array | null = null;
let sampleEvery = 500;
let pageView: StoredPageView | null = null;
/** Control actions the machine boots with (a preset's); shown under the guests. */
let control: string[] = [];
/** Every guest image the page offers: the bundled ones, then those added (kept in the machine worker). */
const imageNames = new Set(BUNDLED.map((b) => b.name));

function status(text: string, error = false): void {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

function download(bytes: Uint8Array, name: string): void {
  const a = el("a", { href: URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>])), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// ---- the guests form ----

const IMAGE_ARGS: Record<string, string> = { precache: "600 64 3 random 1", preswap: "400 64 4000 run 1" };

/** `base`, or base-2, base-3…: the spec refuses two guests of one name, so the form never offers them. */
function freeName(base: string): string {
  let name = base;
  for (let n = 2; guests.some((g) => g.name === name); n++) name = `${base}-${n}`;
  return name;
}

function guest(image: string, over: Partial<GuestConfig> = {}): GuestConfig {
  return {
    image,
    name: freeName(image),
    ramMiB: 32,
    weight: 0,
    capMiB: null,
    compress: false,
    layout: DEFAULT_LAYOUT_NAME,
    args: (IMAGE_ARGS[image] ?? "").split(" ").filter(Boolean),
    ...over,
  };
}

function renderGuests(): void {
  $("control-actions").textContent =
    control.length === 0
      ? ""
      : `Control actions at boot (as tmemvm run --control takes them): ${control.join("; ")}. They authorise each guest for the shared pool's uuid.`;
  renderGuestForm($("guests"), guests, {
    imageNames: () => [...imageNames].sort(),
    describe: (name) => BUNDLED.find((b) => b.name === name),
    status: (t) => status(t),
  });
}

function presetDemo(): void {
  sampleEvery = DEMO_SAMPLE_EVERY;
  control = [];
  discardMachine();
  ($("tmem-mib") as HTMLInputElement).value = String(DEMO_TMEM_MIB);
  // The demo's spec leaves the quantum at the VMM's default: so does the preset, or its numbers would not be the CLI's.
  ($("quantum") as HTMLInputElement).value = String(DEFAULT_QUANTUM);
  const seed = num("seed");
  guests = [];
  guests = DEMO_GUESTS.map((g) =>
    guest("precache", { name: g.name, weight: g.weight, ramMiB: DEMO_RAM_MIB, args: demoArgs(seed, g.weight) }),
  );
  renderGuests();
}

/** The uuid precache's shared pool is created with ("FILE", "SHAR"), as the control actions authorise it. */
const SHARED_UUID = "0x46494c45,0x53484152";

/**
 * Two guests reading one file set through one shared ephemeral pool, as nodes of a cluster file
 * system did: a page either of them put is a hit for both. Each must be authorised for the pool's
 * uuid, or its pool would be a private one.
 */
function presetShared(): void {
  sampleEvery = 500;
  discardMachine();
  ($("tmem-mib") as HTMLInputElement).value = "1";
  guests = [];
  guests = ["reader-a", "reader-b"].map((name, i) =>
    guest("precache", { name, ramMiB: 4, args: ["600", "32", "3", "random", String(i + 1), "text", "shared"] }),
  );
  control = guests.map((g) => `0:auth ${g.name} ${SHARED_UUID}`);
  renderGuests();
}

function presetSelftest(): void {
  sampleEvery = 50;
  control = [];
  discardMachine();
  ($("tmem-mib") as HTMLInputElement).value = "64";
  guests = [];
  guests = [guest("selftest")];
  renderGuests();
}

function presetAll(): void {
  sampleEvery = 500;
  control = [];
  discardMachine();
  ($("tmem-mib") as HTMLInputElement).value = "64";
  guests = [];
  guests = BUNDLED.map((b) => guest(b.name));
  renderGuests();
}

async function addWasm(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const base = file.name.replace(/\.wasm$/, "");
  // A name already taken (a bundled image's, or an earlier drop's) gets a suffix: the image it
  // names stays what it was, and the two are told apart in every list.
  let name = base;
  for (let n = 2; imageNames.has(name); n++) name = `${base}-${n}`;
  // The page runs every guest suspendable: an image of the user's own needs Asyncify (binaryen, a
  // chunk of its own), which the worker fetches now, while the page is surely online.
  try {
    await addImage(name, file.name, bytes);
  } catch (e) {
    status(`${file.name} cannot run as a guest: ${(e as Error).message}`, true);
    return;
  }
  imageNames.add(name);
  guests.push(guest(name));
  renderGuests();
  status(`${file.name} added as guest image "${name}"${name === base ? "" : ` (an image named ${base} is already loaded)`}`);
}

// ---- running ----

/** Forgets the machine and empties every view of it, so that nothing shown belongs to an older one. */
function discardMachine(): void {
  // A run or step of the machine discarded answers to no one: the next machine's controls are free.
  busy = false;
  setRunning(false);
  if (machine) discardRemote();
  machine = null;
  trace = null;
  traceAsked = false;
  selectedSeq = -1;
  ($("download-trace") as HTMLButtonElement).disabled = true;
  ($("replay-recorded") as HTMLButtonElement).disabled = true;
  clearCharts();
  for (const id of ["results-table", "pools-table", "domains-table", "console-list"]) $(id).replaceChildren();
  for (const id of ["pools-head", "counters", "record-size", "log-count"]) $(id).textContent = "";
  $("log-table").querySelector("tbody")!.replaceChildren();
  logShown = [];
  $("log-detail").textContent = NO_ENTRY;
  $<HTMLSelectElement>("log-guest").replaceChildren(el("option", { value: "" }, "all"));
  pageView?.reset(null);
}

let booting = false;

async function boot(): Promise<boolean> {
  if (running || booting) return false;
  if (guests.length === 0) {
    status("add a guest first", true);
    return false;
  }
  discardMachine();
  booting = true;
  try {
    status("booting…");
    machine = await RemoteMachine.boot(
      {
        tmemMiB: num("tmem-mib"),
        seed: num("seed"),
        quantum: num("quantum"),
        record: ($("record") as HTMLInputElement).checked,
        recordLimit: num("record-limit"),
        guests: guests.map((g) => ({ ...g })),
        control,
      },
      sampleEvery,
    );
  } catch (e) {
    machine = null;
    status(`cannot boot: ${(e as Error).message}`, true);
    return false;
  } finally {
    booting = false;
  }
  setupViews();
  pageView?.reset(machine);
  status(`booted ${machine.domains.length} guest(s); Run, or Step one slice at a time`);
  render();
  return true;
}

/** A run, a pause not yet answered or a step keeps Run, Step and Boot from starting another. */
let busy = false;

function setRunning(on: boolean): void {
  running = on;
  ($("run") as HTMLButtonElement).disabled = on || busy;
  ($("step") as HTMLButtonElement).disabled = on || busy;
  ($("boot") as HTMLButtonElement).disabled = on || busy;
  ($("pause") as HTMLButtonElement).disabled = !on;
}

function setBusy(on: boolean): void {
  busy = on;
  setRunning(running);
}

/** Runs in the worker until every guest ends or Pause; updates redraw the views meanwhile. */
async function run(): Promise<void> {
  if (running || busy) return;
  const pauseAt = pausePoint();
  if (pauseAt === null) return;
  if ((!machine || machine.done) && !(await boot())) return;
  const m = machine!;
  setBusy(true);
  setRunning(true);
  status("running");
  let drawn = false;
  try {
    const stopped = await m.run(pauseAt);
    if (machine !== m) return;
    if (stopped.done) {
      await finished();
      drawn = true;
    } else status(`paused after ${stopped.seen} hypercalls`);
  } catch (e) {
    if (machine === m) status(`the VMM stopped: ${(e as Error).message}`, true);
  } finally {
    if (machine === m) {
      setBusy(false);
      setRunning(false);
      // Paused: the status line is the answer, drawn first; every view (the log's rows too) after it.
      if (!drawn) scheduleRender();
    }
  }
}

/** The "pause at hypercall" field: a count, undefined when empty, null (said in the status line) when not a count. */
function pausePoint(): number | undefined | null {
  const field = $("pause-at") as HTMLInputElement;
  const text = field.value.trim();
  if (text === "" && field.validity.valid) return undefined;
  const n = Number(text);
  if (text !== "" && Number.isSafeInteger(n) && n > 0) return n;
  status("pause at hypercall: a whole number above 0, or empty to run to the end", true);
  field.focus();
  return null;
}

/** Pause answers at once on the page; the worker stops at the end of its burst and run() says where. */
function pause(): void {
  if (!running || !machine) return;
  setRunning(false);
  status("pausing…");
  void machine.pause();
}

async function step(): Promise<void> {
  if (running || busy) return;
  if ((!machine || machine.done) && !(await boot())) return;
  const m = machine!;
  setBusy(true);
  try {
    const stopped = await m.step();
    if (machine !== m) return;
    render();
    if (stopped.done) await finished();
    else status(`stepped: ${stopped.seen} hypercalls so far`);
  } catch (e) {
    if (machine === m) status(`the VMM stopped: ${(e as Error).message}`, true);
  } finally {
    if (machine === m) setBusy(false);
  }
}

async function finished(): Promise<void> {
  setRunning(false);
  if (!machine) return;
  const m = machine;
  const ended = m.domains.map(
    (d) => `${d.name} ${d.state === "exited" ? `exited ${d.exitCode}` : `${d.state}${d.crash ? `: ${d.crash}` : ""}`}`,
  );
  trace = await m.finishTrace();
  if (machine !== m) return;
  ($("download-trace") as HTMLButtonElement).disabled = trace === null;
  ($("replay-recorded") as HTMLButtonElement).disabled = trace === null;
  status(
    `all guests ended after ${machine.seen} hypercalls (${ended.join("; ")})${trace ? `; trace recorded (${trace.length} bytes)` : ""}`,
  );
  render();
}

// ---- views ----

function setupViews(): void {
  const m = machine!;
  const list = $("console-list");
  list.replaceChildren();
  for (const d of m.domains) {
    const pre = el("pre", { id: `console-${d.domid}`, tabIndex: 0 });
    pre.setAttribute("aria-label", `${d.name}'s console`);
    list.append(el("div", { className: "console" }, el("h3", {}, `${d.name} (domain ${d.domid})`), pre));
  }
  m.onConsole = (domid) => {
    const pre = document.getElementById(`console-${domid}`);
    if (pre) {
      pre.textContent = m.consoles.get(domid) ?? "";
      pre.scrollTop = pre.scrollHeight;
    }
  };
  const g = $<HTMLSelectElement>("log-guest");
  g.replaceChildren(el("option", { value: "" }, "all"), ...m.domains.map((d) => el("option", { value: String(d.domid) }, d.name)));
  renderDomains();
  m.onUpdate = scheduleRender;
}

let renderPending = false;
/** An update has come since the views were last drawn. */
let stale = false;

/**
 * Draws the views once for the updates that arrived before, in a task of its own after the next
 * frame: an answer shown meanwhile (Pause's, a policy change's) is drawn first, in a frame with
 * little else to lay out. Nothing is drawn if a whole redraw came first (a run's end draws
 * everything at once).
 */
function scheduleRender(): void {
  stale = true;
  if (renderPending) return;
  renderPending = true;
  afterFrame(() => {
    renderPending = false;
    // Still live while a Pause is being answered (`busy` until the worker says where it stopped):
    // a whole redraw then, the log's rows and all, would hold the main thread as the reply comes.
    if (stale) render(running || busy);
  });
}

/** Runs `f` once the next frame is drawn: a task posted from its requestAnimationFrame runs after its paint. */
function afterFrame(f: () => void): void {
  requestAnimationFrame(() => setTimeout(f, 0));
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** What the trace holds in memory now, and whether it has ended (at its limit, or with the run). */
function renderRecording(m: RemoteMachine): void {
  const out = $("record-size");
  if (!m.records) out.textContent = "not recording";
  else if (m.recording) out.textContent = `recording: ${mib(m.traceBytes)} so far, ${m.seen} of at most ${m.recordLimit} hypercalls`;
  else
    out.textContent = `trace: ${mib(m.traceBytes)}, ${Math.min(m.seen, m.recordLimit)} hypercalls${m.seen > m.recordLimit ? `; it ended at the limit of ${m.recordLimit}, the run went on unrecorded` : ""}`;
  if (m.records && !m.recording && trace === null && !traceAsked) {
    // The trace ended at its limit: it can be had now, while the run goes on unrecorded.
    traceAsked = true;
    void m.finishTrace().then((t) => {
      if (machine !== m) return;
      trace = t;
      ($("download-trace") as HTMLButtonElement).disabled = trace === null;
      ($("replay-recorded") as HTMLButtonElement).disabled = trace === null;
    });
  }
}

/** Whether the hypercall log is on screen (or near it): while guests run, its rows are redrawn only then. */
let logInView = true;
/**
 * While guests run, the log's rows and the charts are redrawn at most this often: the rows are
 * most of the page's layout, the charts most of its drawing's script (every point, every time).
 */
const LIVE_SLOW_MS = 250;
let logDrawn = 0;
let chartsDrawn = 0;

/**
 * Draws every view of the machine; `live` (an update while guests run) draws the charts at most
 * every LIVE_SLOW_MS, and leaves out the log's 300 rows when the log is out of sight and draws
 * them at most every LIVE_SLOW_MS (in a task of their own) when it is not; they are drawn when the log scrolls into view
 * and whenever a run or step stops. Once the frame that shows it is drawn, the worker is told, and
 * only then sends the next update.
 */
function render(live = false): void {
  if (!machine) return;
  const m = machine;
  stale = false;
  afterFrame(() => m.drawn());
  $("counters").textContent = `${m.seen} hypercalls; ${m.live.length} of ${m.domains.length} guests running`;
  renderRecording(m);
  if (!live || performance.now() - chartsDrawn >= LIVE_SLOW_MS) {
    chartsDrawn = performance.now();
    renderCharts();
  }
  renderResults($<HTMLTableElement>("results-table"), m.results());
  const listing = m.listing();
  renderPools(listing);
  pageView?.update(listing);
  renderDomainNumbers($<HTMLTableElement>("domains-table"), m);
  if (!live) {
    logDrawn = performance.now();
    renderLog();
  } else if (logInView && performance.now() - logDrawn >= LIVE_SLOW_MS) {
    logDrawn = performance.now();
    // In a task of its own: an input or a reply that comes meanwhile is taken between the two.
    setTimeout(() => {
      if (machine === m) renderLog();
    }, 0);
  }
}

function renderCharts(): void {
  const m = machine!;
  for (const c of liveCharts(
    m.samples,
    m.domains.map((d) => d.name),
    m.sampleEvery,
  ))
    drawLines($(c.id) as unknown as SVGSVGElement, c.series, c.options);
}

/** Every chart with its axes and no series: nothing is running, or nothing has been sampled yet. */
function clearCharts(): void {
  for (const c of liveCharts([], [], sampleEvery)) drawLines($(c.id) as unknown as SVGSVGElement, c.series, c.options);
}

function renderPools(l: Listing): void {
  // Compression: the pages held compressed now, and every put under compression whose page did not shrink (kept whole).
  $("pools-head").textContent =
    `tmem: ${l.usedFrames}/${l.capacityFrames} frames used, ${l.zeroPages} zero pages, ${l.compressedPages} compressed pages (${l.poorCompression} puts under compression did not shrink and were kept whole); ${l.ops} ops (${l.misses} misses, ${l.errors} errors), ${l.evictions} evictions`;
  const cols = ["domid", "name", "pool", "type", "pages", "objects", "puts", "gets", "hits", "misses", "flushes", "evictions"];
  const t = $<HTMLTableElement>("pools-table");
  const head = el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { className: c === "name" || c === "type" ? "l" : "" }, c))));
  const rows: HTMLTableRowElement[] = [];
  const total = { pages: 0, objects: 0, puts: 0, gets: 0, hits: 0, misses: 0, flushes: 0, evictions: 0 };
  // A shared pool is listed under each of its sharers with the pool's own counts: the whole counts
  // it once, with the counts of its latest listing (a sharer that left keeps those it left with).
  const sharedPools = new Map<string, typeof total>();
  for (const d of l.domains) {
    const pools = [...d.pools, ...d.destroyedPools].sort((a, b) => a.poolId - b.poolId || Number(a.destroyed) - Number(b.destroyed));
    const dt = { pages: 0, objects: 0, puts: 0, gets: 0, hits: 0, misses: 0, flushes: 0, evictions: 0 };
    for (const p of pools) {
      for (const k of Object.keys(dt) as (keyof typeof dt)[]) dt[k] += p[k];
      if (p.type[1] === "S") {
        const key = `${p.type[0]}:${p.uuid.join(",")}`;
        const once = sharedPools.get(key) ?? { pages: 0, objects: 0, puts: 0, gets: 0, hits: 0, misses: 0, flushes: 0, evictions: 0 };
        for (const k of Object.keys(once) as (keyof typeof once)[]) once[k] = Math.max(once[k], p[k]);
        sharedPools.set(key, once);
      }
      const r = el(
        "tr",
        { className: "pool" },
        ...[
          d.domid,
          d.name,
          p.poolId,
          p.destroyed ? `${p.type} destroyed` : p.type,
          p.pages,
          p.objects,
          p.puts,
          p.gets,
          p.hits,
          p.misses,
          p.flushes,
          p.evictions,
        ].map((v, i) => el("td", { className: i === 1 || i === 3 ? "l" : "" }, String(v))),
      );
      r.dataset.domid = String(d.domid);
      rows.push(r);
    }
    for (const k of Object.keys(total) as (keyof typeof total)[])
      total[k] += dt[k] - pools.reduce((n, p) => n + (p.type[1] === "S" ? p[k] : 0), 0);
    const sum = el(
      "tr",
      { className: "total" },
      el("td", {}, String(d.domid)),
      el("td", { className: "l" }, d.name),
      el("td", { className: "l", colSpan: 2 }, `domain total (held: ${d.ephemeralPages} ephemeral + ${d.persistentPages} persistent)`),
      ...[dt.pages, dt.objects, dt.puts, dt.gets, dt.hits, dt.misses, dt.flushes, dt.evictions].map((v) => el("td", {}, String(v))),
    );
    sum.dataset.domid = String(d.domid);
    sum.dataset.held = String(d.ephemeralPages + d.persistentPages);
    rows.push(sum);
  }
  for (const once of sharedPools.values()) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += once[k];
  const all = el(
    "tr",
    { className: "total all" },
    el(
      "td",
      { className: "l", colSpan: 4 },
      `all domains (frames used: ${l.usedFrames}${sharedPools.size > 0 ? `; each shared pool counted once` : ""})`,
    ),
    ...[total.pages, total.objects, total.puts, total.gets, total.hits, total.misses, total.flushes, total.evictions].map((v) =>
      el("td", {}, String(v)),
    ),
  );
  all.dataset.usedFrames = String(l.usedFrames);
  all.dataset.zeroPages = String(l.zeroPages);
  all.dataset.compressedPages = String(l.compressedPages);
  all.dataset.poorCompression = String(l.poorCompression);
  rows.push(all);
  const fresh = el("table", {}, head, el("tbody", {}, ...rows));
  labelCells(fresh);
  patchChildren(t, fresh);
}

function renderDomains(): void {
  renderDomainControls($<HTMLTableElement>("domains-table"), machine!, { status, download });
  renderDomainNumbers($<HTMLTableElement>("domains-table"), machine!);
}

const LOG_ROWS = 300;
let selectedSeq = -1;
/** The trace that ended at its limit has been asked of the worker. */
let traceAsked = false;
const NO_ENTRY = "Select a hypercall to see its struct.";

/** The entries the log's rows show, row i showing logShown[i]. */
let logShown: LogEntry[] = [];

/**
 * Draws the newest LOG_ROWS entries that match the filters. The rows are kept and refilled, only
 * what differs written: while guests run they are redrawn up to four times a second, and new rows
 * each time cost the page three times the layout of the same rows with new text.
 */
function renderLog(): void {
  const m = machine!;
  const cmdSel = $<HTMLSelectElement>("log-cmd");
  const g = $<HTMLSelectElement>("log-guest").value;
  const c = cmdSel.value;
  const shown: LogEntry[] = [];
  let matched = 0;
  for (let i = m.log.length - 1; i >= 0; i--) {
    const e = m.log[i];
    if ((g && String(e.domid) !== g) || (c && String(e.cmd) !== c)) continue;
    matched++;
    if (shown.length < LOG_ROWS) shown.push(e);
  }
  $("log-count").textContent =
    `${m.seen} hypercalls in all; the log keeps the last ${m.log.length}, ${matched} match, newest ${shown.length} shown`;
  const body = $("log-table").querySelector("tbody")!;
  // One tab stop for the whole log (the selected row, else the newest); arrow keys move within it.
  // Focus inside the log stays on the row showing the entry that had it.
  const hadFocus = body.contains(document.activeElement);
  const current = shown.some((e) => e.seq === selectedSeq) ? selectedSeq : shown[0]?.seq;
  while (body.rows.length > shown.length) body.lastElementChild!.remove();
  while (body.rows.length < shown.length)
    body.append(el("tr", {}, el("td"), el("td", { className: "l" }), el("td", { className: "l" }), el("td"), el("td")));
  shown.forEach((e, i) => {
    const r = body.rows[i];
    // The attribute, not the property: a new row reads -1 without one, and only with one can it take focus.
    const tab = e.seq === current ? "0" : "-1";
    if (r.getAttribute("tabindex") !== tab) r.setAttribute("tabindex", tab);
    const cls = e.seq === selectedSeq ? "sel" : "";
    if (r.className !== cls) r.className = cls;
    if (logShown[i] === e && r.dataset.seq === String(e.seq)) return;
    r.dataset.seq = String(e.seq);
    const [seq, guest, cmd, pool, result] = Array.from(r.cells);
    const text = (cell: HTMLTableCellElement, t: string) => {
      if (cell.textContent !== t) cell.textContent = t;
    };
    text(seq, String(e.seq));
    text(guest, e.guest);
    const command = commandText(e);
    if (cmd.textContent !== command) cmd.replaceChildren(breakable(command));
    text(pool, e.struct ? String(new DataView(e.struct.buffer).getInt32(4, true)) : "-");
    text(result, resultText(e));
    const neg = e.result < 0 ? "l neg" : "l";
    if (result.className !== neg) result.className = neg;
  });
  logShown = shown;
  const focus = body.querySelector<HTMLElement>("tr[tabindex='0']");
  if (hadFocus && focus && document.activeElement !== focus) focus.focus({ preventScroll: true });
}

/** Selects log row `r`: it becomes the log's tab stop, and its entry's struct is shown. */
function pickLogRow(r: HTMLTableRowElement): void {
  const e = logShown[r.sectionRowIndex];
  if (!e) return;
  const body = r.parentElement!;
  selectedSeq = e.seq;
  body.querySelectorAll("tr.sel").forEach((x) => {
    x.classList.remove("sel");
  });
  body.querySelectorAll("tr[tabindex='0']").forEach((x) => {
    (x as HTMLElement).tabIndex = -1;
  });
  r.classList.add("sel");
  r.tabIndex = 0;
  showEntry(e);
}

/** The log's rows answer clicks and keys through their body: a row is refilled, never given handlers of its own. */
function wireLog(body: HTMLTableSectionElement): void {
  const rowOf = (t: EventTarget | null) => {
    const r = t instanceof Element ? t.closest("tr") : null;
    return r && r.parentElement === body ? r : null;
  };
  body.onclick = (ev) => {
    const r = rowOf(ev.target);
    if (r) pickLogRow(r);
  };
  body.onkeydown = (k) => {
    const r = rowOf(k.target);
    if (!r) return;
    const to = {
      ArrowDown: r.nextElementSibling,
      ArrowUp: r.previousElementSibling,
      Home: body.firstElementChild,
      End: body.lastElementChild,
    }[k.key];
    if (k.key === "Enter" || k.key === " ") pickLogRow(r);
    else if (to instanceof HTMLTableRowElement) {
      to.focus();
      to.click();
    } else if (to === undefined) return;
    k.preventDefault();
  };
}

function showEntry(e: LogEntry): void {
  const layout = opLayout(e.layout)!;
  $("log-detail").textContent = e.struct
    ? `hypercall ${e.seq} by ${e.guest} (domain ${e.domid}): ${commandText(e)}\nresult ${describeResult(e.result)}${resultText(e) === describeResult(e.result) ? "" : ` (${resultText(e)})`}\n\n${describeOp(decodeOp(e.struct, layout), layout)}\n\nhex: ${hex(e.struct)}`
    : `hypercall ${e.seq} by ${e.guest}: its struct pointer was outside its RAM; result ${describeResult(e.result)}`;
}

// ---- decode and build ----

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

function decodeHex(): void {
  const out = $("decode-out");
  const clean = ($("hex") as HTMLTextAreaElement).value.replace(/0x/gi, "").replace(/[\s,:]/g, "");
  out.classList.remove("error");
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) {
    out.classList.add("error");
    out.textContent = "the struct as hex digits, please (whitespace, commas, colons and 0x prefixes are ignored)";
    return;
  }
  const bytes = new Uint8Array(clean.length / 2).map((_, i) => parseInt(clean.slice(2 * i, 2 * i + 2), 16));
  const chosen = $<HTMLSelectElement>("decode-layout").value;
  const layouts = chosen ? [opLayout(chosen)!] : [...OP_LAYOUTS.values()].filter((l) => l.size === bytes.length);
  if (layouts.length === 0 || layouts.some((l) => l.size !== bytes.length)) {
    out.classList.add("error");
    out.textContent = chosen
      ? `got ${bytes.length} bytes; a ${chosen} struct tmem_op is ${layouts[0].size}`
      : `got ${bytes.length} bytes; no layout has a struct tmem_op of that size (sizes: ${[...new Set([...OP_LAYOUTS.values()].map((l) => l.size))].join(", ")})`;
    return;
  }
  out.textContent = layouts.map((l) => describeOp(decodeOp(bytes, l), l)).join("\n\n");
}

const FIELDS = {
  creat: [
    ["uuid-lo", "uuid lo", "0"],
    ["uuid-hi", "uuid hi", "0"],
    ["persistent", "persistent", "checkbox"],
    ["shared", "shared", "checkbox"],
    ["arg1", "arg1", "0"],
  ],
  gen: [
    ["oid", "oid words (comma)", "0"],
    ["index", "index", "0"],
    ["tmem-offset", "tmem offset", "0"],
    ["pfn-offset", "pfn offset", "0"],
    ["len", "len", "0"],
    ["cmfn", "cmfn", "0"],
  ],
  ctrl: [
    ["subop", "subop", "subop"],
    ["cli-id", "cli id", "0"],
    ["arg1", "arg1", "0"],
    ["arg2", "arg2", "0"],
    ["oid", "oid words (comma)", "0"],
    ["buf", "buf", "0"],
  ],
} as const;

function buildView(): "creat" | "gen" | "ctrl" {
  return viewOf(Number($<HTMLSelectElement>("build-cmd").value), opLayout($<HTMLSelectElement>("build-layout").value)!);
}

function renderBuildFields(): void {
  const box = $("build-fields");
  box.replaceChildren(
    ...FIELDS[buildView()].map(([id, label, kind]) => {
      let input: HTMLInputElement | HTMLSelectElement;
      if (kind === "checkbox") input = el("input", { type: "checkbox" });
      else if (kind === "subop") {
        input = el("select");
        for (const [v, n] of SUBOP_NAMES) input.append(el("option", { value: String(v) }, `${n} (${v})`));
      } else input = el("input", { type: "text", value: kind, size: id === "oid" ? 16 : 8 });
      input.id = `build-${id}`;
      return el("label", {}, `${label} `, input);
    }),
  );
}

function buildStruct(): void {
  const out = $("build-hex");
  try {
    const layout = opLayout($<HTMLSelectElement>("build-layout").value)!;
    const v = (id: string) => ($(`build-${id}`) as HTMLInputElement).value.trim();
    const n = (id: string) => {
      const x = Number(v(id));
      if (!Number.isInteger(x)) throw new RangeError(`${id} is not a whole number: ${v(id)}`);
      return x;
    };
    const big = (s: string) => BigInt(s.trim() || "0");
    const oid = () => {
      const w = v("oid").split(",").map(big);
      if (w.length > layout.oidWords) throw new RangeError(`${layout.name} has ${layout.oidWords} oid word(s)`);
      return [...w, 0n, 0n, 0n].slice(0, layout.oidWords);
    };
    const op: TmemOp = { cmd: Number($<HTMLSelectElement>("build-cmd").value), poolId: num("build-pool") };
    const view = buildView();
    if (view === "creat")
      op.creat = {
        uuid: [big(v("uuid-lo")), big(v("uuid-hi"))],
        flags: encodePoolFlags({
          persistent: ($("build-persistent") as HTMLInputElement).checked,
          shared: ($("build-shared") as HTMLInputElement).checked,
          version: layout.specVersion,
        }),
        arg1: n("arg1"),
      };
    else if (view === "ctrl")
      op.ctrl = { subop: n("subop"), cliId: n("cli-id"), arg1: n("arg1"), arg2: n("arg2"), oid: oid(), buf: big(v("buf")) };
    else
      op.gen = {
        oid: oid(),
        index: n("index"),
        tmemOffset: n("tmem-offset"),
        pfnOffset: n("pfn-offset"),
        len: n("len"),
        cmfn: big(v("cmfn")),
      };
    out.textContent = hex(encodeOp(op, layout));
    out.classList.remove("error");
  } catch (e) {
    out.textContent = (e as Error).message;
    out.classList.add("error");
  }
}

// ---- traces ----

/** Replays a trace in the worker, then lists the records around its first divergence (or the first few). */
async function replay(bytes: Uint8Array, name: string): Promise<void> {
  const out = $("replay-out");
  const list = $<HTMLOListElement>("replay-records");
  list.replaceChildren();
  out.replaceChildren();
  let v: Awaited<ReturnType<typeof replayInWorker>>;
  try {
    v = await replayInWorker(bytes);
  } catch (e) {
    out.append(el("p", { className: "error", role: "alert" }, `${name} cannot be replayed: ${(e as Error).message}`));
    status(`${name}: damaged or not a trace`, true);
    return;
  }
  const d = v.divergence;
  out.append(el("p", { className: d ? "error" : "ok", role: d ? "alert" : "status" }, `${name}: ${v.report}`));
  list.start = v.from;
  for (const item of v.items) {
    const li = el("li", {}, item.text);
    if (d && item.n === d.record) {
      li.className = "diverged";
      li.append(`   <- diverged here: ${d.message}`);
    }
    list.append(li);
  }
  status(d ? `${name}: diverged at ${d.where}` : `${name}: replayed ${v.records} hypercalls, no divergence`, d !== null);
}

async function traceFromUrl(url: string): Promise<void> {
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    await replay(new Uint8Array(await r.arrayBuffer()), url);
  } catch (e) {
    $("replay-out").replaceChildren(
      el("p", { className: "error", role: "alert" }, `cannot fetch the trace ${url}: ${(e as Error).message}`),
    );
  }
}

// ---- wiring ----

async function start(): Promise<void> {
  try {
    await startWorker();
  } catch (e) {
    status(`the page could not load the VMM's assets: ${(e as Error).message}`, true);
    return;
  }
  for (const id of ["decode-layout", "build-layout"]) {
    const s = $<HTMLSelectElement>(id);
    if (id === "decode-layout") s.append(el("option", { value: "" }, "every layout of that size"));
    for (const name of OP_LAYOUTS.keys())
      s.append(el("option", { value: name, selected: id === "build-layout" && name === DEFAULT_LAYOUT_NAME }, name));
  }
  const cmd = $<HTMLSelectElement>("build-cmd");
  for (const [v, n] of COMMAND_NAMES) cmd.append(el("option", { value: String(v) }, `${n} (${v})`));
  cmd.onchange = renderBuildFields;
  $("build-layout").onchange = renderBuildFields;
  renderBuildFields();
  const logCmd = $<HTMLSelectElement>("log-cmd");
  for (const [v, n] of COMMAND_NAMES) logCmd.append(el("option", { value: String(v) }, n));
  // A filter that hides the selected hypercall also clears its detail, which would otherwise stand for nothing shown.
  const refilter = () => {
    if (!machine) return;
    renderLog();
    if (!$("log-table").querySelector("tbody tr.sel")) {
      selectedSeq = -1;
      $("log-detail").textContent = NO_ENTRY;
    }
  };
  logCmd.onchange = refilter;
  wireLog($("log-table").querySelector("tbody")!);
  new IntersectionObserver(
    (seen) => {
      logInView = seen.some((e) => e.isIntersecting);
      if (logInView && machine) renderLog();
    },
    { rootMargin: "200px" },
  ).observe($("log"));
  $("log-guest").onchange = refilter;

  $("add-guest").onclick = () => {
    guests.push(guest("selftest"));
    renderGuests();
  };
  $("preset-selftest").onclick = presetSelftest;
  $("preset-all").onclick = presetAll;
  $("preset-demo").onclick = presetDemo;
  $("preset-shared").onclick = presetShared;
  $("guided-demo").onclick = () => {
    if (running) return;
    presetDemo();
    void run();
  };
  $("boot").onclick = () => void boot();
  $("run").onclick = () => void run();
  $("pause").onclick = pause;
  $("step").onclick = () => void step();
  $("decode-btn").onclick = decodeHex;
  $("build-btn").onclick = buildStruct;
  $("copy-hex").onclick = () => void navigator.clipboard?.writeText($("build-hex").textContent ?? "");
  $("download-trace").onclick = () => trace && download(trace, "tmemvm-page.tmtr");
  $("replay-recorded").onclick = () => trace && void replay(trace, "the recorded trace");
  const wasm = $<HTMLInputElement>("wasm-file");
  wasm.onchange = () => {
    const f = wasm.files?.[0];
    if (f) void addWasm(f);
  };
  const traceFile = $<HTMLInputElement>("trace-file");
  traceFile.onchange = async () => {
    const f = traceFile.files?.[0];
    if (f) await replay(new Uint8Array(await f.arrayBuffer()), f.name);
  };
  const drop = $("drop");
  document.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    for (const f of Array.from(e.dataTransfer?.files ?? [])) {
      if (f.name.endsWith(".tmtr")) void f.arrayBuffer().then((b: ArrayBuffer) => replay(new Uint8Array(b), f.name));
      else void addWasm(f);
    }
  });
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (e.ctrlKey || e.metaKey || e.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)) return;
    const keys: Record<string, () => void> = { b: () => void boot(), r: () => void run(), p: pause, s: () => void step() };
    keys[e.key]?.();
  });

  pageView = new StoredPageView();
  presetSelftest();
  status("ready: pick a preset or set up guests, then Boot and Run");
  document.body.dataset.ready = "yes";
  const url = new URLSearchParams(location.search).get("trace");
  if (url) await traceFromUrl(url);
}

void start();
