// What `tmemvm run` is asked to do: a config file (the machine spec as JSON, see vmm/spec/) with the
// command line's flags over it, as QEMU and TinyEMU do. The spec's own check does all the checking;
// this module only reads the file, resolves its paths and lays the flags on top.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { checkSpec, fileSource, objectSource, type MachineSpec, type TimedAction } from "../vmm/api.js";
import { resolveImage as resolveImageFrom } from "../vmm/node.js";

export class ConfigError extends Error {
  /** A usage error, for the classifier (vmm/error-class.ts). */
  readonly errorClass = "usage";
}

export type { MachineSpec, TimedAction };

/**
 * A guest image as the user named it: a file (relative to `base`), else a bundled image's name.
 * Kept here for the CLI's callers; the rule lives in vmm/platform/node-platform.ts.
 */
export function resolveImage(spec: string, base = process.cwd()): string {
  return resolveImageFrom(spec, base);
}

/** Reads a JSON config: the spec, its relative paths (images, save files, trace) taken from the file's directory. */
export function readConfig(path: string): MachineSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === "ENOENT"
        ? `${path}: no such file`
        : code
          ? `${path}: cannot read (${code})`
          : `${path}: not valid JSON (${(e as Error).message})`,
    );
  }
  const spec = checkSpec(raw, fileSource(path));
  const base = dirname(resolve(path));
  for (const g of spec.guests) {
    if (g.restore) g.restore = resolve(base, g.restore);
    if (g.save) g.save = resolve(base, g.save);
  }
  if (spec.record) spec.record = resolve(base, spec.record);
  // Last, so that a mistake in the config itself is reported before a missing image.
  for (const g of spec.guests) if (typeof g.image === "string") g.image = resolveImageFrom(g.image, base);
  for (const a of spec.control) if (a.action === "save") a.file = resolve(base, a.file);
  return spec;
}

/** What the command line says about the machine; each value already checked by its flag's parser. */
export interface RunFlags {
  images: string[];
  /** After `--`. */
  args: string[];
  mem?: number;
  tmem?: number;
  layout?: string;
  privileged?: boolean;
  weight?: number;
  seed?: number;
  quantum?: number;
  control: TimedAction[];
  save: string[];
  restore: string[];
  record?: string;
  config?: string;
}

/** `[DOMAIN=]FILE`: the domain defaults to the first. */
function domainFile(text: string, spec: MachineSpec, what: string): [MachineSpec["guests"][number], string] {
  const m = /^([^=]+)=(.+)$/.exec(text);
  if (!m) return [spec.guests[0], text];
  const bare = (image: string | Uint8Array) => (typeof image === "string" ? image.replace(/^.*[\\/]/, "").replace(/\.wasm$/, "") : "");
  const i = spec.guests.findIndex((g, k) => g.name === m[1] || String(k + 1) === m[1] || bare(g.image) === m[1]);
  if (i < 0) throw new ConfigError(`${what} ${text}: no domain ${m[1]}`);
  return [spec.guests[i], m[2]];
}

/** The run's spec: the config (if any) with the flags over it, or the flags' images alone. */
export function runSpec(flags: RunFlags): MachineSpec {
  let spec: MachineSpec;
  if (flags.config) {
    if (flags.images.length > 0) throw new ConfigError("give guest images either on the command line or in --config, not both");
    spec = readConfig(flags.config);
    if (flags.args.length > 0) for (const g of spec.guests) g.args = flags.args;
  } else {
    if (flags.images.length === 0) throw new ConfigError("missing required argument 'image'");
    spec = checkSpec(
      { guests: flags.images.map((image) => ({ image: resolveImage(image), args: flags.args })) },
      objectSource("command line"),
    );
  }
  const set = (key: string, flag: string) => (spec.origin.flags[key] = flag);
  for (const g of spec.guests) {
    if (flags.mem !== undefined) {
      g.ramMiB = flags.mem;
      set("ramMiB", "--mem");
    }
    if (flags.weight !== undefined) {
      g.weight = flags.weight;
      set("weight", "--weight");
    }
    if (flags.layout !== undefined) {
      g.layout = flags.layout;
      set("layout", "--layout");
    }
    if (flags.privileged) g.privileged = true;
  }
  if (flags.tmem !== undefined) spec.tmemMiB = flags.tmem;
  if (flags.seed !== undefined) spec.seed = flags.seed;
  if (flags.quantum !== undefined) spec.quantum = flags.quantum;
  if (flags.record !== undefined) spec.record = flags.record;
  for (const a of flags.control) {
    set(`control[${spec.control.length}]`, "--control");
    spec.control.push(a);
  }
  for (const s of flags.save) {
    const [g, f] = domainFile(s, spec, "--save");
    g.save = f;
  }
  for (const s of flags.restore) {
    const [g, f] = domainFile(s, spec, "--restore");
    g.restore = f;
  }
  return spec;
}
