// The machine: one tmem backend shared by every domain, guests booted from images with WASI
// for their console, clock and arguments, and run to completion.
import { init as initWasi, WASI } from "@wasmer/wasi";
import { TMEM_PAGE_SIZE } from "../hypercall-abi/constants.js";
import type { OpLayout } from "../hypercall-abi/op-layouts.js";
import { Domain } from "./domain.js";
import { ImageError, type GuestImage } from "./image.js";
import { Tmem } from "./tmem/tmem.js";

export interface VmmOptions {
  /** Host memory lent to tmem, in MiB. */
  tmemMiB: number;
}

export interface ConsoleSink {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface DomainSpec {
  image: GuestImage;
  name?: string;
  ramMiB?: number;
  privileged?: boolean;
  layout?: OpLayout;
  /** argv[1..] for the guest (argv[0] is its name). */
  args?: string[];
  console?: ConsoleSink;
}

export const DEFAULT_RAM_MIB = 32;
export const DEFAULT_TMEM_MIB = 64;
type FdWrite = (fd: number, iovs: number, iovsLen: number, nwrittenPtr: number) => number;
const WASI_ESUCCESS = 0;
const WASI_EFAULT = 21;

/**
 * fd_write for stdout/stderr that hands the bytes to the sink as the guest writes them
 * (@wasmer/wasi buffers them until the guest exits, and cannot be read while it runs).
 */
function streamingFdWrite(domain: Domain, sink: ConsoleSink, fallback: FdWrite): FdWrite {
  const decoder = new TextDecoder();
  return (fd, iovs, iovsLen, nwrittenPtr) => {
    if (fd !== 1 && fd !== 2) return fallback(fd, iovs, iovsLen, nwrittenPtr);
    const ram = domain.ram;
    const view = new DataView(ram.memory.buffer);
    const vec = ram.range(iovs, 0, iovsLen * 8);
    const out = ram.range(nwrittenPtr, 0, 4);
    if (vec < 0 || out < 0) return WASI_EFAULT;
    let text = "";
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const len = view.getUint32(vec + 8 * i + 4, true);
      const buf = ram.range(view.getUint32(vec + 8 * i, true), 0, len);
      if (buf < 0) return WASI_EFAULT;
      text += decoder.decode(ram.bytes.subarray(buf, buf + len), { stream: true });
      total += len;
    }
    view.setUint32(out, total, true);
    if (fd === 1) sink.stdout(text);
    else sink.stderr(text);
    return WASI_ESUCCESS;
  };
}

let wasiReady: Promise<void> | null = null;

interface Running {
  wasi: WASI;
  instance: WebAssembly.Instance;
  console: ConsoleSink | undefined;
}

export class Vmm {
  readonly tmem: Tmem;
  readonly domains: Domain[] = [];
  private nextDomid = 1;
  private readonly running = new Map<Domain, Running>();

  private constructor(opts: VmmOptions) {
    if (!Number.isInteger(opts.tmemMiB) || opts.tmemMiB < 0 || opts.tmemMiB > 1 << 20) {
      throw new RangeError(`tmem capacity must be 0..${1 << 20} MiB, got ${opts.tmemMiB}`);
    }
    this.tmem = new Tmem({ capacityFrames: (opts.tmemMiB * 1024 * 1024) / TMEM_PAGE_SIZE });
  }

  static async create(opts: VmmOptions): Promise<Vmm> {
    wasiReady ??= initWasi();
    await wasiReady;
    return new Vmm(opts);
  }

  /** Creates a domain for `spec.image` and instantiates it; nothing runs until run(). */
  async boot(spec: DomainSpec): Promise<Domain> {
    const image = spec.image;
    const ramMiB = spec.ramMiB ?? Math.max(DEFAULT_RAM_MIB, image.minRamMiB);
    if (ramMiB < image.minRamMiB) throw new ImageError(`${image.name}: needs at least ${image.minRamMiB} MiB of RAM, --mem gives ${ramMiB}`);
    if (image.maxRamMiB !== null && ramMiB > image.maxRamMiB) {
      throw new ImageError(`${image.name}: accepts at most ${image.maxRamMiB} MiB of RAM, --mem gives ${ramMiB}`);
    }
    const name = spec.name ?? image.name;
    const wasi = new WASI({ args: [name, ...(spec.args ?? [])], env: {} });
    const wasiImports = wasi.getImports(image.module) as { wasi_snapshot_preview1?: Record<string, unknown> };
    const provided = wasiImports.wasi_snapshot_preview1 ?? {};
    const missing = image.wasiImports.find((n) => !(n in provided));
    if (missing) throw new ImageError(`${image.name}: imports wasi_snapshot_preview1.${missing}, which the VMM does not provide`);

    const domain = new Domain(this.tmem, {
      domid: this.nextDomid++,
      name,
      ramMiB,
      privileged: spec.privileged ?? false,
      layout: spec.layout,
    });
    const sink = spec.console;
    const wasiFns = wasiImports.wasi_snapshot_preview1;
    if (sink && wasiFns && typeof wasiFns.fd_write === "function") {
      wasiFns.fd_write = streamingFdWrite(domain, sink, wasiFns.fd_write as FdWrite);
    }
    const instance = await WebAssembly.instantiate(image.module, {
      ...wasiImports,
      env: { memory: domain.ram.memory },
      xen: { hypercall: domain.hypercall },
    } as WebAssembly.Imports);
    this.domains.push(domain);
    this.running.set(domain, { wasi, instance, console: sink });
    return domain;
  }

  /**
   * Runs the domain's `_start` to the end. Returns its exit code; a trap marks the domain
   * crashed, destroys its tmem client (other domains carry on) and returns null.
   */
  run(domain: Domain): number | null {
    const r = this.running.get(domain);
    if (!r || domain.state !== "created") throw new Error(`domain ${domain.domid} is not ready to run (${domain.state})`);
    domain.state = "running";
    try {
      domain.exitCode = r.wasi.start(r.instance);
      domain.state = "exited";
    } catch (e) {
      domain.state = "crashed";
      domain.crash = e instanceof Error ? e.message : String(e);
      this.tmem.destroyClient(domain.domid);
    } finally {
      this.flushConsole(domain);
      this.running.delete(domain);
    }
    return domain.exitCode;
  }

  /** Output the guest wrote to stdout/stderr since the last flush, also forwarded to its sink. */
  flushConsole(domain: Domain): { stdout: string; stderr: string } {
    const r = this.running.get(domain);
    if (!r) return { stdout: "", stderr: "" };
    const stdout = r.wasi.getStdoutString();
    const stderr = r.wasi.getStderrString();
    if (r.console) {
      if (stdout) r.console.stdout(stdout);
      if (stderr) r.console.stderr(stderr);
    }
    return { stdout, stderr };
  }
}
