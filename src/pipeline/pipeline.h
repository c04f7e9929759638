/* Internals of the text-to-video pipeline that the CLI uses (radial generate, radial eval pipeline). */
#ifndef RAD_PIPELINE_H
#define RAD_PIPELINE_H
#include "backend/group.h"
#include "pipeline/parallel.h"
#include "base/status.h"
#include "pipeline/step_cache.h"
#include "radial.h"

/* radial_generate without the uint8 conversion: *video_out = rad_alloc'ed [3, frames, height, width],
 * unclamped VAE output; *frames_out = 1 + 4*(latent frames - 1). */
rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *g, float **video_out, int *frames_out,
                                 radial_timings *tm);

/* Tests: fn is called at every decision of the step cache (the indicators it read, what it decided). */
void rad_pipeline_set_cache_trace(radial_ctx *c, rad_step_cache_trace_fn fn, void *user);

/* Tests: fn is called before every DiT forward this rank runs, with the step (0-based), the CFG branch (0
 * conditional, 1 unconditional) and the Ulysses degree of the forward (1: this rank alone), so that a test sees
 * how the work was shared out, not only that the video came out the same. */
typedef void (*rad_forward_trace_fn)(void *user, int step, int branch, int degree);
void rad_pipeline_set_forward_trace(radial_ctx *c, rad_forward_trace_fn fn, void *user);

/* Multi-rank generation (issue 12; parallel.h says what runs where). g: this context's rank of a group whose
 * implementation moves this context's backend memory (loopback on the CPU, NCCL on CUDA); every rank has its own
 * context on the same model and calls rad_pipeline_generate with the same parameters. mode: AUTO, CFG, ULYSSES or
 * CFG_ULYSSES, resolved at each generation (rad_parallel_resolve: refused before any work when it cannot run).
 * CFG_ULYSSES splits g into its halves and pairs (rad_group_split, collective) at the first generation that runs
 * it; the context keeps and frees those sub-groups. Rank 0 returns the video; the other ranks return RAD_OK with
 * *video_out NULL (radial_generate: an empty video), having computed their share. A rank that fails aborts the
 * group and its sub-groups (the others then fail instead of waiting). The group stays the caller's. NULL: one
 * rank. */
rad_status rad_pipeline_set_parallel(radial_ctx *c, rad_group *g, rad_parallel mode);
/* The same with an NCCL group this context makes on its own CUDA backend (its device and stream) and frees with
 * it: rank `rank` of `size`, every rank with the same id (rad_group_nccl_id on one of them; the launcher passes
 * it on). Collective: returns once every rank has joined. */
rad_status rad_pipeline_join_nccl(radial_ctx *c, int rank, int size, const unsigned char id[RAD_NCCL_ID_BYTES],
                                  rad_parallel mode);
/* The plan a generation of g over `ranks` ranks in `mode` would run, from the model's DiT config alone (no
 * backend, nothing loaded): what `radial generate --gpus N` checks before it starts its ranks. */
rad_status rad_pipeline_check_parallel(const char *model_path, const radial_params *p, const radial_gen_params *g,
                                       int ranks, rad_parallel mode, rad_parallel_plan *plan);

/* The context's backend, to attach a profile to (backend/profile.h: radial bench pipeline --profile, tests). */
struct rad_backend *rad_pipeline_backend(radial_ctx *c);

#endif
