export * from "./constants.js";
export * from "./c-layout.js";
export * from "./op-layouts.js";
export * from "./op-codec.js";
export * from "./pool-flags.js";
export * from "./op-describe.js";
export * from "./hypercall-import.js";
