/* YUV4MPEG2 input: the files y4m_writer.c writes (4:4:4, full range) and those other tools write (ffmpeg's
 * 4:2:0 "C420jpeg", limited range), read frame by frame as 8-bit RGB.
 *
 * Accepted: 8-bit C444, C422, C420, C420jpeg, C420paldv, C420mpeg2 and Cmono (no C: 4:2:0, as the format
 * says); XCOLORRANGE=FULL or LIMITED (absent: limited, as ffmpeg reads it). Y4M has no matrix field: the matrix
 * is BT.601, the inverse of our writer's (yuv_to_rgb.h gives the equations and the chroma upsampling). The
 * interlacing (I) and aspect (A) fields are read and ignored: frames are taken as progressive pictures. Other
 * colour spaces (10-bit, alpha, 4:1:1) are RADIAL_ERR_UNSUPPORTED.
 * Rejected as RADIAL_ERR_FORMAT, with a message naming the file (and the frame): no "YUV4MPEG2" signature, a
 * header or FRAME line over 1024 bytes, no W or H, a size outside [1, 16384], a malformed number, a frame that
 * does not start with FRAME, a truncated frame. The frame count is known at open for a file that can seek
 * (every frame header is checked then, and a truncated last frame is found before anything is read). */
#ifndef RAD_VIDEO_Y4M_READER_H
#define RAD_VIDEO_Y4M_READER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/status.h"

typedef enum rad_y4m_chroma { RAD_Y4M_444, RAD_Y4M_422, RAD_Y4M_420, RAD_Y4M_MONO } rad_y4m_chroma;

typedef struct rad_y4m_info {
    int width, height;
    int fps_num, fps_den;   /* 0, 0 when the header has no F */
    rad_y4m_chroma chroma;
    char colorspace[16];    /* the C value as written ("444", "420jpeg"), "420jpeg" when absent */
    bool full_range;        /* XCOLORRANGE=FULL */
    int64_t frames;         /* counted at open; -1 for a stream that cannot seek (a pipe) */
    size_t frame_bytes;     /* the planes of one frame */
} rad_y4m_info;

typedef struct rad_y4m_reader rad_y4m_reader;

rad_status rad_y4m_open(const char *path, rad_y4m_reader **out);
/* A stream opened by the caller (fmemopen for the fuzzer); the reader owns it from here on, also on failure
 * (it is closed). label names it in messages. */
rad_status rad_y4m_open_stream(FILE *f, const char *label, rad_y4m_reader **out);
const rad_y4m_info *rad_y4m_get_info(const rad_y4m_reader *r);
/* The next frame into rgb ([H][W][3]); *got = false (and RAD_OK) after the last frame. */
rad_status rad_y4m_read(rad_y4m_reader *r, uint8_t *rgb, bool *got);
void rad_y4m_close(rad_y4m_reader *r);
#endif
