/* The portable attention kernel (sm_80 and later): FlashAttention-2's structure, written for radial's
 * block-CSR layouts. The index arithmetic lives in attn_fa2_plan.h (checked on the host by
 * tests/attn/test_fa2_plan.c); the fragment contract of mma.m16n8k16 and ldmatrix is written out there.
 *
 * One CTA per (128-query block row, head), 4 warps of 32 query rows each, two CTAs per SM (8 warps: while one
 * CTA's warp runs its softmax, the other CTA's warp on the same scheduler issues its matrix products).
 *   - Q (128 x 128 bf16, 32 KB) is copied into shared memory once; K and V tiles of BN keys (64, or 32 on the
 *     100 KB parts) stream through a ring of NSLOT tile slots by cp.async (16-byte copies, zero-filled past
 *     n_keys), in the order K_0, V_0, K_1, V_1, ...; each load gets NSLOT - 1 "events" (one S or one PV
 *     product) of lead time, so with 3 or 4 slots the next tile's K and V are in flight during a whole tile.
 *   - S = Q K^T: per warp 32 x BN in fp32 registers, mma.sync m16n8k16 (bf16 in, fp32 accumulate), A and B
 *     fragments by ldmatrix from the swizzled tiles (the XOR swizzle of attn_fa2_plan.h: conflict-free).
 *   - Online softmax in fp32 with exp2 and the log2(e)-prescaled scale; a row's reference max is raised only
 *     when a tile exceeds it by 2^8 (RAD_FA2_RESCALE_LOG2), so O is rescaled on few tiles; the same softmax.
 *   - P is rounded to bf16 in registers and fed as the A operand of O += P V (the accumulator layout of S
 *     is the A-fragment layout of the next product); V's B fragments come from ldmatrix.trans.
 *   - Epilogue: O / l rounded to bf16, staged through the warp's own 32 rows of the Q buffer, stored with
 *     16-byte coalesced writes.
 * Keys outside the listed blocks are never read; keys past n_keys in a partial last block are zero-filled and
 * their scores set to -inf (a tile wholly past n_keys is skipped); query rows past n_tokens are computed on
 * zeros and not stored; a block row listing no block gets zeros. The grid is (head, block row), block rows
 * most-blocks-first (row_order) and the rows of one head together, as in v3. */
#include "backend/cuda/attn_fa2_plan.h"
#include "backend/cuda/attn_internal.cuh"

namespace {
constexpr int D = RAD_FA2_D, BM = RAD_FA2_BM, NTHREADS = RAD_FA2_THREADS;
constexpr uint32_t RB = RAD_FA2_ROW_BYTES;

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* 16 bytes global -> shared, bypassing L1; src_bytes 0 writes zeros and reads nothing. */
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, uint32_t src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
/* d (16 x 8 fp32) += a (16 x 16 bf16) b (16 x 8 bf16) */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi); /* .x (low half) = lo */
    return *reinterpret_cast<uint32_t *>(&h);
}
__device__ __forceinline__ void st_shared_u32(uint32_t addr, uint32_t v) {
    asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
    uint4 v;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
    return v;
}

/* op over this thread's 2 NT values of one row of an S tile (elements i0, i0 + 1 of each n-tile) as a balanced tree:
 * depth log2(2 NT) instead of a chain of 2 NT dependent operations (ncu on the H100: the kernel stalls mostly on
 * fixed-latency dependencies, at 39 % issue use; NOTES-kernels). */
template <int NT, typename Op> __device__ __forceinline__ float row_tree(const float (&s)[NT][4], int i0, Op op) {
    float t[NT];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) t[nt] = op(s[nt][i0], s[nt][i0 + 1]);
#pragma unroll
    for (int w = NT / 2; w > 0; w /= 2)
#pragma unroll
        for (int j = 0; j < w; j++) t[j] = op(t[j], t[j + w]);
    return t[0];
}

template <int BN, int NSLOT>
__global__ void __launch_bounds__(NTHREADS, 2) attn_fa2_kernel(const rad_attn_args a) {
    constexpr int NT = BN / 8;  /* S n-tiles (8 keys) per warp row block */
    constexpr int KS = BN / 16; /* k-steps of the PV product */
    constexpr uint32_t TILE = (uint32_t)BN * RB;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t sQ = (smem_u32(smem_raw) + (RAD_FA2_ALIGN - 1)) & ~(uint32_t)(RAD_FA2_ALIGN - 1);
    const uint32_t sKV = sQ + RAD_FA2_Q_BYTES;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int head = blockIdx.x / a.n_blocks;
    const int rb = a.row_order ? a.row_order[blockIdx.x % a.n_blocks] : (int)(blockIdx.x % a.n_blocks);
    const int e0 = a.row_ptr[rb], nnz = a.row_ptr[rb + 1] - e0;
    const int64_t stride = (int64_t)a.heads * D, q_row0 = (int64_t)rb * BM;
    /* Copies: thread tid moves chunk cc of rows cr + 8 i; rad_fa2_swz(cr + 8 i, cc) == c_off + i * 8 rows. */
    const int cc = tid & 15, cr = tid >> 4;
    const uint32_t c_off = rad_fa2_swz((uint32_t)cr, (uint32_t)cc);

    if (nnz == 0) { /* nothing visible: zeros */
        for (int i = 0; i < BM / 8; i++) {
            const int64_t row = q_row0 + cr + 8 * i;
            if (row < a.n_tokens)
                *reinterpret_cast<uint4 *>(a.o + row * stride + (int64_t)head * D + cc * 8) = make_uint4(0, 0, 0, 0);
        }
        return;
    }

    {
        const __nv_bfloat16 *qh = a.q + (int64_t)head * D + cc * 8;
#pragma unroll
        for (int i = 0; i < BM / 8; i++) {
            const int64_t row = q_row0 + cr + 8 * i;
            const bool ok = row < a.n_tokens;
            cp_async16(sQ + c_off + (uint32_t)i * 8 * RB, ok ? (const void *)(qh + row * stride) : (const void *)a.q,
                       ok ? 16u : 0u);
        }
        cp_async_commit();
    }

    const int T = nnz * (RAD_FA2_BLOCK / BN), E = 2 * T;
    const int hc = head * D + cc * 8; /* column of this thread's chunk (the tensors come from the parameter bank) */
    auto issue = [&](int L) { /* load L of the ring (attn_fa2_plan.h), one commit group, empty past the end */
        if (L < E) {
            const int64_t key0 = rad_fa2_tile_key0(a.col_idx, e0, L >> 1, BN);
            if (key0 < a.n_keys) {
                const __nv_bfloat16 *src = ((L & 1) ? a.v : a.k) + hc;
                const int64_t kstride = (int64_t)a.heads * D;
                const uint32_t dst = sKV + (uint32_t)rad_fa2_slot(L, NSLOT) * TILE + c_off;
#pragma unroll
                for (int i = 0; i < BN / 8; i++) {
                    const int64_t key = key0 + cr + 8 * i;
                    const bool ok = key < a.n_keys;
                    cp_async16(dst + (uint32_t)i * 8 * RB, ok ? (const void *)(src + key * kstride) : (const void *)a.k,
                               ok ? 16u : 0u);
                }
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int L = 0; L < NSLOT - 1; L++) issue(L);

    /* ldmatrix lane offsets: every fragment address is one of these plus a constant (attn_fa2_plan.h). */
    uint32_t qo[4], ko[4], vo[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        qo[j] = sQ + (uint32_t)warp * 32 * RB + rad_fa2_lane_off(rad_fa2_q_row(lane), rad_fa2_q_chunk(lane), j);
        ko[j] = rad_fa2_lane_off(rad_fa2_k_row(lane), rad_fa2_k_chunk(lane), j);
        vo[j] = rad_fa2_lane_off(rad_fa2_v_row(lane), rad_fa2_v_chunk(lane), j);
    }

    const float sl2 = a.scale * 1.4426950408889634f; /* scores in log2 units */
    const int kcol = 2 * (lane & 3);                  /* this lane's first key column in an n-tile */
    float o[2][16][4];
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int dt = 0; dt < 16; dt++)
#pragma unroll
            for (int i = 0; i < 4; i++) o[mt][dt][i] = 0.0f;
    /* rows of this thread: r = 2 mt + h is query row warp * 32 + 16 mt + 8 h + lane / 4 */
    float m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY}; /* reference max (log2 units) */
    float l[4] = {0.0f, 0.0f, 0.0f, 0.0f};                     /* this thread's share of the row sums */
    uint32_t p[2][KS][4];

    for (int t = 0; t < T; t++) {
        const int kvalid = rad_fa2_kvalid(rad_fa2_tile_key0(a.col_idx, e0, t, BN), a.n_keys, BN);

        /* ---- event 2t: S = Q K_t^T, softmax ---- */
        cp_async_wait<rad_fa2_wait_pending(NSLOT)>();
        __syncthreads();
        issue(rad_fa2_issue_at(2 * t, NSLOT));
        if (kvalid > 0) {
            const uint32_t kb = sKV + (uint32_t)rad_fa2_slot(2 * t, NSLOT) * TILE;
            float s[2][NT][4];
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++) s[mt][nt][i] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                uint32_t qa[2][4];
#pragma unroll
                for (int mt = 0; mt < 2; mt++) ldsm_x4(qa[mt], qo[kk & 3] + mt * 16 * RB + (kk >> 2) * 128);
#pragma unroll
                for (int np = 0; np < NT / 2; np++) {
                    uint32_t kf[4];
                    ldsm_x4(kf, kb + ko[kk & 3] + np * 16 * RB + (kk >> 2) * 128);
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        mma_bf16(s[mt][2 * np], qa[mt], kf[0], kf[1]);
                        mma_bf16(s[mt][2 * np + 1], qa[mt], kf[2], kf[3]);
                    }
                }
            }

            if (kvalid < BN) { /* partial last block: keys past n_keys do not exist */
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
#pragma unroll
                    for (int nt = 0; nt < NT; nt++)
#pragma unroll
                        for (int i = 0; i < 4; i++)
                            if (nt * 8 + kcol + (i & 1) >= kvalid) s[mt][nt][i] = -INFINITY;
            }
            float mx[4];
#pragma unroll
            for (int r = 0; r < 4; r++) mx[r] = row_tree(s[r >> 1], 2 * (r & 1), [](float x, float y) { return fmaxf(x, y); });
            float alpha[4];
            bool up_any = false;
#pragma unroll
            for (int r = 0; r < 4; r++) {
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                const float tm = mx[r] * sl2; /* finite: the tile has a key (and scale > 0) */
                const bool up = tm > m[r] + RAD_FA2_RESCALE_LOG2;
                alpha[r] = up ? exp2f(m[r] - tm) : 1.0f; /* 0 on a row's first tile (m = -inf) */
                m[r] = up ? tm : m[r];
                l[r] *= alpha[r];
                up_any |= up;
            }
            if (__any_sync(0xffffffffu, up_any)) {
#pragma unroll
                for (int mt = 0; mt < 2; mt++)
#pragma unroll
                    for (int dt = 0; dt < 16; dt++)
#pragma unroll
                        for (int i = 0; i < 4; i++) o[mt][dt][i] *= alpha[2 * mt + (i >> 1)];
            }
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        s[mt][nt][i] = exp2f(fmaf(s[mt][nt][i], sl2, -m[2 * mt + (i >> 1)])); /* <= 2^8; 0 for -inf */
#pragma unroll
            for (int r = 0; r < 4; r++) l[r] += row_tree(s[r >> 1], 2 * (r & 1), [](float x, float y) { return x + y; });
#pragma unroll
            for (int mt = 0; mt < 2; mt++)
#pragma unroll
                for (int kk = 0; kk < KS; kk++)
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const float *c = s[mt][2 * kk + (j >> 1)] + 2 * (j & 1);
                        p[mt][kk][j] = pack_bf16(c[0], c[1]);
                    }
        }

        /* ---- event 2t + 1: O += P_t V_t ---- */
        cp_async_wait<rad_fa2_wait_pending(NSLOT)>();
        __syncthreads();
        issue(rad_fa2_issue_at(2 * t + 1, NSLOT));
        if (kvalid > 0) {
            const uint32_t vb = sKV + (uint32_t)rad_fa2_slot(2 * t + 1, NSLOT) * TILE;
#pragma unroll
            for (int kk = 0; kk < KS; kk++)
#pragma unroll
                for (int dp = 0; dp < D / 16; dp++) {
                    uint32_t vf[4];
                    ldsm_x4_t(vf, vb + vo[dp & 3] + kk * 16 * RB + (dp >> 2) * 128);
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) {
                        mma_bf16(o[mt][2 * dp], p[mt][kk], vf[0], vf[1]);
                        mma_bf16(o[mt][2 * dp + 1], p[mt][kk], vf[2], vf[3]);
                    }
                }
        }
    }
    cp_async_wait<0>();

    /* ---- epilogue: O / l in bf16, through this warp's own 32 rows of the Q buffer ---- */
    float inv[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        float s = l[r];
        s += __shfl_xor_sync(0xffffffffu, s, 1);
        s += __shfl_xor_sync(0xffffffffu, s, 2);
        inv[r] = s > 0.0f ? 1.0f / s : 0.0f;
    }
    __syncwarp(); /* this warp's last ldmatrix of its Q rows is behind us */
#pragma unroll
    for (int mt = 0; mt < 2; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint32_t row = (uint32_t)(warp * 32 + mt * 16 + h * 8 + (lane >> 2));
#pragma unroll
            for (int dt = 0; dt < 16; dt++)
                st_shared_u32(sQ + rad_fa2_swz(row, (uint32_t)dt) + 4 * (lane & 3),
                              pack_bf16(o[mt][dt][2 * h] * inv[2 * mt + h], o[mt][dt][2 * h + 1] * inv[2 * mt + h]));
        }
    __syncwarp();
    __nv_bfloat16 *oh = a.o + (int64_t)head * D + (lane & 15) * 8;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        const uint32_t row = (uint32_t)(warp * 32 + 2 * i + (lane >> 4));
        const int64_t grow = q_row0 + row;
        if (grow < a.n_tokens)
            *reinterpret_cast<uint4 *>(oh + grow * stride) = ld_shared_v4(sQ + rad_fa2_swz(row, (uint32_t)(lane & 15)));
    }
}

typedef void (*kernel_fn)(rad_attn_args);
kernel_fn kernel_of(int cfg) {
    switch (cfg) {
    case RAD_FA2_S4: return attn_fa2_kernel<64, 4>;
    case RAD_FA2_S3: return attn_fa2_kernel<64, 3>;
    case RAD_FA2_S2: return attn_fa2_kernel<64, 2>;
    case RAD_FA2_N32: return attn_fa2_kernel<32, 2>;
    default: return nullptr;
    }
}
} // namespace

rad_status rad_attn_fa2_info(int cfg, rad_fa2_info *info) {
    kernel_fn k = kernel_of(cfg);
    if (!k) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: unknown portable configuration %d", cfg);
    cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, k);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: clear it */
        int dev = 0, maj = 0, min = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&maj, cudaDevAttrComputeCapabilityMajor, dev);
        cudaDeviceGetAttribute(&min, cudaDevAttrComputeCapabilityMinor, dev);
        return rad_err(RADIAL_ERR_UNSUPPORTED,
                       "cuda attention: this build has no code of the portable kernel for sm_%d%d (%s; rebuild with "
                       "that architecture in RADIAL_CUDA_ARCHS)",
                       maj, min, cudaGetErrorString(e));
    }
    const int smem = (int)rad_fa2_smem_bytes(cfg);
    RAD_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    RAD_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, 100));
    int per_sm = 0;
    RAD_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, NTHREADS, smem));
    info->regs = fa.numRegs;
    info->local_bytes = (int)fa.localSizeBytes;
    info->smem_bytes = smem;
    info->ctas_per_sm = per_sm;
    info->binary_version = fa.binaryVersion;
    return RAD_OK;
}

rad_status rad_attn_fa2_launch(const rad_attn_args *a, int cfg) {
    kernel_fn k = kernel_of(cfg);
    if (!k) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: unknown portable configuration %d", cfg);
    const int smem = (int)rad_fa2_smem_bytes(cfg);
    RAD_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    RAD_CUDA_TRY(cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, 100)); /* room for 2 CTAs */
    const unsigned grid = (unsigned)a->n_blocks * (unsigned)a->heads;
    k<<<grid, NTHREADS, smem, a->stream>>>(*a);
    RAD_CUDA_TRY(cudaGetLastError());
    return RAD_OK;
}
