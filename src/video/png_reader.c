/* PNG reader through libpng's sequential read API: the transforms of png_reader.h, then every row. */
#include "video/png_reader.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "video/output_path.h"

/* What the callbacks and the decoder share; it lives in the caller's frame, outside the setjmp. */
typedef struct {
    const char *label;
    FILE *f;                /* reading a file, or */
    const uint8_t *data;    /* reading memory */
    size_t size, at;
    int read_errno;
    int nomem;
    char msg[256];
    rad_png_image img;
    png_bytep *rows;
} png_in;

static void on_error(png_structp png, png_const_charp msg) {
    png_in *in = png_get_error_ptr(png);
    snprintf(in->msg, sizeof in->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    png_in *in = png_get_error_ptr(png);
    RAD_DEBUG("%s: libpng: %s", in->label, msg);
}

static void read_file(png_structp png, png_bytep out, size_t n) {
    png_in *in = png_get_io_ptr(png);
    errno = 0;
    if (fread(out, 1, n, in->f) != n) {
        if (ferror(in->f)) {
            in->read_errno = errno ? errno : EIO;
            png_error(png, "read failed");
        }
        png_error(png, "the file ends early (truncated)");
    }
}

static void read_memory(png_structp png, png_bytep out, size_t n) {
    png_in *in = png_get_io_ptr(png);
    if (in->size - in->at < n) png_error(png, "the data ends early (truncated)");
    memcpy(out, in->data + in->at, n);
    in->at += n;
}

static void read_image(png_structp png, png_infop info, png_in *in) {
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    png_set_expand(png); /* palette -> RGB, grey below 8 bits -> 8, tRNS -> alpha */
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    if (!(ctype & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after the conversion to 8-bit RGB");
    const size_t row = (size_t)w * 3;
    size_t bytes;
    if (!rad_mul_size(row, (size_t)h, &bytes) || rad_alloc((void **)&in->img.rgb, bytes, "png image") != RAD_OK ||
        !(in->rows = malloc((size_t)h * sizeof *in->rows))) {
        in->nomem = 1;
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++) in->rows[y] = in->img.rgb + (size_t)y * row;
    png_read_image(png, in->rows);
    png_read_end(png, NULL);
    in->img.width = (int)w, in->img.height = (int)h;
}

/* 0 when read; 1 when libpng failed (in says why); -1 out of memory setting up libpng. */
static int decode(png_in *in) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, in, on_error, on_warning);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_read_fn(png, in, in->f ? read_file : read_memory);
    png_set_user_limits(png, RAD_VIDEO_MAX_SIDE, RAD_VIDEO_MAX_SIDE);
    read_image(png, info, in);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

static rad_status finish(png_in *in, int r, rad_png_image *out) {
    free(in->rows);
    if (r != 0) {
        rad_free(in->img.rgb);
        if (r < 0 || in->nomem) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory reading the PNG", in->label);
        if (in->read_errno) return rad_err(RADIAL_ERR_IO, "%s: read failed: %s", in->label, strerror(in->read_errno));
        return rad_err(RADIAL_ERR_FORMAT, "%s: not a readable PNG: %s", in->label, in->msg);
    }
    *out = in->img;
    return RAD_OK;
}

rad_status rad_png_read(const char *path, rad_png_image *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return rad_err(RADIAL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    png_in in = {.label = path, .f = f};
    const int r = decode(&in);
    fclose(f);
    return finish(&in, r, out);
}

rad_status rad_png_read_memory(const void *data, size_t size, const char *label, rad_png_image *out) {
    memset(out, 0, sizeof *out);
    png_in in = {.label = label ? label : "png", .data = data, .size = size};
    return finish(&in, decode(&in), out);
}

void rad_png_image_free(rad_png_image *img) {
    if (!img) return;
    rad_free(img->rgb);
    img->rgb = NULL;
}
