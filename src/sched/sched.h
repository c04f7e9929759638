/* Flow-matching samplers: UniPC (order 2, bh2, predict-x0, lower-order final step, corrector from step 1 on)
 * on the official Wan grid or on the diffusers grid, and plain Euler on the official grid.
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
 * in order 0, 1, ..., steps-1 on the same latent. */
#ifndef RAD_SCHED_H
#define RAD_SCHED_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef enum rad_sched_kind {
    RAD_SCHED_UNIPC_OFFICIAL,  /* Wan's FlowUniPCMultistepScheduler: σ = shift(linspace(0.999, 0, N+1)[:N]) */
    RAD_SCHED_UNIPC_DIFFUSERS, /* diffusers UniPCMultistepScheduler(use_flow_sigmas): linspace(1, 1e-3, ...) */
    RAD_SCHED_EULER            /* x += (σ_{i+1} − σ_i)·v on the official grid */
} rad_sched_kind;

typedef struct rad_sched rad_sched;

/* steps in [1, 10000], shift > 0 (the official sample_shift, or diffusers' flow_shift), n_elems = latent size.
 * Fails on a grid whose fp32 sigmas are not strictly decreasing (the solver would divide by zero). */
rad_status rad_sched_new(rad_sched_kind kind, int steps, double shift, size_t n_elems, rad_sched **out);
void rad_sched_free(rad_sched *s);

int rad_sched_steps(const rad_sched *s);
/* The timestep fed to the model at step i (0 <= i < steps): (int64)(σ_i·1000), truncated, from the float64
 * grid as the references compute it. */
int64_t rad_sched_timestep(const rad_sched *s, int i);
/* σ_i as the float32 the references store, 0 <= i <= steps; σ_steps = 0. */
float rad_sched_sigma(const rad_sched *s, int i);

/* One step: velocity v at (x, σ_i) -> x holds the sample at σ_{i+1}. i must be the next step in order. */
rad_status rad_sched_step(rad_sched *s, int i, const float *velocity, float *x);

const char *rad_sched_kind_name(rad_sched_kind k);
#endif
