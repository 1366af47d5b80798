// A domain: one guest VM with its id, RAM, privilege, ABI layout and tmem client.
import { DEFAULT_LAYOUT, type OpLayout } from "../../hypercall-abi/op-layouts.js";
import { GuestMemory } from "../boundary/guest-memory.js";
import { createHypercallEntry, type HypercallImport, type HypercallObserver } from "../boundary/hypercall.js";
import { OpDispatcher } from "../boundary/dispatch.js";
import type { Tmemc } from "../tmem-control/tmemc.js";
import type { Kernels } from "../store/asset-loader.js";

// Whoever builds domains on a tmem of its own (replay, a fuzz case) makes its TMEMC here too.
export { Tmemc } from "../tmem-control/tmemc.js";
export { Kernels } from "../store/asset-loader.js";
import type { Client } from "../tmem/client.js";
import { RULES } from "../tmem/rules.js";
import type { Tmem } from "../tmem/tmem.js";
import type { DomId } from "../tmem/ids.js";

export type DomainState = "created" | "running" | "exited" | "crashed";

export interface DomainOptions {
  domid: number;
  name: string;
  ramMiB: number;
  /** A control domain (like dom0) may issue privileged ops. */
  privileged?: boolean;
  layout?: OpLayout;
  /** The TMEMC sub-ops of `tmem`, owned by whoever owns the tmem: one per tmem, shared by its domains. */
  control: Tmemc;
  /** The kernels its RAM's page scan runs on (the owner's, compiled once). */
  kernels: Kernels;
  /** RAM to use instead of a new one (the fuzzers reuse a case's zeroed RAM; ramMiB must match it). */
  ram?: GuestMemory;
}

export class Domain {
  readonly domid: DomId;
  readonly name: string;
  readonly ram: GuestMemory;
  readonly privileged: boolean;
  readonly layout: OpLayout;
  readonly client: Client;
  /** The `xen.hypercall` import this domain's image gets. */
  readonly hypercall: HypercallImport;
  observer: HypercallObserver<Domain> | null = null;
  state: DomainState = "created";
  exitCode: number | null = null;
  /** Why the domain crashed, when it did. */
  crash: string | null = null;
  hypercalls = 0;
  /** Hypercalls refused at the boundary (bad struct pointer). */
  faults = 0;

  constructor(
    readonly tmem: Tmem,
    opts: DomainOptions,
  ) {
    this.domid = opts.domid as DomId; // a domain's number becomes its id here, once
    this.name = opts.name;
    this.ram = opts.ram ?? new GuestMemory(opts.ramMiB, opts.kernels);
    this.privileged = opts.privileged ?? false;
    this.layout = opts.layout ?? DEFAULT_LAYOUT;
    this.client = tmem.client(this.domid, RULES[this.layout.generation], this.privileged);
    this.hypercall = createHypercallEntry(this, this.ram, new OpDispatcher(this.ram, this.layout, tmem, opts.control, this.client));
  }
}
