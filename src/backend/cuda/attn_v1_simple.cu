/* Attention v1: the simple, obviously-correct kernel (any sm; also the fallback off Hopper).
 *
 * One CTA per (128-query block row, head), one thread per query row. The thread keeps its output row (128
 * fp32) in registers; its query row sits transposed in shared memory (conflict-free: consecutive threads read
 * consecutive words). For each listed key block the CTA stages K and V (bf16) in shared memory; every thread
 * walks the keys in chunks of 16 with the online softmax (fp32 running max and sum). Keys past n_keys are
 * skipped, so a partial last block is masked exactly. CUDA cores only: a few TFLOP/s. */
#include "backend/cuda/attn_internal.cuh"

namespace {
constexpr int D = 128, BM = 128, BN = 128, CHUNK = 16;
constexpr size_t SMEM = (size_t)D * BM * sizeof(float) + 2 * (size_t)BN * D * sizeof(__nv_bfloat16);

__global__ void __launch_bounds__(BM) attn_v1_kernel(rad_attn_args a) {
    extern __shared__ __align__(16) unsigned char smem[];
    float *sq = reinterpret_cast<float *>(smem);                     /* [D][BM] */
    __nv_bfloat16 *sk = reinterpret_cast<__nv_bfloat16 *>(sq + D * BM); /* [BN][D] */
    __nv_bfloat16 *sv = sk + BN * D;                                 /* [BN][D] */

    const int tid = threadIdx.x;
    const int head = blockIdx.x / a.n_blocks;
    const int rb = a.row_order[blockIdx.x % a.n_blocks];
    const int64_t stride = (int64_t)a.heads * D;
    const int64_t row = (int64_t)rb * BM + tid;
    const bool live = row < a.n_tokens;

    /* Stage Q transposed (rows past n_tokens read as zeros and are never stored). */
    for (int i = tid; i < BM * D; i += BM) {
        const int r = i / D, d = i % D;
        const int64_t gr = (int64_t)rb * BM + r;
        sq[d * BM + r] = gr < a.n_tokens ? __bfloat162float(a.q[gr * stride + (int64_t)head * D + d]) : 0.0f;
    }

    float o[D];
#pragma unroll
    for (int d = 0; d < D; d++) o[d] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int e = a.row_ptr[rb]; e < a.row_ptr[rb + 1]; e++) {
        const int64_t k0 = (int64_t)a.col_idx[e] * BN;
        const int nk = (int)(a.n_keys - k0 < BN ? a.n_keys - k0 : BN);
        __syncthreads(); /* previous tile fully consumed (and Q staged, on the first pass) */
        for (int i = tid; i < nk * D; i += BM) {
            const int r = i / D, d = i % D;
            const int64_t g = (k0 + r) * stride + (int64_t)head * D + d;
            sk[r * D + d] = a.k[g];
            sv[r * D + d] = a.v[g];
        }
        __syncthreads();
        for (int j0 = 0; j0 < nk; j0 += CHUNK) {
            float s[CHUNK];
            float cmax = -INFINITY;
#pragma unroll
            for (int jj = 0; jj < CHUNK; jj++) {
                float acc = 0.0f;
                if (j0 + jj < nk) {
                    const __nv_bfloat16 *kr = sk + (j0 + jj) * D;
                    for (int d = 0; d < D; d++) acc += sq[d * BM + tid] * __bfloat162float(kr[d]);
                    acc *= a.scale;
                } else {
                    acc = -INFINITY; /* past the last token: excluded */
                }
                s[jj] = acc;
                cmax = fmaxf(cmax, acc);
            }
            const float m_new = fmaxf(m, cmax); /* finite: chunk j0 < nk has at least one key */
            const float alpha = __expf(m - m_new); /* 0 on the first chunk (m = -inf) */
            l *= alpha;
#pragma unroll
            for (int d = 0; d < D; d++) o[d] *= alpha;
#pragma unroll
            for (int jj = 0; jj < CHUNK; jj++) {
                if (j0 + jj >= nk) break;
                const float p = __expf(s[jj] - m_new);
                l += p;
                const __nv_bfloat16 *vr = sv + (j0 + jj) * D;
#pragma unroll
                for (int d = 0; d < D; d++) o[d] += p * __bfloat162float(vr[d]);
            }
            m = m_new;
        }
    }
    if (!live) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f; /* an empty block row gives zeros */
    __nv_bfloat16 *orow = a.o + row * stride + (int64_t)head * D;
#pragma unroll
    for (int d = 0; d < D; d += 2)
        *reinterpret_cast<__nv_bfloat162 *>(orow + d) = __floats2bfloat162_rn(o[d] * inv, o[d + 1] * inv);
}
} // namespace

rad_status rad_attn_v1_launch(const rad_attn_args *a) {
    RAD_CUDA_TRY(cudaFuncSetAttribute(attn_v1_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)SMEM));
    const unsigned grid = (unsigned)a->n_blocks * (unsigned)a->heads;
    attn_v1_kernel<<<grid, BM, SMEM, a->stream>>>(*a);
    RAD_CUDA_TRY(cudaGetLastError());
    return RAD_OK;
}
