// The fuzzers' own reading of a struct tmem_op, written apart from the VMM's reader
// (vmm/op-reader.ts) and from hypercall-abi's codec, so that a decoding bug in either (a field at
// the wrong offset, cmfn's high word never read, the legacy object id's width) shows up as a
// disagreement instead of being shared by the oracle. Its only input is the recorded facts: each
// layout's field offsets and sizeof, as gcc laid them out from Xen's own headers (the recorded
// structs, test/fixtures/tmem-structs.json). Widths follow from those facts and the C types the
// spec gives (section 2): 32-bit scalars, a 16-byte uuid, an object id that runs up to
// gen.index, and pointer-sized cmfn / ctrl.buf, which are each the last field of their member.
import { readFileSync } from "node:fs";
import { RECORDED_STRUCTS } from "../vmm/platform/assets.js";

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
  const rec = JSON.parse(readFileSync(RECORDED_STRUCTS, "utf8")) as { layouts: Record<string, { sizeof: string | number; offsets: Record<string, number> | string; vectors: { hex: string }[] }> };
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
    for (const w of [this.pointerBytes, this.oidBytes]) if (w !== 4 && w !== 8 && w !== 24) throw new Error(`${facts.name}: unexpected field width ${w}`);
  }

  decode(b: Uint8Array, at = 0): DecodedOp {
    const v = new DataView(b.buffer, b.byteOffset + at, this.sizeof);
    const o = this.o;
    const u32 = (off: number) => v.getUint32(off, true);
    const words = (off: number, bytes: number) => {
      const out = [0, 0, 0, 0, 0, 0];
      for (let i = 0; i < bytes / 4; i++) out[i] = u32(off + 4 * i);
      return out;
    };
    const ptr = (off: number): [number, number] => [u32(off), this.pointerBytes === 8 ? u32(off + 4) : 0];
    const [cmfnLo, cmfnHi] = ptr(o["gen.cmfn"]);
    const ctrlOidAt = o["ctrl.oid"] ?? o["ctrl.arg3"];
    const [bufLo, bufHi] = this.hasCtrl ? ptr(o["ctrl.buf"]) : [0, 0];
    return {
      cmd: u32(o.cmd),
      poolId: v.getInt32(o.pool_id, true),
      oid: words(o["gen.oid"], this.oidBytes),
      index: u32(o["gen.index"]),
      tmemOffset: u32(o["gen.tmem_offset"]),
      pfnOffset: u32(o["gen.pfn_offset"]),
      len: u32(o["gen.len"]),
      cmfnLo,
      cmfnHi,
      uuid: [v.getBigUint64(o["creat.uuid"], true), v.getBigUint64(o["creat.uuid"] + 8, true)],
      flags: u32(o["creat.flags"]),
      arg1: u32(o["creat.arg1"]),
      hasCtrl: this.hasCtrl,
      subop: this.hasCtrl ? u32(o["ctrl.subop"]) : 0,
      cliId: this.hasCtrl ? u32(o["ctrl.cli_id"]) : 0,
      ctrlArg1: this.hasCtrl ? u32(o["ctrl.arg1"]) : 0,
      ctrlArg2: this.hasCtrl ? u32(o["ctrl.arg2"]) : 0,
      ctrlOid: this.hasCtrl ? words(ctrlOidAt, this.ctrlOidBytes) : [0, 0, 0, 0, 0, 0],
      bufLo,
      bufHi,
    };
  }
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
