// The in-guest fuzzer: seeded random hypercalls from inside the VM, so the real Wasm -> VMM path
// is fuzzed too. Most ops are well formed on the guest's own pools, the rest are random structs,
// registers and pointers. It checks what a guest can: every result is one the spec allows for
// its op, and its persistent pages always come back exactly as put: dense pages, and sparse
// ones (all zero but one byte, anywhere, the last 64 bytes included).
// Arguments: [seed] [hypercalls]   Exits 0 if nothing was wrong.
import {
  EEMPTY, EFAULT, EFROZEN, ENODEV, ENOMEM, ENOSPC, ENOSYS, EOPNOTSUPP, EPERM, HYPERVISOR_tmem_op,
  MAX_POOLS_PER_DOMAIN, TMEM_DESTROY_POOL, TMEM_FLUSH_OBJECT, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE, TMEM_PUT_PAGE,
} from "../../hypercall-abi/constants";
import { TMEM_OP_CMD, TMEM_OP_POOL_ID, TMEM_OP_SIZE } from "../../hypercall-abi/generated/tmem-op-x86_64";
import { argU32 } from "../kernel/args";
import { framesInit, frameAlloc, pfnToAddr } from "../kernel/frames";
import { hypercall5 } from "../kernel/hypercall";
import { pageFill, pageHasPattern, pageSet } from "../kernel/page-ops";
import { randomBelow, randomSeed, randomU32 } from "../kernel/random";
import { OP, poolFlags, tmemDestroyPool, tmemFlushObject, tmemFlushPage, tmemGenOp, tmemGetPage, tmemNewPool, tmemOpAt, tmemPutPage } from "../kernel/tmem";

const seed = argU32(1, 1);
const calls = argU32(2, 20000);
randomSeed(seed);
framesInit();
const src = <u32>frameAlloc();
const dst = <u32>frameAlloc();
const ramBytes: u64 = <u64>memory.size() << 16;

const per = tmemNewPool(0, 0, poolFlags(true, false));
const eph = tmemNewPool(0, 0, poolFlags(false, false));
// What this guest put to its persistent pool: the fill seed of each (object, index), 0 = known
// absent, UNKNOWN = a random op may have changed it.
const OBJECTS: u32 = 4;
const INDEXES: u32 = 8;
const stored = new StaticArray<u32>(OBJECTS * INDEXES);
const UNKNOWN: u32 = 0xffffffff;
let violations = 0;

/** A sparse page's record in `stored`: the flag, the byte's position and its value. */
const SPARSE: u32 = 0x80000000;

/** Fills `pfn` as record `s` says: a pattern, or zeros with one byte set. */
function fillAs(pfn: u32, s: u32): void {
  if ((s & SPARSE) === 0) {
    pageFill(pfn, s);
    return;
  }
  pageSet(pfn, 0);
  store<u8>(pfnToAddr(pfn) + ((s >> 8) & (TMEM_PAGE_SIZE - 1)), <u8>(s & 255));
}

/** True if `pfn` holds what record `s` says. */
function holds(pfn: u32, s: u32): bool {
  if ((s & SPARSE) === 0) return pageHasPattern(pfn, s);
  const base = pfnToAddr(pfn);
  const at = (s >> 8) & (TMEM_PAGE_SIZE - 1);
  for (let i: u32 = 0; i < <u32>TMEM_PAGE_SIZE; i++) {
    if (load<u8>(base + i) !== (i === at ? <u8>(s & 255) : 0)) return false;
  }
  return true;
}

function bad(what: string, r: i32): void {
  violations++;
  if (violations <= 10) console.log("fuzzer: " + what + " returned " + r.toString());
}

for (let i: u32 = 0; i < calls; i++) {
  const kind = randomBelow(10);
  const o = randomBelow(OBJECTS);
  const x = randomBelow(INDEXES);
  if (kind < 3) {
    // One put in three is sparse; half of those set a byte in the page's last 64.
    const at: u32 = randomBelow(2) === 0 ? TMEM_PAGE_SIZE - 64 + randomBelow(64) : randomBelow(TMEM_PAGE_SIZE);
    const s: u32 = randomBelow(3) === 0 ? SPARSE | (at << 8) | (1 + randomBelow(255)) : (i << 8) | 1;
    fillAs(src, s);
    const r = tmemPutPage(per, o, 0, 0, x, src);
    if (r === 1) stored[o * INDEXES + x] = s;
    else if (r === -ENOMEM || r === -ENOSPC) stored[o * INDEXES + x] = 0;
    else bad("persistent put", r);
  } else if (kind < 5) {
    const r = tmemGetPage(per, o, 0, 0, x, dst);
    const s = stored[o * INDEXES + x];
    if (s === UNKNOWN) {
      if (r !== 0 && r !== 1 && r !== -EEMPTY) bad("get of a persistent page", r);
    } else if (s !== 0) {
      if (r !== 1 || !holds(dst, s)) bad("get of a stored persistent page", r);
    } else if (r !== 0 && r !== -EEMPTY) bad("get of an absent persistent page", r);
  } else if (kind < 6) {
    const r = tmemFlushPage(per, o, 0, 0, x);
    if (r !== 1) bad("flush page", r);
    stored[o * INDEXES + x] = 0;
  } else if (kind < 7) {
    pageFill(src, i);
    const p = tmemPutPage(eph, o, 0, 0, x, src);
    if (p !== 1 && p !== -ENOMEM) bad("ephemeral put", p);
    const g = tmemGetPage(eph, o, 0, 0, x, dst);
    if (g === 1 && !pageHasPattern(dst, i)) bad("ephemeral get returned other data", g);
    if (g !== 1 && g !== 0 && g !== -EEMPTY) bad("ephemeral get", g);
  } else if (kind < 8) {
    // A random struct at the op buffer: any command, pool id, oid, index, frame.
    for (let b: usize = 0; b < <usize>TMEM_OP_SIZE; b += 4) store<u32>(OP + b, randomU32());
    const cmd = randomBelow(3) === 0 ? randomU32() : randomBelow(12);
    store<u32>(OP + TMEM_OP_CMD, cmd);
    if (randomBelow(2) === 0) store<i32>(OP + TMEM_OP_POOL_ID, <i32>randomBelow(20) - 2);
    // Random destroys may take any pool but the two this fuzzer keeps using.
    if (cmd === TMEM_DESTROY_POOL && (load<i32>(OP + TMEM_OP_POOL_ID) === per || load<i32>(OP + TMEM_OP_POOL_ID) === eph)) store<i32>(OP + TMEM_OP_POOL_ID, 9);
    const r = tmemOpAt(OP);
    if (r < -EEMPTY || r > MAX_POOLS_PER_DOMAIN) bad("random struct", r);
    if (cmd === TMEM_PUT_PAGE || cmd === TMEM_GET_PAGE || cmd === TMEM_FLUSH_PAGE || cmd === TMEM_FLUSH_OBJECT) {
      // It may have touched the persistent pool: forget what it may have changed.
      if (load<i32>(OP + TMEM_OP_POOL_ID) === per) for (let k: u32 = 0; k < OBJECTS * INDEXES; k++) stored[k] = UNKNOWN;
    }
  } else if (kind < 9) {
    // Random registers: the hypercall number and a pointer anywhere in 64 bits.
    const nr: u64 = randomBelow(4) === 0 ? (<u64>randomU32() << 32) | randomU32() : HYPERVISOR_tmem_op;
    const ptr: u64 = randomBelow(2) === 0 ? ramBytes - <u64>randomBelow(64) : (<u64>randomU32() << 32) | randomU32();
    const r = <i32>hypercall5(nr, ptr, randomU32(), randomU32(), randomU32(), randomU32());
    if (nr !== HYPERVISOR_tmem_op && r !== -ENOSYS) bad("unknown hypercall", r);
    if (nr === HYPERVISOR_tmem_op && ptr + TMEM_OP_SIZE > ramBytes && r !== -EFAULT) bad("struct outside RAM", r);
    if (r < -EEMPTY || r > MAX_POOLS_PER_DOMAIN) bad("random registers", r);
  } else {
    const cmd = randomBelow(12);
    let pool = <i32>randomBelow(20) - 2;
    if (cmd === TMEM_DESTROY_POOL && (pool === per || pool === eph)) pool = 9;
    const r = tmemGenOp(cmd, pool, o, x, randomBelow(4) === 0 ? ramBytes >> TMEM_PAGE_SHIFT : <u64>dst);
    const allowed = r === 0 || r === 1 || r === -ENODEV || r === -ENOSYS || r === -EFAULT || r === -EEMPTY || r === -EPERM ||
      r === -EOPNOTSUPP || r === -ENOMEM || r === -ENOSPC || r === -EFROZEN || (r >= 0 && r < MAX_POOLS_PER_DOMAIN);
    if (!allowed) bad("random op", r);
    for (let k: u32 = 0; k < OBJECTS * INDEXES; k++) stored[k] = UNKNOWN;
  }
}
// Every persistent page it still believes in must come back.
for (let k: u32 = 0; k < OBJECTS * INDEXES; k++) {
  const s = stored[k];
  if (s === 0 || s === UNKNOWN) continue;
  const r = tmemGetPage(per, k / INDEXES, 0, 0, k % INDEXES, dst);
  if (r !== 1 || !holds(dst, s)) bad("final check of a persistent page", r);
}
tmemFlushObject(per, 0, 0, 0);
tmemDestroyPool(per);
tmemDestroyPool(eph);
console.log("fuzzer: " + calls.toString() + " hypercalls, seed " + seed.toString() + ", " + violations.toString() + " violations");
process.exit(violations === 0 ? 0 : 1);
