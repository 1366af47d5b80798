// The self-test guest: every tmem op, hits and misses, each error path, with page contents
// checked in Wasm. Exits 0 only if everything passed.
import {
  EEMPTY, EFAULT, ENODEV, ENOSYS, EOPNOTSUPP, EPERM, HYPERVISOR_kexec_op, HYPERVISOR_tmem_op,
  MAX_POOLS_PER_DOMAIN, TMEM_CONTROL, TMEM_AUTH, TMEM_RESTORE_NEW, TMEM_NEW_PAGE, TMEM_READ,
  TMEM_XCHG, TMEM_POOL_PRECOMPRESSED, TMEM_POOL_RESERVED_BITS, TMEM_POOL_PAGESIZE_SHIFT,
  TMEM_POOL_VERSION_SHIFT, TMEM_PUT_PAGE,
} from "../../hypercall-abi/constants";
import { TMEM_OP_SIZE, TMEM_OP_CMD, TMEM_OP_POOL_ID } from "../../hypercall-abi/generated/tmem-op-x86_64";
import { hypercall1 } from "../kernel/hypercall";
import {
  OP, tmemOpAt, poolFlags, tmemNewPool, tmemDestroyPool, tmemPutPage, tmemGetPage,
  tmemFlushPage, tmemFlushObject, tmemGenOp,
} from "../kernel/tmem";
import { framesInit, frameAlloc, framesTotal } from "../kernel/frames";
import { pageFill, pageHasPattern, pageSet, pageEqual, pageChecksum } from "../kernel/page-ops";
import { expectEq, expectTrue, finish } from "../kernel/check";

framesInit();
console.log("selftest: " + framesTotal().toString() + " frames of RAM for pages");
const a = <u32>frameAlloc();
const b = <u32>frameAlloc();
const c = <u32>frameAlloc();
const ramFrames: u64 = <u64>memory.size() << 4; // 64 KiB Wasm pages -> 4 KiB frames
const ramBytes: u64 = <u64>memory.size() << 16;

// ---- pools ----
const eph = tmemNewPool(0, 0, poolFlags(false, false));
expectEq("new private ephemeral pool gets the lowest slot", eph, 0);
const per = tmemNewPool(0, 0, poolFlags(true, false));
expectEq("new private persistent pool gets the next slot", per, 1);

// ---- persistent: put, get (non-destructive), coherency ----
pageFill(a, 11);
expectEq("persistent put", tmemPutPage(per, 7, 0, 0, 3, a), 1);
pageSet(b, 0);
expectEq("persistent get hit", tmemGetPage(per, 7, 0, 0, 3, b), 1);
expectTrue("persistent get returns the bytes put", pageHasPattern(b, 11));
pageSet(b, 0);
expectEq("persistent get is not destructive", tmemGetPage(per, 7, 0, 0, 3, b), 1);
expectTrue("second get returns the same bytes", pageHasPattern(b, 11));
expectEq("get miss on another index", tmemGetPage(per, 7, 0, 0, 4, b), 0);
expectEq("get miss on another object", tmemGetPage(per, 8, 0, 0, 3, b), 0);
expectEq("get miss on an object differing only in oid[2]", tmemGetPage(per, 7, 0, 1, 3, b), 0);
pageFill(c, 22);
expectEq("duplicate put replaces", tmemPutPage(per, 7, 0, 0, 3, c), 1);
pageSet(b, 0);
tmemGetPage(per, 7, 0, 0, 3, b);
expectTrue("put-put-get returns the newer data", pageHasPattern(b, 22));
expectEq("duplicate put from a frame beyond RAM fails", tmemPutPage(per, 7, 0, 0, 3, ramFrames), -EFAULT);
expectEq("...and leaves no stale copy", tmemGetPage(per, 7, 0, 0, 3, b), -EEMPTY);

// ---- ephemeral: destructive get, EEMPTY ----
pageFill(a, 33);
expectEq("ephemeral get on an empty pool", tmemGetPage(eph, 1, 0, 0, 0, b), -EEMPTY);
expectEq("ephemeral put", tmemPutPage(eph, 1, 0, 0, 0, a), 1);
expectEq("ephemeral put, second page", tmemPutPage(eph, 1, 0, 0, 1, a), 1);
pageSet(b, 0);
expectEq("ephemeral get hit", tmemGetPage(eph, 1, 0, 0, 0, b), 1);
expectTrue("ephemeral get returns the bytes put", pageEqual(a, b));
expectEq("private ephemeral get is destructive", tmemGetPage(eph, 1, 0, 0, 0, b), 0);
expectEq("get into a frame beyond RAM", tmemGetPage(eph, 1, 0, 0, 1, ramFrames), -EFAULT);
expectEq("...keeps the page", tmemGetPage(eph, 1, 0, 0, 1, b), 1);
expectEq("pool emptied by gets reports EEMPTY", tmemGetPage(eph, 1, 0, 0, 1, b), -EEMPTY);

// ---- flushes ----
for (let i: u32 = 0; i < 8; i++) {
  pageFill(a, 100 + i);
  tmemPutPage(per, 42, 43, 44, i, a);
}
expectEq("flush page", tmemFlushPage(per, 42, 43, 44, 5), 1);
expectEq("flushed page is gone", tmemGetPage(per, 42, 43, 44, 5, b), 0);
expectEq("flush of a missing page still returns 1", tmemFlushPage(per, 42, 43, 44, 5), 1);
pageSet(b, 0);
tmemGetPage(per, 42, 43, 44, 6, b);
expectTrue("neighbour page intact", pageHasPattern(b, 106));
const sum = pageChecksum(b);
pageSet(c, 0);
tmemGetPage(per, 42, 43, 44, 6, c);
expectTrue("checksum of two gets agrees", pageChecksum(c) === sum);
expectEq("flush object", tmemFlushObject(per, 42, 43, 44), 1);
expectEq("every page of the object is gone", tmemGetPage(per, 42, 43, 44, 0, b), -EEMPTY);
expectEq("flush of a missing object still returns 1", tmemFlushObject(per, 42, 43, 44), 1);

// ---- pool id checks ----
pageFill(a, 55);
expectEq("put to pool id 16", tmemPutPage(16, 1, 0, 0, 0, a), -ENODEV);
expectEq("put to pool id -1", tmemPutPage(-1, 1, 0, 0, 0, a), -ENODEV);
expectEq("get from pool id 0x7fffffff", tmemGetPage(0x7fffffff, 1, 0, 0, 0, a), -ENODEV);
expectEq("put to an empty slot", tmemPutPage(9, 1, 0, 0, 0, a), -ENODEV);
expectEq("destroy pool id 99", tmemDestroyPool(99), 0);
expectEq("destroy pool id -5", tmemDestroyPool(-5), 0);
expectEq("destroy an empty slot", tmemDestroyPool(9), 0);

// ---- commands ----
expectEq("unknown command 77 on a valid pool", tmemGenOp(77, per, 1, 0, a), -ENOSYS);
expectEq("unknown command 77 on a bad pool", tmemGenOp(77, 12, 1, 0, a), -ENODEV);
expectEq("retired NEW_PAGE", tmemGenOp(TMEM_NEW_PAGE, per, 1, 0, a), -ENOSYS);
expectEq("retired READ", tmemGenOp(TMEM_READ, per, 1, 0, a), -ENOSYS);
expectEq("retired XCHG", tmemGenOp(TMEM_XCHG, per, 1, 0, a), -ENOSYS);
expectEq("TMEM_CONTROL from a guest", tmemGenOp(TMEM_CONTROL, per, 0, 0, 0), -EOPNOTSUPP);
expectEq("TMEM_AUTH from a guest", tmemGenOp(TMEM_AUTH, 0, 0, 0, 0), -EOPNOTSUPP);
expectEq("TMEM_RESTORE_NEW from a guest", tmemGenOp(TMEM_RESTORE_NEW, 0, 0, 0, 0), -EOPNOTSUPP);
expectEq("put from a frame beyond RAM", tmemPutPage(per, 1, 0, 0, 0, ramFrames), -EFAULT);
expectEq("put from a frame number above 4G frames", tmemPutPage(per, 1, 0, 0, 0, 0x100000000 + <u64>a), -EFAULT);

// ---- NEW_POOL flag checks ----
const v1: u32 = 1 << TMEM_POOL_VERSION_SHIFT;
expectEq("new pool with version 0", tmemNewPool(0, 0, 0), -EPERM);
expectEq("new pool with version 2", tmemNewPool(0, 0, 2 << TMEM_POOL_VERSION_SHIFT), -EPERM);
expectEq("new pool with 8 KiB pages", tmemNewPool(0, 0, v1 | (1 << TMEM_POOL_PAGESIZE_SHIFT)), -EPERM);
expectEq("new pool precompressed", tmemNewPool(0, 0, v1 | TMEM_POOL_PRECOMPRESSED), -EPERM);
expectEq("new pool with a reserved bit", tmemNewPool(0, 0, v1 | (TMEM_POOL_RESERVED_BITS & 0x100)), -EPERM);
expectEq("new pool shared and persistent", tmemNewPool(1, 2, poolFlags(true, true)), -EPERM);
expectEq("unused flag bit 3 is ignored", tmemNewPool(0, 0, v1 | 8), 2);
expectEq("unauthorised shared pool becomes private", tmemNewPool(1, 2, poolFlags(false, true)), 3);
let made = 0;
for (let i = 0; i < MAX_POOLS_PER_DOMAIN; i++) if (tmemNewPool(0, 0, poolFlags(false, false)) >= 0) made++;
expectEq("pools until all 16 slots are full", made, MAX_POOLS_PER_DOMAIN - 4);
expectEq("17th pool", tmemNewPool(0, 0, poolFlags(false, false)), -EPERM);

// ---- the boundary ----
expectEq("hypercall number 37", <i32>hypercall1(HYPERVISOR_kexec_op, <u64>OP), -ENOSYS);
expectEq("hypercall number 38 + 2^32", <i32>hypercall1(<u64>HYPERVISOR_tmem_op | 0x100000000, <u64>OP), -ENOSYS);
expectEq("struct pointer past RAM", tmemOpAt(<usize>ramBytes), -EFAULT);
expectEq("struct pointer straddling the end of RAM", <i32>hypercall1(HYPERVISOR_tmem_op, ramBytes - TMEM_OP_SIZE + 8), -EFAULT);
expectEq("struct pointer above 4 GiB", <i32>hypercall1(HYPERVISOR_tmem_op, 0x100000000 + <u64>OP), -EFAULT);
expectEq("struct pointer at -1", <i32>hypercall1(HYPERVISOR_tmem_op, 0xffffffffffffffff), -EFAULT);
// A struct that ends exactly at the end of RAM is fine.
const last = <usize>ramBytes - TMEM_OP_SIZE;
memory.copy(last, OP, TMEM_OP_SIZE);
store<u32>(last + TMEM_OP_CMD, TMEM_PUT_PAGE);
store<i32>(last + TMEM_OP_POOL_ID, -1);
expectEq("struct ending exactly at the end of RAM is read", tmemOpAt(last), -ENODEV);

// ---- destroy ----
expectEq("destroy pool", tmemDestroyPool(per), 1);
expectEq("ops on a destroyed pool", tmemGetPage(per, 1, 0, 0, 0, b), -ENODEV);
expectEq("destroy it again", tmemDestroyPool(per), 0);
// The slot comes back holding the new pool, of the new kind (ephemeral where the old one was
// persistent), not the old pool's pages or rules.
expectEq("its slot is reused first", tmemNewPool(0, 0, poolFlags(false, false)), per);
expectEq("the reused pool starts empty", tmemGetPage(per, 7, 0, 0, 3, b), -EEMPTY);
pageFill(a, 77);
expectEq("the reused slot's pool takes a put", tmemPutPage(per, 7, 0, 0, 3, a), 1);
pageSet(b, 0);
expectEq("...a get hits", tmemGetPage(per, 7, 0, 0, 3, b), 1);
expectTrue("...with the bytes put", pageHasPattern(b, 77));
expectEq("...and took the page: the pool is private ephemeral", tmemGetPage(per, 7, 0, 0, 3, b), -EEMPTY);

finish("selftest");
