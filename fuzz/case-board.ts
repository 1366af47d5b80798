// What a job's worker thread and the campaign share, in one SharedArrayBuffer: the case the worker
// is running (its number, when it began, its input) and the job's running totals. The worker
// writes it around every case; the campaign reads it when its watchdog looks. A message per case
// cost a short coverage input a tenth of its time (structured cloning on both threads), and the
// campaign needs the case only when it overruns its budget — when the worker, stuck in it, can
// no longer say anything. Messages remain for what is rare: a failure, the end.
import type { CaseOutcome } from "./case-executor.js";

/** Int32 slots. */
const N = 0;
const QUIET = 1;
const CORPUS_FILE = 2; // an index into the starting corpus; NOT_CORPUS, or FOUND_BY_RESCAN
const INPUT_LEN = 3; // -1: no input; OVERSIZED: sent as a message
const RUNNING = 4; // written last, so a reader that sees it set sees the rest
const CORPUS_DONE = 5; // corpus files below this index have run to their end (aloud or quietly)
const COVERED = 6;
const COUNTERS = 7;
const LAST_N = 8; // the last case of its own this job finished (-1: none)
const FAILURES = 9; // failures the worker has posted
/** Float64 slots, from byte 48. */
const F64_AT = 48;
const STARTED = 0; // Date.now() when the current case began
const FIRST_START = 1; // Date.now() when the job's first case of its own began (0: not yet)
const CASES = 2;
const EXECS = 3;
const HYPERCALLS = 4;
const INPUT_AT = 96;
/** Inputs up to this size are written to the board; a larger one is posted before it runs. */
const INPUT_CAP = 64 * 1024;
export const OVERSIZED = -2;
const NOT_CORPUS = -1;
/** A corpus file a job's worker found in the directory after it started (written by another job or tool). */
export const FOUND_BY_RESCAN = -3;

export interface BoardCase {
  n: number;
  quiet: boolean;
  /** The starting corpus's file index, or FOUND_BY_RESCAN; undefined for an input that is no corpus file. */
  corpusFile?: number;
  /** Null: no input (a generated case), or OVERSIZED: the one the worker posted. */
  input: Uint8Array | null | typeof OVERSIZED;
  /** Date.now() when it began. */
  started: number;
}

export class CaseBoard {
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly bytes: Uint8Array;

  /** A new board, or (given its buffer) the board another thread made. */
  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(INPUT_AT + INPUT_CAP);
    this.i32 = new Int32Array(this.buffer, 0, F64_AT / 4);
    this.f64 = new Float64Array(this.buffer, F64_AT, (INPUT_AT - F64_AT) / 8);
    this.bytes = new Uint8Array(this.buffer, INPUT_AT, INPUT_CAP);
    if (!buffer) {
      this.i32[CORPUS_FILE] = NOT_CORPUS;
      this.i32[LAST_N] = -1;
    }
  }

  // --- the worker's side ---

  /** Case `n` begins; returns false when its input is too big for the board (post it instead). */
  begin(n: number, input: Uint8Array | null, quiet: boolean, corpusFile?: number): boolean {
    const i = this.i32;
    const fits = input === null || input.length <= INPUT_CAP;
    i[N] = n;
    i[QUIET] = quiet ? 1 : 0;
    i[CORPUS_FILE] = corpusFile ?? NOT_CORPUS;
    i[INPUT_LEN] = input === null ? -1 : fits ? input.length : OVERSIZED;
    if (input !== null && fits) this.bytes.set(input);
    const now = Date.now();
    this.f64[STARTED] = now;
    if (!quiet && this.f64[FIRST_START] === 0) this.f64[FIRST_START] = now;
    Atomics.store(i, RUNNING, 1);
    return fits;
  }

  /** The current case ran to its end with this outcome. */
  end(outcome: CaseOutcome): void {
    const i = this.i32;
    const f = this.f64;
    if (i[CORPUS_FILE] >= 0) i[CORPUS_DONE] = Math.max(i[CORPUS_DONE], i[CORPUS_FILE] + 1);
    if (outcome.coverage && outcome.coverage.covered > i[COVERED]) {
      i[COVERED] = outcome.coverage.covered;
      i[COUNTERS] = outcome.coverage.total;
    }
    if (i[QUIET] === 0) {
      f[CASES]++;
      f[EXECS] += outcome.execs;
      f[HYPERCALLS] += outcome.hypercalls;
      i[LAST_N] = i[N];
    }
    Atomics.store(i, RUNNING, 0);
  }

  /** A failure has been posted (the campaign waits for every one before it stops the job). */
  posted(): void {
    Atomics.add(this.i32, FAILURES, 1);
  }

  // --- the campaign's side ---

  /** The worker that ran the current case is gone (overran or died): nothing is running. */
  abandon(): void {
    Atomics.store(this.i32, RUNNING, 0);
  }

  get failuresPosted(): number {
    return Atomics.load(this.i32, FAILURES);
  }

  /** The case running now, or null between cases. */
  current(): BoardCase | null {
    const i = this.i32;
    if (Atomics.load(i, RUNNING) === 0) return null;
    const len = i[INPUT_LEN];
    return {
      n: i[N],
      quiet: i[QUIET] === 1,
      corpusFile: i[CORPUS_FILE] === NOT_CORPUS ? undefined : i[CORPUS_FILE],
      input: len === -1 ? null : len === OVERSIZED ? OVERSIZED : this.bytes.slice(0, len),
      started: this.f64[STARTED],
    };
  }

  get totals(): { cases: number; execs: number; hypercalls: number } {
    return { cases: this.f64[CASES], execs: this.f64[EXECS], hypercalls: this.f64[HYPERCALLS] };
  }

  /** Date.now() when the job's first case of its own began, or null. */
  get firstStart(): number | null {
    return this.f64[FIRST_START] === 0 ? null : this.f64[FIRST_START];
  }

  get coverage(): { covered: number; total: number } | undefined {
    return this.i32[COUNTERS] === 0 ? undefined : { covered: this.i32[COVERED], total: this.i32[COUNTERS] };
  }

  /** The last case of its own the job finished, or -1. */
  get lastCase(): number {
    return this.i32[LAST_N];
  }

  get corpusDone(): number {
    return this.i32[CORPUS_DONE];
  }
}
