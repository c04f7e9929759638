/* The umT5 text encoder (encoder only), spec wan21.md §2.
 *
 *   x = token_embedding[ids]
 *   per layer:  x += o(attention(q, k, v of rmsnorm1(x), no 1/sqrt(d) scale, + relative position bias))
 *               x += fc2(fc1(h) * gelu_tanh(gate(h))),  h = rmsnorm2(x)
 *   hidden = rmsnorm(x)   (the final `norm`)
 * The relative position bias is per layer (umT5), from the bucket function of §2.2.
 *
 * The encoder runs on the real tokens only (ids including the trailing eos, no padding): pad keys are masked
 * in every layer and the bias depends only on j - i, so the rows of the real tokens are the same as in the
 * 512-token padded run of the reference (§2.4). The caller zero-pads the output to 512 rows for the DiT.
 *
 * Memory: the real encoder (umT5-XXL: vocab 256384, d_model 4096, 24 layers, d_ff 10240) has 5.68 B
 * parameters. In fp32 that is ~23 GB, of which ~4.2 GB is the embedding table and ~18.5 GB the 24 layers
 * (~0.77 GB each). How this is handled:
 *   - the embedding table is never converted: rad_t5_encode gathers only the rows of the given ids from the
 *     mapped file (bf16/fp16/fp32 source), so it costs no resident memory beyond the page cache;
 *   - the layer matrices are streamed weights (backend.h weight_new_host): the CUDA backend keeps them in
 *     page-locked host memory (bf16, ~9.3 GB; fp8 files as stored) and rad_t5_encode stages each half layer
 *     (attention: 134 MB, FFN: 252 MB in bf16) into one of two device buffers just ahead of its use, so the
 *     encoder's device memory is two such buffers plus a few hundred MB of activations (the bias table of
 *     64 heads x 512 x 512 is the largest), not the 9.3 GB of the layers. The CPU backend keeps fp32 layers
 *     (~18.5 GB). rad_t5_load converts one tensor at a time (one matrix of staging at most). */
#ifndef RAD_T5_H
#define RAD_T5_H
#include <stdint.h>

#include "backend/backend.h"
#include "io/model_config.h"
#include "io/weights.h"
#include "load/loader.h"

/* Longest input the encoder accepts: Wan tokenizes to at most 512 ids including eos (§2.3). */
#define RAD_T5_MAX_TOKENS 512

typedef struct rad_t5 rad_t5;

/* Detects the configuration (rad_t5_config_detect), checks every tensor's shape and converts the layer
 * weights for `be`. `w` must stay open until rad_t5_free: the embedding rows are read from it at encode
 * time. */
rad_status rad_t5_load(rad_backend *be, const rad_weights *w, rad_t5 **out);
const rad_load_stats *rad_t5_load_stats(const rad_t5 *t5); /* what rad_t5_load read and how long it took */

/* hidden_out (host, [n, d_model] fp32) = encoder output for ids[0..n), 1 <= n <= RAD_T5_MAX_TOKENS.
 * Ids outside [0, vocab) are RADIAL_ERR_INVALID_ARG naming the position and the value. */
rad_status rad_t5_encode(rad_t5 *t5, const int32_t *ids, int n, float *hidden_out);
/* rad_t5_encode of `count` prompts (1 to RAD_T5_MAX_PROMPTS) in one pass over the layers: each layer's weights
 * are staged once for all of them (the pipeline's prompt and negative prompt). */
#define RAD_T5_MAX_PROMPTS 8
rad_status rad_t5_encode_many(rad_t5 *t5, int count, const int32_t *const *ids, const int *n, float *const *hidden_out);

/* The configuration in use. */
const rad_t5_config *rad_t5_config_of(const rad_t5 *t5);

void rad_t5_free(rad_t5 *t5);

/* T5 relative position bucket (bidirectional) of rel = key position - query position (§2.2): exposed for
 * the tests. num_buckets even and >= 4, max_distance > num_buckets / 4. */
int rad_t5_rel_bucket(int64_t rel, int num_buckets, int max_distance);
#endif
