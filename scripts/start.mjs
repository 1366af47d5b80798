// `npm start`: after the build, boot the self-test guest, then the cleancache demo guest, through
// the CLI exactly as a user would.
import { spawnSync } from "node:child_process";

const cli = new URL("../dist/vmm/cli.js", import.meta.url).pathname;
const build = new URL("../build/", import.meta.url).pathname;

function step(title, args) {
  console.log(`\n== ${title}\n$ tmemvm ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

step("self-test guest", ["run", `${build}selftest.wasm`, "--no-summary"]);
step("cleancache demo: 1024-page file set, 128-frame page cache, 4 passes", ["run", `${build}precache.wasm`, "--tmem", "8", "--", "1024", "128", "4"]);
