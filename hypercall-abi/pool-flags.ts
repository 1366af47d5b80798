// NEW_POOL's flags word, built and taken apart by name.
import {
  TMEM_POOL_PAGESIZE_MASK,
  TMEM_POOL_PAGESIZE_SHIFT,
  TMEM_POOL_PERSIST,
  TMEM_POOL_PRECOMPRESSED,
  TMEM_POOL_RESERVED_BITS,
  TMEM_POOL_SHARED,
  TMEM_POOL_VERSION_MASK,
  TMEM_POOL_VERSION_SHIFT,
  TMEM_SPEC_VERSION,
} from "./constants.js";

export interface PoolFlags {
  persistent: boolean;
  shared: boolean;
  precompressed: boolean;
  /** log2(page size) - 12: 0 for 4 KiB pages, the only size x86 Xen accepts. */
  pageSizeField: number;
  /** Bits 8-23, which must be zero. */
  reserved: number;
  version: number;
}

export function decodePoolFlags(flags: number): PoolFlags {
  return {
    persistent: (flags & TMEM_POOL_PERSIST) !== 0,
    shared: (flags & TMEM_POOL_SHARED) !== 0,
    precompressed: (flags & TMEM_POOL_PRECOMPRESSED) !== 0,
    pageSizeField: (flags >>> TMEM_POOL_PAGESIZE_SHIFT) & TMEM_POOL_PAGESIZE_MASK,
    reserved: (flags & TMEM_POOL_RESERVED_BITS) >>> 0,
    version: (flags >>> TMEM_POOL_VERSION_SHIFT) & TMEM_POOL_VERSION_MASK,
  };
}

/** The flags Linux's driver passes: 4 KiB pages, spec version 1 unless told otherwise. */
export function encodePoolFlags(p: { persistent?: boolean; shared?: boolean; version?: number; pageSizeField?: number }): number {
  return (
    ((p.persistent ? TMEM_POOL_PERSIST : 0) |
      (p.shared ? TMEM_POOL_SHARED : 0) |
      (((p.pageSizeField ?? 0) & TMEM_POOL_PAGESIZE_MASK) << TMEM_POOL_PAGESIZE_SHIFT) |
      (((p.version ?? TMEM_SPEC_VERSION) & TMEM_POOL_VERSION_MASK) << TMEM_POOL_VERSION_SHIFT)) >>>
    0
  );
}
