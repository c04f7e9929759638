/* The per-format writers behind rad_video_write (video_writer.c), which has already checked the path's
 * format, the sizes (T, H, W >= 1, bounded, no overflow), fps and crf. */
#ifndef RAD_VIDEO_FORMATS_H
#define RAD_VIDEO_FORMATS_H
#include <stdint.h>

#include "base/status.h"

rad_status rad_write_png(const char *path, const uint8_t *rgb, int H, int W);
/* pattern: a printf pattern with exactly one integer conversion (checked by the caller). */
rad_status rad_write_png_frames(const char *pattern, const uint8_t *frames, int T, int H, int W);
rad_status rad_write_y4m(const char *path, const uint8_t *frames, int T, int H, int W, int fps);
rad_status rad_write_mp4(const char *path, const uint8_t *frames, int T, int H, int W, int fps, int crf);
#endif
