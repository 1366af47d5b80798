// A frontswap-style workload: anonymous memory larger than the guest's RAM. Pages leaving RAM are
// stored to a persistent tmem pool before the "swap disk", and every swap-in tries tmem first.
// Every page's contents are checked whenever it comes back. Prints the disk I/O tmem avoided.
//
// Arguments: [virtual pages] [resident frames] [accesses] [mode] [seed]
//   mode "run"    : random reads and writes, then swapoff (flush) and exit
//   mode "store"  : write every page once, swap everything out, exit without flushing (the
//                   persistent pool stays for a save); resumed after a restore, read every page
//                   back (from tmem where the last run left it) instead of writing it
//   mode "verify" : expect pool 0 to hold every page as "store" left it (after a restore);
//                   load and check each one

import { argString, argU32 } from "../kernel/args";
import { framesInit, frameAlloc, needHeap } from "../kernel/frames";
import { pageFill, pageHasPattern } from "../kernel/page-ops";
import { randomBelow, randomSeed } from "../kernel/random";
import { ENODEV } from "../../hypercall-abi/constants";
import { poolFlags, tmemFlushObject, tmemGetPage, tmemNewPool, tmemPutPage } from "../kernel/tmem";

const virtPages = argU32(1, 2048);
const residentFrames = argU32(2, 256);
const accesses = argU32(3, 20000);
const mode = argString(4, "run");
randomSeed(argU32(5, 7));
const SWAP_TYPE: u64 = 0;

/** Linux's frontswap swizzle: 16 objects per swap type, index = offset / 16. */
function oidOf(page: u32): u64 { return (SWAP_TYPE << 4) | <u64>(page & 15); }
function indexOf(page: u32): u32 { return page >> 4; }

framesInit();
needHeap("preswap", <u64>residentFrames * 8 + <u64>virtPages * 9, virtPages.toString() + " virtual pages and " + residentFrames.toString() + " resident frames");
const frames = new StaticArray<u32>(residentFrames);
const frameOwner = new StaticArray<i32>(residentFrames);
const where = new StaticArray<i32>(virtPages); // frame slot, or -1 if swapped out
const version = new StaticArray<u32>(virtPages); // contents = pattern(page, version); 0 = never written
const inTmem = new StaticArray<bool>(virtPages);
for (let i: u32 = 0; i < residentFrames; i++) {
  const pfn = frameAlloc();
  if (pfn < 0) {
    console.log("preswap: not enough RAM for " + residentFrames.toString() + " resident frames");
    process.exit(2);
  }
  frames[i] = <u32>pfn;
  frameOwner[i] = -1;
}
for (let p: u32 = 0; p < virtPages; p++) where[p] = -1;

// A persistent pool restored into this domain before it booted (tmemvm run --restore) is the swap
// this guest left in tmem when it was saved: it always gets pool 0, the first slot of a fresh
// domain. Only pool 0 answers a get with anything but -ENODEV, so one get tells. The guest resumes
// with that pool instead of creating another: a guest that created a fresh pool each boot would
// carry one more pool through every save and restore until NEW_POOL had no slot left.
let pool: i32 = 0;
const resumed = mode === "verify" || tmemGetPage(0, oidOf(0), 0, 0, indexOf(0), frames[0]) !== -ENODEV;
if (!resumed) {
  pool = tmemNewPool(0, 0, poolFlags(true, false));
  if (pool < 0) console.log("preswap: no frontswap pool (" + pool.toString() + "), swapping to disk only");
} else if (mode !== "verify") {
  console.log("preswap: resuming with the restored frontswap pool 0");
}

let hand: u32 = 0;
let swapOuts: u64 = 0, tmemStores: u64 = 0, diskWrites: u64 = 0;
let swapIns: u64 = 0, tmemLoads: u64 = 0, diskReads: u64 = 0, corrupt: u64 = 0;

function seedOf(page: u32): u64 { return (<u64>page << 32) | <u64>version[page]; }

/** Frees a resident frame: its page goes to tmem if it can, else to the swap disk. */
function evictSlot(slot: u32): void {
  const victim = frameOwner[slot];
  if (victim < 0) return;
  const page = <u32>victim;
  swapOuts++;
  if (pool >= 0 && tmemPutPage(pool, oidOf(page), 0, 0, indexOf(page), frames[slot]) === 1) {
    tmemStores++;
    inTmem[page] = true;
  } else {
    diskWrites++; // the disk now holds (page, version); nothing to keep in the guest
    inTmem[page] = false;
  }
  where[page] = -1;
  frameOwner[slot] = -1;
}

/** Makes `page` resident and returns its frame slot. */
function fault(page: u32): u32 {
  if (where[page] >= 0) return <u32>where[page];
  const slot = hand;
  hand = (hand + 1) % residentFrames;
  evictSlot(slot);
  const pfn = frames[slot];
  if (version[page] > 0) {
    swapIns++;
    if (inTmem[page] && tmemGetPage(pool, oidOf(page), 0, 0, indexOf(page), pfn) === 1) {
      tmemLoads++;
    } else {
      // Only verify promises every page is in tmem; a resumed store may have swapped some to disk.
      if (inTmem[page] && mode === "verify") {
        console.log("preswap: persistent page " + page.toString() + " was lost");
        corrupt++;
      }
      diskReads++;
      pageFill(pfn, seedOf(page)); // read back from the swap disk
    }
    if (!pageHasPattern(pfn, seedOf(page))) corrupt++;
  }
  where[page] = slot;
  frameOwner[slot] = page;
  return slot;
}

function write(page: u32): void {
  const slot = fault(page);
  version[page]++;
  pageFill(frames[slot], seedOf(page));
}

if (mode === "verify") {
  for (let p: u32 = 0; p < virtPages; p++) {
    version[p] = 1;
    inTmem[p] = true;
  }
  for (let p: u32 = 0; p < virtPages; p++) fault(p);
} else if (mode === "store") {
  // Resumed: the pages the last run stored come back from tmem (checked), the rest from disk.
  if (resumed) {
    for (let p: u32 = 0; p < virtPages; p++) {
      version[p] = 1;
      inTmem[p] = true;
    }
    for (let p: u32 = 0; p < virtPages; p++) fault(p);
  } else {
    for (let p: u32 = 0; p < virtPages; p++) write(p);
  }
  for (let s: u32 = 0; s < residentFrames; s++) evictSlot(s);
} else {
  for (let i: u32 = 0; i < accesses; i++) {
    const page = randomBelow(virtPages);
    if (randomBelow(4) === 0) write(page);
    else fault(page);
  }
  // swapoff: the 16 swizzled objects of this swap type go.
  if (pool >= 0) for (let o: u64 = 0; o < 16; o++) tmemFlushObject(pool, (SWAP_TYPE << 4) | o, 0, 0);
}

console.log("preswap: " + swapOuts.toString() + " swap-outs (" + tmemStores.toString() + " to tmem, " + diskWrites.toString() +
  " to disk), " + swapIns.toString() + " swap-ins (" + tmemLoads.toString() + " from tmem, " + diskReads.toString() +
  " from disk): " + (tmemStores + tmemLoads).toString() + " disk I/Os avoided");
if (corrupt > 0) {
  console.log("preswap: " + corrupt.toString() + " pages came back wrong or were lost");
  process.exit(1);
}
if (mode === "verify" && diskReads > 0) process.exit(1);
