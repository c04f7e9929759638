/* Video input through FFmpeg (libavformat, libavcodec, libswscale): MP4 as mp4_writer.c writes it (H.264
 * yuv420p, BT.601 limited range) and whatever else libavformat opens (MOV, MKV, WebM, AVI), frame by frame as
 * 8-bit RGB. The first (best) video stream is decoded; every frame the decoder returns is one frame, in
 * presentation order (an MP4 edit list applies as libavformat applies it: frames it cuts are not returned).
 *
 * YUV to RGB: 8-bit planar 4:2:0, 4:2:2, 4:4:4 and grey frames tagged BT.601 (SMPTE 170M, BT.470BG; also
 * untagged), BT.709 or BT.2020 (non-constant luminance) go through yuv_to_rgb.c, the same conversion as the Y4M
 * reader, so that an MP4 and its Y4M dump read back alike; full range for the yuvj formats or a JPEG range tag,
 * limited otherwise. Every other pixel format or matrix goes through swscale to RGB24 (point sampling of the
 * chroma, like yuv_to_rgb.c's replication; accurate rounding) with the stream's colour space and range.
 * Without FFmpeg in the build every call fails with RADIAL_ERR_UNSUPPORTED. */
#ifndef RAD_VIDEO_MP4_READER_H
#define RAD_VIDEO_MP4_READER_H
#include <stdbool.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_mp4_info {
    int width, height;
    int64_t declared_frames; /* what the container says (0 when it does not); the decoder has the last word */
    char describe[160];      /* "h264 yuv420p, BT.601 limited range" */
} rad_mp4_info;

typedef struct rad_mp4_reader rad_mp4_reader;

rad_status rad_mp4_open(const char *path, rad_mp4_reader **out);
const rad_mp4_info *rad_mp4_get_info(const rad_mp4_reader *r);
/* The next frame into rgb ([H][W][3]); *got = false (and RAD_OK) after the last one. A frame whose size
 * differs from the stream's is an error. */
rad_status rad_mp4_read(rad_mp4_reader *r, uint8_t *rgb, bool *got);
void rad_mp4_close(rad_mp4_reader *r);
#endif
