// vitest globalSetup of the "package" project: packs the package as `npm publish` would and
// installs the tarball into a temporary prefix, outside the repository, once per test run.
// package.test.ts runs the installed `tmemvm` from there (inject("tmemvm")) and measures it, so
// nothing may be added to that prefix; readme.test.ts runs a copy of it, where the README's own
// `npm install -g` of an optional peer lands beside tmemvm as it would for a user.
// `npm test` has just built dist/ and build/, so the pack skips the prepack build: that build
// starts by deleting dist/ and build/, which the other test files are reading at the same time.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

export interface PackedInstall {
  /** The tarball `npm pack` wrote. */
  tarball: string;
  /** `npm pack`'s own report (file list, sizes). */
  packReport: string;
  /** The prefix it is installed into (`npm install -g --prefix`). */
  prefix: string;
  /** prefix/bin, where the `tmemvm` command is. */
  bin: string;
  /** The installed package's directory. */
  packageDir: string;
  /** A copy of the same install for the README's doc test, which may install into it. */
  readme: { prefix: string; bin: string; packageDir: string };
}

declare module "vitest" {
  export interface ProvidedContext {
    tmemvm: PackedInstall;
  }
}

export default function setup(project: TestProject): () => void {
  const root = new URL("../..", import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-package-"));
  const npm = (args: string[], cwd: string) =>
    execFileSync("npm", args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, npm_config_loglevel: "notice" },
    });
  let packReport: string;
  try {
    // --json prints the report on stdout; the notice lines go to stderr.
    packReport = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], root);
    const [{ filename }] = JSON.parse(packReport) as { filename: string }[];
    const prefix = join(dir, "prefix");
    // Dependencies come from npm's cache when they are there (after npm ci), else the registry.
    npm(
      [
        "install",
        "--global",
        "--prefix",
        prefix,
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--no-update-notifier",
        join(dir, filename),
      ],
      dir,
    );
    const readme = join(dir, "readme-prefix");
    // bin/tmemvm is a relative symlink: the copy's runs the copy's package.
    cpSync(prefix, readme, { recursive: true, verbatimSymlinks: true });
    const installed = (p: string) => ({ prefix: p, bin: join(p, "bin"), packageDir: join(p, "lib", "node_modules", "tmemvm") });
    project.provide("tmemvm", { tarball: join(dir, filename), packReport, ...installed(prefix), readme: installed(readme) });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: string; message: string };
    throw new Error(`packing or installing tmemvm failed: ${err.stderr ?? err.message}`);
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
