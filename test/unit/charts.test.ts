// The page's charts as markup: nice ticks, short labels, one x axis, every series drawn (one lying
// on another named so in the legend), and a note where there is nothing to draw.
import { describe, expect, it } from "vitest";
import { chartMarkup, coinciding, niceTicks, shortNumber, wrap, type Series } from "../../web/src/charts.js";

const opts = { title: "t", x: "hypercalls made", xMax: 40727, y: "pages" };

describe("the page's charts", () => {
  it("put ticks at an even step of 1, 2 or 5 x 10^k, the last at or above the top", () => {
    expect(niceTicks(100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(13310)).toEqual([0, 5000, 10000, 15000]);
    expect(niceTicks(320417)).toEqual([0, 100000, 200000, 300000, 400000]);
    expect(niceTicks(5536)).toEqual([0, 2000, 4000, 6000]);
    expect(niceTicks(0.9)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 5, true)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(0, 5, true)).toEqual([0, 1]);
    for (const top of [1, 7, 93, 1384, 2768, 40727, 999_999]) {
      const t = niceTicks(top);
      const step = t[1] - t[0];
      expect(t.at(-1)!, `${top}`).toBeGreaterThanOrEqual(top);
      expect(t.length - 1, `${top}`).toBeLessThanOrEqual(5);
      expect(step / 10 ** Math.floor(Math.log10(step)), `${top}`).toSatisfy((m: number) => [1, 2, 5].includes(Math.round(m * 1e9) / 1e9));
      for (const [i, v] of t.entries()) expect(v).toBeCloseTo(i * step, 9);
    }
  });

  it("shorten large tick labels to four characters or so", () => {
    expect([0, 950, 2500, 13000, 320000, 1_500_000, 0.4].map(shortNumber)).toEqual(["0", "950", "2.5k", "13k", "320k", "1.5M", "0.4"]);
  });

  it("run the x axis from 0 to the latest point, its ticks inside it", () => {
    const m = chartMarkup(
      [
        {
          name: "a",
          points: [
            [0, 1],
            [40727, 3],
          ],
        },
      ],
      opts,
    );
    const xs = [...m.matchAll(/<text x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)<\/text>/g)].map((x) => x[1]);
    expect(xs).toEqual(["0", "10k", "20k", "30k", "40k"]);
  });

  it("draw every series, name one that lies on another in the legend, and dash each differently", () => {
    const same: [number, number][] = [
      [0, 5],
      [100, 500],
      [200, 500],
    ];
    const series: Series[] = [
      { name: "puts", points: same },
      { name: "gets", points: same.map((p) => [...p] as [number, number]) },
      {
        name: "hits",
        points: [
          [0, 0],
          [100, 50],
          [200, 70],
        ],
      },
    ];
    expect(coinciding(series)).toEqual([null, 0, null]);
    const m = chartMarkup(series, opts);
    expect([...m.matchAll(/<polyline [^>]*>/g)]).toHaveLength(3);
    const dashes = [...m.matchAll(/<polyline [^>]*>/g)].map((x) => x[0].match(/stroke-dasharray="([^"]*)"/)?.[1] ?? "");
    expect(new Set(dashes).size).toBe(3);
    expect(m).toContain('data-name="gets" data-xy="0,5 100,500 200,500" data-over="puts"');
    expect(m.replace(/<\/text><text[^>]*>/g, " ")).toContain("gets (the same values as puts: drawn dashed over it)");
  });

  it("say so when there is nothing to draw, and draw a lone point as a dot", () => {
    expect(chartMarkup([{ name: "a", points: [] }], { ...opts, xMax: 0, empty: "no gets yet" })).toContain(">no gets yet</text>");
    const one = chartMarkup([{ name: "a", points: [[93, 4]] }], opts);
    expect(one).not.toContain("no gets yet");
    expect(one).not.toContain("<polyline");
    expect(one).toContain("<circle");
  });

  it("wrap the legend between words", () => {
    expect(wrap("gets (the same values as puts)", 15)).toEqual(["gets (the same", "values as puts)"]);
  });
});
