// Guest images booted under the VMM: the self-test and the demo pass, and bad images are refused
// before anything runs, with one clear sentence.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ImageError, imageFromBytes, loadImage } from "../vmm/image.js";
import { Vmm } from "../vmm/vmm.js";
import { buildModule, HYPERCALL_IMPORT } from "./wasm-builder.js";

const image = (name: string) => new URL(`../build/${name}.wasm`, import.meta.url).pathname;

async function boot(name: string, args: string[] = [], tmemMiB = 16) {
  const vmm = await Vmm.create({ tmemMiB });
  let out = "";
  const domain = await vmm.boot({ image: loadImage(image(name)), args, console: { stdout: (s) => (out += s), stderr: (s) => (out += s) } });
  const code = vmm.run(domain);
  return { vmm, domain, code, out };
}

it("the guest images were built (npm test builds them first)", () => {
  expect(existsSync(image("selftest"))).toBe(true);
});

describe("self-test guest", () => {
  it("passes every check and exits 0", async () => {
    const { code, out, domain } = await boot("selftest");
    expect(out).toMatch(/selftest: \d+ passed, 0 failed/);
    expect(out).not.toMatch(/FAIL/);
    expect(code).toBe(0);
    expect(domain.state).toBe("exited");
    expect(domain.hypercalls).toBeGreaterThan(60);
  });
});

describe("C self-test guest (clang, its own struct tmem_op)", () => {
  it("passes every check and exits 0", async () => {
    const { code, out } = await boot("selftest-c");
    expect(out).toMatch(/selftest-c: \d+ passed, 0 failed/);
    expect(out).not.toMatch(/FAIL/);
    expect(code).toBe(0);
  });
});

describe("precache demo guest", () => {
  it("avoids disk reads through cleancache and gets back exactly what it put", async () => {
    const { code, out, vmm } = await boot("precache", ["256", "32", "3"], 4);
    expect(code).toBe(0);
    const m = /(\d+) page reads, (\d+) page-cache hits, (\d+) cleancache hits, (\d+) disk reads/.exec(out)!;
    const [reads, , tmemHits, disk] = m.slice(1).map(Number);
    expect(reads).toBe(768);
    expect(disk).toBe(256); // only the first pass goes to "disk"
    expect(tmemHits).toBe(512);
    expect(vmm.tmem.index.pages).toBe(0); // it flushed and destroyed its pool
  });

  it("with tmem too small, falls back to the disk but never sees wrong data", async () => {
    const { code, out, vmm } = await boot("precache", ["512", "32", "2"], 1);
    expect(code).toBe(0);
    expect(vmm.tmem.counters.evictions).toBeGreaterThan(0);
    expect(out).toMatch(/disk reads/);
  });
});

describe("image validation", () => {
  const refuses = (bytes: Uint8Array, message: RegExp) => {
    expect(() => imageFromBytes(bytes, "bad")).toThrow(ImageError);
    expect(() => imageFromBytes(bytes, "bad")).toThrow(message);
  };

  it("accepts a minimal image that follows the ABI", () => {
    const img = imageFromBytes(buildModule({ funcImports: [HYPERCALL_IMPORT] }), "ok");
    expect(img.minRamMiB).toBe(1);
  });

  it("refuses what is not Wasm", () => {
    refuses(new TextEncoder().encode("#!/bin/sh\necho hi\n"), /not a WebAssembly module/);
    refuses(new Uint8Array(0), /not a WebAssembly module/);
  });

  it("refuses a truncated module", () => {
    const ok = buildModule({ funcImports: [HYPERCALL_IMPORT] });
    refuses(ok.subarray(0, ok.length - 3), /past the end|not a valid WebAssembly module/);
  });

  it("refuses imports the VMM does not provide", () => {
    refuses(buildModule({ funcImports: [{ module: "env", name: "abort", params: ["i32"], results: [] }] }), /imports env\.abort \(function\), which the VMM does not provide/);
  });

  it("refuses a hypercall import with another signature", () => {
    refuses(buildModule({ funcImports: [{ module: "xen", name: "hypercall", params: ["i64", "i64"], results: ["i64"] }] }), /xen\.hypercall must be \(12 x i32\) -> i32/);
  });

  it("refuses an image without env.memory or _start", () => {
    refuses(buildModule({ memoryImport: null }), /does not import its RAM as env\.memory/);
    refuses(buildModule({ exportStart: false }), /does not export a _start function/);
  });

  it("accepts an image that does not export its memory, and runs it with the export added", () => {
    const img = imageFromBytes(buildModule({ exportMemory: false }), "noexport");
    expect(WebAssembly.Module.exports(img.module)).toContainEqual({ name: "memory", kind: "memory" });
  });

  it("refuses RAM outside the image's memory limits, before booting", async () => {
    const vmm = await Vmm.create({ tmemMiB: 1 });
    const small = imageFromBytes(buildModule({ memoryImport: { module: "env", name: "memory", min: 16, max: 32 } }), "small");
    await expect(vmm.boot({ image: small, ramMiB: 4 })).rejects.toThrow(/accepts at most 2 MiB of RAM/);
    const big = imageFromBytes(buildModule({ memoryImport: { module: "env", name: "memory", min: 160 } }), "big");
    await expect(vmm.boot({ image: big, ramMiB: 4 })).rejects.toThrow(/needs at least 10 MiB of RAM/);
    expect(vmm.domains).toHaveLength(0);
  });

  it("names a missing file", () => {
    expect(() => loadImage("/no/such/image.wasm")).toThrow(/no such file/);
  });
});
