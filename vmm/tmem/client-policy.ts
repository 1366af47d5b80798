// A client's policy: what the host (at boot, by a control action), a privileged guest (TMEMC
// sub-ops), a restored save file or a replay may change about a client. Every one of them changes
// it through Tmem.setPolicy, the one writer of these fields.

export interface ClientPolicy {
  /** Share of ephemeral tmem under pressure. */
  weight: number;
  /** Most persistent pages the client may hold; null: no cap. */
  capPages: number | null;
  compress: boolean;
  frozen: boolean;
}

/** A change to a client's policy (and, for TMEMC's save and replay, its migration state): the fields given change. */
export interface PolicyChange extends Partial<ClientPolicy> {
  /** Live migration in progress; starting one clears the log of invalidated pages. */
  migrating?: boolean;
  /** The frozen state SAVE_END gives back. */
  frozenBeforeSave?: boolean;
  /** The ABI's cap (TMEMC_SET_CAP): stored and reported, never enforced. */
  abiCap?: number;
  /** Every shared-pool uuid ("lo:hi" hex) the client is authorised for, replacing the set. */
  authorised?: readonly string[];
}
