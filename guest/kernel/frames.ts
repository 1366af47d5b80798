// The page-frame allocator: the kernel's RAM above its own image and heap, handed out as 4 KiB
// frames by PFN (addr = pfn << 12). A stack of free PFNs; O(1) alloc and free.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants";

/** Heap left to the runtime for the kernel's own small allocations (strings, arrays). */
const HEAP_RESERVE: usize = 512 * 1024;

let freePfns: StaticArray<u32> = new StaticArray<u32>(0);
let freeTop: i32 = 0;
let firstPfn: u32 = 0;
let frameCount: u32 = 0;

/** Takes every frame of RAM the kernel image and heap reserve do not need. */
export function framesInit(): void {
  const ramEnd: usize = <usize>memory.size() << 16;
  const used: usize = __heap_base + HEAP_RESERVE;
  if (ramEnd <= used + 2 * TMEM_PAGE_SIZE) {
    frameCount = 0;
    return;
  }
  // The free stack and the frames come from the heap, so the runtime never hands them out again.
  const n = <u32>((ramEnd - used) / (TMEM_PAGE_SIZE + 4)) - 1;
  freePfns = new StaticArray<u32>(n);
  const block = heap.alloc((<usize>n + 1) << TMEM_PAGE_SHIFT);
  firstPfn = <u32>((block + TMEM_PAGE_SIZE - 1) >> TMEM_PAGE_SHIFT);
  frameCount = n;
  for (let i: u32 = 0; i < n; i++) freePfns[i] = firstPfn + n - 1 - i;
  freeTop = <i32>n;
}

/** A free frame's PFN, or -1 when RAM is exhausted. */
export function frameAlloc(): i64 {
  if (freeTop === 0) return -1;
  return <i64>freePfns[--freeTop];
}

export function frameFree(pfn: u32): void {
  freePfns[freeTop++] = pfn;
}

export function framesTotal(): u32 { return frameCount; }
export function framesFree(): u32 { return <u32>freeTop; }

// @ts-ignore: decorator
@inline export function pfnToAddr(pfn: u32): usize { return <usize>pfn << TMEM_PAGE_SHIFT; }
