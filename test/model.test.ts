// Model-based property test: random op sequences from several domains, run against the VMM and
// the reference model (vmm/fuzz/shadow.ts, written from the spec's guarantees). A shrunk
// counterexample prints as a readable op list.
import fc from "fast-check";
import { expect, it } from "vitest";
import { HYPERVISOR_tmem_op, TMEM_DESTROY_POOL, TMEM_FLUSH_OBJECT, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_NEW_POOL, TMEM_PUT_PAGE } from "../hypercall-abi/constants.js";
import { encodeOp } from "../hypercall-abi/op-codec.js";
import { DEFAULT_LAYOUT } from "../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../hypercall-abi/pool-flags.js";
import { CaseRun, FIRST_FRAME, OP_AT, SHARED_UUID } from "../vmm/fuzz/hypercall-fuzzer.js";

type Kind = "new-pool" | "put" | "get" | "flush" | "flush-object" | "destroy" | "write-frame";
interface Op {
  kind: Kind;
  dom: number;
  pool: number;
  obj: number;
  index: number;
  frame: number;
  persistent: boolean;
  shared: boolean;
}

const NAMES: Record<Kind, (o: Op) => string> = {
  "new-pool": (o) => `dom${o.dom}.newPool(${o.shared ? "shared " : ""}${o.persistent ? "persistent" : "ephemeral"})`,
  put: (o) => `dom${o.dom}.put(pool ${o.pool}, obj ${o.obj}, index ${o.index}, frame ${o.frame})`,
  get: (o) => `dom${o.dom}.get(pool ${o.pool}, obj ${o.obj}, index ${o.index}, into frame ${o.frame})`,
  flush: (o) => `dom${o.dom}.flushPage(pool ${o.pool}, obj ${o.obj}, index ${o.index})`,
  "flush-object": (o) => `dom${o.dom}.flushObject(pool ${o.pool}, obj ${o.obj})`,
  destroy: (o) => `dom${o.dom}.destroyPool(${o.pool})`,
  "write-frame": (o) => `dom${o.dom}.writes(frame ${o.frame})`,
};

const opArb: fc.Arbitrary<Op> = fc
  .record({
    kind: fc.constantFrom<Kind>("new-pool", "put", "put", "put", "get", "get", "get", "flush", "flush-object", "destroy", "write-frame"),
    dom: fc.nat(2),
    pool: fc.nat(3),
    obj: fc.nat(2),
    index: fc.nat(3),
    frame: fc.nat(5),
    persistent: fc.boolean(),
    shared: fc.boolean(),
  })
  .map((o) => Object.assign(o, { [fc.toStringMethod]: () => NAMES[o.kind](o) }));

it("the VMM agrees with the reference model on any op sequence from three domains", () => {
  const layout = DEFAULT_LAYOUT;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), fc.integer({ min: 6, max: 30 }), (ops, capacity) => {
      const run = new CaseRun({ capacityFrames: capacity, domains: [0, 1, 2].map(() => ({ layout, privileged: false, authorised: true })) }, 0);
      for (const o of ops) {
        if (o.kind === "write-frame") {
          run.fill(o.dom, FIRST_FRAME + o.frame, 1 + (o.index % 2));
          continue;
        }
        const gen = (cmd: number) => encodeOp({ cmd, poolId: o.pool, gen: { oid: [BigInt(o.obj), 0n, 0n], index: o.index, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: BigInt(FIRST_FRAME + o.frame) } }, layout);
        const struct =
          o.kind === "new-pool"
            ? encodeOp({ cmd: TMEM_NEW_POOL, poolId: 0, creat: { uuid: o.shared ? SHARED_UUID : [0n, 0n], flags: encodePoolFlags({ persistent: o.persistent && !o.shared, shared: o.shared }), arg1: 0 } }, layout)
            : gen({ put: TMEM_PUT_PAGE, get: TMEM_GET_PAGE, flush: TMEM_FLUSH_PAGE, "flush-object": TMEM_FLUSH_OBJECT, destroy: TMEM_DESTROY_POOL }[o.kind]);
        const failure = run.step(o.dom, struct, BigInt(HYPERVISOR_tmem_op), BigInt(OP_AT));
        expect(failure).toBeNull();
      }
      expect(run.finish(ops.length)).toBeNull();
    }),
    { numRuns: 300, seed: 99 },
  );
});

it("a counterexample prints as the list of ops that led to it", () => {
  const sample = fc.sample(fc.array(opArb, { minLength: 2, maxLength: 2 }), { numRuns: 1, seed: 3 })[0];
  expect(fc.stringify(sample)).toMatch(/^\[dom\d\.\w+\(.*\),dom\d\.\w+\(.*\)\]$/);
});
