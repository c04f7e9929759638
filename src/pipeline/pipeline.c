/* Text-to-video orchestration (spec wan21.md §4.5): tokenise → umT5 → seeded noise →
 * per step DiT(cond), DiT(uncond) → CFG → sampler → VAE decode chunk by chunk → clamp → uint8.
 * Memory (docs/ARCHITECTURE.md "Memory"): the phases run one after another and each frees its working memory
 * before the next starts (the DiT's activations, the backend's scratch: be->trim); the umT5 layers stream from
 * host memory, kept in the context between generations; the device memory a generation needs is estimated
 * (pipeline/mem_estimate.h) and checked before any work.
 * Wan 2.2 two-expert folders pick the DiT per step by the timestep (diffusers WanPipeline's boundary rule); the
 * schedule comes from the caller, else from the folder's scheduler config, else the official Wan defaults.
 * Several ranks (rad_pipeline_set_parallel; parallel.h): rank 0 encodes and draws the noise, both broadcast; each
 * rank computes its share of every step (CFG: one branch; Ulysses: its tokens and heads; CFG x Ulysses: its half's
 * branch, its tokens and heads of it); rank 0 decodes. */
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
#include "io/file.h"
#include "io/json.h"
#include "io/lora.h"
#include "io/weights.h"
#include "pipeline/mem_estimate.h"
#include "pipeline/parallel.h"
#include "pipeline/pipeline.h"
#include "pipeline/step_cache.h"
#include "sched/sched.h"
#include "text/spm.h"
#include "text/t5.h"
#include "text/t5_tokenize.h"
#include "vae/vae.h"

/* shared_config.py sample_neg_prompt (spec wan21.md §4.6): used when no negative prompt is given. */
static const char default_negative_prompt[] =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的"
    "手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

/* A DiT: Wan 2.1 has one; Wan 2.2 A14B two experts, the high-noise one for the steps whose timestep is at or above
 * boundary_ratio x 1000, the low-noise one for the rest (diffusers WanPipeline). */
typedef struct expert {
    rad_weights *w; /* mapped at init */
    rad_dit *dit;   /* loaded when first needed; kept between generations (one expert: always; two: see use_expert) */
    rad_dit_config cfg;
} expert;

/* The sampler the model folder's scheduler config names (AUTO) and its flow_shift (NaN: none). */
typedef struct folder_sched {
    radial_sampler sampler;
    double shift;
} folder_sched;

struct radial_ctx {
    radial_params params;
    rad_backend *be;
    rad_spm *tok;
    rad_weights *t5_w, *vae_w; /* mapped at init (a broken file fails there, before any work) */
    expert ex[2];
    int n_experts;
    double boundary_ratio; /* two experts */
    folder_sched sched;
    rad_lora **loras;
    size_t n_loras;
    rad_t5 *t5;   /* loaded at the first generation, kept (its layers in host memory) */
    int resident_blocks; /* DiT blocks kept on the device at load (-1: all; offload: fewer), set by check_memory */
    bool park_for_vae;   /* this generation parks the DiT in host memory during the decode (check_memory) */
    rad_step_cache_trace_fn cache_trace; /* tests: what the step cache decided (rad_pipeline_set_cache_trace) */
    void *cache_trace_user;
    rad_forward_trace_fn forward_trace; /* tests: every DiT forward (rad_pipeline_set_forward_trace) */
    void *forward_trace_user;
    rad_vae *vae; /* loaded at the first decode, kept */
    rad_mem_account *mem; /* this context's host allocations (ctx_enter) */
    rad_log_sink log;     /* this context's log sink (fn NULL: the process's) */
    /* multi-rank generation (rad_pipeline_set_parallel, parallel.h): this rank's group and the mode asked;
     * own_group: the NCCL group this context made (rad_pipeline_join_nccl), freed with it */
    rad_group *group, *own_group;
    rad_parallel par_asked;
    /* CFG x Ulysses: the sub-groups split from split_from (the group) at the first generation that runs the plan,
     * kept while the group is: this rank's half (Ulysses of degree size/2) and its pair (rank r of each half, the
     * CFG exchange) */
    rad_group *half, *pair, *split_from;
};

static void free_subgroups(radial_ctx *c) {
    rad_group_free(c->half);
    rad_group_free(c->pair);
    c->half = c->pair = c->split_from = NULL;
}

/* The sub-groups of CFG x Ulysses of degree u over grp (collective: every rank of grp calls it at the same point):
 * half h = rank / u holds ranks [h·u, (h+1)·u) in order, so half 0 is the conditional branch's and world rank 0 is
 * its rank 0; pair r holds ranks r and r + u, in that order, so pair rank 0 is half 0's. */
static rad_status make_subgroups(radial_ctx *c, rad_group *grp, int u) {
    if (c->split_from == grp && c->half && c->half->size == u) return RAD_OK;
    free_subgroups(c);
    rad_status s = rad_group_split(grp, grp->rank / u, grp->rank, &c->half);
    if (s == RAD_OK) s = rad_group_split(grp, grp->rank % u, grp->rank, &c->pair);
    if (s == RAD_OK && (!c->half || !c->pair || c->half->size != u || c->pair->size != 2 ||
                        c->pair->rank != grp->rank / u))
        s = rad_err(RADIAL_ERR_BACKEND, "CFG-parallel x Ulysses (rank %d of %d): the sub-groups came out as %d and %d "
                    "ranks, not %d and 2", grp->rank, grp->size, c->half ? c->half->size : 0,
                    c->pair ? c->pair->size : 0, u);
    if (s != RAD_OK) {
        free_subgroups(c);
        return rad_err_prefix(s, "CFG-parallel x Ulysses: splitting the %d ranks into halves and pairs: ", grp->size);
    }
    c->split_from = grp;
    return RAD_OK;
}

rad_status rad_pipeline_set_parallel(radial_ctx *c, rad_group *g, rad_parallel mode) {
    if (mode < RAD_PAR_AUTO || mode > RAD_PAR_NONE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "unknown parallel mode %d (auto, cfg, ulysses, cfg+ulysses)", (int)mode);
    if (g && mode == RAD_PAR_CFG && g->size != 2)
        return rad_err(RADIAL_ERR_INVALID_ARG, "CFG-parallel: the group has %d ranks; it takes 2 (one per branch)",
                       g->size);
    if (g && mode == RAD_PAR_CFG_ULYSSES && (g->size < 4 || g->size % 2))
        return rad_err(RADIAL_ERR_INVALID_ARG, "CFG-parallel x Ulysses: the group has %d ranks; it takes an even "
                       "number, 4 or more (two halves of Ulysses degree 2 or more)", g->size);
    if (g && (!g->impl || strcmp(g->impl->backend, c->be->name)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "the %s group moves %s memory; this context runs on the %s backend",
                       g->impl ? g->impl->kind : "(empty)", g->impl ? g->impl->backend : "no", c->be->name);
    free_subgroups(c); /* split again from the new group when its plan needs them */
    if (c->own_group && g != c->own_group) {
        rad_group_free(c->own_group);
        c->own_group = NULL;
    }
    c->group = g, c->par_asked = mode;
    return RAD_OK;
}

rad_status rad_pipeline_join_nccl(radial_ctx *c, int rank, int size, const unsigned char id[RAD_NCCL_ID_BYTES],
                                  rad_parallel mode) {
    rad_group *g = NULL;
    RAD_TRY(rad_group_nccl_new(c->be, rank, size, id, &g));
    rad_status s = rad_pipeline_set_parallel(c, g, mode);
    if (s != RAD_OK) {
        rad_group_free(g);
        return s;
    }
    c->own_group = g;
    return RAD_OK;
}

/* CFG-parallel: this rank's velocity (mine) to both ranks of the 2-rank group cg, as v_c (rank 0's) and v_u (rank
 * 1's), through the backend's all_gather of [2, n] (dv: backend [n], dall: backend [2, n]). */
static rad_status cfg_exchange(radial_ctx *c, rad_group *cg, const float *mine, float *dv, float *dall, float *v_c,
                               float *v_u, size_t n) {
    rad_backend *be = c->be;
    RAD_TRY(be->upload(be, dv, mine, n * sizeof(float)));
    RAD_TRY(be->all_gather(be, cg, dv, dall, 2, (int64_t)n));
    RAD_TRY(be->download(be, v_c, dall, n * sizeof(float)));
    return be->download(be, v_u, dall + n, n * sizeof(float));
}

radial_params radial_default_params(void) { return (radial_params){.backend = RADIAL_BACKEND_AUTO, .n_threads = 0}; }

const char *radial_backend_info(const radial_ctx *c) { return c->be->info; }

/* The tokenizer: the one named, else the one the umT5 file carries (ComfyUI's single files keep it as a U8
 * tensor `spiece_model`), else the model folder's. */
static rad_status load_tokenizer(radial_ctx *c, const char *model_path) {
    if (c->params.tokenizer) return rad_spm_load(c->params.tokenizer, &c->tok);
    const rad_st_tensor *t = rad_weights_find(c->t5_w, "spiece_model");
    if (t) {
        if (t->dtype != RAD_DT_U8 || t->ndim != 1)
            return rad_err(RADIAL_ERR_FORMAT, "%s: tensor 'spiece_model' must be a U8 vector (found %s with %d dims)",
                           rad_weights_label(c->t5_w), t->dtype_name, t->ndim);
        return rad_spm_load_memory(t->data, t->nbytes, rad_weights_label(c->t5_w), &c->tok);
    }
    if (!model_path)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s has no tokenizer inside: name the spiece.model (--tokenizer)",
                       rad_weights_label(c->t5_w));
    return rad_spm_load(model_path, &c->tok);
}

/* What the files must agree on before any work: the DiT's text width is the encoder's, its latent channels are
 * the VAE's (spec wan21.md §1.1). */
static rad_status check_components(radial_ctx *c) {
    rad_t5_config t5c;
    rad_vae_config vc;
    RAD_TRY(rad_t5_config_detect(c->t5_w, &t5c));
    RAD_TRY(rad_vae_config_detect(c->vae_w, &vc));
    if (t5c.d_model != c->ex[0].cfg.text_dim)
        return rad_err(RADIAL_ERR_MODEL, "the text encoder %s is %d wide but the DiT %s takes text_dim %d: not parts of one model",
                       rad_weights_label(c->t5_w), t5c.d_model, rad_weights_label(c->ex[0].w), c->ex[0].cfg.text_dim);
    const rad_dit_config *d = &c->ex[0].cfg;
    if (d->patch_t != 1 || d->patch_h != 2 || d->patch_w != 2) /* the token grid and the radial mask assume it */
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: patch size (%d, %d, %d); the pipeline runs Wan's (1, 2, 2)",
                       rad_weights_label(c->ex[0].w), d->patch_t, d->patch_h, d->patch_w);
    if (vc.z_dim != c->ex[0].cfg.in_dim || vc.z_dim != c->ex[0].cfg.out_dim)
        return rad_err(RADIAL_ERR_MODEL, "the VAE %s has %d latent channels but the DiT %s takes %d and predicts %d",
                       rad_weights_label(c->vae_w), vc.z_dim, rad_weights_label(c->ex[0].w), c->ex[0].cfg.in_dim,
                       c->ex[0].cfg.out_dim);
    return RAD_OK;
}

/* Opens expert k from `path` and reads its config; the second must match the first where they meet. */
static rad_status open_expert(radial_ctx *c, int k, const char *path) {
    RAD_TRY(rad_weights_open(path, RAD_COMP_DIT, &c->ex[k].w));
    RAD_TRY(rad_dit_config_detect(c->ex[k].w, &c->ex[k].cfg));
    const rad_dit_config *a = &c->ex[0].cfg, *b = &c->ex[k].cfg;
    if (k && (a->dim != b->dim || a->text_dim != b->text_dim || a->in_dim != b->in_dim || a->out_dim != b->out_dim))
        return rad_err(RADIAL_ERR_MODEL, "%s: the second expert (dim %d, text_dim %d) does not match the first (dim %d, "
                       "text_dim %d)", path, b->dim, b->text_dim, a->dim, a->text_dim);
    c->n_experts = k + 1;
    return RAD_OK;
}

/* The DiT, or Wan 2.2 A14B's two experts: a diffusers root whose model_index.json names a transformer_2 (the
 * boundary is its boundary_ratio), or the official folder's high_noise_model/ and low_noise_model/ (the boundary
 * in the root's config.json as "boundary", else the official T2V-A14B value 0.875). A DiT file named by the
 * caller is one expert. */
static rad_status open_experts(radial_ctx *c, const char *root, const char *dit_file) {
    if (dit_file || !root) return open_expert(c, 0, dit_file ? dit_file : root);
    char *idx = NULL, *hi = NULL, *lo = NULL, *cfg = NULL;
    json_t *j = NULL;
    rad_status s = rad_path_join(root, "model_index.json", &idx);
    if (s == RAD_OK) s = rad_path_join(root, "high_noise_model", &hi);
    if (s == RAD_OK) s = rad_path_join(root, "low_noise_model", &lo);
    if (s == RAD_OK) s = rad_path_join(root, "config.json", &cfg);
    if (s == RAD_OK && rad_is_dir(hi) && rad_is_dir(lo)) {
        c->boundary_ratio = 0.875;
        if (rad_is_file(cfg) && (s = rad_json_load(cfg, &j)) == RAD_OK) s = rad_json_num(j, "boundary", cfg, &c->boundary_ratio, NULL);
        if (s == RAD_OK) s = open_expert(c, 0, hi);
        if (s == RAD_OK) s = open_expert(c, 1, lo);
    } else if (s == RAD_OK) {
        s = open_expert(c, 0, root);
        if (s == RAD_OK && rad_is_file(idx)) s = rad_json_load(idx, &j);
        const json_t *t2 = j ? json_object_get(j, "transformer_2") : NULL;
        if (s == RAD_OK && json_is_array(t2) && json_is_string(json_array_get(t2, 0))) {
            bool found = false;
            s = rad_json_num(j, "boundary_ratio", idx, &c->boundary_ratio, &found);
            if (s == RAD_OK && !found) s = rad_err(RADIAL_ERR_MODEL, "%s: a transformer_2 needs a boundary_ratio", idx);
            free(hi);
            hi = NULL;
            if (s == RAD_OK) s = rad_path_join(root, "transformer_2", &hi);
            if (s == RAD_OK) s = open_expert(c, 1, hi);
        }
    }
    if (s == RAD_OK && c->n_experts == 2 && !(c->boundary_ratio > 0 && c->boundary_ratio < 1))
        s = rad_err(RADIAL_ERR_MODEL, "%s: expert boundary %g must lie in (0, 1)", root, c->boundary_ratio);
    if (s == RAD_OK && c->n_experts == 2)
        RAD_INFO("two experts (Wan 2.2): %s for timesteps >= %g, %s below", rad_weights_label(c->ex[0].w),
                 c->boundary_ratio * 1000, rad_weights_label(c->ex[1].w));
    free(idx), free(hi), free(lo), free(cfg);
    json_decref(j);
    return s;
}

/* The diffusers folder's scheduler: the class model_index.json names and scheduler/scheduler_config.json's
 * flow_shift, as diffusers' WanPipeline would use them (solver order 2 with flow sigmas is what radial's UniPC
 * is; another configuration is refused rather than run differently). */
static rad_status read_folder_sched(const char *root, folder_sched *out) {
    char *idx = NULL, *cfgp = NULL;
    json_t *j = NULL, *cj = NULL;
    rad_status s = rad_path_join(root, "model_index.json", &idx);
    if (s == RAD_OK) s = rad_path_join(root, "scheduler/scheduler_config.json", &cfgp);
    if (s == RAD_OK && rad_is_file(idx) && rad_is_file(cfgp)) {
        s = rad_json_load(idx, &j);
        const json_t *e = j ? json_object_get(j, "scheduler") : NULL;
        const char *cls = json_is_array(e) ? json_string_value(json_array_get(e, 1)) : NULL;
        if (s == RAD_OK) s = rad_json_load(cfgp, &cj);
        bool found = false;
        if (s == RAD_OK) s = rad_json_num(cj, "flow_shift", cfgp, &out->shift, &found);
        if (s == RAD_OK && !found) s = rad_json_num(cj, "shift", cfgp, &out->shift, &found);
        if (s == RAD_OK && found && !(out->shift > 0 && out->shift < 1000))
            s = rad_err(RADIAL_ERR_MODEL, "%s: flow_shift %g out of range", cfgp, out->shift);
        if (s == RAD_OK && !found) out->shift = NAN;
        if (s == RAD_OK && cls && !strcmp(cls, "UniPCMultistepScheduler")) {
            long long order = 2;
            const json_t *flow = json_object_get(cj, "use_flow_sigmas");
            s = rad_json_int(cj, "solver_order", cfgp, &order, NULL);
            if (s == RAD_OK && (order != 2 || !json_is_true(flow)))
                s = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: UniPC with solver_order %lld%s; radial runs order 2 on flow sigmas",
                            cfgp, order, json_is_true(flow) ? "" : " without use_flow_sigmas");
            out->sampler = RADIAL_SAMPLER_UNIPC_DIFFUSERS;
        } else if (s == RAD_OK && cls && !strcmp(cls, "FlowMatchEulerDiscreteScheduler")) {
            out->sampler = RADIAL_SAMPLER_EULER;
        }
    }
    free(idx);
    free(cfgp);
    json_decref(j);
    json_decref(cj);
    return s;
}

/* Opens each component from its own file when one is named, else from the model folder. */
static rad_status open_component(const char *own, const char *model_path, rad_component comp, rad_weights **out) {
    if (!own && !model_path)
        return rad_err(RADIAL_ERR_INVALID_ARG, "no model folder and no %s file given", rad_component_name(comp));
    return rad_weights_open(own ? own : model_path, comp, out);
}

radial_gen_params radial_default_gen_params(void) {
    return (radial_gen_params){
        .prompt = "",
        .negative_prompt = NULL,
        .width = 832,
        .height = 480,
        .frames = 81,
        .steps = 50,
        .guidance = 5.0f,
        .guidance_2 = NAN,
        .shift = NAN,
        .seed = -1,
        .sampler = RADIAL_SAMPLER_AUTO,
        .attention = RADIAL_ATTN_DENSE,
        .dense_steps = -1,
        .dense_layers = 1,
        .decay = 1.0f,
        .cache = RADIAL_CACHE_NONE,
        .cache_k = 2,
        .cache_retention = 0.2,
    };
}

void radial_video_free(radial_video *v) {
    if (!v) return;
    rad_free(v->data);
    v->data = NULL;
}

static rad_status denoise_and_decode(radial_ctx *c, const radial_gen_params *g, rad_group *grp, rad_parallel mode,
                                     const float *ctx_cond, int len_cond, const float *ctx_uncond, int len_uncond,
                                     float *latent, float **video_out, radial_timings *tm);

/* What a thread keeps for the context it works for: its CPU thread count, memory account and log sink. The entry
 * points that do a context's work enter them and restore the caller's before they return. */
typedef struct {
    int threads;
    rad_mem_account *mem;
    const rad_log_sink *log;
} ctx_thread_state;

static ctx_thread_state ctx_enter(radial_ctx *c) {
    return (ctx_thread_state){rad_threads_enter(c->params.n_threads), rad_mem_enter(c->mem),
                              rad_log_enter(c->log.fn ? &c->log : NULL)};
}

static void ctx_leave(ctx_thread_state prev) {
    rad_threads_restore(prev.threads);
    rad_mem_restore(prev.mem);
    rad_log_restore(prev.log);
}

radial_status radial_init(const char *model_path, const radial_params *params, radial_ctx **out) {
    *out = NULL;
    radial_ctx *c = calloc(1, sizeof *c);
    if (!c) return rad_err(RADIAL_ERR_NOMEM, "radial_init: out of memory");
    c->params = params ? *params : radial_default_params();
    c->resident_blocks = -1;
    if (rad_mem_account_new(&c->mem) != RAD_OK) {
        free(c);
        return rad_err(RADIAL_ERR_NOMEM, "radial_init: out of memory");
    }
    /* the caller's strings need not outlive this call */
    c->params.tokenizer = c->params.dit = c->params.t5 = c->params.vae = NULL, c->params.loras = NULL, c->params.n_loras = 0;
    c->log = (rad_log_sink){c->params.log, c->params.log_user, c->params.log_level};
    const ctx_thread_state prev = ctx_enter(c); /* this context's threads, memory and log, not the process's */
    rad_status s = RAD_OK;
    if (params && (params->n_loras < 0 || params->n_loras > 64 || (params->n_loras && !params->loras)))
        s = rad_err(RADIAL_ERR_INVALID_ARG, "radial_init: %d LoRAs (at most 64)", params->n_loras);
    if (s == RAD_OK && (c->params.log_level < RADIAL_LOG_DEBUG || c->params.log_level > RADIAL_LOG_ERROR))
        s = rad_err(RADIAL_ERR_INVALID_ARG, "radial_init: log_level %d is not a radial_log_level (0-3)",
                    (int)c->params.log_level);
    if (s == RAD_OK && model_path && rad_is_file(model_path))
        s = rad_err(RADIAL_ERR_INVALID_ARG,
                    rad_ends_with(model_path, "model_index.json")
                        ? "%s is the index of a diffusers folder: give the folder that holds it"
                        : "%s is a file; the model path is a folder (name single component files as the DiT, T5 and VAE "
                          "files: --dit, --t5, --vae)",
                    model_path);
    /* Open (map) every file now so that a broken model fails here, not after the text encoder. */
    if (s == RAD_OK) s = open_experts(c, model_path, params ? params->dit : NULL);
    c->sched = (folder_sched){RADIAL_SAMPLER_UNIPC, NAN};
    if (s == RAD_OK && model_path) s = read_folder_sched(model_path, &c->sched);
    if (s == RAD_OK) s = open_component(params ? params->vae : NULL, model_path, RAD_COMP_VAE, &c->vae_w);
    if (s == RAD_OK) s = open_component(params ? params->t5 : NULL, model_path, RAD_COMP_T5, &c->t5_w);
    if (s == RAD_OK) s = check_components(c);
    if (s == RAD_OK && params && params->tokenizer && !(c->params.tokenizer = strdup(params->tokenizer)))
        s = rad_err(RADIAL_ERR_NOMEM, "radial_init: out of memory");
    if (s == RAD_OK) s = load_tokenizer(c, model_path);
    if (s == RAD_OK && params && params->n_loras) {
        s = rad_calloc((void **)&c->loras, (size_t)params->n_loras, sizeof *c->loras, "LoRA list");
        for (int i = 0; s == RAD_OK && i < params->n_loras; i++) {
            s = rad_lora_open(params->loras[i].path, params->loras[i].strength, &c->loras[i]);
            if (s == RAD_OK) c->n_loras++;
        }
    }
    if (s == RAD_OK) s = rad_backend_open(c->params.backend, c->params.device, &c->be);
    if (s == RAD_OK) RAD_INFO("backend: %s", c->be->info);
    if (s == RAD_OK && c->params.gemm != RADIAL_GEMM_BF16) { /* before any weight: the backend keeps them for it */
        if (c->params.gemm != RADIAL_GEMM_FP8)
            s = rad_err(RADIAL_ERR_INVALID_ARG, "radial_init: unknown GEMM mode %d", (int)c->params.gemm);
        else if ((s = c->be->set_gemm(c->be, RAD_GEMM_FP8)) == RAD_OK)
            RAD_INFO("GEMMs: fp8 (e4m3) for the DiT blocks' large GEMMs, bf16 for the rest");
    }
    if (s == RAD_OK && c->params.attention_precision != RADIAL_ATTN_PRECISION_BF16) {
        if (c->params.attention_precision != RADIAL_ATTN_PRECISION_FP8)
            s = rad_err(RADIAL_ERR_INVALID_ARG, "radial_init: unknown attention precision %d",
                        (int)c->params.attention_precision);
        else if ((s = c->be->set_attention(c->be, RAD_ATTN_FP8)) == RAD_OK)
            RAD_INFO("attention: fp8 (e4m3) for the DiT's self-attention, bf16 for cross-attention");
    }
    ctx_leave(prev);
    if (s != RAD_OK) {
        radial_free(c);
        return s;
    }
    *out = c;
    return RAD_OK;
}

void radial_free(radial_ctx *c) {
    if (!c) return;
    for (int i = 0; i < 2; i++) {
        rad_dit_free(c->ex[i].dit);
        rad_weights_close(c->ex[i].w);
    }
    rad_vae_free(c->vae);
    rad_t5_free(c->t5);
    rad_weights_close(c->t5_w);
    rad_weights_close(c->vae_w);
    for (size_t i = 0; i < c->n_loras; i++) rad_lora_close(c->loras[i]);
    rad_free(c->loras);
    rad_spm_free(c->tok);
    free_subgroups(c); /* before its backend */
    rad_group_free(c->own_group);
    if (c->be) c->be->destroy(c->be);
    free((char *)c->params.tokenizer);
    rad_mem_account_release(c->mem); /* blocks still out (a video the caller holds) keep it until they are freed */
    free(c);
}

/* The per-generation settings, checked before any work (the text encoder runs first, the checks must not wait for
 * it). */
static rad_status check_gen_params(const radial_gen_params *g) {
    if (g->steps < 1 || g->steps > 1000) return rad_err(RADIAL_ERR_INVALID_ARG, "steps must be in [1, 1000]");
    if (!isfinite(g->guidance) || isinf(g->guidance_2) || isinf(g->shift) || g->shift <= 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "guidance must be finite and shift positive (NaN: the model folder's)");
    if ((unsigned)g->sampler > RADIAL_SAMPLER_AUTO)
        return rad_err(RADIAL_ERR_INVALID_ARG, "unknown sampler %d", (int)g->sampler);
    if (g->rng < RADIAL_RNG_PHILOX || g->rng > RADIAL_RNG_TORCH_CUDA)
        return rad_err(RADIAL_ERR_INVALID_ARG, "unknown noise generator %d", (int)g->rng);
    if (g->attention == RADIAL_ATTN_RADIAL) {
        if (!(g->decay > 0) || !isfinite(g->decay)) return rad_err(RADIAL_ERR_INVALID_ARG, "decay must be positive");
        if (g->dense_steps >= g->steps) /* a "radial" run that is dense from start to end would mislead */
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "radial attention with dense_steps %d >= steps %d would run every step dense; lower "
                           "--dense-steps (or leave it to the default, min(12, steps / 4))",
                           g->dense_steps, g->steps);
        if (g->dense_layers < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "dense_layers must be >= 0");
    }
    if (g->vae_tile < 0 || g->vae_tile % 32 || g->vae_tile > 65536)
        return rad_err(RADIAL_ERR_INVALID_ARG, "vae_tile %d: the VAE tile size must be 0 (off) or a multiple of 32 "
                       "pixels up to 65536", g->vae_tile);
    RAD_TRY(rad_step_cache_check(g));
    return RAD_OK;
}

int radial_output_frames(int frames) { return frames % 4 == 1 ? frames : frames / 4 * 4 + 1; }

/* Checks width/height (multiples of 16) and rounds frames down to 4n+1 with a warning, as diffusers does. */
static rad_status check_video_size(int width, int height, int *frames) {
    if (width < 16 || height < 16 || width > 8192 || height > 8192 || width % 16 || height % 16)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "width and height must be multiples of 16 between 16 and 8192 (got %dx%d)", width, height);
    if (*frames < 1 || *frames > 4097)
        return rad_err(RADIAL_ERR_INVALID_ARG, "frames must be between 1 and 4097 (got %d)", *frames);
    if (*frames % 4 != 1) {
        const int rounded = radial_output_frames(*frames);
        RAD_WARN("frames must be 4n+1 for the VAE; using %d instead of %d (frames // 4 * 4 + 1, as diffusers)", rounded,
                 *frames);
        *frames = rounded;
    }
    return RAD_OK;
}

/* A NaN or Inf in what the pipeline hands on means a broken weight or an overflow: an error naming the stage and
 * the first bad value, never a black video with exit code 0. */
static rad_status check_finite(const float *x, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return rad_err(RADIAL_ERR_MODEL, "%s holds %s at element %zu: a weight of the model is broken or the "
                           "computation overflowed; nothing was written", what, isnan(x[i]) ? "NaN" : "Inf", i);
    return RAD_OK;
}

/* The seeded initial noise of the chosen generator. torch's CUDA generator lays its draws out by the launch grid,
 * so its values depend on the GPU's multiprocessor count: the one this context runs on, or an H100/H200's (132
 * SMs x 2048 threads) on the CPU. */
static rad_status draw_noise(const radial_ctx *c, const radial_gen_params *g, float *out, int64_t n) {
    switch (g->rng) {
    case RADIAL_RNG_PHILOX: rad_randn((uint64_t)g->seed, out, n); return RAD_OK;
    case RADIAL_RNG_TORCH_CPU: rad_randn_torch_cpu((uint64_t)g->seed, out, n); return RAD_OK;
    case RADIAL_RNG_TORCH_CUDA:
        rad_randn_torch_cuda((uint64_t)g->seed, out, n, c->be->sm_count ? c->be->sm_count : 132,
                             c->be->sm_threads ? c->be->sm_threads : 2048);
        return RAD_OK;
    }
    return rad_err(RADIAL_ERR_INVALID_ARG, "unknown noise generator %d (0 philox, 1 torch-cpu, 2 torch-cuda)", (int)g->rng);
}

/* Adds a model load to the run's totals and says what it read. */
static void add_load(radial_timings *tm, const rad_load_stats *ls) {
    tm->load_s += ls->seconds;
    tm->load_bytes += ls->file_bytes;
    tm->lora_modules += (int)ls->lora_merged;
    RAD_INFO("loaded %zu tensors, %.2f GB of file data in %.2f s (%.2f GB/s)%s", ls->tensors, (double)ls->file_bytes / 1e9,
             ls->seconds, ls->seconds > 0 ? (double)ls->file_bytes / 1e9 / ls->seconds : 0.0,
             ls->lora_merged ? "; LoRA deltas merged" : "");
}

/* Tokenise and encode both prompts with the text encoder in one pass over its layers. The encoder is loaded at
 * the first generation and kept: its layers stay in host memory and stream to the device while it runs, so a
 * second generation neither rereads the file nor holds the encoder on the device. context_*: rad_alloc'ed
 * [len, text_dim]. */
static rad_status encode_prompts(radial_ctx *c, const char *prompt, const char *negative, float **ctx_c, int *len_c,
                                 float **ctx_u, int *len_u, int text_dim, radial_timings *tm) {
    int32_t *ids[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    int ni[2] = {0, 0};
    const char *texts[2] = {prompt, negative};
    float *outs[2] = {NULL, NULL};
    rad_status s = RAD_OK;
    if (!c->t5) {
        s = rad_t5_load(c->be, c->t5_w, &c->t5);
        if (s == RAD_OK) add_load(tm, rad_t5_load_stats(c->t5));
    }
    for (int i = 0; i < 2 && s == RAD_OK; i++) {
        s = rad_t5_tokenize(c->tok, texts[i], 512, &ids[i], &n[i]);
        ni[i] = (int)n[i];
        if (s == RAD_OK) s = rad_calloc((void **)&outs[i], n[i] * (size_t)text_dim, sizeof(float), "text context");
    }
    if (s == RAD_OK) s = rad_t5_encode_many(c->t5, 2, (const int32_t *const *)ids, ni, outs);
    rad_free(ids[0]);
    rad_free(ids[1]);
    if (s != RAD_OK) {
        rad_free(outs[0]);
        rad_free(outs[1]);
        return s;
    }
    *ctx_c = outs[0], *len_c = ni[0], *ctx_u = outs[1], *len_u = ni[1];
    return RAD_OK;
}

#define GIB(x) ((double)(x) / 1073741824.0)

/* The device memory this generation needs (mem_estimate.h) against what the GPU has, before any work; nothing to
 * check on the CPU. At the DiT's first load it also decides how many blocks stay resident: all, none
 * (--offload), or as many as fit in --max-vram (which counts the whole process, as nvidia-smi does). */
static rad_status check_memory(radial_ctx *c, const radial_gen_params *g, const rad_parallel_plan *plan, int rank) {
    if (!strcmp(c->be->name, "cpu")) return RAD_OK;
    rad_mem_stats m;
    c->be->mem_stats(c->be, 0, &m);
    /* multi-rank: Ulysses holds 1/degree of the tokens' activations; ranks other than 0 run the DiT alone */
    rad_mem_inputs in = {.t5 = c->t5_w, .dit = c->ex[0].w, .vae = c->vae_w, .dit_cfg = c->ex[0].cfg,
                         .latent_t = (int)rad_latent_frames(g->frames), .latent_h = g->height / RAD_VAE_SPACE_FACTOR,
                         .latent_w = g->width / RAD_VAE_SPACE_FACTOR,
                         .resident_blocks = c->resident_blocks, .vae_resident = c->vae != NULL,
                         .vae_tile = g->vae_tile, .step_cache = g->cache != RADIAL_CACHE_NONE,
                         .attn_fp8 = c->params.attention_precision == RADIAL_ATTN_PRECISION_FP8,
                         .seq_ranks = plan->degree, .dit_only = rank != 0};
    RAD_TRY(rad_t5_config_detect(c->t5_w, &in.t5_cfg));
    /* the context, the libraries and whatever else uses the device: not ours to free */
    const size_t outside = m.device_used > m.held ? m.device_used - m.held : 0;
    const size_t have = m.device_total > outside ? m.device_total - outside : 0;
    const bool loaded = c->ex[0].dit || c->ex[1].dit;
    if (loaded) {
        in.resident_blocks = rad_dit_resident_blocks(c->ex[0].dit ? c->ex[0].dit : c->ex[1].dit);
    } else if (c->params.max_vram_gib > 0) {
        const double want = c->params.max_vram_gib * 1073741824.0;
        if (!(want > (double)outside))
            return rad_err(RADIAL_ERR_INVALID_ARG, "--max-vram %.2f GiB: the CUDA context and libraries alone hold %.2f GiB",
                           c->params.max_vram_gib, GIB(outside));
        const size_t budget = (size_t)(want - (double)outside);
        rad_status s = rad_mem_fit_blocks(&in, budget < have ? budget : have, &c->resident_blocks);
        if (s != RAD_OK) return rad_err_prefix(s, "--max-vram %.2f GiB: ", c->params.max_vram_gib);
        in.resident_blocks = c->resident_blocks;
    } else if (c->params.offload) {
        c->resident_blocks = in.resident_blocks = 0;
    }
    rad_mem_estimate e;
    RAD_TRY(rad_mem_estimate_run(&in, &e));
    /* The decode does not need the DiT: when the DiT's weights beside it would make the decode the run's largest
     * phase, they wait in host memory meanwhile (a copy each way: ~0.1 s per 2.7 GB), so the run's peak is the
     * DiT's own phase. */
    const size_t before_decode = e.text > e.dit ? e.text : e.dit;
    c->park_for_vae = e.vae > before_decode;
    if (c->park_for_vae) e.vae = e.vae - e.dit_weights > before_decode ? e.vae - e.dit_weights : before_decode;
    const char *phase;
    const size_t need = rad_mem_estimate_peak(&e, &phase);
    RAD_INFO("device memory estimate: text encoder %.2f GiB, DiT %.2f GiB (weights %.2f, activations %.2f, bf16 copies "
             "%.2f, staging %.2f), VAE decode %.2f GiB; plus %.2f GiB for the CUDA context and libraries; the GPU has "
             "%.2f GiB for this run",
             GIB(e.text), GIB(e.dit), GIB(e.dit_weights), GIB(e.dit_activations), GIB(e.dit_scratch), GIB(e.dit_staging),
             GIB(e.vae), GIB(outside), GIB(have));
    if (need > have)
        return rad_err(RADIAL_ERR_NOMEM,
                       "%dx%d with %d frames needs about %.2f GiB of device memory in the %s phase, the GPU has %.2f GiB "
                       "for it (%.2f GiB total, %.2f in use by the CUDA context and others). Options: --offload (the DiT "
                       "blocks stream from host memory: %.2f GiB each) or --max-vram GiB, %sa smaller size or fewer frames",
                       g->width, g->height, g->frames, GIB(need), phase, GIB(have), GIB(m.device_total), GIB(outside),
                       GIB(e.dit_block), g->vae_tile ? "" : "--vae-tile (the VAE decode in tiles), ");
    return RAD_OK;
}

/* Phase memory: starts a phase (the backend's peaks restart from what it holds now) and ends it (its peaks into
 * the timings, the backend's scratch freed for the next phase). */
static void phase_begin(radial_ctx *c) {
    rad_mem_stats m;
    c->be->mem_stats(c->be, 1, &m);
}

static rad_status phase_end(radial_ctx *c, int phase, radial_timings *tm) {
    rad_mem_stats m;
    rad_status s = c->be->trim(c->be);
    c->be->mem_stats(c->be, 0, &m);
    tm->phase_peak_bytes[phase] = m.peak;
    tm->phase_device_peak_bytes[phase] = m.device_peak;
    if (m.peak > tm->peak_bytes) tm->peak_bytes = m.peak;
    if (m.device_peak > tm->device_peak_bytes) tm->device_peak_bytes = m.device_peak;
    tm->host_pinned_bytes = m.host_pinned;
    return s;
}

/* Multi-rank: rank 0's prompt contexts (and its seed) to every rank. A header of 6 floats (both lengths, the seed's
 * 64 bits in four 16-bit pieces: exact in fp32) tells the other ranks what to allocate, then each context. */
static rad_status share_contexts(radial_ctx *c, rad_group *grp, float **ctx_c, int *len_c, float **ctx_u, int *len_u,
                                 int text_dim, int64_t *seed) {
    float head[6] = {(float)*len_c, (float)*len_u, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) head[2 + i] = (float)(((uint64_t)*seed >> (16 * i)) & 0xffff);
    RAD_TRY(rad_parallel_bcast_host(c->be, grp, 0, head, 6, "the prompt lengths"));
    if (grp->rank != 0) {
        const int text_len = c->ex[0].cfg.text_len;
        if (!(head[0] >= 0 && head[0] <= text_len && head[1] >= 0 && head[1] <= text_len))
            return rad_err(RADIAL_ERR_BACKEND, "broadcast of the prompt lengths: %g and %g (0 to %d expected)",
                           (double)head[0], (double)head[1], text_len);
        *len_c = (int)head[0], *len_u = (int)head[1];
        uint64_t v = 0;
        for (int i = 0; i < 4; i++) v |= (uint64_t)head[2 + i] << (16 * i);
        *seed = (int64_t)v;
        RAD_TRY(rad_calloc((void **)ctx_c, (size_t)*len_c * (size_t)text_dim + 1, sizeof(float), "text context"));
        RAD_TRY(rad_calloc((void **)ctx_u, (size_t)*len_u * (size_t)text_dim + 1, sizeof(float), "text context"));
    }
    RAD_TRY(rad_parallel_bcast_host(c->be, grp, 0, *ctx_c, (int64_t)*len_c * text_dim, "the prompt's text context"));
    return rad_parallel_bcast_host(c->be, grp, 0, *ctx_u, (int64_t)*len_u * text_dim,
                                   "the negative prompt's text context");
}

/* The DiT's heads as Ulysses sees them: with two experts, the greatest common divisor of both counts (a degree
 * must divide both). */
static int parallel_heads(const radial_ctx *c) {
    int a = c->ex[0].cfg.num_heads, b = c->n_experts == 2 ? c->ex[1].cfg.num_heads : a;
    while (b) {
        const int t = a % b;
        a = b, b = t;
    }
    return a;
}

rad_status rad_pipeline_check_parallel(const char *model_path, const radial_params *p, const radial_gen_params *g,
                                       int ranks, rad_parallel mode, rad_parallel_plan *plan) {
    memset(plan, 0, sizeof *plan);
    radial_ctx *c = calloc(1, sizeof *c);
    if (!c) return rad_err(RADIAL_ERR_NOMEM, "out of memory checking the parallel plan");
    const char *dit = p ? p->dit : NULL;
    rad_status s = model_path || dit ? open_experts(c, model_path, dit)
                                     : rad_err(RADIAL_ERR_INVALID_ARG, "no model folder and no DiT file given");
    if (s == RAD_OK) s = rad_parallel_resolve(ranks, mode, parallel_heads(c), c->n_experts == 2, g, plan);
    for (int k = 0; k < 2; k++) rad_weights_close(c->ex[k].w);
    free(c);
    return s;
}

static rad_status generate(radial_ctx *c, const radial_gen_params *gp, float **video_out, int *frames_out,
                           radial_timings *tm_out) {
    radial_timings tm = {0};
    double t0 = rad_now();
    radial_gen_params g = *gp;
    if (!g.prompt) g.prompt = "";
    if (g.timesteps) { /* an explicit few-step schedule sets the steps, and is an Euler schedule */
        if (g.n_timesteps < 1 || g.n_timesteps > 1000)
            return rad_err(RADIAL_ERR_INVALID_ARG, "%d explicit timesteps (1 to 1000)", g.n_timesteps);
        g.steps = g.n_timesteps;
        if (g.sampler == RADIAL_SAMPLER_AUTO) g.sampler = RADIAL_SAMPLER_EULER;
    }
    if (g.dense_steps < 0) g.dense_steps = g.steps / 4 < 12 ? g.steps / 4 : 12; /* 12 of 50, as Radial Attention */
    RAD_TRY(check_gen_params(&g));
    RAD_TRY(check_video_size(g.width, g.height, &g.frames));
    rad_parallel_plan plan;
    RAD_TRY(rad_parallel_resolve(c->group ? c->group->size : 1, c->par_asked, parallel_heads(c), c->n_experts == 2, &g,
                                 &plan));
    rad_group *grp = plan.mode == RAD_PAR_NONE ? NULL : c->group;
    const int rank = grp ? grp->rank : 0;
    if (grp) RAD_INFO("rank %d of %d: %s", rank, grp->size, plan.what);
    if (grp && plan.why[0] && rank == 0) RAD_INFO("%s", plan.why);
    const char *negative = g.negative_prompt ? g.negative_prompt : default_negative_prompt;
    rad_mem_account_reset_peak(c->mem);

    float *ctx_c = NULL, *ctx_u = NULL, *latent = NULL;
    int len_c = 0, len_u = 0;
    RAD_TRY(check_memory(c, &g, &plan, rank));
    /* the first collective: the halves and pairs (kept for the next generation) */
    if (plan.mode == RAD_PAR_CFG_ULYSSES) RAD_TRY(make_subgroups(c, grp, plan.degree));
    if (!g.noise && g.seed < 0) g.seed = radial_random_seed(); /* before the broadcast, which shares rank 0's */
    rad_range_push(c->be, "text_encoder");
    phase_begin(c);
    /* rank 0 alone encodes (the other ranks never load the text encoder) and shares the result */
    rad_status s = RAD_OK;
    if (rank == 0) {
        RAD_INFO("encoding the prompts (umT5)");
        s = encode_prompts(c, g.prompt, negative, &ctx_c, &len_c, &ctx_u, &len_u, c->ex[0].cfg.text_dim, &tm);
    }
    if (s == RAD_OK && grp) s = share_contexts(c, grp, &ctx_c, &len_c, &ctx_u, &len_u, c->ex[0].cfg.text_dim, &g.seed);
    rad_status s_end = phase_end(c, 0, &tm);
    rad_range_pop(c->be);
    if (s == RAD_OK) s = s_end;
    tm.text_encoder_s = rad_now() - t0;

    const int T = (int)rad_latent_frames(g.frames), H = g.height / RAD_VAE_SPACE_FACTOR, W = g.width / RAD_VAE_SPACE_FACTOR;
    const size_t n_latent = (size_t)16 * T * H * W;
    if (s == RAD_OK) s = rad_alloc((void **)&latent, n_latent * sizeof(float), "initial noise");
    if (s == RAD_OK && rank == 0) {
        if (g.noise)
            memcpy(latent, g.noise, n_latent * sizeof(float));
        else
            s = draw_noise(c, &g, latent, (int64_t)n_latent);
    }
    if (s == RAD_OK && grp) s = rad_parallel_bcast_host(c->be, grp, 0, latent, (int64_t)n_latent, "the initial noise");
    tm.seed_used = g.seed;
    tm.steps_used = g.steps, tm.dense_steps_used = g.attention == RADIAL_ATTN_RADIAL ? g.dense_steps : 0;
    if (s == RAD_OK) s = denoise_and_decode(c, &g, grp, plan.mode, ctx_c, len_c, ctx_u, len_u, latent, video_out, &tm);
    rad_free(ctx_c);
    rad_free(ctx_u);
    rad_free(latent);
    *frames_out = 1 + 4 * (T - 1);
    tm.total_s = rad_now() - t0;
    /* CPU: the context's host memory since this call began; CUDA: the largest phase peak of the backend's buffers
     * (phase_end) */
    if (!strcmp(c->be->name, "cpu")) tm.peak_bytes = rad_mem_account_peak(c->mem);
    if (tm_out) *tm_out = tm;
    return s;
}

rad_status rad_pipeline_generate(radial_ctx *c, const radial_gen_params *gp, float **video_out, int *frames_out,
                                 radial_timings *tm_out) {
    *video_out = NULL;
    *frames_out = 0;
    if (!c || !gp) return rad_err(RADIAL_ERR_INVALID_ARG, "radial_generate: NULL argument");
    const ctx_thread_state prev = ctx_enter(c);
    rad_range_push(c->be, "generate");
    rad_status s = generate(c, gp, video_out, frames_out, tm_out);
    rad_range_pop(c->be);
    ctx_leave(prev);
    /* a rank that failed, wherever it was, will not reach the next collective: release the others */
    if (s != RAD_OK && c->group) rad_group_abort(c->group);
    return s;
}

rad_backend *rad_pipeline_backend(radial_ctx *c) { return c->be; }

radial_status radial_generate(radial_ctx *c, const radial_gen_params *g, radial_video *out, radial_timings *tm) {
    float *video = NULL;
    int frames = 0;
    memset(out, 0, sizeof *out);
    rad_status s = rad_pipeline_generate(c, g, &video, &frames, tm);
    if (s == RAD_OK && !video) return RAD_OK; /* a rank other than 0 of a multi-rank run: no video */
    if (s == RAD_OK) s = rad_alloc((void **)&out->data, (size_t)frames * g->height * g->width * 3, "output frames");
    if (s == RAD_OK) {
        rad_vae_to_u8(video, frames, g->height, g->width, out->data);
        out->frames = frames, out->height = g->height, out->width = g->width;
    }
    rad_free(video);
    return s;
}

/* Makes expert k resident. With two experts both stay on the device when it has room for the second beside the
 * first (an H200 holds both 14B experts, 28 GB each in bf16: the switch then costs nothing); otherwise the other
 * is freed first and loaded again at the next switch (a reload of its file, seconds), which the log states. The
 * expert that stops running gives its activation buffers to the one that starts. */
static rad_status use_expert(radial_ctx *c, int k, radial_timings *tm) {
    expert *e = &c->ex[k], *other = &c->ex[1 - k];
    if (e->dit) {
        if (c->n_experts == 2 && other->dit) rad_dit_release(other->dit);
        return RAD_OK;
    }
    if (c->n_experts == 2 && other->dit) {
        rad_dit_release(other->dit);
        RAD_TRY(c->be->trim(c->be));
        rad_mem_stats m;
        c->be->mem_stats(c->be, 0, &m);
        const size_t need = rad_mem_weights_bytes(e->w) + ((size_t)1 << 30); /* + room for the moved activations */
        const bool both = m.device_total && m.device_total - m.device_used >= need;
        if (!m.device_total)
            RAD_INFO("the other expert is freed and loaded again at the next switch (the CPU backend keeps fp32 weights)");
        else
            RAD_INFO("%s: %.1f GiB of weights, %.1f GiB free on the device", both ? "both experts stay resident"
                     : "the other expert is freed (both do not fit) and is loaded again at the next switch",
                     GIB(need - ((size_t)1 << 30)), GIB(m.device_total - m.device_used));
        if (!both) {
            rad_dit_free(other->dit);
            other->dit = NULL;
        }
    }
    RAD_INFO("loading the DiT%s (%d layers, dim %d)", c->n_experts == 2 ? (k ? " low-noise expert" : " high-noise expert") : "",
             e->cfg.num_layers, e->cfg.dim);
    RAD_TRY(rad_dit_load(c->be, e->w, c->loras, c->n_loras, c->resident_blocks, &e->dit));
    add_load(tm, rad_dit_load_stats(e->dit));
    if (rad_dit_resident_blocks(e->dit) < e->cfg.num_layers)
        RAD_INFO("offload: %d of %d DiT blocks resident on the device, the rest stream from host memory one block "
                 "ahead of their use", rad_dit_resident_blocks(e->dit), e->cfg.num_layers);
    if (c->n_experts == 1)
        for (size_t i = 0; i < c->n_loras; i++)
            RAD_INFO("LoRA %s (%s, strength %g): %zu of %zu modules merged", rad_lora_path(c->loras[i]),
                     rad_lora_style(c->loras[i]), (double)rad_lora_strength(c->loras[i]),
                     rad_lora_applied_count(c->loras[i]), rad_lora_module_count(c->loras[i]));
    return RAD_OK;
}

/* One branch's velocity: the Ulysses forward over the group's ranks (par), else this rank's whole forward with
 * the branch's step cache. */
static rad_status branch_forward(rad_dit *dit, const rad_dit_parallel *par, const float *latent, int T, int H, int W,
                                 float t, const float *ctx, int len, const rad_dit_attn_policy *policy,
                                 rad_dit_cache *cache, float *v) {
    if (par) return rad_dit_forward_parallel(dit, latent, T, H, W, t, ctx, len, policy, par, v);
    return rad_dit_forward_cached(dit, latent, T, H, W, t, ctx, len, policy, cache, v);
}

/* Denoising + decode from the text contexts and the initial noise. latent is updated in place;
 * *video_out: [3, F, height, width] unclamped. grp (NULL: one rank) runs `mode` (parallel.h); every rank denoises
 * the same latent, rank 0 alone decodes it (*video_out stays NULL on the others). */
static rad_status denoise_and_decode(radial_ctx *c, const radial_gen_params *g, rad_group *grp, rad_parallel mode,
                                     const float *ctx_cond, int len_cond, const float *ctx_uncond, int len_uncond,
                                     float *latent, float **video_out, radial_timings *tm) {
    const int T = (int)rad_latent_frames(g->frames), H = g->height / RAD_VAE_SPACE_FACTOR,
              W = g->width / RAD_VAE_SPACE_FACTOR;
    const size_t n_latent = (size_t)16 * T * H * W;
    float *v_c = NULL, *v_u = NULL;
    rad_sched *sched = NULL;
    const rad_bsr *mask = NULL;
    double t0 = rad_now();
    rad_status s = RAD_OK;

    /* The schedule: the sampler and shift asked for, else the model folder's, else the official Wan ones. */
    const radial_sampler sampler = g->sampler == RADIAL_SAMPLER_AUTO ? c->sched.sampler : g->sampler;
    const double shift = isfinite(g->shift) ? g->shift : isfinite(c->sched.shift) ? c->sched.shift : 5.0;
    tm->sampler_used = sampler, tm->shift_used = shift;
    static const rad_sched_kind kinds[] = {RAD_SCHED_UNIPC_OFFICIAL, RAD_SCHED_EULER, RAD_SCHED_UNIPC_DIFFUSERS};
    static const char *const sampler_names[] = {"UniPC (official Wan grid)", "Euler", "UniPC (diffusers grid)"};
    if (g->timesteps)
        s = rad_sched_new_timesteps(kinds[sampler], g->timesteps, g->n_timesteps, shift, n_latent, &sched);
    else
        s = rad_sched_new(kinds[sampler], g->steps, shift, n_latent, &sched);
    const float guidance_2 = isfinite(g->guidance_2) ? g->guidance_2 : g->guidance;
    const bool any_cfg = g->guidance != 1.0f || (c->n_experts == 2 && guidance_2 != 1.0f);
    if (s == RAD_OK) {
        char sched_text[160];
        size_t k = 0;
        for (int i = 0; i < g->steps && k + 16 < sizeof sched_text; i++)
            k += (size_t)snprintf(sched_text + k, sizeof sched_text - k, "%s%g", i ? "," : "", rad_sched_timestep(sched, i));
        RAD_INFO("denoising: %dx%d, %d frames (%d latent), %d steps of %s, shift %g (timesteps %s%s), guidance %g%s, %s "
                 "attention%s; %s",
                 g->width, g->height, g->frames, T, g->steps, sampler_names[sampler], shift, sched_text,
                 k + 16 >= sizeof sched_text ? ",..." : "", (double)g->guidance, g->guidance != 1.0f ? "" : " (no CFG)",
                 g->attention == RADIAL_ATTN_RADIAL ? "radial" : "dense",
                 c->params.attention_precision == RADIAL_ATTN_PRECISION_FP8 ? " (fp8 e4m3 self-attention, bf16 cross-attention)"
                                                                             : "",
                 strcmp(c->be->name, "cpu") ? c->params.gemm == RADIAL_GEMM_FP8
                                                  ? "fp8 GEMM inputs (e4m3, per-token and per-channel scales) in the DiT "
                                                    "blocks, bf16 elsewhere, fp32 accumulation and residual stream"
                                                  : "bf16 GEMM inputs, fp32 accumulation and residual stream"
                                            : "fp32 throughout");
        if (c->n_experts == 2) RAD_INFO("low-noise expert: guidance %g", (double)guidance_2);
    }
    if (s == RAD_OK && g->attention == RADIAL_ATTN_RADIAL) {
        /* Tokens per latent frame after the 1x2x2 patch embedding. */
        const rad_radial_cfg rc = {.frames = T, .tokens_per_frame = (int64_t)(H / 2) * (W / 2), .decay = g->decay,
                                   .block = 128};
        s = rad_radial_layout(&rc, &mask);
        if (s == RAD_OK)
            RAD_INFO("radial mask: %lld tokens, block density %.3f; dense for steps 1-%d and the first %d layers, radial on "
                     "steps %d-%d",
                     (long long)mask->n_tokens, rad_bsr_density(mask), g->dense_steps, g->dense_layers, g->dense_steps + 1,
                     g->steps);
    }
    if (s == RAD_OK) s = rad_alloc((void **)&v_c, n_latent * sizeof(float), "velocity (cond)");
    if (s == RAD_OK && any_cfg) s = rad_alloc((void **)&v_u, n_latent * sizeof(float), "velocity (uncond)");
    if (s == RAD_OK) { /* --verbose: the DiT's activation plan (docs/ARCHITECTURE.md "Memory") */
        rad_dit_plan plan;
        s = rad_dit_plan_activations(&c->ex[0].cfg, (int64_t)T * (H / 2) * (W / 2), &plan);
        for (int i = 0; s == RAD_OK && i < plan.n; i++)
            RAD_DEBUG("DiT buffer %-62s %9.1f MiB (%.0f bytes per token)", plan.buf[i].name, plan.buf[i].bytes / 1048576.0,
                      (double)plan.buf[i].bytes / ((double)T * (H / 2) * (W / 2)));
        if (s == RAD_OK) RAD_DEBUG("DiT activations: %.1f MiB in all", plan.total / 1048576.0);
    }
    rad_range_push(c->be, "denoise");
    phase_begin(c);
    /* step caching (step_cache.h): one cache per CFG branch, for this generation */
    rad_step_cache *sc = NULL;
    if (s == RAD_OK) s = rad_step_cache_new(c->be, g, c->ex[0].cfg.dim, c->cache_trace, c->cache_trace_user, &sc);
    /* CFG-parallel: each rank computes one branch per step, the two velocities are exchanged, and both ranks
     * combine and step the same latent (the same bits as one rank computing both). Ulysses: every rank computes
     * its share of every forward and receives the whole velocity. CFG x Ulysses: each half runs its branch as
     * Ulysses over the half (every rank of it then holds the branch's whole velocity), and rank r of each half
     * exchanges with its pair. (Step caching is refused with any of them: rad_parallel_resolve.) */
    float *dv = NULL, *dall = NULL;
    rad_group *cg = NULL;              /* the CFG exchange: rank 0 computes the conditional branch, rank 1 the other */
    rad_dit_parallel upar = {NULL, 1}; /* the Ulysses group of every forward */
    if (grp && mode == RAD_PAR_CFG) cg = grp;
    if (grp && mode == RAD_PAR_ULYSSES) upar = (rad_dit_parallel){grp, grp->size};
    if (grp && mode == RAD_PAR_CFG_ULYSSES) cg = c->pair, upar = (rad_dit_parallel){c->half, c->half->size};
    if (!any_cfg) cg = NULL;
    const rad_dit_parallel *par = upar.group ? &upar : NULL;
    if (s == RAD_OK && cg) s = c->be->alloc(c->be, n_latent * sizeof(float), "CFG-parallel: this rank's velocity", (void **)&dv);
    if (s == RAD_OK && cg)
        s = c->be->alloc(c->be, 2 * n_latent * sizeof(float), "CFG-parallel: both velocities", (void **)&dall);
    for (int i = 0; i < g->steps && s == RAD_OK; i++) {
        double ts = rad_now();
        rad_range_push(c->be, "step"); /* popped at the end of the body and before each break */
        rad_dit_attn_policy policy = {.mask = NULL, .dense_layers = 0};
        if (mask && i >= g->dense_steps) policy = (rad_dit_attn_policy){.mask = mask, .dense_layers = g->dense_layers};
        const double t = rad_sched_timestep(sched, i);
        /* diffusers WanPipeline: the high-noise expert while t >= boundary_ratio * num_train_timesteps */
        const int k = c->n_experts == 2 && t < c->boundary_ratio * 1000.0 ? 1 : 0;
        const float guidance = k ? guidance_2 : g->guidance;
        s = use_expert(c, k, tm);
        if (s != RAD_OK) {
            rad_range_pop(c->be);
            break;
        }
        rad_dit *dit = c->ex[k].dit;
        rad_step_cache_begin(sc, i, k);
        const bool split = cg && guidance != 1.0f; /* this step's branches on two ranks */
        const bool run_c = !split || cg->rank == 0, run_u = guidance != 1.0f && (!split || cg->rank == 1);
        if (c->forward_trace && run_c) c->forward_trace(c->forward_trace_user, i, 0, upar.degree);
        if (run_c)
            s = branch_forward(dit, par, latent, T, H, W, (float)t, ctx_cond, len_cond, &policy,
                               rad_step_cache_branch(sc, 0), v_c);
        if (c->forward_trace && s == RAD_OK && run_u) c->forward_trace(c->forward_trace_user, i, 1, upar.degree);
        if (s == RAD_OK && run_u)
            s = branch_forward(dit, par, latent, T, H, W, (float)t, ctx_uncond, len_uncond, &policy,
                               rad_step_cache_branch(sc, 1), v_u);
        if (s == RAD_OK && split) s = cfg_exchange(c, cg, cg->rank ? v_u : v_c, dv, dall, v_c, v_u, n_latent);
        if (s != RAD_OK) {
            rad_range_pop(c->be);
            break;
        }
        if (guidance != 1.0f)
            for (size_t e = 0; e < n_latent; e++) v_c[e] = v_u[e] + guidance * (v_c[e] - v_u[e]);
        s = rad_sched_step(sched, i, v_c, latent);
        rad_range_pop(c->be);
        if (s == RAD_OK && g->on_step && g->on_step(i + 1, g->steps, rad_now() - ts, g->user_data))
            s = rad_err(RADIAL_ERR_CANCELLED, "cancelled by the progress callback at step %d", i + 1);
    }
    if (dv) c->be->free(c->be, dv);
    if (dall) c->be->free(c->be, dall);
    if (s == RAD_OK) s = check_finite(latent, n_latent, "the denoised latent (DiT and sampler output)");
    if (s == RAD_OK) rad_step_cache_finish(sc, tm);
    rad_step_cache_free(sc); /* the residuals, before the VAE decode */
    for (int k = 0; k < c->n_experts; k++) rad_dit_release(c->ex[k].dit); /* the VAE decode needs the room */
    rad_status s_end = phase_end(c, 1, tm);
    rad_range_pop(c->be);
    if (s == RAD_OK) s = s_end;
    tm->dit_blocks = c->ex[0].cfg.num_layers;
    tm->dit_resident_blocks = c->ex[0].dit ? rad_dit_resident_blocks(c->ex[0].dit) : 0;
    rad_sched_free(sched);
    rad_free(v_c);
    rad_free(v_u);
    tm->denoise_s = rad_now() - t0;
    tm->denoise_per_step_s = tm->denoise_s / g->steps;
    if (s != RAD_OK) return s;
    if (grp && grp->rank != 0) return RAD_OK; /* rank 0 decodes */

    t0 = rad_now();
    rad_range_push(c->be, "decode");
    for (int k = 0; s == RAD_OK && c->park_for_vae && k < c->n_experts; k++)
        if (c->ex[k].dit) s = rad_dit_park(c->ex[k].dit, true);
    if (s == RAD_OK && c->park_for_vae)
        RAD_INFO("the DiT's weights wait in host memory during the decode (%.2f s), so the decode does not raise the "
                 "run's peak", rad_now() - t0);
    RAD_INFO("decoding %d frames (VAE)", 1 + 4 * (T - 1));
    phase_begin(c);
    if (!c->vae) {
        s = rad_vae_load(c->be, c->vae_w, &c->vae);
        if (s == RAD_OK) add_load(tm, rad_vae_load_stats(c->vae));
    }
    const int F = 1 + 4 * (T - 1);
    float *video = NULL;
    if (s == RAD_OK) s = rad_calloc((void **)&video, (size_t)3 * F * g->height * g->width, sizeof(float), "video");
    if (s == RAD_OK) {
        rad_vae_set_progress(c->vae, g->on_decode, g->user_data);
        s = rad_vae_set_tiling(c->vae, g->vae_tile);
        if (s == RAD_OK) s = rad_vae_decode(c->vae, latent, T, H, W, video);
        rad_vae_set_progress(c->vae, NULL, NULL);
    }
    if (s == RAD_OK) s = check_finite(video, (size_t)3 * F * g->height * g->width, "the decoded video (VAE output)");
    s_end = phase_end(c, 2, tm);
    rad_range_pop(c->be);
    if (s == RAD_OK) s = s_end;
    tm->vae_s = rad_now() - t0;
    if (s != RAD_OK) {
        rad_free(video);
        return s;
    }
    *video_out = video;
    return RAD_OK;
}

int64_t radial_random_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 32);
    x ^= x >> 31;
    return (int64_t)(x & 0x7fffffffffffffffull) % 1000000000000LL; /* short enough to type back */
}

void rad_pipeline_set_forward_trace(radial_ctx *c, rad_forward_trace_fn fn, void *user) {
    c->forward_trace = fn;
    c->forward_trace_user = user;
}

void rad_pipeline_set_cache_trace(radial_ctx *c, rad_step_cache_trace_fn fn, void *user) {
    c->cache_trace = fn;
    c->cache_trace_user = user;
}
