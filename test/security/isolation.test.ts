// No handle a guest can form reaches another guest's private pages, or a shared pool it was
// not authorised for.
import fc from "fast-check";
import { expect, it } from "vitest";
import { Guest, newTmem, pattern, samePage } from "../support/harness.js";

const SECRET_SEED = 0x5ec7e7;

it("whatever ops an intruder issues, it never reads or changes the victim's pages", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          cmd: fc.constantFrom(1, 2, 4, 5, 6, 7, 3, 8, 9),
          poolId: fc.oneof(fc.integer({ min: -2, max: 17 }), fc.integer()),
          oid: fc.constantFrom(0n, 1n, 2n, 0xdeadn),
          index: fc.nat(4),
          shared: fc.boolean(),
        }),
        { maxLength: 60 },
      ),
      (ops) => {
        const tmem = newTmem(64);
        const victim = new Guest(tmem);
        const intruder = new Guest(tmem);
        const U: [bigint, bigint] = [0x1111n, 0x2222n];
        tmem.authoriseSharedPool(victim.domain.domid, U, true); // the intruder is not authorised
        const pools = [victim.newPool({ persistent: true }), victim.newPool(), victim.newPool({ shared: true, uuid: U })];
        victim.fill(10, SECRET_SEED);
        for (const p of pools) for (let i = 0; i < 4; i++) for (const o of [0n, 1n, 2n]) expect(victim.put(p, [o], i, 10)).toBe(1);
        const secret = pattern(SECRET_SEED);
        for (const o of ops) {
          intruder.frame(11).fill(0);
          if (o.cmd === 1) intruder.newPool({ shared: o.shared, uuid: U });
          else
            intruder.op({
              cmd: o.cmd,
              poolId: o.poolId,
              gen: { oid: [o.oid, 0n, 0n], index: o.index, tmemOffset: 0, pfnOffset: 0, len: 64, cmfn: 11n },
            });
          expect(samePage(intruder.frame(11).subarray(0, 64), secret.subarray(0, 64))).toBe(false);
        }
        // The victim's pages are all still there (the ephemeral ones: nobody else took them).
        for (const p of pools) {
          for (let i = 0; i < 4; i++)
            for (const o of [0n, 1n, 2n]) {
              expect(victim.get(p, [o], i, 12)).toBe(1);
              expect(samePage(victim.frame(12), secret)).toBe(true);
            }
        }
        tmem.checkInvariants();
      },
    ),
    { numRuns: 200, seed: 77 },
  );
});
