// A small full disk without mount(8): loaded into a spawned tmemvm with
// NODE_OPTIONS=--import=<this file's URL> (test/support/full-disk.ts does it when a tmpfs cannot
// be mounted), it makes the directories named in TMEMVM_TEST_FULL_DIR (several joined by the path
// delimiter) behave as file systems of TMEMVM_TEST_FULL_BYTES bytes each (default 64 KiB, as the
// tmpfs): a write that would take a directory's files past that is cut short to what fits, and a
// write when nothing fits fails with ENOSPC, as write(2) does on a full tmpfs.
//
// How full a directory is, is read from the directory itself (the sizes of the files under it) at
// each write, so every process and thread sees the same disk and removing a file frees its space.
// --import modules run in every worker thread too, so guests (`tmemvm run`) and fuzz jobs are
// covered. The product writes its files with writeSync (vmm/platform/output-file.ts) and stdout to
// a file through process.stdout, which also ends in fs.writeSync; writeFileSync, appendFileSync
// and the callback fs.write (which fs.createWriteStream uses) are covered as well. fs.promises and
// writev are not: nothing tmemvm writes uses them.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { constants } from "node:os";
import { delimiter, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const dirs = (process.env.TMEMVM_TEST_FULL_DIR ?? "").split(delimiter).filter(Boolean);
const limit = Number(process.env.TMEMVM_TEST_FULL_BYTES ?? 64 * 1024);

if (dirs.length > 0) install();

function install() {
  // Each directory as given and as its real path, as /proc/self/fd names files by real path.
  const disks = dirs.map((d) => {
    const names = new Set([resolve(d)]);
    try {
      names.add(fs.realpathSync(d));
    } catch {
      // Not made yet: the name given is all there is.
    }
    return { root: resolve(d), names: [...names] };
  });

  const diskOfPath = (path) => {
    if (typeof path !== "string" && !(path instanceof URL) && !Buffer.isBuffer(path)) return null;
    const abs = resolve(path instanceof URL ? fileURLToPath(path) : String(path));
    return disks.find((d) => d.names.some((n) => abs === n || abs.startsWith(n + sep))) ?? null;
  };

  // The file an fd is open on: the kernel's answer where there is one (it covers fds inherited
  // from the parent, stdout among them), else what this thread opened it as.
  const opened = new Map();
  const diskOfFd = (fd) => {
    if (typeof fd !== "number") return null;
    let path;
    try {
      path = fs.readlinkSync(`/proc/self/fd/${fd}`).replace(/ \(deleted\)$/, "");
    } catch {
      path = opened.get(fd);
    }
    return path === undefined ? null : diskOfPath(path);
  };

  const used = (dir) => {
    let total = 0;
    let names;
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return 0;
    }
    for (const e of names) {
      const p = join(dir, e.name);
      if (e.isDirectory()) total += used(p);
      else if (e.isFile()) {
        try {
          total += fs.lstatSync(p).size;
        } catch {
          // Removed since the listing: it takes no space.
        }
      }
    }
    return total;
  };

  const enospc = () =>
    Object.assign(new Error("ENOSPC: no space left on device, write"), {
      errno: -constants.errno.ENOSPC,
      code: "ENOSPC",
      syscall: "write",
    });

  /** How many of `wanted` bytes fit on `disk` now; throws ENOSPC when none do. */
  const room = (disk, wanted) => {
    if (wanted === 0) return 0;
    const free = limit - used(disk.root);
    if (free <= 0) throw enospc();
    return Math.min(wanted, free);
  };

  /** writeSync's and write's arguments, as the bytes to write and where. */
  const bytesOf = (data, a, b, c) => {
    if (typeof data === "string")
      return { bytes: Buffer.from(data, typeof b === "string" ? b : "utf8"), position: typeof a === "number" ? a : null };
    const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (a !== null && typeof a === "object") {
      const offset = a.offset ?? 0;
      return { bytes: view.subarray(offset, offset + (a.length ?? view.length - offset)), position: a.position ?? null };
    }
    const offset = a ?? 0;
    return { bytes: view.subarray(offset, offset + (b ?? view.length - offset)), position: c ?? null };
  };

  const { openSync, closeSync, writeSync, write, writeFileSync, appendFileSync } = fs;

  fs.openSync = function (path, ...rest) {
    const fd = openSync.call(this, path, ...rest);
    if (diskOfPath(path) !== null) opened.set(fd, resolve(path instanceof URL ? fileURLToPath(path) : String(path)));
    return fd;
  };
  fs.closeSync = function (fd) {
    opened.delete(fd);
    return closeSync.call(this, fd);
  };

  fs.writeSync = function (fd, data, ...rest) {
    const disk = diskOfFd(fd);
    if (disk === null) return writeSync.call(this, fd, data, ...rest);
    const [a, b, c] = rest;
    const { bytes, position } = bytesOf(data, a, b, c);
    return writeSync.call(this, fd, bytes, 0, room(disk, bytes.length), position);
  };

  fs.write = function (fd, data, ...rest) {
    const disk = diskOfFd(fd);
    if (disk === null) return write.call(this, fd, data, ...rest);
    const callback = rest.pop();
    const { bytes, position } = bytesOf(data, ...rest);
    let n;
    try {
      n = room(disk, bytes.length);
    } catch (e) {
      process.nextTick(callback, e);
      return;
    }
    write.call(this, fd, bytes, 0, n, position, (err, written) => callback(err, written, data));
  };

  // Through writeSync above, whole or until the disk is full, as on a real one.
  const wholeFile = (original, flag) =>
    function (file, data, options, ...rest) {
      const disk = typeof file === "number" ? diskOfFd(file) : diskOfPath(file);
      if (disk === null) return original.call(this, file, data, options, ...rest);
      const opts = typeof options === "string" ? { encoding: options } : (options ?? {});
      const bytes = typeof data === "string" ? Buffer.from(data, opts.encoding ?? "utf8") : data;
      const fd = typeof file === "number" ? file : fs.openSync(file, opts.flag ?? flag, opts.mode ?? 0o666);
      try {
        for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at);
      } finally {
        if (fd !== file) fs.closeSync(fd);
      }
    };
  fs.writeFileSync = wholeFile(writeFileSync, "w");
  fs.appendFileSync = wholeFile(appendFileSync, "a");

  // `import { writeSync } from "node:fs"` sees the functions above from here on.
  syncBuiltinESMExports();
}
