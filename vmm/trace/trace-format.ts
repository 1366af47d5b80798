// The .tmtr trace format: every hypercall of a run and every host event that decides a result
// (a domain created with its policy, a policy change, a control action, a domain's end, the
// scheduler's choices), in the order they happened, enough to re-execute the run against a fresh
// VMM with no guest. Little-endian throughout; every part carries a CRC-32 so corruption is
// found and named by byte offset.
//
//   header   "TMTR"  u16 version  u16 reserved(0)  u32 metaLen  meta (UTF-8 JSON)  u32 crc32
//   records  u32 bodyLen  body[bodyLen]  u32 crc32(body)           (repeated)
//   (the header and the sealed records are vmm/container's, shared with save files)
//   body     u8 kind ...
//     kind 1, hypercall:  u8 flags (bit 0: made in a slice the scheduler gave this domain)
//                         u32 domid  i32 regs[12]  i32 result
//                         u8 nIn  region[nIn]   (guest memory before the call: the op struct,
//                                                a put's source frame, a restore's buffer)
//                         u8 nOut region[nOut]  (guest memory after it: a get's frame, a
//                                                control op's output buffer)
//     region: u32 addrLo  u32 addrHi  u32 len  bytes[len]
//             or, len with bit 31 set (format 3): the same len bytes as region `index` of list
//             `list` (0 inputs, 1 outputs) of earlier hypercall record `record` (1-based):
//             u32 addrLo  u32 addrHi  u32 len|REF  u32 record  u8 list  u8 index
//     kind 2, event:      u32 jsonLen  json (a TraceEvent)  blob (the rest: a restored save file)
//     kind 255, end:      u32 hypercalls  u32 events  json (a TraceEnd)
//                         (its absence means the trace was cut short)
import { HYPERCALL_PARAMS } from "../../hypercall-abi/hypercall-import.js";
import type { TracePolicy, TraceState } from "../snapshot/tmem-state.js";
import { encodeRecord, readRecord } from "../container/checksum.js";
import { crc32 } from "../container/crc32.js";
import { ContainerError } from "../container/container-error.js";
import { encodeHeader as encodeContainerHeader, isCutInMagic, readHeader, type ContainerKind } from "../container/header.js";

const TRACE_MAGIC = "TMTR";
/**
 * 2: host events (policy, control actions, domain ends, scheduling) and the end state.
 * 3: a region may name an earlier record's bytes instead of repeating them (read: 2 and 3).
 */
export const TRACE_VERSION = 3;
/** The oldest format this tmemvm reads: 3 only added references, which 2 never holds. */
const OLDEST_READ = 2;
/** A region's len with this bit set: its bytes are an earlier region's (RegionRef). */
const REF = 0x80000000;
const RECORD_HYPERCALL = 1;
const RECORD_EVENT = 2;
const RECORD_END = 255;
export const FLAG_SCHEDULED = 1;

export interface TraceMeta {
  /** Frames of page data the recorded VMM lent to tmem. */
  capacityFrames: number;
  /** Xen's global shared_auth switch when recording began. */
  sharedAuthOpen: boolean;
  /** What the run was asked to do (the run config), for people reading the trace. */
  run?: unknown;
}

export type { TracePolicy, TraceState };

export type TraceEvent =
  /** A domain was created (booted, or already there when recording began). */
  | { type: "domain"; domid: number; name: string; layout: string; ramMiB: number; privileged: boolean; policy: TracePolicy }
  /**
   * A client's policy changed outside a recorded action (a program set it directly), or a client
   * appeared without a domain (made before recording began, or by authorising an unknown domid):
   * `generation` and `privileged` say how to create it. policy null: the client was destroyed.
   * `was`: the policy the recorder last saw the client with (absent for a client new to the trace,
   * and in traces made before it was kept), which replay checks before applying the change.
   */
  | { type: "policy"; domid: number; generation: string; privileged: boolean; policy: TracePolicy | null; was?: TracePolicy }
  | { type: "shared-auth"; open: boolean }
  /** A control-plane action, with what it returned. */
  | { type: "action"; action: string; domid: number | null; args: (string | number | boolean | null)[]; result: unknown }
  /** runAll began: these domains, this seed. */
  | { type: "run"; seed: number; quantum: number; domids: number[] }
  /** The scheduler gave `domid` a slice of `budget` hypercalls (0 = until it ends). */
  | { type: "slice"; domid: number; budget: number }
  /** A domain ended: it exited, crashed (its client destroyed), or was destroyed. */
  | { type: "end"; domid: number; how: "exited" | "crashed" | "destroyed"; exitCode: number | null; crash: string | null };

export interface TraceEnd {
  /** Why the run ended before its domains did (interrupted, timed out); null if it finished. */
  reason: string | null;
  state: TraceState;
  /** Xen's global shared_auth switch at the end (absent in traces made before it was kept). */
  sharedAuthOpen?: boolean;
}

export interface Region {
  /** Guest address (a 64-bit value that fit a JS number exactly). */
  addr: number;
  bytes: Uint8Array;
  /**
   * Where the same bytes were written before: encoded as this reference instead of the bytes.
   * Decoding resolves it (a decoded region has its bytes and no ref), so records can be filtered
   * and encoded again.
   */
  ref?: RegionRef;
}

/** Region `index` of list `list` (0 inputs, 1 outputs) of hypercall record `record` (1-based). */
export interface RegionRef {
  record: number;
  list: 0 | 1;
  index: number;
}

export interface HypercallRecord {
  domid: number;
  flags: number;
  regs: Int32Array;
  result: number;
  inputs: Region[];
  outputs: Region[];
}

/** A trace that cannot be read (named by byte offset) or written (no offset). */
export class TraceError extends ContainerError {}

const TRACE: ContainerKind<TraceError> = {
  magic: TRACE_MAGIC,
  noun: "tmemvm trace",
  refuseVersion: (version) => {
    if (version >= OLDEST_READ && version <= TRACE_VERSION) return null;
    const why =
      version < OLDEST_READ ? "it lacks the domains' policy and the control actions; record the run again" : "a newer tmemvm wrote it";
    return `trace made by format ${version}; this tmemvm reads ${OLDEST_READ} to ${TRACE_VERSION} (${why})`;
  },
  error: (message, offset) => new TraceError(message, offset),
};

const utf8 = new TextEncoder();

export function encodeHeader(meta: TraceMeta): Uint8Array {
  return encodeContainerHeader(TRACE_MAGIC, TRACE_VERSION, meta);
}

/** The registers of a hypercall record: each import parameter as an i32. */
const REGS_BYTES = 4 * HYPERCALL_PARAMS;

/** The bytes of `r`'s record, sealed: its length, body and CRC-32. */
export function hypercallRecordLength(r: HypercallRecord): number {
  const regionBytes = (rs: Region[]) => rs.reduce((n, x) => n + 12 + (x.ref ? 6 : x.bytes.length), 0);
  return 4 + 2 + 4 + REGS_BYTES + 4 + 1 + regionBytes(r.inputs) + 1 + regionBytes(r.outputs) + 4;
}

/**
 * Writes `r`'s record, sealed, at `at` in `out` (hypercallRecordLength(r) bytes, `v` a view of
 * `out`): a recorder encodes each record straight into its batch, allocating nothing for it.
 */
export function writeHypercall(out: Uint8Array, v: DataView, at: number, r: HypercallRecord): void {
  let p = at + 4;
  v.setUint8(p, RECORD_HYPERCALL);
  v.setUint8(p + 1, r.flags);
  v.setUint32(p + 2, r.domid, true);
  p += 6;
  for (let i = 0; i < HYPERCALL_PARAMS; i++, p += 4) v.setInt32(p, r.regs[i]!, true);
  v.setInt32(p, r.result, true);
  p += 4;
  for (let k = 0; k < 2; k++) {
    const rs = k === 0 ? r.inputs : r.outputs;
    v.setUint8(p++, rs.length);
    for (const x of rs) {
      v.setUint32(p, x.addr % 2 ** 32, true);
      v.setUint32(p + 4, Math.floor(x.addr / 2 ** 32), true);
      if (x.ref) {
        v.setUint32(p + 8, (x.bytes.length | REF) >>> 0, true);
        v.setUint32(p + 12, x.ref.record, true);
        v.setUint8(p + 16, x.ref.list);
        v.setUint8(p + 17, x.ref.index);
        p += 18;
        continue;
      }
      v.setUint32(p + 8, x.bytes.length, true);
      out.set(x.bytes, p + 12);
      p += 12 + x.bytes.length;
    }
  }
  // Sealed here with the caller's view: a record a hypercall allocates nothing.
  v.setUint32(at, p - at - 4, true);
  v.setUint32(p, crc32(out, at + 4, p), true);
}

export function encodeHypercall(r: HypercallRecord): Uint8Array {
  const out = new Uint8Array(hypercallRecordLength(r));
  writeHypercall(out, new DataView(out.buffer), 0, r);
  return out;
}

/** Offset of the result in a hypercall record, from the record's start (for tools and tests). */
export const HYPERCALL_RESULT_AT = 4 + 2 + 4 + REGS_BYTES;

export function encodeEvent(event: TraceEvent, blob: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = utf8.encode(JSON.stringify(event));
  const body = new Uint8Array(5 + json.length + blob.length);
  body[0] = RECORD_EVENT;
  new DataView(body.buffer).setUint32(1, json.length, true);
  body.set(json, 5);
  body.set(blob, 5 + json.length);
  return encodeRecord(body);
}

export function encodeEnd(hypercalls: number, events: number, end: TraceEnd): Uint8Array {
  const json = utf8.encode(JSON.stringify(end));
  const body = new Uint8Array(9 + json.length);
  const v = new DataView(body.buffer);
  body[0] = RECORD_END;
  v.setUint32(1, hypercalls, true);
  v.setUint32(5, events, true);
  body.set(json, 9);
  return encodeRecord(body);
}

export type TraceEntry =
  | { kind: "hypercall"; offset: number; number: number; record: HypercallRecord }
  /** `after`: hypercall records before this event. */
  | { kind: "event"; offset: number; after: number; event: TraceEvent; blob: Uint8Array };

interface DecodedRecord {
  /** Byte offset of the record in the file, for messages. */
  offset: number;
  /** 1-based position among the hypercall records. */
  number: number;
  record: HypercallRecord;
}

export interface DecodedTrace {
  meta: TraceMeta;
  /** Hypercall records and events, in the order they happened. */
  entries: TraceEntry[];
  /** The hypercall records alone. */
  records: DecodedRecord[];
  end: TraceEnd & { offset: number };
}

/** Parses a whole trace; throws TraceError naming the byte offset of the first problem. */
export function decodeTrace(file: Uint8Array): DecodedTrace {
  // What a run stopped before its recorder wrote anything leaves: not damage, a trace of nothing.
  if (isCutInMagic(file, TRACE_MAGIC)) {
    throw new TraceError(
      `incomplete trace: truncated at byte ${file.length}, inside its header (the run was stopped before anything was recorded)`,
      file.length,
    );
  }
  const header = readHeader(file, TRACE);
  const meta = header.meta as unknown as TraceMeta;
  if (!Number.isSafeInteger(meta.capacityFrames) || meta.capacityFrames < 0)
    throw new TraceError("header metadata lacks capacityFrames", 12);
  const entries: TraceEntry[] = [];
  const records: DecodedRecord[] = [];
  let events = 0;
  let p = header.end;
  for (;;) {
    const at = p;
    // Damage is named by the hypercall records before it, as divergences are.
    const n = `the record after hypercall record ${records.length}`;
    if (p === file.length) throw new TraceError(`truncated: the trace ends after record ${records.length} without its end record`, p);
    const { body, next } = readRecord(file, p, n, TRACE.error);
    const len = body.length;
    p = next;
    if (len < 1) throw new TraceError(`${n} is empty`, at);
    const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (body[0] === RECORD_END) {
      if (len < 9) throw new TraceError("malformed end record", at);
      const hypercalls = bv.getUint32(1, true);
      const counted = bv.getUint32(5, true);
      if (hypercalls !== records.length)
        throw new TraceError(`end record counts ${hypercalls} hypercall records, the trace holds ${records.length}`, at);
      if (counted !== events) throw new TraceError(`end record counts ${counted} events, the trace holds ${events}`, at);
      if (p !== file.length) throw new TraceError("data after the end record", p);
      const end = parseJson(body.subarray(9), "end record", at) as TraceEnd;
      return { meta, entries, records, end: { ...end, offset: at } };
    }
    if (body[0] === RECORD_EVENT) {
      if (len < 5 || 5 + bv.getUint32(1, true) > len) throw new TraceError(`malformed event record (${n})`, at);
      const jsonEnd = 5 + bv.getUint32(1, true);
      const event = parseJson(body.subarray(5, jsonEnd), `the event in ${n}`, at) as TraceEvent;
      entries.push({ kind: "event", offset: at, after: records.length, event, blob: body.slice(jsonEnd) });
      events++;
      continue;
    }
    if (body[0] !== RECORD_HYPERCALL) throw new TraceError(`unknown record kind ${body[0]} in ${n}`, at);
    const d: DecodedRecord = { offset: at, number: records.length + 1, record: decodeHypercall(body, at, records) };
    records.push(d);
    entries.push({ kind: "hypercall", ...d });
  }
}

function parseJson(bytes: Uint8Array, what: string, at: number): unknown {
  try {
    const x = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (typeof x !== "object" || x === null) throw new Error();
    return x;
  } catch {
    throw new TraceError(`${what} is not a JSON object`, at);
  }
}

function decodeHypercall(body: Uint8Array, at: number, earlier: readonly DecodedRecord[]): HypercallRecord {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const need = (p: number, n: number) => {
    if (p + n > body.length) throw new TraceError("malformed hypercall record", at);
  };
  need(0, 60);
  const flags = body[1];
  const domid = v.getUint32(2, true);
  const regs = new Int32Array(HYPERCALL_PARAMS);
  for (let i = 0; i < HYPERCALL_PARAMS; i++) regs[i] = v.getInt32(6 + 4 * i, true);
  const result = v.getInt32(54, true);
  let p = 58;
  const lists: Region[][] = [];
  for (let k = 0; k < 2; k++) {
    need(p, 1);
    const n = body[p++];
    const list: Region[] = [];
    for (let i = 0; i < n; i++) {
      need(p, 12);
      const addr = v.getUint32(p, true) + v.getUint32(p + 4, true) * 2 ** 32;
      const len = v.getUint32(p + 8, true);
      if (len & REF) {
        need(p + 12, 6);
        const ref = { record: v.getUint32(p + 12, true), list: body[p + 16]!, index: body[p + 17]! };
        const r = ref.record >= 1 && ref.record <= earlier.length && ref.list <= 1 ? earlier[ref.record - 1]!.record : null;
        // The referenced bytes are shared, not copied: nothing writes a decoded region.
        const bytes = (ref.list === 0 ? r?.inputs : r?.outputs)?.[ref.index]?.bytes;
        if (bytes === undefined || bytes.length !== (len & ~REF))
          throw new TraceError(`malformed hypercall record (a region names record ${ref.record}'s, which is not there)`, at);
        list.push({ addr, bytes });
        p += 18;
        continue;
      }
      need(p + 12, len);
      list.push({ addr, bytes: body.slice(p + 12, p + 12 + len) });
      p += 12 + len;
    }
    lists.push(list);
  }
  if (p !== body.length) throw new TraceError("malformed hypercall record (trailing bytes)", at);
  return { domid, flags, regs, result, inputs: lists[0], outputs: lists[1] };
}
