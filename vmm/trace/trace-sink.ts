// Where a recorder's bytes go: a file in Node (vmm/platform/files.ts), memory in a browser page.

export interface TraceSink {
  /** What messages call the trace (a file's path). */
  readonly name: string;
  /** `bytes` are the recorder's to reuse once this returns: a sink that keeps them keeps a copy. */
  write(bytes: Uint8Array): void;
  close(): void;
  /**
   * Calls `f` if the program ends before close() (a file: the process exits), so that the trace
   * still gets its end record; returns what undoes it.
   */
  onAbandon?(f: () => void): () => void;
}

/** A trace kept in memory: bytes() is the whole .tmtr once the recorder has closed it. */
export class MemoryTraceSink implements TraceSink {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes written so far (a display shows how much memory the trace holds). */
  sizeBytes = 0;
  constructor(readonly name = "trace.tmtr") {}

  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.sizeBytes += bytes.length;
  }

  close(): void {}

  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
