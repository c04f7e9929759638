/* CPU ops of the DiT area: memory, weights, linear (GEMM), norms, elementwise, rope3d, transpose.
 *
 * Determinism: every op computes each output with a fixed order of operations that does not depend on the
 * thread count (threads split outputs, never a sum). The GEMM sums over k sequentially in blocks of
 * GEMM_KC; the only machine dependence is whether the CPU has FMA (a fused multiply-add rounds once). */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"

/* ------------------------------------------------------------------------------------------------------
 * Memory. Each block carries a 64-byte header with its size so that each backend counts its own bytes and peak
 * in a memory account of its own (be->state: two contexts of one process each see theirs); ops called without a
 * backend (be NULL, as the tests' direct calls) count nowhere. */
#define CPU_HDR 64

static void cpu_count(rad_backend *be, size_t add, size_t sub) {
    if (be) rad_mem_account_count(be->state, add, sub);
}

rad_status rad_cpu_alloc(rad_backend *be, size_t bytes, const char *what, void **out) {
    size_t total;
    *out = NULL;
    if (!rad_add_size(bytes, CPU_HDR, &total))
        return rad_err(RADIAL_ERR_NOMEM, "cpu alloc: %zu bytes for %s overflow", bytes, what);
    unsigned char *p;
    RAD_TRY(rad_alloc((void **)&p, total, what));
    memcpy(p, &bytes, sizeof bytes);
    cpu_count(be, bytes, 0);
    *out = p + CPU_HDR;
    return RAD_OK;
}

void rad_cpu_free(rad_backend *be, void *p) {
    if (!p) return;
    unsigned char *base = (unsigned char *)p - CPU_HDR;
    size_t bytes;
    memcpy(&bytes, base, sizeof bytes);
    cpu_count(be, 0, bytes);
    rad_free(base);
}

rad_status rad_cpu_upload(rad_backend *be, void *dst, const void *src_host, size_t bytes) {
    (void)be;
    if (bytes && (!dst || !src_host)) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu upload: NULL buffer");
    if (bytes) memmove(dst, src_host, bytes);
    return RAD_OK;
}

rad_status rad_cpu_download(rad_backend *be, void *dst_host, const void *src, size_t bytes) {
    (void)be;
    if (bytes && (!dst_host || !src)) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu download: NULL buffer");
    if (bytes) memmove(dst_host, src, bytes);
    return RAD_OK;
}

rad_status rad_cpu_weight_new(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols, const char *name,
                              rad_weight **out) {
    *out = NULL;
    const char *nm = name ? name : "weight";
    size_t src_bytes;
    RAD_TRY(rad_weight_src_check("cpu weight", src, rows, cols, nm, &src_bytes));
    int64_t shape[2] = {rows, cols};
    size_t bytes;
    RAD_TRY(rad_shape_bytes(shape, 2, sizeof(float), &bytes));
    rad_weight *w;
    RAD_TRY(rad_cpu_alloc(be, sizeof *w, nm, (void **)&w));
    rad_status s = rad_cpu_alloc(be, bytes, nm, (void **)&w->data);
    if (s != RAD_OK) {
        rad_cpu_free(be, w);
        return s;
    }
    rad_weight_src_rows_f32(src, cols, 0, rows, w->data); /* the reference keeps fp32 of whatever was stored */
    w->rows = rows;
    w->cols = cols;
    *out = w;
    return RAD_OK;
}

void rad_cpu_weight_free(rad_backend *be, rad_weight *w) {
    if (!w) return;
    rad_cpu_free(be, w->data);
    rad_cpu_free(be, w);
}

void rad_cpu_mem_stats(rad_backend *be, int reset, rad_mem_stats *out) {
    rad_mem_account *m = be ? be->state : NULL;
    *out = (rad_mem_stats){.held = rad_mem_account_current(m), .peak = rad_mem_account_peak(m)};
    if (reset) rad_mem_account_reset_peak(m);
}

/* ------------------------------------------------------------------------------------------------------
 * Linear: y[m, n] = x[m, k] · w[n, k]ᵀ + b.
 *
 * Blocking: the output is cut into items (column strips of at most GEMM_NC weight rows, split into row chunks
 * until every thread has a few items), one thread slot per range of items. Inside an item, k runs in blocks of
 * GEMM_KC; the item's weight block (KC x NC) is packed once into NR-column panels, k-major, so NR consecutive
 * floats are one or two vector loads (the block stays in L2). The register-tiled micro-kernel then sweeps the
 * item's rows MR at a time (those x rows stay in L1, read in place with broadcast loads) across the panels.
 *
 * The micro-kernel keeps MR x NR independent accumulators; gcc vectorises the j loop. It is compiled for
 * AVX-512 and AVX2 (with FMA) and for baseline x86-64, picked at run time. Every variant adds the k terms of
 * one output in the same order (sequentially, block after block), so results do not depend on the tiling or
 * the thread count. Measured on the 2-core AMD EPYC dev VM: ~95 GFLOP/s per core at DiT shapes. */
#define GEMM_KC 512 /* measured best among 128..512 on the dev VM (32 KB L1, 1 MB L2 per core) */
#define GEMM_NC 256 /* widest column strip: its packed weight block (KC x NC = 512 KB) stays in L2 */
#define GEMM_MIN_ROWS 64 /* shortest row chunk of an item */
#define GEMM_MAXR 8
#define GEMM_MAXC 32

typedef void (*gemm_kernel_fn)(int64_t kc, const float *const *a, const float *bp, float *c, int64_t ldc,
                               int first);

/* c[i][j] (row stride ldc) = (first ? 0 : c[i][j]) + Σ_p a[i][p] · bp[p][j], p in [0, kc) in order.
 * FMA selects fused multiply-add. */
#define GEMM_KERNEL_BODY(MR, NR, FMA)                                                  \
    float acc[MR][NR];                                                                 \
    const float *ar[MR];                                                               \
    for (int i = 0; i < MR; i++) {                                                     \
        ar[i] = a[i];                                                                  \
        for (int j = 0; j < NR; j++) acc[i][j] = first ? 0.0f : c[i * ldc + j];        \
    }                                                                                  \
    for (int64_t p = 0; p < kc; p++) {                                                 \
        const float *b = bp + p * NR;                                                  \
        for (int i = 0; i < MR; i++) {                                                 \
            const float ai = ar[i][p];                                                 \
            for (int j = 0; j < NR; j++) acc[i][j] = FMA(ai, b[j], acc[i][j]);         \
        }                                                                              \
    }                                                                                  \
    for (int i = 0; i < MR; i++)                                                       \
        for (int j = 0; j < NR; j++) c[i * ldc + j] = acc[i][j];

#define GEMM_MULADD(a, b, c) ((a) * (b) + (c))

static void gemm_kernel_base(int64_t kc, const float *const *a, const float *bp, float *c, int64_t ldc, int first) {
    GEMM_KERNEL_BODY(4, 8, GEMM_MULADD)
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GEMM_HAVE_X86 1
__attribute__((target("avx2,fma"))) static void gemm_kernel_avx2(int64_t kc, const float *const *a,
                                                                 const float *bp, float *c, int64_t ldc,
                                                                 int first) {
    GEMM_KERNEL_BODY(6, 16, fmaf)
}
__attribute__((target("avx512f,fma,prefer-vector-width=512"))) static void
gemm_kernel_avx512(int64_t kc, const float *const *a, const float *bp, float *c, int64_t ldc, int first) {
    GEMM_KERNEL_BODY(8, 32, fmaf)
}
#endif

typedef struct {
    gemm_kernel_fn fn;
    int mr, nr;
} gemm_kernel;

static _Atomic int gemm_max_isa = 2;
void rad_cpu_gemm_max_isa(int level) { atomic_store(&gemm_max_isa, level); }

static gemm_kernel gemm_pick(void) {
#ifdef GEMM_HAVE_X86
    const int max = atomic_load(&gemm_max_isa);
    __builtin_cpu_init();
    if (max >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return (gemm_kernel){gemm_kernel_avx512, 8, 32};
    if (max >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (gemm_kernel){gemm_kernel_avx2, 6, 16};
#endif
    return (gemm_kernel){gemm_kernel_base, 4, 8};
}

typedef struct {
    const float *x, *w, *bias;
    float *y;
    int64_t m, n, k;
    int64_t nc, n_nb, mc, m_nb; /* item = mc rows x nc columns; nc a multiple of NR, mc of MR */
    int64_t n_items, n_slots;
    float *bpack; /* n_slots x slot_floats */
    size_t slot_floats;
    gemm_kernel kern;
} gemm_job;

/* Packs w[j0 .. j1, p0 .. p0+kc) as NR-column panels bp[panel][p][j]; columns past j1 are zero. */
static void pack_b(const gemm_job *g, int64_t j0, int64_t j1, int64_t p0, int64_t kc, float *bp) {
    const int nr = g->kern.nr;
    for (int64_t jr = j0; jr < j1; jr += nr, bp += kc * nr) {
        const float *wr[GEMM_MAXC];
        const int nv = jr + nr <= j1 ? nr : (int)(j1 - jr);
        for (int j = 0; j < nr; j++) wr[j] = g->w + (jr + (j < nv ? j : nv - 1)) * g->k + p0;
        if (nv == nr) { /* sequential stores; nr read streams, prefetched (too many for the hardware) */
            for (int64_t q = 0; q < kc; q += 16) {
                for (int j = 0; j < nr; j++) __builtin_prefetch(wr[j] + q + 64);
                for (int64_t p = q; p < q + 16 && p < kc; p++)
                    for (int j = 0; j < nr; j++) bp[p * nr + j] = wr[j][p];
            }
        } else
            for (int64_t p = 0; p < kc; p++)
                for (int j = 0; j < nr; j++) bp[p * nr + j] = j < nv ? wr[j][p] : 0.0f;
    }
}

/* One item: for each k block, pack its weight block once (it stays in L2), then sweep the item's rows MR at a
 * time (those x rows stay in L1) across the packed panels. */
static void gemm_item(const gemm_job *g, int64_t it, float *bpk) {
    const int mr = g->kern.mr, nr = g->kern.nr;
    float tile[GEMM_MAXR * GEMM_MAXC] __attribute__((aligned(64)));
    const int64_t i0 = (it / g->n_nb) * g->mc, j0 = (it % g->n_nb) * g->nc;
    const int64_t i1 = i0 + g->mc < g->m ? i0 + g->mc : g->m;
    const int64_t j1 = j0 + g->nc < g->n ? j0 + g->nc : g->n;
    for (int64_t p0 = 0; p0 < g->k; p0 += GEMM_KC) {
        const int64_t kc = p0 + GEMM_KC < g->k ? GEMM_KC : g->k - p0;
        const int first = p0 == 0, last = p0 + kc == g->k;
        pack_b(g, j0, j1, p0, kc, bpk);
        for (int64_t ir = i0; ir < i1; ir += mr) {
            const int mv = ir + mr <= i1 ? mr : (int)(i1 - ir);
            const float *a[GEMM_MAXR];
            for (int i = 0; i < mr; i++) a[i] = g->x + (ir + (i < mv ? i : mv - 1)) * g->k + p0;
            for (int64_t jr = j0; jr < j1; jr += nr) {
                const int nv = jr + nr <= j1 ? nr : (int)(j1 - jr);
                const float *bp = bpk + (jr - j0) * kc;
                float *yt = g->y + ir * g->n + jr;
                if (mv == mr && nv == nr) { /* full tile: accumulate in y directly */
                    g->kern.fn(kc, a, bp, yt, g->n, first);
                } else { /* edge tile: through a zero-padded copy */
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < nr; j++)
                            tile[i * nr + j] = (first || i >= mv || j >= nv) ? 0.0f : yt[i * g->n + j];
                    g->kern.fn(kc, a, bp, tile, nr, 0);
                    for (int i = 0; i < mv; i++)
                        for (int j = 0; j < nv; j++) yt[i * g->n + j] = tile[i * nr + j];
                }
                if (last && g->bias)
                    for (int i = 0; i < mv; i++)
                        for (int j = 0; j < nv; j++) yt[i * g->n + j] += g->bias[jr + j];
            }
        }
    }
}

/* One slot per thread, each with its own weight-pack buffer, over a contiguous range of items. */
static void gemm_slots(void *ctx, int64_t begin, int64_t end) {
    const gemm_job *g = ctx;
    for (int64_t s = begin; s < end; s++) {
        float *bpk = g->bpack + (size_t)s * g->slot_floats;
        for (int64_t it = g->n_items * s / g->n_slots; it < g->n_items * (s + 1) / g->n_slots; it++)
            gemm_item(g, it, bpk);
    }
}

rad_status rad_cpu_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                          const float *bias, float *y) {
    (void)be;
    if (!w || m < 0 || k != w->cols)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu linear: x is [%lld, %lld] but the weight is [%lld, %lld]",
                       (long long)m, (long long)k, w ? (long long)w->rows : -1LL, w ? (long long)w->cols : -1LL);
    if (m == 0) return RAD_OK;
    gemm_job g = {.x = x, .w = w->data, .bias = bias, .y = y, .m = m, .n = w->rows, .k = k, .kern = gemm_pick()};
    const int mr = g.kern.mr, nr = g.kern.nr;
    /* Items: column strips of at most GEMM_NC, cut into row chunks (of at least GEMM_MIN_ROWS) until every
     * thread has about four items; only when the rows run out are the strips narrowed (small m: each weight
     * block is then still packed once). Wide strips and long chunks keep packing and x re-reads cheap. */
    const int64_t threads = rad_get_threads(), panels = (g.n + nr - 1) / nr, want = 4 * threads;
    const int64_t row_tiles = (m + mr - 1) / mr, max_m_nb = (m + GEMM_MIN_ROWS - 1) / GEMM_MIN_ROWS;
    int64_t n_nb = (g.n + GEMM_NC - 1) / GEMM_NC;
    int64_t m_nb = (want + n_nb - 1) / n_nb;
    if (m_nb > max_m_nb) m_nb = max_m_nb;
    if (n_nb * m_nb < want) n_nb = (want + m_nb - 1) / m_nb;
    if (n_nb > panels) n_nb = panels;
    g.nc = (panels + n_nb - 1) / n_nb * nr;
    g.n_nb = (g.n + g.nc - 1) / g.nc;
    g.mc = (row_tiles + m_nb - 1) / m_nb * mr;
    g.m_nb = (m + g.mc - 1) / g.mc;
    g.n_items = g.m_nb * g.n_nb;
    g.n_slots = threads < g.n_items ? threads : g.n_items;
    g.slot_floats = (size_t)(k < GEMM_KC ? k : GEMM_KC) * (size_t)g.nc;
    RAD_TRY(rad_alloc((void **)&g.bpack, (size_t)g.n_slots * g.slot_floats * sizeof(float), "linear weight pack"));
    rad_parallel_for(g.n_slots, 1, gemm_slots, &g);
    rad_free(g.bpack);
    return RAD_OK;
}

/* ffn (backend.h): linear, gelu_tanh, linear per row chunk of fp32 hidden state. */
rad_status rad_cpu_ffn(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                       const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y) {
    int64_t chunk = 0;
    RAD_TRY(rad_ffn_check("cpu ffn", m, d, w1 ? w1->rows : -1, w1 ? w1->cols : -1, w2 ? w2->rows : -1,
                          w2 ? w2->cols : -1, hidden_floats, sizeof(float), &chunk));
    for (int64_t r = 0; r < m; r += chunk) {
        const int64_t rows = m - r < chunk ? m - r : chunk;
        RAD_TRY(rad_cpu_linear(be, x + r * d, rows, d, w1, b1, hidden));
        RAD_TRY(rad_cpu_gelu_tanh(be, hidden, rows * w1->rows));
        RAD_TRY(rad_cpu_linear(be, hidden, rows, w1->rows, w2, b2, y + r * d));
    }
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------------------
 * Norms: statistics in double (two passes for the variance), output in float. */
typedef struct {
    const float *x, *w, *b;
    float *y;
    int64_t d;
    float eps;
} norm_job;

static void layernorm_rows(void *ctx, int64_t r0, int64_t r1) {
    const norm_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->d;
        float *y = j->y + r * j->d;
        double s = 0.0, ss = 0.0;
        for (int64_t c = 0; c < j->d; c++) s += x[c];
        const double mean = s / (double)j->d;
        for (int64_t c = 0; c < j->d; c++) ss += (x[c] - mean) * (x[c] - mean);
        const double rstd = 1.0 / sqrt(ss / (double)j->d + (double)j->eps);
        for (int64_t c = 0; c < j->d; c++) {
            float v = (float)((x[c] - mean) * rstd);
            if (j->w) v *= j->w[c];
            if (j->b) v += j->b[c];
            y[c] = v;
        }
    }
}

static void rmsnorm_rows(void *ctx, int64_t r0, int64_t r1) {
    const norm_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->d;
        float *y = j->y + r * j->d;
        double ss = 0.0;
        for (int64_t c = 0; c < j->d; c++) ss += (double)x[c] * x[c];
        const double rs = 1.0 / sqrt(ss / (double)j->d + (double)j->eps);
        for (int64_t c = 0; c < j->d; c++) {
            float v = (float)(x[c] * rs);
            y[c] = j->w ? v * j->w[c] : v;
        }
    }
}

static int64_t rows_per_chunk(int64_t d) { return d >= 4096 ? 1 : 4096 / (d > 0 ? d : 1); }

rad_status rad_cpu_layernorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w,
                             const float *b, float eps, float *y) {
    (void)be;
    if (m < 0 || d <= 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu layernorm: bad shape [%lld, %lld]", (long long)m, (long long)d);
    norm_job j = {x, w, b, y, d, eps};
    rad_parallel_for(m, rows_per_chunk(d), layernorm_rows, &j);
    return RAD_OK;
}

rad_status rad_cpu_rmsnorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps,
                           float *y) {
    (void)be;
    if (m < 0 || d <= 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu rmsnorm: bad shape [%lld, %lld]", (long long)m, (long long)d);
    norm_job j = {x, w, NULL, y, d, eps};
    rad_parallel_for(m, rows_per_chunk(d), rmsnorm_rows, &j);
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------------------
 * Elementwise. */
#define EW_CHUNK 16384

/* GELU, tanh approximation (PyTorch approximate='tanh'): 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
 * Written as x / (1 + exp(−2u)), the same function without the cancellation of 1 + tanh(u) near −1. */
static inline float gelu_tanh1(float x) {
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

typedef struct {
    float *a;
    const float *g;
} ew_job;

static void gelu_range(void *ctx, int64_t i0, int64_t i1) {
    float *x = ((ew_job *)ctx)->a;
    for (int64_t i = i0; i < i1; i++) x[i] = gelu_tanh1(x[i]);
}
static void silu_range(void *ctx, int64_t i0, int64_t i1) {
    float *x = ((ew_job *)ctx)->a;
    for (int64_t i = i0; i < i1; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}
static void mul_gelu_range(void *ctx, int64_t i0, int64_t i1) {
    const ew_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) j->a[i] *= gelu_tanh1(j->g[i]);
}

rad_status rad_cpu_gelu_tanh(rad_backend *be, float *x, int64_t n) {
    (void)be;
    ew_job j = {x, NULL};
    rad_parallel_for(n, EW_CHUNK, gelu_range, &j);
    return RAD_OK;
}
rad_status rad_cpu_silu(rad_backend *be, float *x, int64_t n) {
    (void)be;
    ew_job j = {x, NULL};
    rad_parallel_for(n, EW_CHUNK, silu_range, &j);
    return RAD_OK;
}
rad_status rad_cpu_mul_gelu(rad_backend *be, float *a, const float *g, int64_t n) {
    (void)be;
    ew_job j = {a, g};
    rad_parallel_for(n, EW_CHUNK, mul_gelu_range, &j);
    return RAD_OK;
}

typedef struct {
    const float *x, *v1, *v2;
    float *y;
    int64_t d;
} row_job;

static void modulate_rows(void *ctx, int64_t r0, int64_t r1) {
    const row_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->d;
        float *y = j->y + r * j->d;
        for (int64_t c = 0; c < j->d; c++) y[c] = x[c] * (1.0f + j->v2[c]) + j->v1[c];
    }
}
static void add_gated_rows(void *ctx, int64_t r0, int64_t r1) {
    const row_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *src = j->x + r * j->d;
        float *dst = j->y + r * j->d;
        if (j->v1)
            for (int64_t c = 0; c < j->d; c++) dst[c] += src[c] * j->v1[c];
        else
            for (int64_t c = 0; c < j->d; c++) dst[c] += src[c];
    }
}

rad_status rad_cpu_modulate(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift,
                            const float *scale, float *y) {
    (void)be;
    if (m < 0 || d <= 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu modulate: bad shape [%lld, %lld]", (long long)m, (long long)d);
    row_job j = {x, shift, scale, y, d};
    rad_parallel_for(m, rows_per_chunk(d) * 4, modulate_rows, &j);
    return RAD_OK;
}
rad_status rad_cpu_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate) {
    (void)be;
    if (m < 0 || d <= 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu add_gated: bad shape [%lld, %lld]", (long long)m, (long long)d);
    row_job j = {y, gate, NULL, x, d};
    rad_parallel_for(m, rows_per_chunk(d) * 4, add_gated_rows, &j);
    return RAD_OK;
}

/* The fused chain of backend.h: on the CPU simply the three ops in order (so bit-identical to them by
 * construction); the fusion pays on a device, where each op is a pass over memory. */
rad_status rad_cpu_add_norm_modulate(rad_backend *be, float *x, const float *r, const float *gate, int64_t m,
                                     int64_t d, const float *w, const float *b, float eps, const float *shift,
                                     const float *scale, float *y) {
    if (!shift != !scale)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu add_norm_modulate: shift and scale must both be given or both NULL");
    if (r) RAD_TRY(rad_cpu_add_gated(be, x, r, m, d, gate));
    RAD_TRY(rad_cpu_layernorm(be, x, m, d, w, b, eps, y));
    return shift ? rad_cpu_modulate(be, y, m, d, shift, scale, y) : RAD_OK;
}

/* ------------------------------------------------------------------------------------------------------
 * 3-D RoPE (spec wan21.md §1.4). head_dim d splits into pairs: the first d/2 − 2·(d/6) pairs rotate with the
 * frame index, the next d/6 with the row, the last d/6 with the column; pair m of an axis with dim_axis
 * channels has ω_m = 10000^(−2m/dim_axis). Angles, cos/sin and the rotation are computed in double and
 * rounded to float once, as the official code does in float64. */
typedef struct {
    float *x;
    const double *cs; /* per position table: [F | H | W positions][pairs of that axis][cos, sin] */
    int64_t h, w, heads, hd;
    int64_t pt, ph; /* pairs of the frame and height axes (width has ph too) */
    int64_t off_h, off_w; /* table offsets */
} rope_job;

static void rope_rows(void *ctx, int64_t t0, int64_t t1) {
    const rope_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t fi = t / (j->h * j->w), hi = (t / j->w) % j->h, wi = t % j->w;
        const double *ct = j->cs + fi * j->pt * 2;
        const double *chh = j->cs + j->off_h + hi * j->ph * 2;
        const double *cw = j->cs + j->off_w + wi * j->ph * 2;
        for (int64_t hh = 0; hh < j->heads; hh++) {
            float *x = j->x + (t * j->heads + hh) * j->hd;
            for (int64_t m = 0; m < j->hd / 2; m++) {
                const double *c = m < j->pt ? ct + 2 * m
                                 : m < j->pt + j->ph ? chh + 2 * (m - j->pt)
                                                     : cw + 2 * (m - j->pt - j->ph);
                const double a = x[2 * m], b = x[2 * m + 1];
                x[2 * m] = (float)(a * c[0] - b * c[1]);
                x[2 * m + 1] = (float)(a * c[1] + b * c[0]);
            }
        }
    }
}

static void rope_table(double *cs, int64_t npos, int64_t pairs, int64_t dim_axis) {
    for (int64_t p = 0; p < npos; p++)
        for (int64_t m = 0; m < pairs; m++) {
            const double omega = pow(10000.0, -(double)(2 * m) / (double)dim_axis);
            const double ang = (double)p * omega;
            cs[(p * pairs + m) * 2] = cos(ang);
            cs[(p * pairs + m) * 2 + 1] = sin(ang);
        }
}

rad_status rad_cpu_rope3d(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads,
                          int64_t head_dim) {
    (void)be;
    if (f <= 0 || h <= 0 || w <= 0 || heads <= 0 || head_dim < 6 || head_dim % 2)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu rope3d: bad shape f=%lld h=%lld w=%lld heads=%lld head_dim=%lld",
                       (long long)f, (long long)h, (long long)w, (long long)heads, (long long)head_dim);
    const int64_t ph = head_dim / 6, pt = head_dim / 2 - 2 * ph; /* pairs per axis */
    size_t npos, n, tok;
    if (!rad_add_size((size_t)f, (size_t)h, &npos) || !rad_add_size(npos, (size_t)w, &npos) ||
        !rad_mul_size((size_t)f, (size_t)h, &tok) || !rad_mul_size(tok, (size_t)w, &tok) ||
        !rad_mul_size(npos, (size_t)(pt > ph ? pt : ph) * 2, &n))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu rope3d: sizes overflow");
    double *cs;
    RAD_TRY(rad_calloc((void **)&cs, n, sizeof(double), "rope3d table"));
    const int64_t off_h = f * pt * 2, off_w = off_h + h * ph * 2;
    rope_table(cs, f, pt, 2 * pt);
    rope_table(cs + off_h, h, ph, 2 * ph);
    rope_table(cs + off_w, w, ph, 2 * ph);
    rope_job j = {x, cs, h, w, heads, head_dim, pt, ph, off_h, off_w};
    rad_parallel_for((int64_t)tok, 64, rope_rows, &j);
    rad_free(cs);
    return RAD_OK;
}

/* rmsnorm then rope3d in place (backend.h): the two ops in order, as add_norm_modulate. */
rad_status rad_cpu_rmsnorm_rope3d(rad_backend *be, float *x, const float *nw, float eps, int64_t f, int64_t h,
                                  int64_t w, int64_t heads, int64_t head_dim) {
    size_t tok, d;
    if (f <= 0 || h <= 0 || w <= 0 || heads <= 0 || head_dim <= 0 || !rad_mul_size((size_t)f, (size_t)h, &tok) ||
        !rad_mul_size(tok, (size_t)w, &tok) || !rad_mul_size((size_t)heads, (size_t)head_dim, &d) ||
        tok > (size_t)INT64_MAX || d > (size_t)INT64_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu rmsnorm_rope3d: bad shape f=%lld h=%lld w=%lld heads=%lld head_dim=%lld",
                       (long long)f, (long long)h, (long long)w, (long long)heads, (long long)head_dim);
    RAD_TRY(rad_cpu_rmsnorm(be, x, (int64_t)tok, (int64_t)d, nw, eps, x));
    return rad_cpu_rope3d(be, x, f, h, w, heads, head_dim);
}

/* ------------------------------------------------------------------------------------------------------
 * Transpose in 32 x 32 tiles (cache-friendly on both sides); threads split the output rows. */
typedef struct {
    const float *x;
    float *y;
    int64_t rows, cols;
} tr_job;

static void transpose_range(void *ctx, int64_t b0, int64_t b1) {
    const tr_job *j = ctx;
    for (int64_t cb = b0; cb < b1; cb++) { /* output row block = input column block */
        const int64_t c0 = cb * 32, c1 = c0 + 32 < j->cols ? c0 + 32 : j->cols;
        for (int64_t r0 = 0; r0 < j->rows; r0 += 32) {
            const int64_t r1 = r0 + 32 < j->rows ? r0 + 32 : j->rows;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) j->y[c * j->rows + r] = j->x[r * j->cols + c];
        }
    }
}

rad_status rad_cpu_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y) {
    (void)be;
    if (rows < 0 || cols < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu transpose: bad shape");
    if (x == y && rows > 1 && cols > 1) return rad_err(RADIAL_ERR_INVALID_ARG, "cpu transpose: cannot run in place");
    tr_job j = {x, y, rows, cols};
    rad_parallel_for((cols + 31) / 32, 1, transpose_range, &j);
    return RAD_OK;
}
