// Each guest's outcome, in the columns `tmemvm demo` prints, so the page and the CLI can be read
// side by side: a hit is a disk read the guest did not have to make.
import { el, labelCells, patchChildren } from "./dom.js";
import type { GuestResult } from "./page-machine.js";

const COLUMNS = ["guest", "weight", "tmem gets", "hits (disk reads avoided)", "hit ratio", "evicted from tmem"];

const count = (n: number | null) => (n === null ? "-" : String(n));

export function renderResults(table: HTMLTableElement, results: GuestResult[]): void {
  const rows = results.map((r) => {
    const ratio = r.gets && r.hits !== null ? `${((100 * r.hits) / r.gets).toFixed(1)}%` : "-";
    const row = el(
      "tr",
      {},
      el("td", { className: "l" }, r.name),
      ...[count(r.weight), count(r.gets), count(r.hits), ratio, count(r.evictions)].map((v) => el("td", {}, v)),
    );
    row.dataset.domid = String(r.domid);
    row.dataset.name = r.name;
    for (const k of ["gets", "hits", "evictions"] as const) if (r[k] !== null) row.dataset[k] = String(r[k]);
    return row;
  });
  const fresh = el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...COLUMNS.map((c, i) => el("th", { className: i === 0 ? "l" : "" }, c)))),
    el("tbody", {}, ...rows),
  );
  labelCells(fresh);
  patchChildren(table, fresh);
}
