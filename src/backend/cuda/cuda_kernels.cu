/* The CUDA backend's memory-bound kernels: conversions, norms, elementwise, RoPE, layout changes and the conv
 * im2col (declared in cuda_kernels.cuh). Each mirrors its CPU op (src/backend/cpu/) formula for formula: norm
 * statistics in double, RoPE in double with the CPU's table and unfused products (bit-identical to the CPU),
 * everything else in fp32, except im2col and upsample2x, which copy the bf16 convolution inputs (conv_dtype)
 * as they are. The build's --use_fast_math makes expf and divisions approximate (a few ulp);
 * where the CPU result is cheap to match exactly the _rn intrinsics are used instead.
 *
 * Launch shapes: flat kernels use a grid-stride loop; row kernels one block per row (grid-stride over rows);
 * "rowcol" kernels a 2-D grid of 1024-column tiles x rows, so that no per-element 64-bit division is needed. */
#include <math.h>

#include "backend/cuda/cuda_kernels.cuh"

namespace {
constexpr int TPB = 256;
constexpr int64_t MAX_BLOCKS = 1 << 20; /* grid-stride loops cover the rest */
constexpr unsigned MAX_GRID_Y = 65535;

unsigned flat_blocks(int64_t n) {
    int64_t b = (n + TPB - 1) / TPB;
    return (unsigned)(b < 1 ? 1 : b > MAX_BLOCKS ? MAX_BLOCKS : b);
}
unsigned rows_grid(int64_t m) { return (unsigned)(m < 1 ? 1 : m > MAX_BLOCKS ? MAX_BLOCKS : m); }

rad_status launched(const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return rad_err(RADIAL_ERR_BACKEND, "cuda %s: kernel launch failed: %s", what, cudaGetErrorString(e));
    return RAD_OK;
}

__device__ __forceinline__ float gelu_tanh1(float x) { /* as rad_cpu_gelu_tanh: x / (1 + exp(-2u)) */
    const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

/* Sum over the block in a fixed order (deterministic); every thread gets the total. sh: 32 doubles. */
__device__ double block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int w = threadIdx.x / 32, nw = blockDim.x / 32;
    __syncthreads(); /* the previous call's readers are done with sh */
    if (threadIdx.x % 32 == 0) sh[w] = v;
    __syncthreads();
    double t = 0.0;
    for (int i = 0; i < nw; i++) t += sh[i];
    return t;
}

/* ---- conversions ---- */
__global__ void f32_to_bf16_vec(const float4 *x, __nv_bfloat162 *y, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        const float4 v = x[i];
        y[2 * i] = __floats2bfloat162_rn(v.x, v.y);
        y[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
    }
}
__global__ void f32_to_bf16_scalar(const float *x, bf16 *y, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void bf16_to_f32_scalar(const bf16 *x, float *y, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}
__global__ void bf16_to_f32_vec(const __nv_bfloat162 *x, float4 *y, int64_t n4) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
        const float2 a = __bfloat1622float2(x[2 * i]), b = __bfloat1622float2(x[2 * i + 1]);
        y[i] = make_float4(a.x, a.y, b.x, b.y);
    }
}

/* ---- norms: one block per row, statistics in double (two passes for the variance), as the CPU ---- */
__global__ void layernorm_rows(const float *x, int64_t m, int64_t d, const float *w, const float *b, float eps,
                               float *y, bf16 *y16) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < m; r += gridDim.x) {
        const float *xr = x + r * d;
        double s = 0.0;
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
        const double mean = block_sum(s, sh) / (double)d;
        double ss = 0.0;
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += (xr[c] - mean) * (xr[c] - mean);
        const double rstd = 1.0 / sqrt(block_sum(ss, sh) / (double)d + (double)eps);
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) { /* each thread reads only its own columns: y may be x */
            float v = (float)((xr[c] - mean) * rstd);
            if (w) v = __fmul_rn(v, w[c]);
            if (b) v = __fadd_rn(v, b[c]);
            y[r * d + c] = v;
            if (y16) y16[r * d + c] = __float2bfloat16_rn(v);
        }
    }
}

__global__ void rmsnorm_rows(const float *x, int64_t m, int64_t d, const float *w, float eps, float *y, bf16 *y16) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < m; r += gridDim.x) {
        const float *xr = x + r * d;
        double ss = 0.0;
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += (double)xr[c] * xr[c];
        const double rs = 1.0 / sqrt(block_sum(ss, sh) / (double)d + (double)eps);
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
            float v = (float)(xr[c] * rs);
            if (w) v = __fmul_rn(v, w[c]);
            y[r * d + c] = v;
            if (y16) y16[r * d + c] = __float2bfloat16_rn(v);
        }
    }
}

/* ---- fused DiT chains: the arithmetic and the reduction order of the unfused kernels above and below, so the
 * results equal theirs bit for bit; each row is read from device memory once (the later passes over the row
 * hit the cache) ---- */

/* x += r * gate (or + r), layernorm into y, y = y * (1 + scale) + shift (add_norm_modulate of backend.h). */
__global__ void add_norm_modulate_rows(float *x, const float *r, const float *gate, int64_t m, int64_t d,
                                       const float *w, const float *b, float eps, const float *shift,
                                       const float *scale, float *y, bf16 *y16) {
    __shared__ double sh[32];
    for (int64_t row = blockIdx.x; row < m; row += gridDim.x) {
        float *xr = x + row * d;
        double s = 0.0;
        if (r) {
            const float *rr = r + row * d;
            for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
                const float v = gate ? __fadd_rn(xr[c], __fmul_rn(rr[c], gate[c])) : __fadd_rn(xr[c], rr[c]);
                xr[c] = v;
                s += v;
            }
        } else {
            for (int64_t c = threadIdx.x; c < d; c += blockDim.x) s += xr[c];
        }
        const double mean = block_sum(s, sh) / (double)d;
        double ss = 0.0;
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += (xr[c] - mean) * (xr[c] - mean);
        const double rstd = 1.0 / sqrt(block_sum(ss, sh) / (double)d + (double)eps);
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) { /* own columns only: y may be x */
            float v = (float)((xr[c] - mean) * rstd);
            if (w) v = __fmul_rn(v, w[c]);
            if (b) v = __fadd_rn(v, b[c]);
            if (shift) v = __fadd_rn(__fmul_rn(v, __fadd_rn(1.0f, scale[c])), shift[c]);
            y[row * d + c] = v;
            if (y16) y16[row * d + c] = __float2bfloat16_rn(v);
        }
    }
}

/* rmsnorm (weight nw) then RoPE of one token row per block (rmsnorm_rope3d of backend.h). The statistics pass
 * strides like rmsnorm_rows; the output pass goes by (head, pair) like rope_kernel, each pair read and written by
 * one thread after the block's sum (its barriers order the statistics reads before any write). */
__global__ void rmsnorm_rope_kernel(float *x, const float *nw, float eps, const double *cs, int64_t ntok, int64_t h,
                                    int64_t w, int heads, int hd, int pt, int ph, int64_t off_h, int64_t off_w,
                                    bf16 *x16) {
    __shared__ double sh[32];
    const int pairs = hd / 2;
    const int64_t d = (int64_t)heads * hd;
    for (int64_t t = blockIdx.x; t < ntok; t += gridDim.x) {
        float *xr = x + t * d;
        double ss = 0.0;
        for (int64_t c = threadIdx.x; c < d; c += blockDim.x) ss += (double)xr[c] * xr[c];
        const double rs = 1.0 / sqrt(block_sum(ss, sh) / (double)d + (double)eps);
        const int64_t fi = t / (h * w), hi = (t / w) % h, wi = t % w;
        const double *ct = cs + fi * pt * 2, *chh = cs + off_h + hi * ph * 2, *cw = cs + off_w + wi * ph * 2;
        for (int idx = threadIdx.x; idx < heads * pairs; idx += blockDim.x) {
            const int hh = idx / pairs, mm = idx % pairs;
            const double *c = mm < pt ? ct + 2 * mm : mm < pt + ph ? chh + 2 * (mm - pt) : cw + 2 * (mm - pt - ph);
            const int64_t i = (int64_t)hh * hd + 2 * mm;
            float v0 = (float)(xr[i] * rs), v1 = (float)(xr[i + 1] * rs);
            if (nw) v0 = __fmul_rn(v0, nw[i]), v1 = __fmul_rn(v1, nw[i + 1]);
            const double a = v0, b = v1;
            const float x0 = (float)__dsub_rn(__dmul_rn(a, c[0]), __dmul_rn(b, c[1]));
            const float x1 = (float)__dadd_rn(__dmul_rn(a, c[1]), __dmul_rn(b, c[0]));
            xr[i] = x0;
            xr[i + 1] = x1;
            if (x16) x16[t * d + i] = __float2bfloat16_rn(x0), x16[t * d + i + 1] = __float2bfloat16_rn(x1);
        }
    }
}

/* ---- flat elementwise ---- */
__global__ void gelu_kernel(float *x, int64_t n, bf16 *x16) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float v = gelu_tanh1(x[i]);
        x[i] = v;
        if (x16) x16[i] = __float2bfloat16_rn(v);
    }
}
__global__ void silu_kernel(float *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}
__global__ void mul_gelu_kernel(float *a, const float *g, int64_t n, bf16 *a16) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float v = __fmul_rn(a[i], gelu_tanh1(g[i]));
        a[i] = v;
        if (a16) a16[i] = __float2bfloat16_rn(v);
    }
}

/* ---- rowcol kernels: op(r, c) over an m x d grid ---- */
template <class Op> __global__ void rowcol(int64_t m, int64_t d, Op op) {
    const int64_t c0 = (int64_t)blockIdx.x * (4 * TPB) + threadIdx.x;
    for (int64_t r = blockIdx.y; r < m; r += gridDim.y) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t c = c0 + j * TPB;
            if (c < d) op(r, c);
        }
    }
}
template <class Op> rad_status launch_rowcol(int64_t m, int64_t d, Op op, const char *what, cudaStream_t st) {
    if (m <= 0 || d <= 0) return RAD_OK;
    const int64_t gx = (d + 4 * TPB - 1) / (4 * TPB);
    if (gx > 0x7fffffff) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda %s: %lld columns exceed the grid", what, (long long)d);
    dim3 grid((unsigned)gx, (unsigned)(m < MAX_GRID_Y ? m : MAX_GRID_Y));
    rowcol<<<grid, TPB, 0, st>>>(m, d, op);
    return launched(what);
}

struct ModulateOp { /* y = x * (1 + scale[c]) + shift[c], unfused like the CPU */
    const float *x, *shift, *scale;
    float *y;
    bf16 *y16;
    int64_t d;
    __device__ void operator()(int64_t r, int64_t c) const {
        const int64_t i = r * d + c;
        const float v = __fadd_rn(__fmul_rn(x[i], __fadd_rn(1.0f, scale[c])), shift[c]);
        y[i] = v;
        if (y16) y16[i] = __float2bfloat16_rn(v);
    }
};
struct AddGatedOp { /* x += y * gate[c] (gate NULL: plain add) */
    float *x;
    const float *y, *gate;
    int64_t d;
    __device__ void operator()(int64_t r, int64_t c) const {
        const int64_t i = r * d + c;
        x[i] = gate ? __fadd_rn(x[i], __fmul_rn(y[i], gate[c])) : __fadd_rn(x[i], y[i]);
    }
};
struct RowBiasOp { /* y[r, c] += bias[r] */
    float *y;
    const float *bias;
    int64_t d;
    __device__ void operator()(int64_t r, int64_t c) const { y[r * d + c] += bias[r]; }
};
struct ColBiasOp { /* y[r, c] += bias[c] */
    float *y;
    const float *bias;
    int64_t d;
    __device__ void operator()(int64_t r, int64_t c) const { y[r * d + c] += bias[c]; }
};
struct UpsampleOp { /* output row r2 = (ch, yo) of y [c, 2h, 2w] from input row (ch, yo/2); bf16 copies */
    const bf16 *x;
    bf16 *y;
    int64_t h, w;
    __device__ void operator()(int64_t r2, int64_t xo) const {
        const int64_t ch = r2 / (2 * h), yo = r2 % (2 * h);
        y[r2 * 2 * w + xo] = x[(ch * h + yo / 2) * w + xo / 2];
    }
};

/* ---- RoPE: one block per token; threads over (head, pair); double, unfused (the CPU's arithmetic) ---- */
__global__ void rope_kernel(float *x, const double *cs, int64_t ntok, int64_t h, int64_t w, int heads, int hd,
                            int pt, int ph, int64_t off_h, int64_t off_w, bf16 *x16) {
    const int pairs = hd / 2;
    for (int64_t t = blockIdx.x; t < ntok; t += gridDim.x) {
        const int64_t fi = t / (h * w), hi = (t / w) % h, wi = t % w;
        const double *ct = cs + fi * pt * 2, *chh = cs + off_h + hi * ph * 2, *cw = cs + off_w + wi * ph * 2;
        for (int idx = threadIdx.x; idx < heads * pairs; idx += blockDim.x) {
            const int hh = idx / pairs, m = idx % pairs;
            const double *c = m < pt ? ct + 2 * m : m < pt + ph ? chh + 2 * (m - pt) : cw + 2 * (m - pt - ph);
            const int64_t i = (t * heads + hh) * hd + 2 * m;
            const double a = x[i], b = x[i + 1];
            const float x0 = (float)__dsub_rn(__dmul_rn(a, c[0]), __dmul_rn(b, c[1]));
            const float x1 = (float)__dadd_rn(__dmul_rn(a, c[1]), __dmul_rn(b, c[0]));
            x[i] = x0;
            x[i + 1] = x1;
            if (x16) x16[i] = __float2bfloat16_rn(x0), x16[i + 1] = __float2bfloat16_rn(x1);
        }
    }
}

/* ---- transpose through 32 x 33 shared tiles ---- */
__global__ void transpose_kernel(const float *x, int64_t rows, int64_t cols, float *y) {
    __shared__ float tile[32][33];
    const int64_t cb = (int64_t)blockIdx.x * 32;
    for (int64_t rb = (int64_t)blockIdx.y * 32; rb < rows; rb += (int64_t)gridDim.y * 32) {
        for (int j = threadIdx.y; j < 32; j += blockDim.y) {
            const int64_t r = rb + j, c = cb + threadIdx.x;
            if (r < rows && c < cols) tile[j][threadIdx.x] = x[r * cols + c];
        }
        __syncthreads();
        for (int j = threadIdx.y; j < 32; j += blockDim.y) {
            const int64_t c = cb + j, r = rb + threadIdx.x;
            if (r < rows && c < cols) y[c * rows + r] = tile[threadIdx.x][j];
        }
        __syncthreads();
    }
}

/* ---- channel RMS norm of x [c, s]: one thread per column; the CPU's formula ---- */
/* Channel RMS norm of x [c, s] per column j; out(i, v) stores the normed value v of element i. */
template <class Out>
__global__ void rmsnorm_channels_kernel(const float *x, int64_t c, int64_t s, const float *gamma, Out out) {
    const float scale = __fsqrt_rn((float)c);
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < s; j += (int64_t)gridDim.x * blockDim.x) {
        double ss = 0.0;
        for (int64_t ch = 0; ch < c; ch++) {
            const double v = x[ch * s + j];
            ss += v * v;
        }
        const float norm = (float)sqrt(ss), den = norm > 1e-12f ? norm : 1e-12f;
        for (int64_t ch = 0; ch < c; ch++) {
            const float g = gamma ? gamma[ch] : 1.0f;
            out(ch * s + j, __fmul_rn(__fmul_rn(__fdiv_rn(x[ch * s + j], den), scale), g));
        }
    }
}
struct StoreF32 {
    float *y;
    __device__ void operator()(int64_t i, float v) const { y[i] = v; }
};
/* silu_kernel's SiLU and the rounding of rk_f32_to_bf16 on the normed value in a register: bit for bit the three
 * kernels (rmsnorm_channels, silu, to_conv_dtype) */
struct StoreSiluBf16 {
    bf16 *y;
    __device__ void operator()(int64_t i, float v) const { y[i] = __float2bfloat16_rn(v / (1.0f + expf(-v))); }
};

/* ---- im2col for one output frame and a run of output pixels ---- */
__global__ void im2col_kernel(rk_conv_geom g, int64_t f, int64_t p0, int64_t np, bf16 *cols, int64_t ld, int64_t K) {
    for (int64_t k = blockIdx.y; k < K; k += gridDim.y) {
        const int64_t dx = k % g.kw, t1 = k / g.kw, dy = t1 % g.kh, t2 = t1 / g.kh, dt = t2 % g.kt, ci = t2 / g.kt;
        const int64_t s = f + dt - (g.kt - 1), plane = g.h * g.w;
        const bf16 *src = NULL; /* the frame this tap reads, or NULL for a causal zero frame */
        if (s >= 0) src = g.x + (ci * g.t + s) * plane;
        else if (g.prev && g.n_prev + s >= 0) src = g.prev + (ci * g.n_prev + g.n_prev + s) * plane;
        bf16 *row = cols + k * ld;
        for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < np; j += (int64_t)gridDim.x * blockDim.x) {
            const int64_t p = p0 + j, yo = p / g.wo, xo = p % g.wo, yi = yo + dy - g.ph, xi = xo + dx - g.pw;
            row[j] = (src && yi >= 0 && yi < g.h && xi >= 0 && xi < g.w) ? src[yi * g.w + xi] : __float2bfloat16_rn(0.0f);
        }
    }
}
} // namespace

/* ------------------------------------------------------------------------------------------- launchers */

rad_status rk_f32_to_bf16(const float *x, bf16 *y, int64_t n, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    if (n % 4 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)y % 8 == 0)
        f32_to_bf16_vec<<<flat_blocks(n / 4), TPB, 0, st>>>((const float4 *)x, (__nv_bfloat162 *)y, n / 4);
    else
        f32_to_bf16_scalar<<<flat_blocks(n), TPB, 0, st>>>(x, y, n);
    return launched("fp32 to bf16");
}

rad_status rk_bf16_to_f32(const bf16 *x, float *y, int64_t n, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    if (n % 4 == 0 && (uintptr_t)x % 8 == 0 && (uintptr_t)y % 16 == 0)
        bf16_to_f32_vec<<<flat_blocks(n / 4), TPB, 0, st>>>((const __nv_bfloat162 *)x, (float4 *)y, n / 4);
    else
        bf16_to_f32_scalar<<<flat_blocks(n), TPB, 0, st>>>(x, y, n);
    return launched("bf16 to fp32");
}

rad_status rk_layernorm(const float *x, int64_t m, int64_t d, const float *w, const float *b, float eps, float *y,
                        bf16 *y16, cudaStream_t st) {
    if (m <= 0) return RAD_OK;
    layernorm_rows<<<rows_grid(m), TPB, 0, st>>>(x, m, d, w, b, eps, y, y16);
    return launched("layernorm");
}

rad_status rk_rmsnorm(const float *x, int64_t m, int64_t d, const float *w, float eps, float *y, bf16 *y16,
                      cudaStream_t st) {
    if (m <= 0) return RAD_OK;
    rmsnorm_rows<<<rows_grid(m), TPB, 0, st>>>(x, m, d, w, eps, y, y16);
    return launched("rmsnorm");
}

rad_status rk_add_norm_modulate(float *x, const float *r, const float *gate, int64_t m, int64_t d, const float *w,
                                const float *b, float eps, const float *shift, const float *scale, float *y,
                                bf16 *y16, cudaStream_t st) {
    if (m <= 0) return RAD_OK;
    add_norm_modulate_rows<<<rows_grid(m), TPB, 0, st>>>(x, r, gate, m, d, w, b, eps, shift, scale, y, y16);
    return launched("add_norm_modulate");
}

rad_status rk_rmsnorm_rope3d(float *x, const float *nw, float eps, const double *cs, int64_t f, int64_t h, int64_t w,
                             int64_t heads, int64_t hd, int64_t pt, int64_t ph, bf16 *x16, cudaStream_t st) {
    const int64_t ntok = f * h * w, off_h = f * pt * 2, off_w = off_h + h * ph * 2;
    if (ntok <= 0) return RAD_OK;
    rmsnorm_rope_kernel<<<rows_grid(ntok), TPB, 0, st>>>(x, nw, eps, cs, ntok, h, w, (int)heads, (int)hd, (int)pt,
                                                         (int)ph, off_h, off_w, x16);
    return launched("rmsnorm_rope3d");
}

rad_status rk_gelu_tanh(float *x, int64_t n, bf16 *x16, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    gelu_kernel<<<flat_blocks(n), TPB, 0, st>>>(x, n, x16);
    return launched("gelu_tanh");
}

rad_status rk_silu(float *x, int64_t n, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    silu_kernel<<<flat_blocks(n), TPB, 0, st>>>(x, n);
    return launched("silu");
}

rad_status rk_mul_gelu(float *a, const float *g, int64_t n, bf16 *a16, cudaStream_t st) {
    if (n <= 0) return RAD_OK;
    mul_gelu_kernel<<<flat_blocks(n), TPB, 0, st>>>(a, g, n, a16);
    return launched("mul_gelu");
}

rad_status rk_modulate(const float *x, int64_t m, int64_t d, const float *shift, const float *scale, float *y,
                       bf16 *y16, cudaStream_t st) {
    return launch_rowcol(m, d, ModulateOp{x, shift, scale, y, y16, d}, "modulate", st);
}

rad_status rk_add_gated(float *x, const float *y, int64_t m, int64_t d, const float *gate, cudaStream_t st) {
    if (!gate) { /* a plain add is flat: one long row would otherwise get one row of blocks, which is fine too */
        return launch_rowcol(1, m * d, AddGatedOp{x, y, NULL, m * d}, "add", st);
    }
    return launch_rowcol(m, d, AddGatedOp{x, y, gate, d}, "add_gated", st);
}

rad_status rk_rope3d(float *x, const double *cs, int64_t f, int64_t h, int64_t w, int64_t heads, int64_t hd,
                     int64_t pt, int64_t ph, bf16 *x16, cudaStream_t st) {
    const int64_t ntok = f * h * w, off_h = f * pt * 2, off_w = off_h + h * ph * 2;
    if (ntok <= 0) return RAD_OK;
    rope_kernel<<<rows_grid(ntok), TPB, 0, st>>>(x, cs, ntok, h, w, (int)heads, (int)hd, (int)pt, (int)ph, off_h,
                                                 off_w, x16);
    return launched("rope3d");
}

rad_status rk_transpose(const float *x, int64_t rows, int64_t cols, float *y, cudaStream_t st) {
    if (rows <= 0 || cols <= 0) return RAD_OK;
    const int64_t gx = (cols + 31) / 32, gy = (rows + 31) / 32;
    if (gx > 0x7fffffff) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda transpose: %lld columns exceed the grid", (long long)cols);
    dim3 grid((unsigned)gx, (unsigned)(gy < MAX_GRID_Y ? gy : MAX_GRID_Y)), block(32, 8);
    transpose_kernel<<<grid, block, 0, st>>>(x, rows, cols, y);
    return launched("transpose");
}

rad_status rk_upsample2x(const bf16 *x, int64_t c, int64_t h, int64_t w, bf16 *y, cudaStream_t st) {
    return launch_rowcol(c * 2 * h, 2 * w, UpsampleOp{x, y, h, w}, "upsample2x", st);
}

rad_status rk_rmsnorm_channels(const float *x, int64_t c, int64_t s, const float *gamma, float *y, cudaStream_t st) {
    if (s <= 0) return RAD_OK;
    rmsnorm_channels_kernel<<<flat_blocks(s), TPB, 0, st>>>(x, c, s, gamma, StoreF32{y});
    return launched("rmsnorm_channels");
}

rad_status rk_rmsnorm_silu_channels(const float *x, int64_t c, int64_t s, const float *gamma, bf16 *y, cudaStream_t st) {
    if (s <= 0) return RAD_OK;
    rmsnorm_channels_kernel<<<flat_blocks(s), TPB, 0, st>>>(x, c, s, gamma, StoreSiluBf16{y});
    return launched("rmsnorm_silu_channels");
}

rad_status rk_im2col(const rk_conv_geom *g, int64_t f, int64_t p0, int64_t np, bf16 *cols, int64_t ld,
                     cudaStream_t st) {
    const int64_t K = g->cin * g->kt * g->kh * g->kw;
    if (np <= 0 || K <= 0) return RAD_OK;
    int64_t gx = (np + TPB - 1) / TPB;
    if (gx > 4096) gx = 4096;
    dim3 grid((unsigned)gx, (unsigned)(K < MAX_GRID_Y ? K : MAX_GRID_Y));
    im2col_kernel<<<grid, TPB, 0, st>>>(*g, f, p0, np, cols, ld, K);
    return launched("conv3d im2col");
}

rad_status rk_add_channel_bias(float *y, int64_t c, int64_t per, const float *bias, cudaStream_t st) {
    return launch_rowcol(c, per, RowBiasOp{y, bias, per}, "conv3d bias", st);
}

rad_status rk_add_col_bias(float *y, int64_t m, int64_t n, const float *bias, cudaStream_t st) {
    return launch_rowcol(m, n, ColBiasOp{y, bias, n}, "linear bias", st);
}

/* ---- row softmax for the GEMM attention (cuda_backend.cu) ---- */
namespace {
/* Block maximum (threadIdx.x < 32 * 32); every thread gets it. sh: 32 floats. */
__device__ float block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int w = threadIdx.x / 32, nw = blockDim.x / 32;
    __syncthreads();
    if (threadIdx.x % 32 == 0) sh[w] = v;
    __syncthreads();
    float t = sh[0];
    for (int i = 1; i < nw; i++) t = fmaxf(t, sh[i]);
    return t;
}

/* p[r, :] = softmax(scale · s[r, :]) in bf16, one block per row: the maximum and the sum in fp32 (the sum in
 * double across the block, fixed order), each probability normalised in fp32 before its rounding. */
__global__ void softmax_rows_bf16_kernel(const float *s, int64_t cols, int64_t pitch, float scale_log2e, bf16 *p) {
    __shared__ float shf[32];
    __shared__ double shd[32];
    const float *r = s + (int64_t)blockIdx.x * pitch;
    bf16 *o = p + (int64_t)blockIdx.x * pitch;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, r[j]);
    m = block_max(m, shf);
    float part = 0.0f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) part += exp2f((r[j] - m) * scale_log2e);
    const float inv = (float)(1.0 / block_sum((double)part, shd));
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) o[j] = __float2bfloat16_rn(exp2f((r[j] - m) * scale_log2e) * inv);
}
} // namespace

rad_status rk_softmax_rows_bf16(const float *s, int64_t rows, int64_t cols, int64_t pitch, float scale, bf16 *p,
                                cudaStream_t st) {
    if (rows <= 0 || cols <= 0) return RAD_OK;
    softmax_rows_bf16_kernel<<<(unsigned)rows, TPB, 0, st>>>(s, cols, pitch, scale * 1.4426950408889634f, p);
    return launched("attention softmax");
}
