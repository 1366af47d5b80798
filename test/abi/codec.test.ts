// Round trips of the codec and the pool flags, and the guest's generated copy of the offsets.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeOp, encodeOp } from "../../hypercall-abi/op-codec.js";
import { OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import { decodePoolFlags, encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { GUEST_ABI_FILE, renderGuestAbi } from "../../hypercall-abi/gen-guest-abi.js";
import * as C from "../../hypercall-abi/constants.js";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });

describe.each([...OP_LAYOUTS.values()].map((l) => [l.name, l] as const))("%s codec", (_, layout) => {
  const long = layout.longBytes === 8 ? u64 : u64.map((x) => x & 0xffffffffn);

  it("gen ops round-trip", () => {
    fc.assert(
      fc.property(
        u32,
        i32,
        fc.array(u64, { minLength: layout.oidWords, maxLength: layout.oidWords }),
        u32,
        u32,
        u32,
        u32,
        long,
        (cmd, poolId, oid, index, t, p, len, cmfn) => {
          const op = { cmd, poolId, gen: { oid, index, tmemOffset: t, pfnOffset: p, len, cmfn } };
          const back = decodeOp(encodeOp(op, layout), layout);
          expect(back.cmd).toBe(cmd);
          expect(back.poolId).toBe(poolId);
          expect(back.gen).toEqual(op.gen);
        },
      ),
    );
  });

  it("creat ops round-trip", () => {
    fc.assert(
      fc.property(u32, u64, u64, u32, u32, (cmd, lo, hi, flags, arg1) => {
        const op = { cmd, poolId: 0, creat: { uuid: [lo, hi] as [bigint, bigint], flags, arg1 } };
        expect(decodeOp(encodeOp(op, layout), layout).creat).toEqual(op.creat);
      }),
    );
  });

  it("decode then encode reproduces any bytes in the view the op uses", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: layout.size, maxLength: layout.size }), (bytes) => {
        const d = decodeOp(bytes, layout);
        // gen covers every byte of the struct in each layout (cmfn ends it).
        expect(Buffer.from(encodeOp({ cmd: d.cmd, poolId: d.poolId, gen: d.gen }, layout))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  it("refuses a short buffer and a wrong-sized oid", () => {
    expect(() => decodeOp(new Uint8Array(layout.size - 1), layout)).toThrow(RangeError);
    const oid = new Array(layout.oidWords + 1).fill(0n);
    expect(() => encodeOp({ cmd: 4, poolId: 0, gen: { oid, index: 0, tmemOffset: 0, pfnOffset: 0, len: 0, cmfn: 0n } }, layout)).toThrow(
      RangeError,
    );
  });
});

describe("pool flags", () => {
  it("Linux's canonical values", () => {
    expect(encodePoolFlags({})).toBe(0x01000000);
    expect(encodePoolFlags({ persistent: true })).toBe(0x01000001);
    expect(encodePoolFlags({ shared: true })).toBe(0x01000002);
    expect(encodePoolFlags({ version: 0 })).toBe(0);
  });

  it("decode takes apart every field", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 255 }),
        (persistent, shared, size, version) => {
          const f = decodePoolFlags(encodePoolFlags({ persistent, shared, pageSizeField: size, version }));
          expect(f).toEqual({ persistent, shared, precompressed: false, pageSizeField: size, reserved: 0, version });
        },
      ),
    );
    expect(decodePoolFlags(C.TMEM_POOL_RESERVED_BITS | C.TMEM_POOL_PRECOMPRESSED)).toMatchObject({
      reserved: 0x00ffff00,
      precompressed: true,
    });
  });
});

it("the guest's generated offsets are current (run `npm run gen:abi` if not)", () => {
  expect(readFileSync(new URL(`../../${GUEST_ABI_FILE}`, import.meta.url), "utf8")).toBe(renderGuestAbi());
});

it("every constant equals what Xen's own headers define (test/fixtures/xen-headers-record.json)", () => {
  const record = JSON.parse(readFileSync(new URL("../fixtures/xen-headers-record.json", import.meta.url), "utf8")) as {
    variants: Record<string, Record<string, { constants?: Record<string, number> }>>;
  };
  const ours = C as unknown as Record<string, number>;
  let compared = 0;
  for (const [version, arches] of Object.entries(record.variants)) {
    for (const [arch, v] of Object.entries(arches)) {
      for (const [name, value] of Object.entries(v.constants ?? {})) {
        // __HYPERVISOR_tmem_op -> HYPERVISOR_tmem_op; XEN_EPERM -> EPERM.
        const key = name.replace(/^__/, "").replace(/^XEN_(E[A-Z0-9]+)$/, "$1");
        if (!(key in ours)) continue;
        expect({ version, arch, name, value: ours[key] }).toEqual({ version, arch, name, value });
        compared++;
      }
    }
  }
  expect(compared).toBeGreaterThan(200);
});
