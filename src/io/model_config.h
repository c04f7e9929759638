/* Model configurations, read from config.json where present (diffusers or official keys) and otherwise
 * derived from tensor shapes; when both exist they must agree, else RADIAL_ERR_MODEL naming the tensor and
 * both shapes. Shapes of every tensor are checked again when a model loads. */
#ifndef RAD_MODEL_CONFIG_H
#define RAD_MODEL_CONFIG_H
#include "io/weights.h"

/* Latent channels of the Wan 2.1 VAE (z_dim), which the text-to-video DiT takes and predicts. */
#define RAD_LATENT_CHANNELS 16
/* Its compression: the first video frame alone, then each group of RAD_VAE_TIME_FACTOR frames, into one latent
 * frame; RAD_VAE_SPACE_FACTOR pixels per latent pixel along each axis. */
#define RAD_VAE_TIME_FACTOR 4
#define RAD_VAE_SPACE_FACTOR 8

/* Latent frames of a video of 4n+1 frames. */
static inline int64_t rad_latent_frames(int64_t video_frames) { return (video_frames - 1) / RAD_VAE_TIME_FACTOR + 1; }

typedef struct rad_dit_config {
    int dim, ffn_dim, num_heads, head_dim, num_layers;
    int in_dim, out_dim, text_dim, text_len, freq_dim;
    int patch_t, patch_h, patch_w; /* (1, 2, 2) */
    float eps;
} rad_dit_config;

typedef struct rad_t5_config {
    int vocab, d_model, num_heads, d_kv, d_ff, num_layers;
    int num_buckets, max_distance;
    float eps;
} rad_t5_config;

typedef struct rad_vae_config {
    int base_dim, z_dim, num_res_blocks;
    int dim_mult[4];
    int temporal_upsample[3]; /* decoder order: reversed temperal_downsample, i.e. {1, 1, 0} for Wan 2.1 */
    float latents_mean[16], latents_std[16];
} rad_vae_config;

rad_status rad_dit_config_detect(const rad_weights *w, rad_dit_config *out);
rad_status rad_t5_config_detect(const rad_weights *w, rad_t5_config *out);
rad_status rad_vae_config_detect(const rad_weights *w, rad_vae_config *out);
#endif
