/* The numerics of the CUDA backend's fp8 GEMM mode (--gemm fp8, cuda/gemm_fp8.cu), emulated on the CPU, so a GPU
 * test checks the device path against a host computation with the same roundings, and a tool can say which
 * GEMMs take it. Plain C, built in every configuration (the CPU backend itself has no fp8 mode: it is the fp32
 * reference).
 *
 * What the fp8 mode computes for y[m, n] = x[m, k] · w[n, k]ᵀ + bias (a linear whose shape passes
 * rad_fp8_gemm_shape_ok; every other linear stays on the bf16 path):
 * - each row of x (a token) and each row of w (an output channel) is quantised to e4m3 with its own scale
 *   (rad_fp8_quant_rows): the values are first rounded to bf16 (what the bf16 path feeds its GEMM, and what the
 *   ops producing GEMM inputs already keep), amax = max |v| over the row, s = amax / 448, q = e4m3(v · (448 /
 *   amax)) rounded to nearest even and saturated to ±448; a row with amax below 2^-64 (all zero, or subnormal
 *   noise) becomes zeros with s = 0;
 * - a weight stored as e4m3 in its file keeps its bytes, with the file's scale (one, or one per row; none: 1);
 * - y[i, j] = sx[i] · sw[j] · Σ_l q_x[i, l] q_w[j, l] (the products are exact, accumulated in fp32 by the tensor
 *   cores) + bias[j], the bias in fp32, or rounded to bf16 first where cuBLASLt's fp8 epilogue takes it so
 *   (rad_cuda_fp8_info.bias_mode says which). */
#ifndef RAD_FP8_EMUL_H
#define RAD_FP8_EMUL_H
#include <stdint.h>

#include "base/status.h"

#define RAD_FP8_E4M3_MAX 448.0f
/* Rows with amax below this quantise to zeros (scale 0). */
#define RAD_FP8_TINY 0x1p-64f
/* The linears the fp8 mode takes: at least RAD_FP8_MIN_ROWS rows (tokens) and both weight dimensions at least
 * RAD_FP8_MIN_DIM and multiples of 16 (cuBLASLt's fp8 GEMMs want 16-byte aligned leading dimensions). In the DiT
 * these are the blocks' self-attention q/k/v/o, cross-attention q/o and FFN GEMMs at video token counts; the time
 * and text embeddings (1 and 512 rows), the cross-attention keys and values of the 512 text tokens, the patch
 * embedding (k = 64), the head (n = 64) and the umT5 encoder (at most 512 tokens a prompt) stay bf16: small
 * GEMMs gain nothing from fp8 and the embeddings and the head are where its error would matter most. */
#define RAD_FP8_MIN_ROWS 1024
#define RAD_FP8_MIN_DIM 256

static inline int rad_fp8_gemm_shape_ok(int64_t m, int64_t n, int64_t k) {
    return m >= RAD_FP8_MIN_ROWS && n >= RAD_FP8_MIN_DIM && k >= RAD_FP8_MIN_DIM && n % 16 == 0 && k % 16 == 0;
}

/* f as float8 e4m3fn: round to nearest even, finite values beyond ±448 saturate to ±448 (as cvt.rn.satfinite),
 * NaN -> 0x7f with f's sign. */
uint8_t rad_f32_to_f8e4m3(float f);

/* q[rows, cols] (e4m3 bytes) and scale[rows] = the per-row quantisation above of x[rows, cols]. Multi-threaded. */
void rad_fp8_quant_rows(const float *x, int64_t rows, int64_t cols, uint8_t *q, float *scale);

/* y[m, n] = sx[i] · sw[j] · Σ_l e4m3(xq[i, l]) e4m3(wq[j, l]) + bias[j] (bias may be NULL; bias_bf16: round it
 * to bf16 first), the sum in double. Multi-threaded. */
void rad_fp8_linear_ref(const uint8_t *xq, const float *sx, int64_t m, int64_t k, const uint8_t *wq, const float *sw,
                        int64_t n, const float *bias, int bias_bf16, float *y);
#endif
