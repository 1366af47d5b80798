// What `tmemvm run` is asked to do, from its options or a JSON config of domains, checked whole
// before anything boots: every mistake is one ConfigError sentence.
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { opLayout, OP_LAYOUTS, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { bundledImage, bundledImages } from "../vmm/platform/assets.js";

export class ConfigError extends Error {}

/**
 * A guest image as the user named it: a file (relative to `base`, a config's directory or the
 * working directory), else, for a bare name such as `selftest` or `precache.wasm`, the image of
 * that name bundled with the package. A path that names no file is left for the loader to refuse.
 */
export function resolveImage(spec: string, base = process.cwd()): string {
  const file = resolve(base, spec);
  if (existsSync(file) || spec.includes("/") || spec.includes(sep)) return file;
  const bundled = bundledImage(spec);
  if (bundled) return bundled;
  throw new ConfigError(`${spec}: no such file, and no bundled image of that name (bundled: ${bundledImages().map((i) => i.name).join(", ")})`);
}

export interface DomainConfig {
  image: string;
  name?: string;
  ramMiB?: number;
  weight?: number;
  capMiB?: number;
  layout?: OpLayout;
  privileged?: boolean;
  args: string[];
  /** Save file to restore into the domain before it runs. */
  restore?: string;
  /** Save file to write when the run ends. */
  save?: string;
}

/** A control-plane action at a point of the run (after `at` hypercalls in total). */
export interface ControlAction {
  at: number;
  action: string;
  args: string[];
}

export interface RunConfig {
  tmemMiB: number;
  seed: number;
  quantum: number;
  domains: DomainConfig[];
  control: ControlAction[];
}

export const CONTROL_ACTIONS: Record<string, string> = {
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
};

/** "5000:weight web 4" */
export function parseControl(spec: string): ControlAction {
  const m = /^\s*(\d+)\s*:\s*(\S+)\s*(.*)$/.exec(spec);
  if (!m) throw new ConfigError(`control action "${spec}" is not AT:ACTION [ARGS] (e.g. 5000:freeze web)`);
  return checkAction({ at: Number(m[1]), action: m[2], args: m[3].trim() ? m[3].trim().split(/\s+/) : [] });
}

function checkAction(a: ControlAction): ControlAction {
  const usage = CONTROL_ACTIONS[a.action];
  if (usage === undefined) throw new ConfigError(`unknown control action "${a.action}"; one of: ${Object.keys(CONTROL_ACTIONS).join(", ")}`);
  const want = usage ? usage.split(" ").length : 0;
  if (a.args.length !== want) throw new ConfigError(`control action ${a.action} takes ${usage || "no arguments"}`);
  if (!Number.isSafeInteger(a.at) || a.at < 0) throw new ConfigError(`control action ${a.action}: "at" must be a hypercall count >= 0`);
  // The numbers an action carries have the ranges the same settings have as options.
  const number = (text: string, what: string, key: RunRange | null) => {
    if (!/^\d+$/.test(text)) throw new ConfigError(`control action ${a.action}: ${what} ${text} is not a whole number`);
    if (key) checkWhole(Number(text), `control action ${a.action}: ${what}`, key);
  };
  if (a.action === "flush") number(a.args[0], "PAGES", null);
  if (a.action === "weight") number(a.args[1], "WEIGHT", "weight");
  if (a.action === "cap" && a.args[1] !== "none") number(a.args[1], "MIB", "capMiB");
  if (a.action === "compress" && !["on", "off"].includes(a.args[1])) throw new ConfigError(`control action compress takes on or off`);
  if (a.action === "auth" || a.action === "deauth") {
    const parts = a.args[1].split(",");
    if (parts.length !== 2 || parts.some((p) => !/^(0x[0-9a-f]{1,16}|\d+)$/i.test(p) || BigInt(p) >= 1n << 64n)) {
      throw new ConfigError(`control action ${a.action}: the uuid ${a.args[1]} is not LO,HI (two 64-bit numbers)`);
    }
  }
  return a;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * The range of every number a run takes, the same on the command line and in a config (the CLI
 * parses its options with these, the config reader checks its keys with them).
 */
export const RUN_RANGES = {
  ramMiB: [1, 4095],
  tmemMiB: [0, 1 << 20],
  weight: [0, 1_000_000],
  capMiB: [0, 1 << 20],
  seed: [0, 0xffffffff],
  quantum: [1, 1 << 30],
} as const satisfies Record<string, readonly [number, number]>;

export type RunRange = keyof typeof RUN_RANGES;

/** A whole number in the range of `key`, or a ConfigError naming `what` and the range. */
export function checkWhole(x: unknown, what: string, key: RunRange): number {
  const [min, max] = RUN_RANGES[key];
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) throw new ConfigError(`${what} must be a whole number ${min}..${max}`);
  return x;
}

function whole(x: unknown, what: string, min: number, max: number): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) throw new ConfigError(`${what} must be a whole number ${min}..${max}`);
  return x;
}

const ranged = (x: unknown, what: string, key: RunRange): number | undefined => (x === undefined ? undefined : checkWhole(x, what, key));

function text(x: unknown, what: string): string | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== "string" || x === "") throw new ConfigError(`${what} must be a non-empty string`);
  return x;
}

function layoutOf(x: unknown, what: string): OpLayout | undefined {
  const name = text(x, what);
  if (name === undefined) return undefined;
  const l = opLayout(name);
  if (!l) throw new ConfigError(`${what}: unknown layout ${name}; one of: ${[...OP_LAYOUTS.keys()].join(", ")}`);
  return l;
}

/** Reads a JSON config: { tmemMiB, seed, quantum, domains: [...], control: [...] }. */
export function readConfig(path: string): Partial<RunConfig> & { domains: DomainConfig[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(code === "ENOENT" ? `${path}: no such file` : code ? `${path}: cannot read (${code})` : `${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new ConfigError(`${path}: the config must be a JSON object`);
  const base = dirname(resolve(path));
  const known = new Set(["tmemMiB", "seed", "quantum", "domains", "control"]);
  const extra = Object.keys(raw).find((k) => !known.has(k));
  if (extra) throw new ConfigError(`${path}: unknown key "${extra}"; keys: ${[...known].join(", ")}`);
  if (!Array.isArray(raw.domains) || raw.domains.length === 0) throw new ConfigError(`${path}: "domains" must be a non-empty array`);
  const domainKeys = new Set(["image", "name", "ramMiB", "weight", "capMiB", "layout", "privileged", "args", "restore", "save"]);
  const domains = raw.domains.map((d: unknown, i: number): DomainConfig => {
    const where = `${path}: domains[${i}]`;
    if (!isObject(d)) throw new ConfigError(`${where} must be an object`);
    const bad = Object.keys(d).find((k) => !domainKeys.has(k));
    if (bad) throw new ConfigError(`${where}: unknown key "${bad}"; keys: ${[...domainKeys].join(", ")}`);
    const image = text(d.image, `${where}.image`);
    if (!image) throw new ConfigError(`${where}.image is required`);
    if (d.args !== undefined && (!Array.isArray(d.args) || d.args.some((a) => typeof a !== "string"))) throw new ConfigError(`${where}.args must be an array of strings`);
    if (d.privileged !== undefined && typeof d.privileged !== "boolean") throw new ConfigError(`${where}.privileged must be true or false`);
    const file = (x: unknown, what: string) => {
      const f = text(x, what);
      return f === undefined ? undefined : resolve(base, f);
    };
    return {
      image, // resolved once the whole config has been checked
      name: text(d.name, `${where}.name`),
      ramMiB: ranged(d.ramMiB, `${where}.ramMiB`, "ramMiB"),
      weight: ranged(d.weight, `${where}.weight`, "weight"),
      capMiB: ranged(d.capMiB, `${where}.capMiB`, "capMiB"),
      layout: layoutOf(d.layout, `${where}.layout`),
      privileged: d.privileged as boolean | undefined,
      args: (d.args as string[] | undefined) ?? [],
      restore: file(d.restore, `${where}.restore`),
      save: file(d.save, `${where}.save`),
    };
  });
  const control = raw.control === undefined ? [] : Array.isArray(raw.control) ? raw.control.map((c: unknown, i: number) => {
    if (typeof c === "string") return parseControl(c);
    if (!isObject(c) || typeof c.action !== "string") throw new ConfigError(`${path}: control[${i}] must be "AT:ACTION ARGS" or { at, action, args }`);
    return checkAction({ at: whole(c.at, `${path}: control[${i}].at`, 0, Number.MAX_SAFE_INTEGER) ?? 0, action: c.action, args: Array.isArray(c.args) ? c.args.map(String) : [] });
  }) : (() => { throw new ConfigError(`${path}: "control" must be an array`); })();
  const tmemMiB = ranged(raw.tmemMiB, `${path}: tmemMiB`, "tmemMiB");
  const seed = ranged(raw.seed, `${path}: seed`, "seed");
  const quantum = ranged(raw.quantum, `${path}: quantum`, "quantum");
  // Last, so that a mistake in the config itself is reported before a missing image.
  for (const d of domains) d.image = resolveImage(d.image, base);
  return {
    tmemMiB,
    seed,
    quantum,
    domains,
    control,
  };
}
