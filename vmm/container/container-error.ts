// The one error a damaged or unreadable container file (a save file, a trace) is reported with,
// named by the byte offset of the first problem. Each format subclasses it (SaveFileError,
// TraceError) so callers can still tell which file failed.

export class ContainerError extends Error {
  /** The file the bytes came from, once a caller that knows it has named it (inFile). */
  file: string | null = null;

  /** `offset` null: the problem has no place in the file (it could not be written at all). */
  constructor(
    message: string,
    readonly offset: number | null,
  ) {
    super(offset === null ? message : `${message} (byte offset ${offset})`);
  }

  /** This error, its message now naming `file` first (the parser saw only bytes). */
  inFile(file: string): this {
    if (this.file === null) {
      this.file = file;
      this.message = `${file}: ${this.message}`;
    }
    return this;
  }
}

/** How a format makes its own error class from the container's messages. */
export type ContainerErrorOf<E extends ContainerError> = (message: string, offset: number) => E;
