// Which frames of the store are free, handing out the lowest free frame first.
//
// Why the lowest, not the last freed: a put writes a whole 4 KiB frame that is, at any real size,
// not in cache, and on this kind of machine a stream of such copies costs about half as much into
// rising addresses as into falling ones (a put, with its other work between copies, gains less:
// README "Performance" has the figures). A stack of freed frames hands a batch of frees (a flushed
// object, a destroyed pool, an eviction run) back in reverse; lowest-first hands it back rising,
// and keeps the frames in use packed at the bottom of the slabs, so fewer pages are ever touched.
//
// A bitmap with summaries: level 0 has one bit a frame (1 = in use); bit w of level k+1 says that
// word w of level k is full. Finding the lowest free frame walks down from the one-word top, one
// word a level (log32 of the capacity: four levels for a million frames); marking a frame used or
// free changes at most one word a level, usually one. An eighth of a byte a frame.
//
//   level 2  [ ..0 1 1 ]                      bit w: level-1 word w is full
//   level 1  [ ..1 0 1 1 ] [ ... ]            bit w: level-0 word w is full (its 32 frames in use)
//   level 0  [ frames 0-31 ] [ 32-63 ] ...    bit f: frame f is in use

const SHIFT = 5;
const MASK = 31;
const FULL = -1; // 32 bits set, as an int32

/** The index of the lowest zero bit of `word` (which is not FULL). */
function lowestZero(word: number): number {
  const free = ~word;
  return 31 - Math.clz32(free & -free);
}

export class FreeFrames {
  /** levels[0] has a bit a frame; the last level is one word. */
  private readonly levels: Int32Array[] = [];
  private used = 0;

  constructor(readonly capacity: number) {
    let bits = Math.max(capacity, 1);
    for (;;) {
      const words = Math.ceil(bits / 32);
      this.levels.push(new Int32Array(words));
      if (words === 1) break;
      bits = words;
    }
    // Bits past the capacity, and past each level's real words, stand for nothing: set, as if
    // in use, so no walk ever ends on one.
    let real = capacity;
    for (let k = 0; k < this.levels.length; k++) {
      const level = this.levels[k];
      for (let i = real; i < level.length * 32; i++) level[i >>> SHIFT] |= 1 << (i & MASK);
      real = Math.ceil(real / 32);
    }
  }

  get usedFrames(): number {
    return this.used;
  }

  /** Bytes of bookkeeping. */
  get sizeBytes(): number {
    return this.levels.reduce((n, l) => n + l.byteLength, 0);
  }

  /** The lowest free frame, now in use; -1 when every frame is in use. */
  alloc(): number {
    const levels = this.levels;
    const top = levels.length - 1;
    if (levels[top][0] === FULL) return -1;
    let at = 0;
    for (let k = top; k >= 0; k--) at = (at << SHIFT) + lowestZero(levels[k][at]);
    for (let k = 0, i = at; k < levels.length; k++, i >>>= SHIFT) {
      const level = levels[k];
      const now = level[i >>> SHIFT] | (1 << (i & MASK));
      level[i >>> SHIFT] = now;
      if (now !== FULL) break; // the level above learns only of a word that became full
    }
    this.used++;
    return at;
  }

  /** Gives back `frame`, which alloc() handed out. */
  free(frame: number): void {
    const levels = this.levels;
    for (let k = 0, i = frame; k < levels.length; k++, i >>>= SHIFT) {
      const level = levels[k];
      const was = level[i >>> SHIFT];
      level[i >>> SHIFT] = was & ~(1 << (i & MASK));
      if (was !== FULL) break; // the level above knew this word had room already
    }
    this.used--;
  }
}
