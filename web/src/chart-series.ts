// What the live charts show, from the machine's samples: one x axis for all of them (hypercalls
// made, all guests together, from 0 to the latest sample), and each chart's series.
//
// Rates are per 1000 hypercalls, not per second. A second of the page is not a second of the run:
// it counts paused time and the browser's stalls, and it varies with the machine, so rates per
// second dipped whenever the page was paused or busy and differed from run to run. Hypercalls are
// the run's own clock: the scheduler's slices are counted in them, the same seed gives the same
// hypercalls, and a window's puts or gets per 1000 hypercalls say what share of the guests' work
// each op was there, however the page was paused, stepped or slowed. The same spec and seed so
// draw the same charts, as they give the same numbers.
import type { ChartOptions, Series } from "./charts.js";
import type { Sample } from "./page-machine.js";

export interface Chart {
  /** The <svg>'s id in the page. */
  id: string;
  series: Series[];
  options: ChartOptions;
}

export const CHART_IDS = ["chart-hit", "chart-pages", "chart-kinds", "chart-rate", "chart-evict"] as const;

const X_TITLE = "hypercalls made (all guests)";
const PAGES = "pages (4 KiB each)";

/** Each live chart's series and axes for `samples` (taken every `sampleEvery` hypercalls) of guests `names`. */
export function liveCharts(samples: readonly Sample[], names: readonly string[], sampleEvery: number): Chart[] {
  const xMax = samples.length > 0 ? samples[samples.length - 1].hypercalls : 0;
  const empty = `no data yet: a point every ${sampleEvery} hypercalls`;
  const axes = (title: string, y: string, more: Partial<ChartOptions> = {}): ChartOptions => ({
    title,
    x: X_TITLE,
    xMax,
    y,
    empty,
    ...more,
  });
  type G = Sample["guests"][number];
  /** One series per guest; `f` null leaves the point out. */
  const perGuest = (f: (g: G) => number | null): Series[] =>
    names.map((name, gi) => ({
      name,
      points: samples.flatMap((s): [number, number][] => {
        const g = s.guests[gi];
        const y = g ? f(g) : null;
        return y === null ? [] : [[s.hypercalls, y]];
      }),
    }));
  const total = (s: Sample, f: (g: G) => number) => s.guests.reduce((n, g) => n + f(g), 0);
  /** Ops of one kind per 1000 hypercalls in each window between samples (the first from 0, when nothing was counted). */
  const per1000 = (name: string, f: (g: G) => number): Series => ({
    name,
    points: samples.flatMap((s, i): [number, number][] => {
      const before = i > 0 ? samples[i - 1] : null;
      const dx = s.hypercalls - (before?.hypercalls ?? 0);
      const dn = total(s, f) - (before ? total(before, f) : 0);
      return dx > 0 ? [[s.hypercalls, (1000 * dn) / dx]] : [];
    }),
  });
  const kind = (name: string, f: (g: G) => number): Series => ({
    name,
    points: samples.map((s): [number, number] => [s.hypercalls, total(s, f)]),
  });
  return [
    {
      id: "chart-hit",
      series: perGuest((g) => (g.hitRatio === null ? null : g.hitRatio * 100)),
      options: axes(`hit ratio per guest (its gets in each ${sampleEvery} hypercalls)`, "hit ratio (% of gets)", {
        yMax: 100,
        empty: `no gets yet: a point every ${sampleEvery} hypercalls with gets`,
      }),
    },
    {
      id: "chart-pages",
      series: perGuest((g) => (g.gone ? null : g.pages)),
      options: axes("pages held in tmem per domain", PAGES, { yWhole: true }),
    },
    {
      id: "chart-kinds",
      series: [kind("ephemeral", (g) => g.ephemeral), kind("persistent", (g) => g.persistent)],
      options: axes("tmem pages by kind (all domains)", PAGES, { yWhole: true }),
    },
    {
      id: "chart-rate",
      series: [per1000("puts", (g) => g.puts), per1000("gets", (g) => g.gets), per1000("get hits", (g) => g.hits)],
      options: axes("puts, gets and hits per 1000 hypercalls (all guests)", "ops per 1000 hypercalls"),
    },
    {
      id: "chart-evict",
      series: perGuest((g) => (g.gone ? null : g.evictions)),
      options: axes("evictions per domain (cumulative)", "pages evicted", { yWhole: true }),
    },
  ];
}
