/* The Wan 2.1 DiT (WanModel, spec wan21.md §1): one forward pass = one velocity prediction for one CFG branch.
 * All computation goes through the backend ops, so the same code runs on the CPU (fp32 oracle) and on CUDA. */
#ifndef RAD_DIT_H
#define RAD_DIT_H
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
/* Frees the activation buffers (the next forward allocates them again): between generations, so that the VAE
 * decode does not sit beside them. */
void rad_dit_release(rad_dit *d);

/* v_out [16, T, H, W] (host) = DiT(x [16, T, H, W] host, timestep, context [L, text_dim] host, unpadded).
 * H and W must be even, T >= 1, 0 <= L <= text_len. Activation buffers are kept in `d` and reused while the
 * token count does not grow. */
rad_status rad_dit_forward(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                           int L, const rad_dit_attn_policy *policy, float *v_out);

/* ---- for benchmarks and tests ---- */
/* A DiT of the given config with seeded random weights (no files). */
rad_status rad_dit_random(rad_backend *be, const rad_dit_config *c, uint64_t seed, int resident_blocks, rad_dit **out);
/* Runs block `layer` once more on the activations left by the last successful rad_dit_forward (same token
 * grid, same timestep and context): the unit of work that `radial bench dit` times. */
rad_status rad_dit_run_block(rad_dit *d, int layer, const rad_bsr *mask);
#endif
