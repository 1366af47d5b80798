// A guest-side test report: one line per check, a closing tally, exit status from the tally.

let passed: i32 = 0;
let failed: i32 = 0;

export function expectEq(what: string, got: i64, want: i64): bool {
  if (got === want) {
    passed++;
    console.log("ok   " + what + " = " + got.toString());
    return true;
  }
  failed++;
  console.log("FAIL " + what + ": got " + got.toString() + ", want " + want.toString());
  return false;
}

export function expectTrue(what: string, cond: bool): bool {
  if (cond) {
    passed++;
    console.log("ok   " + what);
    return true;
  }
  failed++;
  console.log("FAIL " + what);
  return false;
}

/** Prints the tally and exits 0 only if every check passed. */
export function finish(name: string): void {
  console.log(name + ": " + passed.toString() + " passed, " + failed.toString() + " failed");
  process.exit(failed === 0 ? 0 : 1);
}
