// LZ4 block format (the format of the LZ4 reference implementation's LZ4_compress_default and
// LZ4_decompress_safe), written from the format's description. The VMM copies a page in at
// INPUT, calls compress or decompress, and copies the result out from OUTPUT. Compiled by asc
// into build/kernels/lz4.wasm, with its own memory.
//
// A block is a series of sequences: token (high 4 bits literal length, low 4 bits match length
// - 4; 15 means "more bytes follow, each adding up to 255"), the literals, a 2-byte little-endian
// match offset, the extra match-length bytes. The last sequence is literals only; the last match
// starts at least 12 bytes before the end and the last 5 bytes are always literals.

const MIN_MATCH: u32 = 4;
const LAST_LITERALS: u32 = 5;
const MF_LIMIT: u32 = 12;
const HASH_LOG: u32 = 12;
const MAX_OFFSET: u32 = 65535;
const SKIP_TRIGGER: u32 = 6;

/** Buffers: input page(s), output, and the compressor's hash table, in this module's memory. */
export const INPUT: usize = 0x10000;
export const OUTPUT: usize = 0x20000;
const TABLE: usize = 0x30000;
export const BUFFER_BYTES: u32 = 0x10000;

// @ts-ignore: decorator
@inline function hash4(v: u32): u32 {
  return (v * 2654435761) >> (32 - HASH_LOG);
}

// @ts-ignore: decorator
@inline function writeLength(op: usize, n: u32): usize {
  while (n >= 255) {
    store<u8>(op++, 255);
    n -= 255;
  }
  store<u8>(op++, <u8>n);
  return op;
}

/**
 * Compresses `srcLen` bytes at `src` into at most `dstCap` bytes at `dst`; returns the block's
 * length, or 0 if it does not fit.
 */
export function compress(src: usize, srcLen: u32, dst: usize, dstCap: u32): u32 {
  const dstEnd = dst + dstCap;
  let op = dst;
  let anchor = src;
  const end = src + srcLen;
  if (srcLen >= MF_LIMIT + 1) {
    // The table holds position + 1 of the last 4-byte sequence with each hash; 0 = none yet.
    memory.fill(TABLE, 0, (1 << HASH_LOG) * 4);
    const matchLimit = end - LAST_LITERALS;
    const inputLimit = end - MF_LIMIT;
    let ip = src + 1;
    let searches: u32 = 1 << SKIP_TRIGGER;
    while (ip < inputLimit) {
      const seq = load<u32>(ip);
      const slot = TABLE + (hash4(seq) << 2);
      const cand = load<u32>(slot);
      store<u32>(slot, <u32>(ip - src) + 1);
      let ref = src + cand - 1;
      if (cand === 0 || ip - ref > MAX_OFFSET || load<u32>(ref) !== seq) {
        // Step faster through data that does not compress, as the reference compressor does.
        ip += searches++ >> SKIP_TRIGGER;
        continue;
      }
      searches = 1 << SKIP_TRIGGER;
      // Extend the match backwards over pending literals, then forwards.
      while (ip > anchor && ref > src && load<u8>(ip - 1) === load<u8>(ref - 1)) {
        ip--;
        ref--;
      }
      let mp = ref + MIN_MATCH;
      let sp = ip + MIN_MATCH;
      while (sp < matchLimit && load<u8>(sp) === load<u8>(mp)) {
        sp++;
        mp++;
      }
      const litLen = <u32>(ip - anchor);
      const matchLen = <u32>(sp - ip) - MIN_MATCH;
      // token + literal length bytes + literals + offset + match length bytes
      if (op + 1 + litLen / 255 + 1 + litLen + 2 + matchLen / 255 + 1 > dstEnd) return 0;
      const token = op++;
      let t: u32 = 0;
      if (litLen >= 15) {
        t = 15 << 4;
        op = writeLength(op, litLen - 15);
      } else {
        t = litLen << 4;
      }
      memory.copy(op, anchor, litLen);
      op += litLen;
      store<u16>(op, <u16>(ip - ref));
      op += 2;
      if (matchLen >= 15) {
        t |= 15;
        op = writeLength(op, matchLen - 15);
      } else {
        t |= matchLen;
      }
      store<u8>(token, <u8>t);
      ip = sp;
      anchor = ip;
      if (ip < inputLimit) store<u32>(TABLE + (hash4(load<u32>(ip - 2)) << 2), <u32>(ip - 2 - src) + 1);
    }
  }
  // The last literals.
  const litLen = <u32>(end - anchor);
  if (op + 1 + litLen / 255 + 1 + litLen > dstEnd) return 0;
  const token = op++;
  if (litLen >= 15) {
    store<u8>(token, 15 << 4);
    op = writeLength(op, litLen - 15);
  } else {
    store<u8>(token, <u8>(litLen << 4));
  }
  memory.copy(op, anchor, litLen);
  op += litLen;
  return <u32>(op - dst);
}

/**
 * Decompresses the block of `srcLen` bytes at `src` into at most `dstCap` bytes at `dst`;
 * returns the decompressed length, or -1 for a malformed block (never reads or writes outside
 * the two buffers).
 */
export function decompress(src: usize, srcLen: u32, dst: usize, dstCap: u32): i32 {
  let ip = src;
  const ipEnd = src + srcLen;
  let op = dst;
  const opEnd = dst + dstCap;
  if (srcLen === 0) return -1;
  for (;;) {
    if (ip >= ipEnd) return -1;
    const token = <u32>load<u8>(ip++);
    let litLen = token >> 4;
    if (litLen === 15) {
      let b: u32 = 255;
      while (b === 255) {
        if (ip >= ipEnd) return -1;
        b = load<u8>(ip++);
        litLen += b;
      }
    }
    if (<u64>ip + litLen > <u64>ipEnd || <u64>op + litLen > <u64>opEnd) return -1;
    // Short runs (most of them) go as one 16-byte copy when both buffers have room for it.
    if (litLen <= 16 && ip + 16 <= ipEnd && op + 16 <= opEnd) v128.store(op, v128.load(ip));
    else memory.copy(op, ip, litLen);
    ip += litLen;
    op += litLen;
    if (ip === ipEnd) return <i32>(op - dst); // the last sequence has no match
    if (ip + 2 > ipEnd) return -1;
    const offset = <u32>load<u16>(ip);
    ip += 2;
    if (offset === 0 || <usize>offset > op - dst) return -1;
    let matchLen = (token & 15) + MIN_MATCH;
    if ((token & 15) === 15) {
      let b: u32 = 255;
      while (b === 255) {
        if (ip >= ipEnd) return -1;
        b = load<u8>(ip++);
        matchLen += b;
      }
    }
    if (<u64>op + matchLen > <u64>opEnd) return -1;
    // A match may overlap what it produces (offset < length): the output then repeats with
    // period `offset`, so copy from the match start in chunks that double, never overlapping.
    const start = op - offset;
    if (offset >= 16 && matchLen <= 16 && op + 16 <= opEnd) {
      v128.store(op, v128.load(start));
      op += matchLen;
      continue;
    }
    let left = matchLen;
    while (left > 0) {
      const n = min(left, <u32>(op - start));
      memory.copy(op, start, n);
      op += n;
      left -= n;
    }
  }
  return -1; // not reached: the loop returns
}
