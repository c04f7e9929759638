/* Step caching (radial_gen_params.cache): which steps of a generation skip the DiT's transformer blocks, per CFG
 * branch. The DiT does the skipping (dit.h rad_dit_cache: x += the residual the blocks left in the last step that
 * ran them); this file decides, keeps the per-branch state and reports.
 *
 * TeaCache, as TeaCache4Wan2.1/teacache_generate.py (github.com/ali-vilab/TeaCache, file at commit 7c10efc, last
 * changed in 8ae3503) implements it in teacache_forward: per branch (its even/odd calls), the indicator is the time
 * embedding e (or e0 = time_projection(e) with use_ret_steps); from the second step on, its relative L1 change
 * since the branch's previous call, mean|cur - prev| / mean|prev|, rescaled by the published polynomial of the
 * model size, is accumulated; while the sum stays below the threshold the blocks are skipped, otherwise they run
 * and the sum restarts at 0. Calls before ret_steps and from cutoff_steps on always run (counted in calls, two per
 * step: without use_ret_steps the first and the last step, with it the first five steps and no cut-off).
 * radial's own additions, none of which changes a decision of the reference at a threshold above 0: threshold 0
 * skips nothing (the reference's polynomials go below zero, so there a negative sum can skip even at 0); a step
 * whose DiT differs from the previous step's (Wan 2.2's expert switch) runs like a warm-up step; without CFG the
 * conditional branch alone keeps its call numbers 2·step. The relative change is computed in float64 on the host
 * (the reference: float32 on the device, then a Python float), the polynomial in float64 as np.poly1d does.
 *
 * MagCache, as MagCache4Wan2.1/magcache_generate.py (github.com/Zehong-Ma/MagCache, file at commit df81cb1, last
 * changed in e1862e0) implements it in magcache_forward: no indicator is read; per branch, from call
 * int(2·steps · retention_ratio) on, the published magnitude ratio of the call (the residual's norm against the
 * previous step's, calibrated per model: mag_ratios, nearest-interpolated from its 50 steps to the run's) is
 * multiplied into a running ratio, |1 - ratio| summed into an error; while the error stays below the threshold
 * and at most K calls in a row were skipped, the blocks are skipped, otherwise they run and ratio, error and
 * count restart. (No cut-off: the last steps may skip.) radial's additions: a branch's first call and a call
 * after a model switch run the blocks (the reference has no residual there). Threshold 0 skips nothing by the
 * rule itself (the error is never below 0). */
#ifndef RAD_STEP_CACHE_H
#define RAD_STEP_CACHE_H
#include <stdbool.h>
#include <stddef.h>

#include "backend/backend.h"
#include "base/status.h"
#include "dit/dit.h"
#include "radial.h"

/* ---- the TeaCache rule (pure; the tests feed it recorded inputs) ---- */
typedef struct rad_teacache_rule {
    double thresh;        /* teacache_thresh */
    bool use_ret_steps;   /* e0 as the indicator and the retention-step schedule; else e */
    double coef[5];       /* the rescaling polynomial, highest power first (np.poly1d's order) */
    const char *coef_of;  /* the model those coefficients were fitted on ("Wan2.1 T2V 1.3B") */
    int ret_steps;        /* calls [0, ret_steps) always run: 2 (one step), with use_ret_steps 10 (five) */
    int cutoff_steps;     /* calls from cutoff_steps on always run: 2·steps - 2 (the last step), or 2·steps (none) */
} rad_teacache_rule;

/* The rule of the reference for a DiT of width `dim` and a run of `steps` steps: the 1.3B coefficients for dim
 * 1536, the 14B ones for 5120; any other width (the tiny test models) gets the 1.3B ones and *published = false. */
rad_status rad_teacache_rule_init(double thresh, bool use_ret_steps, int dim, int steps, rad_teacache_rule *out,
                                  bool *published);

/* One branch's state: the reference's accumulated_rel_l1_distance_{even,odd} and previous_e0_{even,odd}. */
typedef struct rad_teacache_state {
    double acc;
    float *prev; /* the indicator of the branch's last call (n floats), NULL before its first */
    size_t n;
} rad_teacache_state;
void rad_teacache_state_free(rad_teacache_state *st);

/* The decision for call `cnt` (2·step for the conditional branch, 2·step + 1 for the unconditional) with its
 * indicator ind[n]: *calc = run the blocks. force: run them whatever the rule says (a model switch; the sum
 * restarts as at a warm-up call). *rel (may be NULL): the relative L1 change used, NaN on a call that did not
 * compute one. */
rad_status rad_teacache_decide(const rad_teacache_rule *r, rad_teacache_state *st, int cnt, bool force, const float *ind,
                               size_t n, bool *calc, double *rel);

/* ---- the MagCache rule ---- */
#define RAD_MAGCACHE_MAX_STEPS 1000
typedef struct rad_magcache_rule {
    double thresh;          /* magcache_thresh */
    int K;                  /* magcache_K: at most K calls in a row skipped */
    double retention_ratio; /* calls [0, int(num_steps · retention_ratio)) always run */
    int num_steps;          /* calls: 2 · steps */
    int retention_calls;
    double ratios[2 * RAD_MAGCACHE_MAX_STEPS]; /* mag_ratios per call (cond, uncond interleaved) for this run */
    const char *ratios_of;  /* the model they were calibrated on ("Wan2.1 T2V 1.3B") */
    bool interpolated;      /* steps != 50: nearest_interp of the published 50 */
} rad_magcache_rule;

/* The rule for a DiT of width `dim` (1536: the T2V-1.3B ratios, 5120: T2V-14B; others the 1.3B ones and
 * *published = false) and a run of `steps` steps. */
rad_status rad_magcache_rule_init(double thresh, int K, double retention_ratio, int dim, int steps,
                                  rad_magcache_rule *out, bool *published);

/* One branch's state: accumulated_ratio, accumulated_err, accumulated_steps of the reference (per cnt % 2). */
typedef struct rad_magcache_state {
    double ratio, err;
    int steps;
} rad_magcache_state;
void rad_magcache_state_init(rad_magcache_state *st);

/* The decision for call `cnt` (as rad_teacache_decide; force: run the blocks, the state restarts). */
rad_status rad_magcache_decide(const rad_magcache_rule *r, rad_magcache_state *st, int cnt, bool force, bool *calc);

/* ---- the pipeline's side ---- */

/* What a generation's step cache decided at one forward (the tests record the indicators through it). */
typedef struct rad_step_cache_event {
    int step, branch;       /* branch 0 conditional, 1 unconditional */
    const float *e, *e0;    /* the forward's e [dim] and e0 [6, dim] */
    int64_t dim;
    double rel, acc;        /* TeaCache: the relative change (NaN when not computed) and the sum after the call;
                               MagCache: the running ratio and error after the call */
    bool computed;          /* the blocks ran */
} rad_step_cache_event;
typedef void (*rad_step_cache_trace_fn)(void *user, const rad_step_cache_event *ev);

typedef struct rad_step_cache rad_step_cache;
/* The step cache g->cache asks for, for a DiT of width `dim` (*out = NULL for RADIAL_CACHE_NONE). Says its rule
 * in the log. trace may be NULL. */
rad_status rad_step_cache_new(rad_backend *be, const radial_gen_params *g, int dim, rad_step_cache_trace_fn trace,
                              void *trace_user, rad_step_cache **out);
/* Before the forwards of step `step` (0-based) with DiT number `model` (Wan 2.2's expert index; 0 otherwise). */
void rad_step_cache_begin(rad_step_cache *c, int step, int model);
/* The DiT cache of branch 0 (conditional) or 1 (unconditional), for rad_dit_forward_cached. */
rad_dit_cache *rad_step_cache_branch(rad_step_cache *c, int branch);
/* After the last step: the log line of the steps skipped per branch, the counts into tm. */
void rad_step_cache_finish(const rad_step_cache *c, radial_timings *tm);
/* Backend memory the residuals hold now. */
size_t rad_step_cache_bytes(const rad_step_cache *c);
void rad_step_cache_free(rad_step_cache *c);

/* The per-generation settings (check_gen_params): a known method, a finite threshold >= 0. */
rad_status rad_step_cache_check(const radial_gen_params *g);
#endif
