/* The index arithmetic of the portable attention kernel (attn_fa2.cu), in plain C so that a host test
 * (tests/attn/test_fa2_plan.c) checks it without a GPU: the shared-memory swizzle, which row and 16-byte chunk
 * each lane hands to ldmatrix, how a block row's key blocks split into tiles (partial last block included),
 * the cp.async ring schedule, and which configuration a device's shared memory suits.
 *
 * Shared-memory tiles hold rows of 128 bf16 (256 bytes = 16 chunks of 16 bytes). Chunk c of row r sits at
 * chunk position c ^ (r % 8) of its row: the 8 rows one ldmatrix phase reads (8 consecutive rows, one chunk
 * column) then fall into 8 different 16-byte bank groups, and so do the 8 chunks one cp.async phase writes.
 *
 * Fragment contract (PTX ISA, mma.m16n8k16 with .bf16 and ldmatrix.m8n8.x4.b16; g = lane / 4, t = lane % 4):
 *   A (16 x 16, row-major)  a0 (g, 2t..2t+1)  a1 (g+8, 2t..)  a2 (g, 2t+8..)  a3 (g+8, 2t+8..)
 *   B (16 x 8, k x n)       b0 (k 2t..2t+1, n g)  b1 (k 2t+8.., n g)
 *   C (16 x 8, fp32)        c0, c1 (g, 2t..2t+1)  c2, c3 (g+8, 2t..2t+1)
 *   ldmatrix.x4: lanes 8i..8i+7 give the row addresses of matrix i, register i of every lane receives matrix i
 *   (without .trans: row lane/4, elements 2t, 2t+1; with .trans: elements (2t, lane/4) and (2t+1, lane/4)).
 * The lane maps below order the four matrices so that one ldmatrix.x4 yields
 *   Q (A operand of S = Q K^T, rows of queries):      a0, a1, a2, a3 of one 16 x 16 block;
 *   K (B operand of S, rows of keys = n, chunks = k): b0, b1 of keys n0..n0+7, then b0, b1 of keys n0+8..n0+15;
 *   V (B operand of O += P V with .trans, rows of keys = k, chunks = head dims n):
 *                                                     b0, b1 of dims n0..n0+7, then b0, b1 of dims n0+8..n0+15.
 * P reaches the PV mma straight from the S accumulators: A register j of k-step kk (keys 16kk..16kk+15) packs
 * the two fp32 accumulators (2 (j & 1), 2 (j & 1) + 1) of S n-tile 2kk + (j >> 1). */
#ifndef RAD_ATTN_FA2_PLAN_H
#define RAD_ATTN_FA2_PLAN_H
#include <stddef.h>
#include <stdint.h>

/* RAD_FA2_FN: host and device; RAD_FA2_CFN also constexpr in CUDA C++ (template arguments of the kernel). */
#ifdef __CUDACC__
#define RAD_FA2_FN static __host__ __device__ __forceinline__
#define RAD_FA2_CFN static constexpr __host__ __device__ __forceinline__
#else
#define RAD_FA2_FN static inline
#define RAD_FA2_CFN static inline
#endif

enum {
    RAD_FA2_D = 128,          /* head dim */
    RAD_FA2_BM = 128,         /* query rows per CTA (one block row of the layout) */
    RAD_FA2_BLOCK = 128,      /* key block of the layout */
    RAD_FA2_WARPS = 4,        /* 32 query rows each */
    RAD_FA2_THREADS = 128,
    RAD_FA2_ROW_BYTES = 256,  /* one row of 128 bf16 */
    RAD_FA2_Q_BYTES = RAD_FA2_BM * RAD_FA2_ROW_BYTES,
    RAD_FA2_ALIGN = 128,      /* slack to align the dynamic shared memory base to 128 bytes */
};
/* Softmax: the running max a row's probabilities are taken against is raised only when a tile's max exceeds
 * it by more than this many (log2) units, so p <= 2^8 in between and most tiles skip rescaling O. The result
 * is the same softmax (numerator and denominator share the offset); it only saves the multiplications. */
#define RAD_FA2_RESCALE_LOG2 8.0f

/* ---- swizzle and ldmatrix lane maps ---- */

/* Byte offset of 16-byte chunk `chunk` (0..15) of row `row` inside a tile. */
RAD_FA2_CFN uint32_t rad_fa2_swz(uint32_t row, uint32_t chunk) {
    return row * (uint32_t)RAD_FA2_ROW_BYTES + ((chunk ^ (row & 7u)) << 4);
}
/* Row (within the 16-row block) and chunk (within the k-step's two chunks) each lane addresses. */
RAD_FA2_CFN uint32_t rad_fa2_q_row(uint32_t lane) { return lane & 15u; }
RAD_FA2_CFN uint32_t rad_fa2_q_chunk(uint32_t lane) { return lane >> 4; }
RAD_FA2_CFN uint32_t rad_fa2_k_row(uint32_t lane) { return (lane & 7u) | ((lane >> 4) << 3); }
RAD_FA2_CFN uint32_t rad_fa2_k_chunk(uint32_t lane) { return (lane >> 3) & 1u; }
RAD_FA2_CFN uint32_t rad_fa2_v_row(uint32_t lane) { return (lane & 7u) | (((lane >> 3) & 1u) << 3); }
RAD_FA2_CFN uint32_t rad_fa2_v_chunk(uint32_t lane) { return lane >> 4; }
/* The kernel's factored form: for row0 % 8 == 0, lrow < 16, lchunk < 2, kstep < 8,
 *   rad_fa2_swz(row0 + lrow, 2 kstep + lchunk) == row0 * 256 + (kstep / 4) * 128 + rad_fa2_lane_off(lrow, lchunk, kstep % 4)
 * so a lane keeps four offsets in registers and every ldmatrix address is one of them plus a constant. */
RAD_FA2_CFN uint32_t rad_fa2_lane_off(uint32_t lrow, uint32_t lchunk, uint32_t j) {
    return lrow * (uint32_t)RAD_FA2_ROW_BYTES + (((2u * j) ^ lchunk ^ (lrow & 7u)) << 4);
}

/* ---- a block row's tiles ---- */

/* Tile t of a block row (bn keys; 128 / bn tiles per listed key block) starts at this key. */
RAD_FA2_FN int64_t rad_fa2_tile_key0(const int32_t *col_idx, int32_t e0, int t, int bn) {
    const int per = RAD_FA2_BLOCK / bn;
    return (int64_t)col_idx[e0 + t / per] * RAD_FA2_BLOCK + (int64_t)(t % per) * bn;
}
/* Keys of the tile that exist: bn, fewer in a partial last block, 0 for a tile wholly past n_keys (skipped). */
RAD_FA2_CFN int rad_fa2_kvalid(int64_t key0, int64_t n_keys, int bn) {
    const int64_t r = n_keys - key0;
    return r <= 0 ? 0 : r < bn ? (int)r : bn;
}

/* ---- the K/V ring ----
 * Loads go out in the order K_0, V_0, K_1, V_1, ... (load L: tile L / 2, V if L is odd) into a ring of nslot
 * tile slots (slot L % nslot); the kernel consumes them in the same order, one "event" each (event 2t: S_t =
 * Q K_t^T and its softmax; event 2t + 1: O += P_t V_t). Each event starts with cp.async.wait_group and
 * __syncthreads, then issues one load (one commit group, empty past the last load), then computes. The first
 * nslot - 1 loads go out before event 0 (after Q's group). */
RAD_FA2_CFN int rad_fa2_slot(int load, int nslot) { return load % nslot; }
/* The load event c issues (after its barrier): into the slot that event c - 1 has just released. */
RAD_FA2_CFN int rad_fa2_issue_at(int event, int nslot) { return event + nslot - 1; }
/* Groups that may still be in flight when event c starts: all but the newest nslot - 2 are complete, which
 * includes load c (groups: Q, then one per load, one per event). */
RAD_FA2_CFN int rad_fa2_wait_pending(int nslot) { return nslot - 2; }

/* ---- configurations ---- */
typedef enum rad_fa2_cfg {
    RAD_FA2_S4 = 0, /* 64-key tiles, 4 slots: 96 KB (two CTAs in the 228 KB of Hopper, B200) */
    RAD_FA2_S3,     /* 64-key tiles, 3 slots: 80 KB (two CTAs in the 164 KB of A100, Orin) */
    RAD_FA2_S2,     /* 64-key tiles, 2 slots: 64 KB (close to FlashAttention-2's schedule): sm_80, sm_90, sm_100 */
    RAD_FA2_N32,    /* 32-key tiles, 2 slots: 48 KB (two CTAs in 100 KB): sm_86, sm_89, sm_120 */
    RAD_FA2_N_CFG
} rad_fa2_cfg;

RAD_FA2_CFN int rad_fa2_cfg_bn(int cfg) { return cfg == RAD_FA2_N32 ? 32 : 64; }
RAD_FA2_CFN int rad_fa2_cfg_nslot(int cfg) { return cfg == RAD_FA2_S4 ? 4 : cfg == RAD_FA2_S3 ? 3 : 2; }
/* Dynamic shared memory of a configuration: Q, the ring, the alignment slack. */
RAD_FA2_CFN size_t rad_fa2_smem_bytes(int cfg) {
    return (size_t)RAD_FA2_Q_BYTES + (size_t)rad_fa2_cfg_nslot(cfg) * (size_t)rad_fa2_cfg_bn(cfg) * RAD_FA2_ROW_BYTES +
           RAD_FA2_ALIGN;
}
/* The configuration a device gets: 64-key tiles with the 2-slot ring when two such CTAs share an SM (8 warps:
 * while one CTA's warp runs its softmax the other's keeps the tensor cores busy), else 32-key tiles when two of
 * those fit (the 100 KB parts), else whichever fits once; -1 if none fits. Inputs: the device's shared memory
 * per SM, the part the driver reserves per CTA, and the most one CTA may opt in to. The deeper rings (3 and 4
 * slots) are not picked: on the H100 they measured 2-6 % slower than 2 slots (bench/NOTES-kernels.md). */
RAD_FA2_CFN int rad_fa2_pick(size_t smem_per_sm, size_t reserved_per_block, size_t smem_per_block_optin) {
    const int order[2] = {RAD_FA2_S2, RAD_FA2_N32};
    for (int i = 0; i < 2; i++)
        if (rad_fa2_smem_bytes(order[i]) <= smem_per_block_optin &&
            2 * (rad_fa2_smem_bytes(order[i]) + reserved_per_block) <= smem_per_sm)
            return order[i];
    return rad_fa2_smem_bytes(RAD_FA2_N32) <= smem_per_block_optin ? order[1] : -1;
}
#endif
