// The benchmark guest: times each tmem op through the real path (Wasm guest -> hypercall import
// -> VMM) with the guest's own monotonic clock, and prints one JSON line per measurement.
// Arguments: [resident pages] [ops per repeat] [repeats]
import { argU32 } from "../kernel/args";
import { framesInit, frameAlloc } from "../kernel/frames";
import { pageFill } from "../kernel/page-ops";
import { randomBelow, randomSeed } from "../kernel/random";
import { poolFlags, tmemFlushObject, tmemFlushPage, tmemGetPage, tmemNewPool, tmemPutPage } from "../kernel/tmem";

const resident = argU32(1, 1024);
const n = argU32(2, 100000);
const reps = argU32(3, 5);
randomSeed(12345);

framesInit();
const src = <u32>frameAlloc();
const dst = <u32>frameAlloc();
pageFill(src, 99);
const pool = tmemNewPool(0, 0, poolFlags(true, false));
if (pool < 0) {
  console.log('{"error":"NEW_POOL returned ' + pool.toString() + '"}');
  process.exit(1);
}

// Resident pages: objects of 16 pages, as frontswap lays them out.
for (let i: u32 = 0; i < resident; i++) {
  if (tmemPutPage(pool, <u64>(i >> 4), 0, 0, i & 15, src) !== 1) {
    console.log('{"error":"could not make page ' + i.toString() + ' resident"}');
    process.exit(1);
  }
}

function report(op: string, rep: u32, count: u32, ms: f64): void {
  console.log('{"op":"' + op + '","rep":' + rep.toString() + ',"n":' + count.toString() + ',"ns":' + (ms * 1e6).toString() + "}");
}

const FRESH: u64 = 0x100000000;
for (let rep: u32 = 0; rep < reps; rep++) {
  const base = FRESH + <u64>rep * <u64>n;
  let t = performance.now();
  for (let i: u32 = 0; i < n; i++) tmemPutPage(pool, base + <u64>(i >> 4), 0, 0, i & 15, src);
  report("put", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemGetPage(pool, <u64>(p >> 4), 0, 0, p & 15, dst);
  }
  report("get-hit", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemGetPage(pool, <u64>(p >> 4), 0, 0, 16 + (p & 15), dst);
  }
  report("get-miss", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) tmemFlushPage(pool, base + <u64>(i >> 4), 0, 0, i & 15);
  report("flush-page", rep, n, performance.now() - t);

  for (let i: u32 = 0; i < n; i++) tmemPutPage(pool, base + <u64>(i >> 4), 0, 0, i & 15, src);
  t = performance.now();
  for (let o: u32 = 0; o < n >> 4; o++) tmemFlushObject(pool, base + <u64>o, 0, 0);
  report("flush-object", rep, n, performance.now() - t);
}
