/* PNG output through libpng's simplified API (8-bit RGB, no interlace). */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "video/formats.h"

rad_status rad_write_png(const char *path, const uint8_t *rgb, int H, int W) {
    FILE *f = fopen(path, "wb");
    if (!f) return rad_err(RADIAL_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)W;
    img.height = (png_uint_32)H;
    img.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_stdio(&img, f, 0, rgb, (png_int_32)W * 3, NULL);
    char msg[sizeof img.message];
    memcpy(msg, img.message, sizeof msg);
    png_image_free(&img);
    int write_err = ferror(f);
    if (fclose(f) != 0 || write_err)
        return rad_err(RADIAL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (!ok) return rad_err(RADIAL_ERR_IO, "%s: libpng: %s", path, msg);
    return RAD_OK;
}

rad_status rad_write_png_frames(const char *pattern, const uint8_t *frames, int T, int H, int W) {
    size_t frame_bytes = (size_t)H * (size_t)W * 3;
    for (int t = 0; t < T; t++) {
        char path[4096];
        int n = snprintf(path, sizeof path, pattern, t);
        if (n < 0 || (size_t)n >= sizeof path)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame path for frame %d is too long", pattern, t);
        rad_status st = rad_write_png(path, frames + (size_t)t * frame_bytes, H, W);
        if (st != RAD_OK) return rad_err_prefix(st, "frame %d of %d (pattern %s): ", t, T, pattern);
    }
    return RAD_OK;
}
