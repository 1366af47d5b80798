// Each generation's rules as a recorded run carries them: a trace names every client's generation,
// and replay rebuilds the client from that name, so a run mixing all three generations replays.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { EPERM } from "../../hypercall-abi/constants.js";
import { OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import { encodePoolFlags } from "../../hypercall-abi/pool-flags.js";
import { traceFile } from "../../vmm/platform/files.js";
import { TraceRecorder } from "../../vmm/trace/recorder.js";
import { Guest, newTmem } from "../support/harness.js";
import { expectReplays, replayedTraces } from "../support/replay-check.js";

it("a run with a guest of every generation replays: each client comes back with its own rules", () => {
  const path = join(mkdtempSync(join(tmpdir(), "tmemvm-rules-")), "generations.tmtr");
  const tmem = newTmem(32);
  const guests = [...OP_LAYOUTS.values()].filter((l) => l.arch === "x86_64").map((layout) => new Guest(tmem, { layout }));
  expect(guests.map((g) => g.domain.layout.generation)).toEqual(["xen-4.0-legacy", "xen-4.1-oid3", "xen-4.12-oid3"]);
  const rec = new TraceRecorder(traceFile(path), tmem);
  for (const g of guests) rec.attach(g.domain);
  for (const g of guests) {
    const p = g.newPool({ persistent: true });
    g.fill(10, g.domain.domid);
    expect(g.put(p, [1n], 0, 10)).toBe(1);
    expect(g.get(p, [1n], 0, 11)).toBe(1);
  }
  rec.close();
  replayedTraces.add(path);
  expectReplays(new Uint8Array(readFileSync(path)));
});

it("4.0.0 and 4.0.1 accepted NEW_POOL flags with reserved bits set; from 4.0.2 they are EPERM", () => {
  const tmem = newTmem(8);
  for (const layout of [...OP_LAYOUTS.values()].filter((l) => l.arch === "x86_64")) {
    const g = new Guest(tmem, { layout });
    const flags = encodePoolFlags({ version: layout.specVersion }) | (1 << 8);
    expect(g.newPool({ flags })).toBe(layout.generation === "xen-4.0-legacy" ? 0 : -EPERM);
  }
});
