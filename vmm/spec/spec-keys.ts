// The one table of what a machine description may say: every key with its unit, its range and the
// flag that sets it on the command line. Flags, config files, the API and the page are all checked
// against it, so a number means the same and fails the same wherever it is written.
//
// Numbers are decimal whole numbers everywhere: in flags, in control actions' words, as JSON
// numbers in a config or the API. Hex (0x…) is refused alike in all of them, so that `--weight
// 0x10` and `"weight": "0x10"` cannot mean different things; the one exception is a shared pool's
// uuid, an identifier written LO,HI in hex or decimal.
import { DEFAULT_QUANTUM, DEFAULT_TMEM_MIB } from "../machine/vmm.js";
import { CAP_MIB_RANGE, WEIGHT_RANGE } from "../host/control-action.js";
import { shownValue, SpecError } from "./spec-error.js";

export interface WholeKey {
  kind: "whole";
  min: number;
  max: number;
  /** Shown after the range: "MiB". */
  unit?: string;
  /** Also accepts null (capMiB: no cap). */
  nullable?: boolean;
}

export type KeyRule = WholeKey | { kind: "text" | "bool" | "strings" | "layout" | "image" | "guests" | "control" };

export interface KeyInfo {
  rule: KeyRule;
  /** The `tmemvm run` flag that sets it, if any. */
  flag?: string;
  /** What it is, for help texts and the docs. */
  about: string;
  required?: boolean;
}

const whole = (min: number, max: number, unit?: string, nullable?: boolean): WholeKey => ({ kind: "whole", min, max, unit, nullable });

/** The keys of one guest (a config's `guests[i]`, the API's GuestSpec, a row of the page's form). */
export const GUEST_KEYS = {
  image: { rule: { kind: "image" }, required: true, about: "a .wasm path, a bundled image's name (or, from the API, its bytes)" },
  name: { rule: { kind: "text" }, about: "its name in listings and control actions (default: the image's, made unique)" },
  ramMiB: { rule: whole(1, 4095, "MiB"), flag: "--mem", about: "guest RAM (default 32, or what the image needs)" },
  layout: { rule: { kind: "layout" }, flag: "--layout", about: "the struct tmem_op layout it was built for" },
  privileged: { rule: { kind: "bool" }, flag: "--privileged", about: "a control domain, like dom0" },
  weight: { rule: whole(WEIGHT_RANGE[0], WEIGHT_RANGE[1]), flag: "--weight", about: "share of ephemeral tmem under pressure" },
  capMiB: { rule: whole(CAP_MIB_RANGE[0], CAP_MIB_RANGE[1], "MiB", true), about: "most persistent tmem it may hold (null: no cap)" },
  compress: { rule: { kind: "bool" }, about: "compress its pages (LZ4)" },
  args: { rule: { kind: "strings" }, about: "argv[1..]" },
  restore: { rule: { kind: "text" }, flag: "--restore", about: "a save file to restore into it before it runs" },
  save: { rule: { kind: "text" }, flag: "--save", about: "a save file to write when the run ends" },
} as const satisfies Record<string, KeyInfo>;

/** The keys of the whole machine. `domains` is the older name of `guests`, still read. */
export const MACHINE_KEYS = {
  guests: { rule: { kind: "guests" }, required: true, about: "the guests, in domain order" },
  tmemMiB: { rule: whole(0, 1 << 20, "MiB"), flag: "--tmem", about: `host memory lent to tmem (default ${DEFAULT_TMEM_MIB})` },
  tmemFrames: {
    rule: whole(0, 1 << 28, "frames"),
    about: "host memory lent to tmem in 4 KiB frames, instead of tmemMiB (an ABI tester's few)",
  },
  seed: { rule: whole(0, 0xffffffff), flag: "--seed", about: "scheduler seed (default 1)" },
  quantum: { rule: whole(1, 1 << 30), flag: "--quantum", about: `mean hypercalls per time slice (default ${DEFAULT_QUANTUM})` },
  control: { rule: { kind: "control" }, flag: "--control", about: `control actions: "AT:ACTION ARGS" or { at, action, args }` },
  record: { rule: { kind: "text" }, flag: "--record", about: "record the run to this trace" },
} as const satisfies Record<string, KeyInfo>;

export type GuestKey = keyof typeof GUEST_KEYS;
export type MachineKey = keyof typeof MACHINE_KEYS;
export type NumberKey = { [K in GuestKey | MachineKey]: (typeof GUEST_KEYS & typeof MACHINE_KEYS)[K]["rule"] extends WholeKey ? K : never }[
  | GuestKey
  | MachineKey];

/** A control action's `at`: a hypercall count. */
export const AT_RULE: WholeKey = whole(0, Number.MAX_SAFE_INTEGER);

export function ruleOf(key: NumberKey): WholeKey {
  return ((GUEST_KEYS as Record<string, KeyInfo>)[key] ?? (MACHINE_KEYS as Record<string, KeyInfo>)[key]).rule as WholeKey;
}

/** "a whole number 1..4095 (MiB)": the one wording of a range. */
export function rangeText(rule: WholeKey): string {
  return `a whole number ${rule.min}..${rule.max}${rule.unit ? ` (${rule.unit})` : ""}${rule.nullable ? " or null" : ""}`;
}

/** A whole number given as a JS value (config JSON, the API, the page), checked against `rule`. */
export function checkWhole(value: unknown, rule: WholeKey, source: string, key: string, name: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= rule.min && value <= rule.max) return value;
  throw new SpecError(source, key, value, `${name} must be ${rangeText(rule)}, got ${shownValue(value)}`);
}

/** A whole number typed as text (a flag, a control action's word): decimal digits only, then as checkWhole. */
export function parseWhole(text: string, rule: WholeKey, source: string, key: string, name: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new SpecError(source, key, text, `${name} must be ${rangeText(rule)}, got ${shownValue(text, true)}`);
  const n = Number(text);
  if (n < rule.min || n > rule.max) throw new SpecError(source, key, text, `${name} must be ${rangeText(rule)}, got ${text}`);
  return n;
}

/** The sentence `--help` prints about numbers. */
export const NUMBERS_HELP =
  "A machine's numbers (run, demo and fuzz options, config keys, control actions) are decimal whole numbers: hex (0x...) is refused in all of them alike. Only raw values take hex: encode's struct fields and a shared pool's uuid.";
