/* The CUDA ops table (rad_backend_cuda, backend.h): the same contract as the CPU backend, on one GPU.
 *
 * Numerics (DESIGN.md "Numerics"): weights are kept in device memory as the file stores them. F32, F16 and
 * BF16 sources become bf16 once, in weight_new, on the host (round to nearest even; a file scale applied in
 * fp32 first; bf16 itself is copied as is); fp8 (e4m3fn, e5m2) stays 1 byte a weight plus its scale (none,
 * one, or one per row, fp32), and GGUF block types stay the blocks of the file (Q4_0: 18 bytes per 32
 * weights), so device memory follows the file size. Before each GEMM a non-bf16 weight is dequantised into a
 * scratch bf16 matrix (dequant.cu: ggml's math in fp32, rounded once to bf16: bit-identical to the host's fp32
 * dequantisation rounded to bf16; weight_bf16 says why and what it costs), so every weight computes as "its
 * fp32 value rounded to bf16", the contract of a bf16 checkpoint. Activations stay fp32. linear feeds bf16
 * operands to cuBLASLt with fp32 accumulation and fp32 output (the bias in the GEMM epilogue); conv3d takes
 * its inputs as bf16 arrays (conv_dtype: the caller rounds them once with to_conv_dtype and may keep them so,
 * half the memory of fp32) and is an implicit GEMM on the tensor cores (conv_igemm.cu: fp32 accumulation; a
 * stored weight is dequantised once, before its repacking), with im2col + cuBLASLt as the fallback for
 * geometries outside its index ranges and as a reference (environment RADIAL_CUDA_CONV=im2col selects it for
 * a whole backend); norms, modulation, residual adds and RoPE run in fp32 (norm statistics and RoPE in
 * double, as the CPU). Attention with head_dim 128 and no bias goes to the bf16 tensor-core kernels of
 * cuda_attention.h (v3 on Hopper, the portable mma.sync kernel on other sm_80+ cards), dense self- and
 * cross-attention through full block layouts;
 * everything else (bias, other head dims) to the fp32 generic kernel.
 *
 * bf16 shadows: converting a GEMM's fp32 input to bf16 costs a full read of it, so the ops whose output
 * usually feeds a GEMM (norms, modulate, gelu, RoPE, attention) also write a bf16 copy, and linear converts
 * only what has no copy (and keeps its conversion: q, k, v share one). Each copy records the fp32 range it
 * mirrors; every op invalidates the copies its output range overlaps before it writes, so a copy is used only
 * while its fp32 source is unchanged. A few slots, least recently used evicted.
 *
 * fp8 GEMM mode (set_gemm RAD_GEMM_FP8, opt-in; gemm_fp8.cu): linear sends the large GEMMs (fp8_emul.h) to
 * cuBLASLt's fp8 path with e4m3 operands scaled per token and per output channel; the activations' quantisation
 * is read from the bf16 shadow when there is one and is cached and invalidated with the shadows; weights are
 * read as stored (e4m3) or quantised per row (weight_fp8). Everything else is unchanged by the mode.
 *
 * fp8 attention (set_attention RAD_ATTN_FP8, opt-in, Hopper only): self-attention (lq == lk, head_dim 128, no bias)
 * takes the bf16 copies of q, k, v as the bf16 kernels would, quantises them into one scratch buffer (e4m3 Q, smoothed
 * K, transposed V and their scales; attn_fp8_quant.cu) and runs the fp8 kernel (attn_fp8_wgmma.cu); cross-attention
 * stays on the bf16 kernels.
 *
 * Execution: every op is queued on the context's own stream (non-blocking: it never waits for the legacy default
 * stream, nor for another context's work) and returns without waiting; upload and download are queued on it too
 * and waited for (so download also waits for the queued ops, and a failure of an earlier kernel surfaces there).
 * Memory comes from cudaMalloc; every buffer the backend holds (activations, weights as stored and their scales,
 * shadows, scratch including the dequantised-weight buffer, staging buffers, the cuBLASLt workspace) is counted in
 * mem_stats, beside the driver's count of the whole device, sampled after every allocation and staging.
 *
 * Streamed weights (weight_new_host, stage): the bytes a resident weight would hold on the device live in
 * page-locked host memory; stage() copies a group into the next of RAD_STAGE_SLOTS device buffers on a
 * non-blocking copy stream, after an event that marks the compute queued so far (which may still read the
 * slot's previous group), and records a second event the compute stream waits on before the first op that
 * reads the group. Each weight remembers its slot and the slot's generation, so a use after the slot was
 * reused is an error, not a read of another layer's bytes.
 *
 * Profiling (backend/profile.h): every op runs inside an NVTX range named by its op family ("gemm", "attention
 * radial", ...; op_range below) and range_push/range_pop are NVTX ranges, so Nsight Systems shows the stages and
 * op families on its timeline and Nsight Compute can pick kernels by them; NVTX3 is header-only (no library to
 * link) and costs a few nanoseconds a call while no tool is attached. prof_mark records CUDA events (one per
 * slot, made at first use) on the compute stream, only while a profile is attached. */
#include <cublasLt.h>
#include <nvtx3/nvToolsExt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cublaslt_util.cuh"
#include "backend/cuda/cuda_kernels.cuh"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/gemm_fp8.cuh"

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/cuda_ffn.h"
#include "backend/profile.h"
#include "backend/cuda/cuda_weight.h"
#include "base/half.h"
#include "base/mem.h"
#include "base/threads.h"
}

struct rad_weight {
    int64_t rows, cols;
    /* As kept on the device: RAD_DT_BF16 (from an F32, F16 or BF16 source) or the stored dtype (F8_E4M3,
     * F8_E5M2, a GGUF block type: see weight_bf16). */
    rad_dtype dtype;
    void *data;       /* device: bf16 [rows, cols], or the stored bytes (rows rows of bytes / rows bytes each) */
    size_t bytes;     /* of data */
    float *scale;     /* device fp32: NULL, 1 or `rows` dequantisation scales (non-bf16 only; bf16 has it applied) */
    int64_t n_scale;
    char name[96];    /* for messages */
    /* A streamed weight (weight_new_host): `host` holds the bytes data would hold, page-locked; data points
     * into staging slot `slot` while that slot's generation is `gen` (stage), and is stale otherwise. */
    void *host;
    int slot;
    uint64_t gen;
    /* A parked resident weight (weight_park): its bytes in `parked` (page-locked host, kept once made), data NULL. */
    void *parked;
    bool is_parked;
    /* conv3d: the implicit GEMM's repacked copy (rk_conv_pack_weight), made at the first conv3d with this weight
     * for an input of pk_cin channels and pk_taps taps; NULL until then. */
    bf16 *packed;
    int64_t pk_cin, pk_taps;
};

namespace {
enum { N_SHADOWS = 3, N_PLANS = 64, N_CROSS = 4, N_MASKS = 2 };
enum { SCR_Q, SCR_K, SCR_V, SCR_O, SCR_IM2COL, SCR_DEQ, SCR_BIAS16, SCR_FP8ATTN, SCR_S, SCR_P, N_SCRATCH }; /* FP8ATTN: fp8_attn_emul.h's layout */
constexpr size_t WORKSPACE_BYTES = 32u << 20;
constexpr size_t IM2COL_BYTES = 64u << 20; /* bound on one conv3d chunk's bf16 column matrix */

struct alloc_rec {
    void *p;
    size_t bytes;
};

struct shadow {
    bf16 *buf;
    size_t cap;       /* elements */
    const float *src; /* the fp32 range it mirrors (NULL: free) */
    size_t n = 0;
    uint64_t used;
};

/* The epilogue of a bf16 GEMM: none, + bias, or gelu_tanh(· + bias) (cuBLASLt's GELU is the tanh form, as Wan's
 * FFN; the GPU test of ffn tells the two apart). */
enum gemm_epi { EPI_NONE, EPI_BIAS, EPI_GELU_BIAS, EPI_GELU_BIAS16 /* the bias in bf16 */ };

struct gemm_key {
    int ta, tb, epi, out16; /* out16: C is bf16 (else fp32) */
    int64_t m, n, k, lda, ldb, ldc;
    int align_a, align_b, align_c;
};

struct gemm_plan {
    bool valid;
    uint64_t used;
    gemm_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

struct mask_entry { /* a host layout (copied, for comparison) and its device copy */
    bool valid;
    uint64_t used;
    int64_t n_tokens;
    int32_t block, n_blocks;
    int32_t *row_ptr, *col_idx; /* host copies (rad_alloc) */
    rad_cuda_bsr dev;
};

struct cross_entry {
    bool valid;
    uint64_t used;
    int64_t lq, lk;
    rad_cuda_bsr dev;
};

/* A staging buffer of streamed weights (stage). gen counts the groups placed in it; `copied` is recorded on the
 * copy stream after the group's upload, `consumed` on the compute stream before the next upload into it. */
struct stage_slot {
    void *buf;
    size_t cap;
    uint64_t gen;
    cudaEvent_t copied, consumed;
};

struct cuda_be { /* be->state */
    cudaStream_t st; /* every op's stream (non-blocking; rad_cuda_backend_stream) */
    cudaStream_t copy_st; /* uploads of streamed weights (non-blocking: runs beside the compute stream) */
    stage_slot slots[RAD_STAGE_SLOTS];
    int next_slot;
    size_t dev_used, dev_peak, dev_total; /* the driver's count (total - free): last sample, peak since the last reset; size */
    size_t pinned;             /* page-locked host bytes of streamed weights */
    cublasLtHandle_t lt;
    void *ws;
    alloc_rec *recs;
    size_t n_recs, cap_recs, cur, peak;
    uint64_t tick;
    shadow sh[N_SHADOWS];
    void *scr[N_SCRATCH];
    size_t scr_cap[N_SCRATCH];
    gemm_plan plans[N_PLANS];
    mask_entry masks[N_MASKS];
    cross_entry cross[N_CROSS];
    double *rope_cs; /* device RoPE table of the last (f, h, w, head_dim) */
    int64_t rope_key[4];
    bool conv_im2col; /* conv3d through im2col + cuBLASLt instead of the implicit GEMM (RADIAL_CUDA_CONV=im2col) */
    bool tc_attention; /* the device runs the bf16 tensor-core attention kernels (sm_80 and later) */
    int ffn_path;      /* RAD_CUDA_FFN_*: the first ffn epilogue cuBLASLt took (cuda_ffn.h); UNTRIED until one ran */
    int ffn_last;      /* the path the last ffn call took */
    char ffn_why[320]; /* cuBLASLt's refusals of the paths tried before ffn_path */
    const rad_weight *deq_of; /* the weight whose bf16 matrix scr[SCR_DEQ] holds now (NULL: none) */
    int device;
    rk_fp8 *fp8;   /* the fp8 GEMM state (gemm_fp8.cu), made by the first set_gemm RAD_GEMM_FP8 */
    bool gemm_fp8; /* set_gemm: linear takes the fp8 GEMM where the shape allows (fp8_emul.h) */
    bool attn_fp8; /* set_attention: self-attention takes the fp8 kernel (fp8_attn_emul.h) */
    cudaEvent_t prof_ev[RAD_PROF_SLOTS]; /* prof_mark's timestamps (NULL until a slot is first used) */
};

/* An op's NVTX range, named by its family (profile.h), for as long as the op's entry runs (every return path). */
struct op_range {
    explicit op_range(rad_op_family f) { nvtxRangePushA(rad_op_family_name(f)); }
    ~op_range() { nvtxRangePop(); }
    op_range(const op_range &) = delete;
    op_range &operator=(const op_range &) = delete;
};

cuda_be *S(rad_backend *be) { return (cuda_be *)be->state; }

#define CK(op, call)                                                                                           \
    do {                                                                                                       \
        cudaError_t ck_e_ = (call);                                                                            \
        if (ck_e_ != cudaSuccess)                                                                              \
            return rad_err(RADIAL_ERR_BACKEND, "cuda %s: %s failed: %s", op, #call, cudaGetErrorString(ck_e_)); \
    } while (0)

#define LT(op, call)                                                                                           \
    do {                                                                                                       \
        cublasStatus_t lt_s_ = (call);                                                                         \
        if (lt_s_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            return rad_err(RADIAL_ERR_BACKEND, "cuda %s: %s failed: cuBLAS status %d", op, #call, (int)lt_s_);  \
    } while (0)

/* n = a * b elements, both >= 0, without overflow (and small enough for byte counts of 8-byte elements). */
rad_status count(const char *op, int64_t a, int64_t b, size_t *n) {
    if (a < 0 || b < 0 || !rad_mul_size((size_t)a, (size_t)b, n) || *n > (SIZE_MAX >> 4))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda %s: bad shape %lld x %lld", op, (long long)a, (long long)b);
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------------ memory */

/* What the device has in use now, by its driver (CUDA context, libraries and kernels included), into the peak. */
void sample_device(cuda_be *c) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    c->dev_used = total_b - free_b, c->dev_total = total_b;
    if (c->dev_used > c->dev_peak) c->dev_peak = c->dev_used;
}

rad_status dev_alloc(cuda_be *c, size_t bytes, const char *what, void **out) {
    *out = NULL;
    if (c->n_recs == c->cap_recs) {
        const size_t cap = c->cap_recs ? 2 * c->cap_recs : 256;
        alloc_rec *r = (alloc_rec *)realloc(c->recs, cap * sizeof *r);
        if (!r) return rad_err(RADIAL_ERR_NOMEM, "cuda alloc: out of host memory for the allocation records");
        c->recs = r, c->cap_recs = cap;
    }
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *out = NULL;
        (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        return rad_err(RADIAL_ERR_NOMEM, "cuda alloc: %zu bytes for %s: %s (%.1f MiB held by this backend)", bytes,
                       what ? what : "a buffer", cudaGetErrorString(e), (double)c->cur / 1048576.0);
    }
    c->recs[c->n_recs++] = (alloc_rec){*out, bytes};
    c->cur += bytes;
    if (c->cur > c->peak) c->peak = c->cur;
    sample_device(c);
    return RAD_OK;
}

void shadow_inval(cuda_be *c, const void *p, size_t bytes);

void dev_free(cuda_be *c, void *p) {
    if (!p) return;
    for (size_t i = c->n_recs; i-- > 0;) /* recent buffers are freed first: search from the end */
        if (c->recs[i].p == p) {
            shadow_inval(c, p, c->recs[i].bytes);
            c->cur -= c->recs[i].bytes;
            c->recs[i] = c->recs[--c->n_recs];
            break;
        }
    cudaFree(p); /* waits for queued work that may still use p */
}

/* A scratch buffer of at least `bytes`, kept and regrown on demand. */
rad_status scratch(cuda_be *c, int slot, size_t bytes, void **out) {
    if (c->scr_cap[slot] < bytes) {
        dev_free(c, c->scr[slot]);
        c->scr[slot] = NULL, c->scr_cap[slot] = 0;
        RAD_TRY(dev_alloc(c, bytes, "cuda scratch", &c->scr[slot]));
        c->scr_cap[slot] = bytes;
    }
    *out = c->scr[slot];
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------- bf16 shadows */

void shadow_inval(cuda_be *c, const void *p, size_t bytes) {
    rk_fp8_inval(c->fp8, p, bytes); /* the fp8 quantisations of activations are kept like shadows */
    const char *a = (const char *)p, *b = a + bytes;
    for (int i = 0; i < N_SHADOWS; i++) {
        shadow *s = &c->sh[i];
        if (!s->src) continue;
        const char *sa = (const char *)s->src, *sb = sa + s->n * sizeof(float);
        if (a < sb && sa < b) s->src = NULL;
    }
}

/* The bf16 copy of x[0 .. n), if a shadow holds it. */
bf16 *shadow_find(cuda_be *c, const float *x, size_t n) {
    for (int i = 0; i < N_SHADOWS; i++) {
        shadow *s = &c->sh[i];
        if (s->src && x >= s->src && x + n <= s->src + s->n) {
            s->used = ++c->tick;
            return s->buf + (x - s->src);
        }
    }
    return NULL;
}

/* A slot to hold the bf16 copy of y[0 .. n) (the caller writes it next, in stream order), evicting the least
 * recently used slot but never one holding a pointer of keep[] (the op's own bf16 inputs); *out is NULL when
 * every slot is kept. The caller has invalidated what overlaps y. */
rad_status shadow_claim_keep(cuda_be *c, const float *y, size_t n, const bf16 *const *keep, int n_keep, bf16 **out) {
    shadow *best = NULL;
    *out = NULL;
    for (int i = 0; i < N_SHADOWS; i++) {
        shadow *s = &c->sh[i];
        bool kept = false;
        for (int j = 0; j < n_keep; j++) kept |= keep[j] && keep[j] >= s->buf && keep[j] < s->buf + s->cap;
        if (kept) continue;
        if (!best || (!s->src && best->src) || (!s->src == !best->src && s->used < best->used)) best = s;
    }
    if (!best) return RAD_OK;
    best->src = NULL;
    if (best->cap < n) {
        dev_free(c, best->buf);
        best->buf = NULL, best->cap = 0;
        RAD_TRY(dev_alloc(c, n * sizeof(bf16), "cuda bf16 shadow", (void **)&best->buf));
        best->cap = n;
    }
    best->src = y, best->n = n, best->used = ++c->tick;
    *out = best->buf;
    return RAD_OK;
}

rad_status shadow_claim(cuda_be *c, const float *y, size_t n, bf16 **out) {
    return shadow_claim_keep(c, y, n, NULL, 0, out);
}

/* A shadow for y unless y is tiny (a vector: not worth a slot). */
rad_status shadow_for_output(cuda_be *c, const float *y, size_t n, bf16 **out) {
    *out = NULL;
    shadow_inval(c, y, n * sizeof(float));
    if (n < 4096) return RAD_OK;
    return shadow_claim(c, y, n, out);
}

/* x[0 .. n) as bf16 for a GEMM: its shadow, or a fresh conversion kept as one (the next GEMM on x reuses it). */
rad_status bf16_input(cuda_be *c, const float *x, size_t n, const char *op, bf16 **out) {
    bf16 *h = shadow_find(c, x, n);
    if (!h) {
        RAD_TRY(shadow_claim(c, x, n, &h));
        rad_status s = rk_f32_to_bf16(x, h, (int64_t)n, c->st);
        if (s != RAD_OK) return rad_err_prefix(s, "%s: ", op);
    }
    *out = h;
    return RAD_OK;
}

/* --------------------------------------------------------------------------------------------- cuBLASLt */


void plan_destroy(gemm_plan *p) {
    if (!p->valid) return;
    rk_lt_plan_destroy(p->op, p->la, p->lb, p->lc);
    p->valid = false;
}

rad_status plan_make(cuda_be *c, const gemm_key *k, gemm_plan *p, const char *opname) {
    memset(p, 0, sizeof *p);
    p->key = *k;
    const cublasOperation_t ta = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT(opname, cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    rad_status s = RAD_OK;
    cublasStatus_t e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (e == CUBLAS_STATUS_SUCCESS && k->epi != EPI_NONE) {
        const cublasLtEpilogue_t epi = k->epi == EPI_BIAS ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_GELU_BIAS;
        e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
        /* fp32 biases also when C is bf16 (the default would be C's type), unless asked for bf16 */
        const cudaDataType_t bias_type = k->epi == EPI_GELU_BIAS16 ? CUDA_R_16BF : CUDA_R_32F;
        if (e == CUBLAS_STATUS_SUCCESS)
            e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type);
    }
    /* op(A) is m x k, op(B) k x n, C m x n, all column-major */
    const uint64_t ar = k->ta ? k->k : k->m, ac = k->ta ? k->m : k->k, br = k->tb ? k->n : k->k, bc = k->tb ? k->k : k->n;
    bool la = false, lb = false, lc = false;
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, ar, ac, k->lda), la = e == CUBLAS_STATUS_SUCCESS;
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, br, bc, k->ldb), lb = e == CUBLAS_STATUS_SUCCESS;
    if (e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatrixLayoutCreate(&p->lc, k->out16 ? CUDA_R_16BF : CUDA_R_32F, k->m, k->n, k->ldc), lc = e == CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (e == CUBLAS_STATUS_SUCCESS)
        e = rk_lt_heuristic(c->lt, p->op, p->la, p->lb, p->lc, WORKSPACE_BYTES, k->align_a, k->align_b, k->align_c, &res,
                            &found);
    if (e != CUBLAS_STATUS_SUCCESS || found < 1)
        s = rad_err(RADIAL_ERR_BACKEND,
                    "cuda %s: cuBLASLt has no bf16 GEMM for m %lld n %lld k %lld (lda %lld ldb %lld ldc %lld, %s output%s): "
                    "status %d",
                    opname, (long long)k->m, (long long)k->n, (long long)k->k, (long long)k->lda, (long long)k->ldb,
                    (long long)k->ldc, k->out16 ? "bf16" : "fp32",
                    k->epi == EPI_GELU_BIAS     ? ", GELU + fp32 bias epilogue"
                    : k->epi == EPI_GELU_BIAS16 ? ", GELU + bf16 bias epilogue"
                    : k->epi == EPI_BIAS        ? ", bias epilogue"
                                                : "",
                    (int)e);
    if (s != RAD_OK) {
        if (lc) cublasLtMatrixLayoutDestroy(p->lc);
        if (lb) cublasLtMatrixLayoutDestroy(p->lb);
        if (la) cublasLtMatrixLayoutDestroy(p->la);
        cublasLtMatmulDescDestroy(p->op);
        return s;
    }
    p->algo = res.algo;
    p->valid = true;
    return RAD_OK;
}

/* C (m x n, column-major, ldc) = epi(op(A) op(B)) with the epilogue's bias[m] on every column; A, B bf16, C fp32
 * or (out16) bf16. bias: NULL for EPI_NONE, else 16-byte aligned fp32 (bf16 for EPI_GELU_BIAS16). */
rad_status gemm_ex(cuda_be *c, const char *opname, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const bf16 *A,
                    int64_t lda, const bf16 *B, int64_t ldb, void *C, bool out16, int64_t ldc, gemm_epi epi,
                    const void *bias) {
    const gemm_key key = {ta, tb, epi, out16, m, n, k, lda, ldb, ldc, rk_align_of(A), rk_align_of(B), rk_align_of(C)};
    gemm_plan *p = NULL, *lru = &c->plans[0];
    for (int i = 0; i < N_PLANS && !p; i++) {
        gemm_plan *q = &c->plans[i];
        if (q->valid && !memcmp(&q->key, &key, sizeof key)) p = q;
        if (!q->valid || (lru->valid && q->used < lru->used)) lru = q;
    }
    if (!p) {
        plan_destroy(lru);
        RAD_TRY(plan_make(c, &key, lru, opname));
        p = lru;
    }
    p->used = ++c->tick;
    if (epi != EPI_NONE)
        LT(opname, cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    const float one = 1.0f, zero = 0.0f;
    LT(opname, cublasLtMatmul(c->lt, p->op, &one, A, p->la, B, p->lb, &zero, C, p->lc, C, p->lc, &p->algo, c->ws,
                              WORKSPACE_BYTES, c->st));
    return RAD_OK;
}

/* C (m x n, column-major, ldc, fp32) = op(A) op(B) [+ bias[m] on every column, 16-byte aligned]; A, B bf16. */
rad_status gemm(cuda_be *c, const char *opname, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const bf16 *A,
                int64_t lda, const bf16 *B, int64_t ldb, float *C, int64_t ldc, const float *bias) {
    return gemm_ex(c, opname, ta, tb, m, n, k, A, lda, B, ldb, C, false, ldc, bias ? EPI_BIAS : EPI_NONE, bias);
}

/* ----------------------------------------------------------------------------------------------- the ops */

rad_status be_alloc(rad_backend *be, size_t bytes, const char *what, void **out) {
    return dev_alloc(S(be), bytes, what, out);
}

void be_free(rad_backend *be, void *p) { dev_free(S(be), p); }

/* A host <-> device copy in the context's stream order, waited for (the host buffer is free to reuse after it). */
cudaError_t copy_wait(cuda_be *c, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    const cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, c->st);
    return e != cudaSuccess ? e : cudaStreamSynchronize(c->st);
}

rad_status be_upload(rad_backend *be, void *dst, const void *src_host, size_t bytes) {
    const op_range family_range(RAD_OPF_TRANSFER);
    if (!bytes) return RAD_OK;
    if (!dst || !src_host) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda upload: NULL buffer");
    shadow_inval(S(be), dst, bytes);
    CK("upload", copy_wait(S(be), dst, src_host, bytes, cudaMemcpyHostToDevice));
    return RAD_OK;
}

rad_status be_download(rad_backend *be, void *dst_host, const void *src, size_t bytes) {
    const op_range family_range(RAD_OPF_TRANSFER);
    if (!bytes) return RAD_OK;
    if (!dst_host || !src) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda download: NULL buffer");
    CK("download (or an earlier queued op)", copy_wait(S(be), dst_host, src, bytes, cudaMemcpyDeviceToHost));
    return RAD_OK;
}

/* ---- weights ---- */

/* Host conversion of an F32 / F16 / BF16 source to bf16, round to nearest even (base/half.h), from the stored
 * bytes (any alignment: usually a file mapping) or, for a scaled source, from its fp32 rows with the scale
 * applied. */
struct bf16_job {
    rad_dtype dt;
    const uint8_t *src; /* stored bytes (f32 NULL) */
    const float *f32;   /* scaled fp32 values, or NULL */
    uint16_t *dst;
};

void to_bf16_range(void *ctx, int64_t a, int64_t b) {
    const bf16_job *j = (const bf16_job *)ctx;
    if (j->f32) {
        for (int64_t i = a; i < b; i++) j->dst[i] = rad_f32_to_bf16(j->f32[i]);
        return;
    }
    switch (j->dt) {
    case RAD_DT_BF16: memcpy(j->dst + a, j->src + 2 * a, (size_t)(b - a) * 2); break;
    case RAD_DT_F16:
        for (int64_t i = a; i < b; i++) {
            uint16_t h;
            memcpy(&h, j->src + 2 * i, 2);
            j->dst[i] = rad_f32_to_bf16(rad_f16_to_f32(h));
        }
        break;
    default: /* F32 */
        for (int64_t i = a; i < b; i++) {
            float f;
            memcpy(&f, j->src + 4 * i, 4);
            j->dst[i] = rad_f32_to_bf16(f);
        }
        break;
    }
}

/* stage[0 .. n = rows * cols) = the bf16 rounding of an F32 / F16 / BF16 source, scale applied. */
rad_status host_bf16(const rad_weight_src *src, int64_t rows, int64_t cols, size_t n, uint16_t *stage) {
    if (src->n_scale == 0) {
        bf16_job j = {src->dtype, (const uint8_t *)src->data, NULL, stage};
        rad_parallel_for((int64_t)n, 1 << 16, to_bf16_range, &j);
    } else { /* W = stored · scale in fp32, then one rounding; rows in chunks of about 4 M values */
        const int64_t chunk = cols >= (1 << 22) ? 1 : (1 << 22) / cols;
        const int64_t crows = chunk < rows ? chunk : rows;
        float *f32;
        RAD_TRY(rad_alloc((void **)&f32, (size_t)crows * (size_t)cols * sizeof(float), "cuda weight staging (fp32)"));
        for (int64_t r0 = 0; r0 < rows; r0 += crows) {
            const int64_t r1 = r0 + crows < rows ? r0 + crows : rows;
            rad_weight_src_rows_f32(src, cols, r0, r1, f32);
            bf16_job j = {src->dtype, NULL, f32, stage + r0 * cols};
            rad_parallel_for((r1 - r0) * cols, 1 << 16, to_bf16_range, &j);
        }
        rad_free(f32);
    }
    return RAD_OK;
}

struct copy_job {
    uint8_t *dst;
    const uint8_t *src;
};

void copy_range(void *ctx, int64_t a, int64_t b) {
    const copy_job *j = (const copy_job *)ctx;
    memcpy(j->dst + a, j->src + a, (size_t)(b - a));
}

/* *out = new page-locked host memory of `bytes` (counted in c->pinned). */
rad_status pinned_new(cuda_be *c, size_t bytes, const char *nm, void **out) {
    cudaError_t e = cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        *out = NULL;
        (void)cudaGetLastError();
        return rad_err(RADIAL_ERR_NOMEM, "cuda weight %s: %zu bytes of page-locked host memory: %s (%.1f GiB held)", nm,
                       bytes, cudaGetErrorString(e), (double)c->pinned / 1073741824.0);
    }
    c->pinned += bytes;
    return RAD_OK;
}

/* *dev = a new device buffer holding bytes from host (what: which part of weight nm). */
rad_status upload_new(cuda_be *c, const void *host, size_t bytes, const char *nm, const char *what, void **dev) {
    RAD_TRY(dev_alloc(c, bytes, nm, dev));
    cudaError_t e = copy_wait(c, *dev, host, bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        dev_free(c, *dev);
        *dev = NULL;
        return rad_err(RADIAL_ERR_BACKEND, "cuda weight %s: upload of %zu bytes (%s) failed: %s", nm, bytes, what,
                       cudaGetErrorString(e));
    }
    return RAD_OK;
}

void be_weight_free(rad_backend *be, rad_weight *w) {
    if (!w) return;
    cuda_be *c = S(be);
    if (c->deq_of == w) c->deq_of = NULL; /* the handle's address may come back for another weight */
    dev_free(c, w->packed);
    dev_free(c, w->scale);
    if (w->host) {
        cudaStreamSynchronize(c->copy_st); /* an upload from it may still be in flight */
        cudaFreeHost(w->host);
        c->pinned -= w->bytes;
    } else {
        dev_free(c, w->data);
    }
    if (w->parked) {
        cudaFreeHost(w->parked);
        c->pinned -= w->bytes;
    }
    rad_free(w);
}

/* w->data (device) or w->host (page-locked host, host_resident) = the bytes the backend keeps for src: the stored
 * bytes of an fp8 / GGUF source, else its bf16 rounding (scale applied). */
rad_status keep_bytes(cuda_be *c, rad_weight *w, const rad_weight_src *src, bool host_resident) {
    const char *nm = w->name;
    const uint8_t *from = (const uint8_t *)src->data; /* bytes to copy as they are, or NULL: convert to bf16 */
    if (w->dtype == RAD_DT_BF16 && !(src->dtype == RAD_DT_BF16 && src->n_scale == 0)) from = NULL;
    const char *what = rad_dtype_name(w->dtype);
    if (host_resident) {
        RAD_TRY(pinned_new(c, w->bytes, nm, &w->host));
        if (from) {
            copy_job j = {(uint8_t *)w->host, from};
            rad_parallel_for((int64_t)w->bytes, 1 << 20, copy_range, &j);
            return RAD_OK;
        }
        return host_bf16(src, w->rows, w->cols, w->bytes / sizeof(bf16), (uint16_t *)w->host);
    }
    if (from) return upload_new(c, from, w->bytes, nm, what, &w->data);
    uint16_t *stage = NULL;
    RAD_TRY(rad_alloc((void **)&stage, w->bytes, "cuda weight staging (bf16)"));
    rad_status s = host_bf16(src, w->rows, w->cols, w->bytes / sizeof(bf16), stage);
    if (s == RAD_OK) s = upload_new(c, stage, w->bytes, nm, what, &w->data);
    rad_free(stage);
    return s;
}

rad_status weight_make(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols, const char *name,
                       bool host_resident, rad_weight **out) {
    cuda_be *c = S(be);
    *out = NULL;
    const char *nm = name ? name : "weight";
    size_t src_bytes = 0, n = 0;
    RAD_TRY(rad_weight_src_check("cuda weight", src, rows, cols, nm, &src_bytes));
    RAD_TRY(count("weight_new", rows, cols, &n));
    const bool as_stored = rk_dequant_supported(src->dtype); /* fp8 and GGUF blocks stay as the file has them */
    if (!as_stored && src->dtype != RAD_DT_F32 && src->dtype != RAD_DT_F16 && src->dtype != RAD_DT_BF16)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda weight %s: weights stored as %s are not supported", nm,
                       rad_dtype_name(src->dtype));
    rad_weight *w = NULL;
    RAD_TRY(rad_alloc((void **)&w, sizeof *w, nm));
    memset(w, 0, sizeof *w);
    w->rows = rows, w->cols = cols, w->slot = -1;
    snprintf(w->name, sizeof w->name, "%s", nm);
    w->dtype = as_stored ? src->dtype : RAD_DT_BF16;
    w->bytes = as_stored ? src_bytes : n * sizeof(bf16);
    rad_status s = keep_bytes(c, w, src, host_resident);
    if (s == RAD_OK && as_stored && src->n_scale > 0) { /* scales are small: always on the device */
        w->n_scale = src->n_scale;
        s = upload_new(c, src->scale, (size_t)src->n_scale * sizeof(float), nm, "fp32 scales", (void **)&w->scale);
    }
    if (s != RAD_OK) {
        be_weight_free(be, w);
        return s;
    }
    *out = w;
    return RAD_OK;
}

rad_status be_weight_new(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols, const char *name,
                         rad_weight **out) {
    return weight_make(be, src, rows, cols, name, false, out);
}

rad_status be_weight_new_host(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols, const char *name,
                              rad_weight **out) {
    return weight_make(be, src, rows, cols, name, true, out);
}

/* Streamed weights: a group is uploaded into the next staging slot in turn, on the copy stream, after the compute
 * queued so far (which may still read the slot's previous group) has passed the slot's `consumed` event. */
rad_status be_stage(rad_backend *be, rad_weight *const *ws, int n) {
    const op_range family_range(RAD_OPF_TRANSFER);
    cuda_be *c = S(be);
    if (n < 0 || (n && !ws)) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda stage: %d weights", n);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (ws[i] && ws[i]->host && !rad_add_size(total, (ws[i]->bytes + 255) / 256 * 256, &total))
            return rad_err(RADIAL_ERR_INVALID_ARG, "cuda stage: group size overflows");
    if (!total) return RAD_OK; /* nothing streamed in this group: its weights are resident */
    stage_slot *sl = &c->slots[c->next_slot];
    const int k = c->next_slot;
    c->next_slot = (c->next_slot + 1) % RAD_STAGE_SLOTS;
    if (!sl->copied) {
        CK("stage", cudaEventCreateWithFlags(&sl->copied, cudaEventDisableTiming));
        CK("stage", cudaEventCreateWithFlags(&sl->consumed, cudaEventDisableTiming));
    }
    if (sl->cap < total) { /* grow: nothing may still read or fill the old buffer */
        CK("stage", cudaStreamSynchronize(c->st));
        CK("stage", cudaStreamSynchronize(c->copy_st));
        dev_free(c, sl->buf);
        sl->buf = NULL, sl->cap = 0;
        RAD_TRY(dev_alloc(c, total, "staging buffer of streamed weights", &sl->buf));
        sl->cap = total;
    }
    CK("stage", cudaEventRecord(sl->consumed, c->st));
    CK("stage", cudaStreamWaitEvent(c->copy_st, sl->consumed, 0));
    sl->gen++;
    c->deq_of = NULL; /* a restaged weight has its bytes at a new place: never reuse a dequantisation by handle */
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        rad_weight *w = ws[i];
        if (!w || !w->host) continue;
        w->data = (uint8_t *)sl->buf + off, w->slot = k, w->gen = sl->gen;
        off += (w->bytes + 255) / 256 * 256;
        cudaError_t e = cudaMemcpyAsync(w->data, w->host, w->bytes, cudaMemcpyHostToDevice, c->copy_st);
        if (e != cudaSuccess)
            return rad_err(RADIAL_ERR_BACKEND, "cuda stage: upload of weight %s (%zu bytes) failed: %s", w->name, w->bytes,
                           cudaGetErrorString(e));
    }
    CK("stage", cudaEventRecord(sl->copied, c->copy_st));
    sample_device(c);
    return RAD_OK;
}

rad_status be_weight_park(rad_backend *be, rad_weight *w, int park) {
    cuda_be *c = S(be);
    if (!w || w->host || !park == !w->is_parked) return RAD_OK; /* streamed, or already where asked */
    if (park) {
        if (!w->parked) {
            RAD_TRY(pinned_new(c, w->bytes, w->name, &w->parked));
            CK("weight_park", copy_wait(c, w->parked, w->data, w->bytes, cudaMemcpyDeviceToHost)); /* after its users */
        } else {
            CK("weight_park", cudaStreamSynchronize(c->st)); /* queued ops may still read it */
        }
        if (c->deq_of == w) c->deq_of = NULL;
        dev_free(c, w->data);
        w->data = NULL, w->is_parked = true;
        return RAD_OK;
    }
    RAD_TRY(upload_new(c, w->parked, w->bytes, w->name, "unpark", &w->data));
    w->is_parked = false;
    return RAD_OK;
}

/* w's device bytes for an op queued next: a resident weight's own, or a streamed weight's staged copy, which the
 * compute stream then waits for. */
rad_status weight_device(cuda_be *c, const rad_weight *w, const char *op, const void **out) {
    *out = w->data;
    if (w->is_parked)
        return rad_err(RADIAL_ERR_BACKEND, "cuda %s: weight %s is parked in host memory (weight_park) and was not brought "
                       "back before use", op, w->name);
    if (!w->host) return RAD_OK;
    if (w->slot < 0 || w->gen != c->slots[w->slot].gen)
        return rad_err(RADIAL_ERR_BACKEND, "cuda %s: weight %s is streamed from host memory and was not staged before "
                       "use (or its staging buffer was reused since)", op, w->name);
    CK(op, cudaStreamWaitEvent(c->st, c->slots[w->slot].copied, 0));
    return RAD_OK;
}

/* The bf16 [rows, cols] matrix a GEMM reads for w: w->data itself for a bf16 weight, else w dequantised into
 * the scratch buffer scr[SCR_DEQ] (grown to the largest weight, counted in peak_bytes), which stays valid until
 * the next dequantisation (stream order keeps the GEMM queued before it reading the right one); the last weight
 * dequantised is remembered, so back-to-back uses of one weight dequantise once.
 *
 * Why dequantise to bf16 on the fly: the GEMM stays the one cuBLASLt bf16 GEMM of every weight (one code path,
 * one contract: "the weight's fp32 value rounded to bf16", as for a bf16 checkpoint; the CPU reference computes
 * with the same fp32 values). cuBLASLt's fp8 GEMMs would read e4m3 weights directly, but they need fp8
 * activations too, which changes the numerics: that is the separate opt-in fp8 mode (weight_fp8, gemm_fp8.cu),
 * not this one. And the time
 * is small: dequantising a 8960 x 1536 weight reads 14 MB (fp8; 7.7 MB as Q4_0) and writes 27.5 MB, measured
 * 12-17 us on the H200 (dequant.cu), next to ~1 ms for its GEMM over 32k tokens (81 frames at 480 x 832). What
 * it saves is memory: the weights stay at the file's size (fp8: half of bf16; Q4_0: 0.28 of it); only one bf16
 * matrix, the largest weight's, exists at a time. */
rad_status weight_bf16(cuda_be *c, const rad_weight *w, const char *op, const bf16 **out) {
    *out = NULL;
    const void *data;
    RAD_TRY(weight_device(c, w, op, &data));
    if (w->dtype == RAD_DT_BF16) {
        *out = (const bf16 *)data;
        return RAD_OK;
    }
    const size_t bytes = (size_t)w->rows * (size_t)w->cols * sizeof(bf16);
    if (c->deq_of != w || c->scr_cap[SCR_DEQ] < bytes) {
        c->deq_of = NULL;
        void *buf;
        rad_status s = scratch(c, SCR_DEQ, bytes, &buf);
        if (s != RAD_OK) return rad_err_prefix(s, "cuda %s, weight %s (%s): ", op, w->name, rad_dtype_name(w->dtype));
        s = rk_dequant_bf16(w->dtype, data, w->bytes / (size_t)w->rows, w->rows, w->cols, w->scale, w->n_scale,
                            (bf16 *)buf, c->st);
        if (s != RAD_OK) return rad_err_prefix(s, "cuda %s, weight %s: ", op, w->name);
        c->deq_of = w;
    }
    *out = (const bf16 *)c->scr[SCR_DEQ];
    return RAD_OK;
}

void be_mem_stats(rad_backend *be, int reset, rad_mem_stats *out) {
    cuda_be *c = S(be);
    sample_device(c);
    *out = (rad_mem_stats){c->cur, c->peak, c->dev_used, c->dev_peak, c->dev_total, c->pinned};
    if (reset) c->peak = c->cur, c->dev_peak = c->dev_used;
}

rad_status be_trim(rad_backend *be) {
    cuda_be *c = S(be);
    CK("trim", cudaStreamSynchronize(c->st));
    CK("trim", cudaStreamSynchronize(c->copy_st));
    for (int i = 0; i < N_SCRATCH; i++) {
        dev_free(c, c->scr[i]);
        c->scr[i] = NULL, c->scr_cap[i] = 0;
    }
    c->deq_of = NULL;
    rk_fp8_trim(c->fp8);
    for (int i = 0; i < N_SHADOWS; i++) {
        dev_free(c, c->sh[i].buf);
        c->sh[i] = shadow{};
    }
    for (int i = 0; i < RAD_STAGE_SLOTS; i++) { /* placed groups become stale: their slot generation moves on */
        dev_free(c, c->slots[i].buf);
        c->slots[i].buf = NULL, c->slots[i].cap = 0, c->slots[i].gen++;
    }
    return RAD_OK;
}

rad_status fp8_alloc(void *owner, size_t bytes, const char *what, void **out) {
    return dev_alloc((cuda_be *)owner, bytes, what, out);
}
void fp8_free(void *owner, void *p) { dev_free((cuda_be *)owner, p); }

/* The GEMM mode of linear (backend.h set_gemm): fp8 needs fp8 tensor cores (rk_fp8_new refuses otherwise). */
rad_status be_set_gemm(rad_backend *be, int mode) {
    cuda_be *c = S(be);
    if (mode == RAD_GEMM_BF16) {
        c->gemm_fp8 = false;
        return RAD_OK;
    }
    if (mode != RAD_GEMM_FP8)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda set_gemm: unknown GEMM mode %d (%d: bf16, %d: fp8)", mode,
                       RAD_GEMM_BF16, RAD_GEMM_FP8);
    if (!c->fp8) RAD_TRY(rk_fp8_new(c->device, c->lt, c->ws, WORKSPACE_BYTES, c->st, fp8_alloc, fp8_free, c, &c->fp8));
    c->gemm_fp8 = true;
    return RAD_OK;
}

/* The precision of attention (backend.h set_attention): fp8 needs a Hopper GPU and sm_90a code in the build. */
rad_status be_set_attention(rad_backend *be, int mode) {
    cuda_be *c = S(be);
    if (mode == RAD_ATTN_BF16) {
        c->attn_fp8 = false;
        return RAD_OK;
    }
    if (mode != RAD_ATTN_FP8)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda set_attention: unknown attention precision %d (%d: bf16, %d: fp8)", mode,
                       RAD_ATTN_BF16, RAD_ATTN_FP8);
    char why[320];
    if (!rad_cuda_attn_fp8_supported(why, sizeof why))
        return rad_err(RADIAL_ERR_UNSUPPORTED, "CUDA device %d: %s", c->device, why);
    c->attn_fp8 = true;
    return RAD_OK;
}

rad_status be_sync(rad_backend *be) {
    CK("sync", cudaStreamSynchronize(S(be)->st));
    return RAD_OK;
}

/* The e4m3 matrix and per-row scales the fp8 GEMM reads for w (gemm_fp8.cu): a weight stored as e4m3 as it is (a
 * single file scale, or none, made a per-row vector once); a resident bf16 weight quantised per row at its first
 * fp8 GEMM and kept so: its bf16 copy is freed and it is an e4m3 weight from then on (half the memory; a bf16 GEMM
 * on it later dequantises it, as for an fp8 checkpoint); anything else (streamed weights, e5m2, GGUF blocks)
 * quantised from its bf16 matrix into a scratch buffer at each use. */
rad_status weight_fp8(cuda_be *c, const rad_weight *cw, rk_fp8_weight *out) {
    rad_weight *w = (rad_weight *)cw; /* the handle is const to callers; what it keeps is the backend's */
    const char *op = "linear (fp8)";
    *out = rk_fp8_weight{NULL, NULL, w->rows, w->cols, RAD_FP8_W_STORED};
    if (w->dtype == RAD_DT_F8_E4M3) {
        if (w->n_scale != w->rows) {
            float *s = NULL;
            RAD_TRY(dev_alloc(c, (size_t)w->rows * sizeof(float), w->name, (void **)&s));
            rad_status st = rk_fp8_fill(s, w->rows, w->scale, c->st);
            if (st != RAD_OK) {
                dev_free(c, s);
                return rad_err_prefix(st, "cuda %s, weight %s: ", op, w->name);
            }
            dev_free(c, w->scale); /* waits for the fill */
            w->scale = s, w->n_scale = w->rows;
        }
        const void *data;
        RAD_TRY(weight_device(c, w, op, &data));
        out->q = (const uint8_t *)data, out->scale = w->scale;
        return RAD_OK;
    }
    if (w->dtype == RAD_DT_BF16 && !w->host) {
        const void *data;
        RAD_TRY(weight_device(c, w, op, &data)); /* refuses a parked weight */
        const size_t n = (size_t)w->rows * (size_t)w->cols;
        uint8_t *q = NULL;
        float *s = NULL;
        rad_status st = dev_alloc(c, n, w->name, (void **)&q);
        if (st == RAD_OK) st = dev_alloc(c, (size_t)w->rows * sizeof(float), w->name, (void **)&s);
        if (st == RAD_OK) st = rk_fp8_quant_bf16_rows((const bf16 *)data, w->rows, w->cols, q, s, c->st);
        if (st != RAD_OK) {
            dev_free(c, q);
            dev_free(c, s);
            return rad_err_prefix(st, "cuda %s, weight %s: ", op, w->name);
        }
        dev_free(c, w->data); /* waits for the quantisation */
        if (w->parked) { /* a host copy kept by weight_park holds the bf16 bytes: stale now */
            cudaFreeHost(w->parked);
            c->pinned -= w->bytes;
            w->parked = NULL;
        }
        w->data = q, w->bytes = n, w->dtype = RAD_DT_F8_E4M3, w->scale = s, w->n_scale = w->rows;
        if (c->deq_of == w) c->deq_of = NULL;
        out->q = q, out->scale = s, out->source = RAD_FP8_W_CONVERTED;
        return RAD_OK;
    }
    const bf16 *w16;
    RAD_TRY(weight_bf16(c, w, op, &w16));
    uint8_t *q;
    float *s;
    RAD_TRY(rk_fp8_weight_scratch(c->fp8, w->rows, w->cols, &q, &s));
    rad_status st = rk_fp8_quant_bf16_rows(w16, w->rows, w->cols, q, s, c->st);
    if (st != RAD_OK) return rad_err_prefix(st, "cuda %s, weight %s: ", op, w->name);
    out->q = q, out->scale = s, out->source = RAD_FP8_W_PER_USE;
    return RAD_OK;
}

/* linear through the fp8 GEMM (*done) when the mode is on and the call qualifies (fp8_emul.h
 * rad_fp8_gemm_shape_ok, 16-byte aligned x and y); otherwise it records why not (rad_cuda_fp8_last) and the
 * caller runs the bf16 GEMM. The activations are quantised from x's bf16 shadow when there is one. */
rad_status linear_fp8(cuda_be *c, const float *x, int64_t m, int64_t k, const rad_weight *w, const float *bias,
                      float *y, bool *done) {
    *done = false;
    char why[160];
    why[0] = 0;
    if (!c->gemm_fp8)
        snprintf(why, sizeof why, "bf16 GEMM (the backend's GEMM mode is bf16)");
    else if (!rad_fp8_gemm_shape_ok(m, w->rows, k))
        snprintf(why, sizeof why, "bf16 GEMM (m %lld n %lld k %lld: fp8 takes >= %d rows and weight dims >= %d, "
                 "multiples of 16)", (long long)m, (long long)w->rows, (long long)k, RAD_FP8_MIN_ROWS, RAD_FP8_MIN_DIM);
    else if ((uintptr_t)x % 16 || (uintptr_t)y % 16)
        snprintf(why, sizeof why, "bf16 GEMM (x or y is not 16-byte aligned)");
    if (why[0]) {
        rk_fp8_note_bf16(c->fp8, why);
        return RAD_OK;
    }
    rk_fp8_weight wv;
    RAD_TRY(weight_fp8(c, w, &wv));
    const bf16 *x16 = shadow_find(c, x, (size_t)m * (size_t)k);
    if (x16 && (uintptr_t)x16 % 16) x16 = NULL;
    RAD_TRY(rk_fp8_linear(c->fp8, x, x16, m, k, &wv, bias, y, w->name));
    *done = true;
    return RAD_OK;
}

rad_status be_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w, const float *bias,
                     float *y) {
    const op_range family_range(RAD_OPF_GEMM);
    cuda_be *c = S(be);
    if (!w || m < 0 || k != w->cols)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda linear: x is [%lld, %lld] but the weight is [%lld, %lld]",
                       (long long)m, (long long)k, w ? (long long)w->rows : -1LL, w ? (long long)w->cols : -1LL);
    if (m == 0) return RAD_OK;
    size_t nx = 0, ny = 0;
    RAD_TRY(count("linear", m, k, &nx));
    RAD_TRY(count("linear", m, w->rows, &ny));
    shadow_inval(c, y, ny * sizeof(float));
    if (c->fp8) { /* fp8 GEMM mode (set_gemm): the large GEMMs go to gemm_fp8.cu */
        bool done;
        RAD_TRY(linear_fp8(c, x, m, k, w, bias, y, &done));
        if (done) return RAD_OK;
    }
    bf16 *x16;
    RAD_TRY(bf16_input(c, x, nx, "cuda linear", &x16));
    /* row-major y[m, n] is column-major y^T [n, m] = W [n, k] (column-major k x n, transposed) . x^T (k x m) */
    const bool epilogue = bias && (uintptr_t)bias % 16 == 0; /* cuBLASLt's bias epilogue wants it aligned */
    const bf16 *w16;
    RAD_TRY(weight_bf16(c, w, "linear", &w16));
    RAD_TRY(gemm(c, "linear", true, false, w->rows, m, k, w16, k, x16, k, y, w->rows, epilogue ? bias : NULL));
    if (bias && !epilogue) return rk_add_col_bias(y, m, w->rows, bias, c->st);
    return RAD_OK;
}

rad_status be_layernorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, const float *b,
                        float eps, float *y) {
    const op_range family_range(RAD_OPF_NORM);
    cuda_be *c = S(be);
    size_t n = 0;
    if (m < 0 || d <= 0 || count("layernorm", m, d, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda layernorm: bad shape [%lld, %lld]", (long long)m, (long long)d);
    bf16 *y16;
    RAD_TRY(shadow_for_output(c, y, n, &y16));
    return rk_layernorm(x, m, d, w, b, eps, y, y16, c->st);
}

rad_status be_rmsnorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps, float *y) {
    const op_range family_range(RAD_OPF_NORM);
    cuda_be *c = S(be);
    size_t n = 0;
    if (m < 0 || d <= 0 || count("rmsnorm", m, d, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda rmsnorm: bad shape [%lld, %lld]", (long long)m, (long long)d);
    bf16 *y16;
    RAD_TRY(shadow_for_output(c, y, n, &y16));
    return rk_rmsnorm(x, m, d, w, eps, y, y16, c->st);
}

rad_status be_add_norm_modulate(rad_backend *be, float *x, const float *r, const float *gate, int64_t m, int64_t d,
                                const float *w, const float *b, float eps, const float *shift, const float *scale,
                                float *y) {
    const op_range family_range(RAD_OPF_NORM);
    cuda_be *c = S(be);
    size_t n = 0;
    if (m < 0 || d <= 0 || count("add_norm_modulate", m, d, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda add_norm_modulate: bad shape [%lld, %lld]", (long long)m,
                       (long long)d);
    if (!shift != !scale)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda add_norm_modulate: shift and scale must both be given or both NULL");
    if (r) shadow_inval(c, x, n * sizeof(float));
    bf16 *y16;
    RAD_TRY(shadow_for_output(c, y, n, &y16));
    return rk_add_norm_modulate(x, r, gate, m, d, w, b, eps, shift, scale, y, y16, c->st);
}

rad_status be_gelu_tanh(rad_backend *be, float *x, int64_t n) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    if (n < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda gelu_tanh: %lld elements", (long long)n);
    bf16 *x16;
    RAD_TRY(shadow_for_output(c, x, (size_t)n, &x16));
    return rk_gelu_tanh(x, n, x16, c->st);
}

/* ffn as linear, gelu_tanh, linear on fp32 row chunks of `hidden` (the fp8 GEMM mode, an unaligned bias, or a
 * cuBLASLt without the fused epilogue). */
rad_status ffn_unfused(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                       const rad_weight *w2, const float *b2, float *hidden, int64_t chunk, float *y) {
    for (int64_t r = 0; r < m; r += chunk) {
        const int64_t rows = m - r < chunk ? m - r : chunk;
        RAD_TRY(be_linear(be, x + r * d, rows, d, w1, b1, hidden));
        RAD_TRY(be_gelu_tanh(be, hidden, rows * w1->rows));
        RAD_TRY(be_linear(be, hidden, rows, w1->rows, w2, b2, y + r * d));
    }
    return RAD_OK;
}

/* ffn (backend.h): per chunk one GEMM with the GELU + bias epilogue writing the bf16 hidden state into `hidden`
 * (what the second GEMM would have read from gelu_tanh's fp32 output after rounding it) and one GEMM from it.
 * cuBLASLt may refuse the epilogue with an fp32 bias; then with the bias rounded to bf16; then the unfused ops run
 * (ffn_path keeps the first that worked, ffn_why the refusals: rad_cuda_ffn_path). */
rad_status be_ffn(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                  const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y) {
    const op_range family_range(RAD_OPF_GEMM);
    cuda_be *c = S(be);
    int64_t chunk = 0;
    RAD_TRY(rad_ffn_check("cuda ffn", m, d, w1 ? w1->rows : -1, w1 ? w1->cols : -1, w2 ? w2->rows : -1,
                          w2 ? w2->cols : -1, hidden_floats, sizeof(float), &chunk));
    if (m == 0) return RAD_OK;
    const int64_t F = w1->rows, chunk16 = (int64_t)(hidden_floats * sizeof(float) / ((size_t)F * sizeof(bf16)));
    size_t n = 0;
    RAD_TRY(count("ffn", m, d, &n));
    shadow_inval(c, hidden, hidden_floats * sizeof(float));
    if (c->ffn_path == RAD_CUDA_FFN_UNTRIED) c->ffn_path = RAD_CUDA_FFN_GELU_F32_BIAS;
    /* fp8 mode: the unfused ops when either GEMM would take fp8 (no chunk has more rows than m) */
    const bool fp8 = c->gemm_fp8 && (rad_fp8_gemm_shape_ok(m, F, d) || rad_fp8_gemm_shape_ok(m, d, F));
    const bool fusable = !fp8 && b1 && (uintptr_t)b1 % 16 == 0 && (uintptr_t)hidden % 16 == 0;
    c->ffn_last = fusable ? c->ffn_path : RAD_CUDA_FFN_UNFUSED;
    if (c->ffn_last == RAD_CUDA_FFN_UNFUSED) return ffn_unfused(be, x, m, d, w1, b1, w2, b2, hidden, chunk, y);
    shadow_inval(c, y, n * sizeof(float));
    bf16 *x16, *h16 = (bf16 *)hidden;
    RAD_TRY(bf16_input(c, x, n, "cuda ffn", &x16));
    const bool b2_epilogue = b2 && (uintptr_t)b2 % 16 == 0;
    const bool bias16 = c->ffn_path == RAD_CUDA_FFN_GELU_BF16_BIAS;
    const gemm_epi epi = bias16 ? EPI_GELU_BIAS16 : EPI_GELU_BIAS;
    const void *bias = b1;
    if (bias16) { /* once per call, stream-ordered before this call's GEMMs read it */
        void *b16;
        RAD_TRY(scratch(c, SCR_BIAS16, (size_t)F * sizeof(bf16), &b16));
        RAD_TRY(rk_f32_to_bf16(b1, (bf16 *)b16, F, c->st));
        bias = b16;
    }
    for (int64_t r = 0; r < m; r += chunk16) {
        const int64_t rows = m - r < chunk16 ? m - r : chunk16;
        const bf16 *w16;
        RAD_TRY(weight_bf16(c, w1, "ffn", &w16)); /* per chunk: a dequantised matrix shares one scratch buffer */
        rad_status s = gemm_ex(c, "ffn", true, false, F, rows, d, w16, d, x16 + r * d, d, h16, true, F, epi, bias);
        if (s != RAD_OK && r == 0) { /* nothing written yet: note why, take the next path from now on */
            const size_t used = strlen(c->ffn_why);
            snprintf(c->ffn_why + used, sizeof c->ffn_why - used, "%s%s", used ? "; " : "", rad_last_error());
            c->ffn_path++;
            return be_ffn(be, x, m, d, w1, b1, w2, b2, hidden, hidden_floats, y);
        }
        RAD_TRY(s);
        RAD_TRY(weight_bf16(c, w2, "ffn", &w16));
        RAD_TRY(gemm(c, "ffn", true, false, d, rows, F, w16, F, h16, F, y + r * d, d, b2_epilogue ? b2 : NULL));
        if (b2 && !b2_epilogue) RAD_TRY(rk_add_col_bias(y + r * d, rows, d, b2, c->st));
    }
    return RAD_OK;
}

rad_status be_silu(rad_backend *be, float *x, int64_t n) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    if (n < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda silu: %lld elements", (long long)n);
    shadow_inval(c, x, (size_t)n * sizeof(float));
    return rk_silu(x, n, c->st);
}

rad_status be_mul_gelu(rad_backend *be, float *a, const float *g, int64_t n) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    if (n < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda mul_gelu: %lld elements", (long long)n);
    bf16 *a16;
    RAD_TRY(shadow_for_output(c, a, (size_t)n, &a16));
    return rk_mul_gelu(a, g, n, a16, c->st);
}

rad_status be_modulate(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift, const float *scale,
                       float *y) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    size_t n = 0;
    if (m < 0 || d <= 0 || count("modulate", m, d, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda modulate: bad shape [%lld, %lld]", (long long)m, (long long)d);
    bf16 *y16;
    RAD_TRY(shadow_for_output(c, y, n, &y16));
    return rk_modulate(x, m, d, shift, scale, y, y16, c->st);
}

rad_status be_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    size_t n = 0;
    if (m < 0 || d <= 0 || count("add_gated", m, d, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda add_gated: bad shape [%lld, %lld]", (long long)m, (long long)d);
    shadow_inval(c, x, n * sizeof(float));
    return rk_add_gated(x, y, m, d, gate, c->st);
}

/* The RoPE table of rad_cpu_rope3d (same code path: angles, cos and sin in double on the host), cached on the
 * device for the last grid. */
rad_status rope_table(cuda_be *c, int64_t f, int64_t h, int64_t w, int64_t hd, const double **out) {
    const int64_t key[4] = {f, h, w, hd};
    if (c->rope_cs && !memcmp(key, c->rope_key, sizeof key)) {
        *out = c->rope_cs;
        return RAD_OK;
    }
    dev_free(c, c->rope_cs);
    c->rope_cs = NULL;
    const int64_t ph = hd / 6, pt = hd / 2 - 2 * ph;
    const int64_t axes[3][3] = {{f, pt, 2 * pt}, {h, ph, 2 * ph}, {w, ph, 2 * ph}}; /* positions, pairs, dim */
    size_t total = 0;
    for (int a = 0; a < 3; a++) {
        size_t n;
        if (!rad_mul_size((size_t)axes[a][0], (size_t)axes[a][1] * 2, &n) || !rad_add_size(total, n, &total))
            return rad_err(RADIAL_ERR_INVALID_ARG, "cuda rope3d: table size overflows");
    }
    double *host;
    RAD_TRY(rad_alloc((void **)&host, total * sizeof(double), "rope3d table"));
    double *cs = host;
    for (int a = 0; a < 3; a++) {
        for (int64_t p = 0; p < axes[a][0]; p++)
            for (int64_t m = 0; m < axes[a][1]; m++) {
                const double omega = pow(10000.0, -(double)(2 * m) / (double)axes[a][2]);
                const double ang = (double)p * omega;
                cs[(p * axes[a][1] + m) * 2] = cos(ang);
                cs[(p * axes[a][1] + m) * 2 + 1] = sin(ang);
            }
        cs += axes[a][0] * axes[a][1] * 2;
    }
    rad_status s = dev_alloc(c, total * sizeof(double), "rope3d table", (void **)&c->rope_cs);
    if (s == RAD_OK) {
        cudaError_t e = copy_wait(c, c->rope_cs, host, total * sizeof(double), cudaMemcpyHostToDevice);
        if (e != cudaSuccess) s = rad_err(RADIAL_ERR_BACKEND, "cuda rope3d: table upload: %s", cudaGetErrorString(e));
    }
    rad_free(host);
    if (s != RAD_OK) {
        dev_free(c, c->rope_cs);
        c->rope_cs = NULL;
        return s;
    }
    memcpy(c->rope_key, key, sizeof key);
    *out = c->rope_cs;
    return RAD_OK;
}

rad_status be_rope3d(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads, int64_t head_dim) {
    const op_range family_range(RAD_OPF_ROPE);
    cuda_be *c = S(be);
    size_t tok = 0, n = 0;
    if (f <= 0 || h <= 0 || w <= 0 || heads <= 0 || head_dim < 6 || head_dim % 2 || heads * head_dim > (1 << 20) ||
        count("rope3d", f, h, &tok) != RAD_OK || count("rope3d", (int64_t)tok, w, &tok) != RAD_OK ||
        count("rope3d", (int64_t)tok, heads * head_dim, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda rope3d: bad shape f=%lld h=%lld w=%lld heads=%lld head_dim=%lld",
                       (long long)f, (long long)h, (long long)w, (long long)heads, (long long)head_dim);
    const double *cs;
    RAD_TRY(rope_table(c, f, h, w, head_dim, &cs));
    bf16 *x16;
    RAD_TRY(shadow_for_output(c, x, n, &x16));
    const int64_t ph = head_dim / 6, pt = head_dim / 2 - 2 * ph;
    return rk_rope3d(x, cs, f, h, w, heads, head_dim, pt, ph, x16, c->st);
}

rad_status be_rmsnorm_rope3d(rad_backend *be, float *x, const float *nw, float eps, int64_t f, int64_t h, int64_t w,
                             int64_t heads, int64_t head_dim) {
    const op_range family_range(RAD_OPF_ROPE);
    cuda_be *c = S(be);
    size_t tok = 0, n = 0;
    if (f <= 0 || h <= 0 || w <= 0 || heads <= 0 || head_dim < 6 || head_dim % 2 || heads * head_dim > (1 << 20) ||
        count("rmsnorm_rope3d", f, h, &tok) != RAD_OK || count("rmsnorm_rope3d", (int64_t)tok, w, &tok) != RAD_OK ||
        count("rmsnorm_rope3d", (int64_t)tok, heads * head_dim, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "cuda rmsnorm_rope3d: bad shape f=%lld h=%lld w=%lld heads=%lld head_dim=%lld", (long long)f,
                       (long long)h, (long long)w, (long long)heads, (long long)head_dim);
    const double *cs;
    RAD_TRY(rope_table(c, f, h, w, head_dim, &cs));
    bf16 *x16;
    RAD_TRY(shadow_for_output(c, x, n, &x16));
    const int64_t ph = head_dim / 6, pt = head_dim / 2 - 2 * ph;
    return rk_rmsnorm_rope3d(x, nw, eps, cs, f, h, w, heads, head_dim, pt, ph, x16, c->st);
}

rad_status be_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    size_t n = 0;
    if (rows < 0 || cols < 0 || count("transpose", rows, cols, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda transpose: bad shape");
    if (x == y && rows > 1 && cols > 1) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda transpose: cannot run in place");
    shadow_inval(c, y, n * sizeof(float));
    return rk_transpose(x, rows, cols, y, c->st);
}

/* ---- attention ---- */

/* The device copy of a host block-CSR layout (validated and uploaded once; the cache compares contents). */
rad_status mask_device(cuda_be *c, const rad_bsr *m, const rad_cuda_bsr **out) {
    mask_entry *lru = &c->masks[0];
    for (int i = 0; i < N_MASKS; i++) {
        mask_entry *e = &c->masks[i];
        if (e->valid && e->n_tokens == m->n_tokens && e->block == m->block && e->n_blocks == m->n_blocks &&
            m->row_ptr && m->col_idx &&
            !memcmp(e->row_ptr, m->row_ptr, ((size_t)m->n_blocks + 1) * sizeof(int32_t)) &&
            !memcmp(e->col_idx, m->col_idx, (size_t)e->dev.nnz * sizeof(int32_t))) {
            e->used = ++c->tick;
            *out = &e->dev;
            return RAD_OK;
        }
        if (!e->valid || (lru->valid && e->used < lru->used)) lru = e;
    }
    if (lru->valid) {
        rad_cuda_bsr_free(&lru->dev);
        rad_free(lru->row_ptr), rad_free(lru->col_idx);
        memset(lru, 0, sizeof *lru);
    }
    RAD_TRY(rad_cuda_bsr_upload(m, &lru->dev)); /* checks bounds, block == 128 */
    const size_t rp = ((size_t)m->n_blocks + 1) * sizeof(int32_t), ci = (size_t)lru->dev.nnz * sizeof(int32_t);
    rad_status s = rad_alloc((void **)&lru->row_ptr, rp, "mask copy");
    if (s == RAD_OK) s = rad_alloc((void **)&lru->col_idx, ci ? ci : 1, "mask copy");
    if (s != RAD_OK) {
        rad_cuda_bsr_free(&lru->dev);
        rad_free(lru->row_ptr), rad_free(lru->col_idx);
        memset(lru, 0, sizeof *lru);
        return s;
    }
    memcpy(lru->row_ptr, m->row_ptr, rp);
    memcpy(lru->col_idx, m->col_idx, ci);
    lru->n_tokens = m->n_tokens, lru->block = m->block, lru->n_blocks = m->n_blocks;
    lru->valid = true, lru->used = ++c->tick;
    *out = &lru->dev;
    return RAD_OK;
}

/* The all-blocks layout of lq queries x lk keys (dense self- or cross-attention). */
rad_status cross_device(cuda_be *c, int64_t lq, int64_t lk, const rad_cuda_bsr **out) {
    cross_entry *lru = &c->cross[0];
    for (int i = 0; i < N_CROSS; i++) {
        cross_entry *e = &c->cross[i];
        if (e->valid && e->lq == lq && e->lk == lk) {
            e->used = ++c->tick;
            *out = &e->dev;
            return RAD_OK;
        }
        if (!e->valid || (lru->valid && e->used < lru->used)) lru = e;
    }
    if (lru->valid) rad_cuda_bsr_free(&lru->dev);
    memset(lru, 0, sizeof *lru);
    RAD_TRY(rad_cuda_bsr_cross(lq, lk, &lru->dev));
    lru->lq = lq, lru->lk = lk, lru->valid = true, lru->used = ++c->tick;
    *out = &lru->dev;
    return RAD_OK;
}

/* x as a bf16 tensor the tensor-core kernels can read (16-byte aligned): its shadow, or NULL. */
bf16 *attn_shadow(cuda_be *c, const float *x, size_t n) {
    bf16 *h = shadow_find(c, x, n);
    return h && (uintptr_t)h % 16 == 0 ? h : NULL;
}

/* *h (when NULL) = x converted into a scratch slot. */
rad_status attn_convert(cuda_be *c, const float *x, size_t n, int slot, bf16 **h) {
    if (*h) return RAD_OK;
    void *buf;
    RAD_TRY(scratch(c, slot, n * sizeof(bf16), &buf));
    *h = (bf16 *)buf;
    return rk_f32_to_bf16(x, *h, (int64_t)n, c->st);
}

/* q, k, v as bf16 for the tensor cores: their shadows, else converted into the Q, K, V scratch slots (not shadows:
 * an output's shadow claimed after this cannot evict them). */
rad_status attn_inputs_bf16(cuda_be *c, const float *q, const float *k, const float *v, size_t nq, size_t nk,
                            bf16 **q16, bf16 **k16, bf16 **v16) {
    *q16 = attn_shadow(c, q, nq), *k16 = attn_shadow(c, k, nk), *v16 = attn_shadow(c, v, nk);
    RAD_TRY(attn_convert(c, q, nq, SCR_Q, q16));
    RAD_TRY(attn_convert(c, k, nk, SCR_K, k16));
    return attn_convert(c, v, nk, SCR_V, v16);
}

/* Attention for the head dims the tensor-core kernels do not take (the VAE's single head of 384), no bias, no
 * mask: per head and chunk of query rows, S = Q Kᵀ by a bf16 GEMM into fp32, P = softmax(scale S) rounded to
 * bf16, O = P V by a second GEMM (fp32 accumulation). The chunk's scores and probabilities stay within
 * GEMM_ATTN_SCRATCH (they sit in the memory estimate's headroom). 6240 tokens x 384 (the VAE at 480x832): 60
 * GFLOP a call on the tensor cores, where the generic fp32 kernel took 11 ms. */
constexpr size_t GEMM_ATTN_SCRATCH = 48u << 20;

rad_status attention_gemm(cuda_be *c, const float *q, const float *k, const float *v, float *out, int64_t lq,
                          int64_t lk, int64_t heads, int64_t hd, float scale, size_t nq, size_t nk) {
    bf16 *q16, *k16, *v16;
    RAD_TRY(attn_inputs_bf16(c, q, k, v, nq, nk, &q16, &k16, &v16));
    /* the scores' row pitch a multiple of 8 elements: 16-byte aligned rows for cuBLASLt */
    const int64_t ld = heads * hd, lds = (lk + 7) / 8 * 8, per_row = lds * (int64_t)(sizeof(float) + sizeof(bf16));
    int64_t rows = (int64_t)(GEMM_ATTN_SCRATCH / (size_t)per_row);
    rows = rows < 1 ? 1 : rows > lq ? lq : rows;
    void *sbuf, *pbuf;
    RAD_TRY(scratch(c, SCR_S, (size_t)(rows * lds) * sizeof(float), &sbuf));
    RAD_TRY(scratch(c, SCR_P, (size_t)(rows * lds) * sizeof(bf16), &pbuf));
    float *sc = (float *)sbuf;
    bf16 *pr = (bf16 *)pbuf;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t r0 = 0; r0 < lq; r0 += rows) {
            const int64_t n = lq - r0 < rows ? lq - r0 : rows;
            /* row-major S [n, lk] (pitch lds) is column-major Sᵀ = K (transposed [hd, lk] column-major) · Qᵀ */
            RAD_TRY(gemm(c, "attention scores", true, false, lk, n, hd, k16 + h * hd, ld, q16 + r0 * ld + h * hd, ld,
                         sc, lds, NULL));
            RAD_TRY(rk_softmax_rows_bf16(sc, n, lk, lds, scale, pr, c->st));
            /* row-major O [n, hd] (row stride ld) is column-major Oᵀ = Vᵀ ([hd, lk] column-major) · Pᵀ */
            RAD_TRY(gemm(c, "attention output", false, false, hd, n, lk, v16 + h * hd, ld, pr, lds,
                         out + r0 * ld + h * hd, ld, NULL));
        }
    return RAD_OK;
}

rad_status be_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out, int64_t lq,
                        int64_t lk, int64_t heads, int64_t head_dim, float scale, const float *bias,
                        const rad_bsr *mask) {
    const op_range family_range(rad_attention_family(lq, lk, mask));
    cuda_be *c = S(be);
    size_t row = 0, nq = 0, nk = 0;
    if (lq < 0 || lk <= 0 || heads <= 0 || head_dim <= 0 || count("attention", heads, head_dim, &row) != RAD_OK ||
        count("attention", lq, (int64_t)row, &nq) != RAD_OK || count("attention", lk, (int64_t)row, &nk) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "cuda attention: need lq >= 0 and lk, heads, head_dim > 0, got lq=%lld lk=%lld heads=%lld "
                       "head_dim=%lld",
                       (long long)lq, (long long)lk, (long long)heads, (long long)head_dim);
    if (lq == 0) return RAD_OK;
    if (mask && (lq != lk || mask->n_tokens != lq))
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "cuda attention: block-CSR mask is for self-attention over %lld tokens, got lq=%lld lk=%lld",
                       (long long)mask->n_tokens, (long long)lq, (long long)lk);
    const rad_cuda_bsr *layout = NULL;
    if (mask) RAD_TRY(mask_device(c, mask, &layout));
    shadow_inval(c, out, nq * sizeof(float));

    /* bf16 tensor-core kernels (sm_80 and later; below, the generic kernel) */
    if (head_dim == RAD_CUDA_ATTN_HEAD_DIM && !bias && heads <= 4096 && c->tc_attention) {
        if (!layout) RAD_TRY(cross_device(c, lq, lk, &layout));
        bf16 *q16, *k16, *v16, *o16;
        RAD_TRY(attn_inputs_bf16(c, q, k, v, nq, nk, &q16, &k16, &v16));
        const bf16 *keep[3] = {q16, k16, v16}; /* the output's copy must not evict the inputs' */
        RAD_TRY(shadow_claim_keep(c, out, nq, keep, 3, &o16));
        if (!o16) {
            void *buf;
            RAD_TRY(scratch(c, SCR_O, nq * sizeof(bf16), &buf));
            o16 = (bf16 *)buf;
        }
        if (c->attn_fp8 && lq == lk) { /* self-attention in fp8 (set_attention); cross-attention stays bf16 */
            rad_fp8_attn_layout L;
            void *f8;
            RAD_TRY(rad_fp8_attn_plan(lq, heads, &L));
            RAD_TRY(scratch(c, SCR_FP8ATTN, L.bytes, &f8)); /* cudaMalloc: 256-byte aligned */
            RAD_TRY(rad_cuda_attn_fp8_quantize(q16, k16, v16, &L, f8, (void *)c->st));
            RAD_TRY(rad_cuda_attn_fp8_run(&L, f8, o16, scale, layout, 0, (void *)c->st));
        } else {
            RAD_TRY(rad_cuda_attention_bf16(q16, k16, v16, o16, heads, scale, layout, RAD_CUDA_ATTN_AUTO, (void *)c->st));
        }
        return rk_bf16_to_f32(o16, out, (int64_t)nq, c->st);
    }
    if (!bias && !mask && c->tc_attention && head_dim % 8 == 0 && scale > 0)
        return attention_gemm(c, q, k, v, out, lq, lk, heads, head_dim, scale, nq, nk);
    return rk_attention_generic(q, k, v, out, lq, lk, heads, head_dim, scale, bias, layout ? layout->row_ptr : NULL,
                                layout ? layout->col_idx : NULL, layout ? layout->block : 0, c->st);
}

/* ---- VAE ---- */

/* Convolution inputs are bf16 (conv_dtype): the conversion rounds to nearest even, as the convolutions did when
 * they read fp32 inputs, so the results are those of fp32 inputs bit for bit. */
rad_status be_to_conv_dtype(rad_backend *be, const float *x, int64_t n, void *y) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    size_t bytes = 0;
    if (n < 0 || count("to_conv_dtype", n, (int64_t)sizeof(bf16), &bytes) != RAD_OK || (n > 0 && (!x || !y)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda to_conv_dtype: bad arguments (%lld elements)", (long long)n);
    shadow_inval(c, y, bytes);
    return rk_f32_to_bf16(x, (bf16 *)y, n, c->st);
}

rad_status be_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w, const void *prev,
                     int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout, int64_t kt, int64_t kh,
                     int64_t kw, int64_t ph, int64_t pw, float *y) {
    const op_range family_range(RAD_OPF_CONV);
    cuda_be *c = S(be);
    RAD_TRY(rad_conv3d_check("cuda conv3d", cin, t, h, w, prev, n_prev, wt ? wt->rows : -1, wt ? wt->cols : -1, cout,
                             kt, kh, kw, ph, pw));
    const int64_t ho = h + 2 * ph - kh + 1, wo = w + 2 * pw - kw + 1;
    const int64_t K = cin * kt * kh * kw;
    size_t P = 0, ny = 0;
    RAD_TRY(count("conv3d", ho, wo, &P));
    RAD_TRY(count("conv3d", t * cout, (int64_t)P, &ny));
    shadow_inval(c, y, ny * sizeof(float));
    const rk_conv_geom g = {(const bf16 *)x, kt > 1 ? (const bf16 *)prev : NULL, cin, t, h, w, kt > 1 ? n_prev : 0,
                            kt, kh, kw, ph, pw, ho, wo};

    if (!c->conv_im2col && rk_conv_igemm_fits(&g, cout)) {
        /* The weight's repacked copy is a cache of the weight (made once; the handle is const to callers). */
        rad_weight *mw = (rad_weight *)wt;
        const int64_t taps = kt * kh * kw;
        if (!mw->packed || mw->pk_cin != cin || mw->pk_taps != taps) {
            dev_free(c, mw->packed);
            mw->packed = NULL;
            const bf16 *w16; /* a stored (fp8 / block) weight is dequantised once, for the packing */
            RAD_TRY(weight_bf16(c, wt, "conv3d", &w16));
            const size_t n = (size_t)rk_conv_igemm_packed_elems(cout, cin, taps);
            RAD_TRY(dev_alloc(c, n * sizeof(bf16), "conv3d repacked weight", (void **)&mw->packed));
            rad_status s = rk_conv_pack_weight(w16, cout, cin, taps, mw->packed, c->st);
            if (s != RAD_OK) {
                dev_free(c, mw->packed);
                mw->packed = NULL;
                return s;
            }
            mw->pk_cin = cin, mw->pk_taps = taps;
        }
        return rk_conv3d_igemm(&g, mw->packed, cout, bias, y, c->st);
    }

    /* Fallback and reference: per output frame, runs of output pixels whose bf16 column matrix [K][run] fits IM2COL_BYTES; each run is
     * one GEMM: y^T[run, cout] (column-major, ld t*P, at frame f) = cols^T[run, K] . W^T[K, cout]. */
    int64_t run = (int64_t)(IM2COL_BYTES / sizeof(bf16)) / K / 8 * 8;
    if (run < 8) run = 8;
    if (run > (int64_t)P) run = ((int64_t)P + 7) / 8 * 8;
    const bf16 *w16; /* dequantised once for all the runs */
    RAD_TRY(weight_bf16(c, wt, "conv3d", &w16));
    void *cols;
    RAD_TRY(scratch(c, SCR_IM2COL, (size_t)run * (size_t)K * sizeof(bf16), &cols));
    for (int64_t f = 0; f < t; f++)
        for (int64_t p0 = 0; p0 < (int64_t)P; p0 += run) {
            const int64_t np = (int64_t)P - p0 < run ? (int64_t)P - p0 : run;
            RAD_TRY(rk_im2col(&g, f, p0, np, (bf16 *)cols, run, c->st));
            RAD_TRY(gemm(c, "conv3d", false, false, np, cout, K, (const bf16 *)cols, run, w16, K,
                         y + f * (int64_t)P + p0, t * (int64_t)P, NULL));
        }
    if (bias) RAD_TRY(rk_add_channel_bias(y, cout, t * (int64_t)P, bias, c->st));
    return RAD_OK;
}

rad_status be_rmsnorm_channels(rad_backend *be, const float *x, int64_t ch, int64_t s, const float *gamma, float *y) {
    const op_range family_range(RAD_OPF_NORM);
    cuda_be *c = S(be);
    size_t n = 0;
    if (ch < 1 || s < 0 || count("rmsnorm_channels", ch, s, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda rmsnorm_channels: bad shape %lld x %lld", (long long)ch, (long long)s);
    shadow_inval(c, y, n * sizeof(float));
    return rk_rmsnorm_channels(x, ch, s, gamma, y, c->st);
}

rad_status be_rmsnorm_silu_channels(rad_backend *be, const float *x, int64_t ch, int64_t s, const float *gamma, void *y) {
    const op_range family_range(RAD_OPF_NORM);
    cuda_be *c = S(be);
    size_t n = 0;
    if (ch < 1 || s < 0 || count("rmsnorm_silu_channels", ch, s, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda rmsnorm_silu_channels: bad shape %lld x %lld", (long long)ch,
                       (long long)s);
    shadow_inval(c, y, n * sizeof(bf16));
    return rk_rmsnorm_silu_channels(x, ch, s, gamma, (bf16 *)y, c->st);
}

rad_status be_upsample2x(rad_backend *be, const void *x, int64_t ch, int64_t h, int64_t w, void *y) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    size_t n = 0;
    if (ch < 0 || h < 0 || w < 0 || count("upsample2x", ch * 4, h * w, &n) != RAD_OK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda upsample2x: bad shape %lld x %lld x %lld", (long long)ch,
                       (long long)h, (long long)w);
    shadow_inval(c, y, n * sizeof(bf16));
    return rk_upsample2x((const bf16 *)x, ch, h, w, (bf16 *)y, c->st);
}

rad_status be_copy2d(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t row_bytes,
                     size_t rows) {
    const op_range family_range(RAD_OPF_ELEMENTWISE);
    cuda_be *c = S(be);
    if (!rows || !row_bytes) return RAD_OK;
    size_t span;
    if (!dst || !src || (rows > 1 && (dst_pitch < row_bytes || src_pitch < row_bytes)) ||
        !rad_mul_size(rows - 1, dst_pitch, &span) || !rad_add_size(span, row_bytes, &span))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda copy2d: bad arguments (rows %zu of %zu bytes, pitches %zu, %zu)",
                       rows, row_bytes, dst_pitch, src_pitch);
    shadow_inval(c, dst, span);
    if (rows == 1) dst_pitch = src_pitch = row_bytes;
    CK("copy2d", cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDeviceToDevice, c->st));
    return RAD_OK;
}

/* ---- profiling ---- */

void be_range_push(rad_backend *be, const char *name) {
    (void)be;
    nvtxRangePushA(name);
}

void be_range_pop(rad_backend *be) {
    (void)be;
    nvtxRangePop();
}

rad_status be_prof_mark(rad_backend *be, int slot) {
    cuda_be *c = S(be);
    if (slot < 0 || slot >= RAD_PROF_SLOTS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda prof_mark: slot %d out of [0, %d)", slot, RAD_PROF_SLOTS);
    if (!c->prof_ev[slot]) CK("prof_mark", cudaEventCreate(&c->prof_ev[slot]));
    CK("prof_mark", cudaEventRecord(c->prof_ev[slot], c->st));
    return RAD_OK;
}

rad_status be_prof_elapsed(rad_backend *be, int a, int b, double *seconds) {
    cuda_be *c = S(be);
    *seconds = 0;
    if (a < 0 || b < 0 || a >= RAD_PROF_SLOTS || b >= RAD_PROF_SLOTS || !c->prof_ev[a] || !c->prof_ev[b])
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda prof_elapsed: slots %d and %d are not both recorded", a, b);
    float ms = 0;
    CK("prof_elapsed", cudaEventSynchronize(c->prof_ev[b]));
    CK("prof_elapsed", cudaEventElapsedTime(&ms, c->prof_ev[a], c->prof_ev[b]));
    *seconds = 1e-3 * (double)ms;
    return RAD_OK;
}

/* ---- lifetime ---- */

void be_destroy(rad_backend *be) {
    if (!be) return;
    cuda_be *c = S(be);
    if (c) {
        cudaDeviceSynchronize();
        for (int i = 0; i < RAD_PROF_SLOTS; i++)
            if (c->prof_ev[i]) cudaEventDestroy(c->prof_ev[i]);
        for (int i = 0; i < N_PLANS; i++) plan_destroy(&c->plans[i]);
        for (int i = 0; i < N_MASKS; i++)
            if (c->masks[i].valid) {
                rad_cuda_bsr_free(&c->masks[i].dev);
                rad_free(c->masks[i].row_ptr), rad_free(c->masks[i].col_idx);
            }
        for (int i = 0; i < N_CROSS; i++)
            if (c->cross[i].valid) rad_cuda_bsr_free(&c->cross[i].dev);
        rk_fp8_destroy(c->fp8); /* frees its buffers through dev_free */
        c->fp8 = NULL;
        if (c->lt) cublasLtDestroy(c->lt);
        for (int i = 0; i < RAD_STAGE_SLOTS; i++)
            if (c->slots[i].copied) cudaEventDestroy(c->slots[i].copied), cudaEventDestroy(c->slots[i].consumed);
        if (c->copy_st) cudaStreamDestroy(c->copy_st);
        if (c->st) cudaStreamDestroy(c->st);
        /* whatever the models did not free (they free theirs first) goes with the backend */
        for (size_t i = 0; i < c->n_recs; i++) cudaFree(c->recs[i].p);
        free(c->recs);
        free(c);
    }
    free(be);
}
} // namespace

static rad_status cuda_weight_arg(rad_backend *be, const rad_weight *w, const char *fn) {
    if (!be || be->weight_new != be_weight_new || !w)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: needs a CUDA backend and one of its weights", fn);
    return RAD_OK;
}

rk_fp8 *rk_fp8_of(rad_backend *be) { return be && be->weight_new == be_weight_new ? S(be)->fp8 : NULL; }

extern "C" rad_status rad_cuda_weight_stored(rad_backend *be, const rad_weight *w, rad_dtype *dtype, size_t *bytes) {
    RAD_TRY(cuda_weight_arg(be, w, "rad_cuda_weight_stored"));
    *dtype = w->dtype;
    *bytes = w->bytes + (size_t)w->n_scale * sizeof(float);
    return RAD_OK;
}

extern "C" rad_status rad_cuda_weight_bf16(rad_backend *be, const rad_weight *w, uint16_t *host) {
    RAD_TRY(cuda_weight_arg(be, w, "rad_cuda_weight_bf16"));
    const bf16 *w16;
    RAD_TRY(weight_bf16(S(be), w, "weight_bf16", &w16));
    const size_t bytes = (size_t)w->rows * (size_t)w->cols * sizeof(bf16);
    cudaError_t e = copy_wait(S(be), host, w16, bytes, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return rad_err(RADIAL_ERR_BACKEND, "cuda weight %s: download of its bf16 matrix failed: %s", w->name,
                       cudaGetErrorString(e));
    return RAD_OK;
}

/* Collectives (backend.h): the CUDA backend runs NCCL groups (cuda_nccl.cu, RAD_HAVE_NCCL builds); any other
 * group is refused by the dispatch, naming it. */
static rad_status be_all_to_all(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_tokens,
                                int64_t heads, int64_t head_dim, int dir) {
    const op_range family_range(RAD_OPF_COLLECTIVE);
    RAD_TRY(rad_group_all_to_all("cuda", g, be, src, dst, n_tokens, heads, head_dim, dir));
    /* dst was written behind the ops' backs: drop its bf16 / fp8 shadows (the group checked the shape) */
    const int64_t rows = dir == RAD_A2A_TOKENS_TO_HEADS ? n_tokens : rad_split_count(n_tokens, g->size, g->rank);
    const int64_t cols = dir == RAD_A2A_TOKENS_TO_HEADS ? heads / g->size * head_dim : heads * head_dim;
    shadow_inval(S(be), dst, (size_t)(rows * cols) * sizeof(float));
    return RAD_OK;
}
static rad_status be_all_gather(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_rows,
                                int64_t row_elems) {
    const op_range family_range(RAD_OPF_COLLECTIVE);
    RAD_TRY(rad_group_all_gather("cuda", g, be, src, dst, n_rows, row_elems));
    shadow_inval(S(be), dst, (size_t)(n_rows * row_elems) * sizeof(float));
    return RAD_OK;
}

static rad_status be_broadcast(rad_backend *be, rad_group *g, float *buf, int64_t n, int root) {
    const op_range family_range(RAD_OPF_COLLECTIVE);
    RAD_TRY(rad_group_broadcast("cuda", g, be, buf, n, root));
    if (g->rank != root) shadow_inval(S(be), buf, (size_t)n * sizeof(float));
    return RAD_OK;
}

/* For cuda_nccl.cu: the device and stream of a CUDA backend (-1 / 0 for another backend). */
extern "C" int rad_cuda_ffn_path(rad_backend *be, char *why, size_t cap) {
    const cuda_be *c = S(be);
    if (why && cap) snprintf(why, cap, "%s", c->ffn_why);
    return c->ffn_last;
}

extern "C" int rad_cuda_backend_device(rad_backend *be) {
    return be && be->weight_new == be_weight_new ? S(be)->device : -1;
}
extern "C" cudaStream_t rad_cuda_backend_stream(rad_backend *be) {
    return be && be->weight_new == be_weight_new ? S(be)->st : (cudaStream_t)0;
}

extern "C" rad_status rad_backend_cuda_device_count(int *n) {
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e != cudaSuccess) {
        *n = 0;
        return rad_err(RADIAL_ERR_UNSUPPORTED, "no NVIDIA GPU found (CUDA: %s)", cudaGetErrorString(e));
    }
    return RAD_OK;
}

extern "C" rad_status rad_backend_cuda(int device, rad_backend **out) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) /* a machine without a GPU, or without a working driver */
        return rad_err(RADIAL_ERR_UNSUPPORTED, "no NVIDIA GPU found (CUDA: %s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
    if (device < 0 || device >= n)
        return rad_err(RADIAL_ERR_INVALID_ARG, "CUDA device %d does not exist (this machine has %d GPU%s: 0 to %d)", device, n,
                       n == 1 ? "" : "s", n - 1);
    CK("select the device", cudaSetDevice(device));
    char dev[160];
    RAD_TRY(rad_cuda_device_info(dev, sizeof dev, NULL, NULL));
    rad_backend *be = (rad_backend *)calloc(1, sizeof *be);
    cuda_be *c = (cuda_be *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be), free(c);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory creating the CUDA backend");
    }
    *be = rad_backend{};
    be->name = "cuda";
    be->state = c;
    be->alloc = be_alloc;
    be->free = be_free;
    be->upload = be_upload;
    be->download = be_download;
    be->weight_new = be_weight_new;
    be->weight_free = be_weight_free;
    be->weight_new_host = be_weight_new_host;
    be->stage = be_stage;
    be->weight_park = be_weight_park;
    be->mem_stats = be_mem_stats;
    be->trim = be_trim;
    be->sync = be_sync;
    be->linear = be_linear;
    be->layernorm = be_layernorm;
    be->rmsnorm = be_rmsnorm;
    be->gelu_tanh = be_gelu_tanh;
    be->ffn = be_ffn;
    be->silu = be_silu;
    be->mul_gelu = be_mul_gelu;
    be->modulate = be_modulate;
    be->add_gated = be_add_gated;
    be->rope3d = be_rope3d;
    be->add_norm_modulate = be_add_norm_modulate;
    be->rmsnorm_rope3d = be_rmsnorm_rope3d;
    be->attention = be_attention;
    be->conv_dtype = RAD_DT_BF16;
    be->to_conv_dtype = be_to_conv_dtype;
    be->conv3d = be_conv3d;
    be->rmsnorm_channels = be_rmsnorm_channels;
    be->rmsnorm_silu_channels = be_rmsnorm_silu_channels;
    be->upsample2x = be_upsample2x;
    be->copy2d = be_copy2d;
    be->transpose = be_transpose;
    be->set_gemm = be_set_gemm;
    be->set_attention = be_set_attention;
    be->all_to_all = be_all_to_all;
    be->all_gather = be_all_gather;
    be->broadcast = be_broadcast;
    be->range_push = be_range_push;
    be->range_pop = be_range_pop;
    be->prof_mark = be_prof_mark;
    be->prof_elapsed = be_prof_elapsed;
    be->destroy = be_destroy;
    c->device = device;
    const char *conv_path = getenv("RADIAL_CUDA_CONV"); /* benchmarks and tests compare the two conv paths */
    c->conv_im2col = conv_path && !strcmp(conv_path, "im2col");
    c->ffn_path = RAD_CUDA_FFN_UNTRIED;
    cublasStatus_t ls = cublasLtCreate(&c->lt);
    rad_status s = ls == CUBLAS_STATUS_SUCCESS
                       ? RAD_OK
                       : rad_err(RADIAL_ERR_BACKEND, "cuda backend on %s: cublasLtCreate failed: status %d", dev, (int)ls);
    if (s == RAD_OK) s = dev_alloc(c, WORKSPACE_BYTES, "cuBLASLt workspace", &c->ws);
    if (s == RAD_OK && cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking) != cudaSuccess)
        s = rad_err(RADIAL_ERR_BACKEND, "cuda backend on %s: cannot create the compute stream", dev);
    if (s == RAD_OK && cudaStreamCreateWithFlags(&c->copy_st, cudaStreamNonBlocking) != cudaSuccess)
        s = rad_err(RADIAL_ERR_BACKEND, "cuda backend on %s: cannot create the upload stream", dev);
    if (s != RAD_OK) {
        be_destroy(be);
        return s;
    }
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    snprintf(be->info, sizeof be->info, "CUDA device %d: %.120s, %.1f GiB", device, dev, (double)total_b / 1073741824.0);
    (void)cudaDeviceGetAttribute(&be->sm_count, cudaDevAttrMultiProcessorCount, device);
    int cc_major = 0;
    (void)cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, device);
    c->tc_attention = cc_major >= 8;
    (void)cudaDeviceGetAttribute(&be->sm_threads, cudaDevAttrMaxThreadsPerMultiProcessor, device);
    *out = be;
    return RAD_OK;
}
