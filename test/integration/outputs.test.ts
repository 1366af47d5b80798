// Outputs never lose data: every file tmemvm writes appears whole or not at all, a full disk
// leaves the previous file as it was and is reported as the output that failed (exit 74), outputs
// are checked before anything runs by one rule for every command, and a failed write to stdout
// or stderr is one line and exit 74. The full disks are small disks the test makes: a 64 KiB tmpfs
// per test, or where mount(8) is refused a directory whose writes fail past 64 KiB by injection
// (test/support/full-disk.ts).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, closeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, imagePath } from "../support/paths.js";
import { buildModule, OP } from "../support/wasm-builder.js";
import { expectReplays } from "../support/replay-check.js";
import { fill, fullDiskEnv, removeSmallDisks, smallDisk } from "../support/full-disk.js";

const EXIT_USAGE = 64;
const EXIT_IO = 74;

const work = mkdtempSync(join(tmpdir(), "tmemvm-outputs-"));

function tmemvm(args: string[], opts: { cwd?: string; stdout?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    cwd: opts.cwd ?? work,
    stdio: ["ignore", opts.stdout ?? "pipe", "pipe"],
    env: fullDiskEnv(),
  });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr };
}

afterAll(removeSmallDisks);

/** Files still being written (vmm/platform/output-file.ts): none may be left behind. */
const partials = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".part"));

describe("a full disk", () => {
  it("leaves a good --save file, --record trace and --list-json listing as they were, and names each output", () => {
    const disk = smallDisk();
    const first = tmemvm([
      "run",
      "preswap",
      "--mem",
      "4",
      "--tmem",
      "8",
      "--save",
      join(disk, "db.tmsv"),
      "--record",
      join(disk, "t.tmtr"),
      "--list-json",
      join(disk, "l.json"),
      "--no-summary",
      "--",
      "4",
      "32",
      "0",
      "store",
    ]);
    expect(first.code, first.stderr).toBe(0);
    const before = ["db.tmsv", "t.tmtr", "l.json"].map((f) => readFileSync(join(disk, f)));
    fill(disk);
    const r = tmemvm([
      "run",
      "preswap",
      "--mem",
      "4",
      "--tmem",
      "8",
      "--save",
      join(disk, "db.tmsv"),
      "--record",
      join(disk, "t.tmtr"),
      "--list-json",
      join(disk, "l.json"),
      "--no-summary",
      "--",
      "300",
      "32",
      "0",
      "store",
    ]);
    expect(r.code, r.stderr).toBe(EXIT_IO);
    expect(r.stderr).toMatch(new RegExp(`^tmemvm: cannot write --save ${disk}/db.tmsv: ENOSPC`, "m"));
    expect(r.stderr).toMatch(new RegExp(`^tmemvm: cannot write --record ${disk}/t.tmtr: ENOSPC`, "m"));
    expect(r.stderr).toMatch(new RegExp(`^tmemvm: cannot write --list-json ${disk}/l.json: ENOSPC`, "m"));
    expect(r.stderr).not.toMatch(/saved \d+ persistent pages|recorded \d+ hypercalls|\n\s+at /);
    ["db.tmsv", "t.tmtr", "l.json"].forEach((f, i) => {
      expect(readFileSync(join(disk, f)), f).toEqual(before[i]);
    });
    expect(partials(disk)).toEqual([]);
    // What was kept is still good: the save file restores, the trace replays.
    const again = tmemvm([
      "run",
      "preswap",
      "--mem",
      "4",
      "--tmem",
      "8",
      "--restore",
      join(disk, "db.tmsv"),
      "--no-summary",
      "--",
      "4",
      "32",
      "0",
      "verify",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/4 swap-ins \(4 from tmem, 0 from disk\)/);
    expectReplays(join(disk, "t.tmtr"));
  });

  it("while fuzzing with a corpus is exit 74 naming --corpus, not fuzz failures, and leaves no partial file", () => {
    const disk = smallDisk();
    mkdirSync(join(disk, "corpus"));
    fill(disk);
    const r = tmemvm(["fuzz", "--target", "coverage", "--corpus", join(disk, "corpus"), "--cases", "30", "--out", join(disk, "failures")]);
    expect(r.code, r.stdout + r.stderr).toBe(EXIT_IO);
    expect(r.stderr).toMatch(new RegExp(`^tmemvm: cannot write --corpus ${disk}/corpus/[0-9a-f]{40}: ENOSPC`, "m"));
    expect(r.stdout).not.toMatch(/failure\(s\)/);
    expect(existsSync(join(disk, "failures"))).toBe(false);
    expect(partials(disk)).toEqual([]);
  });
});

describe("a run whose thread is ended before its recorder closes the trace", () => {
  it("leaves what was written at the trace's name, and no partial file", () => {
    const dir = mkdtempSync(join(work, "ended-"));
    writeFileSync(join(dir, "spin.wasm"), buildModule({ startBody: [OP.loop, OP.void, OP.br, 0, OP.end] }));
    const r = tmemvm(["run", "spin.wasm", "--timeout", "1", "--record", "t.tmtr"], { cwd: dir });
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/the trace has no end record/);
    expect(readdirSync(dir).sort()).toEqual(["spin.wasm", "t.tmtr"]);
  });
});

describe("outputs are checked before anything runs, by one rule for every command", () => {
  it.each([
    [
      "--record and --save",
      ["run", "selftest", "--record", "same.bin", "--save", "same.bin"],
      /^tmemvm: --save same\.bin and --record same\.bin are the same file/m,
    ],
    [
      "--record and --list-json",
      ["run", "selftest", "--record", "x", "--list-json", "x"],
      /^tmemvm: --record x and --list-json x are the same file/m,
    ],
    [
      "--save and a control action's save",
      ["run", "selftest", "--save", "a.tmsv", "--control", "5:save selftest ./a.tmsv"],
      /^tmemvm: --save a\.tmsv and control action 5:save \.\/a\.tmsv are the same file/m,
    ],
    [
      "an output over the image",
      ["run", "ret.wasm", "--list-json", "ret.wasm"],
      /^tmemvm: --list-json ret\.wasm would overwrite the image .*\/ret\.wasm, which this run reads$/m,
    ],
    [
      "fuzz --out and --corpus",
      ["fuzz", "--target", "coverage", "--cases", "1", "--out", "c", "--corpus", "c"],
      /^tmemvm: --out c and --corpus c are the same directory/m,
    ],
    [
      "demo --out under a missing directory",
      ["demo", "--out", "no/such/demo"],
      /^tmemvm: --out no\/such\/demo: no such directory .*\/no\/such$/m,
    ],
    [
      "fuzz --out under a missing directory",
      ["fuzz", "--target", "model", "--cases", "1", "--out", "no/such"],
      /^tmemvm: --out no\/such: no such directory .*\/no$/m,
    ],
    [
      "fuzz --corpus under a missing directory",
      ["fuzz", "--target", "coverage", "--cases", "1", "--corpus", "no/such"],
      /^tmemvm: --corpus no\/such: no such directory .*\/no$/m,
    ],
  ])("%s: refused, exit 64, nothing written", (_, args, message) => {
    const dir = mkdtempSync(join(work, "check-"));
    writeFileSync(join(dir, "ret.wasm"), readFileSync(imagePath("selftest")));
    const image = readFileSync(join(dir, "ret.wasm"));
    const r = tmemvm(args, { cwd: dir });
    expect(r.code, r.stderr).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(readdirSync(dir)).toEqual(["ret.wasm"]);
    expect(readFileSync(join(dir, "ret.wasm"))).toEqual(image);
  });

  it("a save file may be written back where --restore read it (the restore-and-save cycle)", () => {
    const dir = mkdtempSync(join(work, "cycle-"));
    expect(
      tmemvm(["run", "preswap", "--mem", "4", "--save", "db.tmsv", "--no-summary", "--", "4", "32", "0", "store"], { cwd: dir }).code,
    ).toBe(0);
    const r = tmemvm(
      ["run", "preswap", "--mem", "4", "--restore", "db.tmsv", "--save", "db.tmsv", "--no-summary", "--", "4", "32", "0", "verify"],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/saved 4 persistent pages in 1 pool of preswap to db\.tmsv/);
  });
});

/** A file descriptor on a full file system: every write to it fails with ENOSPC, as /dev/full's do. */
let fullDisk: string | null = null;
function fullOutput(): number {
  if (fullDisk === null) {
    fullDisk = smallDisk();
    fill(fullDisk);
  }
  return openSync(join(fullDisk, "stdout"), "w");
}

describe("stdout that cannot be written", () => {
  it.each([
    ["header", ["header"]],
    ["images", ["images"]],
    ["encode", ["encode", "--cmd", "put"]],
    ["decode", ["decode", "00".repeat(56)]],
    ["--help", ["--help"]],
    ["run", ["run", "selftest"]],
    ["fuzz", ["fuzz", "--target", "model", "--cases", "1", "--out", "fuzz-out"]],
  ])("%s with stdout on a full disk: one line and exit 74", (_, args) => {
    const full = fullOutput();
    try {
      const r = tmemvm(args, { stdout: full });
      expect(r.code, r.stderr).toBe(EXIT_IO);
      expect(r.stderr).toMatch(/^tmemvm: cannot write stdout: ENOSPC/m);
      expect(r.stderr).not.toMatch(/\n\s+at |node:internal/);
    } finally {
      closeSync(full);
    }
  });

  it("replay with stdout on a full disk: one line and exit 74", () => {
    const dir = mkdtempSync(join(work, "replay-"));
    expect(tmemvm(["run", "selftest", "--record", "t.tmtr", "--no-summary"], { cwd: dir }).code).toBe(0);
    const full = fullOutput();
    try {
      const r = tmemvm(["replay", "t.tmtr"], { cwd: dir, stdout: full });
      expect(r.code, r.stderr).toBe(EXIT_IO);
      expect(r.stderr).toMatch(/^tmemvm: cannot write stdout: ENOSPC/m);
    } finally {
      closeSync(full);
    }
  });
});
