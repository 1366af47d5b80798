// What the store needs from outside to keep a page compressed, and the zero-page test for page
// bytes that are not in a guest (a restore's, a READ/WRITE's composed page). The LZ4 kernel
// (kernels.ts) is the compressor the VMM gives the tmem core; guest RAM is scanned in place by
// the boundary, with the page-scan kernel.

/** An LZ4-style block codec, as the tmem core is given it (through its options). */
export interface PageCompressor {
  /** The block of `page`, or null if it would exceed `maxBytes`. A view: valid until the next call. */
  compress(page: Uint8Array, maxBytes: number): Uint8Array | null;
  /** Decompresses `block` into `dst`, exactly dst.length bytes; false if malformed. */
  decompressInto(block: Uint8Array, dst: Uint8Array): boolean;
}

/** True if every byte of `page` is zero. */
export function isZeroPage(page: Uint8Array): boolean {
  if ((page.byteOffset & 3) === 0 && (page.length & 3) === 0) {
    const words = new Int32Array(page.buffer, page.byteOffset, page.length >>> 2);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < page.length; i++) if (page[i] !== 0) return false;
  return true;
}
