/* Weight sources (backend.h): the checks and the host fp32 conversion every backend shares. */
#include "backend/backend.h"
#include "base/threads.h"
#include "io/quants.h"

rad_status rad_weight_src_check(const char *who, const rad_weight_src *src, int64_t rows, int64_t cols,
                                const char *name, size_t *bytes) {
    const char *nm = name ? name : "weight";
    if (!src || !src->data || rows <= 0 || cols <= 0 || rows > ((int64_t)1 << 40) / cols)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s %s: bad shape %lld x %lld or no data", who, nm, (long long)rows,
                       (long long)cols);
    if (!rad_quant_block_elems(src->dtype) || (!rad_dtype_is_block(src->dtype) && src->dtype != RAD_DT_F32 &&
                                               src->dtype != RAD_DT_F16 && src->dtype != RAD_DT_BF16 &&
                                               src->dtype != RAD_DT_F8_E4M3 && src->dtype != RAD_DT_F8_E5M2))
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s %s: weights stored as %s are not supported", who, nm,
                       rad_dtype_name(src->dtype));
    if (cols % rad_quant_block_elems(src->dtype))
        return rad_err(RADIAL_ERR_MODEL, "%s %s: rows of %lld elements are not a whole number of %s blocks", who, nm,
                       (long long)cols, rad_dtype_name(src->dtype));
    if (src->n_scale < 0 || (src->n_scale > 0 && !src->scale) || (src->n_scale > 1 && src->n_scale != rows))
        return rad_err(RADIAL_ERR_MODEL, "%s %s: %lld scales for %lld rows (expected 1 or one per row)", who, nm,
                       (long long)src->n_scale, (long long)rows);
    return rad_quant_bytes(src->dtype, rows * cols, nm, bytes);
}

typedef struct {
    const rad_weight_src *src;
    int64_t cols, r0;
    size_t row_bytes;
    float *dst;
} rows_job;

static void rows_fn(void *ctx, int64_t a, int64_t b) {
    const rows_job *j = ctx;
    for (int64_t r = a; r < b; r++) {
        const int64_t row = j->r0 + r;
        float *d = j->dst + r * j->cols;
        (void)rad_dtype_to_f32(j->src->dtype, (const uint8_t *)j->src->data + (size_t)row * j->row_bytes, d, j->cols);
        if (j->src->n_scale > 0) {
            const float s = j->src->scale[j->src->n_scale == 1 ? 0 : row];
            for (int64_t c = 0; c < j->cols; c++) d[c] *= s;
        }
    }
}

void rad_weight_src_rows_f32(const rad_weight_src *src, int64_t cols, int64_t r0, int64_t r1, float *dst) {
    size_t row_bytes = 0;
    (void)rad_quant_bytes(src->dtype, cols, "row", &row_bytes); /* checked by rad_weight_src_check */
    rows_job j = {src, cols, r0, row_bytes, dst};
    rad_parallel_for(r1 - r0, cols >= 65536 ? 1 : 65536 / cols, rows_fn, &j);
}
