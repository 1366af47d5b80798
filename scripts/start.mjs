// `npm start`: after the build, boot the self-test guests, then the three-guest demo, through the
// CLI exactly as a user would.
import { spawnSync } from "node:child_process";

const cli = new URL("../dist/cli/cli.js", import.meta.url).pathname;
const build = new URL("../build/", import.meta.url).pathname;

function step(title, args) {
  console.log(`\n== ${title}\n$ tmemvm ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

step("self-test guest (AssemblyScript)", ["run", `${build}selftest.wasm`, "--no-summary"]);
step("self-test guest (C)", ["run", `${build}selftest-c.wasm`, "--no-summary"]);
step("three guests with weights 1, 2, 4 under memory pressure", ["demo", "--out", "out"]);
