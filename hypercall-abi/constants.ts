// The numbers of Xen's tmem ABI, as Xen's public headers define them.
//
// This file is compiled by both tsc (the VMM, tests) and asc (the AssemblyScript guest), so it
// has no imports and holds only integer literals that fit in an i32: asc infers `i32` for each,
// tsc `number`. Nothing else in the repository may restate one of these values.

// ---- Hypercall numbers (public/xen.h) ----
export const HYPERVISOR_kexec_op = 37;
export const HYPERVISOR_tmem_op = 38;
export const HYPERVISOR_argo_op = 39;

// ---- struct tmem_op.cmd ----
// Retired numbers stay reserved: a command number is never reused.
export const TMEM_CONTROL = 0;
export const TMEM_NEW_POOL = 1;
export const TMEM_DESTROY_POOL = 2;
export const TMEM_NEW_PAGE = 3;
export const TMEM_PUT_PAGE = 4;
export const TMEM_GET_PAGE = 5;
export const TMEM_FLUSH_PAGE = 6;
export const TMEM_FLUSH_OBJECT = 7;
export const TMEM_READ = 8;
export const TMEM_WRITE = 9;
export const TMEM_XCHG = 10;
export const TMEM_AUTH = 101;
export const TMEM_RESTORE_NEW = 102;

// ---- TMEM_CONTROL sub-ops (u.ctrl.subop, Xen 4.0-4.5) ----
export const TMEMC_THAW = 0;
export const TMEMC_FREEZE = 1;
export const TMEMC_FLUSH = 2;
export const TMEMC_DESTROY = 3;
export const TMEMC_LIST = 4;
export const TMEMC_SET_WEIGHT = 5;
export const TMEMC_SET_CAP = 6;
export const TMEMC_SET_COMPRESS = 7;
export const TMEMC_QUERY_FREEABLE_MB = 8;
export const TMEMC_SAVE_BEGIN = 10;
export const TMEMC_SAVE_GET_VERSION = 11;
export const TMEMC_SAVE_GET_MAXPOOLS = 12;
export const TMEMC_SAVE_GET_CLIENT_WEIGHT = 13;
export const TMEMC_SAVE_GET_CLIENT_CAP = 14;
export const TMEMC_SAVE_GET_CLIENT_FLAGS = 15;
export const TMEMC_SAVE_GET_POOL_FLAGS = 16;
export const TMEMC_SAVE_GET_POOL_NPAGES = 17;
export const TMEMC_SAVE_GET_POOL_UUID = 18;
export const TMEMC_SAVE_GET_NEXT_PAGE = 19;
export const TMEMC_SAVE_GET_NEXT_INV = 20;
export const TMEMC_SAVE_END = 21;
export const TMEMC_RESTORE_BEGIN = 30;
export const TMEMC_RESTORE_PUT_PAGE = 32;
export const TMEMC_RESTORE_FLUSH_PAGE = 33;
/** cli_id meaning "every client" (a 32-bit 0xFFFFFFFF truncates to it, as domid_t). */
export const TMEM_CLI_ID_ALL = 0xffff;
/** Legacy save-stream client flag bits. */
export const TMEM_CLIENT_COMPRESS = 1;
export const TMEM_CLIENT_FROZEN = 2;

// ---- Pool flags (u.creat.flags) ----
//   31      24 23              8 7    4 3 2 1 0
//  +----------+-----------------+------+-+-+-+-+
//  | version  |  reserved (0)   | size |?|C|S|P|   P persist, S shared, C precompressed,
//  +----------+-----------------+------+-+-+-+-+   size = log2(page size) - 12, ? ignored
export const TMEM_POOL_PERSIST = 1;
export const TMEM_POOL_SHARED = 2;
export const TMEM_POOL_PRECOMPRESSED = 4;
export const TMEM_POOL_PAGESIZE_SHIFT = 4;
export const TMEM_POOL_PAGESIZE_MASK = 0xf;
export const TMEM_POOL_VERSION_SHIFT = 24;
export const TMEM_POOL_VERSION_MASK = 0xff;
export const TMEM_POOL_RESERVED_BITS = 0x00ffff00;
/** The spec version Xen 4.0.2+ puts in (and demands of) the pool flags' version field. */
export const TMEM_SPEC_VERSION = 1;
/** The version Xen 4.0.0/4.0.1 used; they had no public define. */
export const TMEM_SPEC_VERSION_LEGACY = 0;

// ---- Limits ----
export const MAX_POOLS_PER_DOMAIN = 16;
export const MAX_GLOBAL_SHARED_POOLS = 16;
export const TMEM_PAGE_SHIFT = 12;
export const TMEM_PAGE_SIZE = 4096;

// ---- errno (Xen's numbering is Linux x86's); results are their negations ----
export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOSYS = 38;
export const EOPNOTSUPP = 95;
/** tmem's own: the client is frozen. */
export const EFROZEN = 1000;
/** tmem's own: get from a pool that holds no pages at all. */
export const EEMPTY = 1001;
