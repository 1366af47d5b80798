// The decoded arguments of one tmem_op, as the dispatcher consumes them. The boundary fills one
// reusable instance per domain from the guest's struct copy, so a hypercall allocates nothing.
import type { PoolId } from "../tmem/ids.js";

export class OpArgs {
  cmd = 0;
  /** pool_id as the guest's int32 (branded where it is decoded: op-reader.ts). */
  poolId = 0 as PoolId;
  // u.gen
  /** Object id as six 32-bit words, least significant first: oid[0].lo, oid[0].hi, oid[1].lo, ... */
  readonly oid = new Uint32Array(6);
  index = 0;
  tmemOffset = 0;
  pfnOffset = 0;
  len = 0;
  // u.creat
  /** uuid[0].lo, uuid[0].hi, uuid[1].lo, uuid[1].hi */
  readonly uuid = new Uint32Array(4);
  flags = 0;
  arg1 = 0;
  // u.ctrl (layouts that have it)
  subop = 0;
  cliId = 0;
  ctrlArg1 = 0;
  ctrlArg2 = 0;
  /** ctrl.buf, a guest address, as (lo, hi). */
  ctrlBufLo = 0;
  ctrlBufHi = 0;
}
