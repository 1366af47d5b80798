// The layer rules catch what they claim to: a small tree made in a temporary folder, with one
// import against each kind of rule, is cruised with the project's own rule file. A rule that
// matched nothing (a folder renamed, a pattern mistyped) would let the real tree pass vacuously.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ORDER = ["store", "tmem", "tmem-control", "boundary", "machine", "container", "snapshot", "host", "trace", "spec", "platform"];

let dir: string;
let violations: string[];

/** Every file imports the one it names; each folder has an index.ts the others may import. */
const FILES: Record<string, string[]> = {
  // Each layer imports the one below it (allowed) ...
  ...Object.fromEntries(ORDER.map((l, i) => [`vmm/${l}/index.ts`, i === 0 ? [] : [`../${ORDER[i - 1]}/index.js`]])),
  // ... and one back edge per pair of neighbours, in a file of its own.
  ...Object.fromEntries(ORDER.slice(0, -1).map((l, i) => [`vmm/${l}/back.ts`, [`../${ORDER[i + 1]}/index.js`]])),
  "vmm/api.ts": ["./spec/index.js"],
  "vmm/node.ts": ["./api.js", "./platform/index.js"],
  "cli/good.ts": ["../vmm/node.js", "../vmm/api.js"],
  "cli/bad.ts": ["../vmm/machine/index.js"],
  "fuzz/bad.ts": ["../vmm/tmem/index.js"],
  "fuzz/good.ts": ["../vmm/harness.js", "../vmm/node.js"],
  "vmm/harness.ts": ["./tmem/index.js"],
  "cli/harness.ts": ["../vmm/harness.js"],
  "web/src/good.ts": ["../../vmm/api.js"],
  "web/src/bad.ts": ["../../vmm/trace/index.js"],
  "web/src/node-entry.ts": ["../../vmm/node.js"],
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tmemvm-layers-"));
  for (const [file, imports] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(
      join(dir, file),
      `${imports.map((m, i) => `import * as m${i} from "${m}";\nexport const x${i} = m${i};\n`).join("")}export {};\n`,
    );
  }
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "nodenext", moduleResolution: "nodenext", allowJs: false } }),
  );
  const options = await extractDepcruiseOptions(resolve(".dependency-cruiser.cjs"));
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    const roots = ["vmm", "cli", "fuzz", "web/src"];
    const { knownViolations: _known, tsConfig: _ts, ...rest } = options;
    const out = await cruise(roots, { ...rest, validate: true, tsPreCompilationDeps: true }, {}, {});
    violations = (out.output as ICruiseResult).summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
  } finally {
    process.chdir(cwd);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the layer rules, on a planted tree", () => {
  it("allow each layer to import the ones below it, and the front ends the package's entries", () => {
    const allowed = violations.filter((v) => / -> vmm\/[\w-]+\/index\.ts$/.test(v) && !/back\.ts|bad\.ts/.test(v));
    expect(allowed).toEqual([]);
    expect(violations.filter((v) => /good\.ts/.test(v))).toEqual([]);
  });

  it("refuse every back edge between neighbouring layers", () => {
    for (const [i, l] of ORDER.slice(0, -1).entries()) {
      expect(violations, `vmm/${l} importing vmm/${ORDER[i + 1]}`).toContain(
        `${l}-imports-only-below: vmm/${l}/back.ts -> vmm/${ORDER[i + 1]}/index.ts`,
      );
    }
  });

  it("refuse cli/, fuzz/ and the page importing below the package's entries", () => {
    expect(violations).toContain("front-ends-through-the-entries: cli/bad.ts -> vmm/machine/index.ts");
    expect(violations).toContain("front-ends-through-the-entries: fuzz/bad.ts -> vmm/tmem/index.ts");
    // The harness entry is the fuzzers' alone.
    expect(violations).toContain("only-the-fuzzers-take-the-harness: cli/harness.ts -> vmm/harness.ts");
    expect(violations).toContain("page-through-the-entry: web/src/bad.ts -> vmm/trace/index.ts");
    expect(violations).toContain("page-through-the-entry: web/src/node-entry.ts -> vmm/node.ts");
  });
});
