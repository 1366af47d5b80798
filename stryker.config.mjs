// `npm run mutate`: mutation testing of the tmem core and the hypercall boundary (see
// docs/mutation.md for the last score and why each surviving mutant is equivalent).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutate.config.ts" },
  mutate: ["vmm/tmem/*.ts", "vmm/hypercall.ts", "vmm/op-reader.ts", "vmm/guest-memory.ts"],
  coverageAnalysis: "perTest",
  // The machine has two cores, shared.
  concurrency: 2,
  // A mutant that makes a loop endless is a timeout (counted as detected), not a hang.
  timeoutMS: 20000,
  reporters: ["html", "clear-text", "progress-append-only", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  incremental: true,
  incrementalFile: "reports/mutation/incremental.json",
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ["reports", "fuzz-failures", "out", "*.tmtr"],
  tempDirName: ".stryker-tmp",
  // Only the guest sources (AssemblyScript) would need it, and Babel cannot parse their decorators.
  disableTypeChecks: false,
};
