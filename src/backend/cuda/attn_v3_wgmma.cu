/* Attention v3: Hopper (sm_90a) warp-specialised kernel, the FlashAttention-3 structure written from scratch.
 *
 * One CTA per (128-query block row, head): 384 threads = 3 warpgroups.
 *   - warpgroup 0, the producer: one thread issues TMA bulk-tensor copies (Q once; then K_j and V_j of every
 *     key block listed for the row) into a STAGES-deep shared-memory ring, each copy completing on an
 *     mbarrier ("full"); consumers hand a slot back through another mbarrier ("empty"). It gives up most of
 *     its registers (setmaxnreg) to the consumers.
 *   - warpgroups 1 and 2, the consumers: 64 query rows each. S = Q K_j^T by wgmma (both operands in shared
 *     memory, K-major, 128-byte swizzle as TMA wrote them), online softmax on the fp32 accumulators in
 *     registers (running max and sum in fp32, exp2 with the scale folded in), P converted to bf16 in registers
 *     and O += P V_j by wgmma with A from registers and V read "transposed" (MN-major) from shared memory.
 *     Within a warpgroup the GEMMs of consecutive blocks overlap the softmax: S_{j+1} = Q K_{j+1}^T and
 *     O += P_j V_j are issued together, the softmax of S_{j+1} runs while P_j V_j is still on the tensor
 *     cores. With PINGPONG the two warpgroups also take turns issuing (named barriers), so that one
 *     warpgroup's softmax hides behind the other's GEMMs.
 * EARLY_RESCALE moves O's rescale by the previous block's softmax factor under the S GEMM (FA3's order).
 * Keys past n_keys (a partial last key block) are zero-filled by TMA and their scores set to -inf (exact
 * masking); query rows past n_tokens are computed on zeros and never stored. Cross-attention passes fewer
 * keys than queries (n_keys != n_tokens); its layout lists key blocks of the key sequence.
 *
 * Shared memory: Q 32 KB + STAGES x (K 32 KB + V 32 KB). Each 128 x 128 bf16 tile is two TMA boxes of
 * 128 rows x 64 columns (128-byte rows, the widest the 128-byte swizzle allows). */
#include "backend/cuda/sm90_util.cuh"

namespace {
using namespace rk_sm90; /* the shared Hopper helpers (mbarriers, TMA, wgmma descriptors and fences) */

/* Tile geometry (enumerators, so the host pass, which compiles no kernel body, has nothing unused). */
enum : uint32_t {
    D = 128,
    BM = 128,
    BN = 128,
    NTHREADS = 384,
    TILE = BN * D * 2, /* one Q, K or V tile: 32 KB */
    BOX = TILE / 2,    /* one 128 x 64 TMA box */
};
/* Shared memory of a STAGES-deep ring: Q at 0, K[STAGES] at TILE, V[STAGES] at TILE (1 + STAGES), then the
 * barriers q_full, k_full[S], k_empty[S], v_full[S], v_empty[S]; + 1024 of slack to align the base to the
 * swizzle atom. */
constexpr uint32_t smem_bytes(int stages) { return TILE * (1 + 2 * stages) + (1 + 4 * stages) * 8 + 1024; }

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RAD_V3_DEVICE 1
#endif
/* 1 in the sm_90a image only: the other architectures of the fat binary compile the kernels below as stubs
 * (rad_attn_v3_built reads this from the image loaded for the current device). */
#ifdef RAD_V3_DEVICE
__device__ int v3_built = 1;
#else
__device__ int v3_built = 0;
#endif

#ifdef RAD_V3_DEVICE
#define RAD_D8(i)                                                                                                \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
        "+f"(d[i + 7])
#define RAD_D64 RAD_D8(0), RAD_D8(8), RAD_D8(16), RAD_D8(24), RAD_D8(32), RAD_D8(40), RAD_D8(48), RAD_D8(56)
#define RAD_R64                                                                                                 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "   \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

/* d[64x128] (+)= A[64x16] B[16x128]: A and B in shared memory, both K-major. */
__device__ __forceinline__ void wgmma_ss(float *d, uint64_t desc_a, uint64_t desc_b, int accumulate) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " RAD_R64 ", %64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : RAD_D64
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}
/* d[64x128] += A[64x16] B[16x128]: A in registers (4 x bf16x2 per thread), B MN-major in shared memory. */
__device__ __forceinline__ void wgmma_rs(float *d, const uint32_t *a, uint64_t desc_b) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " RAD_R64 ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n"
        "}\n"
        : RAD_D64
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
#endif /* RAD_V3_DEVICE */

/* Online-softmax state of one thread: rows r and r+8 of its warp's 16 (the accumulator layout of wgmma:
 * element i sits in row (i/2)%2 * 8 + lane/4, column (i/4)*8 + (lane%4)*2 + i%2). */
struct SoftmaxState {
    float m[2]; /* running max, in log2 units (score * scale * log2 e) */
    float l[2]; /* this thread's share of the running sum (the quad's shares are added at the end) */
};

#ifdef RAD_V3_DEVICE
/* Turns scores s into probabilities (in place), updates the state, returns the factor the old O must take. */
__device__ __forceinline__ void softmax_step(float *s, SoftmaxState &st, float scale_log2, int kvalid, int lane,
                                             float *alpha) {
    if (kvalid < BN) { /* partial last key block: keys past n_keys do not exist */
#pragma unroll
        for (int i = 0; i < 64; i++) {
            const int col = (i / 4) * 8 + (lane % 4) * 2 + (i % 2);
            if (col >= kvalid) s[i] = -INFINITY;
        }
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < 64; i++) mx[(i / 2) % 2] = fmaxf(mx[(i / 2) % 2], s[i]);
    float base[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float m_new = fmaxf(st.m[r], mx[r] * scale_log2);
        base[r] = m_new == -INFINITY ? 0.0f : m_new; /* a row with nothing visible yet stays at zero */
        alpha[r] = exp2f(st.m[r] - base[r]);         /* 0 on the first block (m = -inf) */
        st.m[r] = m_new;
    }
    float sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 64; i++) {
        const int r = (i / 2) % 2;
        s[i] = exp2f(fmaf(s[i], scale_log2, -base[r]));
        sum[r] += s[i];
    }
#pragma unroll
    for (int r = 0; r < 2; r++) st.l[r] = st.l[r] * alpha[r] + sum[r];
}

/* P as the A operand of the PV wgmma: k-step kk takes score columns 16kk..16kk+15, which are accumulator
 * elements 8kk..8kk+7 in exactly the register-fragment order wgmma expects. */
__device__ __forceinline__ void pack_p(const float *s, uint32_t *p) {
#pragma unroll
    for (int i = 0; i < 32; i++) p[i] = pack_bf16(s[2 * i], s[2 * i + 1]);
}
#endif

template <bool PINGPONG, int STAGES, bool EARLY_RESCALE>
__global__ void __launch_bounds__(NTHREADS, 1)
    attn_v3_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                   const __grid_constant__ CUtensorMap tm_v, const rad_attn_args a) {
#ifdef RAD_V3_DEVICE
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
            tma_load_2d(sQ + BOX, &tm_q, q_full, hc + 64, rb * BM);
            for (int j = 0; j < nnz; j++) {
                const int s = j % STAGES;
                const uint32_t ph = (j / STAGES) & 1;
                const int key0 = a.col_idx[e0 + j] * BN;
                mbar_wait(k_empty(s), ph ^ 1);
                mbar_expect_tx(k_full(s), TILE);
                tma_load_2d(sK + s * TILE, &tm_k, k_full(s), hc, key0);
                tma_load_2d(sK + s * TILE + BOX, &tm_k, k_full(s), hc + 64, key0);
                mbar_wait(v_empty(s), ph ^ 1);
                mbar_expect_tx(v_full(s), TILE);
                tma_load_2d(sV + s * TILE, &tm_v, v_full(s), hc, key0);
                tma_load_2d(sV + s * TILE + BOX, &tm_v, v_full(s), hc + 64, key0);
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

    float oacc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) oacc[i] = 0.0f;
    if (nnz == 0) { /* nothing visible: zeros (no copies were issued) */
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int64_t row = row0 + 8 * r;
            if (row < a.n_tokens)
                for (int c = 0; c < 16; c++)
                    *reinterpret_cast<uint32_t *>(orow + row * stride + c * 8) = 0u;
        }
        return;
    }

    const float scale_log2 = a.scale * 1.4426950408889634f;
    const uint32_t my_bar = 1 + cw, other_bar = 2 - cw; /* named barriers 1, 2 (0 is __syncthreads) */
    float sacc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) sacc[i] = 0.0f;
    uint32_t p[32];
    float alpha[2];
    SoftmaxState st = {{-INFINITY, -INFINITY}, {0.0f, 0.0f}};

    auto issue_s = [&](int s) { /* S = Q_wg K_s^T: 8 k-steps of 16 along the head dimension */
        const uint32_t qa = sQ + cw * 64 * 128, kb = sK + s * TILE;
#pragma unroll
        for (int kk = 0; kk < 8; kk++) {
            const uint32_t off = (kk / 4) * BOX + (kk % 4) * 32;
            wgmma_ss(sacc, make_desc(qa + off, 16, 1024), make_desc(kb + off, 16, 1024), kk > 0);
        }
    };
    auto issue_pv = [&](int s) { /* O += P V_s: 8 k-steps of 16 keys; V MN-major */
        const uint32_t vb = sV + s * TILE;
#pragma unroll
        for (int kk = 0; kk < 8; kk++) wgmma_rs(oacc, p + 4 * kk, make_desc(vb + kk * 16 * 128, BOX, 1024));
    };
    auto kvalid_of = [&](int j) {
        const int64_t rem = a.n_keys - (int64_t)a.col_idx[e0 + j] * BN;
        return rem < BN ? (int)rem : BN;
    };

    if (PINGPONG && cw == 1) named_arrive(1, 256); /* warpgroup 0 takes the first turn */
    mbar_wait(q_full, 0);

    /* block 0: S only */
    mbar_wait(k_full(0), 0);
    if (PINGPONG) named_sync(my_bar, 256);
    wgmma_fence();
    issue_s(0);
    wgmma_commit();
    if (PINGPONG) named_arrive(other_bar, 256);
    wgmma_wait<0>();
    fence_regs(sacc);
    if (t == 0) mbar_arrive(k_empty(0));
    softmax_step(sacc, st, scale_log2, kvalid_of(0), lane, alpha);
    pack_p(sacc, p);

    for (int j = 1; j < nnz; j++) {
        const int s = j % STAGES, sp = (j - 1) % STAGES;
        mbar_wait(k_full(s), (j / STAGES) & 1);
        if (PINGPONG) named_sync(my_bar, 256);
        wgmma_fence();
        issue_s(s);
        wgmma_commit();
        if (EARLY_RESCALE) { /* O takes the previous block's factor while S_j runs (O is idle: PV_{j-2} is done) */
#pragma unroll
            for (int i = 0; i < 64; i++) oacc[i] *= alpha[(i / 2) % 2];
        }
        mbar_wait(v_full(sp), ((j - 1) / STAGES) & 1); /* V_{j-1} may land while S_j runs */
        wgmma_fence();
        issue_pv(sp);
        wgmma_commit();
        if (PINGPONG && !(cw == 1 && j == nnz - 1)) named_arrive(other_bar, 256);
        wgmma_wait<1>(); /* S_j is ready; P_{j-1} V_{j-1} may still run */
        fence_regs(sacc);
        if (t == 0) mbar_arrive(k_empty(s));
        softmax_step(sacc, st, scale_log2, kvalid_of(j), lane, alpha);
        wgmma_wait<0>();
        fence_regs(oacc);
        if (t == 0) mbar_arrive(v_empty(sp));
        if (!EARLY_RESCALE) {
#pragma unroll
            for (int i = 0; i < 64; i++) oacc[i] *= alpha[(i / 2) % 2];
        }
        pack_p(sacc, p);
    }

    /* last block's P V */
    const int sl = (nnz - 1) % STAGES;
    if (EARLY_RESCALE) {
#pragma unroll
        for (int i = 0; i < 64; i++) oacc[i] *= alpha[(i / 2) % 2];
    }
    mbar_wait(v_full(sl), ((nnz - 1) / STAGES) & 1);
    wgmma_fence();
    issue_pv(sl);
    wgmma_commit();
    wgmma_wait<0>();
    fence_regs(oacc);
    if (t == 0) mbar_arrive(v_empty(sl));

    float inv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float l = st.l[r];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        inv[r] = l > 0.0f ? 1.0f / l : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t row = row0 + 8 * r;
        if (row >= a.n_tokens) continue;
        __nv_bfloat16 *o = orow + row * stride;
#pragma unroll
        for (int c = 0; c < 16; c++)
            *reinterpret_cast<uint32_t *>(o + c * 8) =
                pack_bf16(oacc[4 * c + 2 * r] * inv[r], oacc[4 * c + 2 * r + 1] * inv[r]);
    }
#else
    /* Built without sm_90a (wgmma, setmaxnreg): fail loudly rather than leave the output unwritten. */
    (void)tm_q, (void)tm_k, (void)tm_v, (void)a;
    __trap();
#endif /* RAD_V3_DEVICE */
}

/* [n_tokens, heads*128] bf16 seen as 2-D; boxes of 128 rows x 64 columns, 128-byte swizzle; rows past
 * n_tokens read as zeros. */
rad_status make_map(CUtensorMap *m, const void *ptr, int64_t n_tokens, int heads, const char *what) {
    PFN_cuTensorMapEncodeTiled_v12000 enc = nullptr;
    RAD_TRY(get_encoder(&enc, "attention v3"));
    cuuint64_t dims[2] = {(cuuint64_t)heads * D, (cuuint64_t)n_tokens};
    cuuint64_t strides[1] = {(cuuint64_t)heads * D * 2};
    cuuint32_t box[2] = {64, 128}, estr[2] = {1, 1};
    CUresult r = enc(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void *>(ptr), dims, strides, box, estr,
                     CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return rad_err(RADIAL_ERR_BACKEND, "attention v3: cuTensorMapEncodeTiled(%s: %lld tokens x %d heads) failed: %d",
                       what, (long long)n_tokens, heads, (int)r);
    return RAD_OK;
}

template <bool PP, int STAGES, bool EARLY> rad_status launch(const rad_attn_args *a) {
    CUtensorMap mq, mk, mv;
    RAD_TRY(make_map(&mq, a->q, a->n_tokens, a->heads, "q"));
    RAD_TRY(make_map(&mk, a->k, a->n_keys, a->heads, "k"));
    RAD_TRY(make_map(&mv, a->v, a->n_keys, a->heads, "v"));
    constexpr int smem = (int)smem_bytes(STAGES);
    auto kernel = attn_v3_kernel<PP, STAGES, EARLY>;
    RAD_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    const unsigned grid = (unsigned)a->n_blocks * (unsigned)a->heads;
    kernel<<<grid, NTHREADS, smem, a->stream>>>(mq, mk, mv, *a);
    RAD_CUDA_TRY(cudaGetLastError());
    return RAD_OK;
}
} // namespace

bool rad_attn_v3_built(void) {
    static signed char known[64]; /* per device: 0 not asked yet, 1 built, -1 not */
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (dev >= 0 && dev < 64 && known[dev]) return known[dev] > 0;
    int v = 0;
    if (cudaMemcpyFromSymbol(&v, v3_built, sizeof v) != cudaSuccess) { /* no image for this device */
        cudaGetLastError();
        v = 0;
    }
    if (dev >= 0 && dev < 64) known[dev] = v == 1 ? 1 : -1;
    return v == 1;
}

rad_status rad_attn_v3_launch(const rad_attn_args *a, bool pingpong, int stages, bool early_rescale) {
    if (pingpong) return launch<true, 2, false>(a);
    if (stages == 3) return launch<false, 3, false>(a);
    return early_rescale ? launch<false, 2, true>(a) : launch<false, 2, false>(a);
}
