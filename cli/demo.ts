// The three-guest demo: cleancache guests with weights 1, 2 and 4 compete for a tmem too small
// for all of them. A live progress line while they run; then each guest's hit ratio, evictions
// and disk reads avoided, and a chart of hit ratio over time (SVG, cli/svg-chart.ts).
import { join } from "node:path";
import cliProgress from "cli-progress";
import { lineChartSvg } from "./svg-chart.js";
import { buildMachine, checkSpec, makeOutputDir, nodeMachinePlatform, objectSource, writeOutputFile } from "../vmm/node.js";
import { DEMO_CACHE_FRAMES, DEMO_FILE_PAGES, DEMO_GUESTS, DEMO_PASSES, DEMO_SAMPLE_EVERY, DEMO_TMEM_MIB, demoSpec } from "./demo-setup.js";
import { prefixedSink, type RunOutput } from "./run-command.js";

export interface DemoOptions {
  /** Directory of precache.wasm. */
  imageDir: string;
  /** Where the chart and the JSON go. */
  outDir: string;
  seed: number;
  /** Show the live progress line (on a terminal)... */
  progress: boolean;
  /** ...on this bar instead of one of its own (a worker's demo shows it in the main thread). */
  bar?: DemoProgress;
  /** Stops the guests at their next hypercall once non-zero (Ctrl-C, from another thread). */
  stop?: Int32Array;
}

interface DemoGuest {
  name: string;
  weight: number;
  gets: number;
  hits: number;
  hitRatio: number;
  evictions: number;
  diskReadsAvoided: number;
}

export interface DemoReport {
  guests: DemoGuest[];
  samples: { hypercalls: number; guest: string; hitRatio: number }[];
  /** Null if the demo was stopped before its guests ended (no chart then). */
  chart: string | null;
}

/** What the demo tells its progress line: cli-progress's SingleBar, or a thread's stand-in for it. */
export interface DemoProgress {
  start(total: number, value: number, payload: object): void;
  update(value: number, payload: object): void;
  stop(): void;
}

/** The demo's live progress line. */
export function demoProgressBar(): DemoProgress {
  return new cliProgress.SingleBar(
    { format: "  {bar} {percentage}% | {gets} gets | hit ratio {ratios}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
}

/** A demo guest that crashed (crash set) or exited non-zero: the CLI exits as for `run`. */
export class DemoGuestError extends Error {
  constructor(
    readonly guest: string,
    readonly crash: string | null,
    readonly exitCode: number | null,
  ) {
    super(`demo guest ${guest} ${crash ? `crashed: ${crash}` : `exited ${exitCode}`}`);
  }
}

const GUESTS = DEMO_GUESTS;
const FILE_PAGES = DEMO_FILE_PAGES;
const CACHE_FRAMES = DEMO_CACHE_FRAMES;
const PASSES = DEMO_PASSES;
const TMEM_MIB = DEMO_TMEM_MIB;
const SAMPLE_EVERY = DEMO_SAMPLE_EVERY;

export async function runDemo(opts: DemoOptions, out: RunOutput): Promise<DemoReport> {
  // Guest console lines wait until the progress line is gone.
  const held: RunOutput = { stdout: (t) => console.push(t), stderr: (t) => console.push(t) };
  const console: string[] = [];
  const sinks = GUESTS.map((g) => prefixedSink(g.name, held));
  const m = await buildMachine(
    checkSpec(demoSpec(opts.seed, join(opts.imageDir, "precache.wasm")), objectSource("demo")),
    nodeMachinePlatform(),
    { console: (i) => sinks[i], stop: opts.stop },
  );
  const { vmm, control } = m;
  out.stdout(
    `${GUESTS.length} guests, each reading a ${FILE_PAGES}-page file set ${PASSES} times at random through a ${CACHE_FRAMES}-frame page cache;\n` +
      `they share ${TMEM_MIB} MiB (${TMEM_MIB * 256} frames) of tmem, weighted ${GUESTS.map((g) => `${g.name} ${g.weight}`).join(", ")}.\n`,
  );

  // Each guest misses its page cache on about (1 - cache/file) of its reads, and each miss is a get.
  const expectedGets = Math.round(GUESTS.length * FILE_PAGES * PASSES * (1 - CACHE_FRAMES / FILE_PAGES));
  const bar = opts.bar ?? (opts.progress ? demoProgressBar() : null);
  bar?.start(expectedGets, 0, { gets: 0, ratios: "" });

  const samples: DemoReport["samples"] = [];
  const last = new Map<string, { gets: number; hits: number }>();
  let nextSample = SAMPLE_EVERY;
  const clientOf = (name: string) => vmm.tmem.findClient(control.domain(name).domid)!;
  m.run(() => {
    const now = m.hypercalls;
    if (now < nextSample) return;
    nextSample = now + SAMPLE_EVERY;
    const ratios: string[] = [];
    let gets = 0;
    for (const g of GUESTS) {
      const c = clientOf(g.name);
      const prev = last.get(g.name) ?? { gets: 0, hits: 0 };
      const dg = c.gets - prev.gets;
      const ratio = dg > 0 ? (c.hits - prev.hits) / dg : 0;
      if (dg > 0) samples.push({ hypercalls: now, guest: `${g.name} (weight ${g.weight})`, hitRatio: Math.round(ratio * 1000) / 10 });
      last.set(g.name, { gets: c.gets, hits: c.hits });
      ratios.push(`${g.name} ${(ratio * 100).toFixed(0)}%`);
      gets += c.gets;
    }
    bar?.update(Math.min(gets, expectedGets), { gets, ratios: ratios.join(", ") });
  });
  bar?.stop();
  for (const s of sinks) s.end();
  for (const line of console) out.stdout(line);
  // Stopped, the guests have not ended: the table shows how far they got, and there is no chart.
  const stopped = (opts.stop?.[0] ?? 0) !== 0;
  const failed = vmm.domains.find((d) => d.exitCode !== 0 && !(stopped && d.state !== "crashed"));
  if (failed) throw new DemoGuestError(failed.name, failed.crash, failed.exitCode);

  const guests: DemoGuest[] = GUESTS.map((g) => {
    const c = clientOf(g.name);
    return {
      name: g.name,
      weight: g.weight,
      gets: c.gets,
      hits: c.hits,
      hitRatio: c.gets ? c.hits / c.gets : 0,
      evictions: c.evictions,
      diskReadsAvoided: c.hits,
    };
  });
  out.stdout("\nguest   weight  tmem gets  hits (disk reads avoided)  hit ratio  evicted from tmem\n");
  for (const g of guests) {
    out.stdout(
      `${g.name.padEnd(6)}  ${String(g.weight).padStart(6)}  ${String(g.gets).padStart(9)}  ${String(g.hits).padStart(25)}  ${(g.hitRatio * 100).toFixed(1).padStart(8)}%  ${String(g.evictions).padStart(17)}\n`,
    );
  }

  if (stopped) {
    out.stdout(`\ninterrupted after ${m.hypercalls} hypercalls: the figures above are the guests' so far; no chart was written\n`);
    return { guests, samples, chart: null };
  }
  makeOutputDir(opts.outDir, "--out");
  const chart = join(opts.outDir, "tmem-demo-hit-ratio.svg");
  writeOutputFile(chart, hitRatioChart(samples), "--out");
  writeOutputFile(join(opts.outDir, "tmem-demo.json"), `${JSON.stringify({ guests, samples }, null, 2)}\n`, "--out");
  out.stdout(`\nchart of hit ratio over time: ${chart}\n`);
  return { guests, samples, chart };
}

function hitRatioChart(samples: DemoReport["samples"]): string {
  const byGuest = new Map<string, [number, number][]>();
  for (const p of samples) {
    let points = byGuest.get(p.guest);
    if (!points) byGuest.set(p.guest, (points = []));
    points.push([p.hypercalls, p.hitRatio]);
  }
  return lineChartSvg({
    title: "tmem hit ratio per guest under memory pressure",
    xTitle: "hypercalls (all guests)",
    yTitle: `tmem get hit ratio (%, per ${SAMPLE_EVERY} hypercalls)`,
    legendTitle: "guest",
    yDomain: [0, 100],
    series: [...byGuest].map(([name, points]) => ({ name, points })),
  });
}
