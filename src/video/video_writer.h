/* Frame writers: uint8 RGB frames to a video file, the format chosen by the path.
 *   *.mp4             H.264 (libx264) in MP4, yuv420p, constant-quality CRF, +faststart (moov atom first).
 *                     Needs FFmpeg at build time (RAD_HAVE_FFMPEG); width and height must be even.
 *   *.y4m             YUV4MPEG2, 4:4:4, full-range BT.601 (see y4m_writer.c for why); lossless apart from the
 *                     RGB -> YCbCr rounding.
 *   name_%03d.png     one PNG per frame (libpng); the pattern holds exactly one integer conversion
 *                     (%d, %i, %u with an optional 0 flag and width), numbered from 0.
 *   *.png             a single PNG; only for a one-frame video.
 * Extensions are matched case-insensitively. Errors name the path. */
#ifndef RAD_VIDEO_WRITER_H
#define RAD_VIDEO_WRITER_H
#include <stdint.h>

#include "base/status.h"

/* frames: [T][H][W][3] RGB, row-major. fps in [1, 240] (mp4, y4m); crf in [0, 51] (mp4 only; 18 is visually
 * lossless, 23 is x264's default; 0 is mathematically lossless in YUV but uses the High 4:4:4 Predictive
 * profile, which browsers do not play). */
rad_status rad_video_write(const char *path, const uint8_t *frames, int T, int H, int W, int fps, int crf);
#endif
