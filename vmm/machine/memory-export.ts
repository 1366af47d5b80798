// A guest imports its RAM as env.memory; the VMM created that memory, so a guest need not also
// export it. @wasmer/wasi, though, finds the memory it reads the console through only among the
// exports the module declares (wrapping the instance's exports is not enough: it walks the
// module's export list). So an image that does not export its memory gets the export added here:
// one entry appended to the export section, naming memory 0, the imported RAM. No index in the
// module changes, so its code and data are exactly what the guest's toolchain emitted.
import { readUleb128 as readLeb, uleb128 as leb } from "./leb128.js";
import { WasmFormatError } from "./wasm-module-info.js";

const EXPORT_SECTION = 7;
const KIND_MEMORY = 2;

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
