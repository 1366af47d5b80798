// `npm run page-timing`: how the page feels while the three-guest demo runs, in headless Chromium:
// the longest task on the page's main thread (PerformanceObserver 'longtask': every task over
// 50 ms) and, from a trace, the most CPU time one such task took, the demo's wall time, and how long the controls take to answer while guests run (Pause
// until the status says paused; a click on a log row until its struct shows; a weight change until
// its outcome shows under the domain's row), each from the input event's own time stamp. Timings,
// not tests: the browser test checks what the page does, this prints how fast. Prints one line per
// measurement and a summary; `--runs N` (default 3) demo runs, `--dist DIR` a page already built
// (default: builds web/ into dist-web/).
import { existsSync } from "node:fs";
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
// Long tasks from the first script on, and the moment each watched control is answered.
await page.addInitScript(() => {
  const w = window;
  w.longTasks = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) w.longTasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: "longtask", buffered: true });
});
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
  const main = new Set(events.filter((e) => e.name === "thread_name" && e.args.name === "CrRendererMain").map((e) => `${e.pid}:${e.tid}`));
  const tasks = events.filter((e) => e.ph === "X" && e.name === "RunTask" && main.has(`${e.pid}:${e.tid}`));
  const longest = tasks.reduce((a, t) => (t.dur > (a?.dur ?? -1) ? t : a), null);
  return { mostCpu: Math.max(0, ...tasks.map((t) => (t.tdur ?? 0) / 1000)), longestCpu: (longest?.tdur ?? 0) / 1000 };
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
 * answer, made on every DOM change under `watch`.
 */
async function respond(selector, watch, answered, act = (s) => page.click(s)) {
  await page.evaluate(
    ([sel, w, f]) => {
      window.answer = new Promise((resolve) => {
        const test = new Function(`return (${f})()`);
        let clickedAt = null;
        // On the document: the page may redraw the element between this and the click.
        const input = (e) => {
          if (!e.target.closest?.(sel)) return;
          clickedAt = e.timeStamp;
          document.removeEventListener(e.type, input, true);
        };
        document.addEventListener(sel.endsWith("input") ? "keydown" : "mousedown", input, true);
        const seen = () => {
          if (clickedAt !== null && test()) {
            o.disconnect();
            resolve(performance.now() - clickedAt);
          }
        };
        const o = new MutationObserver(seen);
        o.observe(document.querySelector(w), { subtree: true, childList: true, characterData: true, attributes: true });
      });
    },
    [selector, watch, answered.toString()],
  );
  await act(selector);
  return page.evaluate(() => window.answer);
}

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
    `demo run ${i + 1}: ${fmt(r.wallMs)} ms wall; longest main-thread task ${fmt(r.longest)} ms (${r.over50} over 50 ms, ${r.over100} over 100 ms); CPU time of the longest task ${fmt(r.longestCpu)} ms, most CPU time in one task ${fmt(r.mostCpu)} ms\n`,
  );
}
// Each answer is taken while a longer demo runs (a line says so if it had ended first): Pause,
// then Run again for a weight change and a click on a log row.
const answers = { pause: [], logRow: [], weight: [] };
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
  process.stdout.write(
    `while running: Pause answered in ${fmt(answers.pause[i])} ms, a weight change in ${fmt(answers.weight[i])} ms${ranForWeight ? "" : " (the run had ended)"}, a log row in ${fmt(answers.logRow[i])} ms${ranForRow ? "" : " (the run had ended)"}\n`,
  );
  await page.click("#preset-demo");
}
const max = (xs) => Math.max(...xs);
process.stdout.write(
  `\nsummary (${RUNS} runs; ${cpus().length} CPUs, load ${loadavg()[0].toFixed(1)}): longest main-thread task ${fmt(max(runs.map((r) => r.longest)))} ms (most CPU time in one task ${fmt(max(runs.map((r) => r.mostCpu)))} ms); demo wall ${fmt(Math.min(...runs.map((r) => r.wallMs)))}–${fmt(max(runs.map((r) => r.wallMs)))} ms; slowest answer: Pause ${fmt(max(answers.pause))} ms, log row ${fmt(max(answers.logRow))} ms, weight ${fmt(max(answers.weight))} ms\n`,
);
await browser.close();
server.httpServer.close();
