// Charts as SVG text, headless (no DOM, no canvas). lineChartSvg draws the demo's one chart, a
// few labelled lines over two linear axes, by hand: a charting grammar for it would be most of
// what an install of tmemvm weighs. vegaLiteToSvg is for scripts/bench-chart.mjs, a development
// tool: Vega and Vega-Lite are development dependencies, loaded only when it is called.

export interface ChartSeries {
  /** Its label in the legend. */
  name: string;
  /** [x, y] pairs; drawn in increasing x. */
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  xTitle: string;
  yTitle: string;
  /** The legend's heading. */
  legendTitle?: string;
  series: readonly ChartSeries[];
  /** The y axis's range; by default the data's, widened to whole ticks. */
  yDomain?: readonly [number, number];
  /** The plot area, in px (axes, titles and legend come around it). */
  plotWidth?: number;
  plotHeight?: number;
}

/** Line colours (Okabe and Ito's palette, told apart by most colour-blind readers); past the last, they repeat dashed. */
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"];
const FONT_PX = 11;
/** A sans-serif glyph's mean advance as a fraction of the font size: the legend's width is estimated from it. */
const ADVANCE = 0.6;
/** About how many intervals an axis is cut into: the x axis is wider. */
const X_TICKS = 10;
const Y_TICKS = 6;

export interface Ticks {
  /** The axis's range, widened to whole steps. */
  min: number;
  max: number;
  step: number;
  values: number[];
}

/**
 * Even ticks covering [lo, hi]: a step of 1, 2 or 5 times a power of ten giving about `count`
 * intervals, the range widened to whole steps. An empty range is widened around its value.
 */
export function niceTicks(lo: number, hi: number, count: number): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) throw new RangeError(`no axis from ${lo} to ${hi}`);
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) / 2;
    return niceTicks(lo - pad, hi + pad, count);
  }
  const rough = (hi - lo) / count;
  const decade = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * decade).find((s) => s >= rough)!;
  // Each tick is a whole multiple of the step, rounded to the step's digits (0.1 * 3 is not 0.3).
  const digits = fractionDigits(step);
  const at = (k: number) => Number((k * step).toFixed(digits));
  // The slack keeps float noise (0.3 / 0.1 is 2.9999999999999996) from adding a step; the
  // rounding may then leave an end a hair inside the data, which one more step covers.
  let first = Math.floor(lo / step + 1e-9);
  let last = Math.ceil(hi / step - 1e-9);
  if (at(first) > lo) first--;
  if (at(last) < hi) last++;
  const values = Array.from({ length: last - first + 1 }, (_, i) => at(first + i));
  return { min: at(first), max: at(last), step, values };
}

/** How many decimals a multiple of `step` needs. */
function fractionDigits(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/** A tick's label: thousands grouped, as many decimals as the step has. */
function tickLabel(v: number, step: number): string {
  const d = fractionDigits(step);
  return new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }).format(v);
}

/** `text` safe inside an SVG element or a quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** A coordinate to a tenth of a pixel: finer only makes the file longer. */
const px = (v: number) => String(Math.round(v * 10) / 10);

/** `chart` drawn as a standalone SVG document. */
export function lineChartSvg(chart: LineChart): string {
  const plotW = chart.plotWidth ?? 640;
  const plotH = chart.plotHeight ?? 320;
  const points = chart.series.flatMap((s) => s.points);
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y))
      throw new RangeError(`chart "${chart.title}": a point is not a finite number (${x}, ${y})`);
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const xt = points.length > 0 ? niceTicks(Math.min(...xs), Math.max(...xs), X_TICKS) : niceTicks(0, 1, X_TICKS);
  const [ylo, yhi] = chart.yDomain ?? (points.length > 0 ? [Math.min(...ys), Math.max(...ys)] : [0, 1]);
  const yt = niceTicks(ylo, yhi, Y_TICKS);
  const sx = (x: number) => ((x - xt.min) / (xt.max - xt.min)) * plotW;
  const sy = (y: number) => plotH - ((y - yt.min) / (yt.max - yt.min)) * plotH;

  const yLabels = yt.values.map((v) => tickLabel(v, yt.step));
  const left = 24 + Math.max(...yLabels.map((l) => l.length)) * FONT_PX * ADVANCE + 12;
  const top = 36;
  const bottom = 44;
  const legendLines = [chart.legendTitle ?? "", ...chart.series.map((s) => s.name)];
  const legendW = 40 + Math.max(...legendLines.map((l) => l.length)) * FONT_PX * ADVANCE;
  const width = Math.ceil(left + plotW + 16 + legendW);
  const height = Math.ceil(top + plotH + bottom);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${FONT_PX}">`,
  );
  out.push(`<title>${escapeXml(chart.title)}</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(
    `<text x="${px(left + plotW / 2)}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(chart.title)}</text>`,
  );
  out.push(`<g transform="translate(${px(left)},${top})">`);

  // Grid and ticks: a vertical line at each x tick, a horizontal one at each y tick.
  for (const v of xt.values) {
    const x = px(sx(v));
    out.push(`<line x1="${x}" y1="0" x2="${x}" y2="${plotH + 5}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${plotH + 17}" text-anchor="middle">${escapeXml(tickLabel(v, xt.step))}</text>`);
  }
  yt.values.forEach((v, i) => {
    const y = px(sy(v));
    out.push(`<line x1="-5" y1="${y}" x2="${plotW}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="-8" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(yLabels[i])}</text>`);
  });
  out.push(`<path d="M0,0V${plotH}H${plotW}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${px(plotW / 2)}" y="${plotH + 36}" text-anchor="middle" font-weight="bold">${escapeXml(chart.xTitle)}</text>`);
  out.push(
    `<text transform="translate(${px(-left + 14)},${px(plotH / 2)}) rotate(-90)" text-anchor="middle" font-weight="bold">${escapeXml(chart.yTitle)}</text>`,
  );

  // The lines, clipped to the plot (a y domain narrower than the data cuts them at its edge).
  out.push(`<clipPath id="tmemvm-plot"><rect width="${plotW}" height="${plotH}"/></clipPath>`);
  out.push(`<g clip-path="url(#tmemvm-plot)" fill="none" stroke-width="2" stroke-linejoin="round">`);
  chart.series.forEach((s, i) => {
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    const stroke = lineStyle(i);
    const d = sorted.map(([x, y], k) => `${k === 0 ? "M" : "L"}${px(sx(x))},${px(sy(y))}`).join("");
    if (sorted.length > 1) out.push(`<path d="${d}" ${stroke}><title>${escapeXml(s.name)}</title></path>`);
    else if (sorted.length === 1)
      out.push(
        `<circle cx="${px(sx(sorted[0][0]))}" cy="${px(sy(sorted[0][1]))}" r="3" ${stroke} fill="${COLOURS[i % COLOURS.length]}"><title>${escapeXml(s.name)}</title></circle>`,
      );
  });
  out.push(`</g>`);

  // The legend, right of the plot: its heading, then a stroke of each line's style and its name.
  out.push(`<g transform="translate(${plotW + 16},0)">`);
  if (chart.legendTitle) out.push(`<text x="0" y="${FONT_PX}" font-weight="bold">${escapeXml(chart.legendTitle)}</text>`);
  const firstRow = chart.legendTitle ? FONT_PX + 18 : FONT_PX;
  chart.series.forEach((s, i) => {
    const y = firstRow + i * 18;
    out.push(`<line x1="0" y1="${y - 4}" x2="24" y2="${y - 4}" stroke-width="2" ${lineStyle(i)}/>`);
    out.push(`<text x="30" y="${y}">${escapeXml(s.name)}</text>`);
  });
  out.push(`</g>`, `</g>`, `</svg>`);
  return `${out.join("\n")}\n`;
}

/** The stroke attributes of the i-th line. */
function lineStyle(i: number): string {
  const dashed = i >= COLOURS.length ? ` stroke-dasharray="6 3"` : "";
  return `stroke="${COLOURS[i % COLOURS.length]}"${dashed}`;
}

/** A Vega-Lite spec rendered to SVG text (for scripts/bench-chart.mjs; needs the development dependencies vega and vega-lite). */
export async function vegaLiteToSvg(spec: object): Promise<string> {
  const [vega, vl] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vl.compile(spec as Parameters<typeof vl.compile>[0]).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
