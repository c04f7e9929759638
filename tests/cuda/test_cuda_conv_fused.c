/* The implicit-GEMM conv3d and the fused DiT chains (add_norm_modulate, rmsnorm_rope3d) on random inputs and
 * random shapes, against the CPU backend; the seed is fresh each run and printed (RAD_TEST_SEED=N repeats a
 * run). Outputs are poisoned with NaN before each call, so an unwritten element fails.
 * - conv3d: the default GPU path (implicit GEMM) and the im2col path (a second backend made with
 *   RADIAL_CUDA_CONV=im2col) each against the CPU (rel < 1e-2, bf16 operands), and against each other
 *   (rel < 1e-4: the same bf16 operands, only the fp32 summation order differs). Odd sizes, kt 1 and 3, 0..2
 *   prev frames, the first frames without prev, channel counts that are no multiple of the tiles.
 * - fused chains: CPU fused equals CPU unfused bit for bit; GPU fused vs GPU unfused and vs CPU within 1e-6 as
 *   the unfused norm ops (the log says when they are bit-identical, as they are written to be); a GEMM after
 *   them sees the new values (the bf16 copies are kept right).
 * Exits 77 (skipped) without a CUDA device. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "gpu_test_util.h"
#include "test_util.h"

static rad_backend *cpu, *gpu, *gpu_im2col;

static int64_t irand(int64_t lo, int64_t hi) { /* uniform in [lo, hi] */
    const int64_t v = lo + (int64_t)((urand() + 1.0f) * 0.5f * (float)(hi - lo + 1));
    return v > hi ? hi : v;
}

static void check_same(const char *what, const float *a, const float *b, size_t n) {
    const int same = !memcmp(a, b, n * sizeof(float));
    printf("  %-72s %s\n", what, same ? "bit-identical" : "DIFFERENT");
    if (!same) {
        fprintf(stderr, "%s: not bit-identical\n", what);
        rad_test_failures++;
    }
}

/* ---------------------------------------------------------------------------------------------- conv3d */

typedef struct {
    int64_t cin, t, h, w, n_prev, cout, kt, kh, kw, ph, pw;
} conv_case;

/* y of one GPU backend's conv3d (poisoned first), downloaded. */
static float *gpu_conv(rad_backend *be, const conv_case *c, const float *x, const float *prev, const rad_weight *wg,
                       const float *b, size_t nx, size_t np, size_t ny) {
    void *dx = dev_conv_copy(be, x, nx), *dp = dev_conv_copy(be, prev, np);
    float *db = dev_copy(be, b, (size_t)c->cout), *dy = dev_poison(be, ny);
    CHECK_OK(be->conv3d(be, dx, c->cin, c->t, c->h, c->w, c->n_prev ? dp : NULL, c->n_prev, wg, db, c->cout, c->kt,
                        c->kh, c->kw, c->ph, c->pw, dy));
    float *y = download(be, dy, ny);
    be->free(be, dx), be->free(be, dp), be->free(be, db), be->free(be, dy);
    return y;
}

static void test_conv(const conv_case *c) {
    const int64_t ho = c->h + 2 * c->ph - c->kh + 1, wo = c->w + 2 * c->pw - c->kw + 1,
                  K = c->cin * c->kt * c->kh * c->kw;
    const size_t nx = (size_t)(c->cin * c->t * c->h * c->w), np = (size_t)(c->cin * (c->n_prev ? c->n_prev : 1) * c->h * c->w),
                 ny = (size_t)(c->cout * c->t * ho * wo);
    float *x = host_rand(nx, 1.0f), *prev = host_rand(np, 1.0f), *wt = host_rand((size_t)(c->cout * K), 0.1f),
          *b = host_rand((size_t)c->cout, 0.5f), *ref = malloc(ny * sizeof(float));
    rad_weight *wc, *wg, *wi;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, c->cout, K, "conv w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, c->cout, K, "conv w", &wg));
    CHECK_OK(gpu_im2col->weight_new(gpu_im2col, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, c->cout, K, "conv w", &wi));
    CHECK_OK(cpu->conv3d(cpu, x, c->cin, c->t, c->h, c->w, c->n_prev ? prev : NULL, c->n_prev, wc, b, c->cout, c->kt,
                         c->kh, c->kw, c->ph, c->pw, ref));
    float *yg = gpu_conv(gpu, c, x, prev, wg, b, nx, np, ny), *yi = gpu_conv(gpu_im2col, c, x, prev, wi, b, nx, np, ny);
    char what[160];
    snprintf(what, sizeof what, "conv3d %lld->%lld, %lldx%lldx%lld, k %lldx%lldx%lld, pad %lld,%lld, prev %lld",
             (long long)c->cin, (long long)c->cout, (long long)c->t, (long long)c->h, (long long)c->w, (long long)c->kt,
             (long long)c->kh, (long long)c->kw, (long long)c->ph, (long long)c->pw, (long long)c->n_prev);
    printf("%s\n", what);
    check_rel("implicit GEMM vs CPU", yg, ref, ny, 1e-2);
    check_rel("im2col vs CPU", yi, ref, ny, 1e-2);
    check_rel("implicit GEMM vs im2col (same bf16 operands)", yg, yi, ny, 1e-4);
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    gpu_im2col->weight_free(gpu_im2col, wi);
    free(x), free(prev), free(wt), free(b), free(ref), free(yg), free(yi);
}

/* One weight used first as a 1x1x1 conv over 27 channels, then as a 3x3x3 conv over 1 channel: the repacked
 * copy must follow the split of its columns. */
static void test_conv_repack(void) {
    const conv_case a = {27, 2, 7, 9, 0, 5, 1, 1, 1, 0, 0}, b = {1, 2, 7, 9, 2, 5, 3, 3, 3, 1, 1};
    float *wt = host_rand(5 * 27, 0.2f), *bias = host_rand(5, 0.5f);
    rad_weight *wc, *wg;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, 5, 27, "w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, 5, 27, "w", &wg));
    for (int i = 0; i < 2; i++) {
        const conv_case *c = i ? &b : &a;
        const size_t nx = (size_t)(c->cin * c->t * c->h * c->w), np = (size_t)(c->cin * 2 * c->h * c->w),
                     ny = (size_t)(5 * c->t * c->h * c->w);
        float *x = host_rand(nx, 1.0f), *prev = host_rand(np, 1.0f), *ref = malloc(ny * sizeof(float));
        CHECK_OK(cpu->conv3d(cpu, x, c->cin, c->t, c->h, c->w, c->n_prev ? prev : NULL, c->n_prev, wc, bias, 5, c->kt,
                             c->kh, c->kw, c->ph, c->pw, ref));
        float *y = gpu_conv(gpu, c, x, prev, wg, bias, nx, np, ny);
        check_rel(i ? "one weight as 3x3x3 over 1 channel (after 1x1x1 over 27)" : "one weight as 1x1x1 over 27 channels",
                  y, ref, ny, 1e-2);
        free(x), free(prev), free(ref), free(y);
    }
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    free(wt), free(bias);
}

static void test_convs(void) {
    /* fixed: the Wan VAE's kinds of layer at small sizes */
    const conv_case fixed[] = {
        {96, 2, 30, 52, 2, 96, 3, 3, 3, 1, 1},  /* decoder stage 3 shape class, cout tile 96 */
        {96, 1, 30, 52, 0, 96, 3, 3, 3, 1, 1},  /* first chunk: no prev, two causal zero frames skipped */
        {80, 1, 12, 20, 2, 384, 3, 3, 3, 1, 1}, /* cout tile 128, three tiles; cin 80 = 2.5 channel blocks */
        {16, 1, 15, 26, 0, 384, 3, 3, 3, 1, 1}, /* conv_in: 16 channels, half a block */
        {96, 3, 20, 33, 2, 3, 3, 3, 3, 1, 1},   /* head: 3 outputs, tile 32 */
        {48, 4, 10, 14, 1, 100, 3, 3, 3, 1, 1}, /* one prev frame: frame 0's first tap reads zeros */
        {64, 2, 17, 19, 2, 128, 3, 1, 1, 0, 0}, /* time_conv 3x1x1 */
        {40, 2, 16, 16, 0, 20, 1, 3, 3, 1, 1},  /* 2-D resample conv */
        {70, 3, 9, 13, 0, 33, 1, 1, 1, 0, 0},   /* 1x1x1 shortcut */
        {24, 2, 11, 13, 1, 40, 3, 5, 5, 2, 2},  /* 5x5: past the implicit GEMM's 3x3, so im2col on both paths */
        {32, 1, 37, 70, 0, 64, 1, 3, 3, 1, 1},  /* several 8 x 16 halo tiles, partial at the bottom and right */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) test_conv(&fixed[i]);
    for (int i = 0; i < 16; i++) { /* random shapes */
        conv_case c;
        c.kt = irand(0, 1) ? 3 : 1, c.kh = irand(1, 3), c.kw = irand(1, 3);
        c.ph = irand(0, c.kh - 1), c.pw = irand(0, c.kw - 1);
        c.h = irand(c.kh > 2 * c.ph ? c.kh - 2 * c.ph : 1, 24), c.w = irand(c.kw > 2 * c.pw ? c.kw - 2 * c.pw : 1, 40);
        c.cin = irand(1, 70), c.cout = irand(1, 140), c.t = irand(1, 3), c.n_prev = irand(0, 2);
        test_conv(&c);
    }
    test_conv_repack();
}

/* ------------------------------------------------------------------------------------------- fused chains */

static void test_add_norm_modulate(int64_t m, int64_t d, int with_r, int with_gate, int with_affine, int with_mod,
                                   int in_place) {
    const size_t n = (size_t)(m * d);
    float *x = host_rand(n, 2.0f), *r = host_rand(n, 3.0f), *g = host_rand((size_t)d, 1.0f), *w = host_rand((size_t)d, 1.0f),
          *b = host_rand((size_t)d, 1.0f), *sh = host_rand((size_t)d, 0.5f), *sc = host_rand((size_t)d, 0.5f);
    float *dx = dev_copy(gpu, x, n), *dr = dev_copy(gpu, r, n), *dg = dev_copy(gpu, g, (size_t)d),
          *dw = dev_copy(gpu, w, (size_t)d), *db = dev_copy(gpu, b, (size_t)d), *dsh = dev_copy(gpu, sh, (size_t)d),
          *dsc = dev_copy(gpu, sc, (size_t)d);
    const float eps = 1e-6f;
    /* CPU: unfused and fused */
    float *xu = malloc(n * sizeof(float)), *yu = malloc(n * sizeof(float)), *xf = malloc(n * sizeof(float)),
          *yf = malloc(n * sizeof(float));
    memcpy(xu, x, n * sizeof(float)), memcpy(xf, x, n * sizeof(float));
    float *yu_out = in_place ? xu : yu, *yf_out = in_place ? xf : yf;
    if (with_r) CHECK_OK(cpu->add_gated(cpu, xu, r, m, d, with_gate ? g : NULL));
    CHECK_OK(cpu->layernorm(cpu, xu, m, d, with_affine ? w : NULL, with_affine ? b : NULL, eps, yu_out));
    if (with_mod) CHECK_OK(cpu->modulate(cpu, yu_out, m, d, sh, sc, yu_out));
    CHECK_OK(cpu->add_norm_modulate(cpu, xf, with_r ? r : NULL, with_gate ? g : NULL, m, d, with_affine ? w : NULL,
                                    with_affine ? b : NULL, eps, with_mod ? sh : NULL, with_mod ? sc : NULL, yf_out));
    /* GPU: unfused into (dxu, dyu), fused into (dx, dy) */
    float *dxu = dev_copy(gpu, x, n), *dyu = in_place ? dxu : dev_poison(gpu, n), *dy = in_place ? dx : dev_poison(gpu, n);
    if (with_r) CHECK_OK(gpu->add_gated(gpu, dxu, dr, m, d, with_gate ? dg : NULL));
    CHECK_OK(gpu->layernorm(gpu, dxu, m, d, with_affine ? dw : NULL, with_affine ? db : NULL, eps, dyu));
    if (with_mod) CHECK_OK(gpu->modulate(gpu, dyu, m, d, dsh, dsc, dyu));
    CHECK_OK(gpu->add_norm_modulate(gpu, dx, with_r ? dr : NULL, with_gate ? dg : NULL, m, d, with_affine ? dw : NULL,
                                    with_affine ? db : NULL, eps, with_mod ? dsh : NULL, with_mod ? dsc : NULL, dy));
    float *gxu = download(gpu, dxu, n), *gyu = download(gpu, dyu, n), *gx = download(gpu, dx, n), *gy = download(gpu, dy, n);
    char what[160];
    snprintf(what, sizeof what, "add_norm_modulate %lld x %lld%s%s%s%s%s", (long long)m, (long long)d,
             with_r ? ", residual" : "", with_gate ? " (gated)" : "", with_affine ? ", affine" : "",
             with_mod ? ", modulation" : "", in_place ? ", y = x" : "");
    printf("%s\n", what);
    check_same("CPU fused == CPU unfused (y)", yf_out, yu_out, n);
    check_same("CPU fused == CPU unfused (x)", xf, xu, n);
    check_rel("GPU fused vs GPU unfused (y)", gy, gyu, n, 1e-6);
    check_rel("GPU fused vs GPU unfused (x)", gx, gxu, n, 1e-6);
    check_rel("GPU fused vs CPU fused (y)", gy, yf_out, n, 1e-6);
    check_rel("GPU fused vs CPU fused (x)", gx, xf, n, 1e-6);
    float *bufs[] = {dx, dr, dg, dw, db, dsh, dsc, dxu};
    for (int i = 0; i < 8; i++) gpu->free(gpu, bufs[i]);
    if (!in_place) gpu->free(gpu, dyu), gpu->free(gpu, dy);
    free(x), free(r), free(g), free(w), free(b), free(sh), free(sc), free(xu), free(yu), free(xf), free(yf);
    free(gxu), free(gyu), free(gx), free(gy);
}

/* The bf16 copies around the fused op: a linear on x (which makes x's copy), the fused op with a residual
 * (which rewrites x and must drop that copy, and makes y's), then linears on y and on x. */
static void test_fused_then_linear(void) {
    const int64_t m = 300, d = 256, nout = 40;
    const size_t n = (size_t)(m * d);
    float *x = host_rand(n, 1.0f), *r = host_rand(n, 2.0f), *sh = host_rand((size_t)d, 0.5f), *sc = host_rand((size_t)d, 0.5f),
          *wt = host_rand((size_t)(nout * d), 0.2f);
    float *y = malloc(n * sizeof(float)), *l1 = malloc((size_t)(m * nout) * sizeof(float)),
          *l2 = malloc((size_t)(m * nout) * sizeof(float)), *l3 = malloc((size_t)(m * nout) * sizeof(float));
    rad_weight *wc, *wg;
    CHECK_OK(cpu->weight_new(cpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, nout, d, "w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, wt, NULL, 0}, nout, d, "w", &wg));
    float *dx = dev_copy(gpu, x, n), *dr = dev_copy(gpu, r, n), *dsh = dev_copy(gpu, sh, (size_t)d),
          *dsc = dev_copy(gpu, sc, (size_t)d), *dy = dev_poison(gpu, n), *dl1 = dev_poison(gpu, (size_t)(m * nout)),
          *dl2 = dev_poison(gpu, (size_t)(m * nout)), *dl3 = dev_poison(gpu, (size_t)(m * nout));
    CHECK_OK(cpu->linear(cpu, x, m, d, wc, NULL, l1));
    CHECK_OK(cpu->add_norm_modulate(cpu, x, r, NULL, m, d, NULL, NULL, 1e-6f, sh, sc, y));
    CHECK_OK(cpu->linear(cpu, y, m, d, wc, NULL, l2));
    CHECK_OK(cpu->linear(cpu, x, m, d, wc, NULL, l3));
    CHECK_OK(gpu->linear(gpu, dx, m, d, wg, NULL, dl1));
    CHECK_OK(gpu->add_norm_modulate(gpu, dx, dr, NULL, m, d, NULL, NULL, 1e-6f, dsh, dsc, dy));
    CHECK_OK(gpu->linear(gpu, dy, m, d, wg, NULL, dl2));
    CHECK_OK(gpu->linear(gpu, dx, m, d, wg, NULL, dl3));
    float *g1 = download(gpu, dl1, (size_t)(m * nout)), *g2 = download(gpu, dl2, (size_t)(m * nout)),
          *g3 = download(gpu, dl3, (size_t)(m * nout));
    printf("bf16 copies around add_norm_modulate\n");
    check_rel("linear on x before", g1, l1, (size_t)(m * nout), 1e-2);
    check_rel("linear on y (the fused op's copy)", g2, l2, (size_t)(m * nout), 1e-2);
    check_rel("linear on x after the residual rewrote it", g3, l3, (size_t)(m * nout), 1e-2);
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    float *bufs[] = {dx, dr, dsh, dsc, dy, dl1, dl2, dl3};
    for (int i = 0; i < 8; i++) gpu->free(gpu, bufs[i]);
    free(x), free(r), free(sh), free(sc), free(wt), free(y), free(l1), free(l2), free(l3), free(g1), free(g2), free(g3);
}

static void test_rmsnorm_rope(int64_t f, int64_t h, int64_t w, int64_t heads, int64_t hd, int with_weight) {
    const int64_t d = heads * hd, tok = f * h * w;
    const size_t n = (size_t)(tok * d);
    float *x = host_rand(n, 2.0f), *nw = host_rand((size_t)d, 1.0f);
    float *xu = malloc(n * sizeof(float)), *xf = malloc(n * sizeof(float));
    memcpy(xu, x, n * sizeof(float)), memcpy(xf, x, n * sizeof(float));
    const float eps = 1e-6f;
    CHECK_OK(cpu->rmsnorm(cpu, xu, tok, d, with_weight ? nw : NULL, eps, xu));
    CHECK_OK(cpu->rope3d(cpu, xu, f, h, w, heads, hd));
    CHECK_OK(cpu->rmsnorm_rope3d(cpu, xf, with_weight ? nw : NULL, eps, f, h, w, heads, hd));
    float *dxu = dev_copy(gpu, x, n), *dxf = dev_copy(gpu, x, n), *dnw = dev_copy(gpu, nw, (size_t)d);
    CHECK_OK(gpu->rmsnorm(gpu, dxu, tok, d, with_weight ? dnw : NULL, eps, dxu));
    CHECK_OK(gpu->rope3d(gpu, dxu, f, h, w, heads, hd));
    CHECK_OK(gpu->rmsnorm_rope3d(gpu, dxf, with_weight ? dnw : NULL, eps, f, h, w, heads, hd));
    float *gu = download(gpu, dxu, n), *gf = download(gpu, dxf, n);
    char what[160];
    snprintf(what, sizeof what, "rmsnorm_rope3d %lldx%lldx%lld, %lld heads x %lld%s", (long long)f, (long long)h,
             (long long)w, (long long)heads, (long long)hd, with_weight ? ", weight" : "");
    printf("%s\n", what);
    check_same("CPU fused == CPU unfused", xf, xu, n);
    check_rel("GPU fused vs GPU unfused", gf, gu, n, 1e-6);
    check_rel("GPU fused vs CPU fused", gf, xf, n, 1e-6);
    gpu->free(gpu, dxu), gpu->free(gpu, dxf), gpu->free(gpu, dnw);
    free(x), free(nw), free(xu), free(xf), free(gu), free(gf);
}

static void test_fused(void) {
    static const int64_t widths[] = {1536, 77, 3, 1000, 256};
    for (int i = 0; i < 8; i++) {
        const int64_t m = irand(1, 40), d = widths[irand(0, 4)];
        const int with_r = (int)irand(0, 1);
        test_add_norm_modulate(m, d, with_r, with_r && irand(0, 1), (int)irand(0, 1), (int)irand(0, 1), !with_r && irand(0, 1));
    }
    /* the DiT's four uses */
    test_add_norm_modulate(37, 1536, 0, 0, 0, 1, 0);
    test_add_norm_modulate(37, 1536, 1, 1, 1, 0, 0);
    test_add_norm_modulate(37, 1536, 1, 0, 0, 1, 0);
    test_add_norm_modulate(5, 1536, 0, 0, 0, 1, 1);
    test_fused_then_linear();
    test_rmsnorm_rope(3, 4, 5, 2, 24, 1);
    test_rmsnorm_rope(2, 6, 10, 12, 128, 1);
    test_rmsnorm_rope(irand(1, 3), irand(1, 7), irand(1, 9), irand(1, 4), 2 * irand(3, 40), (int)irand(0, 1));
    float *d = dev_poison(gpu, 64);
    CHECK_FAILS(gpu->add_norm_modulate(gpu, d, NULL, NULL, 4, 16, NULL, NULL, 1e-6f, d, NULL, d)); /* shift only */
    CHECK_FAILS(gpu->rmsnorm_rope3d(gpu, d, NULL, 1e-6f, 1, 1, 1, 1, 7)); /* odd head_dim */
    gpu->free(gpu, d);
}

int main(void) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    const char *env_seed = getenv("RAD_TEST_SEED");
    const uint64_t seed = env_seed ? strtoull(env_seed, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    gpu_test_rng = seed ? seed : 1; /* the generator needs a nonzero state */
    printf("device: %s\nseed: %llu (RAD_TEST_SEED=%llu repeats this run)\n", name, (unsigned long long)seed,
           (unsigned long long)seed);
    if (!gpu_test_backends(&cpu, &gpu, &gpu_im2col)) TEST_MAIN_END();
    test_convs();
    test_fused();
    printf("peak device bytes: %.1f MiB\n", (double)rad_backend_peak(gpu) / 1048576.0);
    gpu_im2col->destroy(gpu_im2col);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
