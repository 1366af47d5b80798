// Node's side of a machine (see MachinePlatform in vmm/spec/): images from files or the package's
// bundled ones, save files and traces on the file system.
import { existsSync } from "node:fs";
import { resolve, sep } from "node:path";
import type { MachinePlatform } from "../spec/build-machine.js";
import { ImageError, imageFromBytes } from "../machine/image.js";
import { bundledImage, bundledImages, nodeAssets } from "./assets.js";
import { loadImage, saveFileStore, traceFile } from "./files.js";

/**
 * A guest image as the user named it: a file (relative to `base`, a config's directory or the
 * working directory), else, for a bare name such as `selftest` or `precache.wasm`, the image of
 * that name bundled with the package. A path that names no file is left for the loader to refuse.
 */
export function resolveImage(ref: string, base = process.cwd()): string {
  const file = resolve(base, ref);
  if (existsSync(file) || ref.includes("/") || ref.includes(sep)) return file;
  const bundled = bundledImage(ref);
  if (bundled) return bundled;
  throw new ImageError(
    `${ref}: no such file, and no bundled image of that name (bundled: ${bundledImages()
      .map((i) => i.name)
      .join(", ")})`,
  );
}

/** Node's platform; relative image paths are found from `base`. */
export function nodeMachinePlatform(base = process.cwd()): MachinePlatform {
  return {
    image: (ref) => (typeof ref === "string" ? loadImage(resolveImage(ref, base)) : imageFromBytes(ref, "guest")),
    saveFiles: saveFileStore,
    traceSink: traceFile,
    kernels: nodeAssets,
  };
}
