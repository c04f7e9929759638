/* Dequantisation of stored weights to bf16 on the device (dequant.cu), as C++ launchers for cuda_backend.cu.
 *
 * A weight the backend keeps as the file stores it (fp8 bytes, or GGUF blocks exactly as in the file) becomes
 * the bf16 [rows, cols] matrix a GEMM reads: each element is computed in fp32 exactly as the host does it
 * (rad_dtype_to_f32 / rad_quant_dequant: ggml's dequantize_row_* for the block types, then × scale when the
 * file has one), then rounded once to bf16, to nearest even (rad_f32_to_bf16). So the device matrix is
 * bit-identical to the host's fp32 dequantisation rounded to bf16 (tests/cuda/test_cuda_weights.c checks it).
 * Queued on `st`; returns the launch status. */
#ifndef RAD_CUDA_DEQUANT_CUH
#define RAD_CUDA_DEQUANT_CUH
#include <stddef.h>
#include <stdint.h>

#include "backend/cuda/cuda_kernels.cuh"

extern "C" {
#include "io/safetensors.h"
}

/* Whether rk_dequant_bf16 takes weights stored as dt: F8_E4M3, F8_E5M2 and the GGUF block types of quants.h. */
bool rk_dequant_supported(rad_dtype dt);

/* dst [rows, cols] (bf16, 16-byte aligned) = the stored weight src (rows of row_bytes bytes: cols elements of
 * dt, blocks along cols; cols a whole number of blocks), times scale[0] (n_scale 1) or scale[row] (n_scale ==
 * rows) when scale is not NULL (device fp32). Blocks are read bytewise (any alignment); fp8 reads 8 bytes at a
 * time when cols is a multiple of 8 and src is 8-byte aligned, else one. */
rad_status rk_dequant_bf16(rad_dtype dt, const void *src, size_t row_bytes, int64_t rows, int64_t cols,
                           const float *scale, int64_t n_scale, bf16 *dst, cudaStream_t st);
#endif
