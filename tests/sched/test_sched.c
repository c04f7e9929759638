/* Samplers against the spec's grid values and against math: a straight flow is integrated exactly by every
 * sampler, and on a Gaussian data distribution (whose probability-flow ODE has a closed form) Euler converges
 * at first order and UniPC at (at least) second order. Explicit few-step schedules (step-distilled models)
 * against diffusers' FlowMatchEulerDiscreteScheduler: the golden case_distilled.safetensors, values derived
 * here, and the CLI parser. The golden comparisons of whole runs are tests/sched/CMakeLists.txt's CLI tests
 * (radial eval unipc). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "sched/sched.h"
#include "test_util.h"

/* spec/wan21.md §4.2: N=50, shift 5 and shift 3. */
static void test_grid(void) {
    rad_sched *s;
    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 50, 5.0, 1, &s));
    if (!s) return;
    const int64_t head5[] = {999, 995, 991, 987, 982}, tail5[] = {302, 241, 172, 92};
    for (int i = 0; i < 5; i++) CHECK(rad_sched_timestep(s, i) == (double)head5[i]);
    for (int i = 0; i < 50; i++) CHECK(rad_sched_timestep(s, i) == floor(rad_sched_timestep(s, i))); /* truncated */
    for (int i = 0; i < 4; i++) CHECK(rad_sched_timestep(s, 46 + i) == (double)tail5[i]);
    const double sig_head[] = {0.99980, 0.99573, 0.99153}, sig_tail[] = {0.24174, 0.17227, 0.09251};
    for (int i = 0; i < 3; i++) CHECK(fabs(rad_sched_sigma(s, i) - sig_head[i]) < 6e-6);
    for (int i = 0; i < 3; i++) CHECK(fabs(rad_sched_sigma(s, 47 + i) - sig_tail[i]) < 6e-6);
    CHECK(rad_sched_sigma(s, 50) == 0.0f);
    CHECK(rad_sched_steps(s) == 50);
    rad_sched_free(s);

    CHECK_OK(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 50, 3.0, 1, &s));
    if (!s) return;
    const int64_t head3[] = {999, 992, 985}, tail3[] = {111, 57};
    for (int i = 0; i < 3; i++) CHECK(rad_sched_timestep(s, i) == (double)head3[i]);
    for (int i = 0; i < 2; i++) CHECK(rad_sched_timestep(s, 48 + i) == (double)tail3[i]);
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
    CHECK(rad_sched_timestep(s, 3) == -1.0);
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

/* Bit equality of two floats (== would also pass -0 against +0). */
static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* tests/data/golden2/case_distilled.safetensors: diffusers' FlowMatchEulerDiscreteScheduler(shift=3) on sigmas
 * [1.0, 0.666, 0.333]; its sigmas [4] and timesteps [3] (float32) are what the scheduler made. Built from the
 * case's own metadata (timesteps "1000,666,333", shift "3.0"), both must match bit for bit. */
static void test_golden_distilled(void) {
    char path[1024];
    rad_st_file *f;
    CHECK_OK(rad_st_open(rad_test_path(path, sizeof path, "golden2/case_distilled.safetensors"), &f));
    if (!f) return;
    const char *ts_text = rad_st_meta(f, "timesteps"), *shift_text = rad_st_meta(f, "shift");
    CHECK(ts_text && shift_text);
    const rad_st_tensor *gs, *gt;
    float *sig = NULL, *ts = NULL;
    CHECK_OK(rad_st_read_f32(f, "sigmas", &gs, &sig));
    CHECK_OK(rad_st_read_f32(f, "timesteps", &gt, &ts));
    double t[8];
    int n = 0;
    rad_sched *s = NULL;
    if (ts_text && shift_text && sig && ts) {
        CHECK_OK(rad_sched_parse_timesteps(ts_text, t, 8, &n));
        CHECK(n == 3 && gt->numel == 3 && gs->numel == 4);
        CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, t, n, strtod(shift_text, NULL), 16, &s));
    }
    if (s && n == 3 && gt->numel == 3 && gs->numel == 4) {
        CHECK(rad_sched_steps(s) == 3);
        for (int i = 0; i <= 3; i++) {
            CHECK(same_bits(rad_sched_sigma(s, i), sig[i]));
            printf("  distilled golden: sigma[%d] = %.9g (golden %.9g)", i, (double)rad_sched_sigma(s, i),
                   (double)sig[i]);
            if (i < 3) {
                /* the model's timestep is a double holding diffusers' float32 value, fractional */
                CHECK((float)rad_sched_timestep(s, i) == rad_sched_timestep(s, i));
                CHECK(same_bits((float)rad_sched_timestep(s, i), ts[i]));
                printf(", timestep %.9g (golden %.9g)", rad_sched_timestep(s, i), (double)ts[i]);
            }
            printf("\n");
        }
        CHECK(rad_sched_timestep(s, 1) != floor(rad_sched_timestep(s, 1))); /* 856.775..., not 856 */
    }
    rad_sched_free(s);
    rad_free(sig);
    rad_free(ts);
    rad_st_close(f);
}

/* 1000,750,500,250 with shift 5 (the lightx2v 4-step list at Wan's default shift), from the formula here:
 *   u = float32(t/1000) is exact (1, 0.75, 0.5, 0.25);
 *   σ = 5u/(1 + 4u) = 1, 15/16, 5/6, 5/8: the numerators (5, 3.75, 2.5, 1.25) and denominators (5, 4, 3, 2) are
 *   exact in float32, so diffusers' float32 chain rounds only the quotient, once: σ = float32 of the double
 *   formula (double rounding cannot bite: 5/6 is not near a float32 midpoint);
 *   timestep = float32(σ·1000) with σ the float32 value: 1000, 937.5, 833.33331298828125, 625 (not truncated,
 *   and not 2500/3: the float32 σ times 1000, rounded to float32). */
static void test_four_step(void) {
    const double t[4] = {1000, 750, 500, 250};
    rad_sched *s;
    CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, t, 4, 5.0, 8, &s));
    if (!s) return;
    CHECK(rad_sched_steps(s) == 4);
    for (int i = 0; i < 4; i++) {
        const float u = (float)(t[i] / 1000.0);
        const float want = (float)(5.0 * u / (1.0 + 4.0 * u)); /* double formula, one rounding */
        const float prod = want * 1000.0f;                     /* float32 product, as the torch tensor */
        CHECK(same_bits(rad_sched_sigma(s, i), want));
        CHECK(rad_sched_timestep(s, i) == (double)prod);
        printf("  1000,750,500,250 @ shift 5: sigma %.9g timestep %.17g\n", (double)rad_sched_sigma(s, i),
               rad_sched_timestep(s, i));
    }
    CHECK(rad_sched_sigma(s, 0) == 1.0f && rad_sched_sigma(s, 1) == 0.9375f && rad_sched_sigma(s, 3) == 0.625f);
    CHECK(rad_sched_sigma(s, 4) == 0.0f);
    CHECK(rad_sched_timestep(s, 2) == 833.33331298828125);
    CHECK(rad_sched_timestep(s, 4) == -1.0);
    rad_sched_free(s);
}

/* Where diffusers' float32 chain (each of ·, +, ·, / rounded to float32) and the double formula rounded once
 * disagree, the schedule follows diffusers. The expected bits come from numpy itself (1.24, legacy and "weak"
 * promotion alike): np.array([t/1000 ...]).astype(np.float32), then shift * s / (1 + (shift - 1) * s), then
 * float32(σ·1000). The most telling one: t = 700 at shift 3 is exactly 7/8 in real arithmetic, but
 * float32(0.7)·3 / (1 + 2·float32(0.7)) in float32 is 0.87499994 (one ulp below), timestep 874.99994. */
static void test_float32_chain(void) {
    const struct {
        double shift;
        double t[4];
        float sigma[4], timestep[4], once[4]; /* diffusers; diffusers; the double formula rounded once */
    } cases[] = {
        {3.0,
         {900, 800, 700, 200},
         {0x1.edb6dap-1f, 0x1.d89d8cp-1f, 0x1.bffffep-1f, 0x1.b6db7p-2f},
         {0x1.e2249p+9f, 0x1.cd89dap+9f, 0x1.b57ffep+9f, 0x1.ac924cp+8f},
         {0x1.edb6dcp-1f, 0x1.d89d8ap-1f, 0x1.cp-1f, 0x1.b6db6ep-2f}},
        {5.0,
         {999, 833, 666, 0},
         {0x1.ffe5c2p-1f, 0x1.ec4324p-1f, 0x1.d153d6p-1f, 0},
         {0x1.f3e66p+9f, 0x1.e0b992p+9f, 0x1.c66bdep+9f, 0},
         {0x1.ffe5c4p-1f, 0x1.ec4322p-1f, 0x1.d153d8p-1f, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int n = cases[c].t[3] > 0 ? 4 : 3;
        rad_sched *s;
        CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, cases[c].t, n, cases[c].shift, 1, &s));
        if (!s) continue;
        for (int i = 0; i < n; i++) {
            const double sh = cases[c].shift, u = (float)(cases[c].t[i] / 1000.0);
            CHECK(same_bits(cases[c].once[i], (float)(sh * u / (1.0 + (sh - 1.0) * u)))); /* the table is right */
            CHECK(!same_bits(cases[c].sigma[i], cases[c].once[i]));                      /* and telling */
            CHECK(same_bits(rad_sched_sigma(s, i), cases[c].sigma[i]));
            CHECK(rad_sched_timestep(s, i) == (double)cases[c].timestep[i]);
        }
        rad_sched_free(s);
    }
}

/* Euler on explicit timesteps: with constant v the sample moves by (σ_{i+1} − σ_i)·v at every step, computed as
 * diffusers does (float32 σ difference, float32 product, float32 sum). With x = 0 and v a power of two the move
 * is exact in real arithmetic: the σ differences of this schedule are exact in float32 (Sterbenz: each σ_{i+1}
 * is at least σ_i/2), and so are their products with ±1, ±2, 0.5. A straight flow ends at x0. */
static void test_euler_explicit(void) {
    enum { N = 8 };
    const double t[4] = {1000, 750, 500, 250};
    rad_sched *s;
    CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, t, 4, 5.0, N, &s));
    if (!s) return;
    float v[N], x[N], before[N];
    for (int j = 0; j < N; j++) {
        v[j] = j < 4 ? (const float[]){1.0f, -2.0f, 0.5f, 2.0f}[j] : rad_test_uniform(&rng_state);
        x[j] = j < 4 ? 0.0f : rad_test_uniform(&rng_state);
    }
    for (int i = 0; i < 4; i++) {
        const float sa = rad_sched_sigma(s, i), sb = rad_sched_sigma(s, i + 1), dt = sb - sa;
        CHECK((double)dt == (double)sb - (double)sa); /* the difference is exact */
        for (int j = 0; j < 4; j++) x[j] = 0.0f; /* restart the exact lanes from 0 at every step */
        memcpy(before, x, sizeof x);
        CHECK_OK(rad_sched_step(s, i, v, x));
        for (int j = 0; j < 4; j++) CHECK((double)x[j] == ((double)sb - (double)sa) * (double)v[j]);
        for (int j = 4; j < N; j++) {
            const float dx = dt * v[j];
            CHECK(same_bits(x[j], before[j] + dx));
        }
    }
    rad_sched_free(s);

    /* x_σ = (1−σ)·x0 + σ·ε with v = ε − x0: the last step lands on x0 (σ_0 = 1 starts from pure noise). */
    float x0[N], eps[N];
    for (int j = 0; j < N; j++) {
        x0[j] = rad_test_uniform(&rng_state);
        eps[j] = rad_test_uniform(&rng_state);
        v[j] = eps[j] - x0[j];
        x[j] = eps[j];
    }
    CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, t, 4, 5.0, N, &s));
    if (!s) return;
    CHECK(rad_sched_sigma(s, 0) == 1.0f);
    for (int i = 0; i < 4; i++) CHECK_OK(rad_sched_step(s, i, v, x));
    double worst = 0;
    for (int j = 0; j < N; j++) worst = fmax(worst, fabs((double)x[j] - (double)x0[j]));
    printf("  straight flow, euler on 1000,750,500,250: max |x - x0| = %.3g\n", worst);
    CHECK(worst < 1e-6);
    rad_sched_free(s);
}

static void test_explicit_misuse(void) {
    rad_sched *s;
    const double ok[3] = {1000, 750, 500};
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_UNIPC_OFFICIAL, ok, 3, 5.0, 4, &s));
    CHECK(s == NULL);
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_UNIPC_DIFFUSERS, ok, 3, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps((rad_sched_kind)7, ok, 3, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, ok, 0, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, ok, RAD_SCHED_MAX_STEPS + 1, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, NULL, 3, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, ok, 3, 0.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, ok, 3, INFINITY, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, ok, 3, 5.0, 0, &s));
    const double over[2] = {1000.5, 500}, zero[2] = {500, 0}, nan_[2] = {NAN, 500}, up[3] = {1000, 500, 750},
                 same[2] = {750, 750}, f32_same[2] = {999.99999, 999.99998}, tiny[2] = {500, 1e-44};
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, over, 2, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, zero, 2, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, nan_, 2, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, up, 3, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, same, 2, 5.0, 4, &s));
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, f32_same, 2, 5.0, 4, &s)); /* one float32 sigma */
    CHECK_FAILS(rad_sched_new_timesteps(RAD_SCHED_EULER, tiny, 2, 5.0, 4, &s));     /* sigma 0 in float32 */
    CHECK(s == NULL);
    /* One timestep: a single Euler step to σ = 0, x − σ·v. */
    const double one[1] = {1000};
    CHECK_OK(rad_sched_new_timesteps(RAD_SCHED_EULER, one, 1, 5.0, 1, &s));
    if (!s) return;
    float x1 = 2.0f, v1 = 3.0f;
    CHECK_FAILS(rad_sched_step(s, 1, &v1, &x1));
    CHECK_OK(rad_sched_step(s, 0, &v1, &x1));
    CHECK(x1 == -1.0f);
    CHECK_FAILS(rad_sched_step(s, 0, &v1, &x1));
    rad_sched_free(s);
}

/* A parse that must fail with a message containing `what` (the item it names); *n stays 0. */
static void parse_fails(const char *text, int max, const char *what) {
    double out[8];
    int n = -1;
    rad_status st = rad_sched_parse_timesteps(text, out, max, &n);
    if (st == RAD_OK) {
        fprintf(stderr, "timesteps \"%s\" were accepted\n", text ? text : "(null)");
        rad_test_failures++;
        return;
    }
    printf("  \"%s\" rejected: %s\n", text ? text : "(null)", rad_last_error());
    CHECK(n == 0);
    if (!strstr(rad_last_error(), what)) {
        fprintf(stderr, "timesteps \"%s\": the message does not say \"%s\"\n", text ? text : "(null)", what);
        rad_test_failures++;
    }
}

static void test_parse(void) {
    double out[8];
    int n = 0;
    CHECK_OK(rad_sched_parse_timesteps("1000,750,500,250", out, 8, &n));
    CHECK(n == 4 && out[0] == 1000 && out[1] == 750 && out[2] == 500 && out[3] == 250);
    CHECK_OK(rad_sched_parse_timesteps("1000,666,333", out, 3, &n)); /* exactly max */
    CHECK(n == 3 && out[1] == 666 && out[2] == 333);
    CHECK_OK(rad_sched_parse_timesteps("999", out, 1, &n));
    CHECK(n == 1 && out[0] == 999);
    CHECK_OK(rad_sched_parse_timesteps(" 1000 ,\t856.775 , 1e2,+0.5, .25 ", out, 8, &n));
    CHECK(n == 5 && out[0] == 1000 && out[1] == 856.775 && out[2] == 100 && out[3] == 0.5 && out[4] == 0.25);
    CHECK_OK(rad_sched_parse_timesteps("1000.,1E-3", out, 8, &n));
    CHECK(n == 2 && out[0] == 1000 && out[1] == 0.001);

    parse_fails("", 8, "empty");
    parse_fails("   ", 8, "empty");
    parse_fails(NULL, 8, "no text");
    parse_fails("1000", 0, "no room");
    parse_fails("1000,,500", 8, "item 2 is empty");
    parse_fails(",1000", 8, "item 1 is empty");
    parse_fails("1000,750,", 8, "item 3 is empty (a trailing comma)");
    parse_fails("1000,750x", 8, "item 2 (\"750x\") is not a decimal number");
    parse_fails("1000;750", 8, "item 1 (\"1000;750\")");
    parse_fails("1000 750", 8, "item 1 (\"1000 750\")");
    parse_fails("abc", 8, "item 1 (\"abc\")");
    parse_fails("0x3e8", 8, "item 1 (\"0x3e8\")");
    parse_fails("inf", 8, "item 1 (\"inf\")");
    parse_fails("1000,nan", 8, "item 2 (\"nan\")");
    parse_fails("1000,.", 8, "item 2 (\".\")");
    parse_fails("1000,5e", 8, "item 2 (\"5e\")");
    parse_fails("1000,-5", 8, "item 2 (\"-5\") is outside (0, 1000]");
    parse_fails("0", 8, "item 1 (\"0\") is outside");
    parse_fails("1000.0001", 8, "item 1 (\"1000.0001\") is outside");
    parse_fails("1e999", 8, "item 1 (\"1e999\") is outside");
    parse_fails("500,1e-400", 8, "item 2 (\"1e-400\") is outside"); /* underflows to 0 */
    parse_fails("1,000", 8, "item 2 (\"000\") is outside");
    parse_fails("1000,1000", 8, "item 2 (\"1000\") is not below item 1 (1000)");
    parse_fails("1000,500,750", 8, "item 3 (\"750\") is not below item 2 (500)");
    parse_fails("1000,750,500", 2, "item 3 (\"500\") is one too many; at most 2");
    parse_fails("1000,123456789012345678901234567890123456789012345678901234567890", 8,
                "item 2 (\"1234567890123456789012345678901234567890...\") is outside");
    char long_item[200] = "1000,0.";
    memset(long_item + 7, '0', 150);
    long_item[157] = '1';
    parse_fails(long_item, 8, "item 2 (\"0.00000000000000000000000000000000000000...\") is too long");
}

int main(void) {
    test_grid();
    test_straight_flow(RAD_SCHED_UNIPC_OFFICIAL);
    test_straight_flow(RAD_SCHED_UNIPC_DIFFUSERS);
    test_straight_flow(RAD_SCHED_EULER);
    test_convergence();
    test_misuse();
    test_golden_distilled();
    test_four_step();
    test_float32_chain();
    test_euler_explicit();
    test_explicit_misuse();
    test_parse();
    TEST_MAIN_END();
}
