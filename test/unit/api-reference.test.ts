// The API reference (npm run docs:api, TypeDoc over the package's entries) builds with no warning:
// every link in a doc comment resolves and every entry's declarations document cleanly.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/paths.js";

describe("the API reference", () => {
  it("builds from the declarations with no warning", () => {
    const typedoc = join(createRequire(import.meta.url).resolve("typedoc/package.json"), "..", "bin", "typedoc");
    // --emit none: checked, not written; typedoc.json treats every warning as an error.
    const r = spawnSync(process.execPath, [typedoc, "--emit", "none"], { cwd: REPO, encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});
