// The package as users get it: the tarball `npm pack` makes, installed with `npm install -g` into
// a prefix outside the repository (test/packed-install.ts), run from an empty directory. Nothing
// here may lean on the repository: every asset the CLI needs must be inside the tarball.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FUZZ_TARGETS } from "../../fuzz/campaign.js";

const pkg = inject("tmemvm");
let cwd: string;

beforeAll(() => {
  cwd = mkdtempSync(join(tmpdir(), "tmemvm-user-"));
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function tmemvmAt(bin: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(bin, "tmemvm"), args, {
    cwd,
    encoding: "utf8",
    timeout: 100_000,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmemvm = (...args: string[]) => tmemvmAt(pkg.bin, ...args);

/** Disk usage of `path` in KiB, as du counts it (blocks, not bytes). */
const duKiB = (...paths: string[]) =>
  execFileSync("du", ["-sk", ...paths], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => ({ kib: Number(l.split("\t")[0]), path: l.split("\t")[1] }));

/** The line tmemvm prints when a feature's optional peer dependency is not installed. */
const missingPeer = (feature: string, peer: string) =>
  `tmemvm: ${feature} needs ${peer}, an optional peer dependency of tmemvm that is not installed: npm install -g ${peer} beside a global tmemvm, or npm install ${peer} in your project\n`;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)).map((g) => join(f, g)) : [f]));
}

describe("the tarball", () => {
  const own = () =>
    filesUnder(pkg.packageDir)
      .filter((f) => !f.startsWith("node_modules/"))
      .sort();

  it("holds the compiled CLI, the guest images, the Wasm kernels and the recorded structs", () => {
    const files = own();
    for (const f of [
      "dist/cli/cli.js",
      "dist/vmm/platform/assets.js",
      "build/selftest.wasm",
      "build/selftest-c.wasm",
      "build/precache.wasm",
      "build/preswap.wasm",
      "build/fuzzer.wasm",
      "build/suspendable/precache.wasm",
      "build/suspendable/selftest-c.wasm",
      "build/kernels/page-scan.wasm",
      "build/kernels/lz4.wasm",
      "hypercall-abi/recorded/tmem-structs.json",
      "README.md",
      "package.json",
    ]) {
      expect(files, f).toContain(f);
    }
  });

  it("holds nothing only development needs: no sources, tests, source maps or stray files", () => {
    // Declarations ship: the programmatic API's types import the types of the modules beside it.
    const stray = own().filter(
      (f) => !/^(dist\/.*\.(js|d\.ts)|build\/.*\.wasm|hypercall-abi\/(recorded|c)\/.*|README\.md|LICENSE|package\.json)$/.test(f),
    );
    expect(stray).toEqual([]);
    expect(own().some((f) => f.startsWith("build/kernels/guest-page-ops"))).toBe(false);
  });

  it("has none of the development dependencies installed with it", () => {
    const deps = readdirSync(join(pkg.packageDir, "node_modules"));
    for (const dev of ["vitest", "typescript", "assemblyscript", "fast-check", "lz4-napi", "vega", "vega-lite", "@babel"])
      expect(deps).not.toContain(dev);
  });

  it("has none of its optional peer dependencies installed with it", () => {
    const deps = readdirSync(join(pkg.packageDir, "node_modules"));
    const global = readdirSync(join(pkg.prefix, "lib", "node_modules"));
    for (const peer of ["binaryen", "istanbul-lib-instrument"]) {
      expect(deps).not.toContain(peer);
      expect(global).not.toContain(peer);
    }
  });

  it("installs in at most 25 MiB, its dependencies included", () => {
    const [total] = duKiB(join(pkg.prefix, "lib", "node_modules"));
    const modules = join(pkg.packageDir, "node_modules");
    const largest = duKiB(...readdirSync(modules).map((d) => join(modules, d)))
      .sort((a, b) => b.kib - a.kib)
      .slice(0, 5);
    const report = `installed: ${(total.kib / 1024).toFixed(1)} MiB; largest: ${largest.map((d) => `${relative(modules, d.path)} ${(d.kib / 1024).toFixed(1)} MiB`).join(", ")}`;
    console.info(report);
    expect(total.kib, report).toBeLessThanOrEqual(25 * 1024);
  });
});

describe("the installed tmemvm, from an empty directory", () => {
  it("--version prints the package's version", () => {
    const r = tmemvm("--version");
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(
      (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version,
    );
  });

  it("images lists the bundled images, each a file inside the installed package", () => {
    const r = tmemvm("images");
    expect(r.status).toBe(0);
    const listed = [...r.stdout.matchAll(/^(\S+)\s+(\/\S+\.wasm)$/gm)].map((m) => ({ name: m[1], path: m[2] }));
    expect(listed.map((i) => i.name)).toEqual(["bench", "fuzzer", "precache", "preswap", "selftest", "selftest-c"]);
    for (const i of listed) {
      expect(relative(pkg.packageDir, i.path)).toBe(`build/${i.name}.wasm`);
      expect(existsSync(i.path)).toBe(true);
    }
  });

  it.each(["selftest", "selftest-c"])("run %s: a bundled image by its bare name passes its self-test", (name) => {
    const r = tmemvm("run", name);
    expect(r.stderr).not.toMatch(/missing|crashed|internal error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${name}: [1-9]\\d* passed, 0 failed`));
  });

  it("a name that is neither a file nor a bundled image is one line naming the bundled ones (a usage error)", () => {
    const r = tmemvm("run", "selftst");
    expect(r.status).toBe(64);
    expect(r.stderr).toBe(
      "tmemvm: selftst: no such file, and no bundled image of that name (bundled: bench, fuzzer, precache, preswap, selftest, selftest-c)\n",
    );
  });

  it("demo runs three weighted guests and writes its chart", () => {
    const r = tmemvm("demo", "--out", "demo-out");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const g of ["light", "medium", "heavy"])
      expect(r.stdout).toMatch(new RegExp(`^${g}\\s+\\d+\\s+[1-9]\\d*\\s+\\d+\\s+[\\d.]+%`, "m"));
    expect(readFileSync(join(cwd, "demo-out", "tmem-demo-hit-ratio.svg"), "utf8")).toMatch(/^<svg[\s\S]*hit ratio[\s\S]*<\/svg>\s*$/);
    expect(JSON.parse(readFileSync(join(cwd, "demo-out", "tmem-demo.json"), "utf8")).guests).toHaveLength(3);
  });

  it("fuzz --help lists the targets this test fuzzes", () => {
    const r = tmemvm("fuzz", "--help");
    expect(r.status).toBe(0);
    for (const t of FUZZ_TARGETS) expect(r.stdout).toContain(t);
  });

  it.each(FUZZ_TARGETS.filter((t) => t !== "coverage"))("fuzz --target %s --seconds 3 runs cases and finds nothing wrong", (target) => {
    const out = `fuzz-${target}`;
    const r = tmemvm("fuzz", "--target", target, "--seconds", "3", "--out", out);
    expect(r.stdout).toContain("no failures");
    expect(r.status).toBe(0);
    const row = new RegExp(`^${target}\\s+(\\d+)\\s+(\\d+)\\s+\\d+\\s+0\\b`, "m").exec(r.stdout);
    expect(row, r.stdout).not.toBeNull();
    expect(Number(row![1])).toBeGreaterThan(0);
    expect(Number(row![2])).toBeGreaterThan(0);
    expect(existsSync(join(cwd, out)) ? readdirSync(join(cwd, out)) : []).toEqual([]);
  });

  it("tmemvm/fuzz-target: the one-buffer fuzz entry (libFuzzer's shape) imports from the installed package and runs inputs", () => {
    // As an outside engine loads it: a bare import from a directory whose node_modules holds tmemvm.
    const script =
      "import('tmemvm/fuzz-target').then((m) => { m.fuzz(Buffer.alloc(100)); m.fuzz(new Uint8Array(0)); console.log(typeof m.fuzz, m.fuzz.length); })";
    const r = spawnSync(process.execPath, ["-e", script], { cwd: join(pkg.prefix, "lib"), encoding: "utf8", timeout: 100_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("function 1\n");
    expect(existsSync(join(pkg.packageDir, "dist", "fuzz", "fuzz-target.d.ts"))).toBe(true);
  });

  it("a recorded run of two interleaved guests replays with no divergence", () => {
    const run = tmemvm("run", "precache", "preswap", "--tmem", "2", "--mem", "4", "--record", "two.tmtr", "--", "300", "32", "2");
    expect(run.stderr).not.toMatch(/internal error|crashed/);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^\[precache\] precache: /m);
    expect(run.stdout).toMatch(/^\[preswap\] preswap: /m);
    const r = tmemvm("replay", "two.tmtr");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^replayed [1-9]\d* hypercalls: no divergence \(and \d+ host events\)$/m);
  });

  it("run: an image of the user's own runs alone as it is, and interleaving it names binaryen, the optional peer it needs", () => {
    // A copy under another name is an image of the user's own: only the bundled files come made suspendable.
    copyFileSync(join(pkg.packageDir, "build", "precache.wasm"), join(cwd, "mine.wasm"));
    const alone = tmemvm("run", "mine.wasm", "--mem", "4", "--no-summary", "--", "300", "32", "2");
    expect(alone.stderr).toBe("");
    expect(alone.status).toBe(0);
    const two = tmemvm("run", "mine.wasm", "mine.wasm", "--mem", "4", "--", "300", "32", "2");
    expect(two.stderr).toBe(missingPeer("interleaving mine (an image not bundled with tmemvm)", "binaryen"));
    expect(two.status).toBe(64);
    expect(two.stdout).toBe("");
  });

  it.each(["coverage", "all"])(
    "fuzz --target %s names istanbul-lib-instrument, the optional peer the coverage target needs, before anything runs",
    (target) => {
      const r = tmemvm("fuzz", "--target", target, "--seconds", "3", "--out", `fuzz-missing-${target}`);
      expect(r.stderr).toBe(missingPeer("fuzz --target coverage", "istanbul-lib-instrument"));
      expect(r.status).toBe(64);
      expect(r.stdout).toBe("");
      expect(existsSync(join(cwd, `fuzz-missing-${target}`))).toBe(false);
    },
  );

  it("encode builds a struct and decode reads the same fields back", () => {
    const e = tmemvm("encode", "--cmd", "put", "--pool", "3", "--oid", "0x11,0x22,0x33", "--index", "42", "--cmfn", "499");
    expect(e.status).toBe(0);
    expect(e.stdout).toBe(
      "04000000030000001100000000000000220000000000000033000000000000002a000000000000000000000000000000f301000000000000\n",
    );
    const d = tmemvm("decode", e.stdout.trim());
    expect(d.status).toBe(0);
    expect(d.stdout).toMatch(/cmd\s+4 \(TMEM_PUT_PAGE\)/);
    expect(d.stdout).toMatch(/pool_id\s+3\n/);
    expect(d.stdout).toMatch(/gen\.oid\s+\[0x11, 0x22, 0x33\]/);
    expect(d.stdout).toMatch(/gen\.index\s+42\n/);
    expect(d.stdout).toMatch(/gen\.cmfn\s+499 /);
  });
});

describe("with the optional peers installed in a project, as the message says", () => {
  let project: string;

  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), "tmemvm-project-"));
    execFileSync(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        pkg.tarball,
        "binaryen",
        "istanbul-lib-instrument",
      ],
      { cwd: project, stdio: ["ignore", "pipe", "pipe"] },
    );
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  const bin = () => join(project, "node_modules", ".bin");

  it("an image of the user's own interleaves", () => {
    copyFileSync(join(pkg.packageDir, "build", "precache.wasm"), join(cwd, "mine.wasm"));
    const r = tmemvmAt(bin(), "run", "mine.wasm", "mine.wasm", "--tmem", "2", "--mem", "4", "--no-summary", "--", "300", "32", "2");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[mine\] precache: /m);
    expect(r.stdout).toMatch(/^\[mine-2\] precache: /m);
  });

  it("fuzz --target coverage runs inputs and finds nothing wrong", () => {
    const r = tmemvmAt(bin(), "fuzz", "--target", "coverage", "--seconds", "3", "--out", "fuzz-coverage");
    expect(r.stdout).toContain("no failures");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^coverage\s+[1-9]\d*\s+[1-9]\d*\s+\d+\s+0\b/m);
  });
});
