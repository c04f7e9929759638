/* Any video as RGB float frames: the format chosen from the name or the first bytes (video_reader.h), then the
 * reader of that format; PNG frame sequences are handled here. */
#include "video/video_reader.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "video/mp4_reader.h"
#include "video/output_path.h"
#include "video/png_reader.h"
#include "video/tensor_video.h"
#include "video/y4m_reader.h"

typedef enum { SRC_Y4M, SRC_PNG, SRC_TENSOR, SRC_MP4 } src_kind;

struct rad_video_reader {
    src_kind kind;
    rad_video_info info;
    rad_y4m_reader *y4m;
    rad_mp4_reader *mp4;
    rad_tensor_video *tv;
    rad_output png;      /* the PNG file or pattern */
    int64_t png_first;   /* the number of the first frame file */
    rad_png_image held;  /* the first PNG frame, read at open for its size */
    int64_t next;        /* frames returned so far */
    uint8_t *u8;         /* one frame from an 8-bit reader */
};

const rad_video_info *rad_video_reader_info(const rad_video_reader *r) { return &r->info; }

void rad_video_reader_close(rad_video_reader *r) {
    if (!r) return;
    rad_y4m_close(r->y4m);
    rad_mp4_close(r->mp4);
    rad_tensor_video_close(r->tv);
    rad_png_image_free(&r->held);
    rad_free(r->u8);
    free(r);
}

static bool has_ext(const char *path, const char *ext) {
    const size_t n = strlen(path), k = strlen(ext);
    return n > k && !strcasecmp(path + n - k, ext);
}

/* The format from the first bytes, for a name that does not say. */
static rad_status sniff(const char *path, src_kind *kind) {
    FILE *f = fopen(path, "rb");
    if (!f) return rad_err(RADIAL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char b[16] = {0};
    const size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 10 && !memcmp(b, "YUV4MPEG2 ", 10)) {
        *kind = SRC_Y4M;
    } else if (n >= 8 && !memcmp(b, png_sig, 8)) {
        *kind = SRC_PNG;
    } else if (n >= 9 && b[8] == '{' && b[7] == 0 && b[6] == 0 && b[5] == 0) {
        *kind = SRC_TENSOR; /* an 8-byte little-endian header length, then the JSON header */
    } else {
#ifdef RAD_HAVE_FFMPEG
        *kind = SRC_MP4;
#else
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: not a Y4M, PNG or safetensors file, and this build has no FFmpeg "
                                               "to read other video formats", path);
#endif
    }
    return RAD_OK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A PNG file or pattern: the first frame's file, the count, the first frame (for the size). */
static rad_status open_png(rad_video_reader *r, const char *path) {
    if (has_ext(path, ".png"))
        RAD_TRY(rad_output_parse(path, 1, NULL, &r->png));
    else
        r->png.kind = RAD_OUT_PNG, r->png.path = path; /* a PNG by its content: one frame */
    char file[PATH_MAX], second[PATH_MAX];
    if (r->png.kind == RAD_OUT_PNG_SEQ) {
        RAD_TRY(rad_output_file(&r->png, 0, file, sizeof file));
        RAD_TRY(rad_output_file(&r->png, 1, second, sizeof second));
        r->png_first = is_file(file) ? 0 : 1;
        if (r->png_first == 1 && !is_file(second))
            return rad_err(RADIAL_ERR_IO, "%s: no frame files: neither %s nor %s exists", path, file, second);
        int64_t n = 0;
        for (; n < RAD_VIDEO_MAX_FRAMES; n++) {
            RAD_TRY(rad_output_file(&r->png, (int)(r->png_first + n), file, sizeof file));
            if (!is_file(file)) break;
        }
        if (n == RAD_VIDEO_MAX_FRAMES)
            return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: more than %d frame files", path, RAD_VIDEO_MAX_FRAMES);
        r->info.frames = n;
        RAD_TRY(rad_output_file(&r->png, (int)r->png_first, file, sizeof file));
        RAD_TRY(rad_output_file(&r->png, (int)(r->png_first + n - 1), second, sizeof second));
        snprintf(r->info.format, sizeof r->info.format, "PNG frames %s to %s", file + r->png.name_at,
                 second + r->png.name_at);
    } else {
        snprintf(file, sizeof file, "%s", path);
        r->info.frames = 1;
        snprintf(r->info.format, sizeof r->info.format, "PNG, one frame");
    }
    RAD_TRY(rad_png_read(file, &r->held));
    r->info.width = r->held.width, r->info.height = r->held.height;
    return RAD_OK;
}

static rad_status open_kind(rad_video_reader *r, const char *path, const char *tensor) {
    switch (r->kind) {
    case SRC_Y4M: {
        RAD_TRY(rad_y4m_open(path, &r->y4m));
        const rad_y4m_info *in = rad_y4m_get_info(r->y4m);
        r->info.width = in->width, r->info.height = in->height, r->info.frames = in->frames;
        snprintf(r->info.format, sizeof r->info.format, "Y4M C%s, %s%s range", in->colorspace,
                 in->chroma == RAD_Y4M_MONO ? "" : "BT.601 ", in->full_range ? "full" : "limited");
        return RAD_OK;
    }
    case SRC_PNG: return open_png(r, path);
    case SRC_TENSOR: {
        RAD_TRY(rad_tensor_video_open(path, tensor, &r->tv));
        const rad_tensor_video_info *in = rad_tensor_video_get_info(r->tv);
        r->info.width = in->width, r->info.height = in->height, r->info.frames = in->frames;
        snprintf(r->info.format, sizeof r->info.format, "safetensors %s", in->describe);
        return RAD_OK;
    }
    case SRC_MP4: {
        RAD_TRY(rad_mp4_open(path, &r->mp4));
        const rad_mp4_info *in = rad_mp4_get_info(r->mp4);
        r->info.width = in->width, r->info.height = in->height, r->info.frames = -1;
        snprintf(r->info.format, sizeof r->info.format, "%s (FFmpeg)", in->describe);
        return RAD_OK;
    }
    }
    return rad_err(RADIAL_ERR_INVALID_ARG, "%s: unknown reader", path);
}

rad_status rad_video_reader_open(const char *path, const char *tensor, rad_video_reader **out) {
    *out = NULL;
    if (!path || !*path) return rad_err(RADIAL_ERR_INVALID_ARG, "video input: empty path");
    rad_video_reader *r = calloc(1, sizeof *r);
    if (!r) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", path);
    rad_status st = RAD_OK;
    if (has_ext(path, ".y4m")) {
        r->kind = SRC_Y4M;
    } else if (has_ext(path, ".png")) {
        r->kind = SRC_PNG;
    } else if (has_ext(path, ".safetensors")) {
        r->kind = SRC_TENSOR;
    } else if (has_ext(path, ".mp4") || has_ext(path, ".mov") || has_ext(path, ".m4v") || has_ext(path, ".mkv") ||
               has_ext(path, ".webm") || has_ext(path, ".avi")) {
        r->kind = SRC_MP4;
    } else {
        st = sniff(path, &r->kind);
    }
    if (st == RAD_OK) st = open_kind(r, path, tensor);
    if (st == RAD_OK && r->kind != SRC_TENSOR)
        st = rad_alloc((void **)&r->u8, (size_t)r->info.width * (size_t)r->info.height * 3, "video frame");
    if (st != RAD_OK) {
        rad_video_reader_close(r);
        return st;
    }
    *out = r;
    return RAD_OK;
}

/* The next PNG frame into r->u8. */
static rad_status next_png(rad_video_reader *r, bool *got) {
    *got = false;
    if (r->next >= r->info.frames) return RAD_OK;
    const size_t bytes = (size_t)r->info.width * (size_t)r->info.height * 3;
    if (r->next == 0) {
        memcpy(r->u8, r->held.rgb, bytes);
        rad_png_image_free(&r->held);
        *got = true;
        return RAD_OK;
    }
    char file[PATH_MAX];
    RAD_TRY(rad_output_file(&r->png, (int)(r->png_first + r->next), file, sizeof file));
    rad_png_image img;
    RAD_TRY(rad_png_read(file, &img));
    rad_status st = RAD_OK;
    if (img.width != r->info.width || img.height != r->info.height) {
        char first[PATH_MAX];
        st = rad_output_file(&r->png, (int)r->png_first, first, sizeof first);
        if (st == RAD_OK)
            st = rad_err(RADIAL_ERR_FORMAT,
                         "%s: frame %lld is %dx%d (WxH), but %s is %dx%d; the frames of a video have "
                         "one size",
                         file, (long long)r->next, img.width, img.height, first, r->info.width, r->info.height);
    } else {
        memcpy(r->u8, img.rgb, bytes);
        *got = true;
    }
    rad_png_image_free(&img);
    return st;
}

rad_status rad_video_reader_next(rad_video_reader *r, float *rgb, bool *got) {
    *got = false;
    switch (r->kind) {
    case SRC_TENSOR: RAD_TRY(rad_tensor_video_read(r->tv, rgb, got)); break;
    case SRC_Y4M: RAD_TRY(rad_y4m_read(r->y4m, r->u8, got)); break;
    case SRC_MP4: RAD_TRY(rad_mp4_read(r->mp4, r->u8, got)); break;
    case SRC_PNG: RAD_TRY(next_png(r, got)); break;
    }
    if (!*got) return RAD_OK;
    if (r->kind != SRC_TENSOR) {
        const size_t n = (size_t)r->info.width * (size_t)r->info.height * 3;
        for (size_t i = 0; i < n; i++) rgb[i] = (float)r->u8[i];
    }
    r->next++;
    return RAD_OK;
}
