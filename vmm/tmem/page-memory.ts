// Where a data op's page comes from or goes to. The tmem core never sees a guest: it sees this,
// which the boundary implements over guest RAM (GuestMemory) and restores implement over bytes.
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";

export interface PageMemory {
  readonly bytes: Uint8Array;
  /** The page at byte `offset` (checked by whoever produced the offset), as a view. */
  frameView(offset: number): Uint8Array;
  /** True if the page at byte `offset` is all zero. */
  isZero(offset: number): boolean;
}

/** Plain bytes as page memory (restores, the zero page). */
export function pageMemory(bytes: Uint8Array): PageMemory {
  const words = (offset: number) => new Int32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + TMEM_PAGE_SIZE));
  return {
    bytes,
    frameView: (offset) => bytes.subarray(offset, offset + TMEM_PAGE_SIZE),
    isZero: (offset) => words(offset).every((w) => w === 0),
  };
}
