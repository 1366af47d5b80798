// "1 pool", "2 pools": a count and its noun, as every message prints them.

/** `n` and `noun`, plural unless n is 1 (`plural` for nouns not made with -s). */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
