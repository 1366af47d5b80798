// What a browser page takes from the VMM to build and show a machine, in one module it may import
// (vmm/api.ts binds Node's files today, so the page cannot load it yet).
export { buildMachine, BuiltMachine, type BuildOptions, type MachinePlatform } from "./build-machine.js";
export { checkSpec, objectSource, type MachineSpec } from "./machine-spec.js";
export { memoryPlatform, type MemoryPlatform } from "./memory-platform.js";
export { SpecError } from "./spec-error.js";
export { imageFromBytes } from "../machine/image.js";
export type { Domain } from "../machine/domain.js";
export type { ControlPlane } from "../host/control-plane.js";
