/* Internals of the text-to-video pipeline that the CLI uses (radial generate, radial eval pipeline). */
#ifndef RAD_PIPELINE_H
#define RAD_PIPELINE_H
#include "base/status.h"
#include "pipeline/step_cache.h"
#include "radial.h"

/* radial_generate without the uint8 conversion: *video_out = rad_alloc'ed [3, frames, height, width],
 * unclamped VAE output; *frames_out = 1 + 4*(latent frames - 1). */
rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *g, float **video_out, int *frames_out,
                                 radial_timings *tm);

/* Tests: fn is called at every decision of the step cache (the indicators it read, what it decided). */
void rad_pipeline_set_cache_trace(radial_ctx *c, rad_step_cache_trace_fn fn, void *user);

#endif
