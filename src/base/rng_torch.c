/* torch.randn reproduced on the CPU, so that a seed gives the initial noise the Python tools draw:
 * the CPU generator (mt19937 + ATen's normal_fill, what diffusers' randn_tensor uses with a CPU generator) and
 * the CUDA generator (curand Philox4x32-10 + curand_normal4 in ATen's grid-stride kernel, what Wan's
 * generate.py uses). The sources followed, and what matches bit for bit, are described in base/rng.h. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/rng.h"
#include "base/threads.h"

/* The emulations below spell out every rounding: a multiply-add is fused only where torch fuses it (fmaf). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---------------------------------------------------------------------------------------------------------
 * CPU generator: at::mt19937 (ATen/core/MT19937RNGEngine.h), seeded like CPUGeneratorImpl: state[0] is the
 * seed's low 32 bits (the high bits are kept for Generator.initial_seed() only). */
typedef struct {
    uint32_t s[624];
    int left, next;
} mt19937;

static void mt_seed(mt19937 *m, uint64_t seed) {
    m->s[0] = (uint32_t)seed;
    for (uint32_t j = 1; j < 624; j++) m->s[j] = 1812433253u * (m->s[j - 1] ^ (m->s[j - 1] >> 30)) + j;
    m->left = 1, m->next = 0;
}

static inline uint32_t mt_twist(uint32_t u, uint32_t v) {
    return (((u & 0x80000000u) | (v & 0x7fffffffu)) >> 1) ^ ((v & 1) ? 0x9908b0dfu : 0);
}

static void mt_next_state(mt19937 *m) {
    uint32_t *p = m->s;
    m->left = 624, m->next = 0;
    for (int j = 0; j < 624 - 397; j++, p++) *p = p[397] ^ mt_twist(p[0], p[1]);
    for (int j = 0; j < 396; j++, p++) *p = p[397 - 624] ^ mt_twist(p[0], p[1]);
    *p = p[397 - 624] ^ mt_twist(p[0], m->s[0]);
}

static inline uint32_t mt_u32(mt19937 *m) {
    if (--m->left == 0) mt_next_state(m);
    uint32_t y = m->s[m->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* at::uniform_real_distribution<float>(0, 1): 24 random bits scaled by 2^-24, in [0, 1). */
static inline float mt_uniform_f(mt19937 *m) { return (float)(mt_u32(m) & 0xffffffu) * 0x1p-24f; }

/* ...<double>: 53 bits of random64() = (first word << 32) | second word. */
static inline double mt_uniform_d(mt19937 *m) {
    uint64_t hi = mt_u32(m), lo = mt_u32(m);
    return (double)(((hi << 32) | lo) & ((1ull << 53) - 1)) * 0x1p-53;
}

/* normal_fill_16 (ATen/native/cpu/DistributionTemplates.h), the scalar kernel: u1 = 1 - data[j], u2 = data[j+8];
 * the float log/sqrt/cos/sin of libm; theta is 2*pi in double times u2, rounded to float. */
static void fill16_scalar(float *d) {
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j], u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * logf(u1));
        const float theta = (float)(6.283185307179586 * (double)u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

/* The AVX2 kernel, normal_fill_16_AVX2 with log256_ps and sincos256_ps of avx_mathfun.h (Cephes polynomials in
 * float), lane by lane. It is the one x86 torch runs on AVX-512 CPUs too: DistributionKernels.cpp registers
 * normal_stub with REGISTER_NO_AVX512_DISPATCH. The compiler that builds torch (GCC, -mfma, contraction on)
 * fuses each multiply whose only use is an add into an FMA; the fmaf calls are where it does (with plain
 * multiply-adds instead, 1 value in 100 differs). */
static float cephes_logf(float x) {
    /* x is in (0, 1]: no denormals, zeros or negatives, so the masks of log256_ps are left out */
    uint32_t bits = f2u(x);
    float e = (float)((int32_t)(bits >> 23) - 0x7f) + 1.0f;
    x = u2f((bits & ~0x7f800000u) | f2u(0.5f));
    if (x < 0.707106781186547524f) {
        e -= 1.0f;
        x = (x - 1.0f) + x;
    } else {
        x = x - 1.0f;
    }
    const float z = x * x;
    float y = fmaf(7.0376836292E-2f, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, +1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, +2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, +3.3333331174E-1f);
    y = y * x;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = fmaf(-z, 0.5f, y);
    return fmaf(e, 0.693359375f, x + y);
}

static void cephes_sincosf(float x, float *s, float *c) {
    /* x = 2*pi*u2 is in [0, 2*pi): non-negative, so the sign of the input plays no part */
    float y = x * 1.27323954473516f;
    int32_t j = (int32_t)y; /* cvttps: truncation */
    j = (j + 1) & ~1;
    y = (float)j;
    const int swap_sin = (j & 4) != 0, poly_mask = (j & 2) == 0;
    x = fmaf(y, -0.78515625f, x);
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    const int sign_cos = (((uint32_t)j - 2u) & 4u) == 0; /* andnot(j - 2, 4): bit 2 of j - 2 clear */
    const float z = x * x;
    float yc = fmaf(2.443315711809948E-005f, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = fmaf(-1.9515295891E-4f, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    /* poly_mask set: sin takes the sine polynomial and cos the cosine one; clear: the other way round */
    float sv = poly_mask ? ys : yc, cv = poly_mask ? yc : ys;
    *s = swap_sin ? -sv : sv;
    *c = sign_cos ? -cv : cv;
}

static void fill16_avx2(float *d) {
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j], u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * cephes_logf(u1));
        float s, c;
        cephes_sincosf(6.2831855f * u2, &s, &c);
        d[j] = radius * c;
        d[j + 8] = radius * s;
    }
}

static void randn_torch_cpu(uint64_t seed, float *out, int64_t n, void (*fill16)(float *)) {
    if (n <= 0) return;
    mt19937 m;
    mt_seed(&m, seed);
    if (n < 16) {
        /* normal_distribution<double> element by element: one Box-Muller pair per two draws, the sine cached in
         * the generator for the next element */
        for (int64_t i = 0; i < n; i += 2) {
            const double u1 = mt_uniform_d(&m), u2 = mt_uniform_d(&m);
            const double r = sqrt(-2.0 * log1p(-u2)), theta = 6.283185307179586 * u1;
            out[i] = (float)(r * cos(theta));
            if (i + 1 < n) out[i + 1] = (float)(r * sin(theta));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = mt_uniform_f(&m);
    for (int64_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16) {
        /* torch redraws the last 16 values from fresh uniforms, overwriting the tail of the last full block */
        for (int64_t i = n - 16; i < n; i++) out[i] = mt_uniform_f(&m);
        fill16(out + n - 16);
    }
}

void rad_randn_torch_cpu(uint64_t seed, float *out, int64_t n) { randn_torch_cpu(seed, out, n, fill16_avx2); }

void rad_randn_torch_cpu_scalar(uint64_t seed, float *out, int64_t n) { randn_torch_cpu(seed, out, n, fill16_scalar); }

/* ---------------------------------------------------------------------------------------------------------
 * CUDA generator. */

/* logf as CUDA's libdevice computes it (__nv_logf of CUDA 13, non-FTZ as torch builds): a degree-8 polynomial
 * in m - 1 with m in [0.666, 1.333), all in fmaf. Inputs here are in (0, 1], so the Inf/NaN/zero exits are left
 * out. */
static float cuda_logf(float a) {
    float scale = 0.0f;
    if (a < 0x1p-126f) a *= 0x1p23f, scale = -23.0f;
    const uint32_t ia = f2u(a);
    const int32_t e = (int32_t)((ia - 0x3f2aaaabu) & 0xff800000u);
    const float m = u2f(ia - (uint32_t)e);
    const float i = fmaf((float)e, 0x1p-23f, scale);
    const float f = m - 1.0f;
    float r = fmaf(-0x1.0aa04ep-3f, f, 0x1.2073ecp-3f);
    r = fmaf(r, f, -0x1.f19b98p-4f);
    r = fmaf(r, f, 0x1.1e52aap-3f);
    r = fmaf(r, f, -0x1.55b172p-3f);
    r = fmaf(r, f, 0x1.99da16p-3f);
    r = fmaf(r, f, -0x1.fffe44p-3f);
    r = fmaf(r, f, 0x1.5554f0p-2f);
    r = fmaf(r, f, -0.5f);
    r = r * f;
    r = fmaf(r, f, f);
    return fmaf(i, 0x1.62e430p-1f, r);
}

/* __sincosf on the device is sin.approx.f32 / cos.approx.f32: the SFU reduces v to turns as
 * r = v * (1/2pi) rounded toward zero, then approximates sin(2 pi r) to about 22 bits. The SFU's own
 * interpolation is not public, so this takes sin(2 pi r) exactly rounded: the turn rounding is reproduced, the
 * SFU's approximation error (below 2^-20.5 absolute) is not. */
static inline void sfu_sincosf(float v, float *s, float *c) {
    const double p = (double)v * (double)0.15915494f; /* exact: two 24-bit significands */
    float r = (float)p;
    if (fabs((double)r) > fabs(p)) r = u2f(f2u(r) - 1); /* to zero (p > 0 here) */
    const double t = 6.283185307179586476925 * (double)r;
    *s = (float)sin(t);
    *c = (float)cos(t);
}

/* _curand_box_muller (curand_normal.h) on two words: u = x 2^-32 + 2^-33 and v = y 2pi 2^-32 + pi 2^-32, each a
 * single fused multiply-add on the device (nvcc contracts), s = sqrtf(-2 logf(u)); returns (s sin v, s cos v). */
static inline void curand_box_muller(uint32_t x, uint32_t y, float *o) {
    const float k = 0x1p-32f, k2pi = 0x1p-32f * 6.2831855f;
    const float u = fmaf((float)x, k, k / 2), v = fmaf((float)y, k2pi, k2pi / 2);
    const float s = sqrtf(-2.0f * cuda_logf(u));
    float sn, cs;
    sfu_sincosf(v, &sn, &cs);
    o[0] = sn * s;
    o[1] = cs * s;
}

typedef struct {
    uint64_t seed;
    float *out;
    int64_t n, threads; /* threads: blockDim * gridDim of the launch */
} cuda_job;

/* Thread t of the grid-stride kernel: curand_init(seed, subsequence t, offset 0) puts t in the counter's
 * upper 64 bits; its c-th curand_normal4 is Philox(counter = (c, t), key = seed), and element ii of it lands at
 * t + threads * (4c + ii). */
static void cuda_range(void *ctx, int64_t t0, int64_t t1) {
    const cuda_job *j = ctx;
    const uint32_t key[2] = {(uint32_t)j->seed, (uint32_t)(j->seed >> 32)};
    const int64_t T = j->threads, calls = (j->n + 4 * T - 1) / (4 * T);
    for (int64_t c = 0; c < calls; c++)
        for (int64_t t = t0; t < t1; t++) {
            const int64_t base = t + 4 * c * T;
            if (base >= j->n) break;
            const uint32_t ctr[4] = {(uint32_t)c, (uint32_t)((uint64_t)c >> 32), (uint32_t)t,
                                     (uint32_t)((uint64_t)t >> 32)};
            uint32_t r[4];
            float z[4];
            rad_philox4x32_10(ctr, key, r);
            curand_box_muller(r[0], r[1], z);
            curand_box_muller(r[2], r[3], z + 2);
            for (int ii = 0; ii < 4 && base + ii * T < j->n; ii++) j->out[base + ii * T] = z[ii];
        }
}

int64_t rad_torch_cuda_grid_threads(int64_t n, int sm_count, int max_threads_per_sm) {
    if (sm_count <= 0) sm_count = RAD_TORCH_CUDA_SM_COUNT;
    if (max_threads_per_sm <= 0) max_threads_per_sm = RAD_TORCH_CUDA_THREADS_PER_SM;
    /* calc_execution_policy (ATen/native/cuda/DistributionTemplates.h): blocks of 256, one block per 256
     * elements, capped at what the GPU holds resident at once */
    const int64_t block = 256, cap = (int64_t)sm_count * (max_threads_per_sm / block);
    int64_t grid = (n + block - 1) / block;
    if (grid > cap) grid = cap;
    return (grid < 1 ? 1 : grid) * block;
}

void rad_randn_torch_cuda(uint64_t seed, float *out, int64_t n, int sm_count, int max_threads_per_sm) {
    if (n <= 0) return;
    cuda_job j = {seed, out, n, rad_torch_cuda_grid_threads(n, sm_count, max_threads_per_sm)};
    rad_parallel_for(j.threads < n ? j.threads : n, 4096, cuda_range, &j);
}
