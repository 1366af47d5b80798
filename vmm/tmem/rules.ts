// What differs between the hypervisor generations a guest may have been built for. A domain's
// layout picks its generation; these flags are the only places the tmem core, and the boundary's
// dispatcher (which commands a generation served), branch on it.
import { ENOSYS, TMEM_SPEC_VERSION, TMEM_SPEC_VERSION_LEGACY } from "../../hypercall-abi/constants.js";
import type { Generation } from "../../hypercall-abi/op-layouts.js";

export interface HypervisorRules {
  readonly generation: Generation;
  /** The version NEW_POOL's flags must carry. */
  readonly specVersion: number;
  /** NEW_POOL refuses the precompressed bit and reserved bits 8-23 (4.0.2+). */
  readonly checksReservedBits: boolean;
  /** NEW_POOL refuses shared + persistent (4.5+). */
  readonly refusesSharedPersistent: boolean;
  /** NEW_PAGE, READ, WRITE and XCHG are served (4.0-4.3); later they are unknown commands. */
  readonly legacyDataOps: boolean;
  /** The result of an unknown command on a valid pool: 0 (4.0-4.3) or -ENOSYS (4.4+). */
  readonly unknownCommandResult: number;
  /**
   * TMEM_CONTROL, TMEM_AUTH and TMEM_RESTORE_NEW reach tmem (for a privileged domain) rather
   * than being -EOPNOTSUPP, as they did before control moved to sysctl.
   */
  readonly guestControl: boolean;
}

export const RULES: Record<Generation, HypervisorRules> = {
  "xen-4.0-legacy": {
    generation: "xen-4.0-legacy",
    specVersion: TMEM_SPEC_VERSION_LEGACY,
    checksReservedBits: false,
    refusesSharedPersistent: false,
    legacyDataOps: true,
    unknownCommandResult: 0,
    guestControl: true,
  },
  "xen-4.1-oid3": {
    generation: "xen-4.1-oid3",
    specVersion: TMEM_SPEC_VERSION,
    checksReservedBits: true,
    refusesSharedPersistent: false,
    legacyDataOps: true,
    unknownCommandResult: 0,
    guestControl: true,
  },
  "xen-4.12-oid3": {
    generation: "xen-4.12-oid3",
    specVersion: TMEM_SPEC_VERSION,
    checksReservedBits: true,
    refusesSharedPersistent: true,
    legacyDataOps: false,
    unknownCommandResult: -ENOSYS,
    guestControl: false,
  },
};
