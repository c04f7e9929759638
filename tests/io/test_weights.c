/* The name maps against the real tiny files: the diffusers/HF layout (tests/data/tiny-wan) and the official
 * layout (tests/data/tiny-wan-original) hold the same weights, so both must give the same official names with
 * the same shapes and bytes. Counts come from spec wan21.md §5.2 (27 per block + 15) and the file listings. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "base/mem.h"
#include "io/weights.h"
#include "test_util.h"

/* Every official name of a must exist in b with the same dtype, shape and bytes, and the counts must agree. */
static void same_tensors(const char *what, const rad_weights *a, const rad_weights *b, size_t expect) {
    printf("%s: %s (%zu mapped) vs %s (%zu mapped)\n", what, rad_weights_layout(a), rad_weights_mapped_count(a),
           rad_weights_layout(b), rad_weights_mapped_count(b));
    CHECK(rad_weights_mapped_count(a) == expect);
    CHECK(rad_weights_mapped_count(b) == expect);
    CHECK(rad_weights_count(a) == expect);
    size_t n = rad_weights_count(a);
    for (size_t i = 0; i < n; i++) {
        const char *off;
        const rad_st_tensor *t = rad_weights_at(a, i, &off);
        if (!off) {
            fprintf(stderr, "%s: '%s' has no official name\n", what, t->name);
            rad_test_failures++;
            continue;
        }
        const rad_st_tensor *u = rad_weights_find(b, off);
        if (!u) {
            fprintf(stderr, "%s: '%s' (from '%s') missing in the official file\n", what, off, t->name);
            rad_test_failures++;
            continue;
        }
        if (t->ndim != u->ndim || memcmp(t->shape, u->shape, sizeof t->shape) || t->dtype != u->dtype ||
            t->nbytes != u->nbytes || memcmp(t->data, u->data, t->nbytes)) {
            fprintf(stderr, "%s: '%s' differs between '%s' and '%s'\n", what, off, t->name, u->name);
            rad_test_failures++;
        }
    }
}

/* Rewrites the tensors of `src` (all, or those at even/odd positions) into a new file under new names. */
static void rewrite(const rad_weights *src, const char *path, const char *prefix, int parity) {
    size_t n = rad_weights_count(src), k = 0;
    rad_st_out *outs = calloc(n, sizeof *outs);
    char **names = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        if (parity >= 0 && (int)(i % 2) != parity) continue;
        const rad_st_tensor *t = rad_weights_at(src, i, NULL);
        names[k] = malloc(strlen(prefix) + strlen(t->name) + 1);
        sprintf(names[k], "%s%s", prefix, t->name);
        outs[k] = rad_test_st_out(t);
        outs[k].name = names[k];
        k++;
    }
    CHECK_OK(rad_st_write(path, outs, k, NULL, 0));
    for (size_t i = 0; i < k; i++) free(names[i]);
    free(names);
    free(outs);
}

/* Layouts made from the tiny files: a `model.diffusion_model.` single-file repack, and the diffusers DiT split
 * into two shards with an index.json in a component folder (as the 14B repos are). */
static void made_layouts(void) {
    char p1[512], dir[64] = "rad_w_XXXXXX", f1[128], f2[128], f3[128], idx[128];
    CHECK(mkdtemp(dir) != NULL);
    rad_weights *orig = NULL, *diff = NULL, *w = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan-original/diffusion_pytorch_model.safetensors"),
                              RAD_COMP_DIT, &orig));
    CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan/transformer"), RAD_COMP_DIT, &diff));
    if (!orig || !diff) return;
    snprintf(f1, sizeof f1, "%s/repack.safetensors", dir);
    rewrite(orig, f1, "model.diffusion_model.", -1);
    CHECK_OK(rad_weights_open(f1, RAD_COMP_DIT, &w));
    if (w) {
        CHECK(strstr(rad_weights_layout(w), "model.diffusion_model.") != NULL);
        same_tensors("prefixed DiT", w, orig, 69);
        rad_weights_close(w);
        w = NULL;
    }
    snprintf(f2, sizeof f2, "%s/diffusion_pytorch_model-00001-of-00002.safetensors", dir);
    snprintf(f3, sizeof f3, "%s/diffusion_pytorch_model-00002-of-00002.safetensors", dir);
    rewrite(diff, f2, "", 0);
    rewrite(diff, f3, "", 1);
    snprintf(idx, sizeof idx, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
    FILE *f = fopen(idx, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
        for (size_t i = 0; i < rad_weights_count(diff); i++)
            fprintf(f, "%s\"%s\": \"diffusion_pytorch_model-0000%zu-of-00002.safetensors\"", i ? ", " : "",
                    rad_weights_at(diff, i, NULL)->name, i % 2 + 1);
        fprintf(f, "}}");
        fclose(f);
    }
    CHECK_OK(rad_weights_open(dir, RAD_COMP_DIT, &w));
    if (w) {
        CHECK(rad_weights_file_count(w) == 2);
        same_tensors("sharded DiT", w, orig, 69);
        rad_weights_close(w);
    }
    rad_weights_close(orig);
    rad_weights_close(diff);
    remove(f1), remove(f2), remove(f3), remove(idx), rmdir(dir);
}

int main(void) {
    made_layouts();
    char p1[512], p2[512];
    rad_weights *a = NULL, *b = NULL;

    /* DiT: diffusers root (component picked) vs the official single file. 2 blocks x 27 + 15. */
    CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan"), RAD_COMP_DIT, &a));
    CHECK_OK(rad_weights_open(rad_test_path(p2, sizeof p2, "tiny-wan-original/diffusion_pytorch_model.safetensors"),
                              RAD_COMP_DIT, &b));
    if (a && b) {
        same_tensors("DiT", a, b, 2 * 27 + 15);
        CHECK(strstr(rad_weights_config_path(a), "transformer/config.json") != NULL);
        CHECK(strstr(rad_weights_config_path(b), "tiny-wan-original/config.json") != NULL);
        const rad_st_tensor *t;
        int64_t pe[5] = {48, 16, 1, 2, 2}, bad[2] = {48, 48}, any[2] = {48, -1};
        CHECK_OK(rad_weights_get(a, "patch_embedding.weight", 5, pe, &t));
        CHECK_OK(rad_weights_get(a, "blocks.1.ffn.2.weight", 2, any, &t));
        CHECK_FAILS(rad_weights_get(a, "head.head.weight", 2, bad, &t)); /* [64, 48] */
        CHECK(strstr(rad_last_error(), "proj_out.weight") && strstr(rad_last_error(), "[64, 48]"));
        CHECK_FAILS(rad_weights_get(a, "blocks.2.self_attn.q.weight", 2, bad, &t));
        float *f = NULL;
        int64_t hm[3] = {1, 2, 48};
        CHECK_OK(rad_weights_f32(b, "head.modulation", 3, hm, &f));
        const rad_st_tensor *u = rad_weights_find(a, "head.modulation");
        CHECK(f && u && !strcmp(u->name, "scale_shift_table") && !memcmp(f, u->data, 96 * sizeof(float)));
        rad_free(f);
    }
    rad_weights_close(a);
    rad_weights_close(b);

    /* T5: HF names (component folder) vs the Wan names. 2 layers x 10 + embedding + final norm. */
    a = b = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan/text_encoder"), RAD_COMP_T5, &a));
    CHECK_OK(rad_weights_open(rad_test_path(p2, sizeof p2, "tiny-wan-original/models_t5_tiny_wan_names.safetensors"),
                              RAD_COMP_T5, &b));
    if (a && b) same_tensors("T5", a, b, 2 * 10 + 2);
    rad_weights_close(a);
    rad_weights_close(b);

    /* VAE: diffusers names vs the official names, encoder and decoder (194 tensors). */
    a = b = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan"), RAD_COMP_VAE, &a));
    CHECK_OK(rad_weights_open(rad_test_path(p2, sizeof p2, "tiny-wan-original/wan_vae_tiny.safetensors"), RAD_COMP_VAE, &b));
    if (a && b) {
        same_tensors("VAE", a, b, 194);
        CHECK(rad_weights_find(a, "conv2.weight") && rad_weights_find(a, "decoder.upsamples.11.resample.1.weight"));
        CHECK(rad_weights_find(a, "decoder.upsamples.4.shortcut.weight"));
    }
    rad_weights_close(a);
    rad_weights_close(b);

    /* The official repo folder: one folder, the T5 and VAE files found by "t5" / "vae" in their names. */
    const rad_component comps[3] = {RAD_COMP_DIT, RAD_COMP_T5, RAD_COMP_VAE};
    const char *files[3] = {"tiny-wan-original/diffusion_pytorch_model.safetensors",
                            "tiny-wan-original/models_t5_tiny_wan_names.safetensors",
                            "tiny-wan-original/wan_vae_tiny.safetensors"};
    const size_t counts[3] = {69, 22, 194};
    for (int c = 0; c < 3; c++) {
        a = b = NULL;
        CHECK_OK(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan-original"), comps[c], &a));
        CHECK_OK(rad_weights_open(rad_test_path(p2, sizeof p2, files[c]), comps[c], &b));
        if (a && b) {
            same_tensors("official folder", a, b, counts[c]);
            CHECK(!strcmp(rad_st_path(rad_weights_file(a, 0)), p2));
        }
        rad_weights_close(a);
        rad_weights_close(b);
    }

    /* The wrong component gives a clear error rather than an empty model. */
    a = NULL;
    CHECK_FAILS(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan/text_encoder"), RAD_COMP_VAE, &a));
    CHECK_FAILS(rad_weights_open(rad_test_path(p1, sizeof p1, "no/such/path"), RAD_COMP_DIT, &a));
    CHECK(a == NULL);
    TEST_MAIN_END();
}
