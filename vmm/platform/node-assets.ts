// The asset loader of a Node program: kernels and bundled images read from the package's build/.
// Importing this module installs it; every Node entry (the package's API, the CLI, its workers,
// the fuzzers, the test setup) reaches it through vmm/platform/files.ts.
import { readFileSync } from "node:fs";
import { useAssets, type AssetLoader } from "../store/asset-loader.js";
import { bundledImage, bundledImages, kernelPath } from "./assets.js";

export const nodeAssets: AssetLoader = {
  kernel: (name) => readFileSync(kernelPath(`${name}.wasm`)),
  image: (name) => {
    const path = bundledImage(name);
    return path === undefined ? undefined : readFileSync(path);
  },
  imageNames: () => bundledImages().map((i) => i.name),
};

useAssets(nodeAssets);
