// A page tmem holds, as bytes: pick a domain's pool and one of its pages, and see them in hex and
// ASCII. Read, in the machine's worker, through the control plane's storedPages and pageContents,
// which change nothing (a get would take the page from a private ephemeral pool and count a hit),
// so looking at a page leaves the run, its numbers and its trace as they were.
import type { Listing, StoredPage } from "../../vmm/api.js";
import { $, el } from "./dom.js";

/** Pages listed for one pool at most: the picker is for looking, not for paging through them all. */
const PAGES_LISTED = 200;

const hex64 = (v: bigint) => `0x${v.toString(16)}`;

/** `bytes` as lines of offset, hex and ASCII, `perLine` bytes each. */
export function hexDump(bytes: Uint8Array, perLine = 16): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += perLine) {
    const row = bytes.subarray(at, at + perLine);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${at.toString(16).padStart(4, "0")}  ${hex.padEnd(perLine * 3 - 1)}  |${ascii}|`);
  }
  return lines.join("\n");
}

/** The pool options the picker offers now, as "domid:poolId" and a label. */
function poolOptions(l: Listing): [string, string][] {
  return l.domains.flatMap((d) =>
    d.pools.map((p): [string, string] => [`${d.domid}:${p.poolId}`, `${d.name}, pool ${p.poolId} (${p.type})`]),
  );
}

/** Where the view reads pages from: the machine (RemoteMachine asks its worker). */
export interface PageSource {
  storedPages(domid: number, poolId: number, limit: number): Promise<StoredPage[]>;
  pageContents(domid: number, poolId: number, oid: bigint[], index: number): Promise<Uint8Array | null>;
}

export class StoredPageView {
  private control: PageSource | null = null;
  private shownPools = "";

  constructor() {
    $("page-pool").onchange = () => void this.listPages();
    $("page-pick").onchange = () => void this.show();
    $("page-show").onclick = () => void this.listPages($<HTMLSelectElement>("page-pick").value);
  }

  /** A new machine (or none): the view forgets the old one's pools and page. */
  reset(control: PageSource | null): void {
    this.control = control;
    this.shownPools = "";
    $<HTMLSelectElement>("page-pool").replaceChildren();
    $<HTMLSelectElement>("page-pick").replaceChildren();
    $("page-dump").textContent = "";
    ($("page-show") as HTMLButtonElement).disabled = true;
  }

  /** After a burst: the pools on offer, redrawn only when they changed (an open list is not pulled from under a user). */
  update(l: Listing): void {
    const options = poolOptions(l);
    const key = options.map(([v, label]) => `${v} ${label}`).join("\n");
    if (key === this.shownPools) return;
    this.shownPools = key;
    const pick = $<HTMLSelectElement>("page-pool");
    const was = pick.value;
    pick.replaceChildren(
      el("option", { value: "" }, options.length === 0 ? "no pool yet" : "pick a pool"),
      ...options.map(([value, label]) => el("option", { value, selected: value === was }, label)),
    );
    if (was && pick.value !== was) void this.listPages();
  }

  /** Lists the chosen pool's pages (keeping `keep` chosen if it is still there) and shows one. */
  private async listPages(keep = ""): Promise<void> {
    const pages = $<HTMLSelectElement>("page-pick");
    const dump = $("page-dump");
    const [domid, poolId] = $<HTMLSelectElement>("page-pool").value.split(":").map(Number);
    ($("page-show") as HTMLButtonElement).disabled = !this.control || Number.isNaN(poolId);
    pages.replaceChildren();
    dump.textContent = "";
    if (!this.control || Number.isNaN(poolId)) return;
    const source = this.control;
    let listed: StoredPage[];
    try {
      listed = await source.storedPages(domid, poolId, PAGES_LISTED);
    } catch (e) {
      dump.textContent = (e as Error).message;
      return;
    }
    // Another machine booted, or another pool picked, while the worker answered: its answer is stale.
    if (this.control !== source || $<HTMLSelectElement>("page-pool").value !== `${domid}:${poolId}`) return;
    pages.replaceChildren();
    if (listed.length === 0) {
      dump.textContent = "this pool holds no page now";
      return;
    }
    for (const p of listed) {
      const value = `${p.oid.map(hex64).join(",")}/${p.index}`;
      pages.append(el("option", { value, selected: value === keep }, `object ${p.oid.map(hex64).join(", ")}, index ${p.index}`));
    }
    await this.show();
  }

  /** Reads the chosen page from tmem now and shows its bytes. */
  private async show(): Promise<void> {
    const dump = $("page-dump");
    const [domid, poolId] = $<HTMLSelectElement>("page-pool").value.split(":").map(Number);
    const [oid, index] = $<HTMLSelectElement>("page-pick").value.split("/");
    const source = this.control;
    if (!source || !oid) return;
    let bytes: Uint8Array | null;
    try {
      bytes = await source.pageContents(domid, poolId, oid.split(",").map(BigInt), Number(index));
    } catch (e) {
      dump.textContent = (e as Error).message;
      return;
    }
    if (this.control !== source || $<HTMLSelectElement>("page-pick").value !== `${oid}/${index}`) return;
    const narrow = dump.clientWidth > 0 && dump.clientWidth < 560;
    dump.textContent =
      bytes === null
        ? "that page is no longer in tmem (evicted, flushed or taken by a get): list the pool's pages again"
        : `object ${oid}, index ${index}: ${bytes.length} bytes as a get would return them\n\n${hexDump(bytes, narrow ? 8 : 16)}`;
  }
}
