// Makes a guest image suspendable inside its hypercall import, with binaryen's Asyncify pass:
// the VMM can then deschedule one guest after any hypercall and run another. A lone guest runs
// its image as it is (the pass costs it about a tenth of its speed). The bundled images ship
// already suspendable (the build runs this pass on them: build/suspendable/), so binaryen, an
// optional peer dependency, is loaded only to interleave an image of the user's own.
import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME } from "../../hypercall-abi/hypercall-import.js";
import type { GuestImage } from "./image.js";
import { importOptional } from "./optional-package.js";

const cache = new WeakMap<GuestImage, Promise<WebAssembly.Module>>();

/** What Asyncify adds to a module: the VMM drives a suspended guest through these. */
const ASYNCIFY_EXPORTS = ["asyncify_start_unwind", "asyncify_stop_unwind", "asyncify_start_rewind", "asyncify_stop_rewind"];

export function asyncifiedModule(image: GuestImage): Promise<WebAssembly.Module> {
  let m = cache.get(image);
  if (!m) {
    m = image.suspendable
      ? Promise.resolve(shipped(image, image.suspendable))
      : suspendableBytes(image.bytes, image.name).then((b) => new WebAssembly.Module(b as Uint8Array<ArrayBuffer>));
    cache.set(image, m);
  }
  return m;
}

/** The image's shipped suspendable form, compiled; a form without Asyncify's exports is a broken build, not the user's doing. */
function shipped(image: GuestImage, bytes: Uint8Array): WebAssembly.Module {
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = ASYNCIFY_EXPORTS.filter((n) => !exports.has(n));
  if (missing.length > 0) throw new Error(`the suspendable form of ${image.name} lacks ${missing.join(", ")}: rebuild it (npm run build)`);
  return module;
}

/**
 * `bytes` (a guest image as the VMM runs it) made suspendable at its hypercall import. Loads
 * binaryen, or throws MissingPackageError naming `name` if it is not installed.
 */
export async function suspendableBytes(bytes: Uint8Array, name: string): Promise<Uint8Array> {
  const { default: binaryen } = await importOptional(
    "binaryen",
    `interleaving ${name} (an image not bundled with tmemvm)`,
    () => import("binaryen"),
  );
  const mod = binaryen.readBinary(bytes);
  try {
    const F = binaryen.Features;
    mod.setFeatures(
      F.MVP | F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt | F.Multivalue,
    );
    binaryen.setPassArgument("asyncify-imports", `${HYPERCALL_IMPORT_MODULE}.${HYPERCALL_IMPORT_NAME}`);
    mod.runPasses(["asyncify"]);
    mod.optimize();
    return mod.emitBinary();
  } finally {
    mod.dispose();
  }
}
