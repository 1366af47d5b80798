// The package's Node entry (`import { boot, replay } from "tmemvm"`): the platform-neutral API of
// vmm/api.ts with Node's platform bound, so images, traces and save files are named by path and
// the bundled images and the VMM's kernels are read from the installed package.
import {
  boot as bootOn,
  emptyMachine as emptyOn,
  replay as replayOn,
  type ApiPlatform,
  type BootOptions,
  type GuestSpec,
  type Machine,
  type ReplayReport,
} from "./api.js";
import type { Kernels } from "./machine/vmm.js";
import { fileExists, loadImage, nodeAssets, readFileBytes, saveFileStore, traceFile } from "./platform/files.js";
import { watchdog } from "./platform/watchdog.js";

export * from "./api.js";
/** Node's readers and writers by path, for harnesses below the Machine (the fuzzers). */
export { loadImage, nodeAssets, traceFile };
/** Outputs written whole or not at all (a temporary name, then a rename), and their one failure type. */
export {
  keepAbandonedTrace,
  makeOutputDir,
  OutputWriteError,
  unreadableInput,
  writeOutputFile,
  type TraceFileSink,
} from "./platform/files.js";
/** Node's platform for buildMachine: images by path (relative to a base) or bundled name, files, kernels. */
export { nodeMachinePlatform, resolveImage } from "./platform/node-platform.js";
/** Where the package is installed, and the structs gcc recorded from Xen's headers (the fuzzers' seeds). */
export { bundledImages, IMAGE_DIR, PACKAGE_ROOT, packageVersion, RECORDED_STRUCTS } from "./platform/assets.js";

/**
 * Node's platform: files by path, the package's assets (kernels, bundled images), and a watchdog that ends a guest looping without a hypercall.
 */
export const nodePlatform: ApiPlatform = {
  loadImage,
  fileExists,
  readFile: readFileBytes,
  traceFile,
  saveFiles: saveFileStore,
  watchdog,
  assets: nodeAssets,
};

/**
 * Boots guests in a fresh VMM, as vmm/api.ts's boot() does, with images, `record` and `restore`
 * given as paths on Node's file system (or bundled images by name).
 */
export function boot(guests: GuestSpec | readonly GuestSpec[], options: BootOptions = {}): Promise<Machine> {
  return bootOn(guests, { platform: nodePlatform, ...options });
}

/** A VMM with no guests, as vmm/api.ts's emptyMachine() makes one, with `record` a path. */
export function emptyMachine(options: BootOptions = {}): Promise<Machine> {
  return emptyOn({ platform: nodePlatform, ...options });
}

/**
 * Re-executes a recorded trace (a path or its bytes); `divergence` is null when it reproduces.
 * `kernels`: ones already compiled, to share (a fuzzer replays a trace a case).
 */
export function replay(trace: string | Uint8Array, kernels?: Kernels): ReplayReport {
  return replayOn(trace, kernels ? { ...nodePlatform, kernels } : nodePlatform);
}
