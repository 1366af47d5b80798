// The branded ids (vmm/tmem/ids.ts) at the type level: swapping two kinds of id does not compile.
// `npx tsc -p tsconfig.test.json` (which `npm test` runs) checks each @ts-expect-error below: if a
// swapped call ever compiled, the directive would be unused and the check would fail. At run time
// the ids are plain numbers, which the last case shows.
import { describe, expect, it } from "vitest";
import type { ClientSlot, DomId, ObjectRecord, PageRecord, PoolHandle, PoolId } from "../../vmm/tmem/ids.js";
import type { PageIndex } from "../../vmm/tmem/page-index.js";
import type { Tmem } from "../../vmm/tmem/tmem.js";
import { Guest, newTmem } from "../support/harness.js";

/** Calls that must not compile; never run (the type checker is the test). */
function swapped(
  tmem: Tmem,
  ix: PageIndex,
  domid: DomId,
  poolId: PoolId,
  handle: PoolHandle,
  slot: ClientSlot,
  ob: ObjectRecord,
  pg: PageRecord,
): void {
  // @ts-expect-error a PoolId is not a DomId
  tmem.findClient(poolId);
  // @ts-expect-error a PoolId is not a DomId
  tmem.setPolicy(poolId, { weight: 1 });
  // @ts-expect-error a DomId is not a PoolId
  tmem.findClient(domid)?.pool(domid);
  // @ts-expect-error a plain number is not a DomId: it is branded where it enters
  tmem.destroyClient(7);
  // @ts-expect-error a page record is not an object record
  ix.firstPage(pg);
  // @ts-expect-error a page record is not an object record
  ix.setLastClient(pg, domid);
  // @ts-expect-error an object record is not a page record
  ix.whereOf(ob);
  // @ts-expect-error a client's pool id is not the pool's host-wide handle
  ix.findObject(poolId, new Uint32Array(6));
  // @ts-expect-error a client slot is not a pool handle
  ix.firstObject(slot);
  // @ts-expect-error a pool handle is not a client slot
  ix.lruHead(handle);
  // @ts-expect-error a page record is not where its bytes are (a PageHandle)
  ix.addPage(ob, 0, pg, slot);
  // The right kinds compile.
  ix.setLastClient(ix.objectOf(ix.firstPage(ix.firstObject(handle))), domid);
  tmem.findClient(domid)?.pool(poolId);
  ix.addPage(ob, 0, ix.whereOf(pg), slot);
}

describe("branded ids", () => {
  it("are plain numbers at run time", () => {
    expect(typeof swapped).toBe("function"); // compiled above, not called
    const tmem = newTmem();
    const g = new Guest(tmem);
    const c = g.domain.client;
    expect(typeof c.domid).toBe("number");
    expect(typeof c.slot).toBe("number");
    expect(tmem.findClient(c.domid)).toBe(c);
  });
});
