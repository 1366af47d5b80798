// struct tmem_op in every layout against the structs gcc recorded from Xen's own headers
// (test/fixtures/tmem-structs.json, copied from shared/abi).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decodeOp, encodeOp, type TmemOp } from "../../hypercall-abi/op-codec.js";
import { OP_LAYOUTS, opLayout } from "../../hypercall-abi/op-layouts.js";

interface Vector {
  name: string;
  kind: "creat" | "gen" | "ctrl";
  cmd: number;
  pool_id: number;
  hex: string;
  uuid?: (string | number)[];
  flags?: number;
  arg1?: number;
  arg2?: number;
  oid?: (string | number)[];
  object?: string | number;
  index?: number;
  tmem_offset?: number;
  pfn_offset?: number;
  len?: number;
  cmfn?: number;
  subop?: number;
  cli_id?: number;
}

interface Recorded {
  sizeof: number;
  offsets: Record<string, number>;
  vectors: Vector[];
}

const recorded = JSON.parse(readFileSync(new URL("../fixtures/tmem-structs.json", import.meta.url), "utf8")) as {
  layouts: Record<string, Recorded>;
};

const big = (x: string | number | undefined): bigint => BigInt(x ?? 0);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** The op a vector states, in the codec's terms. */
function stated(v: Vector, oidWords: number): TmemOp {
  const oid = v.object !== undefined ? [big(v.object)] : (v.oid ?? [0, 0, 0]).map(big);
  if (v.kind === "creat") {
    return { cmd: v.cmd, poolId: v.pool_id, creat: { uuid: [big(v.uuid?.[0]), big(v.uuid?.[1])], flags: v.flags ?? 0, arg1: v.arg1 ?? 0 } };
  }
  if (v.kind === "ctrl") {
    return {
      cmd: v.cmd,
      poolId: v.pool_id,
      ctrl: { subop: v.subop ?? 0, cliId: v.cli_id ?? 0, arg1: v.arg1 ?? 0, arg2: v.arg2 ?? 0, oid: oid.slice(0, oidWords), buf: 0n },
    };
  }
  return {
    cmd: v.cmd,
    poolId: v.pool_id,
    gen: {
      oid: oid.slice(0, oidWords),
      index: v.index ?? 0,
      tmemOffset: v.tmem_offset ?? 0,
      pfnOffset: v.pfn_offset ?? 0,
      len: v.len ?? 0,
      cmfn: big(v.cmfn),
    },
  };
}

it("the fixture names exactly the layouts hypercall-abi declares", () => {
  expect(Object.keys(recorded.layouts).sort()).toEqual([...OP_LAYOUTS.keys()].sort());
});

describe.each(Object.entries(recorded.layouts))("%s", (name, rec) => {
  const layout = opLayout(name)!;

  it("has gcc's sizeof", () => {
    expect(layout.size).toBe(rec.sizeof);
  });

  it("puts every field at gcc's offset", () => {
    const ours = Object.fromEntries(Object.entries(rec.offsets).map(([path]) => [path, layout.fields.get(path)?.offset]));
    expect(ours).toEqual(rec.offsets);
    // ...and declares no field the recording lacks.
    expect([...layout.fields.keys()].sort()).toEqual(Object.keys(rec.offsets).sort());
  });

  it.each(rec.vectors.map((v) => [v.name, v] as const))("vector %s encodes byte for byte and decodes to its fields", (_, v) => {
    const op = stated(v, layout.oidWords);
    expect(hex(encodeOp(op, layout))).toBe(v.hex);
    const back = decodeOp(Buffer.from(v.hex, "hex"), layout);
    expect(back.cmd).toBe(op.cmd);
    expect(back.poolId).toBe(op.poolId);
    const view = v.kind;
    expect(back[view]).toEqual(op[view]);
  });
});
