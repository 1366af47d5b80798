// A seeded PRNG for workloads (xorshift32): the same seed, the same run.

let state: u32 = 1;

export function randomSeed(seed: u32): void {
  state = seed === 0 ? 0x9e3779b9 : seed;
}

export function randomU32(): u32 {
  let x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

/** Uniform in [0, n). */
export function randomBelow(n: u32): u32 {
  return <u32>((<u64>randomU32() * <u64>n) >> 32);
}
