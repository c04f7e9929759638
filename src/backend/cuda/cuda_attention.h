/* CUDA self-attention over a block-CSR layout (dense = the all-blocks layout, through the same kernels).
 *
 * out[i, h, :] = softmax_j(scale * q[i,h] . k[j,h]) v[j, h, :] over the keys j of the blocks listed for the
 * 128-query block row of i; keys outside those blocks, and past n_tokens in a partial last block, are
 * excluded exactly. A query row whose block row lists no block gets zeros.
 *
 * Tensors are bf16 in device memory, [n_tokens, heads, 128] row-major (the DiT's layout), 16-byte aligned.
 * Softmax runs flash-style with fp32 running max and sum; products accumulate in fp32.
 *
 * This header is plain C: the .cu files implement it behind extern "C". Streams are passed as void *
 * (a cudaStream_t; NULL = the default stream). */
#ifndef RAD_CUDA_ATTENTION_H
#define RAD_CUDA_ATTENTION_H
#include <stddef.h>
#include <stdint.h>

#include "attn/bsr.h"
#include "backend/fp8_attn_emul.h"
#include "base/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { RAD_CUDA_ATTN_HEAD_DIM = 128, RAD_CUDA_ATTN_BLOCK = 128 };

/* Kernel versions (bench/NOTES-kernels.md has each one's numbers). AUTO picks by compute capability at run
 * time: v3 on Hopper (sm_90, when the build holds sm_90a code), the portable kernel on every other sm_80 or
 * later card; below sm_80 no bf16 kernel runs (rad_cuda_attn_resolve fails: use the generic fp32 kernel).
 * The environment variable RADIAL_ATTN_KERNEL=NAME (a name below, e.g. "portable") replaces AUTO's choice,
 * to test and time one kernel inside the whole engine; explicit ids are never replaced. */
typedef enum rad_cuda_attn_kernel {
    RAD_CUDA_ATTN_AUTO = 0,
    RAD_CUDA_ATTN_PORTABLE,    /* attn_fa2.cu (sm_80+), the configuration this device's shared memory suits */
    RAD_CUDA_ATTN_FA2_S4,      /* portable, 64-key tiles, 4-slot K/V ring (96 KB: Hopper, B200) */
    RAD_CUDA_ATTN_FA2_S3,      /* portable, 64-key tiles, 3 slots (80 KB: A100) */
    RAD_CUDA_ATTN_FA2_S2,      /* portable, 64-key tiles, 2 slots (64 KB: FlashAttention-2's schedule) */
    RAD_CUDA_ATTN_FA2_N32,     /* portable, 32-key tiles, 2 slots (48 KB: sm_86, sm_89, sm_120) */
    RAD_CUDA_ATTN_V3_WGMMA,    /* attn_v3_wgmma.cu: TMA producer warp + 2 wgmma consumer warpgroups (sm_90a) */
    RAD_CUDA_ATTN_V3_PINGPONG, /* the same, with the two consumer warpgroups taking turns on the tensor cores */
    RAD_CUDA_ATTN_V3_STAGES3,  /* v3 with a 3-deep K/V ring (224 KB of shared memory) */
    RAD_CUDA_ATTN_V3_NATURAL,  /* v3 launching block rows in natural order instead of most-blocks-first */
    RAD_CUDA_ATTN_V3_EARLY,    /* v3 with O's rescale moved under the S GEMM */
    RAD_CUDA_ATTN_N_KERNELS
} rad_cuda_attn_kernel;

/* "auto", "portable", "fa2s4", "fa2s3", "fa2s2", "fa2n32", "v3", "v3pp", "v3s3", "v3nat", "v3e"; NULL for an
 * unknown id. */
const char *rad_cuda_attn_kernel_name(int kernel);
/* Parses a name above; returns -1 if unknown. */
int rad_cuda_attn_kernel_from_name(const char *name);
/* The kernel a call with `kernel` runs on the current device: AUTO and PORTABLE resolved (AUTO through
 * RADIAL_ATTN_KERNEL when set), never AUTO or PORTABLE itself. -1, with the reason in rad_last_error(), when it
 * cannot run here: no device, a device below sm_80, a Hopper kernel off Hopper or in a build without sm_90a,
 * no code for this architecture in the build, too little shared memory, a bad RADIAL_ATTN_KERNEL. */
int rad_cuda_attn_resolve(int kernel);
/* One line on a resolved kernel's resources on this device (registers, spill bytes, shared memory, CTAs per
 * SM), for benchmarks and test logs. */
rad_status rad_cuda_attn_describe(int kernel, char *buf, size_t size);

/* A block-CSR layout in device memory plus its launch schedule (block rows, most blocks first). Block rows
 * run over the n_tokens queries, block columns over the n_keys keys (n_keys == n_tokens for self-attention;
 * the K and V tensors then hold n_keys rows). */
typedef struct rad_cuda_bsr {
    int64_t n_tokens;
    int64_t n_keys;
    int32_t block, n_blocks;
    int64_t nnz;
    int32_t *row_ptr;   /* device, n_blocks + 1 */
    int32_t *col_idx;   /* device, nnz */
    int32_t *row_order; /* device, n_blocks: block rows sorted by block count, descending */
} rad_cuda_bsr;

/* Checks the host layout (bounds, monotone row_ptr, block == 128) and copies it to the device. */
rad_status rad_cuda_bsr_upload(const rad_bsr *host, rad_cuda_bsr *out);
void rad_cuda_bsr_free(rad_cuda_bsr *b);
/* Dense cross-attention layout: ceil(n_q/128) block rows, each listing all ceil(n_k/128) key blocks. */
rad_status rad_cuda_bsr_cross(int64_t n_q, int64_t n_k, rad_cuda_bsr *out);

/* out = attention(q, k, v) over mask (see the top of this file). heads >= 1; scale > 0 (finite), usually
 * 1/sqrt(128). kernel: a rad_cuda_attn_kernel. Asynchronous on `stream`; launch errors are reported here. */
rad_status rad_cuda_attention_bf16(const void *q, const void *k, const void *v, void *out, int64_t heads, float scale,
                                   const rad_cuda_bsr *mask, int kernel, void *stream);

/* Times `reps` launches (after `warmup` untimed ones) with CUDA events, one event pair per launch;
 * ms[reps] receives each launch's time. */
rad_status rad_cuda_attention_time(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                   float scale, const rad_cuda_bsr *mask, int kernel, int warmup, int reps,
                                   float *ms);

/* ---- fp8 attention (--attention-precision fp8; numerics and the scratch layout: backend/fp8_attn_emul.h) ----
 * Self-attention only (mask->n_keys == mask->n_tokens), head_dim 128, on Hopper (sm_90) in a build with sm_90a code
 * (attn_fp8_wgmma.cu); the quantisation pre-pass (attn_fp8_quant.cu) writes e4m3 Q, smoothed K and transposed V
 * with their scales into one scratch buffer of the layout rad_fp8_attn_plan(n_tokens, heads) gives. */

/* 1 when the current device runs the fp8 attention; 0 otherwise, with the reason in words in why[cap] (may be
 * NULL): no device, not a Hopper GPU (the kernel is fp8 wgmma, sm_90a only), or no sm_90a code in this build. */
int rad_cuda_attn_fp8_supported(char *why, size_t cap);
/* Steps 1-3: bf16 q, k, v [L->n_tokens, L->heads, 128] (device, 16-byte aligned) into scratch (device, L->bytes,
 * 256-byte aligned). Three kernels, asynchronous on stream (a cudaStream_t; NULL: the default stream). */
rad_status rad_cuda_attn_fp8_quantize(const void *q, const void *k, const void *v, const rad_fp8_attn_layout *L,
                                      void *scratch, void *stream);
/* Steps 4-5: out (bf16 [L->n_tokens, L->heads, 128]) = the fp8 attention of a quantised scratch over mask (its
 * n_tokens and n_keys both L->n_tokens). stages: the K/V ring depth, 2, 3 or 4 (0: the default, 2). */
rad_status rad_cuda_attn_fp8_run(const rad_fp8_attn_layout *L, const void *scratch, void *out, float scale,
                                 const rad_cuda_bsr *mask, int stages, void *stream);
/* Both, in a scratch of scratch_bytes >= rad_fp8_attn_plan(mask->n_tokens, heads).bytes. */
rad_status rad_cuda_attention_fp8(const void *q, const void *k, const void *v, void *out, int64_t heads, float scale,
                                  const rad_cuda_bsr *mask, void *scratch, size_t scratch_bytes, void *stream);
/* Times as rad_cuda_attention_time does: with_quant 0 times the attention alone (the scratch quantised once before
 * the warm-up), 1 the quantisation and the attention of every launch. */
rad_status rad_cuda_attention_fp8_time(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                       float scale, const rad_cuda_bsr *mask, void *scratch, size_t scratch_bytes,
                                       int stages, int with_quant, int warmup, int reps, float *ms);

/* ---- small device helpers for tests and benchmarks (C code never includes the CUDA headers) ---- */
/* Whether a CUDA device is usable; *name (size bytes) gets its name and compute capability. */
rad_status rad_cuda_device_info(char *name, size_t size, int *cc_major, int *cc_minor);
rad_status rad_cuda_malloc(void **p, size_t bytes, const char *what);
void rad_cuda_free(void *p);
rad_status rad_cuda_upload(void *dst, const void *src, size_t bytes);
rad_status rad_cuda_download(void *dst, const void *src, size_t bytes);
/* Fills bytes with `value` (e.g. 0xff: every bf16 becomes NaN, to catch unwritten outputs). */
rad_status rad_cuda_memset(void *p, int value, size_t bytes);
rad_status rad_cuda_sync(void);

#ifdef __cplusplus
}
#endif
#endif
