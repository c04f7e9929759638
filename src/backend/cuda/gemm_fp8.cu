/* The fp8 GEMM mode of the CUDA backend (set_gemm RAD_GEMM_FP8, `radial generate --gemm fp8`): e4m3 operands with
 * one fp32 scale per token (row of x) and per output channel (row of the weight), fp32 accumulation, fp32 output
 * with both scales and the bias applied. The numerics, and which linears take this path, are fp8_emul.h's (the
 * CPU emulation the GPU tests compare with).
 *
 * The GEMM: cuBLASLt's fp8 path, TN (the weight transposed: y^T [n, m] = W [n, k] . x^T, both operands k-major,
 * which is what its fp8 kernels require; k and n multiples of 16 for 16-byte aligned leading dimensions), D in
 * fp32. The per-row and per-column scales go in as cuBLASLt's outer-vector scaling (A_SCALE_MODE = B_SCALE_MODE =
 * CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, cuBLAS 12.9+ on sm_90: D[i, j] = sa[i] sb[j] sum_l a[i, l] b[l, j]),
 * so the fp8 GEMM writes the final y in one pass: no extra read and write of y. The bias goes into the same
 * epilogue, in fp32 where cuBLASLt takes it so, else as bf16 (its documented bias type for fp8 GEMMs with fp32
 * output), else it is added by a kernel after the GEMM. Where outer-vector scaling is not available (Ada, sm_89,
 * has only per-tensor scales; or a library that refuses it) the GEMM runs with unit scales and an epilogue kernel
 * applies sa, sb and the bias in one pass over y. Each GEMM shape finds its mode once (a heuristic query per
 * mode, in that order; a cublasLtMatmul that still refuses moves its plan to the next mode) and keeps it;
 * rad_cuda_fp8_last says what the last linear did. cuBLASLt's FAST_ACCUM is on by default (the tensor cores' partial
 * sums are not promoted to fp32 every few k-steps): measured on an H100 at the 1.3B shapes it is 1.2-1.3x faster
 * and moves the error against fp32 from 0.0363 to 0.0363-0.0364, nothing next to e4m3's own rounding;
 * rad_cuda_fp8_set_fast_accum(be, 0) gives the promoted, fp32-accurate accumulation (the tight GPU tests use it).
 *
 * Activations: one kernel reads a row of x, rounds it to bf16 (the values the bf16 path would feed its GEMM),
 * takes amax, and writes the row as e4m3 plus its scale. It takes the place of the bf16 path's fp32 -> bf16
 * conversion of x: where the op that produced x already wrote its bf16 copy (the backend's shadows: norms,
 * modulation, gelu, RoPE, attention), the kernel reads that copy instead (half the bytes; the same result, since
 * the copy holds the same bf16 roundings). The quantisation is kept, like a shadow, for the next GEMM on the same
 * rows (q, k and v share one), until an op writes to the fp32 range (rk_fp8_inval, from the backend's shadow
 * invalidation). A thread block per row keeps the row in registers (one read from device memory) up to 16,384
 * columns, beyond that it reads the row twice.
 *
 * Weights (cuda_backend.cu weight_fp8): e4m3 checkpoint weights are read as stored, with their scale; resident
 * bf16 weights are quantised per row once, at their first fp8 GEMM, by the same kernel as the activations; other
 * weights (streamed ones, e5m2, GGUF blocks) at each use, from their bf16 matrix, into a scratch buffer. */
#include <cuda_fp8.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cublaslt_util.cuh"
#include "backend/cuda/cuda_stream.cuh"
#include "backend/cuda/gemm_fp8.cuh"

extern "C" {
#include "base/mem.h"
}

namespace {
constexpr int N_ACT = 2, N_PLANS = 16;
constexpr int MAX_THREADS = 256, MAX_V = 8; /* register path: up to 256 threads x 8 vectors of 8 values a row */

/* Modes of an fp8 GEMM, in the order they are tried. */
enum { M_OV_BIAS32, M_OV_BIAS16, M_OV, M_SCALAR, N_MODES };
const char *const mode_names[N_MODES] = {"outer-vector scales, fp32 bias in the epilogue",
                                         "outer-vector scales, bf16 bias in the epilogue",
                                         "outer-vector scales", "unit scales + epilogue kernel"};

/* ------------------------------------------------------------------------------------------------ kernels */

/* 8 values from row element 8j on, rounded to bf16 (raw bits, packed). */
__device__ __forceinline__ uint4 load8(const bf16 *row, int64_t j) { return __ldg((const uint4 *)row + j); }
__device__ __forceinline__ uint4 load8(const float *row, int64_t j) {
    const float4 a = __ldg((const float4 *)row + 2 * j), b = __ldg((const float4 *)row + 2 * j + 1);
    const __nv_bfloat162 p0 = __floats2bfloat162_rn(a.x, a.y), p1 = __floats2bfloat162_rn(a.z, a.w);
    const __nv_bfloat162 p2 = __floats2bfloat162_rn(b.x, b.y), p3 = __floats2bfloat162_rn(b.z, b.w);
    uint4 r;
    memcpy(&r.x, &p0, 4), memcpy(&r.y, &p1, 4), memcpy(&r.z, &p2, 4), memcpy(&r.w, &p3, 4);
    return r;
}

__device__ __forceinline__ float2 unpack(uint32_t u) {
    __nv_bfloat162 p;
    memcpy(&p, &u, 4);
    return __bfloat1622float2(p);
}

__device__ __forceinline__ float absmax8(uint4 v) {
    const float2 a = unpack(v.x), b = unpack(v.y), c = unpack(v.z), d = unpack(v.w);
    return fmaxf(fmaxf(fmaxf(fabsf(a.x), fabsf(a.y)), fmaxf(fabsf(b.x), fabsf(b.y))),
                 fmaxf(fmaxf(fabsf(c.x), fabsf(c.y)), fmaxf(fabsf(d.x), fabsf(d.y))));
}

/* e4m3 of v · inv, two at a time (cvt.rn.satfinite.e4m3x2.f32: round to nearest even, saturate to ±448). */
__device__ __forceinline__ uint32_t q2(float2 v, float inv) {
    return __nv_cvt_float2_to_fp8x2(make_float2(__fmul_rn(v.x, inv), __fmul_rn(v.y, inv)), __NV_SATFINITE, __NV_E4M3);
}
__device__ __forceinline__ uint2 quant8(uint4 v, float inv) {
    return make_uint2(q2(unpack(v.x), inv) | q2(unpack(v.y), inv) << 16, q2(unpack(v.z), inv) | q2(unpack(v.w), inv) << 16);
}

/* The row's amax over the block (every thread gets it). */
__device__ __forceinline__ float block_max(float v) {
    __shared__ float part[MAX_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x / 32, warps = blockDim.x / 32;
    if (threadIdx.x % 32 == 0) part[warp] = v;
    __syncthreads();
    v = part[0];
    for (int i = 1; i < warps; i++) v = fmaxf(v, part[i]);
    return v;
}

/* inv = 448 / amax and the dequantisation scale amax / 448, IEEE divisions (the build's fast math would make a
 * plain '/' approximate); rows below RAD_FP8_TINY quantise to zeros with scale 0. */
__device__ __forceinline__ float scale_of(float amax, float *inv) {
    if (!(amax >= RAD_FP8_TINY)) {
        *inv = 0.0f;
        return 0.0f;
    }
    *inv = __fdiv_rn(RAD_FP8_E4M3_MAX, amax);
    return __fdiv_rn(amax, RAD_FP8_E4M3_MAX);
}

/* One block per row; each thread keeps its V vectors of 8 values (bf16 bits) in registers between the amax and the
 * quantisation, so the row is read once. */
template <typename T, int V>
__global__ void __launch_bounds__(MAX_THREADS) quant_rows_reg(const T *__restrict__ x, int64_t k, uint8_t *__restrict__ q,
                                                              float *__restrict__ s) {
    const int64_t row = blockIdx.x, nvec = k / 8;
    const T *xr = x + row * k;
    uint4 hold[V];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int64_t j = threadIdx.x + (int64_t)i * blockDim.x;
        hold[i] = j < nvec ? load8(xr, j) : make_uint4(0, 0, 0, 0);
        amax = fmaxf(amax, absmax8(hold[i]));
    }
    float inv;
    const float sc = scale_of(block_max(amax), &inv);
    if (threadIdx.x == 0) s[row] = sc;
    uint2 *qr = (uint2 *)(q + row * k);
#pragma unroll
    for (int i = 0; i < V; i++) {
        const int64_t j = threadIdx.x + (int64_t)i * blockDim.x;
        if (j < nvec) qr[j] = quant8(hold[i], inv);
    }
}

/* Rows too long for the registers: two passes (the second mostly from L2). */
template <typename T>
__global__ void __launch_bounds__(MAX_THREADS) quant_rows_2pass(const T *__restrict__ x, int64_t k,
                                                                uint8_t *__restrict__ q, float *__restrict__ s) {
    const int64_t row = blockIdx.x, nvec = k / 8;
    const T *xr = x + row * k;
    float amax = 0.0f;
    for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) amax = fmaxf(amax, absmax8(load8(xr, j)));
    float inv;
    const float sc = scale_of(block_max(amax), &inv);
    if (threadIdx.x == 0) s[row] = sc;
    uint2 *qr = (uint2 *)(q + row * k);
    for (int64_t j = threadIdx.x; j < nvec; j += blockDim.x) qr[j] = quant8(load8(xr, j), inv);
}

template <typename T>
rad_status quant_rows(const T *x, int64_t rows, int64_t k, uint8_t *q, float *s, cudaStream_t st) {
    if (rows <= 0) return RAD_OK;
    if (k % 8 || rows > 0x7fffffff || (uintptr_t)x % 16 || (uintptr_t)q % 8)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 quantisation: %lld rows of %lld (unaligned or not a multiple of 8)",
                       (long long)rows, (long long)k);
    /* at least 4 independent 16-byte loads a thread (bytes in flight: the kernel is bound by memory), 8 for rows
     * over 8192 values; small blocks, so that many rows are resident on a multiprocessor at once */
    const int64_t nvec = k / 8;
    const int v = nvec <= 4 * MAX_THREADS / 2 ? 4 : MAX_V;
    int64_t threads = (nvec + v - 1) / v;
    threads = threads < 32 ? 32 : threads > MAX_THREADS ? MAX_THREADS : (threads + 31) / 32 * 32;
    const dim3 grid((unsigned)rows), block((unsigned)threads);
    if (nvec > (int64_t)MAX_THREADS * MAX_V)
        quant_rows_2pass<T><<<grid, block, 0, st>>>(x, k, q, s);
    else if (v == 4)
        quant_rows_reg<T, 4><<<grid, block, 0, st>>>(x, k, q, s);
    else
        quant_rows_reg<T, MAX_V><<<grid, block, 0, st>>>(x, k, q, s);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return rad_err(RADIAL_ERR_BACKEND, "cuda fp8 quantisation: launch failed: %s", cudaGetErrorString(e));
    return RAD_OK;
}

/* y [m, n] = y · sx[row] · sw[col] + bias[col] (the unit-scale fallback's epilogue), 4 columns a thread. */
__global__ void scale_bias_kernel(float *__restrict__ y, int64_t m, int64_t n, const float *__restrict__ sx,
                                  const float *__restrict__ sw, const float *__restrict__ bias) {
    const int64_t n4 = n / 4, total = m * n4;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / n4, c = (i % n4) * 4;
        float4 v = ((float4 *)y)[i];
        const float a = sx[r];
        v.x = __fmul_rn(__fmul_rn(a, sw[c + 0]), v.x), v.y = __fmul_rn(__fmul_rn(a, sw[c + 1]), v.y);
        v.z = __fmul_rn(__fmul_rn(a, sw[c + 2]), v.z), v.w = __fmul_rn(__fmul_rn(a, sw[c + 3]), v.w);
        if (bias) v.x += bias[c], v.y += bias[c + 1], v.z += bias[c + 2], v.w += bias[c + 3];
        ((float4 *)y)[i] = v;
    }
}

__global__ void bias_bf16_kernel(const float *__restrict__ b, bf16 *__restrict__ o, int64_t n) {
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) o[i] = __float2bfloat16_rn(b[i]);
}

__global__ void fill_kernel(float *__restrict__ d, int64_t n, const float *__restrict__ src) {
    const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (i < n) d[i] = src ? src[0] : 1.0f;
}

unsigned blocks_for(int64_t n, int per) {
    const int64_t b = (n + per - 1) / per;
    return (unsigned)(b < 1 ? 1 : b > (1 << 20) ? (1 << 20) : b);
}

/* ------------------------------------------------------------------------------------------------ state */

struct act_entry { /* a cached quantisation of fp32 rows [src, src + rows * k) */
    const float *src;
    int64_t rows, k;
    uint8_t *q;
    float *s;
    size_t cap_q, cap_s;
    int source; /* 16 or 32: what it was read from */
    uint64_t used;
};

struct plan_key { /* compared with memcmp: no padding */
    int64_t m, n, k;
    int first_mode, fast;
    int align_a, align_b, align_c, pad;
};

struct fp8_plan {
    bool valid;
    uint64_t used;
    plan_key key;
    int mode;
    char skipped[200]; /* why the modes before `mode` were passed over (for rad_cuda_fp8_info.why) */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

/* The pointers of a call, set on the descriptor before the heuristic too: cuBLASLt's heuristic refuses a vector
 * scale mode whose scale pointer is not set yet. */
struct call_ptrs {
    const void *sw, *sx, *bias;
};

} // namespace

struct rk_fp8 {
    int device;
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_bytes;
    cudaStream_t st;
    rk_fp8_alloc_fn alloc;
    rk_fp8_free_fn free_fn;
    void *owner;
    act_entry act[N_ACT];
    fp8_plan plans[N_PLANS];
    uint64_t tick;
    uint8_t *wq; /* per-use weight quantisation */
    float *wscale;
    size_t wq_cap, wscale_cap;
    bf16 *bias16;
    size_t bias16_cap;
    bool fast_accum;
    rad_cuda_fp8_info last;
};

namespace {

/* *buf (cap bytes) grown to at least `bytes`. */
rad_status grow(rk_fp8 *f, void **buf, size_t *cap, size_t bytes, const char *what) {
    if (*cap >= bytes) return RAD_OK;
    void *old = *buf;
    *buf = NULL, *cap = 0;
    f->free_fn(f->owner, old);
    RAD_TRY(f->alloc(f->owner, bytes, what, buf));
    *cap = bytes;
    return RAD_OK;
}

void plan_destroy(fp8_plan *p) {
    if (!p->valid) return;
    rk_lt_plan_destroy(p->op, p->la, p->lb, p->lc);
    p->valid = false;
}

/* One mode's descriptor and the heuristic's first algorithm; false (p untouched, `note` says which call refused)
 * when it has none. */
bool plan_try(rk_fp8 *f, const plan_key *k, int mode, const call_ptrs *cp, fp8_plan *p, char *note, size_t cap) {
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const int8_t fast = (int8_t)k->fast;
    const char *step = "descriptor";
    cublasStatus_t e = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast);
    if (e == CUBLAS_STATUS_SUCCESS && mode != M_SCALAR) {
        step = "scale mode";
        const int32_t sm = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &sm, sizeof sm);
        if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &sm, sizeof sm);
        if (e == CUBLAS_STATUS_SUCCESS)
            e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &cp->sw, sizeof cp->sw);
        if (e == CUBLAS_STATUS_SUCCESS)
            e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &cp->sx, sizeof cp->sx);
    }
    if (e == CUBLAS_STATUS_SUCCESS && (mode == M_OV_BIAS32 || mode == M_OV_BIAS16)) {
        step = "bias epilogue";
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        const int32_t bt = mode == M_OV_BIAS32 ? CUDA_R_32F : CUDA_R_16BF;
        e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
        if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
        if (e == CUBLAS_STATUS_SUCCESS)
            e = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &cp->bias, sizeof cp->bias);
    }
    /* A = W stored k x n (column-major, ld k), op T; B = x^T stored k x m, op N; C = D = y^T n x m, ld n */
    if (e == CUBLAS_STATUS_SUCCESS) step = "layouts";
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, (uint64_t)k->k, (uint64_t)k->n, k->k);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, (uint64_t)k->k, (uint64_t)k->m, k->k);
    if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)k->n, (uint64_t)k->m, k->n);
    if (e == CUBLAS_STATUS_SUCCESS) {
        step = "heuristic";
        e = rk_lt_heuristic(f->lt, op, la, lb, lc, f->ws_bytes, k->align_a, k->align_b, k->align_c, &res, &found);
    }
    if (e != CUBLAS_STATUS_SUCCESS || found < 1) {
        const size_t used = strlen(note);
        if (used + 1 < cap)
            snprintf(note + used, cap - used, "%s%s: %s %s %d", used ? "; " : "", mode_names[mode], step,
                     e != CUBLAS_STATUS_SUCCESS ? "status" : "found no algorithm, status", (int)e);
        if (lc) cublasLtMatrixLayoutDestroy(lc);
        if (lb) cublasLtMatrixLayoutDestroy(lb);
        if (la) cublasLtMatrixLayoutDestroy(la);
        if (op) cublasLtMatmulDescDestroy(op);
        return false;
    }
    plan_destroy(p);
    p->valid = true, p->key = *k, p->mode = mode, p->op = op, p->la = la, p->lb = lb, p->lc = lc, p->algo = res.algo;
    return true;
}

/* p = the first mode from `from` on that cuBLASLt has a GEMM for; `skipped` (kept from an earlier make of the same
 * plan when from > its first mode) says why the others were passed over. */
rad_status plan_make(rk_fp8 *f, const plan_key *k, int from, const call_ptrs *cp, fp8_plan *p, const char *wname) {
    char note[200];
    snprintf(note, sizeof note, "%s", from > k->first_mode && p->valid ? p->skipped : "");
    for (int mode = from; mode < N_MODES; mode++)
        if (plan_try(f, k, mode, cp, p, note, sizeof note)) {
            snprintf(p->skipped, sizeof p->skipped, "%s", note);
            return RAD_OK;
        }
    plan_destroy(p);
    return rad_err(RADIAL_ERR_BACKEND,
                   "cuda linear (fp8), weight %s: cuBLASLt has no fp8 GEMM for m %lld n %lld k %lld (alignments %d, %d, "
                   "%d bytes)", wname, (long long)k->m, (long long)k->n, (long long)k->k, k->align_a, k->align_b, k->align_c);
}

fp8_plan *plan_find(rk_fp8 *f, const plan_key *k, const call_ptrs *cp, const char *wname, rad_status *s) {
    fp8_plan *lru = &f->plans[0];
    *s = RAD_OK;
    for (int i = 0; i < N_PLANS; i++) {
        fp8_plan *q = &f->plans[i];
        if (q->valid && !memcmp(&q->key, k, sizeof *k)) {
            q->used = ++f->tick;
            return q;
        }
        if (!q->valid || (lru->valid && q->used < lru->used)) lru = q;
    }
    plan_destroy(lru);
    if ((*s = plan_make(f, k, k->first_mode, cp, lru, wname)) != RAD_OK) return NULL;
    lru->used = ++f->tick;
    return lru;
}

/* The cached quantisation holding rows [x, x + m k) (whole rows of the same width, its scales 16-byte aligned). */
act_entry *act_find(rk_fp8 *f, const float *x, int64_t m, int64_t k, int64_t *row0) {
    for (int i = 0; i < N_ACT; i++) {
        act_entry *e = &f->act[i];
        if (!e->src || e->k != k || x < e->src) continue;
        const int64_t off = x - e->src;
        if (off % k || off / k + m > e->rows || (off / k) % 4) continue;
        *row0 = off / k;
        e->used = ++f->tick;
        return e;
    }
    return NULL;
}

rad_status act_quantise(rk_fp8 *f, const float *x, const bf16 *x16, int64_t m, int64_t k, act_entry **out) {
    act_entry *e = NULL; /* a free slot, else the least recently used */
    for (int i = 0; i < N_ACT; i++) {
        act_entry *a = &f->act[i];
        if (!e || (!a->src && e->src) || (!a->src == !e->src && a->used < e->used)) e = a;
    }
    e->src = NULL;
    RAD_TRY(grow(f, (void **)&e->q, &e->cap_q, (size_t)m * (size_t)k, "fp8 activations (e4m3)"));
    RAD_TRY(grow(f, (void **)&e->s, &e->cap_s, (size_t)m * sizeof(float), "fp8 activation scales"));
    RAD_TRY(x16 ? quant_rows(x16, m, k, e->q, e->s, f->st) : quant_rows(x, m, k, e->q, e->s, f->st));
    e->src = x, e->rows = m, e->k = k, e->source = x16 ? 16 : 32, e->used = ++f->tick;
    *out = e;
    return RAD_OK;
}

cublasStatus_t run(rk_fp8 *f, fp8_plan *p, const uint8_t *wq, const float *sw, const uint8_t *xq, const float *sx,
                   const void *bias_ptr, float *y) {
    cublasStatus_t e = CUBLAS_STATUS_SUCCESS;
    if (p->mode != M_SCALAR) {
        e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sw, sizeof sw);
        if (e == CUBLAS_STATUS_SUCCESS) e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sx, sizeof sx);
    }
    if (e == CUBLAS_STATUS_SUCCESS && (p->mode == M_OV_BIAS32 || p->mode == M_OV_BIAS16))
        e = cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof bias_ptr);
    const float one = 1.0f, zero = 0.0f;
    if (e == CUBLAS_STATUS_SUCCESS)
        e = cublasLtMatmul(f->lt, p->op, &one, wq, p->la, xq, p->lb, &zero, y, p->lc, y, p->lc, &p->algo, f->ws, f->ws_bytes,
                           f->st);
    return e;
}
} // namespace

/* ------------------------------------------------------------------------------------------------ entry points */

rad_status rk_fp8_new(int device, cublasLtHandle_t lt, void *ws, size_t ws_bytes, cudaStream_t st, rk_fp8_alloc_fn alloc,
                      rk_fp8_free_fn free_fn, void *owner, rk_fp8 **out) {
    *out = NULL;
    cudaDeviceProp p;
    const cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess)
        return rad_err(RADIAL_ERR_BACKEND, "cuda fp8 GEMMs: cannot read CUDA device %d: %s", device, cudaGetErrorString(e));
    char why[160];
    if (!rad_cuda_fp8_supported(p.major, p.minor, why, sizeof why))
        return rad_err(RADIAL_ERR_UNSUPPORTED, "fp8 GEMMs (--gemm fp8) on CUDA device %d, %s: %s; use --gemm bf16", device,
                       p.name, why);
    rk_fp8 *f = NULL;
    RAD_TRY(rad_alloc((void **)&f, sizeof *f, "fp8 GEMM state"));
    memset(f, 0, sizeof *f);
    f->device = device, f->lt = lt, f->ws = ws, f->ws_bytes = ws_bytes, f->st = st;
    f->alloc = alloc, f->free_fn = free_fn, f->owner = owner;
    f->fast_accum = true;
    f->last.fast_accum = 1;
    snprintf(f->last.why, sizeof f->last.why, "no linear has run since fp8 GEMMs were switched on");
    *out = f;
    return RAD_OK;
}

void rk_fp8_trim(rk_fp8 *f) {
    if (!f) return;
    for (int i = 0; i < N_ACT; i++) {
        act_entry *e = &f->act[i];
        void *q = e->q, *s = e->s;
        *e = act_entry{};
        f->free_fn(f->owner, q);
        f->free_fn(f->owner, s);
    }
    void *a = f->wq, *b = f->wscale, *c = f->bias16;
    f->wq = NULL, f->wscale = NULL, f->bias16 = NULL, f->wq_cap = f->wscale_cap = f->bias16_cap = 0;
    f->free_fn(f->owner, a);
    f->free_fn(f->owner, b);
    f->free_fn(f->owner, c);
}

void rk_fp8_destroy(rk_fp8 *f) {
    if (!f) return;
    rk_fp8_trim(f);
    for (int i = 0; i < N_PLANS; i++) plan_destroy(&f->plans[i]);
    rad_free(f);
}

void rk_fp8_inval(rk_fp8 *f, const void *p, size_t bytes) {
    if (!f) return;
    const char *a = (const char *)p, *b = a + bytes;
    for (int i = 0; i < N_ACT; i++) {
        act_entry *e = &f->act[i];
        if (!e->src) continue;
        const char *sa = (const char *)e->src, *sb = sa + (size_t)e->rows * (size_t)e->k * sizeof(float);
        if (a < sb && sa < b) e->src = NULL;
    }
}

void rk_fp8_note_bf16(rk_fp8 *f, const char *why) {
    if (!f) return;
    f->last = rad_cuda_fp8_info{};
    f->last.fast_accum = f->fast_accum;
    snprintf(f->last.why, sizeof f->last.why, "%s", why);
}

rad_status rk_fp8_quant_bf16_rows(const bf16 *w, int64_t rows, int64_t cols, uint8_t *q, float *scale, cudaStream_t st) {
    return quant_rows(w, rows, cols, q, scale, st);
}

rad_status rk_fp8_fill(float *dst, int64_t n, const float *src, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    fill_kernel<<<blocks_for(n, 256), 256, 0, st>>>(dst, n, src);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return rad_err(RADIAL_ERR_BACKEND, "cuda fp8 scale fill: %s", cudaGetErrorString(e));
    return RAD_OK;
}

rad_status rk_fp8_weight_scratch(rk_fp8 *f, int64_t rows, int64_t cols, uint8_t **q, float **scale) {
    RAD_TRY(grow(f, (void **)&f->wq, &f->wq_cap, (size_t)rows * (size_t)cols, "fp8 weight quantised at its use"));
    RAD_TRY(grow(f, (void **)&f->wscale, &f->wscale_cap, (size_t)rows * sizeof(float), "fp8 weight scales"));
    *q = f->wq, *scale = f->wscale;
    return RAD_OK;
}

rad_status rk_fp8_linear(rk_fp8 *f, const float *x, const bf16 *x16, int64_t m, int64_t k, const rk_fp8_weight *w,
                         const float *bias, float *y, const char *wname) {
    const int64_t n = w->rows;
    if (!rad_fp8_gemm_shape_ok(m, n, k) || w->cols != k || m > 0x7fffffff)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda linear (fp8), weight %s: shape m %lld n %lld k %lld not for fp8",
                       wname, (long long)m, (long long)n, (long long)k);
    rad_cuda_fp8_info info = rad_cuda_fp8_info{};
    info.fp8 = 1, info.weight = w->source, info.fast_accum = f->fast_accum;
    int64_t row0 = 0;
    act_entry *e = act_find(f, x, m, k, &row0);
    info.act_cached = e != NULL;
    if (!e) {
        rad_status s = act_quantise(f, x, x16, m, k, &e);
        if (s != RAD_OK) return rad_err_prefix(s, "cuda linear (fp8), weight %s: ", wname);
    }
    info.act_source = e->source;
    const uint8_t *xq = e->q + row0 * k;
    const float *sx = e->s + row0;

    const bool bias_aligned = bias && (uintptr_t)bias % 16 == 0;
    const plan_key key = {m, n, k, !bias ? M_OV : bias_aligned ? M_OV_BIAS32 : M_OV_BIAS16, f->fast_accum,
                          rk_align_of(w->q), rk_align_of(xq), rk_align_of(y), 0};
    const call_ptrs cp = {w->scale, sx, bias};
    rad_status s;
    fp8_plan *p = plan_find(f, &key, &cp, wname, &s);
    if (!p) return s;
    for (;;) {
        const void *bias_ptr = bias;
        if (p->mode == M_OV_BIAS16) {
            RAD_TRY(grow(f, (void **)&f->bias16, &f->bias16_cap, (size_t)n * sizeof(bf16), "fp8 GEMM bias (bf16)"));
            bias_bf16_kernel<<<blocks_for(n, 256), 256, 0, f->st>>>(bias, f->bias16, n);
            bias_ptr = f->bias16;
        }
        const cublasStatus_t ce = run(f, p, w->q, w->scale, xq, sx, bias_ptr, y);
        if (ce == CUBLAS_STATUS_SUCCESS) break;
        if (p->mode == M_SCALAR)
            return rad_err(RADIAL_ERR_BACKEND, "cuda linear (fp8), weight %s: cublasLtMatmul failed (m %lld n %lld k %lld, "
                           "%s): cuBLAS status %d", wname, (long long)m, (long long)n, (long long)k, mode_names[p->mode],
                           (int)ce);
        /* a mode the heuristic offered but the matmul refused: this shape takes the next one from now on */
        const size_t used = strlen(p->skipped);
        if (used + 1 < sizeof p->skipped)
            snprintf(p->skipped + used, sizeof p->skipped - used, "%s%s: cublasLtMatmul status %d", used ? "; " : "",
                     mode_names[p->mode], (int)ce);
        RAD_TRY(plan_make(f, &key, p->mode + 1, &cp, p, wname));
        p->used = ++f->tick;
    }
    info.outer_vec = p->mode != M_SCALAR;
    info.bias_mode = !bias ? RAD_FP8_BIAS_NONE
                     : p->mode == M_OV_BIAS32 ? RAD_FP8_BIAS_F32
                     : p->mode == M_OV_BIAS16 ? RAD_FP8_BIAS_BF16
                                              : RAD_FP8_BIAS_ADD;
    if (p->mode == M_OV && bias) RAD_TRY(rk_add_col_bias(y, m, n, bias, f->st));
    if (p->mode == M_SCALAR) {
        scale_bias_kernel<<<blocks_for(m * (n / 4), 256), 256, 0, f->st>>>(y, m, n, sx, w->scale, bias);
        const cudaError_t ke = cudaGetLastError();
        if (ke != cudaSuccess)
            return rad_err(RADIAL_ERR_BACKEND, "cuda linear (fp8), weight %s: epilogue launch: %s", wname, cudaGetErrorString(ke));
    }
    snprintf(info.why, sizeof info.why, "fp8 GEMM (%s)%s%s", mode_names[p->mode], p->skipped[0] ? "; passed over: " : "",
             p->skipped);
    f->last = info;
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------------ C API */

extern "C" size_t rad_cuda_cublaslt_version(void) { return cublasLtGetVersion(); }

extern "C" int rad_cuda_fp8_supported(int major, int minor, char *why, size_t cap) {
    const bool ok = major > 8 || (major == 8 && minor >= 9);
    if (!ok && why && cap)
        snprintf(why, cap, "compute capability %d.%d has no fp8 tensor cores (they start at 8.9: Ada, Hopper, Blackwell)",
                 major, minor);
    return ok;
}

extern "C" rad_status rad_cuda_fp8_last(rad_backend *be, rad_cuda_fp8_info *out) {
    if (!be || !out) return rad_err(RADIAL_ERR_INVALID_ARG, "rad_cuda_fp8_last: NULL argument");
    rk_fp8 *f = rk_fp8_of(be);
    if (!f && strcmp(be->name, "cuda"))
        return rad_err(RADIAL_ERR_INVALID_ARG, "rad_cuda_fp8_last: needs a CUDA backend, got %s", be->name);
    if (!f) {
        *out = rad_cuda_fp8_info{};
        snprintf(out->why, sizeof out->why, "bf16 GEMM (the backend's GEMM mode is bf16)");
        return RAD_OK;
    }
    *out = f->last;
    return RAD_OK;
}

extern "C" rad_status rad_cuda_fp8_forget(rad_backend *be) {
    rk_fp8 *f = be ? rk_fp8_of(be) : NULL;
    if (f)
        for (int i = 0; i < N_ACT; i++) f->act[i].src = NULL;
    return RAD_OK;
}

extern "C" rad_status rad_cuda_fp8_set_fast_accum(rad_backend *be, int on) {
    rk_fp8 *f = be ? rk_fp8_of(be) : NULL;
    if (!f) return rad_err(RADIAL_ERR_INVALID_ARG, "rad_cuda_fp8_set_fast_accum: the backend's fp8 GEMMs are not on");
    f->fast_accum = on != 0;
    return RAD_OK;
}

extern "C" rad_status rad_cuda_linear_time(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                                           const float *bias, float *y, int warmup, int reps, int requant, float *ms) {
    if (!be || warmup < 0 || reps < 1 || !ms || strcmp(be->name, "cuda"))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda linear timing: needs a CUDA backend, warmup >= 0, reps >= 1");
    for (int i = 0; i < warmup; i++) {
        if (requant) RAD_TRY(rad_cuda_fp8_forget(be));
        RAD_TRY(be->linear(be, x, m, k, w, bias, y));
    }
    cudaEvent_t *ev = NULL;
    RAD_TRY(rad_calloc((void **)&ev, (size_t)reps + 1, sizeof *ev, "timing events"));
    rad_status s = RAD_OK;
    int made = 0;
    for (; made <= reps; made++)
        if (cudaEventCreate(&ev[made]) != cudaSuccess) {
            s = rad_err(RADIAL_ERR_BACKEND, "cuda linear timing: cudaEventCreate failed");
            break;
        }
    /* queued back to back on the backend's stream: the device never waits for the host between calls */
    const cudaStream_t st = rad_cuda_backend_stream(be);
    if (s == RAD_OK && cudaEventRecord(ev[0], st) != cudaSuccess) s = rad_err(RADIAL_ERR_BACKEND, "cuda linear timing: event");
    for (int i = 0; i < reps && s == RAD_OK; i++) {
        if (requant) s = rad_cuda_fp8_forget(be);
        if (s == RAD_OK) s = be->linear(be, x, m, k, w, bias, y);
        if (s == RAD_OK && cudaEventRecord(ev[i + 1], st) != cudaSuccess)
            s = rad_err(RADIAL_ERR_BACKEND, "cuda linear timing: event");
    }
    if (s == RAD_OK) {
        const cudaError_t e = cudaEventSynchronize(ev[reps]);
        if (e != cudaSuccess) s = rad_err(RADIAL_ERR_BACKEND, "cuda linear timing: %s", cudaGetErrorString(e));
    }
    for (int i = 0; i < reps && s == RAD_OK; i++)
        if (cudaEventElapsedTime(&ms[i], ev[i], ev[i + 1]) != cudaSuccess)
            s = rad_err(RADIAL_ERR_BACKEND, "cuda linear timing: cudaEventElapsedTime failed");
    for (int i = 0; i < made; i++) cudaEventDestroy(ev[i]);
    rad_free(ev);
    return s;
}
