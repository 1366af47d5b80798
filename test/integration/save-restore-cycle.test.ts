// A domain saved at the end of every run and restored at the start of the next, as the README's
// --config example does: its persistent pages carry over each time, and it keeps one pool. (The
// preswap guest used to create a fresh pool on every boot, so each cycle carried one more, empty,
// pool until NEW_POOL had no slot left.)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { CLI } from "../support/paths.js";

const cli = CLI;
const dir = mkdtempSync(join(tmpdir(), "tmemvm-cycle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Listing {
  domains: { name: string; persistentPages: number; pools: { poolId: number; type: string; pages: number; hits: number }[] }[];
}

function run(...extra: string[]) {
  const r = spawnSync(process.execPath, [cli, "run", "--config", "domains.json", "--list-json", "list.json", "--no-summary", ...extra], {
    cwd: dir,
    encoding: "utf8",
  });
  expect(r.stderr).not.toMatch(/internal error|crashed/);
  expect(r.status).toBe(0);
  const db = (JSON.parse(readFileSync(join(dir, "list.json"), "utf8")) as Listing).domains.find((d) => d.name === "db")!;
  return { stdout: r.stdout, stderr: r.stderr, db };
}

it("save in one run, restore in the next, again and again: the pages come back and the pool count stays one", () => {
  writeFileSync(
    join(dir, "domains.json"),
    JSON.stringify({
      tmemMiB: 8,
      seed: 1,
      domains: [{ image: "preswap", name: "db", ramMiB: 4, args: ["300", "32", "0", "store"], save: "db.tmsv" }],
    }),
  );
  const first = run();
  expect(first.stdout).toMatch(/preswap: 300 swap-outs \(300 to tmem, 0 to disk\)/);
  expect(first.db.pools).toMatchObject([{ poolId: 0, type: "PP", pages: 300 }]);
  expect(first.stderr).toMatch(/saved 300 persistent pages in 1 pool of db/);

  for (let cycle = 0; cycle < 2; cycle++) {
    const next = run("--restore", "db=db.tmsv");
    expect(next.stderr).toMatch(/restored 300 pages in 1 pool into db/);
    expect(next.stdout).toMatch(/preswap: resuming with the restored frontswap pool 0/);
    // Every page the last run stored comes back from tmem, checked by the guest.
    expect(next.stdout).toMatch(/preswap: 300 swap-outs \(300 to tmem, 0 to disk\), 300 swap-ins \(300 from tmem, 0 from disk\)/);
    // 301 hits: the guest's probe of pool 0 is a get too.
    expect(next.db.pools).toMatchObject([{ poolId: 0, type: "PP", pages: 300, hits: 301 }]);
    expect(next.stderr).toMatch(/saved 300 persistent pages in 1 pool of db/);
  }
}, 120_000);

it("a guest that was not restored creates its pool, and runs that flush theirs save no pages", () => {
  writeFileSync(
    join(dir, "domains.json"),
    JSON.stringify({
      tmemMiB: 8,
      seed: 1,
      domains: [{ image: "preswap", name: "db", ramMiB: 4, args: ["300", "32", "2000", "run"], save: "db.tmsv" }],
    }),
  );
  const r = run();
  expect(r.stdout).not.toMatch(/resuming/);
  expect(r.db.pools).toMatchObject([{ poolId: 0, type: "PP", pages: 0 }]);
  // Restored, the run-mode guest reuses the (empty) pool rather than adding a second one.
  const again = run("--restore", "db=db.tmsv");
  expect(again.stdout).toMatch(/resuming/);
  expect(again.db.pools.map((p) => p.poolId)).toEqual([0]);
});
