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
    [
      "traps in its start section, before _start",
      trapsEarly,
      /^tmemvm: early: its start function trapped before _start, while the image was instantiated \(unreachable\)$/m,
    ],
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
    [
      "a fuzzer image that needs 4 GiB",
      () => {
        const dir = mkdtempSync(join(work, "images-"));
        guest("fuzzer", buildModule({ funcImports: [HYPERCALL_IMPORT], memoryImport: { module: "env", name: "memory", min: 65536 } }), dir);
        return dir;
      },
      /^tmemvm: fuzzer: needs at least 4096 MiB of RAM; a guest has at most 4095$/m,
    ],
    [
      "a fuzzer image whose start function traps",
      () => {
        const dir = mkdtempSync(join(work, "images-"));
        guest("fuzzer", buildModule({ funcImports: [HYPERCALL_IMPORT], trap: true, startSection: true }), dir);
        return dir;
      },
      /^tmemvm: fuzzer: its start function trapped before _start/m,
    ],
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
    expect(r.stdout).toMatch(
      /^precache: 300000 file pages and 64 cache frames need \d+ KiB of tables; the guest kernel keeps \d+ KiB for them, whatever its RAM: ask for less$/m,
    );
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

/** Spawns the CLI, sends SIGINT once `ready` says so (polled), and collects the end. */
function interrupted(
  args: string[],
  cwd: string,
  ready: (out: { stdout: string; stderr: string }) => boolean,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd });
    const out = { stdout: "", stderr: "" };
    let sent = false;
    const check = () => {
      if (sent || !ready(out)) return;
      sent = true;
      clearInterval(poll);
      child.kill("SIGINT");
    };
    const poll = setInterval(check, 50);
    child.stdout.on("data", (d) => {
      out.stdout += d;
      check();
    });
    child.stderr.on("data", (d) => {
      out.stderr += d;
      check();
    });
    child.on("close", (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, ...out });
    });
  });
}

/** rax=0 is no hypercall the VMM serves: -ENOSYS, forever. A run of it ends only when stopped. */
const hypercallLoop = buildModule({
  funcImports: [HYPERCALL_IMPORT],
  startBody: [OP.loop, OP.void, ...new Array(12).fill([OP.i32Const, 0]).flat(), OP.call, 0, OP.drop, OP.br, 0, OP.end],
});

describe("a stopped run", () => {
  it("Ctrl-C still saves a guest that had already ended", async () => {
    const dir = mkdtempSync(join(work, "stop-save-"));
    const loop = guest("loop", hypercallLoop, dir);
    const r = await interrupted(
      [
        "run",
        "preswap",
        loop,
        "--mem",
        "4",
        "--save",
        "preswap=db.tmsv",
        "--save",
        "loop=loop.tmsv",
        "--no-summary",
        "--",
        "40",
        "32",
        "0",
        "store",
      ],
      dir,
      (o) => /\[preswap\] preswap: 40 swap-outs/.test(o.stdout),
    );
    expect(r.code, r.stderr).toBe(EXIT.interrupted);
    expect(r.stderr).toMatch(/^saved 40 persistent pages in 1 pool of preswap to db\.tmsv$/m);
    expect(r.stderr).toMatch(/^not saving loop to loop\.tmsv: the run was stopped$/m);
    expect(readdirSync(dir).sort()).toEqual(["db.tmsv", "loop.wasm"]);
    const again = tmemvm(["run", "preswap", "--mem", "4", "--restore", "db.tmsv", "--no-summary", "--", "40", "32", "0", "verify"], dir);
    expect(again.stdout).toMatch(/40 swap-ins \(40 from tmem, 0 from disk\)/);
    expect(again.code).toBe(0);
  });

  it("Ctrl-C on demo prints the summary so far and says it was interrupted (exit 130, no chart)", async () => {
    const dir = mkdtempSync(join(work, "stop-demo-"));
    // A "precache" that never ends: only Ctrl-C stops this demo.
    mkdirSync(join(dir, "images"));
    guest("precache", hypercallLoop, join(dir, "images"));
    const r = await interrupted(["demo", "--images", "images", "--out", "demo"], dir, (o) => /^3 guests, each reading/m.test(o.stdout));
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(EXIT.interrupted);
    expect(r.stdout).toMatch(/^guest\s+weight\s+tmem gets/m);
    expect(r.stdout).toMatch(/^light\s+1\s+0\s+0\s/m);
    expect(r.stdout).toMatch(/^interrupted after \d+ hypercalls: the figures above are the guests' so far; no chart was written$/m);
    expect(r.stderr).toMatch(/^tmemvm: interrupted$/m);
    expect(existsSync(join(dir, "demo"))).toBe(false);
  });

  it("Ctrl-C on fuzz prints the summary so far and says it was interrupted (exit 130)", async () => {
    const dir = mkdtempSync(join(work, "stop-fuzz-"));
    mkdirSync(join(dir, "corpus"));
    // Cases are running once the corpus grows.
    const r = await interrupted(["fuzz", "--target", "coverage", "--seconds", "600", "--corpus", "corpus"], dir, () =>
      readdirSync(join(dir, "corpus")).some((f) => !f.endsWith(".part")),
    );
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(EXIT.interrupted);
    expect(r.stdout).toMatch(/^target\s+cases\s+hypercalls/m);
    expect(r.stdout).toMatch(/^coverage\s+[1-9]\d*\s/m);
    expect(r.stderr).toMatch(/^tmemvm: interrupted: the campaign was stopped after [1-9]\d* cases$/m);
  });
});
