// The one line between a guest's crash and the VMM's own: an exception that host code throws
// inside the hypercall import is not the guest's doing. Guest mistakes come back as errnos and
// never throw, so such an exception means a host invariant broke; the tmem every guest shares may
// be inconsistent from then on, so the whole VMM stops, loudly, and no guest is blamed.

export class HostInvariantError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HostInvariantError";
  }
}

/** `e`, thrown by host code while it served `domain`'s hypercall, as a broken host invariant. */
export function hostFault(domainName: string, e: unknown): HostInvariantError {
  if (e instanceof HostInvariantError) return e;
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new HostInvariantError(`broken host invariant in the hypercall of domain ${domainName}: ${what}`, { cause: e });
}
