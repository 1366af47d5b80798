// Small disks for the full-disk tests, made by the test. As root with CAP_SYS_ADMIN each is a real
// 64 KiB tmpfs; where mount(8) is refused (CI without the capability), or TMEMVM_TEST_NO_MOUNT=1
// asks for it, each is a plain directory that tmemvm, spawned with fullDiskEnv(), sees as a
// 64 KiB disk: full-disk-preload.mjs makes its writes there fail with ENOSPC past 64 KiB. Either
// way the same tests run and a full disk is a write that fails with ENOSPC; none is skipped.
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The size of each small disk. */
export const SMALL_DISK_BYTES = 64 * 1024;

const PRELOAD = new URL("./full-disk-preload.mjs", import.meta.url).href;

/** "tmpfs" once a mount worked, "injected" once one was refused (or none was to be tried). */
let mode: "tmpfs" | "injected" | null = process.env.TMEMVM_TEST_NO_MOUNT === "1" ? "injected" : null;
const disks: string[] = [];

/** How the small disks are made in this run. */
export const smallDiskMode = () => mode;

/** A fresh small disk (see above): tests fill it to make a write fail. */
export function smallDisk(): string {
  const dir = mkdtempSync(join(tmpdir(), "tmemvm-small-disk-"));
  if (mode !== "injected") {
    const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${SMALL_DISK_BYTES / 1024}k`, "tmpfs", dir], { encoding: "utf8" });
    if (r.status === 0) mode = "tmpfs";
    else if (mode === "tmpfs") throw new Error(`cannot mount a tmpfs at ${dir}, though one was mounted before: ${r.stderr}`);
    else {
      mode = "injected";
      console.warn(
        `full-disk tests: mount refused (${(r.stderr || r.error?.message || `status ${r.status}`).trim()}); writes fail by injection instead`,
      );
    }
  }
  disks.push(dir);
  return dir;
}

/** Fills the small disk `dir`, so that the next write of any size to it fails with ENOSPC. */
export function fill(dir: string): void {
  if (mode === "injected") {
    // The preload counts the bytes in the files under `dir`: this alone reaches the limit.
    writeFileSync(join(dir, "filler"), Buffer.alloc(SMALL_DISK_BYTES, 1));
    return;
  }
  const fd = openSync(join(dir, "filler"), "w");
  const chunk = Buffer.alloc(1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

/**
 * The environment for a tmemvm that may write to the small disks: with injected disks, the
 * preload and the disks made so far; with tmpfs ones, nothing is added (undefined: inherit).
 */
export function fullDiskEnv(): NodeJS.ProcessEnv | undefined {
  if (mode !== "injected" || disks.length === 0) return undefined;
  return {
    ...process.env,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${PRELOAD}`].filter(Boolean).join(" "),
    TMEMVM_TEST_FULL_DIR: disks.join(delimiter),
    TMEMVM_TEST_FULL_BYTES: String(SMALL_DISK_BYTES),
  };
}

/** Unmounts and removes the small disks (for afterAll). */
export function removeSmallDisks(): void {
  for (const d of disks.splice(0)) {
    if (mode === "tmpfs") spawnSync("umount", [d]);
    rmSync(d, { recursive: true, force: true });
  }
}
