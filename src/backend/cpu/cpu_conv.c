/* TODO(skeleton): replaced by the VAE area (worktree `vae`). */
#include "backend/cpu/cpu_ops.h"

rad_status rad_cpu_conv3d(rad_backend *be, const float *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                          const float *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                          int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    (void)be, (void)x, (void)cin, (void)t, (void)h, (void)w, (void)prev, (void)n_prev, (void)wt, (void)bias,
        (void)cout, (void)kt, (void)kh, (void)kw, (void)ph, (void)pw, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu conv3d: not built yet");
}
rad_status rad_cpu_rmsnorm_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                    float *y) {
    (void)be, (void)x, (void)c, (void)s, (void)gamma, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu rmsnorm_channels: not built yet");
}
rad_status rad_cpu_upsample2x(rad_backend *be, const float *x, int64_t c, int64_t h, int64_t w, float *y) {
    (void)be, (void)x, (void)c, (void)h, (void)w, (void)y;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu upsample2x: not built yet");
}
