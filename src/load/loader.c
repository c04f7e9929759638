/* The loading path every model shares (see loader.h). */
#include "load/loader.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/timer.h"
#include "io/quants.h"

struct rad_loader {
    const rad_weights *w;
    rad_backend *be;
    rad_lora *const *loras;
    size_t n_loras;
    bool *used; /* per tensor of w, in rad_weights_at order */
    bool streamed; /* weights go to be->weight_new_host (rad_loader_set_streamed) */
    size_t n;
    rad_load_stats st;
    double t0;
};

rad_status rad_loader_new(const rad_weights *w, rad_backend *be, rad_lora *const *loras, size_t n_loras,
                          rad_loader **out) {
    *out = NULL;
    rad_loader *l;
    RAD_TRY(rad_calloc((void **)&l, 1, sizeof *l, "loader"));
    l->w = w, l->be = be, l->loras = loras, l->n_loras = n_loras, l->n = rad_weights_count(w);
    rad_status s = rad_calloc((void **)&l->used, l->n ? l->n : 1, sizeof *l->used, "loader tensor marks");
    if (s != RAD_OK) {
        rad_free(l);
        return s;
    }
    l->t0 = rad_now();
    *out = l;
    return RAD_OK;
}

void rad_loader_free(rad_loader *l) {
    if (!l) return;
    rad_free(l->used);
    rad_free(l);
}

const rad_weights *rad_loader_weights(const rad_loader *l) { return l->w; }

static void mark(rad_loader *l, const char *name, const rad_st_tensor *t) {
    const size_t i = rad_weights_index(l->w, name);
    if (i < l->n && !l->used[i]) {
        l->used[i] = true;
        l->st.tensors++;
        l->st.file_bytes += t->nbytes;
    }
}

/* The scaled-fp8 scale of `name` ("X.weight" -> "X.scale_weight"): *scale = NULL when there is none, else a
 * new fp32 array of 1 or `rows` values. */
static rad_status find_scale(rad_loader *l, const char *name, int64_t rows, float **scale, int64_t *n_scale) {
    *scale = NULL, *n_scale = 0;
    const size_t k = strlen(name);
    if (k < 7 || strcmp(name + k - 7, ".weight")) return RAD_OK;
    char sname[256];
    if (snprintf(sname, sizeof sname, "%.*s.scale_weight", (int)(k - 7), name) >= (int)sizeof sname) return RAD_OK;
    const rad_st_tensor *t = rad_weights_find(l->w, sname);
    if (!t) return RAD_OK;
    if (t->numel != 1 && t->numel != rows)
        return rad_err(RADIAL_ERR_MODEL, "%s: '%s' holds %lld scales; '%s' has %lld rows (expected 1 or one per row)",
                       rad_weights_label(l->w), sname, (long long)t->numel, name, (long long)rows);
    RAD_TRY(rad_alloc((void **)scale, (size_t)t->numel * sizeof(float), sname));
    rad_status s = rad_st_to_f32(t, *scale);
    if (s != RAD_OK) s = rad_err_prefix(s, "%s: ", rad_weights_label(l->w));
    for (int64_t i = 0; s == RAD_OK && i < t->numel; i++)
        if (!((*scale)[i] > 0.0f) || (*scale)[i] > 3.0e38f)
            s = rad_err(RADIAL_ERR_MODEL, "%s: '%s'[%lld] = %g is not a positive finite scale", rad_weights_label(l->w),
                        sname, (long long)i, (double)(*scale)[i]);
    if (s != RAD_OK) {
        rad_free(*scale);
        *scale = NULL;
        return s;
    }
    mark(l, sname, t);
    *n_scale = t->numel;
    return RAD_OK;
}

/* Adds every LoRA's delta for `name` to the fp32 data; *touched when one had a delta. */
static rad_status apply_loras(rad_loader *l, const char *name, int ndim, const int64_t *shape, float *data,
                              bool *touched) {
    *touched = false;
    for (size_t i = 0; i < l->n_loras; i++) {
        bool t = false;
        RAD_TRY(rad_lora_apply(l->loras[i], name, ndim, shape, data, &t));
        if (t) l->st.lora_merged++;
        *touched |= t;
    }
    return RAD_OK;
}

/* Whether some LoRA has a delta for `name`: only those weights take the fp32 merge; every other one reaches the
 * backend as stored (a 14B fp8 or GGUF DiT with a LoRA must not be expanded to fp32 whole on the host). */
static bool lora_targets(const rad_loader *l, const char *name) {
    for (size_t i = 0; i < l->n_loras; i++)
        for (size_t m = 0; m < rad_lora_module_count(l->loras[i]); m++) {
            const char *target;
            int rank;
            float alpha;
            rad_lora_module_at(l->loras[i], m, &target, &rank, &alpha);
            if (!strcmp(target, name)) return true;
        }
    return false;
}

/* The tensor, shape-checked, marked used, with its scale (if any) as a weight source. */
static rad_status get_src(rad_loader *l, const char *name, int ndim, const int64_t *shape, int64_t rows,
                          const rad_st_tensor **t, rad_weight_src *src, float **scale) {
    RAD_TRY(rad_weights_get(l->w, name, ndim, shape, t));
    int64_t n_scale;
    RAD_TRY(find_scale(l, name, rows, scale, &n_scale));
    *src = (rad_weight_src){(*t)->dtype, (*t)->data, *scale, n_scale};
    mark(l, name, *t);
    return RAD_OK;
}

/* The source as fp32 (scale applied), rows x cols. */
static rad_status src_to_f32(const rad_loader *l, const char *name, const rad_weight_src *src, int64_t rows,
                             int64_t cols, float **out) {
    size_t bytes, n;
    RAD_TRY(rad_weight_src_check("load", src, rows, cols, name, &bytes));
    if (!rad_mul_size((size_t)rows, (size_t)cols, &n) || !rad_mul_size(n, sizeof(float), &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "%s: tensor '%s' is too large", rad_weights_label(l->w), name);
    RAD_TRY(rad_alloc((void **)out, bytes, name));
    rad_weight_src_rows_f32(src, cols, 0, rows, *out);
    return RAD_OK;
}

rad_status rad_loader_weight(rad_loader *l, const char *name, int ndim, const int64_t *shape, int64_t rows,
                             int64_t cols, rad_weight **out) {
    *out = NULL;
    const rad_st_tensor *t;
    rad_weight_src src;
    float *scale = NULL, *merged = NULL;
    rad_status s = get_src(l, name, ndim, shape, rows, &t, &src, &scale);
    if (s == RAD_OK && t->numel != rows * cols)
        s = rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' has %lld elements, not %lld x %lld", rad_weights_label(l->w), name,
                    (long long)t->numel, (long long)rows, (long long)cols);
    if (s == RAD_OK && lora_targets(l, name)) {
        /* A LoRA merges in fp32 (W + strength·scale·B·A), so a touched weight reaches the backend as fp32. */
        bool touched = false;
        s = src_to_f32(l, name, &src, rows, cols, &merged);
        if (s == RAD_OK) s = apply_loras(l, name, ndim, t->shape, merged, &touched);
        if (s == RAD_OK && touched) src = rad_weight_src_f32(merged);
    }
    if (s == RAD_OK && (s = (l->streamed ? l->be->weight_new_host : l->be->weight_new)(l->be, &src, rows, cols, name, out)) != RAD_OK)
        s = rad_err_prefix(s, "%s: ", rad_weights_label(l->w)); /* the backend names the tensor, not the file */
    rad_free(merged);
    rad_free(scale);
    return s;
}

rad_status rad_loader_f32(rad_loader *l, const char *name, int ndim, const int64_t *shape, float **out) {
    *out = NULL;
    const rad_st_tensor *t;
    rad_weight_src src;
    float *scale = NULL;
    RAD_TRY(get_src(l, name, ndim, shape, 1, &t, &src, &scale)); /* one row: a scale is tensor-wide */
    bool touched;
    rad_status s = t->numel > 0 ? src_to_f32(l, name, &src, 1, t->numel, out)
                                : rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' is empty", rad_weights_label(l->w), name);
    if (s == RAD_OK) s = apply_loras(l, name, ndim, t->shape, *out, &touched);
    rad_free(scale);
    if (s != RAD_OK) {
        rad_free(*out);
        *out = NULL;
    }
    return s;
}

rad_status rad_loader_rows(rad_loader *l, const char *name, int ndim, const int64_t *shape, rad_weight_src *src) {
    const rad_st_tensor *t;
    float *scale = NULL;
    RAD_TRY(get_src(l, name, ndim, shape, ndim ? shape[0] : 1, &t, src, &scale));
    size_t bytes; /* (a LoRA delta for it would be reported unapplied by rad_loader_finish) */
    rad_status s = rad_weight_src_check("load", src, t->shape[0], t->numel / (t->shape[0] ? t->shape[0] : 1), name, &bytes);
    if (s != RAD_OK) {
        rad_free(scale);
        src->scale = NULL;
    }
    return s;
}

/* Tensors a file may hold that no model of the component reads. */
static bool ignorable(rad_component comp, const char *raw, const char *official) {
    const char *n = official ? official : raw;
    const size_t k = strlen(n);
    if (!strcmp(raw, "scaled_fp8") || (k >= 12 && !strcmp(n + k - 12, ".scale_input")))
        return true; /* the scaled-fp8 marker; input scales are for fp8 matmuls (radial computes in bf16/fp32) */
    switch (comp) {
    case RAD_COMP_T5: return !strcmp(n, "spiece_model"); /* read by the tokenizer */
    case RAD_COMP_VAE: /* radial decodes only: the encoder and its quant conv are never run */
        return !strncmp(n, "encoder.", 8) || !strncmp(n, "conv1.", 6) || !strncmp(raw, "quant_conv.", 11);
    case RAD_COMP_DIT: return false;
    }
    return false;
}

rad_status rad_loader_finish(rad_loader *l, rad_load_stats *stats) {
    const rad_component comp = rad_weights_component(l->w);
    size_t unused = 0;
    const char *first = NULL, *first_official = NULL;
    for (size_t i = 0; i < l->n; i++) {
        const char *official;
        const rad_st_tensor *t = rad_weights_at(l->w, i, &official);
        if (l->used[i] || ignorable(comp, t->name, official)) continue;
        /* a second name for a tensor that was read (the HF umT5's tied embed_tokens copy) */
        if (official) {
            const size_t j = rad_weights_index(l->w, official);
            if (j < l->n && l->used[j]) continue;
        }
        if (!unused++) first = t->name, first_official = official;
    }
    if (unused)
        return rad_err(RADIAL_ERR_MODEL,
                       "%s: tensor '%s'%s%s%s is not part of a Wan text-to-video %s (%zu such tensor%s); radial refuses "
                       "to run a checkpoint it does not fully understand",
                       rad_weights_label(l->w), first, first_official ? " (official name '" : "",
                       first_official ? first_official : "", first_official ? "')" : "", rad_component_name(comp), unused,
                       unused == 1 ? "" : "s");
    for (size_t i = 0; i < l->n_loras; i++) RAD_TRY(rad_lora_check_all_used(l->loras[i]));
    l->st.seconds = rad_now() - l->t0;
    if (stats) *stats = l->st;
    return RAD_OK;
}

void rad_loader_set_streamed(rad_loader *l, bool streamed) { l->streamed = streamed; }
