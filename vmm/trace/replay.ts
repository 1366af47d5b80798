// Re-executes a .tmtr trace against a fresh VMM, with no guest. Domains are created with their
// recorded policy; each hypercall record's input memory is written into the domain's RAM and
// the same registers go through the same hypercall entry; each control action is done again
// through the same control plane; the scheduler is re-run from the recorded seed. What this
// run computes is compared with what the recorded run saw: every result, every byte a guest got
// back, every action's outcome, the interleaving, and the state tmem ended in.
import { crc32 } from "../container/crc32.js";
import { opLayout, type Generation } from "../../hypercall-abi/op-layouts.js";
import { actionFromTrace, ControlError } from "../host/control-action.js";
import { ControlPlane } from "../host/control-plane.js";
import { Domain } from "../machine/domain.js";
import { NOT_RAM } from "../boundary/guest-memory.js";
import { Scheduler } from "../machine/scheduler.js";
import { RULES } from "../tmem/rules.js";
import { restoreClient, saveClient, SaveFileError } from "../snapshot/save-file.js";
import { Tmem } from "../tmem/tmem.js";
import type { DomId } from "../tmem/ids.js";
import { Tmemc } from "../tmem-control/tmemc.js";
import { Kernels, type AssetLoader } from "../store/asset-loader.js";
import { applyPolicy, policyOf, stateDifference, tmemState } from "../snapshot/tmem-state.js";
import { decodeTrace, FLAG_SCHEDULED, type TraceEntry, type TraceEvent } from "./trace-format.js";

export interface Divergence {
  /** 1-based hypercall record number; for an event, the hypercall records before it. */
  record: number;
  /** Byte offset of that record in the trace file. */
  offset: number;
  /** Which record, in words: "record 747 of 9872", "the flush action after record 12". */
  where: string;
  message: string;
}

export interface ReplayReport {
  /** Hypercall records. */
  records: number;
  events: number;
  divergence: Divergence | null;
  /** Why the recorded run ended early (interrupted, timed out), or null if it ran to its end. */
  endedEarly: string | null;
}

/** The machine a replay runs on: what the control plane needs of a VMM, without guests. */
class ReplayMachine {
  readonly domains: Domain[] = [];
  readonly observer = null;
  constructor(readonly tmem: Tmem) {}

  /** As Vmm.destroy. */
  destroy(domain: Domain): void {
    if (domain.state === "created" || domain.state === "running") {
      domain.state = "crashed";
      domain.crash = "destroyed";
    }
    this.tmem.destroyClient(domain.domid);
  }
}

class Diverged extends Error {}

function describeEvent(e: TraceEvent): string {
  switch (e.type) {
    case "action":
      return `the ${e.action} action`;
    case "end":
      return `the end of domain ${e.domid} (${e.how})`;
    case "slice":
      return `the scheduler's slice for domain ${e.domid}`;
    default:
      return `the ${e.type} event`;
  }
}

/** Replays `file`; `assets` gives the kernels its guests' RAM and compression run on (a loader, or Kernels to share). */
export function replayTrace(file: Uint8Array, assets: Pick<AssetLoader, "kernel"> | Kernels): ReplayReport {
  const kernels = assets instanceof Kernels ? assets : new Kernels(assets);
  const trace = decodeTrace(file);
  const { meta, entries, records, end } = trace;
  const tmem = new Tmem({ capacityFrames: meta.capacityFrames, compressor: () => kernels.lz4(), indexModule: kernels.pageIndex() });
  tmem.setSharedAuth(meta.sharedAuthOpen === true);
  const tmemc = new Tmemc(tmem);
  const vmm = new ReplayMachine(tmem);
  const control = new ControlPlane(vmm);
  const byId = new Map<number, Domain>();
  /** The domains' recorded names (a save file carries its domain's). */
  const names = new Map<number, string>();
  let scheduler: Scheduler | null = null;
  let running: Domain[] = [];
  let slice: { domid: number; left: number } | null = null;
  const events = entries.length - records.length;
  const report = (divergence: Divergence | null): ReplayReport => ({ records: records.length, events, divergence, endedEarly: end.reason });

  const domainOf = (domid: number | null): Domain => {
    const d = domid === null ? undefined : byId.get(domid);
    if (!d) throw new Diverged(`names domain ${domid}, which no earlier record created`);
    return d;
  };
  const expectSame = (what: string, now: unknown, recorded: unknown) => {
    const d = stateDifference(now, recorded, what);
    if (d) throw new Diverged(d);
  };

  const event = (e: TraceEvent, blob: Uint8Array): void => {
    switch (e.type) {
      case "domain": {
        const layout = opLayout(e.layout);
        if (!layout) throw new Diverged(`domain ${e.domid} has unknown layout ${e.layout}`);
        if (byId.has(e.domid)) throw new Diverged(`domain ${e.domid} is created twice`);
        // The control plane finds a domain by name or id, and actions in the trace name it by id:
        // a domain recorded as "2" would take domain 2's actions, so here names are never digits.
        const d = new Domain(tmem, {
          domid: e.domid,
          name: `#${e.domid}`,
          ramMiB: e.ramMiB,
          layout,
          privileged: e.privileged,
          control: tmemc,
          kernels,
        });
        names.set(e.domid, e.name);
        applyPolicy(tmem, d.domid, e.policy);
        byId.set(e.domid, d);
        vmm.domains.push(d);
        return;
      }
      case "policy":
        // The recorder says what it saw before the change: a change replay missed (or one the
        // recorder missed) shows here, not at whatever result it decides much later.
        if (e.was) {
          const c = tmem.findClient(e.domid as DomId); // a trace's domid becomes an id as it is read
          if (!c) throw new Diverged(`changes the policy of client ${e.domid}, which this replay does not have`);
          expectSame(`client ${e.domid}'s policy before the change`, policyOf(c), e.was);
        }
        if (e.policy === null) tmem.destroyClient(e.domid as DomId);
        else {
          const rules = RULES[e.generation as Generation];
          if (!rules) throw new Diverged(`client ${e.domid} has unknown generation ${e.generation}`);
          applyPolicy(tmem, tmem.client(e.domid as DomId, rules, e.privileged).domid, e.policy);
        }
        return;
      case "shared-auth":
        // The recorder writes the switch only when it flips: if it is already there, replay
        // missed a flip the recorded run made (or the recorder wrote one that never happened).
        if (tmem.sharedAuthOpen === e.open) throw new Diverged(`the shared-auth switch is already ${e.open ? "on" : "off"} here`);
        tmem.setSharedAuth(e.open);
        return;
      case "run":
        scheduler = new Scheduler(e.seed, e.quantum);
        running = e.domids.map((id) => domainOf(id));
        for (const d of running) d.state = "running";
        return;
      case "slice": {
        if (!scheduler) throw new Diverged("a slice outside a run");
        running = running.filter((d) => d.state === "running");
        if (running.length === 0) throw new Diverged("a slice with no domain left running");
        const pick = running[scheduler.pick(running.length)];
        if (pick.domid !== e.domid) throw new Diverged(`the scheduler picks domain ${pick.domid} here, recorded ${e.domid}`);
        if (e.budget !== 0) expectSame("the slice's budget", scheduler.slice(), e.budget);
        slice = { domid: e.domid, left: e.budget === 0 ? Infinity : e.budget };
        return;
      }
      case "end": {
        const d = domainOf(e.domid);
        // A control action may end another domain in the middle of this one's slice.
        if (slice?.domid === e.domid) slice = null;
        if (e.how === "destroyed") vmm.destroy(d);
        else {
          d.state = e.how;
          d.exitCode = e.exitCode;
          d.crash = e.crash;
          if (e.how === "crashed") tmem.destroyClient(d.domid);
        }
        return;
      }
      case "action":
        action(e, blob);
        return;
      default:
        throw new Diverged(`unknown event ${(e as { type: string }).type}`);
    }
  };

  const action = (e: TraceEvent & { type: "action" }, blob: Uint8Array): void => {
    const args = e.args;
    const domid = (e.domid ?? 0) as DomId; // as read from the trace
    if (e.domid !== null) domainOf(e.domid);
    const a = actionFromTrace(e.action, domid, args);
    if (!a) throw new Diverged(`unknown control action ${e.action}`);
    try {
      switch (a.action) {
        case "flush":
          expectSame("pages flushed", control.apply(a), e.result);
          return;
        case "save": {
          const d = domainOf(domid);
          const client = tmem.findClient(domid);
          if (!client) throw new Diverged(`domain ${domid} has no tmem client to save`);
          const bytes = saveClient(tmem, client, names.get(domid)!, d.layout.name);
          expectSame(
            "the save",
            {
              pools: client.pools.filter((p) => p !== null).length,
              pages: client.persistentPages,
              bytes: bytes.length,
              crc32: crc32(bytes) >>> 0,
            },
            e.result,
          );
          return;
        }
        case "restore": {
          const client = tmem.findClient(domid);
          if (!client) throw new Diverged(`domain ${domid} has no tmem client to restore into`);
          expectSame("the restore", restoreClient(tmem, client, blob), e.result);
          return;
        }
        case "list":
          expectSame("tmem", tmemState(tmem), e.result);
          return;
        default:
          control.apply(a);
      }
    } catch (err) {
      if (err instanceof ControlError || err instanceof SaveFileError) throw new Diverged(`fails here: ${err.message}`);
      throw err;
    }
  };

  const hypercall = (x: TraceEntry & { kind: "hypercall" }): void => {
    const r = x.record;
    const domain = domainOf(r.domid);
    if ((r.flags & FLAG_SCHEDULED) !== 0) {
      if (!slice || slice.domid !== r.domid)
        throw new Diverged(`domain ${r.domid} made it in a slice the scheduler gave ${slice ? `domain ${slice.domid}` : "no domain"}`);
      if (--slice.left < 0) throw new Diverged(`domain ${r.domid} made more hypercalls than its slice's budget`);
    }
    const ram = domain.ram;
    for (const m of r.inputs) {
      const at = ram.address(m.addr, 0, m.bytes.length);
      if (at === NOT_RAM || m.addr > 0xffffffff)
        throw new Diverged(`input memory at 0x${m.addr.toString(16)} lies outside the domain's RAM`);
      ram.write(at, m.bytes);
    }
    const g = r.regs;
    const result = domain.hypercall(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]);
    if (result !== r.result) throw new Diverged(`result ${result}, recorded ${r.result}`);
    for (const m of r.outputs) {
      const at = ram.address(m.addr, 0, m.bytes.length);
      const now = at === NOT_RAM || m.addr > 0xffffffff ? NOT_RAM : ram.slice(at, m.bytes.length);
      if (now === NOT_RAM) throw new Diverged(`output memory at 0x${m.addr.toString(16)} lies outside the domain's RAM`);
      const i = now.findIndex((b, k) => b !== m.bytes[k]);
      if (i >= 0)
        throw new Diverged(
          `guest memory at 0x${(m.addr + i).toString(16)} is 0x${now[i].toString(16)}, recorded 0x${m.bytes[i].toString(16)}`,
        );
    }
  };

  for (const x of entries) {
    try {
      if (x.kind === "hypercall") hypercall(x);
      else event(x.event, x.blob);
    } catch (err) {
      if (!(err instanceof Diverged)) throw err;
      const where =
        x.kind === "hypercall" ? `record ${x.number} of ${records.length}` : `${describeEvent(x.event)} after record ${x.after}`;
      return report({ record: x.kind === "hypercall" ? x.number : x.after, offset: x.offset, where, message: err.message });
    }
  }
  const d =
    stateDifference(tmemState(tmem), end.state) ??
    (end.sharedAuthOpen === undefined ? null : stateDifference(tmem.sharedAuthOpen, end.sharedAuthOpen, "the shared-auth switch"));
  if (d) return report({ record: records.length, offset: end.offset, where: "the end record", message: d });
  return report(null);
}

/** What `tmemvm replay` prints for a report. */
export function formatReplayReport(r: ReplayReport): string {
  if (r.divergence) {
    const d = r.divergence;
    return `diverged at ${d.where} (byte offset ${d.offset}): ${d.message}\n`;
  }
  const early = r.endedEarly ? ` (the recorded run ended early: ${r.endedEarly})` : "";
  return `replayed ${r.records} hypercalls: no divergence (and ${r.events} host events)${early}\n`;
}
