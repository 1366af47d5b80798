// Copies the guest's op struct out of its RAM into OpArgs, field by field, for one layout: every
// field the command uses is read exactly once, and only OpArgs (the copy) is read afterwards, as
// Xen's copy_from_guest (and its field-by-field compat translation) guaranteed. Offsets come from
// hypercall-abi's OpLayout, resolved once to 32-bit word indices (every field of every layout is
// 4-byte aligned); nothing here restates one. Every word index is inside the struct by
// construction (decodeStruct checked the struct lies in RAM), hence the `!` on each read.
import { TMEM_AUTH, TMEM_CONTROL, TMEM_NEW_POOL, TMEM_RESTORE_NEW } from "../../hypercall-abi/constants.js";
import type { OpLayout } from "../../hypercall-abi/op-layouts.js";
import type { GuestAddress, GuestMemory, StructDecoder } from "./guest-memory.js";
import type { OpArgs } from "./op-args.js";
import type { PoolId } from "../tmem/ids.js";

export class OpReader implements StructDecoder {
  /** Scratch for a struct at an unaligned address, as bytes and as words. */
  readonly scratch: Uint8Array;
  readonly scratchWords: Int32Array;
  /** Where the struct being read goes (set by read()). */
  private out: OpArgs | null = null;
  private outCmfn: Uint32Array | null = null;
  private readonly hasCtrl: boolean;
  private readonly longWords: number;
  private readonly oidWords: number;
  // word indices of the fields
  private readonly cmd: number;
  private readonly poolId: number;
  private readonly creatUuid: number;
  private readonly creatFlags: number;
  private readonly creatArg1: number;
  private readonly genOid: number;
  private readonly genIndex: number;
  private readonly genTmemOffset: number;
  private readonly genPfnOffset: number;
  private readonly genLen: number;
  private readonly genCmfn: number;
  private readonly ctrlSubop: number;
  private readonly ctrlCliId: number;
  private readonly ctrlArg1: number;
  private readonly ctrlArg2: number;
  private readonly ctrlOid: number;
  private readonly ctrlBuf: number;

  constructor(readonly layout: OpLayout) {
    for (const [path, f] of layout.fields) {
      if (f.offset % 4 !== 0) throw new Error(`${layout.name}: ${path} is not 4-byte aligned`);
    }
    this.scratch = new Uint8Array(layout.size);
    this.scratchWords = new Int32Array(this.scratch.buffer);
    this.hasCtrl = layout.hasCtrl;
    this.longWords = layout.longBytes >>> 2;
    this.oidWords = layout.oidWords * 2;
    const at = layout.at;
    const word = (off: number) => off >> 2;
    this.cmd = word(at.cmd);
    this.poolId = word(at.poolId);
    this.creatUuid = word(at.creatUuid);
    this.creatFlags = word(at.creatFlags);
    this.creatArg1 = word(at.creatArg1);
    this.genOid = word(at.genOid);
    this.genIndex = word(at.genIndex);
    this.genTmemOffset = word(at.genTmemOffset);
    this.genPfnOffset = word(at.genPfnOffset);
    this.genLen = word(at.genLen);
    this.genCmfn = word(at.genCmfn);
    this.ctrlSubop = word(at.ctrlSubop);
    this.ctrlCliId = word(at.ctrlCliId);
    this.ctrlArg1 = word(at.ctrlArg1);
    this.ctrlArg2 = word(at.ctrlArg2);
    this.ctrlOid = word(at.ctrlOid);
    this.ctrlBuf = word(at.ctrlBuf);
  }

  /**
   * Reads the struct at `addr` (checked to lie in RAM for layout.size) into `a`, each field the
   * command uses once, and its frame number's (lo, hi) halves into `cmfn`. False (and `a`
   * untouched) if it does not lie in RAM, as Xen's copy_from_guest could fail.
   */
  read(ram: GuestMemory, addr: GuestAddress, a: OpArgs, cmfn: Uint32Array): boolean {
    this.out = a;
    this.outCmfn = cmfn;
    return ram.decodeStruct(addr, this);
  }

  /** StructDecoder: called by GuestMemory.decodeStruct with the struct's words. */
  decode(w: Int32Array, at: number): void {
    this.decodeInto(w, at, this.out!, this.outCmfn!);
  }

  private decodeInto(w: Int32Array, at: number, a: OpArgs, cmfn: Uint32Array): void {
    const cmd = w[at + this.cmd]! >>> 0;
    a.cmd = cmd;
    a.poolId = w[at + this.poolId]! as PoolId;
    cmfn[0] = 0;
    cmfn[1] = 0;
    if (cmd === TMEM_NEW_POOL || cmd === TMEM_AUTH || cmd === TMEM_RESTORE_NEW) {
      const u = a.uuid;
      const b = at + this.creatUuid;
      u[0] = w[b]!;
      u[1] = w[b + 1]!;
      u[2] = w[b + 2]!;
      u[3] = w[b + 3]!;
      a.flags = w[at + this.creatFlags]! >>> 0;
      a.arg1 = w[at + this.creatArg1]! >>> 0;
      return;
    }
    if (cmd === TMEM_CONTROL && this.hasCtrl) {
      a.subop = w[at + this.ctrlSubop]! >>> 0;
      a.cliId = w[at + this.ctrlCliId]! >>> 0;
      a.ctrlArg1 = w[at + this.ctrlArg1]! >>> 0;
      a.ctrlArg2 = w[at + this.ctrlArg2]! >>> 0;
      this.readOid(w, at + this.ctrlOid, a.oid);
      a.ctrlBufLo = w[at + this.ctrlBuf]! >>> 0;
      a.ctrlBufHi = this.longWords === 2 ? w[at + this.ctrlBuf + 1]! >>> 0 : 0;
      return;
    }
    this.readOid(w, at + this.genOid, a.oid);
    a.index = w[at + this.genIndex]! >>> 0;
    a.tmemOffset = w[at + this.genTmemOffset]! >>> 0;
    a.pfnOffset = w[at + this.genPfnOffset]! >>> 0;
    a.len = w[at + this.genLen]! >>> 0;
    cmfn[0] = w[at + this.genCmfn]!;
    if (this.longWords === 2) cmfn[1] = w[at + this.genCmfn + 1]!;
  }

  private readOid(w: Int32Array, base: number, oid: Uint32Array): void {
    // Three 64-bit words, or three 32-bit longs (a 32-bit guest's oid): written out, no loop.
    if (this.oidWords === 6) {
      oid[0] = w[base]!;
      oid[1] = w[base + 1]!;
      oid[2] = w[base + 2]!;
      oid[3] = w[base + 3]!;
      oid[4] = w[base + 4]!;
      oid[5] = w[base + 5]!;
      return;
    }
    const n = this.oidWords;
    for (let i = 0; i < 6; i++) oid[i] = i < n ? w[base + i]! : 0;
  }
}
