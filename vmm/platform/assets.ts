// Where the package's run-time assets are: the guest images and Wasm kernels in build/, the
// recorded Xen structs, package.json. Everything is found relative to this module, never to the
// working directory or the repository, so an installed package (npm install -g, npx) finds its
// own copies. This module runs from vmm/platform/ (tests, under vitest) and from dist/vmm/platform/ (the CLI).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AssetLoader } from "../store/asset-loader.js";

/** The package root: the nearest directory above this module holding package.json. */
export const PACKAGE_ROOT = ((): string => {
  for (const rel of ["../../", "../../../"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`tmemvm's package.json not found above ${fileURLToPath(import.meta.url)}`);
})();

/** Compiled guest images: build/NAME.wasm. */
export const IMAGE_DIR = join(PACKAGE_ROOT, "build");

/** The same images made suspendable at build time (scripts/build-guests.mjs): build/suspendable/NAME.wasm. */
export const SUSPENDABLE_IMAGE_DIR = join(IMAGE_DIR, "suspendable");

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** A Wasm kernel of the VMM (build/kernels/NAME). */
export function kernelPath(name: string): string {
  const p = join(IMAGE_DIR, "kernels", name);
  if (!existsSync(p)) throw new Error(`${p} is missing: run npm run build`);
  return p;
}

/** The structs gcc recorded from Xen's own headers, per layout (seeds for the fuzzers). */
export const RECORDED_STRUCTS = join(PACKAGE_ROOT, "hypercall-abi", "recorded", "tmem-structs.json");

/** What each bundled image is, for `tmemvm images` (arguments as the guest reads them). */
const IMAGE_ABOUT: Record<string, string> = {
  selftest: "self-test, AssemblyScript: every tmem op, misses and error paths",
  "selftest-c": "self-test, C (wasi-libc)",
  precache: "cleancache workload: FILE_PAGES CACHE_FRAMES PASSES [loop|random] [SEED]",
  preswap: "frontswap workload: VIRTUAL_PAGES RESIDENT_FRAMES ACCESSES [run|store|verify] [SEED]",
  fuzzer: "in-guest fuzzer (tmemvm fuzz --target guest): [SEED] [HYPERCALLS]",
  bench: "op timings (npm run bench): [RESIDENT_PAGES] [OPS] [REPEATS]",
};

/** The bundled guest images, by name (precache, selftest, ...), sorted. */
export function bundledImages(): { name: string; path: string; about: string }[] {
  if (!existsSync(IMAGE_DIR)) return [];
  return readdirSync(IMAGE_DIR)
    .filter((f) => f.endsWith(".wasm"))
    .map((f) => basename(f, ".wasm"))
    .sort()
    .map((name) => ({ name, path: join(IMAGE_DIR, `${name}.wasm`), about: IMAGE_ABOUT[name] ?? "" }));
}

/** The bundled image called `name` (with or without .wasm), or undefined. */
export function bundledImage(name: string): string | undefined {
  const bare = name.endsWith(".wasm") ? name.slice(0, -5) : name;
  return bundledImages().find((i) => i.name === bare)?.path;
}

/** The asset loader of a Node program: kernels and bundled images read from the package's build/. Pass it (Vmm.create, replay); nothing installs it. */
export const nodeAssets: AssetLoader = {
  kernel: (name) => readFileSync(kernelPath(`${name}.wasm`)),
  image: (name) => {
    const path = bundledImage(name);
    return path === undefined ? undefined : readFileSync(path);
  },
  imageNames: () => bundledImages().map((i) => i.name),
  suspendableImage: (name) => {
    if (bundledImage(name) === undefined) return undefined;
    const path = join(SUSPENDABLE_IMAGE_DIR, `${name}.wasm`);
    return existsSync(path) ? readFileSync(path) : undefined;
  },
};
