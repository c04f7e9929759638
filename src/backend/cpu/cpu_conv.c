/* CPU VAE ops: causal 3-D convolution, channel RMS norm, nearest 2x upsample, strided copy. Convolution inputs
 * are fp32 here (conv_dtype RAD_DT_F32): to_conv_dtype is a copy.
 *
 * conv3d is an implicit GEMM: y[cout, pixels] = W[cout, K] · X[K, pixels] with K = cin·kt·kh·kw in PyTorch
 * weight order (ci, dt, dy, dx), and X never materialised as a whole. Work items are (output frame, output row,
 * run of XC output columns); for each item and each block of CB input channels, a thread copies the input rows
 * the item reads into a small zero-padded "panel" (rows (ci, dt, dy), columns x0-pw ...), so padding, the
 * causal front zeros and the `prev` frames are resolved once per row instead of per multiply. A register tile
 * of MR output channels x NR output columns then runs over the block's K range (DEFINE_KERNEL).
 *
 * Accumulation order is fixed and independent of the thread count and tile sizes: every output element is
 * ((0 + w_0·x_0) + w_1·x_1 + ...) over k ascending, then + bias; partial sums between channel blocks are
 * stored to y and reloaded in fp32, which changes nothing. The only machine dependence is whether the kernel
 * fuses the multiply-add (see below). */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"

enum {
    MR = 12,  /* output channels per register tile (a multiple of 6) */
    NR = 32,  /* output columns per register tile (a multiple of 16) */
    XC = 128, /* output columns per work item (a multiple of NR) */
    PANEL_BYTES = 192 * 1024, /* target size of one channel block's panel (fits L2 with the weights) */
};

/* acc[MR][NR] += sum over the block's rows r and taps dx of wp[(r·kw+dx)][i] · panel[r][xo + dx + j].
 *
 * The column direction uses vector types so that the NROWS x NCOLS accumulators of a pass stay in registers
 * (plain loops get vectorised across i, with shuffles). Three builds, picked at run time: AVX-512 (16-wide,
 * fused multiply-add, the whole 12 x 32 tile in 24 registers), AVX2 + FMA (8-wide, four passes of 6 x 16)
 * and portable 4-wide vectors without fusion (every x86-64 has SSE2; elsewhere the compiler lowers them),
 * eight passes of 6 x 8. The two fused builds round identically; the portable one rounds each product, so
 * its results differ in the last bits. */
typedef float vf4 __attribute__((vector_size(16), aligned(4)));

#define DEFINE_KERNEL(NAME, ATTR, VT, VW, NROWS, NCOLS, SPLAT, MADD)                                        \
    ATTR static void NAME(const float *restrict wp, const float *restrict panel, int64_t rows, int64_t kw,  \
                          int64_t panel_w, int64_t xo, float acc[MR][NR]) {                                 \
        enum { NVEC = (NCOLS) / (VW) };                                                                     \
        for (int r0 = 0; r0 < MR; r0 += (NROWS))                                                            \
            for (int j0 = 0; j0 < NR; j0 += (NCOLS)) {                                                      \
                VT c[NROWS][NVEC];                                                                          \
                for (int i = 0; i < (NROWS); i++)                                                           \
                    for (int v = 0; v < NVEC; v++) c[i][v] = *(const VT *)(acc[r0 + i] + j0 + v * (VW));     \
                const float *w = wp + r0;                                                                   \
                for (int64_t r = 0; r < rows; r++) {                                                        \
                    const float *b0 = panel + r * panel_w + xo + j0;                                        \
                    for (int64_t dx = 0; dx < kw; dx++) {                                                   \
                        VT b[NVEC];                                                                         \
                        for (int v = 0; v < NVEC; v++) b[v] = *(const VT *)(b0 + dx + v * (VW));             \
                        for (int i = 0; i < (NROWS); i++) {                                                 \
                            const VT a = SPLAT(w[i]);                                                       \
                            for (int v = 0; v < NVEC; v++) c[i][v] = MADD(a, b[v], c[i][v]);                \
                        }                                                                                   \
                        w += MR;                                                                            \
                    }                                                                                       \
                }                                                                                           \
                for (int i = 0; i < (NROWS); i++)                                                           \
                    for (int v = 0; v < NVEC; v++) *(VT *)(acc[r0 + i] + j0 + v * (VW)) = c[i][v];           \
            }                                                                                               \
    }

typedef void (*kernel_fn)(const float *restrict, const float *restrict, int64_t, int64_t, int64_t, int64_t,
                          float[MR][NR]);
static _Atomic int conv_isa_cap = 2; /* tests: 0 portable, 1 up to AVX2, 2 up to AVX-512 */

#define SPLAT4(x) ((vf4){(x), (x), (x), (x)})
#define MADD_PLAIN(a, b, c) ((c) + (a) * (b))
DEFINE_KERNEL(kernel_portable, , vf4, 4, 6, 8, SPLAT4, MADD_PLAIN)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
typedef float vf8 __attribute__((vector_size(32), aligned(4)));
typedef float vf16 __attribute__((vector_size(64), aligned(4)));
#define SPLAT8(x) ((vf8)_mm256_set1_ps(x))
#define MADD8(a, b, c) ((vf8)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define SPLAT16(x) ((vf16)_mm512_set1_ps(x))
#define MADD16(a, b, c) ((vf16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
DEFINE_KERNEL(kernel_avx2, __attribute__((target("avx2,fma"))), vf8, 8, 6, 16, SPLAT8, MADD8)
DEFINE_KERNEL(kernel_avx512, __attribute__((target("avx512f"))), vf16, 16, 12, 32, SPLAT16, MADD16)
static kernel_fn pick_kernel(void) {
    __builtin_cpu_init();
    if (conv_isa_cap >= 2 && __builtin_cpu_supports("avx512f")) return kernel_avx512;
    if (conv_isa_cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernel_avx2;
    return kernel_portable;
}
#else
static kernel_fn pick_kernel(void) { return kernel_portable; }
#endif
void rad_cpu_conv3d_isa_cap(int level) { conv_isa_cap = level; }

typedef struct {
    const float *x, *prev, *bias;
    int64_t cin, t, h, w, n_prev, cout, kt, kh, kw, ph, pw, ho, wo;
    const float *wpack; /* [cout/MR blocks][K][MR], rows past cout zero */
    int64_t k_total, cb, n_xc, panel_w;
    float *y;
    kernel_fn kernel;
    _Atomic int failed; /* a thread could not allocate its panel */
} conv_ctx;

/* The input plane [h, w] of channel ci that output frame f reads at tap dt, or NULL for a causal zero frame.
 * Sequence position s = f + dt - (kt-1): s >= 0 is x frame s, s < 0 is prev frame n_prev + s if it exists. */
static const float *src_frame(const conv_ctx *c, int64_t ci, int64_t f, int64_t dt) {
    const int64_t s = f + dt - (c->kt - 1), plane = c->h * c->w;
    if (s >= 0) return c->x + (ci * c->t + s) * plane;
    if (c->prev && c->n_prev + s >= 0) return c->prev + (ci * c->n_prev + c->n_prev + s) * plane;
    return NULL;
}

static void conv_range(void *vctx, int64_t begin, int64_t end) {
    conv_ctx *c = vctx;
    const int64_t rows_per_ci = c->kt * c->kh, taps = rows_per_ci * c->kw;
    float *panel;
    if (rad_alloc((void **)&panel, (size_t)(c->cb * rows_per_ci * c->panel_w) * sizeof(float), "conv3d panel")) {
        c->failed = 1;
        return;
    }
    for (int64_t item = begin; item < end; item++) {
        const int64_t xi = item % c->n_xc, yo = (item / c->n_xc) % c->ho, f = item / (c->n_xc * c->ho);
        const int64_t x0 = xi * XC, xn = (c->wo - x0 < XC) ? c->wo - x0 : XC;
        for (int64_t c0 = 0; c0 < c->cin; c0 += c->cb) {
            const int64_t cn = (c->cin - c0 < c->cb) ? c->cin - c0 : c->cb;
            const bool first = c0 == 0, last = c0 + cn == c->cin;
            /* Panel rows (ci, dt, dy): input row yo+dy-ph of the frame tap dt reads, columns x0-pw+j. */
            for (int64_t ci = 0; ci < cn; ci++)
                for (int64_t dt = 0; dt < c->kt; dt++) {
                    const float *plane = src_frame(c, c0 + ci, f, dt);
                    for (int64_t dy = 0; dy < c->kh; dy++) {
                        float *row = panel + ((ci * c->kt + dt) * c->kh + dy) * c->panel_w;
                        const int64_t yi = yo + dy - c->ph;
                        memset(row, 0, (size_t)c->panel_w * sizeof(float));
                        if (!plane || yi < 0 || yi >= c->h) continue;
                        const int64_t xs = x0 - c->pw;
                        int64_t j0 = xs < 0 ? -xs : 0, j1 = c->w - xs;
                        if (j1 > c->panel_w) j1 = c->panel_w;
                        if (j1 > j0) memcpy(row + j0, plane + yi * c->w + xs + j0, (size_t)(j1 - j0) * sizeof(float));
                    }
                }
            for (int64_t co0 = 0; co0 < c->cout; co0 += MR) {
                const int64_t mn = (c->cout - co0 < MR) ? c->cout - co0 : MR;
                const float *wp = c->wpack + (co0 * c->k_total + c0 * taps * MR);
                for (int64_t xo = 0; xo < xn; xo += NR) {
                    const int64_t nn = (xn - xo < NR) ? xn - xo : NR;
                    float acc[MR][NR];
                    float *yb = c->y + ((co0 * c->t + f) * c->ho + yo) * c->wo + x0 + xo;
                    const int64_t ystride = c->t * c->ho * c->wo;
                    memset(acc, 0, sizeof acc); /* also the unused rows/columns of an edge tile */
                    if (!first) {
                        for (int64_t i = 0; i < mn; i++) memcpy(acc[i], yb + i * ystride, (size_t)nn * sizeof(float));
                    }
                    c->kernel(wp, panel, cn * rows_per_ci, c->kw, c->panel_w, xo, acc);
                    for (int64_t i = 0; i < mn; i++) {
                        if (last && c->bias)
                            for (int64_t j = 0; j < nn; j++) acc[i][j] += c->bias[co0 + i];
                        memcpy(yb + i * ystride, acc[i], (size_t)nn * sizeof(float));
                    }
                }
            }
        }
    }
    rad_free(panel);
}

/* Packs W [cout, K] into MR-row blocks [K][MR] (zero rows past cout) so the tile reads MR weights per k. */
static void pack_range(void *vctx, int64_t begin, int64_t end) {
    const void **a = vctx;
    const rad_weight *wt = a[0];
    float *dst = (float *)a[1];
    const int64_t K = wt->cols, cout = wt->rows;
    for (int64_t blk = begin; blk < end; blk++) {
        float *d = dst + blk * MR * K;
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < MR; i++) {
                const int64_t co = blk * MR + i;
                d[k * MR + i] = co < cout ? wt->data[co * K + k] : 0.0f;
            }
    }
}

typedef struct {
    const float *x;
    float *y;
} copy_f32_ctx;

static void copy_f32_range(void *vctx, int64_t begin, int64_t end) {
    const copy_f32_ctx *c = vctx;
    memcpy(c->y + begin, c->x + begin, (size_t)(end - begin) * sizeof(float));
}

rad_status rad_cpu_to_conv_dtype(rad_backend *be, const float *x, int64_t n, void *y) {
    (void)be;
    if (n < 0 || (n > 0 && (!x || !y)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "to_conv_dtype: bad arguments (%lld elements)", (long long)n);
    copy_f32_ctx c = {x, y};
    rad_parallel_for(n, 1 << 18, copy_f32_range, &c);
    return RAD_OK;
}

rad_status rad_cpu_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                          const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                          int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    (void)be;
    RAD_TRY(rad_conv3d_check("conv3d", cin, t, h, w, prev, n_prev, wt ? wt->rows : -1, wt ? wt->cols : -1, cout, kt,
                             kh, kw, ph, pw));
    const int64_t ho = h + 2 * ph - kh + 1, wo = w + 2 * pw - kw + 1;
    const int64_t K = cin * kt * kh * kw;

    const int64_t n_blk = (cout + MR - 1) / MR;
    float *wpack;
    size_t pack_bytes;
    const int64_t pack_shape[3] = {n_blk * MR, K, 1};
    RAD_TRY(rad_shape_bytes(pack_shape, 3, sizeof(float), &pack_bytes));
    RAD_TRY(rad_alloc((void **)&wpack, pack_bytes, "conv3d packed weights"));
    const void *pack_args[2] = {wt, wpack};
    rad_parallel_for(n_blk, 4, pack_range, (void *)pack_args);

    conv_ctx c = {.x = x, .prev = kt > 1 ? prev : NULL, .bias = bias, .cin = cin, .t = t, .h = h, .w = w,
                  .n_prev = kt > 1 ? n_prev : 0, .cout = cout, .kt = kt, .kh = kh, .kw = kw, .ph = ph, .pw = pw,
                  .ho = ho, .wo = wo, .wpack = wpack, .k_total = K, .y = y, .kernel = pick_kernel()};
    const int64_t xc_pad = wo < XC ? (wo + NR - 1) / NR * NR : XC;
    c.panel_w = xc_pad + kw - 1;
    c.n_xc = (wo + XC - 1) / XC;
    const int64_t row_bytes = kt * kh * c.panel_w * (int64_t)sizeof(float);
    c.cb = PANEL_BYTES / row_bytes;
    if (c.cb < 1) c.cb = 1;
    if (c.cb > cin) c.cb = cin;
    const int64_t items = t * ho * c.n_xc;
    /* Small items (a narrow row) are grouped so that a thread gets at least ~1 MFLOP. */
    const int64_t flop_item = 2 * cout * K * (wo < XC ? wo : XC);
    rad_parallel_for(items, flop_item >= (1 << 20) ? 1 : ((1 << 20) + flop_item - 1) / flop_item, conv_range, &c);
    rad_free(wpack);
    if (c.failed) return rad_err(RADIAL_ERR_NOMEM, "conv3d: out of memory for the per-thread panels");
    return RAD_OK;
}

typedef struct {
    const float *x, *gamma;
    float *y;
    int64_t c, s;
} norm_ctx;

/* Columns [begin, end) of x [c, s]: the sum of squares runs over rows (contiguous inner loop) in double. */
static void norm_range(void *vctx, int64_t begin, int64_t end) {
    const norm_ctx *n = vctx;
    enum { COLS = 256 };
    double ss[COLS];
    float den[COLS];
    const float scale = sqrtf((float)n->c);
    for (int64_t j0 = begin; j0 < end; j0 += COLS) {
        const int64_t nj = (end - j0 < COLS) ? end - j0 : COLS;
        for (int64_t j = 0; j < nj; j++) ss[j] = 0.0;
        for (int64_t ch = 0; ch < n->c; ch++) {
            const float *xr = n->x + ch * n->s + j0;
            for (int64_t j = 0; j < nj; j++) ss[j] += (double)xr[j] * xr[j];
        }
        for (int64_t j = 0; j < nj; j++) {
            const float norm = (float)sqrt(ss[j]);
            den[j] = norm > 1e-12f ? norm : 1e-12f; /* F.normalize: x / max(||x||, eps) */
        }
        for (int64_t ch = 0; ch < n->c; ch++) {
            const float *xr = n->x + ch * n->s + j0;
            float *yr = n->y + ch * n->s + j0;
            const float g = n->gamma ? n->gamma[ch] : 1.0f;
            for (int64_t j = 0; j < nj; j++) yr[j] = xr[j] / den[j] * scale * g;
        }
    }
}

rad_status rad_cpu_rmsnorm_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                    float *y) {
    (void)be;
    if (c < 1 || s < 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "rmsnorm_channels: bad shape %lld x %lld", (long long)c,
                       (long long)s);
    norm_ctx n = {x, gamma, y, c, s};
    rad_parallel_for(s, 4096, norm_range, &n);
    return RAD_OK;
}

/* rmsnorm_channels then silu (backend.h; conv_dtype is fp32 here, so y is the fp32 result). */
rad_status rad_cpu_rmsnorm_silu_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                         void *y) {
    RAD_TRY(rad_cpu_rmsnorm_channels(be, x, c, s, gamma, (float *)y));
    return rad_cpu_silu(be, (float *)y, c * s);
}

typedef struct {
    const float *x;
    float *y;
    int64_t h, w;
} up_ctx;

/* Rows [begin, end) over (channel, input row): each input row becomes two identical output rows. */
static void up_range(void *vctx, int64_t begin, int64_t end) {
    const up_ctx *u = vctx;
    for (int64_t r = begin; r < end; r++) {
        const float *xr = u->x + r * u->w;
        float *y0 = u->y + r * 4 * u->w, *y1 = y0 + 2 * u->w;
        for (int64_t j = 0; j < u->w; j++) y0[2 * j] = y0[2 * j + 1] = xr[j];
        memcpy(y1, y0, (size_t)(2 * u->w) * sizeof(float));
    }
}

rad_status rad_cpu_upsample2x(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y) {
    (void)be;
    if (c < 0 || h < 0 || w < 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "upsample2x: bad shape %lld x %lld x %lld", (long long)c,
                       (long long)h, (long long)w);
    up_ctx u = {x, y, h, w};
    rad_parallel_for(c * h, 64, up_range, &u);
    return RAD_OK;
}

typedef struct {
    unsigned char *dst;
    const unsigned char *src;
    size_t dp, sp, n;
} copy_ctx;

static void copy_range(void *vctx, int64_t begin, int64_t end) {
    const copy_ctx *c = vctx;
    for (int64_t r = begin; r < end; r++) memcpy(c->dst + (size_t)r * c->dp, c->src + (size_t)r * c->sp, c->n);
}

rad_status rad_cpu_copy2d(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                          size_t row_bytes, size_t rows) {
    (void)be;
    if (!rows || !row_bytes) return RAD_OK;
    if (!dst || !src || (rows > 1 && (dst_pitch < row_bytes || src_pitch < row_bytes)) || rows > INT64_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "copy2d: bad arguments (rows %zu of %zu bytes, pitches %zu, %zu)",
                       rows, row_bytes, dst_pitch, src_pitch);
    copy_ctx c = {dst, src, dst_pitch, src_pitch, row_bytes};
    rad_parallel_for((int64_t)rows, (int64_t)((1 << 20) / row_bytes + 1), copy_range, &c);
    return RAD_OK;
}
