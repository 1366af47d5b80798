// Names for numbers and a readable account of an op: the dissector behind `tmemvm decode`.
import * as C from "./constants.js";
import type { OpLayout } from "./op-layouts.js";
import type { TmemOp } from "./op-codec.js";
import { decodePoolFlags } from "./pool-flags.js";

const namesWithPrefix = (prefix: string, exclude: RegExp): Map<number, string> =>
  new Map(
    Object.entries(C)
      .filter(([k, v]) => k.startsWith(prefix) && !exclude.test(k) && typeof v === "number")
      .map(([k, v]) => [v as number, k]),
  );

/** cmd value -> TMEM_* name. */
export const COMMAND_NAMES = namesWithPrefix("TMEM_", /^TMEM_(POOL|PAGE|SPEC|CLI|CLIENT)_/);
/** ctrl.subop value -> TMEMC_* name. */
export const SUBOP_NAMES = namesWithPrefix("TMEMC_", /^$/);
/** errno value -> name (EPERM, ..., EFROZEN, EEMPTY). */
export const ERRNO_NAMES = namesWithPrefix("E", /^$/);

/** "1 (success)", "-19 (-ENODEV)", "0". */
export function describeResult(r: number): string {
  if (r < 0 && ERRNO_NAMES.has(-r)) return `${r} (-${ERRNO_NAMES.get(-r)})`;
  return String(r);
}

/** The union view this command uses. */
export function viewOf(cmd: number, layout: OpLayout): "creat" | "ctrl" | "gen" {
  if (cmd === C.TMEM_NEW_POOL || cmd === C.TMEM_AUTH || cmd === C.TMEM_RESTORE_NEW) return "creat";
  if (cmd === C.TMEM_CONTROL && layout.hasCtrl) return "ctrl";
  return "gen";
}

export function describePoolFlags(flags: number): string {
  const f = decodePoolFlags(flags);
  const parts = [
    `${f.shared ? "shared" : "private"} ${f.persistent ? "persistent" : "ephemeral"}`,
    `page size ${f.pageSizeField <= 8 ? `${4 << f.pageSizeField} KiB` : "?"} (field ${f.pageSizeField})`,
    `version ${f.version}`,
  ];
  if (f.precompressed) parts.push("PRECOMPRESSED");
  if (f.reserved) parts.push(`reserved bits 0x${f.reserved.toString(16)}`);
  if (flags & 8) parts.push("bit 3 (ignored)");
  return `0x${(flags >>> 0).toString(16).padStart(8, "0")}: ${parts.join(", ")}`;
}

const hex64 = (x: bigint) => `0x${x.toString(16)}`;

/** The op as JSON-safe data: the view its command uses, bigints as hex strings. */
export function opToJson(op: TmemOp, layout: OpLayout): Record<string, unknown> {
  const view = viewOf(op.cmd, layout);
  const out: Record<string, unknown> = { layout: layout.name, cmd: op.cmd, cmdName: COMMAND_NAMES.get(op.cmd) ?? null, poolId: op.poolId };
  if (view === "creat" && op.creat) {
    out.creat = {
      uuid: op.creat.uuid.map(hex64),
      flags: op.creat.flags,
      flagsDecoded: decodePoolFlags(op.creat.flags),
      arg1: op.creat.arg1,
    };
  } else if (view === "ctrl" && op.ctrl) {
    out.ctrl = { ...op.ctrl, subopName: SUBOP_NAMES.get(op.ctrl.subop) ?? null, oid: op.ctrl.oid.map(hex64), buf: hex64(op.ctrl.buf) };
  } else if (op.gen) {
    out.gen = { ...op.gen, oid: op.gen.oid.map(hex64), cmfn: hex64(op.gen.cmfn) };
  }
  return out;
}

/** A multi-line account of the op, one field per line. */
export function describeOp(op: TmemOp, layout: OpLayout): string {
  const view = viewOf(op.cmd, layout);
  const name = COMMAND_NAMES.get(op.cmd);
  const lines = [
    `struct tmem_op, ${layout.name} (${layout.releases}), ${layout.size} bytes`,
    `  cmd              ${op.cmd}${name ? ` (${name})` : " (unknown command)"}`,
    `  pool_id          ${op.poolId}${op.poolId < 0 || op.poolId >= C.MAX_POOLS_PER_DOMAIN ? " (out of range 0..15)" : ""}`,
  ];
  if (view === "creat" && op.creat) {
    const c = op.creat;
    lines.push(`  creat.uuid       [${hex64(c.uuid[0])}, ${hex64(c.uuid[1])}]`);
    lines.push(`  creat.flags      ${describePoolFlags(c.flags)}`);
    lines.push(`  creat.arg1       ${c.arg1}${op.cmd === C.TMEM_NEW_POOL ? " (ignored by NEW_POOL)" : " (target domain)"}`);
  } else if (view === "ctrl" && op.ctrl) {
    const c = op.ctrl;
    lines.push(`  ctrl.subop       ${c.subop} (${SUBOP_NAMES.get(c.subop) ?? "unknown"})`);
    lines.push(`  ctrl.cli_id      ${c.cliId}${(c.cliId & 0xffff) === C.TMEM_CLI_ID_ALL ? " (all clients)" : ""}`);
    lines.push(`  ctrl.arg1        ${c.arg1}`, `  ctrl.arg2        ${c.arg2}`);
    lines.push(`  ctrl.oid         [${c.oid.map(hex64).join(", ")}]`, `  ctrl.buf         ${hex64(c.buf)}`);
  } else if (op.gen) {
    const g = op.gen;
    lines.push(`  gen.oid          [${g.oid.map(hex64).join(", ")}]`);
    lines.push(`  gen.index        ${g.index}`);
    lines.push(`  gen.tmem_offset  ${g.tmemOffset}`, `  gen.pfn_offset   ${g.pfnOffset}`, `  gen.len          ${g.len}`);
    lines.push(`  gen.cmfn         ${g.cmfn} (${hex64(g.cmfn)}; guest address ${hex64(g.cmfn << 12n)})`);
  }
  return lines.join("\n");
}
