/* Frame writers: PNG read back exactly with libpng; y4m parsed here and converted back with the JFIF
 * (full-range BT.601) inverse equations within ±2, and also decoded by ffmpeg when it is installed; MP4
 * probed with ffprobe (codec, pixel format, size, frame count), checked for faststart (moov before mdat) and
 * decoded by ffmpeg to compare with the input. */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "video/video_writer.h"
#include "test_util.h"

enum { T = 5, H = 36, W = 50 };
static uint8_t frames[T][H][W][3];
static char dir[256];

/* Smooth gradients that move from frame to frame, constant over 2x2 blocks (so that yuv420p's chroma
 * subsampling loses nothing and the MP4 check can be tight), and pure colours in the first block row. */
static void make_frames(void) {
    const uint8_t pure[6][3] = {{255, 255, 255}, {0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {128, 128, 128}};
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int bx = x / 2, by = y / 2;
                uint8_t *p = frames[t][y][x];
                p[0] = (uint8_t)((bx * 9 + t * 20) % 256);
                p[1] = (uint8_t)(by * 14);
                p[2] = (uint8_t)(255 - (bx + by) * 5 - t);
                if (t == 0 && by == 0 && bx < 6) memcpy(p, pure[bx], 3);
            }
}

static const char *tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static int read_png(const char *path, uint8_t *out, int *h, int *w) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "read %s: %s\n", path, img.message);
        return 0;
    }
    img.format = PNG_FORMAT_RGB;
    *h = (int)img.height;
    *w = (int)img.width;
    if (img.height != H || img.width != W) {
        png_image_free(&img);
        return 0;
    }
    int ok = png_image_finish_read(&img, NULL, out, W * 3, NULL);
    if (!ok) fprintf(stderr, "read %s: %s\n", path, img.message);
    return ok;
}

static void test_png(void) {
    char path[512], pat[512];
    static uint8_t back[H][W][3];
    int h, w;
    CHECK_OK(rad_video_write(tmp(pat, sizeof pat, "f_%03d.png"), &frames[0][0][0][0], T, H, W, 16, 18));
    for (int t = 0; t < T; t++) {
        snprintf(path, sizeof path, "%s/f_%03d.png", dir, t);
        CHECK(read_png(path, &back[0][0][0], &h, &w));
        CHECK(h == H && w == W);
        CHECK(memcmp(back, frames[t], sizeof back) == 0);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/f_%03d.png", dir, T);
    CHECK(access(path, F_OK) != 0); /* numbered 0..T-1 */

    CHECK_OK(rad_video_write(tmp(path, sizeof path, "one.PNG"), &frames[2][0][0][0], 1, H, W, 16, 18));
    CHECK(read_png(path, &back[0][0][0], &h, &w));
    CHECK(memcmp(back, frames[2], sizeof back) == 0);
    unlink(path);
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "one.png"), &frames[0][0][0][0], T, H, W, 16, 18));
}

/* JFIF inverse: R = Y + 1.402 Cr', G = Y − 0.344136 Cb' − 0.714136 Cr', B = Y + 1.772 Cb'. */
static int inv(double v) { return v < 0 ? 0 : v > 255 ? 255 : (int)(v + 0.5); }

static void test_y4m(void) {
    char path[512];
    CHECK_OK(rad_video_write(tmp(path, sizeof path, "v.y4m"), &frames[0][0][0][0], T, H, W, 16, 18));
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char header[256];
    CHECK(fgets(header, sizeof header, f) != NULL);
    char expect[256];
    snprintf(expect, sizeof expect, "YUV4MPEG2 W%d H%d F16:1 Ip A1:1 C444 XCOLORRANGE=FULL\n", W, H);
    CHECK(strcmp(header, expect) == 0);
    static uint8_t yuv[3][H][W];
    int worst = 0;
    for (int t = 0; t < T; t++) {
        char line[16];
        CHECK(fgets(line, sizeof line, f) && !strcmp(line, "FRAME\n"));
        CHECK(fread(yuv, 1, sizeof yuv, f) == sizeof yuv);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double Y = yuv[0][y][x], cb = yuv[1][y][x] - 128.0, cr = yuv[2][y][x] - 128.0;
                int rgb[3] = {inv(Y + 1.402 * cr), inv(Y - 0.344136 * cb - 0.714136 * cr), inv(Y + 1.772 * cb)};
                for (int c = 0; c < 3; c++) {
                    int d = abs(rgb[c] - frames[t][y][x][c]);
                    if (d > worst) worst = d;
                }
            }
        if (t == 0) {
            /* Pure colours, from the JFIF equations by hand: white (255,128,128), black (0,128,128),
             * red (76,85,255), green (150,44,21), blue (29,255,107), grey 128 (128,128,128). */
            const int want[6][3] = {{255, 128, 128}, {0, 128, 128}, {76, 85, 255},
                                    {150, 44, 21},   {29, 255, 107}, {128, 128, 128}};
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < 3; c++) CHECK(yuv[c][0][2 * i] == want[i][c]);
        }
    }
    CHECK(fgetc(f) == EOF);
    fclose(f);
    printf("  y4m round trip: max |RGB - original| = %d\n", worst);
    CHECK(worst <= 2);

    /* An independent reader: ffmpeg, when installed. */
    if (system("command -v ffmpeg >/dev/null 2>&1") == 0) {
        char cmd[1200], raw[512];
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -f rawvideo -pix_fmt rgb24 '%s'", path,
                 tmp(raw, sizeof raw, "v.rgb"));
        CHECK(system(cmd) == 0);
        static uint8_t dec[T][H][W][3];
        FILE *r = fopen(raw, "rb");
        CHECK(r && fread(dec, 1, sizeof dec, r) == sizeof dec && fgetc(r) == EOF);
        if (r) fclose(r);
        int w2 = 0;
        for (size_t i = 0; i < sizeof dec; i++) {
            int d = abs((&dec[0][0][0][0])[i] - (&frames[0][0][0][0])[i]);
            if (d > w2) w2 = d;
        }
        printf("  y4m decoded by ffmpeg: max |RGB - original| = %d\n", w2);
        CHECK(w2 <= 3);
        unlink(raw);
    } else {
        printf("  ffmpeg not installed: y4m checked with this test's own reader only\n");
    }
    unlink(path);
}

#ifdef RAD_HAVE_FFMPEG
/* Top-level MP4 boxes: returns 1 if 'moov' comes before 'mdat'. */
static int moov_first(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int moov = -1, mdat = -1, idx = 0;
    unsigned char h[8];
    while (fread(h, 1, 8, f) == 8) {
        uint64_t size = ((uint64_t)h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3];
        if (!memcmp(h + 4, "moov", 4)) moov = idx;
        if (!memcmp(h + 4, "mdat", 4)) mdat = idx;
        if (size == 1) { /* 64-bit size follows */
            unsigned char b[8];
            if (fread(b, 1, 8, f) != 8) break;
            size = 0;
            for (int i = 0; i < 8; i++) size = size << 8 | b[i];
            if (size < 16 || fseek(f, (long)(size - 16), SEEK_CUR)) break;
        } else if (size < 8 || fseek(f, (long)(size - 8), SEEK_CUR)) {
            break;
        }
        idx++;
    }
    fclose(f);
    return moov >= 0 && mdat >= 0 && moov < mdat;
}

#endif

static void test_mp4(void) {
    char path[512];
    tmp(path, sizeof path, "v.mp4");
#ifndef RAD_HAVE_FFMPEG
    CHECK_FAILS(rad_video_write(path, &frames[0][0][0][0], T, H, W, 16, 18));
    CHECK(strstr(rad_last_error(), "libavformat-dev") != NULL);
    printf("  SKIPPED the MP4 checks: built without FFmpeg (install libavformat-dev libavcodec-dev "
           "libswscale-dev and rebuild)\n");
#else
    CHECK_FAILS(rad_video_write(path, &frames[0][0][0][0], T, H, W - 1, 16, 18)); /* odd width */
    CHECK_OK(rad_video_write(path, &frames[0][0][0][0], T, H, W, 16, 0));
    if (system("command -v ffprobe >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ffprobe is missing: install the Debian package ffmpeg (`make deps`)\n");
        CHECK(0);
        return;
    }
    char cmd[1200], out[256] = {0};
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate -of csv=p=0 '%s'", path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    CHECK(fgets(out, sizeof out, p) != NULL);
    CHECK(pclose(p) == 0);
    char expect[128];
    snprintf(expect, sizeof expect, "h264,%d,%d,yuv420p,16/1,%d\n", W, H, T);
    printf("  ffprobe: %s", out);
    CHECK(strcmp(out, expect) == 0);
    CHECK(moov_first(path));

    /* Content: decode to yuv420p (no conversion on the reading side) and compare with BT.601 limited range
     * computed here from the RGB input: Y = 16 + 219·E'y, Cb = 128 + 224·(B'−E'y)/1.772, Cr = 128 +
     * 224·(R'−E'y)/1.402 with E'y = 0.299 R' + 0.587 G' + 0.114 B', R' = R/255. CRF 0 is lossless on yuv420p
     * and the content is constant over 2x2 blocks, so only rounding (and chroma filtering at block edges)
     * remains. */
    char raw[512];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -f rawvideo -pix_fmt yuv420p '%s'", path,
             tmp(raw, sizeof raw, "m.yuv"));
    CHECK(system(cmd) == 0);
    enum { CH = H / 2, CW = W / 2, FRAME = H * W + 2 * CH * CW };
    static uint8_t dec[T][FRAME];
    FILE *r = fopen(raw, "rb");
    CHECK(r && fread(dec, 1, sizeof dec, r) == sizeof dec && fgetc(r) == EOF);
    if (r) fclose(r);
    int worst_y = 0, worst_c = 0;
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *p = frames[t][y][x];
                double R = p[0] / 255.0, G = p[1] / 255.0, B = p[2] / 255.0;
                double ey = 0.299 * R + 0.587 * G + 0.114 * B;
                int dy = abs(dec[t][y * W + x] - (int)(16 + 219 * ey + 0.5));
                if (dy > worst_y) worst_y = dy;
                if (y % 2 || x % 2) continue;
                int ci = (y / 2) * CW + x / 2;
                int dcb = abs(dec[t][H * W + ci] - (int)(128 + 224 * (B - ey) / 1.772 + 0.5));
                int dcr = abs(dec[t][H * W + CH * CW + ci] - (int)(128 + 224 * (R - ey) / 1.402 + 0.5));
                if (dcb > worst_c) worst_c = dcb;
                if (dcr > worst_c) worst_c = dcr;
            }
    printf("  mp4 decoded by ffmpeg: max |Y - BT.601| = %d, max |Cb,Cr - BT.601| = %d\n", worst_y, worst_c);
    CHECK(worst_y <= 1);
    CHECK(worst_c <= 2);
    unlink(raw);
    unlink(path);
#endif
}

static void test_errors(void) {
    const uint8_t *fr = &frames[0][0][0][0];
    char path[512];
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.avi"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "noext"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%s.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%d_%d.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%%.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%n.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%*d.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%0999d.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%ld.png"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "f_%03d.y4m"), fr, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write("/nonexistent-dir/v.y4m", fr, T, H, W, 16, 18));
    CHECK(strstr(rad_last_error(), "/nonexistent-dir/v.y4m") != NULL);
    CHECK_FAILS(rad_video_write("/nonexistent-dir/v.png", fr, 1, H, W, 16, 18));
    CHECK_FAILS(rad_video_write("/nonexistent-dir/f%02d.png", fr, T, H, W, 16, 18));
    CHECK(strstr(rad_last_error(), "/nonexistent-dir/f%02d.png") != NULL);
    CHECK(strstr(rad_last_error(), "does not exist") != NULL);
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.y4m"), fr, 0, H, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.y4m"), fr, T, 0, W, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.y4m"), fr, T, H, 20000, 16, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.y4m"), fr, T, H, W, 0, 18));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.mp4"), fr, T, H, W, 16, 52));
    CHECK_FAILS(rad_video_write(tmp(path, sizeof path, "v.y4m"), NULL, T, H, W, 16, 18));
    CHECK_FAILS(rad_video_write("", fr, T, H, W, 16, 18));
    /* %% is a literal percent sign next to a valid conversion. */
    CHECK_OK(rad_video_write(tmp(path, sizeof path, "p%%_%u.png"), fr, 1, H, W, 16, 18));
    CHECK(access(tmp(path, sizeof path, "p%_0.png"), F_OK) == 0);
    unlink(path);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rad_video_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_frames();
    test_png();
    test_y4m();
    test_mp4();
    test_errors();
    rmdir(dir);
    TEST_MAIN_END();
}
