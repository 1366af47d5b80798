// VMM hot loop over a guest's own RAM: this module imports the guest's memory and only reads
// the addresses it is given (no data segments, no stack, no heap), so a per-domain instance can
// look at guest pages in place. Compiled by asc into build/kernels/page-scan.wasm.
import { TMEM_PAGE_SIZE } from "../../../hypercall-abi/constants";

/** True if the 4 KiB page at `addr` is all zero bytes. */
export function isZero(addr: usize): bool {
  const end = addr + <usize>TMEM_PAGE_SIZE;
  // 64 bytes a step, leaving at the first non-zero block (most pages end the scan at once).
  for (let p = addr; p < end; p += 64) {
    const acc = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
    if (v128.any_true(acc)) return false;
  }
  return true;
}
