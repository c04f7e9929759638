/* fp8 attention: the Hopper (sm_90a) kernel of --attention-precision fp8, attn_v3_wgmma.cu's structure with e4m3
 * operands (numerics: backend/fp8_attn_emul.h; the inputs come from attn_fp8_quant.cu).
 *
 * One CTA per (128-query block row, head), 384 threads: a TMA producer warpgroup (Q once, then K_j and Vᵀ_j of every
 * key block listed for the row into a STAGES-deep ring, full/empty mbarriers) and two consumer warpgroups of 64
 * query rows, setmaxnreg 24 / 240, block rows launched most-blocks-first, dense and radial through the same
 * block-CSR walk. Per key block j, in a consumer warpgroup:
 *   S = Q K_jᵀ        4 x wgmma m64n128k32 e4m3 (both operands K-major in shared memory, 128-byte swizzle as TMA
 *                     wrote them: a 128 x 128 e4m3 tile is one box of 128-byte rows), fp32 accumulators;
 *   softmax           in fp32 on the accumulators with c_j = sq · sk_j · scale · log2 e (the two dequantisation scales
 *                     folded into the exponent's factor), running max and sum as the bf16 kernel, P scaled by 2^8
 *                     (a power of two in the exponent: P = 1 is 256, nothing saturates, it cancels in O / l);
 *   P -> e4m3         in registers: the accumulator elements of score columns {2a, 2a+1, 2a+8, 2a+9} + 16 i of a
 *                     thread (a = lane % 4) are packed as they sit into the A fragment of the PV GEMM, which takes
 *                     columns 4a .. 4a+3 + 16 i; Vᵀ was stored with its keys permuted to match
 *                     (rad_fp8_attn_vpos), so no shuffle or byte permute runs between the two GEMMs;
 *   O_blk = P Vᵀ_jᵀ   4 x wgmma m64n128k32 with A from registers and Vᵀ_j K-major (8-bit wgmma has no transposed
 *                     B: hence the pre-transposed V), into a fresh accumulator (scale-d 0 on the first k-step);
 *   O = O·alpha + O_blk  in fp32 on the CUDA cores (one FMA per element, where the bf16 kernel multiplies): Hopper's
 *                     fp8 tensor cores keep ~14 significant bits while they accumulate (SageAttention2's "FP22"), so
 *                     the running output never sits in a tensor-core accumulator for more than one block.
 * As in v3, S_{j+1} and P_j V_j are issued together and the softmax of S_{j+1} runs while P_j V_j is on the tensor
 * cores. The epilogue applies the per-channel V scale and 1/l and writes bf16.
 * Exactness: keys past n (a partial last block) get -inf scores, and their Vᵀ columns are zeros written by the
 * pre-pass (0 · 0, never 0 · garbage); K rows past n are TMA's zero fill; query rows past n are computed on zeros and
 * not stored; a block row that lists no block writes zeros.
 *
 * Shared memory: Q 16 KB + STAGES x (K 16 KB + Vᵀ 16 KB): 80 KB at 2 stages. */
#include <cuda_fp8.h>
#include <float.h>

#include "backend/cuda/sm90_util.cuh"

extern "C" {
#include "backend/fp8_attn_emul.h"
}

namespace {
using namespace rk_sm90;

enum : uint32_t {
    D = 128,
    BM = 128,
    BN = 128,
    NTHREADS = 384,
    TILE = BN * D, /* one 128 x 128 e4m3 tile (Q, K or Vᵀ): 16 KB, one TMA box */
};
/* Q at 0, K[STAGES] at TILE, Vᵀ[STAGES] at TILE (1 + STAGES), then the barriers q_full, k_full[S], k_empty[S],
 * v_full[S], v_empty[S]; + 1024 of slack to align the base to the swizzle atom. */
constexpr uint32_t smem_bytes(int stages) { return TILE * (1 + 2 * stages) + (1 + 4 * stages) * 8 + 1024; }

/* 1 in the sm_90a image only (rad_attn_fp8_built reads it from the image loaded for the current device). */
#ifdef RAD_SM90A_DEVICE
__device__ int fp8_built = 1;
#else
__device__ int fp8_built = 0;
#endif

#ifdef RAD_SM90A_DEVICE
#define RAD_F8_D8(i)                                                                                             \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
        "+f"(d[i + 7])
#define RAD_F8_D64                                                                                                \
    RAD_F8_D8(0), RAD_F8_D8(8), RAD_F8_D8(16), RAD_F8_D8(24), RAD_F8_D8(32), RAD_F8_D8(40), RAD_F8_D8(48), \
        RAD_F8_D8(56)
#define RAD_F8_R64                                                                                              \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "   \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

/* d[64x128] (+)= A[64x32] B[32x128], e4m3 x e4m3 -> fp32: A and B in shared memory, both K-major. */
__device__ __forceinline__ void wgmma_ss_e4m3(float *d, uint64_t desc_a, uint64_t desc_b, int accumulate) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " RAD_F8_R64 ", %64, %65, p, 1, 1;\n"
        "}\n"
        : RAD_F8_D64
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}
/* d[64x128] (+)= A[64x32] B[32x128]: A in registers (4 x 4 e4m3 per thread), B K-major in shared memory. */
__device__ __forceinline__ void wgmma_rs_e4m3(float *d, const uint32_t *a, uint64_t desc_b, int accumulate) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " RAD_F8_R64 ", {%64, %65, %66, %67}, %68, p, 1, 1;\n"
        "}\n"
        : RAD_F8_D64
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(accumulate));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
/* Four e4m3 (cvt.rn.satfinite: nearest even, ±448 at most), a in the lowest byte. */
__device__ __forceinline__ uint32_t e4m3x4(float a, float b, float c, float d) {
    const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
    const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
    return lo | hi << 16;
}

/* Online-softmax state of one thread: rows r and r+8 of its warp's 16 (the accumulator layout of wgmma: element i
 * sits in row (i/2)%2 * 8 + lane/4, column (i/4)*8 + (lane%4)*2 + i%2). */
struct SoftmaxState {
    float m[2]; /* running max, in log2 units (score · c) */
    float l[2]; /* this thread's share of the running sum of P · 256 (the quad's shares are added at the end) */
};

/* Scores s (sums of e4m3 products, the dequantisation still to apply) into P · 256 (in place); c: the block's factor
 * (> 0); updates the state and returns the factor the old O must take. Operation for operation fp8_attn_emul.c's
 * step 4. */
__device__ __forceinline__ void softmax_step(float *s, SoftmaxState &st, float c, int kvalid, int lane, float *alpha) {
    if (kvalid < (int)BN) { /* partial last key block: keys past n_tokens do not exist */
#pragma unroll
        for (int i = 0; i < 64; i++) {
            const int col = (i / 4) * 8 + (lane % 4) * 2 + (i % 2);
            if (col >= kvalid) s[i] = -INFINITY;
        }
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < 64; i++) mx[(i / 2) % 2] = fmaxf(mx[(i / 2) % 2], s[i]);
    float nbase[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = fmaxf(st.m[r], __fmul_rn(mx[r], c));
        const float base = m_new == -INFINITY ? 0.0f : m_new; /* a row with nothing visible yet stays at zero */
        alpha[r] = exp2f(st.m[r] - base);                      /* 0 on the first block (m = -inf) */
        st.m[r] = m_new;
        nbase[r] = __fsub_rn(RAD_FP8A_P_LOG2, base);
    }
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 64; i++) {
        const int r = (i / 2) % 2;
        s[i] = exp2f(fmaf(s[i], c, nbase[r]));
        sum[r] += s[i];
    }
#pragma unroll
    for (int r = 0; r < 2; r++) st.l[r] = st.l[r] * alpha[r] + sum[r];
}

/* P · 256 as the A operand of the PV wgmma: k-step kk takes positions 32kk .. 32kk+31 of Vᵀ. Register 4kk holds row
 * r's columns {0, 1, 8, 9} + 2a of the first 16 (accumulator elements 16kk + {0, 1, 4, 5}: fragment slots 4a .. 4a+3,
 * rows r), 4kk+1 the same of row r+8 ({2, 3, 6, 7}), 4kk+2 and 4kk+3 those of the second 16 ({8, 9, 12, 13},
 * {10, 11, 14, 15}). */
__device__ __forceinline__ void pack_p(const float *s, uint32_t *p) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        const float *x = s + 16 * kk;
        p[4 * kk + 0] = e4m3x4(x[0], x[1], x[4], x[5]);
        p[4 * kk + 1] = e4m3x4(x[2], x[3], x[6], x[7]);
        p[4 * kk + 2] = e4m3x4(x[8], x[9], x[12], x[13]);
        p[4 * kk + 3] = e4m3x4(x[10], x[11], x[14], x[15]);
    }
}
#endif /* RAD_SM90A_DEVICE */

template <int STAGES>
__global__ void __launch_bounds__(NTHREADS, 1)
    attn_fp8_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                    const __grid_constant__ CUtensorMap tm_v, const rad_attn_fp8_args a) {
#ifdef RAD_SM90A_DEVICE
    extern __shared__ unsigned char smem_raw[];
    const uint32_t base = ((uint32_t)__cvta_generic_to_shared(smem_raw) + 1023u) & ~1023u;
    const uint32_t sQ = base, sK = base + TILE, sV = base + TILE * (1 + STAGES), bars = base + TILE * (1 + 2 * STAGES);
    const uint32_t q_full = bars;
    auto k_full = [&](int s) { return bars + 8u * (1 + s); };
    auto k_empty = [&](int s) { return bars + 8u * (1 + STAGES + s); };
    auto v_full = [&](int s) { return bars + 8u * (1 + 2 * STAGES + s); };
    auto v_empty = [&](int s) { return bars + 8u * (1 + 3 * STAGES + s); };

    const int tid = threadIdx.x, wg = tid / 128;
    const int head = blockIdx.x / a.n_blocks;
    const int rb = a.row_order ? a.row_order[blockIdx.x % a.n_blocks] : (int)(blockIdx.x % a.n_blocks);
    const int e0 = a.row_ptr[rb], nnz = a.row_ptr[rb + 1] - e0;

    if (tid == 0) {
        mbar_init(q_full, 1);
        for (int s = 0; s < STAGES; s++) {
            mbar_init(k_full(s), 1);
            mbar_init(v_full(s), 1);
            mbar_init(k_empty(s), 2); /* one arrival per consumer warpgroup */
            mbar_init(v_empty(s), 2);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) { /* ---------------- producer ---------------- */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
        if (tid == 0 && nnz > 0) {
            const int hc = head * D;
            mbar_expect_tx(q_full, TILE);
            tma_load_2d(sQ, &tm_q, q_full, hc, rb * BM);
            for (int j = 0; j < nnz; j++) {
                const int s = j % STAGES;
                const uint32_t ph = (j / STAGES) & 1;
                const int key0 = a.col_idx[e0 + j] * BN;
                mbar_wait(k_empty(s), ph ^ 1);
                mbar_expect_tx(k_full(s), TILE);
                tma_load_2d(sK + s * TILE, &tm_k, k_full(s), hc, key0); /* K rows key0.. (zeros past n) */
                mbar_wait(v_empty(s), ph ^ 1);
                mbar_expect_tx(v_full(s), TILE);
                tma_load_2d(sV + s * TILE, &tm_v, v_full(s), key0, hc); /* Vᵀ rows hc.., positions key0.. */
            }
        }
        return;
    }

    /* ---------------- consumers ---------------- */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");
    const int cw = wg - 1, t = tid % 128, warp = t / 32, lane = t % 32;
    const int64_t stride = (int64_t)a.heads * D;
    const int64_t row0 = (int64_t)rb * BM + cw * 64 + warp * 16 + lane / 4; /* this thread's rows: row0, row0+8 */
    __nv_bfloat16 *orow = a.o + (int64_t)head * D + (lane % 4) * 2;

    if (nnz == 0) { /* nothing visible: zeros (no copies were issued) */
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int64_t row = row0 + 8 * r;
            if (row < a.n_tokens)
                for (int c = 0; c < 16; c++) *reinterpret_cast<uint32_t *>(orow + row * stride + c * 8) = 0u;
        }
        return;
    }

    /* the exponent's factor of block j: sq · (scale · log2 e) · sk_j, kept above 0 so that -inf stays -inf */
    const float scale_log2 = __fmul_rn(a.scale, 1.4426950408889634f);
    const float qs = __fmul_rn(__ldg(a.sq + (int64_t)head * a.n_blocks + rb), scale_log2);
    const float *skh = a.sk + (int64_t)head * a.n_blocks;
    auto c_of = [&](int j) { return fmaxf(__fmul_rn(qs, __ldg(skh + a.col_idx[e0 + j])), FLT_MIN); };
    auto kvalid_of = [&](int j) {
        const int64_t rem = a.n_tokens - (int64_t)a.col_idx[e0 + j] * BN;
        return rem < (int64_t)BN ? (int)rem : (int)BN;
    };

    float sacc[64], oblk[64], oacc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) sacc[i] = 0.0f, oblk[i] = 0.0f, oacc[i] = 0.0f;
    uint32_t p[16];
    float alpha[2], alpha_prev[2];
    SoftmaxState st = {{-INFINITY, -INFINITY}, {0.0f, 0.0f}};

    auto issue_s = [&](int s) { /* S = Q_wg K_sᵀ: 4 k-steps of 32 along the head dimension (32 bytes each) */
        const uint32_t qa = sQ + cw * 64 * 128, kb = sK + s * TILE;
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
            wgmma_ss_e4m3(sacc, make_desc(qa + kk * 32, 16, 1024), make_desc(kb + kk * 32, 16, 1024), kk > 0);
    };
    auto issue_pv = [&](int s) { /* O_blk = P Vᵀ_sᵀ: 4 k-steps of 32 key positions; fresh accumulator */
        const uint32_t vb = sV + s * TILE;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) wgmma_rs_e4m3(oblk, p + 4 * kk, make_desc(vb + kk * 32, 16, 1024), kk > 0);
    };
    auto fold = [&]() { /* O (at the previous block's base) takes its factor and the block's P V */
#pragma unroll
        for (int i = 0; i < 64; i++) oacc[i] = fmaf(oacc[i], alpha_prev[(i / 2) % 2], oblk[i]);
    };

    mbar_wait(q_full, 0);

    /* block 0: S only. Each block's factor is loaded one block ahead (col_idx, then sk: two dependent loads that
     * would otherwise sit between S_j's completion and its softmax). */
    float c = c_of(0), c_next = nnz > 1 ? c_of(1) : 0.0f;
    mbar_wait(k_full(0), 0);
    wgmma_fence();
    issue_s(0);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(sacc);
    if (t == 0) mbar_arrive(k_empty(0));
    softmax_step(sacc, st, c, kvalid_of(0), lane, alpha);
    pack_p(sacc, p);
    alpha_prev[0] = alpha[0], alpha_prev[1] = alpha[1]; /* 0: O starts as block 0's P V */

    for (int j = 1; j < nnz; j++) {
        const int s = j % STAGES, sp = (j - 1) % STAGES;
        c = c_next;
        if (j + 1 < nnz) c_next = c_of(j + 1);
        mbar_wait(k_full(s), (j / STAGES) & 1);
        wgmma_fence();
        issue_s(s);
        wgmma_commit();
        mbar_wait(v_full(sp), ((j - 1) / STAGES) & 1); /* V_{j-1} may land while S_j runs */
        wgmma_fence();
        issue_pv(sp);
        wgmma_commit();
        wgmma_wait<1>(); /* S_j is ready; P_{j-1} V_{j-1} may still run */
        fence_regs(sacc);
        if (t == 0) mbar_arrive(k_empty(s));
        softmax_step(sacc, st, c, kvalid_of(j), lane, alpha);
        wgmma_wait<0>();
        fence_regs(oblk);
        if (t == 0) mbar_arrive(v_empty(sp));
        fold(); /* O += P_{j-1} V_{j-1}, at base m_{j-1} */
        alpha_prev[0] = alpha[0], alpha_prev[1] = alpha[1];
        pack_p(sacc, p);
    }

    /* last block's P V */
    const int sl = (nnz - 1) % STAGES;
    mbar_wait(v_full(sl), ((nnz - 1) / STAGES) & 1);
    wgmma_fence();
    issue_pv(sl);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(oblk);
    if (t == 0) mbar_arrive(v_empty(sl));
    fold();

    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float l = st.l[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
    }
    const float *svh = a.sv + (int64_t)head * D + (lane % 4) * 2; /* the per-channel V scales of this thread's columns */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t row = row0 + 8 * r;
        if (row >= a.n_tokens) continue;
        __nv_bfloat16 *o = orow + row * stride;
#pragma unroll
        for (int c8 = 0; c8 < 16; c8++) {
            const float s0 = __fmul_rn(inv[r], __ldg(svh + c8 * 8)), s1 = __fmul_rn(inv[r], __ldg(svh + c8 * 8 + 1));
            *reinterpret_cast<uint32_t *>(o + c8 * 8) = pack_bf16(oacc[4 * c8 + 2 * r] * s0, oacc[4 * c8 + 2 * r + 1] * s1);
        }
    }
#else
    /* Built without sm_90a (wgmma, setmaxnreg): fail loudly rather than leave the output unwritten. */
    (void)tm_q, (void)tm_k, (void)tm_v, (void)a;
    __trap();
#endif /* RAD_SM90A_DEVICE */
}

/* A [rows, inner] uint8 matrix seen as 2-D; boxes of 128 x 128 bytes, 128-byte swizzle; rows past `rows` read as
 * zeros. */
rad_status make_map(CUtensorMap *m, const void *ptr, uint64_t inner, uint64_t rows, const char *what) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = nullptr;
    RAD_TRY(get_encoder(&enc, "fp8 attention"));
    cuuint64_t dims[2] = {(cuuint64_t)inner, (cuuint64_t)rows};
    cuuint64_t strides[1] = {(cuuint64_t)inner};
    cuuint32_t box[2] = {128, 128}, estr[2] = {1, 1};
    CUresult r = enc(m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void *>(ptr), dims, strides, box, estr,
                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return rad_err(RADIAL_ERR_BACKEND, "fp8 attention: cuTensorMapEncodeTiled(%s: %llu x %llu bytes) failed: %d", what,
                       (unsigned long long)rows, (unsigned long long)inner, (int)r);
    return RAD_OK;
}

template <int STAGES> rad_status launch(const rad_attn_fp8_args *a) {
    CUtensorMap mq, mk, mv;
    const uint64_t hd = (uint64_t)a->heads * D;
    RAD_TRY(make_map(&mq, a->q8, hd, (uint64_t)a->n_tokens, "q"));
    RAD_TRY(make_map(&mk, a->k8, hd, (uint64_t)a->n_tokens, "k"));
    RAD_TRY(make_map(&mv, a->vt8, (uint64_t)a->n_pad, hd, "v transposed"));
    constexpr int smem = (int)smem_bytes(STAGES);
    auto kernel = attn_fp8_kernel<STAGES>;
    RAD_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const unsigned grid = (unsigned)a->n_blocks * (unsigned)a->heads;
    kernel<<<grid, NTHREADS, smem, a->stream>>>(mq, mk, mv, *a);
    RAD_CUDA_TRY(cudaGetLastError());
    return RAD_OK;
}
} // namespace

bool rad_attn_fp8_built(void) {
    static signed char known[64]; /* per device: 0 not asked yet, 1 built, -1 not */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (dev >= 0 && dev < 64 && known[dev]) return known[dev] > 0;
    int v = 0;
    if (cudaMemcpyFromSymbol(&v, fp8_built, sizeof v) != cudaSuccess) { /* no image for this device */
        cudaGetLastError();
        v = 0;
    }
    if (dev >= 0 && dev < 64) known[dev] = v == 1 ? 1 : -1;
    return v == 1;
}

rad_status rad_attn_fp8_launch(const rad_attn_fp8_args *a, int stages) {
    switch (stages) {
    case 2: return launch<2>(a);
    case 3: return launch<3>(a);
    case 4: return launch<4>(a);
    default: return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention: %d K/V stages (2, 3 or 4)", stages);
    }
}
