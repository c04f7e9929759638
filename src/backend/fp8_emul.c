/* The fp8 GEMM mode's roundings on the CPU (fp8_emul.h). Every step is one IEEE single-precision operation, in
 * the order the device kernels (cuda/gemm_fp8.cu) do them, so the quantised bytes and scales are the device's bit
 * for bit. */
#include "backend/fp8_emul.h"

#include <math.h>
#include <string.h>

#include "base/half.h"
#include "base/threads.h"

uint8_t rad_f32_to_f8e4m3(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return sign | 0x7f; /* NaN */
    const float a = fabsf(f);
    if (a >= RAD_FP8_E4M3_MAX) return sign | 0x7e; /* 448 itself, and saturation (the next step, 480, is NaN) */
    if (a < 0x1p-6f) /* subnormal: multiples of 2^-9 (8 · 2^-9 = 2^-6 is the first normal, code 0x08) */
        return sign | (uint8_t)nearbyintf(a * 512.0f);
    int e;
    (void)frexpf(a, &e); /* a = m · 2^e, m in [0.5, 1): a in [2^(e-1), 2^e) */
    const int ex = e - 1;                                   /* -6 .. 8 */
    const float frac = ldexpf(a, -ex) - 1.0f;               /* [0, 1), exact */
    int man = (int)nearbyintf(frac * 8.0f), be = ex + 7;    /* round to nearest even (the default mode) */
    if (man == 8) man = 0, be++;
    if (be > 15 || (be == 15 && man == 7)) return sign | 0x7e; /* cannot happen below 448; kept for safety */
    return sign | (uint8_t)(be << 3 | man);
}

typedef struct {
    const float *x;
    int64_t cols;
    uint8_t *q;
    float *scale;
} quant_job;

static void quant_range(void *ctx, int64_t r0, int64_t r1) {
    const quant_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const float *x = j->x + r * j->cols;
        uint8_t *q = j->q + r * j->cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < j->cols; c++) amax = fmaxf(amax, fabsf(rad_bf16_to_f32(rad_f32_to_bf16(x[c]))));
        if (!(amax >= RAD_FP8_TINY)) {
            memset(q, 0, (size_t)j->cols);
            j->scale[r] = 0.0f;
            continue;
        }
        const float inv = RAD_FP8_E4M3_MAX / amax;
        j->scale[r] = amax / RAD_FP8_E4M3_MAX;
        for (int64_t c = 0; c < j->cols; c++) q[c] = rad_f32_to_f8e4m3(rad_bf16_to_f32(rad_f32_to_bf16(x[c])) * inv);
    }
}

void rad_fp8_quant_rows(const float *x, int64_t rows, int64_t cols, uint8_t *q, float *scale) {
    quant_job j = {x, cols, q, scale};
    rad_parallel_for(rows, 16, quant_range, &j);
}

typedef struct {
    const uint8_t *xq, *wq;
    const float *sx, *sw, *bias;
    int64_t k, n;
    int bias_bf16;
    float *y;
    float lut[256];
} linear_job;

static void linear_range(void *ctx, int64_t i0, int64_t i1) {
    const linear_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        const uint8_t *xr = j->xq + i * j->k;
        for (int64_t c = 0; c < j->n; c++) {
            const uint8_t *wr = j->wq + c * j->k;
            double acc = 0.0;
            for (int64_t l = 0; l < j->k; l++) acc += (double)j->lut[xr[l]] * (double)j->lut[wr[l]];
            double v = acc * (double)j->sx[i] * (double)j->sw[c];
            if (j->bias) v += j->bias_bf16 ? (double)rad_bf16_to_f32(rad_f32_to_bf16(j->bias[c])) : (double)j->bias[c];
            j->y[i * j->n + c] = (float)v;
        }
    }
}

void rad_fp8_linear_ref(const uint8_t *xq, const float *sx, int64_t m, int64_t k, const uint8_t *wq, const float *sw,
                        int64_t n, const float *bias, int bias_bf16, float *y) {
    linear_job j = {.xq = xq, .wq = wq, .sx = sx, .sw = sw, .bias = bias, .k = k, .n = n, .bias_bf16 = bias_bf16, .y = y};
    for (int b = 0; b < 256; b++) j.lut[b] = rad_f8e4m3_to_f32((uint8_t)b);
    rad_parallel_for(m, 1, linear_range, &j);
}
