/* rad_video_write: argument checks and the choice of format from the path. */
#include "video/video_writer.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "base/mem.h"
#include "video/formats.h"

#define RAD_VIDEO_MAX_SIDE 16384
#define RAD_VIDEO_MAX_FRAMES 100000

static bool ends_with_ci(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    if (n < m) return false;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)s[n - m + i]) != tolower((unsigned char)suffix[i])) return false;
    return true;
}

/* A frame pattern holds exactly one conversion %[0][width]{d,i,u} (width <= 2 digits); "%%" is a literal %.
 * Anything else that printf would interpret (%s, %n, %*d, %ld, %.3d, ...) is rejected, so the pattern can be
 * handed to snprintf with one int. */
static rad_status check_pattern(const char *path) {
    int conversions = 0;
    for (const char *p = path; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        const char *q = p + 1;
        if (*q == '0') q++;
        int digits = 0;
        while (isdigit((unsigned char)*q)) q++, digits++;
        if (digits > 2 || (*q != 'd' && *q != 'i' && *q != 'u'))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s: frame pattern: conversion at '%.8s' is not an integer conversion like %%03d", path,
                           p);
        conversions++;
        p = q;
    }
    if (conversions != 1)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame pattern must hold exactly one integer conversion like "
                                               "%%03d, found %d", path, conversions);
    return RAD_OK;
}

rad_status rad_video_write(const char *path, const uint8_t *frames, int T, int H, int W, int fps, int crf) {
    if (!path || !*path) return rad_err(RADIAL_ERR_INVALID_ARG, "video output: empty path");
    if (!frames) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no frames given", path);
    if (T < 1 || T > RAD_VIDEO_MAX_FRAMES)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame count %d is outside [1, %d]", path, T,
                       RAD_VIDEO_MAX_FRAMES);
    if (H < 1 || W < 1 || H > RAD_VIDEO_MAX_SIDE || W > RAD_VIDEO_MAX_SIDE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame size %dx%d (WxH) is outside [1, %d]", path, W, H,
                       RAD_VIDEO_MAX_SIDE);
    if (fps < 1 || fps > 240) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: fps %d is outside [1, 240]", path, fps);
    if (crf < 0 || crf > 51) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: crf %d is outside [0, 51]", path, crf);
    int64_t shape[4] = {T, H, W, 3};
    size_t bytes;
    RAD_TRY(rad_shape_bytes(shape, 4, 1, &bytes)); /* cannot overflow with the bounds above; kept as a guard */

    if (strchr(path, '%')) {
        if (!ends_with_ci(path, ".png"))
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s: a frame pattern (with %%) must end in .png, like frames_%%03d.png", path);
        RAD_TRY(check_pattern(path));
        return rad_write_png_frames(path, frames, T, H, W);
    }
    if (ends_with_ci(path, ".mp4")) return rad_write_mp4(path, frames, T, H, W, fps, crf);
    if (ends_with_ci(path, ".y4m")) return rad_write_y4m(path, frames, T, H, W, fps);
    if (ends_with_ci(path, ".png")) {
        if (T != 1)
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s: a single PNG holds one frame, the video has %d; use a pattern like "
                           "frames_%%03d.png, or .mp4 / .y4m", path, T);
        return rad_write_png(path, frames, H, W);
    }
    return rad_err(RADIAL_ERR_INVALID_ARG,
                   "%s: unknown video format; use .mp4, .y4m, .png (one frame) or a pattern like frames_%%03d.png",
                   path);
}
