// The per-page hot loops, in Wasm: fill with a seeded pattern, compare, checksum.
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants";
import { pfnToAddr } from "./frames";

/** Fills frame `pfn` with a pattern derived from `seed` (xorshift64*, one word per 8 bytes). */
export function pageFill(pfn: u32, seed: u64): void {
  let p = pfnToAddr(pfn);
  const end = p + TMEM_PAGE_SIZE;
  let x = seed ^ 0x9e3779b97f4a7c15;
  if (x === 0) x = 1;
  while (p < end) {
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    store<u64>(p, x * 0x2545f4914f6cdd1d);
    p += 8;
  }
}

/** Fills frame `pfn` with one byte value. */
export function pageSet(pfn: u32, value: u8): void {
  memory.fill(pfnToAddr(pfn), value, TMEM_PAGE_SIZE);
}

export function pageCopy(dstPfn: u32, srcPfn: u32): void {
  memory.copy(pfnToAddr(dstPfn), pfnToAddr(srcPfn), TMEM_PAGE_SIZE);
}

/** True if the two frames hold the same bytes. */
export function pageEqual(a: u32, b: u32): bool {
  let p = pfnToAddr(a);
  let q = pfnToAddr(b);
  const end = p + TMEM_PAGE_SIZE;
  while (p < end) {
    if (v128.any_true(v128.xor(v128.load(p), v128.load(q)))) return false;
    p += 16;
    q += 16;
  }
  return true;
}

/** True if frame `pfn` holds exactly pageFill(pfn, seed)'s pattern. */
export function pageHasPattern(pfn: u32, seed: u64): bool {
  let p = pfnToAddr(pfn);
  const end = p + TMEM_PAGE_SIZE;
  let x = seed ^ 0x9e3779b97f4a7c15;
  if (x === 0) x = 1;
  while (p < end) {
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    if (load<u64>(p) !== x * 0x2545f4914f6cdd1d) return false;
    p += 8;
  }
  return true;
}

/** A 64-bit checksum of the frame (FNV-1a over 64-bit words). */
export function pageChecksum(pfn: u32): u64 {
  let p = pfnToAddr(pfn);
  const end = p + TMEM_PAGE_SIZE;
  let h: u64 = 0xcbf29ce484222325;
  while (p < end) {
    h = (h ^ load<u64>(p)) * 0x100000001b3;
    p += 8;
  }
  return h;
}

const WORDS = "tmem page pool object index guest frame xen put get flush ephemeral persistent shared private cache ";

/** Fills frame `pfn` with text-like data derived from `seed`: what a file's pages hold. */
export function pageFillText(pfn: u32, seed: u64): void {
  let p = pfnToAddr(pfn);
  const end = p + TMEM_PAGE_SIZE;
  let x: u32 = <u32>(seed ^ (seed >> 32)) | 1;
  const words = changetype<usize>(WORDS);
  const len = <u32>WORDS.length;
  while (p < end) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    // Copy one word (UTF-16 in AssemblyScript strings: take the low bytes) starting at a space.
    let i = x % len;
    while (i > 0 && load<u16>(words + (<usize>(i - 1) << 1)) !== 32) i--;
    do {
      const c = load<u16>(words + (<usize>i << 1));
      store<u8>(p++, <u8>c);
      i++;
      if (c === 32 || p >= end) break;
    } while (i < len);
  }
}
