// The programmatic entry as a test suite outside the repo uses it: boot bundled or own images
// with options, run them, read the listing, issue hypercalls from the host, record and replay.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeAssets } from "../../vmm/platform/assets.js";
import { describe, expect, it } from "vitest";
import { abi, boot, ControlError, ImageError, replay, SpecError, TraceError, type GuestSpec } from "../../vmm/node.js";

import { buildModule } from "../support/wasm-builder.js";

const scratch = () => mkdtempSync(join(tmpdir(), "tmemvm-api-"));
const persistentPool = { cmd: abi.TMEM_NEW_POOL, creat: { flags: abi.encodePoolFlags({ persistent: true }) } };
const where = { oid: [7n, 0n, 0n], index: 3 };
const pageOf = (byte: number) => new Uint8Array(abi.TMEM_PAGE_SIZE).fill(byte);

describe("boot and run", () => {
  it("runs a bundled image by name and reports its exit, console and listing", async () => {
    const vm = await boot({ image: "selftest", ramMiB: 2 }, { tmemMiB: 2 });
    expect(vm.guests.map((g) => [g.name, g.state])).toEqual([["selftest", "created"]]);
    const r = await vm.run();
    expect(r.ok).toBe(true);
    expect(r.guests[0]).toMatchObject({ name: "selftest", domid: 1, state: "exited", exitCode: 0, crash: null });
    expect(r.guests[0].stdout).toMatch(/selftest: \d+ passed, 0 failed/);
    expect(r.guests[0].hypercalls).toBeGreaterThan(50);
    expect(r.listing.capacityFrames).toBe(512);
    expect(r.listing.domains.map((d) => d.name)).toEqual(["selftest"]);
    await expect(vm.run()).rejects.toThrow(/already run/);
  });

  it("passes options through: guest arguments, a layout, and a non-zero exit", async () => {
    const vm = await boot({ image: "selftest", layout: "xen-4.0-legacy/x86_64" });
    const r = await vm.run();
    // The self-test is written for 4.12's rules; under 4.0's it fails, and says so.
    expect(r.ok).toBe(false);
    expect(r.guests[0].exitCode).toBe(1);
    expect(r.guests[0].stdout).toMatch(/FAIL new private ephemeral pool gets the lowest slot/);

    const pre = await (await boot({ image: "precache", args: ["64", "16", "2"] })).run();
    expect(pre.guests[0].stdout).toMatch(/^precache: 128 page reads/);
  });

  it("takes an image as bytes or a path", async () => {
    const bytes = readFileSync(new URL("../../build/selftest-c.wasm", import.meta.url));
    const path = join(scratch(), "mine.wasm");
    writeFileSync(path, bytes);
    for (const image of [bytes, path]) {
      const r = await (await boot({ image, name: "mine" })).run();
      expect(r.guests[0]).toMatchObject({ name: "mine", exitCode: 0 });
      expect(r.guests[0].stdout).toMatch(/selftest-c: 22 passed, 0 failed/);
    }
  });

  it("refuses a bad image, an unknown layout and an empty list before booting anything", async () => {
    await expect(boot({ image: "/no/such.wasm" })).rejects.toThrow(ImageError);
    await expect(boot({ image: new TextEncoder().encode("not wasm") })).rejects.toThrow(/not a WebAssembly module/);
    await expect(boot({ image: "selftest", layout: "xen-9/x86_64" })).rejects.toThrow(/unknown layout xen-9\/x86_64/);
    await expect(boot([])).rejects.toThrow(/at least one guest/);
  });

  /** The SpecError boot() rejects with. */
  async function specError(p: Promise<unknown>): Promise<SpecError> {
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(SpecError);
    return e as SpecError;
  }

  it("names a bad option as the API's caller wrote it, with the offending value: the spec's check, not CLI wording", async () => {
    const ram = await specError(boot({ image: "selftest", ramMiB: -1 }));
    expect(ram.message).toBe("spec.guests[0].ramMiB must be a whole number 1..4095 (MiB), got -1");
    expect([ram.source, ram.key, ram.value]).toEqual(["spec", "guests[0].ramMiB", -1]);
    expect((await specError(boot({ image: "selftest", ramMiB: NaN }))).message).toBe(
      "spec.guests[0].ramMiB must be a whole number 1..4095 (MiB), got NaN",
    );
    expect((await specError(boot({ image: "selftest" }, { tmemMiB: "8" as unknown as number }))).message).toBe(
      'spec.tmemMiB must be a whole number 0..1048576 (MiB), got "8"',
    );
    expect((await specError(boot({ image: "selftest", args: [1, 2] as unknown as string[] }))).message).toBe(
      "spec.guests[0].args must be an array of strings, got [1,2]",
    );
    expect((await specError(boot({ image: "selftest", mem: 4 } as GuestSpec))).message).toMatch(
      /^spec\.guests\[0\]\.mem is not a key of a guest/,
    );
    expect((await specError(boot({ image: "selftest" }, { seeds: 3 } as object))).message).toMatch(
      /^spec\.seeds is not a key of a machine/,
    );
    expect(
      (
        await specError(
          boot([
            { image: "selftest", name: "a" },
            { image: "selftest", name: "a" },
          ]),
        )
      ).message,
    ).toBe('spec.guests[1].name is "a", the name of guests[0] already: names must be distinct');
    // RAM the image cannot run in is named by the key too, not by a CLI flag.
    const big = buildModule({ memoryImport: { module: "env", name: "memory", min: 5 * 16 } }); // 5 MiB of 64 KiB pages
    expect((await specError(boot({ image: big, ramMiB: 2 }))).message).toBe(
      "spec.guests[0].ramMiB is 2, but guest needs at least 5 MiB of RAM",
    );
  });

  it("fires control actions at their hypercall counts, as a config's do", async () => {
    const vm = await boot(
      { image: "precache", ramMiB: 4, args: ["64", "16", "2"] },
      { control: ["10:weight precache 5", { at: 20, action: "freeze", args: ["precache"] }] },
    );
    const { listing } = await vm.run();
    expect(listing.domains[0]).toMatchObject({ weight: 5, frozen: true });
  });
});

describe("host hypercalls", () => {
  it("put and get a page as a domain, leaving the guest's RAM as it was", async () => {
    const vm = await boot({ image: "precache", ramMiB: 2, args: ["16", "8", "1"] }, { tmemMiB: 1 });
    const d = vm.vmm.domains[0];
    const top = d.ram.bytes.subarray(d.ram.sizeBytes - 2 * abi.TMEM_PAGE_SIZE);
    top.fill(0xc3);
    const pool = vm.hypercall("precache", persistentPool).result;
    expect(pool).toBe(0);
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: where }, pageOf(0x11)).result).toBe(1);
    const got = vm.hypercall(1, { cmd: abi.TMEM_GET_PAGE, poolId: pool, gen: where });
    expect(got).toEqual({ result: 1, frame: pageOf(0x11) });
    expect(top.every((b) => b === 0xc3)).toBe(true);
    expect(vm.list().domains[0].pools[0]).toMatchObject({ poolId: 0, pages: 1, puts: 1, gets: 1, hits: 1 });

    // The guest runs beside the host's pool, which outlives the run.
    expect((await vm.run()).ok).toBe(true);
    expect(vm.hypercall("precache", { cmd: abi.TMEM_GET_PAGE, poolId: pool, gen: where }).result).toBe(1);
  });

  it("list a pool's stored pages and read one's bytes without a get: nothing counted, nothing taken", async () => {
    const vm = await boot({ image: "precache", ramMiB: 2, args: ["16", "8", "1"] }, { tmemMiB: 1 });
    // A private ephemeral pool, where a get would take the page; compression on, so pages are kept in chunks.
    vm.control.setCompress("precache", true);
    const pool = vm.hypercall("precache", { cmd: abi.TMEM_NEW_POOL, creat: { flags: abi.encodePoolFlags({ persistent: false }) } }).result;
    const text = new TextEncoder().encode("tmem page ".repeat(410).slice(0, abi.TMEM_PAGE_SIZE));
    const big = { oid: [0x1_0000_0002n, 0n, 5n], index: 9 };
    // Bytes no compressor shrinks to half a page: kept whole, and counted as such.
    let x = 0x2545f491;
    const noise = Uint8Array.from({ length: abi.TMEM_PAGE_SIZE }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 24;
    });
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: where }, noise).result).toBe(1);
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: big }, text).result).toBe(1);
    expect(vm.list()).toMatchObject({ compressedPages: 1, poorCompression: 1 });
    const before = vm.list();
    expect(vm.control.storedPages("precache", pool).sort((a, b) => a.index - b.index)).toEqual([
      { oid: [7n, 0n, 0n], index: 3 },
      { oid: [0x1_0000_0002n, 0n, 5n], index: 9 },
    ]);
    expect(vm.control.storedPages("precache", pool, 1)).toHaveLength(1);
    expect(vm.control.pageContents("precache", pool, [7n, 0n, 0n], 3)).toEqual(noise);
    expect(vm.control.pageContents("precache", pool, big.oid, 9)).toEqual(text);
    expect(vm.control.pageContents("precache", pool, [7n, 0n, 0n], 4)).toBeNull();
    expect(vm.control.pageContents("precache", pool, [0x2n, 0n, 5n], 9)).toBeNull();
    expect(vm.list()).toEqual(before);
    // The page is still there for the guest's own get, which takes it.
    expect(vm.hypercall("precache", { cmd: abi.TMEM_GET_PAGE, poolId: pool, gen: big }).frame).toEqual(text);
    expect(vm.control.pageContents("precache", pool, big.oid, 9)).toBeNull();
    expect(() => vm.control.storedPages("precache", 5)).toThrow(ControlError);
    expect(() => vm.control.pageContents("precache", 5, [0n], 0)).toThrow(/precache has no pool 5/);
  });

  it("gets errnos for a guest's mistakes, and exceptions for the host's", async () => {
    const vm = await boot({ image: "precache" });
    expect(vm.hypercall("precache", { cmd: abi.TMEM_GET_PAGE, poolId: 9, gen: where }).result).toBe(-abi.ENODEV);
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: 0, gen: { cmfn: 1n << 40n } }).result).toBe(-abi.ENODEV);
    const pool = vm.hypercall("precache", persistentPool).result;
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: { cmfn: 1n << 40n } }).result).toBe(-abi.EFAULT);
    expect(() => vm.hypercall("nobody", persistentPool)).toThrow(ControlError);
    expect(() => vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, gen: where }, new Uint8Array(10))).toThrow(/a page is 4096 bytes/);
    vm.control.destroy("precache");
    expect(() => vm.hypercall("precache", persistentPool)).toThrow(/no tmem client/);
  });

  it("drives the control plane: a frozen domain's puts fail with -EFROZEN", async () => {
    const vm = await boot({ image: "precache" });
    const pool = vm.hypercall("precache", persistentPool).result;
    vm.control.freeze("precache");
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: where }, pageOf(1)).result).toBe(-abi.EFROZEN);
    vm.control.thaw("precache");
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: where }, pageOf(1)).result).toBe(1);
  });
});

describe("record and replay", () => {
  it("a recorded run of interleaved guests and host hypercalls replays with no divergence", async () => {
    const trace = join(scratch(), "run.tmtr");
    const vm = await boot([{ image: "selftest" }, { image: "precache", ramMiB: 4, args: ["128", "16", "2"] }], {
      tmemMiB: 2,
      seed: 5,
      quantum: 8,
      record: trace,
    });
    const r = await vm.run();
    expect(r.ok).toBe(true);
    const pool = vm.hypercall("precache", persistentPool).result;
    expect(vm.hypercall("precache", { cmd: abi.TMEM_PUT_PAGE, poolId: pool, gen: where }, pageOf(0x77)).result).toBe(1);
    expect(vm.hypercall("precache", { cmd: abi.TMEM_GET_PAGE, poolId: pool, gen: where }).frame).toEqual(pageOf(0x77));
    const guestCalls = r.guests.reduce((n, g) => n + g.hypercalls, 0);
    expect(vm.close()).toBe(guestCalls + 3);
    expect(vm.close()).toBeNull();

    const bytes = readFileSync(trace);
    expect(replay(trace)).toMatchObject({ records: guestCalls + 3, endedEarly: null, divergence: null });
    expect(replay(bytes).divergence).toBeNull();
    expect(() => replay(bytes.subarray(0, bytes.length - 13))).toThrow(TraceError);
  }, 180_000); // two interleaved guests on a loaded machine: room, not a time check
});

it("the package's exports map resolves `tmemvm` to the Node entry and `tmemvm/browser` to the neutral API, with types", async () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    exports: Record<string, Record<string, string>>;
    types: string;
  };
  expect(pkg.exports["."]).toEqual({ types: "./dist/vmm/node.d.ts", default: "./dist/vmm/node.js" });
  expect(pkg.exports["./browser"]).toEqual({ types: "./dist/vmm/api.d.ts", default: "./dist/vmm/api.js" });
  readFileSync(new URL("../../dist/vmm/api.d.ts", import.meta.url));
  readFileSync(new URL(`../../${pkg.types}`, import.meta.url));
  // The package resolves itself by name through its exports map (the build is in dist/).
  const self = (await import(/* @vite-ignore */ "tmemvm")) as Record<string, unknown>;
  expect(typeof self.boot).toBe("function");
  expect(typeof self.replay).toBe("function");
  expect(self.abi).toHaveProperty("HYPERVISOR_tmem_op", 38);
  const browser = (await import(/* @vite-ignore */ "tmemvm/browser")) as Record<string, unknown>;
  expect(typeof browser.boot).toBe("function");
  expect(browser.nodePlatform).toBeUndefined();
});

it("the neutral entry reads no files: a path is refused with a typed error; given only assets, bundled names work", async () => {
  const neutral = await import("../../vmm/api.js");
  const platform = { assets: nodeAssets };
  await expect(neutral.boot({ image: "/no/such.wasm" }, { platform })).rejects.toThrow(/this platform reads no files/);
  await expect(neutral.boot({ image: "selftest" }, { record: "x.tmtr", platform })).rejects.toThrow(/record needs a file system/);
  expect(() => neutral.replay("x.tmtr", platform)).toThrow(/a trace by path needs a file system/);
  // Nothing is installed by importing a module: without assets there are no kernels and no bundled images.
  await expect(neutral.boot({ image: "selftest" })).rejects.toThrow(/this platform gives no assets/);
  const vm = await neutral.boot({ image: "selftest", ramMiB: 2 }, { tmemMiB: 1, platform });
  expect(vm.guests[0].name).toBe("selftest");
});
