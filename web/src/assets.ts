// The page's asset loader: the VMM's kernels and the bundled guest images, fetched once when the
// page starts (Vite copies them from build/ into the static folder), then served from memory, as
// the VMM asks for them synchronously.
// The loader is passed to the VMM and replay, never installed. Images the user drops in join the same map.
import type { AssetLoader, KernelName } from "../../vmm/api.js";

const KERNELS: Record<KernelName, URL> = {
  "page-scan": new URL("../../build/kernels/page-scan.wasm", import.meta.url),
  lz4: new URL("../../build/kernels/lz4.wasm", import.meta.url),
  "page-index": new URL("../../build/kernels/page-index.wasm", import.meta.url),
};

/** One of a guest's arguments, in the order it takes them. */
export interface GuestArg {
  name: string;
  meaning: string;
}

/**
 * The guest images the page offers, with what they are and what their arguments mean; each also
 * made suspendable at build time (the page interleaves them without binaryen).
 */
export const BUNDLED: { name: string; url: URL; suspendableUrl: URL; about: string; args: GuestArg[] }[] = [
  {
    name: "selftest",
    url: new URL("../../build/selftest.wasm", import.meta.url),
    suspendableUrl: new URL("../../build/suspendable/selftest.wasm", import.meta.url),
    about:
      "self-test (AssemblyScript): every tmem op, hits and misses, and each error path, with page contents checked in the guest; exits 0 only if every check passed",
    args: [],
  },
  {
    name: "selftest-c",
    url: new URL("../../build/selftest-c.wasm", import.meta.url),
    suspendableUrl: new URL("../../build/suspendable/selftest-c.wasm", import.meta.url),
    about: "self-test (C, wasi-libc): the tmem ops from C, through the ABI's generated header",
    args: [],
  },
  {
    name: "precache",
    url: new URL("../../build/precache.wasm", import.meta.url),
    suspendableUrl: new URL("../../build/suspendable/precache.wasm", import.meta.url),
    about:
      "cleancache workload: reads a file set larger than its page cache, again and again; clean pages leaving the cache are put to an ephemeral pool, and each read tries a get before the disk. Prints the disk reads tmem avoided.",
    args: [
      { name: "FILE_PAGES", meaning: "pages in the file set (4 KiB each)" },
      { name: "CACHE_FRAMES", meaning: "page frames of the guest's own page cache" },
      { name: "PASSES", meaning: "how many times the file set is read" },
      { name: "loop | random", meaning: "read in order each pass, or at random (PASSES × FILE_PAGES reads)" },
      { name: "SEED", meaning: "seed of the guest's random reads" },
    ],
  },
  {
    name: "preswap",
    url: new URL("../../build/preswap.wasm", import.meta.url),
    suspendableUrl: new URL("../../build/suspendable/preswap.wasm", import.meta.url),
    about:
      "frontswap workload: anonymous memory larger than its RAM; pages leaving RAM are put to a persistent pool before the swap disk, and each swap-in tries tmem first, every page checked. Prints the disk I/O tmem avoided.",
    args: [
      { name: "VIRTUAL_PAGES", meaning: "pages of memory the guest uses" },
      { name: "RESIDENT_FRAMES", meaning: "how many of them fit in its RAM at once" },
      { name: "ACCESSES", meaning: "random reads and writes to make" },
      {
        name: "run | store | verify",
        meaning: "run and flush; store every page and leave them for a save; or check the pages a restore brought back",
      },
      { name: "SEED", meaning: "seed of the guest's random accesses" },
    ],
  },
];

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url.pathname}: ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Every guest image the page knows, by name: the bundled ones and those dropped in. */
export const images = new Map<string, Uint8Array>();

let loaded: AssetLoader | null = null;

/** The page's loader, once loadAssets() has fetched what it serves (the page passes it to the VMM and replay). */
export function pageAssets(): AssetLoader {
  if (!loaded) throw new Error("the page's assets are not loaded yet");
  return loaded;
}

/** Fetches the kernels and bundled images (both forms), for pageAssets(). */
export async function loadAssets(): Promise<void> {
  const [scan, lz4, pageIndex, ...imgs] = await Promise.all([
    fetchBytes(KERNELS["page-scan"]),
    fetchBytes(KERNELS.lz4),
    fetchBytes(KERNELS["page-index"]),
    ...BUNDLED.flatMap((b) => [fetchBytes(b.url), fetchBytes(b.suspendableUrl)]),
  ]);
  const bundled = new Map<string, { plain: Uint8Array; suspendable: Uint8Array }>();
  BUNDLED.forEach((b, i) => {
    bundled.set(b.name, { plain: imgs[2 * i], suspendable: imgs[2 * i + 1] });
    images.set(b.name, imgs[2 * i]);
  });
  const kernels: Record<KernelName, Uint8Array> = { "page-scan": scan, lz4, "page-index": pageIndex };
  const loader: AssetLoader = {
    kernel: (name) => kernels[name],
    image: (name) => images.get(name),
    imageNames: () => [...images.keys()].sort(),
    // An image the user dropped in under a bundled name replaces it, and has no suspendable form.
    suspendableImage: (name) => {
      const b = bundled.get(name);
      return b !== undefined && images.get(name) === b.plain ? b.suspendable : undefined;
    },
  };
  loaded = loader;
}
