/* The CUDA backend's fp8 GEMM mode (set_gemm RAD_GEMM_FP8; gemm_fp8.cu) against the CPU emulation of its
 * roundings (backend/fp8_emul.h: the same e4m3 bytes and scales, the products summed in double) and against the
 * fp32 reference (the CPU backend's linear).
 * - tight: GPU fp8 with its partial sums promoted to fp32 (rad_cuda_fp8_set_fast_accum 0) vs the emulation,
 *   rel < 2e-3 (what is left: the accumulation order, the scales applied in fp32); with the default fast
 *   accumulation rel < 1e-2; rows of zeros and of subnormal noise give the bias exactly;
 * - stated fp8 tolerance: GPU fp8 vs fp32, rel < 5e-2 (e4m3's 3 mantissa bits; tests/cpu_ops/test_fp8_emul.c
 *   measures the emulation itself at 3.7% on data like these), printed beside the bf16 path's error;
 * - shapes: odd row counts, with and without bias (aligned and not), k up to 16,400 (the two row kernels);
 * - the activation cache: k and v reuse q's quantisation, an upload or an op writing x drops it, a row sub-range
 *   reuses it; quantising from the bf16 shadow gives the same bits as from fp32;
 * - weights: fp8 checkpoint weights (e4m3 as stored, scale none / one / per row), e5m2, streamed (staged) bf16
 *   and e4m3 weights, bit-identical to their resident forms; a resident bf16 weight becomes e4m3 (half the
 *   memory);
 * - what stays bf16 (few rows, small dims) is the bf16 path bit for bit;
 * - the hardware rule (compute capability 8.9+) and its refusal: on a GPU without fp8 tensor cores set_gemm must
 *   refuse with that message (the rest is skipped there).
 * Exits 77 (skipped) without a CUDA device. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_weight.h"
#include "backend/cuda/gemm_fp8.h"
#include "backend/fp8_emul.h"
#include "base/half.h"
#include "gpu_test_util.h"
#include "test_util.h"

static rad_backend *cpu, *gpu, *gpu16; /* gpu: fp8 mode; gpu16: bf16 mode */

static const double TIGHT = 2e-3, TIGHT_FAST = 1e-2, FP8_TOL = 5e-2, BF16_TOL = 1e-2;
static int fast; /* the fp8 GEMMs' accumulation now: 1 = fast (the default), 0 = promoted to fp32 */

/* x like a GEMM input: rows of magnitudes 0.3 .. 3, a zero row, a row of subnormal noise, an outlier. */
static float *make_x(int64_t m, int64_t k) {
    float *x = malloc((size_t)(m * k) * sizeof(float));
    for (int64_t i = 0; i < m; i++) {
        const float r = 0.3f + 2.7f * (0.5f + 0.5f * urand());
        for (int64_t l = 0; l < k; l++) x[i * k + l] = r * (urand() + urand() + urand());
    }
    for (int64_t l = 0; l < k; l++) x[l] = 0.0f, x[k + l] = 1e-39f * urand();
    x[5 * k + 3] = 40.0f;
    return x;
}

static float *host_emul(const float *x, int64_t m, int64_t k, const uint8_t *wq, const float *sw, int64_t n,
                        const float *bias, int bias_mode) {
    uint8_t *xq = malloc((size_t)(m * k));
    float *sx = malloc((size_t)m * sizeof(float)), *y = malloc((size_t)(m * n) * sizeof(float));
    rad_fp8_quant_rows(x, m, k, xq, sx);
    rad_fp8_linear_ref(xq, sx, m, k, wq, sw, n, bias, bias_mode == RAD_FP8_BIAS_BF16, y);
    free(xq), free(sx);
    return y;
}

static void print_info(const rad_cuda_fp8_info *in) {
    printf("    path: %s; bias %d, weight %d, activations cached %d from %d-bit\n", in->why, in->bias_mode, in->weight,
           in->act_cached, in->act_source);
}

/* The rows a zero / subnormal input row gives: the bias as the path added it. */
static void check_bias_rows(const char *what, const float *y, int64_t n, const float *bias, int bias_mode) {
    int bad = 0;
    for (int r = 0; r < 2; r++)
        for (int64_t c = 0; c < n; c++) {
            const float b = !bias ? 0.0f : bias_mode == RAD_FP8_BIAS_BF16 ? rad_bf16_to_f32(rad_f32_to_bf16(bias[c])) : bias[c];
            bad += y[r * n + c] != b;
        }
    if (bad) fprintf(stderr, "%s: %d outputs of the zero and subnormal rows are not the bias\n", what, bad);
    CHECK(bad == 0);
}

/* One linear: GPU fp8 vs the emulation (tight) and vs fp32 (fp8 tolerance), the bf16 path's error beside it. */
static void test_linear(int64_t m, int64_t k, int64_t n, int with_bias, int misalign_bias) {
    char what[200];
    snprintf(what, sizeof what, "fp8 linear m %lld k %lld n %lld%s, %s accumulation", (long long)m, (long long)k,
             (long long)n, with_bias ? misalign_bias ? ", bias (unaligned)" : ", bias" : "", fast ? "fast" : "fp32");
    printf("%s\n", what);
    float *x = make_x(m, k), *w = host_rand((size_t)(n * k), 0.05f), *b = host_rand((size_t)n + 1, 0.5f);
    const float *bias = with_bias ? b + (misalign_bias ? 1 : 0) : NULL;
    const rad_weight_src src = rad_weight_src_f32(w);
    rad_weight *wg = NULL, *w16 = NULL, *wc = NULL;
    CHECK_OK(gpu->weight_new(gpu, &src, n, k, "w", &wg));
    CHECK_OK(gpu16->weight_new(gpu16, &src, n, k, "w", &w16));
    CHECK_OK(cpu->weight_new(cpu, &src, n, k, "w", &wc));
    float *dx = dev_copy(gpu, x, (size_t)(m * k)), *dy = dev_poison(gpu, (size_t)(m * n));
    float *db = dev_copy(gpu, b, (size_t)n + 1), *dbias = with_bias ? db + (misalign_bias ? 1 : 0) : NULL;
    float *dx16 = dev_copy(gpu16, x, (size_t)(m * k)), *dy16 = dev_poison(gpu16, (size_t)(m * n));
    float *db16 = dev_copy(gpu16, b, (size_t)n + 1), *dbias16 = with_bias ? db16 + (misalign_bias ? 1 : 0) : NULL;
    if (!wg || !w16 || !wc) goto out;
    CHECK_OK(gpu->linear(gpu, dx, m, k, wg, dbias, dy));
    rad_cuda_fp8_info in;
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    print_info(&in);
    CHECK(in.fp8 == 1 && in.weight == RAD_FP8_W_CONVERTED && in.act_cached == 0 && in.act_source == 32);
    CHECK(with_bias ? in.bias_mode != RAD_FP8_BIAS_NONE : in.bias_mode == RAD_FP8_BIAS_NONE);
    float *y = download(gpu, dy, (size_t)(m * n));
    CHECK_OK(gpu16->linear(gpu16, dx16, m, k, w16, dbias16, dy16));
    float *y16 = download(gpu16, dy16, (size_t)(m * n));
    float *ref = malloc((size_t)(m * n) * sizeof(float));
    CHECK_OK(cpu->linear(cpu, x, m, k, wc, bias, ref));
    uint8_t *wq = malloc((size_t)(n * k));
    float *sw = malloc((size_t)n * sizeof(float));
    rad_fp8_quant_rows(w, n, k, wq, sw);
    float *emu = host_emul(x, m, k, wq, sw, n, bias, in.bias_mode);
    CHECK(in.fast_accum == fast);
    check_rel("  GPU fp8 vs CPU emulation of its roundings", y, emu, (size_t)(m * n), fast ? TIGHT_FAST : TIGHT);
    check_rel("  GPU fp8 vs fp32 (the fp8 tolerance)", y, ref, (size_t)(m * n), FP8_TOL);
    check_rel("  GPU bf16 vs fp32 (for scale)", y16, ref, (size_t)(m * n), BF16_TOL);
    check_bias_rows(what, y, n, bias, in.bias_mode);
    /* a resident bf16 weight is e4m3 after its first fp8 GEMM: rows x cols bytes + its row scales */
    rad_dtype dt = RAD_DT_OTHER;
    size_t held = 0;
    CHECK_OK(rad_cuda_weight_stored(gpu, wg, &dt, &held));
    CHECK(dt == RAD_DT_F8_E4M3 && held == (size_t)(n * k) + (size_t)n * sizeof(float));
    /* a second call reuses the activations' quantisation and the weight: the same bits */
    CHECK_OK(gpu->linear(gpu, dx, m, k, wg, dbias, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 == 1 && in.act_cached == 1 && in.weight == RAD_FP8_W_STORED);
    float *y2 = download(gpu, dy, (size_t)(m * n));
    CHECK(!memcmp(y, y2, (size_t)(m * n) * sizeof(float)));
    free(y), free(y2), free(y16), free(ref), free(wq), free(sw), free(emu);
out:
    gpu->weight_free(gpu, wg), gpu16->weight_free(gpu16, w16), cpu->weight_free(cpu, wc);
    gpu->free(gpu, dx), gpu->free(gpu, dy), gpu->free(gpu, db);
    gpu16->free(gpu16, dx16), gpu16->free(gpu16, dy16), gpu16->free(gpu16, db16);
    free(x), free(w), free(b);
}

/* The activation cache: sharing, invalidation by an upload and by an op, row sub-ranges; the bf16 shadow as source. */
static void test_cache(void) {
    printf("activation quantisation cache\n");
    const int64_t m = 1536, k = 512, n = 256;
    float *x = make_x(m, k), *w1 = host_rand((size_t)(n * k), 0.05f), *w2 = host_rand((size_t)(n * k), 0.05f);
    const rad_weight_src s1 = rad_weight_src_f32(w1), s2 = rad_weight_src_f32(w2);
    rad_weight *g1 = NULL, *g2 = NULL;
    CHECK_OK(gpu->weight_new(gpu, &s1, n, k, "w1", &g1));
    CHECK_OK(gpu->weight_new(gpu, &s2, n, k, "w2", &g2));
    float *dx = dev_copy(gpu, x, (size_t)(m * k)), *dy = dev_poison(gpu, (size_t)(m * n));
    uint8_t *wq = malloc((size_t)(n * k));
    float *sw = malloc((size_t)n * sizeof(float));
    rad_cuda_fp8_info in;
    if (!g1 || !g2) goto out;
    CHECK_OK(gpu->linear(gpu, dx, m, k, g1, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached);
    CHECK_OK(gpu->linear(gpu, dx, m, k, g2, NULL, dy)); /* "k after q": reuses the quantisation */
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && in.act_cached);
    float *a = download(gpu, dy, (size_t)(m * n));
    CHECK_OK(rad_cuda_fp8_forget(gpu));
    CHECK_OK(gpu->linear(gpu, dx, m, k, g2, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached);
    float *b = download(gpu, dy, (size_t)(m * n));
    CHECK(!memcmp(a, b, (size_t)(m * n) * sizeof(float)));
    printf("  reused quantisation gives the same bits as a fresh one\n");
    /* rows [256, 1280) of x: a sub-range of the cached rows */
    CHECK_OK(gpu->linear(gpu, dx + 256 * k, 1024, k, g2, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && in.act_cached);
    float *c = download(gpu, dy, (size_t)(1024 * n));
    check_rel("  rows 256..1279 through the cached quantisation vs the full GEMM's rows", c, a + 256 * n,
              (size_t)(1024 * n), 1e-5);
    /* new values in x: an upload drops the quantisation */
    for (int64_t i = 0; i < m * k; i++) x[i] = -2.0f * x[i] + 0.25f;
    CHECK_OK(gpu->upload(gpu, dx, x, (size_t)(m * k) * sizeof(float)));
    CHECK_OK(gpu->linear(gpu, dx, m, k, g1, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached);
    float *d = download(gpu, dy, (size_t)(m * n));
    rad_fp8_quant_rows(w1, n, k, wq, sw);
    float *e = host_emul(x, m, k, wq, sw, n, NULL, 0);
    check_rel("  after an upload to x: vs the emulation of the new x", d, e, (size_t)(m * n), fast ? TIGHT_FAST : TIGHT);
    /* an op writing x (in place) drops it too */
    CHECK_OK(gpu->silu(gpu, dx, m * k));
    CHECK_OK(gpu->linear(gpu, dx, m, k, g1, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached);
    /* the bf16 shadow of a norm's output as the source: the same bits as quantising the fp32 values */
    float *dn = dev_poison(gpu, (size_t)(m * k)), *dn2 = dev_poison(gpu, (size_t)(m * k));
    CHECK_OK(gpu->layernorm(gpu, dx, m, k, NULL, NULL, 1e-6f, dn));
    CHECK_OK(gpu->linear(gpu, dn, m, k, g1, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached && in.act_source == 16);
    float *f = download(gpu, dy, (size_t)(m * n)), *hn = download(gpu, dn, (size_t)(m * k));
    CHECK_OK(gpu->upload(gpu, dn2, hn, (size_t)(m * k) * sizeof(float))); /* the same values, no shadow */
    CHECK_OK(gpu->linear(gpu, dn2, m, k, g1, NULL, dy));
    CHECK_OK(rad_cuda_fp8_last(gpu, &in));
    CHECK(in.fp8 && !in.act_cached && in.act_source == 32);
    float *g = download(gpu, dy, (size_t)(m * n));
    CHECK(!memcmp(f, g, (size_t)(m * n) * sizeof(float)));
    printf("  quantised from the layernorm's bf16 copy and from its fp32 output: %s\n",
           memcmp(f, g, (size_t)(m * n) * sizeof(float)) ? "DIFFERENT" : "the same bits");
    gpu->free(gpu, dn), gpu->free(gpu, dn2);
    free(a), free(b), free(c), free(d), free(e), free(f), free(g), free(hn);
out:
    gpu->weight_free(gpu, g1), gpu->weight_free(gpu, g2);
    gpu->free(gpu, dx), gpu->free(gpu, dy);
    free(x), free(w1), free(w2), free(wq), free(sw);
}

/* Linears the fp8 mode leaves to bf16 (few rows, a small dim, the mode off): the bf16 path bit for bit. */
static void test_stays_bf16(void) {
    printf("GEMMs that stay bf16 in fp8 mode\n");
    const struct {
        int64_t m, k, n;
    } cases[] = {{512, 512, 512}, {2048, 64, 512}, {2048, 512, 64}, {2048, 520, 512}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t m = cases[i].m, k = cases[i].k, n = cases[i].n;
        float *x = make_x(m, k), *w = host_rand((size_t)(n * k), 0.05f);
        const rad_weight_src src = rad_weight_src_f32(w);
        rad_weight *wg = NULL, *w16 = NULL;
        CHECK_OK(gpu->weight_new(gpu, &src, n, k, "w", &wg));
        CHECK_OK(gpu16->weight_new(gpu16, &src, n, k, "w", &w16));
        float *dx = dev_copy(gpu, x, (size_t)(m * k)), *dy = dev_poison(gpu, (size_t)(m * n));
        float *dx16 = dev_copy(gpu16, x, (size_t)(m * k)), *dy16 = dev_poison(gpu16, (size_t)(m * n));
        if (wg && w16) {
            CHECK_OK(gpu->linear(gpu, dx, m, k, wg, NULL, dy));
            rad_cuda_fp8_info in;
            CHECK_OK(rad_cuda_fp8_last(gpu, &in));
            printf("  m %lld k %lld n %lld: %s\n", (long long)m, (long long)k, (long long)n, in.why);
            CHECK(in.fp8 == 0);
            CHECK_OK(gpu16->linear(gpu16, dx16, m, k, w16, NULL, dy16));
            float *a = download(gpu, dy, (size_t)(m * n)), *b = download(gpu16, dy16, (size_t)(m * n));
            CHECK(!memcmp(a, b, (size_t)(m * n) * sizeof(float)));
            free(a), free(b);
        }
        gpu->weight_free(gpu, wg), gpu16->weight_free(gpu16, w16);
        gpu->free(gpu, dx), gpu->free(gpu, dy), gpu16->free(gpu16, dx16), gpu16->free(gpu16, dy16);
        free(x), free(w);
    }
}

/* Weights stored as fp8 in the file (e4m3 as stored with none / one / per-row scales; e5m2), and streamed ones. */
static void test_checkpoint_weights(void) {
    printf("fp8 checkpoint weights and streamed weights\n");
    const int64_t m = 1100, k = 768, n = 384;
    float *x = make_x(m, k), *bias = host_rand((size_t)n, 0.5f);
    float *dx = dev_copy(gpu, x, (size_t)(m * k)), *dy = dev_poison(gpu, (size_t)(m * n));
    float *db = dev_copy(gpu, bias, (size_t)n);
    uint8_t *bytes = malloc((size_t)(n * k));
    float *rows = malloc((size_t)n * sizeof(float)), *sw = malloc((size_t)n * sizeof(float));
    float *wf = malloc((size_t)(n * k) * sizeof(float));
    uint8_t *wq = malloc((size_t)(n * k));
    for (int64_t i = 0; i < n; i++) rows[i] = 0.002f * (1.5f + urand());
    for (int variant = 0; variant < 4; variant++) { /* e4m3: no scale, one, per row; e5m2 with row scales */
        const rad_dtype dt = variant < 3 ? RAD_DT_F8_E4M3 : RAD_DT_F8_E5M2;
        for (int64_t i = 0; i < n * k; i++) { /* random codes of magnitude below 2^3, never NaN / inf */
            gpu_test_rng = gpu_test_rng * 6364136223846793005ull + 1442695040888963407ull;
            const uint32_t u = (uint32_t)(gpu_test_rng >> 33);
            bytes[i] = (uint8_t)(dt == RAD_DT_F8_E4M3 ? (u & 0x80) | (u % 0x50) : (u & 0x80) | (u % 0x48));
        }
        const float one = 0.01f;
        rad_weight_src src = {dt, bytes, variant == 0 ? NULL : variant == 1 ? &one : rows,
                              variant == 0 ? 0 : variant == 1 ? 1 : n};
        static const char *const names[] = {"e4m3, no scale", "e4m3, one scale", "e4m3, row scales", "e5m2, row scales"};
        rad_weight *wg = NULL, *wh = NULL;
        CHECK_OK(gpu->weight_new(gpu, &src, n, k, "w8", &wg));
        CHECK_OK(gpu->weight_new_host(gpu, &src, n, k, "w8 streamed", &wh));
        if (!wg || !wh) {
            gpu->weight_free(gpu, wg), gpu->weight_free(gpu, wh);
            continue;
        }
        CHECK_OK(gpu->linear(gpu, dx, m, k, wg, db, dy));
        rad_cuda_fp8_info in;
        CHECK_OK(rad_cuda_fp8_last(gpu, &in));
        printf("  %s:\n", names[variant]);
        print_info(&in);
        CHECK(in.fp8 && in.weight == (dt == RAD_DT_F8_E4M3 ? RAD_FP8_W_STORED : RAD_FP8_W_PER_USE));
        float *y = download(gpu, dy, (size_t)(m * n));
        if (dt == RAD_DT_F8_E4M3) { /* the stored bytes and scales, as they are */
            memcpy(wq, bytes, (size_t)(n * k));
            for (int64_t i = 0; i < n; i++) sw[i] = variant == 0 ? 1.0f : variant == 1 ? one : rows[i];
        } else { /* e5m2: its fp32 values (rows scaled), then the per-row quantisation */
            rad_weight_src_rows_f32(&src, k, 0, n, wf);
            rad_fp8_quant_rows(wf, n, k, wq, sw);
        }
        float *e = host_emul(x, m, k, wq, sw, n, bias, in.bias_mode);
        check_rel("    GPU fp8 vs CPU emulation", y, e, (size_t)(m * n), fast ? TIGHT_FAST : TIGHT);
        CHECK_OK(gpu->stage(gpu, &wh, 1));
        CHECK_OK(gpu->linear(gpu, dx, m, k, wh, db, dy));
        CHECK_OK(rad_cuda_fp8_last(gpu, &in));
        float *ys = download(gpu, dy, (size_t)(m * n));
        CHECK(in.fp8 && !memcmp(y, ys, (size_t)(m * n) * sizeof(float)));
        printf("    streamed (staged) copy: %s\n", memcmp(y, ys, (size_t)(m * n) * sizeof(float)) ? "DIFFERENT" : "the same bits");
        free(y), free(e), free(ys);
        gpu->weight_free(gpu, wg), gpu->weight_free(gpu, wh);
    }
    /* a streamed bf16 weight is quantised at each use: the same bits as the resident one's kept quantisation */
    float *w = host_rand((size_t)(n * k), 0.05f);
    const rad_weight_src src = rad_weight_src_f32(w);
    rad_weight *wg = NULL, *wh = NULL;
    CHECK_OK(gpu->weight_new(gpu, &src, n, k, "w", &wg));
    CHECK_OK(gpu->weight_new_host(gpu, &src, n, k, "w streamed", &wh));
    if (wg && wh) {
        rad_cuda_fp8_info in;
        CHECK_OK(gpu->linear(gpu, dx, m, k, wg, db, dy));
        float *a = download(gpu, dy, (size_t)(m * n));
        CHECK_OK(gpu->stage(gpu, &wh, 1));
        CHECK_OK(gpu->linear(gpu, dx, m, k, wh, db, dy));
        CHECK_OK(rad_cuda_fp8_last(gpu, &in));
        CHECK(in.fp8 && in.weight == RAD_FP8_W_PER_USE);
        float *b = download(gpu, dy, (size_t)(m * n));
        CHECK(!memcmp(a, b, (size_t)(m * n) * sizeof(float)));
        printf("  streamed bf16 weight, quantised at its use: %s\n",
               memcmp(a, b, (size_t)(m * n) * sizeof(float)) ? "DIFFERENT" : "the same bits as resident");
        free(a), free(b);
    }
    gpu->weight_free(gpu, wg), gpu->weight_free(gpu, wh);
    gpu->free(gpu, dx), gpu->free(gpu, dy), gpu->free(gpu, db);
    free(x), free(bias), free(bytes), free(rows), free(sw), free(wf), free(wq), free(w);
}

/* The hardware rule, the CPU's refusal, bad modes. */
static int test_rules(int major, int minor) {
    printf("who has fp8 GEMMs\n");
    char why[160] = "";
    CHECK(!rad_cuda_fp8_supported(8, 0, why, sizeof why) && strstr(why, "8.9"));
    printf("  sm_80: %s\n", why);
    CHECK(!rad_cuda_fp8_supported(8, 6, NULL, 0));
    CHECK(rad_cuda_fp8_supported(8, 9, NULL, 0) && rad_cuda_fp8_supported(9, 0, NULL, 0) &&
          rad_cuda_fp8_supported(10, 0, NULL, 0) && rad_cuda_fp8_supported(12, 0, NULL, 0));
    CHECK_FAILS(cpu->set_gemm(cpu, RAD_GEMM_FP8));
    CHECK_OK(cpu->set_gemm(cpu, RAD_GEMM_BF16));
    CHECK_FAILS(gpu->set_gemm(gpu, 7));
    const int ok = rad_cuda_fp8_supported(major, minor, NULL, 0);
    if (!ok) { /* the refusal on this GPU */
        const rad_status s = gpu->set_gemm(gpu, RAD_GEMM_FP8);
        printf("  this GPU (sm_%d%d): set_gemm fp8 -> %s\n", major, minor, s == RAD_OK ? "accepted (WRONG)" : rad_last_error());
        CHECK(s == RADIAL_ERR_UNSUPPORTED && strstr(rad_last_error(), "8.9"));
    } else {
        printf("  this GPU (sm_%d%d) has fp8 tensor cores; the refusal is checked on older ones\n", major, minor);
    }
    return ok;
}

int main(void) {
    char name[160];
    int major = 0, minor = 0;
    if (rad_cuda_device_info(name, sizeof name, &major, &minor) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s (sm_%d%d), cuBLASLt %zu\n", name, major, minor, rad_cuda_cublaslt_version());
    CHECK_OK(rad_backend_cpu(&cpu));
    CHECK_OK(rad_backend_cuda(0, &gpu));
    CHECK_OK(rad_backend_cuda(0, &gpu16));
    if (!cpu || !gpu || !gpu16) TEST_MAIN_END();
    if (test_rules(major, minor)) {
        CHECK_OK(gpu->set_gemm(gpu, RAD_GEMM_FP8));
        rad_cuda_fp8_info in0;
        CHECK_OK(rad_cuda_fp8_last(gpu, &in0));
        CHECK(in0.fast_accum == 1); /* the default */
        CHECK_OK(rad_cuda_fp8_set_fast_accum(gpu, 0)); /* the tight comparisons: partial sums promoted to fp32 */
        fast = 0;
        test_linear(1031, 512, 768, 1, 0);    /* odd rows, bias */
        test_linear(2048, 1536, 1536, 0, 0);  /* the 1.3B q/k/v/o width, no bias */
        test_linear(1029, 1536, 896, 1, 1);   /* unaligned bias */
        test_linear(1024, 8960, 256, 1, 0);   /* the FFN down width (8 vectors a thread) */
        test_linear(1027, 16400, 272, 1, 0);  /* beyond the register kernel: the two-pass one */
        test_cache();
        test_stays_bf16();
        test_checkpoint_weights();
        CHECK_OK(rad_cuda_fp8_set_fast_accum(gpu, 1)); /* the default: fast accumulation */
        fast = 1;
        test_linear(2048, 1536, 1536, 0, 0);
        test_linear(1024, 8960, 256, 1, 0);
        test_linear(1027, 16400, 272, 1, 0);
        test_checkpoint_weights();
        CHECK_OK(gpu->set_gemm(gpu, RAD_GEMM_BF16)); /* off again: the next linear says so */
        rad_cuda_fp8_info in;
        float *d = dev_poison(gpu, 2048 * 256), *wv = host_rand(256 * 256, 0.1f);
        const rad_weight_src src = rad_weight_src_f32(wv);
        rad_weight *w = NULL;
        CHECK_OK(gpu->weight_new(gpu, &src, 256, 256, "w", &w));
        if (w) CHECK_OK(gpu->linear(gpu, d, 1024, 256, w, NULL, d + 1024 * 256));
        CHECK_OK(rad_cuda_fp8_last(gpu, &in));
        CHECK(in.fp8 == 0);
        printf("mode off again: %s\n", in.why);
        gpu->weight_free(gpu, w), gpu->free(gpu, d);
        free(wv);
    }
    printf("peak device bytes: %.1f MiB\n", (double)rad_backend_peak(gpu) / 1048576.0);
    gpu->destroy(gpu), gpu16->destroy(gpu16), cpu->destroy(cpu);
    TEST_MAIN_END();
}
