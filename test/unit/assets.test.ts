// Run-time assets (vmm/assets.ts) and how a guest image is named (resolveImage).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { bundledImage, bundledImages, IMAGE_DIR, PACKAGE_ROOT, RECORDED_STRUCTS } from "../../vmm/platform/assets.js";
import { recordedStructs } from "../../fuzz/layout-facts.js";
import { readConfig, resolveImage } from "../../cli/run-config.js";
import { ImageError } from "../../vmm/machine/image.js";
import { suspendableBytes } from "../../vmm/machine/asyncify.js";
import { loadImage } from "../../vmm/platform/files.js";

const dir = mkdtempSync(join(tmpdir(), "tmemvm-assets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("the recorded structs the package ships are the test fixture, byte for byte", () => {
  expect(readFileSync(RECORDED_STRUCTS)).toEqual(readFileSync(new URL("../fixtures/tmem-structs.json", import.meta.url)));
  // And the fuzzers seed from them: every layout, every recorded vector.
  const seeds = recordedStructs();
  expect([...seeds.keys()].length).toBe(6);
  expect([...seeds.values()].every((v) => v.length >= 12)).toBe(true);
});

it("assets are found from the module, not the working directory", () => {
  expect(PACKAGE_ROOT).toBe(new URL("../..", import.meta.url).pathname);
  expect(IMAGE_DIR).toBe(join(PACKAGE_ROOT, "build"));
  expect(bundledImages().map((i) => i.name)).toEqual(["bench", "fuzzer", "precache", "preswap", "selftest", "selftest-c"]);
  expect(bundledImage("precache.wasm")).toBe(join(IMAGE_DIR, "precache.wasm"));
  expect(bundledImage("nope")).toBeUndefined();
});

it("every bundled image ships its suspendable form: Asyncify's of exactly that image as the VMM runs it", async () => {
  for (const { name, path } of bundledImages()) {
    const image = loadImage(path);
    expect(image.suspendable, name).toBeDefined();
    expect(
      Buffer.from(image.suspendable!).equals(Buffer.from(await suspendableBytes(image.bytes, name))),
      `build/suspendable/${name}.wasm is stale`,
    ).toBe(true);
  }
}, 120_000); // binaryen over six images on a loaded machine: room, not a time check

it("an image is a file first, a bundled name second, and a path is never a bundled name", () => {
  expect(resolveImage("selftest", dir)).toBe(join(IMAGE_DIR, "selftest.wasm"));
  writeFileSync(join(dir, "selftest"), "not wasm");
  expect(resolveImage("selftest", dir)).toBe(join(dir, "selftest"));
  expect(resolveImage("./precache", dir)).toBe(join(dir, "precache"));
  expect(() => resolveImage("selftst", dir)).toThrow(
    new ImageError(
      "selftst: no such file, and no bundled image of that name (bundled: bench, fuzzer, precache, preswap, selftest, selftest-c)",
    ),
  );
});

it('a config\'s "image": "precache" is the bundled image', () => {
  const cfg = join(dir, "run.json");
  writeFileSync(cfg, JSON.stringify({ domains: [{ image: "precache" }, { image: "preswap.wasm" }] }));
  expect(readConfig(cfg).guests.map((g) => g.image)).toEqual([join(IMAGE_DIR, "precache.wasm"), join(IMAGE_DIR, "preswap.wasm")]);
});
