// The CLI as a user meets it: a guest's exit code passes through; every mistake is one line on
// stderr and a non-zero exit, never a stack trace.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectReplays } from "./replay-check.js";

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
    expect(r.stderr).toMatch(/^tmem: \d+\/\d+ frames used, \d+ ops \(\d+ errors\), \d+ evictions/m);
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
    ["a non-numeric --mem", ["run", image("selftest"), "--mem", "lots"], /--mem must be a whole number of MiB/],
    ["--mem 0", ["run", image("selftest"), "--mem", "0"], /--mem must be 1\.\.4095 MiB/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["no image", ["run"], /missing required argument 'image'/],
    ["a negative --tmem", ["run", "--tmem", "-3", "x.wasm"], /--tmem must be a whole number of MiB/],
  ])("%s: one line on stderr, non-zero exit", (_, args, message) => {
    const r = tmemvm(...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("help", () => {
  it("--help lists the commands and exits 0; no command shows it and exits 2", () => {
    const h = tmemvm("--help");
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/run \[options\] \[images\.\.\.\]/);
    for (const cmd of ["demo", "fuzz", "replay", "decode", "encode"]) expect(h.stdout).toContain(cmd);
    const none = tmemvm();
    expect(none.code).toBe(2);
    expect(none.stderr).not.toMatch(/outputHelp|\n\s+at /);
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
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tmemvm: truncated header \(byte offset \d+\)\n$/);
  });

  it("decode spells out a recorded op", () => {
    const r = tmemvm("decode", "0400000003000000887766554433221100ffeeddccbbaa9908070605040302012a00000000000000000000000000000000020000", "--layout", "xen-4.12-oid3/x86_32");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cmd\s+4 \(TMEM_PUT_PAGE\)/);
    expect(r.stdout).toMatch(/gen\.oid\s+\[0x1122334455667788, 0x99aabbccddeeff00, 0x102030405060708\]/);
    expect(r.stdout).toMatch(/gen\.cmfn\s+512 /);
  });

  it("decode --json of a legacy control op names the sub-op", () => {
    const r = tmemvm("decode", "000000000000000004000000ffffffff001000000000000000000000000000000000000000000000", "--layout", "xen-4.0-legacy/x86_64", "--json");
    expect(JSON.parse(r.stdout)).toMatchObject({ cmdName: "TMEM_CONTROL", ctrl: { subopName: "TMEMC_LIST", cliId: 0xffffffff, arg1: 4096 } });
  });

  it("encode builds the recorded bytes; decode reads them back", () => {
    const hex = "0100000000000000efcdab89674523011032547698badcfe02000001000000000000000000000000000000000000000000000000";
    const e = tmemvm("encode", "--cmd", "new-pool", "--shared", "--uuid", "0x0123456789abcdef,0xfedcba9876543210", "--layout", "xen-4.12-oid3/x86_32");
    expect(e.stdout.trim()).toBe(hex);
    const p = tmemvm("encode", "--cmd", "put", "--pool", "3", "--oid", "0x1122334455667788,0x99aabbccddeeff00,0x0102030405060708", "--index", "42", "--cmfn", "499");
    expect(p.stdout.trim()).toBe("0400000003000000887766554433221100ffeeddccbbaa9908070605040302012a000000000000000000000000000000f301000000000000");
    const d = tmemvm("decode", p.stdout.trim());
    expect(d.stdout).toMatch(/creat|gen\.index\s+42/);
  });

  it.each([
    [["decode", "zz"], /hex digits/],
    [["decode", "0400"], /got 2 bytes; a xen-4\.12-oid3\/x86_64 struct tmem_op is 56/],
    [["decode", "00", "--layout", "xen-9"], /unknown layout; one of: /],
    [["encode", "--cmd", "frob"], /unknown; one of: .*put/],
    [["encode", "--cmd", "put", "--index", "0x1ffffffff"], /does not fit in 32 bits/],
    [["encode", "--cmd", "put", "--oid", "1,2,3,4"], /has 3 oid word\(s\)/],
    [["replay", "/no/such.tmtr"], /no such file/],
  ])("%s: one line, non-zero exit", (args, message) => {
    const r = tmemvm(...(args as string[]));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
