// Many guests under one VMM: seeded interleaving, crash isolation, the control plane, and
// save/restore of persistent pools into a second VMM process.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ControlPlane } from "../../vmm/host/control-plane.js";
import { imageFromBytes } from "../../vmm/machine/image.js";
import { loadImage } from "../../vmm/platform/files.js";
import { restoreClient, SaveFileError } from "../../vmm/snapshot/save-file.js";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { expectReplays } from "../support/replay-check.js";
import { buildModule, HYPERCALL_IMPORT } from "../support/wasm-builder.js";
import { imagePath, QUIET, runCli } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

const image = (name: string) => loadImage(imagePath(name));
const dir = mkdtempSync(join(tmpdir(), "tmemvm-multi-"));
const tmemvm = (...args: string[]) => runCli(args);

async function threePrecache(seed: number) {
  const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
  const out: string[] = [];
  for (const [name, w] of [
    ["a", 1],
    ["b", 2],
    ["c", 4],
  ] as const) {
    await vmm.boot({
      image: image("precache"),
      name,
      weight: w,
      ramMiB: 4,
      interleaved: true,
      args: ["500", "32", "3", "random", "9"],
      console: { stdout: (t) => out.push(`${name}:${t}`), stderr: () => {} },
    });
  }
  const order: number[] = [];
  vmm.runAll({ seed, quantum: 8, onSlice: () => order.push(vmm.domains.map((d) => d.hypercalls).reduce((x, y) => x * 31 + y, 0)) });
  return { vmm, out, order };
}

describe("interleaving", () => {
  it("the same seed gives the same interleaving and the same results; another seed another", async () => {
    const one = await threePrecache(5);
    const two = await threePrecache(5);
    const other = await threePrecache(6);
    expect(two.order).toEqual(one.order);
    expect(two.out).toEqual(one.out);
    expect(other.order).not.toEqual(one.order);
    for (const d of one.vmm.domains) expect(d.exitCode).toBe(0);
    one.vmm.tmem.checkInvariants();
  });

  it("guests really interleave: every domain runs many slices, and suspended guests' RAM is untouched", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 8 });
    const st = await vmm.boot({ image: image("selftest"), interleaved: true, console: QUIET });
    const c = await vmm.boot({ image: image("selftest-c"), interleaved: true, console: QUIET });
    const sw = await vmm.boot({
      image: image("preswap"),
      ramMiB: 4,
      interleaved: true,
      args: ["1024", "64", "3000", "run"],
      console: QUIET,
    });
    const seen: number[] = [];
    vmm.runAll({ seed: 2, quantum: 1, onSlice: () => seen.push(vmm.domains.findIndex((d) => d.state === "running")) });
    expect([st.exitCode, c.exitCode, sw.exitCode]).toEqual([0, 0, 0]);
    expect(seen.length).toBeGreaterThan(100);
  });

  it("a guest that traps is marked crashed and loses its tmem; the others carry on", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 8 });
    const bad = await vmm.boot({
      image: imageFromBytes(buildModule({ funcImports: [HYPERCALL_IMPORT], trap: true }), "trapper"),
      interleaved: true,
    });
    const good = await vmm.boot({ image: image("selftest"), interleaved: true, console: QUIET });
    vmm.runAll({ seed: 1 });
    expect(bad.state).toBe("crashed");
    expect(bad.crash).toMatch(/unreachable/);
    expect(vmm.tmem.findClient(bad.domid)).toBeUndefined();
    expect(good.exitCode).toBe(0);
  });
});

describe("record and replay of interleaved guests", () => {
  it("a three-guest run records every domain's hypercalls in order and replays with no divergence", () => {
    const trace = join(dir, "three.tmtr");
    const build = imagePath;
    const r = tmemvm(
      "run",
      build("precache"),
      build("preswap"),
      build("selftest"),
      "--tmem",
      "2",
      "--mem",
      "4",
      "--seed",
      "3",
      "--record",
      trace,
      "--no-summary",
      "--",
      "300",
      "32",
      "2",
      "random",
    );
    expect(r.stderr).toMatch(/recorded \d+ hypercalls/);
    const replay = tmemvm("replay", trace);
    expect(replay.stdout).toMatch(/replayed \d+ hypercalls: no divergence/);
    expect(replay.status).toBe(0);
    expectReplays(trace);
    const domids = new Set(decodeTrace(new Uint8Array(readFileSync(trace))).records.map((x) => x.record.domid));
    expect([...domids].sort()).toEqual([1, 2, 3]);
  });
});

describe("control plane", () => {
  it("lists per domain and pool, freezes, thaws, reweighs, flushes and destroys", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
    const control = new ControlPlane(vmm);
    const a = await vmm.boot({
      image: image("precache"),
      name: "a",
      ramMiB: 4,
      interleaved: true,
      args: ["400", "16", "2", "random"],
      console: QUIET,
    });
    const b = await vmm.boot({
      image: image("preswap"),
      name: "b",
      ramMiB: 4,
      interleaved: true,
      args: ["300", "32", "2000", "run"],
      console: QUIET,
    });
    let frozenPutsRefused = 0;
    let checked = false;
    vmm.runAll({
      seed: 3,
      onSlice: () => {
        const total = a.hypercalls + b.hypercalls;
        if (!checked && total > 600 && a.state === "running") {
          checked = true;
          const l = control.list();
          expect(l.domains.map((d) => d.name)).toEqual(["a", "b"]);
          expect(l.domains[0].pools[0]).toMatchObject({ poolId: 0, type: "EP" });
          expect(l.domains[1].pools[0]).toMatchObject({ poolId: 0, type: "PP" });
          const pages = l.domains.reduce((n, d) => n + d.pools.reduce((m, p) => m + p.pages, 0), 0);
          expect(pages).toBe(l.usedFrames + l.zeroPages + l.compressedPages);
          control.setWeight("a", 3);
          expect(control.list().domains[0].weight).toBe(3);
          const before = control.list().domains[0].ephemeralPages;
          expect(control.flush(5)).toBe(Math.min(5, before + control.list().domains[1].ephemeralPages));
          control.freeze("b");
          frozenPutsRefused = vmm.tmem.findClient(b.domid)!.errors;
        }
        if (checked && vmm.tmem.findClient(b.domid)?.frozen && b.hypercalls > 1500) control.thaw("b");
      },
    });
    expect(checked).toBe(true);
    expect(vmm.tmem.findClient(b.domid)!.errors).toBeGreaterThan(frozenPutsRefused); // puts refused while frozen
    expect(a.exitCode).toBe(0);
    expect(b.exitCode).toBe(0);
    expect(() => control.freeze("nobody")).toThrow(/no domain nobody; domains: 1 \(a\), 2 \(b\)/);
    control.destroy("a");
    expect(control.list().domains.map((d) => d.name)).toEqual(["b"]);
    vmm.tmem.checkInvariants();
  });

  it("--control actions fire at their hypercall counts, and list --json reports", () => {
    const json = join(dir, "list.json");
    const r = tmemvm(
      "run",
      imagePath("preswap"),
      "--tmem",
      "4",
      "--mem",
      "4",
      "--control",
      "100:freeze preswap",
      "--control",
      "900:thaw preswap",
      "--control",
      "1000:weight 1 5",
      "--list-json",
      json,
      "--",
      "600",
      "32",
      "3000",
      "run",
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/control at 1\d\d hypercalls: freeze preswap/);
    expect(r.stderr).toMatch(/control at 9\d\d hypercalls: thaw preswap/);
    const l = JSON.parse(readFileSync(json, "utf8"));
    expect(l.domains[0]).toMatchObject({ name: "preswap", weight: 5, frozen: false });
    expect(l.domains[0].errors).toBeGreaterThan(0); // -EFROZEN puts while frozen
  });

  it.each([
    [["--control", "10:freeze nobody"], /no domain nobody/],
    [["--control", "10:weight preswap lots"], /lots is not a whole number/],
    [["--control", "10:frob preswap"], /unknown control action "frob"/],
    [["--control", "freeze preswap"], /is not AT:ACTION/],
  ])("a bad control action is one line before anything runs: %s", (args, message) => {
    const r = tmemvm("run", imagePath("preswap"), ...args);
    expect(r.status).toBe(64); // usage error
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});

describe("config file", () => {
  it("runs the domains it lists, with per-domain options", () => {
    const cfg = join(dir, "domains.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        tmemMiB: 2,
        seed: 7,
        domains: [
          { image: imagePath("precache"), name: "web", ramMiB: 4, weight: 4, args: ["300", "32", "2", "random"] },
          { image: imagePath("preswap"), name: "db", ramMiB: 4, capMiB: 1, args: ["400", "32", "1000", "run"] },
        ],
      }),
    );
    const r = tmemvm("run", "--config", cfg, "--list-json", "-", "--no-summary");
    expect(r.status).toBe(0);
    // With the listing on stdout, the guests' console goes to stderr.
    expect(r.stderr).toMatch(/^\[web\] precache: 600 page reads/m);
    expect(r.stderr).toMatch(/^\[db\] preswap: /m);
    const l = JSON.parse(r.stdout);
    expect(l.domains.map((d: { name: string; weight: number; capPages: number }) => [d.name, d.weight, d.capPages])).toEqual([
      ["web", 4, null],
      ["db", 0, 256],
    ]);
  });

  it.each([
    [{}, /bad\.json: guests must be an array of at least one guest, got nothing$/m],
    [{ domains: [{}] }, /domains\[0\]\.image is required/],
    [{ domains: [{ image: "x.wasm", ramMiB: 0 }] }, /domains\[0\]\.ramMiB must be a whole number 1\.\.4095/],
    [{ domains: [{ image: "x.wasm", colour: 1 }] }, /bad\.json: domains\[0\]\.colour is not a key of a guest; its keys: image, /],
    [{ domains: [{ image: "x.wasm", layout: "xen-5" }] }, /unknown layout xen-5/],
    [{ domains: [{ image: "x.wasm" }], tmem: 3 }, /bad\.json: tmem is not a key of a machine; its keys: guests, tmemMiB, /],
  ])("a bad config is one line: %j", (config, message) => {
    const cfg = join(dir, "bad.json");
    writeFileSync(cfg, JSON.stringify(config));
    const r = tmemvm("run", "--config", cfg);
    expect(r.status).toBe(64); // usage error
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("save and restore", () => {
  const preswap = imagePath("preswap");

  it("persistent pools saved by one VMM process come back bit-exact in another", () => {
    const file = join(dir, "swap.tmsv");
    const store = tmemvm("run", preswap, "--mem", "4", "--tmem", "8", "--save", file, "--no-summary", "--", "700", "64", "0", "store");
    expect(store.status).toBe(0);
    expect(store.stderr).toMatch(/saved 700 persistent pages in 1 pool of preswap/);
    const verify = tmemvm("run", preswap, "--mem", "4", "--tmem", "8", "--restore", file, "--no-summary", "--", "700", "64", "0", "verify");
    expect(verify.stderr).toMatch(/restored 700 pages in 1 pool into preswap/);
    expect(verify.stdout).toMatch(/700 swap-ins \(700 from tmem, 0 from disk\)/);
    expect(verify.status).toBe(0);
    // Without the restore the same guest finds nothing.
    expect(tmemvm("run", preswap, "--mem", "4", "--no-summary", "--", "700", "64", "0", "verify").status).not.toBe(0);
  });

  it("a corrupted save file is refused with a clear error and restores nothing", async () => {
    const file = join(dir, "swap2.tmsv");
    expect(tmemvm("run", preswap, "--mem", "4", "--save", file, "--no-summary", "--", "50", "16", "0", "store").status).toBe(0);
    const good = readFileSync(file);
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4 });
    const d = await vmm.boot({ image: image("preswap"), ramMiB: 4 });
    for (const [at, message] of [
      [20, /header checksum mismatch|not valid JSON/],
      [good.length - 100, /page data checksum mismatch/],
      [2, /no TMSV magic/],
    ] as const) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x10;
      expect(() => restoreClient(vmm.tmem, d.client, bad)).toThrow(SaveFileError);
      expect(() => restoreClient(vmm.tmem, d.client, bad)).toThrow(message);
      expect(d.client.pools.every((p) => p === null)).toBe(true);
      expect(vmm.tmem.pages).toBe(0);
    }
    expect(() => restoreClient(vmm.tmem, d.client, good.subarray(0, good.length - 1))).toThrow(/should hold 50 pages/);
    const cut = join(dir, "cut.tmsv");
    writeFileSync(cut, good.subarray(0, 4000));
    const r = tmemvm("run", preswap, "--mem", "4", "--restore", cut, "--", "50", "16", "0", "verify");
    expect(r.status).toBe(64); // usage error
    // Named by its file: a run may restore several.
    expect(r.stderr.startsWith(`tmemvm: ${cut}: the file should hold 50 pages `)).toBe(true);
    expect(r.stderr).toMatch(/ \(byte offset \d+\)\n$/);
  });
});
