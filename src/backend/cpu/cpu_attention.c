/* CPU attention: dense, with an additive bias (T5), or block-sparse over a block-CSR layout (radial).
 *
 * One algorithm for all three: queries are processed in tiles of QT rows, keys in tiles of KT keys, with the
 * running-max / running-sum ("flash") softmax in fp32, so the full lq x lk score matrix never exists. The
 * block-sparse case only changes which key ranges a query tile visits: the blocks listed for its block row,
 * each clipped to n_tokens, so keys outside the layout (and past the partial last block) are excluded exactly.
 * Work is split over (head, query block) with rad_parallel_for; every slot of the loop has its own scratch.
 * The inner tile kernel is compiled for AVX-512 and AVX2 (with FMA) and baseline x86-64, picked at run time
 * (as the GEMM in cpu_ops.c). Each query row's result depends only on its own inputs, never on the thread count.
 *
 * A query row that sees no key at all (an empty block row, or a bias of -inf everywhere) gets zeros. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"

enum {
    QT = 64,         /* query rows per tile (the accumulator is QT x head_dim) */
    KT = 64,         /* keys per tile (scores are QT x KT) */
    DENSE_ROWS = 64, /* query rows per work item without a mask (with a mask: one block row) */
};

typedef struct attn_ctx attn_ctx;
typedef struct attn_scratch attn_scratch;
/* Folds one key tile into a query tile's running state; one variant per instruction set. */
typedef void (*fold_fn)(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t i0, int64_t i1, int64_t j0,
                        int64_t j1);

struct attn_ctx {
    fold_fn fold;
    const float *q, *k, *v;
    float *out;
    int64_t lq, lk, heads, hd;
    float scale;
    const float *bias;
    const rad_bsr *mask;
    int64_t rows_per_item, items_per_head, n_items, n_slots;
    float *scratch; /* n_slots x slot_floats */
    size_t slot_floats;
};

/* Per-slot scratch: the running state of one query tile and the current key tile, transposed. */
struct attn_scratch {
    float *acc; /* QT x hd: unnormalised output */
    float *m;   /* QT: running max of the scores */
    float *l;   /* QT: running sum of exp(score - m) */
    float *s;   /* QT x KT: scores, then probabilities */
    float *kt;  /* hd x KT: key tile transposed, so that the score loop runs over keys (vectorises) */
};

/* a*b + c, fused where the variant is compiled for FMA (use_fma is a constant after inlining). */
#define MULADD(use_fma, a, b, c) ((use_fma) ? fmaf((a), (b), (c)) : (a) * (b) + (c))

/* acc0/acc1[d0 .. d0+dc) = acc * corr + Σ_j p[j] · v[j, d0 ..] for two query rows at once (they share the v
 * loads; 2 x dc independent accumulators hide the FMA latency). Row 1 is stored only if store1. */
static inline __attribute__((always_inline)) void pv_chunk(float *acc0, float *acc1, int store1, const float *p0,
                                                           const float *p1, float c0, float c1, const float *vt,
                                                           int64_t stride, int64_t nk, int64_t d0, const int dc,
                                                           const int use_fma) {
    float a0[64], a1[64];
    for (int d = 0; d < dc; d++) a0[d] = acc0[d0 + d] * c0, a1[d] = acc1[d0 + d] * c1;
    for (int64_t j = 0; j < nk; j++) {
        const float q0 = p0[j], q1 = p1[j], *vr = vt + j * stride + d0;
        for (int d = 0; d < dc; d++) {
            a0[d] = MULADD(use_fma, q0, vr[d], a0[d]);
            a1[d] = MULADD(use_fma, q1, vr[d], a1[d]);
        }
    }
    for (int d = 0; d < dc; d++) acc0[d0 + d] = a0[d];
    if (store1)
        for (int d = 0; d < dc; d++) acc1[d0 + d] = a1[d];
}

/* Folds keys [j0, j1) (at most KT) into the running state of query rows [i0, i1) of head h, in three passes:
 * scores (two rows at a time against the transposed key tile), the running-max softmax update per row, and
 * P·V (two rows at a time). Inlined into one function per instruction set (below); the fixed trip counts (KT
 * keys, 64/16-dim chunks) let gcc keep the score rows and output chunks in vector registers. */
static inline __attribute__((always_inline)) void fold_tile_body(const attn_ctx *c, const attn_scratch *w,
                                                                 int64_t h, int64_t i0, int64_t i1, int64_t j0,
                                                                 int64_t j1, const int use_fma) {
    const int64_t hd = c->hd, nk = j1 - j0, stride = c->heads * hd, nr = i1 - i0;
    for (int64_t j = 0; j < nk; j++) { /* transpose */
        const float *kr = c->k + (j0 + j) * stride + h * hd;
        for (int64_t d = 0; d < hd; d++) w->kt[d * KT + j] = kr[d];
    }
    if (nk < KT) /* a partial tile: the missing keys score 0 here and are never read below */
        for (int64_t d = 0; d < hd; d++)
            for (int64_t j = nk; j < KT; j++) w->kt[d * KT + j] = 0.0f;

    /* 1. scores s[r][j] = scale · q·k + bias */
    for (int64_t r = 0; r < nr; r += 2) {
        const int64_t r1 = r + 1 < nr ? r + 1 : r; /* an odd last row is computed twice, stored once */
        const float *q0 = c->q + (i0 + r) * stride + h * hd, *q1 = c->q + (i0 + r1) * stride + h * hd;
        float sc0[KT], sc1[KT];
        for (int j = 0; j < KT; j++) sc0[j] = 0.0f, sc1[j] = 0.0f;
        for (int64_t d = 0; d < hd; d++) {
            const float x0 = q0[d], x1 = q1[d], *kd = w->kt + d * KT;
            for (int j = 0; j < KT; j++) {
                sc0[j] = MULADD(use_fma, x0, kd[j], sc0[j]);
                sc1[j] = MULADD(use_fma, x1, kd[j], sc1[j]);
            }
        }
        for (int64_t j = 0; j < nk; j++) w->s[r * KT + j] = sc0[j] * c->scale, w->s[r1 * KT + j] = sc1[j] * c->scale;
    }
    if (c->bias)
        for (int64_t r = 0; r < nr; r++) {
            const float *b = c->bias + (h * c->lq + i0 + r) * c->lk + j0;
            for (int64_t j = 0; j < nk; j++) w->s[r * KT + j] += b[j];
        }

    /* 2. running max and sum; s becomes exp(s - m_new); corr rescales what was accumulated before */
    float corr[QT];
    for (int64_t r = 0; r < nr; r++) {
        float *s = w->s + r * KT, tmax = -INFINITY;
        for (int64_t j = 0; j < nk; j++) tmax = s[j] > tmax ? s[j] : tmax;
        if (tmax == -INFINITY) { /* every key of this tile is excluded by the bias: adds nothing */
            for (int64_t j = 0; j < nk; j++) s[j] = 0.0f;
            corr[r] = 1.0f;
            continue;
        }
        const float m_old = w->m[r], m_new = m_old > tmax ? m_old : tmax;
        corr[r] = expf(m_old - m_new); /* 0 when m_old is -inf (first visible tile) */
        float sum = 0.0f;
        for (int64_t j = 0; j < nk; j++) {
            s[j] = expf(s[j] - m_new);
            sum += s[j];
        }
        w->m[r] = m_new;
        w->l[r] = w->l[r] * corr[r] + sum;
    }

    /* 3. acc = acc · corr + P·V */
    const float *vt = c->v + j0 * stride + h * hd;
    for (int64_t r = 0; r < nr; r += 2) {
        const int two = r + 1 < nr;
        const int64_t r1 = two ? r + 1 : r;
        float *a0 = w->acc + r * hd, *a1 = w->acc + r1 * hd;
        const float *p0 = w->s + r * KT, *p1 = w->s + r1 * KT;
        int64_t d0 = 0;
        for (; d0 + 64 <= hd; d0 += 64) pv_chunk(a0, a1, two, p0, p1, corr[r], corr[r1], vt, stride, nk, d0, 64, use_fma);
        for (; d0 + 16 <= hd; d0 += 16) pv_chunk(a0, a1, two, p0, p1, corr[r], corr[r1], vt, stride, nk, d0, 16, use_fma);
        for (; d0 < hd; d0++) pv_chunk(a0, a1, two, p0, p1, corr[r], corr[r1], vt, stride, nk, d0, 1, use_fma);
    }
}

static void fold_base(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t i0, int64_t i1, int64_t j0,
                      int64_t j1) {
    fold_tile_body(c, w, h, i0, i1, j0, j1, 0);
}
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATTN_HAVE_X86 1
__attribute__((target("avx2,fma"))) static void fold_avx2(const attn_ctx *c, const attn_scratch *w, int64_t h,
                                                          int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    fold_tile_body(c, w, h, i0, i1, j0, j1, 1);
}
__attribute__((target("avx512f,fma,prefer-vector-width=512"))) static void
fold_avx512(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    fold_tile_body(c, w, h, i0, i1, j0, j1, 1);
}
#endif

static fold_fn fold_pick(void) {
#ifdef ATTN_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return fold_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fold_avx2;
#endif
    return fold_base;
}

/* Folds the key range [k0, k1) in tiles of KT. */
static void fold_key_range(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t i0, int64_t i1, int64_t k0,
                           int64_t k1) {
    for (int64_t j0 = k0; j0 < k1; j0 += KT) c->fold(c, w, h, i0, i1, j0, j0 + KT < k1 ? j0 + KT : k1);
}

/* One work item: head h, query rows [r0, r1) (one mask block row, or DENSE_ROWS rows without a mask). */
static void run_item(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t rb) {
    const int64_t r0 = rb * c->rows_per_item;
    const int64_t r1 = r0 + c->rows_per_item < c->lq ? r0 + c->rows_per_item : c->lq;
    const int64_t hd = c->hd, stride = c->heads * hd;
    for (int64_t i0 = r0; i0 < r1; i0 += QT) {
        const int64_t i1 = i0 + QT < r1 ? i0 + QT : r1;
        for (int64_t r = 0; r < i1 - i0; r++) {
            w->m[r] = -INFINITY;
            w->l[r] = 0.0f;
        }
        memset(w->acc, 0, (size_t)(i1 - i0) * (size_t)hd * sizeof(float));
        if (c->mask) {
            const rad_bsr *mk = c->mask;
            for (int32_t e = mk->row_ptr[rb]; e < mk->row_ptr[rb + 1]; e++) {
                const int64_t k0 = (int64_t)mk->col_idx[e] * mk->block;
                const int64_t k1 = k0 + mk->block < c->lk ? k0 + mk->block : c->lk; /* partial last block */
                fold_key_range(c, w, h, i0, i1, k0, k1);
            }
        } else {
            fold_key_range(c, w, h, i0, i1, 0, c->lk);
        }
        for (int64_t i = i0; i < i1; i++) {
            const int64_t r = i - i0;
            const float inv = w->l[r] > 0.0f ? 1.0f / w->l[r] : 0.0f;
            float *o = c->out + i * stride + h * hd;
            const float *acc = w->acc + r * hd;
            for (int64_t d = 0; d < hd; d++) o[d] = acc[d] * inv;
        }
    }
}

/* Slot `s` of the parallel loop handles its share of the (head, query block) items with its own scratch. */
static void run_slots(void *ctx, int64_t begin, int64_t end) {
    const attn_ctx *c = ctx;
    for (int64_t s = begin; s < end; s++) {
        float *base = c->scratch + (size_t)s * c->slot_floats;
        attn_scratch w = {.acc = base};
        w.m = w.acc + (size_t)QT * (size_t)c->hd;
        w.l = w.m + QT;
        w.s = w.l + QT;
        w.kt = w.s + QT * KT;
        const int64_t a = c->n_items * s / c->n_slots, b = c->n_items * (s + 1) / c->n_slots;
        for (int64_t it = a; it < b; it++) run_item(c, &w, it / c->items_per_head, it % c->items_per_head);
    }
}

/* The layout must describe lq == lk tokens and stay inside its own bounds (it may come from anywhere). */
static rad_status check_mask(const rad_bsr *mk, int64_t lq, int64_t lk) {
    if (lq != lk || mk->n_tokens != lq)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "cpu attention: block-CSR mask is for self-attention over %lld tokens, got lq=%lld lk=%lld",
                       (long long)mk->n_tokens, (long long)lq, (long long)lk);
    rad_status s = rad_bsr_check(mk);
    return s == RAD_OK ? RAD_OK : rad_err_prefix(s, "cpu attention: ");
}

rad_status rad_cpu_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                             int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale,
                             const float *bias, const rad_bsr *mask) {
    (void)be;
    if (lq < 0 || lk <= 0 || heads <= 0 || head_dim <= 0)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "cpu attention: need lq >= 0 and lk, heads, head_dim > 0, got lq=%lld lk=%lld heads=%lld "
                       "head_dim=%lld",
                       (long long)lq, (long long)lk, (long long)heads, (long long)head_dim);
    if (lq == 0) return RAD_OK;
    if (mask) RAD_TRY(check_mask(mask, lq, lk));

    attn_ctx c = {.fold = fold_pick(), .q = q, .k = k, .v = v, .out = out, .lq = lq, .lk = lk, .heads = heads, .hd = head_dim,
                  .scale = scale, .bias = bias, .mask = mask};
    c.rows_per_item = mask ? mask->block : DENSE_ROWS;
    c.items_per_head = (lq + c.rows_per_item - 1) / c.rows_per_item;
    if (c.items_per_head > INT64_MAX / heads)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu attention: %lld heads x %lld query blocks overflow",
                       (long long)heads, (long long)c.items_per_head);
    c.n_items = heads * c.items_per_head;
    c.n_slots = rad_get_threads();
    if (c.n_slots > c.n_items) c.n_slots = c.n_items;

    /* acc (QT x hd) + m, l (QT each) + s (QT x KT) + kt (hd x KT) floats per slot. */
    size_t per_hd, slot, total;
    if (!rad_mul_size((size_t)head_dim, QT + KT, &per_hd) || !rad_add_size(per_hd, 2 * QT + QT * KT, &slot) ||
        !rad_mul_size(slot, (size_t)c.n_slots, &total))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu attention: head_dim=%lld too large", (long long)head_dim);
    c.slot_floats = slot;
    RAD_TRY(rad_calloc((void **)&c.scratch, total, sizeof(float), "cpu attention scratch"));
    rad_parallel_for(c.n_slots, 1, run_slots, &c);
    rad_free(c.scratch);
    return RAD_OK;
}
