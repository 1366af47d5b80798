// Where a page's bytes live, behind one interface: a frame of the frame store, nothing at all for
// a zero page, or a chunk of the chunk store for a compressed page. Where one page is kept is a
// PageHandle; what a handle's number means is known in this module only.
import { TMEM_PAGE_SIZE } from "../../hypercall-abi/constants.js";
import { ChunkStore } from "./chunk-store.js";
import { FrameStore, type SlabSource } from "./frame-store.js";
import { isZeroPage, type PageCompressor } from "./page-codec.js";

/** Where one page's bytes are kept (an int32, so the page index can hold it in its record). */
export type PageHandle = number & { readonly __pageHandle: never };

/** No handle: the store had no room (the caller may evict and try again). */
export const NO_ROOM = -1 as PageHandle;

/** How a page was kept, as free() reports it. */
export const PageKind = { Frame: 0, Zero: 1, Compressed: 2 } as const;
export type PageKind = (typeof PageKind)[keyof typeof PageKind];

// A frame's number (>= 0); -2 for a zero page; -3 - c for chunk c (chunk ids fit: MAX_CHUNK_FRAME).
const ZERO = -2 as PageHandle;
const chunkHandle = (chunk: number): PageHandle => (-3 - chunk) as PageHandle;
const chunkOf = (h: PageHandle): number => -3 - h;

export class PageStore {
  readonly frames: FrameStore;
  private chunkStore: ChunkStore | null = null;
  private compressorInstance: PageCompressor | null = null;

  /** `compressor` makes the codec, on the first compressed page (most runs never need it); `slabs` lends the frames' memory (frame-store.ts). */
  constructor(
    capacityFrames: number,
    private readonly compressor: () => PageCompressor,
    slabs: SlabSource | null = null,
  ) {
    this.frames = new FrameStore(capacityFrames, slabs);
  }

  private chunks(): ChunkStore {
    return (this.chunkStore ??= new ChunkStore(this.frames));
  }

  private codec(): PageCompressor {
    return (this.compressorInstance ??= this.compressor());
  }

  /** Bytes of bookkeeping: the free-frame bitmap and, once a page was compressed, the chunks' arrays. */
  get metadataBytes(): number {
    return this.frames.metadataBytes + (this.chunkStore?.metadataBytes ?? 0);
  }

  /** Frames cut into chunks now. */
  get chunkFrames(): number {
    return this.chunkStore?.frames ?? 0;
  }

  /** A zero page: nothing kept. */
  zeroPage(): PageHandle {
    return ZERO;
  }

  /** `page` (4 KiB) copied into a free frame, or NO_ROOM. */
  putPage(page: Uint8Array): PageHandle {
    const frame = this.frames.alloc();
    if (frame < 0) return NO_ROOM;
    this.frames.copyIn(frame, page);
    return frame as PageHandle;
  }

  /**
   * The compressed block of `page` if it shrinks to fit a chunk (half a page or less), else null.
   * A view, valid until the next compress(); nothing is stored yet (putBlock stores it).
   */
  compress(page: Uint8Array): Uint8Array | null {
    return this.codec().compress(page, ChunkStore.maxBlockBytes);
  }

  /** A block from compress() in a chunk, or NO_ROOM. */
  putBlock(block: Uint8Array): PageHandle {
    const chunks = this.chunks();
    const chunk = chunks.alloc(block.length);
    if (chunk < 0) return NO_ROOM;
    chunks.write(chunk, block);
    return chunkHandle(chunk);
  }

  /**
   * Frames that keeping these pages anew would take from the free ones: none for a zero page, a
   * share of a chunk frame for a page that compresses (with `compress`), a frame for the rest.
   */
  framesFor(pages: Iterable<Uint8Array>, compress: boolean): number {
    let whole = 0;
    const blocks: number[] = [];
    for (const page of pages) {
      if (isZeroPage(page)) continue;
      const block = compress ? this.compress(page) : null;
      if (block === null) whole++;
      else blocks.push(block.length);
    }
    return whole + (blocks.length === 0 ? 0 : this.chunks().framesFor(blocks));
  }

  /** Overwrites the page kept at `h` in place, if it is kept whole in a frame; false otherwise. */
  overwrite(h: PageHandle, page: Uint8Array): boolean {
    if (h < 0) return false;
    this.frames.copyIn(h, page);
    return true;
  }

  /** True if the page kept at `h` is whole in a frame (content() is then a view, not a copy). */
  inFrame(h: PageHandle): boolean {
    return h >= 0;
  }

  /** Copies the page kept at `h` into `dst` (4 KiB). */
  load(h: PageHandle, dst: Uint8Array): void {
    if (h >= 0) this.frames.copyOut(h, dst, 0);
    else if (h === ZERO) dst.fill(0);
    else if (!this.codec().decompressInto(this.chunks().read(chunkOf(h)), dst)) {
      throw new Error(`tmem invariant broken: compressed page in chunk ${chunkOf(h)} does not decompress to a page`);
    }
  }

  /** The bytes of the page kept at `h`: a view of its frame, or a fresh copy. */
  content(h: PageHandle): Uint8Array {
    if (h >= 0) return this.frames.view(h);
    const page = new Uint8Array(TMEM_PAGE_SIZE);
    this.load(h, page);
    return page;
  }

  /** Frees what `h` holds; returns how the page was kept. */
  free(h: PageHandle): PageKind {
    if (h >= 0) {
      this.frames.free(h);
      return PageKind.Frame;
    }
    if (h === ZERO) return PageKind.Zero;
    this.chunks().free(chunkOf(h));
    return PageKind.Compressed;
  }
}
