/* cuda_conv_bench: times conv3d at the Wan VAE decoder's layer shapes for 480x832 (one decode chunk each: the
 * frames per chunk and the two cached frames of that stage) on the two CUDA conv paths, the implicit GEMM
 * (default) and im2col + cuBLASLt (RADIAL_CUDA_CONV=im2col), with random inputs; prints the median ms and
 * TFLOP/s of each. A benchmark tool, not a test: correctness is test_cuda_conv_fused's.
 *   cuda_conv_bench [reps]   (default 5 timed calls after one warm-up) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "base/timer.h"
#include "test_util.h"

typedef struct {
    const char *what;
    int64_t cin, t, h, w, n_prev, cout, kt, kh, kw;
} layer;

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median seconds of `reps` conv3d calls on backend be (inputs device buffers of be, x and prev in its conv_dtype) */
static double time_conv(rad_backend *be, const layer *l, const void *x, const void *prev, const rad_weight *wt,
                        const float *bias, float *y, int reps) {
    double t[64];
    for (int r = -1; r < reps; r++) {
        CHECK_OK(be->sync(be));
        const double t0 = rad_now();
        CHECK_OK(be->conv3d(be, x, l->cin, l->t, l->h, l->w, prev, l->n_prev, wt, bias, l->cout, l->kt, l->kh, l->kw,
                            l->kh / 2, l->kw / 2, y));
        CHECK_OK(be->sync(be));
        if (r >= 0) t[r] = rad_now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 64) reps = 5;
    static const layer layers[] = {
        {"stage 0 resblock conv (60x104)", 384, 1, 60, 104, 2, 384, 3, 3, 3},
        {"stage 1 resblock conv (120x208)", 384, 2, 120, 208, 2, 384, 3, 3, 3},
        {"stage 2 resblock conv (240x416)", 192, 4, 240, 416, 2, 192, 3, 3, 3},
        {"stage 3 resblock conv (480x832)", 96, 4, 480, 832, 2, 96, 3, 3, 3},
        {"stage 2 upsample conv 1x3x3 (480x832)", 192, 4, 480, 832, 0, 96, 1, 3, 3},
        {"stage 0 time_conv 3x1x1 (60x104)", 384, 1, 60, 104, 2, 768, 3, 1, 1},
        {"head conv 96->3 (480x832)", 96, 4, 480, 832, 2, 3, 3, 3, 3},
        {"conv_in 16->384 (60x104)", 16, 1, 60, 104, 2, 384, 3, 3, 3},
    };
    const size_t n_layers = sizeof layers / sizeof layers[0];
    size_t max_x = 0, max_y = 0, max_w = 0;
    for (size_t i = 0; i < n_layers; i++) {
        const layer *l = &layers[i];
        const size_t nx = (size_t)(l->cin * l->t * l->h * l->w), ny = (size_t)(l->cout * l->t * l->h * l->w),
                     nw = (size_t)(l->cout * l->cin * l->kt * l->kh * l->kw);
        if (nx > max_x) max_x = nx;
        if (ny > max_y) max_y = ny;
        if (nw > max_w) max_w = nw;
    }
    /* one random host buffer serves every input (x, prev, weights, bias are prefixes of it) */
    const size_t n_host = max_x > max_w ? max_x : max_w;
    float *host = malloc(n_host * sizeof(float));
    if (!host) return 1;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n_host; i++) host[i] = rad_test_uniform(&rng);
    rad_backend *be[2] = {NULL, NULL};
    CHECK_OK(rad_backend_cuda(0, &be[0]));
    setenv("RADIAL_CUDA_CONV", "im2col", 1);
    CHECK_OK(rad_backend_cuda(0, &be[1]));
    unsetenv("RADIAL_CUDA_CONV");
    if (!be[0] || !be[1]) TEST_MAIN_END();
    printf("device: %s; median of %d calls\n", name, reps);
    printf("%-40s %12s %10s %12s %10s %8s\n", "layer (one chunk)", "implicit ms", "TFLOP/s", "im2col ms", "TFLOP/s",
           "speedup");
    for (size_t i = 0; i < n_layers; i++) {
        const layer *l = &layers[i];
        const int64_t K = l->cin * l->kt * l->kh * l->kw;
        const double flop = 2.0 * (double)l->cout * (double)K * (double)(l->t * l->h * l->w);
        double ms[2] = {0, 0};
        for (int b = 0; b < 2; b++) {
            rad_backend *g = be[b];
            void *x = NULL, *prev = NULL;
            float *bias = NULL, *y = NULL, *stage = NULL;
            rad_weight *wt = NULL;
            const size_t nx = (size_t)(l->cin * l->t * l->h * l->w), np = (size_t)(l->cin * l->n_prev * l->h * l->w),
                         ny = (size_t)(l->cout * l->t * l->h * l->w), es = rad_dtype_size(g->conv_dtype);
            CHECK_OK(g->alloc(g, nx * es, "x", &x));
            CHECK_OK(g->alloc(g, (np ? np : 1) * es, "prev", &prev));
            CHECK_OK(g->alloc(g, (size_t)l->cout * sizeof(float), "bias", (void **)&bias));
            CHECK_OK(g->alloc(g, ny * sizeof(float), "y", (void **)&y));
            const size_t ns = nx > np ? nx : np; /* the host buffer holds at least max(x, weights) >= this */
            CHECK_OK(g->alloc(g, ns * sizeof(float), "fp32 staging", (void **)&stage));
            CHECK_OK(g->upload(g, stage, host, ns * sizeof(float)));
            CHECK_OK(g->to_conv_dtype(g, stage, (int64_t)nx, x));
            CHECK_OK(g->to_conv_dtype(g, stage, (int64_t)np, prev));
            g->free(g, stage);
            CHECK_OK(g->upload(g, bias, host, (size_t)l->cout * sizeof(float)));
            CHECK_OK(g->weight_new(g, &(rad_weight_src){RAD_DT_F32, host, NULL, 0}, l->cout, K, "w", &wt));
            if (rad_test_failures) TEST_MAIN_END();
            ms[b] = 1e3 * time_conv(g, l, x, l->n_prev ? prev : NULL, wt, bias, y, reps);
            g->weight_free(g, wt);
            g->free(g, x), g->free(g, prev), g->free(g, bias), g->free(g, y);
        }
        printf("%-40s %12.3f %10.1f %12.3f %10.1f %7.2fx\n", l->what, ms[0], flop / ms[0] * 1e-9, ms[1],
               flop / ms[1] * 1e-9, ms[1] / ms[0]);
    }
    be[0]->destroy(be[0]);
    be[1]->destroy(be[1]);
    free(host);
    TEST_MAIN_END();
}
