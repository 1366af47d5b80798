// A cleancache-style workload: a guest with a small page cache reads a file set larger than the
// cache, over and over. Clean pages evicted from the page cache are put to an ephemeral tmem pool,
// and every "disk" read first tries a tmem get. Prints how much disk I/O tmem avoided.
// Arguments: [file pages] [cache frames] [passes] [pattern: loop | random] [seed] [data: random | text]
// [pool: private | shared]
// "loop" reads the file set in order each pass; "random" makes `passes` x `file pages` uniform
// random reads, where what fits in page cache plus this guest's share of tmem decides the hits.
// "shared" puts to a shared pool of a fixed uuid (SHARED_UUID), as guests of a cluster file system
// did: each guest reading the same file set, a page one of them put is a hit for all. The host
// must authorise the uuid for each guest (an unauthorised shared pool is a private one).
import { argString, argU32 } from "../kernel/args";
import { randomBelow, randomSeed } from "../kernel/random";
import { tmemNewPool, tmemPutPage, tmemGetPage, tmemFlushObject, tmemDestroyPool, poolFlags } from "../kernel/tmem";
import { framesInit, frameAlloc, needHeap } from "../kernel/frames";
import { pageEqual, pageFill, pageFillText, pageHasPattern } from "../kernel/page-ops";

const filePages = argU32(1, 1024);
const cacheFrames = argU32(2, 128);
const passes = argU32(3, 4);
const random = argString(4, "loop") === "random";
randomSeed(argU32(5, 1));
const textData = argString(6, "random") === "text";
const shared = argString(7, "private") === "shared";
/** The shared pool's uuid: "FILE", "SHAR" (authorise it as 0x46494c45,0x53484152). */
const SHARED_UUID_LO: u64 = 0x46494c45;
const SHARED_UUID_HI: u64 = 0x53484152;

/** The "disk": what page `page` of the file holds. */
function readFromDisk(pfn: u32, page: u32): void {
  if (textData) pageFillText(pfn, page);
  else pageFill(pfn, page);
}
const FILE_OID: u64 = 0x46494c45; // "FILE": one object, page index = file offset / 4096

framesInit();
needHeap("precache", <u64>filePages * 4 + <u64>cacheFrames * 8, filePages.toString() + " file pages and " + cacheFrames.toString() + " cache frames");
const slotPfn = new StaticArray<u32>(cacheFrames);
const slotPage = new StaticArray<i32>(cacheFrames);
const pageSlot = new StaticArray<i32>(filePages);
for (let i: u32 = 0; i < cacheFrames; i++) {
  const pfn = frameAlloc();
  if (pfn < 0) {
    console.log("precache: not enough RAM for " + cacheFrames.toString() + " cache frames");
    process.exit(2);
  }
  slotPfn[i] = <u32>pfn;
  slotPage[i] = -1;
}
for (let i: u32 = 0; i < filePages; i++) pageSlot[i] = -1;
const scratchPfn = frameAlloc();
if (scratchPfn < 0) process.exit(2);
const scratch = <u32>scratchPfn;

const pool = shared ? tmemNewPool(SHARED_UUID_LO, SHARED_UUID_HI, poolFlags(false, true)) : tmemNewPool(0, 0, poolFlags(false, false));
if (pool < 0) console.log("precache: no tmem pool (" + pool.toString() + "), running without cleancache");

let hand: u32 = 0;
let cacheHits: u64 = 0;
let tmemHits: u64 = 0;
let diskReads: u64 = 0;
let corrupt: u64 = 0;

for (let pass: u32 = 0; pass < passes; pass++) {
  for (let step: u32 = 0; step < filePages; step++) {
    const page = random ? randomBelow(filePages) : step;
    if (pageSlot[page] >= 0) {
      cacheHits++;
      continue;
    }
    // Evict the slot under the clock hand; its page is clean, so it goes to cleancache.
    const slot = hand;
    hand = (hand + 1) % cacheFrames;
    const victim = slotPage[slot];
    const pfn = slotPfn[slot];
    if (victim >= 0) {
      if (pool >= 0) tmemPutPage(pool, FILE_OID, 0, 0, <u32>victim, pfn);
      pageSlot[victim] = -1;
    }
    if (pool >= 0 && tmemGetPage(pool, FILE_OID, 0, 0, page, pfn) === 1) {
      tmemHits++;
      if (textData) {
        readFromDisk(scratch, page);
        if (!pageEqual(pfn, scratch)) corrupt++;
      } else if (!pageHasPattern(pfn, page)) corrupt++;
    } else {
      readFromDisk(pfn, page);
      diskReads++;
    }
    slotPage[slot] = page;
    pageSlot[page] = slot;
  }
}

if (pool >= 0) {
  // The file's pages in a shared pool are the other guests' too: leaving, this one only lets go of the pool.
  if (!shared) tmemFlushObject(pool, FILE_OID, 0, 0);
  tmemDestroyPool(pool);
}
const reads = <u64>filePages * passes;
const withoutTmem = diskReads + tmemHits;
console.log("precache: " + reads.toString() + " page reads, " + cacheHits.toString() + " page-cache hits, " +
  tmemHits.toString() + " cleancache hits, " + diskReads.toString() + " disk reads (" +
  withoutTmem.toString() + " without tmem: " + tmemHits.toString() + " avoided)");
if (corrupt > 0) {
  console.log("precache: " + corrupt.toString() + " pages came back from tmem with the wrong contents");
  process.exit(1);
}
