// A trace written out again as a tool that edits one would: each entry through `edit` (null drops
// it), the end record's counts made to match, every page inline (format 2's way, which format 3
// still reads): a reference would name records by number, which an edit may shift.
import { decodeTrace, encodeEnd, encodeEvent, encodeHeader, encodeHypercall, type TraceEntry } from "../../vmm/trace/trace-format.js";

export function rewriteTrace(bytes: Uint8Array, edit: (x: TraceEntry) => TraceEntry | null = (x) => x): Uint8Array {
  const t = decodeTrace(bytes);
  const kept = t.entries.map(edit).filter((x): x is TraceEntry => x !== null);
  const parts = [
    encodeHeader(t.meta),
    ...kept.map((x) => (x.kind === "hypercall" ? encodeHypercall(x.record) : encodeEvent(x.event, x.blob))),
  ];
  const hypercalls = kept.filter((x) => x.kind === "hypercall").length;
  const { offset: _, ...end } = t.end;
  parts.push(encodeEnd(hypercalls, kept.length - hypercalls, end));
  // A plain array of its own: a Buffer's slice() would share its bytes.
  return new Uint8Array(Buffer.concat(parts));
}
