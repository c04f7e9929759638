/* Base layer: conversions against exact IEEE values, overflow checks, the parallel loop. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "base/half.h"
#include "base/mem.h"
#include "base/threads.h"
#include "test_util.h"

static void add_range(void *ctx, int64_t b, int64_t e) {
    int *hits = ctx;
    for (int64_t i = b; i < e; i++) hits[i]++;
}

/* A context's count on one thread while another thread holds another (rad_threads_enter): each sees its own, the
 * process's is untouched, and restoring gives the process's back. */
typedef struct {
    int want, seen_inside, seen_after;
} thread_case;

static pthread_barrier_t both_inside;

static void *context_thread(void *arg) {
    thread_case *t = arg;
    const int prev = rad_threads_enter(t->want);
    pthread_barrier_wait(&both_inside); /* both threads hold their counts at once */
    t->seen_inside = rad_get_threads();
    pthread_barrier_wait(&both_inside);
    rad_threads_restore(prev);
    t->seen_after = rad_get_threads();
    return NULL;
}

static void test_thread_counts(void) {
    rad_set_threads(2);
    thread_case a = {3, 0, 0}, b = {5, 0, 0};
    pthread_t ta, tb;
    pthread_barrier_init(&both_inside, NULL, 2);
    CHECK(pthread_create(&ta, NULL, context_thread, &a) == 0);
    CHECK(pthread_create(&tb, NULL, context_thread, &b) == 0);
    pthread_join(ta, NULL), pthread_join(tb, NULL);
    pthread_barrier_destroy(&both_inside);
    CHECK(a.seen_inside == 3 && b.seen_inside == 5);
    CHECK(a.seen_after == 2 && b.seen_after == 2);
    CHECK(rad_get_threads() == 2);
    const int prev = rad_threads_enter(0); /* 0: every core, not "the process's" */
    CHECK(rad_get_threads() >= 1);
    rad_threads_enter(7);
    CHECK(rad_get_threads() == 7);
    rad_threads_restore(prev);
    CHECK(rad_get_threads() == 2);
}

/* Two contexts' memory accounts on two threads at once: each counts its own blocks (and its workers' in
 * rad_parallel_for), the process counts both; a block freed on a thread that entered no account, after its
 * account's owner released it, still comes off that account (ASan sees the account freed with the last block). */
typedef struct {
    rad_mem_account *acct;
    size_t bytes, seen_cur, seen_peak;
    void *keep; /* a block left for the main thread to free */
} mem_case;

static void alloc_range(void *ctx, int64_t b, int64_t e) {
    void **blocks = ctx;
    for (int64_t i = b; i < e; i++) CHECK_OK(rad_alloc(&blocks[i], 100, "worker block"));
}

static void *mem_thread(void *arg) {
    mem_case *t = arg;
    rad_mem_account *prev = rad_mem_enter(t->acct);
    void *p, *blocks[8];
    CHECK_OK(rad_alloc(&p, t->bytes, "test"));
    CHECK_OK(rad_alloc(&t->keep, 10, "kept"));
    rad_parallel_for(8, 1, alloc_range, blocks); /* the workers count to this thread's account */
    for (int i = 0; i < 8; i++) rad_free(blocks[i]);
    pthread_barrier_wait(&both_inside); /* both threads hold their blocks at once */
    t->seen_cur = rad_mem_account_current(t->acct);
    pthread_barrier_wait(&both_inside);
    rad_free(p);
    t->seen_peak = rad_mem_account_peak(t->acct);
    rad_mem_restore(prev);
    return NULL;
}

static void test_mem_accounts(void) {
    rad_set_threads(4);
    mem_case a = {NULL, 1000, 0, 0, NULL}, b = {NULL, 7000, 0, 0, NULL};
    CHECK_OK(rad_mem_account_new(&a.acct));
    CHECK_OK(rad_mem_account_new(&b.acct));
    const size_t before = rad_mem_current();
    pthread_t ta, tb;
    pthread_barrier_init(&both_inside, NULL, 2);
    CHECK(pthread_create(&ta, NULL, mem_thread, &a) == 0);
    CHECK(pthread_create(&tb, NULL, mem_thread, &b) == 0);
    pthread_join(ta, NULL), pthread_join(tb, NULL);
    pthread_barrier_destroy(&both_inside);
    CHECK(a.seen_cur == 1010 && b.seen_cur == 7010);
    CHECK(a.seen_peak == 1010 + 800 && b.seen_peak == 7010 + 800); /* the 8 worker blocks were live at once */
    CHECK(rad_mem_account_current(a.acct) == 10 && rad_mem_current() == before + 20);
    CHECK(rad_mem_entered() == NULL);
    rad_mem_account_release(a.acct); /* the owner lets go while a block is still out */
    rad_free(a.keep);                /* the last block: the account goes with it */
    rad_mem_account_reset_peak(b.acct);
    CHECK(rad_mem_account_peak(b.acct) == 10);
    rad_free(b.keep);
    CHECK(rad_mem_account_current(b.acct) == 0);
    rad_mem_account_release(b.acct);
    CHECK(rad_mem_current() == before);
    rad_set_threads(0);
}

int main(void) {
    test_mem_accounts();
    /* bf16: 1.0 = 0x3f80, -2.0 = 0xc000; 1 + 2^-8 rounds to even (1.0), 1 + 3*2^-8 rounds up. */
    CHECK(rad_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(rad_bf16_to_f32(0xc000) == -2.0f);
    CHECK(rad_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);
    CHECK(rad_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
    /* fp16: 0x3c00 = 1, 0x0001 = 2^-24 (subnormal), 0x7bff = 65504, 0xfc00 = -inf. */
    CHECK(rad_f16_to_f32(0x3c00) == 1.0f);
    CHECK(rad_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(rad_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(rad_f16_to_f32(0xfc00)) && rad_f16_to_f32(0xfc00) < 0);
    /* e4m3fn: 0x38 = 1.0, 0x7e = 448 (max), 0x01 = 2^-9, 0x7f = NaN. */
    CHECK(rad_f8e4m3_to_f32(0x38) == 1.0f);
    CHECK(rad_f8e4m3_to_f32(0x7e) == 448.0f);
    CHECK(rad_f8e4m3_to_f32(0x01) == ldexpf(1.0f, -9));
    CHECK(isnan(rad_f8e4m3_to_f32(0x7f)));

    size_t n;
    int64_t big[3] = {1LL << 30, 1LL << 30, 1LL << 10};
    CHECK_FAILS(rad_shape_bytes(big, 3, 4, &n));
    int64_t neg[2] = {3, -1};
    CHECK_FAILS(rad_shape_bytes(neg, 2, 4, &n));
    int64_t ok[2] = {3, 5};
    CHECK_OK(rad_shape_bytes(ok, 2, 4, &n));
    CHECK(n == 60);
    void *p;
    CHECK_FAILS(rad_alloc(&p, SIZE_MAX - 8, "test"));
    CHECK_FAILS(rad_calloc(&p, SIZE_MAX / 2, 4, "test"));

    size_t before = rad_mem_current();
    CHECK_OK(rad_alloc(&p, 1000, "test"));
    CHECK(rad_mem_current() == before + 1000);
    CHECK(rad_mem_peak() >= before + 1000);
    rad_free(p);
    CHECK(rad_mem_current() == before);

    for (int t = 1; t <= 4; t++) {
        rad_set_threads(t);
        int hits[1001];
        memset(hits, 0, sizeof hits);
        rad_parallel_for(1001, 7, add_range, hits);
        int all_once = 1;
        for (int i = 0; i < 1001; i++) all_once &= hits[i] == 1;
        CHECK(all_once);
    }
    test_thread_counts();
    TEST_MAIN_END();
}
