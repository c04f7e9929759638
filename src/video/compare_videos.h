/* Two videos compared frame by frame (video_reader.h reads them, compare.h measures): the work of
 * `radial compare` without its printing. Videos of different sizes are rejected, RADIAL_ERR_INVALID_ARG, with
 * a message naming both files and both sizes (width, height and frame count): before any frame is read when
 * the readers know their counts, otherwise when one video ends first (the other is read to its end to give its
 * count). */
#ifndef RAD_VIDEO_COMPARE_VIDEOS_H
#define RAD_VIDEO_COMPARE_VIDEOS_H
#include "video/compare.h"
#include "video/video_reader.h"

typedef struct rad_cmp_result {
    rad_video_info a, b;   /* frames: the count compared */
    rad_cmp_frame *frames; /* [summary.frames], malloc'ed */
    rad_cmp_summary summary;
} rad_cmp_result;

/* tensor_a, tensor_b: the tensor of a .safetensors input (NULL: tensor_video.h's default). */
rad_status rad_cmp_videos(const char *a, const char *b, const char *tensor_a, const char *tensor_b,
                          rad_cmp_result *out);
void rad_cmp_result_free(rad_cmp_result *r);
#endif
