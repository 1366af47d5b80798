// The host's control actions as one type: parsed from words (the CLI's --control, a config's
// control list) and checked in this module only; the control plane runs them, the recorder writes
// them into a trace and replay reads them back through the two conversions at the end.
import type { PoolUuid } from "../../hypercall-abi/uuid.js";

/** A control action the host could not do: a domain that is not there, a bad argument. */
export class ControlError extends Error {}

/** A domain as the host names it: its name or its domid. */
export type DomainRef = string | number;

/** A domain reference that names no domain of the machine. */
export class DomainNotFound extends ControlError {
  constructor(
    readonly ref: DomainRef,
    known: string,
  ) {
    super(`no domain ${ref}; domains: ${known || "none"}`);
    this.name = "DomainNotFound";
  }
}

export type ControlAction =
  | { action: "freeze" | "thaw" | "destroy"; domain: DomainRef }
  | { action: "flush"; pages: number }
  | { action: "weight"; domain: DomainRef; weight: number }
  /** capMiB null: no cap. */
  | { action: "cap"; domain: DomainRef; capMiB: number | null }
  | { action: "compress"; domain: DomainRef; on: boolean }
  | { action: "auth" | "deauth"; domain: DomainRef; uuid: PoolUuid }
  | { action: "save" | "restore"; domain: DomainRef; file: string }
  | { action: "list" };

export type ActionName = ControlAction["action"];

/** The ranges a weight and a cap have, wherever they are set (options, configs, actions). */
export const WEIGHT_RANGE = [0, 1_000_000] as const;
export const CAP_MIB_RANGE = [0, 1 << 20] as const;

/** The actions a run may be given as words, with their arguments (restore is the --restore option). */
export const ACTION_WORDS = {
  freeze: "DOMAIN",
  thaw: "DOMAIN",
  flush: "PAGES",
  weight: "DOMAIN WEIGHT",
  cap: "DOMAIN MIB|none",
  compress: "DOMAIN on|off",
  auth: "DOMAIN UUID_LO,UUID_HI",
  deauth: "DOMAIN UUID_LO,UUID_HI",
  destroy: "DOMAIN",
  save: "DOMAIN FILE",
  list: "",
} as const satisfies Partial<Record<ActionName, string>>;

const isWordAction = (name: string): name is keyof typeof ACTION_WORDS => Object.hasOwn(ACTION_WORDS, name);

/** `["weight", "web", "4"]` as an action, checked; every mistake is one ControlError sentence. */
export function parseAction(name: string, args: readonly string[]): ControlAction {
  if (!isWordAction(name)) throw new ControlError(`unknown control action "${name}"; one of: ${Object.keys(ACTION_WORDS).join(", ")}`);
  const usage: string = ACTION_WORDS[name];
  if (args.length !== (usage ? usage.split(" ").length : 0))
    throw new ControlError(`control action ${name} takes ${usage || "no arguments"}`);
  const whole = (text: string, what: string): number => {
    if (!/^\d+$/.test(text)) throw new ControlError(`control action ${name}: ${what} ${text} is not a whole number`);
    return Number(text);
  };
  const domain = args[0];
  let a: ControlAction;
  switch (name) {
    case "freeze":
    case "thaw":
    case "destroy":
      a = { action: name, domain };
      break;
    case "flush":
      a = { action: name, pages: whole(args[0], "PAGES") };
      break;
    case "weight":
      a = { action: name, domain, weight: whole(args[1], "WEIGHT") };
      break;
    case "cap":
      a = { action: name, domain, capMiB: args[1] === "none" ? null : whole(args[1], "MIB") };
      break;
    case "compress":
      if (args[1] !== "on" && args[1] !== "off") throw new ControlError("control action compress takes on or off");
      a = { action: name, domain, on: args[1] === "on" };
      break;
    case "auth":
    case "deauth": {
      const parts = args[1].split(",");
      if (parts.length !== 2 || parts.some((p) => !/^(0x[0-9a-f]{1,16}|\d+)$/i.test(p) || BigInt(p) >= 1n << 64n)) {
        throw new ControlError(`control action ${name}: the uuid ${args[1]} is not LO,HI (two 64-bit numbers)`);
      }
      a = { action: name, domain, uuid: [BigInt(parts[0]), BigInt(parts[1])] };
      break;
    }
    case "save":
      a = { action: name, domain, file: args[1] };
      break;
    case "list":
      a = { action: name };
      break;
  }
  return checkAction(a);
}

function inRange(x: number, range: readonly [number, number], what: string, name: string): void {
  if (!Number.isInteger(x) || x < range[0] || x > range[1])
    throw new ControlError(`control action ${name}: ${what} must be a whole number ${range[0]}..${range[1]}`);
}

/** The action if its numbers are in range (a program may build one by hand), else a ControlError. */
export function checkAction(a: ControlAction): ControlAction {
  switch (a.action) {
    case "flush":
      inRange(a.pages, [0, Number.MAX_SAFE_INTEGER], "PAGES", a.action);
      break;
    case "weight":
      inRange(a.weight, WEIGHT_RANGE, "WEIGHT", a.action);
      break;
    case "cap":
      if (a.capMiB !== null) inRange(a.capMiB, CAP_MIB_RANGE, "MIB", a.action);
      break;
  }
  return a;
}

/** The action in words, as parseAction reads them. */
export function actionText(a: ControlAction): string {
  const hex = (u: PoolUuid) => `0x${u[0].toString(16)},0x${u[1].toString(16)}`;
  switch (a.action) {
    case "flush":
      return `flush ${a.pages}`;
    case "weight":
      return `weight ${a.domain} ${a.weight}`;
    case "cap":
      return `cap ${a.domain} ${a.capMiB ?? "none"}`;
    case "compress":
      return `compress ${a.domain} ${a.on ? "on" : "off"}`;
    case "auth":
    case "deauth":
      return `${a.action} ${a.domain} ${hex(a.uuid)}`;
    case "save":
    case "restore":
      return `${a.action} ${a.domain} ${a.file}`;
    case "list":
      return "list";
    default:
      return `${a.action} ${a.domain}`;
  }
}

/** An action's arguments as a trace records them (the domain goes apart, as its domid). */
export type TraceArgs = (string | number | boolean | null)[];

export function traceArgs(a: ControlAction): TraceArgs {
  switch (a.action) {
    case "flush":
      return [a.pages];
    case "weight":
      return [a.weight];
    case "cap":
      return [a.capMiB];
    case "compress":
      return [a.on];
    case "auth":
    case "deauth":
      return [`0x${a.uuid[0].toString(16)}`, `0x${a.uuid[1].toString(16)}`];
    case "save":
    case "restore":
      return [a.file];
    default:
      return [];
  }
}

/** An action as a trace recorded it, for domain `domid`; null if the trace names no such action. */
export function actionFromTrace(name: string, domid: number, args: TraceArgs): ControlAction | null {
  const num = (x: unknown) => Number(x);
  switch (name) {
    case "freeze":
    case "thaw":
    case "destroy":
      return { action: name, domain: domid };
    case "flush":
      return { action: name, pages: num(args[0]) };
    case "weight":
      return { action: name, domain: domid, weight: num(args[0]) };
    case "cap":
      return { action: name, domain: domid, capMiB: args[0] === null ? null : num(args[0]) };
    case "compress":
      return { action: name, domain: domid, on: args[0] === true };
    case "auth":
    case "deauth":
      return { action: name, domain: domid, uuid: [BigInt(String(args[0])), BigInt(String(args[1]))] };
    case "save":
    case "restore":
      return { action: name, domain: domid, file: String(args[0]) };
    case "list":
      return { action: name };
    default:
      return null;
  }
}
