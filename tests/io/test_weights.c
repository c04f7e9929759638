/* The name maps against the real tiny files: the diffusers/HF layout (tests/data/tiny-wan) and the official
 * layout (tests/data/tiny-wan-original) hold the same weights, so both must give the same official names with
 * the same shapes and bytes. Counts come from spec wan21.md §5.2 (27 per block + 15) and the file listings. */
#include <stdio.h>
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

int main(void) {
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

    /* The wrong component gives a clear error rather than an empty model. */
    a = NULL;
    CHECK_FAILS(rad_weights_open(rad_test_path(p1, sizeof p1, "tiny-wan/text_encoder"), RAD_COMP_VAE, &a));
    CHECK_FAILS(rad_weights_open(rad_test_path(p1, sizeof p1, "no/such/path"), RAD_COMP_DIT, &a));
    CHECK(a == NULL);
    TEST_MAIN_END();
}
