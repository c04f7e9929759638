/* The Wan 2.1 DiT (WanModel, spec wan21.md §1): one forward pass = one velocity prediction for one CFG branch.
 * All computation goes through the backend ops, so the same code runs on the CPU (fp32 oracle) and on CUDA. */
#ifndef RAD_DIT_H
#define RAD_DIT_H
#include <stdbool.h>

#include "attn/bsr.h"
#include "backend/backend.h"
#include "io/model_config.h"
#include "io/weights.h"
#include "load/loader.h"

typedef struct rad_dit rad_dit;

/* Self-attention layout for one forward. The caller decides per step (dense for the first steps, then this):
 * layers < dense_layers attend densely, layers >= dense_layers use `mask` (block-CSR over the video tokens,
 * mask->n_tokens must equal T·(H/2)·(W/2)). A NULL policy (or NULL mask) means dense everywhere. */
typedef struct rad_dit_attn_policy {
    const rad_bsr *mask;
    int dense_layers;
} rad_dit_attn_policy;

/* Reads the config (rad_dit_config_detect) and every tensor by its official name through the loader
 * (shape-checked, the LoRAs merged), then the loader's count: a tensor of the files that the DiT did not use
 * or a LoRA module that matched nothing is an error. `loras` may be NULL; `w` may be closed afterwards.
 * resident_blocks: blocks [0, resident_blocks) are kept on the backend, the others are streamed weights
 * (backend.h weight_new_host: host memory, staged one block ahead of its use: --offload); -1: all resident. */
rad_status rad_dit_load(rad_backend *be, const rad_weights *w, rad_lora *const *loras, size_t n_loras,
                        int resident_blocks, rad_dit **out);
void rad_dit_free(rad_dit *d);
const rad_dit_config *rad_dit_config_of(const rad_dit *d);
const rad_load_stats *rad_dit_load_stats(const rad_dit *d); /* what rad_dit_load read and how long it took */

/* The DiT's own activation buffers for a forward over `tokens` video tokens, one entry per buffer (the plan
 * docs/ARCHITECTURE.md "Memory" explains): what rad_dit_forward holds, for --verbose and the memory estimate. */
#define RAD_DIT_MAX_BUFFERS 24
typedef struct rad_dit_buffer {
    const char *name;
    size_t bytes;
} rad_dit_buffer;
typedef struct rad_dit_plan {
    int n;
    rad_dit_buffer buf[RAD_DIT_MAX_BUFFERS];
    size_t total;
} rad_dit_plan;
rad_status rad_dit_plan_activations(const rad_dit_config *c, int64_t tokens, rad_dit_plan *out);

/* Blocks resident on the backend (the rest are streamed). */
int rad_dit_resident_blocks(const rad_dit *d);
/* park: the resident matrices go to host memory and free the device (backend.h weight_park) while another phase
 * runs (the VAE decode); !park brings them back, which rad_dit_forward needs first. */
rad_status rad_dit_park(rad_dit *d, bool park);
bool rad_dit_parked(const rad_dit *d);
/* Frees the activation buffers (the next forward allocates them again): between generations, so that the VAE
 * decode does not sit beside them. */
void rad_dit_release(rad_dit *d);

/* v_out [16, T, H, W] (host) = DiT(x [16, T, H, W] host, timestep, context [L, text_dim] host, unpadded).
 * H and W must be even, T >= 1, 0 <= L <= text_len. Activation buffers are kept in `d` and reused while the
 * token count does not grow. */
rad_status rad_dit_forward(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                           int L, const rad_dit_attn_policy *policy, float *v_out);

/* ---- step caching (TeaCache and kin: src/pipeline/step_cache.h decides, the DiT skips) ----
 * A cache holds what one CFG branch needs to skip the blocks of a later forward: the residual the blocks added
 * in the last forward that ran them (x after the blocks minus x before), in backend memory, [tokens, dim] fp32.
 * It belongs to the caller (one per branch, kept across the steps of a generation) and is handed to
 * rad_dit_forward_cached, which calls `decide` once the time embedding is computed and before the blocks, with
 * host copies of e [dim] (time_embedding(sinusoid(t))) and e0 [6, dim] (time_projection(SiLU(e)), the tensors
 * TeaCache reads). *reuse = false: the blocks run and the residual is stored; true: the blocks (and the text
 * embedding only they read) are skipped and x += the stored residual; the head runs either way. Reusing needs a
 * residual stored by the same DiT over the same token count: otherwise the forward fails, naming it. */
typedef rad_status (*rad_dit_cache_decide_fn)(void *user, const float *e, const float *e0, int64_t dim, bool *reuse);
typedef struct rad_dit_cache rad_dit_cache;
rad_status rad_dit_cache_new(rad_backend *be, rad_dit_cache_decide_fn decide, void *user, rad_dit_cache **out);
void rad_dit_cache_free(rad_dit_cache *c);
size_t rad_dit_cache_bytes(const rad_dit_cache *c); /* backend memory the cache holds now */
/* rad_dit_forward with a step cache (NULL: rad_dit_forward). */
rad_status rad_dit_forward_cached(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                                  int L, const rad_dit_attn_policy *policy, rad_dit_cache *cache, float *v_out);

/* ---- Ulysses sequence parallelism (issue 12; docs/ARCHITECTURE.md "Multi-GPU") ----
 * `degree` ranks of `group` (degree == group->size; every rank its own rad_dit and backend context, the same
 * weights) compute one forward together: rank r holds the token range rad_split_range(N, degree, r) (uneven
 * when degree does not divide N: no padding) for the patch embedding, the norms, the modulation, the linear
 * layers, cross-attention and the FFN; around self-attention an all-to-all (backend.h all_to_all) gives it all N
 * tokens for heads [r·H/degree, (r+1)·H/degree), where RoPE runs (global positions by construction: it sees the
 * whole grid) and attention (the radial block mask is the same for every head); an all-to-all takes the output
 * back to the token split. The head's output is all-gathered, so every rank returns the whole velocity.
 * num_heads % degree must be 0 (12 heads: 2, 3, 4, 6; 40: 2, 4, 5, 8); other degrees are refused (no head
 * padding, no ring attention). NULL or degree 1: the single-rank forward. Every rank calls with the same
 * arguments; the step cache is not supported with degree > 1. */
typedef struct rad_dit_parallel {
    rad_group *group;
    int degree;
} rad_dit_parallel;
rad_status rad_dit_forward_parallel(rad_dit *d, const float *x, int T, int H, int W, float timestep,
                                    const float *context, int L, const rad_dit_attn_policy *policy,
                                    const rad_dit_parallel *par, float *v_out);

/* ---- for benchmarks and tests ---- */
/* A DiT of the given config with seeded random weights (no files). */
rad_status rad_dit_random(rad_backend *be, const rad_dit_config *c, uint64_t seed, int resident_blocks, rad_dit **out);
/* Runs block `layer` once more on the activations left by the last successful rad_dit_forward (same token
 * grid, same timestep and context): the unit of work that `radial bench dit` times. */
rad_status rad_dit_run_block(rad_dit *d, int layer, const rad_bsr *mask);
#endif
