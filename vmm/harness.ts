// The harness entry: the core and domains without a Machine, for the fuzzers, which build
// thousands of cases a second on a fresh tmem each and cannot pay for a VMM per case. It is the
// one module below the package's entries that a front end may import (fuzz/ only: the layer
// rules say so), and it adds nothing of its own: each name is the layer's, typed as there. Anyone
// else takes the Machine (vmm/api.ts), whose emptyMachine() serves an ABI tester.
export { Tmem, type TmemOptions } from "./tmem/tmem.js";
export type { Pool } from "./tmem/pool.js";
export type { DomId, PoolId } from "./tmem/ids.js";
export { Tmemc } from "./tmem-control/tmemc.js";
export { GuestMemory } from "./boundary/guest-memory.js";
export { Domain } from "./machine/domain.js";
export { Kernels } from "./store/asset-loader.js";
export { ControlPlane } from "./host/control-plane.js";
export { restoreClient, saveClient, SaveFileError } from "./snapshot/save-file.js";
/** The optional peers' loader (the coverage fuzzer's instrumenter is one). */
export { importOptional } from "./machine/optional-package.js";
