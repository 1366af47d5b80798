// Every trace the test suite records is replayed and must show no divergence. Tests call
// expectReplays() on the traces they make (a CLI run's too); every trace a recorder in this
// process closes is also replayed after its test (test/replay-every-trace.ts), so a test that
// records and forgets still cannot leave a trace that diverges.
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { formatReplayReport, replayTrace, type ReplayReport } from "../../vmm/trace/replay.js";
import { testKernels } from "./kernels.js";

/** Traces already replayed by a test itself (it may have planted a bug only it can see). */
export const replayedTraces = new Set<string>();

/** Replays the trace at `path` (or these bytes) and asserts that nothing diverges. */
export function expectReplays(trace: string | Uint8Array): ReplayReport {
  const bytes = typeof trace === "string" ? new Uint8Array(readFileSync(trace)) : trace;
  if (typeof trace === "string") replayedTraces.add(trace);
  const report = replayTrace(bytes, testKernels);
  expect(report.divergence, formatReplayReport(report)).toBeNull();
  return report;
}
