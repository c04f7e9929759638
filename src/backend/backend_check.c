/* Argument checks shared by every backend's implementation of an op, so that the CPU and CUDA versions accept
 * and reject exactly the same calls with the same messages. */
#include "backend/backend.h"

rad_status rad_conv3d_check(const char *who, int64_t cin, int64_t t, int64_t h, int64_t w, const void *prev,
                            int64_t n_prev, int64_t w_rows, int64_t w_cols, int64_t cout, int64_t kt, int64_t kh,
                            int64_t kw, int64_t ph, int64_t pw) {
    /* The caps keep every product below (cin * taps, output pixels, im2col sizes) far from overflowing. */
    if (cin < 1 || t < 1 || h < 1 || w < 1 || cout < 1 || kt < 1 || kh < 1 || kw < 1 || ph < 0 || pw < 0 ||
        n_prev < 0 || (n_prev > 0 && !prev) || cin > (1 << 20) || cout > (1 << 20) || kt * kh * kw > 4096 ||
        h > (1 << 20) || w > (1 << 20) || ph > (1 << 20) || pw > (1 << 20))
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "%s: bad shape cin %lld t %lld h %lld w %lld cout %lld k %lldx%lldx%lld pad %lld,%lld n_prev %lld",
                       who, (long long)cin, (long long)t, (long long)h, (long long)w, (long long)cout, (long long)kt,
                       (long long)kh, (long long)kw, (long long)ph, (long long)pw, (long long)n_prev);
    if (h + 2 * ph - kh + 1 < 1 || w + 2 * pw - kw + 1 < 1)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: kernel %lldx%lld larger than padded input %lldx%lld", who,
                       (long long)kh, (long long)kw, (long long)(h + 2 * ph), (long long)(w + 2 * pw));
    const int64_t K = cin * kt * kh * kw;
    if (w_rows != cout || w_cols != K)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: weight is %lld x %lld, expected %lld x %lld (cout x cin*k)", who,
                       (long long)w_rows, (long long)w_cols, (long long)cout, (long long)K);
    return RAD_OK;
}

rad_status rad_ffn_check(const char *who, int64_t m, int64_t d, int64_t w1_rows, int64_t w1_cols, int64_t w2_rows,
                         int64_t w2_cols, size_t hidden_floats, size_t bytes_per, int64_t *rows) {
    *rows = 0;
    if (m < 0 || d < 1 || w1_rows < 1 || w1_cols != d || w2_rows != d || w2_cols != w1_rows)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "%s: x is [%lld, %lld] but w1 is [%lld, %lld] and w2 [%lld, %lld] (want [F, d] and [d, F])", who,
                       (long long)m, (long long)d, (long long)w1_rows, (long long)w1_cols, (long long)w2_rows,
                       (long long)w2_cols);
    const size_t per_row = (size_t)w1_rows * bytes_per;
    if (hidden_floats > SIZE_MAX / sizeof(float) || hidden_floats * sizeof(float) < per_row)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: the hidden buffer of %zu floats holds less than one row of %lld",
                       who, hidden_floats, (long long)w1_rows);
    *rows = (int64_t)(hidden_floats * sizeof(float) / per_row);
    return RAD_OK;
}
