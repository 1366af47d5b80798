// The deterministic scheduler: which domain runs next and for how many hypercalls, drawn from a
// seeded PRNG, so a run with the same seed interleaves the same way every time.

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Scheduler {
  private readonly random: () => number;

  constructor(
    readonly seed: number,
    /** Mean hypercalls per time slice; each slice is 1..2*quantum. */
    readonly quantum: number,
  ) {
    if (!Number.isInteger(quantum) || quantum < 1) throw new RangeError(`quantum must be a whole number >= 1, got ${quantum}`);
    this.random = seededRandom(seed);
  }

  /** Index of the next domain to run among `n` runnable ones. */
  pick(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Hypercalls the chosen domain may make before it is descheduled. */
  slice(): number {
    return 1 + Math.floor(this.random() * 2 * this.quantum);
  }
}
