/* Configuration detection on both tiny layouts (expected values: tests/data/README.md "Model folders"), and
 * the failures when config.json disagrees with the shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/model_config.h"
#include "test_util.h"

static char g_dir[64];

/* g_dir/name -> the golden file rel (a symlink: the weights are reused, the config.json is ours). */
static void link_data(const char *rel, const char *name) {
    char src[512], dst[256], abs[1024];
    rad_test_path(src, sizeof src, rel);
    if (src[0] != '/') {
        char cwd[512];
        CHECK(getcwd(cwd, sizeof cwd) != NULL);
        snprintf(abs, sizeof abs, "%s/%s", cwd, src);
    } else {
        snprintf(abs, sizeof abs, "%s", src);
    }
    snprintf(dst, sizeof dst, "%s/%s", g_dir, name);
    unlink(dst);
    CHECK(symlink(abs, dst) == 0);
}

static void clear_dir(void) {
    const char *names[] = {"config.json", "w.safetensors", "model.safetensors"};
    char p[256];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
}

static void check_dit(const char *path) {
    rad_weights *w = NULL;
    rad_dit_config c;
    CHECK_OK(rad_weights_open(path, RAD_COMP_DIT, &w));
    if (!w) return;
    CHECK_OK(rad_dit_config_detect(w, &c));
    /* Tiny DiT: dim 48, 2 heads (head dim 24), ffn 96, 2 layers, text_dim 64, freq_dim 256, text_len 512. */
    CHECK(c.dim == 48 && c.num_heads == 2 && c.head_dim == 24 && c.ffn_dim == 96 && c.num_layers == 2);
    CHECK(c.in_dim == 16 && c.out_dim == 16 && c.text_dim == 64 && c.freq_dim == 256 && c.text_len == 512);
    CHECK(c.patch_t == 1 && c.patch_h == 2 && c.patch_w == 2 && fabsf(c.eps - 1e-6f) < 1e-12f);
    rad_weights_close(w);
}

static void check_t5(const char *path) {
    rad_weights *w = NULL;
    rad_t5_config c;
    CHECK_OK(rad_weights_open(path, RAD_COMP_T5, &w));
    if (!w) return;
    CHECK_OK(rad_t5_config_detect(w, &c));
    /* Tiny T5: vocab 1024, d_model 64, 4 heads x 16, d_ff 96, 2 layers, 32 buckets, max distance 128. */
    CHECK(c.vocab == 1024 && c.d_model == 64 && c.num_heads == 4 && c.d_kv == 16 && c.d_ff == 96);
    CHECK(c.num_layers == 2 && c.num_buckets == 32 && c.max_distance == 128 && fabsf(c.eps - 1e-6f) < 1e-12f);
    rad_weights_close(w);
}

static void check_vae(const char *path) {
    rad_weights *w = NULL;
    rad_vae_config c;
    CHECK_OK(rad_weights_open(path, RAD_COMP_VAE, &w));
    if (!w) return;
    CHECK_OK(rad_vae_config_detect(w, &c));
    /* Tiny VAE: base dim 8 (dims 8/16/32/32), z_dim 16, 2 res blocks, temporal downsample [F, T, T]. */
    CHECK(c.base_dim == 8 && c.z_dim == 16 && c.num_res_blocks == 2);
    CHECK(c.dim_mult[0] == 1 && c.dim_mult[1] == 2 && c.dim_mult[2] == 4 && c.dim_mult[3] == 4);
    CHECK(c.temporal_upsample[0] == 1 && c.temporal_upsample[1] == 1 && c.temporal_upsample[2] == 0);
    CHECK(c.latents_mean[0] == -0.7571f && c.latents_std[15] == 1.916f && c.latents_std[0] == 2.8184f);
    rad_weights_close(w);
}

/* A DiT with no config.json: heads come from head_dim 128 (dim 256 -> 2 heads). Zero weights; only shapes
 * matter here. */
static void dit_without_config(void) {
    static float zeros[512 * 256];
    rad_st_out t[] = {
        {"patch_embedding.weight", RAD_DT_F32, 5, {256, 16, 1, 2, 2}, zeros},
        {"text_embedding.0.weight", RAD_DT_F32, 2, {256, 64}, zeros},
        {"time_embedding.0.weight", RAD_DT_F32, 2, {256, 256}, zeros},
        {"blocks.0.self_attn.q.weight", RAD_DT_F32, 2, {256, 256}, zeros},
        {"blocks.0.ffn.0.weight", RAD_DT_F32, 2, {512, 256}, zeros},
        {"head.head.weight", RAD_DT_F32, 2, {64, 256}, zeros},
    };
    char p[256];
    snprintf(p, sizeof p, "%s/w.safetensors", g_dir);
    CHECK_OK(rad_st_write(p, t, 6, NULL, 0));
    rad_weights *w = NULL;
    rad_dit_config c;
    CHECK_OK(rad_weights_open(p, RAD_COMP_DIT, &w));
    if (w) {
        CHECK(rad_weights_config_path(w) == NULL);
        CHECK_OK(rad_dit_config_detect(w, &c));
        CHECK(c.dim == 256 && c.num_heads == 2 && c.head_dim == 128 && c.num_layers == 1 && c.ffn_dim == 512);
        CHECK(c.in_dim == 16 && c.out_dim == 16 && c.text_dim == 64 && c.freq_dim == 256);
        rad_weights_close(w);
    }
    clear_dir();
}

/* Opens g_dir/<file> as comp and expects config detection to fail. */
static void expect_config_fails(const char *file, rad_component comp) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, file);
    rad_weights *w = NULL;
    CHECK_OK(rad_weights_open(p, comp, &w));
    if (!w) return;
    rad_dit_config d;
    rad_t5_config t;
    rad_vae_config v;
    if (comp == RAD_COMP_DIT) CHECK_FAILS(rad_dit_config_detect(w, &d));
    if (comp == RAD_COMP_T5) CHECK_FAILS(rad_t5_config_detect(w, &t));
    if (comp == RAD_COMP_VAE) CHECK_FAILS(rad_vae_config_detect(w, &v));
    rad_weights_close(w);
}

static void mismatches(void) {
    link_data("tiny-wan-original/diffusion_pytorch_model.safetensors", "w.safetensors");
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 64, \"num_heads\": 2}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    CHECK(strstr(rad_last_error(), "patch_embedding.weight") && strstr(rad_last_error(), "[48, 16, 1, 2, 2]") &&
          strstr(rad_last_error(), "[64, 16, 1, 2, 2]"));
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 48, \"num_heads\": 5}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 48, \"num_heads\": 2, \"num_layers\": 3}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 48, \"num_heads\": 2, \"num_layers\": 1}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": \"48\"}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": -48}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json",
                        "{\"num_attention_heads\": 2, \"attention_head_dim\": 24, \"patch_size\": [1, 2]}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"num_attention_heads\": 2, \"attention_head_dim\": 32}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 48, \"ffn_dim\": 97}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"num_attention_heads\": 2, \"attention_head_dim\": 24, \"eps\": 2.0}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    rad_test_write_text(g_dir, "config.json", "{\"dim\": 48, \"dim\": 48}");
    expect_config_fails("w.safetensors", RAD_COMP_DIT);
    clear_dir();

    link_data("tiny-wan/text_encoder/model.safetensors", "model.safetensors");
    rad_test_write_text(g_dir, "config.json", "{\"d_model\": 64, \"num_heads\": 8}");
    expect_config_fails("model.safetensors", RAD_COMP_T5);
    CHECK(strstr(rad_last_error(), "pos_embedding") != NULL);
    rad_test_write_text(g_dir, "config.json", "{\"d_model\": 64, \"vocab_size\": 2048}");
    expect_config_fails("model.safetensors", RAD_COMP_T5);
    rad_test_write_text(g_dir, "config.json", "{\"d_model\": 64, \"d_ff\": 128}");
    expect_config_fails("model.safetensors", RAD_COMP_T5);
    clear_dir();

    link_data("tiny-wan-original/wan_vae_tiny.safetensors", "w.safetensors");
    rad_test_write_text(g_dir, "config.json", "{\"base_dim\": 16}");
    expect_config_fails("w.safetensors", RAD_COMP_VAE);
    rad_test_write_text(g_dir, "config.json", "{\"base_dim\": 8, \"temperal_downsample\": [true, true, true]}");
    expect_config_fails("w.safetensors", RAD_COMP_VAE);
    rad_test_write_text(g_dir, "config.json", "{\"base_dim\": 8, \"dim_mult\": [1, 2, 4]}");
    expect_config_fails("w.safetensors", RAD_COMP_VAE);
    rad_test_write_text(g_dir, "config.json", "{\"base_dim\": 8, \"latents_std\": [1, 2]}");
    expect_config_fails("w.safetensors", RAD_COMP_VAE);
    rad_test_write_text(g_dir, "config.json", "{\"base_dim\": 8, \"num_res_blocks\": 3}");
    expect_config_fails("w.safetensors", RAD_COMP_VAE);
    clear_dir();
}

int main(void) {
    char p[512];
    check_dit(rad_test_path(p, sizeof p, "tiny-wan"));
    check_dit(rad_test_path(p, sizeof p, "tiny-wan-original/diffusion_pytorch_model.safetensors"));
    check_t5(rad_test_path(p, sizeof p, "tiny-wan"));
    check_t5(rad_test_path(p, sizeof p, "tiny-wan-original/models_t5_tiny_wan_names.safetensors"));
    check_vae(rad_test_path(p, sizeof p, "tiny-wan/vae"));
    check_vae(rad_test_path(p, sizeof p, "tiny-wan-original/wan_vae_tiny.safetensors"));

    snprintf(g_dir, sizeof g_dir, "rad_cfg_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    dit_without_config();
    mismatches();
    rmdir(g_dir);
    TEST_MAIN_END();
}
