/*
 * A tmem self-test guest in C, proof that the guest ABI is language-independent. It declares its
 * own struct tmem_op for the x86-64 layout (Xen 4.6-4.12) and talks to the VMM only through the
 * xen.hypercall import. Build: see README ("A guest in C").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HYPERVISOR_tmem_op 38
#define TMEM_NEW_POOL 1
#define TMEM_DESTROY_POOL 2
#define TMEM_PUT_PAGE 4
#define TMEM_GET_PAGE 5
#define TMEM_FLUSH_PAGE 6
#define TMEM_FLUSH_OBJECT 7
#define TMEM_POOL_PERSIST 1
#define TMEM_POOL_VERSION_SHIFT 24
#define TMEM_SPEC_VERSION 1
#define EFAULT 14
#define ENODEV 19
#define EEMPTY 1001
#define PAGE_SIZE 4096

/* The x86-64 layout: xen_pfn_t and the oid words are 64-bit and 8-aligned, as on x86-64. */
struct tmem_op {
    uint32_t cmd;
    int32_t pool_id;
    union {
        struct {
            uint64_t uuid[2];
            uint32_t flags;
            uint32_t arg1;
        } creat;
        struct {
            uint64_t oid[3];
            uint32_t index;
            uint32_t tmem_offset;
            uint32_t pfn_offset;
            uint32_t len;
            uint64_t cmfn;
        } gen;
    } u;
};
_Static_assert(sizeof(struct tmem_op) == 56, "x86-64 struct tmem_op is 56 bytes");
_Static_assert(offsetof(struct tmem_op, u.gen.index) == 32, "gen.index at 32");
_Static_assert(offsetof(struct tmem_op, u.gen.cmfn) == 48, "gen.cmfn at 48");
_Static_assert(offsetof(struct tmem_op, u.creat.flags) == 24, "creat.flags at 24");

__attribute__((import_module("xen"), import_name("hypercall")))
extern int32_t xen_hypercall(int32_t rax_lo, int32_t rax_hi, int32_t rdi_lo, int32_t rdi_hi,
                             int32_t rsi_lo, int32_t rsi_hi, int32_t rdx_lo, int32_t rdx_hi,
                             int32_t r10_lo, int32_t r10_hi, int32_t r8_lo, int32_t r8_hi);

static int64_t hypercall1(uint64_t nr, uint64_t arg) {
    return (int64_t)xen_hypercall((int32_t)nr, (int32_t)(nr >> 32), (int32_t)arg, (int32_t)(arg >> 32),
                                  0, 0, 0, 0, 0, 0, 0, 0);
}

static int tmem_op(struct tmem_op *op) { return (int)hypercall1(HYPERVISOR_tmem_op, (uintptr_t)op); }

static uint8_t frames[4][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static uint64_t pfn_of(void *p) { return (uintptr_t)p >> 12; }

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
    for (int i = 0; i < PAGE_SIZE; i++) {
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
    expect("persistent put", gen_op(TMEM_PUT_PAGE, per, 42, 7, pfn_of(a)), 1);
    memset(b, 0, PAGE_SIZE);
    expect("persistent get", gen_op(TMEM_GET_PAGE, per, 42, 7, pfn_of(b)), 1);
    expect("contents match", memcmp(a, b, PAGE_SIZE), 0);
    expect("persistent get again", gen_op(TMEM_GET_PAGE, per, 42, 7, pfn_of(b)), 1);

    fill(a, 2);
    expect("ephemeral get on empty pool", gen_op(TMEM_GET_PAGE, eph, 9, 0, pfn_of(b)), -EEMPTY);
    expect("ephemeral put", gen_op(TMEM_PUT_PAGE, eph, 9, 0, pfn_of(a)), 1);
    expect("ephemeral put 2", gen_op(TMEM_PUT_PAGE, eph, 9, 1, pfn_of(a)), 1);
    memset(b, 0, PAGE_SIZE);
    expect("ephemeral get", gen_op(TMEM_GET_PAGE, eph, 9, 0, pfn_of(b)), 1);
    expect("contents match", memcmp(a, b, PAGE_SIZE), 0);
    expect("ephemeral get is destructive", gen_op(TMEM_GET_PAGE, eph, 9, 0, pfn_of(b)), 0);

    expect("flush page", gen_op(TMEM_FLUSH_PAGE, per, 42, 7, 0), 1);
    expect("flushed page misses", gen_op(TMEM_GET_PAGE, per, 42, 7, pfn_of(b)), -EEMPTY);
    gen_op(TMEM_PUT_PAGE, per, 43, 0, pfn_of(a));
    gen_op(TMEM_PUT_PAGE, per, 43, 1, pfn_of(a));
    gen_op(TMEM_PUT_PAGE, per, 44, 0, pfn_of(a));
    expect("flush object", gen_op(TMEM_FLUSH_OBJECT, per, 43, 0, 0), 1);
    expect("object gone", gen_op(TMEM_GET_PAGE, per, 43, 1, pfn_of(b)), 0);
    expect("other object kept", gen_op(TMEM_GET_PAGE, per, 44, 0, pfn_of(b)), 1);

    expect("put from a frame past RAM", gen_op(TMEM_PUT_PAGE, per, 1, 0, ram_frames), -EFAULT);
    expect("pool id 16", gen_op(TMEM_PUT_PAGE, 16, 1, 0, pfn_of(a)), -ENODEV);
    expect("pool id -1", gen_op(TMEM_GET_PAGE, -1, 1, 0, pfn_of(a)), -ENODEV);
    expect("destroy persistent pool", gen_op(TMEM_DESTROY_POOL, per, 0, 0, 0), 1);
    expect("destroy ephemeral pool", gen_op(TMEM_DESTROY_POOL, eph, 0, 0, 0), 1);

    printf("selftest-c: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
