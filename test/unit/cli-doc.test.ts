// docs/cli.md is the CLI's own --help, command by command: regenerate it (npm run docs:cli)
// whenever a command or option changes, or this fails.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, REPO } from "../support/paths.js";

const doc = readFileSync(join(REPO, "docs", "cli.md"), "utf8");
const sections = [...doc.matchAll(/^## (tmemvm(?: [a-z]+)?)\n\n```text\n([\s\S]*?)\n```$/gm)].map((m) => ({ title: m[1], text: m[2] }));

describe("docs/cli.md", () => {
  it("has a section for the CLI and for every command its help lists", () => {
    const top = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" }).stdout;
    const commands = [...top.slice(top.indexOf("Commands:")).matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]).filter((c) => c !== "help");
    expect(sections.map((s) => s.title)).toEqual(["tmemvm", ...commands.map((c) => `tmemvm ${c}`)]);
  });

  for (const s of sections) {
    it(`${s.title}: is that command's --help now`, () => {
      const args = s.title.split(" ").slice(1);
      const r = spawnSync(process.execPath, [CLI, ...args, "--help"], { encoding: "utf8", env: { ...process.env, COLUMNS: "80" } });
      expect(r.stdout.trimEnd(), "run npm run docs:cli").toBe(s.text);
    });
  }
});
