// Line charts drawn as plain SVG: a handful of series of a few hundred points each, redrawn a few
// times a second; a charting library would be most of the page's weight for this. The markup is
// made by a pure function (chartMarkup), so its axes and series are checked without a browser.
import { patchChildren } from "./dom.js";

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  /** The x axis's title, with its unit. */
  x: string;
  /** The x axis's end (the latest point's x): the page passes every chart the same, so their x axes match. */
  xMax: number;
  /** The y axis's title, with its unit. */
  y: string;
  /** A fixed end of the y axis (100 for a percentage); else it fits the data. */
  yMax?: number;
  /** Whether y counts whole things (pages): ticks are then whole numbers. */
  yWhole?: boolean;
  /** What the chart says while no series has a point. */
  empty?: string;
}

export const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
/**
 * Each series its own dash pattern as well as its colour: a series drawn over another with the
 * same values leaves gaps through which the one under it shows.
 */
export const DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 2", "1 4", "12 4", "6 2 2 2"];

/** Above this many points a series is a bare line; up to it, each point also gets a dot (one point alone is only a dot). */
const DOTS_UP_TO = 40;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const tidy = (x: number) => Number(x.toPrecision(12));

/**
 * Evenly spaced ticks from 0 at a "nice" step (1, 2 or 5 × 10^k) giving at most `most` intervals;
 * the last tick is at or above `max` and is where the axis ends. `whole`: no step below 1.
 */
export function niceTicks(max: number, most = 5, whole = false): number[] {
  const top = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = top / most;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * mag;
  if (whole) step = Math.max(1, Math.round(step));
  const n = Math.max(1, Math.ceil(tidy(top / step)));
  return Array.from({ length: n + 1 }, (_, i) => tidy(i * step));
}

/**
 * Where the x axis ends: at the latest point, so a run's last stretch is not squeezed against
 * empty room (its ticks stay at nice values inside it); at 1 before there is any.
 */
export const xAxisEnd = (xMax: number) => (xMax > 0 && Number.isFinite(xMax) ? xMax : 1);

/** A tick's label, at most about four characters: 950, 2.5k, 13k, 320k, 1.5M. */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  const three = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e9) return `${three(v / 1e9)}G`;
  if (a >= 1e6) return `${three(v / 1e6)}M`;
  if (a >= 1e3) return `${three(v / 1e3)}k`;
  return three(v);
}

/** For each series, the earlier series it coincides with point for point (drawn over it), or null. */
export function coinciding(series: Series[]): (number | null)[] {
  const same = (a: Series, b: Series) =>
    a.points.length > 0 &&
    a.points.length === b.points.length &&
    a.points.every((p, i) => p[0] === b.points[i][0] && p[1] === b.points[i][1]);
  return series.map((s, i) => {
    const j = series.findIndex((t, k) => k < i && same(s, t));
    return j < 0 ? null : j;
  });
}

// The chart's box, in SVG units: the plot, the tick labels left of and below it, each axis's
// title outside its tick labels (the y title turned, left of labels at most five characters
// wide), and the legend on the right.
const W = 540;
const H = 250;
const L = 58;
const R = 122;
const T = 26;
const B = 42;

/** Characters a line of the legend holds (at the charts' 10 px font). */
const LEGEND_CHARS = 15;

/** `text` in lines of at most `width` characters, broken between words (a longer word keeps a line to itself). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(" ")) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

/** The SVG markup of a chart (the inside of its <svg>, with viewBox 0 0 W H). */
export function chartMarkup(series: Series[], o: ChartOptions): string {
  const all = series.flatMap((s) => s.points);
  const xEnd = xAxisEnd(o.xMax);
  const xTicks = niceTicks(xEnd, 5, true).filter((t) => t <= xEnd);
  const yTicks = o.yMax !== undefined ? niceTicks(o.yMax, 5, o.yWhole) : niceTicks(Math.max(0, ...all.map((p) => p[1])), 5, o.yWhole);
  const yEnd = yTicks[yTicks.length - 1];
  const sx = (x: number) => L + ((W - L - R) * x) / xEnd;
  const sy = (y: number) => H - B - ((H - T - B) * y) / yEnd;
  const f = (n: number) => n.toFixed(1);
  let s = `<title>${esc(o.title)}</title><text x="${L}" y="15" class="ct">${esc(o.title)}</text>`;
  s += `<g class="y-ticks">`;
  for (const t of yTicks)
    s += `<line x1="${L}" x2="${W - R}" y1="${f(sy(t))}" y2="${f(sy(t))}" class="grid"/><text x="${L - 5}" y="${f(sy(t) + 3.5)}" text-anchor="end">${shortNumber(t)}</text>`;
  s += `</g><g class="x-ticks">`;
  for (const t of xTicks)
    s += `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${H - B}" y2="${H - B + 4}" class="tick"/><text x="${f(sx(t))}" y="${H - B + 15}" text-anchor="middle">${shortNumber(t)}</text>`;
  s += `</g><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" class="axis"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" class="axis"/>`;
  s += `<text class="x-title" x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.x)}</text>`;
  s += `<text class="y-title" transform="translate(13 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.y)}</text>`;
  const under = coinciding(series);
  let ly = T;
  series.forEach((ser, i) => {
    const c = COLOURS[i % COLOURS.length];
    const dash = DASHES[i % DASHES.length];
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : "";
    const xy = ser.points.map((p) => `${tidy(p[0])},${tidy(p[1])}`).join(" ");
    s += `<g class="series" data-name="${esc(ser.name)}" data-xy="${xy}"${under[i] === null ? "" : ` data-over="${esc(series[under[i]!].name)}"`}>`;
    if (ser.points.length > 1)
      s += `<polyline fill="none" stroke="${c}" stroke-width="2"${dashAttr} points="${ser.points.map((p) => `${f(sx(p[0]))},${f(sy(p[1]))}`).join(" ")}"/>`;
    if (ser.points.length <= DOTS_UP_TO)
      for (const p of ser.points) s += `<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="2.5" fill="${c}"/>`;
    s += `</g>`;
    const label = under[i] === null ? ser.name : `${ser.name} (the same values as ${series[under[i]!].name}: drawn dashed over it)`;
    const lines = wrap(label, LEGEND_CHARS);
    s += `<g class="legend"><line x1="${W - R + 8}" x2="${W - R + 26}" y1="${ly + 5}" y2="${ly + 5}" stroke="${c}" stroke-width="2.5"${dashAttr}/>`;
    lines.forEach((line, k) => {
      s += `<text x="${W - R + 30}" y="${ly + 9 + 12 * k}">${esc(line)}</text>`;
    });
    s += `</g>`;
    ly += 6 + 12 * lines.length;
  });
  if (all.length === 0)
    s += `<text class="nodata" x="${(L + W - R) / 2}" y="${(T + H - B) / 2}" text-anchor="middle">${esc(o.empty ?? "no data yet")}</text>`;
  return s;
}

/**
 * Draws `series` into `el` (an <svg>). Its data attributes say what it shows, for tests and for
 * anyone reading the DOM: data-points the points drawn, data-x-max the end of the x axis,
 * data-empty whether it shows the no-data note; each series is a <g> with its name and values.
 */
export function drawLines(el: SVGSVGElement, series: Series[], o: ChartOptions): void {
  const points = series.reduce((n, s) => n + s.points.length, 0);
  el.setAttribute("viewBox", `0 0 ${W} ${H}`);
  el.setAttribute("data-points", String(points));
  el.setAttribute("data-x-max", String(xAxisEnd(o.xMax)));
  el.setAttribute("data-empty", points === 0 ? "yes" : "no");
  // Parsed outside the page, then only what differs written into the chart drawn before.
  const fresh = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  fresh.innerHTML = chartMarkup(series, o);
  patchChildren(el, fresh);
}
