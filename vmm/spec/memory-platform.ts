// A platform with nothing but memory (see MachinePlatform): images and save files from bytes it is
// handed, save files written to a map, the trace kept in memory. The browser page runs on it; so
// can a test or any host without a file system.
import { ControlError } from "../host/control-action.js";
import { ImageError, imageFromBytes, type BundledImages } from "../machine/image.js";
import { MemoryTraceSink } from "../trace/trace-sink.js";
import type { MachinePlatform } from "./build-machine.js";

export interface MemoryPlatform extends MachinePlatform {
  /** Save files by name: those given, and those the run wrote. */
  readonly files: Map<string, Uint8Array>;
  /** The trace, once a spec with `record` was built on this platform. */
  readonly trace: MemoryTraceSink | null;
}

/** `bundled`: where the images in `images` that are bundled ones find their suspendable forms (the page's loader). */
export function memoryPlatform(
  images: ReadonlyMap<string, Uint8Array>,
  kernels: MachinePlatform["kernels"],
  files = new Map<string, Uint8Array>(),
  bundled?: BundledImages,
): MemoryPlatform {
  let trace: MemoryTraceSink | null = null;
  return {
    files,
    kernels,
    get trace() {
      return trace;
    },
    image: (ref) => {
      if (typeof ref !== "string") return imageFromBytes(ref, "guest");
      const bytes = images.get(ref);
      if (!bytes) throw new ImageError(`${ref}: no such image; loaded: ${[...images.keys()].join(", ")}`);
      return imageFromBytes(bytes, ref, ref, bundled);
    },
    saveFiles: {
      read: (name) => {
        const bytes = files.get(name);
        if (!bytes) throw new ControlError(`${name}: no such save file`);
        return bytes;
      },
      write: (name, bytes) => void files.set(name, bytes),
    },
    traceSink: (ref) => (trace = new MemoryTraceSink(ref)),
  };
}
