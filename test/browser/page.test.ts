// The browser app (web/) in a real browser: Debian's chromium driven by playwright-core. The page
// is built with Vite into dist-web/ and served as a plain static folder; everything runs in it.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TMEM_GET_PAGE, TMEM_NEW_POOL, TMEM_POOL_PERSIST, TMEM_PUT_PAGE } from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { DEFAULT_LAYOUT, opLayout } from "../../hypercall-abi/op-layouts.js";
import { crc32 } from "../../vmm/container/crc32.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace, HYPERCALL_RESULT_AT } from "../../vmm/trace/trace-format.js";
import { REPO, runCli } from "../support/paths.js";
import { serveStatic } from "./static-server.js";
import { BUNDLED } from "../../web/src/assets.js";
import { testKernels } from "../support/kernels.js";

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it), or the one named here. */
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots go to docs/ (for the README) when SCREENSHOTS=docs, else to a temporary folder. */
const SHOTS = process.env.SCREENSHOTS === "docs" ? join(REPO, "docs") : join(tmpdir(), "tmemvm-web-shots");
/** Screenshots of each state the tests put the page in (layouts at each width, the charts): test artifacts, never the README's, in a git-ignored folder. */
const ARTIFACTS = join(REPO, "test-artifacts", "browser");

let browser: Browser;
let server: Server;
let url: string;
let page: Page;
const pageErrors: string[] = [];
/** Every URL the page requested. */
const fetched: string[] = [];

/** Every console.error the page logged (a failed fetch, an exception a handler caught and logged). */
const consoleErrors: string[] = [];

/** The widths the page must fit without sideways scrolling: a phone, a small window, a desktop. */
const WIDTHS = [360, 800, 1400];

/**
 * How far the document is wider than the window, the elements sticking out (for the message), and
 * the boxes inside that scroll sideways themselves (a console whose lines do not wrap).
 */
function overflow(p: Page): Promise<{ scrollWidth: number; clientWidth: number; outside: string[]; sideways: string[] }> {
  return p.evaluate(() => {
    const root = document.documentElement;
    const name = (e: Element) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}`;
    const all = Array.from(document.querySelectorAll("body *"));
    const outside = all.flatMap((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > root.clientWidth + 0.5 ? [`${name(e)} to ${Math.round(r.right)} px`] : [];
    });
    const sideways = all.flatMap((e) =>
      ["auto", "scroll"].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1
        ? [`${name(e)} ${e.scrollWidth} px in ${e.clientWidth}`]
        : [],
    );
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, outside: outside.slice(0, 8), sideways };
  });
}

/** At each of WIDTHS, nothing scrolls sideways: not the page, not a box in it; a full-page screenshot of each is kept. */
async function expectFitsEveryWidth(state: string): Promise<void> {
  const before = page.viewportSize()!;
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 860 });
    const o = await overflow(page);
    expect(o.scrollWidth, `${state} at ${width} px: ${o.outside.join(", ")}`).toBeLessThanOrEqual(o.clientWidth);
    expect(o.sideways, `${state} at ${width} px: boxes that scroll sideways`).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, `layout-${state}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize(before);
}

/** What a chart shows: its axes' ends, ticks and titles as laid out, and each series' values and marks. */
interface ChartView {
  id: string;
  xMax: number;
  empty: boolean;
  note: string | null;
  yTicks: { label: string; y: number }[];
  xTicks: string[];
  /** The y axis title's box and each y tick label's box, as drawn. */
  yTitle: DOMRect;
  yTickBoxes: DOMRect[];
  series: { name: string; xy: [number, number][]; over: string | null; lineLength: number; dots: number; legend: string }[];
}

const CHARTS = ["chart-hit", "chart-pages", "chart-kinds", "chart-rate", "chart-evict"];

function chartViews(p: Page): Promise<ChartView[]> {
  return p.evaluate(
    (ids) =>
      ids.map((id) => {
        const svg = document.getElementById(id) as unknown as SVGSVGElement;
        const box = (e: Element) => e.getBoundingClientRect().toJSON() as DOMRect;
        const texts = (sel: string) => Array.from(svg.querySelectorAll(sel)) as SVGTextElement[];
        const legends = Array.from(svg.querySelectorAll("g.legend"));
        return {
          id,
          xMax: Number(svg.getAttribute("data-x-max")),
          empty: svg.getAttribute("data-empty") === "yes",
          note: svg.querySelector(".nodata")?.textContent ?? null,
          yTicks: texts(".y-ticks text").map((t) => ({ label: t.textContent!, y: Number(t.getAttribute("y")) })),
          xTicks: texts(".x-ticks text").map((t) => t.textContent!),
          yTitle: box(svg.querySelector(".y-title")!),
          yTickBoxes: texts(".y-ticks text").map(box),
          series: Array.from(svg.querySelectorAll("g.series")).map((g, i) => {
            const line = g.querySelector("polyline") as SVGPolylineElement | null;
            const xy = (g.getAttribute("data-xy") ?? "")
              .split(" ")
              .filter(Boolean)
              .map((pt) => pt.split(",").map(Number) as [number, number]);
            return {
              name: g.getAttribute("data-name")!,
              xy,
              over: g.getAttribute("data-over"),
              lineLength: line ? line.getTotalLength() : 0,
              dots: g.querySelectorAll("circle").length,
              legend: Array.from(legends[i].querySelectorAll("text"), (t) => t.textContent).join(" "),
            };
          }),
        };
      }),
    CHARTS,
  );
}

/** Boxes that overlap (by more than half a pixel each way). */
const overlaps = (a: DOMRect, b: DOMRect) =>
  a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;

/** What every chart has whether or not it has data: ticks evenly spaced and short, clear of the axis title. */
function expectReadableAxes(v: ChartView): void {
  expect(v.yTicks.length, v.id).toBeGreaterThanOrEqual(2);
  const gaps = v.yTicks.slice(1).map((t, i) => v.yTicks[i].y - t.y);
  for (const g of gaps) expect(g, `${v.id}: y ticks evenly spaced`).toBeCloseTo(gaps[0], 0);
  for (const t of [...v.yTicks.map((t) => t.label), ...v.xTicks])
    expect(t, `${v.id}: short tick label`).toMatch(/^(?=.{1,4}$)\d+(\.\d+)?[kMG]?$/);
  for (const b of v.yTickBoxes) expect(overlaps(b, v.yTitle), `${v.id}: a y tick label on the axis title`).toBe(false);
  expect(v.xTicks[0], v.id).toBe("0");
}

const statusText = () => page.textContent("#status") as Promise<string>;
/**
 * What `read` gives once the machine worker has answered: a request (a policy change, a step, a
 * replay) is answered by message, so its outcome shows a moment after the click. The bound is
 * for a test that would otherwise hang, not a speed the page must have.
 */
const answered = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 60_000, interval: 20 });
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Clicks Run and waits for the status line to say every guest ended (or that something failed). */
async function runToEnd(timeout = 240_000): Promise<string> {
  await page.click("#run");
  await page.waitForFunction(() => /all guests ended|cannot|stopped/.test(document.getElementById("status")!.textContent!), null, {
    timeout,
  });
  return statusText();
}

/**
 * Runs with "pause at hypercall" set to `hypercalls` and waits for the worker to say it stopped at
 * the end of the slice that reached it; the field is left empty again.
 */
async function runAndPauseAt(hypercalls: number): Promise<number> {
  // Run answers once a step or pause before it has been answered.
  await page.waitForSelector("#run:not([disabled])");
  await page.fill("#pause-at", String(hypercalls));
  await page.click("#run");
  await page.waitForFunction(
    (n) => {
      const s = document.getElementById("status")!.textContent!;
      return /all guests ended|cannot|stopped/.test(s) || Number(s.match(/^paused after (\d+) hypercalls/)?.[1] ?? 0) >= n;
    },
    hypercalls,
    { timeout: 120_000 },
  );
  const seen = Number((await statusText()).match(/^paused after (\d+) hypercalls$/)?.[1]);
  expect(seen, await statusText()).toBeGreaterThanOrEqual(hypercalls);
  await page.fill("#pause-at", "");
  return seen;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);
  await build({ configFile: join(REPO, "web", "vite.config.ts"), logLevel: "error" });
  ({ url, server } = await serveStatic(join(REPO, "dist-web")));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1366, height: 860 }, acceptDownloads: true });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("request", (r) => fetched.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
  mkdirSync(SHOTS, { recursive: true });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe("the page, in Chromium", () => {
  let recorded: Buffer;

  it("fits 360, 800 and 1400 px windows with no sideways scrolling, with every preset before and after its run", async () => {
    await expectFitsEveryWidth("loaded");
    for (const preset of ["selftest", "all", "demo", "shared"]) {
      await page.click(`#preset-${preset}`);
      await page.uncheck("#record");
      await expectFitsEveryWidth(`${preset}-set-up`);
      expect(await runToEnd()).toMatch(/all guests ended/);
      await expectFitsEveryWidth(`${preset}-ended`);
    }
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it("explains tmem, each bundled guest and its arguments, and boots the demo in one click", async () => {
    const intro = (await page.textContent("#intro"))!;
    for (const word of ["puts", "get", "hit", "miss", "ephemeral", "persistent", "compete", "Freeze"]) expect(intro).toContain(word);
    await page.click("#preset-all");
    const cards = await page.$$eval("#guests fieldset.guest", (fs) =>
      fs.map((f) => ({ image: (f.querySelector("select") as HTMLSelectElement).value, about: f.querySelector(".about")!.textContent! })),
    );
    expect(cards.map((c) => c.image)).toEqual(BUNDLED.map((b) => b.name));
    for (const [i, b] of BUNDLED.entries()) {
      expect(cards[i].about, b.name).toContain(b.about);
      for (const a of b.args) expect(cards[i].about, b.name).toContain(`${a.name}: ${a.meaning}`);
    }
    await page.click("#preset-demo");
    // Each argument given, by its value and what it means.
    const args = await page.$$eval("#guests fieldset.guest:first-of-type .about li", (lis) => lis.map((li) => li.textContent!));
    expect(args).toEqual([
      "1200 FILE_PAGES: pages in the file set (4 KiB each)",
      "64 CACHE_FRAMES: page frames of the guest's own page cache",
      "6 PASSES: how many times the file set is read",
      "random loop | random: read in order each pass, or at random (PASSES × FILE_PAGES reads)",
      "2 SEED: seed of the guest's random reads",
      "(default) random | text: what the file's pages hold: random bytes, or text (which compresses)",
      "(default) private | shared: its own ephemeral pool, or one shared with every guest reading the same file set (uuid 0x46494c45,0x53484152, which the host must authorise for it)",
    ]);
    await page.fill("[aria-label='guest 1 arguments']", "300");
    await page.press("[aria-label='guest 1 arguments']", "Tab");
    expect(await page.textContent("#guests fieldset.guest:first-of-type .about li:nth-child(2)")).toBe(
      "(default) CACHE_FRAMES: page frames of the guest's own page cache",
    );

    await page.click("#preset-selftest");
    await page.click("#guided-demo");
    await page.waitForFunction(() => /all guests ended|cannot|stopped/.test(document.getElementById("status")!.textContent!), null, {
      timeout: 240_000,
    });
    expect(await statusText()).toMatch(/\(light exited 0; medium exited 0; heavy exited 0\)/);
  });

  it("gives the CLI demo's numbers for the same seed on every run, paused and stepped or not", async () => {
    const out = mkdtempSync(join(tmpdir(), "tmemvm-cli-demo-"));
    const cli = runCli(["demo", "--seed", "1", "--out", out]);
    expect(cli.status, cli.stderr).toBe(0);
    const want = (
      JSON.parse(readFileSync(join(out, "tmem-demo.json"), "utf8")) as {
        guests: { name: string; gets: number; hits: number; evictions: number }[];
      }
    ).guests.map(({ name, gets, hits, evictions }) => ({ name, gets, hits, evictions }));
    expect(want.map((g) => g.name)).toEqual(["light", "medium", "heavy"]);
    await page.fill("#seed", "1");
    const drawn: { id: string; series: { name: string; xy: [number, number][] }[] }[][] = [];
    for (const interrupted of [false, true]) {
      await page.click("#preset-demo");
      await page.uncheck("#record");
      if (!interrupted) expect(await runToEnd()).toMatch(/all guests ended/);
      else {
        // Bursts cut at other places: paused twice, stepped a few slices in between.
        await runAndPauseAt(3000);
        for (let i = 0; i < 3; i++) await page.click("#step");
        await runAndPauseAt(9000);
        expect(await runToEnd()).toMatch(/all guests ended/);
      }
      const shown = await page.$$eval("#results-table tbody tr", (rows) =>
        rows.map((r) => {
          const d = (r as HTMLElement).dataset;
          return { name: d.name, gets: Number(d.gets), hits: Number(d.hits), evictions: Number(d.evictions) };
        }),
      );
      expect(shown, interrupted ? "paused and stepped" : "run in one go").toEqual(want);
      drawn.push((await chartViews(page)).map((v) => ({ id: v.id, series: v.series.map(({ name, xy }) => ({ name, xy })) })));
    }
    // The charts too: time paused or stepped is no time of the run's, so no rate dips for it.
    expect(drawn[1]).toEqual(drawn[0]);
  });

  it("charts the run's own numbers: one x axis, every series drawn, cumulative ends equal to the results, a note when empty", async () => {
    // The demo just ran to its end (paused and stepped on the way).
    const hypercalls = Number((await statusText()).match(/all guests ended after (\d+) hypercalls/)![1]);
    const views = await chartViews(page);
    expect(views.map((v) => v.id)).toEqual(CHARTS);
    for (const v of views) {
      expect(v.xMax, `${v.id}: the x axis ends at the run's hypercalls`).toBe(hypercalls);
      expect(v.empty, v.id).toBe(false);
      expect(v.note, v.id).toBeNull();
      expectReadableAxes(v);
      for (const ser of v.series) {
        expect(ser.xy.length, `${v.id} ${ser.name}`).toBeGreaterThan(10);
        expect(ser.lineLength, `${v.id} ${ser.name} is drawn`).toBeGreaterThan(50);
        for (const [x] of ser.xy) expect(x).toBeLessThanOrEqual(hypercalls);
        // One that lies on another is named so in the legend.
        if (ser.over) expect(ser.legend, `${v.id} ${ser.name}`).toContain(`the same values as ${ser.over}`);
      }
    }
    const chart = (id: string) => views.find((v) => v.id === id)!;
    const results = await page.$$eval("#results-table tbody tr", (rows) =>
      rows.map((r) => {
        const d = (r as HTMLElement).dataset;
        return { name: d.name!, gets: Number(d.gets), hits: Number(d.hits), evictions: Number(d.evictions) };
      }),
    );
    expect(chart("chart-evict").series.map((s) => s.name)).toEqual(results.map((r) => r.name));
    // Cumulative evictions end at the results table's; each series ends at the run's last hypercall.
    for (const r of results) {
      const ser = chart("chart-evict").series.find((s) => s.name === r.name)!;
      expect(ser.xy.at(-1), r.name).toEqual([hypercalls, r.evictions]);
    }
    // Gets and hits per 1000 hypercalls, over their windows, add up to the results' totals.
    const summed = (name: string) => {
      const xy = chart("chart-rate").series.find((s) => s.name === name)!.xy;
      return xy.reduce((n, [x, y], i) => n + (y * (x - (i > 0 ? xy[i - 1][0] : 0))) / 1000, 0);
    };
    expect(summed("gets")).toBeCloseTo(
      results.reduce((n, r) => n + r.gets, 0),
      3,
    );
    expect(summed("get hits")).toBeCloseTo(
      results.reduce((n, r) => n + r.hits, 0),
      3,
    );
    // The demo's puts and gets go hand in hand (each miss puts a page out and gets one in): both show.
    const rate = chart("chart-rate").series;
    expect(rate.map((s) => s.name)).toEqual(["puts", "gets", "get hits"]);
    // Pages by kind: the demo's pages are all ephemeral, and at their peak the pools held about 2 MiB.
    const [eph, pers] = chart("chart-kinds").series;
    expect(Math.max(...eph.xy.map((p) => p[1]))).toBeGreaterThan(400);
    expect(pers.xy.every((p) => p[1] === 0)).toBe(true);
    await page.locator("#live").screenshot({ path: join(ARTIFACTS, "charts-demo-ended.png") });

    // A preset empties the charts: each says there is nothing yet, its axes still readable.
    await page.click("#preset-selftest");
    for (const v of await chartViews(page)) {
      expect(v.empty, v.id).toBe(true);
      expect(v.note, v.id).toMatch(/^no (data|gets) yet: a point every 50 hypercalls/);
      expect(
        v.series.every((ser) => ser.xy.length === 0 && ser.lineLength === 0 && ser.dots === 0),
        v.id,
      ).toBe(true);
      expectReadableAxes(v);
    }
    await page.locator("#live").screenshot({ path: join(ARTIFACTS, "charts-empty.png") });
    // The self-test's short run: every chart has its points, the x axis is that run's.
    await page.uncheck("#record");
    const short = Number((await runToEnd()).match(/after (\d+) hypercalls/)![1]);
    expect(short).toBeLessThan(200);
    for (const v of await chartViews(page)) {
      expect(v.xMax, v.id).toBe(short);
      expect(v.empty, v.id).toBe(false);
      expect(
        v.series.some((ser) => ser.dots > 0),
        v.id,
      ).toBe(true);
      expectReadableAxes(v);
    }
    await page.locator("#live").screenshot({ path: join(ARTIFACTS, "charts-selftest-ended.png") });
  });

  it("runs the machine in a worker: no Wasm on the main thread, and the guests run on while it is held", async () => {
    const p = await browser.newPage({ viewport: { width: 1366, height: 860 } });
    p.on("pageerror", (e) => pageErrors.push(e.message));
    // Every way to make a Wasm module or instance, counted on the page's main thread (an init script
    // runs in the page, not in its workers).
    await p.addInitScript(() => {
      const w = window as unknown as { wasmOnMain: string[] };
      w.wasmOnMain = [];
      const wa = WebAssembly as unknown as Record<string, unknown>;
      for (const k of ["compile", "compileStreaming", "instantiate", "instantiateStreaming"]) {
        const f = wa[k] as (...a: unknown[]) => unknown;
        wa[k] = (...a: unknown[]) => {
          w.wasmOnMain.push(k);
          return f.apply(WebAssembly, a);
        };
      }
      for (const k of ["Module", "Instance"])
        wa[k] = new Proxy(wa[k] as new (...a: unknown[]) => object, {
          construct(target, a) {
            w.wasmOnMain.push(k);
            return Reflect.construct(target, a);
          },
        });
    });
    // The main thread is held in a synchronous request until the test lets the response go.
    let held!: () => void;
    const holding = new Promise<void>((r) => {
      held = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    await p.route("**/hold-the-main-thread", async (route) => {
      held();
      await released;
      await route.fulfill({ body: "released" });
    });
    await p.goto(url);
    await p.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
    const [worker] = p.workers();
    expect(p.workers().map((w) => w.url())).toEqual([expect.stringMatching(/machine-worker/)]);
    const hypercalls = () => worker.evaluate(() => (globalThis as unknown as { tmemvmHypercalls(): number }).tmemvmHypercalls());

    await p.click("#preset-demo");
    // Ten times the demo's passes: it is still running when the main thread is held.
    for (const n of [1, 2, 3]) {
      const field = `[aria-label='guest ${n} arguments']`;
      await p.fill(
        field,
        (await p.inputValue(field)).replace(/^(\d+ \d+) (\d+)/, (_, a, passes) => `${a} ${10 * Number(passes)}`),
      );
      await p.press(field, "Tab");
    }
    await p.click("#run");
    await p.waitForFunction(() => /^[1-9]\d* hypercalls/.test(document.getElementById("counters")!.textContent!));
    const hold = p.evaluate(() => {
      const r = new XMLHttpRequest();
      r.open("GET", "hold-the-main-thread", false);
      r.send();
      return r.responseText;
    });
    await holding;
    const from = await hypercalls();
    // The worker's count goes on while the page's main thread cannot run a single task.
    await expect.poll(hypercalls, { timeout: 120_000, interval: 20 }).toBeGreaterThan(from + 5000);
    release();
    expect(await hold).toBe("released");
    // Held no more, the page shows the run as far as it got, and Pause stops it there.
    await p.waitForFunction((n) => Number(document.getElementById("counters")!.textContent!.match(/^\d+/)![0]) > n, from + 5000);
    await p.click("#pause");
    await p.waitForFunction(() => /^paused after \d+ hypercalls/.test(document.getElementById("status")!.textContent!));
    const paused = await hypercalls();
    expect(await p.textContent("#status")).toBe(`paused after ${paused} hypercalls`);
    expect(await p.evaluate(() => (window as unknown as { wasmOnMain: string[] }).wasmOnMain)).toEqual([]);
    await p.close();
  });

  it("boots the self-test guest and shows its report, every check passed", async () => {
    await page.click("#preset-selftest");
    await page.check("#record");
    expect(await runToEnd()).toMatch(/all guests ended after \d+ hypercalls \(selftest exited 0\); trace recorded/);
    const report = (await page.textContent("#console-1"))!.match(/selftest: (\d+) passed, (\d+) failed/);
    expect(report).not.toBeNull();
    expect(Number(report![1])).toBeGreaterThan(60);
    expect(report![2]).toBe("0");
    expect(await page.textContent("#domains-table tr[data-domid='1'] .state")).toBe("exited 0");
    // Its error paths are in the log with the errno by name.
    const results = await page.$$eval("#log-table tbody tr td:nth-child(5)", (cs) => cs.map((c) => c.textContent!));
    expect(results.filter((r) => /^-\d+ \(-E[A-Z]+\)$/.test(r)).length).toBeGreaterThan(5);
  });

  it("records the run in the page: the downloaded trace replays in the page and in Node with no divergence", async () => {
    await page.click("#replay-recorded");
    await answered(() => page.textContent("#replay-out")).toMatch(/replayed \d+ hypercalls: no divergence/);
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-trace")]);
    recorded = readFileSync((await dl.path())!);
    expect(recorded.subarray(0, 4).toString()).toBe("TMTR");
    expect(replayTrace(recorded, testKernels).divergence).toBeNull();
  });

  it("a damaged trace opened from a file shows a clear error, naming what is wrong", async () => {
    const damaged = Buffer.from(recorded);
    damaged[Math.floor(damaged.length / 2)] ^= 0x40;
    await page.setInputFiles("#trace-file", { name: "damaged.tmtr", mimeType: "application/octet-stream", buffer: damaged });
    const alert = page.locator("#replay-out [role=alert]");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^damaged\.tmtr cannot be replayed: .*checksum mismatch/);
    expect(await page.locator("#status").getAttribute("class")).toContain("error");
  });

  it("a trace with one changed result replays to its first divergence, which the record list highlights", async () => {
    const { records } = decodeTrace(recorded);
    const target = records[17];
    const changed = Buffer.from(recorded);
    changed[target.offset + HYPERCALL_RESULT_AT] ^= 0x01;
    const len = changed.readUInt32LE(target.offset);
    changed.writeUInt32LE(crc32(changed.subarray(target.offset + 4, target.offset + 4 + len)), target.offset + 4 + len);
    await page.setInputFiles("#trace-file", { name: "changed.tmtr", mimeType: "application/octet-stream", buffer: changed });
    await page.waitForFunction(() => document.querySelector("#replay-records li.diverged") !== null);
    expect(await page.textContent("#replay-out [role=alert]")).toMatch(
      /^changed\.tmtr: diverged at record 18 of \d+ .*result -?\d+, recorded -?\d+/,
    );
    const marked = await page.$$eval("#replay-records li", (lis) =>
      lis.map((li, i) => ({
        n: (li.parentElement as HTMLOListElement).start + i,
        diverged: li.classList.contains("diverged"),
        text: li.textContent!,
      })),
    );
    expect(marked.filter((m) => m.diverged).map((m) => m.n)).toEqual([18]);
    expect(marked.find((m) => m.diverged)!.text).toMatch(/diverged here: result/);
  });

  it("records nothing unless asked; asked, the trace ends at its limit, says its size, and replays to there", async () => {
    const fresh = await browser.newPage();
    await fresh.goto(url);
    await fresh.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
    expect(await fresh.isChecked("#record")).toBe(false);
    await fresh.close();

    await page.click("#preset-demo");
    await page.check("#record");
    await page.fill("#record-limit", "2000");
    expect(await runToEnd()).toMatch(/light exited 0; medium exited 0; heavy exited 0\); trace recorded \((\d+) bytes\)/);
    const size = (await page.textContent("#record-size"))!;
    expect(size).toMatch(/^trace: \d+\.\d MiB, 2000 hypercalls; it ended at the limit of 2000, the run went on unrecorded$/);
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-trace")]);
    const cut = readFileSync((await dl.path())!);
    expect(size).toContain(`${(cut.length / 2 ** 20).toFixed(1)} MiB`);
    expect(decodeTrace(cut).records.length).toBe(2000);
    const report = replayTrace(cut, testKernels);
    expect(report.divergence).toBeNull();
    expect(report.endedEarly).toBe("the page's recording limit of 2000 hypercalls");
    await page.fill("#record-limit", "20000");
    await page.uncheck("#record");
  });

  it("a trace given as ?trace=URL is fetched and replayed on load", async () => {
    const other = await browser.newPage();
    await other.route("**/shared/run.tmtr", (r) => r.fulfill({ body: recorded, contentType: "application/octet-stream" }));
    await other.goto(`${url}?trace=shared/run.tmtr`);
    await other.waitForFunction(() => /no divergence|cannot/.test(document.getElementById("replay-out")!.textContent!), null, {
      timeout: 120_000,
    });
    expect(await other.textContent("#replay-out")).toMatch(/shared\/run\.tmtr: replayed \d+ hypercalls: no divergence/);
    await other.close();
  });

  it("runs the three-guest demo with live charts; pause, step, freeze and a weight change act on the running machine", async () => {
    await page.click("#preset-demo");
    await page.uncheck("#record");
    // A pause point that is not a count of hypercalls starts nothing and says why.
    await page.fill("#pause-at", "0.5");
    await page.click("#run");
    expect(await statusText()).toBe("pause at hypercall: a whole number above 0, or empty to run to the end");
    expect(await page.isDisabled("#pause")).toBe(true);
    // Live: the charts have points while the guests still run.
    await runAndPauseAt(4500);
    expect(await statusText()).toMatch(/^paused after \d+ hypercalls/);
    const before = Number((await statusText()).match(/\d+/)![0]);
    await page.click("#step");
    await answered(statusText).toMatch(/^stepped: \d+ hypercalls/);
    const after = Number((await statusText()).match(/stepped: (\d+) hypercalls/)![1]);
    expect(after).toBeGreaterThan(before);
    await page.fill("#domains-table tr[data-domid='1'] input[type=number]", "3");
    await page.press("#domains-table tr[data-domid='1'] input[type=number]", "Enter");
    await answered(statusText).toBe("weight 3 for light");
    // Each change's outcome is also written under the row that made it; a refused one resets its field.
    const feedback = (domid: number) => page.textContent(`#domains-table tr[data-feedback-for='${domid}'] output`);
    expect(await feedback(1)).toBe("weight 3 for light");
    await page.fill("[aria-label='light cap in MiB']", "0.25");
    await page.press("[aria-label='light cap in MiB']", "Enter");
    await answered(() => feedback(1)).toMatch(/^cap 0\.25 for light refused: .*whole number/);
    expect(await page.inputValue("[aria-label='light cap in MiB']")).toBe("");
    await page.check("[aria-label='medium compress']");
    await answered(() => feedback(2)).toBe("compression on for medium");
    await page.uncheck("[aria-label='medium compress']");
    await answered(() => feedback(2)).toBe("compression off for medium");
    await page.click("#domains-table tr[data-domid='2'] button:has-text('Freeze')");
    await answered(statusText).toBe("froze medium");
    expect(await feedback(2)).toBe("froze medium");
    await page.click("#domains-table tr[data-domid='2'] button:has-text('Thaw')");
    await answered(statusText).toBe("thawed medium");
    expect(await feedback(2)).toBe("thawed medium");

    // Paused half-way for the picture: the charts so far, the pools and consoles as they stand, a stored page.
    await runAndPauseAt(20_000);
    expect(await statusText()).toMatch(/^paused after \d+ hypercalls/);
    await page.selectOption("#page-pool", "3:0");
    await page.waitForFunction(() => /^object /.test(document.getElementById("page-dump")!.textContent!));
    await page.screenshot({ path: join(SHOTS, "web-demo.png"), fullPage: true });
    await page.click("#run");
    await page.waitForFunction(() => /all guests ended|cannot|stopped/.test(document.getElementById("status")!.textContent!), null, {
      timeout: 240_000,
    });
    expect(await statusText()).toMatch(/light exited 0; medium exited 0; heavy exited 0/);
    for (const id of CHARTS) {
      expect(Number(await page.getAttribute(`#${id}`, "data-points")), id).toBeGreaterThan(10);
    }
    expect(pageErrors).toEqual([]);
  });

  it("the pools listing adds up: pools to each domain's total, domains to the whole", async () => {
    const t = await page.$eval("#pools-table", (table) => {
      const cells = (r: Element) => Array.from(r.querySelectorAll("td")).map((c) => c.textContent!);
      const rows = Array.from(table.querySelectorAll("tr")).slice(1);
      return {
        head: Array.from(table.querySelectorAll("th")).map((c) => c.textContent!),
        pools: rows.filter((r) => r.classList.contains("pool")).map((r) => ({ domid: (r as HTMLElement).dataset.domid!, cells: cells(r) })),
        totals: rows
          .filter((r) => r.classList.contains("total") && !r.classList.contains("all"))
          .map((r) => ({ domid: (r as HTMLElement).dataset.domid!, held: Number((r as HTMLElement).dataset.held), cells: cells(r) })),
        all: cells(rows.find((r) => r.classList.contains("all"))!),
      };
    });
    const counted = ["pages", "objects", "puts", "gets", "hits", "misses", "flushes", "evictions"];
    expect(t.totals.map((d) => d.domid)).toEqual(["1", "2", "3"]);
    for (const [k, name] of counted.entries()) {
      let whole = 0;
      for (const d of t.totals) {
        const pools = t.pools.filter((p) => p.domid === d.domid);
        expect(pools.length).toBeGreaterThan(0);
        const sum = pools.reduce((n, p) => n + (Number(p.cells[t.head.indexOf(name)]) || 0), 0);
        // A domain total row: domid, name, a label spanning pool and type, then the counters.
        expect(Number(d.cells[3 + k]), `${name} of domain ${d.domid}`).toBe(sum);
        whole += sum;
      }
      // The last row: a label spanning four columns, then the counters.
      expect(Number(t.all[1 + k]), `${name} of all domains`).toBe(whole);
    }
    // Every demo guest did its work through tmem: gets = hits + misses, and there were evictions.
    for (const d of t.totals) {
      expect(Number(d.cells[3 + 3])).toBe(Number(d.cells[3 + 4]) + Number(d.cells[3 + 5]));
      expect(Number(d.cells[3 + 3])).toBeGreaterThan(1000);
    }
    expect(Number(t.all[1 + 7])).toBeGreaterThan(0);
  });

  it("the hypercall log filters by guest and command and shows each entry's decoded struct, result and errno name", async () => {
    await page.selectOption("#log-guest", { label: "heavy" });
    await page.selectOption("#log-cmd", String(TMEM_GET_PAGE));
    const rows = await page.$$eval("#log-table tbody tr", (rs) =>
      rs.map((r) => Array.from(r.querySelectorAll("td")).map((c) => c.textContent!)),
    );
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) expect([r[1], r[2]]).toEqual(["heavy", "TMEM_GET_PAGE"]);
    // A get either hits (1) or misses (0), shown as such: both show up in the demo.
    expect(new Set(rows.map((r) => r[4]))).toEqual(new Set(["hit", "miss"]));
    await page.focus("#log-table tbody tr");
    await page.keyboard.press("Enter");
    const detail = (await page.textContent("#log-detail"))!;
    expect(detail).toMatch(/by heavy \(domain 3\): TMEM_GET_PAGE\nresult (1 \(hit\)|0 \(miss\))\n\nstruct tmem_op, xen-4\.12-oid3\/x86_64/);
    expect(detail).toMatch(/cmd +5 \(TMEM_GET_PAGE\)/);
    await page.selectOption("#log-guest", "");
    await page.selectOption("#log-cmd", "");
    await page.locator("#log").scrollIntoViewIfNeeded();
    await page.locator("#log").screenshot({ path: join(SHOTS, "web-hypercall-log.png") });
    // A filter that hides the selected hypercall clears its detail.
    await page.selectOption("#log-guest", { label: "light" });
    expect(await page.textContent("#log-detail")).toBe("Select a hypercall to see its struct.");
    await page.selectOption("#log-guest", "");
  });

  it("the log is one tab stop, and arrow keys move the selection through it", async () => {
    await page.selectOption("#log-guest", { label: "medium" });
    expect(await page.locator("#log-table tbody tr[tabindex='0']").count()).toBe(1);
    const seqs = await page.$$eval("#log-table tbody tr", (rs) => rs.map((r) => (r as HTMLElement).dataset.seq!));
    await page.focus("#log-table tbody tr[tabindex='0']");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    const focused = () => page.evaluate(() => (document.activeElement as HTMLElement).dataset.seq);
    expect(await focused()).toBe(seqs[2]);
    expect(await page.textContent("#log-detail")).toMatch(new RegExp(`^hypercall ${seqs[2]} by medium `));
    await page.keyboard.press("ArrowUp");
    expect(await page.textContent("#log-detail")).toMatch(new RegExp(`^hypercall ${seqs[1]} by medium `));
    await page.keyboard.press("End");
    expect(await focused()).toBe(seqs.at(-1));
    // Still one tab stop: the selected row; Tab leaves the log.
    expect(await page.$$eval("#log-table tbody tr[tabindex='0']", (rs) => rs.map((r) => (r as HTMLElement).dataset.seq))).toEqual([
      seqs.at(-1),
    ]);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement!.closest("#log-table"))).toBeNull();
    await page.selectOption("#log-guest", "");
  });

  it("refuses policy changes on an ended domain, saying why under its row", async () => {
    await page.click("#domains-table tr[data-domid='1'] button:has-text('Freeze')");
    const feedback = page.locator("#domains-table tr[data-feedback-for='1'] output");
    await answered(() => feedback.textContent()).toBe(
      "froze light refused: light has exited: there is no running guest for a policy change to act on",
    );
    expect(await feedback.getAttribute("class")).toContain("error");
    expect(await page.textContent("#domains-table tr[data-domid='1'] button:has-text('eeze')")).toBe("Freeze");
    // Saving is not a policy change, but light kept no persistent pages: there is nothing to download.
    await page.click("#domains-table tr[data-domid='1'] button:has-text('Save .tmsv')");
    await answered(() => feedback.textContent()).toBe("nothing saved: light holds no persistent pages");
  });

  it("a failed boot leaves no view of the machine before it: charts, results, pools, consoles, log and detail are empty", async () => {
    expect(Number(await page.getAttribute("#chart-hit", "data-points"))).toBeGreaterThan(0);
    // Two guests of one name: the spec refuses it.
    await page.fill("[aria-label='guest 2 name']", "light");
    await page.press("[aria-label='guest 2 name']", "Tab");
    await page.click("#boot");
    await page.waitForFunction(() => !/booting/.test(document.getElementById("status")!.textContent!));
    expect(await statusText()).toMatch(/^cannot boot: .*light/);
    for (const id of CHARTS) {
      expect(await page.getAttribute(`#${id}`, "data-points"), id).toBe("0");
      expect(await page.textContent(`#${id} .nodata`), id).toMatch(/^no (data|gets) yet/);
    }
    for (const sel of ["#results-table tr", "#pools-table tr", "#domains-table tr", "#console-list pre", "#log-table tbody tr"])
      expect(await page.locator(sel).count(), sel).toBe(0);
    expect(await page.textContent("#log-detail")).toBe("Select a hypercall to see its struct.");
    expect(await page.textContent("#pools-head")).toBe("");
  });

  it("decodes pasted hex in every layout of its size, and builds a struct whose hex matches the codec's", async () => {
    const layout = opLayout("xen-4.1-oid3/x86_64")!;
    const op = encodeOp({ cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: [0x1234n, 0x5678n], flags: TMEM_POOL_PERSIST, arg1: 0 } }, layout);
    await page.fill("#hex", Buffer.from(op).toString("hex").replace(/(..)/g, "0x$1, "));
    await page.selectOption("#decode-layout", "");
    await page.click("#decode-btn");
    const out = (await page.textContent("#decode-out"))!;
    expect(out).toContain("struct tmem_op, xen-4.1-oid3/x86_64");
    expect(out).toMatch(/cmd +1 \(TMEM_NEW_POOL\)/);
    expect(out).toMatch(/creat\.uuid +\[0x1234, 0x5678\]/);
    await page.fill("#hex", "12 3");
    await page.click("#decode-btn");
    expect(await page.textContent("#decode-out")).toMatch(/hex digits/);

    await page.selectOption("#build-layout", DEFAULT_LAYOUT.name);
    await page.selectOption("#build-cmd", String(TMEM_PUT_PAGE));
    await page.fill("#build-pool", "3");
    await page.fill("#build-oid", "0x10,0,7");
    await page.fill("#build-index", "9");
    await page.fill("#build-cmfn", "0x1234");
    await page.click("#build-btn");
    const want = encodeOp(
      { cmd: TMEM_PUT_PAGE, poolId: 3, gen: { oid: [0x10n, 0n, 7n], index: 9, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0x1234n } },
      DEFAULT_LAYOUT,
    );
    expect(await page.textContent("#build-hex")).toBe(hex(want));
  });

  it("boots every bundled guest together: both self-tests pass every check, both workloads exit 0", async () => {
    await page.click("#preset-all");
    const status = await runToEnd();
    for (const name of ["selftest", "selftest-c", "precache", "preswap"]) expect(status).toContain(`${name} exited 0`);
    const consoles = await page.$$eval("[id^='console-']", (cs) => cs.map((c) => c.textContent!));
    const all = consoles.join("\n");
    expect(all).toMatch(/selftest: [1-9]\d+ passed, 0 failed/);
    expect(all).toMatch(/selftest-c: [1-9]\d* passed, 0 failed/);
    // Every run so far was of bundled images only: they ran in the forms they ship.
    expect(fetched.filter((u) => u.includes("binaryen"))).toEqual([]);
  });

  it("shares one pool between two guests, shows a stored page's bytes, and counts pages that did not shrink", async () => {
    const results = () =>
      page.$$eval("#results-table tbody tr", (rows) =>
        rows.map((r) => ({ name: (r as HTMLElement).dataset.name, hits: Number((r as HTMLElement).dataset.hits) })),
      );
    // The same two readers with private pools, for comparison.
    await page.click("#preset-shared");
    await page.uncheck("#record");
    for (const n of [1, 2]) {
      const field = `[aria-label='guest ${n} arguments']`;
      await page.fill(field, (await page.inputValue(field)).replace(/shared$/, "private"));
      await page.press(field, "Tab");
    }
    expect(await runToEnd()).toMatch(/\(reader-a exited 0; reader-b exited 0\)/);
    const alone = await results();

    await page.click("#preset-shared");
    expect(await page.textContent("#control-actions")).toContain(
      "0:auth reader-a 0x46494c45,0x53484152; 0:auth reader-b 0x46494c45,0x53484152",
    );
    expect(await page.inputValue("[aria-label='guest 2 arguments']")).toBe("600 32 3 random 2 text shared");
    await page.check("[aria-label='guest 1 compress']");
    await page.check("[aria-label='guest 2 compress']");
    await runAndPauseAt(2000);
    // Both domains list the one shared ephemeral pool.
    const types = await page.$$eval("#pools-table tr.pool", (rs) =>
      rs.map((r) => [(r as HTMLElement).dataset.domid, r.children[3].textContent]),
    );
    expect(types).toEqual([
      ["1", "ES"],
      ["2", "ES"],
    ]);
    // The page's text compresses: pages are held compressed, and none failed to shrink.
    const all = page.locator("#pools-table tr.all");
    expect(Number(await all.getAttribute("data-compressed-pages"))).toBeGreaterThan(0);
    expect(await all.getAttribute("data-poor-compression")).toBe("0");
    expect(await page.textContent("#pools-head")).toMatch(
      /\d+ compressed pages \(0 puts under compression did not shrink and were kept whole\)/,
    );

    // A stored page, read without a get: the file's text as the guest put it; the pool's counts stay as they were.
    await page.selectOption("#page-pool", "1:0");
    await page.waitForFunction(() => document.querySelectorAll("#page-pick option").length > 0);
    // The page's bytes come from the machine's worker a moment after the list.
    await page.waitForFunction(() => /^object /.test(document.getElementById("page-dump")!.textContent!));
    const dump = (await page.textContent("#page-dump"))!;
    expect(dump).toMatch(/^object 0x46494c45,0x0,0x0, index \d+: 4096 bytes as a get would return them\n\n0000 {2}/);
    const lines = dump.split("\n").slice(2);
    expect(lines).toHaveLength(256);
    const bytes = Buffer.from(lines.map((l) => l.slice(6, 6 + 47).replace(/ /g, "")).join(""), "hex");
    expect(bytes.length).toBe(4096);
    // precache's text pages are words of its vocabulary, the last one cut by the page's end.
    const words = bytes.toString("latin1").split(" ").filter(Boolean);
    const vocabulary = new Set(
      "tmem page pool object index guest frame xen put get flush ephemeral persistent shared private cache".split(" "),
    );
    expect(
      words.slice(0, -1).every((w) => vocabulary.has(w)),
      words.slice(0, 8).join(" "),
    ).toBe(true);
    // The ASCII column says the same as the hex.
    expect(lines.map((l) => l.slice(l.indexOf("|") + 1, -1)).join("")).toBe(bytes.toString("latin1"));
    const gets = await page.$$eval("#pools-table tr.pool", (rs) => rs.map((r) => r.children[7].textContent));
    await page.click("#page-show");
    await page.waitForFunction(() => /^object /.test(document.getElementById("page-dump")!.textContent!));
    expect(await page.$$eval("#pools-table tr.pool", (rs) => rs.map((r) => r.children[7].textContent))).toEqual(gets);
    await page.locator("#pools").screenshot({ path: join(ARTIFACTS, "shared-pool-and-stored-page.png") });

    expect(await runToEnd()).toMatch(/\(reader-a exited 0; reader-b exited 0\)/);
    // Sharing, a page either reader put is a hit for both: each gets more hits than alone.
    const shared = await results();
    for (const [i, r] of shared.entries()) expect(r.hits, r.name).toBeGreaterThan(alone[i].hits * 1.3);
    expect(await page.textContent("#pools-table tr.all")).toContain("each shared pool counted once");
    // A new boot empties the page view.
    await page.click("#preset-demo");
    expect(await page.textContent("#page-dump")).toBe("");
    expect(await page.locator("#page-pool option").count()).toBe(0);
    // The demo's pages are random bytes: with compression on, none shrinks, and the page says how many.
    await page.check("[aria-label='guest 1 compress']");
    expect(await runToEnd()).toMatch(/light exited 0/);
    expect(Number(await all.getAttribute("data-poor-compression"))).toBeGreaterThan(1000);
    expect(await all.getAttribute("data-compressed-pages")).toBe("0");
  });

  it("a dropped image named as a bundled one joins under a name of its own, and runs beside it", async () => {
    await page.click("#preset-selftest");
    const b64 = readFileSync(join(REPO, "build", "selftest.wasm")).toString("base64");
    const dropped = await page.evaluateHandle((data) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], "selftest.wasm"));
      return dt;
    }, b64);
    await page.dispatchEvent("body", "drop", { dataTransfer: dropped });
    await page.waitForFunction(() => /added as guest image/.test(document.getElementById("status")!.textContent!));
    expect(await statusText()).toBe('selftest.wasm added as guest image "selftest-2" (an image named selftest is already loaded)');
    expect(
      await page.$$eval("#guests fieldset.guest select[aria-label$=' image']", (ss) => ss.map((s) => (s as HTMLSelectElement).value)),
    ).toEqual(["selftest", "selftest-2"]);
    expect(await page.textContent("#guests fieldset.guest:nth-of-type(2) .about")).toBe(
      "An image added to the page: its arguments are its own.",
    );
    expect(await runToEnd()).toMatch(/\(selftest exited 0; selftest-2 exited 0\)/);
  });

  it("saves a domain's tmem as a .tmsv download, and a guest booted with that file uploaded gets its pages back", async () => {
    await page.click("#preset-selftest");
    await page.selectOption("[aria-label='guest 1 image']", "preswap");
    for (const [field, value] of [
      ["name", "db"],
      ["RAM MiB", "4"],
      ["arguments", "300 32 0 store"],
    ]) {
      await page.fill(`[aria-label='guest 1 ${field}']`, value);
      await page.press(`[aria-label='guest 1 ${field}']`, "Tab");
    }
    expect(await runToEnd()).toMatch(/\(db exited 0\)/);
    const [dl] = await Promise.all([
      page.waitForEvent("download"),
      page.click("#domains-table tr[data-domid='1'] button:has-text('Save .tmsv')"),
    ]);
    expect(dl.suggestedFilename()).toBe("db.tmsv");
    const saved = readFileSync((await dl.path())!);
    expect(saved.subarray(0, 4).toString()).toBe("TMSV");
    await page.setInputFiles("[aria-label='guest 1 save file to restore']", {
      name: "db.tmsv",
      mimeType: "application/octet-stream",
      buffer: saved,
    });
    await page.waitForFunction(() => document.getElementById("status")!.textContent === "db.tmsv will be restored into db when it boots");
    expect(await runToEnd()).toMatch(/\(db exited 0\)/);
    const out = (await page.textContent("#console-1"))!;
    expect(out).toContain("preswap: resuming with the restored frontswap pool 0");
    // Every page the first run stored comes back from tmem, checked by the guest.
    expect(out).toMatch(/preswap: 300 swap-outs \(300 to tmem, 0 to disk\), 300 swap-ins \(300 from tmem, 0 from disk\)/);
  });

  it("an image the user adds goes through binaryen, fetched once in the session, and runs beside a bundled one", async () => {
    await page.click("#preset-selftest");
    await page.setInputFiles("#wasm-file", {
      name: "mine.wasm",
      mimeType: "application/wasm",
      buffer: readFileSync(join(REPO, "build", "selftest.wasm")),
    });
    await page.waitForFunction(() => document.getElementById("status")!.textContent === 'mine.wasm added as guest image "mine"');
    expect(await runToEnd()).toMatch(/selftest exited 0.*mine exited 0|mine exited 0.*selftest exited 0/);
    expect(fetched.filter((u) => /\/binaryen-[\w-]+\.js$/.test(u))).toHaveLength(1);
  });

  it("logged no page error and no console error in the whole session", () => {
    expect(pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
