// The fuzz targets' names, apart from the fuzzers themselves so the CLI can check --target
// without loading them (the coverage target pulls in an instrumenter).
export const FUZZ_TARGETS = ["model", "boundary", "guest", "coverage"] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];
/** More jobs than this is a mistake (each is a thread with its own VMM), not a campaign. */
export const MAX_FUZZ_JOBS = 256;
