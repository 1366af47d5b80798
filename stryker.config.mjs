// `npm run mutate`: mutation testing of the tmem core and the hypercall boundary (see
// docs/mutation.md for the last score and why each surviving mutant is equivalent).
// MUTATE_FILES (comma-separated) narrows the run to some of the modules, with its own report
// under reports/mutation/<MUTATE_NAME>/, e.g.
//   MUTATE_FILES=vmm/boundary/op-reader.ts MUTATE_NAME=op-reader npx stryker run
const only = process.env.MUTATE_FILES?.split(",").filter(Boolean);
const dir = `reports/mutation${process.env.MUTATE_NAME ? `/${process.env.MUTATE_NAME}` : ""}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.mutate.config.ts" },
  mutate: only ?? [
    "vmm/tmem/*.ts",
    "vmm/store/*.ts",
    "vmm/tmem-control/tmemc.ts",
    "vmm/snapshot/save-file.ts",
    "vmm/container/*.ts",
    "vmm/boundary/*.ts",
  ],
  coverageAnalysis: "perTest",
  // The machine has two cores, shared.
  concurrency: 2,
  // A mutant that makes a loop endless is a timeout (counted as detected), not a hang.
  timeoutMS: 20000,
  reporters: ["html", "clear-text", "progress-append-only", "json"],
  htmlReporter: { fileName: `${dir}/index.html` },
  jsonReporter: { fileName: `${dir}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  // Reruns test only the mutants whose code or covering tests changed; `-- --force` for all.
  incremental: true,
  incrementalFile: `${dir}/incremental.json`,
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ["reports", "fuzz-failures", "out", "*.tmtr"],
  tempDirName: ".stryker-tmp",
  // Only the guest sources (AssemblyScript) would need it, and Babel cannot parse their decorators.
  disableTypeChecks: false,
};
