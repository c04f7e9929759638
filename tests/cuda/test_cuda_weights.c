/* Weights kept as the file stores them (cuda_backend.cu, dequant.cu), against the CPU backend (which keeps
 * the fp32 of whatever was stored, through rad_weight_src_rows_f32), on random source bytes of every stored
 * dtype: F32, F16, BF16 (also with a scale), F8_E4M3 (no / per-tensor / per-row scale), F8_E5M2, and the GGUF
 * block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K (random bytes are valid blocks once their fp16
 * scale fields are finite).
 * - dequantisation exactness: the bf16 matrix the GPU GEMMs read (rad_cuda_weight_bf16) equals the CPU's fp32
 *   dequantisation rounded to bf16 (rad_f32_to_bf16) bit for bit, NaN and subnormal results included (one
 *   exception: a signaling NaN in a bf16 source is copied as stored, without the quiet bit the host's rounding
 *   sets); shapes with more than 65535 rows, fp8 rows of a length that is no multiple of 8;
 * - linear with those weights against the CPU (rel < 1e-2, bf16 operands, as test_cuda_backend), and against a
 *   GPU bf16 weight made from the CPU's dequantised fp32 values (the same bf16 operands: rel < 1e-6);
 *   rows no multiple of 128, cols multiples of 256; alternating stored weights (the dequantised copy follows);
 * - conv3d (implicit GEMM and im2col) with fp8 and block weights (rel < 1e-2);
 * - device memory: an fp8 weight takes 1 byte a weight (+ its scales), a Q4_0 weight 18 bytes per 32, a bf16
 *   weight 2 bytes, counted in peak_bytes; the dequantisation buffer is counted when a GEMM first needs it;
 * - rejected sources (bad dtype, partial blocks, scale counts) name the weight;
 * - the time of a dequantisation at the DiT's largest 1.3B shape (printed, not checked).
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
#include "base/half.h"
#include "base/timer.h"
#include "io/quants.h"
#include "gpu_test_util.h"
#include "test_util.h"

static rad_backend *cpu, *gpu, *gpu_im2col;

static uint32_t ubits(void) {
    gpu_test_rng ^= gpu_test_rng << 13, gpu_test_rng ^= gpu_test_rng >> 7, gpu_test_rng ^= gpu_test_rng << 17;
    return (uint32_t)(gpu_test_rng >> 16);
}

/* ------------------------------------------------------------------------------------- stored sources */

enum { SC_NONE, SC_TENSOR, SC_ROW, SC_TINY }; /* SC_TINY: one scale of 1e-36 (fp32 subnormal products) */

typedef struct {
    rad_dtype dt;
    int scale;
} kind;

static const kind k_kinds[] = {
    {RAD_DT_F32, SC_NONE},     {RAD_DT_F16, SC_NONE},     {RAD_DT_BF16, SC_NONE},   {RAD_DT_F32, SC_ROW},
    {RAD_DT_F16, SC_TENSOR},   {RAD_DT_BF16, SC_ROW},     {RAD_DT_F8_E4M3, SC_NONE}, {RAD_DT_F8_E4M3, SC_TENSOR},
    {RAD_DT_F8_E4M3, SC_ROW},  {RAD_DT_F8_E5M2, SC_NONE}, {RAD_DT_F8_E5M2, SC_ROW}, {RAD_DT_Q4_0, SC_NONE},
    {RAD_DT_Q4_1, SC_NONE},    {RAD_DT_Q5_0, SC_NONE},    {RAD_DT_Q5_1, SC_NONE},   {RAD_DT_Q8_0, SC_NONE},
    {RAD_DT_Q4_K, SC_NONE},    {RAD_DT_Q5_K, SC_NONE},    {RAD_DT_Q6_K, SC_NONE},   {RAD_DT_Q4_0, SC_ROW},
    {RAD_DT_Q6_K, SC_TENSOR},
};
#define N_KINDS (sizeof k_kinds / sizeof k_kinds[0])

static const char *scale_name(int s) {
    return s == SC_TENSOR ? " x scale" : s == SC_ROW ? " x row scales" : s == SC_TINY ? " x 1e-36" : "";
}

typedef struct {
    void *data;
    float *scale;
    rad_weight_src src;
    size_t bytes;
} stored;

/* A finite fp16: any (wild: subnormals, up to 65504) or a small one (|v| in [2^-9, 2^-4), random sign). */
static uint16_t rand_half(int wild) {
    for (;;) {
        const uint16_t h = (uint16_t)ubits();
        const unsigned e = (h >> 10) & 31u;
        if (wild && e != 31) return h;
        if (!wild) return (uint16_t)((h & 0x83ffu) | (uint16_t)((6u + e % 5u) << 10));
    }
}

/* The fp16 fields of each block type (d, m, dmin): byte offsets in the block (ggml-common.h). */
static int half_fields(rad_dtype dt, int *off) {
    switch (dt) {
    case RAD_DT_Q4_1: case RAD_DT_Q5_1: case RAD_DT_Q4_K: case RAD_DT_Q5_K: off[0] = 0, off[1] = 2; return 2;
    case RAD_DT_Q6_K: off[0] = 208; return 1;
    default: off[0] = 0; return 1;
    }
}

/* Random stored bytes of k for rows x cols. wild: any bit pattern the dtype can hold (NaN, inf, subnormals, for
 * the exactness test); else values of a usable size for a GEMM (no NaN / inf). */
static void make_src(const kind *k, int64_t rows, int64_t cols, int wild, stored *s) {
    memset(s, 0, sizeof *s);
    CHECK_OK(rad_quant_bytes(k->dt, rows * cols, "test weight", &s->bytes));
    uint8_t *p = malloc(s->bytes);
    const size_t n = (size_t)(rows * cols);
    switch (k->dt) {
    case RAD_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = ubits() << 16 ^ ubits();
            float f = 0.2f * urand();
            if (wild) memcpy(&f, &u, 4);
            memcpy(p + 4 * i, &f, 4);
        }
        break;
    case RAD_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = wild ? (uint16_t)ubits() : (uint16_t)((ubits() & 0x83ffu) | (9u + ubits() % 5u) << 10);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case RAD_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = wild ? (uint16_t)ubits() : rad_f32_to_bf16(0.2f * urand());
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case RAD_DT_F8_E4M3:
    case RAD_DT_F8_E5M2:
        for (size_t i = 0; i < n; i++) {
            uint8_t b = (uint8_t)ubits();
            if (!wild) /* no NaN (e4m3 0x7f / 0xff), no inf / NaN (e5m2 exponent 31) */
                while (k->dt == RAD_DT_F8_E4M3 ? (b & 0x7f) == 0x7f : (b & 0x7c) == 0x7c) b = (uint8_t)ubits();
            p[i] = b;
        }
        break;
    default: { /* block types */
        for (size_t i = 0; i < s->bytes; i++) p[i] = (uint8_t)ubits();
        int off[2];
        const int nf = half_fields(k->dt, off);
        const size_t bb = rad_quant_block_bytes(k->dt);
        for (size_t b = 0; b < s->bytes / bb; b++)
            for (int f = 0; f < nf; f++) {
                const uint16_t h = rand_half(wild);
                memcpy(p + b * bb + (size_t)off[f], &h, 2);
            }
        break;
    }
    }
    int64_t ns = k->scale == SC_ROW ? rows : k->scale == SC_NONE ? 0 : 1;
    if (ns) {
        s->scale = malloc((size_t)ns * sizeof(float));
        for (int64_t r = 0; r < ns; r++) s->scale[r] = k->scale == SC_TINY ? 1e-36f : 0.004f + 0.03f * fabsf(urand());
    }
    s->data = p;
    s->src = (rad_weight_src){k->dt, p, s->scale, ns};
}

static void free_src(stored *s) {
    free(s->data);
    free(s->scale);
}

static void label(const kind *k, char *buf, size_t size) {
    snprintf(buf, size, "%s%s", rad_dtype_name(k->dt), scale_name(k->scale));
}

/* ------------------------------------------------------------------------------------ exactness */

static void test_exact(const kind *k, int64_t rows, int64_t cols) {
    stored s;
    make_src(k, rows, cols, 1, &s);
    const size_t n = (size_t)(rows * cols);
    float *ref = malloc(n * sizeof(float));
    uint16_t *got = malloc(n * sizeof(uint16_t));
    rad_weight_src_rows_f32(&s.src, cols, 0, rows, ref); /* the CPU's fp32 dequantisation */
    rad_weight *wg = NULL;
    CHECK_OK(gpu->weight_new(gpu, &s.src, rows, cols, "exact w", &wg));
    if (wg) {
        CHECK_OK(rad_cuda_weight_bf16(gpu, wg, got));
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            const uint16_t want = rad_f32_to_bf16(ref[i]);
            /* a bf16 source is copied as stored: a signaling NaN stays one (the host's rounding sets its quiet
             * bit); every other element of every dtype must be bit-identical */
            const int same = got[i] == want || (k->dt == RAD_DT_BF16 && isnan(ref[i]) && (got[i] | 0x40u) == want &&
                                                 (got[i] & 0x7fffu) > 0x7f80u);
            if (!same) {
                if (bad < 4)
                    fprintf(stderr, "    element %zu (row %zu col %zu): GPU bf16 0x%04x, CPU fp32 %.9g -> bf16 0x%04x\n",
                            i, i / (size_t)cols, i % (size_t)cols, got[i], (double)ref[i], want);
                bad++;
            }
        }
        char what[64];
        label(k, what, sizeof what);
        printf("  dequant %-28s %7lld x %-5lld %s\n", what, (long long)rows, (long long)cols,
               bad ? "MISMATCH" : "bit-identical");
        if (bad) {
            fprintf(stderr, "dequant %s %lldx%lld: %zu of %zu elements differ\n", what, (long long)rows,
                    (long long)cols, bad, n);
            rad_test_failures++;
        }
        gpu->weight_free(gpu, wg);
    }
    free(ref), free(got);
    free_src(&s);
}

static void test_exactness(void) {
    printf("dequantisation: GPU bf16 == CPU fp32 rounded to bf16\n");
    for (size_t i = 0; i < N_KINDS; i++) {
        test_exact(&k_kinds[i], 77, 256);
        test_exact(&k_kinds[i], 130, 512);
    }
    const kind tall[] = {{RAD_DT_Q4_0, SC_NONE}, {RAD_DT_Q6_K, SC_NONE}, {RAD_DT_F8_E4M3, SC_ROW}, {RAD_DT_Q8_0, SC_ROW}};
    for (int i = 0; i < 4; i++) test_exact(&tall[i], 66000 + 37, 256); /* rows past the grid's 65535 */
    const kind odd[] = {{RAD_DT_F8_E4M3, SC_ROW}, {RAD_DT_F8_E5M2, SC_NONE}, {RAD_DT_F8_E5M2, SC_TINY},
                        {RAD_DT_F8_E4M3, SC_TINY}, {RAD_DT_Q5_1, SC_TINY}};
    for (int i = 0; i < 5; i++) test_exact(&odd[i], 50, 37 * (i == 4 ? 32 : 1)); /* fp8 rows of 37: bytewise */
    test_exact(&odd[2], 64, 256);                                                  /* subnormal results, vector path */
}

/* ----------------------------------------------------------------------------------------- linear */

static void test_linear(const kind *k, int64_t m, int64_t n, int64_t kk, int with_bias) {
    stored s;
    make_src(k, n, kk, 0, &s);
    float *x = host_rand((size_t)(m * kk), 1.0f), *b = host_rand((size_t)n, 0.5f), *ref = malloc((size_t)(m * n) * 4);
    float *deq = malloc((size_t)(n * kk) * sizeof(float));
    rad_weight_src_rows_f32(&s.src, kk, 0, n, deq);
    rad_weight *wc = NULL, *wg = NULL, *wb = NULL;
    CHECK_OK(cpu->weight_new(cpu, &s.src, n, kk, "w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &s.src, n, kk, "w", &wg));
    CHECK_OK(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F32, deq, NULL, 0}, n, kk, "w (CPU dequantised)", &wb));
    if (wc && wg && wb) {
        float *dx = dev_copy(gpu, x, (size_t)(m * kk)), *db = dev_copy(gpu, b, (size_t)n);
        float *dy = dev_poison(gpu, (size_t)(m * n)), *dyb = dev_poison(gpu, (size_t)(m * n));
        CHECK_OK(cpu->linear(cpu, x, m, kk, wc, with_bias ? b : NULL, ref));
        CHECK_OK(gpu->linear(gpu, dx, m, kk, wg, with_bias ? db : NULL, dy));
        CHECK_OK(gpu->linear(gpu, dx, m, kk, wb, with_bias ? db : NULL, dyb));
        float *y = download(gpu, dy, (size_t)(m * n)), *yb = download(gpu, dyb, (size_t)(m * n));
        char what[128], l[64];
        label(k, l, sizeof l);
        snprintf(what, sizeof what, "linear %lldx%lld . (%s %lldx%lld)%s vs CPU", (long long)m, (long long)kk, l,
                 (long long)n, (long long)kk, with_bias ? " + bias" : "");
        check_rel(what, y, ref, (size_t)(m * n), 1e-2);
        check_rel("  vs the GPU bf16 weight of the CPU's dequantised values", y, yb, (size_t)(m * n), 1e-6);
        gpu->free(gpu, dx), gpu->free(gpu, db), gpu->free(gpu, dy), gpu->free(gpu, dyb);
        free(y), free(yb);
    }
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    gpu->weight_free(gpu, wb);
    free(x), free(b), free(ref), free(deq);
    free_src(&s);
}

/* Two stored weights used in turn (a, b, a), one freed and another made: each GEMM must read its own. */
static void test_alternating(void) {
    const int64_t m = 40, n = 200, kk = 512;
    const kind ka = {RAD_DT_Q8_0, SC_NONE}, kb = {RAD_DT_F8_E4M3, SC_ROW}, kc = {RAD_DT_Q4_K, SC_NONE};
    stored sa, sb, sc;
    make_src(&ka, n, kk, 0, &sa), make_src(&kb, n, kk, 0, &sb), make_src(&kc, n, kk, 0, &sc);
    float *x = host_rand((size_t)(m * kk), 1.0f), *ra = malloc((size_t)(m * n) * 4), *rb = malloc((size_t)(m * n) * 4),
          *rc = malloc((size_t)(m * n) * 4);
    rad_weight *ca, *cb, *cc, *ga, *gb, *gc;
    CHECK_OK(cpu->weight_new(cpu, &sa.src, n, kk, "a", &ca));
    CHECK_OK(cpu->weight_new(cpu, &sb.src, n, kk, "b", &cb));
    CHECK_OK(cpu->weight_new(cpu, &sc.src, n, kk, "c", &cc));
    CHECK_OK(gpu->weight_new(gpu, &sa.src, n, kk, "a", &ga));
    CHECK_OK(gpu->weight_new(gpu, &sb.src, n, kk, "b", &gb));
    CHECK_OK(cpu->linear(cpu, x, m, kk, ca, NULL, ra));
    CHECK_OK(cpu->linear(cpu, x, m, kk, cb, NULL, rb));
    CHECK_OK(cpu->linear(cpu, x, m, kk, cc, NULL, rc));
    float *dx = dev_copy(gpu, x, (size_t)(m * kk)), *d1 = dev_poison(gpu, (size_t)(m * n)),
          *d2 = dev_poison(gpu, (size_t)(m * n)), *d3 = dev_poison(gpu, (size_t)(m * n)),
          *d4 = dev_poison(gpu, (size_t)(m * n));
    CHECK_OK(gpu->linear(gpu, dx, m, kk, ga, NULL, d1));
    CHECK_OK(gpu->linear(gpu, dx, m, kk, gb, NULL, d2));
    CHECK_OK(gpu->linear(gpu, dx, m, kk, ga, NULL, d3));
    gpu->weight_free(gpu, ga);
    CHECK_OK(gpu->weight_new(gpu, &sc.src, n, kk, "c", &gc)); /* may reuse a's handle address */
    CHECK_OK(gpu->linear(gpu, dx, m, kk, gc, NULL, d4));
    float *y1 = download(gpu, d1, (size_t)(m * n)), *y2 = download(gpu, d2, (size_t)(m * n)),
          *y3 = download(gpu, d3, (size_t)(m * n)), *y4 = download(gpu, d4, (size_t)(m * n));
    printf("alternating stored weights\n");
    check_rel("Q8_0 weight a", y1, ra, (size_t)(m * n), 1e-2);
    check_rel("F8_E4M3 weight b after a", y2, rb, (size_t)(m * n), 1e-2);
    check_rel("a again after b", y3, ra, (size_t)(m * n), 1e-2);
    check_rel("Q4_K weight c made after a was freed", y4, rc, (size_t)(m * n), 1e-2);
    float *bufs[] = {dx, d1, d2, d3, d4};
    for (int i = 0; i < 5; i++) gpu->free(gpu, bufs[i]);
    cpu->weight_free(cpu, ca), cpu->weight_free(cpu, cb), cpu->weight_free(cpu, cc);
    gpu->weight_free(gpu, gb), gpu->weight_free(gpu, gc);
    free(x), free(ra), free(rb), free(rc), free(y1), free(y2), free(y3), free(y4);
    free_src(&sa), free_src(&sb), free_src(&sc);
}

static void test_linears(void) {
    printf("linear with stored weights\n");
    for (size_t i = 0; i < N_KINDS; i++) {
        test_linear(&k_kinds[i], 37, 200, 256, 1);
        test_linear(&k_kinds[i], 300, 333, 512, 0);
    }
    test_linear(&(kind){RAD_DT_Q4_K, SC_NONE}, 1, 1536, 1536, 1);
    test_linear(&(kind){RAD_DT_F8_E4M3, SC_ROW}, 129, 1000, 1536, 1);
    test_alternating();
}

/* ----------------------------------------------------------------------------------------- conv3d */

static void test_conv(const kind *k, int64_t cin, int64_t kt, int64_t kh, int64_t kw, int64_t cout) {
    const int64_t t = 2, h = 6, w = 7, n_prev = 2, ph = kh / 2, pw = kw / 2, K = cin * kt * kh * kw;
    const size_t nx = (size_t)(cin * t * h * w), np = (size_t)(cin * n_prev * h * w), ny = (size_t)(cout * t * h * w);
    stored s;
    make_src(k, cout, K, 0, &s);
    float *x = host_rand(nx, 1.0f), *prev = host_rand(np, 1.0f), *b = host_rand((size_t)cout, 0.5f),
          *ref = malloc(ny * sizeof(float));
    rad_weight *wc = NULL, *wg = NULL, *wi = NULL;
    CHECK_OK(cpu->weight_new(cpu, &s.src, cout, K, "conv w", &wc));
    CHECK_OK(gpu->weight_new(gpu, &s.src, cout, K, "conv w", &wg));
    CHECK_OK(gpu_im2col->weight_new(gpu_im2col, &s.src, cout, K, "conv w", &wi));
    if (wc && wg && wi) {
        CHECK_OK(cpu->conv3d(cpu, x, cin, t, h, w, prev, n_prev, wc, b, cout, kt, kh, kw, ph, pw, ref));
        char l[64], what[128];
        label(k, l, sizeof l);
        for (int path = 0; path < 2; path++) {
            rad_backend *be = path ? gpu_im2col : gpu;
            void *dx = dev_conv_copy(be, x, nx), *dp = dev_conv_copy(be, prev, np);
            float *db = dev_copy(be, b, (size_t)cout), *dy = dev_poison(be, ny);
            for (int rep = 0; rep < 2; rep++) /* the second call reuses the implicit GEMM's repacked copy */
                CHECK_OK(be->conv3d(be, dx, cin, t, h, w, dp, n_prev, path ? wi : wg, db, cout, kt, kh, kw, ph, pw, dy));
            float *y = download(be, dy, ny);
            snprintf(what, sizeof what, "conv3d %lld->%lld k %lldx%lldx%lld, %s weight (%s)", (long long)cin,
                     (long long)cout, (long long)kt, (long long)kh, (long long)kw, l, path ? "im2col" : "implicit GEMM");
            check_rel(what, y, ref, ny, 1e-2);
            be->free(be, dx), be->free(be, dp), be->free(be, db), be->free(be, dy);
            free(y);
        }
    }
    cpu->weight_free(cpu, wc);
    gpu->weight_free(gpu, wg);
    gpu_im2col->weight_free(gpu_im2col, wi);
    free(x), free(prev), free(b), free(ref);
    free_src(&s);
}

static void test_convs(void) {
    printf("conv3d with stored weights\n");
    test_conv(&(kind){RAD_DT_F8_E4M3, SC_ROW}, 5, 3, 3, 3, 7);
    test_conv(&(kind){RAD_DT_F8_E5M2, SC_NONE}, 4, 1, 3, 3, 6);
    test_conv(&(kind){RAD_DT_Q8_0, SC_NONE}, 32, 3, 3, 3, 20); /* K = 864: 27 blocks */
    test_conv(&(kind){RAD_DT_Q4_K, SC_NONE}, 256, 1, 1, 1, 12);
    test_conv(&(kind){RAD_DT_Q5_0, SC_NONE}, 32, 1, 1, 1, 9);
}

/* ----------------------------------------------------------------------------------------- memory */

/* On a fresh backend (nothing freed yet, so every allocation raises the peak by its size). */
static void test_memory(void) {
    printf("device memory of stored weights\n");
    rad_backend *g = NULL;
    CHECK_OK(rad_backend_cuda(0, &g));
    if (!g) return;
    const int64_t rows = 4096, cols = 4096, n = rows * cols;
    const kind kinds[] = {{RAD_DT_F8_E4M3, SC_ROW}, {RAD_DT_F8_E5M2, SC_NONE}, {RAD_DT_Q4_0, SC_NONE},
                          {RAD_DT_BF16, SC_NONE}, {RAD_DT_F32, SC_NONE}};
    const double per_weight[] = {1.0, 1.0, 18.0 / 32.0, 2.0, 2.0}; /* F32 becomes bf16 on the device */
    const rad_dtype kept[] = {RAD_DT_F8_E4M3, RAD_DT_F8_E5M2, RAD_DT_Q4_0, RAD_DT_BF16, RAD_DT_BF16};
    rad_weight *ws[5] = {0};
    for (int i = 0; i < 5; i++) {
        stored s;
        make_src(&kinds[i], rows, cols, 0, &s);
        const size_t p0 = rad_backend_peak(g);
        CHECK_OK(g->weight_new(g, &s.src, rows, cols, "big w", &ws[i]));
        const size_t grew = rad_backend_peak(g) - p0;
        const size_t expect = (size_t)((double)n * per_weight[i]) + (size_t)s.src.n_scale * sizeof(float);
        rad_dtype dt = RAD_DT_OTHER;
        size_t held = 0;
        if (ws[i]) CHECK_OK(rad_cuda_weight_stored(g, ws[i], &dt, &held));
        char l[64];
        label(&kinds[i], l, sizeof l);
        printf("  %-24s %lldx%lld: peak +%.2f MiB (%.3f bytes a weight), kept as %s, %zu bytes held\n", l,
               (long long)rows, (long long)cols, (double)grew / 1048576.0, (double)grew / (double)n,
               rad_dtype_name(dt), held);
        CHECK(grew == expect);
        CHECK(held == expect);
        CHECK(dt == kept[i]);
        free_src(&s);
    }
    /* the first GEMM with a stored weight grows the dequantisation buffer to its bf16 size, counted */
    const int64_t m = 8;
    float *x = host_rand((size_t)(m * cols), 1.0f), *dx = dev_copy(g, x, (size_t)(m * cols)),
          *dy = dev_poison(g, (size_t)(m * rows));
    const size_t p0 = rad_backend_peak(g);
    CHECK_OK(g->linear(g, dx, m, cols, ws[0], NULL, dy));
    CHECK_OK(g->sync(g));
    const size_t grew = rad_backend_peak(g) - p0;
    printf("  first linear with the fp8 weight: peak +%.2f MiB (dequantised bf16 copy: %.2f MiB)\n",
           (double)grew / 1048576.0, (double)n * 2.0 / 1048576.0);
    CHECK(grew >= (size_t)n * 2);
    const size_t p1 = rad_backend_peak(g);
    CHECK_OK(g->linear(g, dx, m, cols, ws[2], NULL, dy)); /* same size: the buffer is reused */
    CHECK_OK(g->sync(g));
    CHECK(rad_backend_peak(g) == p1);
    for (int i = 0; i < 5; i++) g->weight_free(g, ws[i]);
    g->free(g, dx), g->free(g, dy);
    free(x);
    g->destroy(g);
}

/* ------------------------------------------------------------------------------------------- timing */

/* The dequantisation's time at the 1.3B FFN shape (8960 x 1536): a one-token linear alternating between two
 * stored weights dequantises before every GEMM; the same with two bf16 weights does not; the difference per
 * call is the dequantisation. Printed only (tests measure nothing they assert on). */
static void test_dequant_time(void) {
    printf("dequantisation time (8960 x 1536, one-token linear, stored minus bf16 weights)\n");
    const int64_t rows = 8960, cols = 1536, reps = 200;
    float *x = host_rand((size_t)cols, 1.0f), *dx = dev_copy(gpu, x, (size_t)cols), *dy = dev_poison(gpu, (size_t)rows);
    double bf16_s = 0;
    const kind kinds[] = {{RAD_DT_BF16, SC_NONE}, {RAD_DT_F8_E4M3, SC_ROW}, {RAD_DT_Q4_0, SC_NONE}, {RAD_DT_Q6_K, SC_NONE}};
    for (int i = 0; i < 4; i++) {
        stored s;
        make_src(&kinds[i], rows, cols, 0, &s);
        rad_weight *w[2] = {0};
        CHECK_OK(gpu->weight_new(gpu, &s.src, rows, cols, "timed w", &w[0]));
        CHECK_OK(gpu->weight_new(gpu, &s.src, rows, cols, "timed w", &w[1]));
        if (w[0] && w[1]) {
            for (int r = 0; r < 10; r++) CHECK_OK(gpu->linear(gpu, dx, 1, cols, w[r & 1], NULL, dy)); /* warm-up */
            CHECK_OK(gpu->sync(gpu));
            const double t0 = rad_now();
            for (int r = 0; r < reps; r++) CHECK_OK(gpu->linear(gpu, dx, 1, cols, w[r & 1], NULL, dy));
            CHECK_OK(gpu->sync(gpu));
            const double per = (rad_now() - t0) / (double)reps;
            char l[64];
            label(&kinds[i], l, sizeof l);
            if (i == 0) {
                bf16_s = per;
                printf("  %-24s %.1f us a linear\n", l, per * 1e6);
            } else {
                printf("  %-24s %.1f us a linear: dequantisation ~%.1f us (%.2f MB read, %.1f MB written)\n", l,
                       per * 1e6, (per - bf16_s) * 1e6, (double)s.bytes / 1e6, (double)(rows * cols) * 2.0 / 1e6);
            }
        }
        gpu->weight_free(gpu, w[0]);
        gpu->weight_free(gpu, w[1]);
        free_src(&s);
    }
    gpu->free(gpu, dx), gpu->free(gpu, dy);
    free(x);
}

/* ----------------------------------------------------------------------------------------- errors */

static void test_errors(void) {
    printf("rejected sources\n");
    uint8_t bytes[4096] = {0};
    float sc[3] = {1, 1, 1};
    rad_weight *w = NULL;
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_I32, bytes, NULL, 0}, 4, 8, "int weight", &w));
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_Q4_0, bytes, NULL, 0}, 4, 48, "partial block", &w));
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_F8_E4M3, bytes, sc, 3}, 5, 8, "three scales", &w));
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_Q8_0, NULL, NULL, 0}, 4, 32, "no data", &w));
    CHECK_FAILS(gpu->weight_new(gpu, &(rad_weight_src){RAD_DT_OTHER, bytes, NULL, 0}, 4, 8, "F4 weight", &w));
    CHECK(w == NULL);
    CHECK_FAILS(rad_cuda_weight_bf16(cpu, NULL, NULL)); /* not a CUDA backend */
}

int main(void) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s\n", name);
    if (!gpu_test_backends(&cpu, &gpu, &gpu_im2col)) TEST_MAIN_END();
    test_exactness();
    test_linears();
    test_convs();
    test_memory();
    test_dequant_time();
    test_errors();
    printf("peak device bytes: %.1f MiB\n", (double)rad_backend_peak(gpu) / 1048576.0);
    gpu_im2col->destroy(gpu_im2col);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
