/* 8-bit planar Y'CbCr to 8-bit RGB, the one conversion behind every video reader that sees YUV (y4m_reader.c,
 * mp4_reader.c), so that a Y4M file and an MP4 holding the same YUV planes read back as the same RGB.
 *
 * The matrix: with Kr, Kb of the standard (BT.601: 0.299, 0.114; BT.709: 0.2126, 0.0722; BT.2020: 0.2627,
 * 0.0593) and Kg = 1 - Kr - Kb, on Y, Cb, Cr scaled to full range (Y in [0, 255], Cb, Cr centred on 0)
 *   R = Y + 2 (1 - Kr) Cr
 *   G = Y - (2 Kb (1 - Kb) / Kg) Cb - (2 Kr (1 - Kr) / Kg) Cr
 *   B = Y + 2 (1 - Kb) Cb
 * (for BT.601: R = Y + 1.402 Cr, G = Y - 0.344136 Cb - 0.714136 Cr, B = Y + 1.772 Cb: the exact inverse of
 * y4m_writer.c's JFIF equations). Full range: Y as stored, Cb, Cr minus 128. Limited (MPEG) range:
 * Y = (Y' - 16) * 255/219, Cb, Cr = (C' - 128) * 255/224. Each result is rounded to nearest and clamped to
 * [0, 255]; the arithmetic is in float.
 *
 * Subsampled chroma (4:2:0, 4:2:2) is upsampled by sample replication: luma sample (x, y) takes chroma sample
 * (x >> 1, y >> 1) for 4:2:0, (x >> 1, y) for 4:2:2. That is what ffmpeg's default conversion to rgb24 does
 * (its unscaled yuv2rgb path), and so what Python pipelines that decode through it (imageio, PyAV) see; it is
 * exact for content that is constant over the 2x2 blocks a box filter averages (mp4_writer.c's SWS_AREA), and
 * it invents no colour at a sharp edge, where interpolating saturated chroma (bilinear) errs by 100+ levels.
 * A chroma plane is ceil(W / 2) wide (and ceil(H / 2) high for 4:2:0). */
#ifndef RAD_VIDEO_YUV_TO_RGB_H
#define RAD_VIDEO_YUV_TO_RGB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rad_yuv_matrix { RAD_YUV_BT601, RAD_YUV_BT709, RAD_YUV_BT2020 } rad_yuv_matrix;

/* The planes of one frame. cb and cr NULL: monochrome (R = G = B = the scaled Y). */
typedef struct rad_yuv_frame {
    const uint8_t *y, *cb, *cr;
    ptrdiff_t y_stride, c_stride; /* bytes from one row to the next */
    int sub_x, sub_y;             /* chroma halved horizontally / vertically: 4:2:0 is 1, 1; 4:2:2 is 1, 0 */
} rad_yuv_frame;

/* "BT.601", "BT.709", "BT.2020". */
const char *rad_yuv_matrix_name(rad_yuv_matrix m);

/* W x H pixels to rgb ([H][W][3], row-major). The caller has checked the sizes. */
void rad_yuv_to_rgb(const rad_yuv_frame *f, int W, int H, rad_yuv_matrix m, bool full_range, uint8_t *rgb);
#endif
