// Where the tests find what the build made, and how they run the CLI: one place, so a layout
// change is one edit.
import { spawnSync, type SpawnSyncOptionsWithStringEncoding } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** The compiled CLI, as `npm run build` leaves it. */
export const CLI = fileURLToPath(new URL("../../dist/cli/cli.js", import.meta.url));
/** Where `npm run build` puts the guest images. */
export const IMAGE_DIR = fileURLToPath(new URL("../../build/", import.meta.url));
/** A built guest image by name: build/NAME.wasm. */
export const imagePath = (name: string): string => `${IMAGE_DIR}${name}.wasm`;
/** A console that drops everything. */
export const QUIET = { stdout: (): void => {}, stderr: (): void => {} };

/** Runs the built CLI to completion and returns what it printed and its exit status. */
export function runCli(args: string[], opts: Partial<SpawnSyncOptionsWithStringEncoding> = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", ...opts });
}
