/* Flow UniPC and Euler samplers (spec/wan21.md §4.2–4.3).
 *
 * Numerics follow the references: the grid is built in float64 (numpy) and stored as float32; the timestep is
 * the float64 σ·1000 truncated to int64. All per-step scalars (α, λ, h, e^{-h}−1, the B(h) coefficients) are
 * float32, as the 0-dim torch tensors of the reference are; the 2×2 corrector system is solved in double
 * (torch solves it in float32; the difference is far below the 1e-5 tolerance and this avoids a pivoting
 * question). The element-wise updates are float32 in the reference's order of operations. */
#include "sched/sched.h"

#include <math.h>
#include <string.h>

#include "base/mem.h"

#define RAD_SCHED_MAX_STEPS 10000

struct rad_sched {
    rad_sched_kind kind;
    int steps;
    size_t n;
    int64_t *timesteps; /* [steps] */
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
        s->timesteps[k] = (int64_t)(sigma * 1000.0); /* truncation toward zero, as .to(torch.int64) */
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

rad_status rad_sched_new(rad_sched_kind kind, int steps, double shift, size_t n_elems, rad_sched **out) {
    *out = NULL;
    if (kind != RAD_SCHED_UNIPC_OFFICIAL && kind != RAD_SCHED_UNIPC_DIFFUSERS && kind != RAD_SCHED_EULER)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: unknown kind %d", (int)kind);
    if (steps < 1 || steps > RAD_SCHED_MAX_STEPS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: steps must be in [1, %d], got %d", RAD_SCHED_MAX_STEPS,
                       steps);
    if (!(shift > 0.0) || !isfinite(shift) || shift > 1e4)
        return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: shift must be in (0, 1e4], got %g", shift);
    if (n_elems == 0) return rad_err(RADIAL_ERR_INVALID_ARG, "scheduler: latent has no elements");

    rad_sched *s;
    RAD_TRY(rad_calloc((void **)&s, 1, sizeof *s, "scheduler"));
    s->kind = kind;
    s->steps = steps;
    s->n = n_elems;
    rad_status st = rad_calloc((void **)&s->timesteps, (size_t)steps, sizeof(int64_t), "scheduler timesteps");
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

int rad_sched_steps(const rad_sched *s) { return s->steps; }

int64_t rad_sched_timestep(const rad_sched *s, int i) { return (i >= 0 && i < s->steps) ? s->timesteps[i] : -1; }

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

static void step_euler(rad_sched *s, int i, const float *v, float *x) {
    float dt = s->sigmas[i + 1] - s->sigmas[i];
    for (size_t j = 0; j < s->n; j++) x[j] = x[j] + dt * v[j];
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
