/* The extern "C" side of the CUDA attention (cuda_attention.h): argument checks, the device copy of the
 * block-CSR layout with its launch order, the choice of kernel version by compute capability (v3 on Hopper,
 * the portable kernel on every other sm_80+ card, RADIAL_ATTN_KERNEL to override), event timing, and the
 * small device helpers that tests and benchmarks use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvtx3/nvToolsExt.h>

#include "backend/cuda/attn_fa2_plan.h"
#include "backend/cuda/attn_internal.cuh"

extern "C" {
#include "backend/cuda/cuda_attention.h"
#include "backend/profile.h"
#include "base/mem.h"
}

static const char *const kernel_names[RAD_CUDA_ATTN_N_KERNELS] = {"auto",  "portable", "fa2s4", "fa2s3",
                                                                   "fa2s2", "fa2n32",   "v3",    "v3pp",
                                                                   "v3s3",  "v3nat",    "v3e"};
static bool is_fa2(int k) { return k >= RAD_CUDA_ATTN_FA2_S4 && k <= RAD_CUDA_ATTN_FA2_N32; }
static bool is_v3(int k) { return k >= RAD_CUDA_ATTN_V3_WGMMA && k < RAD_CUDA_ATTN_N_KERNELS; }
static int fa2_cfg(int k) { return RAD_FA2_S4 + (k - RAD_CUDA_ATTN_FA2_S4); } /* the two enums share an order */

extern "C" const char *rad_cuda_attn_kernel_name(int kernel) {
    return kernel >= 0 && kernel < RAD_CUDA_ATTN_N_KERNELS ? kernel_names[kernel] : NULL;
}

extern "C" int rad_cuda_attn_kernel_from_name(const char *name) {
    for (int i = 0; i < RAD_CUDA_ATTN_N_KERNELS; i++)
        if (name && !strcmp(name, kernel_names[i])) return i;
    return -1;
}

/* ---------------- layout ---------------- */

typedef struct {
    int32_t row, count;
} row_count;

static int by_count_desc(const void *a, const void *b) {
    const row_count *x = (const row_count *)a, *y = (const row_count *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row; /* stable: equal rows keep their order (dense = identity) */
}

extern "C" rad_status rad_cuda_bsr_upload(const rad_bsr *h, rad_cuda_bsr *out) {
    memset(out, 0, sizeof *out);
    if (!h) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: no block-CSR layout");
    if (h->block != RAD_CUDA_ATTN_BLOCK)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: block-CSR block is %d, the kernels need %d",
                       (int)h->block, RAD_CUDA_ATTN_BLOCK);
    RAD_TRY(rad_bsr_check(h)); /* the layout may come from anywhere: check it before the kernels walk it */
    const int64_t nnz = h->row_ptr[h->n_blocks];

    /* Launch order: block rows with the most blocks first, so that the short ones fill the last wave. */
    row_count *rc;
    RAD_TRY(rad_alloc((void **)&rc, (size_t)h->n_blocks * sizeof *rc, "cuda attention row order"));
    for (int32_t r = 0; r < h->n_blocks; r++) rc[r] = (row_count){r, h->row_ptr[r + 1] - h->row_ptr[r]};
    qsort(rc, (size_t)h->n_blocks, sizeof *rc, by_count_desc);
    int32_t *order = (int32_t *)rc; /* compact in place: row i of the order overwrites pair i's first word */
    for (int32_t i = 0; i < h->n_blocks; i++) order[i] = rc[i].row;

    rad_status s = RAD_OK;
    const size_t rp = ((size_t)h->n_blocks + 1) * sizeof(int32_t), ci = (size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t),
                 ro = (size_t)h->n_blocks * sizeof(int32_t);
    if ((s = rad_cuda_malloc((void **)&out->row_ptr, rp, "block-CSR row_ptr")) != RAD_OK ||
        (s = rad_cuda_malloc((void **)&out->col_idx, ci, "block-CSR col_idx")) != RAD_OK ||
        (s = rad_cuda_malloc((void **)&out->row_order, ro, "block-CSR row order")) != RAD_OK ||
        (s = rad_cuda_upload(out->row_ptr, h->row_ptr, rp)) != RAD_OK ||
        (s = rad_cuda_upload(out->col_idx, h->col_idx, (size_t)nnz * sizeof(int32_t))) != RAD_OK ||
        (s = rad_cuda_upload(out->row_order, order, ro)) != RAD_OK) {
        rad_free(rc);
        rad_cuda_bsr_free(out);
        return s;
    }
    rad_free(rc);
    out->n_tokens = h->n_tokens;
    out->n_keys = h->n_tokens;
    out->block = h->block;
    out->n_blocks = h->n_blocks;
    out->nnz = nnz;
    return RAD_OK;
}

extern "C" rad_status rad_cuda_bsr_cross(int64_t n_q, int64_t n_k, rad_cuda_bsr *out) {
    memset(out, 0, sizeof *out);
    const int64_t rows = (n_q + RAD_CUDA_ATTN_BLOCK - 1) / RAD_CUDA_ATTN_BLOCK;
    const int64_t cols = (n_k + RAD_CUDA_ATTN_BLOCK - 1) / RAD_CUDA_ATTN_BLOCK;
    if (n_q < 1 || n_k < 1 || rows * cols > INT32_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: cross layout of %lld queries x %lld keys out of range",
                       (long long)n_q, (long long)n_k);
    int32_t *host;
    const size_t rp = (size_t)(rows + 1), ci = (size_t)(rows * cols);
    RAD_TRY(rad_alloc((void **)&host, (rp + ci + (size_t)rows) * sizeof(int32_t), "cuda cross-attention layout"));
    int32_t *row_ptr = host, *col_idx = host + rp, *order = col_idx + ci;
    for (int64_t r = 0; r <= rows; r++) row_ptr[r] = (int32_t)(r * cols);
    for (int64_t r = 0; r < rows; r++) {
        order[r] = (int32_t)r; /* every row has the same count: natural order */
        for (int64_t c = 0; c < cols; c++) col_idx[r * cols + c] = (int32_t)c;
    }
    rad_status s = RAD_OK;
    if ((s = rad_cuda_malloc((void **)&out->row_ptr, rp * sizeof(int32_t), "cross layout row_ptr")) != RAD_OK ||
        (s = rad_cuda_malloc((void **)&out->col_idx, ci * sizeof(int32_t), "cross layout col_idx")) != RAD_OK ||
        (s = rad_cuda_malloc((void **)&out->row_order, (size_t)rows * sizeof(int32_t), "cross layout order")) != RAD_OK ||
        (s = rad_cuda_upload(out->row_ptr, row_ptr, rp * sizeof(int32_t))) != RAD_OK ||
        (s = rad_cuda_upload(out->col_idx, col_idx, ci * sizeof(int32_t))) != RAD_OK ||
        (s = rad_cuda_upload(out->row_order, order, (size_t)rows * sizeof(int32_t))) != RAD_OK) {
        rad_free(host);
        rad_cuda_bsr_free(out);
        return s;
    }
    rad_free(host);
    out->n_tokens = n_q;
    out->n_keys = n_k;
    out->block = RAD_CUDA_ATTN_BLOCK;
    out->n_blocks = (int32_t)rows;
    out->nnz = (int64_t)ci;
    return RAD_OK;
}

extern "C" void rad_cuda_bsr_free(rad_cuda_bsr *b) {
    if (!b) return;
    rad_cuda_free(b->row_ptr);
    rad_cuda_free(b->col_idx);
    rad_cuda_free(b->row_order);
    memset(b, 0, sizeof *b);
}

/* ---------------- attention ---------------- */

enum { MAX_DEV = 64 };
typedef struct {
    bool valid;
    int major, minor;
    size_t smem_sm, reserved, optin; /* shared memory per SM, reserved per CTA, most a CTA may opt in to */
    signed char fa2_ok[RAD_FA2_N_CFG]; /* 0 not asked yet, 1 this build has code for this device, -1 not */
} dev_props;

static rad_status device_props(dev_props **out) {
    static dev_props cache[MAX_DEV];
    int dev = 0;
    RAD_CUDA_TRY(cudaGetDevice(&dev));
    if (dev < 0 || dev >= MAX_DEV) return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: device %d of more than %d", dev, MAX_DEV);
    dev_props *p = &cache[dev];
    if (!p->valid) {
        int sm = 0, res = 0, opt = 0;
        RAD_CUDA_TRY(cudaDeviceGetAttribute(&p->major, cudaDevAttrComputeCapabilityMajor, dev));
        RAD_CUDA_TRY(cudaDeviceGetAttribute(&p->minor, cudaDevAttrComputeCapabilityMinor, dev));
        RAD_CUDA_TRY(cudaDeviceGetAttribute(&sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
        RAD_CUDA_TRY(cudaDeviceGetAttribute(&res, cudaDevAttrReservedSharedMemoryPerBlock, dev));
        RAD_CUDA_TRY(cudaDeviceGetAttribute(&opt, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        p->smem_sm = (size_t)sm, p->reserved = (size_t)res, p->optin = (size_t)opt;
        p->valid = true;
    }
    *out = p;
    return RAD_OK;
}

/* The kernel a call with `kernel` runs here (rad_cuda_attn_resolve). */
static rad_status resolve(int kernel, int *out) {
    *out = -1;
    if (kernel < 0 || kernel >= RAD_CUDA_ATTN_N_KERNELS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: unknown kernel id %d", kernel);
    dev_props *p;
    RAD_TRY(device_props(&p));
    if (kernel == RAD_CUDA_ATTN_AUTO) {
        const char *env = getenv("RADIAL_ATTN_KERNEL");
        if (env && *env && strcmp(env, "auto")) {
            kernel = rad_cuda_attn_kernel_from_name(env);
            if (kernel < 0) {
                char names[160] = "";
                for (int i = 0; i < RAD_CUDA_ATTN_N_KERNELS; i++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", kernel_names[i]);
                return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: RADIAL_ATTN_KERNEL=%s is not one of %s", env, names);
            }
        } else {
            kernel = p->major == 9 && rad_attn_v3_built() ? RAD_CUDA_ATTN_V3_WGMMA : RAD_CUDA_ATTN_PORTABLE;
        }
    }
    if (p->major < 8)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: the bf16 tensor-core kernels need sm_80 or newer, found "
                       "sm_%d%d (the generic fp32 kernel serves older cards)", p->major, p->minor);
    if (kernel == RAD_CUDA_ATTN_PORTABLE) {
        const int c = rad_fa2_pick(p->smem_sm, p->reserved, p->optin);
        if (c < 0)
            return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: %zu bytes of shared memory per block are too few for "
                           "the portable kernel (%zu needed)", p->optin, rad_fa2_smem_bytes(RAD_FA2_N32));
        kernel = RAD_CUDA_ATTN_FA2_S4 + c;
    }
    if (is_v3(kernel)) {
        if (p->major != 9)
            return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: kernel %s needs a Hopper GPU (sm_90), found sm_%d%d",
                           kernel_names[kernel], p->major, p->minor);
        if (!rad_attn_v3_built())
            return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: kernel %s: this build has no sm_90a code (add 90a to "
                           "RADIAL_CUDA_ARCHS)", kernel_names[kernel]);
        *out = kernel;
        return RAD_OK;
    }
    const int cfg = fa2_cfg(kernel);
    if (rad_fa2_smem_bytes(cfg) > p->optin)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "cuda attention: kernel %s needs %zu bytes of shared memory per block, "
                       "sm_%d%d allows %zu", kernel_names[kernel], rad_fa2_smem_bytes(cfg), p->major, p->minor, p->optin);
    if (!p->fa2_ok[cfg]) {
        rad_fa2_info info;
        p->fa2_ok[cfg] = rad_attn_fa2_info(cfg, &info) == RAD_OK ? 1 : -1;
    }
    if (p->fa2_ok[cfg] < 0) {
        rad_fa2_info info;
        return rad_attn_fa2_info(cfg, &info); /* the message again */
    }
    *out = kernel;
    return RAD_OK;
}

extern "C" int rad_cuda_attn_resolve(int kernel) {
    int k;
    return resolve(kernel, &k) == RAD_OK ? k : -1;
}

extern "C" rad_status rad_cuda_attn_describe(int kernel, char *buf, size_t size) {
    int k;
    RAD_TRY(resolve(kernel, &k));
    if (is_v3(k)) {
        snprintf(buf, size, "%s: Hopper wgmma kernel (sm_90a), 384 threads, one CTA per SM", kernel_names[k]);
        return RAD_OK;
    }
    const int cfg = fa2_cfg(k);
    rad_fa2_info info;
    RAD_TRY(rad_attn_fa2_info(cfg, &info));
    snprintf(buf, size, "%s: portable (mma.sync), %d-key tiles, %d-slot K/V ring, %.1f KB shared memory, %d CTA(s) per "
             "SM, %d registers, %d bytes of local memory, sm_%d code", kernel_names[k], rad_fa2_cfg_bn(cfg),
             rad_fa2_cfg_nslot(cfg), info.smem_bytes / 1024.0, info.ctas_per_sm, info.regs, info.local_bytes,
             info.binary_version);
    return RAD_OK;
}

static rad_status check_call(const void *q, const void *k, const void *v, const void *out, int64_t heads, float scale,
                             const rad_cuda_bsr *mask) {
    if (!q || !k || !v || !out || !mask || !mask->row_ptr)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: null tensor or layout");
    if (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)out) % 16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: q, k, v and out must be 16-byte aligned");
    if (heads < 1 || heads > 4096)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: heads = %lld, expected 1..4096", (long long)heads);
    if ((int64_t)mask->n_blocks * heads > INT32_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: %d block rows x %lld heads exceed the grid",
                       (int)mask->n_blocks, (long long)heads);
    if (!(scale > 0.0f) || !isfinite(scale)) /* the kernels take a tile's max before scaling */
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: scale %g, expected a positive finite number", (double)scale);
    return RAD_OK;
}

/* kernel: resolved (never AUTO or PORTABLE). */
static rad_status launch(const rad_attn_args *a, int kernel) {
    if (is_fa2(kernel)) return rad_attn_fa2_launch(a, fa2_cfg(kernel));
    switch (kernel) {
    case RAD_CUDA_ATTN_V3_WGMMA: return rad_attn_v3_launch(a, false, 2, false);
    case RAD_CUDA_ATTN_V3_PINGPONG: return rad_attn_v3_launch(a, true, 2, false);
    case RAD_CUDA_ATTN_V3_STAGES3: return rad_attn_v3_launch(a, false, 3, false);
    case RAD_CUDA_ATTN_V3_EARLY: return rad_attn_v3_launch(a, false, 2, true);
    case RAD_CUDA_ATTN_V3_NATURAL: {
        rad_attn_args b = *a;
        b.row_order = NULL;
        return rad_attn_v3_launch(&b, false, 2, false);
    }
    default: return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention: unknown kernel id %d", kernel);
    }
}

static rad_attn_args make_args(const void *q, const void *k, const void *v, void *out, int64_t heads, float scale,
                               const rad_cuda_bsr *mask, void *stream) {
    rad_attn_args a;
    a.q = (const __nv_bfloat16 *)q;
    a.k = (const __nv_bfloat16 *)k;
    a.v = (const __nv_bfloat16 *)v;
    a.o = (__nv_bfloat16 *)out;
    a.n_tokens = mask->n_tokens;
    a.n_keys = mask->n_keys;
    a.heads = (int)heads;
    a.scale = scale;
    a.row_ptr = mask->row_ptr;
    a.col_idx = mask->col_idx;
    a.row_order = mask->row_order;
    a.n_blocks = mask->n_blocks;
    a.stream = (cudaStream_t)stream;
    return a;
}

extern "C" rad_status rad_cuda_attention_bf16(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                              float scale, const rad_cuda_bsr *mask, int kernel, void *stream) {
    RAD_TRY(check_call(q, k, v, out, heads, scale, mask));
    int kr;
    RAD_TRY(resolve(kernel, &kr));
    const rad_attn_args a = make_args(q, k, v, out, heads, scale, mask, stream);
    return launch(&a, kr);
}

/* The op family of a launch over `mask` (profile.h), from the device layout: cross when the keys are not the
 * queries, dense when every block row lists every key block, radial otherwise. */
static rad_op_family layout_family(const rad_cuda_bsr *mask) {
    const int64_t key_blocks = (mask->n_keys + RAD_CUDA_ATTN_BLOCK - 1) / RAD_CUDA_ATTN_BLOCK;
    if (mask->n_keys != mask->n_tokens) return RAD_OPF_ATTN_CROSS;
    return mask->nnz == (int64_t)mask->n_blocks * key_blocks ? RAD_OPF_ATTN_DENSE : RAD_OPF_ATTN_RADIAL;
}

extern "C" rad_status rad_cuda_attention_time(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                              float scale, const rad_cuda_bsr *mask, int kernel, int warmup, int reps,
                                              float *ms) {
    RAD_TRY(check_call(q, k, v, out, heads, scale, mask));
    int kr;
    RAD_TRY(resolve(kernel, &kr));
    kernel = kr;
    if (warmup < 0 || reps < 1 || !ms)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda attention timing: warmup %d, reps %d", warmup, reps);
    const rad_attn_args a = make_args(q, k, v, out, heads, scale, mask, NULL);
    for (int i = 0; i < warmup; i++) RAD_TRY(launch(&a, kernel));
    cudaEvent_t ev[2];
    RAD_CUDA_TRY(cudaEventCreate(&ev[0]));
    if (cudaEventCreate(&ev[1]) != cudaSuccess) {
        cudaEventDestroy(ev[0]);
        return rad_err(RADIAL_ERR_BACKEND, "cuda attention timing: cudaEventCreate failed");
    }
    rad_status s = RAD_OK;
    /* Each timed launch (not the warm-up) in an NVTX range named as the engine's op ranges name the call
     * ("attention dense", "attention radial"), so Nsight Compute picks the same launches in radial bench attention
     * as in a whole generation (bench/PROFILE.md). */
    const char *range = rad_op_family_name(layout_family(mask));
    for (int i = 0; i < reps && s == RAD_OK; i++) {
        cudaError_t e = cudaEventRecord(ev[0], 0);
        nvtxRangePushA(range);
        if (e == cudaSuccess) s = launch(&a, kernel);
        nvtxRangePop();
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventRecord(ev[1], 0);
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventSynchronize(ev[1]);
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventElapsedTime(&ms[i], ev[0], ev[1]);
        if (e != cudaSuccess && s == RAD_OK)
            s = rad_err(RADIAL_ERR_BACKEND, "cuda attention timing, rep %d: %s", i, cudaGetErrorString(e));
    }
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
    return s;
}

/* ---------------- fp8 attention ---------------- */

extern "C" int rad_cuda_attn_fp8_supported(char *why, size_t cap) {
    char sink[8];
    if (!why || !cap) why = sink, cap = sizeof sink;
    dev_props *p = NULL;
    if (device_props(&p) != RAD_OK || !p) {
        snprintf(why, cap, "fp8 attention: no usable CUDA device (%s)", rad_last_error());
        return 0;
    }
    if (p->major != 9) {
        snprintf(why, cap, "fp8 attention (--attention-precision fp8) needs a Hopper GPU (sm_90: H100, H200): its kernel is "
                 "built on the fp8 wgmma instructions of sm_90a, and this device is sm_%d%d; use --attention-precision bf16",
                 p->major, p->minor);
        return 0;
    }
    if (!rad_attn_fp8_built()) {
        snprintf(why, cap, "fp8 attention: this build has no sm_90a code (add 90a to RADIAL_CUDA_ARCHS)");
        return 0;
    }
    return 1;
}

static rad_status fp8_check(const rad_fp8_attn_layout *L, const void *scratch, const void *out, float scale,
                            const rad_cuda_bsr *mask) {
    if (!L || !scratch || !out || !mask || !mask->row_ptr)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: null tensor, scratch or layout");
    if ((uintptr_t)scratch % 256 || (uintptr_t)out % 16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: the scratch must be 256-byte and out 16-byte aligned");
    if (mask->n_keys != mask->n_tokens || mask->n_tokens != L->n_tokens || mask->n_blocks != L->n_blocks)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: a self-attention layout over %lld tokens, got %lld queries "
                       "x %lld keys", (long long)L->n_tokens, (long long)mask->n_tokens, (long long)mask->n_keys);
    if (!(scale > 0.0f) || !isfinite(scale))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: scale %g, expected a positive finite number", (double)scale);
    char why[256];
    if (!rad_cuda_attn_fp8_supported(why, sizeof why)) return rad_err(RADIAL_ERR_UNSUPPORTED, "%s", why);
    return RAD_OK;
}

extern "C" rad_status rad_cuda_attn_fp8_quantize(const void *q, const void *k, const void *v, const rad_fp8_attn_layout *L,
                                                 void *scratch, void *stream) {
    if (!q || !k || !v || !L || !scratch)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention quantisation: null tensor or scratch");
    if ((uintptr_t)scratch % 256)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention quantisation: the scratch must be 256-byte aligned");
    uint8_t *s = (uint8_t *)scratch;
    rad_attn_fp8_quant_args a;
    a.q = (const __nv_bfloat16 *)q, a.k = (const __nv_bfloat16 *)k, a.v = (const __nv_bfloat16 *)v;
    a.n_tokens = L->n_tokens, a.n_blocks = L->n_blocks, a.n_pad = L->n_pad, a.heads = (int)L->heads;
    a.q8 = s + L->q8, a.k8 = s + L->k8, a.vt8 = s + L->vt8;
    a.sq = (float *)(s + L->sq), a.sk = (float *)(s + L->sk), a.sv = (float *)(s + L->sv);
    a.vinv = (float *)(s + L->vinv), a.kmean = (float *)(s + L->kmean);
    a.ksum = (float *)(s + L->ksum), a.vmax = (float *)(s + L->vmax);
    a.stream = (cudaStream_t)stream;
    return rad_attn_fp8_quant_launch(&a);
}

static rad_attn_fp8_args fp8_args(const rad_fp8_attn_layout *L, const void *scratch, void *out, float scale,
                                  const rad_cuda_bsr *mask, void *stream) {
    const uint8_t *s = (const uint8_t *)scratch;
    rad_attn_fp8_args a;
    a.q8 = s + L->q8, a.k8 = s + L->k8, a.vt8 = s + L->vt8;
    a.sq = (const float *)(s + L->sq), a.sk = (const float *)(s + L->sk), a.sv = (const float *)(s + L->sv);
    a.o = (__nv_bfloat16 *)out;
    a.n_tokens = L->n_tokens, a.n_pad = L->n_pad, a.heads = (int)L->heads;
    a.scale = scale;
    a.row_ptr = mask->row_ptr, a.col_idx = mask->col_idx, a.row_order = mask->row_order;
    a.n_blocks = mask->n_blocks;
    a.stream = (cudaStream_t)stream;
    return a;
}

extern "C" rad_status rad_cuda_attn_fp8_run(const rad_fp8_attn_layout *L, const void *scratch, void *out, float scale,
                                            const rad_cuda_bsr *mask, int stages, void *stream) {
    RAD_TRY(fp8_check(L, scratch, out, scale, mask));
    const rad_attn_fp8_args a = fp8_args(L, scratch, out, scale, mask, stream);
    return rad_attn_fp8_launch(&a, stages ? stages : 2);
}

/* The layout of heads x mask->n_tokens, checked against the caller's scratch. */
static rad_status fp8_layout(int64_t heads, const rad_cuda_bsr *mask, size_t scratch_bytes, rad_fp8_attn_layout *L) {
    if (!mask) return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: no layout");
    RAD_TRY(rad_fp8_attn_plan(mask->n_tokens, heads, L));
    if (scratch_bytes < L->bytes)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention: a scratch of %zu bytes, %zu needed for %lld tokens x %lld heads",
                       scratch_bytes, L->bytes, (long long)mask->n_tokens, (long long)heads);
    return RAD_OK;
}

extern "C" rad_status rad_cuda_attention_fp8(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                             float scale, const rad_cuda_bsr *mask, void *scratch, size_t scratch_bytes,
                                             void *stream) {
    rad_fp8_attn_layout L;
    RAD_TRY(fp8_layout(heads, mask, scratch_bytes, &L));
    RAD_TRY(fp8_check(&L, scratch, out, scale, mask)); /* before the pre-pass: a refusal leaves nothing queued */
    RAD_TRY(rad_cuda_attn_fp8_quantize(q, k, v, &L, scratch, stream));
    return rad_cuda_attn_fp8_run(&L, scratch, out, scale, mask, 0, stream);
}

extern "C" rad_status rad_cuda_attention_fp8_time(const void *q, const void *k, const void *v, void *out, int64_t heads,
                                                  float scale, const rad_cuda_bsr *mask, void *scratch,
                                                  size_t scratch_bytes, int stages, int with_quant, int warmup, int reps,
                                                  float *ms) {
    rad_fp8_attn_layout L;
    RAD_TRY(fp8_layout(heads, mask, scratch_bytes, &L));
    RAD_TRY(fp8_check(&L, scratch, out, scale, mask));
    if (warmup < 0 || reps < 1 || !ms)
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention timing: warmup %d, reps %d", warmup, reps);
    if (stages && (stages < 2 || stages > 4))
        return rad_err(RADIAL_ERR_INVALID_ARG, "cuda fp8 attention timing: %d K/V stages (2, 3 or 4)", stages);
    const rad_attn_fp8_args a = fp8_args(&L, scratch, out, scale, mask, NULL);
    stages = stages ? stages : 2;
    auto once = [&](bool quant) -> rad_status {
        if (quant) RAD_TRY(rad_cuda_attn_fp8_quantize(q, k, v, &L, scratch, NULL));
        return rad_attn_fp8_launch(&a, stages);
    };
    RAD_TRY(once(true));
    for (int i = 0; i < warmup; i++) RAD_TRY(once(with_quant != 0));
    cudaEvent_t ev[2];
    RAD_CUDA_TRY(cudaEventCreate(&ev[0]));
    if (cudaEventCreate(&ev[1]) != cudaSuccess) {
        cudaEventDestroy(ev[0]);
        return rad_err(RADIAL_ERR_BACKEND, "cuda fp8 attention timing: cudaEventCreate failed");
    }
    rad_status s = RAD_OK;
    const char *range = rad_op_family_name(layout_family(mask)); /* as rad_cuda_attention_time (bench/PROFILE.md) */
    for (int i = 0; i < reps && s == RAD_OK; i++) {
        cudaError_t e = cudaEventRecord(ev[0], 0);
        nvtxRangePushA(range);
        if (e == cudaSuccess) s = once(with_quant != 0);
        nvtxRangePop();
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventRecord(ev[1], 0);
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventSynchronize(ev[1]);
        if (e == cudaSuccess && s == RAD_OK) e = cudaEventElapsedTime(&ms[i], ev[0], ev[1]);
        if (e != cudaSuccess && s == RAD_OK)
            s = rad_err(RADIAL_ERR_BACKEND, "cuda fp8 attention timing, rep %d: %s", i, cudaGetErrorString(e));
    }
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
    return s;
}

/* ---------------- helpers ---------------- */

extern "C" rad_status rad_cuda_device_info(char *name, size_t size, int *cc_major, int *cc_minor) {
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "count is 0");
    RAD_CUDA_TRY(cudaGetDevice(&dev));
    cudaDeviceProp p;
    RAD_CUDA_TRY(cudaGetDeviceProperties(&p, dev));
    if (name && size) snprintf(name, size, "%s (sm_%d%d, %d SMs)", p.name, p.major, p.minor, p.multiProcessorCount);
    if (cc_major) *cc_major = p.major;
    if (cc_minor) *cc_minor = p.minor;
    return RAD_OK;
}

extern "C" rad_status rad_cuda_malloc(void **p, size_t bytes, const char *what) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        return rad_err(RADIAL_ERR_NOMEM, "cudaMalloc of %zu bytes for %s failed: %s", bytes, what, cudaGetErrorString(e));
    }
    return RAD_OK;
}

extern "C" void rad_cuda_free(void *p) {
    if (p) cudaFree(p);
}

extern "C" rad_status rad_cuda_upload(void *dst, const void *src, size_t bytes) {
    RAD_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
    /* from pageable memory cudaMemcpy may return before the DMA lands; kernels on other (non-blocking) streams,
     * as the backend's, read these buffers next */
    RAD_CUDA_TRY(cudaStreamSynchronize(cudaStreamLegacy));
    return RAD_OK;
}

extern "C" rad_status rad_cuda_download(void *dst, const void *src, size_t bytes) {
    RAD_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
    return RAD_OK;
}

extern "C" rad_status rad_cuda_memset(void *p, int value, size_t bytes) {
    RAD_CUDA_TRY(cudaMemset(p, value, bytes));
    return RAD_OK;
}

extern "C" rad_status rad_cuda_sync(void) {
    RAD_CUDA_TRY(cudaDeviceSynchronize());
    return RAD_OK;
}
