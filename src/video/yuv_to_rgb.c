/* Y'CbCr -> RGB: see yuv_to_rgb.h for the matrix, the ranges and the chroma upsampling. */
#include "video/yuv_to_rgb.h"

const char *rad_yuv_matrix_name(rad_yuv_matrix m) {
    return m == RAD_YUV_BT709 ? "BT.709" : m == RAD_YUV_BT2020 ? "BT.2020" : "BT.601";
}

static uint8_t to_u8(float v) {
    v += 0.5f; /* round to nearest */
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

void rad_yuv_to_rgb(const rad_yuv_frame *f, int W, int H, rad_yuv_matrix m, bool full_range, uint8_t *rgb) {
    const double kr = m == RAD_YUV_BT709 ? 0.2126 : m == RAD_YUV_BT2020 ? 0.2627 : 0.299;
    const double kb = m == RAD_YUV_BT709 ? 0.0722 : m == RAD_YUV_BT2020 ? 0.0593 : 0.114;
    const double kg = 1.0 - kr - kb;
    const float cr_r = (float)(2.0 * (1.0 - kr)), cb_b = (float)(2.0 * (1.0 - kb));
    const float cb_g = (float)(2.0 * kb * (1.0 - kb) / kg), cr_g = (float)(2.0 * kr * (1.0 - kr) / kg);
    const float y_off = full_range ? 0.0f : 16.0f, y_scale = full_range ? 1.0f : 255.0f / 219.0f;
    const float c_scale = full_range ? 1.0f : 255.0f / 224.0f;
    const bool mono = !f->cb || !f->cr;
    for (int y = 0; y < H; y++) {
        const uint8_t *yr = f->y + (ptrdiff_t)y * f->y_stride;
        const ptrdiff_t crow = mono ? 0 : (ptrdiff_t)(y >> f->sub_y) * f->c_stride;
        uint8_t *out = rgb + (size_t)y * (size_t)W * 3;
        for (int x = 0; x < W; x++) {
            const float Y = ((float)yr[x] - y_off) * y_scale;
            if (mono) {
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = to_u8(Y);
                continue;
            }
            const int cx = x >> f->sub_x;
            const float cb = ((float)f->cb[crow + cx] - 128.0f) * c_scale;
            const float cr = ((float)f->cr[crow + cx] - 128.0f) * c_scale;
            out[3 * x] = to_u8(Y + cr_r * cr);
            out[3 * x + 1] = to_u8(Y - cb_g * cb - cr_g * cr);
            out[3 * x + 2] = to_u8(Y + cb_b * cb);
        }
    }
}
