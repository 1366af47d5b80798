// What a command-line user expects of any tool: --json where there is a report, help that ends in
// examples which name only real options, valid values listed, and tab completion in bash and zsh.
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OP_LAYOUTS } from "../../hypercall-abi/op-layouts.js";
import { CLI } from "../support/paths.js";

function tmemvm(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = ["run", "images", "demo", "fuzz", "replay", "decode", "encode", "header", "completion"];

const optionsSeen = new Map<string, Set<string>>();
/** The long options a command's --help lists. */
function optionsOf(command: string): Set<string> {
  let options = optionsSeen.get(command);
  if (!options) {
    const help = tmemvm(command, "--help").stdout;
    options = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]));
    optionsSeen.set(command, options);
  }
  return options;
}

describe("--json", () => {
  it("images: every bundled image with its path and what it does", () => {
    const r = tmemvm("images", "--json");
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; path: string; about: string | null }[];
    expect(list.map((i) => i.name)).toEqual(expect.arrayContaining(["selftest", "precache", "preswap"]));
    for (const i of list) expect(i.path.endsWith(`${i.name}.wasm`)).toBe(true);
  });

  it("replay: the report as an object, with the trace it read", () => {
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-json-"));
    const trace = join(dir, "s.tmtr");
    expect(tmemvm("run", "selftest", "--record", trace, "--no-summary").code).toBe(0);
    const r = tmemvm("replay", trace, "--json");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ trace, divergence: null, endedEarly: null });
    expect(report.records).toBeGreaterThan(50);
  });

  it("fuzz: one object for the campaign, a row a target, progress kept off stdout", () => {
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-json-"));
    const r = tmemvm("fuzz", "--target", "model", "--cases", "3", "--json", "--out", join(dir, "failures"));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ seed: 1, failures: 0, out: null, interrupted: false });
    expect(report.targets).toHaveLength(1);
    expect(report.targets[0]).toMatchObject({ target: "model", cases: 3, failures: 0, jobs: 1, failuresFound: [] });
    expect(report.targets[0].hypercalls).toBeGreaterThan(0);
  });
});

describe("--help", () => {
  it("ends in examples, each naming a real command and only that command's options", () => {
    const root = tmemvm("--help").stdout;
    const blocks = [root, ...["run", "fuzz", "replay"].map((c) => tmemvm(c, "--help").stdout)];
    let seen = 0;
    for (const help of blocks) {
      const examples = help.slice(help.lastIndexOf("Examples:"));
      expect(help.trimEnd().endsWith(examples.trimEnd())).toBe(true);
      for (const m of examples.matchAll(/^\s+\$ (.*?)\s+# /gm)) {
        for (const line of m[1].split("&&")) {
          const words = line
            .trim()
            .replace(/^source <\((.*)\)$/, "$1")
            .split(/\s+/);
          expect(words[0]).toBe("tmemvm");
          expect(COMMANDS).toContain(words[1]);
          const known = optionsOf(words[1]);
          const own = words.slice(2, words.includes("--") ? words.indexOf("--") : undefined).filter((w) => w.startsWith("--"));
          for (const flag of own) expect(known, `${words[1]} ${flag}`).toContain(flag);
          seen++;
        }
      }
    }
    expect(seen).toBeGreaterThan(10);
  });

  it("lists every valid layout where a layout is asked for", () => {
    for (const command of ["run", "decode", "encode"]) {
      const help = tmemvm(command, "--help").stdout.replace(/\s+/g, " ");
      for (const name of OP_LAYOUTS.keys()) expect(help).toContain(name);
    }
  });
});

describe("completion", () => {
  /** What bash's completion offers for `line` (the word being completed is the last, maybe empty). */
  function complete(line: string[]): string[] {
    const script = tmemvm("completion", "bash").stdout;
    const words = line.map((w) => `'${w}'`).join(" ");
    const r = spawnSync(
      "bash",
      ["-c", `${script}\nCOMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _tmemvm; printf '%s\\n' "\${COMPREPLY[@]}"`],
      { encoding: "utf8", cwd: mkdtempSync(join(tmpdir(), "tmemvm-compl-")) },
    );
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split("\n").filter((w) => w !== "");
  }

  it("bash: commands, a command's options, an option's values, bundled images", () => {
    expect(complete(["tmemvm", "re"])).toEqual(["replay"]);
    expect(complete(["tmemvm", "run", "--lay"])).toEqual(["--layout"]);
    expect(complete(["tmemvm", "run", "--layout", "xen-4.1-"])).toEqual(["xen-4.1-oid3/x86_64", "xen-4.1-oid3/x86_32"]);
    expect(complete(["tmemvm", "fuzz", "--target", ""])).toEqual(["model", "boundary", "guest", "coverage", "all"]);
    expect(complete(["tmemvm", "run", "self"])).toEqual(["selftest", "selftest-c"]);
    // The demo has no --layout; fuzz's options are not run's.
    expect(complete(["tmemvm", "demo", "--lay"])).toEqual([]);
    expect(complete(["tmemvm", "fuzz", "--js"])).toEqual(["--json"]);
    // After --, the words are the guest's own.
    expect(complete(["tmemvm", "run", "selftest", "--", "--"])).toEqual([]);
  });

  it("bash: a directory option completes directories only", () => {
    const script = tmemvm("completion", "bash").stdout;
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-compl-"));
    mkdirSync(join(dir, "outdir"));
    const r = spawnSync(
      "bash",
      ["-c", `${script}\n: > outfile; COMP_WORDS=(tmemvm demo --out out); COMP_CWORD=3; _tmemvm; printf '%s\\n' "\${COMPREPLY[@]}"`],
      { encoding: "utf8", cwd: dir },
    );
    expect(r.stdout.trim()).toBe("outdir");
  });

  it("zsh: a #compdef script naming every command and each command's options", () => {
    const script = tmemvm("completion", "zsh").stdout;
    expect(script.startsWith("#compdef tmemvm\n")).toBe(true);
    for (const c of COMMANDS) {
      expect(script).toContain(`'${c}:`);
      for (const flag of optionsOf(c)) if (flag !== "--version" || c === "encode") expect(script, `${c} ${flag}`).toContain(`'${flag}[`);
    }
  });

  it("refuses a shell it has no script for", () => {
    const r = tmemvm("completion", "fish");
    expect(r.code).toBe(64);
    expect(r.stderr).toBe("tmemvm: no completion for fish; one of: bash, zsh\n");
  });
});

describe("messages about inputs", () => {
  it("say the same thing about a directory given as any input file", () => {
    const dir = mkdtempSync(join(tmpdir(), "tmemvm-input-"));
    for (const args of [
      ["replay", dir],
      ["run", dir],
      ["run", "selftest", "--restore", dir],
      ["fuzz", "--target", "coverage", "--input", dir],
    ]) {
      const r = tmemvm(...args);
      expect(r.code, args.join(" ")).toBe(64);
      expect(r.stderr, args.join(" ")).toMatch(
        new RegExp(`^tmemvm: (--restore |--input )?${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: is a directory\n$`),
      );
    }
  });
});

describe("a long run's progress line", () => {
  // Long enough to pass the line's one-second threshold on any machine.
  const longRun = ["run", "precache", "--no-summary", "--", "40000", "128", "60"];

  it("is drawn on a terminal, cleared before the guest's output, and gone at the end", () => {
    // `script` gives the CLI a pseudo-terminal for stdout and stderr alike.
    const r = spawnSync("script", ["-qfec", [process.execPath, CLI, ...longRun].join(" "), "/dev/null"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape codes are what is checked
    expect(r.stdout).toMatch(/\r\x1b\[2Krunning: [\d,]+ hypercalls, [\d,]+\/s, \d+ s/);
    // The guest's summary is whole, on a line of its own, after the line was cleared.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape codes are what is checked
    expect(r.stdout).toMatch(/\r\x1b\[2Kprecache: 2400000 page reads/);
    expect(r.stdout.endsWith("\r\x1b[2K")).toBe(true);
  });

  it("is not written when stderr is not a terminal", () => {
    const r = tmemvm(...longRun);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^precache: 2400000 page reads/);
  });
});
