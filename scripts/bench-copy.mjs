// The bench's floor: a bare 4 KiB copy between guest RAM and the frame store, by every copy the
// platform offers, in the same run and the same access pattern as the ops (fresh frames for a
// put's copy in, random resident frames for a get's copy out). The fastest is the baseline every
// op is divided by: a slow baseline would flatter every ratio.
//
// `copyWithin` and Wasm `memory.copy` copy within one buffer only, so they run in one memory that
// holds a guest page and the frames together; `TypedArray.set` runs both there and between the
// real memories (the guest's `WebAssembly.Memory` and the store's slabs). That shared memory is
// capped at 1 GiB of frames: random frames over 1 GiB miss every cache and the TLB as surely as
// over 4 GiB, and a cap can only make those copies faster (a stricter baseline), never slower.

import { PAGE_COPY_WASM } from "../dist/vmm/store/page-copy.js";

const PAGE = 4096;
const MAX_SHARED_FRAMES = 1 << 18; // 1 GiB

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const xorshift = (seed) => {
  let x = seed;
  return (m) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % m;
  };
};

function time(n, body) {
  const t = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - t) / n;
}

/**
 * ns per 4 KiB copy in (guest page -> fresh frame) and out (random resident frame -> guest page)
 * for each method, medians of `reps`; `store` and `ram` are the bench's real frame store and the
 * guest's RAM (a page at `ramOff` is the source, the next one the destination).
 */
export function copyBaselines({ store, ram, ramOff, resident, n, reps }) {
  // The real memories: as many fresh frames as one repeat of puts uses.
  const frames = [];
  for (let i = 0; i < n; i++) {
    const f = store.alloc();
    if (f < 0) throw new Error("frame store too small for the baseline");
    frames.push(f);
  }
  const src = ram.subarray(ramOff, ramOff + PAGE);

  // The shared memory: page 0 is the guest's source, page 1 its destination, frames from page 2.
  const sharedFrames = Math.min(Math.max(resident, n), MAX_SHARED_FRAMES);
  const residentShared = Math.min(resident, sharedFrames);
  const memory = new WebAssembly.Memory({ initial: Math.ceil(((sharedFrames + 2) * PAGE) / 65536) });
  const m = new Uint8Array(memory.buffer);
  m.fill(0x5a); // every frame faulted in, as the store's resident frames are
  m.set(src, 0);
  const { copy } = new WebAssembly.Instance(new WebAssembly.Module(PAGE_COPY_WASM), { env: { memory } }).exports;
  const at = (f) => (f + 2) * PAGE;

  const methods = [
    {
      // What the store does: TypedArray.set in; out, memory.copy to the slab's staging page, then set.
      name: "the store's own copy, guest RAM <-> frame store slabs",
      copyIn: () => { for (let i = 0; i < n; i++) store.copyIn(frames[i], src); },
      copyOut: (rnd) => { for (let i = 0; i < n; i++) store.copyOut(rnd(resident), ram, ramOff + PAGE); },
    },
    {
      name: "TypedArray.set on a subarray, one buffer",
      copyIn: () => { for (let i = 0; i < n; i++) m.set(m.subarray(0, PAGE), at(i % sharedFrames)); },
      copyOut: (rnd) => { for (let i = 0; i < n; i++) { const o = at(rnd(residentShared)); m.set(m.subarray(o, o + PAGE), PAGE); } },
    },
    {
      name: "copyWithin, one buffer",
      copyIn: () => { for (let i = 0; i < n; i++) m.copyWithin(at(i % sharedFrames), 0, PAGE); },
      copyOut: (rnd) => { for (let i = 0; i < n; i++) { const o = at(rnd(residentShared)); m.copyWithin(PAGE, o, o + PAGE); } },
    },
    {
      name: "Wasm memory.copy, one memory",
      copyIn: () => { for (let i = 0; i < n; i++) copy(at(i % sharedFrames), 0); },
      copyOut: (rnd) => { for (let i = 0; i < n; i++) copy(PAGE, at(rnd(residentShared))); },
    },
  ];
  const ins = methods.map(() => []);
  const outs = methods.map(() => []);
  // Methods interleaved within each repeat, so the machine's noise falls on all of them alike.
  for (let r = 0; r < reps; r++) {
    methods.forEach((k, j) => {
      ins[j].push(time(n, k.copyIn));
      const rnd = xorshift(12345 + r);
      outs[j].push(time(n, () => k.copyOut(rnd)));
    });
  }
  for (const f of frames) store.free(f);
  // The first repeat faults and warms; it is left out as the ops' first repeat is.
  const rows = methods.map((k, j) => ({ name: k.name, copyIn: median(ins[j].slice(1)), copyOut: median(outs[j].slice(1)) }));
  const fastest = (dir) => rows.reduce((b, r) => (r[dir] < b[dir] ? r : b));
  const fin = fastest("copyIn");
  const fout = fastest("copyOut");
  return {
    methods: rows,
    sharedFrames,
    copyIn: fin.copyIn,
    copyInBy: fin.name,
    copyOut: fout.copyOut,
    copyOutBy: fout.name,
  };
}
