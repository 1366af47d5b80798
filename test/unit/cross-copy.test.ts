// The cross-memory page copy (vmm/store/cross-copy.ts): the right bytes both ways between two
// memories, at frame offsets across a slab, traps rather than partial copies out of bounds, and a
// clear refusal where the runtime has no multi-memory.
import { spawnSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { crossCopy, crossCopySupported, CrossCopyUnsupportedError, type CrossCopy } from "../../vmm/store/cross-copy.js";
import { classifyError } from "../../vmm/error-class.js";

const PAGE = 4096;
const WASM_PAGE = 65536;

/** Bytes that differ at every position and from page to page, so a shifted or swapped copy shows. */
/** Byte-for-byte equality (toEqual walks 256 KiB arrays element by element, seconds per test). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

const pattern = (seed: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed * 31 + (i >>> 8)) & 0xff);

describe("crossCopy", () => {
  // Guest RAM of 2 Wasm pages (32 guest pages), a slab of 4 Wasm pages (64 frames).
  const setup = () => {
    const guest = new WebAssembly.Memory({ initial: 2, maximum: 2 });
    const frames = new WebAssembly.Memory({ initial: 4, maximum: 4 });
    const g = new Uint8Array(guest.buffer);
    const f = new Uint8Array(frames.buffer);
    g.set(pattern(1, g.length));
    f.set(pattern(2, f.length));
    return { guest, frames, g, f, copy: crossCopy(guest, frames) };
  };
  const frameOffsets = [0, 1, 17, 63].map((n) => n * PAGE);

  // Each direction: which memory is written, at which offset, from which.
  const directions = [
    { name: "a guest page into a frame (copyIn)", run: (c: CrossCopy, g: number, f: number) => c.copyIn(g, f), to: "f", from: "g" },
    { name: "a frame out into a guest page (copyOut)", run: (c: CrossCopy, g: number, f: number) => c.copyOut(g, f), to: "g", from: "f" },
  ] as const;

  it.each(directions)("copies $name, at frames across the slab, touching nothing else", ({ run, to, from }) => {
    for (const frameOff of frameOffsets) {
      const mem = setup();
      const guestOff = 31 * PAGE;
      const before = { g: mem.g.slice(), f: mem.f.slice() };
      const at = { g: guestOff, f: frameOff };
      run(mem.copy, guestOff, frameOff);
      const dst = mem[to];
      expect(same(dst.subarray(at[to], at[to] + PAGE), before[from].subarray(at[from], at[from] + PAGE))).toBe(true);
      expect(same(dst.subarray(0, at[to]), before[to].subarray(0, at[to]))).toBe(true);
      expect(same(dst.subarray(at[to] + PAGE), before[to].subarray(at[to] + PAGE))).toBe(true);
      expect(same(mem[from], before[from])).toBe(true);
    }
  });

  it("round-trips a page through a frame", () => {
    const { g, copy } = setup();
    const page = g.slice(3 * PAGE, 4 * PAGE);
    copy.copyIn(3 * PAGE, 40 * PAGE);
    g.fill(0, 9 * PAGE, 10 * PAGE);
    copy.copyOut(9 * PAGE, 40 * PAGE);
    expect(same(g.subarray(9 * PAGE, 10 * PAGE), page)).toBe(true);
  });

  it("traps on a page that runs past either memory's end, copying nothing", () => {
    const { g, f, copy } = setup();
    const gBefore = g.slice();
    const fBefore = f.slice();
    expect(() => copy.copyIn(2 * WASM_PAGE - PAGE + 1, 0)).toThrow(WebAssembly.RuntimeError);
    expect(() => copy.copyIn(0, 4 * WASM_PAGE - PAGE + 1)).toThrow(WebAssembly.RuntimeError);
    expect(() => copy.copyOut(2 * WASM_PAGE - PAGE + 1, 0)).toThrow(WebAssembly.RuntimeError);
    expect(() => copy.copyOut(0, 4 * WASM_PAGE - PAGE + 1)).toThrow(WebAssembly.RuntimeError);
    expect(same(g, gBefore)).toBe(true);
    expect(same(f, fBefore)).toBe(true);
    // The last page of each is in bounds.
    copy.copyIn(2 * WASM_PAGE - PAGE, 4 * WASM_PAGE - PAGE);
    expect(same(f.subarray(4 * WASM_PAGE - PAGE), g.subarray(2 * WASM_PAGE - PAGE))).toBe(true);
  });

  it("is a usage error where it is refused", () => {
    const e = new CrossCopyUnsupportedError(new Error("At most one memory is supported"));
    expect(classifyError(e)).toMatchObject({ class: "usage" });
    expect(e.message).toMatch(/no multi-memory.*Node >= 22.*At most one memory is supported/);
  });
});

// A runtime without multi-memory: this one if it lacks it, this one with V8's flag turned off
// (Node 22 still has the flag), or an older Node on PATH (the machine's own, beside the ones CI
// installs).
function runtimesWithoutMultiMemory(): { node: string; flags: string[] }[] {
  const found: { node: string; flags: string[] }[] = [];
  if (!crossCopySupported()) found.push({ node: process.execPath, flags: [] });
  const v8 = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).stdout;
  if (v8.includes("--experimental-wasm-multi-memory"))
    found.push({ node: process.execPath, flags: ["--no-experimental-wasm-multi-memory"] });
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const node = join(dir, "node");
    if (!dir || !existsSync(node)) continue;
    const major = Number(/^v(\d+)/.exec(spawnSync(node, ["--version"], { encoding: "utf8" }).stdout ?? "")?.[1]);
    if (major > 0 && major < 22) found.push({ node, flags: [] });
  }
  return found;
}

describe("crossCopy without multi-memory", () => {
  it("is refused with CrossCopyUnsupportedError, and crossCopySupported() says no", () => {
    const runtimes = runtimesWithoutMultiMemory();
    // This machine and CI always have one (Node 22's flag, or the machine's own older Node).
    expect(runtimes.length, "no runtime without multi-memory found to try").toBeGreaterThan(0);
    const script = `
      import { crossCopy, crossCopySupported } from ${JSON.stringify(new URL("../../dist/vmm/store/cross-copy.js", import.meta.url).href)};
      const m = () => new WebAssembly.Memory({ initial: 1 });
      let refusal = null;
      try { crossCopy(m(), m()); } catch (e) { refusal = { name: e.name, message: e.message, errorClass: e.errorClass }; }
      console.log(JSON.stringify({ supported: crossCopySupported(), refusal }));`;
    for (const { node, flags } of runtimes) {
      const r = spawnSync(node, [...flags, "--input-type=module", "-e", script], { encoding: "utf8" });
      expect(r.status, `${node} ${flags.join(" ")}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.supported).toBe(false);
      expect(out.refusal).toMatchObject({ name: "CrossCopyUnsupportedError", errorClass: "usage" });
      // The runtime's own reason, not some other compile error.
      expect(out.refusal.message).toMatch(/no multi-memory.*one (imported )?memory is supported/);
    }
  });
});

describe("the frame store's copies with a guest's RAM", () => {
  it("go by the cross-memory copy for a registered guest memory, the right bytes both ways, and only within the view", async () => {
    const { FrameStore } = await import("../../vmm/store/frame-store.js");
    const { registerGuestMemory } = await import("../../vmm/store/cross-copy.js");
    const guest = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    registerGuestMemory(guest);
    const g = new Uint8Array(guest.buffer);
    g.set(pattern(5, g.length));
    const store = new FrameStore(64);
    const f = store.alloc();
    store.copyIn(f, g.subarray(3 * PAGE, 4 * PAGE));
    expect(store.crossCopies).toBe(1);
    expect(same(store.view(f), pattern(5, g.length).subarray(3 * PAGE, 4 * PAGE))).toBe(true);
    store.copyOut(f, g.subarray(9 * PAGE, 10 * PAGE), 0);
    expect(same(g.subarray(9 * PAGE, 10 * PAGE), g.subarray(3 * PAGE, 4 * PAGE))).toBe(true);
    expect(store.crossCopies).toBe(1);
    // A view shorter than a page from its offset is not written past: refused as TypedArray.set refuses it.
    const before = g.slice();
    expect(() => store.copyOut(f, g.subarray(0, PAGE + 100), 200)).toThrow(RangeError);
    expect(same(g, before)).toBe(true);
    // Bytes of no guest's RAM go by TypedArray copies: the same bytes, no cross-memory copy made.
    const plain = pattern(6, PAGE);
    store.copyIn(f, plain);
    const out = new Uint8Array(PAGE);
    store.copyOut(f, out, 0);
    expect(same(out, plain)).toBe(true);
    expect(store.crossCopies).toBe(1);
  });
});
