// The page runs the machine the CLI runs: the same spec and seed give the same schedule however the
// page slices time for its display (bursts that pause and resume between slices), so the demo's
// numbers on the page are the CLI's, burst after burst.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runDemo } from "../../cli/demo.js";
import { DEMO_GUESTS, DEMO_RAM_MIB, DEMO_TMEM_MIB, demoArgs } from "../../cli/demo-setup.js";
import { liveCharts } from "../../web/src/chart-series.js";
import { PageMachine, type MachineConfig } from "../../web/src/page-machine.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { nodeAssets } from "../../vmm/platform/assets.js";
import { testKernels } from "../support/kernels.js";
import { IMAGE_DIR, imagePath, QUIET } from "../support/paths.js";

const SEED = 1;
const images = new Map([["precache", new Uint8Array(readFileSync(imagePath("precache")))]]);

/** The page's demo preset, as web/src/main.ts fills the form. */
const demoForm = (record = false): MachineConfig => ({
  tmemMiB: DEMO_TMEM_MIB,
  seed: SEED,
  quantum: 64,
  record,
  guests: DEMO_GUESTS.map((g) => ({
    image: "precache",
    name: g.name,
    ramMiB: DEMO_RAM_MIB,
    weight: g.weight,
    capMiB: null,
    compress: false,
    layout: "xen-4.12-oid3/x86_64",
    args: demoArgs(SEED, g.weight),
  })),
});

/**
 * Runs the page's machine to its end in bursts of `sizes` slices, in turn, calling `between` after
 * each (the page redraws its views there); returns each guest's hits.
 */
async function pageHits(
  sizes: number[],
  record = false,
  between: (m: PageMachine) => void = () => {},
): Promise<{ hits: number[]; trace: Uint8Array | null }> {
  const m = await PageMachine.boot(demoForm(record), images, 1500, nodeAssets);
  for (let i = 0; m.run({ slices: sizes[i % sizes.length] }); i++) between(m);
  return { hits: m.vmm.domains.map((d) => m.vmm.tmem.findClient(d.domid)!.hits), trace: m.finishTrace() };
}

describe("the page's machine", () => {
  it("gives the CLI demo's hits whatever the size of its bursts", async () => {
    const cli = await runDemo(
      { imageDir: IMAGE_DIR, outDir: mkdtempSync(join(tmpdir(), "tmemvm-page-")), seed: SEED, progress: false },
      QUIET,
    );
    const expected = cli.guests.map((g) => g.hits);
    expect(expected[0]).toBeLessThan(expected[1]);
    for (const sizes of [[1], [7, 1, 50], [1000]])
      expect((await pageHits(sizes)).hits, `bursts of ${sizes.join(", ")} slices`).toEqual(expected);
  });

  it("records one schedule across its bursts, which replays with no divergence", async () => {
    const { trace } = await pageHits([3, 20], true);
    expect(replayTrace(trace!, testKernels).divergence).toBeNull();
  });

  it("records the same trace however often the page reads the listing between bursts", async () => {
    const once = (await pageHits([100_000], true)).trace!;
    const redrawn = (await pageHits([3, 20], true, (m) => m.control.listing())).trace!;
    expect(decodeTrace(redrawn).entries.filter((e) => e.kind === "event" && e.event.type === "action")).toEqual([]);
    expect(Buffer.compare(Buffer.from(redrawn), Buffer.from(once))).toBe(0);
  });

  it("draws the same charts however its bursts fall, ending at the run's own totals", async () => {
    const charts = async (sizes: number[]) => {
      const m = await PageMachine.boot(demoForm(), images, 1500, nodeAssets);
      for (let i = 0; m.run({ slices: sizes[i % sizes.length] }); i++);
      return {
        m,
        charts: liveCharts(
          m.samples,
          m.vmm.domains.map((d) => d.name),
          m.sampleEvery,
        ),
      };
    };
    const { m, charts: drawn } = await charts([1000]);
    expect((await charts([1, 7, 50])).charts).toEqual(drawn);
    const byId = new Map(drawn.map((c) => [c.id, c]));
    // One x axis: every chart ends at the hypercalls made, and every point lies on it.
    for (const c of drawn) {
      expect(c.options.xMax, c.id).toBe(m.seen);
      for (const s of c.series) for (const [x] of s.points) expect(x).toBeLessThanOrEqual(m.seen);
    }
    const results = m.results();
    const last = (id: string, name: string) =>
      byId
        .get(id)!
        .series.find((s) => s.name === name)!
        .points.at(-1)![1];
    for (const r of results) expect(last("chart-evict", r.name), r.name).toBe(r.evictions);
    // Ops per 1000 hypercalls, summed over their windows, give back every put, get and hit.
    const summed = (name: string) => {
      const pts = byId.get("chart-rate")!.series.find((s) => s.name === name)!.points;
      return pts.reduce((n, [x, y], i) => n + (y * (x - (i > 0 ? pts[i - 1][0] : 0))) / 1000, 0);
    };
    const clients = m.vmm.domains.map((d) => m.vmm.tmem.findClient(d.domid)!);
    expect(summed("gets")).toBeCloseTo(
      results.reduce((n, r) => n + r.gets!, 0),
      6,
    );
    expect(summed("get hits")).toBeCloseTo(
      results.reduce((n, r) => n + r.hits!, 0),
      6,
    );
    expect(summed("puts")).toBeCloseTo(
      clients.reduce((n, c) => n + c.puts, 0),
      6,
    );
    // Pages by kind add up to the pages per domain at every point.
    const kinds = byId.get("chart-kinds")!.series;
    const perDomain = byId.get("chart-pages")!.series;
    kinds[0].points.forEach(([x, e], i) => {
      const held = perDomain.reduce((n, s) => n + (s.points.find((p) => p[0] === x)?.[1] ?? 0), 0);
      expect(e + kinds[1].points[i][1], `at ${x}`).toBe(held);
    });
    expect(Math.max(...kinds[0].points.map((p) => p[1]))).toBeGreaterThan(100);
  });
});
