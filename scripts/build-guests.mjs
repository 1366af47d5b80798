// Builds every guest image into build/: the AssemblyScript images in guest/images/ with asc and
// the top-level asconfig.json (the guest build's options; the VMM's own kernels keep theirs in
// vmm/store/kernels/), the C images in guest/c/ with clang (wasm32-wasi, against
// hypercall-abi/c/xen-tmem.h). Where clang is missing, the C images come from guest/c/prebuilt/
// (committed; `TMEMVM_REFRESH_PREBUILT=1 npm run build` rewrites them from this machine's clang). Every image is validated
// with binaryen, and every guest image is also written made suspendable (Asyncify, the VMM's own
// pass in dist/) into build/suspendable/: the package ships both forms, so that interleaving the
// bundled images needs no binaryen where tmemvm is installed. Runs after tsc (it imports dist/).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import binaryen from "binaryen";
import { suspendableBytes } from "../dist/vmm/machine/asyncify.js";
import { imageFromBytes } from "../dist/vmm/machine/image.js";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "build");
mkdirSync(out, { recursive: true });

function validate(wasm) {
  const mod = binaryen.readBinary(readFileSync(wasm));
  mod.setFeatures(binaryen.Features.All);
  if (!mod.validate()) throw new Error(`${wasm}: binaryen says the module is invalid`);
  mod.dispose();
}

const asc = join(root, "node_modules", ".bin", "asc");
const asImages = readdirSync(join(root, "guest", "images")).filter((f) => f.endsWith(".ts"));
for (const file of asImages) {
  const wasm = join(out, `${basename(file, ".ts")}.wasm`);
  execFileSync(asc, [join("guest", "images", file), "--config", "asconfig.json", "-o", wasm], { cwd: root, stdio: "inherit" });
  validate(wasm);
}

// The VMM's own kernels: page-scan runs on a guest's imported RAM, lz4 in its own memory, the
// page index in its own memory with the runtime's heap (its arrays grow by reallocation).
const kernels = join(out, "kernels");
mkdirSync(kernels, { recursive: true });
for (const [dir, file, extra] of [
  [join("vmm", "store", "kernels"), "page-scan.ts", ["--importMemory", "--initialMemory", "1"]],
  [join("vmm", "store", "kernels"), "lz4.ts", []],
  [join("vmm", "tmem", "kernels"), "page-index.ts", ["--runtime", "minimal", "--initialMemory", "1"]],
]) {
  const wasm = join(kernels, `${basename(file, ".ts")}.wasm`);
  execFileSync(asc, [join(dir, file), "--config", join("vmm", "store", "kernels", "asconfig.json"), ...extra, "-o", wasm], {
    cwd: root,
    stdio: "inherit",
  });
  validate(wasm);
}
// The guest kernel's page loops alone, for the bench to compare with JavaScript.
const guestOps = join(kernels, "guest-page-ops.wasm");
execFileSync(
  asc,
  [
    join("guest", "kernel", "page-ops-exports.ts"),
    "--config",
    join("vmm", "store", "kernels", "asconfig.json"),
    "--initialMemory",
    "16",
    "-o",
    guestOps,
  ],
  { cwd: root, stdio: "inherit" },
);
validate(guestOps);

const cDir = join(root, "guest", "c");
const prebuilt = join(cDir, "prebuilt");
const cImages = readdirSync(cDir).filter((f) => f.endsWith(".c"));
const haveClang = spawnSync("clang", ["--version"], { stdio: "ignore" }).status === 0;
for (const file of cImages) {
  const name = `${basename(file, ".c")}-c`;
  const wasm = join(out, `${name}.wasm`);
  if (haveClang) {
    // The image imports its RAM and does not export it: the VMM hands WASI the memory it made.
    const include = join(root, "hypercall-abi", "c");
    execFileSync(
      "clang",
      [
        "--target=wasm32-wasi",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-I",
        include,
        "-Wl,--import-memory",
        "-Wl,--strip-all",
        "-o",
        wasm,
        join(cDir, file),
      ],
      { stdio: "inherit" },
    );
    validate(wasm);
    // The committed copy is refreshed only on request (TMEMVM_REFRESH_PREBUILT=1): another clang
    // makes other bytes, and a build must not leave a clone dirty.
    if (process.env.TMEMVM_REFRESH_PREBUILT === "1") {
      mkdirSync(prebuilt, { recursive: true });
      copyFileSync(wasm, join(prebuilt, `${name}.wasm`));
    }
  } else {
    rmSync(wasm, { force: true });
    copyFileSync(join(prebuilt, `${name}.wasm`), wasm);
    validate(wasm);
  }
}
// Made from the image as the VMM runs it (a C image gets its memory export added first).
const suspendable = join(out, "suspendable");
rmSync(suspendable, { recursive: true, force: true });
mkdirSync(suspendable);
const guestImages = readdirSync(out).filter((f) => f.endsWith(".wasm"));
for (const file of guestImages) {
  const image = imageFromBytes(readFileSync(join(out, file)), basename(file, ".wasm"), join(out, file));
  const wasm = join(suspendable, file);
  writeFileSync(wasm, await suspendableBytes(image.bytes, image.name));
  validate(wasm);
}
console.log(
  `built ${asImages.length} AssemblyScript and ${cImages.length} C guest image(s) into build/` +
    (haveClang || cImages.length === 0 ? "" : " (C images from guest/c/prebuilt: clang not found)"),
);
