/*
 * A tmem self-test guest in C, proof that the guest ABI is language-independent. It takes struct
 * tmem_op (the x86-64 layout of Xen 4.6-4.12), the constants and the xen.hypercall import from
 * the generated header hypercall-abi/c/xen-tmem.h. Build: see README ("A guest in C").
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xen-tmem.h"

static int tmem_op(struct tmem_op *op) { return (int)HYPERVISOR_tmem_op(op); }

static uint8_t frames[4][TMEM_PAGE_SIZE] __attribute__((aligned(TMEM_PAGE_SIZE)));

static int new_pool(uint32_t flags) {
    struct tmem_op op;
    op.cmd = TMEM_NEW_POOL;
    op.u.creat.uuid[0] = 0;
    op.u.creat.uuid[1] = 0;
    op.u.creat.flags = flags;
    return tmem_op(&op);
}

static int gen_op(uint32_t cmd, int32_t pool, uint64_t oid0, uint32_t index, uint64_t cmfn) {
    struct tmem_op op;
    op.cmd = cmd;
    op.pool_id = pool;
    op.u.gen.oid[0] = oid0;
    op.u.gen.oid[1] = 0;
    op.u.gen.oid[2] = 0;
    op.u.gen.index = index;
    op.u.gen.tmem_offset = 0;
    op.u.gen.pfn_offset = 0;
    op.u.gen.len = 0;
    op.u.gen.cmfn = cmfn;
    return tmem_op(&op);
}

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

static void fill(uint8_t *page, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < TMEM_PAGE_SIZE; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        page[i] = (uint8_t)x;
    }
}

int main(void) {
    uint8_t *a = frames[0], *b = frames[1];
    uint64_t ram_frames = (uint64_t)__builtin_wasm_memory_size(0) << 4;
    uint32_t v1 = TMEM_SPEC_VERSION << TMEM_POOL_VERSION_SHIFT;

    int eph = new_pool(v1);
    int per = new_pool(v1 | TMEM_POOL_PERSIST);
    expect("new ephemeral pool", eph, 0);
    expect("new persistent pool", per, 1);

    fill(a, 1);
    expect("persistent put", gen_op(TMEM_PUT_PAGE, per, 42, 7, xen_tmem_pfn(a)), 1);
    memset(b, 0, TMEM_PAGE_SIZE);
    expect("persistent get", gen_op(TMEM_GET_PAGE, per, 42, 7, xen_tmem_pfn(b)), 1);
    expect("contents match", memcmp(a, b, TMEM_PAGE_SIZE), 0);
    expect("persistent get again", gen_op(TMEM_GET_PAGE, per, 42, 7, xen_tmem_pfn(b)), 1);

    fill(a, 2);
    expect("ephemeral get on empty pool", gen_op(TMEM_GET_PAGE, eph, 9, 0, xen_tmem_pfn(b)), -XEN_EEMPTY);
    expect("ephemeral put", gen_op(TMEM_PUT_PAGE, eph, 9, 0, xen_tmem_pfn(a)), 1);
    expect("ephemeral put 2", gen_op(TMEM_PUT_PAGE, eph, 9, 1, xen_tmem_pfn(a)), 1);
    memset(b, 0, TMEM_PAGE_SIZE);
    expect("ephemeral get", gen_op(TMEM_GET_PAGE, eph, 9, 0, xen_tmem_pfn(b)), 1);
    expect("contents match", memcmp(a, b, TMEM_PAGE_SIZE), 0);
    expect("ephemeral get is destructive", gen_op(TMEM_GET_PAGE, eph, 9, 0, xen_tmem_pfn(b)), 0);

    expect("flush page", gen_op(TMEM_FLUSH_PAGE, per, 42, 7, 0), 1);
    expect("flushed page misses", gen_op(TMEM_GET_PAGE, per, 42, 7, xen_tmem_pfn(b)), -XEN_EEMPTY);
    gen_op(TMEM_PUT_PAGE, per, 43, 0, xen_tmem_pfn(a));
    gen_op(TMEM_PUT_PAGE, per, 43, 1, xen_tmem_pfn(a));
    gen_op(TMEM_PUT_PAGE, per, 44, 0, xen_tmem_pfn(a));
    expect("flush object", gen_op(TMEM_FLUSH_OBJECT, per, 43, 0, 0), 1);
    expect("object gone", gen_op(TMEM_GET_PAGE, per, 43, 1, xen_tmem_pfn(b)), 0);
    expect("other object kept", gen_op(TMEM_GET_PAGE, per, 44, 0, xen_tmem_pfn(b)), 1);

    expect("put from a frame past RAM", gen_op(TMEM_PUT_PAGE, per, 1, 0, ram_frames), -XEN_EFAULT);
    expect("pool id 16", gen_op(TMEM_PUT_PAGE, 16, 1, 0, xen_tmem_pfn(a)), -XEN_ENODEV);
    expect("pool id -1", gen_op(TMEM_GET_PAGE, -1, 1, 0, xen_tmem_pfn(a)), -XEN_ENODEV);
    expect("destroy persistent pool", gen_op(TMEM_DESTROY_POOL, per, 0, 0, 0), 1);
    expect("destroy ephemeral pool", gen_op(TMEM_DESTROY_POOL, eph, 0, 0, 0), 1);

    printf("selftest-c: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
