// The .tmtr trace format: every hypercall of a run, enough to re-execute it against a fresh VMM
// with no guest. Little-endian throughout; every part carries a CRC-32 so corruption is found
// and named by byte offset.
//
//   header   "TMTR"  u16 version  u16 reserved(0)  u32 metaLen  meta (UTF-8 JSON)  u32 crc32
//   records  u32 bodyLen  body[bodyLen]  u32 crc32(body)           (repeated)
//   body     u8 kind ...
//     kind 1, hypercall:  u32 domid  i32 regs[12]  i32 result
//                         u8 nIn  region[nIn]   (guest memory before the call: the op struct,
//                                                a put's source frame, a restore's buffer)
//                         u8 nOut region[nOut]  (guest memory after it: a get's frame, a
//                                                control op's output buffer)
//     region: u32 addrLo  u32 addrHi  u32 len  bytes[len]
//     kind 255, end:       u32 records  (its absence means the trace was cut short)
import { crc32 } from "node:zlib";

export const TRACE_MAGIC = "TMTR";
export const TRACE_VERSION = 1;
export const RECORD_HYPERCALL = 1;
export const RECORD_END = 255;

export interface TraceDomain {
  domid: number;
  name: string;
  layout: string;
  ramMiB: number;
  privileged: boolean;
}

export interface TraceMeta {
  tmemMiB: number;
  domains: TraceDomain[];
}

export interface Region {
  /** Guest address (a 64-bit value that fit a JS number exactly). */
  addr: number;
  bytes: Uint8Array;
}

export interface HypercallRecord {
  domid: number;
  regs: Int32Array;
  result: number;
  inputs: Region[];
  outputs: Region[];
}

export class TraceError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (byte offset ${offset})`);
  }
}

const checksum = (b: Uint8Array): number => crc32(b) >>> 0;

export function encodeHeader(meta: TraceMeta): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(12 + json.length + 4);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(TRACE_MAGIC), 0);
  v.setUint16(4, TRACE_VERSION, true);
  v.setUint16(6, 0, true);
  v.setUint32(8, json.length, true);
  out.set(json, 12);
  v.setUint32(12 + json.length, checksum(out.subarray(0, 12 + json.length)), true);
  return out;
}

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length + 4);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length, true);
  out.set(body, 4);
  v.setUint32(4 + body.length, checksum(body), true);
  return out;
}

export function encodeHypercall(r: HypercallRecord): Uint8Array {
  const regionBytes = (rs: Region[]) => rs.reduce((n, x) => n + 12 + x.bytes.length, 0);
  const body = new Uint8Array(1 + 4 + 48 + 4 + 1 + regionBytes(r.inputs) + 1 + regionBytes(r.outputs));
  const v = new DataView(body.buffer);
  let p = 0;
  v.setUint8(p, RECORD_HYPERCALL);
  v.setUint32(p + 1, r.domid, true);
  p += 5;
  for (let i = 0; i < 12; i++, p += 4) v.setInt32(p, r.regs[i], true);
  v.setInt32(p, r.result, true);
  p += 4;
  for (const rs of [r.inputs, r.outputs]) {
    v.setUint8(p++, rs.length);
    for (const x of rs) {
      v.setUint32(p, x.addr % 2 ** 32, true);
      v.setUint32(p + 4, Math.floor(x.addr / 2 ** 32), true);
      v.setUint32(p + 8, x.bytes.length, true);
      body.set(x.bytes, p + 12);
      p += 12 + x.bytes.length;
    }
  }
  return frame(body);
}

export function encodeEnd(records: number): Uint8Array {
  const body = new Uint8Array(5);
  body[0] = RECORD_END;
  new DataView(body.buffer).setUint32(1, records, true);
  return frame(body);
}

export interface DecodedRecord {
  /** Byte offset of the record in the file, for messages. */
  offset: number;
  /** 1-based position among the hypercall records. */
  number: number;
  record: HypercallRecord;
}

/** Parses a whole trace; throws TraceError naming the byte offset of the first problem. */
export function decodeTrace(file: Uint8Array): { meta: TraceMeta; records: DecodedRecord[] } {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 4 || new TextDecoder().decode(file.subarray(0, 4)) !== TRACE_MAGIC) throw new TraceError("not a tmemvm trace (no TMTR magic)", 0);
  if (file.length < 16) throw new TraceError("truncated header", file.length);
  const version = v.getUint16(4, true);
  if (version !== TRACE_VERSION) throw new TraceError(`trace version ${version} is not supported (this tmemvm reads version ${TRACE_VERSION})`, 4);
  const metaLen = v.getUint32(8, true);
  if (12 + metaLen + 4 > file.length) throw new TraceError("truncated header", file.length);
  if (v.getUint32(12 + metaLen, true) !== checksum(file.subarray(0, 12 + metaLen))) throw new TraceError("header checksum mismatch", 12 + metaLen);
  let meta: TraceMeta;
  try {
    meta = JSON.parse(new TextDecoder().decode(file.subarray(12, 12 + metaLen))) as TraceMeta;
  } catch {
    throw new TraceError("header metadata is not valid JSON", 12);
  }
  const records: DecodedRecord[] = [];
  let p = 12 + metaLen + 4;
  for (;;) {
    const at = p;
    if (p === file.length) throw new TraceError(`truncated: the trace ends after record ${records.length} without its end record`, p);
    if (p + 4 > file.length) throw new TraceError(`truncated in the length of record ${records.length + 1}`, p);
    const len = v.getUint32(p, true);
    if (p + 4 + len + 4 > file.length) throw new TraceError(`truncated inside record ${records.length + 1}`, p);
    const body = file.subarray(p + 4, p + 4 + len);
    if (v.getUint32(p + 4 + len, true) !== checksum(body)) throw new TraceError(`checksum mismatch in record ${records.length + 1}`, at);
    p += 4 + len + 4;
    if (len < 1) throw new TraceError(`empty record ${records.length + 1}`, at);
    if (body[0] === RECORD_END) {
      if (len !== 5) throw new TraceError("malformed end record", at);
      const count = new DataView(body.buffer, body.byteOffset).getUint32(1, true);
      if (count !== records.length) throw new TraceError(`end record counts ${count} records, the trace holds ${records.length}`, at);
      if (p !== file.length) throw new TraceError("data after the end record", p);
      return { meta, records };
    }
    if (body[0] !== RECORD_HYPERCALL) throw new TraceError(`unknown record kind ${body[0]} in record ${records.length + 1}`, at);
    records.push({ offset: at, number: records.length + 1, record: decodeHypercall(body, at) });
  }
}

function decodeHypercall(body: Uint8Array, at: number): HypercallRecord {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const need = (p: number, n: number) => {
    if (p + n > body.length) throw new TraceError("malformed hypercall record", at);
  };
  need(0, 58);
  const domid = v.getUint32(1, true);
  const regs = new Int32Array(12);
  for (let i = 0; i < 12; i++) regs[i] = v.getInt32(5 + 4 * i, true);
  const result = v.getInt32(53, true);
  let p = 57;
  const lists: Region[][] = [];
  for (let k = 0; k < 2; k++) {
    need(p, 1);
    const n = body[p++];
    const list: Region[] = [];
    for (let i = 0; i < n; i++) {
      need(p, 12);
      const addr = v.getUint32(p, true) + v.getUint32(p + 4, true) * 2 ** 32;
      const len = v.getUint32(p + 8, true);
      need(p + 12, len);
      list.push({ addr, bytes: body.slice(p + 12, p + 12 + len) });
      p += 12 + len;
    }
    lists.push(list);
  }
  if (p !== body.length) throw new TraceError("malformed hypercall record (trailing bytes)", at);
  return { domid, regs, result, inputs: lists[0], outputs: lists[1] };
}
