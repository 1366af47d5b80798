// The one way the VMM obtains Wasm it is not handed: its own kernels (the page scan and LZ4 in
// build/kernels/) and the bundled guest images (build/*.wasm). Node reads them from the package
// (vmm/platform/node-assets.ts); the browser page fetches them once and serves them from memory
// (web/). Kernels are compiled synchronously where they are needed, so a loader answers
// synchronously: a source that is asynchronous by nature fetches everything before it is installed.

/** The VMM's own Wasm kernels. */
export type KernelName = "page-scan" | "lz4";

export interface AssetLoader {
  /** The bytes of one of the VMM's kernels. */
  kernel(name: KernelName): Uint8Array;
  /** The bytes of the bundled guest image `name` (precache, selftest, ...), or undefined. */
  image(name: string): Uint8Array | undefined;
  /** The names of the bundled guest images, sorted. */
  imageNames(): string[];
}

let installed: AssetLoader | null = null;

/** Makes `loader` the source of kernels and bundled images from now on (one per program). */
export function useAssets(loader: AssetLoader): void {
  installed = loader;
}

/** The installed loader; a program that installed none gets a sentence saying how to. */
export function assets(): AssetLoader {
  if (!installed) {
    throw new Error("the VMM has no asset loader for its Wasm kernels: in Node import tmemvm (or vmm/platform/node-assets.js); elsewhere call useAssets() first");
  }
  return installed;
}
