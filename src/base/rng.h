/* Seeded Gaussian noise. rad_randn is radial's own generator and the same on every machine and thread count:
 * Philox4x32-10 (Salmon et al., SC'11, as in Random123) as a counter-based generator, and Box-Muller on pairs
 * of uniforms. Element i of a draw depends only on (seed, i), so noise of any shape is reproducible and can be
 * filled in parallel.
 *
 * rad_randn_torch_cpu / rad_randn_torch_cuda reproduce torch.randn(n, dtype=float32) from a generator seeded
 * with manual_seed(seed), so a seed gives the initial noise of the Python tools (implemented in rng_torch.c,
 * checked against torch 2.11 by tests/base/test_rng_torch.c with tests/data/rng/, whose README has the numbers):
 *
 * - CPU generator (diffusers' randn_tensor with a CPU generator): at::mt19937 seeded with the seed's low 32
 *   bits. Below 16 values, normal_distribution<double> per element (53-bit uniforms, log1p/cos/sin in double,
 *   the sine kept for the next element). From 16 values, normal_fill: the whole tensor filled with 24-bit
 *   uniforms, Box-Muller on each block of 16 (u1 = 1 - x[j], u2 = x[j + 8], j < 8; cos into x[j], sin into
 *   x[j + 8]), and for a size not a multiple of 16 the last 16 values redrawn from fresh uniforms and
 *   transformed again. The transform is chosen by torch's CPU capability at run time. Every x86 CPU with AVX2
 *   runs normal_fill_16_AVX2 (avx_mathfun.h's Cephes log/sincos in float, FMAs where GCC contracts them), AVX-512
 *   ones included (normal_stub is registered without an AVX-512 kernel): that is rad_randn_torch_cpu,
 *   bit-exact on any machine since it is plain IEEE float arithmetic. x86 CPUs without AVX2, ARM CPUs and
 *   ATEN_CPU_CAPABILITY=default run the scalar kernel on libm's logf/cosf/sinf (theta = 2 pi in double times
 *   u2): that is rad_randn_torch_cpu_scalar, bit-exact where libm is glibc 2.28 or later (the same logf/sinf/cosf
 *   torch calls there; others, e.g. macOS, can differ by an ulp now and then).
 *
 * - CUDA generator (Wan's generate.py): curand Philox4x32-10 in ATen's grid-stride kernel. Thread t of the launch
 *   draws curand_normal4 from curand_init(seed, subsequence t, offset 0), and its c-th draw fills elements
 *   t + T (4c + k), k < 4, T = 256 x grid, grid = min(ceil(n / 256), SMs x (max threads per SM / 256)). So the
 *   layout depends on the GPU: for a GPU of another SM count the values differ beyond the first T elements.
 *   Reproduced exactly: the Philox words, the uniforms (one fused multiply-add each, as nvcc contracts them),
 *   libdevice's logf and sqrtf. Not reproduced: curand's __sincosf is the SFU's sin.approx/cos.approx, an
 *   undocumented hardware approximation (about 2^-21.5 absolute error); this takes sin and cos exactly rounded
 *   of the SFU's reduced argument instead. About 1 value in 4 matches torch bit for bit, most others by a few
 *   ulp; the difference is at most about 3.5e-7 x the Box-Muller radius (1.3e-6 measured on a 480x832x81
 *   latent), far below what changes a video. */
#ifndef RAD_RNG_H
#define RAD_RNG_H
#include <stdint.h>

/* One Philox4x32-10 block: ctr (4 words), key (2 words) -> out (4 words). */
void rad_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* out[i] ~ N(0, 1) for i in [0, n), from the 64-bit seed. */
void rad_randn(uint64_t seed, float *out, int64_t n);

/* torch.randn(n, generator=torch.Generator().manual_seed(seed)) as torch computes it on an x86 CPU with AVX2
 * (or AVX-512). One thread: mt19937 is sequential. */
void rad_randn_torch_cpu(uint64_t seed, float *out, int64_t n);
/* The same draw as torch's scalar kernel computes it: x86 without AVX2, ARM, ATEN_CPU_CAPABILITY=default. */
void rad_randn_torch_cpu_scalar(uint64_t seed, float *out, int64_t n);

/* The GPU the CUDA draw assumes when none is given: 132 SMs of 2048 threads, an H100 SXM or H200 (both have
 * 132 SMs). The H100 PCIe has 114 SMs; the A100 108 (2048 threads); the RTX 4090 128 SMs of 1536 threads. */
#define RAD_TORCH_CUDA_SM_COUNT 132
#define RAD_TORCH_CUDA_THREADS_PER_SM 2048

/* torch.randn(n, device='cuda', generator=torch.Generator('cuda').manual_seed(seed)) on a GPU with sm_count
 * multiprocessors of max_threads_per_sm threads (0 or less: the defaults above). Threaded. */
void rad_randn_torch_cuda(uint64_t seed, float *out, int64_t n, int sm_count, int max_threads_per_sm);
/* The number of threads (256 x grid) of torch's launch for n values: the stride of the draw's layout. */
int64_t rad_torch_cuda_grid_threads(int64_t n, int sm_count, int max_threads_per_sm);
#endif
