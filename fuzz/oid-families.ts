// Families of object ids that collide under every key of a weakly keyed hash: what a guest that
// does not know the page index's hash key can still aim at it, if the key only seeds the hash.
//
// The page index hashes (pool, oid words) with Murmur3's block step (vmm/tmem/page-index.ts): per
// word m, k = rotl15(m * C1) * C2, h ^= k, h = rotl13(h) * 5 + N. A key that only seeds h (the
// weakened variant, seedKeyedHash below) leaves differentials that hold whatever h is: a state
// difference of 2^18 becomes 2^31 through rotl13, and 2^31 passes * 5 and + N unchanged (it is
// the top bit); a word whose k differs by 2^31 then cancels it. So across n words, at each but
// the last a member may inject 2^18 (or not), and each next word cancels what came before: 2^(n-1)
// oids with one hash under every seed, found without the key. A guest names six oid words (three
// 64-bit words, Xen 4.1+): 32 oids a family; a one-word legacy oid (two 32-bit halves): 2.
// The real index adds the key to every word before its multiplications, so k's differences, and
// these families, depend on the key. Built here from the algorithm alone (the attacker's
// knowledge), not from the VMM's code.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const N = 0xe6546b64;

const rotl = (x: number, r: number) => (x << r) | (x >>> (32 - r));
/** The multiplicative inverse of odd `c` mod 2^32 (Newton's iteration). */
function inverse(c: number): number {
  let x = c;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(c, x));
  return x;
}
const C1_INV = inverse(C1);
const C2_INV = inverse(C2);

/** Murmur3's word transform k(m), a bijection. */
const k = (m: number) => Math.imul(rotl(Math.imul(m, C1), 15), C2);
/** Its inverse: the word whose k is `x`. */
const unk = (x: number) => Math.imul(rotl(Math.imul(x, C2_INV), 17), C1_INV) >>> 0;

/**
 * The weakened hash: the page index's object hash with its key in the seed only (mixed with the
 * pool), not added to each word. Not the index's finaliser: a bijection, it changes no collision.
 */
export function seedKeyedHash(key: number, pool: number, words: ArrayLike<number>): number {
  let h = Math.imul(pool ^ key, C1);
  for (let i = 0; i < words.length; i++) {
    h ^= k(words[i]);
    h = (Math.imul(rotl(h, 13), 5) + N) | 0;
  }
  return h;
}

/** The 2^(n-1) members of the family around `base` (n words): each has the same seedKeyedHash as `base` under every key. */
export function collisionFamily(base: readonly number[]): number[][] {
  const n = base.length;
  const members: number[][] = [];
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const words: number[] = [];
    let carried = 0; // the state's difference from base's before this word
    for (let i = 0; i < n; i++) {
      const inject = i < n - 1 && (mask >> i) & 1 ? 1 << 18 : 0;
      words.push(unk(k(base[i]) ^ carried ^ inject));
      carried = inject ? 0x80000000 | 0 : 0;
    }
    members.push(words);
  }
  return members;
}

/** `count` families of `words`-word oids, their bases drawn from a fixed sequence (the fuzzers' own). */
export function collisionFamilies(count: number, words: number, seed = 0x5eed): number[][][] {
  let x = seed | 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  return Array.from({ length: count }, () => collisionFamily(Array.from({ length: words }, next)));
}
