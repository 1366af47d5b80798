// The layer rules of tmemvm, written down once: which folder may import which. test/unit/layers.test.ts
// checks them in `npm test`; by hand: npx depcruise --config .dependency-cruiser.cjs hypercall-abi guest vmm cli fuzz test scripts
// Type-only imports count: a cycle through types still means neither module builds or tests alone.
//
// The layers of vmm/, lowest first: a strict order. Each folder may import hypercall-abi/, itself
// and any folder before it in this list; nothing after it.
//   vmm/store         where a page's bytes live: frames, zero pages, compressed chunks, LZ4
//   vmm/tmem          the core (tmem.c): clients, pools, objects, page index, rules, eviction, policy
//   vmm/tmem-control  the TMEMC sub-ops a privileged guest issues (tmem_control.c)
//   vmm/boundary      the hypercall import, guest memory, the op reader: the only code touching guest RAM
//   vmm/machine       the VMM, domains, vCPUs (Asyncify), scheduler, image loading
//   vmm/container     the container and checksum shared by save files and traces
//   vmm/snapshot      save files and the tmem state they and traces carry
//   vmm/host          the host's control plane (xl tmem-*) and its typed actions
//   vmm/trace         record and replay; the recorder hears the machine and the control plane as an observer
//   vmm/spec          the one machine description (MachineSpec) and its builder
//   vmm/platform      what only Node has: files, the package's assets (passed in, never installed by an import)
//   vmm/api.ts        the package's programmatic entry
// cli/, web/ and fuzz/ sit above and reach vmm/ only through the package's entries.
const ORDER = [
  "vmm/store",
  "vmm/tmem",
  "vmm/tmem-control",
  "vmm/boundary",
  "vmm/machine",
  "vmm/container",
  "vmm/snapshot",
  "vmm/host",
  "vmm/trace",
  "vmm/spec",
  "vmm/platform",
];
const LAYERS = Object.fromEntries(ORDER.map((layer, i) => [layer, ORDER.slice(0, i)]));

const layerRules = Object.entries(LAYERS).map(([layer, may]) => ({
  name: `${layer.replace("vmm/", "")}-imports-only-below`,
  comment: `${layer}/ imports hypercall-abi/, itself${may.length ? ` and ${may.join(", ")}` : ""}: nothing else of ours.`,
  severity: "error",
  from: { path: `^${layer}/` },
  to: { path: "^(vmm|cli|fuzz|test|hypercall-abi|guest|web)/", pathNot: [`^${layer}/`, "^hypercall-abi/", ...may.map((m) => `^${m}/`)] },
}));

/**
 * Imports that break a rule and are tolerated for now, each with why (the test prints them and
 * fails once one no longer occurs). None today: keep it that way.
 */
const KNOWN_EXCEPTIONS = [];

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
      name: "front-ends-through-the-entries",
      comment:
        "cli/ and fuzz/ reach vmm/ only through the package's entries: vmm/node.ts (Node) and vmm/api.ts (any platform); the fuzzers also through vmm/harness.ts (the core without a Machine).",
      severity: "error",
      from: { path: "^(cli|fuzz)/" },
      to: { path: "^vmm/", pathNot: "^vmm/(api|node|harness)\\.ts$" },
    },
    {
      name: "only-the-fuzzers-take-the-harness",
      comment: "vmm/harness.ts (the core and domains without a Machine) is the fuzzers' entry: nothing else outside vmm/ imports it.",
      severity: "error",
      from: { path: "^(cli|web)/" },
      to: { path: "^vmm/harness\\.ts$" },
    },
    {
      name: "page-through-the-entry",
      comment: "The page (web/src/) reaches vmm/ only through vmm/api.ts, the entry that runs on any platform.",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: "^vmm/", pathNot: "^vmm/api\\.ts$" },
    },
    {
      name: "api-runs-in-a-browser",
      comment:
        "vmm/api.ts (the package's `tmemvm/browser` entry) reaches no node:* module and nothing of vmm/platform/, however indirectly: Node's platform is bound in vmm/node.ts.",
      severity: "error",
      from: { path: "^vmm/api\\.ts$" },
      // Core modules resolve to their bare names (node:fs is "fs"); any such name has no slash.
      to: {
        path: "^vmm/platform/|^(node:)?(assert|buffer|child_process|crypto|events|fs|module|os|path|perf_hooks|process|stream|url|util|vm|worker_threads|inspector)$",
        reachable: true,
      },
    },
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
      comment:
        "The tmem core is given frames to copy from or into: it imports no boundary module (guest memory, op structs), nothing of the machine or the platform, and no Wasm kernel loader (a compressor comes through its options).",
      severity: "error",
      from: { path: "^vmm/tmem/" },
      to: { path: ["^vmm/(boundary|machine|platform)/", "^vmm/store/kernels"] },
    },
    {
      name: "web-page-runs-in-a-browser",
      comment:
        "The page (web/src/) uses no node:* module and nothing of vmm/platform/ (Node's files and assets): it gets bytes through its own loader.",
      severity: "error",
      from: { path: "^web/src/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "web-page-not-on-node-platform",
      comment: "The page does not import vmm/platform/, vmm/node.ts (the Node entry), the CLI's Node parts or the fuzzers.",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: "^(vmm/platform/|vmm/node\\.ts|fuzz/|test/)|^cli/(?!demo-setup\\.ts)" },
    },
    {
      name: "core-and-store-use-no-package",
      comment: "The tmem core and the store use no npm package: they are plain TypeScript over typed arrays.",
      severity: "error",
      from: { path: "^vmm/(tmem|store)/" },
      to: { dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "optional-packages-loaded-on-use",
      comment:
        "What the package ships loads its optional peers (binaryen, istanbul-lib-instrument) and development-only packages (vega) with import() where the feature needing them starts: imported statically, every command would need them installed.",
      severity: "error",
      from: { path: "^(vmm|cli|fuzz|hypercall-abi)/" },
      to: { dependencyTypes: ["npm-dev", "npm-peer", "npm-optional"], dependencyTypesNot: ["type-only"], dynamic: false },
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
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default"],
      mainFields: ["module", "main", "types"],
    },
    exclude: { path: "^(dist|build)/" },
    knownViolations: KNOWN_EXCEPTIONS,
  },
};
