// The optional peers loaded on use (vmm/machine/optional-package.ts): a missing one is a usage
// error naming it; any other failure to load one is passed on. (The package test runs tmemvm
// installed without them.)
import { describe, expect, it } from "vitest";
import { classifyError, MissingPackageError } from "../../vmm/api.js";
import { importOptional } from "../../vmm/machine/optional-package.js";

describe("importOptional", () => {
  const notFound = (what: string) =>
    Object.assign(new Error(`Cannot find package '${what}' imported from /x/y.js`), { code: "ERR_MODULE_NOT_FOUND" });

  it("gives the package when it loads", async () => {
    expect(await importOptional("p", "testing", async () => ({ answer: 42 }))).toEqual({ answer: 42 });
  });

  it("names the package when it is the one missing, and passes on any other failure", async () => {
    const e = await importOptional("p", "testing", () => Promise.reject(notFound("p"))).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MissingPackageError);
    expect(classifyError(e)).toEqual({
      class: "usage",
      message:
        "testing needs p, an optional peer dependency of tmemvm that is not installed: npm install -g p beside a global tmemvm, or npm install p in your project",
    });
    // A package that is there but lacks one of its own dependencies is broken, not missing.
    const inner = notFound("left-pad");
    await expect(importOptional("p", "testing", () => Promise.reject(inner))).rejects.toBe(inner);
    const other = new SyntaxError("Unexpected token");
    await expect(importOptional("p", "testing", () => Promise.reject(other))).rejects.toBe(other);
  });
});
