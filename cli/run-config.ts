// What `tmemvm run` is asked to do, from its options or a JSON config of domains, checked whole
// before anything boots: every mistake is one ConfigError sentence.
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { opLayout, OP_LAYOUTS, type OpLayout } from "../hypercall-abi/op-layouts.js";
import { bundledImage, bundledImages } from "../vmm/platform/assets.js";
import { CAP_MIB_RANGE, parseAction, WEIGHT_RANGE, type ControlAction } from "../vmm/host/control-action.js";

export class ConfigError extends Error {
  /** A usage error, for the classifier (vmm/error-class.ts). */
  readonly errorClass = "usage";
}

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
export type TimedAction = ControlAction & { at: number };

export interface RunConfig {
  tmemMiB: number;
  seed: number;
  quantum: number;
  domains: DomainConfig[];
  control: TimedAction[];
}

/** "5000:weight web 4" */
export function parseControl(spec: string): TimedAction {
  const m = /^\s*(\d+)\s*:\s*(\S+)\s*(.*)$/.exec(spec);
  if (!m) throw new ConfigError(`control action "${spec}" is not AT:ACTION [ARGS] (e.g. 5000:freeze web)`);
  return timed(Number(m[1]), m[2], m[3].trim() ? m[3].trim().split(/\s+/) : []);
}

function timed(at: number, action: string, args: string[]): TimedAction {
  const a = parseAction(action, args);
  if (!Number.isSafeInteger(at) || at < 0) throw new ConfigError(`control action ${action}: "at" must be a hypercall count >= 0`);
  return { ...a, at };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * The range of every number a run takes, the same on the command line and in a config (the CLI
 * parses its options with these, the config reader checks its keys with them).
 */
export const RUN_RANGES = {
  ramMiB: [1, 4095],
  tmemMiB: [0, 1 << 20],
  weight: WEIGHT_RANGE,
  capMiB: CAP_MIB_RANGE,
  seed: [0, 0xffffffff],
  quantum: [1, 1 << 30],
} as const satisfies Record<string, readonly [number, number]>;

export type RunRange = keyof typeof RUN_RANGES;

/** A whole number in the range of `key`, or a ConfigError naming `what` and the range. */
function checkWhole(x: unknown, what: string, key: RunRange): number {
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
    return timed(whole(c.at, `${path}: control[${i}].at`, 0, Number.MAX_SAFE_INTEGER) ?? 0, c.action, Array.isArray(c.args) ? c.args.map(String) : []);
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
