// The host's own reads and writes of a domain's RAM and its own hypercalls as that domain, as an
// ABI tester makes them: any 64-bit address, aligned or not, inside RAM or not. A range that is
// not wholly RAM is refused as a GuestAddressError carrying the address, before any byte moves;
// register values outside 64 bits as a RegisterValueError. Guest RAM is reached through the
// domain's GuestMemory (range, frame, bytes) only.
import { TMEM_PAGE_SHIFT, TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { HYPERCALL_REGISTERS } from "../../hypercall-abi/hypercall-import.js";
import type { Domain } from "./domain.js";
import { NOT_RAM, type GuestAddress, type Gfn } from "../boundary/guest-memory.js";

/** A guest-physical address or frame number as a caller may give it. */
export type GuestNumber = bigint | number;

const U64 = (1n << 64n) - 1n;

/** A range of guest-physical addresses that is not wholly inside the domain's RAM. */
export class GuestAddressError extends RangeError {
  constructor(
    /** The first byte asked for. */
    readonly address: bigint,
    /** How many bytes from there. */
    readonly length: number,
    /** The domain's RAM size: valid addresses are 0 .. ramBytes - 1. */
    readonly ramBytes: number,
  ) {
    super(`guest address 0x${address.toString(16)} + ${length} bytes is not inside RAM (0x0 .. 0x${(ramBytes - 1).toString(16)})`);
    this.name = "GuestAddressError";
  }
}

/** A frame number that is not one of the domain's frames. */
export class GuestFrameError extends GuestAddressError {
  constructor(
    readonly pfn: bigint,
    ramBytes: number,
  ) {
    super(pfn << BigInt(TMEM_PAGE_SHIFT), TMEM_PAGE_SIZE, ramBytes);
    this.message = `guest frame ${pfn} is not RAM (frames 0 .. ${ramBytes / TMEM_PAGE_SIZE - 1})`;
    this.name = "GuestFrameError";
  }
}

/** A value that does not fit a 64-bit register, named with the register it was for. */
export class RegisterValueError extends RangeError {
  constructor(
    readonly register: string,
    readonly value: unknown,
  ) {
    super(`${register} must be a whole number in -2^63 .. 2^64-1, got ${String(value)}`);
    this.name = "RegisterValueError";
  }
}

/** `value` as an unsigned 64-bit register (a negative value as its two's complement). */
export function register64(name: string, value: GuestNumber): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new RegisterValueError(name, value);
  const v = BigInt(value);
  if (v < -(1n << 63n) || v > U64) throw new RegisterValueError(name, value);
  return v & U64;
}

/** [address, address + length) of the domain's RAM as a checked address, or a GuestAddressError. */
function checkedRange(d: Domain, address: GuestNumber, length: number): GuestAddress {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`a length is a whole number of bytes >= 0, got ${length}`);
  const a = register64("address", address);
  const at = d.ram.address(Number(a & 0xffffffffn) | 0, Number(a >> 32n) | 0, length);
  if (at === NOT_RAM) throw new GuestAddressError(a, length, d.ram.sizeBytes);
  return at;
}

/** A copy of `length` bytes of guest RAM from `address`. */
export function readGuest(d: Domain, address: GuestNumber, length: number): Uint8Array {
  return d.ram.read(checkedRange(d, address, length), length) as Uint8Array;
}

/** Writes `bytes` into guest RAM at `address`; nothing is written unless all of it fits. */
export function writeGuest(d: Domain, address: GuestNumber, bytes: Uint8Array): void {
  d.ram.write(checkedRange(d, address, bytes.length), bytes);
}

/** Frame `pfn` of the domain's RAM, or a GuestFrameError. */
function checkedFrame(d: Domain, pfn: GuestNumber): Gfn {
  const p = register64("pfn", pfn);
  const g = d.ram.gfn(Number(p & 0xffffffffn) | 0, Number(p >> 32n) | 0);
  if (g === NOT_RAM) throw new GuestFrameError(p, d.ram.sizeBytes);
  return g;
}

/** A copy of guest frame `pfn`. */
export function readFrame(d: Domain, pfn: GuestNumber): Uint8Array {
  return d.ram.frameView(checkedFrame(d, pfn)).slice();
}

/** Writes a whole frame (4096 bytes) at frame `pfn`. */
export function writeFrame(d: Domain, pfn: GuestNumber, bytes: Uint8Array): void {
  if (bytes.length !== TMEM_PAGE_SIZE) throw new RangeError(`a frame is ${TMEM_PAGE_SIZE} bytes, got ${bytes.length}`);
  d.ram.frameView(checkedFrame(d, pfn)).set(bytes);
}

/**
 * Hypercall `nr` made as domain `d`, from the host, with up to five argument registers (rdi, rsi,
 * rdx, r10, r8: the registers the `xen.hypercall` import carries; missing ones are 0). Returns the
 * result as the guest sees it: rax sign-extended from its low 32 bits.
 */
export function hostHypercall(d: Domain, nr: GuestNumber, args: readonly GuestNumber[] = []): number {
  const argRegisters = HYPERCALL_REGISTERS.slice(1);
  if (args.length > argRegisters.length)
    throw new RangeError(`a hypercall takes at most ${argRegisters.length} arguments (${argRegisters.join(", ")}), got ${args.length}`);
  const h = new Int32Array(2 * HYPERCALL_REGISTERS.length);
  [nr, ...args].forEach((v, i) => {
    const r = register64(HYPERCALL_REGISTERS[i], v);
    h[2 * i] = Number(r & 0xffffffffn) | 0;
    h[2 * i + 1] = Number(r >> 32n) | 0;
  });
  return d.hypercall(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]) | 0;
}
