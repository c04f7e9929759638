/* The CPU emulation of the fp8 GEMM mode (backend/fp8_emul.h): e4m3 rounding (every code, every midpoint,
 * saturation, NaN), the per-row quantisation (scales, the zero and tiny rows, the bf16 rounding first), and the
 * emulated linear against an fp32 one: the size of the fp8 error that the GPU tests (tests/cuda/test_cuda_fp8.c)
 * take as their tolerance against fp32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/fp8_emul.h"
#include "base/half.h"
#include "test_util.h"

static void test_codes(void) {
    int bad = 0;
    for (int b = 0; b < 256; b++) { /* every code round-trips (0x7f, 0xff are NaN) */
        const float f = rad_f8e4m3_to_f32((uint8_t)b);
        const uint8_t q = rad_f32_to_f8e4m3(f);
        if ((b & 0x7f) == 0x7f) {
            bad += (q & 0x7f) != 0x7f || (q & 0x80) != (b & 0x80);
            continue;
        }
        bad += q != b;
    }
    CHECK(bad == 0);
    for (int c = 0; c < 0x7e; c++) { /* between neighbours: ties to the even code, a hair off it to the nearer */
        const float lo = rad_f8e4m3_to_f32((uint8_t)c), hi = rad_f8e4m3_to_f32((uint8_t)(c + 1));
        const float mid = 0.5f * (lo + hi); /* exact: the codes have 4 significant bits */
        const uint8_t even = (uint8_t)(c % 2 ? c + 1 : c);
        if (rad_f32_to_f8e4m3(mid) != even || rad_f32_to_f8e4m3(-mid) != (0x80 | even) ||
            rad_f32_to_f8e4m3(nextafterf(mid, 0.0f)) != c || rad_f32_to_f8e4m3(nextafterf(mid, 1e9f)) != c + 1)
            bad++;
    }
    CHECK(bad == 0);
    CHECK(rad_f32_to_f8e4m3(448.0f) == 0x7e && rad_f32_to_f8e4m3(449.0f) == 0x7e && rad_f32_to_f8e4m3(1e30f) == 0x7e);
    CHECK(rad_f32_to_f8e4m3(INFINITY) == 0x7e && rad_f32_to_f8e4m3(-INFINITY) == 0xfe);
    CHECK((rad_f32_to_f8e4m3(NAN) & 0x7f) == 0x7f);
    CHECK(rad_f32_to_f8e4m3(0x1p-10f) == 0x00 && rad_f32_to_f8e4m3(0x1.01p-10f) == 0x01); /* half the least step */
    CHECK(rad_f32_to_f8e4m3(-0.0f) == 0x80);
    printf("  e4m3 rounding: %s\n", bad ? "FAILED" : "every code, midpoint and saturation as expected");
}

static void test_rows(void) {
    enum { R = 5, C = 64 };
    float x[R * C];
    uint8_t q[R * C];
    float s[R];
    uint64_t rng = 77;
    for (int i = 0; i < R * C; i++) x[i] = rad_test_uniform(&rng);
    for (int c = 0; c < C; c++) x[1 * C + c] = 0.0f, x[2 * C + c] = 1e-30f * x[3 * C + c]; /* zero, tiny rows */
    x[4 * C + 9] = -1000.0f;                                                                 /* an outlier */
    rad_fp8_quant_rows(x, R, C, q, s);
    CHECK(s[1] == 0.0f && s[2] == 0.0f);
    int zeros = 0;
    for (int c = 0; c < C; c++) zeros += q[C + c] == 0 && q[2 * C + c] == 0;
    CHECK(zeros == C);
    CHECK(q[4 * C + 9] == 0xfe && s[4] == 1000.0f / 448.0f); /* the amax element is -448 */
    double worst = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            const float v = rad_bf16_to_f32(rad_f32_to_bf16(x[r * C + c])), d = rad_f8e4m3_to_f32(q[r * C + c]) * s[r];
            const float amax = s[r] * 448.0f;
            /* relative half-step 2^-4 for normal codes; absolute 2^-10 of the scaled range below them */
            const double lim = fmax(fabs(v) * 0x1p-4, (double)amax / 448.0 * 0x1p-10) * 1.0001;
            if (s[r] > 0 && fabs(d - v) > lim) worst = fmax(worst, fabs(d - v) / lim);
        }
    CHECK(worst == 0);
    printf("  per-row quantisation: scales, zero and tiny rows, outlier, error within half a step\n");
}

/* The emulated fp8 linear against fp32 on data like a DiT's GEMM inputs (per-row magnitudes spread over a decade,
 * a few outliers): the fp8 error the GPU tests accept against fp32. */
static void test_linear(void) {
    const int64_t m = 96, k = 1536, n = 160;
    float *x = malloc((size_t)(m * k) * sizeof(float)), *w = malloc((size_t)(n * k) * sizeof(float));
    float *b = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)(m * n) * sizeof(float));
    float *ref = malloc((size_t)(m * n) * sizeof(float)), *sx = malloc((size_t)m * sizeof(float));
    float *sw = malloc((size_t)n * sizeof(float));
    uint8_t *xq = malloc((size_t)(m * k)), *wq = malloc((size_t)(n * k));
    uint64_t rng = 5;
    for (int64_t i = 0; i < m; i++) {
        const float row = powf(10.0f, rad_test_uniform(&rng)); /* 0.1 .. 10 */
        for (int64_t l = 0; l < k; l++) {
            const float g = rad_test_uniform(&rng) + rad_test_uniform(&rng) + rad_test_uniform(&rng);
            x[i * k + l] = row * g;
        }
        x[i * k + (i * 37) % k] *= 8.0f;
    }
    for (int64_t i = 0; i < n * k; i++) w[i] = 0.03f * rad_test_uniform(&rng);
    for (int64_t i = 0; i < n; i++) b[i] = 0.5f * rad_test_uniform(&rng);
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < n; c++) {
            double acc = b[c];
            for (int64_t l = 0; l < k; l++) acc += (double)x[i * k + l] * w[c * k + l];
            ref[i * n + c] = (float)acc;
        }
    rad_fp8_quant_rows(x, m, k, xq, sx);
    rad_fp8_quant_rows(w, n, k, wq, sw);
    rad_fp8_linear_ref(xq, sx, m, k, wq, sw, n, b, 0, y);
    const double e = rad_rel_err(y, ref, (size_t)(m * n));
    rad_fp8_linear_ref(xq, sx, m, k, wq, sw, n, b, 1, y);
    const double e16 = rad_rel_err(y, ref, (size_t)(m * n));
    printf("  emulated fp8 linear [%lld x %lld] . [%lld x %lld]^T vs fp32: rel %.4f (bias as bf16: %.4f)\n",
           (long long)m, (long long)k, (long long)n, (long long)k, e, e16);
    CHECK(e > 0.005 && e < 0.05 && e16 < 0.05); /* e4m3's 3 mantissa bits: a few percent, never exact */
    free(x), free(w), free(b), free(y), free(ref), free(sx), free(sw), free(xq), free(wq);
}

/* Which linears the fp8 mode takes, and the CPU backend's refusal of the mode (it is the fp32 reference). */
static void test_rules(void) {
    CHECK(rad_fp8_gemm_shape_ok(32760, 1536, 1536) && rad_fp8_gemm_shape_ok(1024, 256, 8960));
    CHECK(!rad_fp8_gemm_shape_ok(512, 1536, 1536));  /* the text tokens */
    CHECK(!rad_fp8_gemm_shape_ok(1, 9216, 1536));    /* the time projection */
    CHECK(!rad_fp8_gemm_shape_ok(32760, 1536, 64));  /* the patch embedding */
    CHECK(!rad_fp8_gemm_shape_ok(32760, 64, 1536));  /* the head */
    CHECK(!rad_fp8_gemm_shape_ok(32760, 1536, 1544)); /* k not a multiple of 16 */
    rad_backend *cpu = NULL;
    CHECK_OK(rad_backend_cpu(&cpu));
    if (!cpu) return;
    CHECK_OK(cpu->set_gemm(cpu, RAD_GEMM_BF16));
    const rad_status s = cpu->set_gemm(cpu, RAD_GEMM_FP8);
    CHECK(s == RADIAL_ERR_UNSUPPORTED);
    printf("  the CPU backend refuses fp8: %s\n", rad_last_error());
    CHECK_FAILS(cpu->set_gemm(cpu, 2));
    cpu->destroy(cpu);
}

int main(void) {
    printf("fp8 emulation (the CUDA --gemm fp8 numerics on the CPU)\n");
    test_codes();
    test_rows();
    test_linear();
    test_rules();
    TEST_MAIN_END();
}
