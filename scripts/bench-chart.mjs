// The bench's chart (out/bench.svg, kept as docs/bench.svg): each op as a multiple of the fastest
// bare copy, one bar per op, data path and size, every bar labelled with its ratio and ns per op,
// the target line labelled beside the plot, and Xen's figures on each CPU as ticks in the same
// units, their ns under the op's name (labels in the plot collided where a tick sat just above a
// bar). `node scripts/bench-chart.mjs out/bench.json` redraws it from a saved run.
import { readFileSync, writeFileSync } from "node:fs";
import { vegaLiteToSvg } from "../dist/cli/svg-chart.js";

/** Tick colours, one per Xen column in order, named for the subtitle; none is a bar's colour. */
const TICK_COLOURS = [
  { name: "black", value: "black" },
  { name: "purple", value: "#8b00c8" },
  { name: "grey", value: "#808080" },
];

export async function benchChart(table, baselines, { targetRatio, xen }) {
  const baseOf = (t) => (t.key === "put" ? baselines[t.resident].copyIn : baselines[t.resident].copyOut);
  const bars = table.map((t) => ({
    op: t.op,
    ratio: t.ratio,
    bar: `${t.path}, ${t.resident} resident pages`,
    // Each bar says what it is in full: its ratio and its time (path and size are its colour, in the legend).
    label: `${t.ratio.toFixed(2)}x`,
    ns: `${t.ns.toFixed(0)} ns`,
    // Xen's times in this run's copy units, so a bar below a tick is faster than that Xen.
    ...Object.fromEntries(xen.columns.map((x) => [`xen_${x.id}`, t.xenNs[x.id] === null ? null : t.xenNs[x.id] / baseOf(t)])),
  }));
  // Under each op's name, each Xen's ns at each size, in the bars' order (one path's rows).
  const firstPath = table[0]?.path;
  const xenUnder = (op) =>
    xen.columns
      .map((x) => {
        const ns = table
          .filter((t) => t.op === op && t.path === firstPath)
          .map((t) => (t.xenNs[x.id] === null ? "-" : String(t.xenNs[x.id])));
        return ns.every((n) => n === "-") ? "" : `${x.cpu} ${ns.join(" | ")} ns`;
      })
      .filter(Boolean);
  const ops = [...new Set(bars.map((b) => b.op))];
  const labelExpr = ops.reduceRight(
    (rest, op) => `datum.value === ${JSON.stringify(op)} ? ${JSON.stringify([op, ...xenUnder(op)])} : ${rest}`,
    "datum.value",
  );
  const width = 820;
  const xOffset = { field: "bar", sort: null };
  const x = { field: "op", type: "nominal", title: null, sort: null, axis: { labelAngle: 0, labelLimit: 0, labelFontSize: 11, labelExpr } };
  const y = (field) => ({ field, type: "quantitative", title: "x the fastest bare 4 KiB copy" });
  const copies = Object.entries(baselines)
    .map(([size, b]) => `${size} pages: in ${b.copyIn.toFixed(0)} ns, out ${b.copyOut.toFixed(0)} ns`)
    .join("; ");
  const ticks = xen.columns.map((c, i) => ({
    transform: [{ filter: `datum.xen_${c.id} !== null` }],
    mark: { type: "tick", color: TICK_COLOURS[i % TICK_COLOURS.length].value, thickness: 2 },
    encoding: { x, xOffset, y: y(`xen_${c.id}`) },
  }));
  const tickKey = xen.columns.map((c, i) => `${TICK_COLOURS[i % TICK_COLOURS.length].name}: ${c.cpu} (${c.source})`);
  return vegaLiteToSvg({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "tmem op cost as a multiple of the fastest bare 4 KiB copy (lower is better)",
      subtitle: [
        `bars: this run, labelled with their ratio and ns per op; a put is divided by the copy in, the rest by the copy out (${copies})`,
        `ticks: Xen's tmem compiled natively, in the same units, its ns under each op's name in the sizes' order; ${xen.note}:`,
        ...tickKey.map((k) => `  ${k}`),
        `red dashed line: the target for put and get, ${targetRatio}x the fastest bare copy`,
      ],
    },
    width,
    height: 320,
    data: { values: bars },
    layer: [
      {
        mark: "bar",
        encoding: {
          x,
          xOffset,
          y: y("ratio"),
          color: {
            field: "bar",
            type: "nominal",
            title: null,
            sort: null,
            legend: { labelLimit: 0, orient: "bottom", direction: "horizontal" },
          },
        },
      },
      { mark: { type: "text", dy: -16, fontSize: 10 }, encoding: { x, xOffset, y: y("ratio"), text: { field: "label" } } },
      { mark: { type: "text", dy: -6, fontSize: 9, color: "#444" }, encoding: { x, xOffset, y: y("ratio"), text: { field: "ns" } } },
      ...ticks,
      {
        data: { values: [{}] },
        layer: [
          { mark: { type: "rule", strokeDash: [4, 4], color: "#c00" }, encoding: { y: { datum: targetRatio } } },
          {
            mark: { type: "text", align: "left", baseline: "middle", dx: 6, color: "#c00", fontSize: 11, x: width },
            encoding: { y: { datum: targetRatio }, text: { value: ["target for put", `and get: ${targetRatio}x`, "the fastest copy"] } },
          },
        ],
      },
    ],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const saved = JSON.parse(readFileSync(process.argv[2] ?? "out/bench.json", "utf8"));
  const out = process.argv[3] ?? "out/bench.svg";
  writeFileSync(out, await benchChart(saved.table, saved.baselines, { targetRatio: saved.targetRatio ?? 1.5, xen: saved.xen }));
  console.log(`wrote ${out}`);
}
