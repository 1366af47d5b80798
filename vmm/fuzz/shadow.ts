// The fuzzers' reference model: what tmem may hold for each handle, written from the spec's
// guarantees rather than from the implementation. Every op is checked against it:
//  - a get that hits returns exactly the last page put to that handle (never older, never
//    another domain's, never a page it was not given);
//  - a persistent page is never lost: a get of a handle the model holds must hit;
//  - a private ephemeral get is destructive, shared and persistent ones are not;
//  - a failed duplicate put leaves no copy; flushes and destroys remove what they name.
// Ephemeral pages may vanish at any time (eviction), so for them the model is "may hold".
import {
  TMEM_DESTROY_POOL, TMEM_FLUSH_OBJECT, TMEM_FLUSH_PAGE, TMEM_GET_PAGE, TMEM_NEW_PAGE, TMEM_PAGE_SIZE, TMEM_PUT_PAGE,
  TMEM_READ, TMEM_WRITE,
} from "../../hypercall-abi/constants.js";
import type { Domain } from "../domain.js";
import type { Pool } from "../tmem/pool.js";

const ZERO = new Uint8Array(TMEM_PAGE_SIZE);
/** A page the model knows exists (or may) but whose bytes it cannot predict. */
const UNKNOWN = new Uint8Array(0);

/** What the boundary resolved for one data op, captured before it runs. */
export interface OpView {
  cmd: number;
  pool: Pool | null;
  oid: Uint32Array;
  index: number;
  /** Byte offset of the op's frame in guest RAM, or -1. */
  frame: number;
}

export class Shadow {
  /** pool handle -> "oid/index" -> page bytes. */
  private readonly pools = new Map<Pool, Map<string, Uint8Array>>();

  private table(pool: Pool): Map<string, Uint8Array> {
    let t = this.pools.get(pool);
    if (!t) {
      t = new Map();
      this.pools.set(pool, t);
    }
    return t;
  }

  /** Forget pools tmem no longer has (destroyed, or their last sharer left). */
  prune(live: Pool[]): void {
    const keep = new Set(live);
    for (const p of this.pools.keys()) if (!keep.has(p)) this.pools.delete(p);
  }

  /**
   * Checks the result of a data op and updates the model. `before` is the op's frame content
   * before the op (for puts), `after` the frame after it (for gets). Returns a failure or null.
   */
  check(_domain: Domain, v: OpView, result: number, before: Uint8Array | null, after: Uint8Array | null): string | null {
    const pool = v.pool;
    if (pool === null) return null;
    const t = this.table(pool);
    const key = `${v.oid.join(",")}/${v.index >>> 0}`;
    switch (v.cmd) {
      case TMEM_PUT_PAGE:
      case TMEM_NEW_PAGE:
        if (result === 1) t.set(key, v.cmd === TMEM_NEW_PAGE ? ZERO : before!.slice());
        else t.delete(key); // a failed put leaves no copy (a failed duplicate put flushes the old one)
        return null;
      case TMEM_WRITE:
        // A partial write: the model no longer knows the page's bytes, nor (on failure) whether
        // the page still exists.
        t.set(key, UNKNOWN);
        return null;
      case TMEM_GET_PAGE:
      case TMEM_READ: {
        const known = t.get(key);
        const want = known === UNKNOWN ? undefined : known;
        if (result === 1 && known === UNKNOWN) {
          if (pool.ephemeral && !pool.shared) t.delete(key);
          return null;
        }
        if (result === 1) {
          if (v.cmd === TMEM_GET_PAGE && want === undefined && pool.persistent) return `get of ${key} hit a page the model never saw put`;
          if (v.cmd === TMEM_GET_PAGE && want !== undefined && after !== null && !equal(after, want)) {
            return `get of ${key} returned bytes other than the last page put (first difference at byte ${firstDifference(after, want)})`;
          }
          if (v.cmd === TMEM_GET_PAGE && want === undefined && after !== null && !pool.persistent) {
            // An ephemeral page the model dropped (destructive get, flush) must not come back.
            return `get of ${key} hit an ephemeral page that was already taken or flushed`;
          }
          if (pool.ephemeral && !pool.shared) t.delete(key);
        } else if (result === 0 || result === -1001) {
          if (want !== undefined && pool.persistent) return `persistent page ${key} was lost (get returned ${result})`;
          t.delete(key);
        }
        return null;
      }
      case TMEM_FLUSH_PAGE:
        t.delete(key);
        return null;
      case TMEM_FLUSH_OBJECT: {
        const prefix = `${v.oid.join(",")}/`;
        for (const k of [...t.keys()]) if (k.startsWith(prefix)) t.delete(k);
        return null;
      }
      case TMEM_DESTROY_POOL:
        // A sharer leaving takes the objects it touched last, which the model does not track:
        // what the others held may or may not remain. (A private pool goes whole: prune().)
        if (result === 1 && pool.shared) for (const k of t.keys()) t.set(k, UNKNOWN);
        return null;
      default:
        return null;
    }
  }

  /** Every persistent page the model holds must be in tmem, bit-exact. */
  verifyAll(read: (pool: Pool, oid: Uint32Array, index: number) => Uint8Array | null): string | null {
    for (const [pool, t] of this.pools) {
      if (!pool.persistent) continue;
      for (const [key, want] of t) {
        if (want === UNKNOWN) continue;
        const [oidText, index] = key.split("/");
        const got = read(pool, Uint32Array.from(oidText.split(",").map(Number)), Number(index));
        if (got === null) return `persistent page ${key} of pool ${pool.handle} was lost`;
        if (!equal(got, want)) return `persistent page ${key} of pool ${pool.handle} changed (first difference at byte ${firstDifference(got, want)})`;
      }
    }
    return null;
  }
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
