/* Inputs of the fp8 attention tests (tests/cpu_ops/test_fp8_attn_emul.c, tests/cuda/test_cuda_attn_fp8.c), as bf16
 * bits [n, heads, 128], from a xorshift64 state.
 *
 * fp8a_fill_random: q, k uniform(-spread, spread), k plus a per-(head, channel) offset of up to k_offset (what K
 * smoothing removes: Wan's keys carry such offsets), v uniform(-1, 1) plus a per-channel offset of up to 0.5.
 *
 * fp8a_fill_exact: inputs whose fp8 scores every exact summation gets right, so the device and the emulation
 * agree on S bit for bit whatever order or precision the tensor cores accumulate in: q and k in {-1, 0, 1} with one
 * ±1.75 per (block, head) (so amax = 1.75 in every block: the quantisation factor 448 / 1.75 = 256 is exact, every
 * q8 and k8 is 0, ±256 or ±448, and every product is a multiple of 2^12 well inside 14 significant bits of any
 * partial sum), and k antisymmetric in the token order (k[n-1-t] = -k[t], the middle token 0), so that its mean is
 * exactly 0 and smoothing changes nothing. Needs n >= 2. v uniform(-1, 1). */
#ifndef RAD_FP8_ATTN_CASES_H
#define RAD_FP8_ATTN_CASES_H
#include <stdint.h>

#include "base/half.h"
#include "test_util.h"

static inline uint16_t fp8a_bf(float x) { return rad_f32_to_bf16(x); }

static inline void fp8a_fill_random(uint16_t *q, uint16_t *k, uint16_t *v, int64_t n, int64_t heads, double spread,
                                    double k_offset, uint64_t *rng) {
    enum { MAXC = 16 * 128 }; /* heads <= 16 */
    const int64_t hd = heads * 128;
    float koff[MAXC], voff[MAXC];
    for (int64_t c = 0; c < MAXC; c++) {
        koff[c] = (float)(k_offset * rad_test_uniform(rng));
        voff[c] = 0.5f * rad_test_uniform(rng);
    }
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < hd; c++) {
            q[t * hd + c] = fp8a_bf((float)spread * rad_test_uniform(rng));
            k[t * hd + c] = fp8a_bf(koff[c % MAXC] + (float)spread * rad_test_uniform(rng));
            v[t * hd + c] = fp8a_bf(voff[c % MAXC] + rad_test_uniform(rng));
        }
}

static inline float fp8a_tern(uint64_t *rng) { /* -1, 0, 1 with equal odds */
    const float u = rad_test_uniform(rng);
    return u < -1.0f / 3.0f ? -1.0f : u < 1.0f / 3.0f ? 0.0f : 1.0f;
}

static inline void fp8a_fill_exact(uint16_t *q, uint16_t *k, uint16_t *v, int64_t n, int64_t heads, uint64_t *rng) {
    const int64_t hd = heads * 128, nb = (n + 127) / 128;
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < hd; c++) {
            q[t * hd + c] = fp8a_bf(fp8a_tern(rng));
            v[t * hd + c] = fp8a_bf(rad_test_uniform(rng));
        }
    for (int64_t t = 0; t < n / 2; t++)
        for (int64_t c = 0; c < hd; c++) {
            const float x = fp8a_tern(rng);
            k[t * hd + c] = fp8a_bf(x), k[(n - 1 - t) * hd + c] = fp8a_bf(-x);
        }
    if (n % 2)
        for (int64_t c = 0; c < hd; c++) k[(n / 2) * hd + c] = fp8a_bf(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t t0 = b * 128, cnt = n - t0 < 128 ? n - t0 : 128;
        for (int64_t h = 0; h < heads; h++) {
            const float sign = rad_test_uniform(rng) < 0 ? -1.75f : 1.75f;
            int64_t t = t0 + (int64_t)((rad_test_uniform(rng) + 1.0f) * 0.5f * (float)cnt);
            if (t >= t0 + cnt) t = t0 + cnt - 1;
            const int64_t d = (int64_t)((rad_test_uniform(rng) + 1.0f) * 64.0f) & 127;
            q[t * hd + h * 128 + d] = fp8a_bf(sign);
            if (t == n - 1 - t) t = t > t0 ? t - 1 : t + 1; /* the middle token stays 0 (cnt >= 2 here) */
            k[t * hd + h * 128 + d] = fp8a_bf(sign), k[(n - 1 - t) * hd + h * 128 + d] = fp8a_bf(-sign);
        }
    }
}
#endif
