// Re-executes a .tmtr trace against a fresh VMM, with no guest: each record's input memory is
// written into the domain's RAM, the same registers go through the same hypercall entry, and the
// result and output memory must match what was recorded.
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { Domain } from "../domain.js";
import { Tmem } from "../tmem/tmem.js";
import { decodeTrace, TraceError } from "./trace-format.js";

export interface Divergence {
  /** 1-based hypercall record number. */
  record: number;
  /** Byte offset of that record in the trace file. */
  offset: number;
  message: string;
}

export interface ReplayReport {
  records: number;
  divergence: Divergence | null;
}

export function replayTrace(file: Uint8Array): ReplayReport {
  const { meta, records } = decodeTrace(file);
  const tmem = new Tmem({ capacityFrames: (meta.tmemMiB * 1024 * 1024) / 4096 });
  const domains = new Map<number, Domain>();
  for (const d of meta.domains) {
    const layout = opLayout(d.layout);
    if (!layout) throw new TraceError(`domain ${d.domid} has unknown layout ${d.layout}`, 12);
    domains.set(d.domid, new Domain(tmem, { domid: d.domid, name: d.name, ramMiB: d.ramMiB, layout, privileged: d.privileged }));
  }
  for (const { number, offset, record: r } of records) {
    const diverge = (message: string): ReplayReport => ({ records: records.length, divergence: { record: number, offset, message } });
    const domain = domains.get(r.domid);
    if (!domain) return diverge(`names domain ${r.domid}, which the trace header does not declare`);
    const ram = domain.ram;
    for (const x of r.inputs) {
      if (x.addr + x.bytes.length > ram.sizeBytes) return diverge(`input memory at 0x${x.addr.toString(16)} lies outside the domain's RAM`);
      ram.bytes.set(x.bytes, x.addr);
    }
    const g = r.regs;
    const result = domain.hypercall(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]);
    if (result !== r.result) return diverge(`result ${result}, recorded ${r.result}`);
    for (const x of r.outputs) {
      if (x.addr + x.bytes.length > ram.sizeBytes) return diverge(`output memory at 0x${x.addr.toString(16)} lies outside the domain's RAM`);
      const now = ram.bytes.subarray(x.addr, x.addr + x.bytes.length);
      const i = now.findIndex((b, k) => b !== x.bytes[k]);
      if (i >= 0) return diverge(`guest memory at 0x${(x.addr + i).toString(16)} is 0x${now[i].toString(16)}, recorded 0x${x.bytes[i].toString(16)}`);
    }
  }
  return { records: records.length, divergence: null };
}
