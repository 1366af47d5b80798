// An open-addressing hash table from fixed-width keys (k 32-bit words) to non-negative int32
// values, held in typed arrays: no per-entry objects, nothing for the GC to trace. Linear
// probing with backward-shift deletion, so there are no tombstones to degrade lookups.

const EMPTY = -1;

export class KeyTable {
  /** The caller writes the key to look up, insert or remove here. */
  readonly probe: Uint32Array;
  private readonly k: number;
  private mask: number;
  private keys: Uint32Array;
  private vals: Int32Array;
  private count = 0;

  constructor(keyWords: number, initialCapacity = 1024) {
    this.k = keyWords;
    this.probe = new Uint32Array(keyWords);
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * keyWords);
    this.vals = new Int32Array(cap).fill(EMPTY);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays. */
  get sizeBytes(): number {
    return this.keys.byteLength + this.vals.byteLength;
  }

  /** The value stored under `probe`, or -1. */
  find(): number {
    const k = this.k;
    const keys = this.keys;
    const vals = this.vals;
    const p = this.probe;
    for (let i = this.hashOf(p, 0) & this.mask; ; i = (i + 1) & this.mask) {
      const v = vals[i];
      if (v === EMPTY) return EMPTY;
      const base = i * k;
      let j = 0;
      while (j < k && keys[base + j] === p[j]) j++;
      if (j === k) return v;
    }
  }

  /** Stores `value` under `probe`, which must not be present. */
  insert(value: number): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.resize((this.mask + 1) * 2);
    this.place(this.probe, 0, value);
    this.count++;
  }

  /** Removes `probe`; returns its value, or -1 if it was absent. */
  remove(): number {
    const k = this.k;
    const keys = this.keys;
    const vals = this.vals;
    const p = this.probe;
    const mask = this.mask;
    let i = this.hashOf(p, 0) & mask;
    for (; ; i = (i + 1) & mask) {
      if (vals[i] === EMPTY) return EMPTY;
      const base = i * k;
      let j = 0;
      while (j < k && keys[base + j] === p[j]) j++;
      if (j === k) break;
    }
    const removed = vals[i];
    // Shift later members of the probe run back so every key stays reachable from its home.
    let hole = i;
    for (let j = (i + 1) & mask; vals[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.hashOf(keys, j * k) & mask;
      const distHole = (hole - home) & mask;
      const distJ = (j - home) & mask;
      if (distHole <= distJ) {
        keys.copyWithin(hole * k, j * k, j * k + k);
        vals[hole] = vals[j];
        hole = j;
      }
    }
    vals[hole] = EMPTY;
    this.count--;
    return removed;
  }

  private place(src: Uint32Array, srcBase: number, value: number): void {
    const k = this.k;
    let i = this.hashOf(src, srcBase) & this.mask;
    while (this.vals[i] !== EMPTY) i = (i + 1) & this.mask;
    for (let j = 0; j < k; j++) this.keys[i * k + j] = src[srcBase + j];
    this.vals[i] = value;
  }

  private resize(capacity: number): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.mask = capacity - 1;
    this.keys = new Uint32Array(capacity * this.k);
    this.vals = new Int32Array(capacity).fill(EMPTY);
    for (let i = 0; i < oldVals.length; i++) {
      if (oldVals[i] !== EMPTY) this.place(oldKeys, i * this.k, oldVals[i]);
    }
  }

  private hashOf(words: Uint32Array, base: number): number {
    // Multiply-xorshift mixing per word (murmur3's constants), then a final avalanche.
    let h = 0x9747b28c;
    for (let j = 0; j < this.k; j++) {
      h = Math.imul(h ^ words[base + j], 0xcc9e2d51);
      h = (h << 15) | (h >>> 17);
      h = Math.imul(h, 0x1b873593);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h >>> 0;
  }
}
