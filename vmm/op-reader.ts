// Decodes the guest's op struct copy into OpArgs for one layout, reading only the union view
// the command uses. Offsets come from hypercall-abi's OpLayout; nothing here restates one.
import { TMEM_AUTH, TMEM_CONTROL, TMEM_NEW_POOL, TMEM_RESTORE_NEW } from "../hypercall-abi/constants.js";
import type { OpLayout } from "../hypercall-abi/op-layouts.js";
import type { OpArgs } from "./tmem/op-args.js";

export class OpReader {
  /** The one copy of the guest's struct that is ever read. */
  readonly copy: Uint8Array;
  private readonly view: DataView;

  constructor(readonly layout: OpLayout) {
    this.copy = new Uint8Array(layout.size);
    this.view = new DataView(this.copy.buffer);
  }

  /** Copies the struct at `offset` out of `ram` (already bounds-checked for layout.size). */
  copyIn(ram: Uint8Array, offset: number): void {
    const c = this.copy;
    for (let i = 0; i < c.length; i++) c[i] = ram[offset + i];
  }

  /** Fills `a` from the copy, and `cmfn` with the frame number's (lo, hi) 32-bit halves. */
  decode(a: OpArgs, cmfn: Uint32Array): void {
    const v = this.view;
    const at = this.layout.at;
    const cmd = v.getUint32(at.cmd, true);
    a.cmd = cmd;
    a.poolId = v.getInt32(at.poolId, true);
    if (cmd === TMEM_NEW_POOL || cmd === TMEM_AUTH || cmd === TMEM_RESTORE_NEW) {
      const u = a.uuid;
      u[0] = v.getUint32(at.creatUuid, true);
      u[1] = v.getUint32(at.creatUuid + 4, true);
      u[2] = v.getUint32(at.creatUuid + 8, true);
      u[3] = v.getUint32(at.creatUuid + 12, true);
      a.flags = v.getUint32(at.creatFlags, true);
      a.arg1 = v.getUint32(at.creatArg1, true);
      cmfn[0] = 0;
      cmfn[1] = 0;
      return;
    }
    if (cmd === TMEM_CONTROL && this.layout.hasCtrl) {
      a.subop = v.getUint32(at.ctrlSubop, true);
      a.cliId = v.getUint32(at.ctrlCliId, true);
      a.ctrlArg1 = v.getUint32(at.ctrlArg1, true);
      a.ctrlArg2 = v.getUint32(at.ctrlArg2, true);
      this.readOid(a.oid, at.ctrlOid);
      a.ctrlBufLo = v.getUint32(at.ctrlBuf, true);
      a.ctrlBufHi = this.layout.longBytes === 8 ? v.getUint32(at.ctrlBuf + 4, true) : 0;
      cmfn[0] = 0;
      cmfn[1] = 0;
      return;
    }
    this.readOid(a.oid, at.genOid);
    a.index = v.getUint32(at.genIndex, true);
    a.tmemOffset = v.getUint32(at.genTmemOffset, true);
    a.pfnOffset = v.getUint32(at.genPfnOffset, true);
    a.len = v.getUint32(at.genLen, true);
    cmfn[0] = v.getUint32(at.genCmfn, true);
    cmfn[1] = this.layout.longBytes === 8 ? v.getUint32(at.genCmfn + 4, true) : 0;
  }

  private readOid(oid: Uint32Array, off: number): void {
    const v = this.view;
    const words = this.layout.oidWords * 2;
    for (let i = 0; i < 6; i++) oid[i] = i < words ? v.getUint32(off + 4 * i, true) : 0;
  }
}
