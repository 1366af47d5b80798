// A client's policy as the host sets it (at boot, or by a control action): the one writer of
// these fields from the host side. A guest's TMEMC sub-ops (tmemc.ts) and a restored save file
// (save-file.ts) set them from what the guest or the file says.
import { mibToFrames } from "../../hypercall-abi/frames.js";
import type { Client } from "./client.js";

export interface PolicyChange {
  /** Share of ephemeral tmem under pressure. */
  weight?: number;
  /** Most persistent tmem the client may hold; null: no cap. */
  capMiB?: number | null;
  compress?: boolean;
  frozen?: boolean;
}

export function setClientPolicy(c: Client, p: PolicyChange): void {
  if (p.weight !== undefined) c.weight = p.weight;
  if (p.capMiB !== undefined) c.capPages = p.capMiB === null ? Infinity : mibToFrames(p.capMiB);
  if (p.compress !== undefined) c.compress = p.compress;
  if (p.frozen !== undefined) c.frozen = p.frozen;
}
