/* `radial compare`'s metrics (src/video/compare.h) and whole-video comparison (compare_videos.h):
 *  - equal frames: PSNR +inf, every SSIM exactly 1, differences 0 (random and constant frames);
 *  - hand-computable cases: a constant offset d gives mse d^2 and PSNR 20 log10(255 / d); two constant images
 *    c and c + d give SSIM (2c(c+d) + C1) / (2c(c+d) + d^2 + C1) everywhere;
 *  - agreement with an independent implementation of skimage's definitions: tests/data/compare/expected.txt,
 *    made by tests/data/compare/make_reference.py (pure Python) from the PNG pairs beside it;
 *  - frames under 11x11 (no SSIM), symmetry, results that do not depend on the thread count;
 *  - round trips through our own writers: PNG (exact), Y4M (within the YCbCr rounding), MP4 (lossy: within
 *    tolerances, and a file against itself exactly); an MP4 against its Y4M dump by ffmpeg, when installed;
 *  - videos of different sizes (width, height, frame count, also found only at the end of an MP4) rejected
 *    with a message naming both files and both sizes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/threads.h"
#include "test_util.h"
#include "video/compare.h"
#include "video/compare_videos.h"
#include "video/video_writer.h"

static char dir[256];

static const char *tmp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static bool near(double got, double want, double rel) {
    if (isinf(want) || isinf(got)) return got == want;
    return fabs(got - want) <= rel * fmax(1.0, fabs(want));
}

static float *random_frame(int W, int H, uint64_t seed, float lo, float hi) {
    float *f = malloc((size_t)W * H * 3 * sizeof(float));
    uint64_t s = seed;
    for (size_t i = 0; f && i < (size_t)W * H * 3; i++)
        f[i] = (float)floor(lo + (hi - lo) * (rad_test_uniform(&s) + 1) / 2);
    return f;
}

static void test_identical(void) {
    const int sizes[][2] = {{64, 48}, {11, 11}, {97, 13}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int W = sizes[k][0], H = sizes[k][1];
        float *a = random_frame(W, H, 11 + k, 0, 256), *c = random_frame(W, H, 1, 0, 1);
        rad_cmp *cmp;
        CHECK_OK(rad_cmp_create(W, H, &cmp));
        if (!cmp || !a || !c) return;
        for (size_t i = 0; i < (size_t)W * H * 3; i++) c[i] = 37; /* constant: zero variances */
        rad_cmp_frame f;
        for (int pass = 0; pass < 2; pass++) {
            CHECK_OK(rad_cmp_frame_metrics(cmp, pass ? c : a, pass ? c : a, &f));
            CHECK(f.mse == 0 && f.mse_y == 0 && isinf(f.psnr) && f.psnr > 0 && isinf(f.psnr_y));
            CHECK(f.ssim_y == 1.0 && f.ssim_rgb == 1.0 && f.ssim_c[0] == 1.0 && f.ssim_c[1] == 1.0 &&
                  f.ssim_c[2] == 1.0);
            CHECK(f.max_abs == 0 && f.mean_abs == 0);
        }
        rad_cmp_summary s;
        rad_cmp_summarize(&f, 1, &s);
        CHECK(isinf(s.psnr) && s.ssim_rgb == 1.0 && s.ssim_y == 1.0 && isinf(s.psnr_min));
        rad_cmp_free(cmp);
        free(a);
        free(c);
    }
}

static void test_offset(void) {
    enum { W = 40, H = 30 };
    const double C1 = (0.01 * 255) * (0.01 * 255);
    float *a = random_frame(W, H, 5, 20, 200), *b = malloc(W * H * 3 * sizeof(float));
    rad_cmp *cmp;
    CHECK_OK(rad_cmp_create(W, H, &cmp));
    if (!a || !b || !cmp) return;
    const double ds[] = {1, 3, 10, 55};
    for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
        const double d = ds[k];
        for (size_t i = 0; i < W * H * 3; i++) b[i] = a[i] + (float)d;
        rad_cmp_frame f;
        CHECK_OK(rad_cmp_frame_metrics(cmp, a, b, &f));
        CHECK(f.mse == d * d && f.max_abs == d && f.mean_abs == d);
        CHECK(near(f.psnr, 20 * log10(255 / d), 1e-13));
        CHECK(near(f.psnr_y, 20 * log10(255 / d), 1e-12)); /* Y of an offset is the offset (weights sum to 1) */
        printf("  offset %g: PSNR %.12f dB (20 log10(255/d) = %.12f), SSIM-RGB %.6f\n", d, f.psnr, 20 * log10(255 / d),
               f.ssim_rgb);
        CHECK(f.ssim_rgb < 1.0 && f.ssim_rgb > 0.5);
    }
    /* constant images c and c + d: SSIM = (2c(c+d) + C1) / (2c(c+d) + d^2 + C1) at every position */
    const double cs[][2] = {{100, 10}, {0, 1}, {250, -50}, {128, 0.5}};
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        const double c = cs[k][0], d = cs[k][1];
        for (size_t i = 0; i < W * H * 3; i++) a[i] = (float)c, b[i] = (float)(c + d);
        rad_cmp_frame f;
        CHECK_OK(rad_cmp_frame_metrics(cmp, a, b, &f));
        const double want = (2 * c * (c + d) + C1) / (2 * c * (c + d) + d * d + C1);
        printf("  constant %g vs %g: SSIM %.15f, closed form %.15f\n", c, c + d, f.ssim_rgb, want);
        for (int ch = 0; ch < 3; ch++) CHECK(near(f.ssim_c[ch], want, 1e-12));
        CHECK(near(f.ssim_rgb, want, 1e-12) && near(f.ssim_y, want, 1e-10));
        CHECK(near(f.psnr, 20 * log10(255 / fabs(d)), 1e-12));
    }
    rad_cmp_free(cmp);
    free(a);
    free(b);
}

/* The PNG pairs of tests/data/compare against the numbers of make_reference.py. */
static void test_reference(void) {
    char path[1024];
    FILE *f = fopen(rad_test_path(path, sizeof path, "compare/expected.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    static const char *const keys[] = {"mse", "psnr", "mse_y", "psnr_y", "ssim_r", "ssim_g", "ssim_b", "ssim_rgb",
                                       "ssim_y", "max_abs", "mean_abs"};
    char line[2048], name[64] = "", frame[16];
    rad_cmp_result res = {0};
    int compared = 0;
    double worst = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        double e[11];
        char prev[64];
        snprintf(prev, sizeof prev, "%s", name);
        if (sscanf(line, "%63s %15s %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", name, frame, &e[0], &e[1], &e[2],
                   &e[3], &e[4], &e[5], &e[6], &e[7], &e[8], &e[9], &e[10]) != 13) {
            fprintf(stderr, "expected.txt: cannot parse '%s'\n", line);
            rad_test_failures++;
            continue;
        }
        if (strcmp(prev, name)) {
            rad_cmp_result_free(&res);
            char pa[1024], pb[1024], ra[128], rb[128];
            snprintf(ra, sizeof ra, "compare/%s_a_%%d.png", name);
            snprintf(rb, sizeof rb, "compare/%s_b_%%d.png", name);
            CHECK_OK(
                rad_cmp_videos(rad_test_path(pa, sizeof pa, ra), rad_test_path(pb, sizeof pb, rb), NULL, NULL, &res));
        }
        if (!res.frames) continue;
        const rad_cmp_frame *fr = NULL;
        const rad_cmp_summary *s = &res.summary;
        if (strcmp(frame, "all")) {
            const int t = atoi(frame);
            CHECK(t >= 0 && t < s->frames);
            if (t < 0 || t >= s->frames) continue;
            fr = &res.frames[t];
        }
        const double got[11] = {
            fr ? fr->mse : s->mse,           fr ? fr->psnr : s->psnr,         fr ? fr->mse_y : s->mse_y,
            fr ? fr->psnr_y : s->psnr_y,     fr ? fr->ssim_c[0] : s->ssim_c[0], fr ? fr->ssim_c[1] : s->ssim_c[1],
            fr ? fr->ssim_c[2] : s->ssim_c[2], fr ? fr->ssim_rgb : s->ssim_rgb, fr ? fr->ssim_y : s->ssim_y,
            fr ? fr->max_abs : s->max_abs,   fr ? fr->mean_abs : s->mean_abs,
        };
        for (int k = 0; k < 11; k++) {
            const double err = fabs(got[k] - e[k]) / fmax(1.0, fabs(e[k]));
            if (err > worst) worst = err;
            if (!near(got[k], e[k], 1e-10)) {
                fprintf(stderr, "%s frame %s: %s = %.17g, the reference says %.17g\n", name, frame, keys[k], got[k],
                        e[k]);
                rad_test_failures++;
            }
        }
        compared++;
    }
    rad_cmp_result_free(&res);
    fclose(f);
    printf("  reference: %d lines agree with make_reference.py, worst relative difference %.3g\n", compared, worst);
    CHECK(compared == 12);
}

static void test_small_symmetric_threads(void) {
    /* under 11 pixels on a side: no SSIM, the rest as usual */
    float *a = random_frame(10, 30, 3, 0, 256), *b = random_frame(10, 30, 4, 0, 256);
    rad_cmp *cmp;
    CHECK_OK(rad_cmp_create(10, 30, &cmp));
    rad_cmp_frame f, g;
    if (cmp && a && b) {
        CHECK_OK(rad_cmp_frame_metrics(cmp, a, b, &f));
        CHECK(isnan(f.ssim_y) && isnan(f.ssim_rgb) && isfinite(f.psnr) && f.mse > 0);
        CHECK(!rad_ssim_defined(10, 30) && rad_ssim_defined(11, 11));
    }
    rad_cmp_free(cmp);
    free(a);
    free(b);
    /* SSIM(a, b) == SSIM(b, a), and the same with 1 thread and with 3 */
    enum { W = 300, H = 77 };
    a = random_frame(W, H, 8, 0, 256), b = random_frame(W, H, 9, 0, 256);
    CHECK_OK(rad_cmp_create(W, H, &cmp));
    if (cmp && a && b) {
        for (size_t i = 0; i < (size_t)W * H * 3; i++) b[i] = (float)floor(0.7 * a[i] + 0.3 * b[i]);
        rad_set_threads(1);
        CHECK_OK(rad_cmp_frame_metrics(cmp, a, b, &f));
        rad_set_threads(3);
        CHECK_OK(rad_cmp_frame_metrics(cmp, a, b, &g));
        CHECK(memcmp(&f, &g, sizeof f) == 0);
        CHECK_OK(rad_cmp_frame_metrics(cmp, b, a, &g));
        CHECK(g.ssim_y == f.ssim_y && g.ssim_rgb == f.ssim_rgb && g.mse == f.mse);
        rad_set_threads(0);
        printf("  mixed 300x77: PSNR %.4f dB, SSIM-Y %.6f, SSIM-RGB %.6f (the same with 1 and 3 threads)\n", f.psnr,
               f.ssim_y, f.ssim_rgb);
    }
    rad_cmp_free(cmp);
    free(a);
    free(b);
    CHECK_FAILS(rad_cmp_create(0, 5, &cmp));
    CHECK_FAILS(rad_cmp_create(5, 20000, &cmp));
}

/* Smooth moving gradients, constant over 2x2 blocks (as tests/video/test_video.c makes them). */
enum { T = 5, H = 36, W = 50 };
static uint8_t frames[T][H][W][3];
static void make_frames(void) {
    for (int t = 0; t < T; t++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const int bx = x / 2, by = y / 2;
                uint8_t *p = frames[t][y][x];
                p[0] = (uint8_t)((bx * 9 + t * 20) % 256);
                p[1] = (uint8_t)(by * 14);
                p[2] = (uint8_t)(255 - (bx + by) * 5 - t);
            }
}

static void print_summary(const char *what, const rad_cmp_summary *s) {
    printf("  %-34s PSNR %s%.3f dB, SSIM-Y %.6f, SSIM-RGB %.6f, max |d| %g, mean |d| %.4f\n", what,
           isinf(s->psnr) ? "(inf) " : "", isinf(s->psnr) ? 0.0 : s->psnr, s->ssim_y, s->ssim_rgb, s->max_abs,
           s->mean_abs);
}

static void test_round_trips(void) {
    char png[512], y4m[512], mp4[512], mp4b[512], dump[512];
    rad_cmp_result res;
    CHECK_OK(rad_video_write(tmp(png, sizeof png, "f_%03d.png"), &frames[0][0][0][0], T, H, W, 16, 18));
    CHECK_OK(rad_video_write(tmp(y4m, sizeof y4m, "v.y4m"), &frames[0][0][0][0], T, H, W, 16, 18));
    /* PNG is lossless: equal */
    CHECK_OK(rad_cmp_videos(png, png, NULL, NULL, &res));
    CHECK(res.summary.frames == T && isinf(res.summary.psnr) && res.summary.ssim_rgb == 1.0);
    rad_cmp_result_free(&res);
    /* Y4M 4:4:4 full range: RGB -> YCbCr -> RGB within 2 levels */
    CHECK_OK(rad_cmp_videos(png, y4m, NULL, NULL, &res));
    print_summary("PNG frames vs our Y4M:", &res.summary);
    CHECK(res.summary.frames == T && res.summary.max_abs <= 2 && res.summary.psnr > 45 && res.summary.ssim_rgb > 0.995);
    rad_cmp_result_free(&res);
    CHECK_OK(rad_cmp_videos(y4m, y4m, NULL, NULL, &res));
    CHECK(isinf(res.summary.psnr) && res.summary.ssim_y == 1.0);
    rad_cmp_result_free(&res);
#ifdef RAD_HAVE_FFMPEG
    /* MP4 at CRF 0 (lossless in YUV; the 2x2 blocks survive 4:2:0) and at CRF 18 (lossy) */
    CHECK_OK(rad_video_write(tmp(mp4, sizeof mp4, "v0.mp4"), &frames[0][0][0][0], T, H, W, 16, 0));
    CHECK_OK(rad_cmp_videos(png, mp4, NULL, NULL, &res));
    print_summary("PNG frames vs our MP4 (CRF 0):", &res.summary);
    CHECK(res.summary.frames == T && res.summary.psnr > 40 && res.summary.ssim_rgb > 0.99 && res.summary.max_abs <= 8);
    rad_cmp_result_free(&res);
    CHECK_OK(rad_video_write(tmp(mp4b, sizeof mp4b, "v18.mp4"), &frames[0][0][0][0], T, H, W, 16, 18));
    CHECK_OK(rad_cmp_videos(png, mp4b, NULL, NULL, &res));
    print_summary("PNG frames vs our MP4 (CRF 18):", &res.summary);
    CHECK(res.summary.frames == T && res.summary.psnr > 33 && res.summary.ssim_rgb > 0.95);
    rad_cmp_result_free(&res);
    CHECK_OK(rad_cmp_videos(mp4b, mp4b, NULL, NULL, &res)); /* a lossy file against itself: decoded alike */
    CHECK(isinf(res.summary.psnr) && res.summary.ssim_rgb == 1.0 && res.summary.max_abs == 0);
    rad_cmp_result_free(&res);
    /* ffmpeg's Y4M dump of the MP4 (the same yuv420p planes) reads back as the same RGB */
    if (system("command -v ffmpeg >/dev/null 2>&1") == 0) {
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' '%s'", mp4b, tmp(dump, sizeof dump, "dump.y4m"));
        CHECK(system(cmd) == 0);
        CHECK_OK(rad_cmp_videos(mp4b, dump, NULL, NULL, &res));
        printf("  MP4 vs ffmpeg's Y4M dump (%s): PSNR %g\n", res.b.format, res.summary.psnr);
        CHECK(isinf(res.summary.psnr) && res.summary.ssim_rgb == 1.0);
        rad_cmp_result_free(&res);
        unlink(dump);
    } else {
        printf("  ffmpeg not installed: MP4 against its Y4M dump not checked\n");
    }
    /* a frame count that differs, known only once the MP4 ends */
    CHECK_OK(rad_video_write(mp4, &frames[0][0][0][0], T - 1, H, W, 16, 18));
    CHECK_FAILS(rad_cmp_videos(mp4b, mp4, NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), mp4b) && strstr(rad_last_error(), mp4) && strstr(rad_last_error(), "5 frames") &&
          strstr(rad_last_error(), "4 frames"));
    CHECK_FAILS(rad_cmp_videos(mp4, y4m, NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), "4 frames") && strstr(rad_last_error(), "5 frames"));
    unlink(mp4);
    unlink(mp4b);
#else
    (void)mp4, (void)mp4b, (void)dump;
    printf("  SKIPPED the MP4 round trips: built without FFmpeg\n");
#endif
    /* sizes that differ: width, height, frame count (all known before a frame is read) */
    char other[512], one[512];
    CHECK_OK(rad_video_write(tmp(other, sizeof other, "w.y4m"), &frames[0][0][0][0], T, H, W - 2, 16, 18));
    CHECK_FAILS(rad_cmp_videos(y4m, other, NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), y4m) && strstr(rad_last_error(), other) && strstr(rad_last_error(), "50x36") &&
          strstr(rad_last_error(), "48x36"));
    CHECK_OK(rad_video_write(other, &frames[0][0][0][0], T, H - 2, W, 16, 18));
    CHECK_FAILS(rad_cmp_videos(other, png, NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), "50x34") && strstr(rad_last_error(), "50x36"));
    CHECK_OK(rad_video_write(tmp(one, sizeof one, "one.png"), &frames[0][0][0][0], 1, H, W, 16, 18));
    CHECK_FAILS(rad_cmp_videos(y4m, one, NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), "5 frames") && strstr(rad_last_error(), "1 frame") && strstr(rad_last_error(), one));
    CHECK(res.frames == NULL);
    CHECK_FAILS(rad_cmp_videos(y4m, tmp(other, sizeof other, "missing.y4m"), NULL, NULL, &res));
    CHECK(strstr(rad_last_error(), "missing.y4m") != NULL);
    unlink(one);
    unlink(tmp(other, sizeof other, "w.y4m"));
    unlink(y4m);
    for (int t = 0; t < T; t++) {
        char f[512];
        snprintf(f, sizeof f, "%s/f_%03d.png", dir, t);
        unlink(f);
    }
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rad_cmp_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_frames();
    test_identical();
    test_offset();
    test_reference();
    test_small_symmetric_threads();
    test_round_trips();
    rmdir(dir);
    TEST_MAIN_END();
}
