// The bench's second half: the VMM's Wasm hot loops against their JavaScript equivalents, LZ4 in
// Wasm against native LZ4 (lz4-napi) on the same pages, and what compression gains on a workload
// guest's data.
import { createRequire } from "node:module";
import { Lz4, pageScanFor } from "../dist/vmm/kernels.js";
import { loadImage } from "../dist/vmm/image.js";
import { Vmm } from "../dist/vmm/vmm.js";

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
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    s += words[(x >>> 0) % words.length] + " ";
  }
  return new TextEncoder().encode(s.slice(0, 4096));
}

export async function benchKernels(quick) {
  const n = quick ? 2000 : 20000;
  const reps = quick ? 3 : 7;
  const loops = [];

  // Zero scan of a guest page, in place (a zero page: the whole page is read).
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 256 });
  const scan = pageScanFor(memory);
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

  let lz4 = null;
  try {
    const native = require("lz4-napi");
    const wasm = new Lz4();
    const random = new Uint8Array(4096).map(() => (Math.random() * 256) | 0);
    const data = [
      ["text (file pages)", Array.from({ length: 64 }, (_, i) => textPage(i + 1))],
      ["mostly zero", Array.from({ length: 64 }, (_, i) => { const p = new Uint8Array(4096); p.set(textPage(i + 1).subarray(0, 256)); return p; })],
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
  const vmm = await Vmm.create({ tmemMiB: 16 });
  await vmm.boot({
    image: loadImage(new URL("../build/precache.wasm", import.meta.url).pathname),
    ramMiB: 4, compress: true, interleaved: true,
    args: ["2048", "64", "2", "loop", "1", "text"],
    console: { stdout: () => {}, stderr: () => {} },
  });
  let best = { pages: 0, frames: 0 };
  vmm.runAll({ onSlice: () => {
    const pages = vmm.tmem.index.pages;
    if (pages > best.pages) best = { pages, frames: vmm.tmem.store.usedFrames };
  } });
  return `${(best.pages / best.frames).toFixed(2)} (${best.pages} pages of the precache guest's text file set in ${best.frames} frames)`;
}
