/* Philox4x32-10 against the Random123 known-answer vectors; the normal draw against its moments. */
#include <math.h>
#include <stdint.h>

#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "test_util.h"

static int philox_is(const uint32_t c[4], const uint32_t k[2], const uint32_t want[4]) {
    uint32_t out[4];
    rad_philox4x32_10(c, k, out);
    return out[0] == want[0] && out[1] == want[1] && out[2] == want[2] && out[3] == want[3];
}

int main(void) {
    /* Random123 kat_vectors, philox4x32 with 10 rounds. */
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0}, w0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    const uint32_t c1[4] = {~0u, ~0u, ~0u, ~0u}, k1[2] = {~0u, ~0u},
                   w1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    const uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, k2[2] = {0xa4093822, 0x299f31d0},
                   w2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    CHECK(philox_is(c0, k0, w0));
    CHECK(philox_is(c1, k1, w1));
    CHECK(philox_is(c2, k2, w2));

    const int64_t n = 1 << 20;
    float *a, *b;
    CHECK_OK(rad_alloc((void **)&a, n * sizeof(float), "a"));
    CHECK_OK(rad_alloc((void **)&b, n * sizeof(float), "b"));
    rad_set_threads(1);
    rad_randn(1234, a, n);
    rad_set_threads(2);
    rad_randn(1234, b, n);
    double s = 0, s2 = 0, s4 = 0;
    int same = 1;
    for (int64_t i = 0; i < n; i++) {
        same &= a[i] == b[i];
        s += a[i], s2 += (double)a[i] * a[i], s4 += (double)a[i] * a[i] * a[i] * a[i];
    }
    CHECK(same); /* independent of the thread count */
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    /* N(0,1): mean 0 ± 5/sqrt(n), variance 1, fourth moment 3. */
    CHECK(fabs(mean) < 5.0 / sqrt((double)n));
    CHECK(fabs(var - 1.0) < 0.01);
    CHECK(fabs(kurt - 3.0) < 0.05);
    rad_randn(1235, b, n);
    CHECK(a[0] != b[0] || a[1] != b[1]);
    rad_free(a);
    rad_free(b);
    TEST_MAIN_END();
}
