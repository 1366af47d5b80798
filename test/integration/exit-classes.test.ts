// Exit classes never lie: an image the VMM will not boot is a usage error (64) with the reason,
// never an "internal error" (70); a guest that traps once running is a crash (134) with the
// reason; the bundled guests say why they stop; a stopped run still saves the guests that had
// ended; Ctrl-C on fuzz and demo prints the summary so far and says it was interrupted.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI } from "../support/paths.js";
import { buildModule, HYPERCALL_IMPORT, OP } from "../support/wasm-builder.js";

const EXIT = { usage: 64, crashed: 134, interrupted: 130 } as const;
const work = mkdtempSync(join(tmpdir(), "tmemvm-exit-classes-"));

function tmemvm(args: string[], cwd = work) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function guest(name: string, bytes: Uint8Array, dir = work): string {
  const path = join(dir, `${name}.wasm`);
  writeFileSync(path, bytes);
  return path;
}

/** 65536 Wasm pages: 4 GiB, more RAM than the VMM gives a guest (4095 MiB). */
const huge = guest("huge", buildModule({ memoryImport: { module: "env", name: "memory", min: 65536 } }));
/** Its start section traps while the module is instantiated, before _start is ever called. */
const trapsEarly = guest("early", buildModule({ trap: true, startSection: true }));
const trapsLater = guest("later", buildModule({ trap: true }));

describe("an image the VMM will not boot is a usage error with the reason", () => {
  it.each([
    ["needs more RAM than a guest can have", huge, /^tmemvm: huge: needs at least 4096 MiB of RAM; a guest has at most 4095$/m],
    ["traps in its start section, before _start", trapsEarly, /^tmemvm: early: its start function trapped before _start, while the image was instantiated \(unreachable\)$/m],
  ])("run: an image that %s: exit 64", (_, image, message) => {
    const r = tmemvm(["run", image]);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(EXIT.usage);
  });

  it("a guest that traps once running is a crash, with the reason", () => {
    const r = tmemvm(["run", trapsLater]);
    expect(r.stderr).toMatch(/^tmemvm: guest later crashed: .*unreachable/m);
    expect(r.code).toBe(EXIT.crashed);
  });

  it.each([
    ["a missing --images directory", () => join(work, "nonexist"), /^tmemvm: .*nonexist\/fuzzer\.wasm: no such file$/m],
    ["a fuzzer image that needs 4 GiB", () => {
      const dir = mkdtempSync(join(work, "images-"));
      guest("fuzzer", buildModule({ funcImports: [HYPERCALL_IMPORT], memoryImport: { module: "env", name: "memory", min: 65536 } }), dir);
      return dir;
    }, /^tmemvm: fuzzer: needs at least 4096 MiB of RAM; a guest has at most 4095$/m],
    ["a fuzzer image whose start function traps", () => {
      const dir = mkdtempSync(join(work, "images-"));
      guest("fuzzer", buildModule({ funcImports: [HYPERCALL_IMPORT], trap: true, startSection: true }), dir);
      return dir;
    }, /^tmemvm: fuzzer: its start function trapped before _start/m],
  ])("fuzz --target guest with %s: exit 64, no failure saved", (_, images, message) => {
    const out = join(mkdtempSync(join(work, "fuzz-")), "out");
    const r = tmemvm(["fuzz", "--target", "guest", "--cases", "1", "--images", images(), "--out", out]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(EXIT.usage);
    expect(existsSync(out)).toBe(false);
  });
});

describe("the bundled guests say why they stop", () => {
  it("precache with more file pages than its tables can hold: a reason and exit 2, not a trap", () => {
    const r = tmemvm(["run", "precache", "--tmem", "8192", "--mem", "64", "--no-summary", "--", "300000", "64", "1"]);
    expect(r.stdout).toMatch(/^precache: 300000 file pages and 64 cache frames need \d+ KiB of tables; the guest kernel keeps \d+ KiB for them, whatever its RAM: ask for less$/m);
    expect(r.stderr).not.toMatch(/crashed|unreachable/);
    expect(r.code).toBe(2);
  });

  it("preswap with more virtual pages than its tables can hold: a reason and exit 2", () => {
    const r = tmemvm(["run", "preswap", "--mem", "64", "--no-summary", "--", "300000", "64", "1"]);
    expect(r.stdout).toMatch(/^preswap: 300000 virtual pages and 64 resident frames need \d+ KiB of tables/m);
    expect(r.code).toBe(2);
  });

  it("selftest with the most RAM a guest can have runs (its frames are reserved in blocks the runtime allows)", () => {
    const r = tmemvm(["run", "selftest", "--mem", "4095", "--no-summary"]);
    expect(r.stdout).not.toMatch(/abort|Allocation too large/);
    expect(r.stdout).toMatch(/^selftest: \d+ passed, 0 failed$/m);
    expect(r.code).toBe(0);
  });
});
