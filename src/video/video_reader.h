/* Reading a video, whatever its format, frame by frame as RGB floats on the 0..255 scale: the input side of
 * `radial compare`. The format comes from the path, as the writers choose it (video_writer.h), and else from
 * the file's first bytes:
 *   *.y4m                          YUV4MPEG2 (y4m_reader.h)
 *   name_%04d.png                  one PNG per frame (png_reader.h): the pattern as the writer takes it (one
 *                                  integer conversion; only the file name is a pattern), numbered from 0 as our
 *                                  writer numbers, or from 1 as ffmpeg's image2 muxer does when there is no
 *                                  frame 0; the frames end at the first number with no file
 *   *.png                          a single PNG: a one-frame video
 *   *.safetensors                  a `radial eval` output's video tensor (tensor_video.h)
 *   *.mp4 .mov .m4v .mkv .webm .avi   through FFmpeg (mp4_reader.h)
 * Other names: "YUV4MPEG2 " -> Y4M, the PNG signature -> PNG, else FFmpeg when the build has it.
 * The 8-bit formats give integer values; a tensor gives what tensor_video.h says. */
#ifndef RAD_VIDEO_VIDEO_READER_H
#define RAD_VIDEO_VIDEO_READER_H
#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_video_reader rad_video_reader;

typedef struct rad_video_info {
    int width, height;
    int64_t frames;       /* known at open (Y4M that can seek, PNG, tensors), else -1 (FFmpeg: the decoder decides) */
    char format[320];     /* what was read and how: "Y4M C444 full range, BT.601", "PNG frames 0-8" */
} rad_video_info;

/* tensor: the tensor to read from a safetensors file (NULL: tensor_video.h's default); ignored otherwise. */
rad_status rad_video_reader_open(const char *path, const char *tensor, rad_video_reader **out);
const rad_video_info *rad_video_reader_info(const rad_video_reader *r);
/* The next frame into rgb ([H][W][3]); *got = false (and RAD_OK) after the last one. */
rad_status rad_video_reader_next(rad_video_reader *r, float *rgb, bool *got);
void rad_video_reader_close(rad_video_reader *r);
#endif
