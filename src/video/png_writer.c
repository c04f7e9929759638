/* PNG output through libpng: 8-bit RGB, no interlace, an sRGB chunk (as libpng's simplified API writes), and
 * the metadata as text chunks before the image data: one per key/value pair, tEXt when the value is ASCII,
 * iTXt (UTF-8, uncompressed, no language tag) otherwise, so that a Chinese prompt survives. Keys are PNG
 * keywords (Latin-1, 1-79 characters; checked by rad_png_keyword). */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "video/formats.h"
#include "video/output_path.h"

struct rad_png_texts {
    int n;
    png_text *text;
    char (*keys)[80]; /* the keywords in Latin-1 */
};

void rad_png_texts_free(rad_png_texts *t) {
    if (!t) return;
    free(t->text);
    free(t->keys);
    free(t);
}

rad_status rad_png_texts_make(const char *dest, const char *const *meta, int n_meta, rad_png_texts **out) {
    *out = NULL;
    if (n_meta <= 0) return RAD_OK;
    rad_png_texts *t = calloc(1, sizeof *t);
    if (t) {
        t->text = calloc((size_t)n_meta, sizeof *t->text);
        t->keys = calloc((size_t)n_meta, sizeof *t->keys);
    }
    if (!t || !t->text || !t->keys) {
        rad_png_texts_free(t);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for %d PNG text chunks", dest, n_meta);
    }
    for (int i = 0; i < n_meta; i++) {
        rad_status s = rad_png_keyword(dest, meta[2 * i], t->keys[i]);
        if (s != RAD_OK) {
            rad_png_texts_free(t);
            return s;
        }
        const char *v = meta[2 * i + 1];
        int ascii = 1;
        for (const char *c = v; *c; c++) ascii &= (unsigned char)*c < 0x80;
        png_text *x = &t->text[i];
        x->compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        x->key = t->keys[i];
        x->text = (png_charp)(uintptr_t)v; /* png_set_text copies it */
        x->text_length = strlen(v);
    }
    t->n = n_meta;
    *out = t;
    return RAD_OK;
}

/* libpng's callbacks report through this (it lives in rad_write_png's frame, outside the setjmp). */
typedef struct {
    const char *dest;
    FILE *f;
    int write_errno;
    char msg[256];
} png_io;

static void on_error(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    snprintf(io->msg, sizeof io->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    RAD_DEBUG("%s: libpng: %s", io->dest, msg);
}

static void on_write(png_structp png, png_bytep data, size_t n) {
    png_io *io = png_get_io_ptr(png);
    if (fwrite(data, 1, n, io->f) != n) {
        io->write_errno = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

static void on_flush(png_structp png) { (void)png; /* the caller flushes and fsyncs the whole file */ }

static void write_image(png_structp png, png_infop info, const uint8_t *rgb, int H, int W,
                        const rad_png_texts *texts) {
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    if (texts && texts->n) png_set_text(png, info, texts->text, texts->n);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, rgb + (size_t)y * (size_t)W * 3);
    png_write_end(png, NULL);
}

/* 0 when written; 1 when libpng failed (io says why); -1 out of memory. */
static int encode(png_io *io, const uint8_t *rgb, int H, int W, const rad_png_texts *texts) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io, on_error, on_warning);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, io, on_write, on_flush);
    write_image(png, info, rgb, H, W, texts);
    png_destroy_write_struct(&png, &info);
    return 0;
}

rad_status rad_write_png(FILE *f, const char *dest, const uint8_t *rgb, int H, int W, const rad_png_texts *texts) {
    png_io io = {.dest = dest, .f = f};
    int r = encode(&io, rgb, H, W, texts);
    if (r < 0) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory setting up libpng", dest);
    if (r > 0 && io.write_errno) return rad_err(RADIAL_ERR_IO, "%s: write failed: %s", dest, strerror(io.write_errno));
    if (r > 0) return rad_err(RADIAL_ERR_IO, "%s: libpng: %s", dest, io.msg);
    return RAD_OK;
}
