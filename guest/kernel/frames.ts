// The page-frame allocator: the kernel's RAM above its own image and heap, handed out as 4 KiB
// frames by PFN (addr = pfn << 12). A stack of free PFNs; O(1) alloc and free.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants";

/** Heap left to the runtime for the kernel's own small allocations (strings, arrays). */
const HEAP_RESERVE: usize = 512 * 1024;

let freePfns: StaticArray<u32> = new StaticArray<u32>(0);
let freeTop: i32 = 0;
let firstPfn: u32 = 0;
let frameCount: u32 = 0;

/**
 * Frames are reserved from the heap in blocks of at most this many: the runtime refuses a single
 * allocation of 1 GiB or more, and a guest may have up to 4095 MiB.
 */
const BLOCK_FRAMES: u32 = 65536;

/** Heap left after the frames are taken: what the guest's own tables must fit in. */
let heapRest: usize = 0;

/** Takes every frame of RAM the kernel image and heap reserve do not need. */
export function framesInit(): void {
  const ramEnd: usize = <usize>memory.size() << 16;
  const used: usize = __heap_base + HEAP_RESERVE;
  heapRest = HEAP_RESERVE;
  if (ramEnd <= used + 2 * TMEM_PAGE_SIZE) {
    frameCount = 0;
    return;
  }
  // The free stack and the frames come from the heap, so the runtime never hands them out again.
  // Each block is a frame larger than the frames it holds, so that they can start page-aligned.
  let n = <u32>((ramEnd - used) / (TMEM_PAGE_SIZE + 4)) - 1;
  const blocks = (n + BLOCK_FRAMES - 1) / BLOCK_FRAMES;
  n -= blocks - 1;
  freePfns = new StaticArray<u32>(n);
  // Popped from the top: the lowest frame is handed out first.
  let placed: u32 = 0;
  while (placed < n) {
    const k = min(n - placed, BLOCK_FRAMES);
    const block = heap.alloc((<usize>k + 1) << TMEM_PAGE_SHIFT);
    const first = <u32>((block + TMEM_PAGE_SIZE - 1) >> TMEM_PAGE_SHIFT);
    if (placed === 0) firstPfn = first;
    for (let i: u32 = 0; i < k; i++) freePfns[n - 1 - placed - i] = first + i;
    placed += k;
    heapRest = ramEnd - (block + ((<usize>k + 1) << TMEM_PAGE_SHIFT));
  }
  frameCount = n;
  freeTop = <i32>n;
}

/**
 * Stops the guest with a reason, instead of a trap deep in the runtime, when its tables (`bytes`,
 * allocated after framesInit) would not fit the heap the frames leave: `what` names what is too
 * big, as the user gave it (its argument).
 */
export function needHeap(guest: string, bytes: u64, what: string): void {
  // A little of the reserve goes to the runtime's own strings and headers.
  const room: u64 = heapRest > 16384 ? <u64>(heapRest - 16384) : 0;
  if (bytes <= room) return;
  console.log(guest + ": " + what + " need " + ((bytes + 1023) / 1024).toString() + " KiB of tables; the guest kernel keeps " +
    (room / 1024).toString() + " KiB for them, whatever its RAM: ask for less");
  process.exit(2);
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
