/* Text-to-video orchestration (spec wan21.md §4.5): tokenise → umT5 (then freed) → seeded noise →
 * per step DiT(cond), DiT(uncond) → CFG → sampler → VAE decode chunk by chunk → clamp → uint8. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/rng.h"
#include "base/threads.h"
#include "base/timer.h"
#include "dit/dit.h"
#include "io/model_config.h"
#include "io/weights.h"
#include "pipeline/pipeline.h"
#include "sched/sched.h"
#include "text/spm.h"
#include "text/t5.h"
#include "text/t5_tokenize.h"
#include "vae/vae.h"

/* shared_config.py sample_neg_prompt (spec wan21.md §4.6): used when no negative prompt is given. */
static const char default_negative_prompt[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的"
    "手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

struct radial_ctx {
    char *model_path;
    radial_params params;
    rad_backend *be;
    rad_spm *tok;
    rad_weights *dit_w, *vae_w;
    rad_dit *dit; /* kept between generations */
    rad_vae *vae;
    rad_dit_config dit_cfg;
};

radial_params radial_default_params(void) { return (radial_params){.backend = RADIAL_BACKEND_CPU, .n_threads = 0}; }

radial_gen_params radial_default_gen_params(void) {
    return (radial_gen_params){
        .prompt = "",
        .negative_prompt = NULL,
        .width = 832,
        .height = 480,
        .frames = 81,
        .steps = 50,
        .guidance = 5.0f,
        .shift = 5.0f,
        .seed = -1,
        .sampler = RADIAL_SAMPLER_UNIPC,
        .attention = RADIAL_ATTN_DENSE,
        .dense_steps = 12,
        .dense_layers = 1,
        .decay = 1.0f,
    };
}

void radial_video_free(radial_video *v) {
    if (!v) return;
    rad_free(v->data);
    v->data = NULL;
}

static rad_status denoise_and_decode(radial_ctx *c, const radial_gen_params *g, const float *ctx_cond, int len_cond,
                                     const float *ctx_uncond, int len_uncond, float *latent, float **video_out,
                                     radial_timings *tm);

radial_status radial_init(const char *model_path, const radial_params *params, radial_ctx **out) {
    *out = NULL;
    if (!model_path) return rad_err(RADIAL_ERR_INVALID_ARG, "radial_init: no model path given");
    radial_ctx *c = calloc(1, sizeof *c);
    if (!c || !(c->model_path = strdup(model_path))) {
        free(c);
        return rad_err(RADIAL_ERR_NOMEM, "radial_init: out of memory");
    }
    c->params = params ? *params : radial_default_params();
    rad_set_threads(c->params.n_threads);
    rad_status s = c->params.backend == RADIAL_BACKEND_CUDA ? rad_backend_cuda(&c->be) : rad_backend_cpu(&c->be);
    if (s == RAD_OK) s = rad_spm_load(c->params.tokenizer ? c->params.tokenizer : model_path, &c->tok);
    /* Open (map) the DiT and VAE now so that a broken model folder fails here, not after the text encoder. */
    if (s == RAD_OK) s = rad_weights_open(model_path, RAD_COMP_DIT, &c->dit_w);
    if (s == RAD_OK) s = rad_dit_config_detect(c->dit_w, &c->dit_cfg);
    if (s == RAD_OK) s = rad_weights_open(model_path, RAD_COMP_VAE, &c->vae_w);
    if (s != RAD_OK) {
        radial_free(c);
        return s;
    }
    *out = c;
    return RAD_OK;
}

void radial_free(radial_ctx *c) {
    if (!c) return;
    rad_dit_free(c->dit);
    rad_vae_free(c->vae);
    rad_weights_close(c->dit_w);
    rad_weights_close(c->vae_w);
    rad_spm_free(c->tok);
    if (c->be) c->be->destroy(c->be);
    free(c->model_path);
    free(c);
}

/* Checks width/height (multiples of 16) and rounds frames down to 4n+1 with a warning, as diffusers does. */
static rad_status check_video_size(int width, int height, int *frames) {
    if (width < 16 || height < 16 || width > 8192 || height > 8192 || width % 16 || height % 16)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "width and height must be multiples of 16 between 16 and 8192 (got %dx%d)", width, height);
    if (*frames < 1 || *frames > 4097)
        return rad_err(RADIAL_ERR_INVALID_ARG, "frames must be between 1 and 4097 (got %d)", *frames);
    if (*frames % 4 != 1) {
        /* As diffusers' WanPipeline: round down to the nearest 4n+1 with a warning. */
        int rounded = *frames / 4 * 4 + 1;
        RAD_WARN("frames must be 4n+1 for the VAE; rounding %d down to %d", *frames, rounded);
        *frames = rounded;
    }
    return RAD_OK;
}

/* Tokenise and encode both prompts with the text encoder, which is loaded for this and freed right after
 * (the real umT5 is far larger than the DiT). context_*: rad_alloc'ed [len, text_dim]. */
static rad_status encode_prompts(radial_ctx *c, const char *prompt, const char *negative, float **ctx_c, int *len_c,
                                 float **ctx_u, int *len_u, int text_dim) {
    rad_weights *tw = NULL;
    rad_t5 *t5 = NULL;
    int32_t *ids[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    const char *texts[2] = {prompt, negative};
    float *outs[2] = {NULL, NULL};
    rad_status s = rad_weights_open(c->model_path, RAD_COMP_T5, &tw);
    if (s == RAD_OK) s = rad_t5_load(c->be, tw, &t5);
    for (int i = 0; i < 2 && s == RAD_OK; i++) {
        s = rad_t5_tokenize(c->tok, texts[i], 512, &ids[i], &n[i]);
        if (s == RAD_OK && rad_t5_config_of(t5)->d_model != text_dim)
            s = rad_err(RADIAL_ERR_MODEL, "text encoder width %d does not match the DiT's text_dim %d",
                        rad_t5_config_of(t5)->d_model, text_dim);
        if (s == RAD_OK) s = rad_calloc((void **)&outs[i], n[i] * (size_t)text_dim, sizeof(float), "text context");
        if (s == RAD_OK) s = rad_t5_encode(t5, ids[i], (int)n[i], outs[i]);
    }
    rad_t5_free(t5);
    rad_weights_close(tw);
    rad_free(ids[0]);
    rad_free(ids[1]);
    if (s != RAD_OK) {
        rad_free(outs[0]);
        rad_free(outs[1]);
        return s;
    }
    *ctx_c = outs[0], *len_c = (int)n[0], *ctx_u = outs[1], *len_u = (int)n[1];
    return RAD_OK;
}

rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *gp, float **video_out, int *frames_out,
                                 radial_timings *tm_out) {
    radial_timings tm = {0};
    double t0 = rad_now();
    *video_out = NULL;
    if (!c || !gp) return rad_err(RADIAL_ERR_INVALID_ARG, "radial_generate: NULL argument");
    radial_gen_params g = *gp;
    if (!g.prompt) g.prompt = "";
    RAD_TRY(check_video_size(g.width, g.height, &g.frames));
    const char *negative = g.negative_prompt ? g.negative_prompt : default_negative_prompt;
    rad_mem_reset_peak();

    float *ctx_c = NULL, *ctx_u = NULL, *latent = NULL;
    int len_c = 0, len_u = 0;
    RAD_INFO("encoding the prompts (umT5)");
    rad_status s = encode_prompts(c, g.prompt, negative, &ctx_c, &len_c, &ctx_u, &len_u, c->dit_cfg.text_dim);
    tm.text_encoder_s = rad_now() - t0;

    const int T = (g.frames - 1) / 4 + 1, H = g.height / 8, W = g.width / 8;
    const size_t n_latent = (size_t)16 * T * H * W;
    if (s == RAD_OK) s = rad_alloc((void **)&latent, n_latent * sizeof(float), "initial noise");
    if (s == RAD_OK) {
        if (g.noise) {
            memcpy(latent, g.noise, n_latent * sizeof(float));
        } else {
            if (g.seed < 0) g.seed = rad_random_seed();
            rad_randn((uint64_t)g.seed, latent, (int64_t)n_latent);
        }
        tm.seed_used = g.seed;
        s = denoise_and_decode(c, &g, ctx_c, len_c, ctx_u, len_u, latent, video_out, &tm);
    }
    rad_free(ctx_c);
    rad_free(ctx_u);
    rad_free(latent);
    *frames_out = 1 + 4 * (T - 1);
    tm.total_s = rad_now() - t0;
    /* CPU: host memory since this call began; CUDA: the backend's device peak (its buffers since radial_init) */
    tm.peak_bytes = c->params.backend == RADIAL_BACKEND_CUDA ? c->be->peak_bytes(c->be) : rad_mem_peak();
    if (tm_out) *tm_out = tm;
    return s;
}

radial_status radial_generate(radial_ctx *c, const radial_gen_params *g, radial_video *out, radial_timings *tm) {
    float *video = NULL;
    int frames = 0;
    memset(out, 0, sizeof *out);
    rad_status s = rad_pipeline_generate(c, g, &video, &frames, tm);
    if (s == RAD_OK) s = rad_alloc((void **)&out->data, (size_t)frames * g->height * g->width * 3, "output frames");
    if (s == RAD_OK) {
        rad_vae_to_u8(video, frames, g->height, g->width, out->data);
        out->frames = frames, out->height = g->height, out->width = g->width;
    }
    rad_free(video);
    return s;
}

/* Denoising + decode from the text contexts and the initial noise. latent is updated in place;
 * *video_out: [3, F, height, width] unclamped. */
static rad_status denoise_and_decode(radial_ctx *c, const radial_gen_params *g, const float *ctx_cond, int len_cond,
                                     const float *ctx_uncond, int len_uncond, float *latent, float **video_out,
                                     radial_timings *tm) {
    const int T = (g->frames - 1) / 4 + 1, H = g->height / 8, W = g->width / 8;
    const size_t n_latent = (size_t)16 * T * H * W;
    const bool cfg = g->guidance != 1.0f;
    float *v_c = NULL, *v_u = NULL;
    rad_sched *sched = NULL;
    const rad_bsr *mask = NULL;
    double t0 = rad_now();
    rad_status s = RAD_OK;

    if (g->steps < 1 || g->steps > 1000) return rad_err(RADIAL_ERR_INVALID_ARG, "steps must be in [1, 1000]");
    if (!isfinite(g->guidance) || !isfinite(g->shift) || g->shift <= 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "guidance must be finite and shift positive");
    if (!c->dit) {
        RAD_INFO("loading the DiT (%d layers, dim %d)", c->dit_cfg.num_layers, c->dit_cfg.dim);
        s = rad_dit_load(c->be, c->dit_w, &c->dit);
    }
    RAD_INFO("denoising: %dx%d, %d frames (%d latent), %d steps, %s attention", g->width, g->height, g->frames, T,
             g->steps, g->attention == RADIAL_ATTN_RADIAL ? "radial" : "dense");
    if (s == RAD_OK && g->attention == RADIAL_ATTN_RADIAL) {
        if (!(g->decay > 0) || !isfinite(g->decay)) return rad_err(RADIAL_ERR_INVALID_ARG, "decay must be positive");
        /* Tokens per latent frame after the 1x2x2 patch embedding. */
        const rad_radial_cfg rc = {.frames = T, .tokens_per_frame = (int64_t)(H / 2) * (W / 2), .decay = g->decay,
                                   .block = 128};
        s = rad_radial_layout(&rc, &mask);
        if (s == RAD_OK)
            RAD_INFO("radial mask: %lld tokens, block density %.3f; dense for the first %d steps and %d layers",
                     (long long)mask->n_tokens, rad_bsr_density(mask), g->dense_steps, g->dense_layers);
    }
    if (s == RAD_OK) s = rad_alloc((void **)&v_c, n_latent * sizeof(float), "velocity (cond)");
    if (s == RAD_OK && cfg) s = rad_alloc((void **)&v_u, n_latent * sizeof(float), "velocity (uncond)");
    if (s == RAD_OK)
        s = rad_sched_new(g->sampler == RADIAL_SAMPLER_EULER ? RAD_SCHED_EULER : RAD_SCHED_UNIPC_OFFICIAL, g->steps, g->shift,
                          (int64_t)n_latent, &sched);
    for (int i = 0; i < g->steps && s == RAD_OK; i++) {
        double ts = rad_now();
        rad_dit_attn_policy policy = {.mask = NULL, .dense_layers = 0};
        if (mask && i >= g->dense_steps) policy = (rad_dit_attn_policy){.mask = mask, .dense_layers = g->dense_layers};
        float t = (float)rad_sched_timestep(sched, i);
        s = rad_dit_forward(c->dit, latent, T, H, W, t, ctx_cond, len_cond, &policy, v_c);
        if (s == RAD_OK && cfg) s = rad_dit_forward(c->dit, latent, T, H, W, t, ctx_uncond, len_uncond, &policy, v_u);
        if (s != RAD_OK) break;
        if (cfg)
            for (size_t e = 0; e < n_latent; e++) v_c[e] = v_u[e] + g->guidance * (v_c[e] - v_u[e]);
        s = rad_sched_step(sched, i, v_c, latent);
        if (s == RAD_OK && g->on_step && g->on_step(i + 1, g->steps, rad_now() - ts, g->user_data))
            s = rad_err(RADIAL_ERR_CANCELLED, "cancelled by the progress callback at step %d", i + 1);
    }
    rad_sched_free(sched);
    rad_free(v_c);
    rad_free(v_u);
    tm->denoise_s = rad_now() - t0;
    tm->denoise_per_step_s = tm->denoise_s / g->steps;
    if (s != RAD_OK) return s;

    t0 = rad_now();
    RAD_INFO("decoding %d frames (VAE)", 1 + 4 * (T - 1));
    if (!c->vae) s = rad_vae_load(c->be, c->vae_w, &c->vae);
    const int F = 1 + 4 * (T - 1);
    float *video = NULL;
    if (s == RAD_OK) s = rad_calloc((void **)&video, (size_t)3 * F * g->height * g->width, sizeof(float), "video");
    if (s == RAD_OK) s = rad_vae_decode(c->vae, latent, T, H, W, video);
    tm->vae_s = rad_now() - t0;
    if (s != RAD_OK) {
        rad_free(video);
        return s;
    }
    *video_out = video;
    return RAD_OK;
}

int64_t rad_random_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32);
    x ^= x >> 31;
    return (int64_t)(x & 0x7fffffffffffffffull) % 1000000000000LL; /* short enough to type back */
}
