// The CLI as a user meets it: a guest's exit code passes through; every mistake is one line on
// stderr and a non-zero exit, never a stack trace.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const cli = new URL("../dist/vmm/cli.js", import.meta.url).pathname;
const image = (name: string) => new URL(`../build/${name}.wasm`, import.meta.url).pathname;

function tmemvm(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tmemvm run", () => {
  it("boots the self-test, forwards its console, prints a tmem summary and exits 0", () => {
    const r = tmemvm("run", image("selftest"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/selftest: \d+ passed, 0 failed/);
    expect(r.stderr).toMatch(/^tmem: \d+\/\d+ frames used, \d+ objects, \d+ ops/m);
    expect(r.stderr).toMatch(/domid\s+poolId\s+type\s+pages\s+objects\s+puts\s+gets\s+hits\s+misses\s+flushes/);
  });

  it("passes arguments to the guest", () => {
    const r = tmemvm("run", image("precache"), "--no-summary", "--", "64", "16", "2");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^precache: 128 page reads/);
    expect(r.stderr).toBe("");
  });

  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-"));
  const notWasm = join(dir, "notes.wasm");
  writeFileSync(notWasm, "hello");

  it.each([
    ["a missing image", ["run", join(dir, "missing.wasm")], /missing\.wasm: no such file/],
    ["a file that is not Wasm", ["run", notWasm], /not a WebAssembly module/],
    ["a directory", ["run", dir], /is a directory/],
    ["a non-numeric --mem", ["run", image("selftest"), "--mem", "lots"], /--mem must be a whole number of MiB/],
    ["--mem 0", ["run", image("selftest"), "--mem", "0"], /--mem must be 1\.\.4095 MiB/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["no image", ["run"], /missing required argument 'image'/],
  ])("%s: one line on stderr, non-zero exit", (_, args, message) => {
    const r = tmemvm(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
