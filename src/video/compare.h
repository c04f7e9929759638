/* Fidelity of one video to another, frame by frame: PSNR, SSIM, absolute differences. `radial compare` prints
 * these; the fast modes of issue 10 report them against the bf16 output.
 *
 * Frames are RGB, [H][W][3] floats on the 0..255 scale (video_reader.h). Per frame:
 *   mse        mean of (a - b)^2 over every pixel and channel; psnr = 10 log10(255^2 / mse) dB, +inf when the
 *              frames are equal (skimage.metrics.peak_signal_noise_ratio with data_range 255)
 *   mse_y, psnr_y   the same on luma
 *   ssim_*     SSIM of Wang et al. 2004 exactly as skimage.metrics.structural_similarity(a, b,
 *              gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255): a Gaussian window of
 *              sigma 1.5 truncated at radius 5 (11 taps, weights exp(-k^2 / 4.5) normalised to sum 1), separable;
 *              K1 = 0.01, K2 = 0.03, L = 255 (C1 = (K1 L)^2, C2 = (K2 L)^2); population (co)variances; the SSIM map
 *              is averaged over the pixels whose window lies inside the frame (skimage's crop of 5 pixels at
 *              each border, so no padding mode matters). ssim_c[3] per channel, ssim_rgb their mean (skimage
 *              with channel_axis=-1), ssim_y on luma. NAN when a side is under 11 pixels (skimage refuses those).
 *   luma       Y = 0.299 R + 0.587 G + 0.114 B (BT.601 weights, full range, not rounded), in double
 *   max_abs, mean_abs   of |a - b| over every pixel and channel, in 8-bit levels
 * Arithmetic is in double; sums run in a fixed order whatever the thread count, so results are reproducible,
 * and equal frames give mse 0 and every SSIM exactly 1.
 * Over the video (rad_cmp_summarize): mse is the mean of the frames' mse (they have one size), psnr comes from
 * that mse (not a mean of per-frame dB), the SSIMs and mean_abs are means over frames, max_abs the maximum;
 * psnr_min and ssim_rgb_min are the worst frame's, with its index. */
#ifndef RAD_VIDEO_COMPARE_H
#define RAD_VIDEO_COMPARE_H
#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

#define RAD_SSIM_WINDOW 11 /* taps of the Gaussian window; frames must be at least this wide and high for SSIM */
#define RAD_SSIM_SIGMA 1.5
#define RAD_SSIM_K1 0.01
#define RAD_SSIM_K2 0.03
#define RAD_CMP_PEAK 255.0 /* the data range: PSNR's peak and SSIM's L */

typedef struct rad_cmp_frame {
    double mse, mse_y;
    double psnr, psnr_y;
    double ssim_y, ssim_rgb, ssim_c[3];
    double max_abs, mean_abs;
} rad_cmp_frame;

typedef struct rad_cmp_summary {
    int64_t frames;
    double mse, mse_y, psnr, psnr_y;
    double ssim_y, ssim_rgb, ssim_c[3];
    double max_abs, mean_abs;
    double psnr_min, ssim_rgb_min;
    int64_t psnr_min_frame, ssim_rgb_min_frame;
} rad_cmp_summary;

/* 10 log10(255^2 / mse); +inf for mse 0. */
double rad_psnr(double mse);
/* Whether frames of W x H get an SSIM (both sides at least RAD_SSIM_WINDOW). */
bool rad_ssim_defined(int W, int H);
/* The 11 weights of the window (sum 1). */
void rad_ssim_weights(double w[RAD_SSIM_WINDOW]);

/* Work buffers for frames of W x H (each side in [1, 16384]; the products are checked before allocating). */
typedef struct rad_cmp rad_cmp;
rad_status rad_cmp_create(int W, int H, rad_cmp **out);
void rad_cmp_free(rad_cmp *c);
/* The metrics of frame b against frame a. */
rad_status rad_cmp_frame_metrics(rad_cmp *c, const float *a, const float *b, rad_cmp_frame *out);
/* SSIM of one plane pair ([H][W] doubles), as ssim_y (NAN when too small). */
rad_status rad_ssim_plane(rad_cmp *c, const double *x, const double *y, double *out);

/* The whole video from its n >= 1 frames. */
void rad_cmp_summarize(const rad_cmp_frame *frames, int64_t n, rad_cmp_summary *s);
#endif
