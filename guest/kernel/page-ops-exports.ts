// The guest kernel's page loops as a module of their own (no WASI, its own memory), so the bench
// can time them against their JavaScript equivalents. Built into build/kernels/guest-page-ops.wasm.
export { pageFill, pageCopy, pageEqual, pageChecksum } from "./page-ops";
