// The bench's second half: Wasm hot loops against JavaScript, and LZ4 (filled in with the LZ4 module).
export async function benchKernels() {
  return { loops: [], lz4: null };
}
