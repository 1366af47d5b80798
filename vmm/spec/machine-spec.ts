// The one description of a machine (MachineSpec): its guests, tmem, schedule, control actions and
// outputs, checked whole against the key table (spec-keys.ts) before anything boots. A config file
// is this as JSON; the command line's flags and the page's form fill in the same object; the API's
// boot() passes its arguments through the same check.
import { opLayout, OP_LAYOUTS, DEFAULT_LAYOUT_NAME } from "../../hypercall-abi/op-layouts.js";
import { actionText, ControlError, parseAction, type ControlAction } from "../host/control-action.js";
import { DEFAULT_QUANTUM, DEFAULT_TMEM_MIB } from "../machine/vmm.js";
import { AT_RULE, checkWhole, GUEST_KEYS, MACHINE_KEYS, parseWhole, type WholeKey } from "./spec-keys.js";
import { shownValue, SpecError } from "./spec-error.js";

/** A control action at a point of the run: once `at` hypercalls have been made, all guests together. */
export type TimedAction = ControlAction & { at: number };

/** One guest, checked. */
export interface GuestSpec {
  /** A path or a bundled image's name (the platform finds it), or the image's bytes. */
  image: string | Uint8Array;
  name?: string;
  ramMiB?: number;
  /** A layout's name, checked against the known ones. */
  layout: string;
  privileged: boolean;
  weight?: number;
  /** null: no cap. */
  capMiB?: number | null;
  compress: boolean;
  args: string[];
  restore?: string;
  save?: string;
}

/** A machine, checked: every default filled in. */
export interface MachineSpec {
  guests: GuestSpec[];
  tmemMiB: number;
  /** tmem's size in frames when given instead of tmemMiB. */
  tmemFrames?: number;
  seed: number;
  quantum: number;
  control: TimedAction[];
  record?: string;
  /** How each key is named to the user, for mistakes found only at boot (see keyName). */
  origin: SpecOrigin;
}

/**
 * Where a spec came from: `file` names keys `cfg.json: guests[1].ramMiB`, `object` names them
 * `spec.guests[1].ramMiB`; `flags` maps keys a flag set (or overrode) to the flag (`--mem`).
 */
export interface SpecOrigin {
  kind: "file" | "object";
  name: string;
  flags: Record<string, string>;
}

export const fileSource = (path: string): SpecOrigin => ({ kind: "file", name: path, flags: {} });
export const objectSource = (name: string): SpecOrigin => ({ kind: "object", name, flags: {} });

/** The name of `key` (`guests[1].ramMiB`, `tmemMiB`) as the user wrote it. */
export function keyName(origin: SpecOrigin, key: string): string {
  const flag = origin.flags[key] ?? origin.flags[key.replace(/^guests\[\d+\]\./, "")];
  if (flag) return flag;
  if (key === "") return origin.name;
  return origin.kind === "file" ? `${origin.name}: ${key}` : `${origin.name}.${key}`;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);

class Checker {
  constructor(readonly origin: SpecOrigin) {}

  fail(key: string, value: unknown, problem: string): never {
    const name = keyName(this.origin, key);
    throw new SpecError(this.origin.flags[key] ?? this.origin.name, key, value, `${name} ${problem}`);
  }

  keys(obj: Record<string, unknown>, allowed: readonly string[], key: string, what: string): void {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) this.fail(key ? `${key}.${k}` : k, obj[k], `is not a key of ${what}; its keys: ${allowed.join(", ")}`);
    }
  }

  whole(value: unknown, rule: WholeKey, key: string): number {
    return checkWhole(value, rule, this.origin.name, key, keyName(this.origin, key));
  }

  text(value: unknown, key: string): string {
    if (typeof value !== "string" || value === "") this.fail(key, value, `must be a non-empty string, got ${shownValue(value)}`);
    return value;
  }

  bool(value: unknown, key: string): boolean {
    if (typeof value !== "boolean") this.fail(key, value, `must be true or false, got ${shownValue(value)}`);
    return value;
  }
}

function checkGuest(c: Checker, raw: unknown, key: string): GuestSpec {
  if (!isObject(raw)) c.fail(key, raw, `must be an object with an image, got ${shownValue(raw)}`);
  c.keys(raw, Object.keys(GUEST_KEYS), key, "a guest");
  const k = (name: string) => `${key}.${name}`;
  const opt = <T>(name: string, check: (v: unknown, key: string) => T): T | undefined =>
    raw[name] === undefined ? undefined : check(raw[name], k(name));
  const image =
    raw.image instanceof Uint8Array
      ? raw.image
      : raw.image === undefined
        ? c.fail(k("image"), undefined, "is required: a .wasm path or a bundled image's name")
        : c.text(raw.image, k("image"));
  const layout = opt("layout", (v, at) => {
    const name = c.text(v, at);
    if (!opLayout(name)) c.fail(at, v, `names an unknown layout ${name}; one of: ${[...OP_LAYOUTS.keys()].join(", ")}`);
    return name;
  });
  const args = opt("args", (v, at) => {
    if (!Array.isArray(v) || v.some((a) => typeof a !== "string")) c.fail(at, v, `must be an array of strings, got ${shownValue(v)}`);
    return v as string[];
  });
  const capMiB = opt("capMiB", (v, at) => (v === null ? null : c.whole(v, GUEST_KEYS.capMiB.rule, at)));
  return {
    image,
    name: opt("name", (v, at) => c.text(v, at)),
    ramMiB: opt("ramMiB", (v, at) => c.whole(v, GUEST_KEYS.ramMiB.rule, at)),
    layout: layout ?? DEFAULT_LAYOUT_NAME,
    privileged: opt("privileged", (v, at) => c.bool(v, at)) ?? false,
    weight: opt("weight", (v, at) => c.whole(v, GUEST_KEYS.weight.rule, at)),
    capMiB,
    compress: opt("compress", (v, at) => c.bool(v, at)) ?? false,
    args: args ?? [],
    restore: opt("restore", (v, at) => c.text(v, at)),
    save: opt("save", (v, at) => c.text(v, at)),
  };
}

/** "5000:weight web 4", the way a flag, a config and the page write an action. */
export function parseTimedAction(text: string, source: string, key: string, name: string): TimedAction {
  const m = /^\s*(\S+?)\s*:\s*(\S+)\s*(.*)$/.exec(text);
  if (!m) throw new SpecError(source, key, text, `${name} "${text}" is not AT:ACTION [ARGS] (e.g. 5000:freeze web)`);
  const at = parseWhole(m[1], AT_RULE, source, key, `${name} "${text}": AT`);
  return timed(at, m[2], m[3].trim() ? m[3].trim().split(/\s+/) : [], source, key, `${name} "${text}"`);
}

function timed(at: number, action: string, args: string[], source: string, key: string, name: string): TimedAction {
  let a: ControlAction;
  try {
    a = parseAction(action, args);
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    throw new SpecError(source, key, `${at}:${[action, ...args].join(" ")}`, `${name}: ${e.message}`);
  }
  return { ...a, at };
}

function checkControl(c: Checker, raw: unknown, key: string): TimedAction {
  const name = keyName(c.origin, key);
  if (typeof raw === "string") return parseTimedAction(raw, c.origin.name, key, name);
  if (!isObject(raw) || typeof raw.action !== "string")
    c.fail(key, raw, `must be "AT:ACTION ARGS" or { at, action, args }, got ${shownValue(raw)}`);
  c.keys(raw, ["at", "action", "args"], key, "a control action");
  const at = c.whole(raw.at, AT_RULE, `${key}.at`);
  // Words, as on a command line; a JSON number among them is written as the decimal it is.
  const args =
    raw.args === undefined
      ? []
      : Array.isArray(raw.args) &&
          raw.args.every((a) => typeof a === "string" || (typeof a === "number" && Number.isSafeInteger(a) && a >= 0))
        ? raw.args.map(String)
        : c.fail(`${key}.args`, raw.args, `must be an array of words, got ${shownValue(raw.args)}`);
  return timed(at, raw.action, args, c.origin.name, key, name);
}

/**
 * A machine description checked whole: unknown keys, values out of their range or of the wrong
 * type, duplicate guest names and malformed control actions are each one SpecError naming the key
 * as `origin` wrote it. Images and save files are not read here (the platform does that at boot).
 */
export function checkSpec(raw: unknown, origin: SpecOrigin): MachineSpec {
  const c: Checker = new Checker(origin);
  if (!isObject(raw)) c.fail("", raw, `must be an object with guests, got ${shownValue(raw)}`);
  c.keys(raw, [...Object.keys(MACHINE_KEYS), "domains"], "", "a machine");
  if (raw.guests !== undefined && raw.domains !== undefined)
    c.fail("domains", raw.domains, `is the older name of guests: give one of them`);
  const listKey = raw.guests === undefined && raw.domains !== undefined ? "domains" : "guests";
  const list = raw[listKey];
  if (!Array.isArray(list) || list.length === 0) c.fail(listKey, list, `must be an array of at least one guest, got ${shownValue(list)}`);
  const guests = list.map((g, i) => checkGuest(c, g, `${listKey}[${i}]`));
  guests.forEach((g, i) => {
    const first = guests.findIndex((o) => o.name !== undefined && o.name === g.name);
    if (g.name !== undefined && first < i)
      c.fail(`${listKey}[${i}].name`, g.name, `is ${shownValue(g.name)}, the name of ${listKey}[${first}] already: names must be distinct`);
  });
  const rawControl = raw.control;
  if (rawControl !== undefined && !Array.isArray(rawControl))
    c.fail("control", rawControl, `must be an array of control actions, got ${shownValue(rawControl)}`);
  const control = (rawControl ?? []).map((a: unknown, i: number) => checkControl(c, a, `control[${i}]`));
  if (raw.tmemFrames !== undefined && raw.tmemMiB !== undefined)
    c.fail("tmemFrames", raw.tmemFrames, "and tmemMiB both size tmem: give one of them");
  return {
    guests,
    tmemMiB: raw.tmemMiB === undefined ? DEFAULT_TMEM_MIB : c.whole(raw.tmemMiB, MACHINE_KEYS.tmemMiB.rule, "tmemMiB"),
    tmemFrames: raw.tmemFrames === undefined ? undefined : c.whole(raw.tmemFrames, MACHINE_KEYS.tmemFrames.rule, "tmemFrames"),
    seed: raw.seed === undefined ? 1 : c.whole(raw.seed, MACHINE_KEYS.seed.rule, "seed"),
    quantum: raw.quantum === undefined ? DEFAULT_QUANTUM : c.whole(raw.quantum, MACHINE_KEYS.quantum.rule, "quantum"),
    control,
    record: raw.record === undefined ? undefined : c.text(raw.record, "record"),
    origin,
  };
}

/** The spec as JSON for a trace's readers and a worker thread: images by name, actions in words. */
export function specForReaders(spec: MachineSpec): Record<string, unknown> {
  return {
    ...(spec.tmemFrames === undefined ? { tmemMiB: spec.tmemMiB } : { tmemFrames: spec.tmemFrames }),
    seed: spec.seed,
    quantum: spec.quantum,
    guests: spec.guests.map((g) => ({ ...g, image: typeof g.image === "string" ? g.image : "<bytes>" })),
    control: spec.control.map((a) => `${a.at}:${actionText(a)}`),
  };
}
