/* The numerics of the CUDA backend's fp8 attention (set_attention RAD_ATTN_FP8, --attention-precision fp8:
 * cuda/attn_fp8_quant.cu, cuda/attn_fp8_wgmma.cu), emulated on the CPU, so the GPU test checks the device against a
 * host computation with the same quantisation, bit for bit, and the same softmax arithmetic. Plain C, built in
 * every configuration (the CPU backend itself has no fp8 attention: it is the fp32 reference).
 *
 * What fp8 attention computes for self-attention out = softmax(scale q kᵀ) v over a block-CSR layout (q, k, v
 * bf16 [n, heads, 128], as the bf16 kernels read them; blocks of 128 tokens; nb = ceil(n / 128)):
 *
 * 1. K smoothing. kmean[h][d] = the mean of k[., h, d] over all n tokens, and k is replaced by fl(k - kmean) (one
 *    fp32 subtraction). Exact for softmax: q·(k_j - m) = q·k_j - q·m, and q·m is the same for every key a query
 *    sees, whatever the mask. It removes the per-channel offset that Wan's keys carry (SageAttention's
 *    observation), so the per-block scale below spends e4m3's range on what differs between keys. The sum runs
 *    in a fixed order (the device's): per 128-token block b and channel, 16 partial fp32 sums over the tokens
 *    g, g + 16, ... (g = 0..15, ascending), added in g order, then the blocks' sums added in double in b order
 *    and divided by n in double, rounded once to fp32.
 * 2. Q and the smoothed K, quantised per (128-token block, head): amax over the block's 128 x 128 values (a
 *    partial last block: over its real tokens), s = amax / 448, q8 = e4m3(x · fl(448 / amax)) rounded to
 *    nearest even and saturated (fp8_emul.h's rule and rad_f32_to_f8e4m3; amax below 2^-64: zeros, s = 0). Stored
 *    [n, heads * 128] bytes; sq, sk [heads][nb].
 * 3. V, quantised per (head, channel) over all tokens: amax over the n tokens, sv = amax / 448, v8 =
 *    e4m3(v · fl(448 / amax)). Stored transposed, vt8 [heads * 128][n_pad = 128 nb] (row h * 128 + d, the
 *    tokens of block b in columns 128 b .. 128 b + 127), zeros past n, and permuted inside each group of 16
 *    tokens (rad_fp8_attn_vpos): the fp8 PV GEMM (wgmma k32) wants V with the keys contiguous (its B operand
 *    is K-major only for 8-bit types), and the permutation makes the S accumulator's registers, converted to
 *    e4m3 in place, exactly the A fragment of that GEMM (no register shuffles between the two GEMMs).
 * 4. Per query row and listed key block j, in the layout's order, as the bf16 kernel's online softmax in fp32:
 *      S_t = Σ_d q8 k8 (products exact; summed here exactly in double and rounded to fp32 once; the tensor
 *            cores accumulate in fp32 with their own alignment of each 32-term group: not emulated);
 *      c   = max(fl(fl(sq · fl(scale · 1.4426950408889634f)) · sk_j), FLT_MIN)   (log2 units; > 0, so -inf
 *            scores stay -inf for a block whose scale is 0);
 *      keys past n: S = -inf;  m' = max(m, fl(max_t S_t · c));  base = m' (0 while m' = -inf);
 *      alpha = 2^(m - base);  P'_t = 2^fma(S_t, c, fl(8 - base))  (the probabilities times 2^8 = 256, in
 *            [0, 256]: the scale is a power of two folded into the exponent, P = 1 becomes 256 exactly, and it
 *            cancels in O / l);
 *      l = l·alpha + Σ_t P'_t  (the fp32 values, before their rounding);
 *      O = O·alpha + Σ_t e4m3(P'_t) v8_t  (the block's P·V in a fresh accumulator, then folded in fp32: Hopper's
 *            fp8 tensor cores keep only ~14 significant bits while they accumulate, so summing every block into
 *            one tensor-core accumulator would lose precision with the key count; SageAttention2's two-level
 *            accumulation).
 * 5. out = O · sv[d] / l, rounded to bf16 (zeros for a row whose block row lists no block).
 * Cross-attention (text keys) stays on the bf16 kernels. */
#ifndef RAD_FP8_ATTN_EMUL_H
#define RAD_FP8_ATTN_EMUL_H
#include <stddef.h>
#include <stdint.h>

#include "attn/bsr.h"
#include "base/status.h"

enum {
    RAD_FP8A_D = 128,     /* head dimension */
    RAD_FP8A_BLOCK = 128, /* tokens per block (query and key) */
    RAD_FP8A_GROUPS = 16  /* partial sums per block and channel of the K mean (step 1) */
};
/* P is scaled by 2^RAD_FP8A_P_LOG2 before its e4m3 rounding (step 4). */
#define RAD_FP8A_P_LOG2 8.0f

/* Where each tensor of the quantised attention lies inside one scratch buffer (the device's; the emulation
 * fills a host buffer of the same layout, so the two compare region by region). Offsets in bytes, each 256-byte
 * aligned (the TMA copies need 16). */
typedef struct rad_fp8_attn_layout {
    int64_t n_tokens, heads;
    int64_t n_blocks; /* ceil(n_tokens / 128) */
    int64_t n_pad;    /* 128 n_blocks: the token extent of vt8 */
    size_t q8, k8;    /* uint8 [n_tokens][heads * 128] (k8: smoothed) */
    size_t vt8;       /* uint8 [heads * 128][n_pad], permuted (step 3) */
    size_t sq, sk;    /* float [heads][n_blocks] */
    size_t sv, vinv;  /* float [heads][128]: sv = amax / 448 and its quantisation factor 448 / amax (0, 0 below 2^-64) */
    size_t kmean;     /* float [heads][128] */
    size_t ksum;      /* float [n_blocks][heads * 128]: per-block sums of k (step 1) */
    size_t vmax;      /* float [n_blocks][heads * 128]: per-block amax of v */
    size_t bytes;     /* the whole buffer */
} rad_fp8_attn_layout;

/* The layout for n_tokens x heads (n_tokens >= 1, heads >= 1; refused when a size or the device grid would
 * overflow). */
rad_status rad_fp8_attn_plan(int64_t n_tokens, int64_t heads, rad_fp8_attn_layout *out);

/* Position of key t (0..127 within its block) in its block's row of vt8, and the inverse. Inside each group of
 * 16 keys, position 4a + b holds key 2a + (b & 1) + 8 (b >> 1): the keys whose S accumulator elements a thread
 * holds (columns 2a, 2a + 1, 2a + 8, 2a + 9 of the group, a = lane % 4) land in the A-fragment slots that thread
 * feeds to the PV GEMM (columns 4a .. 4a + 3). */
#ifdef __CUDACC__ /* the device's quantisation kernel uses them too */
#define RAD_FP8A_HD __host__ __device__
#else
#define RAD_FP8A_HD
#endif
static inline RAD_FP8A_HD int rad_fp8_attn_vkey(int pos) {
    return (pos & ~15) + 2 * ((pos & 15) >> 2) + (pos & 1) + 8 * ((pos >> 1) & 1);
}
static inline RAD_FP8A_HD int rad_fp8_attn_vpos(int key) {
    return (key & ~15) + 4 * ((key & 7) >> 1) + (key & 1) + 2 * ((key >> 3) & 1);
}

/* Steps 1-3 on the host: q, k, v bf16 bits [n_tokens, heads, 128] into scratch (L->bytes bytes, the layout of
 * L), byte for byte what the device's quantisation writes (padding between the regions aside). Multi-threaded. */
void rad_fp8_attn_quantize(const rad_fp8_attn_layout *L, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                           uint8_t *scratch);

/* Options of the emulated attention (NULL: the defaults, all 0). */
typedef struct rad_fp8_attn_ref_opts {
    /* 1: sum each 32-term group of the two fp8 GEMMs as a model of Hopper's tensor cores does (the running sum and
     * the 32 products aligned to the largest exponent of the group, each truncated toward zero to 13 bits below
     * it, added, the result truncated toward zero to 14 significant bits; after SageAttention2's "FP22"
     * finding). Not validated on a GPU: a tool to see how much the accumulation moves the output, not a
     * reference to assert against. 0: exact sums. */
    int hw_accum;
} rad_fp8_attn_ref_opts;

/* Steps 4-5: out[i, h, :] for the query rows `rows` (n_rows of them; rows NULL: every row 0..n_tokens-1 and
 * n_rows ignored) into out [n_rows (or n_tokens), heads, 128] as floats holding bf16 values, from a quantised
 * scratch (the device's, downloaded, or rad_fp8_attn_quantize's). mask: the block-CSR layout over n_tokens, NULL
 * for dense. scale > 0. Multi-threaded over rows. */
rad_status rad_fp8_attn_ref(const rad_fp8_attn_layout *L, const uint8_t *scratch, float scale, const rad_bsr *mask,
                            const int64_t *rows, int64_t n_rows, const rad_fp8_attn_ref_opts *opts, float *out);
#endif
