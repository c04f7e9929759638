/* A video tensor in a safetensors file (what `radial eval vae` and `radial eval pipeline` write), read frame by
 * frame as RGB on the 0..255 scale of the 8-bit readers, in float, so that the float output is compared as it is
 * rather than after a rounding.
 *
 * Tensors (by name; the first of these the file holds unless one is named):
 *   video       [3, F, H, W], any float dtype, values in [-1, 1] (the VAE's output): clamped to [-1, 1] as
 *               the pipeline clamps, then v = (x + 1) / 2 * 255, not rounded
 *   frames_u8   [F, H, W, 3] uint8: the values as they are
 *   frames_f32  [F, 3, H, W], any float dtype, values in [0, 1]: clamped to [0, 1], then v = x * 255
 * PSNR with peak 255 and SSIM with L = 255 on the `video` scale are PSNR with peak 2 and SSIM with L = 2 on the
 * [-1, 1] values themselves (both are invariant to scaling the data and the range together); differences are
 * in 8-bit levels (divide by 127.5 for the [-1, 1] scale). A NaN is an error naming the file, the frame and the
 * position (the pipeline would write it as black: a comparison should show it, not hide it). */
#ifndef RAD_VIDEO_TENSOR_VIDEO_H
#define RAD_VIDEO_TENSOR_VIDEO_H
#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_tensor_video rad_tensor_video;

typedef struct rad_tensor_video_info {
    int width, height;
    int64_t frames;
    char describe[256]; /* "tensor 'video' F32 [3, 9, 64, 96], [-1, 1]" */
} rad_tensor_video_info;

/* name NULL: the first of video, frames_u8, frames_f32 that the file holds. */
rad_status rad_tensor_video_open(const char *path, const char *name, rad_tensor_video **out);
const rad_tensor_video_info *rad_tensor_video_get_info(const rad_tensor_video *v);
/* The next frame into rgb ([H][W][3] floats on 0..255); *got = false after the last one. */
rad_status rad_tensor_video_read(rad_tensor_video *v, float *rgb, bool *got);
void rad_tensor_video_close(rad_tensor_video *v);
#endif
