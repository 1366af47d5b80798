// A clean clone stays clean after `npm install`: npm rewrites a lock file whose root entry
// disagrees with package.json, so the two must say the same about what the package depends on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../support/paths.js";

const read = (file: string) => JSON.parse(readFileSync(join(REPO, file), "utf8"));

describe("package-lock.json", () => {
  it("has package.json's dependencies, ranges and engines in its root entry", () => {
    const pkg = read("package.json");
    const root = read("package-lock.json").packages[""];
    for (const key of [
      "name",
      "version",
      "license",
      "engines",
      "dependencies",
      "devDependencies",
      "optionalDependencies",
      "peerDependencies",
      "peerDependenciesMeta",
      "bin",
    ]) {
      expect(root[key], key).toEqual(pkg[key]);
    }
  });
});
