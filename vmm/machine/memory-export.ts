// A guest imports its RAM as env.memory; the VMM created that memory, so a guest need not also
// export it. @wasmer/wasi, though, finds the memory it reads the console through only among the
// exports the module declares (wrapping the instance's exports is not enough: it walks the
// module's export list). So an image that does not export its memory gets the export added here:
// one entry appended to the export section, naming memory 0, the imported RAM. No index in the
// module changes, so its code and data are exactly what the guest's toolchain emitted.
import { WasmFormatError } from "./wasm-module-info.js";

const EXPORT_SECTION = 7;
const KIND_MEMORY = 2;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function readLeb(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= bytes.length) throw new WasmFormatError(`unexpected end of file at byte ${pos}`);
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new WasmFormatError(`LEB128 too long at byte ${pos}`);
}

/** `bytes` with `memory` (memory index 0) added to its exports; they must have an export section. */
export function withMemoryExport(bytes: Uint8Array): Uint8Array {
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, body] = readLeb(bytes, pos + 1);
    if (body + size > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the file`);
    if (id === EXPORT_SECTION) {
      const [count, entries] = readLeb(bytes, body);
      const entry = [...leb(6), ...new TextEncoder().encode("memory"), KIND_MEMORY, 0];
      const newBody = [...leb(count + 1), ...bytes.subarray(entries, body + size), ...entry];
      const section = [EXPORT_SECTION, ...leb(newBody.length), ...newBody];
      const out = new Uint8Array(pos + section.length + (bytes.length - body - size));
      out.set(bytes.subarray(0, pos), 0);
      out.set(section, pos);
      out.set(bytes.subarray(body + size), pos + section.length);
      return out;
    }
    pos = body + size;
  }
  throw new WasmFormatError("no export section");
}
