/* CPU attention against a naive double-precision softmax, written here independently: dense self- and
 * cross-attention, additive bias, and block-sparse layouts (random block masks, N not a multiple of the block,
 * N below one block) against dense attention over the expanded token mask (-inf outside the listed blocks).
 * Every case runs through each instruction-set variant of the tile code the CPU has (portable, AVX2, AVX-512).
 * Also: results identical bit for bit with 1, 2 and 3 threads, and a NaN input shows in its own row only.
 * Inputs are random with a fresh seed each run (printed; set RAD_TEST_SEED to replay one). */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attn/bsr.h"
#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"
#include "test_util.h"

static uint64_t rng_state;
static uint64_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static float rng_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((rng_next() >> 40) / 16777216.0); }
static float *rand_array(size_t n, float amp) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = rng_uniform(-amp, amp);
    return a;
}

/* Reference: out[i,h,:] = sum_j softmax_j(scale q.k + bias + (allowed ? 0 : -inf)) v[j,h,:], all in double.
 * allowed: NULL (all keys) or lq x lk bytes. */
static void ref_attention(const float *q, const float *k, const float *v, float *out, int64_t lq, int64_t lk,
                          int64_t heads, int64_t hd, float scale, const float *bias, const uint8_t *allowed) {
    double *s = malloc((size_t)lk * sizeof *s);
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < lq; i++) {
            double mx = -INFINITY;
            for (int64_t j = 0; j < lk; j++) {
                if (allowed && !allowed[i * lk + j]) {
                    s[j] = -INFINITY;
                    continue;
                }
                double dot = 0;
                for (int64_t d = 0; d < hd; d++)
                    dot += (double)q[(i * heads + h) * hd + d] * (double)k[(j * heads + h) * hd + d];
                s[j] = (double)scale * dot + (bias ? (double)bias[(h * lq + i) * lk + j] : 0.0);
                if (s[j] > mx) mx = s[j];
            }
            double sum = 0;
            for (int64_t j = 0; j < lk; j++) {
                s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                sum += s[j];
            }
            for (int64_t d = 0; d < hd; d++) {
                double o = 0;
                for (int64_t j = 0; j < lk; j++) o += s[j] * (double)v[(j * heads + h) * hd + d];
                out[(i * heads + h) * hd + d] = sum > 0 ? (float)(o / sum) : 0.0f;
            }
        }
    free(s);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) || d > m) m = isnan(a[i]) ? INFINITY : d;
    }
    return m;
}

/* One case: random q, k, v (amplitude amp: larger values sharpen the softmax), optional bias and block mask. */
static void run_case(const char *name, int64_t lq, int64_t lk, int64_t heads, int64_t hd, float amp, int with_bias,
                     const rad_bsr *mask) {
    size_t nq = (size_t)(lq * heads * hd), nk = (size_t)(lk * heads * hd);
    float *q = rand_array(nq, amp), *k = rand_array(nk, amp), *v = rand_array(nk, 1.0f);
    float *bias = with_bias ? rand_array((size_t)(heads * lq * lk), 3.0f) : NULL;
    if (with_bias == 2) /* keys [0, 70) excluded by the bias (a whole key tile and part of the next), and
                           every key of query row 3 (its output is zeros) */
        for (int64_t r = 0; r < heads * lq; r++)
            for (int64_t j = 0; j < lk; j++)
                if (j < 70 || r % lq == 3) bias[r * lk + j] = -INFINITY;
    float *out = calloc(nq, sizeof *out), *ref = calloc(nq, sizeof *ref);
    uint8_t *allowed = NULL;
    if (mask) { /* expand the block layout to tokens, independently of the kernel's walk */
        allowed = calloc((size_t)(lq * lk), 1);
        for (int32_t r = 0; r < mask->n_blocks; r++)
            for (int32_t e = mask->row_ptr[r]; e < mask->row_ptr[r + 1]; e++)
                for (int64_t i = (int64_t)r * mask->block; i < (int64_t)(r + 1) * mask->block && i < lq; i++)
                    for (int64_t j = (int64_t)mask->col_idx[e] * mask->block;
                         j < (int64_t)(mask->col_idx[e] + 1) * mask->block && j < lk; j++)
                        allowed[i * lk + j] = 1;
    }
    float scale = 1.0f / sqrtf((float)hd);
    CHECK_OK(rad_cpu_attention(NULL, q, k, v, out, lq, lk, heads, hd, scale, bias, mask));
    ref_attention(q, k, v, ref, lq, lk, heads, hd, scale, bias, allowed);
    double rel = rad_rel_err(out, ref, nq), mad = max_abs_diff(out, ref, nq);
    printf("  %-34s lq=%-5lld lk=%-5lld heads=%lld hd=%-3lld rel=%.2e maxabs=%.2e\n", name, (long long)lq,
           (long long)lk, (long long)heads, (long long)hd, rel, mad);
    CHECK(rel < 2e-6);
    CHECK(mad < 2e-5);
    free(q), free(k), free(v), free(bias), free(out), free(ref), free(allowed);
}

/* A random block mask of density p with the diagonal always present (every query row sees some key). */
static void random_layout(int64_t n, int32_t block, double p, rad_bsr *out) {
    int32_t nb = (int32_t)((n + block - 1) / block);
    uint8_t *m = malloc((size_t)nb * (size_t)nb);
    for (int32_t r = 0; r < nb; r++)
        for (int32_t c = 0; c < nb; c++) m[r * nb + c] = r == c || rng_uniform(0, 1) < p;
    CHECK_OK(rad_bsr_from_mask(m, nb, n, block, out));
    free(m);
}

/* Every numerical case, through the tile code the attention currently picks. */
static void run_cases(void) {
    /* Dense: self, cross (lq != lk, T5/text shapes), head_dim not a multiple of anything, sharp softmax. */
    run_case("dense self", 200, 200, 3, 64, 1.0f, 0, NULL);
    run_case("dense cross", 77, 300, 2, 40, 1.0f, 0, NULL);
    run_case("dense sharp (amp 4)", 130, 130, 2, 128, 4.0f, 0, NULL);
    run_case("dense single token", 1, 1, 1, 8, 1.0f, 0, NULL);
    /* The DiT head dim over several query and key tiles, both partial. */
    run_case("dense hd 128, partial tiles", 300, 333, 2, 128, 1.0f, 0, NULL);
    /* Additive bias [heads, lq, lk]. */
    run_case("bias self", 150, 150, 4, 32, 1.0f, 1, NULL);
    run_case("bias cross", 20, 90, 2, 16, 1.0f, 1, NULL);
    run_case("bias -inf on keys 0..69", 100, 200, 2, 24, 1.0f, 2, NULL);

    /* The dense block-CSR layout gives dense attention (N not a multiple of the block, and N < one block). */
    const int64_t ns[] = {200, 300, 50, 129, 256};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        rad_bsr d;
        CHECK_OK(rad_bsr_dense(ns[t], 128, &d));
        CHECK(d.n_blocks == (ns[t] + 127) / 128 && rad_bsr_density(&d) == 1.0);
        CHECK(rad_bsr_pairs(&d) == (double)ns[t] * (double)ns[t]);
        run_case("bsr dense layout", ns[t], ns[t], 2, 64, 1.0f, 0, &d);
        rad_bsr_free(&d);
    }
    /* Random block-sparse layouts, including a partial last block and block sizes 128 and 64. */
    const struct {
        int64_t n;
        int32_t block;
        double p;
    } sp[] = {{1000, 128, 0.4}, {777, 128, 0.3}, {384, 128, 0.5}, {50, 128, 0.5},
              {129, 128, 0.5},  {500, 64, 0.3},  {1, 128, 1.0},   {1024, 128, 0.1}};
    for (size_t t = 0; t < sizeof sp / sizeof sp[0]; t++) {
        rad_bsr b;
        random_layout(sp[t].n, sp[t].block, sp[t].p, &b);
        char name[64];
        snprintf(name, sizeof name, "bsr random block=%d density=%.2f", (int)sp[t].block, rad_bsr_density(&b));
        run_case(name, sp[t].n, sp[t].n, 2, 64, 2.0f, 0, &b);
        rad_bsr_free(&b);
    }
    /* Block-sparse with a bias as well (the kernel adds both). */
    {
        rad_bsr b;
        random_layout(300, 128, 0.5, &b);
        run_case("bsr random + bias", 300, 300, 2, 32, 1.0f, 1, &b);
        rad_bsr_free(&b);
    }

    /* An empty block row gives zeros (documented behaviour), others are unaffected. */
    {
        uint8_t m[4] = {1, 0, 0, 0}; /* row 1 has no key block */
        rad_bsr b;
        CHECK_OK(rad_bsr_from_mask(m, 2, 200, 128, &b));
        CHECK(b.row_ptr[2] == 1 && rad_bsr_density(&b) == 0.25);
        run_case("bsr with an empty row", 200, 200, 1, 16, 1.0f, 0, &b);
        rad_bsr_free(&b);
    }
}

/* The same inputs give the same bits with any thread count (threads split query blocks, never a sum). */
static void check_thread_invariance(void) {
    const int64_t lq = 333, lk = 290, heads = 3, hd = 48;
    const size_t nq = (size_t)(lq * heads * hd), nk = (size_t)(lk * heads * hd);
    float *q = rand_array(nq, 1.0f), *k = rand_array(nk, 1.0f), *v = rand_array(nk, 1.0f);
    float *o1 = calloc(nq, sizeof *o1), *o2 = calloc(nq, sizeof *o2);
    const int saved = rad_get_threads();
    rad_set_threads(1);
    CHECK_OK(rad_cpu_attention(NULL, q, k, v, o1, lq, lk, heads, hd, 0.144f, NULL, NULL));
    for (int t = 2; t <= 3; t++) {
        rad_set_threads(t);
        CHECK_OK(rad_cpu_attention(NULL, q, k, v, o2, lq, lk, heads, hd, 0.144f, NULL, NULL));
        CHECK(!memcmp(o1, o2, nq * sizeof *o1));
    }
    rad_set_threads(saved);
    printf("  same bits with 1, 2 and 3 threads\n");
    free(q), free(k), free(v), free(o1), free(o2);
}

/* A NaN in one query row makes that row NaN (a broken input is not hidden) and leaves the others exact. */
static void check_nan_row(void) {
    const int64_t lq = 40, lk = 70, hd = 16;
    float *q = rand_array((size_t)(lq * hd), 1.0f), *k = rand_array((size_t)(lk * hd), 1.0f);
    float *v = rand_array((size_t)(lk * hd), 1.0f), *out = calloc((size_t)(lq * hd), sizeof *out);
    float *ref = calloc((size_t)(lq * hd), sizeof *ref);
    ref_attention(q, k, v, ref, lq, lk, 1, hd, 0.25f, NULL, NULL);
    q[7 * hd + 3] = NAN;
    CHECK_OK(rad_cpu_attention(NULL, q, k, v, out, lq, lk, 1, hd, 0.25f, NULL, NULL));
    int nan_ok = 1;
    for (int64_t i = 0; i < lq; i++)
        for (int64_t d = 0; d < hd; d++) nan_ok &= i == 7 ? isnan(out[i * hd + d]) : !isnan(out[i * hd + d]);
    CHECK(nan_ok);
    memcpy(out + 7 * hd, ref + 7 * hd, (size_t)hd * sizeof *out);
    CHECK(rad_rel_err(out, ref, (size_t)(lq * hd)) < 2e-6);
    printf("  a NaN in query row 7 gives a NaN row 7 only\n");
    free(q), free(k), free(v), free(out), free(ref);
}

int main(void) {
    const char *env = getenv("RAD_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    if (!seed) seed = 1;
    rng_state = seed;
    printf("seed %llu (RAD_TEST_SEED=%llu replays this run)\n", (unsigned long long)seed, (unsigned long long)seed);

    /* Each variant the CPU has: 0 portable, 1 AVX2 + FMA, 2 AVX-512 (a cap above the CPU picks its best). */
    for (int isa = 0; isa <= 2; isa++) {
        printf("tile code capped at %s\n", isa == 0 ? "portable" : isa == 1 ? "AVX2" : "AVX-512");
        rad_cpu_attention_isa_cap(isa);
        run_cases();
        check_thread_invariance();
        check_nan_row();
    }

    /* Layout construction: exact CSR of a known mask. */
    {
        uint8_t m[9] = {1, 0, 1, 0, 0, 0, 1, 1, 1};
        rad_bsr b;
        CHECK_OK(rad_bsr_from_mask(m, 3, 300, 128, &b));
        const int32_t rp[4] = {0, 2, 2, 5}, ci[5] = {0, 2, 0, 1, 2};
        CHECK(!memcmp(b.row_ptr, rp, sizeof rp) && !memcmp(b.col_idx, ci, sizeof ci));
        CHECK(fabs(rad_bsr_density(&b) - 5.0 / 9.0) < 1e-15);
        /* Block rows hold 128, 128 and 44 tokens: 128·128 + 128·44 + 44·128 + 44·128 + 44·44 pairs. */
        CHECK(rad_bsr_pairs(&b) == 35216.0);
        /* rad_bsr_check accepts it and rejects each kind of corruption (restored after each). */
        CHECK_OK(rad_bsr_check(&b));
        b.col_idx[4] = 3; /* outside [0, 3) */
        CHECK_FAILS(rad_bsr_check(&b));
        b.col_idx[4] = 2, b.row_ptr[2] = 1; /* 2 > 1: decreases */
        CHECK_FAILS(rad_bsr_check(&b));
        b.row_ptr[2] = 2, b.row_ptr[0] = 1;
        CHECK_FAILS(rad_bsr_check(&b));
        b.row_ptr[0] = 0, b.n_tokens = 400; /* 4 block rows, not 3 */
        CHECK_FAILS(rad_bsr_check(&b));
        b.n_tokens = 300;
        CHECK_OK(rad_bsr_check(&b));
        rad_bsr_free(&b);
        CHECK(b.row_ptr == NULL && b.col_idx == NULL);
        rad_bsr_free(&b); /* freeing twice is harmless */
    }

    /* Rejections: inconsistent layouts and shapes. */
    {
        float x[4 * 128] = {0}, o[4 * 128];
        rad_bsr b;
        uint8_t one = 1;
        CHECK_FAILS(rad_bsr_from_mask(&one, 2, 100, 128, &b)); /* 100 tokens make 1 block row, not 2 */
        CHECK_FAILS(rad_bsr_dense(0, 128, &b));
        CHECK_FAILS(rad_bsr_dense(10, 0, &b));
        CHECK_FAILS(rad_bsr_dense((int64_t)1 << 40, 128, &b)); /* nnz beyond int32 */
        CHECK_OK(rad_bsr_dense(4, 128, &b));
        CHECK_FAILS(rad_cpu_attention(NULL, x, x, x, o, 4, 3, 1, 128, 1.0f, NULL, &b)); /* lq != lk */
        CHECK_FAILS(rad_cpu_attention(NULL, x, x, x, o, 3, 3, 1, 128, 1.0f, NULL, &b)); /* mask for 4 tokens */
        b.col_idx[0] = 5;
        CHECK_FAILS(rad_cpu_attention(NULL, x, x, x, o, 4, 4, 1, 128, 1.0f, NULL, &b)); /* block index out of range */
        rad_bsr_free(&b);
        CHECK_FAILS(rad_cpu_attention(NULL, x, x, x, o, 4, 4, 0, 128, 1.0f, NULL, NULL));
        CHECK_FAILS(rad_cpu_attention(NULL, x, x, x, o, 4, 4, 1, -1, 1.0f, NULL, NULL));
    }
    TEST_MAIN_END();
}
