/* The Radial Attention block mask (spec radial_attention.md §1.2), equal bit for bit to the reference
 * `gen_log_mask_shrinked(..., model_type="wan")` at HEAD, computed without token masks.
 *
 * The mask is square: n_blocks = ceil(frames * tokens_per_frame / block) block rows and columns, row-major,
 * 1 = the block is computed. As in the golden files (spec §6) the reference canvas is the video rounded up to
 * whole blocks, so when the token count is not a multiple of the block the last, partial block row and column
 * are dense. The mask is the same for every head, layer, step and batch element. */
#ifndef RAD_RADIAL_MASK_H
#define RAD_RADIAL_MASK_H
#include <stdint.h>

#include "attn/bsr.h"
#include "base/status.h"

typedef struct rad_radial_cfg {
    int64_t frames;           /* latent frames F (>= 1) */
    int64_t tokens_per_frame; /* tokens per latent frame, (H/16)*(W/16) for Wan */
    double decay;             /* the reference's decay_factor (> 0); 1.0 = paper, 0.2 = the Wan scripts */
    int32_t block;            /* block edge in tokens: 128 for Wan 2.1 */
} rad_radial_cfg;

/* Builds the block mask: *mask (rad_alloc'd, caller rad_free()s) is n_blocks x n_blocks bytes of 0/1. */
rad_status rad_radial_block_mask(const rad_radial_cfg *cfg, uint8_t **mask, int32_t *n_blocks);

/* The same mask as block-CSR over frames * tokens_per_frame tokens, built once per configuration and cached for
 * the life of the process (like the reference's MaskMap). The layout belongs to the cache: do not free it; it
 * stays valid until rad_radial_cache_clear(). Thread-safe. */
rad_status rad_radial_layout(const rad_radial_cfg *cfg, const rad_bsr **out);
/* Frees every cached layout (call when no layout from rad_radial_layout is in use any more). */
void rad_radial_cache_clear(void);

/* Latent frames and tokens per frame of a Wan 2.1 video, as the pipeline derives them: width and height must be
 * multiples of 16 (VAE 8x, patch 2x), video_frames of the form 4n+1 (the VAE's causal 4x time compression).
 * frames = (video_frames - 1) / 4 + 1, tokens_per_frame = (height / 16) * (width / 16). */
rad_status rad_radial_video_dims(int64_t width, int64_t height, int64_t video_frames, int64_t *frames,
                                 int64_t *tokens_per_frame);
#endif
