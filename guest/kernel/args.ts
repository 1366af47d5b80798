// Guest arguments as numbers and words, with defaults.

export function argU32(i: i32, dflt: u32): u32 {
  const argv = process.argv;
  return argv.length > i ? <u32>I32.parseInt(argv[i]) : dflt;
}

export function argString(i: i32, dflt: string): string {
  const argv = process.argv;
  return argv.length > i ? argv[i] : dflt;
}
