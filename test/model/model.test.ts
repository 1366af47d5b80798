// Model-based property test: random op sequences from several domains sharing pools, with the
// host's control actions in between, run against the VMM and the reference model
// (vmm/fuzz/shadow.ts, written from the spec). A shrunk counterexample prints as a readable op
// list. Then the scenarios the model must get right, each named for its rule.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { encodeOp } from "../../hypercall-abi/op-codec.js";
import { opLayout, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { CaseRun, FIRST_FRAME, FRAMES_USED, OP_AT, SHARED_UUID, type HostAction } from "../../fuzz/case-run.js";
import { collisionFamilies } from "../../fuzz/oid-families.js";

type Kind = "new-pool" | "put" | "get" | "flush" | "flush-object" | "destroy" | "write-frame" | "host" | "legacy" | "fill";
interface Op {
  kind: Kind;
  dom: number;
  pool: number;
  obj: number;
  index: number;
  frame: number;
  persistent: boolean;
  shared: boolean;
  /** write-frame: 0 zeros, 1-2 dense, 3-4 one non-zero byte at `at`; host: which action. */
  fill: number;
  at: number;
  /** legacy: NEW_PAGE, READ or WRITE, with these offsets. */
  cmd: number;
  offset: number;
  len: number;
  /** put, get, flush: the object is member `obj` of an oid family built without the hash key (fuzz/oid-families.ts). */
  family: boolean;
}

/** One family of 32 six-word oids that collide under every key of a hash whose key only seeds it. */
const FAMILY = collisionFamilies(1, 6)[0];

const HOST = ["freeze", "freeze", "thaw", "thaw", "weight", "cap", "compress", "flush", "save", "restore", "restore"] as const;
const hostAction = (o: Op): HostAction => {
  const kind = HOST[o.fill % HOST.length];
  if (kind === "freeze" || kind === "thaw") return { kind, d: o.dom };
  // Caps in MiB: none, 0, and real sizes (1 MiB is 256 pages: a fill reaches it).
  if (kind === "cap") return { kind, d: o.dom, value: [null, 0, 1, 2][o.index % 4] };
  if (kind === "save" || kind === "restore") return { kind, d: o.dom, value: o.index };
  return { kind, d: o.dom, value: kind === "weight" ? o.index : kind === "flush" ? 1 + o.index : o.index % 2 };
};

const NAMES: Record<Kind, (o: Op) => string> = {
  "new-pool": (o) => `dom${o.dom}.newPool(${o.shared ? "shared " : ""}${o.persistent ? "persistent" : "ephemeral"})`,
  put: (o) => `dom${o.dom}.put(pool ${o.pool}, obj ${o.obj}, index ${o.index}, frame ${o.frame})`,
  get: (o) => `dom${o.dom}.get(pool ${o.pool}, obj ${o.obj}, index ${o.index}, into frame ${o.frame})`,
  flush: (o) => `dom${o.dom}.flushPage(pool ${o.pool}, obj ${o.obj}, index ${o.index})`,
  "flush-object": (o) => `dom${o.dom}.flushObject(pool ${o.pool}, obj ${o.obj})`,
  destroy: (o) => `dom${o.dom}.destroyPool(${o.pool})`,
  "write-frame": (o) =>
    `dom${o.dom}.writes(frame ${o.frame}, ${["zeros", "pattern", "pattern", "one byte", "one byte"][o.fill % 5]}${o.fill % 5 >= 3 ? ` at ${o.at}` : ""})`,
  host: (o) => `host.${JSON.stringify(hostAction(o))}`,
  legacy: (o) =>
    `dom${o.dom}.${["newPage", "read", "write"][o.cmd % 3]}(pool ${o.pool}, obj ${o.obj}, index ${o.index}, frame ${o.frame}, offsets ${o.offset}, len ${o.len})`,
  fill: (o) => `dom${o.dom}.fills(pool ${o.pool}, ${fillCount(o)} pages)`,
};

/** A fill's pages: up to 300, so the capacities below fill, a level-0 word and a level-1 summary with them. */
const fillCount = (o: Op) => 8 + ((o.len * 7 + o.at) % 300);

const opArb: fc.Arbitrary<Op> = fc
  .record({
    kind: fc.constantFrom<Kind>(
      "new-pool",
      "new-pool",
      "put",
      "put",
      "put",
      "get",
      "get",
      "get",
      "flush",
      "flush-object",
      "destroy",
      "write-frame",
      "write-frame",
      "host",
      "host",
      "legacy",
      "fill",
    ),
    dom: fc.nat(2),
    pool: fc.constantFrom(0, 0, 0, 1, 1, 2, 3),
    obj: fc.nat(2),
    index: fc.nat(3),
    frame: fc.nat(5),
    persistent: fc.boolean(),
    shared: fc.boolean(),
    fill: fc.nat(20),
    at: fc.oneof(fc.integer({ min: 4032, max: 4095 }), fc.nat(4095)),
    cmd: fc.nat(2),
    offset: fc.constantFrom(0, 1, 64, 4032, 4095, 4096),
    len: fc.constantFrom(0, 1, 64, 4095, 4096, 4097),
    family: fc.boolean(),
  })
  .map((o) => Object.assign(o, { [fc.toStringMethod]: () => NAMES[o.kind](o) }));

/** Runs `ops` on a fresh case; returns the first failure's message or null. */
function runOps(ops: Op[], capacity: number, layouts: OpLayout[]): string | null {
  const run = new CaseRun(
    { capacityFrames: capacity, domains: layouts.map((layout) => ({ layout, privileged: false, authorised: true })) },
    0,
  );
  for (const o of ops) {
    const layout = layouts[o.dom];
    if (o.kind === "write-frame") {
      run.fill(o.dom, FIRST_FRAME + o.frame, o.fill % 5, o.at);
      continue;
    }
    if (o.kind === "host") {
      const f = run.host(hostAction(o));
      if (f) return f.message;
      continue;
    }
    if (o.kind === "fill") {
      const n = fillCount(o);
      for (let i = 0; i < n; i++) {
        const frame = FIRST_FRAME + (i % FRAMES_USED);
        run.stamp(o.dom, frame, (i * 8) & 4095, i + 1);
        const f = run.step(
          o.dom,
          encodeOp(
            {
              cmd: C.TMEM_PUT_PAGE,
              poolId: o.pool,
              gen: {
                oid: [BigInt(0x100 + (i >> 5)), 0n, 0n].slice(0, layout.oidWords),
                index: i & 31,
                tmemOffset: 0,
                pfnOffset: 0,
                len: 0,
                cmfn: BigInt(frame),
              },
            },
            layout,
          ),
          BigInt(C.HYPERVISOR_tmem_op),
          BigInt(OP_AT),
        );
        if (f) return f.message;
      }
      continue;
    }
    const member = FAMILY[(o.obj * 11 + o.index) % FAMILY.length];
    const familyOid = [0, 2, 4].map((i) => BigInt(member[i] >>> 0) | (BigInt(member[i + 1] >>> 0) << 32n));
    const oid = o.family && layout.oidWords === 3 ? familyOid : [BigInt(o.obj), 0n, 0n].slice(0, layout.oidWords);
    const gen = (cmd: number, tmemOffset = 0, pfnOffset = 0, len = 0) =>
      encodeOp(
        { cmd, poolId: o.pool, gen: { oid, index: o.index, tmemOffset, pfnOffset, len, cmfn: BigInt(FIRST_FRAME + o.frame) } },
        layout,
      );
    const struct =
      o.kind === "new-pool"
        ? encodeOp(
            {
              cmd: C.TMEM_NEW_POOL,
              poolId: 0,
              creat: {
                uuid: o.shared ? SHARED_UUID : [0n, 0n],
                flags: encodePoolFlags({ persistent: o.persistent && !o.shared, shared: o.shared, version: layout.specVersion }),
                arg1: 0,
              },
            },
            layout,
          )
        : o.kind === "legacy"
          ? gen([C.TMEM_NEW_PAGE, C.TMEM_READ, C.TMEM_WRITE][o.cmd % 3], o.offset, 4096 - o.offset, o.len)
          : gen(
              {
                put: C.TMEM_PUT_PAGE,
                get: C.TMEM_GET_PAGE,
                flush: C.TMEM_FLUSH_PAGE,
                "flush-object": C.TMEM_FLUSH_OBJECT,
                destroy: C.TMEM_DESTROY_POOL,
              }[o.kind],
            );
    const failure = run.step(o.dom, struct, BigInt(C.HYPERVISOR_tmem_op), BigInt(OP_AT));
    if (failure) return failure.message;
  }
  return run.finish(ops.length, 0)?.message ?? null;
}

const L412 = opLayout("xen-4.12-oid3/x86_64")!;
const L412_32 = opLayout("xen-4.12-oid3/x86_32")!;
const L41 = opLayout("xen-4.1-oid3/x86_64")!;
const L40 = opLayout("xen-4.0-legacy/x86_32")!;

it("the VMM agrees with the reference model on any op sequence from three domains", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { minLength: 1, maxLength: 120, size: "max" }),
      // Small enough to evict, and either side of the free-frame bitmap's word and level edges.
      fc.oneof(fc.integer({ min: 6, max: 30 }), fc.constantFrom(31, 32, 33, 63, 64, 65, 257)),
      fc.constantFrom("4.12 x3", "4.12 mixed arch", "4.1 + 4.0 + 4.12"),
      (ops, capacity, mix) => {
        const layouts = { "4.12 x3": [L412, L412, L412], "4.12 mixed arch": [L412, L412_32, L412], "4.1 + 4.0 + 4.12": [L41, L40, L412] }[
          mix
        ];
        expect(runOps(ops, capacity, layouts)).toBeNull();
      },
    ),
    { numRuns: 150, seed: 99 },
  );
});

it("a counterexample prints as the list of ops that led to it", () => {
  const sample = fc.sample(fc.array(opArb, { minLength: 2, maxLength: 2 }), { numRuns: 1, seed: 3 })[0];
  expect(fc.stringify(sample)).toMatch(/^\[(dom\d\.\w+\(.*\)|host\.\{.*\}),(dom\d\.\w+\(.*\)|host\.\{.*\})\]$/);
});

/** Builds an op list from a compact script, for the scenarios below. */
const op = (kind: Kind, dom: number, extra: Partial<Op> = {}): Op => ({
  kind,
  dom,
  pool: 0,
  obj: 1,
  index: 0,
  frame: 0,
  persistent: false,
  shared: false,
  fill: 1,
  at: 0,
  cmd: 0,
  offset: 0,
  len: 0,
  family: false,
  ...extra,
});
const freeze = (dom: number) => op("host", dom, { fill: 0 });
const thaw = (dom: number) => op("host", dom, { fill: 2 });

describe("the model holds the rules it is checking against", () => {
  // Two domains; dom1 (index 1) creates shared pool U, dom0 joins it: dom1 owns it.
  const shared = [
    op("write-frame", 0, { fill: 1 }),
    op("write-frame", 1, { fill: 2 }),
    op("new-pool", 1, { shared: true }),
    op("new-pool", 0, { shared: true }),
  ];

  it("a 4.12 guest's NEW_PAGE is -ENOSYS and changes nothing: a later get still hits", () => {
    expect(
      runOps([op("write-frame", 0), op("new-pool", 0), op("put", 0), op("legacy", 0, { cmd: 0 }), op("get", 0, { frame: 1 })], 8, [L412]),
    ).toBeNull();
  });

  it("rule 1: a put and a flush read the frozen flag of the pool's owner, not the caller's", () => {
    expect(
      runOps(
        [...shared, freeze(1), op("put", 0), op("flush", 0), thaw(1), freeze(0), op("put", 0), op("flush", 0), op("put", 0), op("get", 1)],
        8,
        [L412, L412],
      ),
    ).toBeNull();
  });

  it("rule 2: a put makes the owner the object's last client, so the owner's leaving takes it", () => {
    expect(runOps([...shared, op("put", 0), op("destroy", 1), op("get", 0)], 8, [L412, L412])).toBeNull();
  });

  it("rule 2: a get makes the caller the last client, so the getter's leaving takes it", () => {
    expect(
      runOps(
        [...shared, op("put", 1), op("put", 1, { obj: 2 }), op("get", 0), op("destroy", 0), op("get", 1), op("get", 1, { obj: 2 })],
        8,
        [L412, L412],
      ),
    ).toBeNull();
  });

  it("rule 3: a domain holding the pool in two slots keeps everything until its last slot goes", () => {
    expect(
      runOps(
        [
          ...shared,
          op("new-pool", 0, { shared: true }),
          op("put", 1),
          op("get", 0, { pool: 1 }),
          op("destroy", 0, { pool: 1 }),
          op("get", 0),
          op("get", 1),
          op("destroy", 0),
          op("get", 1),
        ],
        8,
        [L412, L412],
      ),
    ).toBeNull();
  });

  it("an eviction takes the least recently used page, which a get then misses", () => {
    const fill = [0, 1, 2, 3].map((f) => op("write-frame", 0, { frame: f, fill: 1 + (f % 2) }));
    const puts = [0, 1, 2, 3].map((i) => op("put", 0, { index: i, frame: i, obj: 1 }));
    expect(
      runOps(
        [
          ...fill,
          op("new-pool", 0, { shared: true }),
          ...puts,
          op("get", 0, { index: 0, frame: 5 }),
          op("put", 0, { index: 3, obj: 2, frame: 2 }),
          op("get", 0, { index: 1, frame: 5 }),
          op("get", 0, { index: 0, frame: 5 }),
        ],
        4,
        [L412],
      ),
    ).toBeNull();
  });
});
