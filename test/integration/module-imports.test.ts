// Every module of the package imports on its own, in a fresh process, with nothing imported first
// (no loader installed by a side effect, no cache another module fills), and the modules that run
// Wasm kernels work when given them at construction.
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { IMAGE_DIR, REPO } from "../support/paths.js";

const DIST_VMM = join(REPO, "dist", "vmm");
const run = promisify(execFile);

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : [],
  );
}

const url = (rel: string): string => JSON.stringify(pathToFileURL(join(DIST_VMM, rel)).href);

/** Runs `script` as an ES module in a new Node process: its stdout, or the error it failed with. */
async function fresh(script: string): Promise<string> {
  try {
    return (await run(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" })).stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return `FAILED: ${(err.stderr ?? err.message).trim().split("\n").slice(0, 6).join(" | ")}`;
  }
}

describe("each module of dist/vmm on its own, in a fresh process", () => {
  // Only the modules the sources still have: a build leaves the output of a deleted source behind.
  const all = modules(DIST_VMM)
    .map((m) => relative(DIST_VMM, m))
    .filter((m) => existsSync(join(REPO, "vmm", m.replace(/\.js$/, ".ts"))))
    .sort();

  it("finds the modules", () => {
    expect(all).toContain("tmem/tmem.js");
    expect(all).toContain("machine/vmm.js");
    expect(all.length).toBeGreaterThan(40);
  });

  it("imports every module, each alone", async () => {
    const failed: string[] = [];
    // Two at a time: the machine has few cores, and each is a whole Node start.
    for (let i = 0; i < all.length; i += 2) {
      const out = await Promise.all(all.slice(i, i + 2).map(async (m) => [m, await fresh(`await import(${url(m)}); console.log("ok");`)]));
      for (const [m, o] of out) if (o !== "ok") failed.push(`${m}: ${o}`);
    }
    expect(failed).toEqual([]);
  });

  it("a Tmem with compression works given an LZ4 instance and the index module, with no other module of the package imported", async () => {
    const out = await fresh(`
      import { Tmem } from ${url("tmem/tmem.js")};
      import { Lz4 } from ${url("store/kernels.js")};
      import { encodePoolFlags } from ${JSON.stringify(pathToFileURL(join(REPO, "dist", "hypercall-abi", "pool-flags.js")).href)};
      import { readFileSync } from "node:fs";
      const lz4 = new Lz4(new WebAssembly.Module(readFileSync(${JSON.stringify(join(IMAGE_DIR, "kernels", "lz4.wasm"))})));
      const indexModule = new WebAssembly.Module(readFileSync(${JSON.stringify(join(IMAGE_DIR, "kernels", "page-index.wasm"))}));
      const tmem = new Tmem({ capacityFrames: 4, compressor: () => lz4, indexModule });
      const c = tmem.client(1);
      tmem.setPolicy(1, { compress: true });
      const page = new Uint8Array(4096).map((_, i) => (i % 7) + 1);
      const oid = new Uint32Array(6);
      const pool = c.pool(tmem.newPool(c, encodePoolFlags({ persistent: true }), new Uint32Array(4)));
      const put = tmem.put(c, pool, oid, 0, page, false);
      const back = new Uint8Array(4096);
      const get = tmem.get(c, pool, oid, 0, back);
      console.log(put, get, back.every((b, i) => b === page[i]), tmem.usage().counters.compressedPages);
    `);
    expect(out).toBe("1 1 true 1");
  });

  it("a guest's RAM scans pages with the kernels it is given", async () => {
    const out = await fresh(`
      import { GuestMemory } from ${url("boundary/guest-memory.js")};
      import { Kernels } from ${url("store/asset-loader.js")};
      import { nodeAssets } from ${url("platform/assets.js")};
      const ram = new GuestMemory(1, new Kernels(nodeAssets));
      const g = ram.gfn(3);
      const z = ram.isZero(g);
      ram.write(ram.offset(ram.frameAddress(g), 4000, 1), new Uint8Array([9]));
      console.log(z, ram.isZero(g));
    `);
    expect(out).toBe("true false");
  });

  it("a VMM boots and runs a guest given the Node loader, with nothing installed", async () => {
    const out = await fresh(`
      import { Vmm } from ${url("machine/vmm.js")};
      import { imageFromBytes } from ${url("machine/image.js")};
      import { nodeAssets } from ${url("platform/assets.js")};
      const vmm = await Vmm.create({ tmemMiB: 1, assets: nodeAssets });
      let text = "";
      const d = await vmm.boot({ image: imageFromBytes(nodeAssets.image("selftest"), "selftest"), ramMiB: 4, console: { stdout: (t) => (text += t), stderr: () => {} } });
      console.log(vmm.run(d), /0 failed/.test(text));
    `);
    expect(out).toBe("0 true");
  });
});
