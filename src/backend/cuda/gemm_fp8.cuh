/* The fp8 GEMM mode of the CUDA backend (gemm_fp8.cu), as C++ entry points for cuda_backend.cu: its state (one
 * per backend, made by set_gemm), the quantisation kernels, and the linear. Numerics: backend/fp8_emul.h. */
#ifndef RAD_CUDA_GEMM_FP8_CUH
#define RAD_CUDA_GEMM_FP8_CUH
#include <cublasLt.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/cuda_kernels.cuh"

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/gemm_fp8.h"
#include "backend/fp8_emul.h"
}

struct rk_fp8; /* the fp8 GEMM state of one CUDA backend */

/* Device buffers come from the backend (so mem_stats counts them): alloc(owner, bytes, what, out), free(owner, p). */
typedef rad_status (*rk_fp8_alloc_fn)(void *owner, size_t bytes, const char *what, void **out);
typedef void (*rk_fp8_free_fn)(void *owner, void *p);

/* The state for the backend on `device` (refused, RADIAL_ERR_UNSUPPORTED, on a GPU without fp8 tensor cores). It
 * shares the backend's cuBLASLt handle, workspace and stream. */
rad_status rk_fp8_new(int device, cublasLtHandle_t lt, void *ws, size_t ws_bytes, cudaStream_t st,
                      rk_fp8_alloc_fn alloc, rk_fp8_free_fn free_fn, void *owner, rk_fp8 **out);
/* Frees everything (the backend's allocator is still alive). */
void rk_fp8_destroy(rk_fp8 *f);
/* Frees the caches and scratch buffers (trim). */
void rk_fp8_trim(rk_fp8 *f);
/* The fp32 range [p, p + bytes) is about to change: its cached quantisations are stale (shadow_inval). */
void rk_fp8_inval(rk_fp8 *f, const void *p, size_t bytes);
/* The last linear ran bf16, for `why` (the record rad_cuda_fp8_last returns). */
void rk_fp8_note_bf16(rk_fp8 *f, const char *why);
rk_fp8 *rk_fp8_of(rad_backend *be); /* be's state, NULL when it has none or is not a CUDA backend */

/* An e4m3 weight as the fp8 GEMM reads it: q [rows, cols] bytes, scale [rows] fp32 (device). */
struct rk_fp8_weight {
    const uint8_t *q;
    const float *scale;
    int64_t rows, cols;
    int source; /* RAD_FP8_W_* */
};

/* q [rows, cols] and scale [rows] = the per-row e4m3 quantisation of the bf16 matrix w (fp8_emul.h), cols a
 * multiple of 8, w 16-byte aligned. */
rad_status rk_fp8_quant_bf16_rows(const bf16 *w, int64_t rows, int64_t cols, uint8_t *q, float *scale,
                                  cudaStream_t st);
/* dst[0 .. n) = src[0] (src NULL: 1.0f): a stored weight's single scale as a per-row vector. */
rad_status rk_fp8_fill(float *dst, int64_t n, const float *src, cudaStream_t st);
/* A scratch matrix for a weight quantised at its use (valid until the next call). */
rad_status rk_fp8_weight_scratch(rk_fp8 *f, int64_t rows, int64_t cols, uint8_t **q, float **scale);

/* y[m, n] = x[m, k] · wᵀ + bias through the fp8 GEMM: x quantised per row (from x16, its bf16 copy, when given;
 * else from x itself; the quantisation is cached until rk_fp8_inval), w as given. The caller checked the shape
 * (rad_fp8_gemm_shape_ok) and the 16-byte alignment of x, x16, y. */
rad_status rk_fp8_linear(rk_fp8 *f, const float *x, const bf16 *x16, int64_t m, int64_t k, const rk_fp8_weight *w,
                         const float *bias, float *y, const char *wname);
#endif
