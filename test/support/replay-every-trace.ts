// Set-up for every test file: each trace a recorder of this process closes during a test is
// replayed after it, and must show no divergence (unless the test replayed it itself).
import { afterAll, afterEach } from "vitest";
import { closedTraces } from "../../vmm/platform/files.js";
import { expectReplays, replayedTraces } from "./replay-check.js";

const closed: string[] = [];
closedTraces.add((path) => closed.push(path));

function replayAll(): void {
  for (const path of closed.splice(0)) if (!replayedTraces.delete(path)) expectReplays(path);
}

afterEach(replayAll);
afterAll(replayAll);
