/* Stored weights to bf16 on the device (dequant.cuh): fp8 (e4m3fn, e5m2) times an optional scale, and the GGUF
 * block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K with ggml's dequantisation math
 * (ggml-quants.c, dequantize_row_*: the same products in the same order, one fp32 rounding each), so the
 * result is the host's fp32 dequantisation (rad_dtype_to_f32, rad_quant_dequant, then × scale) rounded to
 * bf16 bit for bit.
 *
 * Exactness under the build's --use_fast_math: its -ftz=true turns even __fmul_rn into mul.rn.ftz (subnormal
 * results flushed to zero) and plain products may be contracted into FMAs; so the arithmetic goes through
 * inline PTX mul.rn.f32 / add.rn.f32 / sub.rn.f32 (IEEE, never fused, subnormals kept) and the fp16/fp8 element
 * conversions are exact bit manipulations (mirroring base/half.h). Two paths give the same bits: where no NaN
 * can arise (the block's fp16 fields, the fp8 bytes and the scale are finite: the usual case), the plain ops and
 * the hardware's bf16 rounding (cvt.rn.bf16x2.f32, round to nearest even); otherwise the exact path, which makes
 * every NaN the host's (nan_as_host: an operand's NaN propagated, x86's default NaN for an invalid operation)
 * and rounds with rad_f32_to_bf16's integer code (NaN kept quiet with its sign). The element functions are
 * __host__ __device__ so the same code can be checked against ggml's on a host (it was: every element of 4000
 * random blocks of each type, bit for bit, and every fp16 and fp8 value against base/half.h).
 *
 * Launch shape: a 2-D grid of 256-thread blocks, x over column groups of 8 elements, y over rows (grid-stride
 * past 65535). A thread writes 8 consecutive bf16 (one 16-byte store; a warp writes 512 contiguous bytes) and
 * reads the bytes of those 8 elements and their block's scale fields (byte loads, L1 hits: the warp reads a
 * few contiguous blocks); all 8 elements of a thread lie in one block and share its scales (every sub-block is
 * 16 or 32 long). Measured on the H200 at 8960 x 1536 (the 1.3B FFN; 27.5 MB written): e4m3 with row scales
 * 12 us, Q4_0 13 us, Q8_0 12 us, Q4_K 17 us, Q6_K 17.5 us, next to 15 us for a device copy of the 27.5 MB. The
 * exact path alone was 1.5x slower (instruction-bound: NaN selects and integer rounding); more rows a thread
 * (more loads in flight) gained nothing. */
#include <string.h>

#include "backend/cuda/dequant.cuh"

namespace {
constexpr int TPB = 256;
constexpr unsigned MAX_GRID_Y = 65535;

/* ---- exact fp32 arithmetic and conversions (host and device) ---- */

__host__ __device__ __forceinline__ float as_f32(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}
__host__ __device__ __forceinline__ uint32_t as_u32(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}

#ifdef __CUDA_ARCH__
__device__ __forceinline__ bool is_nan(float f) { return (as_u32(f) & 0x7fffffffu) > 0x7f800000u; }
/* A NaN result as the host CPU (x86-64, SSE) gives it: a NaN operand comes through with its sign and payload
 * (a's first; f32_bf16 sets the quiet bit either way), an invalid operation (inf - inf, 0 · inf) gives the
 * default NaN 0xffc00000. The device's own rule (always the canonical 0x7fffffff) would make the bf16 NaNs
 * differ from the host's. Selects, no branches. */
__device__ __forceinline__ float nan_as_host(float a, float b, float r) {
    if (!is_nan(r)) return r;
    return is_nan(a) ? a : is_nan(b) ? b : as_f32(0xffc00000u);
}
#endif

/* IEEE fp32 ops, never fused, subnormals kept. N: a NaN result is made the host's (nan_as_host); without it the
 * device's canonical NaN comes out, which is fine where no NaN can arise (dequant_fast). */
#ifdef __CUDA_ARCH__
#define RK_RN_OP(name, ptx, op)                                                                                \
    template <bool N> __host__ __device__ __forceinline__ float name(float a, float b) {                     \
        float r;                                                                                               \
        asm(ptx " %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));                                                    \
        return N ? nan_as_host(a, b, r) : r;                                                                   \
    }
#else
#define RK_RN_OP(name, ptx, op)                                                                                \
    template <bool N> __host__ __device__ __forceinline__ float name(float a, float b) { return a op b; }
#endif
RK_RN_OP(mul_rn, "mul.rn.f32", *)
RK_RN_OP(add_rn, "add.rn.f32", +)
RK_RN_OP(sub_rn, "sub.rn.f32", -)
#undef RK_RN_OP

/* as_f32(bits) · p (p a power of two, bits finite): an exponent rebias, exact, subnormal inputs and results kept
 * (mul.rn.f32 without .ftz). The element conversions below are branch-free with it (random weight bytes would
 * make per-element branches diverge). */
__host__ __device__ __forceinline__ float rebias(uint32_t bits, float p) {
#ifdef __CUDA_ARCH__
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(as_f32(bits)), "f"(p));
    return r;
#else
    return as_f32(bits) * p;
#endif
}

/* rad_f16_to_f32 (exact; NaN payload kept): the 15 magnitude bits moved to an fp32's exponent and mantissa
 * fields, times 2^(127 - 15) (a subnormal fp16 is then an fp32 subnormal times 2^112: the right normal). */
__host__ __device__ __forceinline__ float f16_f32(uint32_t h) {
    const uint32_t sign = (h & 0x8000u) << 16, em = h & 0x7fffu;
    if (em >= 0x7c00u) return as_f32(sign | 0x7f800000u | ((em & 0x3ffu) << 13)); /* inf, NaN */
    return as_f32(sign | as_u32(rebias(em << 13, 0x1p112f)));
}

/* rad_f8e4m3_to_f32: bias 7, no infinities, 0x7f / 0xff NaN; subnormals man/8 · 2^-6; likewise rebiased. */
__host__ __device__ __forceinline__ float e4m3_f32(uint32_t b) {
    const uint32_t sign = (b & 0x80u) << 24, em = b & 0x7fu;
    if (em == 0x7fu) return as_f32(sign | 0x7fc00000u);
    return as_f32(sign | as_u32(rebias(em << 20, 0x1p120f)));
}

/* e5m2 is the top byte of an fp16 (as the host converts it). */
__host__ __device__ __forceinline__ float e5m2_f32(uint32_t b) { return f16_f32(b << 8); }

/* rad_f32_to_bf16: round to nearest even; NaN stays a quiet NaN with its sign. */
__host__ __device__ __forceinline__ uint32_t f32_bf16(float f) {
    uint32_t u = as_u32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

__host__ __device__ __forceinline__ uint32_t ld16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
__host__ __device__ __forceinline__ uint32_t ld32(const uint8_t *p) { return ld16(p) | ld16(p + 2) << 16; }

/* ggml's get_scale_min_k4 (Q4_K, Q5_K): the 6-bit scale and min of sub-block j from the 12 scale bytes. */
__host__ __device__ __forceinline__ void scale_min_k4(int j, const uint8_t *q, uint32_t *d, uint32_t *m) {
    if (j < 4) {
        *d = q[j] & 63u;
        *m = q[j + 4] & 63u;
    } else {
        *d = (q[j + 4] & 0xFu) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* ---- the block types: elements j .. j+7 (j a multiple of 8) of one block b, in fp32 ----
 * Layouts (ggml-common.h), byte offsets: Q4_0 {d@0, qs[16]@2} 18 B; Q4_1 {d@0, m@2, qs[16]@4} 20 B;
 * Q5_0 {d@0, qh[4]@2, qs[16]@6} 22 B; Q5_1 {d@0, m@2, qh[4]@4, qs[16]@8} 24 B; Q8_0 {d@0, qs[32] int8 @2} 34 B;
 * Q4_K {d@0, dmin@2, scales[12]@4, qs[128]@16} 144 B; Q5_K {d@0, dmin@2, scales[12]@4, qh[32]@16, qs[128]@48}
 * 176 B; Q6_K {ql[128]@0, qh[64]@128, scales[16] int8 @192, d@208} 210 B. d, m, dmin are fp16, at byte offsets
 * H0 and H1 (-1: none). */
template <rad_dtype T> struct blk;

template <> struct blk<RAD_DT_Q4_0> {
    static constexpr int QK = 32, BYTES = 18, H0 = 0, H1 = -1;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b));
        const uint8_t *qs = b + 2 + (j & 15);
        for (int i = 0; i < 8; i++) { /* ggml: x0 = (qs & 0xF) - 8, x1 = (qs >> 4) - 8; y = x*d */
            const int q = (int)(j >= 16 ? qs[i] >> 4 : qs[i] & 0xF) - 8;
            v[i] = mul_rn<N>((float)q, d);
        }
    }
};
template <> struct blk<RAD_DT_Q4_1> {
    static constexpr int QK = 32, BYTES = 20, H0 = 0, H1 = 2;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b)), m = f16_f32(ld16(b + 2));
        const uint8_t *qs = b + 4 + (j & 15);
        for (int i = 0; i < 8; i++) { /* y = x*d + m */
            const int q = j >= 16 ? qs[i] >> 4 : qs[i] & 0xF;
            v[i] = add_rn<N>(mul_rn<N>((float)q, d), m);
        }
    }
};
/* Q5_0 / Q5_1: the fifth bit of element e is bit e of qh (ggml: (qh >> j) << 4 & 0x10 for the low half,
 * (qh >> (j + 12)) & 0x10 for element 16 + j). */
template <> struct blk<RAD_DT_Q5_0> {
    static constexpr int QK = 32, BYTES = 22, H0 = 0, H1 = -1;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b));
        const uint32_t qh = ld32(b + 2);
        const uint8_t *qs = b + 6 + (j & 15);
        for (int i = 0; i < 8; i++) {
            const int q = (int)((j >= 16 ? qs[i] >> 4 : qs[i] & 0xF) | ((qh >> (j + i)) & 1u) << 4) - 16;
            v[i] = mul_rn<N>((float)q, d);
        }
    }
};
template <> struct blk<RAD_DT_Q5_1> {
    static constexpr int QK = 32, BYTES = 24, H0 = 0, H1 = 2;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b)), m = f16_f32(ld16(b + 2));
        const uint32_t qh = ld32(b + 4);
        const uint8_t *qs = b + 8 + (j & 15);
        for (int i = 0; i < 8; i++) {
            const int q = (int)((j >= 16 ? qs[i] >> 4 : qs[i] & 0xF) | ((qh >> (j + i)) & 1u) << 4);
            v[i] = add_rn<N>(mul_rn<N>((float)q, d), m);
        }
    }
};
template <> struct blk<RAD_DT_Q8_0> {
    static constexpr int QK = 32, BYTES = 34, H0 = 0, H1 = -1;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b));
        const uint8_t *qs = b + 2 + j;
        for (int i = 0; i < 8; i++) v[i] = mul_rn<N>((float)(int8_t)qs[i], d);
    }
};
/* Q4_K / Q5_K: 8 sub-blocks of 32; sub-block s = j / 32 takes the low nibbles (s even) or the high nibbles
 * (s odd) of qs[32 (s / 2) ..][32]; y = (d·sc) · q - (dmin·m). Q5_K's fifth bit of element l of sub-block s is
 * bit s of qh[l] (ggml's u1/u2 masks shift by 2 every 64 elements). */
template <> struct blk<RAD_DT_Q4_K> {
    static constexpr int QK = 256, BYTES = 144, H0 = 0, H1 = 2;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b)), dmin = f16_f32(ld16(b + 2));
        const int s = j >> 5, l = j & 31;
        uint32_t sc, mn;
        scale_min_k4(s, b + 4, &sc, &mn);
        const float d1 = mul_rn<N>(d, (float)sc), m1 = mul_rn<N>(dmin, (float)mn);
        const uint8_t *qs = b + 16 + 32 * (s >> 1) + l;
        for (int i = 0; i < 8; i++) {
            const uint32_t q = s & 1 ? qs[i] >> 4 : qs[i] & 0xFu;
            v[i] = sub_rn<N>(mul_rn<N>(d1, (float)q), m1);
        }
    }
};
template <> struct blk<RAD_DT_Q5_K> {
    static constexpr int QK = 256, BYTES = 176, H0 = 0, H1 = 2;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b)), dmin = f16_f32(ld16(b + 2));
        const int s = j >> 5, l = j & 31;
        uint32_t sc, mn;
        scale_min_k4(s, b + 4, &sc, &mn);
        const float d1 = mul_rn<N>(d, (float)sc), m1 = mul_rn<N>(dmin, (float)mn);
        const uint8_t *qh = b + 16 + l, *qs = b + 48 + 32 * (s >> 1) + l;
        for (int i = 0; i < 8; i++) {
            const uint32_t q = (s & 1 ? qs[i] >> 4 : qs[i] & 0xFu) + ((qh[i] >> s) & 1u ? 16u : 0u);
            v[i] = sub_rn<N>(mul_rn<N>(d1, (float)q), m1);
        }
    }
};
/* Q6_K: two halves of 128; in half h, quarter t = (j % 128) / 32, element l of it: low (t < 2) or high nibble
 * of ql[64h + 32 (t & 1) + l], bits 2t, 2t+1 of qh[32h + l] on top, minus 32; scale scales[8h + l/16 + 2t];
 * y = (d·sc) · q. */
template <> struct blk<RAD_DT_Q6_K> {
    static constexpr int QK = 256, BYTES = 210, H0 = 208, H1 = -1;
    template <bool N> __host__ __device__ static void deq8(const uint8_t *b, int j, float *v) {
        const float d = f16_f32(ld16(b + 208));
        const int h = j >> 7, t = (j >> 5) & 3, l = j & 31;
        const float ds = mul_rn<N>(d, (float)(int8_t)b[192 + 8 * h + (l >> 4) + 2 * t]);
        const uint8_t *ql = b + 64 * h + 32 * (t & 1) + l, *qh = b + 128 + 32 * h + l;
        for (int i = 0; i < 8; i++) {
            const int q = (int)((t >= 2 ? ql[i] >> 4 : ql[i] & 0xFu) | ((qh[i] >> (2 * t)) & 3u) << 4) - 32;
            v[i] = mul_rn<N>(ds, (float)q);
        }
    }
};

__device__ __forceinline__ bool finite16(uint32_t h) { return (h & 0x7c00u) != 0x7c00u; }
__device__ __forceinline__ bool finite32(float f) { return (as_u32(f) & 0x7f800000u) != 0x7f800000u; }

/* 8 bf16 in one 16-byte store. Exact path: the integer rounding of rad_f32_to_bf16 (NaNs as the host makes
 * them). Fast path (no NaN among v): the hardware's cvt.rn.bf16x2.f32, the same round to nearest even for
 * every other value, subnormals included. */
__device__ __forceinline__ void store8_exact(bf16 *dst, const float *v) {
    uint4 o;
    o.x = f32_bf16(v[0]) | f32_bf16(v[1]) << 16;
    o.y = f32_bf16(v[2]) | f32_bf16(v[3]) << 16;
    o.z = f32_bf16(v[4]) | f32_bf16(v[5]) << 16;
    o.w = f32_bf16(v[6]) | f32_bf16(v[7]) << 16;
    *(uint4 *)dst = o;
}
__device__ __forceinline__ uint32_t bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); /* d.hi = a (first source), d.lo = b */
    return r;
}
__device__ __forceinline__ void store8_fast(bf16 *dst, const float *v) {
    *(uint4 *)dst = make_uint4(bf16x2(v[0], v[1]), bf16x2(v[2], v[3]), bf16x2(v[4], v[5]), bf16x2(v[6], v[7]));
}

/* The tail both kernels share: v times the row's scale (when there is one), rounded to bf16 and stored, on the fast
 * or the exact path. */
template <bool EXACT>
__device__ __forceinline__ void scale_store8(float *v, const float *scale, float s, bf16 *dst) {
    if (scale)
        for (int i = 0; i < 8; i++) v[i] = mul_rn<EXACT>(v[i], s);
    if (EXACT)
        store8_exact(dst, v);
    else
        store8_fast(dst, v);
}

/* Two paths per thread and row, the same values (bit for bit): when the block's fp16 fields and the scale are
 * finite, no NaN can arise (integers times finite halves are finite; times a finite scale at worst inf), so the
 * plain ops and the hardware bf16 conversion serve (about 1.5x faster: the exact path's NaN bookkeeping and
 * integer rounding make the kernel instruction-bound); otherwise the exact path. */
template <rad_dtype T>
__global__ void dequant_blocks(const uint8_t *__restrict__ src, int64_t row_bytes, int64_t rows, int64_t cols,
                               const float *__restrict__ scale, int64_t n_scale, bf16 *__restrict__ dst) {
    using B = blk<T>;
    const int64_t c = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (c >= cols) return;
    const int64_t off = c / B::QK * B::BYTES;
    const int j = (int)(c % B::QK);
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint8_t *b = src + r * row_bytes + off;
        const float s = scale ? scale[n_scale == 1 ? 0 : r] : 1.0f;
        float v[8];
        if (finite16(ld16(b + B::H0)) && (B::H1 < 0 || finite16(ld16(b + (B::H1 < 0 ? 0 : B::H1)))) && finite32(s)) {
            B::template deq8<false>(b, j, v);
            scale_store8<false>(v, scale, s, dst + r * cols + c);
        } else {
            B::template deq8<true>(b, j, v);
            scale_store8<true>(v, scale, s, dst + r * cols + c);
        }
    }
}

/* fp8, 8 elements a thread (cols a multiple of 8, src 8-byte aligned: one 8-byte load), the fast path when none
 * of the 8 bytes is a NaN or inf pattern (e4m3: low 7 bits all ones; e5m2: exponent all ones) and the scale is
 * finite; else (and for other shapes, dequant_f8_1: one element a thread) the exact path. */
template <bool E5M2>
__global__ void dequant_f8_8(const uint8_t *__restrict__ src, int64_t rows, int64_t cols,
                             const float *__restrict__ scale, int64_t n_scale, bf16 *__restrict__ dst) {
    const int64_t c = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (c >= cols) return;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint2 raw = *(const uint2 *)(src + r * cols + c);
        const float s = scale ? scale[n_scale == 1 ? 0 : r] : 1.0f;
        /* a byte equal to m (m's top bit clear) in x & m: adding the lowest bit that makes m 0x80 sets bit 7 */
        const uint32_t m = E5M2 ? 0x7c7c7c7cu : 0x7f7f7f7fu, one = E5M2 ? 0x04040404u : 0x01010101u;
        const bool special = (((raw.x & m) + one) | ((raw.y & m) + one)) & 0x80808080u;
        float v[8];
        for (int i = 0; i < 8; i++) {
            const uint32_t byte = ((i < 4 ? raw.x : raw.y) >> (8 * (i & 3))) & 0xffu;
            v[i] = E5M2 ? e5m2_f32(byte) : e4m3_f32(byte);
        }
        if (!special && finite32(s))
            scale_store8<false>(v, scale, s, dst + r * cols + c);
        else
            scale_store8<true>(v, scale, s, dst + r * cols + c);
    }
}
template <bool E5M2>
__global__ void dequant_f8_1(const uint8_t *__restrict__ src, int64_t rows, int64_t cols,
                             const float *__restrict__ scale, int64_t n_scale, bf16 *__restrict__ dst) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const uint32_t byte = src[r * cols + c];
        float v = E5M2 ? e5m2_f32(byte) : e4m3_f32(byte);
        if (scale) v = mul_rn<true>(v, scale[n_scale == 1 ? 0 : r]);
        ((uint16_t *)dst)[r * cols + c] = (uint16_t)f32_bf16(v);
    }
}

rad_status launched(rad_dtype dt) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return rad_err(RADIAL_ERR_BACKEND, "cuda dequant (%s to bf16): kernel launch failed: %s", rad_dtype_name(dt),
                       cudaGetErrorString(e));
    return RAD_OK;
}

dim3 grid_for(int64_t rows, int64_t cols, int vec) {
    const int64_t threads = (cols + vec - 1) / vec;
    return dim3((unsigned)((threads + TPB - 1) / TPB), (unsigned)(rows < (int64_t)MAX_GRID_Y ? rows : MAX_GRID_Y));
}

template <rad_dtype T>
rad_status launch_blocks(const void *src, size_t row_bytes, int64_t rows, int64_t cols, const float *scale,
                         int64_t n_scale, bf16 *dst, cudaStream_t st) {
    if (cols % blk<T>::QK || row_bytes != (size_t)(cols / blk<T>::QK * blk<T>::BYTES))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda dequant: %lld columns of %s in rows of %zu bytes", (long long)cols,
                       rad_dtype_name(T), row_bytes);
    dequant_blocks<T><<<grid_for(rows, cols, 8), TPB, 0, st>>>((const uint8_t *)src, (int64_t)row_bytes, rows, cols,
                                                               scale, n_scale, dst);
    return launched(T);
}

template <bool E5M2>
rad_status launch_f8(rad_dtype dt, const void *src, int64_t rows, int64_t cols, const float *scale, int64_t n_scale,
                     bf16 *dst, cudaStream_t st) {
    if (cols % 8 == 0 && (uintptr_t)src % 8 == 0)
        dequant_f8_8<E5M2><<<grid_for(rows, cols, 8), TPB, 0, st>>>((const uint8_t *)src, rows, cols, scale, n_scale,
                                                                     dst);
    else
        dequant_f8_1<E5M2><<<grid_for(rows, cols, 1), TPB, 0, st>>>((const uint8_t *)src, rows, cols, scale, n_scale,
                                                                     dst);
    return launched(dt);
}
} // namespace

bool rk_dequant_supported(rad_dtype dt) {
    switch (dt) {
    case RAD_DT_F8_E4M3: case RAD_DT_F8_E5M2: case RAD_DT_Q4_0: case RAD_DT_Q4_1: case RAD_DT_Q5_0:
    case RAD_DT_Q5_1: case RAD_DT_Q8_0: case RAD_DT_Q4_K: case RAD_DT_Q5_K: case RAD_DT_Q6_K: return true;
    default: return false;
    }
}

rad_status rk_dequant_bf16(rad_dtype dt, const void *src, size_t row_bytes, int64_t rows, int64_t cols,
                           const float *scale, int64_t n_scale, bf16 *dst, cudaStream_t st) {
    if (rows <= 0 || cols <= 0 || !src || !dst || (uintptr_t)dst % 16 || (scale && n_scale != 1 && n_scale != rows))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda dequant (%s to bf16): bad arguments (%lld x %lld, %lld scales)",
                       rad_dtype_name(dt), (long long)rows, (long long)cols, (long long)n_scale);
    if (!scale) n_scale = 0;
    switch (dt) {
    case RAD_DT_F8_E4M3:
    case RAD_DT_F8_E5M2:
        if (row_bytes != (size_t)cols)
            return rad_err(RADIAL_ERR_INVALID_ARG, "cuda dequant: %lld columns of %s in rows of %zu bytes",
                           (long long)cols, rad_dtype_name(dt), row_bytes);
        return dt == RAD_DT_F8_E5M2 ? launch_f8<true>(dt, src, rows, cols, scale, n_scale, dst, st)
                                    : launch_f8<false>(dt, src, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q4_0: return launch_blocks<RAD_DT_Q4_0>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q4_1: return launch_blocks<RAD_DT_Q4_1>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q5_0: return launch_blocks<RAD_DT_Q5_0>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q5_1: return launch_blocks<RAD_DT_Q5_1>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q8_0: return launch_blocks<RAD_DT_Q8_0>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q4_K: return launch_blocks<RAD_DT_Q4_K>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q5_K: return launch_blocks<RAD_DT_Q5_K>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    case RAD_DT_Q6_K: return launch_blocks<RAD_DT_Q6_K>(src, row_bytes, rows, cols, scale, n_scale, dst, st);
    default: break;
    }
    return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda dequant: weights stored as %s have no bf16 kernel", rad_dtype_name(dt));
}
