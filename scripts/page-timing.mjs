// `npm run page-timing`: how the page feels while the three-guest demo runs, in headless Chromium:
// the longest task on the page's main thread (PerformanceObserver 'longtask': every task over
// 50 ms) and, from a trace, the most CPU time one such task took and the machine worker's longest
// task (a burst of guest code, meant to end after 10 ms), the demo's wall time, and how
// long the controls take to answer while guests run (Pause until the status says paused; a click
// on a log row until its struct shows; a weight change until its outcome shows under the domain's
// row), each from the input event's own time stamp to the answer in the DOM and to the end of the
// frame that draws it, with where that time went (see respond()). Timings, not tests: the browser
// test checks what the page does, this prints how fast. Prints one line per measurement and a
// summary; `--runs N` (default 3) demo runs, `--dist DIR` a page already built (default: builds
// web/ into dist-web/), `--trace FILE` a Chromium trace of the runs that time the answers (for
// Perfetto or chrome://tracing; marks "answer: ..." show each answer's input, DOM change and frame).
import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { cpus, loadavg } from "node:os";
import { chromium } from "playwright-core";
import { build, preview } from "vite";

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const RUNS = Number(arg("--runs", "3"));
const DIST = arg("--dist", null);
const TRACE = arg("--trace", null);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);

const config = new URL("../web/vite.config.ts", import.meta.url).pathname;
if (!DIST) await build({ configFile: config, logLevel: "error" });
const server = await preview({
  configFile: config,
  logLevel: "error",
  preview: { port: 4190, host: "127.0.0.1" },
  ...(DIST ? { build: { outDir: resolve(DIST) } } : {}),
});
const url = server.resolvedUrls.local[0];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
// Long tasks from the first script on, and the moment each watched control is answered. The
// worker is started through a small module of this script's that notes, on the page's clock, when
// each request reached the worker and when its reply and each update left, and how long each of
// the worker's tasks ran (a burst of guest code, or a request handled between two), so that each
// answer's time can be split into where it went.
await page.addInitScript(
  ({ hook }) => {
    const w = window;
    w.longTasks = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) w.longTasks.push({ start: e.startTime, ms: e.duration });
    }).observe({ type: "longtask", buffered: true });
    w.timing = { requests: [], replies: new Map(), updates: [], tasks: [] };
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (m, ...rest) {
      if (m?.request) w.timing.requests.push({ id: m.id, type: m.request.type, at: performance.now() });
      return post.call(this, m, ...rest);
    };
    const Base = w.Worker;
    w.Worker = class extends Base {
      constructor(url, opts) {
        const real = new URL(url, location.href).href;
        const js = (text) => URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
        // Static imports, run in order before any message is taken: the hook, then the worker's own module.
        super(js(`import ${JSON.stringify(js(hook))};\nimport ${JSON.stringify(real)};`), opts);
        // Added before the page's own handler: it sees each message first.
        this.addEventListener("message", (e) => {
          const d = e.data;
          const now = performance.now();
          const t = d.timing ?? {};
          const onPage = (at) => (at === undefined ? undefined : at - performance.timeOrigin);
          for (const [at, ms] of t.tasks ?? []) w.timing.tasks.push({ at: onPage(at), ms });
          if (d.update) w.timing.updates.push({ at: now, posted: onPage(t.posted) });
          else w.timing.replies.set(d.id, { at: now, posted: onPage(t.posted), received: onPage(t.received) });
        });
      }
    };
  },
  {
    // In the worker, before its own module: times on the shared clock (timeOrigin + now).
    hook: `
      const clock = () => performance.timeOrigin + performance.now();
      const received = new Map();
      let tasks = [];
      addEventListener("message", (e) => { if (e.data?.id !== undefined) received.set(e.data.id, clock()); });
      const timed = (f) => function (...a) {
        const at = clock();
        try { return f.apply(this, a); } finally { tasks.push([at, clock() - at]); }
      };
      const setter = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage").set;
      Object.defineProperty(MessagePort.prototype, "onmessage", { set(f) { setter.call(this, timed(f)); } });
      const post = self.postMessage.bind(self);
      self.postMessage = (m, o) => {
        if (m && typeof m === "object") {
          m.timing = { posted: clock(), received: received.get(m.id), tasks };
          tasks = [];
        }
        return post(m, o);
      };`,
  },
);
await page.goto(url);
await page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });

const status = () => page.textContent("#status");
const waitStatus = (re, timeout = 300_000) =>
  page.waitForFunction((s) => new RegExp(s).test(document.getElementById("status").textContent), re.source, { timeout });

/**
 * From a trace of the run: the longest task on the page's main thread by its thread time (CPU
 * time spent on it), and the thread time of the longest one by wall time. On a machine shared with
 * other work a task's wall time also counts the time the thread waited for a core.
 */
function mainThreadCpu(events) {
  const thread = (name) => new Set(events.filter((e) => e.name === "thread_name" && e.args.name === name).map((e) => `${e.pid}:${e.tid}`));
  const tasksOf = (t) => events.filter((e) => e.ph === "X" && e.name === "RunTask" && t.has(`${e.pid}:${e.tid}`));
  const tasks = tasksOf(thread("CrRendererMain"));
  const longest = tasks.reduce((a, t) => (t.dur > (a?.dur ?? -1) ? t : a), null);
  // The machine worker's tasks: its bursts of guest code (each meant to end after 10 ms), by wall and by CPU time.
  const bursts = tasksOf(thread("DedicatedWorker thread"));
  return {
    mostCpu: Math.max(0, ...tasks.map((t) => (t.tdur ?? 0) / 1000)),
    longestCpu: (longest?.tdur ?? 0) / 1000,
    burstWall: Math.max(0, ...bursts.map((t) => t.dur / 1000)),
    burstCpu: Math.max(0, ...bursts.map((t) => (t.tdur ?? 0) / 1000)),
  };
}

/** Runs the demo to its end: wall time, and the long tasks between the click on Run and the end. */
async function demoRun() {
  await page.click("#preset-demo");
  await page.uncheck("#record");
  const from = await page.evaluate(() => performance.now());
  await browser.startTracing(page, { categories: ["devtools.timeline", "disabled-by-default-devtools.timeline"] });
  await page.click("#run");
  await waitStatus(/all guests ended|cannot|stopped/);
  const to = await page.evaluate(() => performance.now());
  const cpu = mainThreadCpu(JSON.parse((await browser.stopTracing()).toString()).traceEvents);
  const tasks = await page.evaluate(([a, b]) => window.longTasks.filter((t) => t.start >= a && t.start <= b), [from, to]);
  if (process.env.LONGTASKS) process.stdout.write(`${JSON.stringify(tasks.map((t) => [Math.round(t.start - from), Math.round(t.ms)]))}\n`);
  return {
    wallMs: to - from,
    longest: Math.max(0, ...tasks.map((t) => t.ms)),
    over50: tasks.length,
    over100: tasks.filter((t) => t.ms > 100).length,
    ...cpu,
  };
}

/**
 * Clicks `selector` (or `act`s on it) and waits until `answered` (run in the page) is true:
 * milliseconds from the input event's time stamp (the mouse button or key going down, stamped when
 * the input arrived, however long the page then took to handle it) to the first check that saw the
 * answer, made on every DOM change under `watch` (`dom`), and to the end of the next frame after
 * it (`screen`: a task posted from the frame's requestAnimationFrame runs once it is drawn). That
 * is an upper bound: a task the page queued before that one (a redraw it put off) may run first and
 * be counted in. With
 * it, where the time went (`parts`, each from the end of the one before, on the page's clock):
 * until the page's main thread took the input; for an answer from the worker, until the request
 * reached the worker's handler (the bursts of guest code it waited for), until the worker posted
 * the reply that answered, until the page's main thread took that reply (the updates it took
 * first), and from there to the DOM.
 */
async function respond(selector, watch, answered, act = (s) => page.click(s)) {
  await page.evaluate(
    ([sel, w, f]) => {
      window.answer = new Promise((resolve) => {
        const test = new Function(`return (${f})()`);
        let input = null;
        // On the document: the page may redraw the element between this and the click.
        const onInput = (e) => {
          if (!e.target.closest?.(sel)) return;
          input = { stamp: e.timeStamp, taken: performance.now() };
          performance.mark("answer: input taken");
          document.removeEventListener(e.type, onInput, true);
          requestAnimationFrame(frame);
        };
        let dom = null;
        const frame = () => {
          if (dom === null) return requestAnimationFrame(frame);
          const ch = new MessageChannel();
          ch.port1.onmessage = () => {
            performance.mark("answer: on screen");
            resolve({ input, dom, screen: performance.now() });
          };
          ch.port2.postMessage(null);
        };
        document.addEventListener(sel.endsWith("input") ? "keydown" : "mousedown", onInput, true);
        const seen = () => {
          if (input === null || !test()) return;
          o.disconnect();
          dom = performance.now();
          performance.mark("answer: in the DOM");
        };
        const o = new MutationObserver(seen);
        o.observe(document.querySelector(w), { subtree: true, childList: true, characterData: true, attributes: true });
      });
    },
    [selector, watch, answered.toString()],
  );
  await act(selector);
  // No answer in 20 s (the run ended first, and a policy change was refused): said, not waited for.
  const at = await page.evaluate(() => Promise.race([window.answer, new Promise((r) => setTimeout(() => r(null), 20_000))]));
  if (at === null) return { dom: Number.NaN, screen: Number.NaN, parts: [[`no answer in 20 s; status: ${await status()}`, Number.NaN]] };
  // The request's own reply may come after the answer (Pause is answered by the run's reply).
  await page.waitForTimeout(100);
  return page.evaluate(({ input, dom, screen }) => {
    const t = window.timing;
    const out = { dom: dom - input.stamp, screen: screen - input.stamp, parts: [["input taken", input.taken - input.stamp]] };
    const req = t.requests.find((r) => r.at >= input.taken);
    if (!req || req.at > dom) {
      out.parts.push(["to the DOM", dom - input.taken]);
      return out;
    }
    const reached = t.replies.get(req.id)?.received;
    let answeredBy = null;
    for (const [id, r] of t.replies)
      if (r.at <= dom && r.at >= req.at && (answeredBy === null || r.at > answeredBy.at)) answeredBy = { id, ...r };
    if (reached === undefined || answeredBy === null) return out;
    const bursts = t.tasks.filter((b) => b.at + b.ms > req.at && b.at < reached);
    const ahead = t.updates.filter((u) => u.at > answeredBy.posted && u.at < answeredBy.at);
    out.parts.push(
      ["to the request posted", req.at - input.taken],
      [`to the worker (${bursts.length} bursts, longest ${Math.round(Math.max(0, ...bursts.map((b) => b.ms)))} ms)`, reached - req.at],
      ["to the reply posted", answeredBy.posted - reached],
      [`to the page (${ahead.length} updates ahead)`, answeredBy.at - answeredBy.posted],
      ["to the DOM", dom - answeredBy.at],
    );
    return out;
  }, at);
}

const parts = (a) => a.parts.map(([what, ms]) => (Number.isNaN(ms) ? what : `${what} ${ms.toFixed(0)}`)).join("; ");

/** Waits for the counters to pass `n` hypercalls. */
const past = (n) =>
  page.waitForFunction((k) => Number(document.getElementById("counters").textContent.match(/^\d+/)?.[0] ?? 0) >= k, n, {
    timeout: 120_000,
  });
const seen = async () => Number((await page.textContent("#counters")).match(/^\d+/)?.[0] ?? 0);
const stillRunning = async () => !/all guests ended/.test(await status());

const fmt = (n) => n.toFixed(0).padStart(5);
const runs = [];
for (let i = 0; i < RUNS; i++) {
  const r = await demoRun();
  runs.push(r);
  process.stdout.write(
    `demo run ${i + 1}: ${fmt(r.wallMs)} ms wall; longest main-thread task ${fmt(r.longest)} ms (${r.over50} over 50 ms, ${r.over100} over 100 ms); CPU time of the longest task ${fmt(r.longestCpu)} ms, most CPU time in one task ${fmt(r.mostCpu)} ms; the worker's longest task ${fmt(r.burstWall)} ms, most CPU time in one ${fmt(r.burstCpu)} ms\n`,
  );
}
// Each answer is taken while a longer demo runs (a line says so if it had ended first): Pause,
// then Run again for a weight change and a click on a log row.
const answers = { pause: [], logRow: [], weight: [] };
if (TRACE)
  await browser.startTracing(page, { categories: ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing"] });
for (let i = 0; i < RUNS; i++) {
  await page.click("#preset-demo");
  await page.uncheck("#record");
  // Ten times the demo's passes, so that it is surely still running for all three.
  for (const n of [1, 2, 3]) {
    const field = `[aria-label='guest ${n} arguments']`;
    await page.fill(
      field,
      (await page.inputValue(field)).replace(/^(\d+ \d+) (\d+)/, (_, a, p) => `${a} ${10 * p}`),
    );
    await page.press(field, "Tab");
  }
  await page.click("#run");
  await past(3000);
  answers.pause.push(await respond("#pause", "#status", () => /^paused after/.test(document.getElementById("status").textContent)));
  await page.click("#run");
  await past((await seen()) + 2000);
  const ranForWeight = await stillRunning();
  answers.weight.push(
    await respond(
      "#domains-table tr[data-domid='1'] input",
      "#domains-table",
      () => /^weight 5 for light/.test(document.querySelector("#domains-table tr[data-feedback-for='1'] output").textContent),
      async (s) => {
        await page.fill(s, "5");
        await page.press(s, "Enter");
      },
    ),
  );
  const ranForRow = await stillRunning();
  answers.logRow.push(
    await respond("#log-table tbody tr:nth-child(3)", "#log-detail", () =>
      /^hypercall \d+ by /.test(document.getElementById("log-detail").textContent),
    ),
  );
  const ran = { pause: true, weight: ranForWeight, logRow: ranForRow };
  for (const [k, what] of [
    ["pause", "Pause"],
    ["weight", "a weight change"],
    ["logRow", "a log row"],
  ]) {
    const a = answers[k][i];
    process.stdout.write(
      `while running, ${what}: ${fmt(a.dom)} ms to the DOM, ${fmt(a.screen)} ms on screen${ran[k] ? "" : " (the run had ended)"} (${parts(a)})\n`,
    );
  }
  await page.click("#preset-demo");
}
if (TRACE) writeFileSync(TRACE, await browser.stopTracing());
const max = (xs) => Math.max(...xs);
const slowest = (k) => `${fmt(max(answers[k].map((a) => a.dom)))} ms (${fmt(max(answers[k].map((a) => a.screen))).trim()} on screen)`;
process.stdout.write(
  `\nsummary (${RUNS} runs; ${cpus().length} CPUs, load ${loadavg()[0].toFixed(1)}): longest main-thread task ${fmt(max(runs.map((r) => r.longest)))} ms (most CPU time in one task ${fmt(max(runs.map((r) => r.mostCpu)))} ms); the worker's longest task ${fmt(max(runs.map((r) => r.burstWall)))} ms (most CPU time in one ${fmt(max(runs.map((r) => r.burstCpu))).trim()} ms); demo wall ${fmt(Math.min(...runs.map((r) => r.wallMs)))}–${fmt(max(runs.map((r) => r.wallMs)))} ms; slowest answer: Pause ${slowest("pause")}, log row ${slowest("logRow")}, weight ${slowest("weight")}\n`,
);
await browser.close();
server.httpServer.close();
