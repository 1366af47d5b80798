// Reads what the VMM must check before a guest runs and the WebAssembly JS API does not tell:
// the signature of each imported function and the limits of an imported memory. A bounded
// reader of the type and import sections; anything malformed is a WasmFormatError.

type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";

export interface FuncSig {
  params: ValType[];
  results: ValType[];
}

export type ImportDesc =
  | { module: string; name: string; kind: "function"; sig: FuncSig }
  | { module: string; name: string; kind: "memory"; minPages: number; maxPages: number | null; shared: boolean; memory64: boolean }
  | { module: string; name: string; kind: "table" | "global" | "tag" };

export class WasmFormatError extends Error {}

const VALTYPES: Record<number, ValType> = { 127: "i32", 126: "i64", 125: "f32", 124: "f64", 123: "v128", 112: "funcref", 111: "externref" };

class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError(`unexpected end of section at byte ${this.pos}`);
    return this.b[this.pos++];
  }
  u32(): number {
    return this.leb(35);
  }
  /** A LEB128 that may exceed 32 bits (memory64 limits): returned as a possibly inexact number. */
  u64(): number {
    return this.leb(70);
  }
  private leb(maxShift: number): number {
    let result = 0;
    for (let shift = 0; shift < maxShift; shift += 7) {
      const x = this.byte();
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return result;
    }
    throw new WasmFormatError(`LEB128 too long at byte ${this.pos}`);
  }
  name(): string {
    const n = this.u32();
    if (this.pos + n > this.end) throw new WasmFormatError(`name runs past its section at byte ${this.pos}`);
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  valtype(): ValType {
    const t = this.byte();
    const v = VALTYPES[t];
    if (!v) throw new WasmFormatError(`unknown value type 0x${t.toString(16)} at byte ${this.pos - 1}`);
    return v;
  }
}

/** The module's sections in order, each as its id and a reader bounded to its body. */
function* sections(bytes: Uint8Array): Generator<[id: number, body: Reader]> {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmFormatError("not a WebAssembly module (no \\0asm magic)");
  }
  const top = new Reader(bytes, 8, bytes.length);
  while (top.pos < bytes.length) {
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    if (start + size > bytes.length) throw new WasmFormatError(`section ${id} runs past the end of the file`);
    yield [id, new Reader(bytes, start, start + size)];
    top.pos = start + size;
  }
}

function readTypes(r: Reader): FuncSig[] {
  const types: FuncSig[] = [];
  for (let n = r.u32(); n > 0; n--) {
    if (r.byte() !== 0x60) throw new WasmFormatError(`unsupported type form at byte ${r.pos - 1}`);
    const params: ValType[] = [];
    for (let p = r.u32(); p > 0; p--) params.push(r.valtype());
    const results: ValType[] = [];
    for (let q = r.u32(); q > 0; q--) results.push(r.valtype());
    types.push({ params, results });
  }
  return types;
}

/**
 * The signature of the function exported as `name`, or null if no function is exported by that
 * name. The JS API lists exports without their types, and a guest's `_start` must take nothing.
 */
export function exportedFunctionSig(bytes: Uint8Array, name: string): FuncSig | null {
  let types: FuncSig[] = [];
  let importedFunctions = 0;
  const declared: number[] = [];
  for (const [id, r] of sections(bytes)) {
    if (id === 1) types = readTypes(r);
    else if (id === 2) importedFunctions = readImportSection(r, types).filter((i) => i.kind === "function").length;
    else if (id === 3) for (let n = r.u32(); n > 0; n--) declared.push(r.u32());
    else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const exported = r.name();
        const kind = r.byte();
        const index = r.u32();
        if (exported !== name || kind !== 0) continue;
        if (index < importedFunctions) throw new WasmFormatError(`export ${name} re-exports an import`);
        const sig = types[declared[index - importedFunctions]];
        if (!sig) throw new WasmFormatError(`export ${name} names function ${index}, which has no type`);
        return sig;
      }
      return null;
    }
  }
  return null;
}

export function readImports(bytes: Uint8Array): ImportDesc[] {
  let types: FuncSig[] = [];
  for (const [id, r] of sections(bytes)) {
    if (id === 1) types = readTypes(r);
    else if (id === 2) return readImportSection(r, types);
  }
  return [];
}

/** The import section; it stops at the first table, global or tag import (refused by name later). */
function readImportSection(r: Reader, types: FuncSig[]): ImportDesc[] {
  const imports: ImportDesc[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const module = r.name();
    const name = r.name();
    const kind = r.byte();
    if (kind === 0) {
      const t = r.u32();
      const sig = types[t];
      if (!sig) throw new WasmFormatError(`import ${module}.${name} names missing type ${t}`);
      imports.push({ module, name, kind: "function", sig });
    } else if (kind === 2) {
      const flags = r.byte();
      const memory64 = (flags & 4) !== 0;
      const minPages = memory64 ? r.u64() : r.u32();
      const maxPages = flags & 1 ? (memory64 ? r.u64() : r.u32()) : null;
      imports.push({ module, name, kind: "memory", minPages, maxPages, shared: (flags & 2) !== 0, memory64 });
    } else {
      // Tables, globals and tags are refused by name later; their bodies end this reader's
      // interest in the section.
      imports.push({ module, name, kind: kind === 1 ? "table" : kind === 3 ? "global" : "tag" });
      break;
    }
  }
  return imports;
}
