// Pool is declared in client.ts, beside Client (each refers to the other). This path is kept
// for its importers until the layer move of issue 12 renames them.
export { newCounters, Pool, type PoolCounters } from "./client.js";
