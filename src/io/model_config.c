/* Model configurations: first derived from the tensor shapes, then overridden by config.json where it exists,
 * and finally every key tensor is checked against the result, so that a config.json that disagrees with the
 * weights fails with the tensor and both shapes. Values from JSON are range-checked before they become ints. */
#include "io/model_config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/json.h"

#define MAX_DIM 1048576 /* bound for any width read from a file (real models: <= 256384) */
#define MAX_LAYERS 1024

/* ---------------------------------------------------------------------------------------------------------- */
/* Helpers */

/* Shape of a tensor that must exist, with a given rank. */
static rad_status shape_of(const rad_weights *w, const char *name, int ndim, const int64_t **shape) {
    static const int64_t any[RAD_MAX_DIMS] = {-1, -1, -1, -1, -1, -1, -1, -1};
    const rad_st_tensor *t;
    RAD_TRY(rad_weights_get(w, name, ndim, any, &t));
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] <= 0 || t->shape[i] > MAX_DIM)
            return rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' has dimension %d = %lld, expected 1..%d", rad_weights_label(w), name, i,
                           (long long)t->shape[i], MAX_DIM);
    *shape = t->shape;
    return RAD_OK;
}

/* Number of consecutive blocks i = 0, 1, ... for which fmt (with %d) names a tensor. */
static int count_blocks(const rad_weights *w, const char *fmt) {
    char name[128];
    int n = 0;
    for (; n < MAX_LAYERS; n++) {
        snprintf(name, sizeof name, fmt, n);
        if (!rad_weights_find(w, name)) break;
    }
    return n;
}

/* Checks a tensor against the expected shape; a mismatch says the config and the weights disagree. */
static rad_status expect(const rad_weights *w, const char *name, int ndim, const int64_t *shape) {
    const rad_st_tensor *t;
    rad_status st = rad_weights_get(w, name, ndim, shape, &t);
    if (st != RAD_OK) return rad_err_prefix(st, "configuration and weights disagree: ");
    return RAD_OK;
}

/* An integer key in 1..hi, if present. */
static rad_status cfg_int(const json_t *j, const char *key, const char *label, long long hi, int *out, bool *found) {
    long long v = 0;
    bool f = false;
    RAD_TRY(rad_json_int(j, key, label, &v, &f));
    if (found) *found = f;
    if (!f) return RAD_OK;
    if (v < 1 || v > hi) return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\" = %lld is out of range (expected 1..%lld)", label, key, v, hi);
    *out = (int)v;
    return RAD_OK;
}

static rad_status cfg_eps(const json_t *j, const char *key, const char *label, float *out) {
    double v = 0;
    bool f = false;
    RAD_TRY(rad_json_num(j, key, label, &v, &f));
    if (!f) return RAD_OK;
    if (!(v > 0 && v < 1)) return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\" = %g is out of range (expected 0 < eps < 1)", label, key, v);
    *out = (float)v;
    return RAD_OK;
}

/* A JSON array of exactly n integers in [lo, hi] into out[]; absent (or null) leaves out unchanged. */
static rad_status cfg_ints(const json_t *j, const char *key, const char *label, int n, int lo, int hi, int *out) {
    const json_t *a = json_object_get(j, key);
    if (!a || json_is_null(a)) return RAD_OK;
    int v[8];
    bool ok = n <= 8 && json_is_array(a) && json_array_size(a) == (size_t)n;
    for (int i = 0; ok && i < n; i++) {
        const json_t *e = json_array_get(a, i);
        ok = json_is_integer(e) && json_integer_value(e) >= lo && json_integer_value(e) <= hi;
        if (ok) v[i] = (int)json_integer_value(e);
    }
    if (!ok) return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\": expected %d integers in %d..%d", label, key, n, lo, hi);
    memcpy(out, v, (size_t)n * sizeof *out);
    return RAD_OK;
}

/* Loads the config.json of w if there is one and it is of the expected kind (marker key present); a config
 * of another component (the official folder keeps one config.json, the DiT's) is ignored. */
static rad_status load_config(const rad_weights *w, const char *const *markers, json_t **out) {
    *out = NULL;
    const char *p = rad_weights_config_path(w);
    if (!p) return RAD_OK;
    json_t *j;
    RAD_TRY(rad_json_load(p, &j));
    if (!json_is_object(j)) {
        json_decref(j);
        return rad_err(RADIAL_ERR_FORMAT, "%s: expected a JSON object", p);
    }
    for (; *markers; markers++)
        if (json_object_get(j, *markers)) {
            *out = j;
            return RAD_OK;
        }
    json_decref(j);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* DiT */

/* Checkpoints of the Wan family that radial does not run, told apart by tensors only they have (spec
 * wan21.md §5.2: image-to-video adds img_emb.* and cross_attn.k_img/v_img; VACE adds vace_blocks.* and
 * vace_patch_embedding; Wan 2.2 TI2V-5B has 48 latent channels). A clear refusal, never a wrong run. */
static rad_status check_t2v(const rad_weights *w) {
    static const struct {
        const char *part, *kind;
    } k_other[] = {
        {"img_emb.", "an image-to-video (I2V/FLF2V)"},
        {".k_img.", "an image-to-video (I2V/FLF2V)"},
        {"vace_", "a VACE (video editing)"},
        {"camera_", "a camera-control"},
    };
    for (size_t i = 0; i < rad_weights_count(w); i++) {
        const char *off, *raw = rad_weights_at(w, i, &off)->name;
        for (size_t k = 0; k < sizeof k_other / sizeof k_other[0]; k++)
            if (strstr(raw, k_other[k].part))
                return rad_err(RADIAL_ERR_UNSUPPORTED,
                               "%s: this is %s checkpoint (tensor '%s'); radial runs text-to-video Wan models only",
                               rad_weights_label(w), k_other[k].kind, raw);
    }
    const rad_st_tensor *p = rad_weights_find(w, "patch_embedding.weight");
    if (p && p->ndim == 5 && p->shape[1] != RAD_LATENT_CHANNELS)
        return rad_err(RADIAL_ERR_UNSUPPORTED,
                       "%s: this is %s checkpoint (patch_embedding takes %lld channels; text-to-video takes %d); radial "
                       "runs text-to-video Wan models only",
                       rad_weights_label(w),
                       p->shape[1] == 36 ? "an image-to-video (in_dim 36)"
                       : p->shape[1] == 48 ? "a Wan 2.2 TI2V-5B (48 latent channels)"
                                           : "a non-text-to-video",
                       (long long)p->shape[1], RAD_LATENT_CHANNELS);
    return RAD_OK;
}

rad_status rad_dit_config_detect(const rad_weights *w, rad_dit_config *c) {
    memset(c, 0, sizeof *c);
    const int64_t *s = NULL;
    RAD_TRY(check_t2v(w));
    /* Shapes (spec wan21.md §5.2). */
    RAD_TRY(shape_of(w, "patch_embedding.weight", 5, &s));
    c->dim = (int)s[0], c->in_dim = (int)s[1], c->patch_t = (int)s[2], c->patch_h = (int)s[3], c->patch_w = (int)s[4];
    RAD_TRY(shape_of(w, "text_embedding.0.weight", 2, &s));
    c->text_dim = (int)s[1];
    RAD_TRY(shape_of(w, "time_embedding.0.weight", 2, &s));
    c->freq_dim = (int)s[1];
    RAD_TRY(shape_of(w, "blocks.0.ffn.0.weight", 2, &s));
    c->ffn_dim = (int)s[0];
    RAD_TRY(shape_of(w, "head.head.weight", 2, &s));
    int patch = c->patch_t * c->patch_h * c->patch_w;
    c->out_dim = (int)(s[0] / patch);
    if (s[0] % patch)
        return rad_err(RADIAL_ERR_MODEL, "%s: tensor 'head.head.weight' has %lld rows, expected a multiple of the patch size %d",
                       rad_weights_label(w), (long long)s[0], patch);
    c->num_layers = count_blocks(w, "blocks.%d.self_attn.q.weight");
    c->text_len = 512;
    c->eps = 1e-6f;
    c->num_heads = c->dim % 128 == 0 ? c->dim / 128 : 0; /* Wan's head_dim is 128; the config overrides */

    /* config.json: official keys (WanModel) or diffusers keys (WanTransformer3DModel). */
    static const char *const markers[] = {"dim", "num_attention_heads", NULL};
    json_t *j;
    RAD_TRY(load_config(w, markers, &j));
    if (j) {
        const char *L = rad_weights_config_path(w);
        rad_status st = RAD_OK;
        bool diffusers = json_object_get(j, "num_attention_heads") != NULL;
        if (diffusers) {
            int heads = 0, hd = 0;
            bool fh = false, fd = false;
            if ((st = cfg_int(j, "num_attention_heads", L, MAX_DIM, &heads, &fh)) == RAD_OK &&
                (st = cfg_int(j, "attention_head_dim", L, MAX_DIM, &hd, &fd)) == RAD_OK && fh && fd) {
                if ((long long)heads * hd > MAX_DIM)
                    st = rad_err(RADIAL_ERR_MODEL, "%s: num_attention_heads x attention_head_dim is too large", L);
                else
                    c->num_heads = heads, c->dim = heads * hd;
            }
            if (st == RAD_OK) st = cfg_int(j, "in_channels", L, MAX_DIM, &c->in_dim, NULL);
            if (st == RAD_OK) st = cfg_int(j, "out_channels", L, MAX_DIM, &c->out_dim, NULL);
            int patch[3] = {c->patch_t, c->patch_h, c->patch_w}; /* [t, h, w] */
            if (st == RAD_OK) st = cfg_ints(j, "patch_size", L, 3, 1, 64, patch);
            c->patch_t = patch[0], c->patch_h = patch[1], c->patch_w = patch[2];
        } else {
            if (st == RAD_OK) st = cfg_int(j, "dim", L, MAX_DIM, &c->dim, NULL);
            if (st == RAD_OK) st = cfg_int(j, "num_heads", L, MAX_DIM, &c->num_heads, NULL);
            if (st == RAD_OK) st = cfg_int(j, "in_dim", L, MAX_DIM, &c->in_dim, NULL);
            if (st == RAD_OK) st = cfg_int(j, "out_dim", L, MAX_DIM, &c->out_dim, NULL);
            if (st == RAD_OK) st = cfg_int(j, "text_len", L, MAX_DIM, &c->text_len, NULL);
        }
        if (st == RAD_OK) st = cfg_int(j, "ffn_dim", L, MAX_DIM, &c->ffn_dim, NULL);
        if (st == RAD_OK) st = cfg_int(j, "num_layers", L, MAX_LAYERS, &c->num_layers, NULL);
        if (st == RAD_OK) st = cfg_int(j, "freq_dim", L, MAX_DIM, &c->freq_dim, NULL);
        if (st == RAD_OK) st = cfg_int(j, "text_dim", L, MAX_DIM, &c->text_dim, NULL);
        if (st == RAD_OK) st = cfg_eps(j, "eps", L, &c->eps);
        json_decref(j);
        RAD_TRY(st);
    }

    if (c->num_heads <= 0 || c->dim % c->num_heads)
        return rad_err(RADIAL_ERR_MODEL, "%s: dim %d is not divisible into heads (num_heads %d; without config.json the head size is 128)",
                       rad_weights_label(w), c->dim, c->num_heads);
    c->head_dim = c->dim / c->num_heads;
    if (c->num_layers < 1)
        return rad_err(RADIAL_ERR_MODEL, "%s: no transformer blocks (tensor 'blocks.0.self_attn.q.weight' missing)", rad_weights_label(w));

    /* The key tensors must match the final configuration. */
    const int64_t D = c->dim;
    RAD_TRY(expect(w, "patch_embedding.weight", 5, (const int64_t[]){D, c->in_dim, c->patch_t, c->patch_h, c->patch_w}));
    RAD_TRY(expect(w, "text_embedding.0.weight", 2, (const int64_t[]){D, c->text_dim}));
    RAD_TRY(expect(w, "time_embedding.0.weight", 2, (const int64_t[]){D, c->freq_dim}));
    RAD_TRY(expect(w, "head.head.weight", 2, (const int64_t[]){(int64_t)c->out_dim * c->patch_t * c->patch_h * c->patch_w, D}));
    char name[96];
    snprintf(name, sizeof name, "blocks.%d.ffn.0.weight", c->num_layers - 1);
    RAD_TRY(expect(w, name, 2, (const int64_t[]){c->ffn_dim, D}));
    snprintf(name, sizeof name, "blocks.%d.self_attn.q.weight", c->num_layers);
    if (rad_weights_find(w, name))
        return rad_err(RADIAL_ERR_MODEL, "configuration and weights disagree: %s: num_layers is %d but tensor '%s' exists",
                       rad_weights_label(w), c->num_layers, name);
    /* what the pipeline and the kernels support: 16 latent channels in and out (the Wan 2.1 VAE's z_dim) */
    if (c->in_dim != RAD_LATENT_CHANNELS || c->out_dim != RAD_LATENT_CHANNELS)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: in_dim %d / out_dim %d; radial runs text-to-video DiTs with %d latent "
                       "channels in and out", rad_weights_label(w), c->in_dim, c->out_dim, RAD_LATENT_CHANNELS);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* T5 */

rad_status rad_t5_config_detect(const rad_weights *w, rad_t5_config *c) {
    memset(c, 0, sizeof *c);
    const int64_t *s = NULL;
    /* Shapes (spec wan21.md §5.3): heads from the per-layer relative bias [buckets, heads]. */
    RAD_TRY(shape_of(w, "token_embedding.weight", 2, &s));
    c->vocab = (int)s[0], c->d_model = (int)s[1];
    RAD_TRY(shape_of(w, "blocks.0.pos_embedding.embedding.weight", 2, &s));
    c->num_buckets = (int)s[0], c->num_heads = (int)s[1];
    RAD_TRY(shape_of(w, "blocks.0.attn.q.weight", 2, &s));
    if (s[0] % c->num_heads)
        return rad_err(RADIAL_ERR_MODEL, "%s: tensor 'blocks.0.attn.q.weight' has %lld rows, not a multiple of %d heads",
                       rad_weights_label(w), (long long)s[0], c->num_heads);
    c->d_kv = (int)(s[0] / c->num_heads);
    RAD_TRY(shape_of(w, "blocks.0.ffn.fc1.weight", 2, &s));
    c->d_ff = (int)s[0];
    c->num_layers = count_blocks(w, "blocks.%d.attn.q.weight");
    c->max_distance = 128; /* umT5 */
    c->eps = 1e-6f;

    static const char *const markers[] = {"d_model", NULL};
    json_t *j;
    RAD_TRY(load_config(w, markers, &j));
    if (j) {
        const char *L = rad_weights_config_path(w);
        rad_status st = cfg_int(j, "vocab_size", L, MAX_DIM, &c->vocab, NULL);
        if (st == RAD_OK) st = cfg_int(j, "d_model", L, MAX_DIM, &c->d_model, NULL);
        if (st == RAD_OK) st = cfg_int(j, "num_heads", L, MAX_DIM, &c->num_heads, NULL);
        if (st == RAD_OK) st = cfg_int(j, "d_kv", L, MAX_DIM, &c->d_kv, NULL);
        if (st == RAD_OK) st = cfg_int(j, "d_ff", L, MAX_DIM, &c->d_ff, NULL);
        if (st == RAD_OK) st = cfg_int(j, "num_layers", L, MAX_LAYERS, &c->num_layers, NULL);
        if (st == RAD_OK) st = cfg_int(j, "relative_attention_num_buckets", L, MAX_DIM, &c->num_buckets, NULL);
        if (st == RAD_OK) st = cfg_int(j, "relative_attention_max_distance", L, MAX_DIM, &c->max_distance, NULL);
        if (st == RAD_OK) st = cfg_eps(j, "layer_norm_epsilon", L, &c->eps);
        json_decref(j);
        RAD_TRY(st);
    }
    if (c->num_layers < 1)
        return rad_err(RADIAL_ERR_MODEL, "%s: no encoder blocks (tensor 'blocks.0.attn.q.weight' missing)", rad_weights_label(w));
    if ((long long)c->num_heads * c->d_kv > MAX_DIM)
        return rad_err(RADIAL_ERR_MODEL, "%s: num_heads x d_kv is too large", rad_weights_label(w));

    const int64_t inner = (int64_t)c->num_heads * c->d_kv;
    RAD_TRY(expect(w, "token_embedding.weight", 2, (const int64_t[]){c->vocab, c->d_model}));
    char name[96];
    int last = c->num_layers - 1;
    snprintf(name, sizeof name, "blocks.%d.pos_embedding.embedding.weight", last);
    RAD_TRY(expect(w, name, 2, (const int64_t[]){c->num_buckets, c->num_heads}));
    snprintf(name, sizeof name, "blocks.%d.attn.q.weight", last);
    RAD_TRY(expect(w, name, 2, (const int64_t[]){inner, c->d_model}));
    snprintf(name, sizeof name, "blocks.%d.ffn.fc1.weight", last);
    RAD_TRY(expect(w, name, 2, (const int64_t[]){c->d_ff, c->d_model}));
    snprintf(name, sizeof name, "blocks.%d.attn.q.weight", c->num_layers);
    if (rad_weights_find(w, name))
        return rad_err(RADIAL_ERR_MODEL, "configuration and weights disagree: %s: num_layers is %d but tensor '%s' exists",
                       rad_weights_label(w), c->num_layers, name);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* VAE */

/* Official constants (spec wan21.md §3.1). */
static const float k_latents_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                         0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float k_latents_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                        3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

/* A JSON array of exactly n numbers into out[]; absent leaves out unchanged. */
static rad_status cfg_floats(const json_t *j, const char *key, const char *label, int n, float *out) {
    const json_t *a = json_object_get(j, key);
    if (!a || json_is_null(a)) return RAD_OK;
    if (!json_is_array(a) || json_array_size(a) != (size_t)n)
        return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\": expected an array of %d numbers", label, key, n);
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\"[%d]: expected a number", label, key, i);
        const double x = json_number_value(v);
        if (!(fabs(x) <= FLT_MAX))
            return rad_err(RADIAL_ERR_MODEL, "%s: \"%s\"[%d] = %g: expected a number within the float range", label,
                           key, i, x);
        out[i] = (float)x;
    }
    return RAD_OK;
}

rad_status rad_vae_config_detect(const rad_weights *w, rad_vae_config *c) {
    memset(c, 0, sizeof *c);
    const char *label = rad_weights_label(w);
    const int64_t *s = NULL;
    /* Shapes (spec wan21.md §3.3): z_dim from conv2, base_dim from the head (dim_mult[0] = 1 as in Wan),
     * num_res_blocks from the length of the flat decoder.upsamples list (4 stages of nrb+1 resnets + 3
     * upsamplers), dim_mult from each stage's first resnet, time upsampling from the time_conv tensors. */
    RAD_TRY(shape_of(w, "conv2.weight", 5, &s));
    c->z_dim = (int)s[0];
    RAD_TRY(shape_of(w, "decoder.head.2.weight", 5, &s));
    c->base_dim = (int)s[1];
    int n_up = 0; /* entries are resnets (residual.*) or upsamplers (resample.*) */
    char name[96], name2[96];
    for (; n_up < 4 * 66; n_up++) {
        snprintf(name, sizeof name, "decoder.upsamples.%d.residual.0.gamma", n_up);
        snprintf(name2, sizeof name2, "decoder.upsamples.%d.resample.1.weight", n_up);
        if (!rad_weights_find(w, name) && !rad_weights_find(w, name2)) break;
    }
    if (n_up < 7 || (n_up - 3) % 4)
        return rad_err(RADIAL_ERR_MODEL, "%s: %d decoder.upsamples entries, expected 4 x (num_res_blocks + 1) + 3", label, n_up);
    c->num_res_blocks = (n_up - 3) / 4 - 1;
    if (c->num_res_blocks < 1) return rad_err(RADIAL_ERR_MODEL, "%s: num_res_blocks must be at least 1", label);
    int stride = c->num_res_blocks + 2;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "decoder.upsamples.%d.residual.2.weight", i * stride);
        RAD_TRY(shape_of(w, name, 5, &s));
        if (s[0] % c->base_dim)
            return rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' has %lld output channels, not a multiple of base_dim %d", label, name,
                           (long long)s[0], c->base_dim);
        c->dim_mult[3 - i] = (int)(s[0] / c->base_dim);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "decoder.upsamples.%d.time_conv.weight", i * stride + c->num_res_blocks + 1);
        c->temporal_upsample[i] = rad_weights_find(w, name) != NULL;
    }
    memcpy(c->latents_mean, k_latents_mean, sizeof k_latents_mean);
    memcpy(c->latents_std, k_latents_std, sizeof k_latents_std);

    static const char *const markers[] = {"base_dim", "z_dim", NULL};
    json_t *j;
    RAD_TRY(load_config(w, markers, &j));
    if (j) {
        const char *L = rad_weights_config_path(w);
        rad_status st = cfg_int(j, "base_dim", L, MAX_DIM, &c->base_dim, NULL);
        if (st == RAD_OK) st = cfg_int(j, "z_dim", L, MAX_DIM, &c->z_dim, NULL);
        if (st == RAD_OK) st = cfg_int(j, "num_res_blocks", L, 64, &c->num_res_blocks, NULL);
        if (st == RAD_OK) st = cfg_ints(j, "dim_mult", L, 4, 1, 64, c->dim_mult);
        const json_t *td = json_object_get(j, "temperal_downsample");
        if (st == RAD_OK && td) {
            bool ok = json_is_array(td) && json_array_size(td) == 3;
            for (int i = 0; ok && i < 3; i++) {
                const json_t *v = json_array_get(td, i);
                ok = json_is_boolean(v);
                if (ok) c->temporal_upsample[2 - i] = json_is_true(v); /* the decoder runs the list backwards */
            }
            if (!ok) st = rad_err(RADIAL_ERR_MODEL, "%s: \"temperal_downsample\": expected 3 booleans", L);
        }
        if (st == RAD_OK) st = cfg_floats(j, "latents_mean", L, 16, c->latents_mean);
        if (st == RAD_OK) st = cfg_floats(j, "latents_std", L, 16, c->latents_std);
        json_decref(j);
        RAD_TRY(st);
    }
    if (c->z_dim != RAD_LATENT_CHANNELS)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: z_dim %d, only %d latent channels are supported (the Wan 2.1 VAE)", label,
                       c->z_dim, RAD_LATENT_CHANNELS);
    for (int i = 0; i < 16; i++)
        if (!(c->latents_std[i] > 0))
            return rad_err(RADIAL_ERR_MODEL, "%s: latents_std[%d] = %g, expected a positive number", label, i, c->latents_std[i]);
    if ((long long)c->base_dim * 64 > MAX_DIM) return rad_err(RADIAL_ERR_MODEL, "%s: base_dim %d is too large", label, c->base_dim);

    /* The key tensors must match the final configuration. */
    const int64_t top = (int64_t)c->base_dim * c->dim_mult[3];
    RAD_TRY(expect(w, "conv2.weight", 5, (const int64_t[]){c->z_dim, c->z_dim, 1, 1, 1}));
    RAD_TRY(expect(w, "decoder.conv1.weight", 5, (const int64_t[]){top, c->z_dim, 3, 3, 3}));
    RAD_TRY(expect(w, "decoder.head.2.weight", 5, (const int64_t[]){3, (int64_t)c->base_dim * c->dim_mult[0], 3, 3, 3}));
    stride = c->num_res_blocks + 2;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "decoder.upsamples.%d.residual.2.weight", i * stride);
        RAD_TRY(expect(w, name, 5, (const int64_t[]){(int64_t)c->base_dim * c->dim_mult[3 - i], -1, 3, 3, 3}));
    }
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "decoder.upsamples.%d.time_conv.weight", i * stride + c->num_res_blocks + 1);
        if ((rad_weights_find(w, name) != NULL) != (c->temporal_upsample[i] != 0))
            return rad_err(RADIAL_ERR_MODEL, "configuration and weights disagree: %s: temporal upsampling of stage %d is %s but tensor '%s' is %s",
                           label, i, c->temporal_upsample[i] ? "on" : "off", name, c->temporal_upsample[i] ? "missing" : "present");
    }
    return RAD_OK;
}
