/* The CPU backend's op implementations, one family per file:
 *   cpu_ops.c        memory, weights, linear, norms, elementwise, rope3d, transpose   (DiT area)
 *   cpu_attention.c  attention (dense, bias, block-CSR)                              (attention area)
 *   cpu_conv.c       to_conv_dtype, conv3d, rmsnorm_channels(_silu), upsample2x, copy2d           (VAE area)
 * cpu_backend.c puts them into the rad_backend table. Signatures are those of src/backend/backend.h. */
#ifndef RAD_CPU_OPS_H
#define RAD_CPU_OPS_H
#include "backend/backend.h"

struct rad_weight {
    int64_t rows, cols;
    float *data; /* rows x cols, fp32 */
};

rad_status rad_cpu_alloc(rad_backend *be, size_t bytes, const char *what, void **out);
void rad_cpu_free(rad_backend *be, void *p);
rad_status rad_cpu_upload(rad_backend *be, void *dst, const void *src_host, size_t bytes);
rad_status rad_cpu_download(rad_backend *be, void *dst_host, const void *src, size_t bytes);
rad_status rad_cpu_weight_new(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols, const char *name,
                              rad_weight **out);
void rad_cpu_weight_free(rad_backend *be, rad_weight *w);
void rad_cpu_mem_stats(rad_backend *be, int reset, rad_mem_stats *out);

rad_status rad_cpu_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                          const float *bias, float *y);
rad_status rad_cpu_ffn(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                       const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y);
/* Tests: limit the linear micro-kernel to baseline x86-64 (0), AVX2+FMA (1) or the best the CPU has (2). */
void rad_cpu_gemm_max_isa(int level);
rad_status rad_cpu_layernorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w,
                             const float *b, float eps, float *y);
rad_status rad_cpu_rmsnorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps,
                           float *y);
rad_status rad_cpu_gelu_tanh(rad_backend *be, float *x, int64_t n);
rad_status rad_cpu_silu(rad_backend *be, float *x, int64_t n);
rad_status rad_cpu_mul_gelu(rad_backend *be, float *a, const float *g, int64_t n);
rad_status rad_cpu_modulate(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift,
                            const float *scale, float *y);
rad_status rad_cpu_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate);
rad_status rad_cpu_rope3d(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads,
                          int64_t head_dim);
rad_status rad_cpu_add_norm_modulate(rad_backend *be, float *x, const float *r, const float *gate, int64_t m,
                                     int64_t d, const float *w, const float *b, float eps, const float *shift,
                                     const float *scale, float *y);
rad_status rad_cpu_rmsnorm_rope3d(rad_backend *be, float *x, const float *nw, float eps, int64_t f, int64_t h,
                                  int64_t w, int64_t heads, int64_t head_dim);
rad_status rad_cpu_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y);

rad_status rad_cpu_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                             int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale,
                             const float *bias, const rad_bsr *mask);

rad_status rad_cpu_to_conv_dtype(rad_backend *be, const float *x, int64_t n, void *y);
rad_status rad_cpu_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                          const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                          int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y);
rad_status rad_cpu_rmsnorm_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                    float *y);
rad_status rad_cpu_rmsnorm_silu_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                         void *y);
rad_status rad_cpu_upsample2x(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y);
rad_status rad_cpu_copy2d(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                          size_t row_bytes, size_t rows);
/* Tests: caps the conv3d kernel at 0 portable, 1 AVX2+FMA, 2 AVX-512 (default: the best the CPU has). */
void rad_cpu_conv3d_isa_cap(int level);
#endif
