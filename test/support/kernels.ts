// The tests' kernels, compiled once per test file from the package's build/ (nothing installs them).
import { Kernels } from "../../vmm/store/asset-loader.js";
import { nodeAssets } from "../../vmm/platform/assets.js";

export const testKernels = new Kernels(nodeAssets);
