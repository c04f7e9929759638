/* The device memory of a generation, estimated before any work from the model files and the video size, so a
 * run that cannot fit is refused at once with the numbers and the ways out (--offload, --vae-tile, a smaller
 * size), not after minutes. The terms follow the memory plan of docs/ARCHITECTURE.md "Memory": weights as the
 * CUDA backend keeps them (F32/F16/BF16 files as bf16, fp8 and GGUF as stored), the staging buffers of streamed
 * weights, the DiT's activation buffers (rad_dit_plan_activations), the backend's bf16 copies of GEMM and
 * attention inputs (and the e4m3 copies of fp8 attention), the VAE decode's working memory (its own exact plan, vae.h rad_vae_plan_work); the CUDA context and libraries are measured, not
 * estimated (the caller passes what the device holds beyond the backend's own buffers). */
#ifndef RAD_PIPELINE_MEM_ESTIMATE_H
#define RAD_PIPELINE_MEM_ESTIMATE_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "io/model_config.h"
#include "io/weights.h"

typedef struct rad_mem_inputs {
    const rad_weights *t5, *dit, *vae; /* the component files (one DiT: the larger expert of two) */
    rad_dit_config dit_cfg;
    rad_t5_config t5_cfg;
    int64_t latent_t, latent_h, latent_w; /* the latent grid: frames, height / 8, width / 8 */
    int resident_blocks;                  /* DiT blocks on the device (-1: all) */
    int vae_resident;                     /* the VAE's weights are on the device during the DiT phase */
    int vae_tile;                         /* the VAE decode's spatial tile (0: whole frames) */
    int step_cache;                       /* a step cache (TeaCache, MagCache) keeps two block residuals */
    int attn_fp8;                         /* fp8 self-attention: its quantised copies of q, k, v (fp8_attn_emul.h) */
    /* multi-rank (pipeline/parallel.h): seq_ranks > 1 is the Ulysses degree (this rank's activations are those of
     * its token rows, plus its heads' keys and values over all tokens and the gathered head output); dit_only: a
     * rank other than 0, which neither encodes the prompts nor decodes the video (those phases count 0) */
    int seq_ranks;
    int dit_only;
} rad_mem_inputs;

typedef struct rad_mem_estimate {
    size_t text, dit, vae; /* each phase's device peak, engine buffers only (the context comes on top) */
    /* the terms */
    size_t t5_staging, t5_work;
    size_t dit_weights;   /* resident: every non-block weight and the resident blocks */
    size_t dit_block;     /* one block's matrices (what one staging buffer holds under offload) */
    size_t dit_staging, dit_activations, dit_scratch;
    size_t vae_weights, vae_work;
    int blocks, resident_blocks;
} rad_mem_estimate;

/* The device bytes the CUDA backend keeps for every tensor of w (the resident size of a model). */
size_t rad_mem_weights_bytes(const rad_weights *w);
rad_status rad_mem_estimate_run(const rad_mem_inputs *in, rad_mem_estimate *out);
/* The phase that needs the most: its bytes, and its name in *phase ("text encoder", "DiT", "VAE decode"). */
size_t rad_mem_estimate_peak(const rad_mem_estimate *e, const char **phase);
/* The most DiT blocks that can stay resident with every phase within `budget` engine bytes: in->resident_blocks
 * is ignored; *out = -1 when all fit, else 0..blocks-1 (the rest stream). RADIAL_ERR_NOMEM, with the numbers,
 * when even streaming every block does not fit. */
rad_status rad_mem_fit_blocks(const rad_mem_inputs *in, size_t budget, int *out);
#endif
