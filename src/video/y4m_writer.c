/* YUV4MPEG2 output, 4:4:4, full-range BT.601 (the JFIF equations).
 * Why 4:4:4: the file then holds every pixel's colour (4:2:0 would average 2x2 chroma blocks, so a frame read
 * back would differ from what the engine made by far more than rounding); y4m is the lossless
 * interchange format here, and x264/ffmpeg read C444 directly.
 * Why full range: all 256 levels of Y, Cb, Cr stay available, so RGB -> YCbCr -> RGB returns within ±1-2 of
 * the original. The header says so (XCOLORRANGE=FULL) so that ffmpeg converts it back correctly.
 * Metadata: not stored. The format's only extension point is an X parameter in the header, a space-separated
 * token, and readers cap the header line (FFmpeg's y4m demuxer at about 96 bytes, x264's at 80; this header already
 * takes about 55), so a prompt does not fit; the pairs are dropped with an info message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "video/formats.h"

static uint8_t clamp_u8(float v) {
    v += 0.5f; /* round to nearest */
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* One frame: planes Y, Cb, Cr of H*W bytes each. */
static void rgb_to_yuv444(const uint8_t *rgb, size_t npix, uint8_t *out) {
    uint8_t *y = out, *cb = out + npix, *cr = out + 2 * npix;
    for (size_t i = 0; i < npix; i++) {
        float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        y[i] = clamp_u8(0.299f * r + 0.587f * g + 0.114f * b);
        cb[i] = clamp_u8(128.0f - 0.168736f * r - 0.331264f * g + 0.5f * b);
        cr[i] = clamp_u8(128.0f + 0.5f * r - 0.418688f * g - 0.081312f * b);
    }
}

rad_status rad_write_y4m(FILE *f, const char *dest, const uint8_t *frames, int T, int H, int W,
                         const radial_write_params *p) {
    if (p->n_meta > 0)
        RAD_INFO("%s: Y4M has no metadata field; %d key/value pair(s) not stored (write .mp4 or PNG to keep them)",
                 dest, p->n_meta);
    size_t npix = (size_t)H * (size_t)W;
    uint8_t *buf;
    RAD_TRY(rad_alloc((void **)&buf, npix * 3, "y4m frame"));
    rad_status st = RAD_OK;
    errno = 0;
    if (fprintf(f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C444 XCOLORRANGE=FULL\n", W, H, p->fps) < 0)
        st = rad_err(RADIAL_ERR_IO, "%s: write failed: %s", dest, strerror(errno ? errno : EIO));
    for (int t = 0; st == RAD_OK && t < T; t++) {
        st = rad_write_poll_cancel(p, dest, t, T);
        if (st != RAD_OK) break;
        rgb_to_yuv444(frames + (size_t)t * npix * 3, npix, buf);
        errno = 0;
        if (fputs("FRAME\n", f) < 0 || fwrite(buf, 1, npix * 3, f) != npix * 3)
            st = rad_err(RADIAL_ERR_IO, "%s: write failed at frame %d of %d: %s", dest, t, T,
                         strerror(errno ? errno : EIO));
    }
    rad_free(buf);
    return st;
}
