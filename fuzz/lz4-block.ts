// An LZ4 block checked against the format, written from the format's description (the LZ4 block
// format document), never from the compressor or decoder it checks (vmm/store/kernels/lz4.ts).
// A decoder accepts more than the format allows: a block whose last match runs into the final
// bytes decodes to the right page through tmemvm's decoder and through the reference one, and
// only a check of the format's end-of-block rules sees it. Those rules, for a block that
// decodes to N bytes:
//   - the last sequence is literals only: the block ends right after its literals;
//   - the last match starts at least 12 bytes (MFLIMIT) before the end: no match starts past N - 12;
//   - the last 5 bytes (LASTLITERALS) are literals: no match ends past N - 5;
//   - so an input shorter than 13 bytes is one sequence of literals.
// Besides those: every length fits the block, no offset is 0 or reaches before the output's
// start, the last token's match nibble is 0, and the block decodes to the bytes it was made from.
//
// Here rather than in the VMM: the VMM decompresses only blocks it made itself (a save file and
// a trace carry pages, never blocks), so checking its own output on every put would cost the hot
// path and guard nothing from outside. The fuzzers (shipped with the CLI) and the tests check
// every block the compressor writes; fuzz/ is where both can import it from.

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
/** Where blocks are decoded (grown to the largest asked for; nothing allocated per block). */
let scratch = new Uint8Array(4096);

/** What is wrong with `block` as an LZ4 block of `original` (or of anything, without it), or null. */
export function lz4BlockProblem(block: Uint8Array, original?: Uint8Array): string | null {
  const cap = original ? original.length : 1 << 16;
  if (scratch.length < cap) scratch = new Uint8Array(cap);
  const out = scratch;
  const len = block.length;
  let ip = 0;
  let op = 0;
  let lastMatchStart = -1;
  let lastMatchEnd = -1;
  let sequences = 0;
  const length = (base: number): number => {
    let n = base;
    if (base !== 15) return n;
    for (;;) {
      if (ip >= len) return -1;
      const b = block[ip++];
      n += b;
      if (b !== 255) return n;
    }
  };
  for (;;) {
    if (ip >= len)
      return sequences === 0
        ? "an empty block (even an empty input takes one token)"
        : `the last sequence (at byte ${lastMatchEnd < 0 ? 0 : ip}) ends with a match: the last sequence must be literals only`;
    const tokenAt = ip;
    const token = block[ip++];
    sequences++;
    const lit = length(token >> 4);
    if (lit < 0) return `the literal length of the sequence at byte ${tokenAt} runs past the block's end`;
    if (ip + lit > len) return `the sequence at byte ${tokenAt} has ${lit} literals, past the block's end`;
    if (op + lit > cap) return `the block decodes to more than ${cap} bytes`;
    out.set(block.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === len) {
      if ((token & 15) !== 0)
        return `the last token (at byte ${tokenAt}) has match nibble ${token & 15}: the last sequence is literals only`;
      break;
    }
    if (ip + 2 > len) return `the sequence at byte ${tokenAt} ends inside its match offset`;
    const offset = block[ip] | (block[ip + 1] << 8);
    ip += 2;
    if (offset === 0) return `the sequence at byte ${tokenAt} has match offset 0`;
    if (offset > op)
      return `the sequence at byte ${tokenAt} has a match ${offset} bytes back at output byte ${op}, before the output's start`;
    const m = length(token & 15);
    if (m < 0) return `the match length of the sequence at byte ${tokenAt} runs past the block's end`;
    const matchLen = m + MIN_MATCH;
    if (op + matchLen > cap) return `the block decodes to more than ${cap} bytes`;
    // A match may overlap its own output (offset < length): then byte by byte, in order.
    if (offset >= matchLen) out.copyWithin(op, op - offset, op - offset + matchLen);
    else for (let i = 0; i < matchLen; i++) out[op + i] = out[op - offset + i];
    lastMatchStart = op;
    op += matchLen;
    lastMatchEnd = op;
  }
  const n = op;
  if (lastMatchStart >= 0) {
    if (n < MF_LIMIT + 1) return `a block of ${n} bytes has a match: an input shorter than ${MF_LIMIT + 1} bytes is literals only`;
    if (lastMatchStart > n - MF_LIMIT)
      return `the last match starts at byte ${lastMatchStart} of ${n}, less than ${MF_LIMIT} bytes before the end`;
    if (lastMatchEnd > n - LAST_LITERALS)
      return `the last match ends at byte ${lastMatchEnd} of ${n}: the last ${LAST_LITERALS} bytes must be literals`;
  }
  if (original) {
    if (n !== original.length) return `the block decodes to ${n} bytes, not the ${original.length} it was made from`;
    if (Buffer.compare(out.subarray(0, n), original) !== 0) {
      for (let i = 0; i < n; i++)
        if (out[i] !== original[i]) return `the block decodes to other bytes than it was made from (first difference at byte ${i})`;
    }
  }
  return null;
}

/** What the fuzzers' and tests' compressors are: the VMM's PageCompressor, structurally. */
export interface BlockCompressor {
  compress(page: Uint8Array, maxBytes: number): Uint8Array | null;
  decompressInto(block: Uint8Array, dst: Uint8Array): boolean;
}

/**
 * `inner`, with every block it writes checked by lz4BlockProblem; `onProblem` hears of each block
 * that breaks the format (the block is still returned, so the run goes on as the compressor made it).
 */
export function checkedCompressor(inner: BlockCompressor, onProblem: (problem: string) => void): BlockCompressor {
  return {
    compress(page, maxBytes) {
      const block = inner.compress(page, maxBytes);
      if (block !== null) {
        const p = lz4BlockProblem(block, page);
        if (p) onProblem(`LZ4 block of a ${page.length}-byte page (${block.length} bytes): ${p}`);
      }
      return block;
    },
    decompressInto: (block, dst) => inner.decompressInto(block, dst),
  };
}
