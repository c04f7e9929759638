/* Device memory estimate of a generation (mem_estimate.h). */
#include "pipeline/mem_estimate.h"

#include <stdio.h>
#include <string.h>

#include "backend/fp8_attn_emul.h"
#include "dit/dit.h"
#include "vae/vae.h"
#include "io/safetensors.h"

#define MIB ((size_t)1 << 20)
/* Headroom over the sum of the planned buffers: allocator rounding, the cuBLASLt workspace (32 MiB), cached
 * masks and RoPE tables, and the kernels and library code the driver loads at their first launch, which the
 * device holds beyond what it held at the check. Calibrated against the device's own count (bench/RESULTS.md,
 * H100, 2026-12-06): beyond the backend's buffers it held 0.52 GiB at the start of a 1.3B generation (CUDA
 * context, cuBLASLt) and 1.05 GiB during its decode. */
#define HEADROOM (640 * MIB)

/* Bytes the CUDA backend keeps for a tensor: a matrix as bf16 (from F32/F16/BF16) or as stored (fp8, GGUF
 * blocks); a vector as fp32. Tables the models keep on the host (modulation, the umT5 embedding and bias
 * tables) cost no device memory. */
static size_t kept_bytes(const char *name, const rad_st_tensor *t) {
    if (strstr(name, "modulation") || strstr(name, "token_embedding") || strstr(name, "pos_embedding") ||
        !strcmp(name, "spiece_model"))
        return 0;
    if (t->ndim < 2) return (size_t)t->numel * 4;
    if (t->dtype == RAD_DT_F32 || t->dtype == RAD_DT_F16 || t->dtype == RAD_DT_BF16) return (size_t)t->numel * 2;
    return t->nbytes;
}

/* Sum of kept_bytes over the tensors whose official name starts with `prefix` (NULL: all). */
static size_t weights_bytes(const rad_weights *w, const char *prefix) {
    size_t sum = 0;
    for (size_t i = 0; i < rad_weights_count(w); i++) {
        const char *name = NULL;
        const rad_st_tensor *t = rad_weights_at(w, i, &name);
        if (!t || !name || (prefix && strncmp(name, prefix, strlen(prefix)))) continue;
        sum += kept_bytes(name, t);
    }
    return sum;
}

size_t rad_mem_weights_bytes(const rad_weights *w) { return weights_bytes(w, NULL); }

/* The largest matrix of a component as bf16: the backend's dequantisation buffer for a stored (fp8 / GGUF)
 * weight; 0 when every matrix is bf16 already. */
static size_t dequant_bytes(const rad_weights *w) {
    size_t best = 0;
    for (size_t i = 0; i < rad_weights_count(w); i++) {
        const char *name = NULL;
        const rad_st_tensor *t = rad_weights_at(w, i, &name);
        if (!t || t->ndim < 2 || t->dtype == RAD_DT_F32 || t->dtype == RAD_DT_F16 || t->dtype == RAD_DT_BF16) continue;
        if ((size_t)t->numel * 2 > best) best = (size_t)t->numel * 2;
    }
    return best;
}

rad_status rad_mem_estimate_run(const rad_mem_inputs *in, rad_mem_estimate *out) {
    memset(out, 0, sizeof *out);
    const rad_dit_config *dc = &in->dit_cfg;
    const rad_t5_config *tc = &in->t5_cfg;
    out->blocks = dc->num_layers;
    out->resident_blocks = in->resident_blocks < 0 || in->resident_blocks > dc->num_layers ? dc->num_layers
                                                                                            : in->resident_blocks;
    /* text encoder: one layer's matrices staged (its two halves), 2 prompts of up to 512 tokens */
    out->t5_staging = weights_bytes(in->t5, "blocks.0.");
    const size_t n = 512, d = (size_t)tc->d_model, inner = (size_t)tc->num_heads * tc->d_kv, ff = (size_t)tc->d_ff;
    out->t5_work = 4 * (2 * n * d + n * d + 4 * n * inner + 2 * n * ff + (size_t)tc->num_heads * n * n) +
                   3 * 2 * n * (ff > d ? ff : d) + dequant_bytes(in->t5);
    out->text = out->t5_staging + out->t5_work + HEADROOM;

    /* DiT: resident weights, staging of streamed blocks, activations, the backend's bf16 copies */
    out->dit_block = weights_bytes(in->dit, "blocks.0.");
    const size_t all = weights_bytes(in->dit, NULL);
    const int streamed = dc->num_layers - out->resident_blocks;
    out->dit_weights = all - (size_t)streamed * out->dit_block;
    out->dit_staging = streamed ? 2 * out->dit_block : 0;
    const int64_t tokens = in->latent_t * (in->latent_h / 2) * (in->latent_w / 2);
    /* Ulysses (dit.h rad_dit_forward_parallel): the workspace holds this rank's rows, ceil(N / degree) */
    const int u = in->seq_ranks > 1 ? in->seq_ranks : 1;
    const int64_t rows = (tokens + u - 1) / u;
    rad_dit_plan plan;
    RAD_TRY(rad_dit_plan_activations(dc, rows, &plan));
    out->dit_activations = plan.total;
    if (u > 1) { /* kh and vh [N, dim / u], the gathered head output [N, out_dim·patch], the NCCL scratch [rows, dim] */
        const size_t patch = (size_t)dc->out_dim * dc->patch_t * dc->patch_h * dc->patch_w;
        out->dit_activations += 4 * (2 * (size_t)tokens * (size_t)(dc->dim / u) + (size_t)tokens * patch +
                                     (size_t)rows * (size_t)dc->dim);
    }
    const size_t nd = (size_t)rows * (size_t)dc->dim, chunk = (size_t)(rows < 8192 ? rows : 8192) * dc->ffn_dim;
    /* three bf16 shadows (each the largest GEMM input it held), the value's bf16 copy for attention, and the
     * dequantisation buffer of stored weights */
    out->dit_scratch = 3 * 2 * (nd > chunk ? nd : chunk) + 2 * nd + dequant_bytes(in->dit);
    if (in->attn_fp8) { /* the fp8 attention's scratch: e4m3 q, k, v of all tokens and this rank's heads, scales */
        rad_fp8_attn_layout fl;
        RAD_TRY(rad_fp8_attn_plan(tokens, dc->num_heads / u, &fl));
        out->dit_scratch += fl.bytes;
    }
    out->vae_weights = 2 * weights_bytes(in->vae, "decoder.") + weights_bytes(in->vae, "conv2."); /* + repacked */
    /* a step cache keeps each CFG branch's block residual, [tokens, dim] fp32 (pipeline/step_cache.h) */
    out->dit_activations += in->step_cache ? 2 * nd * 4 : 0;
    out->dit = out->dit_weights + out->dit_staging + out->dit_activations + out->dit_scratch +
               (in->vae_resident ? out->vae_weights : 0) + HEADROOM;

    /* VAE decode: the DiT stays resident beside it (its activations are freed) */
    /* the decode's own buffer plan, bf16 conv inputs as the CUDA backend keeps them (vae.h rad_vae_plan_work); the
     * CUDA attention's score chunks of the middle block (at most 48 MiB, cuda_backend.cu) sit in HEADROOM */
    RAD_TRY(rad_vae_plan_work(in->vae, in->latent_h, in->latent_w, RAD_DT_BF16, in->vae_tile, &out->vae_work));
    out->vae = out->dit_weights + out->vae_weights + out->vae_work + HEADROOM;
    if (in->dit_only) out->text = out->vae = 0;
    return RAD_OK;
}

size_t rad_mem_estimate_peak(const rad_mem_estimate *e, const char **phase) {
    size_t best = e->text;
    *phase = "text encoder";
    if (e->dit > best) best = e->dit, *phase = "DiT";
    if (e->vae > best) best = e->vae, *phase = "VAE decode";
    return best;
}

rad_status rad_mem_fit_blocks(const rad_mem_inputs *in, size_t budget, int *out) {
    rad_mem_inputs t = *in;
    rad_mem_estimate e;
    const char *phase;
    *out = -1;
    t.resident_blocks = -1;
    RAD_TRY(rad_mem_estimate_run(&t, &e));
    if (rad_mem_estimate_peak(&e, &phase) <= budget) return RAD_OK;
    for (int r = in->dit_cfg.num_layers - 1; r >= 0; r--) {
        t.resident_blocks = r;
        RAD_TRY(rad_mem_estimate_run(&t, &e));
        if (rad_mem_estimate_peak(&e, &phase) <= budget) {
            *out = r;
            return RAD_OK;
        }
    }
    return rad_err(RADIAL_ERR_NOMEM,
                   "%.2f GiB of device memory is not enough even with every DiT block streamed: the %s needs about "
                   "%.2f GiB at this size (a smaller size, fewer frames%s may fit)",
                   (double)budget / (double)(1u << 30), phase, (double)rad_mem_estimate_peak(&e, &phase) / (double)(1u << 30),
                   in->vae_tile ? "" : " or --vae-tile");
}
