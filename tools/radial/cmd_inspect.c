/* radial inspect: what a model file or folder holds, as the loader sees it: the tensors (with their official
 * names), totals, metadata, the detected name layout and the detected configuration; for a LoRA its style,
 * ranks, alphas and the modules it touches; for a GGUF file its metadata. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_args.h"
#include "commands.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/lora.h"
#include "io/model_config.h"
#include "io/weights.h"

static const char *const k_comp_names[] = {"dit", "t5", "vae", NULL}; /* rad_component order */

/* Whether a file looks like a serialized sentencepiece ModelProto (field 1, wire type 2: the pieces), which
 * users pass by mistake: said so instead of a safetensors header error. */
static bool spm_magic(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    int c = fgetc(f);
    fclose(f);
    return c == 0x0a;
}

static const cli_usage usage = {
    .synopsis = "radial inspect PATH [options]",
    .about = "Lists what a model file or folder holds, as the loader sees it: the tensors (with their official "
             "names), totals, metadata, the detected name layout and the detected configuration; for a LoRA its "
             "style, ranks, alphas and the modules it touches; for a GGUF file its metadata.",
};

static void print_tensor(const rad_st_tensor *t, const char *official) {
    char shape[160];
    rad_shape_str(t->shape, t->ndim, shape, sizeof shape);
    if (official && strcmp(official, t->name))
        printf("  %-60s %-8s %-24s -> %s\n", t->name, t->dtype_name, shape, official);
    else if (official)
        printf("  %-60s %-8s %s\n", t->name, t->dtype_name, shape);
    else
        printf("  %-60s %-8s %-24s (unmapped)\n", t->name, t->dtype_name, shape);
}

/* One line per file, then its __metadata__. */
static void print_file(const rad_st_file *f) {
    struct stat sb;
    long long size = stat(rad_st_path(f), &sb) == 0 ? (long long)sb.st_size : -1;
    printf("file: %s (%lld bytes, %zu tensors)\n", rad_st_path(f), size, rad_st_count(f));
    for (size_t i = 0; i < rad_st_meta_count(f); i++) {
        const char *k, *v;
        rad_st_meta_at(f, i, &k, &v);
        printf("  metadata: %s = %s\n", k, v);
    }
}

/* One line per GGUF file, then its metadata. */
static void print_gguf(const rad_gguf *g) {
    struct stat sb;
    long long size = stat(rad_gguf_path(g), &sb) == 0 ? (long long)sb.st_size : -1;
    printf("file: %s (GGUF v%u, %lld bytes, %zu tensors)\n", rad_gguf_path(g), rad_gguf_version(g), size, rad_gguf_count(g));
    for (size_t i = 0; i < rad_gguf_meta_count(g); i++) {
        const char *k, *v;
        rad_gguf_meta_at(g, i, &k, &v);
        printf("  metadata: %s = %s\n", k, v);
    }
}

/* A LoRA: its style and every module with its target, rank and alpha. */
static void print_lora(const rad_lora *l, bool list) {
    printf("LoRA: %s\nstyle: %s\nmodules: %zu\n", rad_lora_path(l), rad_lora_style(l), rad_lora_module_count(l));
    int rmin = 0, rmax = 0, n_alpha = 0;
    float amin = 0, amax = 0;
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        const char *target;
        int rank;
        float alpha;
        rad_lora_module_at(l, i, &target, &rank, &alpha);
        if (rank && (!rmin || rank < rmin)) rmin = rank;
        if (rank > rmax) rmax = rank;
        if (rank && alpha == alpha) {
            amin = n_alpha && amin < alpha ? amin : alpha, amax = n_alpha && amax > alpha ? amax : alpha;
            n_alpha++;
        }
        if (!list) continue;
        if (rank && alpha == alpha)
            printf("  %-48s rank %d, alpha %g (scale %g)\n", target, rank, (double)alpha, (double)alpha / rank);
        else if (rank)
            printf("  %-48s rank %d, no alpha (scale 1)\n", target, rank);
        else
            printf("  %-48s %s\n", target, rad_ends_with(target, ".bias") ? "bias delta" : "full delta");
    }
    if (rmax && rmin == rmax) printf("rank: %d\n", rmax);
    if (rmax && rmin != rmax) printf("rank: %d to %d\n", rmin, rmax);
    if (!n_alpha && rmax) printf("alpha: none (scale 1)\n");
    if (n_alpha && amin == amax) printf("alpha: %g\n", (double)amin);
    if (n_alpha && amin != amax) printf("alpha: %g to %g\n", (double)amin, (double)amax);
}

static void print_config(const rad_weights *w, rad_component comp) {
    if (comp == RAD_COMP_DIT) {
        rad_dit_config c;
        if (rad_dit_config_detect(w, &c) != RAD_OK) {
            printf("config: error: %s\n", rad_last_error());
            return;
        }
        printf("config (DiT): dim %d, ffn_dim %d, num_heads %d x head_dim %d, num_layers %d, in_dim %d, out_dim %d,\n"
               "  text_dim %d, text_len %d, freq_dim %d, patch (%d, %d, %d), eps %g\n",
               c.dim, c.ffn_dim, c.num_heads, c.head_dim, c.num_layers, c.in_dim, c.out_dim, c.text_dim, c.text_len,
               c.freq_dim, c.patch_t, c.patch_h, c.patch_w, (double)c.eps);
    } else if (comp == RAD_COMP_T5) {
        rad_t5_config c;
        if (rad_t5_config_detect(w, &c) != RAD_OK) {
            printf("config: error: %s\n", rad_last_error());
            return;
        }
        printf("config (T5): vocab %d, d_model %d, num_heads %d x d_kv %d, d_ff %d, num_layers %d,\n"
               "  relative buckets %d, max distance %d, eps %g\n",
               c.vocab, c.d_model, c.num_heads, c.d_kv, c.d_ff, c.num_layers, c.num_buckets, c.max_distance, (double)c.eps);
    } else {
        rad_vae_config c;
        if (rad_vae_config_detect(w, &c) != RAD_OK) {
            printf("config: error: %s\n", rad_last_error());
            return;
        }
        printf("config (VAE): base_dim %d, z_dim %d, dim_mult [%d, %d, %d, %d], num_res_blocks %d,\n"
               "  decoder temporal upsample [%d, %d, %d], latents_mean[0] %g, latents_std[0] %g\n",
               c.base_dim, c.z_dim, c.dim_mult[0], c.dim_mult[1], c.dim_mult[2], c.dim_mult[3], c.num_res_blocks,
               c.temporal_upsample[0], c.temporal_upsample[1], c.temporal_upsample[2], (double)c.latents_mean[0],
               (double)c.latents_std[0]);
    }
}

static void print_totals(size_t n, unsigned long long params, unsigned long long bytes) {
    printf("totals: %zu tensors, %llu parameters, %llu bytes of data\n", n, params, bytes);
}

/* Every tensor of opened weights, with official names, then the configuration. */
static void print_weights(const rad_weights *w, rad_component comp, bool list) {
    const char *cn[] = {"DiT", "T5", "VAE"};
    printf("== %s: %s\n", cn[comp], rad_weights_label(w));
    for (size_t i = 0; i < rad_weights_file_count(w); i++) print_file(rad_weights_file(w, i));
    for (size_t i = 0; i < rad_weights_gguf_count(w); i++) print_gguf(rad_weights_gguf(w, i));
    printf("config.json: %s\n", rad_weights_config_path(w) ? rad_weights_config_path(w) : "(none)");
    printf("layout: %s\n", rad_weights_layout(w));
    unsigned long long params = 0, bytes = 0;
    size_t n = rad_weights_count(w);
    if (list) printf("tensors (file name, dtype, shape -> official name):\n");
    for (size_t i = 0; i < n; i++) {
        const char *official;
        const rad_st_tensor *t = rad_weights_at(w, i, &official);
        params += (unsigned long long)t->numel;
        bytes += t->nbytes;
        if (list) print_tensor(t, official);
    }
    print_totals(n, params, bytes);
    if (rad_weights_mapped_count(w) != n)
        printf("unmapped: %zu tensors have no official name and are not used\n", n - rad_weights_mapped_count(w));
    print_config(w, comp);
}

/* A safetensors file that is no model component: tensors, totals and metadata only. */
static int print_plain(const char *path, bool list) {
    rad_st_file *f;
    if (rad_st_open(path, &f) != RAD_OK) return cli_error("inspect");
    print_file(f);
    printf("component: none recognised (no DiT, T5 or VAE tensor names)\n");
    unsigned long long params = 0, bytes = 0;
    if (list) printf("tensors (name, dtype, shape):\n");
    for (size_t i = 0; i < rad_st_count(f); i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        params += (unsigned long long)t->numel;
        bytes += t->nbytes;
        if (list) print_tensor(t, t->name);
    }
    print_totals(rad_st_count(f), params, bytes);
    rad_st_close(f);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int comp = -1; /* a rad_component, or -1: guessed */
    bool summary = false;
    const cli_flag flags[] = {
        {NULL, NULL, CLI_TEXT, .value = &path, .arg = "PATH",
         .help = "a .safetensors or .gguf file, a *.safetensors.index.json, a component folder (transformer/, "
                 "text_encoder/, vae/), a diffusers root (model_index.json: every component is inspected) or a "
                 "LoRA"},
        {"--component", NULL, CLI_CHOICE, .value = &comp, .choices = k_comp_names,
         .help = "read PATH as this component; when not given, guessed from the tensor names"},
        {"--summary", NULL, CLI_SWITCH, .value = &summary, .help = "omit the tensor list"},
    };
    const int rc = cli_parse("inspect", &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (!path) return cli_usage_error("inspect", "PATH is required");
    const bool list = !summary;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "radial inspect: %s: no such file or folder\n", path);
        return 1;
    }

    /* A folder without --component: every component it holds (a diffusers root must hold all three). */
    if (S_ISDIR(sb.st_mode) && comp < 0) {
        char *idx;
        if (rad_path_join(path, "model_index.json", &idx) != RAD_OK) return cli_error("inspect");
        const bool root = rad_is_file(idx);
        free(idx);
        int rc = 0, found = 0;
        for (int c = 0; c < 3; c++) {
            rad_weights *w;
            if (rad_weights_open(path, (rad_component)c, &w) != RAD_OK) {
                if (root) fprintf(stderr, "radial inspect: %s: %s\n", k_comp_names[c], rad_last_error()), rc = 1;
                continue;
            }
            if (found++) printf("\n");
            print_weights(w, (rad_component)c, list);
            rad_weights_close(w);
        }
        if (!found) {
            fprintf(stderr, "radial inspect: %s: no DiT, T5 or VAE weights recognised (%s)\n", path, rad_last_error());
            return 1;
        }
        return rc;
    }

    /* One component: the one given, or the first whose key tensors are found. A single file is parsed first
     * so that a malformed file is reported as such, not as "no component recognised". */
    const bool is_file = S_ISREG(sb.st_mode) && !rad_ends_with(path, ".json");
    const bool is_gguf = is_file && rad_gguf_sniff(path), is_st_file = is_file && !is_gguf;
    if (is_gguf) {
        rad_gguf *g;
        if (rad_gguf_open(path, &g) != RAD_OK) return cli_error("inspect");
        rad_gguf_close(g);
    } else if (is_st_file) {
        rad_st_file *f;
        if (rad_st_open(path, &f) != RAD_OK) {
            if (spm_magic(path)) {
                fprintf(stderr, "radial inspect: %s is a sentencepiece tokenizer model, not a model weights file\n", path);
                return 1;
            }
            return cli_error("inspect");
        }
        rad_st_close(f);
        rad_lora *l;
        if (comp < 0 && rad_lora_open(path, 1.0f, &l) == RAD_OK) {
            print_lora(l, list);
            rad_lora_close(l);
            return 0;
        }
    }
    rad_weights *w = NULL;
    if (comp >= 0) {
        if (rad_weights_open(path, (rad_component)comp, &w) != RAD_OK) return cli_error("inspect");
    } else {
        for (int c = 0; c < 3 && !w; c++)
            if (rad_weights_open(path, (rad_component)c, &w) == RAD_OK) comp = c;
        if (!w) {
            if (is_st_file) return print_plain(path, list);
            fprintf(stderr, "radial inspect: %s (tried DiT, T5 and VAE; --component picks one)\n", rad_last_error());
            return 1;
        }
    }
    print_weights(w, (rad_component)comp, list);
    rad_weights_close(w);
    return 0;
}
