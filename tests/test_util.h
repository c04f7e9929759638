/* Small test helpers: checks that report file and line, relative error, golden data paths, scratch files,
 * tensor copies. */
#ifndef RAD_TEST_UTIL_H
#define RAD_TEST_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "io/safetensors.h"

static int rad_test_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            rad_test_failures++;                                                     \
        }                                                                            \
    } while (0)

/* Expects RAD_OK; prints the library's error message otherwise. */
#define CHECK_OK(expr)                                                                                   \
    do {                                                                                                 \
        rad_status s_ = (expr);                                                                          \
        if (s_ != RAD_OK) {                                                                              \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, rad_last_error());      \
            rad_test_failures++;                                                                         \
        }                                                                                                \
    } while (0)

/* Expects a failure; prints the message so the log shows every rejection reads well. */
#define CHECK_FAILS(expr)                                                                       \
    do {                                                                                        \
        rad_status s_ = (expr);                                                                 \
        if (s_ == RAD_OK) {                                                                     \
            fprintf(stderr, "%s:%d: expected failure: %s\n", __FILE__, __LINE__, #expr);        \
            rad_test_failures++;                                                                \
        } else {                                                                                \
            printf("  rejected as expected: %s\n", rad_last_error());                           \
        }                                                                                       \
    } while (0)

#define TEST_MAIN_END()                                                 \
    do {                                                                \
        if (rad_test_failures) {                                        \
            fprintf(stderr, "%d check(s) failed\n", rad_test_failures); \
            return 1;                                                   \
        }                                                               \
        printf("all checks passed\n");                                  \
        return 0;                                                       \
    } while (0)

/* Reproducible test inputs: uniform in [-1, 1) from a xorshift64 state (any nonzero seed). */
static inline float rad_test_uniform(uint64_t *state) {
    *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
    return (float)((double)(*state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ||a-b|| / ||b|| in double. */
static inline double rad_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        if (isnan(a[i])) return INFINITY;
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Writes text to the file dir/name; a failed CHECK when it cannot. */
static inline void rad_test_write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        CHECK(fputs(text, f) >= 0);
        CHECK(fclose(f) == 0);
    }
}

/* A tensor read from a file as writer input (same name, dtype, shape and data), to copy or alter files. */
static inline rad_st_out rad_test_st_out(const rad_st_tensor *t) {
    rad_st_out o = {.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
    memcpy(o.shape, t->shape, sizeof o.shape);
    return o;
}

/* Path under tests/data (RAD_TEST_DATA is set by ctest). */
static inline const char *rad_test_path(char *buf, size_t size, const char *rel) {
    const char *root = getenv("RAD_TEST_DATA");
    snprintf(buf, size, "%s/%s", root ? root : "tests/data", rel);
    return buf;
}
#endif
