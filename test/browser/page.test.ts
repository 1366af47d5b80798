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
/** The layout test's screenshots (each width and state): test artifacts, never the README's. */
const ARTIFACTS = join(tmpdir(), "tmemvm-web-shots");

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
 * Clicks Run and pauses the page once the hit-ratio chart has `points` points, then waits for the
 * machine worker to say where it stopped. Click and pause both happen inside the page, the check
 * set up before the click and run after each update: a run that outpaces the test's own messages to
 * the page cannot end before the pause.
 */
async function runAndPauseAt(points: number): Promise<void> {
  // Run answers once a step or pause before it has been answered.
  await page.waitForSelector("#run:not([disabled])");
  await page.evaluate(
    (n) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (/all guests ended/.test(document.getElementById("status")!.textContent!))
            reject(new Error(`the run ended before the chart had ${n} points`));
          else if (
            Number(document.getElementById("chart-hit")!.getAttribute("data-points")) >= n &&
            !document.querySelector<HTMLButtonElement>("#pause")!.disabled
          ) {
            document.getElementById("pause")!.click();
            const stopped = () => {
              if (/^paused after \d+ hypercalls/.test(document.getElementById("status")!.textContent!)) resolve();
              else setTimeout(stopped, 5);
            };
            stopped();
          } else setTimeout(check, 0);
        };
        document.getElementById("run")!.click();
        setTimeout(check, 0);
      }),
    points,
  );
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
    for (const preset of ["selftest", "all", "demo"]) {
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
    for (const interrupted of [false, true]) {
      await page.click("#preset-demo");
      await page.uncheck("#record");
      if (!interrupted) expect(await runToEnd()).toMatch(/all guests ended/);
      else {
        // Bursts cut at other places: paused twice, stepped a few slices in between.
        await runAndPauseAt(4);
        for (let i = 0; i < 3; i++) await page.click("#step");
        await runAndPauseAt(15);
        expect(await runToEnd()).toMatch(/all guests ended/);
      }
      const shown = await page.$$eval("#results-table tbody tr", (rows) =>
        rows.map((r) => {
          const d = (r as HTMLElement).dataset;
          return { name: d.name, gets: Number(d.gets), hits: Number(d.hits), evictions: Number(d.evictions) };
        }),
      );
      expect(shown, interrupted ? "paused and stepped" : "run in one go").toEqual(want);
    }
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
    // Live: the charts have points while the guests still run.
    await runAndPauseAt(6);
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

    // Paused half-way for the picture: the charts so far, the pools and consoles as they stand.
    await runAndPauseAt(40);
    expect(await statusText()).toMatch(/^paused after \d+ hypercalls/);
    await page.screenshot({ path: join(SHOTS, "web-demo.png"), fullPage: true });
    await page.click("#run");
    await page.waitForFunction(() => /all guests ended|cannot|stopped/.test(document.getElementById("status")!.textContent!), null, {
      timeout: 240_000,
    });
    expect(await statusText()).toMatch(/light exited 0; medium exited 0; heavy exited 0/);
    for (const id of ["chart-hit", "chart-pages", "chart-rate", "chart-evict"]) {
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
    for (const id of ["chart-hit", "chart-pages", "chart-rate", "chart-evict"])
      expect(await page.getAttribute(`#${id}`, "data-points"), id).toBe("0");
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
