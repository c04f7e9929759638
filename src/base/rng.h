/* Seeded Gaussian noise that is the same on every machine and thread count: Philox4x32-10 (Salmon et al.,
 * SC'11, as in Random123) as a counter-based generator, and Box-Muller on pairs of uniforms. Element i of a
 * draw depends only on (seed, i), so noise of any shape is reproducible and can be filled in parallel.
 * It does not reproduce torch's CUDA generator: the same seed gives different noise than the Python code. */
#ifndef RAD_RNG_H
#define RAD_RNG_H
#include <stdint.h>

/* One Philox4x32-10 block: ctr (4 words), key (2 words) -> out (4 words). */
void rad_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* out[i] ~ N(0, 1) for i in [0, n), from the 64-bit seed. */
void rad_randn(uint64_t seed, float *out, int64_t n);
#endif
