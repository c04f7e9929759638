/* Conv3d as an implicit GEMM on the tensor cores: no column matrix in memory, for kernels up to 3x3 spatially
 * (every conv of the Wan VAE; larger ones go to im2col + cuBLASLt, rk_conv_igemm_fits).
 *
 * Per output frame f, Y^T[pixel, cout] = X_col[pixel, K] · W^T[K, cout] with K walked as (channel block of 32,
 * tap (dt, dy, dx)). A block's 128 pixels are an 8 x 16 tile of the output image. Per (channel block, dt) the
 * (8 + kh - 1) x (16 + kw - 1) input pixels under the tile (at most 10 x 18 = 180, 32 channels each: 11.5 KB) are
 * loaded into shared memory once, one loader thread per halo pixel (its 32 channels, a warp's loads 32 neighbouring
 * pixels of one channel: coalesced), straight from the bf16 inputs (the backend's conv_dtype, rounded to nearest
 * even by to_conv_dtype when they were made); the kh x kw taps of that group then read their A fragments from it,
 * each lane's ldmatrix row address shifted by the tap (a fragment's 16 rows are one tile row, so a shift stays
 * inside the halo). Reading the 128 x 32 inputs of every tap instead, as this kernel first did, moved 6.4x the
 * activation bytes and set its speed (NOTES-kernels). The next group's halo is loaded into registers from the
 * group's first tap on and stored after its last (one more barrier per group). The causal front frames come
 * from `prev` or are skipped (a block's frame is fixed, so taps that would read a zero frame are left out of its
 * K loop); spatial padding and channels past cin load zeros.
 *
 * Weights are read from a repacked copy wp[tap][cout_pad][cin_pad] (rk_conv_pack_weight, made once per
 * weight): rows of 32 channels are 64 contiguous bytes, copied with cp.async; the zero padding of cout and cin
 * makes every weight copy in bounds and every padded product zero.
 *
 * Block: 256 threads = 8 warps, 4 along the pixels (two tile rows each) x 2 along the BN output channels (BN =
 * 16·WN: 32, 64, 96 or 128, picked per cout to waste the least). Warp tile 32 x 8·WN, mma.sync m16n8k16 (bf16 in,
 * fp32 accumulate), fragments by ldmatrix from rows padded to 80 bytes (8 rows of an ldmatrix hit distinct banks).
 * Three shared-memory stages for the weights: those of step s+2 arrive by cp.async while step s multiplies; one
 * barrier per step. The epilogue adds the bias and writes fp32 y[cout, t, P]. A wgmma version of this kernel (A
 * from registers, B in shared memory) measured 0.9-1.0x on the big layers of an H100 (NOTES-kernels): with 32
 * channels per barrier the per-step costs, not the tensor cores, set the speed. */
#include "backend/cuda/cuda_kernels.cuh"

namespace {
constexpr int BM = 128;     /* output pixels per block */
constexpr int BK = 32;      /* input channels per K step */
constexpr int LDS = BK + 8; /* shared row pitch in bf16 elements (80 bytes) */
constexpr int THREADS = 256;

struct conv_args {
    const bf16 *x, *prev; /* prev: NULL when no cached frames are used */
    const bf16 *wp;
    const float *bias;
    float *y;
    int cin, t, h, w, n_prev, kt, kh, kw, ph, pw, ho, wo, P, cin_pad, cout, cout_pad;
};

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait_group() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16 *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* *p when ok, else 0, through the read-only path. A volatile asm, so the compiler issues the load here, a whole
 * group of taps before its value is stored, instead of sinking it next to its use (which it did with __ldg under
 * the kernels' 128-register cap: every group then waited for a full memory latency). */
__device__ __forceinline__ uint16_t ld_early(const bf16 *p, bool ok) {
    uint16_t v = 0;
    asm volatile("{\n.reg .pred q;\nsetp.ne.b32 q, %2, 0;\n@q ld.global.nc.b16 %0, [%1];\n}\n"
                 : "+h"(v)
                 : "l"(p), "r"((int)ok));
    return v;
}

struct kstep { /* one K step: channel block cb at tap (dt, dy, dx) */
    int cb, dt, dy, dx;
};

/* 8 x 16 output pixels per block (see the top), kh, kw <= 3. */
constexpr int TR = 8, TC = 16;                     /* output tile rows x columns (TR * TC = BM) */
constexpr int HALO_MAX = (TR + 2) * (TC + 2);      /* input pixels under a tile for a 3 x 3 kernel */
static_assert(TR * TC == BM && HALO_MAX <= THREADS, "one loader thread per halo pixel");

/* A block's tile and K loop: the output frame and tile, this thread's halo pixel (threads
 * past the halo only multiply), the first tap that reads no causal zero frame, the number of K steps. */
struct conv_tile {
    int f, yo0, xo0, hw, dt0, n_prev, steps;
    bool lown, lin;
    int64_t plane, lpix;

    __device__ conv_tile(const conv_args &a, int tid) {
        const int tiles_x = (a.wo + TC - 1) / TC;
        f = blockIdx.y, yo0 = (int)(blockIdx.x / tiles_x) * TR, xo0 = (int)(blockIdx.x % tiles_x) * TC;
        hw = TC + a.kw - 1;
        lown = tid < (TR + a.kh - 1) * hw;
        const int ly = yo0 - a.ph + tid / hw, lx = xo0 - a.pw + tid % hw;
        lin = lown && ly >= 0 && ly < a.h && lx >= 0 && lx < a.w;
        plane = (int64_t)a.h * a.w, lpix = lin ? (int64_t)ly * a.w + lx : 0;
        n_prev = a.prev ? a.n_prev : 0;
        dt0 = max(0, a.kt - 1 - f - n_prev);
        steps = (a.cin_pad / BK) * (a.kt - dt0) * a.kh * a.kw;
    }
    /* the 32 channels of block cb at this thread's halo pixel in source frame f + dt - (kt - 1), as bf16 pairs */
    __device__ void load_halo(const conv_args &a, int cb, int dt, uint32_t (&v)[16]) const {
        const int sf = f + dt - (a.kt - 1);
        const bf16 *base = sf >= 0 ? a.x + sf * plane : a.prev + (n_prev + sf) * plane;
        const int64_t cs = (sf >= 0 ? (int64_t)a.t : (int64_t)n_prev) * plane; /* channel stride */
        const int c0 = cb * BK;
        const bf16 *src = base + (lin ? (int64_t)c0 * cs + lpix : 0);
#pragma unroll
        for (int i = 0; i < 16; i++)
            v[i] = (uint32_t)ld_early(src + 2 * i * cs, lin && c0 + 2 * i < a.cin) |
                   (uint32_t)ld_early(src + (2 * i + 1) * cs, lin && c0 + 2 * i + 1 < a.cin) << 16;
    }
    __device__ void store_halo(bf16 *sH, int tid, const uint32_t (&v)[16]) const {
        if (!lown) return;
        uint4 *d = (uint4 *)(sH + tid * LDS);
#pragma unroll
        for (int i = 0; i < 4; i++) d[i] = make_uint4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
    }
    /* the K step after s: taps in (dt, dy, dx) order inside a channel block */
    __device__ void advance(const conv_args &a, kstep &s) const {
        if (++s.dx < a.kw) return;
        s.dx = 0;
        if (++s.dy < a.kh) return;
        s.dy = 0;
        if (++s.dt < a.kt) return;
        s.dt = dt0, s.cb++;
    }
    /* at the first tap of a group, whether a group follows (and which: (cb, dt + 1) or (cb + 1, dt0)) */
    __device__ bool next_group(const conv_args &a, const kstep &cur, int s, int &cb, int &dt) const {
        const bool dt_next = cur.dt + 1 < a.kt;
        cb = dt_next ? cur.cb : cur.cb + 1, dt = dt_next ? cur.dt + 1 : dt0;
        return steps - s > a.kh * a.kw;
    }
};

template <int WN> __global__ void __launch_bounds__(THREADS, 2) conv_halo_kernel(conv_args a) {
    constexpr int BN = 16 * WN;
    __shared__ __align__(16) bf16 sH[HALO_MAX * LDS];
    __shared__ __align__(16) bf16 sB[3][BN * LDS];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wm = warp & 3, wn = warp >> 2;
    const int co0 = blockIdx.z * BN;
    const conv_tile T(a, tid);
    const int hw = T.hw, steps = T.steps;

    auto load_w = [&](const kstep &s, bf16 *sb) {
        const int tap = (s.dt * a.kh + s.dy) * a.kw + s.dx;
        const bf16 *src = a.wp + ((int64_t)tap * a.cout_pad + co0) * a.cin_pad + s.cb * BK;
        for (int c = tid; c < BN * 4; c += THREADS) {
            const int n = c >> 2, part = c & 3;
            cp_async16(sb + n * LDS + part * 8, src + (int64_t)n * a.cin_pad + part * 8);
        }
        cp_async_commit();
    };

    float acc[2][WN][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < WN; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mi][ni][e] = 0.0f;

    /* Weights ride a ring of three stages: step s + 2's copy is issued while step s multiplies, so a copy has two
     * steps of lead time (with two stages its L2 latency showed at every step's barrier). The next group's halo
     * is loaded into registers at its group's first tap (a whole group of lead time) and stored after the last. */
    kstep cur = {0, T.dt0, 0, 0}, n1 = cur, n2;
    T.advance(a, n1);
    n2 = n1;
    T.advance(a, n2);
    uint32_t v[16];
    load_w(cur, sB[0]);
    if (steps > 1) load_w(n1, sB[1]); else cp_async_commit();
    T.load_halo(a, cur.cb, cur.dt, v);
    T.store_halo(sH, tid, v);
    cp_async_wait_group<1>();
    __syncthreads();
    for (int s = 0; s < steps; s++) {
        const bool first_tap = cur.dy == 0 && cur.dx == 0, last_tap = cur.dy == a.kh - 1 && cur.dx == a.kw - 1;
        if (s + 2 < steps) load_w(n2, sB[(s + 2) % 3]); /* that stage was last read at step s - 1 */
        else cp_async_commit();                          /* an empty group keeps wait_group's count */
        int gcb, gdt;
        if (first_tap && T.next_group(a, cur, s, gcb, gdt)) T.load_halo(a, gcb, gdt, v); /* in registers meanwhile */
        const bf16 *sb = sB[s % 3];
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            uint32_t af[2][4], bfr[WN][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) /* rows: tile row wm * 2 + mi, column lane & 15, shifted by the tap */
                ldmatrix_x4(af[mi], sH + ((wm * 2 + mi + cur.dy) * hw + (lane & 15) + cur.dx) * LDS + kk +
                                        (lane >> 4) * 8);
#pragma unroll
            for (int nj = 0; nj < WN; nj += 2) {
                uint32_t r[4];
                ldmatrix_x4(r, sb + (wn * WN * 8 + nj * 8 + (lane >> 4) * 8 + (lane & 7)) * LDS + kk +
                                   ((lane >> 3) & 1) * 8);
                bfr[nj][0] = r[0], bfr[nj][1] = r[1], bfr[nj + 1][0] = r[2], bfr[nj + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < WN; ni++) mma_bf16(acc[mi][ni], af[mi], bfr[ni][0], bfr[ni][1]);
        }
        if (last_tap && s + 1 < steps) { /* every warp is done with this group's halo: the next one replaces it */
            __syncthreads();
            T.store_halo(sH, tid, v);
        }
        cp_async_wait_group<1>(); /* step s + 1's weights landed (only step s + 2's may be in flight) */
        __syncthreads();
        cur = n1, n1 = n2;
        T.advance(a, n2);
    }

    /* epilogue: accumulator row g or g+8 = tile column, tile row wm * 2 + mi; column 2q, 2q+1 = output channel */
    const int g = lane >> 2, q = lane & 3;
    const int64_t co_stride = (int64_t)a.t * a.P;
    float *yf = a.y + (int64_t)T.f * a.P;
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < WN; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int yo = T.yo0 + wm * 2 + mi, xo = T.xo0 + g + (e >> 1) * 8;
                const int co = co0 + wn * WN * 8 + ni * 8 + 2 * q + (e & 1);
                if (yo < a.ho && xo < a.wo && co < a.cout)
                    yf[co * co_stride + yo * a.wo + xo] = acc[mi][ni][e] + (a.bias ? a.bias[co] : 0.0f);
            }
}

/* wp[tap][co][ci] = w[co][ci * taps + tap], zero outside cout x cin. */
__global__ void pack_weight_kernel(const bf16 *w, int64_t cout, int64_t cin, int64_t taps, int64_t cout_pad,
                                   int64_t cin_pad, bf16 *wp) {
    const int64_t n = taps * cout_pad * cin_pad;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t ci = i % cin_pad, co = (i / cin_pad) % cout_pad, tap = i / (cin_pad * cout_pad);
        wp[i] = co < cout && ci < cin ? w[(co * cin + ci) * taps + tap] : __float2bfloat16_rn(0.0f);
    }
}

template <int WN> rad_status launch(const conv_args &a, cudaStream_t st) {
    const int64_t tiles = (int64_t)((a.wo + TC - 1) / TC) * ((a.ho + TR - 1) / TR);
    conv_halo_kernel<WN><<<dim3((unsigned)tiles, (unsigned)a.t, (unsigned)(a.cout_pad / (16 * WN))), THREADS, 0, st>>>(a);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return rad_err(RADIAL_ERR_BACKEND, "cuda conv3d (implicit GEMM): launch failed: %s", cudaGetErrorString(e));
    return RAD_OK;
}
} // namespace

namespace {
int igemm_bn(int64_t cout) {
    if (cout <= 32) return 32;
    int best = 128;
    int64_t best_waste = -1;
    for (int bn = 128; bn >= 64; bn -= 32) { /* least padding; ties go to the wider tile */
        const int64_t waste = (cout + bn - 1) / bn * bn - cout;
        if (best_waste < 0 || waste < best_waste) best = bn, best_waste = waste;
    }
    return best;
}

int64_t cin_padded(int64_t cin) { return (cin + BK - 1) / BK * BK; }
int64_t cout_padded(int64_t cout) {
    const int64_t bn = igemm_bn(cout);
    return (cout + bn - 1) / bn * bn;
}
} // namespace

int64_t rk_conv_igemm_packed_elems(int64_t cout, int64_t cin, int64_t taps) {
    return taps * cout_padded(cout) * cin_padded(cin);
}

bool rk_conv_igemm_fits(const rk_conv_geom *g, int64_t cout) {
    const int64_t P = g->ho * g->wo, bn = igemm_bn(cout);
    return P <= (int64_t)0x7fffffff - BM && g->t <= 65535 && g->cin <= (1 << 20) && cout <= (1 << 24) &&
           (cout + bn - 1) / bn <= 65535 && g->kt <= 64 && g->kh <= 3 && g->kw <= 3 && g->ph < (1 << 20) &&
           g->pw < (1 << 20) && g->n_prev <= 64;
}

rad_status rk_conv_pack_weight(const bf16 *w, int64_t cout, int64_t cin, int64_t taps, bf16 *wp, cudaStream_t st) {
    const int64_t cout_pad = cout_padded(cout), cin_pad = cin_padded(cin);
    const int64_t n = taps * cout_pad * cin_pad, blocks = (n + 255) / 256;
    pack_weight_kernel<<<(unsigned)(blocks < (1 << 20) ? blocks : (1 << 20)), 256, 0, st>>>(w, cout, cin, taps, cout_pad,
                                                                                            cin_pad, wp);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return rad_err(RADIAL_ERR_BACKEND, "cuda conv3d weight repack: launch failed: %s", cudaGetErrorString(e));
    return RAD_OK;
}

rad_status rk_conv3d_igemm(const rk_conv_geom *g, const bf16 *wp, int64_t cout, const float *bias, float *y,
                           cudaStream_t st) {
    const int bn = igemm_bn(cout);
    conv_args a;
    a.x = g->x, a.prev = g->n_prev > 0 ? g->prev : NULL, a.wp = wp, a.bias = bias, a.y = y;
    a.cin = (int)g->cin, a.t = (int)g->t, a.h = (int)g->h, a.w = (int)g->w, a.n_prev = a.prev ? (int)g->n_prev : 0;
    a.kt = (int)g->kt, a.kh = (int)g->kh, a.kw = (int)g->kw, a.ph = (int)g->ph, a.pw = (int)g->pw;
    a.ho = (int)g->ho, a.wo = (int)g->wo, a.P = (int)(g->ho * g->wo), a.cin_pad = (int)cin_padded(g->cin);
    a.cout = (int)cout, a.cout_pad = (int)cout_padded(cout);
    if (a.P == 0) return RAD_OK;
    switch (bn) {
    case 32: return launch<2>(a, st);
    case 64: return launch<4>(a, st);
    case 96: return launch<6>(a, st);
    default: return launch<8>(a, st);
    }
}
