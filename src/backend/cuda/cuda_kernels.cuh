/* The CUDA backend's small kernels (cuda_kernels.cu) and the generic attention (attn_generic.cu), as C++
 * launchers for cuda_backend.cu. Every launcher queues work on `st` and returns the launch status; shapes were
 * checked by the caller. Optional `y16` outputs also write a bf16 copy of the fp32 result (the backend keeps it
 * as the next GEMM's input, see "bf16 shadows" in cuda_backend.cu); NULL skips it. */
#ifndef RAD_CUDA_KERNELS_CUH
#define RAD_CUDA_KERNELS_CUH
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "base/status.h"
}

typedef __nv_bfloat16 bf16;

rad_status rk_f32_to_bf16(const float *x, bf16 *y, int64_t n, cudaStream_t st);
rad_status rk_bf16_to_f32(const bf16 *x, float *y, int64_t n, cudaStream_t st);

rad_status rk_layernorm(const float *x, int64_t m, int64_t d, const float *w, const float *b, float eps, float *y,
                        bf16 *y16, cudaStream_t st);
rad_status rk_rmsnorm(const float *x, int64_t m, int64_t d, const float *w, float eps, float *y, bf16 *y16,
                      cudaStream_t st);
/* The fused chains of backend.h (add_norm_modulate, rmsnorm_rope3d; cs as for rk_rope3d), bit-identical to the
 * unfused kernels. */
rad_status rk_add_norm_modulate(float *x, const float *r, const float *gate, int64_t m, int64_t d, const float *w,
                                const float *b, float eps, const float *shift, const float *scale, float *y,
                                bf16 *y16, cudaStream_t st);
rad_status rk_rmsnorm_rope3d(float *x, const float *nw, float eps, const double *cs, int64_t f, int64_t h, int64_t w,
                             int64_t heads, int64_t hd, int64_t pt, int64_t ph, bf16 *x16, cudaStream_t st);
rad_status rk_gelu_tanh(float *x, int64_t n, bf16 *x16, cudaStream_t st);
rad_status rk_silu(float *x, int64_t n, cudaStream_t st);
rad_status rk_mul_gelu(float *a, const float *g, int64_t n, bf16 *a16, cudaStream_t st);
rad_status rk_modulate(const float *x, int64_t m, int64_t d, const float *shift, const float *scale, float *y,
                       bf16 *y16, cudaStream_t st);
rad_status rk_add_gated(float *x, const float *y, int64_t m, int64_t d, const float *gate, cudaStream_t st);
/* cs: the per-position table of rad_cpu_rope3d ([F | H | W positions][pairs of that axis][cos, sin], double). */
rad_status rk_rope3d(float *x, const double *cs, int64_t f, int64_t h, int64_t w, int64_t heads, int64_t hd,
                     int64_t pt, int64_t ph, bf16 *x16, cudaStream_t st);
rad_status rk_transpose(const float *x, int64_t rows, int64_t cols, float *y, cudaStream_t st);
/* p[r, :cols] = softmax(scale · s[r, :cols]) rounded to bf16, for rows of s and p `pitch` elements apart (fp32,
 * bf16; rows <= 2^31 - 1; scale > 0). */
rad_status rk_softmax_rows_bf16(const float *s, int64_t rows, int64_t cols, int64_t pitch, float scale, bf16 *p,
                                cudaStream_t st);
rad_status rk_upsample2x(const bf16 *x, int64_t c, int64_t h, int64_t w, bf16 *y, cudaStream_t st);
rad_status rk_rmsnorm_channels(const float *x, int64_t c, int64_t s, const float *gamma, float *y, cudaStream_t st);
rad_status rk_rmsnorm_silu_channels(const float *x, int64_t c, int64_t s, const float *gamma, bf16 *y, cudaStream_t st);

/* Conv3d pieces; x and prev are bf16 (the backend's conv_dtype). im2col writes cols[k][p - p0] (row pitch ld) for
 * k < cin*kt*kh*kw in PyTorch weight order (ci, dt, dy, dx) and output pixels p in [p0, p0 + np) of output frame
 * f, with the causal frame sources of rad_cpu_conv3d (x frames, then `prev` frames, then zeros) and zero
 * spatial padding. */
struct rk_conv_geom {
    const bf16 *x, *prev;
    int64_t cin, t, h, w, n_prev, kt, kh, kw, ph, pw, ho, wo;
};
rad_status rk_im2col(const rk_conv_geom *g, int64_t f, int64_t p0, int64_t np, bf16 *cols, int64_t ld,
                     cudaStream_t st);
/* Conv3d as an implicit GEMM (conv_igemm.cu): the same result as im2col + GEMM + channel bias, without the
 * column matrix. It reads the weight from a repacked copy wp [taps][cout_pad][cin_pad] (bf16, zero padded) that
 * rk_conv_pack_weight makes from the [cout][cin * taps] weight; rk_conv_igemm_packed_elems gives its size.
 * rk_conv_igemm_fits says whether a geometry is one the kernel takes: up to 3x3 spatially, within its 32-bit index
 * ranges (else: im2col). */
bool rk_conv_igemm_fits(const rk_conv_geom *g, int64_t cout);
int64_t rk_conv_igemm_packed_elems(int64_t cout, int64_t cin, int64_t taps);
rad_status rk_conv_pack_weight(const bf16 *w, int64_t cout, int64_t cin, int64_t taps, bf16 *wp, cudaStream_t st);
rad_status rk_conv3d_igemm(const rk_conv_geom *g, const bf16 *wp, int64_t cout, const float *bias, float *y,
                           cudaStream_t st);
/* y[r, c] += bias[c] for y [m, n] (a linear's bias when the GEMM epilogue cannot take it). */
rad_status rk_add_col_bias(float *y, int64_t m, int64_t n, const float *bias, cudaStream_t st);
/* y[c, :] += bias[c] for y [c, per] (per = t * ho * wo). */
rad_status rk_add_channel_bias(float *y, int64_t c, int64_t per, const float *bias, cudaStream_t st);

/* Attention in fp32 for any head_dim <= RK_ATTN_MAX_HD, with an optional bias [heads, lq, lk] and an optional
 * block-CSR layout (device row_ptr/col_idx, block of `block` tokens, a multiple of 32). q, out [lq, heads, hd];
 * k, v [lk, heads, hd]. Flash-style: no lq x lk matrix is stored. */
enum { RK_ATTN_MAX_HD = 512 };
rad_status rk_attention_generic(const float *q, const float *k, const float *v, float *out, int64_t lq, int64_t lk,
                                int64_t heads, int64_t hd, float scale, const float *bias, const int32_t *row_ptr,
                                const int32_t *col_idx, int32_t block, cudaStream_t st);
#endif
