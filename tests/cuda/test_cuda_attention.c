/* CUDA attention vs references, on fresh random inputs every run (the seed is printed; RAD_TEST_SEED
 * replays one).
 *
 * Small and medium shapes: every output element against the CPU backend's attention (fp32) run on the same
 * bf16-rounded inputs. Wan shapes (32,760 tokens, 12 heads): a double-precision reference on sampled rows,
 * the partial last block row included. Masks: dense, random block masks (some block rows empty), radial
 * masks (rad_radial_layout). Shapes: N from 1 up, multiples of 128 and not (partial last blocks of 1 to 127
 * keys, and of at most 64: the portable kernel's second 64-key tile is then skipped), several head counts;
 * cross-attention (lq video tokens against lk = 512 or fewer text keys, through rad_cuda_bsr_cross, the layout
 * the backend builds).
 *
 * Every run: the output is poisoned (0xff bytes: bf16 NaN) before the launch and every element must be
 * written and finite; the relative error ||out - ref|| / ||ref|| must stay under 1e-2; a second launch must
 * give the same bits (a moving result is a race).
 *
 * Kernels: the ones named as arguments, else every one this device runs: the portable family (attn_fa2.cu,
 * each configuration the device's shared memory takes, forced on Hopper too), the v3 family on Hopper, and
 * auto. Then RADIAL_ATTN_KERNEL=portable must turn auto into the portable kernel (bit-identical output), and a
 * bad name must be rejected. RAD_TEST_SMALL=1 skips the Wan-size shapes (for runs under compute-sanitizer).
 * Exit 77 (ctest: skipped) when no CUDA device is present. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "base/half.h"
#include "base/mem.h"
#include "attn_ref.h"
#include "test_util.h"

enum { D = 128 };
static const double TOL = 1e-2;

/* xorshift64*: the test's own generator (any fresh stream will do). */
static uint64_t rng_state;
static double rnd_uniform(void) { /* [0, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

typedef enum { MASK_DENSE, MASK_RANDOM, MASK_RADIAL } mask_kind;
static const char *mask_name[] = {"dense", "random", "radial"};

typedef struct {
    int64_t n, heads;
    int64_t lk;      /* > 0: cross-attention against lk keys (dense; mask ignored) */
    mask_kind mask;
    double density;  /* MASK_RANDOM: fraction of blocks kept */
    int64_t frames, tpf; /* MASK_RADIAL: n = frames * tpf */
    double spread;   /* scale of q and k: larger = peakier softmax */
    int sampled;     /* 1: double reference on sampled rows only */
} test_case;

/* Random bf16 tensor (values of a uniform(-a, a) distribution, rounded to bf16), returned both as bf16 and as
 * the exactly equal fp32 values. */
static void fill(uint16_t *h, float *f, size_t n, double a) {
    for (size_t i = 0; i < n; i++) {
        h[i] = rad_f32_to_bf16((float)((2.0 * rnd_uniform() - 1.0) * a));
        f[i] = rad_bf16_to_f32(h[i]);
    }
}

static rad_status make_mask(const test_case *tc, rad_bsr *m, const rad_bsr **use) {
    memset(m, 0, sizeof *m);
    if (tc->mask == MASK_DENSE) {
        RAD_TRY(rad_bsr_dense(tc->n, 128, m));
        *use = m;
        return RAD_OK;
    }
    if (tc->mask == MASK_RADIAL) {
        rad_radial_cfg cfg = {.frames = tc->frames, .tokens_per_frame = tc->tpf, .decay = 1.0, .block = 128};
        return rad_radial_layout(&cfg, use); /* cached, not ours to free */
    }
    const int32_t nb = (int32_t)((tc->n + 127) / 128);
    uint8_t *bits;
    RAD_TRY(rad_alloc((void **)&bits, (size_t)nb * (size_t)nb, "test mask"));
    for (int64_t i = 0; i < (int64_t)nb * nb; i++) bits[i] = rnd_uniform() < tc->density;
    if (nb > 2) memset(bits + nb, 0, (size_t)nb); /* block row 1 sees nothing: its rows must come out zero */
    rad_status s = rad_bsr_from_mask(bits, nb, tc->n, 128, m);
    rad_free(bits);
    *use = m;
    return s;
}

/* Runs one case through each kernel; out_keep (elems bf16, may be NULL) receives the last kernel's output. */
static int run_case(const test_case *tc, const int *kernels, int n_kernels, rad_backend *cpu, uint16_t *out_keep) {
    const int64_t n = tc->n, heads = tc->heads, nk = tc->lk > 0 ? tc->lk : tc->n;
    const size_t elems = (size_t)n * (size_t)heads * D, bytes = elems * 2;
    const size_t kelems = (size_t)nk * (size_t)heads * D, kbytes = kelems * 2;
    uint16_t *hq = NULL, *hk = NULL, *hv = NULL, *ho = NULL, *ho2 = NULL;
    float *fq = NULL, *fk = NULL, *fv = NULL, *fo = NULL, *ref = NULL;
    void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL;
    rad_bsr own;
    memset(&own, 0, sizeof own);
    const rad_bsr *mk = NULL; /* NULL for cross-attention: every key */
    rad_cuda_bsr dm;
    memset(&dm, 0, sizeof dm);
    int fails = rad_test_failures;

    if (tc->lk <= 0) {
        CHECK_OK(make_mask(tc, &own, &mk));
        if (!mk) return 1;
    }
    CHECK_OK(rad_alloc((void **)&hq, bytes, "q"));
    CHECK_OK(rad_alloc((void **)&hk, kbytes, "k"));
    CHECK_OK(rad_alloc((void **)&hv, kbytes, "v"));
    CHECK_OK(rad_alloc((void **)&ho, bytes, "out"));
    CHECK_OK(rad_alloc((void **)&ho2, bytes, "out (second run)"));
    CHECK_OK(rad_alloc((void **)&fq, elems * 4, "q f32"));
    CHECK_OK(rad_alloc((void **)&fk, kelems * 4, "k f32"));
    CHECK_OK(rad_alloc((void **)&fv, kelems * 4, "v f32"));
    if (rad_test_failures != fails) return 1;
    fill(hq, fq, elems, tc->spread);
    fill(hk, fk, kelems, tc->spread);
    fill(hv, fv, kelems, 1.0);

    /* The reference: CPU attention on every element, or double precision on sampled rows. */
    int64_t rows[64];
    int n_rows = 0;
    if (!tc->sampled) {
        CHECK_OK(rad_alloc((void **)&ref, elems * 4, "reference"));
        CHECK_OK(rad_alloc((void **)&fo, elems * 4, "out f32"));
        CHECK_OK(cpu->attention(cpu, fq, fk, fv, ref, n, nk, heads, D, 1.0f / sqrtf((float)D), NULL, mk));
    } else {
        const int64_t nb = (n + 127) / 128;
        const int64_t picks[] = {0, 1, 127, 128 + 5, (nb / 2) * 128 + 64, (nb - 2) * 128 + 127, (nb - 1) * 128, n - 1};
        for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) rows[n_rows++] = picks[i];
        for (int i = 0; i < 8; i++) rows[n_rows++] = (int64_t)(rnd_uniform() * (double)n);
        CHECK_OK(rad_alloc((void **)&ref, (size_t)n_rows * (size_t)heads * D * sizeof(double), "reference rows"));
        double *dref = (double *)ref;
        for (int i = 0; i < n_rows; i++)
            for (int64_t h = 0; h < heads; h++)
                attn_ref_row(fq, fk, fv, nk, heads, D, rows[i], h, mk, dref + ((size_t)i * heads + h) * D);
    }

    CHECK_OK(rad_cuda_malloc(&dq, bytes, "q"));
    CHECK_OK(rad_cuda_malloc(&dk, kbytes, "k"));
    CHECK_OK(rad_cuda_malloc(&dv, kbytes, "v"));
    CHECK_OK(rad_cuda_malloc(&dout, bytes, "out"));
    CHECK_OK(rad_cuda_upload(dq, hq, bytes));
    CHECK_OK(rad_cuda_upload(dk, hk, kbytes));
    CHECK_OK(rad_cuda_upload(dv, hv, kbytes));
    if (mk) CHECK_OK(rad_cuda_bsr_upload(mk, &dm));
    else CHECK_OK(rad_cuda_bsr_cross(n, nk, &dm));

    for (int ki = 0; ki < n_kernels && rad_test_failures == fails; ki++) {
        const int kern = kernels[ki];
        for (int run = 0; run < 2; run++) {
            CHECK_OK(rad_cuda_memset(dout, 0xff, bytes)); /* poison: bf16 NaN everywhere */
            CHECK_OK(rad_cuda_attention_bf16(dq, dk, dv, dout, heads, 1.0f / sqrtf((float)D), &dm, kern, NULL));
            CHECK_OK(rad_cuda_sync());
            CHECK_OK(rad_cuda_download(run ? ho2 : ho, dout, bytes));
        }
        size_t unwritten = 0;
        for (size_t i = 0; i < elems; i++) unwritten += !isfinite(rad_bf16_to_f32(ho[i]));
        const int same = memcmp(ho, ho2, bytes) == 0;
        double err;
        if (!tc->sampled) {
            for (size_t i = 0; i < elems; i++) fo[i] = rad_bf16_to_f32(ho[i]);
            err = rad_rel_err(fo, ref, elems);
        } else {
            double num = 0, den = 0;
            const double *dref = (const double *)ref;
            for (int i = 0; i < n_rows; i++)
                for (int64_t h = 0; h < heads; h++)
                    for (int d = 0; d < D; d++) {
                        const double r = dref[((size_t)i * heads + h) * D + d];
                        const double o = rad_bf16_to_f32(ho[((size_t)rows[i] * heads + h) * D + d]);
                        num += (o - r) * (o - r);
                        den += r * r;
                    }
            err = isfinite(num) ? sqrt(num / (den > 0 ? den : 1)) : INFINITY;
        }
        const int ok = unwritten == 0 && same && err < TOL;
        char shape[64];
        if (mk) snprintf(shape, sizeof shape, "%-6s density=%.3f", mask_name[tc->mask], rad_bsr_density(mk));
        else snprintf(shape, sizeof shape, "cross  lk=%-5lld  ", (long long)nk);
        printf("  %-8s n=%-6lld heads=%-2lld %s spread=%.1f %s: rel err %.2e, unwritten %zu, repeatable %s  %s\n",
               rad_cuda_attn_kernel_name(kern), (long long)n, (long long)heads, shape, tc->spread,
               tc->sampled ? "sampled rows" : "all rows", err, unwritten, same ? "yes" : "NO", ok ? "ok" : "FAIL");
        if (out_keep) memcpy(out_keep, ho, bytes);
        CHECK(unwritten == 0);
        CHECK(same);
        CHECK(err < TOL);
    }

    rad_cuda_bsr_free(&dm);
    rad_cuda_free(dq);
    rad_cuda_free(dk);
    rad_cuda_free(dv);
    rad_cuda_free(dout);
    rad_free(hq), rad_free(hk), rad_free(hv), rad_free(ho), rad_free(ho2);
    rad_free(fq), rad_free(fk), rad_free(fv), rad_free(fo), rad_free(ref);
    if (mk == &own) rad_bsr_free(&own);
    return rad_test_failures != fails;
}

int main(int argc, char **argv) {
    char dev[256];
    int major = 0, minor = 0;
    if (rad_cuda_device_info(dev, sizeof dev, &major, &minor) != RAD_OK) {
        printf("skipped: %s\n", rad_last_error());
        return 77;
    }
    const char *seed_env = getenv("RAD_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    if (!seed) seed = 1;
    rng_state = seed;
    printf("device: %s\nseed: %llu (RAD_TEST_SEED=%llu replays this run)\n", dev, (unsigned long long)seed,
           (unsigned long long)seed);

    /* Kernels: the ones named on the command line, else every version this device runs. */
    int kernels[RAD_CUDA_ATTN_N_KERNELS], n_kernels = 0;
    for (int i = 1; i < argc; i++) {
        const int k = rad_cuda_attn_kernel_from_name(argv[i]);
        if (k < 0) {
            fprintf(stderr, "unknown kernel '%s' (auto, portable, fa2s4, fa2s3, fa2s2, fa2n32, v3, v3pp, v3s3, v3nat, v3e)\n",
                    argv[i]);
            return 2;
        }
        kernels[n_kernels++] = k;
    }
    const char *env = getenv("RADIAL_ATTN_KERNEL");
    if (env && *env) printf("note: RADIAL_ATTN_KERNEL=%s is set (it steers auto)\n", env);
    if (!n_kernels) {
        for (int k = RAD_CUDA_ATTN_FA2_S4; k < RAD_CUDA_ATTN_N_KERNELS; k++)
            if (rad_cuda_attn_resolve(k) == k) kernels[n_kernels++] = k;
            else printf("not on this device: %s (%s)\n", rad_cuda_attn_kernel_name(k), rad_last_error());
        kernels[n_kernels++] = RAD_CUDA_ATTN_PORTABLE;
        kernels[n_kernels++] = RAD_CUDA_ATTN_AUTO;
    }
    for (int i = 0; i < n_kernels; i++) {
        char info[256];
        const int r = rad_cuda_attn_resolve(kernels[i]);
        if (r < 0 || rad_cuda_attn_describe(kernels[i], info, sizeof info) != RAD_OK) {
            fprintf(stderr, "kernel %s cannot run here: %s\n", rad_cuda_attn_kernel_name(kernels[i]), rad_last_error());
            return 1;
        }
        printf("kernel %-8s -> %s\n", rad_cuda_attn_kernel_name(kernels[i]), info);
    }

    rad_backend *cpu;
    CHECK_OK(rad_backend_cpu(&cpu));
    if (rad_test_failures) TEST_MAIN_END();

    const test_case cases[] = {
        {.n = 1, .heads = 1, .mask = MASK_DENSE, .spread = 1.7},
        {.n = 77, .heads = 3, .mask = MASK_DENSE, .spread = 1.7},
        {.n = 128, .heads = 2, .mask = MASK_DENSE, .spread = 3.0},
        {.n = 129, .heads = 1, .mask = MASK_DENSE, .spread = 1.7},
        {.n = 300, .heads = 12, .mask = MASK_DENSE, .spread = 1.0},
        {.n = 1000, .heads = 5, .mask = MASK_RANDOM, .density = 0.5, .spread = 2.0},
        {.n = 2049, .heads = 2, .mask = MASK_RANDOM, .density = 0.3, .spread = 6.0}, /* peaky; empty rows */
        {.n = 2000, .heads = 12, .mask = MASK_DENSE, .spread = 1.7},
        {.n = 8 * 256, .heads = 3, .mask = MASK_RADIAL, .frames = 8, .tpf = 256, .spread = 1.7},
        {.n = 6 * 390, .heads = 4, .mask = MASK_RADIAL, .frames = 6, .tpf = 390, .spread = 2.5},
        {.n = 1500, .heads = 3, .lk = 512, .spread = 1.7},  /* cross-attention: 512 text keys */
        {.n = 200, .heads = 2, .lk = 77, .spread = 3.0},    /* one partial key block */
        {.n = 1000, .heads = 1, .lk = 300, .spread = 6.0},  /* partial block of 44 keys, peaky */
        {.n = 21 * 1560, .heads = 12, .mask = MASK_RADIAL, .frames = 21, .tpf = 1560, .spread = 1.7, .sampled = 1},
        {.n = 21 * 1560, .heads = 12, .mask = MASK_DENSE, .spread = 1.7, .sampled = 1},
        {.n = 21 * 1560, .heads = 12, .lk = 512, .spread = 1.7, .sampled = 1}, /* Wan cross-attention */
    };
    const int small_only = getenv("RAD_TEST_SMALL") != NULL; /* e.g. under compute-sanitizer */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (small_only && cases[i].n > 4096) continue;
        run_case(&cases[i], kernels, n_kernels, cpu, NULL);
    }

    /* RADIAL_ATTN_KERNEL: "portable" turns auto into the portable kernel, bit for bit; a bad name fails. */
    if (argc == 1 && !(env && *env)) {
        const test_case tc = {.n = 1000, .heads = 3, .mask = MASK_RADIAL, .frames = 4, .tpf = 250, .spread = 2.0};
        const size_t bytes = (size_t)tc.n * (size_t)tc.heads * D * 2;
        uint16_t *a = NULL, *b = NULL;
        CHECK_OK(rad_alloc((void **)&a, bytes, "out"));
        CHECK_OK(rad_alloc((void **)&b, bytes, "out"));
        const uint64_t saved = rng_state;
        const int portable = RAD_CUDA_ATTN_PORTABLE, autok = RAD_CUDA_ATTN_AUTO;
        if (a && b) {
            run_case(&tc, &portable, 1, cpu, a);
            setenv("RADIAL_ATTN_KERNEL", "portable", 1);
            rng_state = saved; /* the same inputs */
            CHECK(rad_cuda_attn_resolve(RAD_CUDA_ATTN_AUTO) == rad_cuda_attn_resolve(RAD_CUDA_ATTN_PORTABLE));
            run_case(&tc, &autok, 1, cpu, b);
            const int same = memcmp(a, b, bytes) == 0;
            printf("  RADIAL_ATTN_KERNEL=portable: auto runs %s, output identical to portable: %s\n",
                   rad_cuda_attn_kernel_name(rad_cuda_attn_resolve(RAD_CUDA_ATTN_AUTO)), same ? "yes" : "NO");
            CHECK(same);
            setenv("RADIAL_ATTN_KERNEL", "no-such-kernel", 1);
            CHECK(rad_cuda_attn_resolve(RAD_CUDA_ATTN_AUTO) < 0);
            printf("  RADIAL_ATTN_KERNEL=no-such-kernel: %s\n", rad_last_error());
            CHECK(rad_cuda_attn_resolve(RAD_CUDA_ATTN_PORTABLE) >= 0); /* explicit ids ignore it */
            unsetenv("RADIAL_ATTN_KERNEL");
        }
        rad_free(a), rad_free(b);
    }
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
