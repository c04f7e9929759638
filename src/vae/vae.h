/* Wan-VAE decoder (spec wan21.md §3): normalised latents [z, T, H, W] to video [3, 1 + 4(T-1), 8H, 8W].
 *
 * Decoding runs chunk by chunk, one latent frame at a time, exactly as the official WanVAE_.decode with its
 * feat_cache: every causal 3x3x3 conv keeps the last two frames of its input from the previous chunk, so
 * memory is one chunk's activations plus those caches, whatever the video length. The first chunk yields
 * one frame (upsample3d's "Rep" rule: time_conv never sees latent frame 0), the others 4 each. All compute
 * goes through the backend ops table; the latent and the video are host arrays. vae.c says what memory it
 * takes (2.14 GiB at 480x832 on CUDA, the caches 1.76 of it) and how the optional spatial tiling works. */
#ifndef RAD_VAE_H
#define RAD_VAE_H
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "io/model_config.h"
#include "io/weights.h"
#include "load/loader.h"

typedef struct rad_vae rad_vae;

/* Reads the decoder weights (official names; any layout rad_weights maps) and prepares them on `be`.
 * The configuration comes from rad_vae_config_detect. `be` must outlive the model. */
rad_status rad_vae_load(rad_backend *be, const rad_weights *w, rad_vae **out);
const rad_load_stats *rad_vae_load_stats(const rad_vae *v); /* what rad_vae_load read and how long it took */
void rad_vae_free(rad_vae *vae);

/* Output size for a latent of T x H x W: frames 1 + tf·(T-1), spatial factor sf (4 and 8 for Wan 2.1). */
int64_t rad_vae_out_frames(const rad_vae *vae, int64_t T);
int64_t rad_vae_spatial_factor(const rad_vae *vae);

/* Decodes latent_normalised (host, [z_dim, T, H, W], as the sampler leaves it: z = z_n·std + mean is applied
 * here) into video_out (host, [3, rad_vae_out_frames(T), sf·H, sf·W]), NOT clamped. */
rad_status rad_vae_decode(rad_vae *vae, const float *latent_normalised, int64_t T, int64_t H, int64_t W,
                          float *video_out);

/* Spatial tiling, as diffusers' AutoencoderKLWan.tiled_decode: with `tile` > 0, a video larger than tile x tile
 * pixels is decoded in overlapping tiles of tile pixels every 3/4 tile (diffusers: 256 every 192), each a whole
 * decode with its own caches, blended linearly over the overlaps. The working memory then follows the tile
 * (0.35 GiB for 256 on CUDA), not the frame, at about 1.7x the convolutions at 480x832; the pixels differ from
 * the whole-frame decode (vae.c gives a measurement; bench vae --vae-tile measures any case). 0 (the default):
 * the exact whole-frame decode. `tile` must be 0 or a multiple of 32. */
rad_status rad_vae_set_tiling(rad_vae *vae, int tile);

/* The working memory (rad_vae_stats.work_peak_bytes) a decode of 2 or more latent frames of H x W would take,
 * with tiling `tile` as rad_vae_set_tiling, on a backend whose conv_dtype is `conv_dtype` (RAD_DT_F32: the CPU;
 * RAD_DT_BF16: CUDA). Found by running the decode's own buffer handling on a backend that allocates and
 * computes nothing, so it is exact and takes a fraction of a second; only the shapes of w's tensors are used. */
rad_status rad_vae_plan_work(const rad_weights *w, int64_t H, int64_t W, rad_dtype conv_dtype, int tile,
                             size_t *bytes);

/* What the last decode cost. Times are wall clock on the host; conv_seconds is measured only with
 * rad_vae_set_conv_timing on (each convolution then waits for the device with the backend's sync, so it is the
 * convolutions' own time on an asynchronous backend too), else 0: a decode queues its ops without waiting. */
typedef struct rad_vae_stats {
    size_t weight_bytes;    /* weights, biases and gammas held on the backend */
    size_t work_peak_bytes; /* peak of the activation buffers + conv caches (the backend's own scratch aside) */
    double conv_flops;      /* 2 per multiply-add of every convolution */
    double conv_seconds, total_seconds;
} rad_vae_stats;
rad_vae_stats rad_vae_last_stats(const rad_vae *vae);
/* Called by rad_vae_decode after each latent frame (done of total; tiled: of each tile, total = tiles x frames);
 * a nonzero return cancels the decode. NULL: none. */
void rad_vae_set_progress(rad_vae *vae, int (*fn)(int done, int total, void *user), void *user);
/* on: time the convolutions (stats.conv_seconds) at the cost of a device wait around each one (benchmarks). */
void rad_vae_set_conv_timing(rad_vae *vae, bool on);

/* Video [3, F, H, W] in [-1, 1] (clamped here) to uint8 frames [F][H][W][3] the way the official saving
 * does it (torchvision make_grid with value_range (-1, 1), then `* 255` and a truncating cast):
 * u8 = (uint8)(((clamp(x, -1, 1) + 1) / 2) * 255), all in fp32. */
void rad_vae_to_u8(const float *video, int64_t F, int64_t H, int64_t W, uint8_t *frames);
#endif
