/* The ops table every model calls. Model code (src/dit, src/text/t5, src/vae) computes only through these,
 * never through a CUDA API, so one model source serves both backends and the CPU run is the oracle for the
 * GPU run.
 *
 * Conventions
 * - Activations are fp32 arrays in the backend's memory (host for CPU, device for CUDA), row-major.
 * - Weights are rad_weight handles the backend prepared once at load from the bytes as stored in the file
 *   (rad_weight_src): the backend decides what it keeps (CPU: fp32; CUDA: bf16, fp8 as stored, or GGUF blocks).
 * - Small fp32 vectors (biases, norm weights, modulation tables) are plain backend buffers (float *).
 * - Every op returns a status; shapes are the caller's responsibility (models check them at load). */
#ifndef RAD_BACKEND_H
#define RAD_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "attn/bsr.h"
#include "backend/group.h"
#include "base/status.h"
#include "io/safetensors.h"

typedef struct rad_backend rad_backend;
typedef struct rad_weight rad_weight; /* a [n, k] matrix (or any tensor, flattened) prepared by the backend */

/* The GEMM precision of linear (set_gemm). BF16: the default (CUDA: bf16 operands, fp32 accumulation; the CPU
 * computes in fp32 either way). FP8: CUDA on GPUs with fp8 tensor cores (compute capability 8.9+): the large
 * GEMMs take e4m3 operands with per-token and per-channel scales (numerics and which GEMMs: fp8_emul.h). */
typedef enum rad_gemm_mode { RAD_GEMM_BF16 = 0, RAD_GEMM_FP8 = 1 } rad_gemm_mode;

/* The precision of attention (set_attention). BF16: the default (CUDA: the bf16 tensor-core kernels; the CPU
 * computes in fp32 either way). FP8: CUDA on Hopper (sm_90, with sm_90a code in the build): self-attention (lq ==
 * lk, head_dim 128, no bias: the DiT's dense and radial self-attention) takes e4m3 Q, smoothed K, P and V with fp32
 * softmax and accumulation (numerics: fp8_attn_emul.h); cross-attention (lq != lk: the 512 text keys) and every
 * other call stay as they were. */
typedef enum rad_attn_precision { RAD_ATTN_BF16 = 0, RAD_ATTN_FP8 = 1 } rad_attn_precision;

/* Staging buffers of streamed weights (weight_new_host, stage): two, for double buffering. */
#define RAD_STAGE_SLOTS 2

/* Timestamp slots of prof_mark (backend/profile.h): a profile waits for the device once per this many. */
#define RAD_PROF_SLOTS 8192

/* Memory a backend reports (mem_stats). held/peak: the backend's own allocations (CPU: host memory; CUDA: every
 * device buffer it holds: activations, weights, scratch, shadows, staging buffers, the cuBLASLt workspace).
 * device_used/device_peak: what the GPU has in use as its driver reports it (cudaMemGetInfo: total - free), so
 * the CUDA context, the libraries' own workspaces and the loaded kernels are included, as nvidia-smi counts
 * them; sampled after every allocation, at every stage() and at every mem_stats call; 0 on the CPU. It is the
 * whole device's figure: another process on the same GPU counts too; device_total: its size. host_pinned:
 * page-locked host memory held for streamed and parked weights. */
typedef struct rad_mem_stats {
    size_t held, peak;
    size_t device_used, device_peak, device_total;
    size_t host_pinned;
} rad_mem_stats;

/* A weight as the file stores it: rows x cols elements of `dtype` (F32, F16, BF16, F8_E4M3, F8_E5M2 or a GGUF
 * block type, blocks running along cols) in host memory (usually the file mapping), and for scaled fp8 files
 * the dequantisation scale: W = stored · scale[0] (n_scale 1) or · scale[row] (n_scale == rows). */
typedef struct rad_weight_src {
    rad_dtype dtype;
    const void *data;
    const float *scale; /* NULL: no scale */
    int64_t n_scale;
} rad_weight_src;

/* The plain fp32 source (tests, benchmarks, merged LoRA weights). */
static inline rad_weight_src rad_weight_src_f32(const float *host) {
    rad_weight_src s = {RAD_DT_F32, host, NULL, 0};
    return s;
}

/* Checks a source against rows x cols (dtype convertible, cols a whole number of blocks, scale count 0, 1 or
 * rows) and sets *bytes to the size of its data. `who` and `name` go into the message. */
rad_status rad_weight_src_check(const char *who, const rad_weight_src *src, int64_t rows, int64_t cols,
                                const char *name, size_t *bytes);
/* Rows [r0, r1) of the source as fp32 into dst ((r1 - r0) x cols floats), scale applied; multi-threaded. The CPU
 * backend keeps this; the CUDA backend uses it for what it converts on the host. */
void rad_weight_src_rows_f32(const rad_weight_src *src, int64_t cols, int64_t r0, int64_t r1, float *dst);

struct rad_backend {
    const char *name;
    char info[192]; /* what it runs on, in words ("CUDA device 0: NVIDIA H200 (sm_90, 132 SMs), 139.8 GiB") */
    int sm_count, sm_threads; /* CUDA: multiprocessors and max resident threads per multiprocessor; CPU: 0 */
    /* The backend's private state (CUDA: device handles, allocation records, caches; CPU: NULL). Ops reach it
     * through be->state, so a copy of the table (a timing wrapper) works on the same backend. */
    void *state;

    /* ---- memory ---- */
    rad_status (*alloc)(rad_backend *be, size_t bytes, const char *what, void **out);
    void (*free)(rad_backend *be, void *p);
    rad_status (*upload)(rad_backend *be, void *dst, const void *src_host, size_t bytes);
    rad_status (*download)(rad_backend *be, void *dst_host, const void *src, size_t bytes);
    /* Weight of `rows` x `cols` from its stored bytes (copied or converted; the source may be unmapped after). */
    rad_status (*weight_new)(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols,
                             const char *name, rad_weight **out);
    void (*weight_free)(rad_backend *be, rad_weight *w);
    /* Streamed weights, for models larger than the device memory they may use (the umT5 encoder always, the
     * DiT blocks under --offload). weight_new_host keeps the weight in host memory (CUDA: page-locked, in the
     * form weight_new would keep on the device) with no device copy of its own. stage() then places a group of
     * such weights (one model layer) in one of the backend's RAD_STAGE_SLOTS staging buffers: the copy is
     * queued at once, runs beside the ops queued before it, and the ops queued after it that use these weights
     * wait for it. The group stays placed until RAD_STAGE_SLOTS further stage() calls have reused its buffer,
     * so a model stages layer i + 1 before it queues the ops of layer i (double buffering). Using a host weight
     * that is not placed is an error naming it. CPU: ordinary weights; stage() does nothing. */
    rad_status (*weight_new_host)(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols,
                                  const char *name, rad_weight **out);
    rad_status (*stage)(rad_backend *be, rad_weight *const *ws, int n);
    /* park != 0: a resident weight's device bytes go to page-locked host memory and the device memory is freed,
     * so a model that waits through another phase does not hold the device (the host copy is kept once made:
     * weights do not change, so parking it again frees the device memory without a copy); park == 0 brings it
     * back. A parked weight used by an op is an error naming it. Streamed weights are left as they are. CPU:
     * nothing to do. */
    rad_status (*weight_park)(rad_backend *be, rad_weight *w, int park);
    /* What this backend holds now and at its peak since the last reset (rad_mem_stats); reset != 0 starts new
     * peaks from the current values after reading, so a caller measures one phase at a time. */
    void (*mem_stats)(rad_backend *be, int reset, rad_mem_stats *out);
    /* Frees what the backend keeps between ops only to save time (scratch buffers, bf16 shadows, the staging
     * buffers of streamed weights), so the next phase of a run starts from its weights alone. Waits for the
     * queued ops. CPU: nothing to free. */
    rad_status (*trim)(rad_backend *be);
    /* Waits until every queued op has finished (ops may run asynchronously on a device; download waits by
     * itself). For timing. CPU: nothing to wait for. */
    rad_status (*sync)(rad_backend *be);

    /* ---- dense algebra ---- */
    /* y[m, n] = x[m, k] · w[n, k]ᵀ + bias[n]   (bias may be NULL). */
    rad_status (*linear)(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                         const float *bias, float *y);
    /* The GEMM mode of linear from now on (rad_gemm_mode); set it after creating the backend, before the model
     * runs. A backend without the mode refuses it (RADIAL_ERR_UNSUPPORTED, saying why: the CPU backend, a GPU
     * without fp8 tensor cores). CUDA fp8: a resident bf16 weight that an fp8 GEMM has read is kept as e4m3 from
     * then on (half its memory), so bf16 GEMMs on it later read its e4m3 values. */
    rad_status (*set_gemm)(rad_backend *be, int mode);
    /* The DiT's feed-forward network: y[m, d] = gelu_tanh(x[m, d] · w1ᵀ + b1) · w2ᵀ + b2 (w1 [F, d], w2 [d, F]),
     * through `hidden`, a work buffer of hidden_floats floats (at least F) holding the hidden state of as many
     * rows at a time as fit. The CPU runs linear, gelu_tanh, linear on fp32 row chunks, and so does CUDA by
     * when cuBLASLt refuses its fused path (cuda_ffn.h), which keeps the hidden state in bf16, what the second
     * GEMM reads (so twice the rows fit), with the GELU in the first GEMM's epilogue: written once and read once
     * instead of five passes in fp32. */
    rad_status (*ffn)(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                      const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y);

    /* ---- norms (per row of d values; y may equal x) ---- */
    /* LayerNorm: (x - mean) / sqrt(var + eps) [* w + b]; w, b may be NULL (no affine). */
    rad_status (*layernorm)(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, const float *b,
                            float eps, float *y);
    /* RMSNorm: x * rsqrt(mean(x²) + eps) [* w]; w may be NULL. */
    rad_status (*rmsnorm)(rad_backend *be, const float *x, int64_t m, int64_t d, const float *w, float eps,
                          float *y);
    /* The DiT's residual + norm + modulation chain as one op, equal bit for bit to
     *   if (r) add_gated(x, r, m, d, gate);  layernorm(x, m, d, w, b, eps, y);
     *   if (shift) modulate(y, m, d, shift, scale, y);
     * r NULL: no residual (x is only read); gate NULL: plain add; w, b may be NULL; shift and scale both set or
     * both NULL; y may equal x. A device reads x once instead of three times. */
    rad_status (*add_norm_modulate)(rad_backend *be, float *x, const float *r, const float *gate, int64_t m,
                                    int64_t d, const float *w, const float *b, float eps, const float *shift,
                                    const float *scale, float *y);

    /* ---- elementwise (n elements, or m rows of d with a per-column vector) ---- */
    rad_status (*gelu_tanh)(rad_backend *be, float *x, int64_t n);
    rad_status (*silu)(rad_backend *be, float *x, int64_t n);
    /* a[i] = a[i] * gelu_tanh(g[i])  (T5 gated FFN). */
    rad_status (*mul_gelu)(rad_backend *be, float *a, const float *g, int64_t n);
    /* y[r, c] = x[r, c] * (1 + scale[c]) + shift[c]  (y may equal x). */
    rad_status (*modulate)(rad_backend *be, const float *x, int64_t m, int64_t d, const float *shift,
                           const float *scale, float *y);
    /* x[r, c] += y[r, c] * gate[c]   (gate NULL: plain add). */
    rad_status (*add_gated)(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate);

    /* ---- DiT positional encoding ----
     * 3-D RoPE in place on x [f*h*w tokens, heads, head_dim] (interleaved pairs; frame/height/width split of
     * head_dim as in spec wan21.md §1.4). */
    rad_status (*rope3d)(rad_backend *be, float *x, int64_t f, int64_t h, int64_t w, int64_t heads,
                         int64_t head_dim);
    /* rmsnorm(x, f*h*w, heads*head_dim, nw, eps, x) then rope3d(x, f, h, w, heads, head_dim), in place, equal bit
     * for bit to the two ops (the DiT's q and k): one pass over x instead of two. */
    rad_status (*rmsnorm_rope3d)(rad_backend *be, float *x, const float *nw, float eps, int64_t f, int64_t h,
                                 int64_t w, int64_t heads, int64_t head_dim);

    /* ---- attention ----
     * out[i, h, :] = softmax_j(scale · q[i,h]·k[j,h] + bias[h,i,j]) · v[j, h, :]
     * q, out: [lq, heads, head_dim]; k, v: [lk, heads, head_dim] (row-major, contiguous).
     * bias: NULL or [heads, lq, lk] (T5 relative position bias).
     * mask: NULL (dense) or a block-CSR layout (self-attention only, lq == lk == mask->n_tokens); keys outside
     * the listed blocks are excluded exactly (as -inf), partial last blocks included. */
    rad_status (*attention)(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                            int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale,
                            const float *bias, const rad_bsr *mask);
    /* The precision of attention from now on (rad_attn_precision), as set_gemm is for linear. A backend or device
     * without the mode refuses it (RADIAL_ERR_UNSUPPORTED, saying why: the CPU backend, a GPU other than Hopper, a
     * build without sm_90a code). */
    rad_status (*set_attention)(rad_backend *be, int mode);

    /* ---- VAE (channel-first [C, T, H, W] activations) ----
     * Convolution inputs (conv3d's x and prev, upsample2x's x and y) are arrays of conv_dtype elements:
     * RAD_DT_F32 on the CPU; RAD_DT_BF16 on CUDA, whose conv3d takes bf16 operands: a tensor kept there
     * rounded to bf16 (to nearest even, as the convolution rounds) convolves bit for bit as its fp32 original
     * would, in half the memory. The VAE keeps its chunk caches and every tensor only a convolution reads so. */
    rad_dtype conv_dtype;
    /* y[i] = x[i] as conv_dtype (rounded to nearest even), i < n: y is a buffer of n conv_dtype elements. */
    rad_status (*to_conv_dtype)(rad_backend *be, const float *x, int64_t n, void *y);
    /* Causal 3-D convolution: w [cout, cin, kt, kh, kw] (as a weight of cout x cin*kt*kh*kw), bias [cout].
     * Input x [cin, t, h, w]. `prev` (may be NULL) holds `n_prev` frames [cin, n_prev, h, w] that precede x in
     * time (the chunk cache); missing front frames are zeros. x and prev are conv_dtype. Spatial zero padding
     * ph, pw on each side, stride 1. Output y (fp32) [cout, t, h + 2ph - kh + 1, w + 2pw - kw + 1]. */
    rad_status (*conv3d)(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                         const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                         int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y);
    /* Channel RMS norm of x [c, s]: x / max(||x[:, j]||, 1e-12) * sqrt(c) * gamma[c]. */
    rad_status (*rmsnorm_channels)(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                   float *y);
    /* The VAE's norm -> SiLU -> convolution input chain: y [c, s] (conv_dtype) = silu(rmsnorm_channels(x)), equal
     * bit for bit to rmsnorm_channels, silu and to_conv_dtype in turn; one pass over x instead of three. */
    rad_status (*rmsnorm_silu_channels)(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                        void *y);
    /* Nearest 2x spatial upsample of a convolution input (conv_dtype): x [c, h, w] -> y [c, 2h, 2w]. */
    rad_status (*upsample2x)(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y);
    /* Strided copy within backend memory (like cudaMemcpy2D): `rows` rows of `row_bytes` bytes, row r from
     * src + r*src_pitch to dst + r*dst_pitch; source and destination regions must not overlap. The VAE moves
     * frames of channel-first [C, T, H, W] tensors with it (the chunk caches). */
    rad_status (*copy2d)(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                         size_t row_bytes, size_t rows);
    /* y [s, c] = transpose of x [c, s] (layout changes around attention). */
    rad_status (*transpose)(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y);

    /* ---- collectives over a group of ranks (backend/group.h: the group's rank and size, loopback or NCCL) ----
     * Every rank of the group calls the same op in the same order with the same shape arguments; the op
     * returns when this rank's dst may be read by its next op (CUDA: queued on the backend's stream). A group
     * that does not suit the backend (a loopback group on CUDA) is refused, naming both.
     * all_to_all: the Ulysses exchange around self-attention over [tokens, heads, head_dim] activations, n_tokens
     * split unevenly over the ranks (rad_split_range: no padding), heads % size == 0 (see rad_a2a_dir):
     *   RAD_A2A_TOKENS_TO_HEADS: src [n_rank, heads, hd] -> dst [n_tokens, heads/size, hd] (this rank's heads);
     *   RAD_A2A_HEADS_TO_TOKENS: the inverse. src and dst must not overlap.
     * all_gather: src is this rank's rows of an [n_rows, row_elems] matrix (rad_split_range(n_rows)), dst the
     * whole matrix on every rank (the DiT's velocity; the CFG branches).
     * broadcast: buf [n] of rank `root` into buf of every other rank, in place (what rank 0 alone computed: the
     * text encoder's output, the initial noise). */
    rad_status (*all_to_all)(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_tokens,
                             int64_t heads, int64_t head_dim, int dir);
    rad_status (*all_gather)(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_rows,
                             int64_t row_elems);
    rad_status (*broadcast)(rad_backend *be, rad_group *g, float *buf, int64_t n, int root);

    /* ---- profiling (backend/profile.h) ----
     * range_push / range_pop: a named range around a stage of the work (the text encoder, a denoising step, a DiT
     * forward or block, the VAE decode and its stages); ranges nest, and every push has its pop on every path,
     * errors included. CUDA: NVTX ranges, which Nsight Systems shows and Nsight Compute filters by (NVTX3 is
     * header-only and costs a few nanoseconds a call while no tool is attached); CPU: nothing. A profile attached
     * to the backend times them as its stages. `name` must stay valid until the pop. Models call them through
     * rad_range_push / rad_range_pop below, which a table without them (a planning stand-in) also serves. */
    void (*range_push)(rad_backend *be, const char *name);
    void (*range_pop)(rad_backend *be);
    /* Timestamps in queue order for a profile, on a backend that queues its ops (NULL on the CPU, whose ops have
     * finished when they return: the profile reads the host clock there). prof_mark records one into slot
     * (0 <= slot < RAD_PROF_SLOTS), taken when the ops queued before it have run (CUDA: an event, so events cost
     * only while a profile is attached); prof_elapsed sets *seconds from slot a's timestamp to slot b's, waiting
     * for b. */
    rad_status (*prof_mark)(rad_backend *be, int slot);
    rad_status (*prof_elapsed)(rad_backend *be, int a, int b, double *seconds);
    /* The profile attached (rad_profile_attach); NULL: none. While one is attached every op is timed on its own
     * (and a batch of timestamps may wait for the device), so a backend that records its ops for replay (a CUDA
     * graph) runs them unrecorded then. */
    struct rad_profile *profile;

    void (*destroy)(rad_backend *be);
};

/* The stage ranges of backend.h range_push / range_pop, for the models: a table without them does nothing. */
static inline void rad_range_push(rad_backend *be, const char *name) {
    if (be->range_push) be->range_push(be, name);
}
static inline void rad_range_pop(rad_backend *be) {
    if (be->range_pop) be->range_pop(be);
}

/* The backend's own peak allocation since its last mem_stats reset (tests and benchmarks). */
static inline size_t rad_backend_peak(rad_backend *be) {
    rad_mem_stats m;
    be->mem_stats(be, 0, &m);
    return m.peak;
}

/* The argument check every backend's conv3d runs first (who: "conv3d", "cuda conv3d"); w_rows x w_cols is the
 * weight's shape (-1 x -1 for a missing weight). */
rad_status rad_conv3d_check(const char *who, int64_t cin, int64_t t, int64_t h, int64_t w, const void *prev,
                            int64_t n_prev, int64_t w_rows, int64_t w_cols, int64_t cout, int64_t kt, int64_t kh,
                            int64_t kw, int64_t ph, int64_t pw);

/* The argument check every backend's ffn runs first (who: "ffn", "cuda ffn"): w1 is w1_rows x w1_cols, w2
 * w2_rows x w2_cols (-1 for a missing weight); sets *rows to the hidden rows per chunk at `bytes_per` bytes per
 * hidden value. */
rad_status rad_ffn_check(const char *who, int64_t m, int64_t d, int64_t w1_rows, int64_t w1_cols, int64_t w2_rows,
                         int64_t w2_cols, size_t hidden_floats, size_t bytes_per, int64_t *rows);

/* The reference backend: plain C, fp32, threads from base/threads. */
rad_status rad_backend_cpu(rad_backend **out);
/* CUDA on GPU `device` (when built with it); RADIAL_ERR_UNSUPPORTED otherwise, and "no NVIDIA GPU found" (with
 * the driver's words) on a machine without one. */
rad_status rad_backend_cuda(int device, rad_backend **out);
/* The GPUs the CUDA runtime sees (after CUDA_VISIBLE_DEVICES), without opening a backend: what `--gpus N`
 * checks before it starts its ranks. RADIAL_ERR_UNSUPPORTED in a build without CUDA or on a machine without a
 * working driver, with the driver's words. */
rad_status rad_backend_cuda_device_count(int *n);
/* The backend a radial_backend value names (0 CPU, 1 CUDA, 2 AUTO: CUDA when this build has it and a GPU is
 * present, else the CPU). */
rad_status rad_backend_open(int kind, int device, rad_backend **out);
#endif
