/* CPU conv3d / rmsnorm_channels / upsample2x against naive double-precision references on random inputs:
 * odd sizes, temporal kernels 1 and 3, with and without cached `prev` frames, several channel blocks and
 * column chunks, and bitwise equality across thread counts (the accumulation order is fixed). */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"
#include "test_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float *rand_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = rad_test_uniform(&rng);
    return p;
}

/* The definition: frames of the sequence [zeros, prev, x], causal in time, zero padding in space. */
static void conv_ref(const float *x, int cin, int t, int h, int w, const float *prev, int n_prev, const float *wt,
                     const float *bias, int cout, int kt, int kh, int kw, int ph, int pw, float *y) {
    const int ho = h + 2 * ph - kh + 1, wo = w + 2 * pw - kw + 1;
    for (int co = 0; co < cout; co++)
        for (int f = 0; f < t; f++)
            for (int yo = 0; yo < ho; yo++)
                for (int xo = 0; xo < wo; xo++) {
                    double s = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int dt = 0; dt < kt; dt++) {
                            const int sf = f + dt - (kt - 1);
                            const float *plane;
                            if (sf >= 0)
                                plane = x + ((size_t)ci * t + sf) * h * w;
                            else if (prev && n_prev + sf >= 0)
                                plane = prev + ((size_t)ci * n_prev + n_prev + sf) * h * w;
                            else
                                continue;
                            for (int dy = 0; dy < kh; dy++)
                                for (int dx = 0; dx < kw; dx++) {
                                    const int yi = yo + dy - ph, xi = xo + dx - pw;
                                    if (yi < 0 || yi >= h || xi < 0 || xi >= w) continue;
                                    s += (double)wt[(((size_t)co * cin + ci) * kt + dt) * kh * kw + dy * kw + dx] *
                                         plane[yi * w + xi];
                                }
                        }
                    y[(((size_t)co * t + f) * ho + yo) * wo + xo] = (float)s;
                }
}

static void check_conv(int cin, int t, int h, int w, int n_prev, int cout, int kt, int kh, int kw, int ph, int pw,
                       int use_bias) {
    const int ho = h + 2 * ph - kh + 1, wo = w + 2 * pw - kw + 1;
    const size_t K = (size_t)cin * kt * kh * kw, ny = (size_t)cout * t * ho * wo;
    float *x = rand_buf((size_t)cin * t * h * w), *prev = n_prev ? rand_buf((size_t)cin * n_prev * h * w) : NULL;
    float *wdata = rand_buf(cout * K), *bias = use_bias ? rand_buf(cout) : NULL;
    float *ref = malloc(ny * sizeof *ref), *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
    rad_weight wt = {cout, (int64_t)K, wdata};
    conv_ref(x, cin, t, h, w, prev, n_prev, wdata, bias, cout, kt, kh, kw, ph, pw, ref);
    rad_set_threads(1);
    CHECK_OK(rad_cpu_conv3d(NULL, x, cin, t, h, w, prev, n_prev, &wt, bias, cout, kt, kh, kw, ph, pw, y1));
    rad_set_threads(3);
    CHECK_OK(rad_cpu_conv3d(NULL, x, cin, t, h, w, prev, n_prev, &wt, bias, cout, kt, kh, kw, ph, pw, y2));
    /* The fused kernels (AVX2+FMA, AVX-512) round identically; the portable one is checked on its own. */
    float *y3 = malloc(ny * sizeof *y3), *y4 = malloc(ny * sizeof *y4);
    rad_set_threads(2);
    rad_cpu_conv3d_isa_cap(1);
    CHECK_OK(rad_cpu_conv3d(NULL, x, cin, t, h, w, prev, n_prev, &wt, bias, cout, kt, kh, kw, ph, pw, y3));
    rad_cpu_conv3d_isa_cap(0);
    CHECK_OK(rad_cpu_conv3d(NULL, x, cin, t, h, w, prev, n_prev, &wt, bias, cout, kt, kh, kw, ph, pw, y4));
    rad_cpu_conv3d_isa_cap(2);
    rad_set_threads(0);
    CHECK(memcmp(y1, y3, ny * sizeof *y1) == 0);
    const double err_portable = rad_rel_err(y4, ref, ny);
    CHECK(err_portable < 1e-6);
    free(y3), free(y4);
    const double err = rad_rel_err(y1, ref, ny);
    printf("conv cin %d t %d %dx%d prev %d cout %d k %dx%dx%d pad %d,%d: rel err %.2e (portable kernel %.2e)\n",
           cin, t, h, w, n_prev, cout, kt, kh, kw, ph, pw, err, err_portable);
    CHECK(err < 1e-6);
    CHECK(memcmp(y1, y2, ny * sizeof *y1) == 0);
    free(x), free(prev), free(wdata), free(bias), free(ref), free(y1), free(y2);
}

static void test_rmsnorm(void) {
    const int c = 37, s = 1000;
    float *x = rand_buf((size_t)c * s), *g = rand_buf(c), *y = malloc((size_t)c * s * sizeof *y);
    for (int j = 0; j < c; j++) x[j * s + 7] = 0.0f; /* an all-zero column: x / 1e-12 = 0 */
    CHECK_OK(rad_cpu_rmsnorm_channels(NULL, x, c, s, g, y));
    double num = 0, den = 0;
    for (int j = 0; j < s; j++) {
        double n = 0;
        for (int i = 0; i < c; i++) n += (double)x[i * s + j] * x[i * s + j];
        n = sqrt(n);
        if (n < 1e-12) n = 1e-12;
        for (int i = 0; i < c; i++) {
            const double r = x[i * s + j] / n * sqrt((double)c) * g[i];
            num += (y[i * s + j] - r) * (y[i * s + j] - r), den += r * r;
        }
    }
    printf("rmsnorm_channels rel err %.2e\n", sqrt(num / den));
    CHECK(sqrt(num / den) < 1e-6);
    CHECK(y[7] == 0.0f);
    CHECK_OK(rad_cpu_rmsnorm_channels(NULL, x, c, s, g, x)); /* in place */
    CHECK(memcmp(x, y, (size_t)c * s * sizeof *y) == 0);
    free(x), free(g), free(y);
}

static void test_upsample(void) {
    const int c = 3, h = 5, w = 7;
    float *x = rand_buf(c * h * w), *y = malloc(c * 4 * h * w * sizeof *y);
    CHECK_OK(rad_cpu_upsample2x(NULL, x, c, h, w, y));
    int bad = 0;
    for (int i = 0; i < c; i++)
        for (int r = 0; r < 2 * h; r++)
            for (int q = 0; q < 2 * w; q++) bad += y[(i * 2 * h + r) * 2 * w + q] != x[(i * h + r / 2) * w + q / 2];
    CHECK(bad == 0);
    free(x), free(y);
}

int main(void) {
    /*         cin t  h   w  prev cout kt kh kw ph pw bias */
    check_conv(5, 3, 9, 37, 0, 7, 3, 3, 3, 1, 1, 1);   /* causal zero front, edge tiles in both dims */
    check_conv(5, 1, 9, 37, 2, 7, 3, 3, 3, 1, 1, 1);   /* one frame with a full cache */
    check_conv(5, 2, 6, 11, 1, 13, 3, 3, 3, 1, 1, 0);  /* one cached frame, one zero frame */
    check_conv(4, 1, 5, 6, 3, 3, 3, 3, 3, 1, 1, 1);    /* more prev frames than taps need */
    check_conv(6, 4, 7, 5, 2, 12, 3, 1, 1, 0, 0, 1);   /* time_conv shape (3,1,1) */
    check_conv(7, 2, 8, 19, 0, 5, 1, 3, 3, 1, 1, 1);   /* Conv2d per frame */
    check_conv(9, 3, 4, 21, 2, 11, 1, 1, 1, 0, 0, 1);  /* 1x1x1 with prev given (ignored) */
    check_conv(3, 1, 5, 9, 0, 2, 1, 2, 4, 0, 2, 1);    /* asymmetric kernel and padding */
    check_conv(50, 2, 3, 140, 1, 7, 3, 3, 3, 1, 1, 1); /* several channel blocks and column chunks */
    check_conv(1, 1, 1, 1, 0, 1, 3, 3, 3, 1, 1, 1);    /* 1x1 image */

    float v = 0;
    rad_weight bad = {2, 3, &v};
    CHECK_FAILS(rad_cpu_conv3d(NULL, &v, 1, 1, 1, 1, NULL, 0, &bad, NULL, 2, 1, 1, 1, 0, 0, &v));
    rad_weight one = {1, 9, &v};
    CHECK_FAILS(rad_cpu_conv3d(NULL, &v, 1, 1, 1, 1, NULL, 0, &one, NULL, 1, 1, 3, 3, 0, 0, &v));
    CHECK_FAILS(rad_cpu_conv3d(NULL, &v, 1, 1, 1, 1, NULL, 2, &one, NULL, 1, 1, 3, 3, 1, 1, &v));
    test_rmsnorm();
    test_upsample();
    TEST_MAIN_END();
}
