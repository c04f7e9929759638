/* TODO(skeleton): replaced by the attention area (worktree `mask`). */
#include "backend/cpu/cpu_ops.h"

rad_status rad_cpu_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                             int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale,
                             const float *bias, const rad_bsr *mask) {
    (void)be, (void)q, (void)k, (void)v, (void)out, (void)lq, (void)lk, (void)heads, (void)head_dim, (void)scale,
        (void)bias, (void)mask;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cpu attention: not built yet");
}
