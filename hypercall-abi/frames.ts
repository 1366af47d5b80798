// Sizes in MiB (how users and Xen's control sub-ops speak of tmem) as 4 KiB frames (how tmem counts).
import { TMEM_PAGE_SHIFT } from "./constants.js";

export const FRAMES_PER_MIB = 1 << (20 - TMEM_PAGE_SHIFT);

/** `mib` MiB as a number of frames. */
export function mibToFrames(mib: number): number {
  return mib * FRAMES_PER_MIB;
}

/** The whole MiB that `frames` frames fill (rounded down). */
export function framesToMib(frames: number): number {
  return Math.floor(frames / FRAMES_PER_MIB);
}
