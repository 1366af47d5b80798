import { configDefaults, defineConfig } from "vitest/config";

// Two projects: the unit tests run against the sources and build/; the package tests run the
// packed and installed tarball (test/packed-install.ts packs it once, only when one of them runs).
const packageTests = ["test/package/package.test.ts", "test/package/readme.test.ts"];
// The browser app in Chromium (test/browser/): its own project, as it builds and serves the page.
const browserTests = ["test/browser/**/*.test.ts"];

export default defineConfig({
  test: {
    setupFiles: ["test/support/replay-every-trace.ts"],
    testTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...packageTests, ...browserTests] },
      },
      { extends: true, test: { name: "browser", include: browserTests, testTimeout: 300_000, hookTimeout: 300_000 } },
      {
        extends: true,
        test: {
          name: "package",
          include: packageTests,
          globalSetup: ["test/package/packed-install.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
