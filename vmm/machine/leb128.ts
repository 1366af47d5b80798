// Unsigned LEB128, the variable-length integers of the Wasm binary format.
import { WasmFormatError } from "./wasm-module-info.js";

/** `n` (a whole number below 2^32) as unsigned LEB128 bytes. */
export function uleb128(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** The unsigned LEB128 (at most 32 bits) at `pos` of `bytes`, and the position after it. */
export function readUleb128(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= bytes.length) throw new WasmFormatError(`unexpected end of file at byte ${pos}`);
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new WasmFormatError(`LEB128 too long at byte ${pos}`);
}
