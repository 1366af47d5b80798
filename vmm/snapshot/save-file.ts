// Saving a domain's tmem to a file and restoring it into another VMM, as Xen's migration of
// persistent pools did: persistent pages travel bit-exact; ephemeral pools travel empty.
//
//   header  "TMSV"  u16 version  u16 reserved(0)  u32 metaLen  meta (UTF-8 JSON)  u32 crc32(header)
//   pages   (u32 poolId  u32 oid[6]  u32 index  u8 data[4096])  x meta.pageCount
//   trailer u32 crc32(pages)
//
// meta = { domain, layout, weight, capPages (null = none), abiCap (absent = 0), compress,
//          pageCount, pools: [{ id, flags, uuid: [hex, hex], pages }] }. A file is checked whole
// before anything is restored: a damaged one restores nothing. The header and the seals are
// vmm/container's, shared with traces.
import { checkSeal, sealAt } from "../container/checksum.js";
import { ContainerError } from "../container/container-error.js";
import { encodeHeader, readHeader, type ContainerKind } from "../container/header.js";
import { MAX_POOLS_PER_DOMAIN, TMEM_PAGE_SIZE, TMEM_POOL_PERSIST } from "../../hypercall-abi/constants.js";
import { uuidFromHex, uuidToHex, uuidToWords } from "../../hypercall-abi/uuid.js";
import type { Client } from "../tmem/client.js";
import { isZeroPage } from "../store/page-codec.js";
import type { Tmem } from "../tmem/tmem.js";
import type { PoolId } from "../tmem/ids.js";

const SAVE_MAGIC = "TMSV";
const SAVE_VERSION = 1;
const PAGE_RECORD = 4 + 24 + 4 + TMEM_PAGE_SIZE;

export class SaveFileError extends ContainerError {
  declare readonly offset: number;
  constructor(message: string, offset: number) {
    super(message, offset);
  }
}

const SAVE_FILE: ContainerKind<SaveFileError> = {
  magic: SAVE_MAGIC,
  noun: "tmemvm save file",
  refuseVersion: (version) =>
    version === SAVE_VERSION ? null : `save file version ${version} is not supported (this tmemvm reads version ${SAVE_VERSION})`,
  error: (message, offset) => new SaveFileError(message, offset),
};

interface SavedPool {
  /** The pool's slot in its client (branded as the file's JSON is parsed: checked in readSaveFile). */
  id: PoolId;
  flags: number;
  uuid: [string, string];
  pages: number;
}

interface SaveMeta {
  domain: string;
  layout: string;
  weight: number;
  capPages: number | null;
  /** TMEMC_SET_CAP's cap (reported, never enforced); written only when set, so older files read as 0. */
  abiCap?: number;
  compress: boolean;
  pageCount: number;
  pools: SavedPool[];
}

export function saveClient(tmem: Tmem, client: Client, domainName: string, layoutName: string): Uint8Array {
  const pools: SavedPool[] = [];
  const pages: Uint8Array[] = [];
  client.pools.forEach((pool, id) => {
    if (!pool) return;
    let n = 0;
    if (pool.persistent) {
      tmem.forEachPage(pool, (oid, index, bytes) => {
        const rec = new Uint8Array(PAGE_RECORD);
        const v = new DataView(rec.buffer);
        v.setUint32(0, id, true);
        for (let i = 0; i < 6; i++) v.setUint32(4 + 4 * i, oid[i], true);
        v.setUint32(28, index, true);
        rec.set(bytes, 32);
        pages.push(rec);
        n++;
      });
    }
    pools.push({ id: id as PoolId, flags: pool.flags, uuid: uuidToHex(pool.uuid), pages: n });
  });
  const meta: SaveMeta = {
    domain: domainName,
    layout: layoutName,
    weight: client.weight,
    capPages: Number.isFinite(client.capPages) ? client.capPages : null,
    ...(client.abiCap === 0 ? {} : { abiCap: client.abiCap }),
    compress: client.compress,
    pageCount: pages.length,
    pools,
  };
  const header = encodeHeader(SAVE_MAGIC, SAVE_VERSION, meta);
  const out = new Uint8Array(header.length + pages.length * PAGE_RECORD + 4);
  out.set(header, 0);
  let p = header.length;
  for (const rec of pages) {
    out.set(rec, p);
    p += PAGE_RECORD;
  }
  sealAt(out, header.length, p);
  return out;
}

/** Parses and checks a save file whole; throws SaveFileError at the first problem. */
export function readSaveFile(file: Uint8Array): { meta: SaveMeta; pages: Uint8Array } {
  const header = readHeader(file, SAVE_FILE);
  const meta = header.meta as unknown as SaveMeta;
  const start = header.end;
  const end = start + meta.pageCount * PAGE_RECORD;
  if (!Number.isInteger(meta.pageCount) || meta.pageCount < 0 || end + 4 !== file.length) {
    throw new SaveFileError(
      `the file should hold ${meta.pageCount} pages and end at byte ${end + 4}; it has ${file.length} bytes`,
      Math.min(file.length, end),
    );
  }
  checkSeal(file, start, end, "page data", SAVE_FILE.error);
  if (!Array.isArray(meta.pools)) throw new SaveFileError("header metadata lacks its pools", 12);
  if (meta.abiCap !== undefined && !(Number.isInteger(meta.abiCap) && meta.abiCap >= 0 && meta.abiCap <= 0xffffffff)) {
    throw new SaveFileError(`bad abiCap ${JSON.stringify(meta.abiCap)} (a u32)`, 12);
  }
  const ids = new Set<number>();
  for (const p of meta.pools) {
    if (typeof p !== "object" || p === null) throw new SaveFileError(`bad pool ${JSON.stringify(p)}`, 12);
    if (!Number.isInteger(p.id) || p.id < 0 || p.id >= MAX_POOLS_PER_DOMAIN || ids.has(p.id))
      throw new SaveFileError(`bad pool id ${p.id}`, 12);
    ids.add(p.id);
  }
  const pages = file.subarray(start, end);
  const pv = new DataView(pages.buffer, pages.byteOffset, pages.byteLength);
  for (let i = 0; i < meta.pageCount; i++) {
    const id = pv.getUint32(i * PAGE_RECORD, true);
    const pool = meta.pools.find((p) => p.id === id);
    if (!pool || (pool.flags & TMEM_POOL_PERSIST) === 0)
      throw new SaveFileError(`page ${i} names pool ${id}, not a saved persistent pool`, start + i * PAGE_RECORD);
  }
  return { meta, pages };
}

/** The page data of a file's records, in order. */
function* savedPages(pages: Uint8Array, count: number): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) yield pages.subarray(i * PAGE_RECORD + 32, (i + 1) * PAGE_RECORD);
}

/**
 * Restores a save file into `client`, which must hold no pool and not be frozen: Xen restored only
 * into a client that did not exist yet (RESTORE_BEGIN refused one that did), and a tmemvm domain's
 * client exists from boot, so one holding a pool is taken as existing, as TMEMC_RESTORE_BEGIN
 * takes it. The file is checked whole first; then pools are recreated at their slots and pages
 * put back.
 */
export function restoreClient(tmem: Tmem, client: Client, file: Uint8Array): { pools: number; pages: number } {
  const { meta, pages } = readSaveFile(file);
  const held = client.pools.findIndex((p) => p !== null);
  if (held >= 0)
    throw new SaveFileError(`domain ${client.domid} already holds pool ${held}: a restore goes into a domain with no pool`, 12);
  // The room the pages need as they will be kept (a zero page none, a compressed page a share of
  // a chunk frame), so a save always fits back into the room its domain freed.
  const need = tmem.framesFor(savedPages(pages, meta.pageCount), meta.compress);
  const room = tmem.usage();
  if (need > room.freeFrames + room.pages - room.persistentPages) {
    throw new SaveFileError(`${meta.pageCount} pages do not fit in this VMM's tmem`, 12);
  }
  if (client.frozen) throw new SaveFileError(`domain ${client.domid} is frozen`, 0);
  // A put follows the pool's owner: pages for a shared pool whose (other) owner is frozen would
  // be refused, so the restore is refused before anything changes.
  for (const p of meta.pools) {
    const owner = tmem.poolToJoin(client, p.flags, uuidToWords(uuidFromHex(p.uuid)))?.owner ?? client;
    if (p.pages > 0 && owner.frozen) throw new SaveFileError(`domain ${owner.domid} is frozen`, 0);
  }
  // From here a refusal undoes what this restore did (its pools and pages go; ephemeral pages
  // evicted to make room stay gone, as they may at any time), so a failed restore leaves nothing.
  // The room check above cannot see everything: evicting ephemeral zero or compressed pages frees
  // less than a frame each, and a new shared pool needs one of the host's 16 shared slots.
  const created: PoolId[] = [];
  const destroyedBefore = client.destroyedPools.slice();
  const compressBefore = client.compress;
  const undo = (message: string, offset: number): never => {
    for (const id of created) {
      tmem.destroyPool(client, id);
      client.destroyedPools[id] = destroyedBefore[id];
    }
    tmem.setPolicy(client.domid, { compress: compressBefore });
    throw new SaveFileError(message, offset);
  };
  for (const p of meta.pools) {
    const slot = tmem.createPoolInSlot(client, p.id, p.flags, uuidToWords(uuidFromHex(p.uuid)));
    if (slot !== p.id) undo(`pool ${p.id} cannot be created (${slot}): every shared pool slot of this VMM is in use`, 12);
    created.push(p.id);
  }
  // The saved cap replaces the client's below; meanwhile no cap refuses what was saved under one (restorePage).
  // The pages are kept as they were (compressed or not), the room check's assumption.
  tmem.setPolicy(client.domid, { compress: meta.compress });
  const pv = new DataView(pages.buffer, pages.byteOffset, pages.byteLength);
  const oid = new Uint32Array(6);
  const pagesAt = pages.byteOffset - file.byteOffset;
  for (let i = 0; i < meta.pageCount; i++) {
    const at = i * PAGE_RECORD;
    for (let k = 0; k < 6; k++) oid[k] = pv.getUint32(at + 4 + 4 * k, true);
    const page = pages.subarray(at + 32, at + 32 + TMEM_PAGE_SIZE);
    const r = tmem.restorePage(client, client.pools[pv.getUint32(at, true)]!, oid, pv.getUint32(at + 28, true), page, isZeroPage(page));
    if (r !== 1) undo(`${meta.pageCount} pages do not fit in this VMM's tmem (page ${i} was refused: ${r})`, pagesAt + at);
  }
  // The cap applies from now on, not to what was saved under it.
  tmem.setPolicy(client.domid, { weight: meta.weight, capPages: meta.capPages, abiCap: meta.abiCap ?? 0, compress: meta.compress });
  return { pools: meta.pools.length, pages: meta.pageCount };
}
