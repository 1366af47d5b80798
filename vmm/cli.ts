#!/usr/bin/env node
// tmemvm: boot guest images under the VMM. Every failure is one line on stderr and a non-zero
// exit; a stack trace only with TMEMVM_DEBUG=1.
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { ImageError, loadImage } from "./image.js";
import { formatSummary } from "./summary.js";
import { DEFAULT_RAM_MIB, DEFAULT_TMEM_MIB, Vmm } from "./vmm.js";

/** Exit codes of the CLI itself (a guest's own exit code passes through unchanged). */
const EXIT_USAGE = 2;
const EXIT_GUEST_CRASHED = 70;

class CliError extends Error {}

function mib(what: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${what} must be a whole number of MiB`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${what} must be ${min}..${max} MiB`);
    return n;
  };
}

async function run(imagePath: string, guestArgs: string[], opts: { mem?: number; tmem: number; summary: boolean }): Promise<number> {
  const image = loadImage(imagePath);
  const vmm = await Vmm.create({ tmemMiB: opts.tmem });
  const domain = await vmm.boot({
    image,
    ramMiB: opts.mem,
    args: guestArgs,
    console: { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) },
  });
  const code = vmm.run(domain);
  if (opts.summary) process.stderr.write(formatSummary(vmm.tmem) + "\n");
  if (code === null) {
    throw new CliError(`guest ${domain.name} crashed: ${domain.crash}`);
  }
  return code;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("tmemvm")
    .description("Xen's tmem hypercall, emulated inside a WebAssembly micro-VM")
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError();

  let exitCode = 0;
  program
    .command("run")
    .description("boot a guest image and run it to completion")
    .argument("<image>", "guest image (.wasm)")
    .argument("[args...]", "arguments for the guest")
    .option("--mem <MiB>", `guest RAM (default ${DEFAULT_RAM_MIB}, or what the image needs)`, mib("--mem", 1, 4095))
    .option("--tmem <MiB>", "host memory lent to tmem", mib("--tmem", 0, 1 << 20), DEFAULT_TMEM_MIB)
    .option("--no-summary", "do not print the tmem summary at exit")
    .action(async (image: string, args: string[], opts: { mem?: number; tmem: number; summary: boolean }) => {
      exitCode = await run(image, args, opts);
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`tmemvm: ${e.message.replace(/^error: /, "")}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ImageError || e instanceof RangeError) {
      process.stderr.write(`tmemvm: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof CliError) {
      process.stderr.write(`tmemvm: ${e.message}\n`);
      return EXIT_GUEST_CRASHED;
    }
    process.stderr.write(`tmemvm: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.TMEMVM_DEBUG) console.error(e);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
