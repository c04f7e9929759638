/* YUV4MPEG2 reader: header and frame parsing, frame count, planes to RGB (yuv_to_rgb.c). What is accepted and
 * what is rejected is in y4m_reader.h. */
#include "video/y4m_reader.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/mem.h"
#include "video/output_path.h"
#include "video/yuv_to_rgb.h"

enum { Y4M_MAX_LINE = 1024 };

struct rad_y4m_reader {
    FILE *f;
    char *label;
    rad_y4m_info info;
    uint8_t *planes; /* one frame as stored, allocated at the first read */
    int64_t next;    /* index of the next frame */
    bool done;
};

const rad_y4m_info *rad_y4m_get_info(const rad_y4m_reader *r) { return &r->info; }

void rad_y4m_close(rad_y4m_reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->label);
    rad_free(r->planes);
    free(r);
}

/* "'abc'" or, for bytes that are not printable, their hex: what a message shows of a token read from a file. */
static void show(const char *s, size_t n, char *buf, size_t size) {
    size_t at = 0;
    bool printable = true;
    for (size_t i = 0; i < n; i++) printable &= isprint((unsigned char)s[i]) != 0;
    if (n > 24) n = 24;
    if (printable) {
        snprintf(buf, size, "'%.*s'", (int)n, s);
        return;
    }
    buf[0] = 0;
    for (size_t i = 0; i < n && at + 4 < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%02x", i ? " " : "bytes ", (unsigned char)s[i]);
}

/* Reads one line (without its '\n') into buf. *len = -1 at the end of the stream before any byte. A line
 * longer than Y4M_MAX_LINE - 1 bytes or one that ends without '\n' is an error naming `what`. */
static rad_status read_line(rad_y4m_reader *r, const char *what, char *buf, long *len) {
    size_t n = 0;
    for (;;) {
        const int c = fgetc(r->f);
        if (c == EOF) {
            if (ferror(r->f))
                return rad_err(RADIAL_ERR_IO, "%s: read failed in %s: %s", r->label, what,
                               strerror(errno ? errno : EIO));
            if (n == 0) {
                *len = -1;
                return RAD_OK;
            }
            return rad_err(RADIAL_ERR_FORMAT, "%s: the file ends inside %s (no end of line)", r->label, what);
        }
        if (c == '\n') break;
        if (n == Y4M_MAX_LINE - 1)
            return rad_err(RADIAL_ERR_FORMAT, "%s: %s is longer than %d bytes", r->label, what, Y4M_MAX_LINE - 1);
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    *len = (long)n;
    return RAD_OK;
}

/* A decimal number of 1-9 digits, nothing else. */
static bool parse_uint(const char *s, size_t n, long *out) {
    if (n == 0 || n > 9) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static rad_status parse_colorspace(rad_y4m_reader *r, const char *v, size_t n) {
    static const struct {
        const char *name;
        rad_y4m_chroma chroma;
    } known[] = {{"444", RAD_Y4M_444},     {"422", RAD_Y4M_422},       {"420", RAD_Y4M_420},
                 {"420jpeg", RAD_Y4M_420}, {"420paldv", RAD_Y4M_420}, {"420mpeg2", RAD_Y4M_420},
                 {"mono", RAD_Y4M_MONO}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == n && !memcmp(known[i].name, v, n)) {
            r->info.chroma = known[i].chroma;
            snprintf(r->info.colorspace, sizeof r->info.colorspace, "%s", known[i].name);
            return RAD_OK;
        }
    char s[80];
    show(v, n, s, sizeof s);
    return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: Y4M colour space C%s is not supported (8-bit 444, 422, 420, 420jpeg, "
                                           "420paldv, 420mpeg2 and mono are)", r->label, s);
}

static rad_status parse_header(rad_y4m_reader *r, char *line, size_t len) {
    static const char sig[] = "YUV4MPEG2";
    if (len < sizeof sig - 1 || memcmp(line, sig, sizeof sig - 1) ||
        (len > sizeof sig - 1 && line[sizeof sig - 1] != ' ')) {
        char s[80];
        show(line, len < 10 ? len : 10, s, sizeof s);
        return rad_err(RADIAL_ERR_FORMAT, "%s: not a YUV4MPEG2 file (it starts with %s, not 'YUV4MPEG2 ')", r->label,
                       s);
    }
    long w = -1, h = -1;
    snprintf(r->info.colorspace, sizeof r->info.colorspace, "420jpeg");
    r->info.chroma = RAD_Y4M_420;
    for (size_t at = sizeof sig - 1; at < len;) {
        while (at < len && line[at] == ' ') at++;
        size_t end = at;
        while (end < len && line[end] != ' ') end++;
        if (end == at) break;
        const char tag = line[at], *v = line + at + 1;
        const size_t n = end - at - 1;
        char s[80];
        show(line + at, end - at, s, sizeof s);
        if (tag == 'W' || tag == 'H') {
            long x;
            if (!parse_uint(v, n, &x) || x < 1 || x > RAD_VIDEO_MAX_SIDE)
                return rad_err(RADIAL_ERR_FORMAT, "%s: header field %s: the %s must be an integer in [1, %d]", r->label,
                               s, tag == 'W' ? "width" : "height", RAD_VIDEO_MAX_SIDE);
            *(tag == 'W' ? &w : &h) = x;
        } else if (tag == 'F') {
            const char *colon = memchr(v, ':', n);
            long num, den;
            if (!colon || !parse_uint(v, (size_t)(colon - v), &num) ||
                !parse_uint(colon + 1, n - (size_t)(colon - v) - 1, &den) || (den == 0) != (num == 0))
                return rad_err(RADIAL_ERR_FORMAT, "%s: header field %s: the frame rate must be N:D", r->label, s);
            r->info.fps_num = (int)num, r->info.fps_den = (int)den;
        } else if (tag == 'C') {
            RAD_TRY(parse_colorspace(r, v, n));
        } else if (tag == 'X' && n > 11 && !memcmp(v, "COLORRANGE=", 11)) {
            if (n == 15 && !memcmp(v + 11, "FULL", 4)) {
                r->info.full_range = true;
            } else if (n == 18 && !memcmp(v + 11, "LIMITED", 7)) {
                r->info.full_range = false;
            } else {
                return rad_err(RADIAL_ERR_FORMAT, "%s: header field %s: expected XCOLORRANGE=FULL or LIMITED", r->label,
                               s);
            }
        }
        /* I (interlacing), A (aspect), other X fields and unknown tags: not needed to read the pictures */
        at = end;
    }
    if (w < 0 || h < 0)
        return rad_err(RADIAL_ERR_FORMAT, "%s: the YUV4MPEG2 header has no %s", r->label,
                       w < 0 ? "width (W)" : "height (H)");
    r->info.width = (int)w, r->info.height = (int)h;
    const rad_y4m_chroma c = r->info.chroma;
    const size_t luma = (size_t)w * (size_t)h; /* at most 2^28: no overflow below */
    const size_t cw = c == RAD_Y4M_444 ? (size_t)w : (size_t)(w + 1) / 2,
                 ch = c == RAD_Y4M_420 ? (size_t)(h + 1) / 2 : (size_t)h;
    r->info.frame_bytes = c == RAD_Y4M_MONO ? luma : luma + 2 * cw * ch;
    return RAD_OK;
}

/* A frame header line: "FRAME", then optional parameters after a space. line_len -1: the end of the file. */
static rad_status check_frame_line(const rad_y4m_reader *r, const char *line, long len, int64_t t) {
    if (len >= 5 && !memcmp(line, "FRAME", 5) && (len == 5 || line[5] == ' ')) return RAD_OK;
    char s[80];
    show(line, (size_t)len, s, sizeof s);
    return rad_err(RADIAL_ERR_FORMAT, "%s: frame %lld does not start with 'FRAME' (found %s)", r->label, (long long)t,
                   s);
}

/* Every frame header from the current position to the end, each frame's data skipped; back to the start. */
static rad_status count_frames(rad_y4m_reader *r) {
    const off_t start = ftello(r->f);
    if (start < 0 || fseeko(r->f, 0, SEEK_END) != 0) {
        r->info.frames = -1; /* a pipe: frames are checked as they are read */
        clearerr(r->f);
        return RAD_OK;
    }
    const off_t size = ftello(r->f);
    if (size < 0 || fseeko(r->f, start, SEEK_SET) != 0)
        return rad_err(RADIAL_ERR_IO, "%s: cannot seek: %s", r->label, strerror(errno ? errno : EIO));
    char line[Y4M_MAX_LINE];
    int64_t t = 0;
    for (;; t++) {
        long len;
        char what[64];
        snprintf(what, sizeof what, "the header of frame %lld", (long long)t);
        RAD_TRY(read_line(r, what, line, &len));
        if (len < 0) break;
        RAD_TRY(check_frame_line(r, line, len, t));
        const off_t at = ftello(r->f);
        if (at < 0)
            return rad_err(RADIAL_ERR_IO, "%s: cannot tell the position: %s", r->label, strerror(errno ? errno : EIO));
        if ((uint64_t)(size - at) < (uint64_t)r->info.frame_bytes)
            return rad_err(RADIAL_ERR_FORMAT, "%s: frame %lld is truncated: %lld of its %zu bytes are in the file",
                           r->label, (long long)t, (long long)(size - at), r->info.frame_bytes);
        if (fseeko(r->f, at + (off_t)r->info.frame_bytes, SEEK_SET) != 0)
            return rad_err(RADIAL_ERR_IO, "%s: cannot seek: %s", r->label, strerror(errno ? errno : EIO));
    }
    r->info.frames = t;
    if (fseeko(r->f, start, SEEK_SET) != 0)
        return rad_err(RADIAL_ERR_IO, "%s: cannot seek: %s", r->label, strerror(errno ? errno : EIO));
    return RAD_OK;
}

rad_status rad_y4m_open_stream(FILE *f, const char *label, rad_y4m_reader **out) {
    *out = NULL;
    rad_y4m_reader *r = calloc(1, sizeof *r);
    char *name = strdup(label ? label : "y4m");
    if (!r || !name) {
        free(r);
        free(name);
        if (f) fclose(f);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", label ? label : "y4m");
    }
    r->f = f;
    r->label = name;
    char line[Y4M_MAX_LINE];
    long len;
    rad_status st = read_line(r, "the YUV4MPEG2 header", line, &len);
    if (st == RAD_OK && len < 0) st = rad_err(RADIAL_ERR_FORMAT, "%s: the file is empty", r->label);
    if (st == RAD_OK) st = parse_header(r, line, (size_t)len);
    if (st == RAD_OK) st = count_frames(r);
    if (st != RAD_OK) {
        rad_y4m_close(r);
        return st;
    }
    *out = r;
    return RAD_OK;
}

rad_status rad_y4m_open(const char *path, rad_y4m_reader **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rad_err(RADIAL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return rad_y4m_open_stream(f, path, out);
}

rad_status rad_y4m_read(rad_y4m_reader *r, uint8_t *rgb, bool *got) {
    *got = false;
    if (r->done) return RAD_OK;
    char line[Y4M_MAX_LINE], what[64];
    long len;
    snprintf(what, sizeof what, "the header of frame %lld", (long long)r->next);
    RAD_TRY(read_line(r, what, line, &len));
    if (len < 0) {
        r->done = true;
        return RAD_OK;
    }
    RAD_TRY(check_frame_line(r, line, len, r->next));
    const rad_y4m_info *in = &r->info;
    if (!r->planes) RAD_TRY(rad_alloc((void **)&r->planes, in->frame_bytes, "y4m frame"));
    const size_t n = fread(r->planes, 1, in->frame_bytes, r->f);
    if (n != in->frame_bytes) {
        if (ferror(r->f))
            return rad_err(RADIAL_ERR_IO, "%s: read failed in frame %lld: %s", r->label, (long long)r->next,
                           strerror(errno ? errno : EIO));
        return rad_err(RADIAL_ERR_FORMAT, "%s: frame %lld is truncated: %zu of its %zu bytes are in the file", r->label,
                       (long long)r->next, n, in->frame_bytes);
    }
    const int W = in->width, H = in->height;
    const size_t luma = (size_t)W * (size_t)H;
    const int sub_x = in->chroma == RAD_Y4M_420 || in->chroma == RAD_Y4M_422, sub_y = in->chroma == RAD_Y4M_420;
    const int cw = sub_x ? (W + 1) / 2 : W, ch = sub_y ? (H + 1) / 2 : H;
    const bool mono = in->chroma == RAD_Y4M_MONO;
    const rad_yuv_frame fr = {
        .y = r->planes,
        .cb = mono ? NULL : r->planes + luma,
        .cr = mono ? NULL : r->planes + luma + (size_t)cw * (size_t)ch,
        .y_stride = W,
        .c_stride = cw,
        .sub_x = sub_x,
        .sub_y = sub_y,
    };
    rad_yuv_to_rgb(&fr, W, H, RAD_YUV_BT601, in->full_range, rgb);
    r->next++;
    *got = true;
    return RAD_OK;
}
