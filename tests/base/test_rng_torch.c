/* The torch-compatible generators against draws made by torch itself (tests/data/rng/torch_randn.safetensors,
 * written by tests/data/rng/make_ref.py on torch 2.11): the CPU kernels must match bit for bit, the CUDA one
 * within the SFU's sine/cosine error (base/rng.h says why it cannot be exact). With RAD_TORCH_FULL_DIR set to
 * the folder make_ref.py --full wrote, the whole 480x832x81 latents of seed 42 are compared as well. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "test_util.h"

#define LATENT (16 * 21 * 60 * 104) /* Wan 2.1 at 480x832, 81 frames */
#define KEEP 4096                   /* head and tail kept of the latent-size draws */

static const uint64_t seeds[] = {0, 42, 4294967303ull, 8019384548414152321ull};
static const int64_t sizes[] = {1, 15, 16, 17, 100, LATENT};

typedef struct {
    int64_t n, exact, max_ulp;
    double max_abs;
} diff_stats;

static int64_t ulp_dist(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t x = ia < 0 ? (int64_t)INT32_MIN - ia : ia, y = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return x > y ? x - y : y - x;
}

static void add_stats(diff_stats *s, const float *got, const float *want, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t u = ulp_dist(got[i], want[i]);
        const double d = fabs((double)got[i] - (double)want[i]);
        s->exact += u == 0;
        if (u > s->max_ulp) s->max_ulp = u;
        if (d > s->max_abs) s->max_abs = d;
    }
    s->n += n;
}

static const float *tensor(const rad_st_file *f, const char *name, int64_t numel) {
    const rad_st_tensor *t = rad_st_find(f, name);
    CHECK(t != NULL && t->dtype == RAD_DT_F32 && t->numel == numel);
    return t && t->dtype == RAD_DT_F32 && t->numel == numel ? t->data : NULL;
}

static double scalar_f64(const rad_st_file *f, const char *name) {
    const rad_st_tensor *t = rad_st_find(f, name);
    CHECK(t != NULL && t->dtype == RAD_DT_F64 && t->numel == 1);
    double v = 0;
    if (t && t->dtype == RAD_DT_F64 && t->numel == 1) memcpy(&v, t->data, 8);
    return v;
}

static int64_t scalar_i64(const rad_st_file *f, const char *name) {
    const rad_st_tensor *t = rad_st_find(f, name);
    CHECK(t != NULL && t->dtype == RAD_DT_I64 && t->numel == 1);
    int64_t v = 0;
    if (t && t->dtype == RAD_DT_I64 && t->numel == 1) memcpy(&v, t->data, 8);
    return v;
}

/* The checksums make_ref.py stores for the latent-size draw: sum, sum of squares (float64) and the sum of the
 * bit patterns weighted by (i mod 509) + 1 (int64, exact). */
static void checksums(const float *x, int64_t n, double *sum, double *sumsq, int64_t *bitsum) {
    *sum = 0, *sumsq = 0, *bitsum = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        *sum += x[i], *sumsq += (double)x[i] * x[i], *bitsum += (int64_t)b * (i % 509 + 1);
    }
}

typedef void (*cpu_fn)(uint64_t, float *, int64_t);

static void cuda_default(uint64_t seed, float *out, int64_t n) { rad_randn_torch_cuda(seed, out, n, 0, 0); }

/* Compares one variant of the reference file over every seed and size; returns the statistics. */
static diff_stats compare_variant(const rad_st_file *f, const char *variant, cpu_fn fn, float *buf, int exact_bits) {
    diff_stats st = {0};
    char name[160];
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
            const int64_t n = sizes[z];
            const unsigned long long sd = (unsigned long long)seeds[s];
            fn(seeds[s], buf, n);
            if (n < LATENT) {
                snprintf(name, sizeof name, "%s/%llu/%lld", variant, sd, (long long)n);
                const float *want = tensor(f, name, n);
                if (want) add_stats(&st, buf, want, n);
                continue;
            }
            snprintf(name, sizeof name, "%s/%llu/%lld/head", variant, sd, (long long)n);
            const float *head = tensor(f, name, KEEP);
            snprintf(name, sizeof name, "%s/%llu/%lld/tail", variant, sd, (long long)n);
            const float *tail = tensor(f, name, KEEP);
            if (head) add_stats(&st, buf, head, KEEP);
            if (tail) add_stats(&st, buf + n - KEEP, tail, KEEP);
            double sum, sumsq;
            int64_t bits;
            checksums(buf, n, &sum, &sumsq, &bits);
            snprintf(name, sizeof name, "%s/%llu/%lld/sum", variant, sd, (long long)n);
            const double want_sum = scalar_f64(f, name);
            snprintf(name, sizeof name, "%s/%llu/%lld/sumsq", variant, sd, (long long)n);
            const double want_sumsq = scalar_f64(f, name);
            snprintf(name, sizeof name, "%s/%llu/%lld/bitsum", variant, sd, (long long)n);
            const int64_t want_bits = scalar_i64(f, name);
            if (exact_bits) {
                /* every one of the 2.1 M values, through the bit checksum; the float64 sums only differ in
                 * summation order */
                CHECK(bits == want_bits);
                CHECK(fabs(sum - want_sum) < 1e-9 * n);
                CHECK(fabs(sumsq - want_sumsq) < 1e-9 * n);
            } else {
                /* the SFU's errors are slightly biased: measured on every seed, sum +0.0043 and sum of squares
                 * +0.31 (its sin^2 + cos^2 averages 1 - 1.5e-7) */
                printf("  %s seed %llu: sum %.6f (torch %.6f), sum of squares %.4f (torch %.4f)\n", variant, sd, sum,
                       want_sum, sumsq, want_sumsq);
                CHECK(fabs(sum - want_sum) < 0.05);
                CHECK(fabs(sumsq - want_sumsq) < 1e-6 * n);
            }
        }
    printf("%-12s %7lld values: %.2f%% bit-exact, max %lld ulp, max abs diff %.3g\n", variant, (long long)st.n,
           100.0 * st.exact / (double)st.n, (long long)st.max_ulp, st.max_abs);
    return st;
}

/* Whole seed-42 latents from make_ref.py --full, when RAD_TORCH_FULL_DIR points at them. */
static void compare_full(float *buf) {
    const char *dir = getenv("RAD_TORCH_FULL_DIR");
    if (!dir) return;
    const struct {
        const char *file;
        cpu_fn fn;
        int exact;
    } cases[] = {{"full_cpu_native_42", rad_randn_torch_cpu, 1},
                 {"full_cpu_avx2_42", rad_randn_torch_cpu, 1},
                 {"full_cuda_42", cuda_default, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, cases[k].file);
        rad_st_file *f = NULL;
        CHECK_OK(rad_st_open(path, &f));
        if (!f) continue;
        const float *want = tensor(f, "x", LATENT);
        if (want) {
            diff_stats st = {0};
            cases[k].fn(42, buf, LATENT);
            add_stats(&st, buf, want, LATENT);
            printf("%-20s %lld values: %.3f%% bit-exact, max %lld ulp, max abs diff %.3g\n", cases[k].file,
                   (long long)st.n, 100.0 * st.exact / (double)st.n, (long long)st.max_ulp, st.max_abs);
            CHECK(cases[k].exact ? st.exact == st.n : st.max_abs < 2e-6);
        }
        rad_st_close(f);
    }
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    char path[1024];
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(rad_test_path(path, sizeof path, "rng/torch_randn.safetensors"), &f));
    if (!f) TEST_MAIN_END();
    printf("reference: torch %s on %s (%s SMs x %s threads), CPU %s, %s\n", rad_st_meta(f, "torch"),
           rad_st_meta(f, "gpu"), rad_st_meta(f, "sm_count"), rad_st_meta(f, "max_threads_per_sm"),
           rad_st_meta(f, "cpu"), rad_st_meta(f, "libc"));
    float *buf = NULL, *buf2 = NULL;
    CHECK_OK(rad_alloc((void **)&buf, LATENT * sizeof(float), "noise"));
    CHECK_OK(rad_alloc((void **)&buf2, LATENT * sizeof(float), "noise"));
    if (!buf || !buf2) TEST_MAIN_END();

    /* CPU generator: "native" is the capability torch picked on its AVX-512 machine, which for normal_ is the
     * AVX2 kernel (no AVX-512 one is registered); "avx512" and "avx2" were forced with ATEN_CPU_CAPABILITY. */
    diff_stats s;
    s = compare_variant(f, "cpu_native", rad_randn_torch_cpu, buf, 1);
    CHECK(s.exact == s.n);
    s = compare_variant(f, "cpu_avx512", rad_randn_torch_cpu, buf, 1);
    CHECK(s.exact == s.n);
    s = compare_variant(f, "cpu_avx2", rad_randn_torch_cpu, buf, 1);
    CHECK(s.exact == s.n);
#if defined(__GLIBC__)
    /* the scalar kernel calls libm: glibc's logf/sinf/cosf are the ones torch called */
    s = compare_variant(f, "cpu_default", rad_randn_torch_cpu_scalar, buf, 1);
    CHECK(s.exact == s.n);
#else
    s = compare_variant(f, "cpu_default", rad_randn_torch_cpu_scalar, buf, 0);
    CHECK(s.max_ulp <= 2);
#endif

    /* CUDA generator on the H200 layout (132 SMs x 2048 threads, the default). Measured on torch 2.11: about a
     * quarter bit-exact, max abs diff 1.1e-6 on these values. */
    s = compare_variant(f, "cuda", cuda_default, buf, 0);
    CHECK(s.max_abs < 2e-6);
    CHECK(s.exact > s.n / 8);

    /* The CUDA draw is counter-based and threaded: the thread count must not change it. */
    rad_set_threads(1);
    rad_randn_torch_cuda(7, buf, LATENT, 0, 0);
    rad_set_threads(3);
    rad_randn_torch_cuda(7, buf2, LATENT, 0, 0);
    rad_set_threads(0);
    CHECK(memcmp(buf, buf2, LATENT * sizeof(float)) == 0);
    /* Its layout follows the launch: an A100 (108 SMs) agrees with an H200 on the first 108 x 8 x 256 values
     * (thread i's first value either way) and not after. */
    const int64_t t108 = rad_torch_cuda_grid_threads(LATENT, 108, 2048);
    CHECK(t108 == 108 * 2048 && rad_torch_cuda_grid_threads(LATENT, 0, 0) == 132 * 2048);
    CHECK(rad_torch_cuda_grid_threads(100, 0, 0) == 256 && rad_torch_cuda_grid_threads(257, 0, 0) == 512);
    rad_randn_torch_cuda(7, buf2, LATENT, 108, 2048);
    CHECK(memcmp(buf, buf2, (size_t)t108 * sizeof(float)) == 0);
    CHECK(memcmp(buf + t108, buf2 + t108, 4096 * sizeof(float)) != 0);
    /* n = 0 writes nothing */
    buf[0] = 12345.0f;
    rad_randn_torch_cpu(1, buf, 0);
    rad_randn_torch_cpu_scalar(1, buf, 0);
    rad_randn_torch_cuda(1, buf, 0, 0, 0);
    CHECK(buf[0] == 12345.0f);

    compare_full(buf);

    /* Speed on the real latent (reported, not asserted: sanitizer builds are slower) */
    double t0 = seconds();
    rad_randn_torch_cpu(42, buf, LATENT);
    double t1 = seconds();
    rad_randn_torch_cpu_scalar(42, buf, LATENT);
    double t2 = seconds();
    rad_set_threads(1);
    rad_randn_torch_cuda(42, buf, LATENT, 0, 0);
    double t3 = seconds();
    rad_set_threads(0);
    printf("latent of %d values on one core: torch-cpu %.0f ms, torch-cpu scalar %.0f ms, torch-cuda %.0f ms\n",
           LATENT, 1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e3 * (t3 - t2));

    rad_free(buf);
    rad_free(buf2);
    rad_st_close(f);
    TEST_MAIN_END();
}
