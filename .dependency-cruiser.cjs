// The layer rules of tmemvm, written down once: which folder may import which. test/unit/layers.test.ts
// checks them in `npm test`; by hand: npx depcruise --config .dependency-cruiser.cjs hypercall-abi guest vmm cli fuzz test scripts
// Type-only imports count: a cycle through types still means neither module builds or tests alone.
//
// The layers, lowest first; each folder may import hypercall-abi/, itself and the folders listed.
//   vmm/store     where a page's bytes live: frames, zero pages, compressed chunks, LZ4
//   vmm/tmem      the core: clients, pools, objects, page index, rules, eviction
//   vmm/control   TMEMC sub-ops and the host's control plane (which acts on a running machine)
//   vmm/boundary  the hypercall import, guest memory, the op reader: the only code touching guest RAM
//   vmm/machine   the VMM, domains, vCPUs (Asyncify), scheduler, image loading
//   vmm/trace     record and replay
//   vmm/platform  what only Node has: files, the package's assets (the layers below take bytes,
//                 sinks and an injected asset loader, so they run in a browser page as they are)
//   vmm/api.ts    the package's programmatic entry
//   fuzz/, cli/   above the VMM; nothing in vmm/ imports them

const LAYERS = {
  "vmm/store": [],
  "vmm/tmem": ["vmm/store"],
  "vmm/control": ["vmm/tmem", "vmm/store", "vmm/machine", "vmm/trace"],
  "vmm/boundary": ["vmm/tmem", "vmm/control", "vmm/store"],
  "vmm/machine": ["vmm/boundary", "vmm/tmem", "vmm/control", "vmm/store"],
  "vmm/trace": ["vmm/machine", "vmm/control", "vmm/tmem", "vmm/boundary", "vmm/store"],
  "vmm/platform": ["vmm/machine", "vmm/trace", "vmm/control", "vmm/store"],
};

const layerRules = Object.entries(LAYERS).map(([layer, may]) => ({
  name: `${layer.replace("vmm/", "")}-imports-only-${may.length ? may.map((m) => m.replace("vmm/", "")).join("-") : "itself"}`,
  comment: `${layer}/ imports hypercall-abi/, itself${may.length ? ` and ${may.join(", ")}` : ""}: nothing else of ours.`,
  severity: "error",
  from: { path: `^${layer}/` },
  to: { path: "^(vmm|cli|fuzz|test|hypercall-abi|guest)/", pathNot: [`^${layer}/`, "^hypercall-abi/", ...may.map((m) => `^${m}/`)] },
}));

/**
 * Today's exceptions to the rules, each named with why it is still there (issue 12 removes them).
 * The test prints them and fails when one no longer occurs, so removing the import means
 * removing its line here.
 */
const KNOWN_EXCEPTIONS = [
];

module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "No module reaches itself through its imports, type-only ones included.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "abi-imports-nothing-of-ours",
      comment: "hypercall-abi/ is the vocabulary both sides share: it imports nothing else of this repository.",
      severity: "error",
      from: { path: "^hypercall-abi/" },
      to: { pathNot: ["^hypercall-abi/", "^node_modules/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "guest-imports-only-abi",
      comment: "guest/ (AssemblyScript) imports its own files and hypercall-abi/, nothing from the VMM, Node or npm.",
      severity: "error",
      from: { path: "^guest/" },
      to: { pathNot: ["^guest/", "^hypercall-abi/"] },
    },
    ...layerRules,
    {
      name: "vmm-below-fuzz-and-cli",
      comment: "The VMM does not depend on the fuzzers, the CLI or the tests.",
      severity: "error",
      from: { path: "^vmm/" },
      to: { path: "^(cli|fuzz|test)/" },
    },
    {
      name: "fuzz-below-cli",
      comment: "The fuzzers are a library the CLI drives, not the other way round.",
      severity: "error",
      from: { path: "^fuzz/" },
      to: { path: "^(cli|test)/" },
    },
    {
      name: "vmm-runs-in-a-browser",
      comment: "Below cli/ and fuzz/, only vmm/platform/ may use a node:* module: the rest runs unchanged in a browser.",
      severity: "error",
      from: { path: "^vmm/", pathNot: "^vmm/platform/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "core-sees-no-guest-memory-nor-loader",
      comment: "The tmem core is given frames to copy from or into: it imports no boundary module (guest memory, op structs), nothing of the machine or the platform, and no Wasm kernel loader (a compressor comes through its options).",
      severity: "error",
      from: { path: "^vmm/tmem/" },
      to: { path: ["^vmm/(boundary|machine|platform)/", "^vmm/store/kernels"] },
    },
    {
      name: "web-page-runs-in-a-browser",
      comment: "The page (web/src/) uses no node:* module and nothing of vmm/platform/ (Node's files and assets): it gets bytes through its own loader.",
      severity: "error",
      from: { path: "^web/src/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "web-page-not-on-node-platform",
      comment: "The page does not import vmm/platform/, vmm/api.ts (the Node entry), the CLI's Node parts or the fuzzers.",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: "^(vmm/platform/|vmm/api\\.ts|fuzz/|test/)|^cli/(?!demo-setup\\.ts)" },
    },
    {
      name: "core-and-store-use-no-package",
      comment: "The tmem core and the store use no npm package: they are plain TypeScript over typed arrays.",
      severity: "error",
      from: { path: "^vmm/(tmem|store)/" },
      to: { dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "resolvable",
      comment: "Every import of the layered folders resolves (a rule on an unresolved import would check nothing).",
      severity: "error",
      from: { path: "^(vmm|cli|fuzz|hypercall-abi|guest)/" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.test.json" },
    doNotFollow: { path: "node_modules" },
    // Packages resolve through their exports map, as Node resolves them (vega-lite has no main).
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], mainFields: ["module", "main", "types"] },
    exclude: { path: "^(dist|build)/" },
    knownViolations: KNOWN_EXCEPTIONS,
  },
};
