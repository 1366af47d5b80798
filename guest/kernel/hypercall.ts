// The guest's side of the one hypercall entry. The VMM exposes x86-64 register semantics:
// rax (the hypercall number) and five argument registers, each 64 bits, passed as (lo, hi) i32
// halves; rax comes back as i32 and is sign-extended here, as every result is a long that fits.

// asc takes only literals in @external: these are hypercall-abi/hypercall-import.ts's module and
// name, which test/integration/c-guest.test.ts checks them against.
@external("xen", "hypercall")
declare function xen_hypercall(
  raxLo: i32, raxHi: i32,
  rdiLo: i32, rdiHi: i32,
  rsiLo: i32, rsiHi: i32,
  rdxLo: i32, rdxHi: i32,
  r10Lo: i32, r10Hi: i32,
  r8Lo: i32, r8Hi: i32,
): i32;

// @ts-ignore: decorator
@inline function lo(x: u64): i32 { return <i32>x; }
// @ts-ignore: decorator
@inline function hi(x: u64): i32 { return <i32>(x >>> 32); }

/** A hypercall with all five argument registers. */
export function hypercall5(nr: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64): i64 {
  return <i64>xen_hypercall(lo(nr), hi(nr), lo(a1), hi(a1), lo(a2), hi(a2), lo(a3), hi(a3), lo(a4), hi(a4), lo(a5), hi(a5));
}

/** A one-argument hypercall (tmem_op takes one: the address of its struct). */
export function hypercall1(nr: u64, a1: u64): i64 {
  return <i64>xen_hypercall(lo(nr), hi(nr), lo(a1), hi(a1), 0, 0, 0, 0, 0, 0, 0, 0);
}
