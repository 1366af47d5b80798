// Where compressed pages live: frames cut into equal chunks, one size class per frame (256-byte
// steps up to half a page), as zsmalloc and Xen's xmem pools did in their way. A frame goes back
// to the frame store when its last chunk is freed.
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import type { FrameStore } from "./frame-store.js";

const STEP = 256;
const CLASSES = TMEM_PAGE_SIZE / 2 / STEP; // 8 classes: 256 .. 2048 bytes
/** Chunk ids are frame * 16 + slot. */
const SLOT_BITS = 4;
/** Frames whose chunk ids fit an int32 with room for page-store.ts's handle encoding. */
export const MAX_CHUNK_FRAME = 1 << 26;
/** Bytes of a chunk's length header. */
const HEADER = 2;

export class ChunkStore {
  /** Size class of each frame cut into chunks (0 = not a chunk frame), by frame number; grows with the highest chunk frame. */
  private classOf = new Uint8Array(64);
  /** Bitmap of used slots per chunk frame, by frame number, as long as classOf. */
  private used = new Uint16Array(64);
  /** Chunk frames with a free slot, per class. */
  private readonly partial: Set<number>[] = Array.from({ length: CLASSES + 1 }, () => new Set<number>());
  private chunkFrames = 0;

  constructor(private readonly store: FrameStore) {}

  /** Bytes of bookkeeping (the per-frame arrays, at their allocated size). */
  get metadataBytes(): number {
    return this.classOf.byteLength + this.used.byteLength;
  }

  /** Frames cut into chunks now. */
  get frames(): number {
    return this.chunkFrames;
  }

  /** Largest block a chunk holds. */
  static readonly maxBlockBytes = CLASSES * STEP - HEADER;

  /** A chunk for a `blockBytes` block, or -1 if a new frame was needed and none was free. */
  alloc(blockBytes: number): number {
    const cls = Math.ceil((blockBytes + HEADER) / STEP);
    if (cls < 1 || cls > CLASSES) throw new RangeError(`no chunk class for ${blockBytes} bytes`);
    const slots = Math.floor(TMEM_PAGE_SIZE / (cls * STEP));
    let frame = -1;
    for (const f of this.partial[cls]) {
      frame = f;
      break;
    }
    if (frame < 0) {
      frame = this.store.alloc();
      if (frame < 0 || frame >= MAX_CHUNK_FRAME) {
        if (frame >= 0) this.store.free(frame);
        return -1;
      }
      if (frame >= this.classOf.length) this.cover(frame);
      this.classOf[frame] = cls;
      this.used[frame] = 0;
      this.partial[cls].add(frame);
      this.chunkFrames++;
    }
    const bits = this.used[frame];
    let slot = 0;
    while (bits & (1 << slot)) slot++;
    this.used[frame] = bits | (1 << slot);
    if (this.used[frame] === (1 << slots) - 1) this.partial[cls].delete(frame);
    return (frame << SLOT_BITS) | slot;
  }

  /**
   * Makes the per-frame arrays reach `frame`, doubling: the frame store hands out its lowest free
   * frame, so chunk frames stay below the frames in use and these arrays follow what is stored,
   * not the store's capacity.
   */
  private cover(frame: number): void {
    let n = this.classOf.length;
    while (n <= frame) n *= 2;
    const classOf = new Uint8Array(n);
    classOf.set(this.classOf);
    this.classOf = classOf;
    const used = new Uint16Array(n);
    used.set(this.used);
    this.used = used;
  }

  /**
   * Frames that chunks for blocks of these sizes would take from the frame store: the free slots
   * of frames already cut for a class are used first, as alloc() uses them.
   */
  framesFor(blockBytes: Iterable<number>): number {
    const wanted = new Array<number>(CLASSES + 1).fill(0);
    for (const n of blockBytes) wanted[Math.ceil((n + HEADER) / STEP)]++;
    let frames = 0;
    for (let cls = 1; cls <= CLASSES; cls++) {
      if (wanted[cls] === 0) continue;
      const slots = Math.floor(TMEM_PAGE_SIZE / (cls * STEP));
      let free = 0;
      for (const f of this.partial[cls]) for (let s = 0; s < slots; s++) if ((this.used[f] & (1 << s)) === 0) free++;
      frames += Math.ceil(Math.max(0, wanted[cls] - free) / slots);
    }
    return frames;
  }

  free(chunk: number): void {
    const frame = chunk >>> SLOT_BITS;
    const cls = this.classOf[frame];
    this.used[frame] &= ~(1 << (chunk & 15));
    if (this.used[frame] === 0) {
      this.partial[cls].delete(frame);
      this.classOf[frame] = 0;
      this.chunkFrames--;
      this.store.free(frame);
    } else {
      this.partial[cls].add(frame);
    }
  }

  write(chunk: number, block: Uint8Array): void {
    const view = this.view(chunk);
    view[0] = block.length & 0xff;
    view[1] = block.length >>> 8;
    view.set(block, HEADER);
  }

  /** The block stored in `chunk`. */
  read(chunk: number): Uint8Array {
    const view = this.view(chunk);
    return view.subarray(HEADER, HEADER + (view[0] | (view[1] << 8)));
  }

  private view(chunk: number): Uint8Array {
    const frame = chunk >>> SLOT_BITS;
    const size = this.classOf[frame] * STEP;
    const at = (chunk & 15) * size;
    return this.store.view(frame).subarray(at, at + size);
  }
}
