// Line charts drawn as plain SVG: a handful of series of a few hundred points each, redrawn a few
// times a second; a charting library would be most of the page's weight for this.

export interface Series {
  name: string;
  points: [number, number][];
}

export const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Draws `series` into `el` (an <svg>); its data-points attribute counts the points drawn. */
export function drawLines(el: SVGSVGElement, series: Series[], o: { title: string; x: string; y: string; yMax?: number }): void {
  const W = 520,
    H = 220,
    L = 48,
    R = 110,
    T = 24,
    B = 34;
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yMax = o.yMax ?? Math.max(1, ...all.map((p) => p[1]));
  const sx = (x: number) => L + ((W - L - R) * x) / xMax;
  const sy = (y: number) => H - B - ((H - T - B) * y) / yMax;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => (yMax >= 8 ? Math.round(f * yMax) : f * yMax));
  let s = `<title>${esc(o.title)}</title><text x="${L}" y="14" class="ct">${esc(o.title)}</text>`;
  for (const t of ticks)
    s += `<line x1="${L}" x2="${W - R}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/><text x="${L - 4}" y="${sy(t) + 4}" text-anchor="end">${Math.round(t * 100) / 100}</text>`;
  s += `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">${esc(o.x)} (0 … ${Math.round(xMax)})</text>`;
  s += `<text transform="translate(11 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.y)}</text>`;
  series.forEach((ser, i) => {
    const c = COLOURS[i % COLOURS.length];
    if (ser.points.length > 0)
      s += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${ser.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ")}"/>`;
    s += `<rect x="${W - R + 8}" y="${T + 16 * i}" width="10" height="10" fill="${c}"/><text x="${W - R + 22}" y="${T + 9 + 16 * i}">${esc(ser.name)}</text>`;
  });
  el.setAttribute("viewBox", `0 0 ${W} ${H}`);
  el.setAttribute("data-points", String(all.length));
  el.innerHTML = s;
}
