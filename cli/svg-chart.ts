// A Vega-Lite chart rendered to SVG text, headless (no DOM, no canvas): the demo's chart and the
// bench's (scripts/bench-chart.mjs) both come from here.
import * as vega from "vega";
import * as vl from "vega-lite";

export async function vegaLiteToSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
