// The frame store and the chunk store on their own: allocation order, exhaustion, reuse, slab
// boundaries, and that no two frames or chunks share a byte; and the page store over them, whose
// handles say where a page is kept (a frame, nothing for a zero page, a chunk).
import { describe, expect, it } from "vitest";
import { ChunkStore, MAX_CHUNK_FRAME } from "../../vmm/store/chunk-store.js";
import { FrameStore, SLAB_FRAMES } from "../../vmm/store/frame-store.js";
import { FreeFrames } from "../../vmm/store/free-frames.js";
import { NO_ROOM, PageKind, PageStore } from "../../vmm/store/page-store.js";
import { checkedLz4 } from "../support/kernels.js";
import { StuntedSlabs } from "../support/stunted-slabs.js";

const PAGE = 4096;

/** Byte-for-byte equality (a deep toEqual over 4 KiB is slow). */
function same(a: Uint8Array, b: Uint8Array): void {
  expect(a.length).toBe(b.length);
  expect(Buffer.compare(a, b)).toBe(0);
}

/** A page whose every byte depends on `seed` and its position. */
function pattern(seed: number, len = PAGE): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = (seed * 131 + i * 7 + (i >> 8)) & 0xff;
  return p;
}

describe("frame store", () => {
  it("refuses a capacity that is not a whole number of frames in int32 range", () => {
    for (const bad of [-1, 1.5, Number.NaN, 0x80000000, Infinity]) {
      expect(() => new FrameStore(bad)).toThrow(new RangeError(`frame store capacity must be a whole number of frames, got ${bad}`));
    }
    expect(new FrameStore(0).capacityFrames).toBe(0);
    expect(new FrameStore(0).alloc()).toBe(-1);
  });

  it("hands out every frame once, then -1, and counts used and free frames", () => {
    const fs = new FrameStore(5);
    expect([fs.usedFrames, fs.freeFrames]).toEqual([0, 5]);
    const got = [fs.alloc(), fs.alloc(), fs.alloc(), fs.alloc(), fs.alloc()];
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect([fs.usedFrames, fs.freeFrames]).toEqual([5, 0]);
    expect(fs.alloc()).toBe(-1);
    expect(fs.alloc()).toBe(-1);
    expect(fs.usedFrames).toBe(5);
  });

  it("reuses freed frames, the lowest first, before untouched ones", () => {
    const fs = new FrameStore(10);
    for (let i = 0; i < 4; i++) fs.alloc();
    fs.free(3);
    fs.free(1);
    expect([fs.usedFrames, fs.freeFrames]).toEqual([2, 8]);
    expect(fs.alloc()).toBe(1);
    expect(fs.alloc()).toBe(3);
    expect(fs.alloc()).toBe(4);
    expect(fs.usedFrames).toBe(5);
  });

  it("hands a batch of freed frames back in rising order, whatever order they were freed in", () => {
    const fs = new FrameStore(100);
    const frames = Array.from({ length: 60 }, () => fs.alloc());
    for (const f of [...frames].reverse()) fs.free(f);
    expect(Array.from({ length: 60 }, () => fs.alloc())).toEqual(frames);
  });

  it("keeps each frame's bytes apart, across the boundary between two slabs", () => {
    const fs = new FrameStore(SLAB_FRAMES + 2);
    const frames = [0, 1, SLAB_FRAMES - 1, SLAB_FRAMES, SLAB_FRAMES + 1];
    for (let f = 0; f < SLAB_FRAMES + 2; f++) fs.alloc();
    for (const f of frames) fs.copyIn(f, pattern(f));
    for (const f of frames) {
      same(fs.view(f), pattern(f));
      expect(fs.view(f).length).toBe(PAGE);
      const dst = new Uint8Array(PAGE + 10).fill(0xee);
      fs.copyOut(f, dst, 5);
      same(dst.subarray(5, 5 + PAGE), pattern(f));
      expect([...dst.subarray(0, 5), ...dst.subarray(5 + PAGE)]).toEqual(new Array(10).fill(0xee));
    }
    // copies out go through a staging page past each slab's frames: no frame is touched by them
    for (const f of frames) same(fs.view(f), pattern(f));
    // a view is live: writing through it shows in the next copy out
    fs.view(SLAB_FRAMES)[4095] = 0x5a;
    const out = new Uint8Array(PAGE);
    fs.copyOut(SLAB_FRAMES, out, 0);
    expect(out[4095]).toBe(0x5a);
    same(fs.view(SLAB_FRAMES + 1), pattern(SLAB_FRAMES + 1));
  });

  it("keeps an eighth of a byte a frame of bookkeeping", () => {
    // 2^20 frames: 32768 words, 1024, 32, 1 (four levels of 4-byte words)
    expect(new FrameStore(1 << 20).metadataBytes).toBe((32768 + 1024 + 32 + 1) * 4);
  });
});

describe("frame store: memory taken as frames are", () => {
  const MiB = 1 << 20;

  it("below 256 MiB, holds no memory until a frame is taken, then a slab's first MiB, doubling as frames run out", () => {
    const fs = new FrameStore(65535); // a frame short of 256 MiB
    expect(fs.slabBytes).toBe(0);
    expect(fs.alloc()).toBe(0);
    expect(fs.slabBytes).toBe(MiB);
    // a slab's last 4 KiB is its staging page: 255 frames to the first MiB, 511 to two
    for (let i = 1; i < 255; i++) fs.alloc();
    expect(fs.slabBytes).toBe(MiB);
    expect(fs.alloc()).toBe(255);
    expect(fs.slabBytes).toBe(2 * MiB);
    for (let i = 256; i < 1000; i++) fs.alloc();
    expect(fs.slabBytes).toBe(4 * MiB);
  });

  it("keeps every frame's bytes, and copies out past the old staging page, across a grow", () => {
    const fs = new FrameStore(2000);
    const frames = Array.from({ length: 600 }, () => fs.alloc());
    expect(fs.slabBytes).toBe(4 * MiB); // grown twice while these were taken
    for (const f of frames) fs.copyIn(f, pattern(f));
    const out = new Uint8Array(PAGE);
    for (const f of frames) {
      fs.copyOut(f, out, 0);
      same(out, pattern(f));
    }
    // frame 255 lies where the first MiB's staging page was, frame 511 where the second's was
    for (const f of frames) same(fs.view(f), pattern(f));
  });

  it("from 256 MiB, makes every slab whole at once; counts the frames taken as the memory backed", () => {
    const fs = new FrameStore(4 * SLAB_FRAMES); // 16 GiB of capacity
    const memories = (fs as unknown as { owned: { memory: WebAssembly.Memory }[] }).owned.map((s) => s.memory);
    // four 1 GiB slabs, each with its staging page, at their maximum before any frame is taken
    expect(memories.map((m) => m.buffer.byteLength)).toEqual(Array(4).fill(16385 * 65536));
    expect(fs.slabBytes).toBe(0);
    expect(fs.alloc()).toBe(0);
    expect(fs.slabBytes).toBe(2 * PAGE); // the frame and the slab's staging page
    for (let i = 1; i < 1000; i++) fs.alloc();
    expect(fs.slabBytes).toBe(1001 * PAGE);
    fs.free(999);
    expect(fs.slabBytes).toBe(1001 * PAGE); // a frame once written stays backed
    // no memory grew (a grow detaches the buffer)
    expect(memories.map((m) => m.buffer.byteLength)).toEqual(Array(4).fill(16385 * 65536));
  });

  it("crosses a slab boundary, gives frames back, and takes them again", () => {
    const fs = new FrameStore(SLAB_FRAMES + 300);
    for (let f = 0; f < SLAB_FRAMES + 10; f++) expect(fs.alloc()).toBe(f);
    const watched = [0, SLAB_FRAMES - 1, SLAB_FRAMES, SLAB_FRAMES + 9];
    for (const f of watched) fs.copyIn(f, pattern(f));
    // every frame of the first slab and its staging page; the second's first 10 and its staging page
    expect(fs.slabBytes).toBe((SLAB_FRAMES + 1) * PAGE + 11 * PAGE);
    for (let f = SLAB_FRAMES + 1; f < SLAB_FRAMES + 10; f++) fs.free(f);
    fs.free(SLAB_FRAMES - 2);
    fs.free(5);
    expect(fs.alloc()).toBe(5);
    expect(fs.alloc()).toBe(SLAB_FRAMES - 2);
    // the second slab again, and past its first MiB to its end
    for (let f = SLAB_FRAMES + 1; f < SLAB_FRAMES + 300; f++) expect(fs.alloc()).toBe(f);
    expect(fs.alloc()).toBe(-1);
    expect(fs.slabBytes).toBe((SLAB_FRAMES + 1) * PAGE + 301 * PAGE);
    fs.copyIn(SLAB_FRAMES + 299, pattern(7));
    const out = new Uint8Array(PAGE);
    fs.copyOut(SLAB_FRAMES + 299, out, 0);
    same(out, pattern(7));
    for (const f of watched.slice(0, 3)) same(fs.view(f), pattern(f));
  });

  it("answers -1 when a slab cannot grow, and hands out the frames it has", () => {
    const fs = new FrameStore(1000, new StuntedSlabs(16));
    for (let f = 0; f < 255; f++) expect(fs.alloc()).toBe(f);
    expect(fs.alloc()).toBe(-1);
    expect(fs.alloc()).toBe(-1);
    expect([fs.usedFrames, fs.freeFrames, fs.slabBytes]).toEqual([255, 745, MiB]);
    fs.free(17);
    expect(fs.alloc()).toBe(17);
    expect(fs.alloc()).toBe(-1);
  });

  it("answers -1 when the host cannot make the next slab", () => {
    const fs = new FrameStore(SLAB_FRAMES + 10, new StuntedSlabs(16385, 1));
    for (let f = 0; f < SLAB_FRAMES; f++) fs.alloc();
    expect(fs.alloc()).toBe(-1);
    expect(fs.usedFrames).toBe(SLAB_FRAMES);
  });

  it("a chunk store's bookkeeping follows its chunk frames, not the store's capacity", () => {
    const chunks = new ChunkStore(new FrameStore(1 << 26));
    expect(chunks.metadataBytes).toBeLessThan(1024);
    // 2048-byte blocks, two to a frame: 300 frames, each keeping its class as the arrays grow
    const got = Array.from({ length: 600 }, (_, i) => {
      const c = chunks.alloc(2000);
      chunks.write(c, pattern(i, 2000));
      return c;
    });
    expect(chunks.frames).toBe(300);
    expect(chunks.metadataBytes).toBe(512 * 3);
    got.forEach((c, i) => {
      same(chunks.read(c), pattern(i, 2000));
    });
  });
});

describe("free frames (the frame store's bitmap)", () => {
  /** Frames a plain Set says are free, lowest first: what the bitmap must agree with. */
  const lowestOf = (free: Set<number>) => (free.size === 0 ? -1 : Math.min(...free));

  it.each([1, 2, 31, 32, 33, 1023, 1024, 1025, 32 * 32 * 32 + 1])(
    "capacity %i: every frame once, in order, then -1; a freed one comes back first",
    (cap) => {
      const ff = new FreeFrames(cap);
      const got = Array.from({ length: cap }, () => ff.alloc());
      expect(got.every((f, i) => f === i)).toBe(true);
      expect(ff.alloc()).toBe(-1);
      expect(ff.usedFrames).toBe(cap);
      for (const f of [cap - 1, 0, cap >> 1]) {
        ff.free(f);
        expect(ff.alloc()).toBe(f);
        expect(ff.alloc()).toBe(-1);
      }
    },
  );

  it("no frames: alloc says -1", () => {
    expect(new FreeFrames(0).alloc()).toBe(-1);
  });

  it("agrees with a plain set of free frames over random allocs and frees", () => {
    // Sizes that end inside a word and inside a summary word, so the padding bits are met too.
    for (const cap of [77, 5000, 40000]) {
      const ff = new FreeFrames(cap);
      const free = new Set(Array.from({ length: cap }, (_, i) => i));
      let s = cap;
      const rnd = (n: number) => {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        return (s >>> 0) % n;
      };
      const inUse: number[] = [];
      for (let step = 0; step < 20000; step++) {
        if (inUse.length > 0 && (free.size === 0 || rnd(3) === 0)) {
          const f = inUse.splice(rnd(inUse.length), 1)[0];
          ff.free(f);
          free.add(f);
        } else {
          const want = lowestOf(free);
          const f = ff.alloc();
          if (f !== want) expect(f).toBe(want);
          free.delete(f);
          inUse.push(f);
        }
        if (ff.usedFrames !== inUse.length) expect(ff.usedFrames).toBe(inUse.length);
      }
    }
  });
});

describe("chunk store", () => {
  it("its largest block is half a page less the length header", () => {
    expect(ChunkStore.maxBlockBytes).toBe(2046);
    const cs = new ChunkStore(new FrameStore(4));
    expect(() => cs.alloc(2047)).toThrow(new RangeError("no chunk class for 2047 bytes"));
    expect(() => cs.alloc(-3)).toThrow(RangeError);
    expect(cs.alloc(2046)).toBeGreaterThanOrEqual(0);
  });

  // class c holds blocks of up to c*256 - 2 bytes, floor(4096 / (c*256)) to a frame
  const classes = [
    { bytes: 0, perFrame: 16 },
    { bytes: 254, perFrame: 16 },
    { bytes: 255, perFrame: 8 },
    { bytes: 510, perFrame: 8 },
    { bytes: 511, perFrame: 5 },
    { bytes: 1000, perFrame: 4 },
    { bytes: 1200, perFrame: 3 },
    { bytes: 1300, perFrame: 2 },
    { bytes: 2046, perFrame: 2 },
  ];
  for (const { bytes, perFrame } of classes) {
    it(`${bytes}-byte blocks: ${perFrame} to a frame, none overlapping, each read back as written`, () => {
      const fs = new FrameStore(8);
      const cs = new ChunkStore(fs);
      const chunks: number[] = [];
      for (let i = 0; i < perFrame; i++) chunks.push(cs.alloc(bytes));
      expect(cs.frames).toBe(1);
      expect(fs.usedFrames).toBe(1);
      expect(new Set(chunks.map((c) => c >>> 4)).size).toBe(1);
      expect(chunks.map((c) => c & 15)).toEqual([...Array(perFrame).keys()]);
      chunks.forEach((c, i) => {
        cs.write(c, pattern(i + 1, bytes));
      });
      chunks.forEach((c, i) => {
        same(cs.read(c), pattern(i + 1, bytes));
      });
      // the next one needs a second frame
      const next = cs.alloc(bytes);
      expect(next >>> 4).not.toBe(chunks[0] >>> 4);
      expect(cs.frames).toBe(2);
      expect(fs.usedFrames).toBe(2);
    });
  }

  it("a length needing both header bytes reads back whole", () => {
    const cs = new ChunkStore(new FrameStore(2));
    const c = cs.alloc(1800);
    cs.write(c, pattern(9, 1800));
    same(cs.read(c), pattern(9, 1800));
    const d = cs.alloc(300);
    cs.write(d, pattern(3, 300));
    expect(cs.read(d).length).toBe(300);
  });

  it("blocks of different classes never share a frame", () => {
    const fs = new FrameStore(8);
    const cs = new ChunkStore(fs);
    const a = cs.alloc(100);
    const b = cs.alloc(300);
    const c = cs.alloc(100);
    expect(a >>> 4).toBe(c >>> 4);
    expect(b >>> 4).not.toBe(a >>> 4);
    expect(cs.frames).toBe(2);
  });

  it("a freed slot is reused, and a frame goes back to the store with its last chunk", () => {
    const fs = new FrameStore(8);
    const cs = new ChunkStore(fs);
    const chunks = Array.from({ length: 16 }, () => cs.alloc(200));
    expect(cs.frames).toBe(1);
    cs.free(chunks[5]);
    expect(cs.alloc(200)).toBe(chunks[5]); // the full frame regained a free slot
    expect(cs.frames).toBe(1);
    cs.free(chunks[0]);
    cs.free(chunks[15]);
    expect(cs.alloc(200)).toBe(chunks[0]); // lowest free slot first
    expect(cs.alloc(200)).toBe(chunks[15]);
    for (const c of chunks) cs.free(c);
    expect(cs.frames).toBe(0);
    expect(fs.usedFrames).toBe(0);
    // the frame is free for anything, a chunk of another class included
    const big = cs.alloc(2000);
    expect(big >>> 4).toBe(chunks[0] >>> 4);
    expect(cs.read(big).length).toBe(0);
    cs.write(big, pattern(1, 2000));
    same(cs.read(big), pattern(1, 2000));
  });

  it("frees a frame only when all its chunks are free", () => {
    const fs = new FrameStore(8);
    const cs = new ChunkStore(fs);
    const [a, b] = [cs.alloc(2000), cs.alloc(2000)];
    cs.free(a);
    expect(fs.usedFrames).toBe(1);
    cs.write(b, pattern(4, 2000));
    expect(cs.alloc(2000)).toBe(a);
    cs.free(b);
    cs.free(a);
    expect(fs.usedFrames).toBe(0);
    expect(cs.frames).toBe(0);
  });

  it("answers -1 when no frame is free, without taking one", () => {
    const fs = new FrameStore(1);
    const cs = new ChunkStore(fs);
    const a = cs.alloc(2000);
    const b = cs.alloc(2000);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(cs.alloc(2000)).toBe(-1);
    expect(cs.alloc(10)).toBe(-1);
    expect(cs.frames).toBe(1);
    cs.free(a);
    expect(cs.alloc(10)).toBe(-1); // the frame with a free slot is of another class
    expect(cs.alloc(1999)).toBe(a);
  });

  it("refuses a frame too high for a chunk id and gives it back", () => {
    const freed: number[] = [];
    const store = {
      capacityFrames: MAX_CHUNK_FRAME + 1,
      alloc: () => MAX_CHUNK_FRAME,
      free: (f: number) => void freed.push(f),
    } as unknown as FrameStore;
    const cs = new ChunkStore(store);
    expect(cs.alloc(100)).toBe(-1);
    expect(freed).toEqual([MAX_CHUNK_FRAME]);
    expect(cs.frames).toBe(0);
    const below = { ...store, alloc: () => MAX_CHUNK_FRAME - 1 } as unknown as FrameStore;
    expect(new ChunkStore(below).alloc(100)).toBe((MAX_CHUNK_FRAME - 1) * 16);
  });
});

describe("page store", () => {
  const text = () => new TextEncoder().encode("a page of text, which compresses well. ".repeat(120).slice(0, PAGE));
  const noise = (seed: number) => {
    const p = new Uint8Array(PAGE);
    let x = seed;
    for (let i = 0; i < PAGE; i++) p[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    return p;
  };

  it("keeps a page whole in a frame: read back, overwritten in place, freed as a frame", () => {
    const ps = new PageStore(2, checkedLz4);
    const h = ps.putPage(noise(1));
    expect(ps.frames.usedFrames).toBe(1);
    same(ps.content(h), noise(1));
    expect(ps.overwrite(h, noise(2))).toBe(true);
    const out = new Uint8Array(PAGE);
    ps.load(h, out);
    same(out, noise(2));
    expect(ps.free(h)).toBe(PageKind.Frame);
    expect(ps.frames.usedFrames).toBe(0);
  });

  it("keeps a zero page in nothing, and it is not overwritten in place", () => {
    const ps = new PageStore(1, checkedLz4);
    const h = ps.zeroPage();
    expect(ps.frames.usedFrames).toBe(0);
    const out = new Uint8Array(PAGE).fill(7);
    ps.load(h, out);
    same(out, new Uint8Array(PAGE));
    same(ps.content(h), new Uint8Array(PAGE));
    expect(ps.overwrite(h, noise(1))).toBe(false);
    expect(ps.free(h)).toBe(PageKind.Zero);
  });

  it("keeps a compressible page in a chunk (several to a frame), and an incompressible one not", () => {
    const ps = new PageStore(4, checkedLz4);
    const block = ps.compress(text());
    expect(block).not.toBeNull();
    const a = ps.putBlock(block!);
    const b = ps.putBlock(ps.compress(text())!);
    expect(ps.chunkFrames).toBe(1);
    expect(ps.frames.usedFrames).toBe(1);
    same(ps.content(a), text());
    same(ps.content(b), text());
    expect(ps.overwrite(a, noise(1))).toBe(false);
    expect(ps.compress(noise(3))).toBeNull();
    expect(ps.free(a)).toBe(PageKind.Compressed);
    expect(ps.free(b)).toBe(PageKind.Compressed);
    expect(ps.chunkFrames).toBe(0);
    expect(ps.frames.usedFrames).toBe(0);
  });

  it("answers NO_ROOM when no frame is free, for a page or a block", () => {
    const ps = new PageStore(1, checkedLz4);
    const h = ps.putPage(noise(1));
    expect(ps.putPage(noise(2))).toBe(NO_ROOM);
    expect(ps.putBlock(ps.compress(text())!)).toBe(NO_ROOM);
    ps.free(h);
    expect(ps.putPage(noise(2))).not.toBe(NO_ROOM);
  });

  it("makes the compressor only when a page is first compressed", () => {
    let made = 0;
    const ps = new PageStore(2, () => {
      made++;
      return checkedLz4();
    });
    ps.free(ps.putPage(noise(1)));
    ps.free(ps.zeroPage());
    expect(made).toBe(0);
    ps.compress(text());
    ps.compress(text());
    expect(made).toBe(1);
  });
});
