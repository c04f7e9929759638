/* How the CUDA backend runs the DiT's feed-forward op (backend.h ffn), as plain C for tests and tools. */
#ifndef RAD_CUDA_FFN_H
#define RAD_CUDA_FFN_H
#include <stddef.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The first GEMM's epilogue as cuBLASLt took it, tried in this order (the backend keeps the first that works).
 * On an H100 (driver 580, CUDA 13.0) cuBLASLt refuses the fp32 bias and takes the bf16 one. */
enum {
    RAD_CUDA_FFN_UNTRIED = 0,
    RAD_CUDA_FFN_GELU_F32_BIAS = 1,  /* GELU + bias epilogue, fp32 bias, bf16 hidden state */
    RAD_CUDA_FFN_GELU_BF16_BIAS = 2, /* the same with the bias rounded to bf16 (cuBLASLt's default bias type) */
    RAD_CUDA_FFN_UNFUSED = 3         /* linear, gelu_tanh, linear in fp32 (also: a GEMM the fp8 mode takes, an unaligned bias) */
};

/* The path be's ffn took last (RAD_CUDA_FFN_*); why (cap bytes, may be NULL) gets cuBLASLt's refusals of the
 * paths before it, or "". */
int rad_cuda_ffn_path(rad_backend *be, char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
