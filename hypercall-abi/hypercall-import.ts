// The guest's side of the hypercall: the one Wasm import through which a guest traps into the
// VMM, as the VMM checks it at load and as the generated C header declares it.
//
// A Xen x86-64 guest puts the hypercall number in rax and its arguments in rdi, rsi, rdx, r10
// and r8, and reads the result from rax. Each 64-bit register crosses the import as two i32
// halves, low then high (an i64 would cross into JavaScript as a BigInt, one allocation per
// value per call); the result is the low 32 bits of rax, which the guest sign-extends.

export const HYPERCALL_IMPORT_MODULE = "xen";
export const HYPERCALL_IMPORT_NAME = "hypercall";

/** The registers the import carries, in parameter order. */
export const HYPERCALL_REGISTERS = ["rax", "rdi", "rsi", "rdx", "r10", "r8"] as const;

/** i32 parameters of the import: two halves per register. */
export const HYPERCALL_PARAMS = HYPERCALL_REGISTERS.length * 2;
