// C guests as a user builds them: the generated header is current and its compile-time checks
// bite, the documented recipe runs verbatim, and an image that imports its RAM without exporting it
// runs (also interleaved, through Asyncify).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { C_HEADER_FILE, renderCHeader } from "../../hypercall-abi/gen-c-header.js";
import { HYPERCALL_IMPORT_MODULE, HYPERCALL_IMPORT_NAME, HYPERCALL_PARAMS } from "../../hypercall-abi/hypercall-import.js";
import { imageFromBytes } from "../../vmm/machine/image.js";
import { loadImage } from "../../vmm/platform/files.js";
import { Vmm } from "../../vmm/machine/vmm.js";
import { CLI, REPO } from "../support/paths.js";
import { testKernels } from "../support/kernels.js";

const repo = REPO;
const cli = CLI;
const prebuilt = join(repo, "guest", "c", "prebuilt", "selftest-c.wasm");
const haveClang = spawnSync("clang", ["--version"], { stdio: "ignore" }).status === 0;
// clang and binaryen's Asyncify take tens of seconds on a loaded machine: room, not a time check.
const SLOW_MS = 180_000;

const exportsMemory = (bytes: Uint8Array) =>
  WebAssembly.Module.exports(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)).some((e) => e.name === "memory");

/** The shell block under a heading of docs/writing-guests.md, exactly as written. */
function docBlock(heading: string): string {
  const readme = readFileSync(join(repo, "docs", "writing-guests.md"), "utf8");
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at, `docs/writing-guests.md has no "${heading}"`).toBeGreaterThan(0);
  const m = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(at));
  expect(m, `no sh block under "${heading}"`).not.toBeNull();
  return `${m![1]}\n`;
}

/** A scratch directory whose PATH has a `tmemvm` that runs this checkout's build. */
function scratch(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-c-"));
  mkdirSync(join(dir, "bin"));
  const shim = join(dir, "bin", "tmemvm");
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
  chmodSync(shim, 0o755);
  return { dir, env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` } };
}

function clangCheck(dir: string, source: string) {
  writeFileSync(join(dir, "check.c"), source);
  return spawnSync(
    "clang",
    ["--target=wasm32-wasi", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I", dir, join(dir, "check.c")],
    { encoding: "utf8" },
  );
}

describe("the C header", () => {
  it("is current (run `npm run gen:abi` if not)", () => {
    expect(readFileSync(join(repo, C_HEADER_FILE), "utf8")).toBe(renderCHeader());
  });

  it("is what `tmemvm header` prints", () => {
    const r = spawnSync(process.execPath, [cli, "header"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(repo, C_HEADER_FILE), "utf8"));
  });

  it("declares every layout and the hypercall import from the hypercall-abi facts", () => {
    const h = renderCHeader();
    expect(h).toContain(`__attribute__((import_module("${HYPERCALL_IMPORT_MODULE}"), import_name("${HYPERCALL_IMPORT_NAME}")))`);
    expect(h).toMatch(/int32_t xen_hypercall\(int32_t rax_lo, int32_t rax_hi, (int32_t \w+, ){9}int32_t r8_hi\);/);
    for (const tag of [
      "tmem_op",
      "tmem_op_xen_4_12_oid3_x86_64",
      "tmem_op_xen_4_12_oid3_x86_32",
      "tmem_op_xen_4_1_oid3_x86_32",
      "tmem_op_xen_4_0_legacy_x86_64",
    ]) {
      expect(h).toContain(`struct ${tag} {`);
    }
    expect(h).toContain("#define __HYPERVISOR_tmem_op 38\n");
    expect(h.match(/int32_t xen_hypercall\(([^)]*)\)/)![1].split(",")).toHaveLength(HYPERCALL_PARAMS);
    expect(h).toContain("#define XEN_EEMPTY 1001\n");
  });
});

it("the AssemblyScript guest's import names the hypercall-abi facts (asc needs literals there)", () => {
  const src = readFileSync(join(repo, "guest", "kernel", "hypercall.ts"), "utf8");
  expect(src).toContain(`@external("${HYPERCALL_IMPORT_MODULE}", "${HYPERCALL_IMPORT_NAME}")`);
});

describe("a C guest that imports its RAM and does not export it", () => {
  it("runs: the committed self-test image passes", async () => {
    const bytes = readFileSync(prebuilt);
    expect(exportsMemory(bytes)).toBe(false);
    let out = "";
    const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4 });
    const d = await vmm.boot({
      image: imageFromBytes(bytes, "selftest-c"),
      console: { stdout: (s) => (out += s), stderr: (s) => (out += s) },
    });
    expect(vmm.run(d)).toBe(0);
    expect(out).toMatch(/selftest-c: 22 passed, 0 failed/);
  });

  it(
    "runs interleaved with another copy (its Asyncify build keeps the export)",
    async () => {
      const image = loadImage(prebuilt);
      let out = "";
      const vmm = await Vmm.create({ assets: testKernels, tmemMiB: 4 });
      const sink = { stdout: (s: string) => (out += s), stderr: (s: string) => (out += s) };
      await vmm.boot({ image, name: "a", console: sink, interleaved: true });
      await vmm.boot({ image, name: "b", console: sink, interleaved: true });
      vmm.runAll({ seed: 3, quantum: 2 });
      expect(vmm.domains.map((d) => d.exitCode)).toEqual([0, 0]);
      expect(out.match(/22 passed, 0 failed/g)).toHaveLength(2);
    },
    SLOW_MS,
  );
});

describe("built with clang", () => {
  // The C guest's toolchain is part of the test set-up (.ci/run installs it): missing, it is a
  // failure that says what to install, never a skip.
  beforeAll(() => {
    expect(haveClang, "clang not found: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 (as .ci/run does)").toBe(true);
  });

  describe("(clang present)", () => {
    it(
      "the documented recipe runs verbatim and the guest reads back its page",
      () => {
        const { dir, env } = scratch();
        const r = spawnSync("bash", ["-e", "-c", docBlock("## A guest in C")], { cwd: dir, env, encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toBe("pool 0, put 1, get 1: hello from tmem\n");
        expect(exportsMemory(readFileSync(join(dir, "hello.wasm")))).toBe(false);
      },
      SLOW_MS,
    );

    it(
      "guest/c/selftest.c builds against the header with -Werror and passes",
      () => {
        const { dir } = scratch();
        const wasm = join(dir, "selftest-c.wasm");
        const cc = spawnSync(
          "clang",
          [
            "--target=wasm32-wasi",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            join(repo, "hypercall-abi", "c"),
            "-Wl,--import-memory",
            "-o",
            wasm,
            join(repo, "guest", "c", "selftest.c"),
          ],
          { encoding: "utf8" },
        );
        expect(cc.stderr).toBe("");
        const r = spawnSync(process.execPath, [cli, "run", wasm, "--no-summary"], { encoding: "utf8" });
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(/selftest-c: 22 passed, 0 failed/);
      },
      SLOW_MS,
    );

    it(
      "guest/c/examples/toolstack.c saves and restores its own tmem through the control ABI, every page back",
      () => {
        const { dir } = scratch();
        const wasm = join(dir, "toolstack.wasm");
        const cc = spawnSync(
          "clang",
          [
            "--target=wasm32-wasi",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            join(repo, "hypercall-abi", "c"),
            "-Wl,--import-memory",
            "-o",
            wasm,
            join(repo, "guest", "c", "examples", "toolstack.c"),
          ],
          { encoding: "utf8" },
        );
        expect(cc.stderr).toBe("");
        const r = spawnSync(process.execPath, [cli, "run", wasm, "--layout", "xen-4.1-oid3/x86_64", "--privileged", "--no-summary"], {
          encoding: "utf8",
        });
        expect(r.stdout).toMatch(/toolstack-c: \d+ passed, 0 failed/);
        expect(r.status).toBe(0);
      },
      SLOW_MS,
    );

    it("the header compiles, and a wrong offset or size in it is a compile error", () => {
      const { dir } = scratch();
      const use = `#include "xen-tmem.h"\nint main(void) { struct tmem_op op = { .cmd = TMEM_FLUSH_PAGE }; return (int)HYPERVISOR_tmem_op(&op); }\n`;
      writeFileSync(join(dir, "xen-tmem.h"), renderCHeader());
      expect(clangCheck(dir, use).stderr).toBe("");

      const wrongOffset = renderCHeader().replace("u.gen.cmfn) == 48, ", "u.gen.cmfn) == 40, ");
      writeFileSync(join(dir, "xen-tmem.h"), wrongOffset);
      const r1 = clangCheck(dir, use);
      expect(r1.status).not.toBe(0);
      expect(r1.stderr).toMatch(/static_assert failed.*"u\.gen\.cmfn at 48"/);

      // The 32-bit layouts depend on the 4-aligned uint64_t: without it the struct grows.
      const noAlign = renderCHeader().replace(
        "typedef uint64_t xen_tmem_u64_a4 __attribute__((aligned(4)));",
        "typedef uint64_t xen_tmem_u64_a4;",
      );
      writeFileSync(join(dir, "xen-tmem.h"), noAlign);
      const r2 = clangCheck(dir, use);
      expect(r2.status).not.toBe(0);
      expect(r2.stderr).toMatch(/static_assert failed.*"struct tmem_op_xen_4_12_oid3_x86_32: 52 bytes"/);
    });
  });
});
