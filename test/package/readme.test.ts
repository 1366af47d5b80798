// The doc test: every shell command in the ```sh blocks of README.md and docs/*.md runs verbatim,
// in order, against the packed and installed package (test/packed-install.ts), from a fresh
// scratch directory per block, so an example that stops working fails the tests. (docs/cli.md is
// the commands' own help, checked against them by test/unit/cli-doc.test.ts.) The convention, also in
// the README's Tests section:
//   - a `# prints: TEXT` line after a command: its stdout or stderr must contain TEXT;
//   - a `# exit: N` line after a command: it must exit N (otherwise 0);
//   - `<!-- doc-test: skip (REASON) -->` on the line before a block excludes it, visibly; only
//     set-up, test and development commands are excluded (the list is checked below).
// In the scratch directory `tmemvm` is on PATH and node_modules/tmemvm is the installed package,
// as after `npm install tmemvm`, so a `node` example can import it. npm's global prefix is that
// install's, so `npm install -g PEER` in an example puts the peer beside tmemvm, as for a user.
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";

interface Command {
  line: number;
  text: string;
  prints: string[];
  exit: number;
}

interface Block {
  line: number;
  lang: string;
  skip: string | null;
  body: string[];
  commands: Command[];
}

const SKIP = /^<!--\s*doc-test:\s*skip\s*\((.+)\)\s*-->$/;
const SHELL = new Set(["sh", "bash", "shell"]);

function readmeBlocks(markdown: string, file = "README.md"): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i === lines.length) throw new Error(`${file}:${start + 1}: code block never closed`);
    const skip = start > 0 ? (SKIP.exec(lines[start - 1].trim())?.[1] ?? null) : null;
    blocks.push({ line: start + 1, lang: open[1], skip, body, commands: SHELL.has(open[1]) ? commandsOf(body, start + 2, file) : [] });
  }
  return blocks;
}

/** Splits a shell block into commands: `\` continuations and heredocs stay with their command. */
function commandsOf(body: string[], firstLine: number, file: string): Command[] {
  const commands: Command[] = [];
  for (let i = 0; i < body.length; i++) {
    const line = body[i];
    const note = /^#\s*(prints|exit):\s?(.*)$/.exec(line.trim());
    if (note) {
      const last = commands.at(-1);
      if (!last) throw new Error(`${file}:${firstLine + i}: "# ${note[1]}:" before any command`);
      if (note[1] === "prints") last.prints.push(note[2]);
      else last.exit = Number(note[2]);
      continue;
    }
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    const cmd: Command = { line: firstLine + i, text: line, prints: [], exit: 0 };
    while (cmd.text.endsWith("\\") && i + 1 < body.length) cmd.text += `\n${body[++i]}`;
    const heredoc = /<<-?\s*(['"]?)(\w+)\1/.exec(cmd.text);
    if (heredoc) {
      do {
        if (i + 1 >= body.length) throw new Error(`${file}:${cmd.line}: heredoc ${heredoc[2]} never ends`);
        cmd.text += `\n${body[++i]}`;
      } while (body[i].trim() !== heredoc[2]);
    }
    commands.push(cmd);
  }
  return commands;
}

/**
 * The effect of the control actions a run printed as fired, read off the listing it ends with: a
 * domain's last `weight` action is its weight there, its last freeze or thaw its frozen column. An
 * action that never fired fails unless the README says it does not. Returns the effects checked
 * (none when the run printed no listing).
 */
function checkControlEffects(output: string, promised: string[], where: string): number {
  if (!promised.some((p) => p.includes("never fired"))) expect(output, where).not.toMatch(/never fired/);
  const lines = output.split("\n");
  let header = -1;
  lines.forEach((l, i) => {
    if (/^domid\s+name\s+weight\s+frozen\b/.test(l)) header = i;
  });
  const weight = new Map<string, string>();
  const frozen = new Map<string, string>();
  for (const m of output.matchAll(/^control at \d+ hypercalls: (weight|freeze|thaw) (\S+)(?: (\d+))?$/gm)) {
    if (m[1] === "weight") weight.set(m[2], m[3]);
    else frozen.set(m[2], m[1] === "freeze" ? "yes" : "no");
  }
  // A run with --no-summary prints no listing to read them from.
  if (weight.size + frozen.size === 0 || header < 0) return 0;
  const rows = new Map<string, string[]>();
  for (const l of lines.slice(header + 1)) {
    const cols = l.trim().split(/\s+/);
    if (!/^\d+$/.test(cols[0] ?? "")) break;
    if (!rows.has(cols[1])) rows.set(cols[1], cols);
  }
  for (const [d, w] of weight) expect(rows.get(d)?.[2], `${where}\n(weight of ${d} in the listing)`).toBe(w);
  for (const [d, f] of frozen) expect(rows.get(d)?.[3], `${where}\n(${d} frozen in the listing)`).toBe(f);
  return weight.size + frozen.size;
}

/** The documents whose examples run: the README and docs/, but for the generated CLI reference. */
const docsDir = new URL("../../docs/", import.meta.url);
const DOCUMENTS = [
  "README.md",
  ...readdirSync(docsDir)
    .filter((f) => f.endsWith(".md") && f !== "cli.md")
    .sort()
    .map((f) => `docs/${f}`),
];
const documents = DOCUMENTS.map((file) => ({
  file,
  blocks: readmeBlocks(readFileSync(new URL(`../../${file}`, import.meta.url), "utf8"), file),
}));
const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

describe("the documentation", () => {
  it("has its commands in shell blocks, so the doc test sees them", () => {
    const hidden = documents.flatMap(({ file, blocks }) =>
      blocks
        .filter((b) => !SHELL.has(b.lang))
        .flatMap((b) => b.body.map((l, k) => ({ at: `${file}:${b.line + 1 + k}`, l })))
        .filter(({ l }) => /^\s*(\$ |tmemvm |npx |npm |node |clang |cat > )/.test(l)),
    );
    expect(hidden).toEqual([]);
    const runs = documents.flatMap(({ blocks }) => blocks.filter((b) => SHELL.has(b.lang) && !b.skip));
    expect(runs.length).toBeGreaterThan(10);
  });

  it("excludes only set-up, test and development commands, each marked with its reason", () => {
    const excluded = documents.flatMap(({ file, blocks }) =>
      blocks.filter((b) => b.skip).map((b) => ({ file, reason: b.skip, first: b.commands[0]?.text })),
    );
    expect(excluded).toEqual([
      {
        file: "README.md",
        reason: "set-up and test commands",
        first: "npm install && npm start     # builds the guest images, boots the self-test and a demo guest",
      },
      {
        file: "README.md",
        reason: "set-up commands",
        first: "npm pack                          # in a clone: builds dist/ and build/, writes tmemvm-0.1.0.tgz",
      },
      {
        file: "README.md",
        reason: "development command: needs a clone, about 2 minutes",
        first: "npm run bench            # about 2 minutes with the build; --quick for a smaller run",
      },
      {
        file: "docs/browser.md",
        reason: "development command: it builds the page and serves it until Ctrl-C",
        first: "npm run web      # builds web/ into dist-web/ and serves it; prints the URL (http://127.0.0.1:4173/)",
      },
      {
        file: "docs/performance.md",
        reason: "development command: needs a clone, about 2 minutes",
        first: "npm run bench            # about 2 minutes with the build; --quick for a smaller run",
      },
    ]);
  });

  it("has no placeholders in its examples", () => {
    for (const { file, blocks } of documents) {
      for (const b of blocks.filter((x) => SHELL.has(x.lang))) {
        for (const c of b.commands) expect(c.text, `${file}:${c.line}`).not.toMatch(/…|\.\.\.|<[a-z-]+>|\[--/);
      }
    }
  });
});

for (const { file, blocks } of documents) {
  for (const block of blocks.filter((b) => SHELL.has(b.lang) && !b.skip)) {
    describe(`${file}:${block.line}: ${block.commands[0]?.text.split("\n")[0]}`, () => {
      it("runs every command, verbatim, with the output it promises", () => {
        const pkg = inject("tmemvm").readme;
        const cwd = mkdtempSync(join(tmpdir(), "tmemvm-readme-"));
        scratch.push(cwd);
        mkdirSync(join(cwd, "node_modules"));
        symlinkSync(pkg.packageDir, join(cwd, "node_modules", "tmemvm"), "dir");
        const env = {
          ...process.env,
          PATH: `${pkg.bin}:${process.env.PATH}`,
          // From npm's cache when it is there (after npm ci), as packed-install.ts installs tmemvm.
          npm_config_prefix: pkg.prefix,
          npm_config_prefer_offline: "true",
          npm_config_audit: "false",
          npm_config_fund: "false",
          npm_config_update_notifier: "false",
        };
        let effects = 0;
        for (const c of block.commands) {
          const r = spawnSync("bash", ["-o", "pipefail", "-c", c.text], { cwd, env, encoding: "utf8", timeout: 110_000 });
          const where = `${file}:${c.line}: ${c.text}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
          expect(r.status, where).toBe(c.exit);
          for (const p of c.prints) expect(r.stdout + r.stderr, where).toContain(p);
          effects += checkControlEffects(r.stdout + r.stderr, c.prints, where);
        }
        // A config with control actions shows what they did, not only that the run went well.
        if (block.body.some((l) => /"control":/.test(l)))
          expect(effects, `${file}:${block.line}: no control action's effect was seen`).toBeGreaterThan(0);
      });
    });
  }
}
