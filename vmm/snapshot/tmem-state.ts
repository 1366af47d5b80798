// What the recorder writes down about tmem besides hypercalls, and what replay sets back: a
// client's policy, and the counts a run ends with (compared whole once a replay is done).
import type { Client } from "../tmem/client.js";
import type { Tmem } from "../tmem/tmem.js";
import type { DomId } from "../tmem/ids.js";

/** A client's policy: everything about it, besides its pages, that decides an op's result. */
export interface TracePolicy {
  weight: number;
  /** Max persistent pages; null = no cap. */
  capPages: number | null;
  /** TMEMC_SET_CAP's cap, reported, never enforced (absent in older traces: 0). */
  abiCap?: number;
  compress: boolean;
  frozen: boolean;
  migrating: boolean;
  frozenBeforeSave: boolean;
  /** Authorised shared-pool uuids, as the client keys them. */
  authorised: string[];
}

/** The counts a run ends with, compared whole after a replay. */
export interface TraceState {
  usedFrames: number;
  counters: Record<string, number>;
  clients: {
    domid: number;
    policy: TracePolicy;
    ephemeralPages: number;
    persistentPages: number;
    ops: number;
    errors: number;
    evictions: number;
    puts: number;
    gets: number;
    hits: number;
    pools: (Record<string, number> | null)[];
  }[];
}

export function policyOf(c: Client): TracePolicy {
  return {
    weight: c.weight,
    capPages: Number.isFinite(c.capPages) ? c.capPages : null,
    abiCap: c.abiCap,
    compress: c.compress,
    frozen: c.frozen,
    migrating: c.migrating,
    frozenBeforeSave: c.frozenBeforeSave,
    authorised: [...c.authorisedUuids],
  };
}

/** True if `c` still has policy `p` (checked before every recorded hypercall: keep it cheap). */
export function samePolicy(c: Client, p: TracePolicy): boolean {
  if (
    c.weight !== p.weight ||
    c.compress !== p.compress ||
    c.frozen !== p.frozen ||
    c.migrating !== p.migrating ||
    c.frozenBeforeSave !== p.frozenBeforeSave
  )
    return false;
  if ((Number.isFinite(c.capPages) ? c.capPages : null) !== p.capPages || c.abiCap !== (p.abiCap ?? 0)) return false;
  if (c.authorisedUuids.size !== p.authorised.length) return false;
  for (const u of p.authorised) if (!c.authorisedUuids.has(u)) return false;
  return true;
}

/** Gives client `domid` policy `p` (replay, where the trace says a policy changed). */
export function applyPolicy(tmem: Tmem, domid: DomId, p: TracePolicy): void {
  tmem.setPolicy(domid, { ...p, abiCap: p.abiCap ?? 0 });
}

export function tmemState(tmem: Tmem): TraceState {
  const u = tmem.usage();
  const clients = [...u.clients]
    .sort((a, b) => a.domid - b.domid)
    .map((c) => ({
      domid: c.domid,
      policy: { ...c.policy, migrating: c.migrating, frozenBeforeSave: c.frozenBeforeSave, authorised: c.authorised },
      ephemeralPages: c.ephemeralPages,
      persistentPages: c.persistentPages,
      ops: c.ops,
      errors: c.errors,
      evictions: c.evictions,
      puts: c.puts,
      gets: c.gets,
      hits: c.hits,
      pools: c.pools.map((p) => (p ? { handle: p.handle, flags: p.flags, ...p.stats } : null)),
    }));
  return { usedFrames: u.usedFrames, counters: { ...u.counters }, clients };
}

/** The first difference between two states, spelled as a path ("clients[1].pools[0].pages: 3, recorded 4"), or null. */
export function stateDifference(now: unknown, recorded: unknown, path = "tmem"): string | null {
  if (typeof now !== "object" || now === null || typeof recorded !== "object" || recorded === null) {
    return Object.is(now, recorded) ? null : `${path} is ${JSON.stringify(now)}, recorded ${JSON.stringify(recorded)}`;
  }
  const a = now as Record<string, unknown>;
  const b = recorded as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = stateDifference(a[k], b[k], Array.isArray(now) ? `${path}[${k}]` : `${path}.${k}`);
    if (d) return d;
  }
  return null;
}
