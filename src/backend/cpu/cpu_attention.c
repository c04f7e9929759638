/* CPU attention: dense, with an additive bias (T5), or block-sparse over a block-CSR layout (radial).
 *
 * One algorithm for all three: queries are processed in tiles of up to QT rows, keys in tiles of up to KT keys,
 * with the running-max / running-sum ("flash") softmax in fp32, so the full lq x lk score matrix never exists.
 * The block-sparse case only changes which key ranges a query tile visits: the blocks listed for its block row,
 * each clipped to n_tokens, so keys outside the layout (and past the partial last block) are excluded exactly.
 *
 * Everything inside a query tile is kept transposed, queries along the vector lanes:
 *   Qᵀ [hd][QT]   the tile's queries, packed once per query tile (zeros past its last row);
 *   Sᵀ [KT][QT]   Sᵀ[j][i] = Σ_d K[j][d] · Qᵀ[d][i], then scale and bias, then exp(s − m[i]);
 *   Oᵀ [hd][QT]   Oᵀ[d][i] = corr[i] · Oᵀ[d][i] + Σ_j V[j][d] · Sᵀ[j][i].
 * Both products are the same register-tiled micro-kernel as the linear GEMM (cpu_ops.c): MR rows of broadcast
 * A values (key rows read in place for QKᵀ, value rows read in place for PV) times NR query columns of B, MR x NR
 * accumulators in registers. Only Qᵀ needs packing, and it is reused by every key tile. The softmax then runs
 * down the key rows of Sᵀ with each query column in its own vector lane: the running max, the rescale factor
 * corr and the running sum are plain vector operations, and exp is the vectorisable rad_vexpf (cpu_vexp.h).
 *
 * The tile code is compiled for AVX-512 and AVX2 (with FMA) and baseline x86-64, picked at run time (as the
 * GEMM). Work is split over (head, query block) with rad_parallel_for; every slot has its own scratch. Each
 * output depends only on its own query row and a fixed order of operations (the d sum of a score, then keys in
 * order), never on the thread count or the tiling of the other queries.
 *
 * A query row that sees no key at all (an empty block row, or a bias of -inf everywhere) gets zeros. */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_vexp.h"
#include "base/mem.h"
#include "base/threads.h"

enum {
    QT = 256,        /* query columns per tile (Qᵀ, Sᵀ and Oᵀ rows hold QT floats); 256 rather than 128: each
                        key and value tile read serves twice the queries (+6 % at 4,680 keys, one thread) */
    KT = 128,        /* keys per tile (one radial mask block) */
    DENSE_ROWS = QT, /* query rows per work item without a mask (with a mask: one block row) */
    TB = 16,         /* the transposes (Qᵀ, bias tile, output) handle TB rows of the QT-wide side at a time: the
                        TB lines they fill column by column stay in L1 (QT-float rows map to few cache sets) */
    MAXR = 8,        /* largest micro-kernel MR: Sᵀ and Oᵀ get MAXR spare rows for a partial last row group */
};

typedef struct attn_ctx attn_ctx;
typedef struct attn_scratch attn_scratch;
/* Folds one key tile into a query tile's running state; one variant per instruction set. */
typedef void (*fold_fn)(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t nr, int64_t j0, int64_t nk);

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

/* Per-slot scratch: one query tile's packed queries and running state, and the current score tile. */
struct attn_scratch {
    float *qt; /* hd x QT: Qᵀ */
    float *ot; /* (hd + MAXR) x QT: unnormalised Oᵀ */
    float *st; /* (KT + MAXR) x QT: scores, then probabilities */
    float *bt; /* KT x QT: the bias tile, transposed */
    float *m;  /* QT: running max of the scores */
    float *l;  /* QT: running sum of exp(score - m) */
};

/* The micro-kernel, the linear GEMM's register tiling: for r < MR, j < NR (rows of c and b QT floats apart),
 *   c[r][j] = INIT + Σ_p a[r][p·APS] · b[p][j],   p in [0, np) in order,
 * with MR x NR accumulators in registers and the a values broadcast. FMA is fmaf or a plain multiply-add. */
#define ATTN_KERNEL_BODY(MR, NR, APS, INIT, FMA)                                          \
    float acc[MR][NR];                                                                    \
    for (int r = 0; r < MR; r++)                                                          \
        for (int j = 0; j < NR; j++) acc[r][j] = INIT;                                    \
    for (int64_t p = 0; p < np; p++) {                                                    \
        const float *bp = b + p * QT;                                                     \
        for (int r = 0; r < MR; r++) {                                                    \
            const float ar = a[r][p * (APS)];                                             \
            for (int j = 0; j < NR; j++) acc[r][j] = FMA(ar, bp[j], acc[r][j]);           \
        }                                                                                 \
    }                                                                                     \
    for (int r = 0; r < MR; r++)                                                          \
        for (int j = 0; j < NR; j++) c[r * QT + j] = acc[r][j];

/* Scores: c = Σ_p a[r][p] · b[p] (a: MR key rows, b: Qᵀ, np = hd). */
typedef void (*qk_fn)(int64_t np, const float *const *a, const float *b, float *c);
/* Output: c = c · cin + Σ_p a[r][p·aps] · b[p] (a: MR value columns, b: probabilities, np = keys, cin: corr). */
typedef void (*pv_fn)(int64_t np, const float *const *a, int64_t aps, const float *b, float *c, const float *cin);

#define ATTN_MULADD(a, b, c) ((a) * (b) + (c))

/* Folds keys [j0, j0 + nk) (nk <= KT) into the running state of the current query tile (nr rows of head h, Qᵀ
 * already packed). qk and pv are the MR x NR kernel for A rows read contiguously (key rows) and with a stride
 * (value columns); inlined into one function per instruction set, where the softmax loops vectorise. */
static inline __attribute__((always_inline)) void fold_body(const attn_ctx *c, const attn_scratch *w, int64_t h,
                                                            int64_t nr, int64_t j0, int64_t nk,
                                                            qk_fn qk, pv_fn pv, const int mr, const int nrv,
                                                            const int use_fma) {
    const int64_t hd = c->hd, stride = c->heads * hd;
    const int64_t ncol = (nr + nrv - 1) / nrv * nrv; /* query columns computed: whole NR panels */
    const float *kh = c->k + j0 * stride + h * hd, *vh = c->v + j0 * stride + h * hd;
    const float *a[MAXR];

    /* 1. Sᵀ = K · Qᵀ, MR keys (in place, the last group repeating its last key) x NR queries at a time. */
    for (int64_t jg = 0; jg < nk; jg += mr) {
        for (int r = 0; r < mr; r++) a[r] = kh + (jg + r < nk ? jg + r : nk - 1) * stride;
        for (int64_t ic = 0; ic < ncol; ic += nrv) qk(hd, a, w->qt + ic, w->st + jg * QT + ic);
    }

    /* 2. s = scale · Sᵀ + bias; running max m, rescale factor corr = exp(m_old − m_new), Sᵀ = exp(s − m_new),
     * running sum l. mu is m_new, or -FLT_MAX while the row has seen only -inf (then exp(-inf − mu) = 0 and
     * corr = 0: the zero state stays zero). Vectorised over the query columns; the key loop runs in order. */
    float tmax[QT], mu[QT], corr[QT], sum[QT];
    const float scale = c->scale;
    for (int64_t i = 0; i < ncol; i++) tmax[i] = -INFINITY;
    if (c->bias) {
        for (int64_t j = 0; j < nk; j++) {
            float *s = w->st + j * QT;
            const float *b = w->bt + j * QT;
            for (int64_t i = 0; i < ncol; i++) {
                const float x = s[i] * scale + b[i];
                s[i] = x;
                tmax[i] = x > tmax[i] ? x : tmax[i];
            }
        }
    } else {
        for (int64_t j = 0; j < nk; j++) {
            float *s = w->st + j * QT;
            for (int64_t i = 0; i < ncol; i++) {
                const float x = s[i] * scale;
                s[i] = x;
                tmax[i] = x > tmax[i] ? x : tmax[i];
            }
        }
    }
    for (int64_t i = 0; i < ncol; i++) {
        const float m_new = w->m[i] > tmax[i] ? w->m[i] : tmax[i];
        mu[i] = m_new < -FLT_MAX ? -FLT_MAX : m_new;
        corr[i] = rad_vexpf(w->m[i] - mu[i], use_fma);
        w->m[i] = m_new;
        sum[i] = 0.0f;
    }
    for (int64_t j = 0; j < nk; j++) {
        float *s = w->st + j * QT;
        for (int64_t i = 0; i < ncol; i++) {
            const float p = rad_vexpf(s[i] - mu[i], use_fma);
            s[i] = p;
            sum[i] += p;
        }
    }
    for (int64_t i = 0; i < ncol; i++) w->l[i] = w->l[i] * corr[i] + sum[i];

    /* 3. Oᵀ = corr · Oᵀ + Vᵀ · P, MR head dims (value columns, in place) x NR queries at a time. */
    for (int64_t dg = 0; dg < hd; dg += mr) {
        for (int r = 0; r < mr; r++) a[r] = vh + (dg + r < hd ? dg + r : hd - 1);
        for (int64_t ic = 0; ic < ncol; ic += nrv) pv(nk, a, stride, w->st + ic, w->ot + dg * QT + ic, corr + ic);
    }
}

/* One set of kernels and one fold per instruction set (MR x NR as the GEMM's: the accumulators fill the vector
 * registers; QT is a multiple of every NR, so a query tile is whole panels). */
#define ATTN_VARIANT(SUFFIX, TARGET, MR, NR, FMA, USE_FMA)                                                        \
    _Static_assert((MR) <= MAXR && QT % (NR) == 0, "attention tile sizes");                                       \
    TARGET static void qk_##SUFFIX(int64_t np, const float *const *a, const float *b, float *c) {                 \
        ATTN_KERNEL_BODY(MR, NR, 1, 0.0f, FMA)                                                                    \
    }                                                                                                             \
    TARGET static void pv_##SUFFIX(int64_t np, const float *const *a, int64_t aps, const float *b, float *c,       \
                                   const float *cin) {                                                            \
        ATTN_KERNEL_BODY(MR, NR, aps, c[r * QT + j] * cin[j], FMA)                                                \
    }                                                                                                             \
    TARGET static void fold_##SUFFIX(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t nr, int64_t j0,  \
                                     int64_t nk) {                                                                \
        fold_body(c, w, h, nr, j0, nk, qk_##SUFFIX, pv_##SUFFIX, MR, NR, USE_FMA);                                \
    }

ATTN_VARIANT(base, , 4, 8, ATTN_MULADD, 0)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ATTN_HAVE_X86 1
ATTN_VARIANT(avx2, __attribute__((target("avx2,fma"))), 6, 16, fmaf, 1)
ATTN_VARIANT(avx512, __attribute__((target("avx512f,fma,prefer-vector-width=512"))), 8, 32, fmaf, 1)
#endif

static _Atomic int attn_isa_cap = 2;
void rad_cpu_attention_isa_cap(int level) { atomic_store(&attn_isa_cap, level); }

static fold_fn fold_pick(void) {
#ifdef ATTN_HAVE_X86
    const int cap = atomic_load(&attn_isa_cap);
    __builtin_cpu_init();
    if (cap >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return fold_avx512;
    if (cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return fold_avx2;
#endif
    return fold_base;
}

/* Folds the key range [k0, k1) in tiles of KT (with a bias: its tile transposed into bt first). */
static void fold_key_range(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t i0, int64_t nr, int64_t k0,
                           int64_t k1) {
    for (int64_t j0 = k0; j0 < k1; j0 += KT) {
        const int64_t nk = j0 + KT < k1 ? KT : k1 - j0;
        if (c->bias)
            for (int64_t jb = 0; jb < nk; jb += TB) {
                const int64_t je = jb + TB < nk ? jb + TB : nk;
                for (int64_t i = 0; i < nr; i++) {
                    const float *b = c->bias + (h * c->lq + i0 + i) * c->lk + j0;
                    for (int64_t j = jb; j < je; j++) w->bt[j * QT + i] = b[j];
                }
                for (int64_t j = jb; j < je; j++)
                    for (int64_t i = nr; i < QT; i++) w->bt[j * QT + i] = 0.0f;
            }
        c->fold(c, w, h, nr, j0, nk);
    }
}

/* One work item: head h, query rows [r0, r1) (one mask block row, or DENSE_ROWS rows without a mask). */
static void run_item(const attn_ctx *c, const attn_scratch *w, int64_t h, int64_t rb) {
    const int64_t r0 = rb * c->rows_per_item;
    const int64_t r1 = r0 + c->rows_per_item < c->lq ? r0 + c->rows_per_item : c->lq;
    const int64_t hd = c->hd, stride = c->heads * hd;
    for (int64_t i0 = r0; i0 < r1; i0 += QT) {
        const int64_t nr = i0 + QT < r1 ? QT : r1 - i0;
        for (int64_t d0 = 0; d0 < hd; d0 += TB) { /* pack Qᵀ, zeros past the last row */
            const int64_t d1 = d0 + TB < hd ? d0 + TB : hd;
            for (int64_t i = 0; i < nr; i++) {
                const float *qr = c->q + (i0 + i) * stride + h * hd;
                for (int64_t d = d0; d < d1; d++) w->qt[d * QT + i] = qr[d];
            }
            for (int64_t d = d0; d < d1; d++)
                for (int64_t i = nr; i < QT; i++) w->qt[d * QT + i] = 0.0f;
        }
        for (int64_t i = 0; i < QT; i++) {
            w->m[i] = -INFINITY;
            w->l[i] = 0.0f;
        }
        memset(w->ot, 0, (size_t)(hd + MAXR) * QT * sizeof(float));
        if (c->mask) {
            const rad_bsr *mk = c->mask;
            for (int32_t e = mk->row_ptr[rb]; e < mk->row_ptr[rb + 1]; e++) {
                const int64_t k0 = (int64_t)mk->col_idx[e] * mk->block;
                const int64_t k1 = k0 + mk->block < c->lk ? k0 + mk->block : c->lk; /* partial last block */
                fold_key_range(c, w, h, i0, nr, k0, k1);
            }
        } else {
            fold_key_range(c, w, h, i0, nr, 0, c->lk);
        }
        float inv[QT];
        for (int64_t i = 0; i < nr; i++) inv[i] = w->l[i] > 0.0f ? 1.0f / w->l[i] : 0.0f;
        for (int64_t d0 = 0; d0 < hd; d0 += TB) {
            const int64_t d1 = d0 + TB < hd ? d0 + TB : hd;
            for (int64_t i = 0; i < nr; i++) {
                float *o = c->out + (i0 + i) * stride + h * hd;
                for (int64_t d = d0; d < d1; d++) o[d] = w->ot[d * QT + i] * inv[i];
            }
        }
    }
}

/* Slot `s` of the parallel loop handles its share of the (head, query block) items with its own scratch. */
static void run_slots(void *ctx, int64_t begin, int64_t end) {
    const attn_ctx *c = ctx;
    for (int64_t s = begin; s < end; s++) {
        float *base = c->scratch + (size_t)s * c->slot_floats;
        attn_scratch w = {.qt = base};
        w.ot = w.qt + (size_t)c->hd * QT;
        w.st = w.ot + (size_t)(c->hd + MAXR) * QT;
        w.bt = w.st + (KT + MAXR) * QT;
        w.m = w.bt + KT * QT;
        w.l = w.m + QT;
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

    attn_ctx c = {.fold = fold_pick(), .q = q, .k = k, .v = v, .out = out, .lq = lq, .lk = lk, .heads = heads,
                  .hd = head_dim, .scale = scale, .bias = bias, .mask = mask};
    c.rows_per_item = mask ? mask->block : DENSE_ROWS;
    c.items_per_head = (lq + c.rows_per_item - 1) / c.rows_per_item;
    if (c.items_per_head > INT64_MAX / heads)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu attention: %lld heads x %lld query blocks overflow",
                       (long long)heads, (long long)c.items_per_head);
    c.n_items = heads * c.items_per_head;
    c.n_slots = rad_get_threads();
    if (c.n_slots > c.n_items) c.n_slots = c.n_items;

    /* Qᵀ (hd x QT) + Oᵀ ((hd + MAXR) x QT) + Sᵀ ((KT + MAXR) x QT) + bias tile (KT x QT) + m, l (QT each). */
    size_t rows, slot, total;
    if (!rad_mul_size((size_t)head_dim, 2, &rows) || !rad_add_size(rows, MAXR + KT + MAXR + KT + 2, &rows) ||
        !rad_mul_size(rows, QT, &slot) || !rad_mul_size(slot, (size_t)c.n_slots, &total))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cpu attention: head_dim=%lld too large", (long long)head_dim);
    c.slot_floats = slot;
    RAD_TRY(rad_calloc((void **)&c.scratch, total, sizeof(float), "cpu attention scratch"));
    rad_parallel_for(c.n_slots, 1, run_slots, &c);
    rad_free(c.scratch);
    return RAD_OK;
}
