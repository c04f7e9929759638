/* Internals of the text-to-video pipeline that the CLI uses (radial generate, radial eval pipeline). */
#ifndef RAD_PIPELINE_H
#define RAD_PIPELINE_H
#include "backend/group.h"
#include "base/status.h"
#include "pipeline/step_cache.h"
#include "radial.h"

/* radial_generate without the uint8 conversion: *video_out = rad_alloc'ed [3, frames, height, width],
 * unclamped VAE output; *frames_out = 1 + 4*(latent frames - 1). */
rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *g, float **video_out, int *frames_out,
                                 radial_timings *tm);

/* Tests: fn is called at every decision of the step cache (the indicators it read, what it decided). */
void rad_pipeline_set_cache_trace(radial_ctx *c, rad_step_cache_trace_fn fn, void *user);

/* CFG-parallel (issue 12): g (2 ranks, of a kind the context's backend runs: loopback on the CPU, NCCL on CUDA)
 * splits every CFG step of this context's generations: rank 0 computes the conditional branch, rank 1 the
 * unconditional one, the velocities are exchanged once per step (all_gather) and both ranks combine and step the
 * same latent, so each returns the single-rank video. Both ranks generate with the same parameters (each
 * encodes the prompts and decodes the video itself). NULL: off. Step caching is refused with it. The group
 * stays the caller's; a failing rank aborts it. */
rad_status rad_pipeline_set_cfg_group(radial_ctx *c, rad_group *g);

/* The context's backend, to attach a profile to (backend/profile.h: radial bench pipeline --profile, tests). */
struct rad_backend *rad_pipeline_backend(radial_ctx *c);

#endif
