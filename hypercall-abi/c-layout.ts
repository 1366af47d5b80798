// A tiny model of how gcc lays out a C struct on x86, so each `struct tmem_op` is declared once,
// as Xen declared it, and every offset is derived rather than written down.

export type Arch = "x86_64" | "x86_32";

/** The C scalar types that appear in Xen's tmem structs. */
export type CScalar =
  | "uint32_t"
  | "int32_t"
  | "uint64_t"
  /** xen_pfn_t = unsigned long: 4 bytes on i386, 8 on x86-64. */
  | "xen_pfn_t"
  /** An embedded guest handle (a one-member struct holding a pointer). */
  | "guest_handle";

export interface CField {
  readonly kind: "field";
  readonly name: string;
  readonly type: CScalar;
  /** Array length; 1 for a scalar. */
  readonly count: number;
}

export interface CAggregate {
  readonly kind: "struct" | "union";
  readonly name: string;
  readonly members: readonly CMember[];
}

export type CMember = CField | CAggregate;

export const field = (name: string, type: CScalar, count = 1): CField => ({ kind: "field", name, type, count });
export const struct = (name: string, members: CMember[]): CAggregate => ({ kind: "struct", name, members });
export const union = (name: string, members: CMember[]): CAggregate => ({ kind: "union", name, members });

interface ScalarAbi {
  readonly size: number;
  readonly align: number;
}

// On i386 a uint64_t member is only 4-byte aligned; that is the whole difference that makes the
// 32-bit structs shorter, together with 4-byte longs and pointers.
const SCALARS: Record<Arch, Record<CScalar, ScalarAbi>> = {
  x86_64: {
    uint32_t: { size: 4, align: 4 },
    int32_t: { size: 4, align: 4 },
    uint64_t: { size: 8, align: 8 },
    xen_pfn_t: { size: 8, align: 8 },
    guest_handle: { size: 8, align: 8 },
  },
  x86_32: {
    uint32_t: { size: 4, align: 4 },
    int32_t: { size: 4, align: 4 },
    uint64_t: { size: 8, align: 4 },
    xen_pfn_t: { size: 4, align: 4 },
    guest_handle: { size: 4, align: 4 },
  },
};

/** Where one scalar (or array of scalars) lives in the laid-out struct. */
export interface FieldPlacement {
  readonly path: string;
  readonly type: CScalar;
  readonly offset: number;
  /** Bytes of one element. */
  readonly size: number;
  readonly count: number;
  readonly signed: boolean;
}

export interface StructLayout {
  readonly size: number;
  readonly align: number;
  readonly fields: ReadonlyMap<string, FieldPlacement>;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Lays out `decl` as gcc does for `arch`. Paths join member names with dots; the names listed in
 * `anonymous` (the union `u` of tmem_op) are left out of paths, matching how Xen's code and the
 * recorded structs name fields (`gen.cmfn` for `u.gen.cmfn`).
 */
export function layOut(decl: CAggregate, arch: Arch, anonymous: ReadonlySet<string> = new Set()): StructLayout {
  const fields = new Map<string, FieldPlacement>();

  const visit = (m: CMember, base: number, prefix: string): { size: number; align: number } => {
    if (m.kind === "field") {
      const abi = SCALARS[arch][m.type];
      const path = prefix + m.name;
      fields.set(path, {
        path,
        type: m.type,
        offset: base,
        size: abi.size,
        count: m.count,
        signed: m.type === "int32_t",
      });
      return { size: abi.size * m.count, align: abi.align };
    }
    const childPrefix = anonymous.has(m.name) ? prefix : `${prefix + m.name}.`;
    let size = 0;
    let align = 1;
    for (const child of m.members) {
      // A member's offset depends on its alignment, known only after a dry layout of it.
      const probe = layOutAlone(child, arch);
      const offset = m.kind === "struct" ? alignUp(size, probe.align) : 0;
      const placed = visit(child, base + offset, childPrefix);
      align = Math.max(align, placed.align);
      size = m.kind === "struct" ? offset + placed.size : Math.max(size, placed.size);
    }
    return { size: alignUp(size, align), align };
  };

  const { size, align } = visit(decl, 0, "");
  // The top-level struct's own name is not part of any path.
  const stripped = new Map<string, FieldPlacement>();
  const top = anonymous.has(decl.name) ? "" : `${decl.name}.`;
  for (const [path, placement] of fields) {
    const p = path.startsWith(top) ? path.slice(top.length) : path;
    stripped.set(p, { ...placement, path: p });
  }
  return { size, align, fields: stripped };
}

function layOutAlone(m: CMember, arch: Arch): { size: number; align: number } {
  if (m.kind === "field") {
    const abi = SCALARS[arch][m.type];
    return { size: abi.size * m.count, align: abi.align };
  }
  const l = layOut(m, arch);
  return { size: l.size, align: l.align };
}
