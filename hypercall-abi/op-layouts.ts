// Every `struct tmem_op` Xen shipped, declared once as Xen declared it; offsets are derived.
import { field, layOut, struct, union, type Arch, type CAggregate, type FieldPlacement } from "./c-layout.js";
import { TMEM_SPEC_VERSION, TMEM_SPEC_VERSION_LEGACY } from "./constants.js";

/** The ABI generations of struct tmem_op (see the spec's version map). */
export type Generation =
  /** Xen 4.0.0-4.0.1: 64-bit object id, control sub-struct with a 64-bit arg3. */
  | "xen-4.0-legacy"
  /** Xen 4.0.2-4.5: oid[3] (192 bits), control sub-struct still in the guest union. */
  | "xen-4.1-oid3"
  /** Xen 4.6-4.12 (and the header kept since): oid[3], no control sub-struct. */
  | "xen-4.12-oid3";

export type LayoutName = `${Generation}/${Arch}`;

// The create sub-struct is `new` in 4.0 and `creat` after; its bytes never changed, so it is
// named `creat` throughout (as the recorded structs do).
const creat = struct("creat", [field("uuid", "uint64_t", 2), field("flags", "uint32_t"), field("arg1", "uint32_t")]);

const genTail = [
  field("index", "uint32_t"),
  field("tmem_offset", "uint32_t"),
  field("pfn_offset", "uint32_t"),
  field("len", "uint32_t"),
  field("cmfn", "xen_pfn_t"),
];

const ctrlHead = [field("subop", "uint32_t"), field("cli_id", "uint32_t"), field("arg1", "uint32_t"), field("arg2", "uint32_t")];

const tmemOp = (u: CAggregate): CAggregate => struct("tmem_op", [field("cmd", "uint32_t"), field("pool_id", "int32_t"), u]);

const DECLS: Record<Generation, CAggregate> = {
  // `u.gen.object` is the whole object id; it is named `gen.oid` so all generations share paths.
  "xen-4.0-legacy": tmemOp(
    union("u", [
      creat,
      struct("ctrl", [...ctrlHead, field("arg3", "uint64_t"), field("buf", "guest_handle")]),
      struct("gen", [field("oid", "uint64_t", 1), ...genTail]),
    ]),
  ),
  "xen-4.1-oid3": tmemOp(
    union("u", [
      creat,
      struct("ctrl", [...ctrlHead, field("oid", "uint64_t", 3), field("buf", "guest_handle")]),
      struct("gen", [field("oid", "uint64_t", 3), ...genTail]),
    ]),
  ),
  "xen-4.12-oid3": tmemOp(union("u", [creat, struct("gen", [field("oid", "uint64_t", 3), ...genTail])])),
};

/** Each generation's struct tmem_op as Xen declared it, for renderings that need the tree (the C header). */
export const OP_DECLS: Readonly<Record<Generation, CAggregate>> = DECLS;

const SPEC_VERSION: Record<Generation, number> = {
  "xen-4.0-legacy": TMEM_SPEC_VERSION_LEGACY,
  "xen-4.1-oid3": TMEM_SPEC_VERSION,
  "xen-4.12-oid3": TMEM_SPEC_VERSION,
};

const RELEASES: Record<Generation, string> = {
  "xen-4.0-legacy": "Xen 4.0.0-4.0.1",
  "xen-4.1-oid3": "Xen 4.0.2-4.5",
  "xen-4.12-oid3": "Xen 4.6-4.12 (header kept since)",
};

/** One struct tmem_op layout, with the offsets the hot path reads resolved to numbers. */
export interface OpLayout {
  readonly name: LayoutName;
  readonly generation: Generation;
  readonly arch: Arch;
  readonly releases: string;
  /** The pool version this generation's hypervisor demands in NEW_POOL's flags. */
  readonly specVersion: number;
  readonly size: number;
  readonly fields: ReadonlyMap<string, FieldPlacement>;
  /** The control sub-struct is part of the guest union (4.0-4.5). */
  readonly hasCtrl: boolean;
  /** 64-bit words in the object id: 1 (legacy) or 3. */
  readonly oidWords: 1 | 3;
  /** Bytes of xen_pfn_t (and of guest handles) in this layout: 8 or 4. */
  readonly longBytes: 8 | 4;
  /** Bytes of a pool uuid (creat.uuid), as TMEMC_SAVE_GET_POOL_UUID writes it. */
  readonly uuidBytes: number;
  /** Bytes of struct tmem_handle in the save stream: u32 pool_id, u32 index, then the object id. */
  readonly handleBytes: number;
  readonly at: {
    readonly cmd: number;
    readonly poolId: number;
    readonly creatUuid: number;
    readonly creatFlags: number;
    readonly creatArg1: number;
    readonly genOid: number;
    readonly genIndex: number;
    readonly genTmemOffset: number;
    readonly genPfnOffset: number;
    readonly genLen: number;
    readonly genCmfn: number;
    /** -1 where the layout has no control sub-struct. */
    readonly ctrlSubop: number;
    readonly ctrlCliId: number;
    readonly ctrlArg1: number;
    readonly ctrlArg2: number;
    /** ctrl.arg3 (legacy) or ctrl.oid (v1): the object id of RESTORE_PUT/FLUSH_PAGE. */
    readonly ctrlOid: number;
    readonly ctrlBuf: number;
  };
}

function fieldBytes(fields: ReadonlyMap<string, FieldPlacement>, path: string): number {
  const f = fields.get(path)!;
  return f.size * f.count;
}

function resolve(generation: Generation, arch: Arch): OpLayout {
  const l = layOut(DECLS[generation], arch, new Set(["tmem_op", "u"]));
  const off = (path: string): number => l.fields.get(path)?.offset ?? -1;
  const hasCtrl = l.fields.has("ctrl.subop");
  return {
    name: `${generation}/${arch}`,
    generation,
    arch,
    releases: RELEASES[generation],
    specVersion: SPEC_VERSION[generation],
    size: l.size,
    fields: l.fields,
    hasCtrl,
    oidWords: l.fields.get("gen.oid")?.count === 1 ? 1 : 3,
    longBytes: arch === "x86_64" ? 8 : 4,
    uuidBytes: fieldBytes(l.fields, "creat.uuid"),
    handleBytes: 8 + fieldBytes(l.fields, "gen.oid"),
    at: {
      cmd: off("cmd"),
      poolId: off("pool_id"),
      creatUuid: off("creat.uuid"),
      creatFlags: off("creat.flags"),
      creatArg1: off("creat.arg1"),
      genOid: off("gen.oid"),
      genIndex: off("gen.index"),
      genTmemOffset: off("gen.tmem_offset"),
      genPfnOffset: off("gen.pfn_offset"),
      genLen: off("gen.len"),
      genCmfn: off("gen.cmfn"),
      ctrlSubop: off("ctrl.subop"),
      ctrlCliId: off("ctrl.cli_id"),
      ctrlArg1: off("ctrl.arg1"),
      ctrlArg2: off("ctrl.arg2"),
      ctrlOid: hasCtrl ? off(generation === "xen-4.0-legacy" ? "ctrl.arg3" : "ctrl.oid") : -1,
      ctrlBuf: off("ctrl.buf"),
    },
  };
}

const GENERATIONS: readonly Generation[] = ["xen-4.0-legacy", "xen-4.1-oid3", "xen-4.12-oid3"];
const ARCHES: readonly Arch[] = ["x86_64", "x86_32"];

export const OP_LAYOUTS: ReadonlyMap<LayoutName, OpLayout> = new Map(
  GENERATIONS.flatMap((g) => ARCHES.map((a) => [`${g}/${a}` as LayoutName, resolve(g, a)] as const)),
);

/** What a 64-bit guest of a current Linux sees: the default for every domain. */
export const DEFAULT_LAYOUT_NAME: LayoutName = "xen-4.12-oid3/x86_64";

export function opLayout(name: string): OpLayout | undefined {
  return OP_LAYOUTS.get(name as LayoutName);
}

export const DEFAULT_LAYOUT: OpLayout = OP_LAYOUTS.get(DEFAULT_LAYOUT_NAME)!;
