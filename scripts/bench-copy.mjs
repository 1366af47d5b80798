// The bench's floor: a bare 4 KiB copy between guest RAM and the frame store, by every copy the
// platform offers, in the same run and the same access pattern as the ops (fresh frames for a
// put's copy in, random resident frames for a get's copy out). The fastest copy between the two
// real memories is the baseline every op is divided by: a slow baseline would flatter every ratio.
//
// Between the real memories (the guest's `WebAssembly.Memory` and the store's slabs): the store's
// own copy, `TypedArray.set` of a subarray made per copy, and one Wasm `memory.copy` from one
// memory to the other (vmm/store/cross-copy.ts; needs multi-memory, Node >= 22). For reference,
// also copies within one memory that holds a guest page and the frames together (`TypedArray.set`,
// `copyWithin`, single-memory `memory.copy`): the store cannot copy that way (its frames are not
// in guest memory), so they are printed but never the baseline. That memory is capped at 1 GiB
// of frames: random frames over 1 GiB miss every cache and the TLB as surely as over 4 GiB.
//
// Then the same copies into cold frames and into frames still in cache (coldWarm below): a copy
// that writes whole lines without reading them first (non-temporal stores, or a string copy that
// skips the read for ownership) costs about the same either way; one that reads each line before
// writing it pays a memory read per line into a cold frame.

import { SLAB_FRAMES } from "../dist/vmm/store/frame-store.js";
import { PAGE_COPY_WASM } from "../dist/vmm/store/page-copy.js";
import { crossCopy, crossCopySupported } from "../dist/vmm/store/cross-copy.js";

const PAGE = 4096;
const MAX_SHARED_FRAMES = 1 << 18; // 1 GiB
/** Frames per cold/warm batch: 1 MiB, in any CPU's last-level cache once written. */
const BATCH_FRAMES = 256;
/** Read through between batches to push the frames out of every cache (several times any L3 here). */
const EVICT_BYTES = 256 << 20;
/** Dependent multiply-adds standing in for the rest of a put between two copies (100-200 ns). */
const SPIN = 50;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const xorshift = (seed) => {
  let x = seed;
  return (m) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % m;
  };
};

function time(n, body) {
  const t = process.hrtime.bigint();
  body();
  return Number(process.hrtime.bigint() - t) / n;
}

/**
 * The store's slabs as Wasm memories, for the cross-memory copy: FrameStore keeps them private
 * (nothing in the VMM needs them outside the store), so the bench reaches in, and says so if
 * the store has changed shape.
 */
function slabMemories(store) {
  const owned = store.owned;
  if (!Array.isArray(owned) || !owned.every((s) => s?.memory instanceof WebAssembly.Memory)) {
    throw new Error("bench-copy: FrameStore no longer keeps its slabs as `owned[i].memory`; update slabMemories()");
  }
  return owned.map((s) => s.memory);
}

/**
 * The copy methods, each as one copy in (`copyIn(i)`: the guest page into fresh frame i of
 * `frames`, or of the shared memory) and one copy out (`copyOut(f)`: resident frame f into the
 * guest page); `between` is whether it copies between the real memories; `firstByte(i)` reads
 * fresh frame i's first byte. Every method is timed
 * through the same call shape, so a call's cost falls on all alike.
 */
function copyMethods({ store, ram, ramOff, frames, resident, n }) {
  const src = ram.bytes.subarray(ramOff, ramOff + PAGE);
  const dstOff = ramOff + PAGE;
  const slabs = slabMemories(store);
  const slabBytes = slabs.map((m) => new Uint8Array(m.buffer));
  const slabOf = (f) => Math.floor(f / SLAB_FRAMES);
  const offOf = (f) => (f % SLAB_FRAMES) * PAGE;

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
      // In: TypedArray.set from a view of the guest page made once; out: memory.copy to the
      // slab's staging page, then TypedArray.set (frame-store.ts says why).
      name: "the store's own copy",
      between: true,
      firstByte: (i) => slabBytes[slabOf(frames[i])][offOf(frames[i])],
      copyIn: (i) => store.copyIn(frames[i], src),
      copyOut: (f) => store.copyOut(f, ram.bytes, dstOff),
    },
    {
      name: "TypedArray.set, a subarray per copy",
      between: true,
      firstByte: (i) => slabBytes[slabOf(frames[i])][offOf(frames[i])],
      copyIn: (i) => {
        const f = frames[i];
        slabBytes[slabOf(f)].set(ram.bytes.subarray(ramOff, ramOff + PAGE), offOf(f));
      },
      copyOut: (f) => {
        const o = offOf(f);
        ram.bytes.set(slabBytes[slabOf(f)].subarray(o, o + PAGE), dstOff);
      },
    },
  ];
  const cross = crossCopySupported() ? slabs.map((s) => crossCopy(ram.memory, s)) : null;
  if (cross) {
    methods.push({
      name: "Wasm memory.copy across the two memories",
      between: true,
      firstByte: (i) => slabBytes[slabOf(frames[i])][offOf(frames[i])],
      copyIn: (i) => {
        const f = frames[i];
        cross[slabOf(f)].copyIn(ramOff, offOf(f));
      },
      copyOut: (f) => cross[slabOf(f)].copyOut(dstOff, offOf(f)),
    });
  }
  methods.push(
    {
      name: "TypedArray.set of a subarray, one memory",
      between: false,
      firstByte: (i) => m[at(i % sharedFrames)],
      copyIn: (i) => m.set(m.subarray(0, PAGE), at(i % sharedFrames)),
      copyOut: (f) => {
        const o = at(f % residentShared);
        m.set(m.subarray(o, o + PAGE), PAGE);
      },
    },
    {
      name: "copyWithin, one memory",
      between: false,
      firstByte: (i) => m[at(i % sharedFrames)],
      copyIn: (i) => m.copyWithin(at(i % sharedFrames), 0, PAGE),
      copyOut: (f) => {
        const o = at(f % residentShared);
        m.copyWithin(PAGE, o, o + PAGE);
      },
    },
    {
      name: "Wasm memory.copy, one memory",
      between: false,
      firstByte: (i) => m[at(i % sharedFrames)],
      copyIn: (i) => copy(at(i % sharedFrames), 0),
      copyOut: (f) => copy(PAGE, at(f % residentShared)),
    },
  );
  // What a cold/warm batch re-reads after an eviction, so that only the frames are cold.
  const sources = [src, m.subarray(0, PAGE)];
  return { methods, sharedFrames, crossMissing: cross === null, sources };
}

/**
 * ns per 4 KiB copy in (guest page -> fresh frame) and out (random resident frame -> guest page)
 * for each method, medians of `reps`; `store` is the bench's real frame store and `ram` the
 * guest's GuestMemory (a page at `ramOff` is the source, the next one the destination).
 */
export function copyBaselines({ store, ram, ramOff, resident, n, reps, coldWarmReps }) {
  // The real memories: as many fresh frames as one repeat of puts uses.
  const frames = [];
  for (let i = 0; i < n; i++) {
    const f = store.alloc();
    if (f < 0) throw new Error("frame store too small for the baseline");
    frames.push(f);
  }
  const { methods, sharedFrames, crossMissing, sources } = copyMethods({ store, ram, ramOff, frames, resident, n });
  const ins = methods.map(() => []);
  const outs = methods.map(() => []);
  // Methods interleaved within each repeat, so the machine's noise falls on all of them alike.
  for (let r = 0; r < reps; r++) {
    methods.forEach((k, j) => {
      ins[j].push(
        time(n, () => {
          for (let i = 0; i < n; i++) k.copyIn(i);
        }),
      );
      const rnd = xorshift(12345 + r);
      outs[j].push(
        time(n, () => {
          for (let i = 0; i < n; i++) k.copyOut(rnd(resident));
        }),
      );
    });
  }
  const cold = coldWarm(methods, sources, coldWarmReps ?? reps * 4);
  for (const f of frames) store.free(f);
  // The first repeat faults and warms; it is left out as the ops' first repeat is.
  const rows = methods.map((k, j) => ({
    name: k.name,
    between: k.between,
    copyIn: median(ins[j].slice(1)),
    copyOut: median(outs[j].slice(1)),
  }));
  const fastest = (dir) => rows.filter((r) => r.between).reduce((b, r) => (r[dir] < b[dir] ? r : b));
  const fin = fastest("copyIn");
  const fout = fastest("copyOut");
  return {
    methods: rows,
    sharedFrames,
    crossMissing,
    copyIn: fin.copyIn,
    copyInBy: fin.name,
    copyOut: fout.copyOut,
    copyOutBy: fout.name,
    coldWarm: cold,
  };
}

let _sink = 0;
const evictBuf = new Int32Array(EVICT_BYTES / 4);
function evict() {
  let s = 0;
  for (let i = 0; i < evictBuf.length; i += 16) s += evictBuf[i]; // one read a 64-byte line
  _sink += s;
}
function touch(bytes) {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 64) s += bytes[i];
  _sink += s;
}
function spin(k) {
  let x = k;
  for (let j = 0; j < SPIN; j++) x = (x * 1103515245 + 12345) | 0;
  return x;
}

/**
 * A put's copy into cold frames against the same copy into frames still in cache, per method:
 * each repeat pushes a batch of fresh frames out of every cache (reading a buffer far larger
 * than the last level), re-reads the guest page and one line of each frame (so that the frames'
 * address translations are cached, and a cold copy costs its lines' misses, not page walks),
 * copies into each frame of the batch (cold),
 * then into the same frames again (warm: just written). Back to back, the hardware prefetcher
 * can fetch the next frame while one is written; spaced by a put's worth of other work (SPIN),
 * each frame's lines are fetched on demand, as between two puts. ns per copy, medians; the
 * spaced figures have the spin's own cost taken off.
 */
function coldWarm(methods, sources, reps) {
  evictBuf.fill(1);
  const spinNs = median(
    Array.from({ length: 15 }, () =>
      time(BATCH_FRAMES, () => {
        for (let i = 0; i < BATCH_FRAMES; i++) _sink += spin(i);
      }),
    ),
  );
  const runs = {
    tight: (k) =>
      time(BATCH_FRAMES, () => {
        for (let i = 0; i < BATCH_FRAMES; i++) k.copyIn(i);
      }),
    spaced: (k) =>
      time(BATCH_FRAMES, () => {
        for (let i = 0; i < BATCH_FRAMES; i++) {
          k.copyIn(i);
          _sink += spin(i);
        }
      }) - spinNs,
  };
  const t = methods.map(() => ({ tight: { cold: [], warm: [] }, spaced: { cold: [], warm: [] } }));
  for (let r = 0; r < reps; r++) {
    methods.forEach((k, j) => {
      for (const [pace, run] of Object.entries(runs)) {
        evict();
        for (const s of sources) touch(s);
        for (let i = 0; i < BATCH_FRAMES; i++) _sink += k.firstByte(i);
        t[j][pace].cold.push(run(k));
        t[j][pace].warm.push(run(k));
      }
    });
  }
  // The first repeat compiles and faults; left out.
  const med = (xs) => median(xs.slice(1));
  return {
    batchFrames: BATCH_FRAMES,
    evictMiB: EVICT_BYTES >> 20,
    spinNs,
    reps,
    methods: methods.map((k, j) => ({
      name: k.name,
      between: k.between,
      tight: { cold: med(t[j].tight.cold), warm: med(t[j].tight.warm) },
      spaced: { cold: med(t[j].spaced.cold), warm: med(t[j].spaced.warm) },
    })),
  };
}
