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


/* ---------------------------------------------------------------------------------------------------------- */
/* Dequantisation: ports of ggml's reference dequantize_row_* (ggml/src/ggml-quants.c; block layouts in
 * ggml-common.h), one block at a time. Blocks in a mapping are not aligned, so every field is read from bytes
 * (multi-byte fields little-endian, as ggml reads them on the little-endian hosts GGUF files are made for).
 *
 * Bit-exactness: the same float operations in the same order as ggml. A product and a following sum (x*d + m)
 * are kept in separate statements: C allows an expression such as `a*b + c` to be contracted into one fused
 * multiply-add (clang does so by default where the target has FMA), which rounds once instead of twice and so
 * differs from ggml's reference in the last bit. Statement boundaries are never contracted in ISO C mode. */

#define QK_K 256

static inline float half_at(const uint8_t *p) { return rad_f16_to_f32(ld16(p, 0)); }

static inline uint32_t le32_at(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* block_q4_0 (18 bytes): fp16 d, 16 bytes of nibbles; low nibbles are elements 0..15, high ones 16..31. */
static void deq_q4_0(const uint8_t *b, float *y) {
    const float d = half_at(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        const int x0 = (qs[j] & 0x0F) - 8;
        const int x1 = (qs[j] >> 4) - 8;
        y[j] = (float)x0 * d;
        y[j + 16] = (float)x1 * d;
    }
}

/* block_q4_1 (20 bytes): fp16 d, fp16 m, 16 bytes of nibbles. */
static void deq_q4_1(const uint8_t *b, float *y) {
    const float d = half_at(b), m = half_at(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        const float t0 = (float)(qs[j] & 0x0F) * d;
        const float t1 = (float)(qs[j] >> 4) * d;
        y[j] = t0 + m;
        y[j + 16] = t1 + m;
    }
}

/* block_q5_0 (22 bytes): fp16 d, u32 qh (the fifth bit of each element), 16 bytes of nibbles. */
static void deq_q5_0(const uint8_t *b, float *y) {
    const float d = half_at(b);
    const uint32_t qh = le32_at(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
        const uint8_t xh_1 = (uint8_t)((qh >> (j + 12)) & 0x10);
        const int32_t x0 = ((qs[j] & 0x0F) | xh_0) - 16;
        const int32_t x1 = ((qs[j] >> 4) | xh_1) - 16;
        y[j] = (float)x0 * d;
        y[j + 16] = (float)x1 * d;
    }
}

/* block_q5_1 (24 bytes): fp16 d, fp16 m, u32 qh, 16 bytes of nibbles. */
static void deq_q5_1(const uint8_t *b, float *y) {
    const float d = half_at(b), m = half_at(b + 2);
    const uint32_t qh = le32_at(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
        const uint8_t xh_1 = (uint8_t)((qh >> (j + 12)) & 0x10);
        const int x0 = (qs[j] & 0x0F) | xh_0;
        const int x1 = (qs[j] >> 4) | xh_1;
        const float t0 = (float)x0 * d;
        const float t1 = (float)x1 * d;
        y[j] = t0 + m;
        y[j + 16] = t1 + m;
    }
}

/* block_q8_0 (34 bytes): fp16 d, 32 int8 quants. */
static void deq_q8_0(const uint8_t *b, float *y) {
    const float d = half_at(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

/* The 6-bit scale and min of sub-block j from the 12 packed bytes of a Q4_K/Q5_K block (get_scale_min_k4). */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* block_q4_K (144 bytes): fp16 d, fp16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles. Eight sub-blocks of
 * 32: element = d*scale * q - dmin*min. */
static void deq_q4_k(const uint8_t *b, float *y) {
    const float d = half_at(b), min = half_at(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
        scale_min_k4(is + 0, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = min * (float)m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = min * (float)m;
        for (int l = 0; l < 32; ++l) {
            const float t = d1 * (float)(q[l] & 0xF);
            *y++ = t - m1;
        }
        for (int l = 0; l < 32; ++l) {
            const float t = d2 * (float)(q[l] >> 4);
            *y++ = t - m2;
        }
        q += 32;
        is += 2;
    }
}

/* block_q5_K (176 bytes): fp16 d, fp16 dmin, 12 bytes of scales/mins, 32 bytes qh (fifth bits), 128 bytes of
 * nibbles. */
static void deq_q5_k(const uint8_t *b, float *y) {
    const float d = half_at(b), min = half_at(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
        scale_min_k4(is + 0, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = min * (float)m;
        scale_min_k4(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = min * (float)m;
        for (int l = 0; l < 32; ++l) {
            const float t = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0));
            *y++ = t - m1;
        }
        for (int l = 0; l < 32; ++l) {
            const float t = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0));
            *y++ = t - m2;
        }
        ql += 32;
        is += 2;
        u1 = (uint8_t)(u1 << 2);
        u2 = (uint8_t)(u2 << 2);
    }
}

/* block_q6_K (210 bytes): 128 bytes ql (low nibbles), 64 bytes qh (2 high bits each), 16 int8 scales, fp16 d
 * last. element = d * scale * (q - 32), evaluated left to right as ggml does. */
static void deq_q6_k(const uint8_t *b, float *y) {
    const float d = half_at(b + 208);
    const uint8_t *ql = b, *qh = b + 128;
    const uint8_t *sc = b + 192; /* int8 */
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int8_t q1 = (int8_t)(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            const int8_t q2 = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            const int8_t q3 = (int8_t)(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            const int8_t q4 = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            y[l + 0] = d * (float)(int8_t)sc[is + 0] * (float)q1;
            y[l + 32] = d * (float)(int8_t)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)(int8_t)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)(int8_t)sc[is + 6] * (float)q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

void rad_quant_dequant(rad_dtype d, const void *src, float *dst, int64_t n) {
    void (*fn)(const uint8_t *, float *);
    switch (d) {
    case RAD_DT_Q4_0: fn = deq_q4_0; break;
    case RAD_DT_Q4_1: fn = deq_q4_1; break;
    case RAD_DT_Q5_0: fn = deq_q5_0; break;
    case RAD_DT_Q5_1: fn = deq_q5_1; break;
    case RAD_DT_Q8_0: fn = deq_q8_0; break;
    case RAD_DT_Q4_K: fn = deq_q4_k; break;
    case RAD_DT_Q5_K: fn = deq_q5_k; break;
    case RAD_DT_Q6_K: fn = deq_q6_k; break;
    default: return; /* not a block type: nothing to write (callers check rad_dtype_is_block) */
    }
    const int64_t be = rad_quant_block_elems(d);
    const size_t bb = rad_quant_block_bytes(d);
    const uint8_t *p = src;
    /* whole blocks only: a partial block would be written past n */
    for (int64_t i = 0; i < n / be; i++) fn(p + (size_t)i * bb, dst + i * be);
}
