// The bench's chart (out/bench.svg, kept as docs/bench.svg): each op as a multiple of the fastest
// bare copy, one bar per op and size, every bar labelled with its ratio and ns per op, the target line labelled
// beside the plot, and Xen's native figure as a tick in the same units, its ns under the op's name (labels in the
// plot collided where a tick sat just above a bar). `node scripts/bench-chart.mjs out/bench.json` redraws it from a
// saved run.
import { readFileSync, writeFileSync } from "node:fs";
import { vegaLiteToSvg } from "../dist/cli/svg-chart.js";

export async function benchChart(table, results, { targetRatio, xenSource }) {
  const baseOf = (t) => {
    const b = results.find((r) => r.resident === t.resident).baseline;
    return t.op === "put" ? b.copyIn : b.copyOut;
  };
  const bars = table.filter((t) => !t.op.startsWith("bare copy")).map((t) => ({
    op: t.op,
    ratio: t.ratio,
    size: `${t.resident} resident pages`,
    // Each bar says what it is in full: its ratio and its time (the size is its colour, in the legend).
    label: `${t.ratio.toFixed(2)}x`,
    ns: `${t.ns.toFixed(0)} ns`,
    // Xen's time in this run's copy units, so a bar below its tick is faster than Xen.
    xenRatio: t.xenNs === null ? null : t.xenNs / baseOf(t),
  }));
  // Under each op's name, Xen's ns at each size, in the bars' order.
  const xenUnder = (op) => {
    const ns = table.filter((t) => t.op === op).map((t) => (t.xenNs === null ? "-" : String(t.xenNs)));
    return ns.every((n) => n === "-") ? "" : `Xen ${ns.join(" | ")} ns`;
  };
  const ops = [...new Set(bars.map((b) => b.op))];
  const labelExpr = ops.reduceRight((rest, op) => `datum.value === ${JSON.stringify(op)} ? [${JSON.stringify(op)}, ${JSON.stringify(xenUnder(op))}] : ${rest}`, "datum.value");
  const width = 820;
  const xOffset = { field: "size", sort: null };
  const x = { field: "op", type: "nominal", title: null, sort: null, axis: { labelAngle: 0, labelLimit: 0, labelFontSize: 11, labelExpr } };
  const y = (field) => ({ field, type: "quantitative", title: "x the fastest bare 4 KiB copy" });
  const copies = results.map((r) => `${r.resident} pages: in ${r.baseline.copyIn.toFixed(0)} ns, out ${r.baseline.copyOut.toFixed(0)} ns`).join("; ");
  return vegaLiteToSvg({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "tmem op cost as a multiple of the fastest bare 4 KiB copy (lower is better)",
      subtitle: [`bars: this run, labelled with their ratio and ns per op; a put is divided by the copy in, the rest by the copy out (${copies})`,
        `black ticks: Xen's tmem compiled natively, in the same units, its ns under each op's name in the bars' order (${xenSource})`,
        `red dashed line: the target for put and get, ${targetRatio}x the fastest bare copy`],
    },
    width, height: 320,
    data: { values: bars },
    layer: [
      { mark: "bar", encoding: { x, xOffset, y: y("ratio"), color: { field: "size", type: "nominal", title: null, sort: null, legend: { labelLimit: 0, orient: "bottom", direction: "horizontal" } } } },
      { mark: { type: "text", dy: -16, fontSize: 10 }, encoding: { x, xOffset, y: y("ratio"), text: { field: "label" } } },
      { mark: { type: "text", dy: -6, fontSize: 9, color: "#444" }, encoding: { x, xOffset, y: y("ratio"), text: { field: "ns" } } },
      { transform: [{ filter: "datum.xenRatio !== null" }], mark: { type: "tick", color: "black", thickness: 2 }, encoding: { x, xOffset, y: y("xenRatio") } },
      { data: { values: [{}] }, layer: [
        { mark: { type: "rule", strokeDash: [4, 4], color: "#c00" }, encoding: { y: { datum: targetRatio } } },
        { mark: { type: "text", align: "left", baseline: "middle", dx: 6, color: "#c00", fontSize: 11, x: width }, encoding: { y: { datum: targetRatio }, text: { value: ["target for put", `and get: ${targetRatio}x`, "the fastest copy"] } } },
      ] },
    ],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const saved = JSON.parse(readFileSync(process.argv[2] ?? "out/bench.json", "utf8"));
  const out = process.argv[3] ?? "out/bench.svg";
  writeFileSync(out, await benchChart(saved.table, saved.results, { targetRatio: saved.targetRatio ?? 1.5, xenSource: saved.xenNative?.source ?? "issue 13's table" }));
  console.log(`wrote ${out}`);
}
