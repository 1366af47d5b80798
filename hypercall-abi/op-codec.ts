// Encode and decode a whole struct tmem_op in any layout. This is the readable form, for tests,
// tools and the CLI; the VMM's hot path reads the same offsets (OpLayout.at) without allocating.
import type { OpLayout } from "./op-layouts.js";

/** u.creat: NEW_POOL, AUTH, RESTORE_NEW. */
export interface CreatArgs {
  /** uuid[0] ("lo") and uuid[1] ("hi"). */
  uuid: [bigint, bigint];
  flags: number;
  arg1: number;
}

/** u.gen: the data ops. `oid` has one word in the legacy layout, three otherwise. */
export interface GenArgs {
  oid: bigint[];
  index: number;
  tmemOffset: number;
  pfnOffset: number;
  len: number;
  cmfn: bigint;
}

/** u.ctrl: TMEM_CONTROL (Xen 4.0-4.5 layouts only). `oid` is arg3 in the legacy layout. */
export interface CtrlArgs {
  subop: number;
  cliId: number;
  arg1: number;
  arg2: number;
  oid: bigint[];
  buf: bigint;
}

/** A decoded op. The union is ambiguous in the bytes, so decoding yields every view. */
export interface TmemOp {
  cmd: number;
  poolId: number;
  creat?: CreatArgs;
  gen?: GenArgs;
  ctrl?: CtrlArgs;
}

const readLong = (v: DataView, off: number, bytes: 8 | 4): bigint =>
  bytes === 8 ? v.getBigUint64(off, true) : BigInt(v.getUint32(off, true));

function writeLong(v: DataView, off: number, bytes: 8 | 4, value: bigint): void {
  if (bytes === 8) v.setBigUint64(off, BigInt.asUintN(64, value), true);
  else v.setUint32(off, Number(BigInt.asUintN(32, value)), true);
}

function readWords(v: DataView, off: number, n: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(v.getBigUint64(off + 8 * i, true));
  return out;
}

function writeWords(v: DataView, off: number, n: number, words: readonly bigint[], what: string): void {
  if (words.length !== n) throw new RangeError(`${what} needs ${n} 64-bit word(s), got ${words.length}`);
  words.forEach((w, i) => {
    v.setBigUint64(off + 8 * i, BigInt.asUintN(64, w), true);
  });
}

/** Decodes `bytes` (at least layout.size long) as a struct tmem_op of `layout`. */
export function decodeOp(bytes: Uint8Array, layout: OpLayout): TmemOp {
  if (bytes.length < layout.size) {
    throw new RangeError(`a ${layout.name} tmem_op is ${layout.size} bytes; got ${bytes.length}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, layout.size);
  const at = layout.at;
  const op: TmemOp = {
    cmd: v.getUint32(at.cmd, true),
    poolId: v.getInt32(at.poolId, true),
    creat: {
      uuid: [v.getBigUint64(at.creatUuid, true), v.getBigUint64(at.creatUuid + 8, true)],
      flags: v.getUint32(at.creatFlags, true),
      arg1: v.getUint32(at.creatArg1, true),
    },
    gen: {
      oid: readWords(v, at.genOid, layout.oidWords),
      index: v.getUint32(at.genIndex, true),
      tmemOffset: v.getUint32(at.genTmemOffset, true),
      pfnOffset: v.getUint32(at.genPfnOffset, true),
      len: v.getUint32(at.genLen, true),
      cmfn: readLong(v, at.genCmfn, layout.longBytes),
    },
  };
  if (layout.hasCtrl) {
    op.ctrl = {
      subop: v.getUint32(at.ctrlSubop, true),
      cliId: v.getUint32(at.ctrlCliId, true),
      arg1: v.getUint32(at.ctrlArg1, true),
      arg2: v.getUint32(at.ctrlArg2, true),
      oid: readWords(v, at.ctrlOid, layout.oidWords),
      buf: readLong(v, at.ctrlBuf, layout.longBytes),
    };
  }
  return op;
}

/**
 * Encodes `op` into a zeroed struct of `layout`. Exactly one union view may be given; bytes of
 * the union it does not cover stay zero.
 */
export function encodeOp(op: TmemOp, layout: OpLayout): Uint8Array {
  const views = [op.creat, op.gen, op.ctrl].filter((x) => x !== undefined).length;
  if (views > 1) throw new RangeError("give at most one of creat, gen, ctrl: they share the union");
  if (op.ctrl && !layout.hasCtrl) throw new RangeError(`${layout.name} has no ctrl sub-struct`);
  const bytes = new Uint8Array(layout.size);
  const v = new DataView(bytes.buffer);
  const at = layout.at;
  v.setUint32(at.cmd, op.cmd >>> 0, true);
  v.setInt32(at.poolId, op.poolId | 0, true);
  if (op.creat) {
    v.setBigUint64(at.creatUuid, BigInt.asUintN(64, op.creat.uuid[0]), true);
    v.setBigUint64(at.creatUuid + 8, BigInt.asUintN(64, op.creat.uuid[1]), true);
    v.setUint32(at.creatFlags, op.creat.flags >>> 0, true);
    v.setUint32(at.creatArg1, op.creat.arg1 >>> 0, true);
  }
  if (op.gen) {
    writeWords(v, at.genOid, layout.oidWords, op.gen.oid, "gen.oid");
    v.setUint32(at.genIndex, op.gen.index >>> 0, true);
    v.setUint32(at.genTmemOffset, op.gen.tmemOffset >>> 0, true);
    v.setUint32(at.genPfnOffset, op.gen.pfnOffset >>> 0, true);
    v.setUint32(at.genLen, op.gen.len >>> 0, true);
    writeLong(v, at.genCmfn, layout.longBytes, op.gen.cmfn);
  }
  if (op.ctrl) {
    v.setUint32(at.ctrlSubop, op.ctrl.subop >>> 0, true);
    v.setUint32(at.ctrlCliId, op.ctrl.cliId >>> 0, true);
    v.setUint32(at.ctrlArg1, op.ctrl.arg1 >>> 0, true);
    v.setUint32(at.ctrlArg2, op.ctrl.arg2 >>> 0, true);
    writeWords(v, at.ctrlOid, layout.oidWords, op.ctrl.oid, "ctrl.oid");
    writeLong(v, at.ctrlBuf, layout.longBytes, op.ctrl.buf);
  }
  return bytes;
}
