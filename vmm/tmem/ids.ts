// Branded ids: each is a plain number at run time (no wrapper, no allocation, no check), but a
// distinct type, so passing one kind of id where another is expected does not compile. A raw
// number becomes an id by a cast (`n as DomId`), once, where it enters: decoded from a hypercall's
// struct, read from a trace or a save file, or handed out by the table that owns it.

/** A domain's id (Xen's domid_t; a tmem client is keyed by it). */
export type DomId = number & { readonly __domId: never };
/** A pool's id within one client: its slot in the client's 16-entry pool table (the guest's pool_id). */
export type PoolId = number & { readonly __poolId: never };
/** A pool's host-wide handle (poolsByHandle, the page index's per-pool object lists). */
export type PoolHandle = number & { readonly __poolHandle: never };
/** A client's slot in the page index (which ephemeral LRU list is its own). */
export type ClientSlot = number & { readonly __clientSlot: never };
/** An object record's number in the page index. */
export type ObjectRecord = number & { readonly __objectRecord: never };
/** A page record's number in the page index. */
export type PageRecord = number & { readonly __pageRecord: never };
