// Guest images booted under the VMM: the self-tests and the demo pass (and fail, naming the
// check, under a VMM that breaks a rule), and bad images are refused before anything runs, with
// one clear sentence.
import { describe, expect, it } from "vitest";
import { TMEM_POOL_PERSIST } from "../../hypercall-abi/constants.js";
import type { Tmem } from "../../vmm/tmem/tmem.js";
import { ImageError, imageFromBytes } from "../../vmm/machine/image.js";
import { loadImage } from "../../vmm/platform/files.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { buildModule, HYPERCALL_IMPORT, OP } from "../support/wasm-builder.js";
import { imagePath } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

const image = imagePath;

async function boot(name: string, args: string[] = [], tmemMiB = 16, sabotage?: (tmem: Tmem) => void) {
  const vmm = await Vmm.create({ assets: testKernels, tmemMiB });
  let out = "";
  const domain = await vmm.boot({ image: loadImage(image(name)), args, console: { stdout: (s) => (out += s), stderr: (s) => (out += s) } });
  sabotage?.(vmm.tmem);
  const code = vmm.run(domain);
  return { vmm, domain, code, out };
}

// A tmem that breaks one rule, for showing that a self-test image checks what it names: each
// replaces one method on this instance only (the dispatcher calls them through `this`).
const SABOTAGE: Record<string, (tmem: Tmem) => void> = {
  "gets deliver one wrong byte": (tmem) => {
    const get = tmem.get.bind(tmem);
    tmem.get = (client, pool, oid, index, dst) => {
      const r = get(client, pool, oid, index, dst);
      if (r === 1) dst![100] ^= 0x40;
      return r;
    };
  },
  "flushes answer 1 and flush nothing": (tmem) => {
    tmem.flushPage = () => 1;
  },
  "NEW_POOL drops the persistent flag": (tmem) => {
    const newPool = tmem.newPool.bind(tmem);
    tmem.newPool = (client, flags, uuid) => newPool(client, flags & ~TMEM_POOL_PERSIST, uuid);
  },
};

/** For each image, the checks each sabotage must make it report. */
const CAUGHT: Record<string, Record<string, string[]>> = {
  selftest: {
    "gets deliver one wrong byte": ["persistent get returns the bytes put", "ephemeral get returns the bytes put", "...with the bytes put"],
    "flushes answer 1 and flush nothing": ["flushed page is gone"],
    "NEW_POOL drops the persistent flag": ["persistent get is not destructive"],
  },
  "selftest-c": {
    "gets deliver one wrong byte": ["contents match"],
    "flushes answer 1 and flush nothing": ["flushed page misses"],
    "NEW_POOL drops the persistent flag": ["persistent get again"],
  },
};

describe.each(Object.keys(CAUGHT))("the %s image checks what it names", (name) => {
  it.each(Object.keys(SABOTAGE))("a VMM whose %s fails it, naming the checks", async (what) => {
    const { code, out } = await boot(name, [], 16, SABOTAGE[what]);
    expect(code).toBe(1);
    const summary = new RegExp(`${name}: (\\d+) passed, (\\d+) failed`).exec(out);
    expect(summary).not.toBeNull();
    expect(Number(summary![2])).toBeGreaterThanOrEqual(CAUGHT[name][what].length);
    for (const check of CAUGHT[name][what]) expect(out).toContain(`FAIL ${check}`);
  });
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
    expect(vmm.tmem.pages).toBe(0); // it flushed and destroyed its pool
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
    refuses(
      buildModule({ funcImports: [{ module: "env", name: "abort", params: ["i32"], results: [] }] }),
      /imports env\.abort \(function\), which the VMM does not provide/,
    );
  });

  it("refuses a hypercall import with another signature", () => {
    refuses(
      buildModule({ funcImports: [{ ...HYPERCALL_IMPORT, params: ["i64", "i64"], results: ["i64"] }] }),
      new RegExp(`${HYPERCALL_IMPORT.module}\\.${HYPERCALL_IMPORT.name} must be \\(${HYPERCALL_IMPORT.params.length} x i32\\) -> i32`),
    );
  });

  it("refuses an image without env.memory or _start", () => {
    refuses(buildModule({ memoryImport: null }), /does not import its RAM as env\.memory/);
    refuses(buildModule({ exportStart: false }), /does not export a _start function/);
  });

  it("refuses a _start that takes parameters or returns more than an exit code", () => {
    refuses(buildModule({ startParams: ["i32"] }), /_start must be \(\) -> \(\) or \(\) -> i32, the image declares \(i32\) -> \(\)/);
    refuses(buildModule({ startResults: ["i64"], startBody: [0x42, 0] }), /the image declares \(\) -> \(i64\)/);
    refuses(
      buildModule({ startResults: ["i32", "i32"], startBody: [OP.i32Const, 0, OP.i32Const, 0] }),
      /the image declares \(\) -> \(i32, i32\)/,
    );
    expect(imageFromBytes(buildModule({ startResults: ["i32"], startBody: [OP.i32Const, 0] }), "exitcode").name).toBe("exitcode");
  });

  it("accepts an image that does not export its memory, and runs it with the export added", () => {
    const img = imageFromBytes(buildModule({ exportMemory: false }), "noexport");
    expect(WebAssembly.Module.exports(img.module)).toContainEqual({ name: "memory", kind: "memory" });
  });

  it("refuses RAM outside the image's memory limits, before booting", async () => {
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 1 });
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
