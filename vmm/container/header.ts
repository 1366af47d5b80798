// The header both container files start with, save files (.tmsv) and traces (.tmtr):
//
//   "TMSV" | "TMTR"   u16 version   u16 reserved(0)   u32 metaLen   meta (UTF-8 JSON object)
//   u32 crc32(everything before it)
//
// Little-endian. What follows is the format's own (a save file's pages, a trace's records).
import { sealAt, checkSeal } from "./checksum.js";
import type { ContainerError, ContainerErrorOf } from "./container-error.js";

const FIXED_BYTES = 12;
const SEAL_BYTES = 4;
const utf8 = new TextEncoder();

export interface ContainerKind<E extends ContainerError> {
  /** Four ASCII characters. */
  magic: string;
  /** What a file of this kind is called in "not a … (no … magic)". */
  noun: string;
  /** Why a file of this version cannot be read, or null if it can. */
  refuseVersion(version: number): string | null;
  error: ContainerErrorOf<E>;
}

export interface ContainerHeader {
  version: number;
  meta: Record<string, unknown>;
  /** Byte offset of what follows the header. */
  end: number;
}

export function encodeHeader(magic: string, version: number, meta: unknown): Uint8Array {
  const json = utf8.encode(JSON.stringify(meta));
  const out = new Uint8Array(FIXED_BYTES + json.length + SEAL_BYTES);
  const v = new DataView(out.buffer);
  out.set(utf8.encode(magic), 0);
  v.setUint16(4, version, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, json.length, true);
  out.set(json, FIXED_BYTES);
  sealAt(out, 0, FIXED_BYTES + json.length);
  return out;
}

/** True if `file` is shorter than a magic and agrees with it as far as it goes (empty included). */
export function isCutInMagic(file: Uint8Array, magic: string): boolean {
  return file.length < magic.length && new TextDecoder().decode(file) === magic.slice(0, file.length);
}

/** Reads and checks the header; throws the kind's error at the first problem. */
export function readHeader<E extends ContainerError>(file: Uint8Array, kind: ContainerKind<E>): ContainerHeader {
  const fail = kind.error;
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 4 || new TextDecoder().decode(file.subarray(0, 4)) !== kind.magic)
    throw fail(`not a ${kind.noun} (no ${kind.magic} magic)`, 0);
  if (file.length < FIXED_BYTES + SEAL_BYTES) throw fail("truncated header", file.length);
  const version = v.getUint16(4, true);
  const refused = kind.refuseVersion(version);
  if (refused !== null) throw fail(refused, 4);
  const metaEnd = FIXED_BYTES + v.getUint32(8, true);
  if (metaEnd + SEAL_BYTES > file.length) throw fail("truncated header", file.length);
  checkSeal(file, 0, metaEnd, "header", fail);
  let meta: unknown;
  try {
    meta = JSON.parse(new TextDecoder().decode(file.subarray(FIXED_BYTES, metaEnd)));
  } catch {
    throw fail("header metadata is not valid JSON", FIXED_BYTES);
  }
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) throw fail("header metadata is not a JSON object", FIXED_BYTES);
  return { version, meta: meta as Record<string, unknown>, end: metaEnd + SEAL_BYTES };
}
