// The CRC-32 seals of a container: a u32 (little-endian) right after the bytes it covers. Written
// and checked here, so a save file's header, its page block and a trace's header and records are
// sealed one way and a mismatch is worded one way.
import { crc32 } from "./crc32.js";
import type { ContainerError, ContainerErrorOf } from "./container-error.js";

/** Writes the CRC-32 of out[from, at) at `at`. */
export function sealAt(out: Uint8Array, from: number, at: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(at, crc32(out.subarray(from, at)), true);
}

/** True if the u32 at `at` is the CRC-32 of file[from, at). */
export function sealHolds(file: Uint8Array, from: number, at: number): boolean {
  return new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(at, true) === crc32(file.subarray(from, at));
}

/** Checks the seal at `at` over file[from, at): "`what` checksum mismatch" at `at` if it fails. */
export function checkSeal<E extends ContainerError>(
  file: Uint8Array,
  from: number,
  at: number,
  what: string,
  error: ContainerErrorOf<E>,
): void {
  if (!sealHolds(file, from, at)) throw error(`${what} checksum mismatch`, at);
}

/** A length-prefixed sealed record: u32 bodyLen, body, u32 crc32(body). */
export function encodeRecord(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length + 4);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  sealAt(out, 4, 4 + body.length);
  return out;
}

/**
 * The body of the sealed record at `at` (`what` names it in messages) and where the next begins;
 * a record cut short or whose seal fails is reported at its start.
 */
export function readRecord<E extends ContainerError>(
  file: Uint8Array,
  at: number,
  what: string,
  error: ContainerErrorOf<E>,
): { body: Uint8Array; next: number } {
  if (at + 4 > file.length) throw error(`truncated in the length of ${what}`, at);
  const len = new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(at, true);
  if (at + 4 + len + 4 > file.length) throw error(`truncated inside ${what}`, at);
  if (!sealHolds(file, at + 4, at + 4 + len)) throw error(`checksum mismatch in ${what}`, at);
  return { body: file.subarray(at + 4, at + 4 + len), next: at + 4 + len + 4 };
}
