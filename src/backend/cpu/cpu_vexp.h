/* expf written so that gcc vectorises it: no branch, no table, no libm call. The CPU attention softmax calls
 * it inside loops over query columns, inlined into each instruction-set variant (cpu_attention.c), where the
 * loop becomes AVX-512 / AVX2 / SSE2 code.
 *
 * Method: exp(x) = 2^n · exp(r), n = round(x / ln 2), r = x − n·ln 2 in [−ln2/2, ln2/2] (Cody–Waite: ln 2 split
 * into a 16-bit head, so n·ln2_hi is exact, and a tail), exp(r) by its Taylor polynomial of degree 7 in Horner
 * form (truncation error r⁸/8! ≤ 5.2e-9, under 0.1 ulp), 2^n built in the exponent bits. The rounding of n
 * uses the 1.5·2²³ trick (adding it leaves n in the low mantissa bits under round-to-nearest).
 *
 * Error against double exp, every float of [−87.3, 88.3] checked (tests/attn/test_vexp.c, RAD_VEXP_STRIDE=1):
 * at most 0.939 ulp with FMA, 1.221 ulp without; exp(0) = 1 exactly.
 * Outside: x < −87.3 gives 0 (exactly 0 for −inf: a masked key carries no weight; the true values there are
 * below 1.04 · FLT_MIN, 37 orders of magnitude under the softmax's largest term, which is 1); x > 88.3 gives
 * +inf (the true value is within a factor 1.53 of FLT_MAX there); NaN gives NaN. The attention softmax only
 * passes x ≤ 0. */
#ifndef RAD_CPU_VEXP_H
#define RAD_CPU_VEXP_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* use_fma (a constant after inlining) selects fused multiply-adds, for the variants compiled with FMA.
 * The special cases are found on the bits of x as a signed integer (among negative floats, larger magnitudes
 * are larger integers) and applied with bit masks, not selects: under gcc's default -ftrapping-math a select on
 * a float comparison is not vectorised below AVX-512, and a select that makes x a constant gets the loop split
 * into branches (jump threading), which is not vectorised either. */
static inline __attribute__((always_inline)) float rad_vexpf(float x, const int use_fma) {
#define RAD_VEXP_MAD(a, b, c) (use_fma ? fmaf((a), (b), (c)) : (a) * (b) + (c))
    /* Bits of lo = −87.3 (exp(lo) is just above FLT_MIN), hi = 88.3 (exp(hi) just below FLT_MAX) and ±inf. */
    const uint32_t lo_b = 0xC2AE999Au, neg_inf_b = 0xFF800000u, hi_b = 0x42B0999Au, pos_inf_b = 0x7F800000u;
    const float log2e = 1.44269504088896341f, shifter = 0x1.8p23f;
    const float ln2_hi = 0.693145751953125f;     /* ln 2 rounded to 16 significant bits: n·ln2_hi is exact */
    const float ln2_lo = 1.42860682030941723e-6f; /* ln 2 − ln2_hi */
    uint32_t xb;
    int32_t xs;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&xs, &x, sizeof xs);
    /* All ones where x < lo (−inf included), or where x > hi (+inf included); a NaN is neither. */
    const uint32_t under = 0u - (uint32_t)((xs > (int32_t)lo_b) & (xs <= (int32_t)neg_inf_b));
    const uint32_t over = 0u - (uint32_t)((xs > (int32_t)hi_b) & (xs <= (int32_t)pos_inf_b));
    const uint32_t cb = (xb & ~(under | over)) | (lo_b & under) | (hi_b & over);
    float xc; /* x clamped to [lo, hi] */
    memcpy(&xc, &cb, sizeof xc);
    const float t = RAD_VEXP_MAD(xc, log2e, shifter); /* 1.5·2²³ + n, n = round(xc·log2 e) in [−126, 127] */
    const float n = t - shifter;
    float r = RAD_VEXP_MAD(-n, ln2_hi, xc);
    r = RAD_VEXP_MAD(-n, ln2_lo, r);
    float p = 1.0f / 5040.0f;
    p = RAD_VEXP_MAD(p, r, 1.0f / 720.0f);
    p = RAD_VEXP_MAD(p, r, 1.0f / 120.0f);
    p = RAD_VEXP_MAD(p, r, 1.0f / 24.0f);
    p = RAD_VEXP_MAD(p, r, 1.0f / 6.0f);
    p = RAD_VEXP_MAD(p, r, 0.5f);
    p = RAD_VEXP_MAD(p, r, 1.0f);
    p = RAD_VEXP_MAD(p, r, 1.0f);
#undef RAD_VEXP_MAD
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint32_t e = tb - 0x4B400000u + 127u;         /* the biased exponent of 2^n, in [1, 254] */
    e = (e & ~(under | over)) | (255u & over);    /* 2^n = 0 below lo (the result is 0), +inf above hi */
    const uint32_t sb = e << 23;
    float two_n;
    memcpy(&two_n, &sb, sizeof two_n);
    return p * two_n;
}
#endif
