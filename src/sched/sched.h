/* Flow-matching samplers: UniPC (order 2, bh2, predict-x0, lower-order final step, corrector from step 1 on)
 * on the official Wan grid or on the diffusers grid, and plain Euler on the official grid or on explicit timesteps
 * (diffusers' FlowMatchEulerDiscreteScheduler with custom sigmas, for step-distilled models).
 * Spec: spec/wan21.md §4.2 (grids) and §4.3 (UniPC). Conventions: x_σ = (1−σ)·x0 + σ·ε, the model predicts
 * v ≈ ε − x0, σ decreases from ≈1 to 0 over the steps.
 *
 * Use:
 *   rad_sched *s;  RAD_TRY(rad_sched_new(RAD_SCHED_UNIPC_OFFICIAL, 50, 5.0, n, &s));
 *   for (int i = 0; i < steps; i++) {
 *       v = model(x, rad_sched_timestep(s, i));         (guided velocity)
 *       RAD_TRY(rad_sched_step(s, i, v, x));            (x is overwritten with the sample at σ_{i+1})
 *   }
 *   rad_sched_free(s);
 * The scheduler keeps its own state (previous x0 predictions, the last sample), so the steps must be taken
 * in order 0, 1, ..., steps-1 on the same latent.
 *
 * Step-distilled models (lightx2v, CausVid) are sampled on a few explicit timesteps instead of a grid:
 *   double t[64]; int n;
 *   RAD_TRY(rad_sched_parse_timesteps("1000,750,500,250", t, 64, &n));
 *   RAD_TRY(rad_sched_new_timesteps(RAD_SCHED_EULER, t, n, 5.0, n_elems, &s));
 * and then the same loop. */
#ifndef RAD_SCHED_H
#define RAD_SCHED_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef enum rad_sched_kind {
    RAD_SCHED_UNIPC_OFFICIAL,  /* Wan's FlowUniPCMultistepScheduler: σ = shift(linspace(0.999, 0, N+1)[:N]) */
    RAD_SCHED_UNIPC_DIFFUSERS, /* diffusers UniPCMultistepScheduler(use_flow_sigmas): linspace(1, 1e-3, ...) */
    RAD_SCHED_EULER            /* x += (σ_{i+1} − σ_i)·v on the official grid, or on explicit timesteps */
} rad_sched_kind;

typedef struct rad_sched rad_sched;

/* The most steps a schedule may have (grid or explicit). */
#define RAD_SCHED_MAX_STEPS 10000

/* steps in [1, 10000], shift > 0 (the official sample_shift, or diffusers' flow_shift), n_elems = latent size.
 * Fails on a grid whose fp32 sigmas are not strictly decreasing (the solver would divide by zero). */
rad_status rad_sched_new(rad_sched_kind kind, int steps, double shift, size_t n_elems, rad_sched **out);

/* An explicit schedule, for step-distilled models: timesteps[0 .. n) are UNSHIFTED values in (0, 1000], strictly
 * decreasing (1000, 750, 500, 250), n in [1, 10000], shift in (0, 1e4]. The schedule is exactly diffusers'
 * FlowMatchEulerDiscreteScheduler(shift=shift).set_timesteps(sigmas=[t/1000 for t in timesteps]):
 *   s_i = float32(t_i / 1000)                                   (np.array(sigmas).astype(np.float32))
 *   σ_i = float32(shift)·s_i / (1 + float32(shift − 1)·s_i)      (every operation in float32, as numpy does it)
 *   timestep_i = float32(σ_i · 1000)                             (torch float32, NOT truncated: 856.77527)
 *   σ_n = 0
 * and the step is Euler, x + (σ_{i+1} − σ_i)·v in float32. Only RAD_SCHED_EULER takes explicit timesteps: the
 * UniPC kinds are refused (see sched.c). Fails on values out of range or not decreasing, and on a schedule whose
 * float32 sigmas are not strictly decreasing. */
rad_status rad_sched_new_timesteps(rad_sched_kind kind, const double *timesteps, int n, double shift, size_t n_elems,
                                   rad_sched **out);

/* Parses the CLI's explicit timesteps: "1000,750,500,250". Items are decimal numbers (digits with an optional
 * fraction and exponent; spaces around an item are allowed), separated by single commas, each in (0, 1000] and
 * below the one before; at most max items (max >= 1). Writes out[0 .. *n). Fails, naming the item at fault
 * (its position and text), on an empty text or item, a trailing comma, anything that is not a number, a value
 * out of range, a value not below its predecessor, or more than max items; *n is 0 then. */
rad_status rad_sched_parse_timesteps(const char *text, double *out, int max, int *n);

void rad_sched_free(rad_sched *s);

int rad_sched_steps(const rad_sched *s);
/* The timestep fed to the model at step i (0 <= i < steps); -1 outside. The grids (rad_sched_new): the float64
 * σ_i·1000 truncated toward zero, as the references' .to(torch.int64) makes it, returned as a double holding that
 * integer (999.0). An explicit schedule: diffusers' float32 σ_i·1000, fractional (856.7752685546875). */
double rad_sched_timestep(const rad_sched *s, int i);
/* σ_i as the float32 the references store, 0 <= i <= steps; σ_steps = 0. */
float rad_sched_sigma(const rad_sched *s, int i);

/* One step: velocity v at (x, σ_i) -> x holds the sample at σ_{i+1}. i must be the next step in order. */
rad_status rad_sched_step(rad_sched *s, int i, const float *velocity, float *x);

const char *rad_sched_kind_name(rad_sched_kind k);
#endif
