/* Video readers: Y4M (our writer's 4:4:4 read back; 4:2:0, 4:2:2 and mono files made here, converted as the
 * equations say; the frame count; a pipe; a corpus of malformed headers and frames), PNG (every colour type
 * libpng writes, converted to 8-bit RGB; malformed files), eval tensors (layouts, clamping, NaN, bad shapes),
 * the format dispatch (patterns from 0 and 1, a frame of another size, sniffing) and FFmpeg input that is not a
 * video. Every rejection must be an error with a message naming the file, never a crash (make sanitize runs
 * this under ASan and UBSan). */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "video/mp4_reader.h"
#include "video/png_reader.h"
#include "video/tensor_video.h"
#include "video/video_reader.h"
#include "video/video_writer.h"
#include "video/y4m_reader.h"

static char dir[256];

static const char *tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

/* The documented conversion (yuv_to_rgb.h) in double, for the expected values. */
static int expect_rgb(double Y, double cb, double cr, bool full, int c) {
    if (!full) Y = (Y - 16) * 255 / 219, cb = (cb - 128) * 255 / 224, cr = (cr - 128) * 255 / 224;
    else cb -= 128, cr -= 128;
    const double kr = 0.299, kb = 0.114, kg = 1 - kr - kb;
    const double v = c == 0   ? Y + 2 * (1 - kr) * cr
                     : c == 1 ? Y - 2 * kb * (1 - kb) / kg * cb - 2 * kr * (1 - kr) / kg * cr
                              : Y + 2 * (1 - kb) * cb;
    return v < 0 ? 0 : v > 255 ? 255 : (int)floor(v + 0.5);
}

/* ---- Y4M ------------------------------------------------------------------------------------------------ */

static void test_y4m_writer_round_trip(void) {
    enum { T = 3, H = 20, W = 26 };
    static uint8_t frames[T][H][W][3], back[H][W][3];
    uint64_t s = 7;
    for (size_t i = 0; i < sizeof frames; i++) (&frames[0][0][0][0])[i] = (uint8_t)((rad_test_uniform(&s) + 1) * 127.9);
    char path[512];
    CHECK_OK(rad_video_write(tmp(path, sizeof path, "w.y4m"), &frames[0][0][0][0], T, H, W, 16, 18));
    rad_y4m_reader *r;
    CHECK_OK(rad_y4m_open(path, &r));
    if (!r) return;
    const rad_y4m_info *in = rad_y4m_get_info(r);
    CHECK(in->width == W && in->height == H && in->frames == T && in->chroma == RAD_Y4M_444 && in->full_range);
    CHECK(in->fps_num == 16 && in->fps_den == 1 && !strcmp(in->colorspace, "444"));
    int worst = 0, t = 0;
    for (bool got = true; got; t += got) {
        CHECK_OK(rad_y4m_read(r, &back[0][0][0], &got));
        for (size_t i = 0; got && t < T && i < sizeof back; i++) {
            const int d = abs((&back[0][0][0])[i] - (&frames[t][0][0][0])[i]);
            if (d > worst) worst = d;
        }
    }
    CHECK(t == T);
    printf("  y4m writer -> reader: %d frames, max |RGB - original| = %d\n", t, worst);
    CHECK(worst <= 2);
    bool got = true;
    CHECK_OK(rad_y4m_read(r, &back[0][0][0], &got)); /* after the end: still the end */
    CHECK(!got);
    rad_y4m_close(r);
    unlink(path);
}

/* A 4:2:0 file (odd size 5x3, limited range, no C field = 420jpeg): chroma planes 3x2, replicated. */
static void test_y4m_420(void) {
    enum { W = 5, H = 3, CW = 3, CH = 2 };
    const char *hdr = "YUV4MPEG2 W5 H3 F25:1 Ip A0:0 XYSCSS=420JPEG\nFRAME\n";
    uint8_t data[256];
    size_t n = strlen(hdr);
    memcpy(data, hdr, n);
    uint8_t *y = data + n, *cb = y + W * H, *cr = cb + CW * CH;
    for (int i = 0; i < W * H; i++) y[i] = (uint8_t)(16 + i * 14);
    for (int i = 0; i < CW * CH; i++) cb[i] = (uint8_t)(40 + i * 35), cr[i] = (uint8_t)(230 - i * 30);
    n += W * H + 2 * CW * CH;
    char path[512];
    write_bytes(tmp(path, sizeof path, "c420.y4m"), data, n);
    rad_y4m_reader *r;
    CHECK_OK(rad_y4m_open(path, &r));
    if (!r) return;
    const rad_y4m_info *in = rad_y4m_get_info(r);
    CHECK(in->chroma == RAD_Y4M_420 && !in->full_range && in->frames == 1 && !strcmp(in->colorspace, "420jpeg"));
    uint8_t rgb[H][W][3];
    bool got;
    CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
    CHECK(got);
    int bad = 0;
    for (int py = 0; py < H; py++)
        for (int px = 0; px < W; px++)
            for (int c = 0; c < 3; c++) {
                const int ci = (py / 2) * CW + px / 2;
                const int want = expect_rgb(y[py * W + px], cb[ci], cr[ci], false, c);
                if (abs(rgb[py][px][c] - want) > 0) bad++;
            }
    printf("  y4m 4:2:0 limited: %d of %d values differ from the equations\n", bad, W * H * 3);
    CHECK(bad == 0);
    CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
    CHECK(!got);
    rad_y4m_close(r);
    unlink(path);
}

/* 4:2:2 full range (odd width) and mono, two frames each, FRAME lines with parameters. */
static void test_y4m_422_mono(void) {
    enum { W = 3, H = 2, CW = 2 };
    char path[512];
    uint8_t data[256];
    size_t n = (size_t)sprintf((char *)data, "YUV4MPEG2 W3 H2 C422 XCOLORRANGE=FULL\n");
    for (int t = 0; t < 2; t++) {
        n += (size_t)sprintf((char *)data + n, t ? "FRAME Ixyz\n" : "FRAME\n");
        for (int i = 0; i < W * H; i++) data[n++] = (uint8_t)(50 * t + 30 * i);
        for (int i = 0; i < CW * H; i++) data[n++] = (uint8_t)(100 + 20 * i); /* Cb */
        for (int i = 0; i < CW * H; i++) data[n++] = (uint8_t)(200 - 25 * i); /* Cr */
    }
    write_bytes(tmp(path, sizeof path, "c422.y4m"), data, n);
    rad_y4m_reader *r;
    CHECK_OK(rad_y4m_open(path, &r));
    if (r) {
        CHECK(rad_y4m_get_info(r)->frames == 2 && rad_y4m_get_info(r)->chroma == RAD_Y4M_422);
        uint8_t rgb[H][W][3];
        bool got;
        int bad = 0;
        const uint8_t *y = data + strlen("YUV4MPEG2 W3 H2 C422 XCOLORRANGE=FULL\nFRAME\n");
        CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
        for (int py = 0; py < H; py++)
            for (int px = 0; px < W; px++)
                for (int c = 0; c < 3; c++) {
                    const int ci = py * CW + px / 2;
                    bad += rgb[py][px][c] != expect_rgb(y[py * W + px], y[W * H + ci], y[W * H + CW * H + ci], true, c);
                }
        CHECK(got && bad == 0);
        CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
        CHECK(got && rgb[0][0][0] == expect_rgb(50, 100, 200, true, 0));
        CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
        CHECK(!got);
        rad_y4m_close(r);
    }
    n = (size_t)sprintf((char *)data, "YUV4MPEG2 W2 H1 Cmono\nFRAME\n");
    data[n++] = 16, data[n++] = 235;
    write_bytes(path, data, n);
    CHECK_OK(rad_y4m_open(path, &r));
    if (r) {
        uint8_t rgb[1][2][3];
        bool got;
        CHECK_OK(rad_y4m_read(r, &rgb[0][0][0], &got));
        CHECK(got && rgb[0][0][0] == 0 && rgb[0][0][1] == 0 && rgb[0][0][2] == 0);
        CHECK(rgb[0][1][0] == 255 && rgb[0][1][1] == 255 && rgb[0][1][2] == 255);
        rad_y4m_close(r);
    }
    unlink(path);
}

/* A stream that cannot seek (a pipe, filled before it is read): the count is unknown, the frames still come,
 * a truncated one is an error. */
static void test_y4m_pipe(void) {
    uint8_t data[128];
    size_t n = (size_t)sprintf((char *)data, "YUV4MPEG2 W2 H2 C444 XCOLORRANGE=FULL\n");
    for (int t = 0; t < 2; t++) {
        n += (size_t)sprintf((char *)data + n, "FRAME\n");
        memset(data + n, 128, 12);
        n += 12;
    }
    int fd[2];
    CHECK(pipe(fd) == 0);
    CHECK(write(fd[1], data, n - 5) == (ssize_t)(n - 5)); /* the last frame cut short */
    close(fd[1]);
    FILE *p = fdopen(fd[0], "rb");
    CHECK(p != NULL);
    if (!p) return;
    rad_y4m_reader *r;
    CHECK_OK(rad_y4m_open_stream(p, "pipe", &r)); /* the reader owns p now */
    if (!r) return;
    CHECK(rad_y4m_get_info(r)->frames == -1);
    uint8_t rgb[12];
    bool got;
    CHECK_OK(rad_y4m_read(r, rgb, &got));
    CHECK(got && rgb[0] == 128);
    CHECK_FAILS(rad_y4m_read(r, rgb, &got));
    CHECK(strstr(rad_last_error(), "pipe") && strstr(rad_last_error(), "truncated"));
    rad_y4m_close(r);
}

static void test_y4m_malformed(void) {
    static char long_header[1200];
    memset(long_header, 0, sizeof long_header);
    memcpy(long_header, "YUV4MPEG2 W2 H2 X", 17);
    memset(long_header + 17, 'a', 1100);
    long_header[1117] = '\n';
    const struct {
        const char *data;
        size_t n; /* 0: strlen */
        const char *why;
    } bad[] = {
        {"", 0, "empty"},
        {"YUV4MPEG", 0, "short signature"},
        {"YUV4MPEG2 W2 H2", 0, "no end of header line"},
        {"YUV4MPEG2X W2 H2\n", 0, "signature glued to a field"},
        {"RIFF\x10\0\0\0WAVEfmt \n", 17, "another format"},
        {"YUV4MPEG2 W4\n", 0, "no H"},
        {"YUV4MPEG2 H4\n", 0, "no W"},
        {"YUV4MPEG2 W0 H4\n", 0, "zero width"},
        {"YUV4MPEG2 W99999 H4\n", 0, "width over 16384"},
        {"YUV4MPEG2 W4x H4\n", 0, "junk after a number"},
        {"YUV4MPEG2 W-4 H4\n", 0, "negative"},
        {"YUV4MPEG2 W4 H1234567890\n", 0, "too many digits"},
        {"YUV4MPEG2 W4 H4 Cfoo\n", 0, "unknown colour space"},
        {"YUV4MPEG2 W4 H4 C420p10\n", 0, "10-bit"},
        {"YUV4MPEG2 W4 H4 C444alpha\n", 0, "alpha"},
        {"YUV4MPEG2 W4 H4 F30\n", 0, "frame rate without ':'"},
        {"YUV4MPEG2 W4 H4 F30:0\n", 0, "frame rate with a zero denominator"},
        {"YUV4MPEG2 W4 H4 XCOLORRANGE=MAYBE\n", 0, "bad range"},
        {long_header, 0, "header over 1024 bytes"},
        {"YUV4MPEG2 W2 H2 C444\nFRAMX\n123456789012", 0, "bad frame marker"},
        {"YUV4MPEG2 W2 H2 C444\nFRAMES\n123456789012", 0, "frame marker glued to a word"},
        {"YUV4MPEG2 W2 H2 C444\nFRAME\n12345678901", 0, "truncated frame"},
        {"YUV4MPEG2 W2 H2 C444\nFRAME\n123456789012FRA", 0, "truncated second frame header"},
        {"YUV4MPEG2 W2 H2 C444\nFRAME", 0, "frame header without end of line"},
        {"YUV4MPEG2 W16384 H16384 C444\nFRAME\n", 0, "a huge frame that is not in the file"},
        {"YUV4MPEG2 W2 H2\0 C444\n", 21, "a NUL in the header"},
    };
    char path[512];
    tmp(path, sizeof path, "bad.y4m");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_bytes(path, bad[i].data, bad[i].n ? bad[i].n : strlen(bad[i].data));
        rad_y4m_reader *r = NULL;
        const rad_status st = rad_y4m_open(path, &r);
        if (st == RAD_OK) { /* a bad header or first frame is found at open, for a file */
            fprintf(stderr, "accepted a malformed y4m (%s)\n", bad[i].why);
            rad_test_failures++;
            rad_y4m_close(r);
            continue;
        }
        CHECK(r == NULL);
        CHECK(strstr(rad_last_error(), path) != NULL);
        printf("  %-40s rejected: %s\n", bad[i].why, rad_last_error() + strlen(path) + 2);
    }
    CHECK_FAILS(rad_y4m_open(tmp(path, sizeof path, "does-not-exist.y4m"), &(rad_y4m_reader *){NULL}));
    unlink(tmp(path, sizeof path, "bad.y4m"));
}

/* ---- PNG ------------------------------------------------------------------------------------------------ */

/* Writes a PNG of the given colour type and depth with libpng: rows of `row_bytes` from data. */
static int write_png_raw(const char *path, int W, int H, int depth, int ctype, int interlace, const uint8_t *data,
                         size_t row_bytes, const png_color *palette, int n_palette, const png_bytep trans,
                         int n_trans) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    if (trans) png_set_tRNS(png, info, trans, n_trans, NULL);
    png_write_info(png, info);
    const int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < H; y++) png_write_row(png, data + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

static void check_png(const char *path, int W, int H, const uint8_t *want, const char *what) {
    rad_png_image img;
    CHECK_OK(rad_png_read(path, &img));
    CHECK(img.width == W && img.height == H);
    const bool same = img.rgb && img.width == W && img.height == H && !memcmp(img.rgb, want, (size_t)W * H * 3);
    if (!same) fprintf(stderr, "%s: the RGB read back differs from the expected\n", what);
    CHECK(same);
    rad_png_image_free(&img);
}

static void test_png_types(void) {
    enum { W = 5, H = 4 };
    char path[512];
    tmp(path, sizeof path, "t.png");
    uint8_t want[H][W][3], buf[H * W * 8];
    /* RGB 8-bit, interlaced */
    for (int i = 0; i < W * H * 3; i++) (&want[0][0][0])[i] = (uint8_t)(i * 13);
    CHECK(
        write_png_raw(path, W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, &want[0][0][0], W * 3, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "rgb8 interlaced");
    /* grey 8-bit */
    for (int i = 0; i < W * H; i++) buf[i] = (uint8_t)(i * 12), memset(&want[0][0][0] + 3 * i, buf[i], 3);
    CHECK(write_png_raw(path, W, H, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, buf, W, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "grey8");
    /* grey 1-bit: 0 -> 0, 1 -> 255 */
    memset(buf, 0, sizeof buf);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const int on = (x + y) & 1;
            if (on) buf[y] |= (uint8_t)(0x80 >> x);
            memset(want[y][x], on ? 255 : 0, 3);
        }
    CHECK(write_png_raw(path, W, H, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, buf, 1, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "grey1");
    /* RGB 16-bit: scaled to 8 bits, rounded (v16 = v8 * 257 + 100 -> v8) */
    for (int i = 0; i < W * H * 3; i++) {
        const int v8 = (i * 29) % 256, v16 = v8 * 257 + (v8 < 255 ? 100 : 0);
        buf[2 * i] = (uint8_t)(v16 >> 8), buf[2 * i + 1] = (uint8_t)v16;
        (&want[0][0][0])[i] = (uint8_t)v8;
    }
    CHECK(write_png_raw(path, W, H, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, buf, W * 6, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "rgb16");
    /* RGBA 8-bit: alpha dropped, not composited */
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) buf[4 * i + c] = (&want[0][0][0])[3 * i + c] = (uint8_t)(i * 7 + c * 50);
        buf[4 * i + 3] = (uint8_t)(i * 11);
    }
    CHECK(write_png_raw(path, W, H, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, buf, W * 4, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "rgba8");
    /* grey + alpha 16-bit */
    for (int i = 0; i < W * H; i++) {
        buf[4 * i] = buf[4 * i + 1] = (uint8_t)(i * 9), buf[4 * i + 2] = 0x80, buf[4 * i + 3] = 0;
        memset(&want[0][0][0] + 3 * i, i * 9, 3);
    }
    CHECK(write_png_raw(path, W, H, 16, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, buf, W * 4, NULL, 0, NULL, 0));
    check_png(path, W, H, &want[0][0][0], "grey-alpha16");
    /* palette 4-bit with tRNS */
    png_color pal[16];
    for (int i = 0; i < 16; i++) pal[i] = (png_color){(uint8_t)(i * 16), (uint8_t)(255 - i * 10), (uint8_t)(i * i)};
    png_byte trans[2] = {0, 128};
    memset(buf, 0, sizeof buf);
    const size_t rb = (W + 1) / 2;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const int k = (x + 3 * y) % 16;
            buf[y * rb + x / 2] |= (uint8_t)(x % 2 ? k : k << 4);
            want[y][x][0] = pal[k].red, want[y][x][1] = pal[k].green, want[y][x][2] = pal[k].blue;
        }
    CHECK(write_png_raw(path, W, H, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, buf, rb, pal, 16, trans, 2));
    check_png(path, W, H, &want[0][0][0], "palette4+tRNS");
    unlink(path);
}

static void test_png_malformed(void) {
    enum { W = 6, H = 5 };
    char path[512];
    uint8_t img[H][W][3];
    memset(img, 77, sizeof img);
    CHECK_OK(rad_video_write(tmp(path, sizeof path, "ok.png"), &img[0][0][0], 1, H, W, 16, 18));
    FILE *f = fopen(path, "rb");
    static uint8_t good[4096];
    const size_t n = f ? fread(good, 1, sizeof good, f) : 0;
    if (f) fclose(f);
    CHECK(n > 60 && n < sizeof good);
    rad_png_image im;
    CHECK_OK(rad_png_read_memory(good, n, "good", &im));
    CHECK(im.width == W && im.height == H && im.rgb && im.rgb[0] == 77);
    rad_png_image_free(&im);
    static uint8_t bad[4096];
    const struct {
        size_t cut;   /* bytes kept (0: all) */
        size_t flip;  /* a byte to change (0: none) */
        const char *why;
    } cases[] = {
        {1, 0, "one byte"}, {8, 0, "the signature only"}, {20, 0, "cut inside IHDR"}, {33, 0, "IHDR only"},
        {n - 20, 0, "cut inside the image data"}, {0, 3, "a broken signature"}, {0, 20, "IHDR width changed (CRC)"},
        {0, n - 16, "image data changed (CRC)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t len = cases[i].cut ? cases[i].cut : n;
        memcpy(bad, good, n);
        if (cases[i].flip) bad[cases[i].flip] ^= 0x5a;
        rad_png_image x;
        const rad_status st = rad_png_read_memory(bad, len, "bad.png", &x);
        if (st == RAD_OK) {
            fprintf(stderr, "accepted a malformed png (%s)\n", cases[i].why);
            rad_test_failures++;
            rad_png_image_free(&x);
            continue;
        }
        CHECK(x.rgb == NULL && strstr(rad_last_error(), "bad.png"));
        printf("  %-40s rejected: %s\n", cases[i].why, rad_last_error());
    }
    /* a 20000 x 1 image: over the size limit, rejected before its data is read */
    uint8_t row[60000];
    memset(row, 1, sizeof row);
    CHECK(write_png_raw(path, 20000, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, row, sizeof row, NULL, 0, NULL, 0));
    CHECK_FAILS(rad_png_read(path, &im));
    CHECK_FAILS(rad_png_read(tmp(path, sizeof path, "missing.png"), &im));
    CHECK(strstr(rad_last_error(), "missing.png") != NULL);
    unlink(tmp(path, sizeof path, "ok.png"));
}

/* ---- eval tensors --------------------------------------------------------------------------------------- */

static void test_tensor_video(void) {
    enum { F = 2, H = 3, W = 4, HW = H * W };
    static float video[3][F][H][W], f01[F][3][H][W];
    static uint8_t u8[F][H][W][3];
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < F; f++)
            for (int p = 0; p < HW; p++) {
                const float x = -1.2f + 0.1f * (float)(p + 3 * c + 7 * f); /* some values outside [-1, 1] */
                (&video[c][f][0][0])[p] = x;
                (&f01[f][c][0][0])[p] = (x + 1) / 2;
                (&u8[f][0][0][0])[3 * p + c] = (uint8_t)(p * 10 + c + f);
            }
    char path[512];
    const rad_st_out outs[3] = {{"video", RAD_DT_F32, 4, {3, F, H, W}, video},
                                {"frames_u8", RAD_DT_U8, 4, {F, H, W, 3}, u8},
                                {"frames_f32", RAD_DT_F32, 4, {F, 3, H, W}, f01}};
    CHECK_OK(rad_st_write(tmp(path, sizeof path, "ev.safetensors"), outs, 3, NULL, 0));
    const char *names[4] = {NULL, "video", "frames_u8", "frames_f32"};
    for (int k = 0; k < 4; k++) {
        rad_tensor_video *v;
        CHECK_OK(rad_tensor_video_open(path, names[k], &v));
        if (!v) continue;
        const rad_tensor_video_info *in = rad_tensor_video_get_info(v);
        CHECK(in->width == W && in->height == H && in->frames == F);
        float rgb[HW * 3];
        int bad = 0, t = 0;
        for (bool got = true; got; t += got) {
            CHECK_OK(rad_tensor_video_read(v, rgb, &got));
            for (int p = 0; got && p < HW; p++)
                for (int c = 0; c < 3; c++) {
                    double want;
                    if (k == 2) {
                        want = (&u8[t][0][0][0])[3 * p + c];
                    } else {
                        double x = (&video[c][t][0][0])[p];
                        x = x < -1 ? -1 : x > 1 ? 1 : x;
                        want = (x + 1) / 2 * 255;
                    }
                    bad += fabs(rgb[3 * p + c] - want) > 1e-4;
                }
        }
        CHECK(t == F);
        if (bad) fprintf(stderr, "tensor %s: %d values differ\n", names[k] ? names[k] : "(default)", bad);
        CHECK(bad == 0);
        rad_tensor_video_close(v);
    }
    /* rejections */
    static float nan_video[3][1][H][W];
    nan_video[1][0][2][3] = NAN;
    const rad_st_out bads[] = {
        {"video", RAD_DT_F32, 4, {4, 1, H, W}, video},      /* four channels */
        {"video", RAD_DT_F32, 3, {3, H, W}, video},         /* no frame axis */
        {"video", RAD_DT_U8, 4, {3, 1, 2, 2}, u8},          /* integers as [-1, 1] */
        {"frames_u8", RAD_DT_F32, 4, {1, H, W, 3}, video},  /* floats as 8-bit */
        {"frames_u8", RAD_DT_U8, 4, {1, H, W, 4}, u8},      /* RGBA */
        {"other", RAD_DT_F32, 4, {3, 1, H, W}, video},      /* no video tensor */
        {"video", RAD_DT_F32, 4, {3, 1, 0, W}, video},      /* zero height */
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        CHECK_OK(rad_st_write(path, &bads[i], 1, NULL, 0));
        rad_tensor_video *v = NULL;
        CHECK_FAILS(rad_tensor_video_open(path, NULL, &v));
        CHECK(v == NULL && strstr(rad_last_error(), path));
    }
    CHECK_OK(rad_st_write(path, outs, 1, NULL, 0));
    rad_tensor_video *v = NULL;
    CHECK_FAILS(rad_tensor_video_open(path, "frames_u8", &v)); /* named, absent */
    CHECK_FAILS(rad_tensor_video_open(path, "latent", &v));    /* not a video layout */
    const rad_st_out nan_out = {"video", RAD_DT_F32, 4, {3, 1, H, W}, nan_video};
    CHECK_OK(rad_st_write(path, &nan_out, 1, NULL, 0));
    CHECK_OK(rad_tensor_video_open(path, NULL, &v));
    if (v) {
        float rgb[HW * 3];
        bool got;
        CHECK_FAILS(rad_tensor_video_read(v, rgb, &got));
        CHECK(strstr(rad_last_error(), "NaN") && strstr(rad_last_error(), "channel 1, pixel (3, 2)"));
        rad_tensor_video_close(v);
    }
    write_bytes(path, "not a safetensors file", 22);
    CHECK_FAILS(rad_tensor_video_open(path, NULL, &v));
    unlink(path);
}

/* ---- the dispatch --------------------------------------------------------------------------------------- */

static void write_frame_png(const char *name, int W, int H, uint8_t value) {
    char path[512];
    uint8_t *img = malloc((size_t)W * H * 3);
    if (!img) return;
    memset(img, value, (size_t)W * H * 3);
    CHECK_OK(rad_video_write(tmp(path, sizeof path, name), img, 1, H, W, 16, 18));
    free(img);
}

static int count_frames(const char *path, int *W, int *H, float *first) {
    rad_video_reader *r;
    if (rad_video_reader_open(path, NULL, &r) != RAD_OK) return -1;
    const rad_video_info *in = rad_video_reader_info(r);
    *W = in->width, *H = in->height;
    float *buf = malloc((size_t)in->width * in->height * 3 * sizeof(float));
    int n = 0;
    for (bool got = true; buf && got; n += got) {
        if (rad_video_reader_next(r, buf, &got) != RAD_OK) {
            n = -2;
            break;
        }
        if (got && n == 0) *first = buf[0];
    }
    CHECK(n < 0 || in->frames == n);
    printf("  %s: %s\n", path + strlen(dir) + 1, in->format);
    free(buf);
    rad_video_reader_close(r);
    return n;
}

static void test_dispatch(void) {
    char path[512];
    int W, H;
    float first;
    /* from 0: p0_000 .. p0_002; p0_004 after a gap is not part of it */
    for (int t = 0; t < 3; t++) {
        char name[32];
        snprintf(name, sizeof name, "p0_%03d.png", t);
        write_frame_png(name, 7, 5, (uint8_t)(10 + t));
    }
    write_frame_png("p0_004.png", 7, 5, 0);
    CHECK(count_frames(tmp(path, sizeof path, "p0_%03d.png"), &W, &H, &first) == 3 && W == 7 && H == 5 && first == 10);
    /* from 1, as ffmpeg numbers */
    write_frame_png("p1_1.png", 7, 5, 20);
    write_frame_png("p1_2.png", 7, 5, 21);
    CHECK(count_frames(tmp(path, sizeof path, "p1_%d.png"), &W, &H, &first) == 2 && first == 20);
    /* a frame of another size */
    write_frame_png("p2_0.png", 7, 5, 1);
    write_frame_png("p2_1.png", 8, 5, 1);
    CHECK(count_frames(tmp(path, sizeof path, "p2_%d.png"), &W, &H, &first) == -2);
    CHECK(strstr(rad_last_error(), "p2_1.png") && strstr(rad_last_error(), "8x5") && strstr(rad_last_error(), "7x5"));
    /* no files, a bad pattern */
    rad_video_reader *r = NULL;
    CHECK_FAILS(rad_video_reader_open(tmp(path, sizeof path, "none_%d.png"), NULL, &r));
    CHECK(strstr(rad_last_error(), "none_0.png") && strstr(rad_last_error(), "none_1.png"));
    CHECK_FAILS(rad_video_reader_open(tmp(path, sizeof path, "bad_%s.png"), NULL, &r));
    CHECK_FAILS(rad_video_reader_open("", NULL, &r));
    CHECK(r == NULL);
    /* a single PNG, and the same file without an extension (sniffed) */
    CHECK(count_frames(tmp(path, sizeof path, "p0_001.png"), &W, &H, &first) == 1 && first == 11);
    char noext[512];
    write_frame_png("frame.png", 7, 5, 11);
    CHECK(rename(tmp(path, sizeof path, "frame.png"), tmp(noext, sizeof noext, "frame")) == 0);
    CHECK(count_frames(tmp(path, sizeof path, "frame"), &W, &H, &first) == 1 && first == 11);
    /* a Y4M without an extension */
    const char y4m[] = "YUV4MPEG2 W1 H1 C444 XCOLORRANGE=FULL\nFRAME\n\x64\x80\x80";
    write_bytes(tmp(path, sizeof path, "clip"), y4m, sizeof y4m - 1);
    CHECK(count_frames(path, &W, &H, &first) == 1 && first == 100);
    /* something else without an extension: FFmpeg (when there) fails on it, with the file's name */
    write_bytes(path, "hello, this is text\n", 20);
    CHECK_FAILS(rad_video_reader_open(path, NULL, &r));
    CHECK(strstr(rad_last_error(), path) != NULL);
    const char *leftovers[] = {"p0_000.png", "p0_001.png", "p0_002.png", "p0_004.png", "p1_1.png", "p1_2.png",
                               "p2_0.png",   "p2_1.png",   "frame",      "clip"};
    for (size_t i = 0; i < sizeof leftovers / sizeof leftovers[0]; i++) unlink(tmp(path, sizeof path, leftovers[i]));
}

/* FFmpeg input that is no video, or a cut one: errors, or fewer frames, never a crash. */
static void test_mp4_malformed(void) {
    char path[512];
    rad_mp4_reader *m = NULL;
    write_bytes(tmp(path, sizeof path, "junk.mp4"), "\0\0\0\x18" "ftypisom garbage garbage", 28);
    CHECK_FAILS(rad_mp4_open(path, &m));
    CHECK(m == NULL && strstr(rad_last_error(), path));
    CHECK_FAILS(rad_mp4_open(tmp(path, sizeof path, "missing.mp4"), &m));
#ifdef RAD_HAVE_FFMPEG
    enum { T = 4, H = 32, W = 48 };
    static uint8_t frames[T][H][W][3];
    for (size_t i = 0; i < sizeof frames; i++) (&frames[0][0][0][0])[i] = (uint8_t)(i * 7 / 5);
    CHECK_OK(rad_video_write(tmp(path, sizeof path, "cut.mp4"), &frames[0][0][0][0], T, H, W, 16, 18));
    FILE *f = fopen(path, "rb");
    static uint8_t data[1 << 16];
    const size_t n = f ? fread(data, 1, sizeof data, f) : 0;
    if (f) fclose(f);
    CHECK(n > 200 && n < sizeof data);
    const size_t cuts[] = {n / 2, n - 100, 64};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_bytes(path, data, cuts[k]);
        const rad_status st = rad_mp4_open(path, &m);
        int got_frames = 0;
        rad_status rs = RAD_OK;
        if (st == RAD_OK) {
            uint8_t rgb[H * W * 3];
            for (bool got = true; got && rs == RAD_OK; got_frames += got) rs = rad_mp4_read(m, rgb, &got);
            rad_mp4_close(m);
        }
        printf("  mp4 cut to %zu of %zu bytes: %s, %d frames%s\n", cuts[k], n, st == RAD_OK ? "opened" : "rejected",
               got_frames, rs == RAD_OK ? "" : " then an error");
        CHECK(got_frames <= T);
    }
    unlink(path);
#endif
    unlink(tmp(path, sizeof path, "junk.mp4"));
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rad_vread_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_y4m_writer_round_trip();
    test_y4m_420();
    test_y4m_422_mono();
    test_y4m_pipe();
    test_y4m_malformed();
    test_png_types();
    test_png_malformed();
    test_tensor_video();
    test_dispatch();
    test_mp4_malformed();
    rmdir(dir);
    TEST_MAIN_END();
}
