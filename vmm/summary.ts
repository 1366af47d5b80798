// The tmem summary printed when guests finish: per domain and per pool, what tmem did for them.
import type { Tmem } from "./tmem/tmem.js";
import type { Pool } from "./tmem/pool.js";

export interface PoolSummary {
  domid: number;
  poolId: number;
  type: string;
  pages: number;
  objects: number;
  puts: number;
  gets: number;
  hits: number;
  misses: number;
  flushes: number;
  evictions: number;
}

export function poolSummaries(tmem: Tmem): PoolSummary[] {
  const rows: PoolSummary[] = [];
  for (const c of tmem.clients) {
    c.pools.forEach((p: Pool | null, poolId) => {
      if (!p) return;
      const s = p.stats;
      rows.push({
        domid: c.domid,
        poolId,
        type: p.typeCode,
        pages: s.pages,
        objects: s.objects,
        puts: s.puts,
        gets: s.gets,
        hits: s.getsFound,
        misses: s.gets - s.getsFound,
        flushes: s.flushes + s.objectFlushes,
        evictions: s.evictions,
      });
    });
  }
  return rows;
}

export function formatSummary(tmem: Tmem): string {
  const rows = poolSummaries(tmem);
  const store = tmem.store;
  const g = tmem.counters;
  const head = `tmem: ${store.usedFrames}/${store.capacityFrames} frames used, ${tmem.index.objects} objects, ${g.ops} ops (${g.errors} errors), ${g.evictions} evictions`;
  if (rows.length === 0) return head + ", no live pools";
  const cols: (keyof PoolSummary)[] = ["domid", "poolId", "type", "pages", "objects", "puts", "gets", "hits", "misses", "flushes", "evictions"];
  const table = [cols.map(String), ...rows.map((r) => cols.map((k) => String(r[k])))];
  const widths = cols.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => row.map((cell, i) => cell.padStart(widths[i])).join("  "));
  return [head, ...lines].join("\n");
}
