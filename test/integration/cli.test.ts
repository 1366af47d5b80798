// The CLI as a user meets it: a guest's exit code passes through, the VMM's own outcomes have
// codes of their own; every mistake is one line on stderr before anything runs, never a stack trace.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeTrace } from "../../vmm/trace/trace-format.js";
import { buildModule, HYPERCALL_IMPORT, OP } from "../support/wasm-builder.js";
import { expectReplays } from "../support/replay-check.js";
import { CLI, imagePath } from "../support/paths.js";

const cli = CLI;
const image = imagePath;

/** The exit-status table the README documents. */
const EXIT = { usage: 64, diverged: 65, internal: 70, timeout: 124, interrupted: 130, crashed: 134 } as const;

function tmemvm(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmemvmIn(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Hand-built guests: a _start that returns a code, traps, loops on hypercalls, or spins without one. */
const guests = mkdtempSync(join(tmpdir(), "tmemvm-cli-guests-"));
function guest(name: string, bytes: Uint8Array): string {
  const path = join(guests, `${name}.wasm`);
  writeFileSync(path, bytes);
  return path;
}
const returning = (code: number) => guest(`ret${code}`, buildModule({ startResults: ["i32"], startBody: [OP.i32Const, ...sleb(code)] }));
const trapping = guest("trap", buildModule({ trap: true }));
/** rax=0 is no hypercall the VMM serves: every call is -ENOSYS, forever. */
const hypercallLoop = guest(
  "hcloop",
  buildModule({
    funcImports: [HYPERCALL_IMPORT],
    startBody: [OP.loop, OP.void, ...new Array(12).fill([OP.i32Const, 0]).flat(), OP.call, 0, OP.drop, OP.br, 0, OP.end],
  }),
);
const spinning = guest("spin", buildModule({ startBody: [OP.loop, OP.void, OP.br, 0, OP.end] }));

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** Spawns the CLI, sends `signal` once `ready` says the guests are running, and collects the end. */
function interrupted(
  args: string[],
  ready: (stderr: string) => boolean,
  signal: NodeJS.Signals = "SIGINT",
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args]);
    let stdout = "";
    let stderr = "";
    let sent = false;
    const poll = setInterval(() => check(), 50);
    const check = () => {
      if (!sent && ready(stderr)) {
        sent = true;
        clearInterval(poll);
        child.kill(signal);
      }
    };
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      check();
    });
    child.on("close", (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stdout, stderr });
    });
  });
}

describe("tmemvm run", () => {
  it("boots the self-test, forwards its console, prints a tmem summary and exits 0", () => {
    const r = tmemvm("run", image("selftest"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/selftest: \d+ passed, 0 failed/);
    expect(r.stderr).toMatch(/^tmem: \d+\/\d+ frames used, \d+ ops \(\d+ misses, \d+ errors\), \d+ evictions$/m);
    expect(r.stderr).toMatch(/domid\s+name\s+weight\s+frozen\s+pool\s+type\s+pages\s+puts\s+gets\s+hits\s+misses\s+flushes\s+evictions/);
  });

  it("passes arguments to the guest", () => {
    const r = tmemvm("run", image("precache"), "--no-summary", "--", "64", "16", "2");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^precache: 128 page reads/);
    expect(r.stderr).toBe("");
  });

  it("--layout picks the domain's ABI generation", () => {
    // 4.1's struct has the same bytes for data ops, so the demo runs unchanged...
    expect(tmemvm("run", image("precache"), "--layout", "xen-4.1-oid3/x86_64", "--no-summary", "--", "64", "16", "2").code).toBe(0);
    // ...while the self-test, written for 4.12's rules, sees 4.0's: version 0 pools, legacy commands.
    const r = tmemvm("run", image("selftest"), "--layout", "xen-4.0-legacy/x86_64", "--no-summary");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL new private ephemeral pool gets the lowest slot: got -1, want 0/);
  });

  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-"));
  const notWasm = join(dir, "notes.wasm");
  writeFileSync(notWasm, "hello");

  it.each([
    ["a missing image", ["run", join(dir, "missing.wasm")], /missing\.wasm: no such file/],
    ["a file that is not Wasm", ["run", notWasm], /not a WebAssembly module/],
    ["a directory", ["run", dir], /is a directory/],
    [
      "a non-numeric --mem",
      ["run", image("selftest"), "--mem", "lots"],
      /^tmemvm: --mem must be a whole number 1\.\.4095 \(MiB\), got lots$/m,
    ],
    ["--mem 0", ["run", image("selftest"), "--mem", "0"], /^tmemvm: --mem must be a whole number 1\.\.4095 \(MiB\), got 0$/m],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["no image", ["run"], /missing required argument 'image'/],
    ["a negative --tmem", ["run", "--tmem", "-3", "x.wasm"], /^tmemvm: --tmem must be a whole number 0\.\.1048576 \(MiB\), got -3$/m],
  ])("%s: one line on stderr, the usage exit status", (_, args, message) => {
    const r = tmemvm(...args);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("help and version", () => {
  it("--help lists the commands and exits 0; no command shows it and is a usage error", () => {
    const h = tmemvm("--help");
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/run \[options\] \[images\.\.\.\]/);
    for (const cmd of ["demo", "fuzz", "replay", "decode", "encode"]) expect(h.stdout).toContain(cmd);
    for (const [what, code] of [
      ["usage error", EXIT.usage],
      ["interrupted", EXIT.interrupted],
      ["a guest crashed", EXIT.crashed],
    ] as const) {
      expect(h.stdout).toMatch(new RegExp(`^  ${code}\\s+${what}`, "m"));
    }
    const none = tmemvm();
    expect(none.code).toBe(EXIT.usage);
    expect(none.stderr).not.toMatch(/outputHelp|\n\s+at /);
  });

  // encode's BigInt defaults once made its help crash ("Do not know how to serialize a BigInt").
  it.each(["run", "demo", "fuzz", "replay", "decode", "encode"])("%s: --help and help print the command's usage and exit 0", (cmd) => {
    for (const args of [
      [cmd, "--help"],
      ["help", cmd],
    ]) {
      const r = tmemvm(...args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: tmemvm ${cmd} `));
      expect(r.stdout).toMatch(/-h, --help\s+display help for command/);
    }
  });

  it("encode --help shows the 64-bit defaults", () => {
    expect(tmemvm("encode", "--help").stdout).toMatch(/--cmfn <pfn>\s+guest frame number \(default: 0\)/);
  });

  it("--version prints the package's version, from any directory", () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = tmemvmIn(guests, flag);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it("encode's own --version still sets the pool flags' spec version", () => {
    const v0 = tmemvm("encode", "--cmd", "new-pool", "--version", "0").stdout.trim();
    const v1 = tmemvm("encode", "--cmd", "new-pool", "--version", "1").stdout.trim();
    expect(v0).not.toBe(v1);
    expect(tmemvm("decode", v1).stdout).toMatch(/creat\.flags .*, version 1$/m);
    expect(tmemvm("decode", v0).stdout).toMatch(/creat\.flags .*, version 0$/m);
  });
});

describe("tmemvm replay, decode, encode", () => {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli2-"));

  it("records a run and replays it with no divergence", () => {
    const trace = join(dir, "st.tmtr");
    const r = tmemvm("run", image("selftest"), "--record", trace, "--no-summary");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/recorded \d+ hypercalls to/);
    const p = tmemvm("replay", trace);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/replayed \d+ hypercalls: no divergence/);
    expectReplays(trace);
  });

  it("a damaged trace is one line naming the byte offset", () => {
    const trace = join(dir, "bad.tmtr");
    writeFileSync(trace, "TMTR\u0001\u0000\u0000\u0000\u00ff\u0000\u0000\u0000");
    const r = tmemvm("replay", trace);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^tmemvm: truncated header \(byte offset \d+\)\n$/);
  });

  it("decode spells out a recorded op", () => {
    const r = tmemvm(
      "decode",
      "0400000003000000887766554433221100ffeeddccbbaa9908070605040302012a00000000000000000000000000000000020000",
      "--layout",
      "xen-4.12-oid3/x86_32",
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cmd\s+4 \(TMEM_PUT_PAGE\)/);
    expect(r.stdout).toMatch(/gen\.oid\s+\[0x1122334455667788, 0x99aabbccddeeff00, 0x102030405060708\]/);
    expect(r.stdout).toMatch(/gen\.cmfn\s+512 /);
  });

  it("decode --json of a legacy control op names the sub-op", () => {
    const r = tmemvm(
      "decode",
      "000000000000000004000000ffffffff001000000000000000000000000000000000000000000000",
      "--layout",
      "xen-4.0-legacy/x86_64",
      "--json",
    );
    expect(JSON.parse(r.stdout)).toMatchObject({
      cmdName: "TMEM_CONTROL",
      ctrl: { subopName: "TMEMC_LIST", cliId: 0xffffffff, arg1: 4096 },
    });
  });

  it("encode builds the recorded bytes; decode reads them back", () => {
    const hex = "0100000000000000efcdab89674523011032547698badcfe02000001000000000000000000000000000000000000000000000000";
    const e = tmemvm(
      "encode",
      "--cmd",
      "new-pool",
      "--shared",
      "--uuid",
      "0x0123456789abcdef,0xfedcba9876543210",
      "--layout",
      "xen-4.12-oid3/x86_32",
    );
    expect(e.stdout.trim()).toBe(hex);
    const p = tmemvm(
      "encode",
      "--cmd",
      "put",
      "--pool",
      "3",
      "--oid",
      "0x1122334455667788,0x99aabbccddeeff00,0x0102030405060708",
      "--index",
      "42",
      "--cmfn",
      "499",
    );
    expect(p.stdout.trim()).toBe(
      "0400000003000000887766554433221100ffeeddccbbaa9908070605040302012a000000000000000000000000000000f301000000000000",
    );
    const d = tmemvm("decode", p.stdout.trim());
    expect(d.code).toBe(0);
    expect(d.stdout).toBe(
      [
        "struct tmem_op, xen-4.12-oid3/x86_64 (Xen 4.6-4.12 (header kept since)), 56 bytes",
        "  cmd              4 (TMEM_PUT_PAGE)",
        "  pool_id          3",
        "  gen.oid          [0x1122334455667788, 0x99aabbccddeeff00, 0x102030405060708]",
        "  gen.index        42",
        "  gen.tmem_offset  0",
        "  gen.pfn_offset   0",
        "  gen.len          0",
        "  gen.cmfn         499 (0x1f3; guest address 0x1f3000)",
        "",
      ].join("\n"),
    );
  });

  it.each([
    [["decode", "zz"], /hex digits/],
    [["decode", "0400"], /got 2 bytes; a xen-4\.12-oid3\/x86_64 struct tmem_op is 56/],
    [["decode", "00", "--layout", "xen-9"], /unknown layout; one of: /],
    [["encode", "--cmd", "frob"], /unknown; one of: .*put/],
    [["encode", "--cmd", "put", "--index", "0x1ffffffff"], /does not fit in 32 bits/],
    [["encode", "--cmd", "put", "--oid", "1,2,3,4"], /has 3 oid words; --oid gave 4/],
    [["replay", "/no/such.tmtr"], /no such file/],
  ])("%s: one line, the usage exit status", (args, message) => {
    const r = tmemvm(...(args as string[]));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("exit status: a guest's code and the VMM's outcomes never share a number", () => {
  it("a bare _start's i32 return is the exit code", () => {
    const r = tmemvm("run", returning(3), "--no-summary");
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("");
  });

  it("a WASI guest's proc_exit is the exit code, the same number a usage error once had", () => {
    // precache exits 2 when its cache does not fit in RAM; a usage error is 64, so they differ.
    const r = tmemvm("run", image("precache"), "--mem", "4", "--no-summary", "--", "64", "5000", "1");
    expect(r.stdout).toMatch(/not enough RAM for 5000 cache frames/);
    expect(r.code).toBe(2);
  });

  it("a C guest's main return reaches the exit code through proc_exit", () => {
    const r = tmemvm("run", image("selftest-c"), "--layout", "xen-4.0-legacy/x86_64", "--no-summary");
    expect(r.stdout).toMatch(/selftest-c: \d+ passed, [1-9]\d* failed/);
    expect(r.code).toBe(1);
  });

  it("a guest code above 63 is carried as 63, and the real one is named", () => {
    const r = tmemvm("run", returning(200), "--no-summary");
    expect(r.code).toBe(63);
    expect(r.stderr).toBe("tmemvm: guest exit code 200 is reported as 63\n");
  });

  it("a guest that traps is a crash (134), not an exit code", () => {
    const r = tmemvm("run", trapping, "--no-summary");
    expect(r.code).toBe(EXIT.crashed);
    expect(r.stderr).toMatch(/^tmemvm: guest trap crashed: unreachable/m);
  });

  it("of several guests, a crash wins over exit codes, and of exit codes the first non-zero in domain order", () => {
    expect(tmemvm("run", returning(0), returning(5), returning(3), "--no-summary").code).toBe(5);
    expect(tmemvm("run", returning(3), trapping, "--no-summary").code).toBe(EXIT.crashed);
  });

  it("a diverging replay has its own status", () => {
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-div-"));
    const trace = join(dir, "st.tmtr");
    expect(tmemvm("run", image("selftest"), "--record", trace, "--no-summary").code).toBe(0);
    const file = new Uint8Array(readFileSync(trace));
    const last = decodeTrace(file).records.at(-1)!;
    file[last.offset + 4 + 1 + 1 + 4 + 48] ^= 0x01; // the result, after kind, flags, domid and 12 registers
    const v = new DataView(file.buffer);
    const len = v.getUint32(last.offset, true);
    v.setUint32(last.offset + 4 + len, crc32(file.subarray(last.offset + 4, last.offset + 4 + len)) >>> 0, true);
    writeFileSync(trace, file);
    const r = tmemvm("replay", trace);
    expect(r.stdout).toMatch(/^diverged at record \d+/);
    expect(r.code).toBe(EXIT.diverged);
  });
});

describe("tmemvm run: outputs", () => {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-out-"));

  it("--list-json - puts only the JSON on stdout; the guest's console goes to stderr", () => {
    const r = tmemvm("run", image("precache"), "--list-json", "-", "--no-summary", "--", "64", "16", "2");
    expect(r.code).toBe(0);
    const listing = JSON.parse(r.stdout) as { domains: { name: string }[] };
    expect(listing.domains.map((d) => d.name)).toEqual(["precache"]);
    expect(r.stderr).toMatch(/^precache: 128 page reads/m);
  });

  it("the listing counts misses as misses, not errors, and shows the destroyed pool with its counts", () => {
    // precache gets every page once before it was ever put (the pool is empty: -EEMPTY), then
    // destroys its pool at exit.
    const json = join(dir, "precache.json");
    const r = tmemvm("run", image("precache"), "--list-json", json, "--", "64", "16", "2");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^tmem: 0\/16384 frames used, \d+ ops \(64 misses, 0 errors\), 0 evictions$/m);
    expect(r.stderr).toMatch(/^\s+1\s+precache\s+0\s+no\s+0\s+EP destroyed\s+-\s+\d+\s+128\s+64\s+64\s+\d+\s+0$/m);
    const l = JSON.parse(readFileSync(json, "utf8"));
    expect(l).toMatchObject({ errors: 0, misses: 64 });
    expect(l.domains[0]).toMatchObject({ errors: 0, misses: 64, pools: [] });
    expect(l.domains[0].destroyedPools).toEqual([
      expect.objectContaining({ poolId: 0, type: "EP", destroyed: true, gets: 128, hits: 64, misses: 64, pages: 0 }),
    ]);
  });

  it("an output that cannot be written after the run is an I/O error (74), not an internal one", () => {
    const r = tmemvm("run", image("precache"), "--list-json", "/dev/full", "--no-summary", "--", "64", "16", "2");
    expect(r.stdout).toMatch(/^precache: 128 page reads/);
    expect(r.stderr).toBe("tmemvm: cannot write --list-json /dev/full: ENOSPC: no space left on device, write\n");
    expect(r.code).toBe(74);
    // A device is written in place, never replaced by a file renamed over it.
    expect(statSync("/dev/full").isCharacterDevice()).toBe(true);
  });

  it("a domain that never had a pool is listed as having none, not as a pool of zeros", () => {
    const r = tmemvm("run", returning(0));
    expect(r.stderr).toMatch(/^\s+1\s+ret0\s+0\s+no\s+none\s+-/m);
  });
});

describe("every option is checked before anything runs", () => {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-check-"));
  const notADir = join(dir, "file");
  writeFileSync(notADir, "x");
  const precache = ["run", image("precache")];
  const args = ["--", "64", "16", "2"];

  it.each([
    [
      "--save into a missing directory",
      [...precache, "--save", join(dir, "no", "x.tmsv"), ...args],
      /^tmemvm: --save .*x\.tmsv: no such directory .*\/no$/m,
    ],
    [
      "--record into a missing directory",
      [...precache, "--record", join(dir, "no", "x.tmtr"), ...args],
      /^tmemvm: --record .*: no such directory/m,
    ],
    ["--record onto a directory", [...precache, "--record", dir, ...args], /^tmemvm: --record .*: is a directory$/m],
    [
      "--list-json under a file",
      [...precache, "--list-json", join(notADir, "l.json"), ...args],
      /^tmemvm: --list-json .*: .*file is a file, not a directory$/m,
    ],
    [
      "a control action saving into a missing directory",
      [...precache, "--control", "10:save precache /no/such/dir/x.tmsv", ...args],
      /^tmemvm: control action 10:save .*: no such directory/m,
    ],
    ["demo --out under a file", ["demo", "--out", join(notADir, "out")], /^tmemvm: --out .*: .*file is a file, not a directory$/m],
    [
      "fuzz --out under a file",
      ["fuzz", "--target", "model", "--cases", "1", "--out", join(notADir, "f")],
      /^tmemvm: --out .*: .*file is a file, not a directory$/m,
    ],
  ])("%s: one line, nothing ran", (_, a, message) => {
    const r = tmemvm(...(a as string[]));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe(""); // the guest never printed its report
  });

  it("the same ranges on the command line as in a config", () => {
    for (const [flag, key, bad] of [
      ["--weight", "weight", -3],
      ["--weight", "weight", 2_000_000],
      ["--mem", "ramMiB", 5000],
      ["--seed", "seed", 2 ** 32],
      ["--quantum", "quantum", 0],
      ["--tmem", "tmemMiB", 2 ** 21],
    ] as const) {
      const cli = tmemvm(...precache, flag, String(bad), ...args);
      expect(cli.code).toBe(EXIT.usage);
      const cfg = join(dir, `${key}.json`);
      const domain: Record<string, unknown> = { image: image("precache"), args: ["64", "16", "2"] };
      const top: Record<string, unknown> = { domains: [domain] };
      if (key === "weight" || key === "ramMiB") domain[key] = bad;
      else top[key] = bad;
      writeFileSync(cfg, JSON.stringify(top));
      const file = tmemvm("run", "--config", cfg);
      expect(file.code).toBe(EXIT.usage);
      // Both name the same range.
      const range = /(\d+)\.\.(\d+)/;
      expect(cli.stderr.match(range)?.slice(1)).toEqual(file.stderr.match(range)?.slice(1));
    }
    expect(tmemvm(...precache, "--weight", "-3", ...args).stderr).toMatch(/--weight must be a whole number 0\.\.1000000/);
  });

  it("a control action's numbers have the option's range", () => {
    const r = tmemvm(...precache, "--control", "10:weight precache 2000000", ...args);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/control action weight: WEIGHT must be a whole number 0\.\.1000000/);
    expect(r.stdout).toBe("");
  });

  it.each([
    [["fuzz", "--input", "x.bin"], /--input applies only to --target coverage/],
    [["fuzz", "--target", "model", "--input", "x.bin"], /--input applies only to --target coverage/],
    [["fuzz", "--target", "coverage", "--case", "3"], /--case applies only to --target model, boundary or guest/],
    [["fuzz", "--case", "3"], /--case applies only to --target model, boundary or guest/],
    [["fuzz", "--target", "coverage", "--input", "x.bin", "--cases", "3"], /--input runs one saved input/],
    [["fuzz", "--target", "model", "--images", "build"], /--images applies only to --target guest/],
    [["fuzz", "--seconds", "0"], /--seconds must be a number of seconds, more than 0/],
    [["fuzz", "--cases", "0"], /--cases must be a whole number >= 1/],
    [["fuzz", "--jobs", "0"], /--jobs must be a whole number 1\.\.256/],
    [["fuzz", "--jobs", "-2"], /--jobs must be a whole number 1\.\.256/],
    [["fuzz", "--jobs", "1.5"], /--jobs must be a whole number 1\.\.256/],
    [["fuzz", "--jobs", "two"], /--jobs must be a whole number 1\.\.256/],
    [["fuzz", "--jobs", "100000"], /--jobs must be a whole number 1\.\.256/],
    [["fuzz", "--target", "model", "--jobs", "2", "--case", "3"], /--jobs applies to a campaign, not to one --case or --input/],
    [["fuzz", "--target", "coverage", "--jobs", "2", "--input", "x.bin"], /--jobs applies to a campaign, not to one --case or --input/],
    [["fuzz", "--hypercalls", "0"], /--hypercalls must be a whole number >= 1/],
    [["fuzz", "--target", "model", "--hypercalls", "100", "--case", "3"], /--case runs one case: --hypercalls does not apply/],
    [["fuzz", "--target", "boundary", "--corpus", "c"], /--corpus applies only to --target coverage/],
    [["fuzz", "--target", "coverage", "--corpus", "c", "--input", "x.bin"], /--input runs one saved input: --corpus does not apply/],
    [["run", image("precache"), "--timeout", "0"], /--timeout must be a number of seconds, more than 0/],
    [["run", image("precache"), "--timeout", "soon"], /--timeout must be a number of seconds/],
  ])("%j: an option that cannot apply is a usage error", (a, message) => {
    const r = tmemvm(...(a as string[]));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("fuzz --jobs 2 --hypercalls N: one summary row over both jobs, stopping once N hypercalls have run", () => {
    const out = join(dir, "jobs");
    const r = tmemvm("fuzz", "--target", "boundary", "--jobs", "2", "--hypercalls", "2000", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^target\s+cases\s+hypercalls\s+hypercalls\/s\s+failures\s+jobs\s+per job\/s$/m);
    const row = /^boundary\s+(\d+)\s+(\d+)\s+(\d+)\s+0\s+2\s+(\d+)$/m.exec(r.stdout);
    expect(row, r.stdout).not.toBeNull();
    expect(Number(row![2])).toBeGreaterThanOrEqual(2000);
    expect(Number(row![2])).toBeLessThan(2000 + 2 * 256);
    expect(r.stdout).toMatch(/^no failures$/m);
  });

  it("fuzz --target coverage --seconds 1 runs cases (its setup does not eat the time)", () => {
    const out = join(dir, "cov");
    const r = tmemvm("fuzz", "--target", "coverage", "--seconds", "1", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const row = /^coverage\s+(\d+)\s+(\d+)/m.exec(r.stdout);
    expect(Number(row?.[1])).toBeGreaterThan(0);
  });
});

describe("stopping a run: Ctrl-C, SIGTERM, --timeout", () => {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-stop-"));
  /** The trace is written under a partial name (`.NAME.PID-THREAD.part`) until it is closed. */
  const traceGrew = (path: string) => () =>
    readdirSync(dirname(path)).some(
      (f) => f.startsWith(`.${basename(path)}.`) && f.endsWith(".part") && statSync(join(dirname(path), f)).size > 0,
    );

  it("Ctrl-C on a guest running alone: listing printed, trace closed with its end record, exit 130", async () => {
    const trace = join(dir, "alone.tmtr");
    // The recorder writes in 1 MiB chunks: once the file has bytes, the guest is well under way.
    const r = await interrupted(["run", hypercallLoop, "--record", trace], traceGrew(trace));
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.stderr).toMatch(/^run stopped after \d+ hypercalls \(interrupted\)$/m);
    expect(r.stderr).toMatch(/^tmem: \d+\/\d+ frames used, \d+ ops/m);
    const recorded = Number(/^recorded (\d+) hypercalls to /m.exec(r.stderr)?.[1]);
    expect(recorded).toBeGreaterThan(1000);
    const replay = tmemvm("replay", trace);
    expect(replay.stdout).toBe(
      `replayed ${recorded} hypercalls: no divergence (and 3 host events) (the recorded run ended early: interrupted)\n`,
    );
    expect(replay.code).toBe(0);
  });

  it("Ctrl-C on interleaved guests stops them all the same way", async () => {
    const trace = join(dir, "two.tmtr");
    const r = await interrupted(["run", hypercallLoop, hypercallLoop, "--record", trace, "--control", "5000:list"], (e) =>
      /control at \d+ hypercalls: list/.test(e),
    );
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.stderr).toMatch(/^run stopped after \d+ hypercalls \(interrupted\)$/m);
    expect(r.stderr).toMatch(/^\s+2\s+hcloop-2\s/m);
    expect(tmemvm("replay", trace).code).toBe(0);
  });

  it("SIGTERM stops the run as Ctrl-C does, with its own status", async () => {
    const trace = join(dir, "term.tmtr");
    const r = await interrupted(["run", hypercallLoop, "--record", trace], traceGrew(trace), "SIGTERM");
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/^run stopped after \d+ hypercalls \(terminated\)$/m);
    expect(r.stderr).toMatch(/^recorded \d+ hypercalls to /m);
  });

  it("--timeout stops the run: listing printed, trace closed, exit 124; no save of a half-run guest", () => {
    const trace = join(dir, "timeout.tmtr");
    const save = join(dir, "timeout.tmsv");
    const r = tmemvm("run", hypercallLoop, "--timeout", "0.5", "--record", trace, "--save", save);
    expect(r.code).toBe(EXIT.timeout);
    expect(r.stderr).toMatch(/^run stopped after \d+ hypercalls \(timeout\)$/m);
    expect(r.stderr).toMatch(/^not saving hcloop to .*: the run was stopped$/m);
    expect(r.stderr).toMatch(/^tmem: /m);
    expect(r.stderr).toMatch(/^tmemvm: timed out after 0\.5 s$/m);
    expect(existsSync(save)).toBe(false);
    expect(tmemvm("replay", trace).code).toBe(0);
  });

  it("a guest that never makes a hypercall is ended by the watchdog, saying so", () => {
    const r = tmemvm("run", spinning, "--timeout", "1");
    expect(r.code).toBe(EXIT.timeout);
    expect(r.stderr).toBe(
      "tmemvm: timed out after 1 s; a guest made no hypercall in the 2 s after, so the run was ended without a listing\n",
    );
  });
});

describe("one machine spec: a config file is the spec as JSON, flags override it", () => {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-cli-spec-"));
  const config = (name: string, spec: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(spec));
    return path;
  };
  const precacheGuest = (name: string, extra: Record<string, unknown> = {}) => ({
    image: "precache",
    name,
    ramMiB: 4,
    args: ["64", "16", "2"],
    ...extra,
  });

  it("a control action on a lone guest fires at exactly its hypercall count, and the guest runs unsliced (no Asyncify)", () => {
    const trace = join(dir, "lone.tmtr");
    const r = tmemvm("run", "selftest", "--control", "10:list", "--control", "11:flush 0", "--record", trace, "--no-summary");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^control at 10 hypercalls: list$/m);
    expect(r.stderr).toMatch(/^control at 11 hypercalls: flush 0$/m);
    // Between them, exactly one hypercall of the guest: the actions sit in the trace where they were due.
    const entries = decodeTrace(new Uint8Array(readFileSync(trace))).entries;
    const calls = (i: number) => entries.slice(0, i).filter((x) => x.kind === "hypercall").length;
    const at = (name: string) => entries.findIndex((x) => x.kind === "event" && x.event.type === "action" && x.event.action === name);
    expect([calls(at("list")), calls(at("flush"))]).toEqual([10, 11]);
    // One slice with no budget: the guest ran to its end unmodified, never suspended.
    const slices = entries.filter((x) => x.kind === "event" && x.event.type === "slice");
    expect(slices.map((x) => (x.kind === "event" && x.event.type === "slice" ? x.event.budget : -1))).toEqual([0]);
    expectReplays(trace);
  });

  it("an action due at the count the run ends on fires at its end; one beyond it is reported as never fired", () => {
    const r = tmemvm("run", "precache", "--mem", "4", "--control", "999999:list", "--", "64", "16", "2");
    expect(r.code).toBe(0);
    const total = Number(/tmem: .* (\d+) ops/.exec(r.stderr)?.[1]);
    expect(r.stderr).toMatch(new RegExp(`^control action 999999:list never fired: the run ended after ${total} hypercalls$`, "m"));
    const listing = join(dir, "end-listing.json");
    const end = tmemvm(
      "run",
      "precache",
      "--mem",
      "4",
      "--control",
      `${total}:weight precache 7`,
      "--list-json",
      listing,
      "--",
      "64",
      "16",
      "2",
    );
    expect(end.stderr).toMatch(new RegExp(`^control at ${total} hypercalls: weight precache 7$`, "m"));
    expect((JSON.parse(readFileSync(listing, "utf8")) as { domains: { weight: number }[] }).domains[0].weight).toBe(7);
  });

  it("compress in a config file works, as the README promises", () => {
    const listing = join(dir, "compress.json");
    const r = tmemvm(
      "run",
      "--config",
      config("compress-cfg.json", { guests: [precacheGuest("c", { compress: true })] }),
      "--list-json",
      listing,
      "--no-summary",
    );
    expect(r.stderr).not.toMatch(/unknown key/);
    expect(r.code).toBe(0);
    expect((JSON.parse(readFileSync(listing, "utf8")) as { domains: { name: string; compress: boolean }[] }).domains).toMatchObject([
      { name: "c", compress: true },
    ]);
  });

  it("two guests of one name are refused, not renamed (an action would act on the first only)", () => {
    const cfg = config("dup.json", { guests: [precacheGuest("a"), precacheGuest("a")], control: ["50:freeze a"] });
    const r = tmemvm("run", "--config", cfg);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toBe(`tmemvm: ${cfg}: guests[1].name is "a", the name of guests[0] already: names must be distinct\n`);
  });

  it("an unknown key is refused, named where it is", () => {
    const cfg = config("unknown.json", { guests: [precacheGuest("a", { mem: 4 })] });
    const r = tmemvm("run", "--config", cfg);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(
      new RegExp(`^tmemvm: ${cfg.replace(/[.]/g, "\\.")}: guests\\[0\\]\\.mem is not a key of a guest; its keys: image, `),
    );
  });

  it("hex is refused alike by flags, config keys and control actions, with one wording", () => {
    const flag = tmemvm("run", "precache", "--seed", "0x10");
    const cfg = config("hex.json", { guests: [precacheGuest("a")], seed: "0x10" });
    const file = tmemvm("run", "--config", cfg);
    expect([flag.code, file.code]).toEqual([EXIT.usage, EXIT.usage]);
    expect(flag.stderr).toBe("tmemvm: --seed must be a whole number 0..4294967295, got 0x10\n");
    expect(file.stderr).toBe(`tmemvm: ${cfg}: seed must be a whole number 0..4294967295, got "0x10"\n`);
    for (const f of ["--weight", "--quantum", "--mem", "--tmem"])
      expect(tmemvm("run", "precache", f, "0x10").stderr).toMatch(new RegExp(`^tmemvm: ${f} must be a whole number .*, got 0x10\\n$`));
    expect(tmemvm("run", "precache", "--control", "10:weight precache 0x10").stderr).toMatch(/WEIGHT 0x10 is not a whole number/);
    expect(tmemvm("run", "--help").stdout).toMatch(/hex \(0x\.\.\.\) is refused/);
  });

  it("flags override the config they come with", () => {
    const cfg = config("over.json", { tmemMiB: 8, seed: 5, guests: [precacheGuest("a", { weight: 2 })] });
    const listing = join(dir, "over-listing.json");
    const r = tmemvm("run", "--config", cfg, "--tmem", "1", "--weight", "9", "--list-json", listing, "--no-summary");
    expect(r.code).toBe(0);
    const l = JSON.parse(readFileSync(listing, "utf8")) as { capacityFrames: number; domains: { weight: number }[] };
    expect([l.capacityFrames, l.domains[0].weight]).toEqual([256, 9]);
  });
});
