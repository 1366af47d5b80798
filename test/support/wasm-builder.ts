// Hand-assembles tiny Wasm modules for image-validation tests (only what those tests need).

import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME, HYPERCALL_PARAMS } from "../../hypercall-abi/hypercall-import.js";
import { uleb128 as leb } from "../../vmm/machine/leb128.js";

type Val = "i32" | "i64";
const VAL: Record<Val, number> = { i32: 0x7f, i64: 0x7e };

const str = (s: string): number[] => [...leb(s.length), ...Buffer.from(s)];
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];

export interface ModuleSpec {
  funcImports?: { module: string; name: string; params: Val[]; results: Val[] }[];
  memoryImport?: { module: string; name: string; min: number; max?: number } | null;
  exportStart?: boolean;
  exportMemory?: boolean;
  /** _start traps (unreachable) instead of returning. */
  trap?: boolean;
  /** _start's parameters and results (none by default). */
  startParams?: Val[];
  startResults?: Val[];
  /** _start's code (no locals, without the final `end`), instead of an empty body. */
  startBody?: number[];
  /** Also name _start's function in the module's start section: it runs while the module is instantiated. */
  startSection?: boolean;
}

/** Wasm opcodes for hand-written _start bodies. */
export const OP = { loop: 0x03, block: 0x02, br: 0x0c, call: 0x10, drop: 0x1a, i32Const: 0x41, end: 0x0b, void: 0x40 } as const;

/** A module with the given imports and a `_start` that does nothing. */
export function buildModule(spec: ModuleSpec): Uint8Array {
  const funcImports = spec.funcImports ?? [];
  const startResults = (spec.startResults ?? []).map((r) => [VAL[r]]);
  const types = [
    ...funcImports.map((f) => [0x60, ...vec(f.params.map((p) => [VAL[p]])), ...vec(f.results.map((r) => [VAL[r]]))]),
    [0x60, ...vec((spec.startParams ?? []).map((p) => [VAL[p]])), ...vec(startResults)],
  ];
  const startType = types.length - 1;
  const imports = funcImports.map((f, i) => [...str(f.module), ...str(f.name), 0, ...leb(i)]);
  const mem = spec.memoryImport === undefined ? { module: "env", name: "memory", min: 16 } : spec.memoryImport;
  if (mem)
    imports.push([
      ...str(mem.module),
      ...str(mem.name),
      2,
      ...(mem.max === undefined ? [0, ...leb(mem.min)] : [1, ...leb(mem.min), ...leb(mem.max)]),
    ]);
  const startIndex = funcImports.length;
  const exports: number[][] = [];
  if (spec.exportStart ?? true) exports.push([...str("_start"), 0, ...leb(startIndex)]);
  if (mem && (spec.exportMemory ?? true)) exports.push([...str("memory"), 2, 0]);
  return new Uint8Array([
    0,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec([leb(startType)])),
    ...section(7, vec(exports)),
    ...(spec.startSection ? section(8, leb(startIndex)) : []),
    ...section(
      10,
      vec([
        spec.startBody ? [...leb(spec.startBody.length + 2), 0, ...spec.startBody, 0x0b] : spec.trap ? [3, 0, 0x00, 0x0b] : [2, 0, 0x0b],
      ]),
    ),
  ]);
}

/** The hypercall import as the ABI declares it. */
export const HYPERCALL_IMPORT = {
  module: HYPERCALL_IMPORT_MODULE,
  name: HYPERCALL_IMPORT_NAME,
  params: new Array<Val>(HYPERCALL_PARAMS).fill("i32"),
  results: ["i32" as Val],
};
