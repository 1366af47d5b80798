// The benchmark guest: times each tmem op through the real path (Wasm guest -> hypercall import
// -> VMM) with the guest's own monotonic clock, and prints one JSON line per measurement.
// Arguments: [resident pages] [ops per repeat] [repeats] [what: "ops" (default) or "ladder"]
//
// "ladder" times the steps a put and a get are made of, each adding one stage to the one before,
// with only the resident pages stored (every structure in cache): a hypercall the VMM refuses at
// once, one it decodes and dispatches to a pool that does not exist, one whose lookup misses, a put
// over a page already stored, a get that hits.
import { HYPERVISOR_tmem_op } from "../../hypercall-abi/constants";
import { argString, argU32 } from "../kernel/args";
import { framesInit, frameAlloc } from "../kernel/frames";
import { pageFill } from "../kernel/page-ops";
import { randomBelow, randomSeed } from "../kernel/random";
import { hypercall1 } from "../kernel/hypercall";
import { OP, poolFlags, tmemFlushObject, tmemFlushPage, tmemGetPage, tmemNewPool, tmemPutPage } from "../kernel/tmem";

const resident = argU32(1, 1024);
const n = argU32(2, 100000);
const reps = argU32(3, 5);
const ladder = argString(4, "ops") == "ladder";
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

/** Not __HYPERVISOR_tmem_op: the VMM answers -ENOSYS before it reads anything. */
const NOT_TMEM: u64 = HYPERVISOR_tmem_op + 1;
/** A pool id in range whose slot is empty: -ENODEV after the struct is decoded and dispatched. */
const NO_POOL: i32 = 15;

for (let rep: u32 = 0; ladder && rep < reps; rep++) {
  // Every loop draws a random page per op, so each step differs from the one before by its stage alone.
  let t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    randomBelow(resident);
    hypercall1(NOT_TMEM, <u64>OP);
  }
  report("ladder-enosys", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemGetPage(NO_POOL, <u64>(p >> 4), 0, 0, p & 15, dst);
  }
  report("ladder-enodev", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemGetPage(pool, <u64>(p >> 4), 0, 0, 16 + (p & 15), dst);
  }
  report("ladder-get-miss", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemPutPage(pool, <u64>(p >> 4), 0, 0, p & 15, src);
  }
  report("ladder-put-again", rep, n, performance.now() - t);

  t = performance.now();
  for (let i: u32 = 0; i < n; i++) {
    const p = randomBelow(resident);
    tmemGetPage(pool, <u64>(p >> 4), 0, 0, p & 15, dst);
  }
  report("ladder-get-hit", rep, n, performance.now() - t);
}

const FRESH: u64 = 0x100000000;
for (let rep: u32 = 0; !ladder && rep < reps; rep++) {
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
