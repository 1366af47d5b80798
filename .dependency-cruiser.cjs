// The layer rules of tmemvm, written down once: which folder may import which. test/layers.test.ts
// checks them in `npm test`; by hand: npx depcruise --config .dependency-cruiser.cjs vmm hypercall-abi guest test scripts
// Type-only imports count: a cycle through types still means neither module builds or tests alone.

/**
 * Today's exceptions to the rules, each named with why it is still there. The test prints them
 * and fails when one no longer occurs, so removing the import means removing its line here.
 * Issue 12 (the layer move) removes them: an injected kernel loader, save files beside traces.
 */
const KNOWN_EXCEPTIONS = [
  {
    type: "dependency",
    rule: { name: "tmem-core-imports-only-tmem-and-abi", severity: "error" },
    from: "vmm/tmem/tmem.ts",
    to: "vmm/kernels.ts",
    comment: "LZ4 for compressed pages comes from the kernel loader, which reads build/kernels/lz4.wasm with node:fs; to be injected",
  },
  {
    type: "dependency",
    rule: { name: "tmem-core-no-node", severity: "error" },
    from: "vmm/tmem/save-file.ts",
    to: "zlib",
    comment: "the save-file format's crc32 is node:zlib's; save files move out of the core to share the trace container",
  },
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
    {
      name: "vmm-never-imports-test",
      comment: "The product does not depend on its tests or their fixtures.",
      severity: "error",
      from: { path: "^vmm/" },
      to: { path: "^test/" },
    },
    {
      name: "tmem-core-no-node",
      comment: "The tmem core (vmm/tmem/) runs unchanged in a browser: no node:* module.",
      severity: "error",
      from: { path: "^vmm/tmem/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "tmem-core-imports-only-tmem-and-abi",
      comment: "The tmem core imports only itself and hypercall-abi/: no boundary, machine, Wasm loader or npm package.",
      severity: "error",
      from: { path: "^vmm/tmem/" },
      to: { pathNot: ["^vmm/tmem/", "^hypercall-abi/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "resolvable",
      comment: "Every import of the layered folders resolves (a rule on an unresolved import would check nothing).",
      severity: "error",
      from: { path: "^(vmm|hypercall-abi|guest)/" },
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
