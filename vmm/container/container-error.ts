// The one error a damaged or unreadable container file (a save file, a trace) is reported with,
// named by the byte offset of the first problem. Each format subclasses it (SaveFileError,
// TraceError) so callers can still tell which file failed.

export class ContainerError extends Error {
  /** `offset` null: the problem has no place in the file (it could not be written at all). */
  constructor(message: string, readonly offset: number | null) {
    super(offset === null ? message : `${message} (byte offset ${offset})`);
  }
}

/** How a format makes its own error class from the container's messages. */
export type ContainerErrorOf<E extends ContainerError> = (message: string, offset: number) => E;
