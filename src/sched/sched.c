/* Flow UniPC and Euler samplers (spec/wan21.md §4.2–4.3).
 *
 * Numerics follow the references: the grid is built in float64 (numpy) and stored as float32; the timestep is
 * the float64 σ·1000 truncated to int64. All per-step scalars (α, λ, h, e^{-h}−1, the B(h) coefficients) are
 * float32, as the 0-dim torch tensors of the reference are; the 2×2 corrector system is solved in double
 * (torch solves it in float32; the difference is far below the 1e-5 tolerance and this avoids a pivoting
 * question). The element-wise updates are float32 in the reference's order of operations.
 *
 * Explicit timesteps (rad_sched_new_timesteps) follow diffusers' FlowMatchEulerDiscreteScheduler instead, whose
 * arithmetic is float32 throughout (numpy float32 arrays, torch float32 tensors) and whose timesteps are not
 * truncated. Where the reference rounds after every operation, so does this file: one operation per statement,
 * because C allows a*b + c inside one expression to become a fused multiply-add (clang does so by default on an
 * FMA target), and an FMA rounds once where numpy and torch round twice. GCC also fuses across statements, but
 * only under -ffp-contract=fast, its default in GNU mode; CMake builds ISO C11 (CMAKE_C_EXTENSIONS OFF), where it
 * is off. (Checked: GCC -std=c11 and clang -std=c11/gnu11 with -march=native give numpy's bits; GCC -std=gnu11
 * -march=native does not.) */
#include "sched/sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

struct rad_sched {
    rad_sched_kind kind;
    int steps;
    size_t n;
    double *timesteps;  /* [steps]: the grids' truncated integers, or the explicit schedule's float32 values */
    float *sigmas;      /* [steps + 1], last = 0 */
    /* UniPC state. m_prev/m_last are the x0 predictions of the two previous steps (the reference's
     * model_outputs[-2], [-1]); x0 is this step's; the three buffers rotate. */
    float *m_prev, *m_last, *x0;
    float *last_sample; /* the (corrected) sample the last predictor started from */
    int next_step;
    int lower_order_nums;
    int this_order; /* the order the last predictor used, which the next corrector uses */
};

const char *rad_sched_kind_name(rad_sched_kind k) {
    switch (k) {
    case RAD_SCHED_UNIPC_OFFICIAL: return "unipc (official Wan grid)";
    case RAD_SCHED_UNIPC_DIFFUSERS: return "unipc (diffusers flow grid)";
    case RAD_SCHED_EULER: return "euler";
    }
    return "?";
}

/* numpy.linspace(start, stop, num)[i] for i < num-1: i*step + start with step = (stop-start)/(num-1). */
static double np_linspace(double start, double stop, int num, int i) {
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

static double shift_sigma(double s, double sigma) { return s * sigma / (1.0 + (s - 1.0) * sigma); }

/* Fills timesteps[steps] and sigmas[steps+1] (float64 math, float32 storage). */
static void build_grid(rad_sched *s, double shift) {
    int n = s->steps;
    for (int k = 0; k < n; k++) {
        double sigma;
        if (s->kind == RAD_SCHED_UNIPC_DIFFUSERS) {
            /* sigmas = linspace(1, 1/1000, N+1)[:-1], shifted; σ_0 == 1 is nudged down by 1e-6 so that
             * log(1 − σ) stays finite; the timestep is taken after the nudge. */
            sigma = shift_sigma(shift, np_linspace(1.0, 1.0 / 1000, n + 1, k));
            if (k == 0 && fabs(sigma - 1.0) < 1e-6) sigma -= 1e-6;
        } else {
            /* The official scheduler is constructed with shift=1, so its σ_max is the float32 of 1 − 1/1000
             * (read back as a double); set_timesteps then uses linspace(σ_max, 0, N+1)[:N], shifted. */
            double sigma_max = (double)(float)(1.0 - 1.0 / 1000);
            sigma = shift_sigma(shift, np_linspace(sigma_max, 0.0, n + 1, k));
        }
        s->timesteps[k] = (double)(int64_t)(sigma * 1000.0); /* truncation toward zero, as .to(torch.int64) */
        s->sigmas[k] = (float)sigma;
    }
    s->sigmas[n] = 0.0f;
}

void rad_sched_free(rad_sched *s) {
    if (!s) return;
    rad_free(s->timesteps);
    rad_free(s->sigmas);
    rad_free(s->m_prev);
    rad_free(s->m_last);
    rad_free(s->x0);
    rad_free(s->last_sample);
    rad_free(s);
}

static rad_status check_shift_and_size(double shift, size_t n_elems) {
    if (!(shift > 0.0) || !isfinite(shift) || shift > 1e4)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: shift must be in (0, 1e4], got %g", shift);
    if (n_elems == 0) return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: latent has no elements");
    return RAD_OK;
}

/* A scheduler with its arrays allocated (zeroed) and no grid yet. */
static rad_status sched_alloc(rad_sched_kind kind, int steps, size_t n_elems, rad_sched **out) {
    rad_sched *s;
    *out = NULL;
    RAD_TRY(rad_calloc((void **)&s, 1, sizeof *s, "scheduler"));
    s->kind = kind;
    s->steps = steps;
    s->n = n_elems;
    rad_status st = rad_calloc((void **)&s->timesteps, (size_t)steps, sizeof(double), "scheduler timesteps");
    if (st == RAD_OK) st = rad_calloc((void **)&s->sigmas, (size_t)steps + 1, sizeof(float), "scheduler sigmas");
    if (st == RAD_OK && kind != RAD_SCHED_EULER) {
        st = rad_calloc((void **)&s->m_prev, n_elems, sizeof(float), "UniPC x0 history");
        if (st == RAD_OK) st = rad_calloc((void **)&s->m_last, n_elems, sizeof(float), "UniPC x0 history");
        if (st == RAD_OK) st = rad_calloc((void **)&s->x0, n_elems, sizeof(float), "UniPC x0");
        if (st == RAD_OK) st = rad_calloc((void **)&s->last_sample, n_elems, sizeof(float), "UniPC last sample");
    }
    if (st != RAD_OK) {
        rad_sched_free(s);
        return st;
    }
    *out = s;
    return RAD_OK;
}

rad_status rad_sched_new(rad_sched_kind kind, int steps, double shift, size_t n_elems, rad_sched **out) {
    *out = NULL;
    if (kind != RAD_SCHED_UNIPC_OFFICIAL && kind != RAD_SCHED_UNIPC_DIFFUSERS && kind != RAD_SCHED_EULER)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: unknown kind %d", (int)kind);
    if (steps < 1 || steps > RAD_SCHED_MAX_STEPS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: steps must be in [1, %d], got %d", RAD_SCHED_MAX_STEPS,
                       steps);
    RAD_TRY(check_shift_and_size(shift, n_elems));

    rad_sched *s;
    RAD_TRY(sched_alloc(kind, steps, n_elems, &s));
    build_grid(s, shift);
    for (int k = 0; k < steps; k++) {
        float a = s->sigmas[k], b = s->sigmas[k + 1];
        if (!(a > b) || !(a < 1.0f)) {
            rad_sched_free(s);
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "scheduler: %d steps with shift %g give sigmas %.9g, %.9g at step %d that are not "
                           "strictly decreasing below 1 in float32; use fewer steps or another shift",
                           steps, shift, (double)a, (double)b, k);
        }
    }
    *out = s;
    return RAD_OK;
}

/* diffusers FlowMatchEulerDiscreteScheduler(shift).set_timesteps(sigmas=[t/1000 ...]), operation by operation:
 *   sigmas = np.array(sigmas).astype(np.float32)           t/1000 is Python's (correctly rounded) float64
 *   sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)   numpy casts the Python scalars shift and shift − 1
 *                                                          (computed in float64) to float32 and rounds each
 *                                                          product, sum and quotient to float32
 *   timesteps = sigmas * 1000                              a torch float32 tensor, kept fractional
 *   sigmas = torch.cat([sigmas, zeros(1)])
 * Computing σ in float64 and rounding once would differ in the last bit for about 40% of the integer timesteps
 * at shift 3 or 5, hence the float32 steps.
 * LightX2V's WanStepDistillScheduler takes the same Euler steps on the same shifted σ in exact arithmetic, not
 * bit for bit: it indexes torch.linspace(1, 0, 1001) at 1000 − t (integer t only; float32 values that can be an
 * ulp off float32(t/1000)) and steps as (x − σ·v) + σ_next·v. Its older
 * versions re-noised x0 with fresh noise between steps instead (the stochastic CausVid/DMD sampler). */
static void build_explicit(rad_sched *s, const double *timesteps, double shift) {
    const float f_shift = (float)shift, f_shift_m1 = (float)(shift - 1.0);
    for (int k = 0; k < s->steps; k++) {
        const float u = (float)(timesteps[k] / 1000.0);
        const float num = f_shift * u;
        const float den_term = f_shift_m1 * u; /* its own statement: no FMA with the + 1 below */
        const float den = 1.0f + den_term;
        const float sigma = num / den;
        const float t = sigma * 1000.0f;
        s->sigmas[k] = sigma;
        s->timesteps[k] = (double)t;
    }
    s->sigmas[s->steps] = 0.0f;
}

rad_status rad_sched_new_timesteps(rad_sched_kind kind, const double *timesteps, int n, double shift, size_t n_elems,
                                   rad_sched **out) {
    *out = NULL;
    if (kind != RAD_SCHED_UNIPC_OFFICIAL && kind != RAD_SCHED_UNIPC_DIFFUSERS && kind != RAD_SCHED_EULER)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: unknown kind %d", (int)kind);
    /* Step-distilled models (lightx2v, CausVid) are trained for and sampled with Euler steps on their few
     * timesteps. UniPC on such a list is a different sampler that no reference pairs with these models, and
     * with σ_0 = 1 its λ = log((1 − σ)/σ) is −∞ (diffusers nudges σ_0 by 1e-6 and truncates the timesteps to
     * integers; the official scheduler does neither), so it is refused rather than guessed at. */
    if (kind != RAD_SCHED_EULER)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "scheduler: explicit timesteps are sampled with euler (diffusers' "
                       "FlowMatchEulerDiscreteScheduler, as step-distilled models are), not with %s; choose the "
                       "euler sampler",
                       rad_sched_kind_name(kind));
    if (n < 1 || n > RAD_SCHED_MAX_STEPS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: the number of timesteps must be in [1, %d], got %d",
                       RAD_SCHED_MAX_STEPS, n);
    if (!timesteps) return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: no timesteps given");
    for (int k = 0; k < n; k++) {
        double t = timesteps[k];
        if (!(t > 0.0 && t <= 1000.0))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "scheduler: timesteps[%d] is %.17g; explicit timesteps are unshifted values in (0, 1000]",
                           k, t);
        if (k > 0 && !(t < timesteps[k - 1]))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "scheduler: timesteps[%d] (%.17g) is not below timesteps[%d] (%.17g); explicit timesteps "
                           "must strictly decrease",
                           k, t, k - 1, timesteps[k - 1]);
    }
    RAD_TRY(check_shift_and_size(shift, n_elems));

    rad_sched *s;
    RAD_TRY(sched_alloc(kind, n, n_elems, &s));
    build_explicit(s, timesteps, shift);
    /* Distinct float64 timesteps can meet in float32 (999.99999 and 999.99998), and a tiny one gives σ = 0:
     * either would make a step of zero length. σ_0 may be 1 (Euler never takes log(1 − σ)). */
    for (int k = 0; k < n; k++) {
        float a = s->sigmas[k], b = s->sigmas[k + 1];
        if (!(a > b)) {
            rad_sched_free(s);
            if (k + 1 == n)
                return rad_err(RADIAL_ERR_INVALID_ARG,
                               "scheduler: timesteps[%d] (%.17g) with shift %g gives sigma 0 in float32; use a larger "
                               "last timestep",
                               k, timesteps[k], shift);
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "scheduler: timesteps[%d] and [%d] (%.17g, %.17g) with shift %g give the same float32 "
                           "sigma %.9g; space them further apart",
                           k, k + 1, timesteps[k], timesteps[k + 1], shift, (double)a);
        }
    }
    *out = s;
    return RAD_OK;
}

/* An item of the CLI list is a plain decimal number: [+-] digits [. digits] [(e|E) [+-] digits], with at least one
 * digit before the exponent. strtod alone would also take "inf", "nan", hex ("0x3e8") and leading spaces. */
static int is_decimal(const char *a, const char *b) {
    const char *p = a;
    int digits = 0;
    if (p < b && (*p == '+' || *p == '-')) p++;
    while (p < b && *p >= '0' && *p <= '9') p++, digits++;
    if (p < b && *p == '.') {
        p++;
        while (p < b && *p >= '0' && *p <= '9') p++, digits++;
    }
    if (!digits) return 0;
    if (p < b && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < b && (*p == '+' || *p == '-')) p++;
        int exp_digits = 0;
        while (p < b && *p >= '0' && *p <= '9') p++, exp_digits++;
        if (!exp_digits) return 0;
    }
    return p == b;
}

rad_status rad_sched_parse_timesteps(const char *text, double *out, int max, int *n) {
    if (n) *n = 0;
    if (!text || !out || !n || max < 1)
        return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: no text, no output or no room (max %d)", max);
    const char *p = text;
    int count = 0;
    for (int item = 1;; item++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '	')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '	')) b--;
        const int len = (int)(b - a), shown = len < 40 ? len : 40; /* an item is named by its text, cut at 40 */
        if (len == 0) {
            if (item == 1 && !*end)
                return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: the list is empty; give unshifted values in "
                                                       "(0, 1000], decreasing, such as 1000,750,500,250");
            return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: item %d is empty%s", item,
                           *end ? "" : " (a trailing comma)");
        }
        char buf[128];
        if (len >= (int)sizeof buf)
            return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: item %d (\"%.*s...\") is too long for a timestep", item,
                           shown, a);
        double v = NAN;
        if (is_decimal(a, b)) {
            memcpy(buf, a, (size_t)len);
            buf[len] = '\0';
            char *e;
            v = strtod(buf, &e);
            if (e != buf + len) v = NAN; /* a locale whose decimal point is not '.' */
        }
        if (isnan(v))
            return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: item %d (\"%.*s%s\") is not a decimal number", item,
                           shown, a, len > shown ? "..." : "");
        if (!(v > 0.0 && v <= 1000.0))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "timesteps: item %d (\"%.*s%s\") is outside (0, 1000]; timesteps are unshifted, 1000 = "
                           "pure noise",
                           item, shown, a, len > shown ? "..." : "");
        if (count > 0 && !(v < out[count - 1]))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "timesteps: item %d (\"%.*s%s\") is not below item %d (%.15g); timesteps must strictly "
                           "decrease",
                           item, shown, a, len > shown ? "..." : "", item - 1, out[count - 1]);
        if (count == max)
            return rad_err(RADIAL_ERR_INVALID_ARG, "timesteps: item %d (\"%.*s%s\") is one too many; at most %d",
                           item, shown, a, len > shown ? "..." : "", max);
        out[count++] = v;
        if (!*end) break;
        p = end + 1;
    }
    *n = count;
    return RAD_OK;
}

int rad_sched_steps(const rad_sched *s) { return s->steps; }

double rad_sched_timestep(const rad_sched *s, int i) { return (i >= 0 && i < s->steps) ? s->timesteps[i] : -1.0; }

float rad_sched_sigma(const rad_sched *s, int i) { return (i >= 0 && i <= s->steps) ? s->sigmas[i] : NAN; }

/* λ(σ) = log α − log σ with α = 1 − σ, in float32 (σ > 0). */
static float lambda_of(float sigma) { return logf(1.0f - sigma) - logf(sigma); }

/* The scalars of one UniPC B(h) update from σ_s0 to σ_t (both > 0), as the reference computes them. */
typedef struct {
    float h;      /* λ_t − λ_s0 */
    float c_x;    /* σ_t / σ_s0 */
    float c_m;    /* α_t · (e^{−h} − 1) */
    float c_b;    /* α_t · B(h), bh2: B(h) = e^{−h} − 1 */
    float b1, b2; /* right-hand side of the order-2 corrector system */
} unipc_coef;

static unipc_coef coef(float sigma_t, float sigma_s0) {
    unipc_coef c;
    float alpha_t = 1.0f - sigma_t;
    c.h = lambda_of(sigma_t) - lambda_of(sigma_s0);
    float hh = -c.h; /* predict_x0 */
    float h_phi_1 = expm1f(hh);
    float b_h = expm1f(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    c.b1 = h_phi_k * 1.0f / b_h;
    h_phi_k = h_phi_k / hh - 1.0f / 2.0f;
    c.b2 = h_phi_k * 2.0f / b_h;
    c.c_x = sigma_t / sigma_s0;
    c.c_m = alpha_t * h_phi_1;
    c.c_b = alpha_t * b_h;
    return c;
}

/* diffusers: prev_sample = sample + (sigma_next - sigma) * model_output, a float32 difference of the two stored
 * sigmas, then a float32 product and a float32 sum, each rounded (two statements: no FMA). */
static void step_euler(rad_sched *s, int i, const float *v, float *x) {
    const float dt = s->sigmas[i + 1] - s->sigmas[i];
    for (size_t j = 0; j < s->n; j++) {
        const float dx = dt * v[j];
        x[j] = x[j] + dx;
    }
}

static void step_unipc(rad_sched *s, int i, const float *v, float *x) {
    const size_t n = s->n;
    const float *sg = s->sigmas;
    float sigma = sg[i];

    /* convert_model_output: x0 = x − σ·v, from the sample the model saw (before the correction). */
    float *x0 = s->x0;
    for (size_t j = 0; j < n; j++) x0[j] = x[j] - sigma * v[j];

    /* UniC: correct the sample of the previous predictor with this step's x0; order = the previous one. */
    if (i > 0) {
        unipc_coef c = coef(sigma, sg[i - 1]);
        const float *last = s->last_sample, *m1 = s->m_last, *m2 = s->m_prev;
        if (s->this_order == 1) {
            const float rho = 0.5f;
            for (size_t j = 0; j < n; j++)
                x[j] = (c.c_x * last[j] - c.c_m * m1[j]) - c.c_b * (rho * (x0[j] - m1[j]));
        } else {
            float rk = (lambda_of(sg[i - 2]) - lambda_of(sg[i - 1])) / c.h;
            /* [[1, 1], [rk, 1]] · ρ = [b1, b2] */
            double det = 1.0 - (double)rk;
            float rho0 = (float)(((double)c.b1 - (double)c.b2) / det);
            float rho1 = (float)(((double)c.b2 - (double)rk * (double)c.b1) / det);
            for (size_t j = 0; j < n; j++) {
                float d1 = (m2[j] - m1[j]) / rk;
                float d1_t = x0[j] - m1[j];
                x[j] = (c.c_x * last[j] - c.c_m * m1[j]) - c.c_b * (rho0 * d1 + rho1 * d1_t);
            }
        }
    }

    /* Push x0 into the history: m[-2] <- m[-1] <- x0 (the oldest buffer becomes next step's scratch). */
    float *oldest = s->m_prev;
    s->m_prev = s->m_last;
    s->m_last = x0;
    s->x0 = oldest;

    int order = s->steps - i < 2 ? s->steps - i : 2; /* lower_order_final */
    if (order > s->lower_order_nums + 1) order = s->lower_order_nums + 1;
    s->this_order = order;
    memcpy(s->last_sample, x, n * sizeof(float));

    /* UniP: predict the sample at σ_{i+1}. At σ = 0, λ = +∞ and the update reduces to x0 exactly (the order is
     * always 1 there because of lower_order_final); computing it through λ would give inf·0. */
    const float *m0 = s->m_last;
    if (sg[i + 1] == 0.0f) {
        memcpy(x, m0, n * sizeof(float));
    } else {
        unipc_coef c = coef(sg[i + 1], sigma);
        if (order == 1) {
            for (size_t j = 0; j < n; j++) x[j] = c.c_x * x[j] - c.c_m * m0[j];
        } else {
            float rk = (lambda_of(sg[i - 1]) - lambda_of(sigma)) / c.h;
            const float rho = 0.5f; /* the reference's simplified order-2 predictor */
            const float *m1 = s->m_prev;
            for (size_t j = 0; j < n; j++) {
                float d1 = (m1[j] - m0[j]) / rk;
                x[j] = (c.c_x * x[j] - c.c_m * m0[j]) - c.c_b * (rho * d1);
            }
        }
    }
    if (s->lower_order_nums < 2) s->lower_order_nums++;
}

rad_status rad_sched_step(rad_sched *s, int i, const float *velocity, float *x) {
    if (i < 0 || i >= s->steps)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler (%s): step %d is outside [0, %d)",
                       rad_sched_kind_name(s->kind), i, s->steps);
    if (i != s->next_step)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler (%s): step %d called, but the next step is %d",
                       rad_sched_kind_name(s->kind), i, s->next_step);
    if (s->kind == RAD_SCHED_EULER)
        step_euler(s, i, velocity, x);
    else
        step_unipc(s, i, velocity, x);
    s->next_step++;
    return RAD_OK;
}
