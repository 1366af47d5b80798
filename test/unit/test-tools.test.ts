// scripts/test-tools.sh, which `npm test` runs first: on a machine missing what npm cannot install
// it installs it with apt-get when it may, and otherwise says in one line what to install. Driven
// here with stand-ins for id, sudo and apt-get first on PATH, so no package is really installed.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/paths.js";

const SCRIPT = join(REPO, "scripts", "test-tools.sh");

/** Runs the script with `fakes` (name -> shell body) ahead of the real PATH and chromium at `chromium`. */
function run(fakes: Record<string, string>, chromium: string) {
  const bin = mkdtempSync(join(tmpdir(), "tmemvm-tools-"));
  for (const [name, body] of Object.entries(fakes)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  const r = spawnSync("sh", [SCRIPT], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CHROMIUM: chromium },
  });
  return { ...r, bin };
}

describe("the test prerequisites", () => {
  it("are silent when everything is there", () => {
    const r = run({}, process.env.CHROMIUM ?? "/usr/bin/chromium");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("are installed with apt-get by root: update, then the missing package", () => {
    const log = join(mkdtempSync(join(tmpdir(), "tmemvm-apt-")), "apt.log");
    const r = run({ id: `echo 0`, "apt-get": `echo "$@" >> ${log}` }, "/nonexistent/chromium");
    expect(readFileSync(log, "utf8")).toBe("update -qq\ninstall -y -qq chromium\n");
    // The stand-in installed nothing: the script says so rather than letting the tests fail later.
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/chromium still missing after apt-get/);
  });

  it("are named in one line when they cannot be installed (no root, no sudo)", () => {
    const r = run({ id: `echo 1000`, sudo: `exit 1`, "apt-get": `echo "apt-get must not run" >&2; exit 9` }, "/nonexistent/chromium");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "npm test needs what npm cannot install: chromium (apt-get install them as root; N is clang's major version; CHROMIUM may name a chromium elsewhere)\n",
    );
  });
});
