/* Generic attention in fp32 (rk_attention_generic, cuda_kernels.cuh): any head_dim up to 512, lq != lk, an
 * additive bias [heads, lq, lk] (the T5's relative positions) and block-CSR layouts. The backend sends here
 * what the bf16 tensor-core kernels (attn_fa2/v3, head_dim 128, no bias) do not take: the T5 encoder, the VAE's
 * single-head attention (head_dim 384), small test models. Correctness first; it runs on CUDA cores.
 *
 * One CTA per (32 query rows, head): 8 warps x 4 query rows. Keys go through shared memory in tiles of 32.
 * For a tile, lane j of a warp computes the scores of key j against the warp's 4 rows (Q rows broadcast from
 * shared memory, K rows padded to hd+1 floats so the 32 lanes hit 32 banks); the online softmax (running
 * max and sum in fp32) takes the tile's max and sum across the warp; then each lane accumulates its slice of
 * the output dims (d = lane + 32 i) over the tile's keys, with each probability broadcast by a shuffle.
 * Like the CPU op, keys outside the listed blocks (or past lk) are excluded exactly, a tile whose scores are
 * all -inf (bias) adds nothing, and a row that sees no key gets zeros. */
#include "backend/cuda/cuda_kernels.cuh"

namespace {
constexpr int WARPS = 8, RPW = 4, BQ = WARPS * RPW, BK = 32;

struct gen_args {
    const float *q, *k, *v, *bias;
    float *o;
    int64_t lq, lk;
    int heads, hd;
    float scale;
    const int32_t *row_ptr, *col_idx; /* NULL: dense */
    int block;
};

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* NPL: output dims per lane (head_dim <= 32 * NPL). */
template <int NPL> __global__ void __launch_bounds__(WARPS * 32) attn_generic_kernel(gen_args a) {
    extern __shared__ float smem[];
    const int hd = a.hd, ldk = hd + 1;
    float *sq = smem;             /* [BQ][hd] */
    float *sk = sq + BQ * hd;     /* [BK][hd + 1] */
    float *sv = sk + BK * ldk;    /* [BK][hd] */
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int head = blockIdx.y;
    const int64_t i0 = (int64_t)blockIdx.x * BQ, stride = (int64_t)a.heads * hd;

    for (int idx = tid; idx < BQ * hd; idx += WARPS * 32) {
        const int r = idx / hd, d = idx % hd;
        const int64_t gi = i0 + r;
        sq[idx] = gi < a.lq ? a.q[gi * stride + (int64_t)head * hd + d] : 0.0f;
    }

    float o[RPW][NPL], m[RPW], l[RPW];
#pragma unroll
    for (int rr = 0; rr < RPW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int i = 0; i < NPL; i++) o[rr][i] = 0.0f;
    }

    /* Key ranges: the whole sequence, or the blocks listed for this CTA's block row (block % BQ == 0). */
    int e0 = 0, e1 = 1;
    if (a.row_ptr) {
        const int rb = (int)(i0 / a.block);
        e0 = a.row_ptr[rb];
        e1 = a.row_ptr[rb + 1];
    }
    for (int e = e0; e < e1; e++) {
        const int64_t k0 = a.row_ptr ? (int64_t)a.col_idx[e] * a.block : 0;
        const int64_t k1 = a.row_ptr ? (k0 + a.block < a.lk ? k0 + a.block : a.lk) : a.lk;
        for (int64_t j0 = k0; j0 < k1; j0 += BK) {
            const int nk = (int)(k1 - j0 < BK ? k1 - j0 : BK);
            __syncthreads(); /* the previous tile is consumed (and Q staged, the first time) */
            for (int idx = tid; idx < BK * hd; idx += WARPS * 32) {
                const int j = idx / hd, d = idx % hd;
                float kv = 0.0f, vv = 0.0f;
                if (j < nk) {
                    const int64_t g = (j0 + j) * stride + (int64_t)head * hd + d;
                    kv = a.k[g];
                    vv = a.v[g];
                }
                sk[j * ldk + d] = kv;
                sv[j * hd + d] = vv;
            }
            __syncthreads();

            float s[RPW];
#pragma unroll
            for (int rr = 0; rr < RPW; rr++) s[rr] = 0.0f;
            const float *kr = sk + lane * ldk, *qb = sq + warp * RPW * hd;
            for (int d = 0; d < hd; d++) {
                const float kd = kr[d];
#pragma unroll
                for (int rr = 0; rr < RPW; rr++) s[rr] = fmaf(qb[rr * hd + d], kd, s[rr]);
            }
#pragma unroll
            for (int rr = 0; rr < RPW; rr++) {
                const int64_t row = i0 + warp * RPW + rr;
                float sc = s[rr] * a.scale;
                if (lane >= nk) sc = -INFINITY;
                else if (a.bias && row < a.lq) sc += a.bias[((int64_t)head * a.lq + row) * a.lk + j0 + lane];
                const float tmax = warp_max(sc); /* warp-uniform */
                float p = 0.0f, corr = 1.0f;
                if (tmax != -INFINITY) {
                    const float mn = fmaxf(m[rr], tmax);
                    corr = __expf(m[rr] - mn); /* 0 when nothing was visible before */
                    p = __expf(sc - mn);
                    m[rr] = mn;
                    l[rr] = l[rr] * corr + warp_sum(p);
                }
#pragma unroll
                for (int i = 0; i < NPL; i++) o[rr][i] *= corr;
                s[rr] = p;
            }
            for (int j = 0; j < nk; j++) {
                float pj[RPW];
#pragma unroll
                for (int rr = 0; rr < RPW; rr++) pj[rr] = __shfl_sync(0xffffffffu, s[rr], j);
                const float *vr = sv + j * hd;
#pragma unroll
                for (int i = 0; i < NPL; i++) {
                    const int d = lane + 32 * i;
                    if (d < hd) {
                        const float vd = vr[d];
#pragma unroll
                        for (int rr = 0; rr < RPW; rr++) o[rr][i] = fmaf(pj[rr], vd, o[rr][i]);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int rr = 0; rr < RPW; rr++) {
        const int64_t row = i0 + warp * RPW + rr;
        if (row >= a.lq) continue;
        const float inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
        float *orow = a.o + row * stride + (int64_t)head * hd;
#pragma unroll
        for (int i = 0; i < NPL; i++) {
            const int d = lane + 32 * i;
            if (d < hd) orow[d] = o[rr][i] * inv;
        }
    }
}

template <int NPL> rad_status launch(const gen_args &a, cudaStream_t st) {
    const size_t smem = ((size_t)BQ * a.hd + (size_t)BK * (a.hd + 1) + (size_t)BK * a.hd) * sizeof(float);
    cudaError_t e = cudaFuncSetAttribute(attn_generic_kernel<NPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess)
        return rad_err(RADIAL_ERR_BACKEND, "cuda attention (generic, head_dim %d): %zu bytes of shared memory: %s", a.hd,
                       smem, cudaGetErrorString(e));
    dim3 grid((unsigned)((a.lq + BQ - 1) / BQ), (unsigned)a.heads);
    attn_generic_kernel<NPL><<<grid, WARPS * 32, smem, st>>>(a);
    e = cudaGetLastError();
    if (e != cudaSuccess)
        return rad_err(RADIAL_ERR_BACKEND, "cuda attention (generic, head_dim %d): launch failed: %s", a.hd, cudaGetErrorString(e));
    return RAD_OK;
}
} // namespace

rad_status rk_attention_generic(const float *q, const float *k, const float *v, float *out, int64_t lq, int64_t lk,
                                int64_t heads, int64_t hd, float scale, const float *bias, const int32_t *row_ptr,
                                const int32_t *col_idx, int32_t block, cudaStream_t st) {
    if (hd < 1 || hd > RK_ATTN_MAX_HD)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: head_dim %lld, the generic kernel takes 1..%d",
                       (long long)hd, RK_ATTN_MAX_HD);
    if (heads < 1 || heads > 65535 || (lq + BQ - 1) / BQ > 0x7fffffff)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: %lld heads x %lld queries exceed the grid",
                       (long long)heads, (long long)lq);
    if (row_ptr && (block <= 0 || block % BQ))
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: block-CSR block of %d tokens, the generic kernel needs "
                       "a multiple of %d", (int)block, BQ);
    if (lq <= 0) return RAD_OK;
    const gen_args a = {q, k, v, bias, out, lq, lk, (int)heads, (int)hd, scale, row_ptr, col_idx, block};
    if (hd <= 32) return launch<1>(a, st);
    if (hd <= 64) return launch<2>(a, st);
    if (hd <= 128) return launch<4>(a, st);
    if (hd <= 256) return launch<8>(a, st);
    return launch<16>(a, st);
}
