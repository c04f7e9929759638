/* radial: Wan 2.1 text-to-video with Radial Attention. The one public header.
 *
 * Usage (see tools/radial/cmd_generate.c for a full example):
 *   radial_params p = radial_default_params();
 *   radial_ctx *ctx;
 *   if (radial_init("path/to/Wan2.1-T2V-1.3B-Diffusers", &p, &ctx) != RADIAL_OK) puts(radial_last_error());
 *   radial_gen_params g = radial_default_gen_params();
 *   g.prompt = "a cat surfing";
 *   radial_video v;
 *   radial_generate(ctx, &g, &v, NULL);   ... v.data: [v.frames][v.height][v.width][3] uint8
 *   radial_video_free(&v); radial_free(ctx);
 *
 * Every call that can fail returns a radial_status; radial_last_error() then says what failed and where
 * (file, tensor, flag). The message is per thread. The library never exits or aborts on bad input. */
#ifndef RADIAL_H
#define RADIAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RADIAL_VERSION "0.1.0"

/* Every public function carries RADIAL_API: exported from the shared library (built with hidden visibility, so
 * nothing else leaks), a plain declaration for the static one. */
#if defined(_WIN32) && defined(RADIAL_SHARED_BUILD)
#define RADIAL_API __declspec(dllexport)
#elif defined(__GNUC__)
#define RADIAL_API __attribute__((visibility("default")))
#else
#define RADIAL_API
#endif

/* The library's version ("0.1.0"), for a program to print beside its own. */
RADIAL_API const char *radial_version(void);

typedef enum radial_status {
    RADIAL_OK = 0,
    RADIAL_ERR_INVALID_ARG,  /* a parameter or flag is out of range */
    RADIAL_ERR_IO,           /* a file could not be opened, read, mapped or written */
    RADIAL_ERR_FORMAT,       /* a file is malformed (safetensors, JSON, spiece.model, ...) */
    RADIAL_ERR_MODEL,        /* a model is missing a tensor or has the wrong shapes/config */
    RADIAL_ERR_NOMEM,        /* an allocation failed or would exceed a limit */
    RADIAL_ERR_UNSUPPORTED,  /* valid input that this build cannot handle */
    RADIAL_ERR_BACKEND,      /* the compute backend failed (CUDA error, ...) */
    RADIAL_ERR_CANCELLED     /* a callback asked to stop */
} radial_status;

RADIAL_API const char *radial_status_name(radial_status s);
RADIAL_API const char *radial_last_error(void);

/* Logging: the library writes through this callback (default: stderr for warnings and errors): the process's
 * sink, for every context that has none of its own (radial_params.log). */
typedef enum radial_log_level { RADIAL_LOG_DEBUG, RADIAL_LOG_INFO, RADIAL_LOG_WARN, RADIAL_LOG_ERROR } radial_log_level;
typedef void (*radial_log_fn)(radial_log_level level, const char *msg, void *user_data);
RADIAL_API void radial_set_log(radial_log_fn fn, void *user_data, radial_log_level min_level);

/* AUTO: CUDA when this build has it and a usable NVIDIA GPU is present, else the CPU. */
typedef enum radial_backend { RADIAL_BACKEND_CPU = 0, RADIAL_BACKEND_CUDA = 1, RADIAL_BACKEND_AUTO = 2 } radial_backend;
/* Initial noise: PHILOX (radial's counter-based generator, the same on every machine and thread count),
 * TORCH_CPU (torch.randn with a CPU torch.Generator seeded so: what diffusers' WanPipeline draws with a CPU
 * generator), TORCH_CUDA (torch.randn on a CUDA generator seeded so: what the official Wan generate.py draws). */
typedef enum radial_rng { RADIAL_RNG_PHILOX = 0, RADIAL_RNG_TORCH_CPU = 1, RADIAL_RNG_TORCH_CUDA = 2 } radial_rng;
typedef enum radial_attention { RADIAL_ATTN_DENSE = 0, RADIAL_ATTN_RADIAL = 1 } radial_attention;
/* UNIPC: the official FlowUniPCMultistepScheduler (Wan's grid); UNIPC_DIFFUSERS: diffusers' UniPCMultistepScheduler
 * with flow sigmas (its grid); EULER: flow-matching Euler; AUTO: what the model folder's scheduler config names
 * (diffusers: UniPCMultistepScheduler -> UNIPC_DIFFUSERS, FlowMatchEulerDiscreteScheduler -> EULER), else UNIPC. */
typedef enum radial_sampler {
    RADIAL_SAMPLER_UNIPC = 0,
    RADIAL_SAMPLER_EULER = 1,
    RADIAL_SAMPLER_UNIPC_DIFFUSERS = 2,
    RADIAL_SAMPLER_AUTO = 3
} radial_sampler;

/* Step caching (off by default): a step whose input has changed little since the last computed one skips the DiT's
 * transformer blocks and adds the residual they left then (x after the blocks minus x before), per CFG branch;
 * the head still runs. TEACACHE: TeaCache4Wan2.1's rule (github.com/ali-vilab/TeaCache): the relative L1 change
 * of the time embedding between steps, rescaled by its published polynomial for Wan 2.1 1.3B or 14B, summed
 * until it reaches cache_threshold; the first and the last step always compute. Its README's thresholds: 1.3B
 * 0.05 (slower, closer) to 0.08; 14B 0.14 to 0.2 (with cache_ret_steps: 1.3B 0.05 to 0.1, 14B 0.1 to 0.2).
 * MAGCACHE: MagCache4Wan2.1's rule (github.com/Zehong-Ma/MagCache): its published per-step magnitude ratios of the
 * residual (Wan 2.1 T2V 1.3B or 14B) multiplied up; skip while the summed |1 - ratio| stays below cache_threshold
 * and at most cache_k steps in a row were skipped; the first cache_retention of the steps always compute. Its
 * README: 1.3B threshold 0.12 with K 2 or 4, 14B 0.24 with K 6, retention 0.2.
 * Threshold 0 skips nothing: the output is the uncached one (bit for bit on the CPU). */
typedef enum radial_cache { RADIAL_CACHE_NONE = 0, RADIAL_CACHE_TEACACHE = 1, RADIAL_CACHE_MAGCACHE = 2 } radial_cache;

/* GEMM precision. BF16 (default): bf16 operands, fp32 accumulation (the CPU backend: fp32). FP8: CUDA on GPUs with
 * fp8 tensor cores (compute capability 8.9+: Ada, Hopper, Blackwell; radial_init fails elsewhere, saying so): the
 * DiT blocks' large GEMMs (attention projections and FFN at video token counts) take e4m3 operands, activations
 * scaled per token and weights per output channel (an fp8 checkpoint's weights as stored), fp32 accumulation:
 * faster, at a few percent of error per GEMM; the embeddings, the head and the text encoder stay bf16. */
typedef enum radial_gemm { RADIAL_GEMM_BF16 = 0, RADIAL_GEMM_FP8 = 1 } radial_gemm;

/* Self-attention precision. BF16 (default): the bf16 tensor-core kernels (the CPU backend: fp32). FP8: CUDA on
 * Hopper GPUs (sm_90: H100, H200, in a build with sm_90a code; radial_init fails elsewhere, saying so): the DiT's
 * self-attention, dense and radial alike, takes e4m3 operands (Q and K per 128-token block, K first smoothed by its
 * mean over the tokens, P with a fixed scale, V per channel) with fp32 softmax and accumulation: faster, at ~1-5 %
 * error per attention call against fp32 on random inputs (bf16: ~0.2 %); cross-attention (the 512 text keys) stays
 * bf16. */
typedef enum radial_attn_precision {
    RADIAL_ATTN_PRECISION_BF16 = 0,
    RADIAL_ATTN_PRECISION_FP8 = 1
} radial_attn_precision;

/* A LoRA for the DiT: merged into the weights at load as W + strength · (alpha/rank) · B·A. */
typedef struct radial_lora {
    const char *path;
    float strength; /* 1.0 = as trained */
} radial_lora;

/* Context parameters: how to load and where to run. */
typedef struct radial_params {
    radial_backend backend; /* default AUTO */
    int device;             /* CUDA device index (default 0) */
    int n_threads;          /* CPU threads; 0 = all cores */
    const char *tokenizer;  /* spiece.model (or a folder holding it); NULL = the model folder, or the umT5 file
                               when it carries its tokenizer (ComfyUI's single files) */
    /* Component files (ComfyUI / stable-diffusion.cpp style); each NULL = found in the model folder. With all
     * three given, radial_init's model_path may be NULL. Any safetensors or GGUF file radial reads. */
    const char *dit, *t5, *vae;
    const radial_lora *loras; /* n_loras LoRAs for the DiT, stacked in order */
    int n_loras;
    /* This context's log sink (NULL: the process's, radial_set_log): what radial_init and radial_generate say
     * for this context goes to log(level, message, log_user) for every level >= log_level, from the thread that
     * called them, so two contexts on two threads keep their messages apart. */
    radial_log_fn log;
    void *log_user;
    radial_log_level log_level;
    /* GPU memory. offload: the DiT's blocks stay in host memory (page-locked) and are uploaded one block ahead
     * of their use, for cards smaller than the model. max_vram_gib > 0: as many blocks stay resident as fit in
     * this many GiB of device memory for the whole generation (the estimate radial prints), the rest stream;
     * implies offload when the model does not fit. The umT5 encoder always streams (it is larger than the DiT
     * and runs once per generation). */
    int offload;
    double max_vram_gib;
    radial_gemm gemm; /* default BF16 */
    radial_attn_precision attention_precision; /* default BF16 */
} radial_params;
RADIAL_API radial_params radial_default_params(void);

/* Per-generation parameters; defaults follow diffusers/Wan (832x480, 81 frames, 50 steps, ...). */
typedef struct radial_gen_params {
    const char *prompt;
    const char *negative_prompt; /* NULL = the official default negative prompt; "" = empty */
    int width, height, frames;   /* 832, 480, 81 */
    int steps;                   /* 50 */
    float guidance;              /* 5.0 */
    float guidance_2;            /* two-expert models (Wan 2.2): the low-noise expert's guidance; NaN = guidance */
    float shift;                 /* NaN (default): the model folder's scheduler flow_shift, else 5.0 */
    int64_t seed;                /* -1 = random (the chosen seed is written to seed_used) */
    radial_sampler sampler;      /* AUTO */
    /* Explicit unshifted timesteps in (0, 1000], decreasing (step-distilled models: 1000,750,500,250); NULL = the
     * sampler's grid of `steps`. Given, they set the number of steps; Euler only (sigma = t/1000, then shifted). */
    const double *timesteps;
    int n_timesteps;
    radial_attention attention;  /* dense */
    int dense_steps;             /* radial only: first steps run dense (default -1: min(12, steps / 4)); must be
                                    below steps */
    int dense_layers;            /* radial only: first blocks run dense (default 1) */
    float decay;                 /* radial mask decay factor (default 1.0) */
    radial_rng rng;              /* the generator of the seeded draw (default PHILOX) */
    radial_cache cache;          /* step caching (default NONE) */
    double cache_threshold;      /* teacache_thresh / magcache_thresh, a finite number >= 0 (0: skips nothing) */
    int cache_ret_steps;         /* TeaCache's use_ret_steps: nonzero reads e0 = time_projection(e) and runs the
                                    first five steps, none at the end (default 0: e; the first and last step) */
    int cache_k;                 /* MagCache's magcache_K, 1 to 1000 (default 2) */
    double cache_retention;      /* MagCache's retention_ratio, in [0, 1] (default 0.2) */
    const float *noise;          /* optional [16,T,H/8,W/8] initial noise instead of the seeded draw */
    /* VAE decode in overlapping spatial tiles of this many pixels (a multiple of 32; diffusers' tiled_decode uses
     * 256), blended over a quarter tile: its memory then follows the tile, not the frame (0.35 GiB at 256 on
     * CUDA instead of 2.1 at 832x480), and the pixels change slightly near the seams. 0 (default): the exact
     * whole-frame decode. */
    int vae_tile;
    /* Progress: called after every denoising step, and after the VAE decodes each latent frame (tiled: each
     * latent frame of each tile, of tiles x frames); return nonzero to cancel (RADIAL_ERR_CANCELLED). Either may
     * be NULL. */
    int (*on_step)(int step, int steps, double seconds_this_step, void *user_data);
    int (*on_decode)(int latent_frame, int latent_frames, void *user_data);
    void *user_data;
} radial_gen_params;
RADIAL_API radial_gen_params radial_default_gen_params(void);
/* The frame count a generation of `frames` makes: 4n+1 for the VAE, else frames // 4 * 4 + 1 as diffusers does
 * (10 -> 9, 80 -> 81). For checking an output before the work. */
RADIAL_API int radial_output_frames(int frames);
/* A seed from the clock and the process (what seed -1 draws), short enough to type back. */
RADIAL_API int64_t radial_random_seed(void);

/* Where the time and memory went in the last radial_generate. */
typedef struct radial_timings {
    double text_encoder_s, denoise_s, denoise_per_step_s, vae_s, total_s;
    /* Weights loaded during this call (umT5, then the DiT and VAE when not yet resident): seconds spent and
     * bytes of file data read, LoRA modules merged. */
    double load_s;
    uint64_t load_bytes;
    int lora_modules;
    size_t peak_bytes; /* peak memory the engine allocated (host or device, by backend) */
    /* Peak memory per phase: [0] text encoder, [1] denoising (DiT), [2] VAE decode. engine: the engine's own
     * allocations (CPU backend: what it allocated on the host; CUDA: its device buffers); device: what the GPU
     * had in use at the peak as its driver counts it (the CUDA context, library workspaces and loaded kernels
     * included, as nvidia-smi shows it; 0 on the CPU). device_peak_bytes is the largest of the three. */
    size_t phase_peak_bytes[3], phase_device_peak_bytes[3];
    size_t device_peak_bytes;
    size_t host_pinned_bytes; /* page-locked host memory of streamed weights (umT5 layers, offloaded DiT blocks) */
    int dit_resident_blocks, dit_blocks; /* DiT blocks kept on the device / in the model (the rest streamed) */
    /* Step caching: DiT forwards of each CFG branch ([0] conditional, [1] unconditional), and those of them whose
     * blocks were skipped. */
    int cache_forwards[2], cache_skipped[2];
    int64_t seed_used;
    /* What ran, the defaults resolved: the sampler and its shift (the model folder's when not asked for, else the
     * official Wan ones), the denoising steps (an explicit timestep list sets them) and, with radial attention, the
     * dense warm-up steps (0 with dense attention). */
    radial_sampler sampler_used;
    double shift_used;
    int steps_used, dense_steps_used;
} radial_timings;

typedef struct radial_video {
    int frames, height, width; /* frames[t][y][x][c], RGB, uint8 */
    uint8_t *data;
} radial_video;
RADIAL_API void radial_video_free(radial_video *v);

/* Writing a video. The format follows the path: *.mp4 (H.264, when built with FFmpeg), *.y4m, name_%03d.png (one
 * PNG per frame, numbered from 0), *.png (one frame only). Extensions are matched case-insensitively. */
typedef struct radial_write_params {
    int fps;                 /* 16 */
    int crf;                 /* H.264 quality, 0-51 (18) */
    int no_overwrite;        /* nonzero: an existing file is an error, checked before anything is written */
    const char *const *meta; /* n_meta key/value pairs (meta[2i], meta[2i+1]): MP4 metadata tags, PNG tEXt/iTXt
                                chunks; not stored in Y4M (its header has no room) */
    int n_meta;
    /* Polled between frames; nonzero stops the write (RADIAL_ERR_CANCELLED) and leaves no file behind. */
    int (*cancel)(void *user_data);
    void *user_data;
} radial_write_params;
RADIAL_API radial_write_params radial_default_write_params(void);
/* Everything about `path` that can be checked before a video exists: a known extension (and MP4 support in this
 * build), an existing folder that is writable, a PNG pattern with exactly one integer conversion when frames > 1
 * (a single .png only when frames == 1), and with no_overwrite that the file (or the first frame file) does not
 * exist (for a PNG pattern, none of its frame files). Errors name the path and the fault. */
RADIAL_API radial_status radial_video_check_path(const char *path, int frames, const radial_write_params *params);
/* Writes atomically: each file goes to a temporary name in the same folder, is flushed to disk (fsync) and renamed
 * over the destination only when complete, so a failure (disk full, size limit) or a cancel leaves the previous
 * file untouched or no file at all, never a partial one. */
RADIAL_API radial_status radial_video_write(const char *path, const radial_video *video, const radial_write_params *params);

typedef struct radial_ctx radial_ctx;

/* model_path: a diffusers folder (model_index.json + transformer/, text_encoder/, tokenizer/, vae/), the
 * official Wan folder (config.json + diffusion_pytorch_model*.safetensors, the T5 and VAE converted to
 * safetensors with "t5" / "vae" in their names, google/umt5-xxl/spiece.model), or a folder of ComfyUI's
 * repackaged single files (wan2.1_t2v_*.safetensors or a *.gguf DiT, umt5_xxl_*.safetensors with its tokenizer
 * inside, wan_2.1_vae.safetensors). Every file is opened and checked here, before any work. */
RADIAL_API radial_status radial_init(const char *model_path, const radial_params *params, radial_ctx **out);
RADIAL_API radial_status radial_generate(radial_ctx *ctx, const radial_gen_params *params, radial_video *out,
                              radial_timings *timings /* may be NULL */);
RADIAL_API void radial_free(radial_ctx *ctx);
/* What the context runs on, in words ("CUDA device 0: NVIDIA H200 (sm_90, 132 SMs), 139.8 GiB"). */
RADIAL_API const char *radial_backend_info(const radial_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
