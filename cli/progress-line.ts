// The line a long `tmemvm run` keeps at the bottom of a terminal: hypercalls made, their rate and
// the time so far, redrawn in place. Guest output goes above it: the line is cleared before any
// other text is written and drawn again after. Nothing is drawn for a short run (under
// SHOW_AFTER_MS), nor when stderr is not a terminal (a file or a pipe gets the run's output only).

/** A run shorter than this shows no line at all. */
const SHOW_AFTER_MS = 1000;
const REDRAW_MS = 250;

export interface ProgressStream {
  write(text: string): unknown;
}

export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private shown = "";
  private readonly started = performance.now();

  /** `hypercalls()` reads the running count (the worker's shared counter). */
  constructor(
    private readonly stream: ProgressStream,
    private readonly hypercalls: () => number,
  ) {
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
  }

  /** Writes `text` to `to` with the line out of the way, then puts it back. */
  around(to: ProgressStream, text: string): void {
    const line = this.shown;
    this.clear();
    to.write(text);
    if (line !== "") this.show(line);
  }

  /** Removes the line for good. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  private draw(): void {
    const ms = performance.now() - this.started;
    if (ms < SHOW_AFTER_MS) return;
    const n = this.hypercalls();
    const rate = Math.round(n / (ms / 1000));
    this.show(`running: ${n.toLocaleString("en-US")} hypercalls, ${rate.toLocaleString("en-US")}/s, ${(ms / 1000).toFixed(0)} s`);
  }

  private show(line: string): void {
    this.stream.write(`\r\x1b[2K${line}`);
    this.shown = line;
  }

  private clear(): void {
    if (this.shown === "") return;
    this.stream.write("\r\x1b[2K");
    this.shown = "";
  }
}
