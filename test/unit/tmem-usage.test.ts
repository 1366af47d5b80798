// The core owns its state: others read one snapshot (usage()) and change a client's policy through
// one method (setPolicy), whoever they are: the host's control plane, a guest's TMEMC sub-ops, a
// restored save file, replay, the VMM's boot.
import { describe, expect, it, vi } from "vitest";
import * as C from "../../hypercall-abi/constants.js";
import { opLayout } from "../../hypercall-abi/op-layouts.js";
import { ControlPlane } from "../../vmm/host/control-plane.js";
import { imageFromBytes } from "../../vmm/machine/image.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { nodeAssets } from "../../vmm/platform/assets.js";
import { restoreClient, saveClient } from "../../vmm/snapshot/save-file.js";
import { Tmem } from "../../vmm/tmem/tmem.js";
import { MemoryTraceSink } from "../../vmm/trace/trace-sink.js";
import { recordVmm } from "../../vmm/trace/recorder.js";
import { replayTrace } from "../../vmm/trace/replay.js";
import { Guest, newTmem, pattern } from "../support/harness.js";
import { dom } from "../support/brands.js";
import { testKernels } from "../support/kernels.js";

const O = [5n, 6n, 7n];

describe("usage(): one read-only snapshot of the core", () => {
  it("counts frames, pages and objects host-wide and per client and pool, with each client's policy", () => {
    const tmem = newTmem(16);
    const a = new Guest(tmem);
    const b = new Guest(tmem);
    const pp = a.newPool({ persistent: true });
    const ep = b.newPool();
    for (let i = 0; i < 3; i++) {
      a.fill(10, i);
      expect(a.put(pp, O, i, 10)).toBe(1);
    }
    b.fill(10, 9);
    expect(b.put(ep, O, 0, 10)).toBe(1);
    tmem.setPolicy(b.domain.domid, { weight: 3, capPages: 40, compress: true, frozen: true });
    const u = tmem.usage();
    expect(u).toMatchObject({
      capacityFrames: 16,
      usedFrames: 4,
      freeFrames: 12,
      pages: 4,
      objects: 2,
      persistentPages: 3,
      sharedAuthOpen: false,
    });
    expect(u.counters.ops).toBe(6);
    expect(u.clients.map((c) => c.domid)).toEqual([a.domain.domid, b.domain.domid]);
    const [ua, ub] = u.clients;
    expect(ua).toMatchObject({
      persistentPages: 3,
      ephemeralPages: 0,
      puts: 3,
      policy: { weight: 0, capPages: null, compress: false, frozen: false },
    });
    expect(ub).toMatchObject({ persistentPages: 0, ephemeralPages: 1, policy: { weight: 3, capPages: 40, compress: true, frozen: true } });
    expect(ua.pools[pp]).toMatchObject({
      type: "PP",
      persistent: true,
      shared: false,
      sharers: [a.domain.domid],
      stats: { pages: 3, objects: 1, puts: 3 },
    });
    expect(ua.pools.filter((p) => p !== null)).toHaveLength(1);
  });

  it("is a copy: changing it changes nothing in the core, and later ops do not change it", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    const p = g.newPool({ persistent: true });
    const u = tmem.usage();
    (u.clients[0].policy as { weight: number }).weight = 99;
    (u.counters as { ops: number }).ops = 1000;
    (u.clients[0].pools[p]!.stats as { pages: number }).pages = 50;
    g.fill(10, 1);
    expect(g.put(p, O, 0, 10)).toBe(1);
    expect(u.pages).toBe(0);
    const now = tmem.usage();
    expect(now.clients[0].policy.weight).toBe(0);
    expect(now.counters.ops).toBe(2);
    expect(now.clients[0].pools[p]!.stats.pages).toBe(1);
    tmem.checkInvariants();
  });
});

describe("setPolicy: the one writer of a client's policy", () => {
  it("changes only the fields given, and answers false for a client that does not exist", () => {
    const tmem = newTmem(8);
    const g = new Guest(tmem);
    expect(tmem.setPolicy(g.domain.domid, { weight: 5 })).toBe(true);
    expect(tmem.setPolicy(g.domain.domid, { capPages: 7 })).toBe(true);
    expect(tmem.usage().clients[0].policy).toEqual({ weight: 5, capPages: 7, compress: false, frozen: false });
    expect(tmem.setPolicy(g.domain.domid, { capPages: null, frozen: true })).toBe(true);
    expect(tmem.usage().clients[0].policy).toEqual({ weight: 5, capPages: null, compress: false, frozen: true });
    expect(tmem.setPolicy(dom(999), { weight: 1 })).toBe(false);
  });

  it("is what a guest's TMEMC sub-ops call", () => {
    const tmem = newTmem(64);
    const dom0 = new Guest(tmem, { layout: opLayout("xen-4.1-oid3/x86_64")!, privileged: true, ramMiB: 2 });
    const a = new Guest(tmem, { layout: opLayout("xen-4.1-oid3/x86_64")! });
    const spy = vi.spyOn(tmem, "setPolicy");
    expect(dom0.control(C.TMEMC_SET_WEIGHT, { cliId: a.domain.domid, arg1: 6 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_CAP, { cliId: a.domain.domid, arg1: 9 })).toBe(0);
    expect(dom0.control(C.TMEMC_SET_COMPRESS, { cliId: a.domain.domid, arg1: 1 })).toBe(0);
    expect(dom0.control(C.TMEMC_FREEZE, { cliId: a.domain.domid })).toBe(0);
    expect(spy.mock.calls).toEqual([
      [a.domain.domid, { weight: 6 }],
      [a.domain.domid, { abiCap: 9 }],
      [a.domain.domid, { compress: true }],
      [a.domain.domid, { frozen: true }],
    ]);
    // TMEMC_SET_CAP sets the ABI's cap, reported and never enforced; tmemvm's own cap stays none.
    const usage = tmem.usage().clients.find((c) => c.domid === a.domain.domid)!;
    expect(usage.policy).toEqual({ weight: 6, capPages: null, compress: true, frozen: true });
    expect(usage.abiCap).toBe(9);
  });

  it("is what a restored save file calls, and a restore is not refused by the client's cap", () => {
    const src = newTmem(16);
    const g = new Guest(src);
    const p = g.newPool({ persistent: true });
    for (let i = 0; i < 4; i++) {
      g.fill(10, i);
      expect(g.put(p, O, i, 10)).toBe(1);
    }
    src.setPolicy(g.domain.domid, { weight: 2, capPages: 6, compress: true });
    const file = saveClient(src, g.domain.client, "g", g.domain.layout.name);
    const dst = newTmem(16);
    const h = new Guest(dst);
    dst.setPolicy(h.domain.domid, { capPages: 1 });
    const spy = vi.spyOn(dst, "setPolicy");
    expect(restoreClient(dst, h.domain.client, file)).toEqual({ pools: 1, pages: 4 });
    expect(spy).toHaveBeenCalledWith(h.domain.domid, { weight: 2, capPages: 6, abiCap: 0, compress: true });
    expect(dst.usage().clients[0].policy).toEqual({ weight: 2, capPages: 6, compress: true, frozen: false });
    for (let i = 0; i < 4; i++)
      expect(dst.pageBytes(h.domain.client.pools[p]!, new Uint32Array([5, 0, 6, 0, 7, 0]), i)).toEqual(pattern(i));
  });

  it("is what the host's control plane, the VMM's boot and replay call", async () => {
    const vmm = await Vmm.create({ tmemMiB: 1, assets: testKernels });
    const spy = vi.spyOn(vmm.tmem, "setPolicy");
    const sink = new MemoryTraceSink("t");
    const control = new ControlPlane(vmm);
    const rec = recordVmm(vmm, sink, undefined, control);
    const d = await vmm.boot({
      image: imageFromBytes(nodeAssets.image("selftest")!, "selftest"),
      ramMiB: 4,
      weight: 2,
      capMiB: 1,
      compress: true,
      console: { stdout() {}, stderr() {} },
    });
    expect(spy).toHaveBeenLastCalledWith(d.domid, { weight: 2, capPages: 256, compress: true });
    control.setWeight(d.domid, 7);
    expect(spy).toHaveBeenLastCalledWith(d.domid, { weight: 7 });
    control.setCapMiB(d.domid, null);
    expect(spy).toHaveBeenLastCalledWith(d.domid, { capPages: null });
    control.freeze(d.domid);
    control.thaw(d.domid);
    expect(spy).toHaveBeenLastCalledWith(d.domid, { frozen: false });
    expect(vmm.run(d)).toBe(0);
    rec.close();
    const replaySpy = vi.spyOn(Tmem.prototype, "setPolicy");
    try {
      expect(replayTrace(sink.bytes(), testKernels).divergence).toBeNull();
      expect(replaySpy.mock.calls.some(([, change]) => change.weight === 7)).toBe(true);
    } finally {
      replaySpy.mockRestore();
    }
  });
});
