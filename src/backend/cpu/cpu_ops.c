/* TODO(skeleton): replaced by the DiT area (worktree `dit`). */
#include "backend/cpu/cpu_ops.h"

rad_status rad_cpu_alloc(rad_backend *be, size_t bytes, const char *what, void **out) {
    (void)be, (void)bytes, (void)what, (void)out;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu alloc: not built yet");
}
void rad_cpu_free(rad_backend *be, void *p) {
    (void)be, (void)p;
}
rad_status rad_cpu_upload(rad_backend *be, void *dst, const void *src_host, size_t bytes) {
    (void)be, (void)dst, (void)src_host, (void)bytes;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu upload: not built yet");
}
rad_status rad_cpu_download(rad_backend *be, void *dst_host, const void *src, size_t bytes) {
    (void)be, (void)dst_host, (void)src, (void)bytes;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu download: not built yet");
}
rad_status rad_cpu_weight_new(rad_backend *be, const float *host, int64_t rows, int64_t cols, const char *name,
                              rad_weight **out) {
    (void)be, (void)host, (void)rows, (void)cols, (void)name, (void)out;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu weight_new: not built yet");
}
void rad_cpu_weight_free(rad_backend *be, rad_weight *w) {
    (void)be, (void)w;
}
size_t rad_cpu_peak_bytes(rad_backend *be) {
    (void)be;
    return 0;
}
rad_status rad_cpu_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                          const float *bias, float *y) {
    (void)be, (void)x, (void)m, (void)k, (void)w, (void)bias, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu linear: not built yet");
}
rad_status rad_cpu_layernorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w,
                             const float *b, float eps, float *y) {
    (void)be, (void)x, (void)m, (void)d, (void)w, (void)b, (void)eps, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu layernorm: not built yet");
}
rad_status rad_cpu_rmsnorm(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps,
                           float *y) {
    (void)be, (void)x, (void)m, (void)d, (void)w, (void)eps, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu rmsnorm: not built yet");
}
rad_status rad_cpu_gelu_tanh(rad_backend *be, float *x, int64_t n) {
    (void)be, (void)x, (void)n;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu gelu_tanh: not built yet");
}
rad_status rad_cpu_silu(rad_backend *be, float *x, int64_t n) {
    (void)be, (void)x, (void)n;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu silu: not built yet");
}
rad_status rad_cpu_mul_gelu(rad_backend *be, float *a, const float *g, int64_t n) {
    (void)be, (void)a, (void)g, (void)n;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu mul_gelu: not built yet");
}
rad_status rad_cpu_modulate(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift,
                            const float *scale, float *y) {
    (void)be, (void)x, (void)m, (void)d, (void)shift, (void)scale, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu modulate: not built yet");
}
rad_status rad_cpu_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate) {
    (void)be, (void)x, (void)y, (void)m, (void)d, (void)gate;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu add_gated: not built yet");
}
rad_status rad_cpu_rope3d(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads,
                          int64_t head_dim) {
    (void)be, (void)x, (void)f, (void)h, (void)w, (void)heads, (void)head_dim;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu rope3d: not built yet");
}
rad_status rad_cpu_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y) {
    (void)be, (void)x, (void)rows, (void)cols, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu transpose: not built yet");
}
