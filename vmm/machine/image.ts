// Guest images: loaded, compiled and checked against the guest ABI before anything runs, so a
// bad image gets one clear sentence instead of a failure half-way through a boot.
import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME, HYPERCALL_PARAMS } from "../../hypercall-abi/hypercall-import.js";
import { exportedFunctionSig, readImports, WasmFormatError, type FuncSig, type ImportDesc } from "./wasm-module-info.js";
import { MAX_GUEST_RAM_MIB, WASM_PAGE_BYTES } from "../boundary/guest-memory.js";
import { withMemoryExport } from "./memory-export.js";
import type { AssetLoader } from "../store/asset-loader.js";

export class ImageError extends Error {}

export interface GuestImage {
  readonly name: string;
  /** The module as the VMM runs it: the file's bytes, with a `memory` export added if it had none. */
  readonly bytes: Uint8Array;
  readonly module: WebAssembly.Module;
  readonly imports: readonly ImportDesc[];
  /** The smallest RAM the image accepts, in MiB (rounded up). */
  readonly minRamMiB: number;
  /** The largest RAM the image accepts, in MiB, or null for no limit. */
  readonly maxRamMiB: number | null;
  readonly wasiImports: readonly string[];
  /**
   * The same image made suspendable when the package was built (the bundled images ship so), or
   * undefined: interleaving it then needs binaryen (see asyncify.ts).
   */
  readonly suspendable?: Uint8Array;
}

/** Where the bundled images and their suspendable forms are (the package's, the page's). */
export type BundledImages = Pick<AssetLoader, "image" | "suspendableImage">;

/** The suspendable form `bundled` ships for the image `name` with these bytes: only a bundled image's own bytes have one. */
function shippedSuspendable(bytes: Uint8Array, name: string, bundled: BundledImages | undefined): Uint8Array | undefined {
  const plain = bundled?.image(name);
  if (plain === undefined || plain.length !== bytes.length || !plain.every((b, i) => b === bytes[i])) return undefined;
  return bundled!.suspendableImage?.(name);
}

/**
 * The guest image in `bytes` (a file's, a fetch's), checked; `where` names it in errors. A file:
 * loadImage() of vmm/platform/files.ts. If `bytes` are the bundled image `name` of `bundled`, the
 * image comes with its suspendable form.
 */
export function imageFromBytes(bytes: Uint8Array, name: string, where = name, bundled?: BundledImages): GuestImage {
  const suspendable = shippedSuspendable(bytes, name, bundled);
  let imports: ImportDesc[];
  try {
    imports = readImports(bytes);
  } catch (e) {
    if (e instanceof WasmFormatError) throw new ImageError(`${where}: ${e.message}`);
    throw e;
  }
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new ImageError(`${where}: not a valid WebAssembly module (${(e as Error).message.replace(/^WebAssembly\.Module\(\): /, "")})`);
  }

  let memory: Extract<ImportDesc, { kind: "memory" }> | undefined;
  const wasiImports: string[] = [];
  for (const imp of imports) {
    const what = `${imp.module}.${imp.name}`;
    if (imp.module === "env" && imp.name === "memory" && imp.kind === "memory") {
      if (imp.shared || imp.memory64) throw new ImageError(`${where}: env.memory must be a plain 32-bit memory`);
      memory = imp;
    } else if (imp.module === HYPERCALL_IMPORT_MODULE && imp.name === HYPERCALL_IMPORT_NAME && imp.kind === "function") {
      const { params, results } = imp.sig;
      if (params.length !== HYPERCALL_PARAMS || params.some((p) => p !== "i32") || results.length !== 1 || results[0] !== "i32") {
        throw new ImageError(
          `${where}: ${what} must be (${HYPERCALL_PARAMS} x i32) -> i32, the image declares (${params.join(", ")}) -> (${results.join(", ")})`,
        );
      }
    } else if (imp.module === "wasi_snapshot_preview1" && imp.kind === "function") {
      wasiImports.push(imp.name);
    } else {
      throw new ImageError(`${where}: imports ${what} (${imp.kind}), which the VMM does not provide`);
    }
  }
  if (!memory) throw new ImageError(`${where}: does not import its RAM as env.memory`);
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === "_start" && e.kind === "function")) {
    throw new ImageError(`${where}: does not export a _start function`);
  }
  // The VMM calls _start with no arguments: one that wants any would run on zeros it never asked for.
  let start: FuncSig | null;
  try {
    start = exportedFunctionSig(bytes, "_start");
  } catch (e) {
    if (e instanceof WasmFormatError) throw new ImageError(`${where}: ${e.message}`);
    throw e;
  }
  if (start && (start.params.length > 0 || start.results.length > 1 || start.results.some((t) => t !== "i32"))) {
    throw new ImageError(
      `${where}: _start must be () -> () or () -> i32, the image declares (${start.params.join(", ")}) -> (${start.results.join(", ")})`,
    );
  }
  const memoryExport = exports.find((e) => e.name === "memory");
  if (memoryExport && memoryExport.kind !== "memory") {
    throw new ImageError(`${where}: exports a ${memoryExport.kind} named "memory"; that name is for its RAM`);
  }
  if (!memoryExport) {
    // WASI reads the console through an exported memory; the VMM made this one, so it exports it.
    bytes = withMemoryExport(bytes);
    module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  }
  const mib = (pages: number): number => Math.ceil((pages * WASM_PAGE_BYTES) / (1024 * 1024));
  for (const e of exports) {
    if (e.name.startsWith("asyncify_")) throw new ImageError(`${where}: exports ${e.name}; names starting asyncify_ are the VMM's`);
  }
  // Refused here, not when its RAM cannot be made: an image no guest can boot is the user's to fix.
  if (mib(memory.minPages) > MAX_GUEST_RAM_MIB)
    throw new ImageError(`${name}: needs at least ${mib(memory.minPages)} MiB of RAM; a guest has at most ${MAX_GUEST_RAM_MIB}`);
  return {
    name,
    bytes,
    module,
    imports,
    minRamMiB: Math.max(1, mib(memory.minPages)),
    maxRamMiB: memory.maxPages === null ? null : Math.floor((memory.maxPages * WASM_PAGE_BYTES) / (1024 * 1024)),
    wasiImports,
    ...(suspendable === undefined ? {} : { suspendable }),
  };
}
