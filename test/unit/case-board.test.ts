import { describe, expect, it } from "vitest";
import { CaseBoard, OVERSIZED } from "../../fuzz/case-board.js";

const outcome = (execs: number, hypercalls: number, covered = 0) => ({
  execs,
  hypercalls,
  failure: null,
  coverage: covered ? { covered, total: 100 } : undefined,
});

describe("a job's case board (shared by its worker and the campaign)", () => {
  it("shows the case running, with its input, to a reader on the same buffer", () => {
    const worker = new CaseBoard();
    const campaign = new CaseBoard(worker.buffer);
    expect(campaign.current()).toBeNull();
    expect(worker.begin(7, Uint8Array.from([1, 2, 3]), false, 4)).toBe(true);
    const c = campaign.current()!;
    expect(c).toMatchObject({ n: 7, quiet: false, corpusFile: 4, input: Uint8Array.from([1, 2, 3]) });
    expect(Date.now() - c.started).toBeLessThan(60000);
    worker.end(outcome(1, 9, 30));
    expect(campaign.current()).toBeNull();
    expect(campaign.corpusDone).toBe(5);
    expect(campaign.lastCase).toBe(7);
    expect(campaign.coverage).toEqual({ covered: 30, total: 100 });
  });

  it("counts only the job's own cases; a quiet run adds coverage, not cases", () => {
    const b = new CaseBoard();
    expect(b.firstStart).toBeNull();
    b.begin(0, null, true);
    b.end(outcome(1, 5, 10));
    expect(b.firstStart).toBeNull();
    expect(b.totals).toEqual({ cases: 0, execs: 0, hypercalls: 0 });
    expect(b.lastCase).toBe(-1);
    b.begin(2, null, false);
    expect(b.current()!.input).toBeNull();
    b.end(outcome(256, 256));
    b.begin(4, null, false);
    b.end(outcome(256, 250, 8));
    expect(b.totals).toEqual({ cases: 2, execs: 512, hypercalls: 506 });
    expect(b.lastCase).toBe(4);
    expect(b.firstStart).not.toBeNull();
    expect(b.coverage).toEqual({ covered: 10, total: 100 });
  });

  it("says when an input is too big for it, and a reader sees that instead of a cut-off input", () => {
    const b = new CaseBoard();
    expect(b.begin(3, new Uint8Array(64 * 1024 + 1), false)).toBe(false);
    expect(b.current()!.input).toBe(OVERSIZED);
    b.abandon();
    expect(b.current()).toBeNull();
  });

  it("counts the failures its worker posted", () => {
    const b = new CaseBoard();
    b.posted();
    b.posted();
    expect(new CaseBoard(b.buffer).failuresPosted).toBe(2);
  });
});
