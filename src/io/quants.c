/* Element conversions to fp32 and the GGUF block layouts (see quants.h). */
#include "io/quants.h"

#include <string.h>

#include "base/half.h"

static const struct {
    rad_dtype d;
    int64_t elems;
    size_t bytes;
} k_blocks[] = {
    {RAD_DT_Q4_0, 32, 18},   {RAD_DT_Q4_1, 32, 20},   {RAD_DT_Q5_0, 32, 22},   {RAD_DT_Q5_1, 32, 24},
    {RAD_DT_Q8_0, 32, 34},   {RAD_DT_Q4_K, 256, 144}, {RAD_DT_Q5_K, 256, 176}, {RAD_DT_Q6_K, 256, 210},
};
#define N_BLOCKS (sizeof k_blocks / sizeof k_blocks[0])

bool rad_dtype_is_block(rad_dtype d) {
    for (size_t i = 0; i < N_BLOCKS; i++)
        if (k_blocks[i].d == d) return true;
    return false;
}

int64_t rad_quant_block_elems(rad_dtype d) {
    for (size_t i = 0; i < N_BLOCKS; i++)
        if (k_blocks[i].d == d) return k_blocks[i].elems;
    return rad_dtype_size(d) ? 1 : 0;
}

size_t rad_quant_block_bytes(rad_dtype d) {
    for (size_t i = 0; i < N_BLOCKS; i++)
        if (k_blocks[i].d == d) return k_blocks[i].bytes;
    return rad_dtype_size(d);
}

rad_status rad_quant_bytes(rad_dtype d, int64_t n, const char *what, size_t *out) {
    const int64_t be = rad_quant_block_elems(d);
    const size_t bb = rad_quant_block_bytes(d);
    if (be <= 0 || bb == 0) return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: dtype %s has no size", what, rad_dtype_name(d));
    if (n < 0 || n % be)
        return rad_err(RADIAL_ERR_FORMAT, "%s: %lld elements are not a whole number of %s blocks of %lld", what,
                       (long long)n, rad_dtype_name(d), (long long)be);
    const uint64_t blocks = (uint64_t)(n / be);
    if (blocks > SIZE_MAX / bb) return rad_err(RADIAL_ERR_FORMAT, "%s: %lld elements overflow a size", what, (long long)n);
    *out = (size_t)blocks * bb;
    return RAD_OK;
}

static inline uint16_t ld16(const uint8_t *p, int64_t i) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
}

bool rad_dtype_to_f32(rad_dtype d, const void *src, float *dst, int64_t n) {
    const uint8_t *p = src;
    switch (d) {
    case RAD_DT_F32: memcpy(dst, p, (size_t)n * 4); return true;
    case RAD_DT_F16: for (int64_t i = 0; i < n; i++) dst[i] = rad_f16_to_f32(ld16(p, i)); return true;
    case RAD_DT_BF16: for (int64_t i = 0; i < n; i++) dst[i] = rad_bf16_to_f32(ld16(p, i)); return true;
    case RAD_DT_F8_E4M3: for (int64_t i = 0; i < n; i++) dst[i] = rad_f8e4m3_to_f32(p[i]); return true;
    /* e5m2 is the top byte of an fp16 */
    case RAD_DT_F8_E5M2: for (int64_t i = 0; i < n; i++) dst[i] = rad_f16_to_f32((uint16_t)(p[i] << 8)); return true;
    case RAD_DT_F64:
        for (int64_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, p + 8 * i, 8);
            dst[i] = (float)v;
        }
        return true;
    default: break;
    }
    if (!rad_dtype_is_block(d)) return false;
    rad_quant_dequant(d, src, dst, n);
    return true;
}

void rad_quant_dequant(rad_dtype d, const void *src, float *dst, int64_t n) { /* PLACEHOLDER: replaced by the ggml-exact dequantisers */
    (void)d, (void)src;
    for (int64_t i = 0; i < n; i++) dst[i] = 0.0f;
}
