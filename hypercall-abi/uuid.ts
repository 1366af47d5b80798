// A pool's uuid: two 64-bit words, as struct tmem_op's creat.uuid holds them (uuid[0], uuid[1]).
// Inside the VMM it is a pair of bigints; the boundary reads it as four 32-bit halves and the
// save file and listings write it as hex: these are the only conversions.

export type PoolUuid = readonly [bigint, bigint];

/** From the four 32-bit halves the op reader copies out: uuid[0].lo, uuid[0].hi, uuid[1].lo, uuid[1].hi. */
export function uuidFromWords(w: ArrayLike<number>): [bigint, bigint] {
  return [BigInt(w[0] >>> 0) | (BigInt(w[1] >>> 0) << 32n), BigInt(w[2] >>> 0) | (BigInt(w[3] >>> 0) << 32n)];
}

/** The four 32-bit halves of `u`, as uuidFromWords takes them. */
export function uuidToWords(u: PoolUuid): Uint32Array {
  return Uint32Array.of(Number(u[0] & 0xffffffffn), Number(u[0] >> 32n), Number(u[1] & 0xffffffffn), Number(u[1] >> 32n));
}

/** Each word as hex without a prefix, as save files and listings write it. */
export function uuidToHex(u: PoolUuid): [string, string] {
  return [u[0].toString(16), u[1].toString(16)];
}

export function uuidFromHex(hex: readonly [string, string]): [bigint, bigint] {
  return [BigInt(`0x${hex[0]}`), BigInt(`0x${hex[1]}`)];
}
