// The demo's chart writer (cli/svg-chart.ts): even ticks, points where the axes put them, every
// series in the legend in its line's colour, and text that cannot break the document.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeXml, lineChartSvg, niceTicks } from "../../cli/svg-chart.js";

/** The document's elements nest and close, and no text or attribute holds a bare `<` or `&`. */
function expectWellFormed(svg: string): void {
  const open: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let end = 0;
  for (const m of svg.matchAll(tag)) {
    const text = svg.slice(end, m.index);
    expect(text, `text before ${m[0]}`).not.toMatch(/[<>]|&(?!(amp|lt|gt|quot|#39);)/);
    expect(m[3], `attributes of ${m[0]}`).not.toMatch(/&(?!(amp|lt|gt|quot|#39);)/);
    if (m[1]) expect(open.pop(), `closing ${m[0]}`).toBe(m[2]);
    else if (!m[4]) open.push(m[2]);
    end = m.index + m[0].length;
  }
  expect(svg.slice(end).trim()).toBe("");
  expect(open).toEqual([]);
}

/** The `d` of each line drawn, by its <title>. */
function lines(svg: string): Map<string, { d: string; stroke: string }> {
  return new Map(
    [...svg.matchAll(/<path d="([^"]+)" stroke="([^"]+)"[^>]*><title>([^<]*)<\/title>/g)].map((m) => [m[3], { d: m[1], stroke: m[2] }]),
  );
}

describe("niceTicks", () => {
  it("cuts the demo's axes into round steps, widened to whole steps", () => {
    expect(niceTicks(1500, 40_200, 10)).toEqual({
      min: 0,
      max: 45_000,
      step: 5000,
      values: [0, 5000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000, 45_000],
    });
    expect(niceTicks(0, 100, 6)).toEqual({ min: 0, max: 100, step: 20, values: [0, 20, 40, 60, 80, 100] });
  });

  it("gives decimal ticks as the decimals they are", () => {
    expect(niceTicks(0.13, 0.87, 5).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.3, 0.3, 6).values).toEqual([-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3]);
  });

  it("widens an empty range around its value", () => {
    expect(niceTicks(0, 0, 4).values).toEqual([-1, -0.5, 0, 0.5, 1]);
    const t = niceTicks(50, 50, 4);
    expect(t.min).toBeLessThan(50);
    expect(t.max).toBeGreaterThan(50);
  });

  it("refuses a range that is not one", () => {
    expect(() => niceTicks(2, 1, 5)).toThrow(RangeError);
    expect(() => niceTicks(0, Infinity, 5)).toThrow(RangeError);
  });

  it("covers any range with evenly spaced ticks, a step of 1, 2 or 5 times a power of ten, about as many as asked", () => {
    const value = fc.double({ min: -1e9, max: 1e9, noNaN: true });
    fc.assert(
      fc.property(value, value, fc.integer({ min: 2, max: 12 }), (a, b, count) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        fc.pre(hi - lo > 1e-6 * Math.max(1, Math.abs(lo), Math.abs(hi)));
        const t = niceTicks(lo, hi, count);
        expect(t.min).toBeLessThanOrEqual(lo);
        expect(t.max).toBeGreaterThanOrEqual(hi);
        expect(t.values[0]).toBe(t.min);
        expect(t.values.at(-1)).toBe(t.max);
        const mantissa = t.step / 10 ** Math.floor(Math.log10(t.step) + 1e-9);
        expect(
          [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9),
          `step ${t.step}`,
        ).toBe(true);
        for (let i = 1; i < t.values.length; i++) expect(t.values[i] - t.values[i - 1]).toBeCloseTo(t.step, 6);
        // A step one notch smaller would have given more than `count` intervals over the data.
        expect(t.values.length - 1).toBeLessThanOrEqual(2 * count + 2);
        expect(t.values.length - 1).toBeGreaterThanOrEqual(Math.floor(count / 5));
      }),
    );
  });
});

describe("lineChartSvg", () => {
  const chart = {
    title: "hit ratio",
    xTitle: "hypercalls",
    yTitle: "%",
    legendTitle: "guest",
    yDomain: [0, 100] as const,
    plotWidth: 100,
    plotHeight: 50,
    series: [
      {
        name: "a",
        points: [
          [10, 100],
          [0, 0],
        ] as [number, number][],
      },
      {
        name: "b",
        points: [
          [0, 50],
          [5, 25],
          [10, 50],
        ] as [number, number][],
      },
    ],
  };

  it("puts each point where the axes say, in increasing x", () => {
    // x: 0..10 over 100 px; y: 0..100 over 50 px, upwards.
    const drawn = lines(lineChartSvg(chart));
    expect(drawn.get("a")?.d).toBe("M0,50L100,0");
    expect(drawn.get("b")?.d).toBe("M0,25L50,37.5L100,25");
  });

  it("labels the ticks, grouping thousands", () => {
    const svg = lineChartSvg({
      ...chart,
      series: [
        {
          name: "a",
          points: [
            [0, 10],
            [40_000, 90],
          ],
        },
      ],
    });
    const labels = [...svg.matchAll(/text-anchor="middle">([\d,]+)<\/text>/g)].map((m) => m[1]);
    expect(labels).toEqual(["0", "5,000", "10,000", "15,000", "20,000", "25,000", "30,000", "35,000", "40,000"]);
    const y = [...svg.matchAll(/text-anchor="end" dominant-baseline="middle">([\d,.]+)<\/text>/g)].map((m) => m[1]);
    expect(y).toEqual(["0", "20", "40", "60", "80", "100"]);
  });

  it("lists every series in the legend, in order, drawn in its line's colour", () => {
    const many = {
      ...chart,
      series: Array.from({ length: 9 }, (_, i) => ({
        name: `guest ${i}`,
        points: [
          [0, i],
          [1, i + 1],
        ] as [number, number][],
      })),
    };
    const svg = lineChartSvg(many);
    const legend = svg.slice(svg.lastIndexOf("<g transform"));
    const entries = [...legend.matchAll(/<line [^>]*stroke="([^"]+)"([^>]*)\/>\n<text [^>]*>([^<]*)<\/text>/g)].map((m) => ({
      name: m[3],
      stroke: m[1],
      dashed: m[2].includes("dasharray"),
    }));
    expect(entries.map((e) => e.name)).toEqual(many.series.map((s) => s.name));
    const drawn = lines(svg);
    for (const e of entries) expect(e.stroke).toBe(drawn.get(e.name)?.stroke);
    // Past the palette the colours repeat, dashed, so no two lines look alike.
    const looks = entries.map((e) => `${e.stroke}${e.dashed}`);
    expect(new Set(looks).size).toBe(looks.length);
    expect(legend).toContain(">guest</text>");
  });

  it("escapes every text it writes, so names cannot break the document", () => {
    const nasty = `<b> & "quoted" 'too' </svg>`;
    const svg = lineChartSvg({
      ...chart,
      title: nasty,
      xTitle: nasty,
      yTitle: nasty,
      legendTitle: nasty,
      series: [
        { name: nasty, points: [[0, 1]] },
        {
          name: `${nasty}2`,
          points: [
            [0, 1],
            [2, 3],
          ],
        },
      ],
    });
    expectWellFormed(svg);
    // The <title>, the heading, two axis titles, the legend's heading, and each series' name in its line's title and in the legend.
    expect(svg.split(escapeXml(nasty)).length - 1).toBe(9);
    expect(lines(svg).has(`${escapeXml(nasty)}2`)).toBe(true);
    expect(escapeXml(nasty)).toBe("&lt;b&gt; &amp; &quot;quoted&quot; &#39;too&#39; &lt;/svg&gt;");
  });

  it("is a well-formed document with no series, one point, or a flat line", () => {
    expectWellFormed(lineChartSvg({ ...chart, series: [] }));
    const one = lineChartSvg({ ...chart, series: [{ name: "one", points: [[3, 40]] }] });
    expectWellFormed(one);
    expect(one).toMatch(/<circle cx="[\d.]+" cy="30" r="3"/);
    expectWellFormed(
      lineChartSvg({
        ...chart,
        yDomain: undefined,
        series: [
          {
            name: "flat",
            points: [
              [0, 7],
              [1, 7],
            ],
          },
        ],
      }),
    );
  });

  it("refuses a point that is not a finite number", () => {
    expect(() => lineChartSvg({ ...chart, series: [{ name: "a", points: [[0, Number.NaN]] }] })).toThrow(/not a finite number/);
    expect(() => lineChartSvg({ ...chart, series: [{ name: "a", points: [[Infinity, 1]] }] })).toThrow(RangeError);
  });
});
