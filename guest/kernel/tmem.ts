// tmem_op wrappers that lay out the struct as Linux's Xen tmem driver did: an op struct that is
// never zeroed, every u.gen field written for data ops (offsets and len 0), and only cmd, uuid and
// flags written for NEW_POOL (pool_id and arg1 keep whatever the last op left there).
import {
  HYPERVISOR_tmem_op, TMEM_NEW_POOL, TMEM_DESTROY_POOL, TMEM_PUT_PAGE, TMEM_GET_PAGE,
  TMEM_FLUSH_PAGE, TMEM_FLUSH_OBJECT, TMEM_POOL_PERSIST, TMEM_POOL_SHARED,
  TMEM_POOL_VERSION_SHIFT, TMEM_SPEC_VERSION, TMEM_POOL_PAGESIZE_SHIFT,
} from "../../hypercall-abi/constants";
import {
  TMEM_OP_SIZE, TMEM_OP_CMD, TMEM_OP_POOL_ID, TMEM_OP_CREAT_UUID, TMEM_OP_CREAT_FLAGS,
  TMEM_OP_GEN_OID, TMEM_OP_GEN_INDEX, TMEM_OP_GEN_TMEM_OFFSET, TMEM_OP_GEN_PFN_OFFSET,
  TMEM_OP_GEN_LEN, TMEM_OP_GEN_CMFN,
} from "../../hypercall-abi/generated/tmem-op-x86_64";
import { hypercall1 } from "./hypercall";

/** The op struct, reused like Linux's on-stack one (and, like it, never cleared). */
export const OP: usize = memory.data(TMEM_OP_SIZE, 8);

/** Issues tmem_op on the struct at `op` and narrows the long result (all results fit in i32). */
export function tmemOpAt(op: usize): i32 {
  return <i32>hypercall1(HYPERVISOR_tmem_op, <u64>op);
}

/** Pool flags as Linux computes them: 4 KiB pages, spec version 1. */
export function poolFlags(persistent: bool, shared: bool): u32 {
  return (persistent ? TMEM_POOL_PERSIST : 0) | (shared ? TMEM_POOL_SHARED : 0) |
    (0 << TMEM_POOL_PAGESIZE_SHIFT) | (TMEM_SPEC_VERSION << TMEM_POOL_VERSION_SHIFT);
}

export function tmemNewPool(uuidLo: u64, uuidHi: u64, flags: u32): i32 {
  store<u32>(OP + TMEM_OP_CMD, TMEM_NEW_POOL);
  store<u64>(OP + TMEM_OP_CREAT_UUID, uuidLo);
  store<u64>(OP + TMEM_OP_CREAT_UUID + 8, uuidHi);
  store<u32>(OP + TMEM_OP_CREAT_FLAGS, flags);
  return tmemOpAt(OP);
}

function genOp(cmd: u32, poolId: i32, oid0: u64, oid1: u64, oid2: u64, index: u32, pfn: u64): i32 {
  store<u32>(OP + TMEM_OP_CMD, cmd);
  store<i32>(OP + TMEM_OP_POOL_ID, poolId);
  store<u64>(OP + TMEM_OP_GEN_OID, oid0);
  store<u64>(OP + TMEM_OP_GEN_OID + 8, oid1);
  store<u64>(OP + TMEM_OP_GEN_OID + 16, oid2);
  store<u32>(OP + TMEM_OP_GEN_INDEX, index);
  store<u32>(OP + TMEM_OP_GEN_TMEM_OFFSET, 0);
  store<u32>(OP + TMEM_OP_GEN_PFN_OFFSET, 0);
  store<u32>(OP + TMEM_OP_GEN_LEN, 0);
  store<u64>(OP + TMEM_OP_GEN_CMFN, pfn);
  return tmemOpAt(OP);
}

export function tmemDestroyPool(poolId: i32): i32 {
  return genOp(TMEM_DESTROY_POOL, poolId, 0, 0, 0, 0, 0);
}

export function tmemPutPage(poolId: i32, oid0: u64, oid1: u64, oid2: u64, index: u32, pfn: u64): i32 {
  return genOp(TMEM_PUT_PAGE, poolId, oid0, oid1, oid2, index, pfn);
}

export function tmemGetPage(poolId: i32, oid0: u64, oid1: u64, oid2: u64, index: u32, pfn: u64): i32 {
  return genOp(TMEM_GET_PAGE, poolId, oid0, oid1, oid2, index, pfn);
}

export function tmemFlushPage(poolId: i32, oid0: u64, oid1: u64, oid2: u64, index: u32): i32 {
  return genOp(TMEM_FLUSH_PAGE, poolId, oid0, oid1, oid2, index, 0);
}

export function tmemFlushObject(poolId: i32, oid0: u64, oid1: u64, oid2: u64): i32 {
  return genOp(TMEM_FLUSH_OBJECT, poolId, oid0, oid1, oid2, 0, 0);
}

/** Any command on the data-op layout: for exercising commands the front ends never send. */
export function tmemGenOp(cmd: u32, poolId: i32, oid0: u64, index: u32, pfn: u64): i32 {
  return genOp(cmd, poolId, oid0, 0, 0, index, pfn);
}
