/* The quantisation pre-pass of the fp8 attention (steps 1-3 of backend/fp8_attn_emul.h, whose CPU code writes the
 * same bytes): bf16 q, k, v [n, heads * 128] into e4m3 tensors and their scales, in three memory-bound kernels.
 *
 *   stats   grid (block, head), 256 threads: reads K and V once; per channel the 16 partial fp32 sums of k over the
 *           tokens g, g + 16, ... of the 128-token block, added in g order (the K mean's fixed order), and the amax
 *           of v, into ksum / vmax [n_blocks][heads * 128].
 *   finish  grid (head), 128 threads: per channel the blocks' sums in double, in block order, / n -> kmean; the
 *           blocks' amax -> sv = amax / 448 and vinv = 448 / amax.
 *   quant   grid (block, head), 256 threads: the Q tile and the smoothed K tile (k - kmean) each reduced to its amax
 *           in registers (one read), scaled and rounded to e4m3 (cvt.rn.satfinite: round to nearest even,
 *           saturate at ±448), written row-major with the tile's scale; the V tile scaled per channel, rounded,
 *           transposed and permuted through shared memory (rad_fp8_attn_vpos; rows padded to 129 bytes, no bank
 *           conflicts) and written as 128 rows of 128 bytes, zeros past n.
 * A thread holds 8 channels (one 16-byte load per token) of 8 tokens; the 256 threads of a tile cover 128 tokens x
 * 128 channels. Every step is one IEEE operation (the __f*_rn and __d*_rn intrinsics: the build's fast math would
 * contract or approximate plain operators), so the bytes equal the CPU's; the build's flush of fp32 subnormals can
 * change nothing that the e4m3 rounding keeps (any product below 2^-126 rounds to a zero of e4m3 either way).
 *
 * Bytes at 32,760 tokens x 12 heads: stats reads K and V (201 MB), quant reads Q, K, V (302 MB) and writes 151 MB:
 * ~0.65 GB, ~0.2 ms at 3.3 TB/s, a few per cent of the attention it feeds. */
#include <cuda_fp8.h>
#include <string.h>

#include "backend/cuda/attn_internal.cuh"

extern "C" {
#include "backend/fp8_attn_emul.h"
#include "backend/fp8_emul.h"
}

namespace {
enum : int { D = RAD_FP8A_D, BLK = RAD_FP8A_BLOCK, G = RAD_FP8A_GROUPS, NT = 256, TOK = BLK / G /* tokens a thread */ };
static_assert(NT == G * (D / 8), "a tile's threads: 16 token groups x 16 channel groups of 8");

__device__ __forceinline__ void unpack8(uint4 u, float *f) {
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        __nv_bfloat162 p;
        memcpy(&p, &w[i], 4);
        const float2 x = __bfloat1622float2(p);
        f[2 * i] = x.x, f[2 * i + 1] = x.y;
    }
}

/* fp8_emul.h's scale rule: amax / 448 and 448 / amax, IEEE divisions; (0, 0) below RAD_FP8_TINY. */
__device__ __forceinline__ float scale_of(float amax, float *inv) {
    if (!(amax >= RAD_FP8_TINY)) {
        *inv = 0.0f;
        return 0.0f;
    }
    *inv = __fdiv_rn(RAD_FP8_E4M3_MAX, amax);
    return __fdiv_rn(amax, RAD_FP8_E4M3_MAX);
}

__device__ __forceinline__ uint32_t e4m3x2(float a, float b) {
    return __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3); /* a in the low byte */
}

/* The max of v over the block (every thread gets it); red: NT / 32 floats of shared memory. */
__device__ __forceinline__ float block_max(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = red[0];
    for (int i = 1; i < NT / 32; i++) v = fmaxf(v, red[i]);
    __syncthreads(); /* red is reused by the next reduction */
    return v;
}

__global__ void __launch_bounds__(NT) fp8a_stats(rad_attn_fp8_quant_args a) {
    const int b = blockIdx.x, h = blockIdx.y, cg = threadIdx.x % 16, g = threadIdx.x / 16;
    const int64_t hd = (int64_t)a.heads * D, col = (int64_t)h * D + cg * 8, t0 = (int64_t)b * BLK;
    float ks[8], vm[8];
#pragma unroll
    for (int c = 0; c < 8; c++) ks[c] = 0.0f, vm[c] = 0.0f;
#pragma unroll
    for (int i = 0; i < TOK; i++) {
        const int64_t t = t0 + g + G * i;
        if (t < a.n_tokens) {
            float kf[8], vf[8];
            unpack8(__ldg((const uint4 *)(a.k + t * hd + col)), kf);
            unpack8(__ldg((const uint4 *)(a.v + t * hd + col)), vf);
#pragma unroll
            for (int c = 0; c < 8; c++) ks[c] = __fadd_rn(ks[c], kf[c]), vm[c] = fmaxf(vm[c], fabsf(vf[c]));
        }
    }
    __shared__ float ps[G][D], pm[G][D];
#pragma unroll
    for (int c = 0; c < 8; c++) ps[g][cg * 8 + c] = ks[c], pm[g][cg * 8 + c] = vm[c];
    __syncthreads();
    if (threadIdx.x < D) {
        const int d = threadIdx.x;
        float s = ps[0][d], m = pm[0][d];
        for (int i = 1; i < G; i++) s = __fadd_rn(s, ps[i][d]), m = fmaxf(m, pm[i][d]);
        a.ksum[(int64_t)b * hd + h * D + d] = s;
        a.vmax[(int64_t)b * hd + h * D + d] = m;
    }
}

__global__ void __launch_bounds__(D) fp8a_finish(rad_attn_fp8_quant_args a) {
    const int64_t hd = (int64_t)a.heads * D, c = (int64_t)blockIdx.x * D + threadIdx.x;
    double s = 0.0;
    float m = 0.0f;
    enum { U = 16 }; /* loads in flight per thread: the loop is latency-bound */
    int64_t b = 0;
    for (; b + U <= a.n_blocks; b += U) {
        float x[U], y[U];
#pragma unroll
        for (int u = 0; u < U; u++) x[u] = a.ksum[(b + u) * hd + c], y[u] = a.vmax[(b + u) * hd + c];
#pragma unroll
        for (int u = 0; u < U; u++) s = __dadd_rn(s, (double)x[u]), m = fmaxf(m, y[u]);
    }
    for (; b < a.n_blocks; b++) s = __dadd_rn(s, (double)a.ksum[b * hd + c]), m = fmaxf(m, a.vmax[b * hd + c]);
    a.kmean[c] = __double2float_rn(__ddiv_rn(s, (double)a.n_tokens));
    float inv;
    a.sv[c] = scale_of(m, &inv);
    a.vinv[c] = inv;
}

__global__ void __launch_bounds__(NT) fp8a_quant(rad_attn_fp8_quant_args a) {
    const int b = blockIdx.x, h = blockIdx.y, cg = threadIdx.x % 16, g = threadIdx.x / 16;
    const int64_t hd = (int64_t)a.heads * D, col = (int64_t)h * D + cg * 8, t0 = (int64_t)b * BLK;
    __shared__ float red[NT / 32];
    /* The V tile, transposed: [channel][position], rows of 129 bytes: a warp's byte stores go to 16 channels 8 apart
     * (rows 1032 bytes = 258 words apart: 16 different banks; with 128-byte rows they would all hit one bank). */
    __shared__ uint8_t vt[D][BLK + 1];

    /* Q, then the smoothed K: per tile one scale */
    for (int which = 0; which < 2; which++) {
        const __nv_bfloat16 *x = which ? a.k : a.q;
        float mean[8];
#pragma unroll
        for (int c = 0; c < 8; c++) mean[c] = which ? a.kmean[col + c] : 0.0f;
        uint4 hold[TOK];
        float amax = 0.0f;
#pragma unroll
        for (int i = 0; i < TOK; i++) { /* tokens past n do not count (|0 - mean| could exceed the real amax) */
            const int64_t t = t0 + g + G * i;
            hold[i] = t < a.n_tokens ? __ldg((const uint4 *)(x + t * hd + col)) : make_uint4(0, 0, 0, 0);
            if (t >= a.n_tokens) continue;
            float f[8];
            unpack8(hold[i], f);
#pragma unroll
            for (int c = 0; c < 8; c++) amax = fmaxf(amax, fabsf(which ? __fsub_rn(f[c], mean[c]) : f[c]));
        }
        float inv;
        const float sc = scale_of(block_max(amax, red), &inv);
        if (threadIdx.x == 0) (which ? a.sk : a.sq)[(int64_t)h * a.n_blocks + b] = sc;
        uint8_t *dst = which ? a.k8 : a.q8;
#pragma unroll
        for (int i = 0; i < TOK; i++) {
            const int64_t t = t0 + g + G * i;
            if (t >= a.n_tokens) continue;
            float f[8];
            unpack8(hold[i], f);
            uint32_t w[2];
#pragma unroll
            for (int c = 0; c < 8; c += 4) {
                float y[4];
#pragma unroll
                for (int u = 0; u < 4; u++) y[u] = __fmul_rn(which ? __fsub_rn(f[c + u], mean[c + u]) : f[c + u], inv);
                w[c / 4] = e4m3x2(y[0], y[1]) | e4m3x2(y[2], y[3]) << 16;
            }
            *(uint2 *)(dst + t * hd + col) = make_uint2(w[0], w[1]);
        }
    }

    /* V: per-channel factor, into the transposed tile at the permuted positions (zeros past n) */
    float vi[8];
#pragma unroll
    for (int c = 0; c < 8; c++) vi[c] = a.vinv[col + c];
#pragma unroll
    for (int i = 0; i < TOK; i++) {
        const int tt = g + G * i, pos = rad_fp8_attn_vpos(tt);
        const int64_t t = t0 + tt;
        if (t < a.n_tokens) {
            float f[8];
            unpack8(__ldg((const uint4 *)(a.v + t * hd + col)), f);
#pragma unroll
            for (int c = 0; c < 8; c += 2) {
                const uint32_t pr = e4m3x2(__fmul_rn(f[c], vi[c]), __fmul_rn(f[c + 1], vi[c + 1]));
                vt[cg * 8 + c][pos] = (uint8_t)(pr & 0xff);
                vt[cg * 8 + c + 1][pos] = (uint8_t)(pr >> 8);
            }
        } else {
#pragma unroll
            for (int c = 0; c < 8; c++) vt[cg * 8 + c][pos] = 0;
        }
    }
    __syncthreads();
    /* 128 rows of 128 bytes out: a warp per row, 4 bytes a lane (one coalesced 128-byte store), 8 rows a pass */
#pragma unroll 4
    for (int pass = 0; pass < D / (NT / 32); pass++) {
        const int row = pass * (NT / 32) + threadIdx.x / 32, w = threadIdx.x % 32;
        const uint8_t *src = &vt[row][4 * w];
        const uint32_t word = src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24;
        *(uint32_t *)(a.vt8 + ((int64_t)h * D + row) * a.n_pad + t0 + 4 * w) = word;
    }
}
} // namespace

rad_status rad_attn_fp8_quant_launch(const rad_attn_fp8_quant_args *a) {
    if (((uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v) % 16 || (uintptr_t)a->q8 % 16 || (uintptr_t)a->k8 % 16 ||
        (uintptr_t)a->vt8 % 16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention quantisation: q, k, v and the scratch must be 16-byte aligned");
    if (a->n_tokens < 1 || a->heads < 1 || a->n_blocks != (a->n_tokens + BLK - 1) / BLK || a->n_pad != a->n_blocks * BLK ||
        a->n_blocks > 0x7fffffff || a->heads > 65535)
        return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention quantisation: %lld tokens x %d heads", (long long)a->n_tokens,
                       a->heads);
    const dim3 tiles((unsigned)a->n_blocks, (unsigned)a->heads);
    fp8a_stats<<<tiles, NT, 0, a->stream>>>(*a);
    RAD_CUDA_TRY(cudaGetLastError());
    fp8a_finish<<<(unsigned)a->heads, D, 0, a->stream>>>(*a);
    RAD_CUDA_TRY(cudaGetLastError());
    fp8a_quant<<<tiles, NT, 0, a->stream>>>(*a);
    RAD_CUDA_TRY(cudaGetLastError());
    return RAD_OK;
}
