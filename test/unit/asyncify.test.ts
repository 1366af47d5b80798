// Interleaving (vmm/machine/asyncify.ts) without running binaryen: the bundled images ship made
// suspendable, by name, path or a copy under the same name; only an image of the user's own goes
// through binaryen, which this file replaces by one that fails whenever it is used.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it, vi } from "vitest";
import { buildMachine, checkSpec, memoryPlatform, nodeAssets, nodeMachinePlatform, objectSource } from "../../vmm/node.js";
import { loadImage } from "../../vmm/platform/files.js";
import { IMAGE_DIR } from "../../vmm/platform/assets.js";

vi.mock("binaryen", () => ({
  default: {
    readBinary() {
      throw new Error("binaryen was used");
    },
  },
}));

const dir = mkdtempSync(join(tmpdir(), "tmemvm-peers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runTwo(a: string, b: string) {
  const spec = checkSpec(
    {
      guests: [
        { image: a, ramMiB: 4, args: ["300", "32", "2"] },
        { image: b, ramMiB: 4, args: ["300", "32", "2"] },
      ],
      tmemMiB: 2,
    },
    objectSource("test"),
  );
  const m = await buildMachine(spec, nodeMachinePlatform(dir), { console: () => ({ stdout() {}, stderr() {} }) });
  m.run();
  return m.vmm.domains.map((d) => d.exitCode);
}

it("bundled images interleave from the suspendable forms they ship, by name or path", async () => {
  expect(await runTwo("precache", join(IMAGE_DIR, "preswap.wasm"))).toEqual([0, 0]);
  expect(await runTwo("selftest", "selftest-c")).toEqual([0, 0]);
});

it("a copy of a bundled image under its own name is that image; under another name, or other bytes under its name, it is the user's", async () => {
  copyFileSync(join(IMAGE_DIR, "precache.wasm"), join(dir, "precache.wasm"));
  expect(await runTwo("./precache.wasm", "preswap")).toEqual([0, 0]);
  copyFileSync(join(IMAGE_DIR, "precache.wasm"), join(dir, "mine.wasm"));
  await expect(runTwo("./mine.wasm", "preswap")).rejects.toThrow("binaryen was used");
  copyFileSync(join(IMAGE_DIR, "preswap.wasm"), join(dir, "selftest.wasm"));
  expect(loadImage(join(dir, "selftest.wasm")).suspendable).toBeUndefined();
  expect(loadImage(join(dir, "precache.wasm")).suspendable).toEqual(nodeAssets.suspendableImage!("precache"));
});

it("on a platform of bytes (the page's), a bundled name with other bytes has no suspendable form", () => {
  const images = new Map([
    ["precache", nodeAssets.image("precache")!],
    ["preswap", nodeAssets.image("selftest")!],
  ]);
  const platform = memoryPlatform(images, nodeAssets, undefined, nodeAssets);
  expect(platform.image("precache").suspendable).toBeDefined();
  expect(platform.image("preswap").suspendable).toBeUndefined();
});
