/* Every op of the CUDA backend against the CPU backend (the fp32 reference) on fresh random inputs, outputs
 * poisoned with NaN before each call. Tolerances (relative L2): bf16-operand ops (linear, ffn, conv3d, attention
 * without bias and mask: the tensor-core kernels at head_dim 128, the GEMM path at other multiples of 8) < 1e-2;
 * fp32 ops < 1e-5 or exact. Also: the bf16-copy bookkeeping across a sequence of
 * ops that rewrites a GEMM input, cross-attention, block-CSR layouts, the T5 bias, and argument errors.
 * Exits 77 (skipped) without a CUDA device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_ffn.h"
#include "base/half.h"
#include "base/mem.h"
#include "dit/dit.h"
#include "test_util.h"

static rad_backend *cpu, *gpu;
static uint64_t rng = 0x1234567u;

static float urand(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rng >> 40) / 16777216.0 * 2.0 - 1.0);
}

static float *host_rand(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}

/* A device copy of a host array; a device buffer of n floats poisoned with NaN (0xff bytes). */
static float *dev_copy(const float *h, size_t n) {
    float *d = NULL;
    CHECK_OK(gpu->alloc(gpu, (n ? n : 1) * sizeof(float), "test buffer", (void **)&d));
    CHECK_OK(gpu->upload(gpu, d, h, n * sizeof(float)));
    return d;
}
static float *dev_poison(size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    memset(h, 0xff, (n ? n : 1) * sizeof(float));
    float *d = dev_copy(h, n);
    free(h);
    return d;
}
static void poison(float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    memset(h, 0xff, (n ? n : 1) * sizeof(float));
    CHECK_OK(gpu->upload(gpu, d, h, n * sizeof(float)));
    free(h);
}

/* A device copy of a host array as convolution input: n elements of the backend's conv_dtype (bf16). */
static void *dev_conv(const float *h, size_t n) {
    float *d = dev_copy(h, n);
    void *c = NULL;
    CHECK_OK(gpu->alloc(gpu, (n ? n : 1) * rad_dtype_size(gpu->conv_dtype), "test conv input", &c));
    CHECK_OK(gpu->to_conv_dtype(gpu, d, (int64_t)n, c));
    gpu->free(gpu, d);
    return c;
}

/* rel error of the device array d against the host reference ref; prints it. */
static double compare(const char *what, const float *d, const float *ref, size_t n, double tol) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    CHECK_OK(gpu->download(gpu, h, d, n * sizeof(float)));
    const double e = rad_rel_err(h, ref, n);
    printf("  %-48s rel %.3g (tol %.0e)\n", what, e, tol);
    if (!(e <= tol)) {
        fprintf(stderr, "%s: rel error %g over %g\n", what, e, tol);
        rad_test_failures++;
    }
    free(h);
    return e;
}

static void test_memory(void) {
    float *h = host_rand(1000, 1.0f), *back = malloc(1000 * sizeof(float));
    float *d = dev_copy(h, 1000);
    CHECK_OK(gpu->download(gpu, back, d, 1000 * sizeof(float)));
    CHECK(!memcmp(h, back, 1000 * sizeof(float)));
    CHECK(rad_backend_peak(gpu) >= 4000);
    CHECK_OK(gpu->sync(gpu));
    /* copy2d: rows of 12 bytes at pitches 40 -> 16 */
    float *dst = dev_poison(1000);
    CHECK_OK(gpu->copy2d(gpu, dst, 16, d, 40, 12, 20));
    CHECK_OK(gpu->download(gpu, back, dst, 80 * sizeof(float)));
    int ok = 1;
    for (int r = 0; r < 20; r++)
        for (int c = 0; c < 3; c++) ok &= back[r * 4 + c] == h[r * 10 + c];
    CHECK(ok);
    gpu->free(gpu, d);
    gpu->free(gpu, dst);
    free(h), free(back);
}

static void test_linear(int64_t m, int64_t k, int64_t n, int with_bias) {
    float *x = host_rand((size_t)(m * k), 1.0f), *w = host_rand((size_t)(n * k), 0.2f), *b = host_rand((size_t)n, 0.5f);
    float *ref = malloc((size_t)(m * n) * sizeof(float));
    rad_weight *wc, *wg;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, n, k, "w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, n, k, "w", &wg));
    float *dx = dev_copy(x, (size_t)(m * k)), *db = dev_copy(b, (size_t)n), *dy = dev_poison((size_t)(m * n));
    CHECK_OK(cpu->linear(cpu, x, m, k, wc, with_bias ? b : NULL, ref));
    CHECK_OK(gpu->linear(gpu, dx, m, k, wg, with_bias ? db : NULL, dy));
    char what[96];
    snprintf(what, sizeof what, "linear %lldx%lld . %lldx%lld%s", (long long)m, (long long)k, (long long)n,
             (long long)k, with_bias ? " + bias" : "");
    compare(what, dy, ref, (size_t)(m * n), 1e-2);
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    gpu->free(gpu, dx), gpu->free(gpu, db), gpu->free(gpu, dy);
    free(x), free(w), free(b), free(ref);
}

/* The bf16 copies: layernorm writes one for xn; linear uses it; add_gated then changes xn (its copy must be
 * dropped); a second linear must see the new values; so must a linear on a row range of xn. */
static void test_shadow_sequence(void) {
    const int64_t m = 200, d = 64, n = 48;
    float *x = host_rand((size_t)(m * d), 1.0f), *z = host_rand((size_t)(m * d), 3.0f), *w = host_rand((size_t)(n * d), 0.2f);
    float *xn = malloc((size_t)(m * d) * sizeof(float)), *y1 = malloc((size_t)(m * n) * sizeof(float)),
          *y2 = malloc((size_t)(m * n) * sizeof(float)), *y3 = malloc((size_t)(m * n) * sizeof(float));
    rad_weight *wc, *wg;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, n, d, "w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, n, d, "w", &wg));
    float *dx = dev_copy(x, (size_t)(m * d)), *dz = dev_copy(z, (size_t)(m * d)), *dxn = dev_poison((size_t)(m * d));
    float *dy1 = dev_poison((size_t)(m * n)), *dy2 = dev_poison((size_t)(m * n)), *dy3 = dev_poison((size_t)(m * n));
    CHECK_OK(cpu->layernorm(cpu, x, m, d, NULL, NULL, 1e-6f, xn));
    CHECK_OK(cpu->linear(cpu, xn, m, d, wc, NULL, y1));
    CHECK_OK(cpu->add_gated(cpu, xn, z, m, d, NULL));
    CHECK_OK(cpu->linear(cpu, xn, m, d, wc, NULL, y2));
    CHECK_OK(cpu->upload(cpu, xn + 50 * d, z, 10 * d * sizeof(float))); /* rows 50..59 replaced */
    CHECK_OK(cpu->linear(cpu, xn + 40 * d, 100, d, wc, NULL, y3));
    CHECK_OK(gpu->layernorm(gpu, dx, m, d, NULL, NULL, 1e-6f, dxn));
    CHECK_OK(gpu->linear(gpu, dxn, m, d, wg, NULL, dy1));
    CHECK_OK(gpu->add_gated(gpu, dxn, dz, m, d, NULL));
    CHECK_OK(gpu->linear(gpu, dxn, m, d, wg, NULL, dy2));
    CHECK_OK(gpu->upload(gpu, dxn + 50 * d, z, 10 * d * sizeof(float)));
    CHECK_OK(gpu->linear(gpu, dxn + 40 * d, 100, d, wg, NULL, dy3));
    compare("linear after layernorm (bf16 copy used)", dy1, y1, (size_t)(m * n), 1e-2);
    compare("linear after add_gated rewrote its input", dy2, y2, (size_t)(m * n), 1e-2);
    compare("linear on rows of an input partly re-uploaded", dy3, y3, (size_t)(100 * n), 1e-2);
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    float *bufs[] = {dx, dz, dxn, dy1, dy2, dy3};
    for (int i = 0; i < 6; i++) gpu->free(gpu, bufs[i]);
    free(x), free(z), free(w), free(xn), free(y1), free(y2), free(y3);
}

static void test_norms_elementwise(void) {
    const int64_t m = 37, d = 1536, n = m * d;
    float *x = host_rand((size_t)n, 2.0f), *g = host_rand((size_t)n, 3.0f), *w = host_rand((size_t)d, 1.0f),
          *b = host_rand((size_t)d, 1.0f), *sh = host_rand((size_t)d, 0.5f), *sc = host_rand((size_t)d, 0.5f);
    float *ref = malloc((size_t)n * sizeof(float));
    float *dx = dev_copy(x, (size_t)n), *dg = dev_copy(g, (size_t)n), *dw = dev_copy(w, (size_t)d),
          *db = dev_copy(b, (size_t)d), *dsh = dev_copy(sh, (size_t)d), *dsc = dev_copy(sc, (size_t)d),
          *dy = dev_poison((size_t)n);

    CHECK_OK(cpu->layernorm(cpu, x, m, d, w, b, 1e-6f, ref));
    CHECK_OK(gpu->layernorm(gpu, dx, m, d, dw, db, 1e-6f, dy));
    compare("layernorm (affine)", dy, ref, (size_t)n, 1e-6);
    poison(dy, (size_t)n);
    CHECK_OK(cpu->layernorm(cpu, x, m, d, NULL, NULL, 1e-6f, ref));
    CHECK_OK(gpu->layernorm(gpu, dx, m, d, NULL, NULL, 1e-6f, dy));
    compare("layernorm (no affine)", dy, ref, (size_t)n, 1e-6);
    poison(dy, (size_t)n);
    CHECK_OK(cpu->rmsnorm(cpu, x, m, d, w, 1e-6f, ref));
    CHECK_OK(gpu->rmsnorm(gpu, dx, m, d, dw, 1e-6f, dy));
    compare("rmsnorm (weight)", dy, ref, (size_t)n, 1e-6);
    /* in place, odd width */
    float *xi = malloc((size_t)n * sizeof(float));
    memcpy(xi, x, (size_t)n * sizeof(float));
    float *dxi = dev_copy(x, (size_t)n);
    CHECK_OK(cpu->rmsnorm(cpu, xi, n / 77, 77, NULL, 1e-5f, xi));
    CHECK_OK(gpu->rmsnorm(gpu, dxi, n / 77, 77, NULL, 1e-5f, dxi));
    compare("rmsnorm (in place, d 77)", dxi, xi, (size_t)(n / 77 * 77), 1e-6);
    memcpy(xi, x, (size_t)n * sizeof(float));
    CHECK_OK(gpu->upload(gpu, dxi, x, (size_t)n * sizeof(float)));
    CHECK_OK(cpu->modulate(cpu, xi, m, d, sh, sc, xi));
    CHECK_OK(gpu->modulate(gpu, dxi, m, d, dsh, dsc, dxi));
    compare("modulate (in place)", dxi, xi, (size_t)n, 1e-6);
    CHECK_OK(cpu->add_gated(cpu, xi, g, m, d, sc));
    CHECK_OK(gpu->add_gated(gpu, dxi, dg, m, d, dsc));
    compare("add_gated (gate)", dxi, xi, (size_t)n, 1e-6);
    CHECK_OK(cpu->add_gated(cpu, xi, g, m, d, NULL));
    CHECK_OK(gpu->add_gated(gpu, dxi, dg, m, d, NULL));
    compare("add_gated (plain)", dxi, xi, (size_t)n, 1e-6);
    CHECK_OK(cpu->gelu_tanh(cpu, xi, n));
    CHECK_OK(gpu->gelu_tanh(gpu, dxi, n));
    compare("gelu_tanh", dxi, xi, (size_t)n, 1e-5);
    CHECK_OK(cpu->silu(cpu, xi, n));
    CHECK_OK(gpu->silu(gpu, dxi, n));
    compare("silu", dxi, xi, (size_t)n, 1e-5);
    CHECK_OK(cpu->mul_gelu(cpu, xi, g, n));
    CHECK_OK(gpu->mul_gelu(gpu, dxi, dg, n));
    compare("mul_gelu", dxi, xi, (size_t)n, 1e-5);
    /* transpose (exact) */
    poison(dy, (size_t)n);
    CHECK_OK(cpu->transpose(cpu, x, 37 * 3, d / 3, ref));
    CHECK_OK(gpu->transpose(gpu, dx, 37 * 3, d / 3, dy));
    compare("transpose 111 x 512", dy, ref, (size_t)n, 0.0);
    float *bufs[] = {dx, dg, dw, db, dsh, dsc, dy, dxi};
    for (int i = 0; i < 8; i++) gpu->free(gpu, bufs[i]);
    free(x), free(g), free(w), free(b), free(sh), free(sc), free(ref), free(xi);
}

static void test_rope(int64_t f, int64_t h, int64_t w, int64_t heads, int64_t hd) {
    const size_t n = (size_t)(f * h * w * heads * hd);
    float *x = host_rand(n, 2.0f);
    float *dx = dev_copy(x, n);
    CHECK_OK(cpu->rope3d(cpu, x, f, h, w, heads, hd));
    CHECK_OK(gpu->rope3d(gpu, dx, f, h, w, heads, hd));
    char what[96];
    snprintf(what, sizeof what, "rope3d %lldx%lldx%lld, %lld heads x %lld", (long long)f, (long long)h, (long long)w,
             (long long)heads, (long long)hd);
    compare(what, dx, x, n, 1e-7);
    gpu->free(gpu, dx);
    free(x);
}

/* bias: 0 none, 1 random with some -inf entries. mask_kind: 0 none, 1 random block mask (with an empty row). */
static void test_attention(int64_t lq, int64_t lk, int64_t heads, int64_t hd, int bias_kind, int mask_kind,
                           double tol) {
    const size_t nq = (size_t)(lq * heads * hd), nk = (size_t)(lk * heads * hd), nb = (size_t)(heads * lq * lk);
    float *q = host_rand(nq, 1.0f), *k = host_rand(nk, 1.0f), *v = host_rand(nk, 1.0f), *ref = malloc(nq * sizeof(float));
    float *bias = NULL, *dbias = NULL;
    if (bias_kind) {
        bias = host_rand(nb, 3.0f);
        for (size_t i = 0; i < nb; i += 7) bias[i] = -INFINITY;
        dbias = dev_copy(bias, nb);
    }
    rad_bsr mask = {0}, *mp = NULL;
    if (mask_kind) {
        const int32_t nbk = (int32_t)((lq + 127) / 128);
        uint8_t *mm = calloc((size_t)nbk * (size_t)nbk, 1);
        for (int32_t r = 0; r < nbk; r++)
            for (int32_t c = 0; c < nbk; c++) mm[r * nbk + c] = (r != 1) && (r == c || (urand() > 0.2f));
        CHECK_OK(rad_bsr_from_mask(mm, nbk, lq, 128, &mask));
        mp = &mask;
        free(mm);
    }
    float *dq = dev_copy(q, nq), *dk = dev_copy(k, nk), *dv = dev_copy(v, nk), *dout = dev_poison(nq);
    const float scale = (float)(1.0 / sqrt((double)hd));
    CHECK_OK(cpu->attention(cpu, q, k, v, ref, lq, lk, heads, hd, scale, bias, mp));
    CHECK_OK(gpu->attention(gpu, dq, dk, dv, dout, lq, lk, heads, hd, scale, dbias, mp));
    char what[128];
    snprintf(what, sizeof what, "attention lq %lld lk %lld, %lld x %lld%s%s", (long long)lq, (long long)lk,
             (long long)heads, (long long)hd, bias_kind ? ", bias" : "", mask_kind ? ", block mask" : "");
    compare(what, dout, ref, nq, tol);
    if (mask_kind) rad_bsr_free(&mask);
    gpu->free(gpu, dq), gpu->free(gpu, dk), gpu->free(gpu, dv), gpu->free(gpu, dout);
    if (dbias) gpu->free(gpu, dbias);
    free(q), free(k), free(v), free(ref), free(bias);
}

static void test_conv(int64_t cin, int64_t t, int64_t h, int64_t w, int64_t n_prev, int64_t cout, int64_t kt,
                      int64_t kh, int64_t kw, int64_t ph, int64_t pw) {
    const int64_t ho = h + 2 * ph - kh + 1, wo = w + 2 * pw - kw + 1, K = cin * kt * kh * kw;
    const size_t nx = (size_t)(cin * t * h * w), np = (size_t)(cin * (n_prev ? n_prev : 1) * h * w),
                 ny = (size_t)(cout * t * ho * wo);
    float *x = host_rand(nx, 1.0f), *prev = host_rand(np, 1.0f), *wt = host_rand((size_t)(cout * K), 0.1f),
          *b = host_rand((size_t)cout, 0.5f), *ref = malloc(ny * sizeof(float));
    rad_weight *wc, *wg;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, cout, K, "conv w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, cout, K, "conv w", &wg));
    void *dx = dev_conv(x, nx), *dp = dev_conv(prev, np);
    float *db = dev_copy(b, (size_t)cout), *dy = dev_poison(ny);
    CHECK_OK(cpu->conv3d(cpu, x, cin, t, h, w, n_prev ? prev : NULL, n_prev, wc, b, cout, kt, kh, kw, ph, pw, ref));
    CHECK_OK(gpu->conv3d(gpu, dx, cin, t, h, w, n_prev ? dp : NULL, n_prev, wg, db, cout, kt, kh, kw, ph, pw, dy));
    char what[128];
    snprintf(what, sizeof what, "conv3d %lld->%lld, %lldx%lldx%lld, k %lldx%lldx%lld, prev %lld", (long long)cin,
             (long long)cout, (long long)t, (long long)h, (long long)w, (long long)kt, (long long)kh, (long long)kw,
             (long long)n_prev);
    compare(what, dy, ref, ny, 1e-2);
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    gpu->free(gpu, dx), gpu->free(gpu, dp), gpu->free(gpu, db), gpu->free(gpu, dy);
    free(x), free(prev), free(wt), free(b), free(ref);
}

/* n bf16 values of the device as fp32 on the host. */
static float *download_bf16(const void *d, size_t n) {
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    float *f = malloc((n ? n : 1) * sizeof *f);
    CHECK_OK(gpu->download(gpu, h, d, n * sizeof *h));
    for (size_t i = 0; i < n; i++) f[i] = rad_bf16_to_f32(h[i]);
    free(h);
    return f;
}

/* ffn against the CPU's linear, gelu_tanh, linear, with hidden pre-activations spread over about [-8, 8] so that
 * the GELU's form shows: at -3 the tanh form gives -0.00363 and the erf form -0.00405 (11 % apart). The hidden
 * buffer holds `chunk` fp32 rows: CUDA's fused path runs 2·chunk rows at a time in bf16, so with m = 3·chunk its
 * last chunk (rows 2·chunk..m) is what the buffer holds at the end. Those values are checked against gelu_tanh
 * computed in double from the bf16-rounded x and w1 the GEMM reads (and the bias as the path used it): within
 * one bf16 step (2^-7 relative, 2^-14 absolute) but for rare rounding-boundary cases (at most 0.1 %).
 * b1_offset 1 misaligns the bias: the unfused ops then run (compared on y only). */
static void test_ffn(int64_t chunk, int64_t d, int64_t F, int b1_offset) {
    const int64_t m = 3 * chunk;
    const size_t hf = (size_t)(chunk * F);
    float *x = host_rand((size_t)(m * d), 1.0f), *w1 = host_rand((size_t)(F * d), 7.5f / sqrtf((float)d));
    float *w2 = host_rand((size_t)(d * F), 0.1f), *b1 = host_rand((size_t)F + 1, 0.5f), *b2 = host_rand((size_t)d, 0.5f);
    float *ref = malloc((size_t)(m * d) * sizeof(float)), *hid = malloc(hf * sizeof(float));
    rad_weight *w1c, *w2c, *w1g, *w2g;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, w1, NULL, 0}, F, d, "w1", &w1c));
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, w2, NULL, 0}, d, F, "w2", &w2c));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w1, NULL, 0}, F, d, "w1", &w1g));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w2, NULL, 0}, d, F, "w2", &w2g));
    float *dx = dev_copy(x, (size_t)(m * d)), *db1 = dev_copy(b1, (size_t)F + 1), *db2 = dev_copy(b2, (size_t)d);
    float *dh = dev_poison(hf), *dy = dev_poison((size_t)(m * d));
    CHECK_OK(cpu->ffn(cpu, x, m, d, w1c, b1 + b1_offset, w2c, b2, hid, hf, ref));
    CHECK_OK(gpu->ffn(gpu, dx, m, d, w1g, db1 + b1_offset, w2g, db2, dh, hf, dy));
    char why[320];
    const int path = rad_cuda_ffn_path(gpu, why, sizeof why);
    static const char *const paths[] = {"untried", "GELU + fp32 bias epilogue", "GELU + bf16 bias epilogue", "unfused"};
    char what[128];
    snprintf(what, sizeof what, "ffn %lld rows, %lld -> %lld -> %lld (%s)", (long long)m, (long long)d, (long long)F,
             (long long)d, paths[path >= 0 && path <= 3 ? path : 0]);
    compare(what, dy, ref, (size_t)(m * d), 1e-2);
    if (why[0]) printf("  ffn: cuBLASLt refused: %s\n", why);
    CHECK(b1_offset ? path == RAD_CUDA_FFN_UNFUSED : path == RAD_CUDA_FFN_GELU_F32_BIAS || path == RAD_CUDA_FFN_GELU_BF16_BIAS);
    if (!b1_offset && path != RAD_CUDA_FFN_UNFUSED) {
        const int64_t r0 = 2 * chunk, rows = m - r0;
        const size_t n_last = (size_t)(rows * F);
        float *g = download_bf16(dh, n_last);
        size_t bad = 0, worst = 0;
        double worst_e = 0, worst_ref = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t f = 0; f < F; f++) {
                double u = path == RAD_CUDA_FFN_GELU_BF16_BIAS ? rad_bf16_to_f32(rad_f32_to_bf16(b1[f])) : b1[f];
                for (int64_t p = 0; p < d; p++)
                    u += (double)rad_bf16_to_f32(rad_f32_to_bf16(x[(r0 + r) * d + p])) *
                         rad_bf16_to_f32(rad_f32_to_bf16(w1[f * d + p]));
                const double want = 0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
                const size_t i = (size_t)(r * F + f);
                const double e = fabs((double)g[i] - want), lim = fabs(want) / 128.0 + 1.0 / 16384.0;
                if (e > lim) bad++;
                if (e / lim > worst_e) worst_e = e / lim, worst = i, worst_ref = want;
            }
        printf("  ffn hidden state (bf16, GELU in the GEMM epilogue) vs gelu_tanh in double: %zu of %zu values off; "
               "worst %.3g of its limit (%g vs %g)\n", bad, n_last, worst_e, (double)g[worst], worst_ref);
        if (bad > n_last / 1000) {
            fprintf(stderr, "ffn: %zu hidden values off gelu_tanh (is the epilogue's GELU the erf form?)\n", bad);
            rad_test_failures++;
        }
        free(g);
    }
    cpu->weight_free(cpu, w1c), cpu->weight_free(cpu, w2c);
    gpu->weight_free(gpu, w1g), gpu->weight_free(gpu, w2g);
    gpu->free(gpu, dx), gpu->free(gpu, db1), gpu->free(gpu, db2), gpu->free(gpu, dh), gpu->free(gpu, dy);
    free(x), free(w1), free(w2), free(b1), free(b2), free(ref), free(hid);
}

static void test_vae_ops(void) {
    const int64_t c = 24, s = 3000, h = 30, w = 100;
    float *x = host_rand((size_t)(c * s), 2.0f), *g = host_rand((size_t)c, 1.0f), *ref = malloc((size_t)(4 * c * s) * sizeof(float));
    float *dx = dev_copy(x, (size_t)(c * s)), *dg = dev_copy(g, (size_t)c), *dy = dev_poison((size_t)(4 * c * s));
    CHECK_OK(cpu->rmsnorm_channels(cpu, x, c, s, g, ref));
    CHECK_OK(gpu->rmsnorm_channels(gpu, dx, c, s, dg, dy));
    compare("rmsnorm_channels 24 x 3000", dy, ref, (size_t)(c * s), 1e-6);

    /* rmsnorm_silu_channels: bit for bit rmsnorm_channels, silu, to_conv_dtype on this GPU; near the CPU's */
    {
        void *fused = NULL, *chain = NULL;
        CHECK_OK(gpu->alloc(gpu, (size_t)(c * s) * sizeof(uint16_t), "fused", &fused));
        CHECK_OK(gpu->alloc(gpu, (size_t)(c * s) * sizeof(uint16_t), "chain", &chain));
        CHECK_OK(gpu->rmsnorm_silu_channels(gpu, dx, c, s, dg, fused));
        CHECK_OK(gpu->rmsnorm_channels(gpu, dx, c, s, dg, dy));
        CHECK_OK(gpu->silu(gpu, dy, c * s));
        CHECK_OK(gpu->to_conv_dtype(gpu, dy, c * s, chain));
        uint16_t *a = malloc((size_t)(c * s) * sizeof *a), *b = malloc((size_t)(c * s) * sizeof *b);
        CHECK_OK(gpu->download(gpu, a, fused, (size_t)(c * s) * sizeof *a));
        CHECK_OK(gpu->download(gpu, b, chain, (size_t)(c * s) * sizeof *b));
        const int same = memcmp(a, b, (size_t)(c * s) * sizeof *a) == 0;
        printf("  rmsnorm_silu_channels 24 x 3000 vs the three ops: %s\n", same ? "bit-identical" : "DIFFERS");
        CHECK(same);
        CHECK_OK(cpu->rmsnorm_silu_channels(cpu, x, c, s, g, ref));
        float *f = download_bf16(fused, (size_t)(c * s));
        const double e = rad_rel_err(f, ref, (size_t)(c * s));
        printf("  rmsnorm_silu_channels (bf16) vs the CPU (fp32): rel %.3g (tol 4e-3)\n", e);
        CHECK(e < 4e-3);
        free(a), free(b), free(f);
        gpu->free(gpu, fused), gpu->free(gpu, chain);
    }

    /* to_conv_dtype rounds to nearest even, bit for bit as the host does (ties, signed zeros, inf, NaN, the
     * largest finite values), at a length that takes the vector path and at an odd one (the scalar path) */
    CHECK(gpu->conv_dtype == RAD_DT_BF16);
    const float special[] = {0.0f, -0.0f, 1.0f + 0x1p-8f, 1.0f + 0x3p-8f, INFINITY, -INFINITY, NAN, -3.4e38f};
    for (size_t k = 0; k < sizeof special / sizeof *special; k++) x[k * 7] = special[k];
    const size_t nodd = (size_t)(c * s) - 3;
    for (int pass = 0; pass < 2; pass++) {
        const size_t n = pass ? nodd : (size_t)(c * s);
        void *d16 = dev_conv(x, n);
        uint16_t *got = malloc(n * sizeof *got);
        CHECK_OK(gpu->download(gpu, got, d16, n * sizeof *got));
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            const uint16_t want = rad_f32_to_bf16(x[i]);
            bad += isnan(x[i]) ? (got[i] & 0x7fff) <= 0x7f80 : got[i] != want;
        }
        printf("  to_conv_dtype (bf16) of %zu values: %zu differ from the host's rounding\n", n, bad);
        CHECK(bad == 0);
        free(got);
        gpu->free(gpu, d16);
    }

    /* upsample2x copies bf16 convolution inputs: exact against the CPU's on the rounded values */
    for (size_t i = 0; i < (size_t)(c * s); i++) x[i] = rad_bf16_to_f32(rad_f32_to_bf16(isfinite(x[i]) ? x[i] : 0.0f));
    void *d16 = dev_conv(x, (size_t)(c * s)), *u16 = NULL;
    CHECK_OK(gpu->alloc(gpu, (size_t)(4 * c * s) * sizeof(uint16_t), "upsampled", &u16));
    CHECK_OK(cpu->upsample2x(cpu, x, c, h, w, ref));
    CHECK_OK(gpu->upsample2x(gpu, d16, c, h, w, u16));
    float *up = download_bf16(u16, (size_t)(4 * c * s));
    const int same = memcmp(up, ref, (size_t)(4 * c * s) * sizeof *up) == 0;
    printf("  upsample2x 24 x 30 x 100 (bf16): %s\n", same ? "bit-identical" : "DIFFERS");
    CHECK(same);
    free(up);
    gpu->free(gpu, d16), gpu->free(gpu, u16);
    gpu->free(gpu, dx), gpu->free(gpu, dg), gpu->free(gpu, dy);
    free(x), free(g), free(ref);
}

/* A small DiT with head_dim 128 (the tensor-core attention, dense self- and cross-attention and a radial
 * layout after the first block), random weights, CPU vs GPU forward. */
static void test_dit_forward(void) {
    const rad_dit_config c = {.dim = 256, .ffn_dim = 512, .num_heads = 2, .head_dim = 128, .num_layers = 3,
                              .in_dim = 16, .out_dim = 16, .text_dim = 64, .text_len = 512, .freq_dim = 256,
                              .patch_t = 1, .patch_h = 2, .patch_w = 2, .eps = 1e-6f};
    const int T = 3, H = 16, W = 24, L = 20;
    const size_t n = (size_t)16 * T * H * W;
    float *x = host_rand(n, 1.0f), *ctx = host_rand((size_t)L * 64, 1.0f), *vc = malloc(n * sizeof(float)),
          *vg = malloc(n * sizeof(float));
    const rad_radial_cfg rc = {.frames = T, .tokens_per_frame = (H / 2) * (W / 2), .decay = 1.0, .block = 128};
    rad_dit_attn_policy pol = {.mask = NULL, .dense_layers = 1};
    CHECK_OK(rad_radial_layout(&rc, &pol.mask));
    rad_dit *dc = NULL, *dg = NULL;
    CHECK_OK(rad_dit_random(cpu, &c, 7, -1, &dc));
    CHECK_OK(rad_dit_random(gpu, &c, 7, -1, &dg));
    if (dc && dg) {
        for (int radial = 0; radial < 2; radial++) {
            memset(vg, 0xff, n * sizeof(float));
            CHECK_OK(rad_dit_forward(dc, x, T, H, W, 700.0f, ctx, L, radial ? &pol : NULL, vc));
            CHECK_OK(rad_dit_forward(dg, x, T, H, W, 700.0f, ctx, L, radial ? &pol : NULL, vg));
            const double e = rad_rel_err(vg, vc, n);
            printf("  DiT forward (head_dim 128, %s) rel %.3g (tol 2e-2)\n", radial ? "radial" : "dense", e);
            CHECK(e < 2e-2);
        }
    }
    rad_dit_free(dc);
    rad_dit_free(dg);
    free(x), free(ctx), free(vc), free(vg);
}

static void test_errors(void) {
    float *d = dev_poison(4096);
    rad_weight *wg;
    float *w = host_rand(64, 1.0f);
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, 8, 8, "w", &wg));
    CHECK_FAILS(gpu->linear(gpu, d, 4, 7, wg, NULL, d + 1024));
    rad_weight *wbad = NULL;
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, 0, 8, "bad", &wbad));
    /* head_dim 601: no multiple of 8 for the GEMM path and past the generic kernel's 512 */
    CHECK_FAILS(gpu->attention(gpu, d, d, d, d + 2048, 2, 2, 1, 601, 1.0f, NULL, NULL));
    CHECK_FAILS(gpu->conv3d(gpu, d, 1, 1, 2, 2, NULL, 0, wg, NULL, 8, 1, 3, 3, 0, 0, d + 1024)); /* 3x3 > 2x2 */
    CHECK_FAILS(gpu->transpose(gpu, d, 8, 8, d));
    rad_bsr bad;
    CHECK_OK(rad_bsr_dense(200, 128, &bad));
    bad.col_idx[1] = 5; /* outside [0, 2) */
    CHECK_FAILS(gpu->attention(gpu, d, d, d, d + 2048, 200, 200, 1, 8, 1.0f, NULL, &bad));
    rad_bsr_free(&bad);
    void *huge = NULL;
    CHECK_FAILS(gpu->alloc(gpu, (size_t)1 << 50, "a petabyte", &huge));
    gpu->weight_free(gpu, wg);
    gpu->free(gpu, d);
    free(w);
}

int main(void) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s\n", name);
    CHECK_OK(rad_backend_cpu(&cpu));
    CHECK_OK(rad_backend_cuda(0, &gpu));
    if (!cpu || !gpu) TEST_MAIN_END();

    test_memory();
    test_linear(37, 96, 80, 1);
    test_linear(1, 256, 1536, 1);
    test_linear(300, 512, 384, 0);
    test_linear(129, 1536, 1536, 1);
    test_shadow_sequence();
    test_ffn(100, 256, 1024, 0);
    test_ffn(37, 192, 512, 1);
    test_norms_elementwise();
    test_rope(3, 4, 5, 2, 24);
    test_rope(2, 6, 10, 3, 128);
    /* bf16 tensor-core path: head_dim 128, no bias */
    test_attention(300, 300, 3, 128, 0, 0, 1e-2);
    test_attention(300, 77, 2, 128, 0, 0, 1e-2);  /* cross, partial key block */
    test_attention(200, 512, 2, 128, 0, 0, 1e-2); /* cross over 512 text keys */
    test_attention(500, 500, 2, 128, 0, 1, 1e-2); /* block mask, an empty block row */
    /* GEMM path (other head dims, multiples of 8, no bias or mask): bf16 GEMMs, fp32 softmax, bf16 P */
    test_attention(70, 70, 2, 24, 0, 0, 1e-2);
    test_attention(50, 37, 2, 24, 0, 0, 1e-2);    /* key count no multiple of 8: padded score rows */
    test_attention(300, 200, 3, 64, 0, 0, 1e-2);
    test_attention(200, 200, 1, 384, 0, 0, 1e-2); /* VAE middle attention */
    test_attention(6240, 6240, 1, 384, 0, 0, 1e-2); /* its size at 480x832: several query chunks */
    /* generic fp32 path (a bias, a mask, head dims no multiple of 8) */
    test_attention(96, 96, 4, 64, 1, 0, 1e-4); /* T5: bias with -inf entries, scale irrelevant */
    test_attention(130, 130, 2, 128, 1, 0, 1e-4);
    test_attention(300, 300, 2, 24, 0, 1, 1e-4);
    test_attention(40, 33, 2, 20, 0, 0, 1e-4);
    test_conv(5, 3, 6, 7, 2, 4, 3, 3, 3, 1, 1);
    test_conv(5, 2, 6, 7, 0, 4, 3, 3, 3, 1, 1); /* causal zero frames */
    test_conv(8, 1, 9, 11, 1, 6, 3, 3, 3, 1, 1); /* one prev frame: the other is zero */
    test_conv(6, 2, 5, 5, 0, 7, 1, 1, 1, 0, 0);
    test_conv(7, 1, 8, 9, 0, 3, 1, 3, 3, 1, 1);
    test_conv(64, 1, 160, 160, 0, 8, 3, 3, 3, 1, 1); /* column matrix over 64 MB: two pixel runs */
    test_vae_ops();
    test_dit_forward();
    test_errors();
    printf("peak device bytes: %.1f MiB\n", (double)rad_backend_peak(gpu) / 1048576.0);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
