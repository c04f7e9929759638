/* Helpers the CUDA op tests share (one test program includes it once): seeded host data, device copies, a
 * poisoned output buffer (NaN bytes, so an op that writes nothing fails), and the relative-error check that says
 * whether two results are bit-identical, convolution inputs in the backend's conv_dtype. Each program seeds
 * gpu_test_rng itself. */
#ifndef RAD_GPU_TEST_UTIL_H
#define RAD_GPU_TEST_UTIL_H
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "test_util.h"

static uint64_t gpu_test_rng = 0x2545F4914F6CDD1Dull;

static inline float urand(void) { return rad_test_uniform(&gpu_test_rng); }

static inline float *host_rand(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}
static inline float *dev_copy(rad_backend *be, const float *h, size_t n) {
    float *d = NULL;
    CHECK_OK(be->alloc(be, (n ? n : 1) * sizeof(float), "test buffer", (void **)&d));
    CHECK_OK(be->upload(be, d, h, n * sizeof(float)));
    return d;
}
/* A device copy of a host array as convolution input: n elements of the backend's conv_dtype (backend.h). */
static inline void *dev_conv_copy(rad_backend *be, const float *h, size_t n) {
    float *d = dev_copy(be, h, n);
    void *c = NULL;
    CHECK_OK(be->alloc(be, (n ? n : 1) * rad_dtype_size(be->conv_dtype), "test conv input", &c));
    CHECK_OK(be->to_conv_dtype(be, d, (int64_t)n, c));
    be->free(be, d);
    return c;
}
static inline float *dev_poison(rad_backend *be, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    memset(h, 0xff, (n ? n : 1) * sizeof(float));
    float *d = dev_copy(be, h, n);
    free(h);
    return d;
}
static inline float *download(rad_backend *be, const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    CHECK_OK(be->download(be, h, d, n * sizeof(float)));
    return h;
}
/* rel error within tol; also says whether the two are bit-identical */
static inline void check_rel(const char *what, const float *got, const float *ref, size_t n, double tol) {
    const double e = rad_rel_err(got, ref, n);
    printf("  %-72s rel %.3g (tol %.0e)%s\n", what, e, tol, memcmp(got, ref, n * sizeof(float)) ? "" : ", bit-identical");
    if (!(e <= tol)) {
        fprintf(stderr, "%s: rel error %g over %g\n", what, e, tol);
        rad_test_failures++;
    }
}

/* The backends the op tests compare: the CPU reference, CUDA on device 0, and CUDA with the im2col conv path
 * (the environment variable is read when a backend is made). False when one could not be made. */
static inline bool gpu_test_backends(rad_backend **cpu, rad_backend **gpu, rad_backend **gpu_im2col) {
    CHECK_OK(rad_backend_cpu(cpu));
    CHECK_OK(rad_backend_cuda(0, gpu));
    setenv("RADIAL_CUDA_CONV", "im2col", 1);
    CHECK_OK(rad_backend_cuda(0, gpu_im2col));
    unsetenv("RADIAL_CUDA_CONV");
    return *cpu && *gpu && *gpu_im2col;
}
#endif
