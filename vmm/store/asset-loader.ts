// What the VMM needs of Wasm it is not handed, and who gives it: its own kernels (the page scan,
// LZ4 and tmem's page index in build/kernels/) and the bundled guest images (build/*.wasm, made suspendable in build/suspendable/). Node reads them from the
// package (vmm/platform/assets.ts); the browser page fetches them once and serves them from memory
// (web/). Nothing is installed: a loader is passed to what needs it (Vmm.create, replay), which
// compiles the kernels into a Kernels it owns and hands on (GuestMemory, Tmem's compressor).
import { Lz4, pageScanFor, type PageScan } from "./kernels.js";

/** The VMM's own Wasm kernels. */
export type KernelName = "page-scan" | "lz4" | "page-index";

export interface AssetLoader {
  /** The bytes of one of the VMM's kernels. */
  kernel(name: KernelName): Uint8Array;
  /** The bytes of the bundled guest image `name` (precache, selftest, ...), or undefined. */
  image(name: string): Uint8Array | undefined;
  /** The names of the bundled guest images, sorted. */
  imageNames(): string[];
  /**
   * The bundled guest image `name` made suspendable at build time (for interleaving without
   * binaryen): the form of exactly the bytes image(name) returns, or undefined if there is none.
   */
  suspendableImage?(name: string): Uint8Array | undefined;
}

/**
 * The kernels of one owner (a VMM, a replay, a fuzzer thread), each compiled on its first use:
 * most runs never compress, and a Wasm compile is the cost worth sharing, not the bytes.
 */
export class Kernels {
  private pageScan: WebAssembly.Module | null = null;
  private lz4Module: WebAssembly.Module | null = null;
  private pageIndexModule: WebAssembly.Module | null = null;

  constructor(private readonly loader: Pick<AssetLoader, "kernel">) {}

  /** A page scanner over `memory` (a guest's RAM). */
  pageScanFor(memory: WebAssembly.Memory): PageScan {
    this.pageScan ??= new WebAssembly.Module(this.loader.kernel("page-scan") as Uint8Array<ArrayBuffer>);
    return pageScanFor(this.pageScan, memory);
  }

  /** The page index's module (tmem's PageIndex makes an instance of it per index). */
  pageIndex(): WebAssembly.Module {
    return (this.pageIndexModule ??= new WebAssembly.Module(this.loader.kernel("page-index") as Uint8Array<ArrayBuffer>));
  }

  /** A new LZ4 instance, with its own memory. */
  lz4(): Lz4 {
    this.lz4Module ??= new WebAssembly.Module(this.loader.kernel("lz4") as Uint8Array<ArrayBuffer>);
    return new Lz4(this.lz4Module);
  }
}
