// The bench's second half: the VMM's Wasm hot loops against their JavaScript equivalents, LZ4 in
// Wasm against native LZ4 (lz4-napi) on the same pages, and what compression gains on a workload
// guest's data.
import { createRequire } from "node:module";
import { loadImage, nodeAssets } from "../dist/vmm/platform/files.js";
import { Kernels, Vmm } from "../dist/vmm/machine/vmm.js";

const kernels = new Kernels(nodeAssets);

const require = createRequire(import.meta.url);

function perPage(fn, pages, reps) {
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < pages; i++) fn(i);
    times.push(Number(process.hrtime.bigint() - t) / pages);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function textPage(seed) {
  const words = "tmem page pool object index guest frame xen put get flush ephemeral persistent shared private cache".split(" ");
  let x = seed | 1;
  let s = "";
  while (s.length < 4096) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += `${words[(x >>> 0) % words.length]} `;
  }
  return new TextEncoder().encode(s.slice(0, 4096));
}

export async function benchKernels(quick) {
  const n = quick ? 2000 : 20000;
  const reps = quick ? 3 : 7;
  const loops = [];

  // Zero scan of a guest page, in place (a zero page: the whole page is read).
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 256 });
  const scan = kernels.pageScanFor(memory);
  const words = new Int32Array(memory.buffer);
  const jsIsZero = (addr) => {
    for (let i = addr >> 2, end = (addr + 4096) >> 2; i < end; i++) if (words[i] !== 0) return false;
    return true;
  };
  loops.push({
    name: "zero-page scan",
    wasm: perPage((i) => scan.isZero((i & 255) << 12), n * 10, reps),
    js: perPage((i) => jsIsZero((i & 255) << 12), n * 10, reps),
  });

  // The guest kernel's loops (guest/kernel/page-ops.ts) against the same loops in JavaScript.
  const { readFileSync } = await import("node:fs");
  const g = new WebAssembly.Instance(
    new WebAssembly.Module(readFileSync(new URL("../build/kernels/guest-page-ops.wasm", import.meta.url))),
    {},
  ).exports;
  const gm = new Uint8Array(g.memory.buffer);
  const g64 = new BigUint64Array(g.memory.buffer);
  const PFN = 64; // frames 64..127 of the module's 1 MiB
  const jsFill = (pfn, seed) => {
    let x = BigInt.asUintN(64, BigInt(seed) ^ 0x9e3779b97f4a7c15n) || 1n;
    for (let i = pfn * 512, end = i + 512; i < end; i++) {
      x ^= x >> 12n;
      x ^= BigInt.asUintN(64, x << 25n);
      x ^= x >> 27n;
      g64[i] = BigInt.asUintN(64, x * 0x2545f4914f6cdd1dn);
    }
  };
  const jsCopy = (dst, src) => gm.copyWithin(dst * 4096, src * 4096, src * 4096 + 4096);
  const w32 = new Int32Array(g.memory.buffer);
  const jsEqual = (a, b) => {
    for (let i = 0, pa = a * 1024, pb = b * 1024; i < 1024; i++) if (w32[pa + i] !== w32[pb + i]) return false;
    return true;
  };
  // The same checksum: FNV-1a over 64-bit words (JavaScript needs BigInt for 64-bit arithmetic).
  const jsChecksum = (pfn) => {
    let h = 0xcbf29ce484222325n;
    for (let i = pfn * 512, end = i + 512; i < end; i++) h = BigInt.asUintN(64, (h ^ g64[i]) * 0x100000001b3n);
    return h;
  };
  if (jsChecksum(PFN) !== BigInt.asUintN(64, g.pageChecksum(PFN)))
    throw new Error("bench: the JavaScript checksum differs from the guest's");
  g.pageFill(PFN, 1n);
  jsFill(PFN + 1, 1);
  if (!g.pageEqual(PFN, PFN + 1)) throw new Error("bench: the JavaScript fill differs from the guest's");
  loops.push({
    name: "guest page fill (xorshift64*)",
    wasm: perPage((i) => g.pageFill(PFN + (i & 31), BigInt(i)), n, reps),
    js: perPage((i) => jsFill(PFN + (i & 31), i), Math.max(50, n / 20), reps),
  });
  loops.push({
    name: "guest page copy",
    wasm: perPage((i) => g.pageCopy(PFN + 32 + (i & 15), PFN + (i & 15)), n * 5, reps),
    js: perPage((i) => jsCopy(PFN + 32 + (i & 15), PFN + (i & 15)), n * 5, reps),
  });
  g.pageCopy(PFN + 2, PFN);
  loops.push({
    name: "guest page compare (SIMD)",
    wasm: perPage(() => g.pageEqual(PFN, PFN + 2), n * 5, reps),
    js: perPage(() => jsEqual(PFN, PFN + 2), n, reps),
  });
  loops.push({
    name: "guest page checksum (FNV-1a/64)",
    wasm: perPage((i) => g.pageChecksum(PFN + (i & 31)), n * 2, reps),
    js: perPage((i) => jsChecksum(PFN + (i & 31)), Math.max(50, n / 20), reps),
  });

  let lz4 = null;
  try {
    const native = require("lz4-napi");
    const wasm = kernels.lz4();
    const random = new Uint8Array(4096).map(() => (Math.random() * 256) | 0);
    const data = [
      ["text (file pages)", Array.from({ length: 64 }, (_, i) => textPage(i + 1))],
      [
        "mostly zero",
        Array.from({ length: 64 }, (_, i) => {
          const p = new Uint8Array(4096);
          p.set(textPage(i + 1).subarray(0, 256));
          return p;
        }),
      ],
      ["random (incompressible)", [random]],
    ];
    const cases = [];
    for (const [name, pages] of data) {
      const bufs = pages.map((p) => Buffer.from(p));
      const ours = pages.map((p) => wasm.compress(p, 65536).slice());
      const theirs = bufs.map((b) => native.compressSync(b));
      const out = new Uint8Array(4096);
      cases.push({
        data: name,
        bytes: Math.round(ours.reduce((s, b) => s + b.length, 0) / ours.length),
        wasmCompress: perPage((i) => wasm.compress(pages[i % pages.length], 65536), n, reps),
        nativeCompress: perPage((i) => native.compressSync(bufs[i % bufs.length]), n, reps),
        wasmDecompress: perPage((i) => wasm.decompressInto(ours[i % ours.length], out), n, reps),
        nativeDecompress: perPage((i) => native.uncompressSync(theirs[i % theirs.length]), n, reps),
      });
    }
    lz4 = { cases, gain: await compressionGain() };
  } catch (e) {
    lz4 = { cases: [], error: `native LZ4 unavailable: ${e.message}` };
  }
  return { loops, lz4 };
}

/** Pages per frame with compression on, while the precache guest's text file set sits in tmem. */
async function compressionGain() {
  const vmm = await Vmm.create({ tmemMiB: 16, assets: kernels });
  await vmm.boot({
    image: loadImage(new URL("../build/precache.wasm", import.meta.url).pathname),
    ramMiB: 4,
    compress: true,
    interleaved: true,
    args: ["2048", "64", "2", "loop", "1", "text"],
    console: { stdout: () => {}, stderr: () => {} },
  });
  let best = { pages: 0, frames: 0 };
  vmm.runAll({
    onSlice: () => {
      const pages = vmm.tmem.index.pages;
      if (pages > best.pages) best = { pages, frames: vmm.tmem.store.usedFrames };
    },
  });
  return `${(best.pages / best.frames).toFixed(2)} (${best.pages} pages of the precache guest's text file set in ${best.frames} frames)`;
}
