// Records every hypercall of the domains it observes into a .tmtr trace: registers, the guest
// memory the op reads (its struct, a put's frame, a restore's buffer), the memory it wrote (a
// get's frame, a control op's output) and the result.
import { closeSync, openSync, writeSync } from "node:fs";
import {
  HYPERVISOR_tmem_op, TMEM_CONTROL, TMEM_GET_PAGE, TMEM_PAGE_SIZE, TMEM_PUT_PAGE, TMEM_READ,
  TMEM_WRITE, TMEMC_LIST, TMEMC_RESTORE_PUT_PAGE, TMEMC_SAVE_GET_NEXT_INV, TMEMC_SAVE_GET_NEXT_PAGE,
  TMEMC_SAVE_GET_POOL_UUID,
} from "../../hypercall-abi/constants.js";
import { decodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import type { Domain } from "../domain.js";
import type { HypercallObserver } from "../hypercall.js";
import { encodeEnd, encodeHeader, encodeHypercall, type Region, type TraceMeta } from "./trace-format.js";

const FLUSH_BYTES = 1 << 20;

/** Reads `len` bytes at 64-bit guest address (lo, hi) of `domain`, or null if not all RAM. */
function regionAt(domain: Domain, lo: number, hi: number, len: number): Region | null {
  const at = domain.ram.range(lo, hi, len);
  return at < 0 ? null : { addr: at, bytes: domain.ram.bytes.slice(at, at + len) };
}

const split = (x: bigint): [number, number] => [Number(x & 0xffffffffn), Number((x >> 32n) & 0xffffffffn)];

export class TraceRecorder implements HypercallObserver {
  private readonly fd: number;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private records = 0;
  private op: TmemOp | null = null;
  private inputs: Region[] = [];

  constructor(readonly path: string, meta: TraceMeta) {
    this.fd = openSync(path, "w");
    this.push(encodeHeader(meta));
  }

  before(domain: Domain, regs: Int32Array): void {
    this.op = null;
    this.inputs = [];
    if (regs[0] !== HYPERVISOR_tmem_op || regs[1] !== 0) return;
    const layout = domain.layout;
    const struct = regionAt(domain, regs[2], regs[3], layout.size);
    if (!struct) return;
    this.inputs.push(struct);
    const op = decodeOp(struct.bytes, layout);
    this.op = op;
    if ((op.cmd === TMEM_PUT_PAGE || op.cmd === TMEM_WRITE) && op.gen) {
      const frame = this.frameOf(domain, op.gen.cmfn);
      if (frame) this.inputs.push(frame);
    }
    if (op.cmd === TMEM_CONTROL && op.ctrl?.subop === TMEMC_RESTORE_PUT_PAGE) {
      const buf = regionAt(domain, ...split(op.ctrl.buf), TMEM_PAGE_SIZE);
      if (buf) this.inputs.push(buf);
    }
  }

  after(domain: Domain, regs: Int32Array, result: number): void {
    const outputs: Region[] = [];
    const op = this.op;
    // Only what the op wrote: on a miss or an error the guest's memory is its own business.
    if (op?.gen && result === 1 && op.cmd === TMEM_GET_PAGE) {
      const frame = this.frameOf(domain, op.gen.cmfn);
      if (frame) outputs.push(frame);
    } else if (op?.gen && result === 1 && op.cmd === TMEM_READ) {
      const frame = this.frameOf(domain, op.gen.cmfn);
      if (frame) outputs.push({ addr: frame.addr + op.gen.pfnOffset, bytes: frame.bytes.slice(op.gen.pfnOffset, op.gen.pfnOffset + op.gen.len) });
    } else if (op?.cmd === TMEM_CONTROL && op.ctrl) {
      const [lo, hi] = split(op.ctrl.buf);
      const len = this.controlOutputLength(domain, op, result);
      const out = len > 0 ? regionAt(domain, lo, hi, len) : null;
      if (out) outputs.push(out);
    }
    this.push(encodeHypercall({ domid: domain.domid, regs: regs.slice(), result, inputs: this.inputs, outputs }));
    this.records++;
  }

  private controlOutputLength(domain: Domain, op: TmemOp, result: number): number {
    const ctrl = op.ctrl!;
    const handle = domain.layout.specVersion === 0 ? 16 : 32;
    switch (ctrl.subop) {
      case TMEMC_LIST: {
        if (result !== 0 || ctrl.arg1 === 0) return 0;
        const buf = regionAt(domain, ...split(ctrl.buf), ctrl.arg1);
        return buf ? buf.bytes.indexOf(0) + 1 : 0;
      }
      case TMEMC_SAVE_GET_POOL_UUID:
        return result === 0 ? 16 : 0;
      case TMEMC_SAVE_GET_NEXT_PAGE:
        return result === 1 ? handle + TMEM_PAGE_SIZE : 0;
      case TMEMC_SAVE_GET_NEXT_INV:
        return result === 1 ? handle : 0;
      default:
        return 0;
    }
  }

  private frameOf(domain: Domain, cmfn: bigint): Region | null {
    const [lo, hi] = split(cmfn);
    const at = domain.ram.frame(lo, hi);
    return at < 0 ? null : { addr: at, bytes: domain.ram.bytes.slice(at, at + TMEM_PAGE_SIZE) };
  }

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.buffered += bytes.length;
    if (this.buffered >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    for (const c of this.chunks) writeSync(this.fd, c);
    this.chunks = [];
    this.buffered = 0;
  }

  /** Writes the end record and closes the file; returns the number of hypercalls recorded. */
  close(): number {
    this.push(encodeEnd(this.records));
    this.flush();
    closeSync(this.fd);
    return this.records;
  }
}
