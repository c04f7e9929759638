/* Internals of the text-to-video pipeline shared with the CLI's eval driver. */
#ifndef RAD_PIPELINE_H
#define RAD_PIPELINE_H
#include "base/status.h"
#include "radial.h"

/* The official default negative prompt (Wan shared_config.py). */
extern const char rad_default_negative_prompt[];

/* Checks width/height (multiples of 16) and rounds frames down to 4n+1 with a warning, as diffusers does. */
rad_status rad_check_video_size(int width, int height, int *frames);

/* radial_generate without the uint8 conversion: *video_out = rad_alloc'ed [3, frames, height, width],
 * unclamped VAE output; *frames_out = 1 + 4*(latent frames - 1). */
rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *g, float **video_out, int *frames_out,
                                 radial_timings *tm);

/* A seed from the clock and the process, for seed -1. */
int64_t rad_random_seed(void);
#endif
