// The fuzz targets' names, apart from the fuzzers themselves so the CLI can check --target
// without loading them (the coverage target pulls in an instrumenter).
export const FUZZ_TARGETS = ["model", "boundary", "guest", "coverage"] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];
