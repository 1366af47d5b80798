/*
 * A worked example of tmem's control ABI from C: a privileged guest of the Xen 4.0.2-4.5
 * generation saves its own tmem the way that generation's toolstack did (TMEMC_SAVE_* while it
 * keeps flushing), destroys its pools, and restores them (TMEMC_RESTORE_*, TMEM_RESTORE_NEW),
 * sending weight and cap as 0 as Xen 4.5's libxc did. Every persistent page must come back.
 *
 * It uses struct tmem_op_xen_4_1_oid3_x86_64 from hypercall-abi/c/xen-tmem.h, so it runs with
 * that layout and as a control domain:
 *
 *   clang --target=wasm32-wasi -O2 -I hypercall-abi/c -Wl,--import-memory -o toolstack.wasm \
 *     guest/c/examples/toolstack.c
 *   tmemvm run toolstack.wasm --layout xen-4.1-oid3/x86_64 --privileged
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xen-tmem.h"

typedef struct tmem_op_xen_4_1_oid3_x86_64 op_t;

#define PAGES 6        /* persistent pages put before the save */
#define FLUSHED 2      /* the index flushed while the save runs */
#define HANDLE_BYTES 32 /* struct tmem_handle: pool id, index, oid[3] */

static uint8_t frames[2][TMEM_PAGE_SIZE] __attribute__((aligned(TMEM_PAGE_SIZE)));
/* NEXT_PAGE writes a handle and then the page: one buffer for both. */
static uint8_t xfer[HANDLE_BYTES + TMEM_PAGE_SIZE];
static char listing[4096];

/* The save stream, kept in memory as a toolstack would write it to a file. */
static struct { int32_t id; uint32_t flags; uint64_t uuid[2]; } saved_pools[16];
static int npools;
static struct { int32_t pool; uint32_t index; uint64_t oid[3]; uint8_t data[TMEM_PAGE_SIZE]; } saved_pages[PAGES];
static int npages;
static struct { int32_t pool; uint32_t index; uint64_t oid[3]; } saved_invs[PAGES];
static int ninvs;

static int passed, failed;

static void expect(const char *what, long got, long want) {
    if (got == want) {
        passed++;
        printf("ok   %s = %ld\n", what, got);
    } else {
        failed++;
        printf("FAIL %s: got %ld, want %ld\n", what, got, want);
    }
}

static int tmem(op_t *op) { return (int)xen_hypercall_regs(__HYPERVISOR_tmem_op, (uint64_t)(uintptr_t)op, 0, 0, 0, 0); }

/* One TMEMC_* sub-op: cli_id names the domain it acts on, buf a buffer in this guest's RAM. */
static int control(uint32_t subop, uint32_t cli, int32_t pool, uint32_t arg1, uint32_t arg2, const uint64_t *oid, void *buf) {
    op_t op;
    memset(&op, 0, sizeof op);
    op.cmd = TMEM_CONTROL;
    op.pool_id = pool;
    op.u.ctrl.subop = subop;
    op.u.ctrl.cli_id = cli;
    op.u.ctrl.arg1 = arg1;
    op.u.ctrl.arg2 = arg2;
    if (oid) memcpy(op.u.ctrl.oid, oid, sizeof op.u.ctrl.oid);
    op.u.ctrl.buf = (uint64_t)(uintptr_t)buf;
    return tmem(&op);
}

static int creat(uint32_t cmd, int32_t pool, uint32_t flags, const uint64_t uuid[2], uint32_t arg1) {
    op_t op;
    memset(&op, 0, sizeof op);
    op.cmd = cmd;
    op.pool_id = pool;
    op.u.creat.uuid[0] = uuid[0];
    op.u.creat.uuid[1] = uuid[1];
    op.u.creat.flags = flags;
    op.u.creat.arg1 = arg1;
    return tmem(&op);
}

static int page_op(uint32_t cmd, int32_t pool, uint64_t oid0, uint32_t index, void *frame) {
    op_t op;
    memset(&op, 0, sizeof op);
    op.cmd = cmd;
    op.pool_id = pool;
    op.u.gen.oid[0] = oid0;
    op.u.gen.index = index;
    op.u.gen.cmfn = frame ? xen_tmem_pfn(frame) : 0;
    return tmem(&op);
}

static void fill(uint8_t *page, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < TMEM_PAGE_SIZE; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        page[i] = (uint8_t)x;
    }
}

int main(void) {
    const uint32_t v1 = TMEM_SPEC_VERSION << TMEM_POOL_VERSION_SHIFT;
    const uint64_t uuid[2] = { 0x1111, 0x2222 }, none[2] = { 0, 0 };

    int eph = creat(TMEM_NEW_POOL, 0, v1, none, 0);
    int per = creat(TMEM_NEW_POOL, 0, v1 | TMEM_POOL_PERSIST, uuid, 0);
    expect("new ephemeral pool", eph, 0);
    expect("new persistent pool", per, 1);
    for (uint32_t i = 0; i < PAGES; i++) {
        fill(frames[0], 100 + i);
        expect("persistent put", page_op(TMEM_PUT_PAGE, per, 42, i, frames[0]), 1);
    }

    /* The toolstack finds its domain's id in the listing (it is the only domain here). */
    expect("list all", control(TMEMC_LIST, TMEM_CLI_ID_ALL, 0, sizeof listing, 0, NULL, listing), 0);
    const char *c = strstr(listing, "\nC=CI:");
    unsigned cli = 0;
    expect("a C= line", c != NULL && sscanf(c, "\nC=CI:%u", &cli) == 1, 1);
    expect("list one client", control(TMEMC_LIST, cli, 0, sizeof listing, 0, NULL, listing), 0);
    expect("its listing starts with its C= line", strncmp(listing, "C=CI:", 5), 0);

    /* ---- save, live: the client is frozen; the guest still flushes, which is logged. */
    expect("save begin", control(TMEMC_SAVE_BEGIN, cli, 0, 1, 0, NULL, NULL), 1);
    expect("version (cli_id 0, as libxc asks)", control(TMEMC_SAVE_GET_VERSION, 0, 0, 0, 0, NULL, NULL), TMEM_SPEC_VERSION);
    expect("max pools", control(TMEMC_SAVE_GET_MAXPOOLS, cli, 0, 0, 0, NULL, NULL), 16);
    int flags = control(TMEMC_SAVE_GET_CLIENT_FLAGS, cli, 0, 0, 0, NULL, NULL);
    expect("client flags: not frozen before the save", flags & TMEM_CLIENT_FROZEN, 0);
    for (int32_t id = 0; id < 16; id++) {
        int pf = control(TMEMC_SAVE_GET_POOL_FLAGS, cli, id, 0, 0, NULL, NULL);
        if (pf == -1) continue; /* no pool in this slot */
        saved_pools[npools].id = id;
        saved_pools[npools].flags = (uint32_t)pf;
        control(TMEMC_SAVE_GET_POOL_UUID, cli, id, 0, 0, NULL, saved_pools[npools].uuid);
        npools++;
        if (!(pf & TMEM_POOL_PERSIST)) continue;
        while (npages < PAGES) {
            if (npages == 1) expect("flush while saving", page_op(TMEM_FLUSH_PAGE, id, 42, FLUSHED, NULL), -XEN_EFROZEN);
            int r = control(TMEMC_SAVE_GET_NEXT_PAGE, cli, id, sizeof xfer, 0, NULL, xfer);
            if (r <= 0) break;
            memcpy(&saved_pages[npages].pool, xfer, 4);
            memcpy(&saved_pages[npages].index, xfer + 4, 4);
            memcpy(saved_pages[npages].oid, xfer + 8, 24);
            memcpy(saved_pages[npages].data, xfer + HANDLE_BYTES, TMEM_PAGE_SIZE);
            npages++;
        }
    }
    expect("pools saved", npools, 2);
    expect("uuid of the private pool", (long)saved_pools[1].uuid[1], 0x2222);
    /* The guest is paused: what left its pools while the pages were copied. */
    while (ninvs < PAGES && control(TMEMC_SAVE_GET_NEXT_INV, cli, 0, HANDLE_BYTES, 0, NULL, xfer) == 1) {
        memcpy(&saved_invs[ninvs].pool, xfer, 4);
        memcpy(&saved_invs[ninvs].index, xfer + 4, 4);
        memcpy(saved_invs[ninvs].oid, xfer + 8, 24);
        ninvs++;
    }
    expect("invalidations", ninvs, 1);
    expect("save end", control(TMEMC_SAVE_END, cli, 0, 0, 0, NULL, NULL), 0);

    /* ---- destroy. */
    for (int i = 0; i < npools; i++) expect("destroy pool", page_op(TMEM_DESTROY_POOL, saved_pools[i].id, 0, 0, NULL), 1);

    /* ---- restore, as Xen 4.5's libxc: weight and cap sent as 0 whatever was saved. */
    expect("restore begin", control(TMEMC_RESTORE_BEGIN, cli, 0, 0, 0, NULL, NULL), 1);
    if (flags & TMEM_CLIENT_FROZEN) control(TMEMC_FREEZE, cli, 0, 0, 0, NULL, NULL);
    expect("weight 0", control(TMEMC_SET_WEIGHT, cli, 0, 0, 0, NULL, NULL), 0);
    expect("cap 0", control(TMEMC_SET_CAP, cli, 0, 0, 0, NULL, NULL), 0);
    for (int i = 0; i < npools; i++) {
        expect("restore pool", creat(TMEM_RESTORE_NEW, saved_pools[i].id, saved_pools[i].flags, saved_pools[i].uuid, cli), saved_pools[i].id);
    }
    for (int i = 0; i < npages; i++) {
        memcpy(xfer, saved_pages[i].data, TMEM_PAGE_SIZE);
        expect("restore page", control(TMEMC_RESTORE_PUT_PAGE, cli, saved_pages[i].pool, TMEM_PAGE_SIZE, saved_pages[i].index, saved_pages[i].oid, xfer), 1);
    }
    for (int i = 0; i < ninvs; i++) {
        expect("restore flush", control(TMEMC_RESTORE_FLUSH_PAGE, cli, saved_invs[i].pool, 0, saved_invs[i].index, saved_invs[i].oid, NULL), 1);
    }

    /* Every page the guest held when the save ended, byte for byte; the flushed one is gone. */
    int back = 0;
    for (uint32_t i = 0; i < PAGES; i++) {
        int r = page_op(TMEM_GET_PAGE, per, 42, i, frames[1]);
        fill(frames[0], 100 + i);
        if (i == FLUSHED) expect("flushed page stays gone", r, 0);
        else back += r == 1 && memcmp(frames[0], frames[1], TMEM_PAGE_SIZE) == 0;
    }
    expect("pages back byte for byte", back, PAGES - 1);

    printf("toolstack-c: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
