// The tests' kernels, compiled once per test file from the package's build/ (nothing installs them).
import { checkedCompressor, type BlockCompressor } from "../../fuzz/lz4-block.js";
import { Kernels } from "../../vmm/store/asset-loader.js";
import { nodeAssets } from "../../vmm/platform/assets.js";

export const testKernels = new Kernels(nodeAssets);

/**
 * A tmem's compressor for the tests: the kernels' LZ4, every block it writes checked against the
 * format's rules (fuzz/lz4-block.ts). A block that breaks them throws, failing the test that made it.
 */
export function checkedLz4(): BlockCompressor {
  return checkedCompressor(testKernels.lz4(), (problem) => {
    throw new Error(problem);
  });
}
