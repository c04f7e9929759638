/* Samplers against the spec's grid values and against math: a straight flow is integrated exactly by every
 * sampler, and on a Gaussian data distribution (whose probability-flow ODE has a closed form) Euler converges
 * at first order and UniPC at (at least) second order. The golden comparison is tests/sched/CMakeLists.txt's
 * CLI test (radial eval unipc). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/mem.h"
#include "sched/sched.h"
#include "test_util.h"

/* spec/wan21.md §4.2: N=50, shift 5 and shift 3. */
static void test_grid(void) {
    rad_sched *s;
    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 50, 5.0, 1, &s));
    if (!s) return;
    const int64_t head5[] = {999, 995, 991, 987, 982}, tail5[] = {302, 241, 172, 92};
    for (int i = 0; i < 5; i++) CHECK(rad_sched_timestep(s, i) == head5[i]);
    for (int i = 0; i < 4; i++) CHECK(rad_sched_timestep(s, 46 + i) == tail5[i]);
    const double sig_head[] = {0.99980, 0.99573, 0.99153}, sig_tail[] = {0.24174, 0.17227, 0.09251};
    for (int i = 0; i < 3; i++) CHECK(fabs(rad_sched_sigma(s, i) - sig_head[i]) < 6e-6);
    for (int i = 0; i < 3; i++) CHECK(fabs(rad_sched_sigma(s, 47 + i) - sig_tail[i]) < 6e-6);
    CHECK(rad_sched_sigma(s, 50) == 0.0f);
    CHECK(rad_sched_steps(s) == 50);
    rad_sched_free(s);

    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 50, 3.0, 1, &s));
    if (!s) return;
    const int64_t head3[] = {999, 992, 985}, tail3[] = {111, 57};
    for (int i = 0; i < 3; i++) CHECK(rad_sched_timestep(s, i) == head3[i]);
    for (int i = 0; i < 2; i++) CHECK(rad_sched_timestep(s, 48 + i) == tail3[i]);
    rad_sched_free(s);

    /* Euler uses the official grid. */
    CHECK_OK(rad_sched_new(RAD_SCHED_EULER, 50, 5.0, 1, &s));
    if (!s) return;
    CHECK(rad_sched_timestep(s, 49) == 92);
    rad_sched_free(s);

    /* diffusers: σ_0 = shift(1) − 1e-6, so t_0 = 999 (not 1000); last σ = shift(1 − 9·0.0999) for N = 10. */
    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_DIFFUSERS, 10, 3.0, 1, &s));
    if (!s) return;
    CHECK(rad_sched_timestep(s, 0) == 999);
    CHECK(rad_sched_sigma(s, 0) == (float)(1.0 - 1e-6));
    double last = 1.0 - 9 * 0.0999;
    CHECK(fabs(rad_sched_sigma(s, 9) - 3 * last / (1 + 2 * last)) < 1e-7);
    CHECK(rad_sched_sigma(s, 10) == 0.0f);
    rad_sched_free(s);
}

static uint64_t rng_state = 88172645463325252ull;

/* v = ε − x0 constant: x_σ = (1−σ)·x0 + σ·ε is reproduced after every step, and the end is x0. */
static void test_straight_flow(rad_sched_kind kind) {
    enum { N = 64 };
    float x0[N], eps[N], v[N], x[N];
    for (int j = 0; j < N; j++) {
        x0[j] = rad_test_uniform(&rng_state);
        eps[j] = 2 * rad_test_uniform(&rng_state);
        v[j] = eps[j] - x0[j];
    }
    rad_sched *s;
    CHECK_OK(rad_sched_new(kind, 7, 5.0, N, &s));
    if (!s) return;
    float s0 = rad_sched_sigma(s, 0);
    for (int j = 0; j < N; j++) x[j] = (1 - s0) * x0[j] + s0 * eps[j];
    double worst = 0;
    for (int i = 0; i < 7; i++) {
        CHECK_OK(rad_sched_step(s, i, v, x));
        float sn = rad_sched_sigma(s, i + 1);
        for (int j = 0; j < N; j++) {
            double want = (1.0 - sn) * x0[j] + sn * eps[j];
            worst = fmax(worst, fabs(x[j] - want));
        }
    }
    printf("  straight flow, %s: max |x - exact| = %.3g\n", rad_sched_kind_name(kind), worst);
    CHECK(worst < 2e-6);
    for (int j = 0; j < N; j++) CHECK(x[j] == x0[j] || fabs(x[j] - x0[j]) < 2e-6);
    rad_sched_free(s);
}

/* Data x0 ~ N(0, a²) per element: the flow velocity is v(x, σ) = x·(σ − (1−σ)a²)/D(σ), D = (1−σ)²a² + σ²,
 * and the ODE keeps x/√D constant, so the exact end point from x(σ_0) is x(σ_0)·a/√D(σ_0). Returns the
 * relative error of the sampler's end point. */
static double gaussian_error(rad_sched_kind kind, int steps) {
    enum { N = 32 };
    float a[N], x[N], v[N];
    double want[N];
    rad_sched *s;
    if (rad_sched_new(kind, steps, 1.0, N, &s) != RAD_OK) return INFINITY;
    double s0 = rad_sched_sigma(s, 0);
    for (int j = 0; j < N; j++) {
        a[j] = 0.3f + 1.2f * (float)j / N;
        x[j] = 1.0f + 0.05f * (float)j;
        double d0 = (1 - s0) * (1 - s0) * a[j] * a[j] + s0 * s0;
        want[j] = x[j] * a[j] / sqrt(d0);
    }
    for (int i = 0; i < steps; i++) {
        double sg = rad_sched_sigma(s, i);
        for (int j = 0; j < N; j++) {
            double d = (1 - sg) * (1 - sg) * a[j] * a[j] + sg * sg;
            v[j] = (float)(x[j] * (sg - (1 - sg) * a[j] * a[j]) / d);
        }
        if (rad_sched_step(s, i, v, x) != RAD_OK) return INFINITY;
    }
    rad_sched_free(s);
    double num = 0, den = 0;
    for (int j = 0; j < N; j++) {
        num += (x[j] - want[j]) * (x[j] - want[j]);
        den += want[j] * want[j];
    }
    return sqrt(num / den);
}

static void test_convergence(void) {
    double eu[3], un[3];
    for (int k = 0; k < 3; k++) {
        eu[k] = gaussian_error(RAD_SCHED_EULER, 10 << k);
        un[k] = gaussian_error(RAD_SCHED_UNIPC_OFFICIAL, 10 << k);
        printf("  gaussian flow, %3d steps: euler err %.3e, unipc err %.3e\n", 10 << k, eu[k], un[k]);
    }
    for (int k = 0; k < 2; k++) {
        double re = eu[k] / eu[k + 1], ru = un[k] / un[k + 1];
        printf("  halving the step: euler error / %.2f, unipc error / %.2f\n", re, ru);
        CHECK(re > 1.6 && re < 2.5); /* first order */
        CHECK(ru > 3.5);             /* second order or better */
    }
    CHECK(un[2] < eu[2] / 10);
}

static void test_misuse(void) {
    rad_sched *s;
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 0, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 10001, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 10, 0.0, 4, &s));
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 10, NAN, 4, &s));
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 10, 5.0, 0, &s));
    CHECK_FAILS(rad_sched_new((rad_sched_kind)7, 10, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new(RAD_SCHED_EULER, 10000, 1e4, 4, &s)); /* neighbouring σ equal in float32 */
    CHECK_FAILS(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 10, 5.0, SIZE_MAX / 2, &s));
    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 3, 5.0, 4, &s));
    if (!s) return;
    float v[4] = {0}, x[4] = {0};
    CHECK_FAILS(rad_sched_step(s, 1, v, x)); /* out of order */
    CHECK_OK(rad_sched_step(s, 0, v, x));
    CHECK_FAILS(rad_sched_step(s, 0, v, x)); /* repeated */
    CHECK_OK(rad_sched_step(s, 1, v, x));
    CHECK_OK(rad_sched_step(s, 2, v, x));
    CHECK_FAILS(rad_sched_step(s, 3, v, x)); /* past the end */
    CHECK(rad_sched_timestep(s, 3) == -1);
    CHECK(isnan(rad_sched_sigma(s, 4)));
    rad_sched_free(s);
    /* One step goes straight to x0 = x − σ·v. */
    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 1, 5.0, 1, &s));
    if (!s) return;
    float x1 = 2.0f, v1 = 3.0f, sg = rad_sched_sigma(s, 0);
    CHECK_OK(rad_sched_step(s, 0, &v1, &x1));
    CHECK(x1 == 2.0f - sg * 3.0f);
    rad_sched_free(s);
}

int main(void) {
    test_grid();
    test_straight_flow(RAD_SCHED_UNIPC_OFFICIAL);
    test_straight_flow(RAD_SCHED_UNIPC_DIFFUSERS);
    test_straight_flow(RAD_SCHED_EULER);
    test_convergence();
    test_misuse();
    TEST_MAIN_END();
}
