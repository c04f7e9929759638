/* The CUDA backend's fp8 GEMM mode (gemm_fp8.cu), as plain C for tests and tools: what the last linear did,
 * the hardware rule, and a timing helper. The mode itself is switched with the backend's set_gemm op
 * (backend.h); its numerics are those of backend/fp8_emul.h. */
#ifndef RAD_CUDA_GEMM_FP8_H
#define RAD_CUDA_GEMM_FP8_H
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How cuBLASLt applied the bias of an fp8 GEMM. */
enum {
    RAD_FP8_BIAS_NONE = 0, /* the linear had no bias */
    RAD_FP8_BIAS_F32 = 1,  /* in the GEMM epilogue, fp32 */
    RAD_FP8_BIAS_BF16 = 2, /* in the GEMM epilogue, the bias rounded to bf16 (cuBLASLt's fp8 epilogue type) */
    RAD_FP8_BIAS_ADD = 3   /* added in fp32 by a kernel after the GEMM */
};
/* Where the e4m3 weight came from. */
enum {
    RAD_FP8_W_STORED = 0,    /* the file's e4m3 bytes and scale */
    RAD_FP8_W_CONVERTED = 1, /* a resident bf16 weight, quantised per row once (it is an e4m3 weight since) */
    RAD_FP8_W_PER_USE = 2    /* quantised per row at this use from its bf16 matrix (streamed; e5m2, GGUF blocks) */
};

/* What the last linear of a CUDA backend did in fp8 mode. */
typedef struct rad_cuda_fp8_info {
    int fp8;         /* 1: it ran the fp8 GEMM; 0: the bf16 GEMM (why says why: mode off, shape, alignment) */
    int outer_vec;   /* fp8: 1 = cuBLASLt applied the row and column scales (outer-vector scaling, sm_90);
                        0 = a per-tensor fp8 GEMM then an epilogue kernel applied them (and the bias) */
    int bias_mode;   /* RAD_FP8_BIAS_* */
    int weight;      /* RAD_FP8_W_* */
    int act_cached;  /* 1: the activations' quantisation was reused (q, k and v share one) */
    int act_source;  /* 16: quantised from the bf16 copy of the producing op; 32: from the fp32 tensor */
    int fast_accum;  /* cuBLASLt's FAST_ACCUM (on unless rad_cuda_fp8_set_fast_accum(be, 0)) */
    char why[400];
} rad_cuda_fp8_info;

/* Whether a GPU of compute capability major.minor has fp8 tensor cores (8.9 and newer); when not, why[] (cap
 * bytes, may be NULL) says so in words. */
int rad_cuda_fp8_supported(int major, int minor, char *why, size_t cap);

/* The cuBLASLt library's version (cublasLtGetVersion: 130100 for 13.1.0); outer-vector scaling needs 12.9+. */
size_t rad_cuda_cublaslt_version(void);

/* The record of be's last linear (be: a CUDA backend). */
rad_status rad_cuda_fp8_last(rad_backend *be, rad_cuda_fp8_info *out);
/* Drops the cached activation quantisations, so the next fp8 linear quantises again (timing). */
rad_status rad_cuda_fp8_forget(rad_backend *be);
/* cuBLASLt's fp8 fast accumulation (no periodic promotion of the tensor cores' partial sums to fp32: faster,
 * less exact) for the fp8 GEMMs from now on; on by default (gemm_fp8.cu says why); 0 for the fp32-accurate
 * accumulation (tests, benchmarks). */
rad_status rad_cuda_fp8_set_fast_accum(rad_backend *be, int on);

/* Times be->linear(x, m, k, w, bias, y) with CUDA events: `warmup` untimed calls, then `reps` calls queued back
 * to back, ms[i] the device time of call i. requant: drop the cached activation quantisation before every call
 * (rad_cuda_fp8_forget), so each fp8 call includes it. */
rad_status rad_cuda_linear_time(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                                const float *bias, float *y, int warmup, int reps, int requant, float *ms);

#ifdef __cplusplus
}
#endif
#endif
