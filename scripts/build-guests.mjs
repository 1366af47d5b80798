// Builds every guest image in guest/images/ with asc, then validates each with binaryen.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import binaryen from "binaryen";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "build");
mkdirSync(out, { recursive: true });
const asc = join(root, "node_modules", ".bin", "asc");
const images = readdirSync(join(root, "guest", "images")).filter((f) => f.endsWith(".ts"));
for (const file of images) {
  const name = basename(file, ".ts");
  const wasm = join(out, `${name}.wasm`);
  execFileSync(asc, [join("guest", "images", file), "--config", join("guest", "asconfig.json"), "-o", wasm], { cwd: root, stdio: "inherit" });
  const mod = binaryen.readBinary(readFileSync(wasm));
  mod.setFeatures(binaryen.Features.All);
  if (!mod.validate()) throw new Error(`${wasm}: binaryen says the module is invalid`);
  mod.dispose();
}
console.log(`built ${images.length} AssemblyScript guest image(s) into build/`);
