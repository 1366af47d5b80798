// Where a data op's page comes from or goes to. The tmem core never sees a guest: it sees this,
// which the boundary implements over guest RAM (GuestMemory) and restores implement over bytes.
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";

export interface PageMemory {
  readonly bytes: Uint8Array;
  /** The page at byte `offset` (checked by whoever produced the offset), as a view. */
  frameView(offset: number): Uint8Array;
}

/** Plain bytes as page memory (restores, the zero page). */
export function pageMemory(bytes: Uint8Array): PageMemory {
  return { bytes, frameView: (offset) => bytes.subarray(offset, offset + TMEM_PAGE_SIZE) };
}
