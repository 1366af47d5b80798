// One domain's tmem ops after the entry checked the struct pointer: the struct is copied out once
// (OpReader), its command dispatched by the domain's hypervisor generation, guest frames and
// READ/WRITE ranges resolved to views of guest RAM, and the core (or control) called with what it
// needs. What Xen kept in its glue (tmem_xen.c) and its dispatcher lives here, so the core never
// sees a guest address or a raw command number.
import {
  EFAULT,
  EINVAL,
  ENODEV,
  EOPNOTSUPP,
  EPERM,
  TMEM_AUTH,
  TMEM_CONTROL,
  TMEM_DESTROY_POOL,
  TMEM_FLUSH_OBJECT,
  TMEM_FLUSH_PAGE,
  TMEM_GET_PAGE,
  TMEM_NEW_PAGE,
  TMEM_NEW_POOL,
  TMEM_PAGE_SIZE,
  TMEM_PUT_PAGE,
  TMEM_READ,
  TMEM_RESTORE_NEW,
  TMEM_WRITE,
  TMEM_XCHG,
} from "../../hypercall-abi/constants.js";
import type { OpLayout } from "../../hypercall-abi/op-layouts.js";
import type { GuestBuffer, Tmemc } from "../tmem-control/tmemc.js";
import type { Client } from "../tmem/client.js";
import type { Pool } from "../tmem/pool.js";
import type { Tmem } from "../tmem/tmem.js";
import { NOT_RAM, type Gfn, type GuestAddress, type GuestMemory, type NotRam } from "./guest-memory.js";
import { OpArgs } from "./op-args.js";
import { OpReader } from "./op-reader.js";

/** NEW_PAGE's source: a zero-filled page. */
const ZERO_PAGE = new Uint8Array(TMEM_PAGE_SIZE);

/** READ/WRITE offsets: each within a page and each range ending inside it, in exact arithmetic (CVE-2012-6032). */
function partialRangeOk(a: OpArgs): boolean {
  return (
    a.tmemOffset <= TMEM_PAGE_SIZE &&
    a.pfnOffset <= TMEM_PAGE_SIZE &&
    a.len <= TMEM_PAGE_SIZE &&
    a.tmemOffset + a.len <= TMEM_PAGE_SIZE &&
    a.pfnOffset + a.len <= TMEM_PAGE_SIZE
  );
}

/** ctrl.buf of the op being handled, every access bounds-checked against the domain's RAM. */
class CtrlBuffer implements GuestBuffer {
  constructor(
    private readonly ram: GuestMemory,
    private readonly args: OpArgs,
  ) {}

  write(bytes: Uint8Array): boolean {
    const at = this.ram.address(this.args.ctrlBufLo, this.args.ctrlBufHi, bytes.length);
    return at !== NOT_RAM && this.ram.write(at, bytes) === true;
  }

  read(len: number): Uint8Array | null {
    const at = this.ram.address(this.args.ctrlBufLo, this.args.ctrlBufHi, len);
    const bytes = at === NOT_RAM ? NOT_RAM : this.ram.read(at, len);
    return bytes === NOT_RAM ? null : bytes;
  }

  fits(len: number): boolean {
    return this.ram.address(this.args.ctrlBufLo, this.args.ctrlBufHi, len) !== NOT_RAM;
  }
}

export class OpDispatcher {
  readonly reader: OpReader;
  /** The op being handled, decoded from the struct copy; reused, so an op allocates nothing (observers read it after the op). */
  readonly args = new OpArgs();
  /** Its cmfn, as (lo, hi). */
  readonly cmfn = new Uint32Array(2);
  private readonly ctrlBuffer: CtrlBuffer;

  constructor(
    private readonly ram: GuestMemory,
    layout: OpLayout,
    private readonly tmem: Tmem,
    private readonly control: Tmemc,
    private readonly client: Client,
  ) {
    this.reader = new OpReader(layout);
    this.ctrlBuffer = new CtrlBuffer(ram, this.args);
  }

  /** The op whose struct is at `at` (checked to lie in RAM for the layout's size): its result. */
  op(at: GuestAddress): number {
    const a = this.args;
    if (!this.reader.read(this.ram, at, a, this.cmfn)) return -EFAULT;
    this.tmem.opStarted(this.client);
    return this.tmem.opFinished(this.client, this.dispatch(a));
  }

  /** Xen 4.12's order of checks, with what each generation served. */
  private dispatch(a: OpArgs): number {
    const cmd = a.cmd;
    const client = this.client;
    const rules = client.rules;
    if (cmd === TMEM_CONTROL || cmd === TMEM_AUTH || cmd === TMEM_RESTORE_NEW) {
      // Control moved to sysctl in 4.6, auth and restore-new in 4.9. Before that they were guest
      // commands; only a domain the VMM made privileged may issue them (XSA-15's missing check).
      if (!rules.guestControl) return -EOPNOTSUPP;
      if (!client.privileged) return -EPERM;
      if (cmd === TMEM_CONTROL) return this.control.subop(a, this.ctrlBuffer, client);
      return cmd === TMEM_AUTH ? this.control.auth(a) : this.control.restoreNew(a);
    }
    const tmem = this.tmem;
    if (cmd === TMEM_NEW_POOL) return tmem.newPool(client, a.flags, a.uuid);
    if (cmd === TMEM_DESTROY_POOL) return tmem.destroyPool(client, a.poolId);
    const pool = client.pool(a.poolId);
    if (pool === null) return -ENODEV;
    switch (cmd) {
      case TMEM_PUT_PAGE: {
        const g = this.frame();
        return g === NOT_RAM
          ? tmem.put(client, pool, a.oid, a.index, null, false)
          : tmem.put(client, pool, a.oid, a.index, this.ram.frameView(g), this.ram.isZero(g));
      }
      case TMEM_GET_PAGE: {
        const g = this.frame();
        return tmem.get(client, pool, a.oid, a.index, g === NOT_RAM ? null : this.ram.frameView(g));
      }
      case TMEM_FLUSH_PAGE:
        return tmem.flushPage(pool, a.oid, a.index);
      case TMEM_FLUSH_OBJECT:
        return tmem.flushObject(pool, a.oid);
    }
    if (rules.legacyDataOps) {
      switch (cmd) {
        case TMEM_NEW_PAGE:
          return tmem.put(client, pool, a.oid, a.index, ZERO_PAGE, true);
        case TMEM_READ:
          return this.read(pool, a);
        case TMEM_WRITE:
          return this.write(pool, a);
        case TMEM_XCHG:
          return 0;
      }
    }
    return rules.unknownCommandResult;
  }

  /** The op's cmfn, if it names a frame of RAM. */
  private frame(): Gfn | NotRam {
    return this.ram.gfn(this.cmfn[0]!, this.cmfn[1]!);
  }

  /** The `len` bytes at `pfn_offset` in the op's frame (partialRangeOk checked they stay in it), or null if that is not RAM. */
  private partial(a: OpArgs): Uint8Array | null {
    const g = this.frame();
    const at = g === NOT_RAM ? NOT_RAM : this.ram.offset(this.ram.frameAddress(g), a.pfnOffset, a.len);
    const bytes = at === NOT_RAM ? NOT_RAM : this.ram.slice(at, a.len);
    return bytes === NOT_RAM ? null : bytes;
  }

  /** READ: `len` bytes of the page from `tmem_offset` into the frame at `pfn_offset`. */
  private read(pool: Pool, a: OpArgs): number {
    if (!partialRangeOk(a)) return -EINVAL;
    return this.tmem.read(this.client, pool, a.oid, a.index, a.tmemOffset, this.partial(a));
  }

  /** WRITE: `len` bytes from the frame at `pfn_offset` into the page at `tmem_offset`. */
  private write(pool: Pool, a: OpArgs): number {
    if (!partialRangeOk(a)) return -EINVAL;
    const src = this.partial(a);
    if (src === null) return -EFAULT;
    return this.tmem.write(this.client, pool, a.oid, a.index, a.tmemOffset, src);
  }
}
