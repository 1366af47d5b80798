// A domain: one guest VM with its id, RAM, privilege, ABI layout and tmem client.
import { DEFAULT_LAYOUT, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { GuestMemory } from "../boundary/guest-memory.js";
import { createHypercallEntry, type HypercallImport, type HypercallObserver } from "../boundary/hypercall.js";
import { OpReader } from "../boundary/op-reader.js";
import type { Client } from "../tmem/client.js";
import type { GuestBuffer } from "../control/tmemc.js";
import { OpArgs } from "../tmem/op-args.js";
import { RULES } from "../tmem/rules.js";
import type { Tmem } from "../tmem/tmem.js";

export type DomainState = "created" | "running" | "exited" | "crashed";

export interface DomainOptions {
  domid: number;
  name: string;
  ramMiB: number;
  /** A control domain (like dom0) may issue privileged ops. */
  privileged?: boolean;
  layout?: OpLayout;
}

export class Domain {
  readonly domid: number;
  readonly name: string;
  readonly ram: GuestMemory;
  readonly privileged: boolean;
  readonly layout: OpLayout;
  readonly client: Client;
  readonly opReader: OpReader;
  readonly opArgs = new OpArgs();
  /** cmfn of the op being handled, as (lo, hi). */
  readonly cmfn = new Uint32Array(2);
  readonly hypercall: HypercallImport;
  observer: HypercallObserver<Domain> | null = null;
  /** ctrl.buf of the op being handled, every access bounds-checked against this domain's RAM. */
  readonly ctrlBuffer: GuestBuffer = {
    write: (bytes) => {
      const at = this.ram.range(this.opArgs.ctrlBufLo, this.opArgs.ctrlBufHi, bytes.length);
      if (at < 0) return false;
      this.ram.bytes.set(bytes, at);
      return true;
    },
    read: (len) => {
      const at = this.ram.range(this.opArgs.ctrlBufLo, this.opArgs.ctrlBufHi, len);
      return at < 0 ? null : this.ram.bytes.slice(at, at + len);
    },
    fits: (len) => this.ram.range(this.opArgs.ctrlBufLo, this.opArgs.ctrlBufHi, len) >= 0,
  };
  state: DomainState = "created";
  exitCode: number | null = null;
  /** Why the domain crashed, when it did. */
  crash: string | null = null;
  hypercalls = 0;
  /** Hypercalls refused at the boundary (bad struct pointer). */
  faults = 0;

  constructor(readonly tmem: Tmem, opts: DomainOptions) {
    this.domid = opts.domid;
    this.name = opts.name;
    this.ram = new GuestMemory(opts.ramMiB);
    this.privileged = opts.privileged ?? false;
    this.layout = opts.layout ?? DEFAULT_LAYOUT;
    this.client = tmem.client(this.domid, RULES[this.layout.generation], this.privileged);
    this.opReader = new OpReader(this.layout);
    this.hypercall = createHypercallEntry(this);
  }
}
