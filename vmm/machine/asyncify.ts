// Makes a guest image suspendable inside its hypercall import, with binaryen's Asyncify pass:
// the VMM can then deschedule one guest after any hypercall and run another. Binaryen is loaded
// only when a run interleaves several guests.
import type { GuestImage } from "./image.js";

const cache = new WeakMap<GuestImage, Promise<WebAssembly.Module>>();

export function asyncifiedModule(image: GuestImage): Promise<WebAssembly.Module> {
  let m = cache.get(image);
  if (!m) {
    m = transform(image);
    cache.set(image, m);
  }
  return m;
}

async function transform(image: GuestImage): Promise<WebAssembly.Module> {
  const { default: binaryen } = await import("binaryen");
  const mod = binaryen.readBinary(image.bytes);
  try {
    const F = binaryen.Features;
    mod.setFeatures(F.MVP | F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.Multivalue);
    binaryen.setPassArgument("asyncify-imports", "xen.hypercall");
    mod.runPasses(["asyncify"]);
    mod.optimize();
    return new WebAssembly.Module(mod.emitBinary() as Uint8Array<ArrayBuffer>);
  } finally {
    mod.dispose();
  }
}
