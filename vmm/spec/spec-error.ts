// A mistake in a machine description, wherever it was written: a flag, a config file, an API call
// or the page's form. It carries where it came from, the key and the offending value, so the
// same mistake reads the same from every front end, named as its author wrote it.

/** A value as the message shows it: text quoted when it came as a string in an object, as typed on a command line otherwise. */
export function shownValue(value: unknown, typed = false): string {
  if (typed && typeof value === "string") return value;
  if (value === undefined) return "nothing";
  if (typeof value === "number") return String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export class SpecError extends Error {
  constructor(
    /** Where the description came from: a flag (`--mem`), a file (`cfg.json`), `spec`, `page`. */
    readonly source: string,
    /** The key inside it (`guests[1].ramMiB`), or "" for a flag. */
    readonly key: string,
    /** The value that was refused, as it was given. */
    readonly value: unknown,
    message: string,
  ) {
    super(message);
    this.name = "SpecError";
  }
}
