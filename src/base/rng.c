/* radial's own seeded noise, Philox4x32-10 + Box-Muller (base/rng.h); the torch-compatible draws are in rng_torch.c. */
#include "base/rng.h"

#include <math.h>

#include "base/threads.h"

void rad_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)M0 * c0, p1 = (uint64_t)M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += W0;
        k1 += W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* A uniform in (0, 1]: 24 random bits, never 0 (log(0) in Box-Muller). */
static inline double unit_open(uint32_t u) { return ((double)(u >> 8) + 1.0) / 16777216.0; }

typedef struct {
    uint64_t seed;
    float *out;
    int64_t n;
} randn_job;

/* Block b yields elements 4b..4b+3: two Box-Muller pairs from the four words of Philox(ctr = b, key = seed). */
static void randn_range(void *ctx, int64_t b0, int64_t b1) {
    randn_job *j = ctx;
    const uint32_t key[2] = {(uint32_t)j->seed, (uint32_t)(j->seed >> 32)};
    const double two_pi = 6.283185307179586476925;
    for (int64_t b = b0; b < b1; b++) {
        uint32_t ctr[4] = {(uint32_t)b, (uint32_t)((uint64_t)b >> 32), 0, 0}, r[4];
        rad_philox4x32_10(ctr, key, r);
        float z[4];
        for (int p = 0; p < 2; p++) {
            double rad = sqrt(-2.0 * log(unit_open(r[2 * p]))), ang = two_pi * unit_open(r[2 * p + 1]);
            z[2 * p] = (float)(rad * cos(ang));
            z[2 * p + 1] = (float)(rad * sin(ang));
        }
        for (int e = 0; e < 4 && 4 * b + e < j->n; e++) j->out[4 * b + e] = z[e];
    }
}

void rad_randn(uint64_t seed, float *out, int64_t n) {
    randn_job j = {seed, out, n};
    rad_parallel_for((n + 3) / 4, 4096, randn_range, &j);
}
