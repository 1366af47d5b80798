// The tests `npm run mutate` runs against each mutant: those that drive the tmem core and the
// boundary in-process. Tests that spawn the built CLI (cli, multi-guest) would run dist/, not the
// mutant; the fuzz campaign is too slow to repeat per mutant; trace.test.ts runs whole guests in
// a beforeAll, which makes every mutant they reach "static" (run against every test). The
// property tests (model, isolation, pressure) take seconds each: every surviving mutant would
// rerun them, on two shared cores. generations (every layout's rules and the TMEMC save/restore
// sub-ops) and shared-pools are in-process and fast, and the only tests of control.ts's sub-ops.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/unit/*.test.ts",
      "test/semantics/tmem-semantics.test.ts",
      "test/security/boundary.test.ts",
      "test/semantics/compression.test.ts",
      "test/security/xsa15.test.ts",
      "test/semantics/shared-pools.test.ts",
      "test/semantics/generations.test.ts",
    ],
    // Stryker's instrumentation allocates on every mutant switch, so the allocation count means nothing under it.
    exclude: ["test/unit/no-allocation.test.ts"],
    testTimeout: 60_000,
  },
});
