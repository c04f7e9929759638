/* Malformed LoRA corpus (io/lora.h): hand-made files, each refused at open with a message that names the file,
 * the key and the fault (one line printed per case); every truncation and many byte flips of a real LoRA (refused
 * cleanly, or opened and applied to zero tensors of the right shapes). Run under ASan/UBSan (label parser): a
 * crash, leak, overflow or giant allocation here is a failure too. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/file.h"
#include "base/mem.h"
#include "io/lora.h"
#include "io/safetensors.h"
#include "test_util.h"

static char g_dir[64];
static int g_files;

static float g_a[4096], g_alpha = 4, g_nan = NAN, g_inf = INFINITY; /* data of every tensor written (<= 4096) */
static int32_t g_i32[256];

/* Writes the tensors (and metadata pairs) to a new file and expects rad_lora_open to refuse it with a message
 * holding the file name and `fault` (and `key` when given). */
static void rejects(int line, const rad_st_out *t, size_t n, const char *const *meta, size_t n_meta, const char *key,
                    const char *fault) {
    char p[256];
    snprintf(p, sizeof p, "%s/bad%d.safetensors", g_dir, g_files++);
    CHECK_OK(rad_st_write(p, t, n, meta, n_meta));
    rad_lora *l = NULL;
    rad_status s = rad_lora_open(p, 1.0f, &l);
    if (s == RAD_OK) {
        fprintf(stderr, "line %d: expected rejection (%s), but the LoRA was accepted\n", line, fault);
        rad_test_failures++;
        rad_lora_close(l);
    } else if (l || !strstr(rad_last_error(), fault) || !strstr(rad_last_error(), p) ||
               (key && !strstr(rad_last_error(), key))) {
        fprintf(stderr, "line %d: expected a message with '%s'%s%s, found: %s\n", line, fault, key ? " and " : "",
                key ? key : "", rad_last_error());
        rad_test_failures++;
    } else {
        printf("  line %d rejected: %.300s\n", line, rad_last_error());
    }
    unlink(p);
}
#define REJECT(fault, key, ...)                                                                                        \
    do {                                                                                                               \
        const rad_st_out t_[] = {__VA_ARGS__};                                                                         \
        rejects(__LINE__, t_, sizeof t_ / sizeof t_[0], NULL, 0, key, fault);                                          \
    } while (0)
#define REJECT_META(fault, meta_json, ...)                                                                             \
    do {                                                                                                               \
        const rad_st_out t_[] = {__VA_ARGS__};                                                                         \
        const char *m_[] = {"lora_adapter_metadata", meta_json};                                                       \
        rejects(__LINE__, t_, sizeof t_ / sizeof t_[0], m_, 1, NULL, fault);                                           \
    } while (0)

#define F32(name, ...)                                                                                                 \
    { name, RAD_DT_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}, g_a }
#define SCALAR(name, ptr)                                                                                              \
    { name, RAD_DT_F32, 0, {0}, ptr }
#define DOWN(m) F32("diffusion_model." m ".lora_down.weight", 4, 48)
#define UP(m) F32("diffusion_model." m ".lora_up.weight", 48, 4)

static void corpus(void) {
    /* Pairs. */
    REJECT("no matching lora_down", "diffusion_model.blocks.0.self_attn.q.lora_up.weight", UP("blocks.0.self_attn.q"));
    REJECT("no matching lora_up", "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
           DOWN("blocks.0.self_attn.q"));
    REJECT("no matching lora_down/lora_up pair", "diffusion_model.blocks.0.self_attn.q.alpha",
           SCALAR("diffusion_model.blocks.0.self_attn.q.alpha", &g_alpha), DOWN("blocks.0.self_attn.k"),
           UP("blocks.0.self_attn.k"));
    REJECT("no matching lora_down", "transformer.blocks.0.attn1.to_q.lora_B.weight",
           F32("transformer.blocks.0.attn1.to_q.lora_B.weight", 48, 4));
    REJECT("no matching lora_up", "lora_unet_blocks_0_ffn_0.lora_down.weight",
           F32("lora_unet_blocks_0_ffn_0.lora_down.weight", 4, 48));
    REJECT("rank mismatch", "blocks.0.self_attn.q", DOWN("blocks.0.self_attn.q"),
           F32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 48, 3));
    REJECT("has rank 0", "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
           F32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 0, 48),
           F32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 48, 0));
    REJECT("has rank 5000", "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
           F32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 5000, 0),
           F32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 0, 5000));
    REJECT("is empty", "blocks.0.self_attn.q", F32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 0),
           F32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 48, 4));
    REJECT("must both be matrices", "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
           F32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 48, 1), UP("blocks.0.self_attn.q"));
    REJECT("must both be matrices", "diffusion_model.blocks.0.self_attn.q.lora_up.weight", DOWN("blocks.0.self_attn.q"),
           F32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 192));
    REJECT("both give the lora_down", "blocks.0.self_attn.q", DOWN("blocks.0.self_attn.q"), UP("blocks.0.self_attn.q"),
           F32("diffusion_model.blocks.0.self_attn.q.lora_A.weight", 4, 48));

    /* Dtypes. */
    {
        const rad_st_out t[] = {{"diffusion_model.blocks.0.ffn.0.lora_down.weight", RAD_DT_I32, 2, {4, 48}, g_i32},
                                UP("blocks.0.ffn.0")};
        rejects(__LINE__, t, 2, NULL, 0, "diffusion_model.blocks.0.ffn.0.lora_down.weight", "dtype I32");
        const rad_st_out u[] = {DOWN("blocks.0.ffn.0"),
                                {"diffusion_model.blocks.0.ffn.0.lora_up.weight", RAD_DT_F64, 2, {48, 2}, g_a}};
        rejects(__LINE__, u, 2, NULL, 0, "diffusion_model.blocks.0.ffn.0.lora_up.weight", "dtype F64");
        const rad_st_out v[] = {{"diffusion_model.blocks.0.ffn.0.lora_down.weight", RAD_DT_F8_E4M3, 2, {4, 48}, g_a},
                                UP("blocks.0.ffn.0")};
        rejects(__LINE__, v, 2, NULL, 0, "diffusion_model.blocks.0.ffn.0.lora_down.weight", "dtype F8_E4M3");
        const rad_st_out w[] = {DOWN("blocks.0.ffn.0"),
                                UP("blocks.0.ffn.0"),
                                {"diffusion_model.blocks.0.ffn.0.alpha", RAD_DT_I32, 0, {0}, g_i32}};
        rejects(__LINE__, w, 3, NULL, 0, "diffusion_model.blocks.0.ffn.0.alpha", "dtype I32");
    }

    /* Alphas. */
    REJECT("must be finite", "diffusion_model.blocks.0.ffn.2.alpha", DOWN("blocks.0.ffn.2"), UP("blocks.0.ffn.2"),
           SCALAR("diffusion_model.blocks.0.ffn.2.alpha", &g_nan));
    REJECT("must be finite", "diffusion_model.blocks.0.ffn.2.alpha", DOWN("blocks.0.ffn.2"), UP("blocks.0.ffn.2"),
           SCALAR("diffusion_model.blocks.0.ffn.2.alpha", &g_inf));
    REJECT("must be a single number", "diffusion_model.blocks.0.ffn.2.alpha", DOWN("blocks.0.ffn.2"),
           UP("blocks.0.ffn.2"), F32("diffusion_model.blocks.0.ffn.2.alpha", 4));
    REJECT("must be a single number", "diffusion_model.blocks.0.ffn.2.alpha", DOWN("blocks.0.ffn.2"),
           UP("blocks.0.ffn.2"), F32("diffusion_model.blocks.0.ffn.2.alpha", 0));

    /* Modules and suffixes. */
    REJECT("is not a layer of the Wan DiT", "diffusion_model.blocks.0.self_attn.z.lora_down.weight",
           DOWN("blocks.0.self_attn.z"), UP("blocks.0.self_attn.z"));
    REJECT("is not a layer of the Wan DiT", "diffusion_model.foo.lora_down.weight", DOWN("foo"), UP("foo"));
    REJECT("is not a layer of the Wan DiT", "diffusion_model.blocks.01.ffn.0.lora_down.weight", DOWN("blocks.01.ffn.0"),
           UP("blocks.01.ffn.0"));
    REJECT("is not a layer of the Wan DiT", "diffusion_model.blocks.12345.ffn.0.lora_down.weight",
           DOWN("blocks.12345.ffn.0"), UP("blocks.12345.ffn.0"));
    REJECT("is not a layer of the Wan DiT", "diffusion_model.blocks..ffn.0.lora_down.weight", DOWN("blocks..ffn.0"),
           UP("blocks..ffn.0"));
    REJECT("is not a layer of the Wan DiT", "lora_unet_blocks_0_mlp_fc1.lora_down.weight",
           F32("lora_unet_blocks_0_mlp_fc1.lora_down.weight", 4, 48),
           F32("lora_unet_blocks_0_mlp_fc1.lora_up.weight", 48, 4));
    REJECT("is not a layer of the Wan DiT", "transformer.blocks.0.attn1.to_z.lora_A.weight",
           F32("transformer.blocks.0.attn1.to_z.lora_A.weight", 4, 48));
    REJECT("not supported", "transformer.blocks.0.attn1.norm_q.lora_A.weight",
           F32("transformer.blocks.0.attn1.norm_q.lora_A.weight", 4, 48));
    REJECT("is not a layer of the Wan DiT", "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
           F32("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", 4, 48));
    REJECT("unknown suffix", "diffusion_model.blocks.0.self_attn.q.lora_mid.weight", DOWN("blocks.0.self_attn.k"),
           UP("blocks.0.self_attn.k"), F32("diffusion_model.blocks.0.self_attn.q.lora_mid.weight", 4, 4));
    REJECT("unknown suffix", "diffusion_model.blocks.0.self_attn.q.weight", DOWN("blocks.0.self_attn.k"),
           UP("blocks.0.self_attn.k"), F32("diffusion_model.blocks.0.self_attn.q.weight", 48, 48));
    REJECT("unknown suffix", "diffusion_model.blocks.0.self_attn.q.hada_w1_a", DOWN("blocks.0.self_attn.k"),
           UP("blocks.0.self_attn.k"), F32("diffusion_model.blocks.0.self_attn.q.hada_w1_a", 4, 4));
    REJECT("lacks the prefix", "lora_unet_blocks_0_ffn_0.lora_down.weight", DOWN("blocks.0.ffn.0"),
           UP("blocks.0.ffn.0"), F32("lora_unet_blocks_0_ffn_0.lora_down.weight", 4, 48));
    REJECT("lacks the prefix", "blocks.0.ffn.0.lora_up.weight", DOWN("blocks.0.ffn.0"),
           F32("blocks.0.ffn.0.lora_up.weight", 48, 4));
    REJECT("mixed key styles", "blocks.0.attn1.to_q.lora_A.weight", F32("blocks.0.ffn.0.lora_down.weight", 4, 48),
           F32("blocks.0.ffn.0.lora_up.weight", 48, 4), F32("blocks.0.attn1.to_q.lora_A.weight", 4, 48));

    /* What a module may take. */
    REJECT("not supported", "diffusion_model.patch_embedding.lora_down.weight", DOWN("patch_embedding"),
           UP("patch_embedding"));
    REJECT("not supported", "diffusion_model.blocks.0.norm3.lora_down.weight", DOWN("blocks.0.norm3"),
           UP("blocks.0.norm3"));
    REJECT("not supported", "diffusion_model.blocks.0.modulation.lora_down.weight", DOWN("blocks.0.modulation"),
           UP("blocks.0.modulation"));
    REJECT("not supported", "diffusion_model.head.modulation.diff_b",
           F32("diffusion_model.head.modulation.diff_b", 48));

    /* Deltas. */
    REJECT("must be a vector", "diffusion_model.blocks.0.ffn.0.diff_b",
           F32("diffusion_model.blocks.0.ffn.0.diff_b", 4, 4));
    REJECT("must be a vector", "diffusion_model.blocks.0.ffn.0.diff_b",
           SCALAR("diffusion_model.blocks.0.ffn.0.diff_b", g_a));
    REJECT("a tensor of the weight's shape", "diffusion_model.blocks.0.ffn.0.diff",
           SCALAR("diffusion_model.blocks.0.ffn.0.diff", g_a));

    /* Image-to-video LoRAs, in every style. */
    REJECT("image-to-video", "diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight",
           DOWN("blocks.0.cross_attn.k_img"), UP("blocks.0.cross_attn.k_img"));
    REJECT("image-to-video", "diffusion_model.img_emb.proj.1.lora_down.weight", DOWN("img_emb.proj.1"),
           UP("img_emb.proj.1"));
    REJECT("image-to-video", "diffusion_model.blocks.3.cross_attn.norm_k_img.diff",
           F32("diffusion_model.blocks.3.cross_attn.norm_k_img.diff", 48));
    REJECT("image-to-video", "lora_unet_blocks_0_cross_attn_v_img.lora_up.weight",
           F32("lora_unet_blocks_0_cross_attn_v_img.lora_up.weight", 48, 4));
    REJECT("image-to-video", "transformer.blocks.0.attn2.add_k_proj.lora_A.weight",
           F32("transformer.blocks.0.attn2.add_k_proj.lora_A.weight", 4, 48));
    REJECT("image-to-video", "transformer.condition_embedder.image_embedder.ff.net.0.proj.lora_A.weight",
           F32("transformer.condition_embedder.image_embedder.ff.net.0.proj.lora_A.weight", 4, 48));

    /* DoRA. */
    REJECT("DoRA", "diffusion_model.blocks.0.ffn.0.dora_scale", DOWN("blocks.0.ffn.0"), UP("blocks.0.ffn.0"),
           F32("diffusion_model.blocks.0.ffn.0.dora_scale", 1, 96));
    REJECT("DoRA", "transformer.blocks.0.attn1.to_q.lora_magnitude_vector",
           F32("transformer.blocks.0.attn1.to_q.lora_A.weight", 4, 48),
           F32("transformer.blocks.0.attn1.to_q.lora_B.weight", 48, 4),
           F32("transformer.blocks.0.attn1.to_q.lora_magnitude_vector", 48));

    /* Files that are not LoRAs, or hold nothing usable. */
    REJECT("not a LoRA", "blocks.0.self_attn.q.weight", F32("blocks.0.self_attn.q.weight", 48, 48),
           F32("blocks.0.self_attn.q.bias", 48));
    {
        const rad_st_out none[1] = {SCALAR("unused", g_a)};
        rejects(__LINE__, none, 0, NULL, 0, NULL, "holds no tensors");
    }
    REJECT("no LoRA module for the DiT", "diffusion_model.blocks.0.norm3.diff",
           F32("diffusion_model.blocks.0.norm3.diff", 48));
    REJECT("no LoRA module for the DiT", "text_encoder.x.lora_A.weight", F32("text_encoder.x.lora_A.weight", 4, 48),
           F32("transformer.blocks.0.attn1.to_q.dora_scale", 48));

    /* PEFT adapter metadata. */
#define PEFT_PAIR                                                                                                      \
    F32("transformer.blocks.0.attn1.to_q.lora_A.weight", 4, 48),                                                       \
        F32("transformer.blocks.0.attn1.to_q.lora_B.weight", 48, 4)
    REJECT_META("invalid JSON", "{\"transformer.r\": 4,", PEFT_PAIR);
    REJECT_META("gives r = 8", "{\"transformer.r\": 8, \"transformer.lora_alpha\": 8}", PEFT_PAIR);
    REJECT_META("DoRA", "{\"transformer.r\": 4, \"transformer.use_dora\": true}", PEFT_PAIR);
    REJECT_META("regular expression", "{\"transformer.r\": 4, \"transformer.rank_pattern\": {\"blocks.*.to_q\": 4}}",
                PEFT_PAIR);
    REJECT_META("must be 1..4096", "{\"transformer.r\": 0}", PEFT_PAIR);
    REJECT_META("must be 1..4096", "{\"transformer.r\": 4, \"transformer.rank_pattern\": {\"to_q\": 2.5}}", PEFT_PAIR);
    REJECT_META("\"transformer.r\"", "{\"transformer.r\": \"4\"}", PEFT_PAIR);
    REJECT_META("must be objects", "{\"transformer.r\": 4, \"transformer.rank_pattern\": [1]}", PEFT_PAIR);
    REJECT_META("expected a JSON object", "[1, 2]", PEFT_PAIR);
    REJECT_META("not diffusers names", "{\"r\": 4}", DOWN("blocks.0.ffn.0"), UP("blocks.0.ffn.0"));
}

/* Files the safetensors reader refuses, and bad arguments. */
static void other_faults(void) {
    char p[256];
    rad_lora *l = NULL;
    snprintf(p, sizeof p, "%s/empty.safetensors", g_dir);
    rad_test_write_text(g_dir, "empty.safetensors", "");
    CHECK_FAILS(rad_lora_open(p, 1.0f, &l));
    CHECK(l == NULL && strstr(rad_last_error(), "empty.safetensors"));
    unlink(p);
    rad_test_write_text(g_dir, "garbage.safetensors", "garbage!garbage!garbage!");
    snprintf(p, sizeof p, "%s/garbage.safetensors", g_dir);
    CHECK_FAILS(rad_lora_open(p, 1.0f, &l));
    unlink(p);
    snprintf(p, sizeof p, "%s/missing.safetensors", g_dir);
    CHECK_FAILS(rad_lora_open(p, 1.0f, &l));
    CHECK_FAILS(rad_lora_open(g_dir, 1.0f, &l));

    /* A good file, then bad strengths and bad apply arguments. */
    const rad_st_out t[] = {DOWN("blocks.0.ffn.0"), F32("diffusion_model.blocks.0.ffn.0.lora_up.weight", 96, 4),
                            F32("diffusion_model.blocks.0.ffn.0.diff_b", 96)};
    snprintf(p, sizeof p, "%s/good.safetensors", g_dir);
    CHECK_OK(rad_st_write(p, t, 3, NULL, 0));
    CHECK_FAILS(rad_lora_open(p, NAN, &l));
    CHECK_FAILS(rad_lora_open(p, INFINITY, &l));
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) {
        float w[96 * 48] = {0};
        int64_t s2[2] = {96, 48}, s1[1] = {95};
        bool touched;
        CHECK(rad_lora_apply(l, "blocks.0.ffn.0.weight", 2, s2, NULL, &touched) == RADIAL_ERR_INVALID_ARG);
        CHECK(rad_lora_apply(l, "blocks.0.ffn.0.weight", 9, s2, w, &touched) == RADIAL_ERR_INVALID_ARG);
        CHECK(rad_lora_apply(l, NULL, 2, s2, w, &touched) == RADIAL_ERR_INVALID_ARG);
        CHECK_FAILS(rad_lora_apply(l, "blocks.0.ffn.0.bias", 1, s1, w, &touched)); /* diff_b [96] on a [95] bias */
        CHECK(strstr(rad_last_error(), "diffusion_model.blocks.0.ffn.0.diff_b") && strstr(rad_last_error(), "[95]"));
        int64_t s3[2] = {48, 96};
        CHECK_FAILS(rad_lora_apply(l, "blocks.0.ffn.0.weight", 2, s3, w, &touched)); /* transposed */
        CHECK_FAILS(rad_lora_check_all_used(l));
    }
    rad_lora_close(l);
    unlink(p);

    /* NaN / infinity in the data: the file opens (the data is read when merged), the merge refuses it. */
    float up[48 * 4], db[48];
    for (int i = 0; i < 48 * 4; i++) up[i] = 0.01f * (float)i;
    for (int i = 0; i < 48; i++) db[i] = 1.0f;
    up[77] = NAN;
    db[5] = -INFINITY;
    const rad_st_out u[] = {DOWN("blocks.0.self_attn.q"),
                            {"diffusion_model.blocks.0.self_attn.q.lora_up.weight", RAD_DT_F32, 2, {48, 4}, up},
                            {"diffusion_model.blocks.0.self_attn.q.diff_b", RAD_DT_F32, 1, {48}, db}};
    CHECK_OK(rad_st_write(p, u, 3, NULL, 0));
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) {
        float w[48 * 48] = {0};
        int64_t s2[2] = {48, 48}, s1[1] = {48};
        bool touched;
        CHECK_FAILS(rad_lora_apply(l, "blocks.0.self_attn.q.weight", 2, s2, w, &touched));
        CHECK(strstr(rad_last_error(), "non-finite") && strstr(rad_last_error(), "lora_up.weight"));
        CHECK_FAILS(rad_lora_apply(l, "blocks.0.self_attn.q.bias", 1, s1, w, &touched));
        CHECK(strstr(rad_last_error(), "non-finite") && strstr(rad_last_error(), "diff_b"));
    }
    rad_lora_close(l);
    /* Strength 0 adds nothing and reads nothing, NaN or not, but the modules count as applied. */
    CHECK_OK(rad_lora_open(p, 0.0f, &l));
    if (l) {
        float w[48 * 48] = {0};
        int64_t s2[2] = {48, 48}, s1[1] = {48};
        bool touched = false, zero = true;
        CHECK_OK(rad_lora_apply(l, "blocks.0.self_attn.q.weight", 2, s2, w, &touched));
        CHECK(touched);
        CHECK_OK(rad_lora_apply(l, "blocks.0.self_attn.q.bias", 1, s1, w, &touched));
        for (int i = 0; i < 48 * 48; i++) zero &= w[i] == 0.0f;
        CHECK(zero);
        CHECK_OK(rad_lora_check_all_used(l));
    }
    rad_lora_close(l);
    unlink(p);
}

/* Opens what it can of an image; what opens is applied to zero tensors of the shapes its modules need. */
static int open_and_apply(const uint8_t *data, size_t n) {
    rad_lora *l = NULL;
    if (rad_lora_open_memory(data, n, "mutant.safetensors", 1.0f, &l) != RAD_OK) {
        if (l) rad_test_failures++;
        if (!strstr(rad_last_error(), "mutant.safetensors")) {
            fprintf(stderr, "message without the file name: %s\n", rad_last_error());
            rad_test_failures++;
        }
        return 0;
    }
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        int64_t shape[RAD_LORA_MAX_DIMS];
        int nd = rad_lora_module_shape(l, i, shape);
        int64_t numel = 1;
        for (int d = 0; d < nd; d++) numel *= shape[d];
        if (numel > (1 << 20)) continue;
        float *x = calloc((size_t)numel + 1, sizeof(float));
        const char *target;
        bool touched;
        rad_lora_module_at(l, i, &target, NULL, NULL);
        rad_status s = rad_lora_apply(l, target, nd, shape, x, &touched);
        free(x);
        if (s != RAD_OK && strstr(rad_last_error(), "non-finite")) { /* a flip may make a NaN: refused, fine */
            rad_lora_close(l);
            return 1;
        }
        CHECK(s == RAD_OK && touched);
    }
    CHECK_OK(rad_lora_check_all_used(l));
    rad_lora_close(l);
    return 1;
}

/* Every truncation of a real LoRA is refused; byte flips in its header either are refused or give a LoRA that
 * applies cleanly. */
static void mutations(void) {
    char p[1024];
    uint8_t *buf;
    size_t n;
    CHECK_OK(rad_file_read(rad_test_path(p, sizeof p, "golden2/lora/lora_comfy_alpha_bf16.safetensors"), 1u << 24,
                           "LoRA", &buf, &n));
    if (!buf) return;
    CHECK(open_and_apply(buf, n) == 1);
    size_t hdr = 8;
    for (int i = 0; i < 8; i++) hdr += (size_t)buf[i] << (8 * i);
    int opened = 0, tried = 0;
    for (size_t k = 0; k < n; k += (k < hdr + 64 ? 1 : 97)) {
        tried++;
        if (open_and_apply(buf, k)) {
            fprintf(stderr, "a truncation to %zu of %zu bytes was accepted\n", k, n);
            rad_test_failures++;
        }
    }
    printf("  %d truncations refused\n", tried);
    uint8_t *m = malloc(n);
    const uint8_t flips[] = {'0', '9', '.', '_', '"', 'x', 0xff, '[', '}'};
    tried = 0;
    for (size_t k = 8; k < hdr && k < n; k += 3) {
        memcpy(m, buf, n);
        m[k] = flips[k % sizeof flips];
        opened += open_and_apply(m, n);
        tried++;
    }
    printf("  %d header mutations: %d opened and applied, the rest refused\n", tried, opened);
    free(m);
    rad_free(buf);
}

int main(void) {
    for (size_t i = 0; i < sizeof g_a / sizeof g_a[0]; i++) g_a[i] = (float)(i % 7) * 0.01f;
    snprintf(g_dir, sizeof g_dir, "rad_lora_bad_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    corpus();
    other_faults();
    mutations();
    rmdir(g_dir);
    TEST_MAIN_END();
}
