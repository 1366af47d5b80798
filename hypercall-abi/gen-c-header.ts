// Renders the C guest's header, hypercall-abi/c/xen-tmem.h, from the declarations every other
// part of the project uses: the numbers in constants.ts, each struct tmem_op in op-layouts.ts, the
// hypercall import in hypercall-import.ts. `npm run gen:abi` rewrites it, `tmemvm header` prints
// it, and a test fails if the committed copy is stale.
//
// Every struct is followed by _Static_asserts of its size and of each field's offset and width,
// with the numbers c-layout.ts derived, so a C compiler that lays a struct out differently from
// the model refuses to build the guest.
import type { Arch, CAggregate, CMember, CScalar } from "./c-layout.js";
import * as constants from "./constants.js";
import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME, HYPERCALL_REGISTERS } from "./hypercall-import.js";
import { DEFAULT_LAYOUT, OP_DECLS, OP_LAYOUTS, type OpLayout } from "./op-layouts.js";

export const C_HEADER_FILE = "hypercall-abi/c/xen-tmem.h";

interface ConstantGroup {
  readonly title: string;
  readonly has: (name: string) => boolean;
}

// Each constant lands in exactly one group (checked), so a new one cannot be left out unseen.
const GROUPS: readonly ConstantGroup[] = [
  { title: "Hypercall numbers (public/xen.h)", has: (n) => n.startsWith("HYPERVISOR_") },
  {
    title: "struct tmem_op.cmd (retired numbers are never reused)",
    has: (n) => /^TMEM_[A-Z_]+$/.test(n) && !/^TMEM_(POOL_|SPEC_|PAGE_|CLI)/.test(n),
  },
  { title: "TMEM_CONTROL sub-ops (u.ctrl.subop, Xen 4.0-4.5 layouts only)", has: (n) => n.startsWith("TMEMC_") },
  { title: "Pool flags (u.creat.flags): version << 24 | page size field << 4 | flags", has: (n) => /^TMEM_(POOL_|SPEC_)/.test(n) },
  { title: "Clients (control ops)", has: (n) => n.startsWith("TMEM_CLI") },
  { title: "Limits and page size", has: (n) => n.startsWith("MAX_") || n.startsWith("TMEM_PAGE_") },
  {
    title:
      "Xen's errno values; a failing hypercall returns the negation. wasi-libc's <errno.h> numbers\n * errors differently (WASI's numbering), hence the XEN_ prefix.",
    has: (n) => /^E[A-Z0-9]+$/.test(n),
  },
];

/** The C name of a constant: Xen's own spelling, or a prefix where a bare name would collide. */
function cName(name: string): string {
  if (name.startsWith("HYPERVISOR_")) return `__${name}`;
  if (/^E[A-Z0-9]+$/.test(name)) return `XEN_${name}`;
  if (name.startsWith("MAX_")) return `TMEM_${name}`;
  return name;
}

function cValue(name: string, value: number): string {
  return /MASK|BITS|_ALL$/.test(name) ? `0x${value.toString(16).padStart(name.includes("BITS") ? 8 : 2, "0")}` : String(value);
}

function renderConstants(): string[] {
  const all = Object.entries(constants as Record<string, number>);
  const lines: string[] = [];
  for (const [name] of all) {
    const homes = GROUPS.filter((g) => g.has(name)).length;
    if (homes !== 1) throw new Error(`constant ${name} belongs to ${homes} groups of the C header, not one`);
  }
  for (const g of GROUPS) {
    lines.push("", `/* ${g.title} */`);
    const members = all.filter(([n]) => g.has(n)).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    for (const [name, value] of members) lines.push(`#define ${cName(name)} ${cValue(name, value)}`);
  }
  return lines;
}

/** The type a wasm32 C compiler must see for each scalar to reproduce the arch's layout. */
const C_TYPES: Record<Arch, Record<CScalar, string>> = {
  x86_64: { uint32_t: "uint32_t", int32_t: "int32_t", uint64_t: "uint64_t", xen_pfn_t: "uint64_t", guest_handle: "uint64_t" },
  // i386 aligns a uint64_t member to 4 bytes; wasm32 aligns it to 8, so the 32-bit layouts use a
  // 4-aligned typedef. xen_pfn_t (unsigned long) and handles (pointers) are 4 bytes there.
  x86_32: { uint32_t: "uint32_t", int32_t: "int32_t", uint64_t: "xen_tmem_u64_a4", xen_pfn_t: "uint32_t", guest_handle: "uint32_t" },
};

const XEN_TYPE_NOTE: Partial<Record<CScalar, string>> = { xen_pfn_t: "xen_pfn_t", guest_handle: "guest handle" };

/** A C identifier for a layout name: `xen-4.12-oid3/x86_64` -> `xen_4_12_oid3_x86_64`. */
export function cLayoutTag(layout: OpLayout): string {
  return `tmem_op_${layout.name.replace(/[^A-Za-z0-9]+/g, "_")}`;
}

function renderStruct(tag: string, layout: OpLayout): string[] {
  const decl: CAggregate = OP_DECLS[layout.generation];
  const types = C_TYPES[layout.arch];
  const body: string[] = [];
  // [C member path, layout path]; the layout's paths leave out the union `u`, as Xen's code does.
  const leaves: [string, string][] = [];
  const member = (m: CMember, depth: number, cPath: string): void => {
    const pad = "    ".repeat(depth);
    const path = cPath ? `${cPath}.${m.name}` : m.name;
    if (m.kind === "field") {
      const note = XEN_TYPE_NOTE[m.type];
      body.push(`${pad}${types[m.type]} ${m.name}${m.count > 1 ? `[${m.count}]` : ""};${note ? ` /* ${note} */` : ""}`);
      leaves.push([path, path.replace(/^u\./, "")]);
      return;
    }
    body.push(`${pad}${m.kind} {`);
    for (const child of m.members) member(child, depth + 1, path);
    body.push(`${pad}} ${m.name};`);
  };
  for (const m of decl.members) member(m, 1, "");

  const asserts = [`_Static_assert(sizeof(struct ${tag}) == ${layout.size}, "struct ${tag}: ${layout.size} bytes");`];
  for (const [cPath, path] of leaves) {
    const f = layout.fields.get(path);
    if (!f) throw new Error(`${layout.name}: the declaration has ${path}, the layout does not`);
    asserts.push(`_Static_assert(offsetof(struct ${tag}, ${cPath}) == ${f.offset}, "${cPath} at ${f.offset}");`);
    asserts.push(`_Static_assert(sizeof(((struct ${tag} *)0)->${cPath}) == ${f.size * f.count}, "${cPath}: ${f.size * f.count} bytes");`);
  }
  if (leaves.length !== layout.fields.size)
    throw new Error(`${layout.name}: the C struct has ${leaves.length} fields, the layout ${layout.fields.size}`);
  return [`/* ${layout.name}: ${layout.releases}. */`, `struct ${tag} {`, ...body, `};`, ...asserts];
}

function renderHypercall(): string[] {
  const halves = HYPERCALL_REGISTERS.flatMap((r) => [`int32_t ${r}_lo`, `int32_t ${r}_hi`]);
  const split = HYPERCALL_REGISTERS.flatMap((r) => [`(int32_t)${r}`, `(int32_t)(${r} >> 32)`]);
  const regs = HYPERCALL_REGISTERS.map((r) => `uint64_t ${r}`);
  const args = HYPERCALL_REGISTERS.slice(1);
  return [
    `/*`,
    ` * The hypercall: the Wasm import ${HYPERCALL_IMPORT_MODULE}.${HYPERCALL_IMPORT_NAME}, (${halves.length} x i32) -> i32. It carries the registers`,
    ` * of a Xen x86-64 hypercall (number in ${HYPERCALL_REGISTERS[0]}, arguments in ${args.join(", ")}), each as its`,
    ` * low and high 32-bit halves, and returns the low half of ${HYPERCALL_REGISTERS[0]}, which the caller sign-extends.`,
    ` */`,
    `__attribute__((import_module("${HYPERCALL_IMPORT_MODULE}"), import_name("${HYPERCALL_IMPORT_NAME}")))`,
    `int32_t xen_hypercall(${halves.join(", ")});`,
    ``,
    `/* A hypercall with whole 64-bit registers; the result sign-extended as Xen's long. */`,
    `static inline int64_t xen_hypercall_regs(${regs.join(", ")}) {`,
    `    return (int64_t)xen_hypercall(${split.join(", ")});`,
    `}`,
    ``,
    `/* tmem_op on the default layout: 1 success or hit, 0 miss, a negative XEN_E* on error. */`,
    `static inline int64_t HYPERVISOR_tmem_op(struct tmem_op *op) {`,
    `    return xen_hypercall_regs(__HYPERVISOR_tmem_op, (uint64_t)(uintptr_t)op${", 0".repeat(args.length - 1)});`,
    `}`,
    ``,
    `/* The frame number (cmfn) of the page holding a guest address. */`,
    `static inline uint64_t xen_tmem_pfn(const void *addr) { return (uint64_t)(uintptr_t)addr >> TMEM_PAGE_SHIFT; }`,
  ];
}

export function renderCHeader(): string {
  const lines = [
    `/*`,
    ` * Generated by hypercall-abi/gen-c-header.ts from constants.ts, op-layouts.ts and`,
    ` * hypercall-import.ts: do not edit; run \`npm run gen:abi\`. \`tmemvm header\` prints it.`,
    ` *`,
    ` * Xen's tmem ABI for a C guest of tmemvm (clang --target=wasm32-wasi, C11): the constants, every`,
    ` * struct tmem_op layout with its offsets checked at compile time, and the hypercall import.`,
    ` * \`struct tmem_op\` is the default layout, ${DEFAULT_LAYOUT.name}; the other layouts are named`,
    ` * struct tmem_op_<generation>_<arch>, for guests run with \`--layout\`.`,
    ` */`,
    `#ifndef XEN_TMEM_H`,
    `#define XEN_TMEM_H`,
    ``,
    `#include <stddef.h>`,
    `#include <stdint.h>`,
    ...renderConstants(),
    ``,
    `/* A uint64_t aligned as i386 aligns it inside a struct (4 bytes), for the x86_32 layouts. */`,
    `typedef uint64_t xen_tmem_u64_a4 __attribute__((aligned(4)));`,
    ``,
    `#define TMEM_OP_DEFAULT_LAYOUT "${DEFAULT_LAYOUT.name}"`,
    ...renderStruct("tmem_op", DEFAULT_LAYOUT),
  ];
  for (const layout of OP_LAYOUTS.values()) lines.push("", ...renderStruct(cLayoutTag(layout), layout));
  lines.push("", ...renderHypercall(), "", `#endif /* XEN_TMEM_H */`);
  return `${lines.join("\n")}\n`;
}
