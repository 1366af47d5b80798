// The fuzzers' own reading of a struct tmem_op, written apart from the VMM's reader
// (vmm/op-reader.ts) and from hypercall-abi's codec, so that a decoding bug in either (a field at
// the wrong offset, cmfn's high word never read, the legacy object id's width) shows up as a
// disagreement instead of being shared by the oracle. Its only input is the recorded facts: each
// layout's field offsets and sizeof, as gcc laid them out from Xen's own headers (the recorded
// structs, test/fixtures/tmem-structs.json). Widths follow from those facts and the C types the
// spec gives (section 2): 32-bit scalars, a 16-byte uuid, an object id that runs up to
// gen.index, and pointer-sized cmfn / ctrl.buf, which are each the last field of their member.
import { readFileSync } from "node:fs";
import { RECORDED_STRUCTS } from "../vmm/node.js";

export interface LayoutFacts {
  name: string;
  sizeof: number;
  /** Byte offset of each recorded field ("gen.cmfn", "ctrl.buf", ...). */
  offsets: Record<string, number>;
  /** The structs recorded for this layout (whole structs, as bytes). */
  vectors: Uint8Array[];
}

/** Every field the fuzzers read, decoded; fields a layout lacks read as 0. */
export interface DecodedOp {
  cmd: number;
  poolId: number;
  /** Object id as six 32-bit words, least significant first (unused words 0). */
  oid: number[];
  index: number;
  tmemOffset: number;
  pfnOffset: number;
  len: number;
  cmfnLo: number;
  cmfnHi: number;
  uuid: [bigint, bigint];
  flags: number;
  arg1: number;
  hasCtrl: boolean;
  subop: number;
  cliId: number;
  ctrlArg1: number;
  ctrlArg2: number;
  ctrlOid: number[];
  bufLo: number;
  bufHi: number;
}

/**
 * Loads the recorded layout facts. The one place the fuzzers read data files at run time: the
 * file ships with the package (assets.ts finds it from the module).
 */
export function loadLayoutFacts(): Map<string, LayoutFacts> {
  const facts = new Map<string, LayoutFacts>();
  const rec = JSON.parse(readFileSync(RECORDED_STRUCTS, "utf8")) as {
    layouts: Record<string, { sizeof: string | number; offsets: Record<string, number> | string; vectors: { hex: string }[] }>;
  };
  for (const [name, l] of Object.entries(rec.layouts)) {
    const offsets = typeof l.offsets === "string" ? (JSON.parse(l.offsets.replace(/'/g, '"')) as Record<string, number>) : l.offsets;
    facts.set(name, { name, sizeof: Number(l.sizeof), offsets, vectors: l.vectors.map((v) => Uint8Array.from(Buffer.from(v.hex, "hex"))) });
  }
  return facts;
}

let cached: Map<string, LayoutFacts> | null = null;
/** The facts, loaded once per process. */
export function layoutFacts(): Map<string, LayoutFacts> {
  return (cached ??= loadLayoutFacts());
}

/** Decodes struct bytes (at least sizeof of the layout) with the facts of `layout`. */
export class FactCodec {
  private readonly o: Record<string, number>;
  private readonly pointerBytes: number;
  private readonly oidBytes: number;
  private readonly ctrlOidBytes: number;
  readonly sizeof: number;
  readonly hasCtrl: boolean;

  constructor(readonly facts: LayoutFacts) {
    this.o = facts.offsets;
    this.sizeof = facts.sizeof;
    // cmfn is the last field of the struct: what is left of it is the pointer's width.
    this.pointerBytes = facts.sizeof - this.o["gen.cmfn"];
    this.oidBytes = this.o["gen.index"] - this.o["gen.oid"];
    this.hasCtrl = "ctrl.subop" in this.o;
    const ctrlOidAt = this.o["ctrl.oid"] ?? this.o["ctrl.arg3"];
    this.ctrlOidBytes = this.hasCtrl ? this.o["ctrl.buf"] - ctrlOidAt : 0;
    for (const w of [this.pointerBytes, this.oidBytes])
      if (w !== 4 && w !== 8 && w !== 24) throw new Error(`${facts.name}: unexpected field width ${w}`);
    // decode() reads through a view of the whole buffer: every field must lie inside the struct.
    for (const [field, off] of Object.entries(this.o))
      if (!(off >= 0 && off + (field === "creat.uuid" ? 16 : 4) <= this.sizeof))
        throw new Error(`${facts.name}: field ${field} at ${off} lies outside sizeof ${this.sizeof}`);
  }

  decode(b: Uint8Array, at = 0): DecodedOp {
    // Offsets read once per layout (at), not looked up by name per struct.
    const x = (this.at ??= this.offsetsOf());
    const base = b.byteOffset + at;
    if (at < 0 || at + this.sizeof > b.length) throw new RangeError(`${this.facts.name}: a struct at ${at} overruns ${b.length} bytes`);
    // One DataView per buffer (guest RAM), not one per struct: the struct's offsets are added.
    const v = viewOf(b.buffer as ArrayBuffer);
    const ptr64 = this.pointerBytes === 8;
    const hasCtrl = this.hasCtrl;
    return {
      cmd: v.getUint32(base + x.cmd, true),
      poolId: v.getInt32(base + x.poolId, true),
      oid: words(v, base + x.oid, this.oidBytes),
      index: v.getUint32(base + x.index, true),
      tmemOffset: v.getUint32(base + x.tmemOffset, true),
      pfnOffset: v.getUint32(base + x.pfnOffset, true),
      len: v.getUint32(base + x.len, true),
      cmfnLo: v.getUint32(base + x.cmfn, true),
      cmfnHi: ptr64 ? v.getUint32(base + x.cmfn + 4, true) : 0,
      uuid: [v.getBigUint64(base + x.uuid, true), v.getBigUint64(base + x.uuid + 8, true)],
      flags: v.getUint32(base + x.flags, true),
      arg1: v.getUint32(base + x.arg1, true),
      hasCtrl,
      subop: hasCtrl ? v.getUint32(base + x.subop, true) : 0,
      cliId: hasCtrl ? v.getUint32(base + x.cliId, true) : 0,
      ctrlArg1: hasCtrl ? v.getUint32(base + x.ctrlArg1, true) : 0,
      ctrlArg2: hasCtrl ? v.getUint32(base + x.ctrlArg2, true) : 0,
      ctrlOid: hasCtrl ? words(v, base + x.ctrlOid, this.ctrlOidBytes) : [0, 0, 0, 0, 0, 0],
      bufLo: hasCtrl ? v.getUint32(base + x.buf, true) : 0,
      bufHi: hasCtrl && ptr64 ? v.getUint32(base + x.buf + 4, true) : 0,
    };
  }

  private at: ReturnType<FactCodec["offsetsOf"]> | undefined;
  private offsetsOf() {
    const o = this.o;
    return {
      cmd: o.cmd,
      poolId: o.pool_id,
      oid: o["gen.oid"],
      index: o["gen.index"],
      tmemOffset: o["gen.tmem_offset"],
      pfnOffset: o["gen.pfn_offset"],
      len: o["gen.len"],
      cmfn: o["gen.cmfn"],
      uuid: o["creat.uuid"],
      flags: o["creat.flags"],
      arg1: o["creat.arg1"],
      subop: o["ctrl.subop"],
      cliId: o["ctrl.cli_id"],
      ctrlArg1: o["ctrl.arg1"],
      ctrlArg2: o["ctrl.arg2"],
      ctrlOid: o["ctrl.oid"] ?? o["ctrl.arg3"],
      buf: o["ctrl.buf"],
    };
  }
}

/** A DataView over each buffer decoded lately (the few guest RAMs of the pooled slots). */
const views: DataView[] = [];
let nextView = 0;
function viewOf(buffer: ArrayBuffer): DataView {
  for (const v of views) if (v.buffer === buffer) return v;
  const v = new DataView(buffer);
  if (views.length < 8) views.push(v);
  else views[nextView++ & 7] = v;
  return v;
}

/** `bytes` of 32-bit words at `off`, as six words (the unused ones 0). */
function words(v: DataView, off: number, bytes: number): number[] {
  const out = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < bytes / 4; i++) out[i] = v.getUint32(off + 4 * i, true);
  return out;
}

const codecs = new Map<string, FactCodec>();
/** The codec of a layout by name ("xen-4.12-oid3/x86_64"); throws if no facts were recorded for it. */
export function codecFor(name: string): FactCodec {
  let c = codecs.get(name);
  if (!c) {
    const f = layoutFacts().get(name);
    if (!f) throw new Error(`fuzz: no recorded layout facts for ${name} (${RECORDED_STRUCTS})`);
    c = new FactCodec(f);
    codecs.set(name, c);
  }
  return c;
}

/** Recorded structs by layout name, the boundary and coverage fuzzers' seeds. */
export function recordedStructs(): Map<string, Uint8Array[]> {
  const out = new Map<string, Uint8Array[]>();
  for (const [name, f] of layoutFacts()) out.set(name, f.vectors);
  return out;
}

/**
 * Builds structs of one layout in place, at the recorded offsets (no op object, no codec): the
 * fuzzers' fast writer. One buffer, rewritten by each start(); callers copy it out before the next.
 * Object ids and cmfn take values below 2^32 here (the high halves are written as zero).
 */
export class FactWriter {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly cmd: number;
  private readonly poolId: number;
  private readonly oid: number;
  private readonly oidWords: number;
  private readonly index: number;
  private readonly tmemOffset: number;
  private readonly pfnOffset: number;
  private readonly len: number;
  private readonly cmfn: number;
  private readonly uuid: number;
  private readonly flags: number;
  private readonly arg1: number;

  constructor(facts: LayoutFacts) {
    const o = facts.offsets;
    this.bytes = new Uint8Array(facts.sizeof);
    this.view = new DataView(this.bytes.buffer);
    this.cmd = o.cmd;
    this.poolId = o.pool_id;
    this.oid = o["gen.oid"];
    this.oidWords = (o["gen.index"] - o["gen.oid"]) / 8;
    this.index = o["gen.index"];
    this.tmemOffset = o["gen.tmem_offset"];
    this.pfnOffset = o["gen.pfn_offset"];
    this.len = o["gen.len"];
    this.cmfn = o["gen.cmfn"];
    this.uuid = o["creat.uuid"];
    this.flags = o["creat.flags"];
    this.arg1 = o["creat.arg1"];
  }

  /** A zeroed struct with `cmd` and `poolId`. */
  start(cmd: number, poolId: number): void {
    this.bytes.fill(0);
    this.view.setUint32(this.cmd, cmd >>> 0, true);
    this.view.setInt32(this.poolId, poolId | 0, true);
  }

  /** The gen member: the object id's 64-bit words (as many as the layout has), index, cmfn. */
  gen(oid0: number, oid1: number, oid2: number, index: number, cmfn: number): void {
    const v = this.view;
    v.setUint32(this.oid, oid0 >>> 0, true);
    if (this.oidWords > 1) {
      v.setUint32(this.oid + 8, oid1 >>> 0, true);
      v.setUint32(this.oid + 16, oid2 >>> 0, true);
    }
    v.setUint32(this.index, index >>> 0, true);
    v.setUint32(this.cmfn, cmfn >>> 0, true);
  }

  /** Every 32-bit word of the object id (2 for a 64-bit oid, 6 for oid[3]), low half first; `words` has at least that many. */
  oidHalves(words: readonly number[]): void {
    for (let i = 0; i < 2 * this.oidWords; i++) this.view.setUint32(this.oid + 4 * i, words[i] >>> 0, true);
  }

  /** The gen member's READ/WRITE range. */
  range(tmemOffset: number, pfnOffset: number, len: number): void {
    this.view.setUint32(this.tmemOffset, tmemOffset >>> 0, true);
    this.view.setUint32(this.pfnOffset, pfnOffset >>> 0, true);
    this.view.setUint32(this.len, len >>> 0, true);
  }

  /** The creat member. */
  creat(uuid: readonly [bigint, bigint], flags: number, arg1: number): void {
    this.view.setBigUint64(this.uuid, uuid[0], true);
    this.view.setBigUint64(this.uuid + 8, uuid[1], true);
    this.view.setUint32(this.flags, flags >>> 0, true);
    this.view.setUint32(this.arg1, arg1 >>> 0, true);
  }
}

const writers = new Map<string, FactWriter>();
/** The in-place writer of a layout by name (one per process). */
export function writerFor(name: string): FactWriter {
  let w = writers.get(name);
  if (!w) writers.set(name, (w = new FactWriter(codecFor(name).facts)));
  return w;
}
