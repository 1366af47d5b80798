// The policy a trace records per client (vmm/snapshot/tmem-state.ts): TMEMC_SET_CAP's cap is part
// of it, so a replay gives a 4.0-4.5 toolstack the cap it read when the run was recorded.
import { expect, it } from "vitest";
import { applyPolicy, policyOf, samePolicy } from "../../vmm/snapshot/tmem-state.js";
import { Guest, newTmem } from "../support/harness.js";

it("the ABI cap is recorded, a change to it is seen, and it is set back; older traces without it read as 0", () => {
  const tmem = newTmem(8);
  const a = new Guest(tmem).domain.client;
  const b = new Guest(tmem).domain.client;
  tmem.setPolicy(a.domid, { abiCap: 77 });
  const p = policyOf(a);
  expect(p.abiCap).toBe(77);
  expect(samePolicy(a, p)).toBe(true);
  tmem.setPolicy(a.domid, { abiCap: 78 });
  expect(samePolicy(a, p)).toBe(false);
  applyPolicy(tmem, b.domid, p);
  expect([b.abiCap, b.capPages]).toEqual([77, Infinity]);
  const { abiCap: _, ...older } = p;
  expect(samePolicy(b, older)).toBe(false);
  applyPolicy(tmem, b.domid, older);
  expect(b.abiCap).toBe(0);
  expect(samePolicy(b, older)).toBe(true);
});
