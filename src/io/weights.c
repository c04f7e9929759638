/* Weights by official Wan names over one file, the shards of an index.json, a component folder or a
 * diffusers root. The on-disk layout is detected from the tensor names and mapped with the tables of spec
 * wan21.md §5.2 (DiT), §5.3 (T5) and §5.4 (VAE). */
#include "io/weights.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"
#include "io/file.h"
#include "io/json.h"
#include "io/gguf.h"

typedef struct w_entry {
    const rad_st_tensor *t;
    char *official;   /* NULL when the name has no official counterpart (kept for inspect, never looked up) */
    const char *path; /* the file holding it (for messages) */
} w_entry;

struct rad_weights {
    char *label;
    char *config; /* config.json path or NULL */
    rad_component comp;
    const char *layout;
    rad_st_file **files; /* safetensors files */
    size_t n_files;
    rad_gguf **ggufs; /* GGUF files */
    size_t n_ggufs;
    w_entry *all; /* every tensor of every file, in file order */
    size_t n_all;
    w_entry **by_name; /* mapped entries sorted by official name */
    size_t n_mapped;
};

const char *rad_component_name(rad_component c) { return c == RAD_COMP_DIT ? "DiT" : c == RAD_COMP_T5 ? "T5" : "VAE"; }


/* ---------------------------------------------------------------------------------------------------------- */
/* Paths */

/* The folder holding a file ("." when the path has no slash). */
static rad_status dir_of(const char *path, char **out) {
    const char *s = strrchr(path, '/');
    size_t n = s ? (size_t)(s - path) : 1;
    if (s == path) n = 1; /* "/file" */
    *out = malloc(n + 1);
    if (!*out) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory taking its folder", path);
    memcpy(*out, s ? path : ".", n);
    (*out)[n] = 0;
    return RAD_OK;
}

/* Sets w->config to dir/config.json when that file exists. */
static rad_status find_config(rad_weights *w, const char *dir) {
    char *p;
    RAD_TRY(rad_path_join(dir, "config.json", &p));
    if (rad_is_file(p))
        w->config = p;
    else
        free(p);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Name maps: each returns a newly allocated official name, or NULL when the name has no official counterpart.
 * (An allocation failure of these few bytes also gives NULL; the tensor then reads as missing.) */

typedef struct {
    const char *from, *to;
} name_rule;

static char *cat3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* Applies the first rule whose `from` is a prefix of name (rules ending without '.' must match exactly). */
static char *apply(const name_rule *rules, size_t n, const char *head, const char *name) {
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(rules[i].from);
        bool prefix = rules[i].from[k - 1] == '.';
        if (prefix ? !strncmp(name, rules[i].from, k) : !strcmp(name, rules[i].from))
            return cat3(head, rules[i].to, prefix ? name + k : "");
    }
    return NULL;
}

/* "blocks.12.rest" -> index text "12" and rest; false when name does not start so. */
static bool split_block(const char *name, const char *prefix, char *idx, size_t idx_size, const char **rest) {
    size_t k = strlen(prefix), d = 0;
    if (strncmp(name, prefix, k)) return false;
    while (name[k + d] >= '0' && name[k + d] <= '9') d++;
    if (d == 0 || d >= idx_size || name[k + d] != '.') return false;
    memcpy(idx, name + k, d);
    idx[d] = 0;
    *rest = name + k + d + 1;
    return true;
}

static const name_rule k_dit_top[] = {
    {"condition_embedder.text_embedder.linear_1.", "text_embedding.0."},
    {"condition_embedder.text_embedder.linear_2.", "text_embedding.2."},
    {"condition_embedder.time_embedder.linear_1.", "time_embedding.0."},
    {"condition_embedder.time_embedder.linear_2.", "time_embedding.2."},
    {"condition_embedder.time_proj.", "time_projection.1."},
    {"scale_shift_table", "head.modulation"},
    {"proj_out.", "head.head."},
    {"patch_embedding.", "patch_embedding."},
};
static const name_rule k_dit_block[] = {
    {"scale_shift_table", "modulation"},
    {"attn1.to_q.", "self_attn.q."},
    {"attn1.to_k.", "self_attn.k."},
    {"attn1.to_v.", "self_attn.v."},
    {"attn1.to_out.0.", "self_attn.o."},
    {"attn1.norm_q.", "self_attn.norm_q."},
    {"attn1.norm_k.", "self_attn.norm_k."},
    {"attn2.to_q.", "cross_attn.q."},
    {"attn2.to_k.", "cross_attn.k."},
    {"attn2.to_v.", "cross_attn.v."},
    {"attn2.to_out.0.", "cross_attn.o."},
    {"attn2.norm_q.", "cross_attn.norm_q."},
    {"attn2.norm_k.", "cross_attn.norm_k."},
    {"norm2.", "norm3."},
    {"ffn.net.0.proj.", "ffn.0."},
    {"ffn.net.2.", "ffn.2."},
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char *map_dit_diffusers(const char *name) {
    char idx[16], head[32];
    const char *rest;
    if (split_block(name, "blocks.", idx, sizeof idx, &rest)) {
        snprintf(head, sizeof head, "blocks.%s.", idx);
        return apply(k_dit_block, N_OF(k_dit_block), head, rest);
    }
    return apply(k_dit_top, N_OF(k_dit_top), "", name);
}

char *rad_weights_dit_official_name(const char *diffusers_name) { return map_dit_diffusers(diffusers_name); }

static const name_rule k_t5_top[] = {
    {"shared.weight", "token_embedding.weight"},
    {"encoder.embed_tokens.weight", "token_embedding.weight"}, /* tied copy of shared.weight */
    {"encoder.final_layer_norm.", "norm."},
    {"spiece_model", "spiece_model"}, /* ComfyUI single-file umT5 carries its tokenizer as a U8 tensor */
};
static const name_rule k_t5_block[] = {
    {"layer.0.layer_norm.", "norm1."},
    {"layer.0.SelfAttention.relative_attention_bias.", "pos_embedding.embedding."},
    {"layer.0.SelfAttention.", "attn."},
    {"layer.1.layer_norm.", "norm2."},
    {"layer.1.DenseReluDense.wi_0.", "ffn.gate.0."},
    {"layer.1.DenseReluDense.wi_1.", "ffn.fc1."},
    {"layer.1.DenseReluDense.wo.", "ffn.fc2."},
};

static char *map_t5_hf(const char *name) {
    char idx[16], head[32];
    const char *rest;
    if (split_block(name, "encoder.block.", idx, sizeof idx, &rest)) {
        snprintf(head, sizeof head, "blocks.%s.", idx);
        return apply(k_t5_block, N_OF(k_t5_block), head, rest);
    }
    return apply(k_t5_top, N_OF(k_t5_top), "", name);
}

/* Diffusers resnet parts -> official `residual` sequence indices (RMSNorm, SiLU, conv, RMSNorm, SiLU, dropout,
 * conv). */
static const name_rule k_vae_resnet[] = {
    {"norm1.", "residual.0."}, {"conv1.", "residual.2."}, {"norm2.", "residual.3."},
    {"conv2.", "residual.6."}, {"conv_shortcut.", "shortcut."},
};
static const name_rule k_vae_top[] = {
    {"quant_conv.", "conv1."},
    {"post_quant_conv.", "conv2."},
};
static const name_rule k_vae_side[] = {
    {"conv_in.", "conv1."},
    {"norm_out.", "head.0."},
    {"conv_out.", "head.2."},
    {"mid_block.attentions.0.", "middle.1."},
};

/* nrb = num_res_blocks: each decoder up block holds nrb+1 resnets and (except the last) one upsampler, which
 * the official model lays out flat in `decoder.upsamples`. */
static char *map_vae_diffusers(const char *name, int nrb) {
    char *r = apply(k_vae_top, N_OF(k_vae_top), "", name);
    if (r) return r;
    for (int side = 0; side < 2; side++) {
        const char *pre = side ? "decoder." : "encoder.";
        if (strncmp(name, pre, 8)) continue;
        const char *s = name + 8;
        char idx[16], idx2[16], head[64];
        const char *rest, *rest2;
        if ((r = apply(k_vae_side, N_OF(k_vae_side), pre, s))) return r;
        if (split_block(s, "mid_block.resnets.", idx, sizeof idx, &rest)) {
            if (strcmp(idx, "0") && strcmp(idx, "1")) return NULL;
            snprintf(head, sizeof head, "%smiddle.%d.", pre, idx[0] == '0' ? 0 : 2);
            return apply(k_vae_resnet, N_OF(k_vae_resnet), head, rest);
        }
        if (!side && split_block(s, "down_blocks.", idx, sizeof idx, &rest)) {
            snprintf(head, sizeof head, "encoder.downsamples.%s.", idx);
            if (!strncmp(rest, "resample.", 9) || !strncmp(rest, "time_conv.", 10)) return cat3(head, rest, "");
            return apply(k_vae_resnet, N_OF(k_vae_resnet), head, rest);
        }
        if (side && split_block(s, "up_blocks.", idx, sizeof idx, &rest)) {
            long b = strtol(idx, NULL, 10);
            if (b > 1000) return NULL;
            if (split_block(rest, "resnets.", idx2, sizeof idx2, &rest2)) {
                long k = strtol(idx2, NULL, 10);
                if (k > nrb) return NULL;
                snprintf(head, sizeof head, "decoder.upsamples.%ld.", b * (nrb + 2) + k);
                return apply(k_vae_resnet, N_OF(k_vae_resnet), head, rest2);
            }
            if (!strncmp(rest, "upsamplers.0.", 13)) {
                snprintf(head, sizeof head, "decoder.upsamples.%ld.", b * (nrb + 2) + nrb + 1);
                return cat3(head, rest + 13, "");
            }
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Layout detection and the index */

static bool any_name(const rad_weights *w, const char *prefix, const char *exact) {
    for (size_t i = 0; i < w->n_all; i++) {
        const char *n = w->all[i].t->name;
        if ((prefix && !strncmp(n, prefix, strlen(prefix))) || (exact && !strcmp(n, exact))) return true;
    }
    return false;
}

/* num_res_blocks of a diffusers VAE: decoder up blocks hold num_res_blocks+1 resnets (Wan: 2). */
static int vae_num_res_blocks(const rad_weights *w) {
    long max_k = -1;
    for (size_t i = 0; i < w->n_all; i++) {
        char idx[16], idx2[16];
        const char *rest, *rest2;
        if (split_block(w->all[i].t->name, "decoder.up_blocks.", idx, sizeof idx, &rest) &&
            split_block(rest, "resnets.", idx2, sizeof idx2, &rest2)) {
            long k = strtol(idx2, NULL, 10);
            if (k > max_k && k < 64) max_k = k;
        }
    }
    return max_k >= 0 ? (int)max_k : 2;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(w_entry *const *)a)->official, (*(w_entry *const *)b)->official);
}

static rad_status build_index(rad_weights *w) {
    enum { OFFICIAL, PREFIXED, DIT_DIFFUSERS, T5_HF, VAE_DIFFUSERS } kind = OFFICIAL;
    static const char *const PFX = "model.diffusion_model.";
    if (w->comp == RAD_COMP_DIT) {
        if (any_name(w, PFX, NULL))
            kind = PREFIXED, w->layout = "official names with the model.diffusion_model. prefix (single-file repack)";
        else if (any_name(w, "condition_embedder.", NULL) || any_name(w, NULL, "proj_out.weight"))
            kind = DIT_DIFFUSERS, w->layout = "diffusers (WanTransformer3DModel)";
        else
            w->layout = "official (WanModel)";
    } else if (w->comp == RAD_COMP_T5) {
        if (any_name(w, "encoder.block.", NULL) || any_name(w, NULL, "shared.weight"))
            kind = T5_HF, w->layout = "Hugging Face (UMT5EncoderModel)";
        else
            w->layout = "official (Wan T5 encoder)";
    } else {
        if (any_name(w, "decoder.up_blocks.", NULL) || any_name(w, "post_quant_conv.", NULL))
            kind = VAE_DIFFUSERS, w->layout = "diffusers (AutoencoderKLWan)";
        else
            w->layout = "official (WanVAE)";
    }
    int nrb = kind == VAE_DIFFUSERS ? vae_num_res_blocks(w) : 0;
    for (size_t i = 0; i < w->n_all; i++) {
        const char *n = w->all[i].t->name;
        char *o = NULL;
        switch (kind) {
        case OFFICIAL: o = strdup(n); break;
        case PREFIXED: o = strncmp(n, PFX, strlen(PFX)) ? NULL : strdup(n + strlen(PFX)); break;
        case DIT_DIFFUSERS: o = map_dit_diffusers(n); break;
        case T5_HF: o = map_t5_hf(n); break;
        case VAE_DIFFUSERS: o = map_vae_diffusers(n, nrb); break;
        }
        w->all[i].official = o;
        if (o) w->n_mapped++;
    }
    if (w->n_mapped == 0)
        return rad_err(RADIAL_ERR_MODEL, "%s: no %s tensors found among %zu tensors (is this the right component?)", w->label,
                       rad_component_name(w->comp), w->n_all);
    w->by_name = malloc(w->n_mapped * sizeof *w->by_name);
    if (!w->by_name) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", w->label);
    size_t k = 0;
    for (size_t i = 0; i < w->n_all; i++)
        if (w->all[i].official) w->by_name[k++] = &w->all[i];
    qsort(w->by_name, w->n_mapped, sizeof *w->by_name, cmp_entry);
    /* Two names for one official tensor: only the tied T5 embedding may do that (then both are the same). */
    size_t out = 0;
    for (size_t i = 0; i < w->n_mapped; i++) {
        if (out && !strcmp(w->by_name[out - 1]->official, w->by_name[i]->official)) {
            const rad_st_tensor *a = w->by_name[out - 1]->t, *b = w->by_name[i]->t;
            if (kind == T5_HF && !strcmp(w->by_name[i]->official, "token_embedding.weight")) {
                if (a->ndim == b->ndim && !memcmp(a->shape, b->shape, sizeof a->shape)) continue;
            }
            return rad_err(RADIAL_ERR_MODEL, "%s: tensors '%s' and '%s' both map to the official name '%s'", w->label, a->name,
                           b->name, w->by_name[i]->official);
        }
        w->by_name[out++] = w->by_name[i];
    }
    w->n_mapped = out;
    /* A tensor every model of the component has: catches a file of another component early. */
    const char *key = w->comp == RAD_COMP_DIT ? "patch_embedding.weight"
                      : w->comp == RAD_COMP_T5 ? "token_embedding.weight"
                                               : "decoder.conv1.weight";
    if (!rad_weights_find(w, key))
        return rad_err(RADIAL_ERR_MODEL, "%s: not %s weights: no tensor maps to '%s' (layout: %s; %zu tensors)", w->label,
                       rad_component_name(w->comp), key, w->layout, w->n_all);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Opening */

/* A file that is no safetensors file: say what it is when it is one of the files users pass by mistake (a JSON
 * config or index, a sentencepiece tokenizer), else keep the reader's message. */
static rad_status not_weights_hint(const char *path, rad_status st) {
    FILE *f = fopen(path, "rb");
    const int first = f ? fgetc(f) : EOF; /* a serialized ModelProto starts with field 1, wire type 2: 0x0a */
    int c = first;
    while (c == ' ' || c == '\n' || c == '\r' || c == '\t') c = fgetc(f);
    if (f) fclose(f);
    if (c == '{')
        return rad_err(RADIAL_ERR_FORMAT, "%s is a JSON file, not model weights (give the folder or the .safetensors file)", path);
    if (first == 0x0a && rad_ends_with(path, ".model"))
        return rad_err(RADIAL_ERR_FORMAT, "%s is a sentencepiece tokenizer model, not model weights (pass it as --tokenizer)",
                       path);
    return st;
}

static rad_status add_file(rad_weights *w, const char *path) {
    if (rad_gguf_sniff(path)) {
        rad_gguf **ng = realloc(w->ggufs, (w->n_ggufs + 1) * sizeof *ng);
        if (!ng) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory adding the file", path);
        w->ggufs = ng;
        RAD_TRY(rad_gguf_open(path, &w->ggufs[w->n_ggufs]));
        w->n_ggufs++;
        return RAD_OK;
    }
    rad_st_file **nf = realloc(w->files, (w->n_files + 1) * sizeof *nf);
    if (!nf) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory adding the file", path);
    w->files = nf;
    rad_status st = rad_st_open(path, &w->files[w->n_files]);
    if (st != RAD_OK) return not_weights_hint(path, st);
    w->n_files++;
    return RAD_OK;
}

/* Shard names must be plain file names in the index's folder: no path separators, no "." or "..". */
static bool safe_shard_name(const char *s) {
    return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && !strchr(s, '\\');
}

/* Whether f is the shard file named `name` (opened as <index folder>/name). */
static bool is_shard(const rad_st_file *f, const char *name) {
    const char *slash = strrchr(rad_st_path(f), '/');
    return slash && !strcmp(slash + 1, name);
}

static rad_status open_index(rad_weights *w, const char *path) {
    json_t *root;
    RAD_TRY(rad_json_load(path, &root));
    rad_status st = RAD_OK;
    char *dir = NULL, *shard = NULL;
    const json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(root) || !json_is_object(map)) {
        st = rad_err(RADIAL_ERR_FORMAT,
                     "%s: expected a *.safetensors.index.json (an object with a \"weight_map\" object); for a model, give "
                     "its folder or its .safetensors file", path);
        goto done;
    }
    if ((st = dir_of(path, &dir)) != RAD_OK) goto done;
    /* Open each distinct shard once, in order of first mention. */
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)map, name, v) {
        if (!json_is_string(v)) {
            st = rad_err(RADIAL_ERR_FORMAT, "%s: weight_map[\"%s\"]: expected a shard file name (string)", path, name);
            goto done;
        }
        const char *s = json_string_value(v);
        if (!safe_shard_name(s)) {
            st = rad_err(RADIAL_ERR_FORMAT, "%s: weight_map[\"%s\"]: shard \"%s\" must be a file name inside the index's folder",
                         path, name, s);
            goto done;
        }
        bool have = false;
        for (size_t i = 0; i < w->n_files && !have; i++) have = is_shard(w->files[i], s);
        if (have) continue;
        if ((st = rad_path_join(dir, s, &shard)) != RAD_OK) goto done;
        if (!rad_is_file(shard)) {
            struct stat sb;
            st = rad_err(RADIAL_ERR_IO, "%s: shard \"%s\" (for tensor '%s') %s", path, shard, name,
                         stat(shard, &sb) == 0 ? "is not a regular file" : "does not exist");
            goto done;
        }
        if ((st = add_file(w, shard)) != RAD_OK) goto done;
        free(shard);
        shard = NULL;
    }
    if (w->n_files == 0) {
        st = rad_err(RADIAL_ERR_FORMAT, "%s: weight_map is empty", path);
        goto done;
    }
    /* Every mapped name must be in the shard the index names. */
    json_object_foreach((json_t *)map, name, v) {
        const char *s = json_string_value(v);
        for (size_t i = 0; i < w->n_files; i++) {
            if (!is_shard(w->files[i], s)) continue;
            if (!rad_st_find(w->files[i], name)) {
                st = rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' is mapped to shard \"%s\", which does not contain it", path, name, s);
                goto done;
            }
        }
    }
    st = find_config(w, dir);
done:
    free(shard);
    free(dir);
    json_decref(root);
    return st;
}

/* Case-insensitive substring test. */
static bool contains_ci(const char *s, const char *sub) {
    for (; *s; s++) {
        size_t k = 0;
        while (sub[k] && s[k] && tolower((unsigned char)s[k]) == sub[k]) k++;
        if (!sub[k]) return true;
    }
    return false;
}

/* In the official repo layout one folder holds every component (Wan2.1_VAE, models_t5_umt5-xxl-enc, the DiT
 * as diffusion_pytorch_model): the T5 and VAE files are found by "t5" / "vae" in their names. Sets *out to the
 * single match, or NULL when there is none; several matches are an error (the caller must name the file). */
static rad_status find_named(const rad_weights *w, const char *dir, const char *key, char **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return rad_err(RADIAL_ERR_IO, "%s: cannot list the folder: %s", dir, strerror(errno));
    rad_status st = RAD_OK;
    struct dirent *e;
    char pickle[256] = "";
    while ((e = readdir(d)) != NULL) {
        if (rad_ends_with(e->d_name, ".pth") && contains_ci(e->d_name, key))
            snprintf(pickle, sizeof pickle, "%s", e->d_name);
        if (!rad_ends_with(e->d_name, ".safetensors") || !contains_ci(e->d_name, key)) continue;
        if (*out) {
            st = rad_err(RADIAL_ERR_IO, "%s: several %s files (%s, %s); pass the file itself", dir, rad_component_name(w->comp),
                         strrchr(*out, '/') + 1, e->d_name);
            break;
        }
        if ((st = rad_path_join(dir, e->d_name, out)) != RAD_OK) break;
    }
    closedir(d);
    if (st == RAD_OK && !*out && pickle[0])
        /* The official download ships T5 and VAE as PyTorch pickles, which can run code when loaded. */
        st = rad_err(RADIAL_ERR_UNSUPPORTED,
                     "%s: the %s is only here as %s, a PyTorch pickle, which radial does not read; convert it once: "
                     "python3 -c \"import torch, safetensors.torch as s; s.save_file(torch.load('%s', "
                     "weights_only=True), '%.*s.safetensors')\"",
                     dir, rad_component_name(w->comp), pickle, pickle, (int)(strlen(pickle) - 4), pickle);
    if (st != RAD_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* In a folder of ComfyUI's repackaged single files (wan2.1_t2v_1.3B_fp16.safetensors, a city96 *.gguf,
 * umt5_xxl_fp8_e4m3fn_scaled.safetensors, wan_2.1_vae.safetensors) the DiT is the one model file that is not
 * the text encoder, the VAE or a LoRA. *out = NULL when there is none. */
static rad_status find_comfy_dit(const char *dir, char **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return rad_err(RADIAL_ERR_IO, "%s: cannot list the folder: %s", dir, strerror(errno));
    rad_status st = RAD_OK;
    struct dirent *e;
    static const char *const k_not_dit[] = {"t5", "vae", "lora", "clip", "umt5"};
    while ((e = readdir(d)) != NULL) {
        if (!rad_ends_with(e->d_name, ".safetensors") && !rad_ends_with(e->d_name, ".gguf")) continue;
        bool other = false;
        for (size_t i = 0; i < N_OF(k_not_dit); i++) other |= contains_ci(e->d_name, k_not_dit[i]);
        if (other) continue;
        if (*out) {
            st = rad_err(RADIAL_ERR_IO, "%s: several DiT candidates (%s, %s); name one with --dit FILE", dir,
                         strrchr(*out, '/') + 1, e->d_name);
            break;
        }
        if ((st = rad_path_join(dir, e->d_name, out)) != RAD_OK) break;
    }
    closedir(d);
    if (st != RAD_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* A folder holding one component (diffusers names), the official repo folder, or ComfyUI's file names. */
static rad_status open_component_dir(rad_weights *w, const char *dir) {
    static const char *const k_names[] = {
        "diffusion_pytorch_model.safetensors.index.json",
        "model.safetensors.index.json",
        "diffusion_pytorch_model.safetensors",
        "model.safetensors",
    };
    char *p = NULL;
    if (w->comp != RAD_COMP_DIT) {
        RAD_TRY(find_named(w, dir, w->comp == RAD_COMP_T5 ? "t5" : "vae", &p));
        if (p) { /* the folder's config.json is the DiT's: this file has none */
            rad_status st = add_file(w, p);
            free(p);
            return st;
        }
    }
    for (size_t i = 0; i < N_OF(k_names); i++) {
        RAD_TRY(rad_path_join(dir, k_names[i], &p));
        if (rad_is_file(p)) {
            rad_status st = rad_ends_with(p, ".json") ? open_index(w, p) : add_file(w, p);
            if (st == RAD_OK && !w->config) st = find_config(w, dir);
            free(p);
            return st;
        }
        free(p);
    }
    if (w->comp == RAD_COMP_DIT) {
        RAD_TRY(find_comfy_dit(dir, &p));
        if (p) {
            rad_status st = add_file(w, p);
            if (st == RAD_OK) st = find_config(w, dir);
            free(p);
            return st;
        }
    }
    return rad_err(RADIAL_ERR_IO,
                   "%s: no %s weights found (expected diffusion_pytorch_model.safetensors, model.safetensors, a "
                   "*.safetensors.index.json%s)",
                   dir, rad_component_name(w->comp), w->comp == RAD_COMP_DIT ? "" : w->comp == RAD_COMP_T5 ? " or *t5*.safetensors" : " or *vae*.safetensors");
}

static rad_status open_path(rad_weights *w, const char *path) {
    if (rad_is_dir(path)) {
        char *idx;
        RAD_TRY(rad_path_join(path, "model_index.json", &idx));
        bool root = rad_is_file(idx);
        free(idx);
        if (!root) return open_component_dir(w, path);
        /* A diffusers root: the component's folder. */
        const char *sub = w->comp == RAD_COMP_DIT ? "transformer" : w->comp == RAD_COMP_T5 ? "text_encoder" : "vae";
        char *d;
        RAD_TRY(rad_path_join(path, sub, &d));
        rad_status st = rad_is_dir(d) ? open_component_dir(w, d)
                                  : rad_err(RADIAL_ERR_IO, "%s: diffusers folder without %s/ for the %s", path, sub, rad_component_name(w->comp));
        free(d);
        return st;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) return rad_err(RADIAL_ERR_IO, "%s: no such file or folder", path);
    if (!S_ISREG(sb.st_mode)) return rad_err(RADIAL_ERR_IO, "%s: not a regular file or a folder", path);
    if (rad_ends_with(path, ".json")) return open_index(w, path);
    RAD_TRY(add_file(w, path));
    char *dir;
    RAD_TRY(dir_of(path, &dir));
    rad_status st = find_config(w, dir);
    free(dir);
    return st;
}

rad_status rad_weights_open(const char *path, rad_component comp, rad_weights **out) {
    *out = NULL;
    rad_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->label = strdup(path))) {
        free(w);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory opening %s", path);
    }
    w->comp = comp;
    rad_status st = open_path(w, path);
    if (st == RAD_OK) {
        for (size_t i = 0; i < w->n_files; i++) w->n_all += rad_st_count(w->files[i]);
        for (size_t i = 0; i < w->n_ggufs; i++) w->n_all += rad_gguf_count(w->ggufs[i]);
        w->all = calloc(w->n_all ? w->n_all : 1, sizeof *w->all);
        if (!w->all) st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == RAD_OK) {
        size_t k = 0;
        for (size_t i = 0; i < w->n_files; i++)
            for (size_t j = 0; j < rad_st_count(w->files[i]); j++) {
                w->all[k].t = rad_st_at(w->files[i], j);
                w->all[k++].path = rad_st_path(w->files[i]);
            }
        for (size_t i = 0; i < w->n_ggufs; i++)
            for (size_t j = 0; j < rad_gguf_count(w->ggufs[i]); j++) {
                w->all[k].t = rad_gguf_at(w->ggufs[i], j);
                w->all[k++].path = rad_gguf_path(w->ggufs[i]);
            }
        st = build_index(w);
    }
    if (st != RAD_OK) {
        rad_weights_close(w);
        return st;
    }
    *out = w;
    return RAD_OK;
}

void rad_weights_close(rad_weights *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_all; i++) free(w->all[i].official);
    free(w->all);
    free(w->by_name);
    for (size_t i = 0; i < w->n_files; i++) rad_st_close(w->files[i]);
    free(w->files);
    for (size_t i = 0; i < w->n_ggufs; i++) rad_gguf_close(w->ggufs[i]);
    free(w->ggufs);
    free(w->config);
    free(w->label);
    free(w);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Lookups */

const char *rad_weights_config_path(const rad_weights *w) { return w->config; }
const char *rad_weights_label(const rad_weights *w) { return w->label; }
const char *rad_weights_layout(const rad_weights *w) { return w->layout; }
rad_component rad_weights_component(const rad_weights *w) { return w->comp; }
size_t rad_weights_count(const rad_weights *w) { return w->n_all; }
size_t rad_weights_mapped_count(const rad_weights *w) { return w->n_mapped; }

const rad_st_tensor *rad_weights_at(const rad_weights *w, size_t i, const char **official) {
    if (i >= w->n_all) return NULL;
    if (official) *official = w->all[i].official;
    return w->all[i].t;
}

size_t rad_weights_file_count(const rad_weights *w) { return w->n_files; }
const rad_st_file *rad_weights_file(const rad_weights *w, size_t i) { return i < w->n_files ? w->files[i] : NULL; }
size_t rad_weights_gguf_count(const rad_weights *w) { return w->n_ggufs; }
const rad_gguf *rad_weights_gguf(const rad_weights *w, size_t i) { return i < w->n_ggufs ? w->ggufs[i] : NULL; }

static int cmp_official_key(const void *name, const void *entry) {
    return strcmp(name, (*(w_entry *const *)entry)->official);
}

static const w_entry *find_entry(const rad_weights *w, const char *name) {
    w_entry *const *e = w->n_mapped ? bsearch(name, w->by_name, w->n_mapped, sizeof *w->by_name, cmp_official_key) : NULL;
    return e ? *e : NULL;
}

size_t rad_weights_index(const rad_weights *w, const char *official_name) {
    const w_entry *e = find_entry(w, official_name);
    return e ? (size_t)(e - w->all) : SIZE_MAX;
}

const rad_st_tensor *rad_weights_find(const rad_weights *w, const char *official_name) {
    const w_entry *e = find_entry(w, official_name);
    return e ? e->t : NULL;
}

rad_status rad_weights_get(const rad_weights *w, const char *official_name, int ndim, const int64_t *shape,
                           const rad_st_tensor **out) {
    *out = NULL;
    const w_entry *e = find_entry(w, official_name);
    if (!e)
        return rad_err(RADIAL_ERR_MODEL, "%s: missing %s tensor '%s' (layout: %s)", w->label, rad_component_name(w->comp), official_name,
                       w->layout);
    const rad_st_tensor *t = e->t;
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char want[160], got[160];
        rad_shape_str(shape, ndim, want, sizeof want);
        rad_shape_str(t->shape, t->ndim, got, sizeof got);
        char stored[256] = "";
        if (strcmp(t->name, official_name)) snprintf(stored, sizeof stored, " (stored as '%s')", t->name);
        return rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s'%s: expected shape %s, found %s", e->path,
                       official_name, stored, want, got);
    }
    *out = t;
    return RAD_OK;
}

rad_status rad_weights_f32(const rad_weights *w, const char *official_name, int ndim, const int64_t *shape, float **out) {
    const rad_st_tensor *t;
    *out = NULL;
    RAD_TRY(rad_weights_get(w, official_name, ndim, shape, &t));
    size_t bytes;
    if (!rad_mul_size((size_t)t->numel, sizeof(float), &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "%s: tensor '%s' is too large", w->label, official_name);
    void *p;
    RAD_TRY(rad_alloc(&p, bytes, official_name));
    rad_status st = rad_st_to_f32(t, p);
    if (st != RAD_OK) {
        rad_free(p);
        return rad_err_prefix(st, "%s: ", w->label);
    }
    *out = p;
    return RAD_OK;
}
