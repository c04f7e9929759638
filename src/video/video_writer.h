/* Frame writers: uint8 RGB frames to a video file, the format chosen by the path.
 *   *.mp4             H.264 (libx264) in MP4, yuv420p, constant-quality CRF, +faststart (moov atom first).
 *                     Needs FFmpeg at build time (RAD_HAVE_FFMPEG); width and height must be even.
 *   *.y4m             YUV4MPEG2, 4:4:4, full-range BT.601 (see y4m_writer.c for why); lossless apart from the
 *                     RGB -> YCbCr rounding.
 *   name_%03d.png     one PNG per frame (libpng); the pattern holds exactly one integer conversion
 *                     (%d, %i, %u with an optional 0 flag and width), numbered from 0. Only the file name is a
 *                     pattern: a '%' in the folder part is taken literally.
 *   *.png             a single PNG; only for a one-frame video.
 * Extensions are matched case-insensitively. Errors name the path.
 *
 * Every write is atomic (atomic_file.h): each file goes to `.<name>.XXXXXX.tmp` in its folder, is fsynced and
 * renamed over the destination only when complete; on any failure or cancel the temporary file is removed and
 * the destination is as it was. A PNG pattern is written in two phases: every frame to its own temporary file
 * first (cancel is polled between frames; a failure or cancel here leaves every destination untouched), then
 * all are renamed into place. If a rename fails part-way (a name taken by a folder, or by a file that appeared
 * meanwhile under no_overwrite), the frame files this call already put in place are removed again, but only
 * those that did not exist before the call; a frame that replaced an older file of the same name keeps the new
 * content (the older file is not restored), and no file this call did not write is ever removed.
 * The public entry points radial_video_check_path, radial_video_write and radial_default_write_params
 * (radial.h) are in video_writer.c. */
#ifndef RAD_VIDEO_WRITER_H
#define RAD_VIDEO_WRITER_H
#include <stdint.h>

#include "base/status.h"

/* The one implementation behind radial_video_write and rad_video_write. frames: [T][H][W][3] RGB, row-major.
 * params NULL: radial_default_write_params(). */
rad_status rad_video_write_ex(const char *path, const uint8_t *frames, int T, int H, int W,
                              const radial_write_params *params);

/* The default parameters with fps and crf set: fps in [1, 240] (mp4, y4m); crf in [0, 51] (mp4 only; 18 is
 * visually lossless, 23 is x264's default; 0 is mathematically lossless in YUV but uses the High 4:4:4
 * Predictive profile, which browsers do not play). Overwrites an existing file (atomically). */
rad_status rad_video_write(const char *path, const uint8_t *frames, int T, int H, int W, int fps, int crf);
#endif
