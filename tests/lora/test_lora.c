/* LoRA files (io/lora.h): the four golden LoRAs of tests/data/golden2/lora (one per key style diffusers reads) are
 * opened and described (style, modules, ranks, alphas, targets) and applied to the tiny Wan DiT; the merge is
 * checked against W + strength·scale·B·A computed here in double from the raw tensors, by key names written out
 * independently of the library's name maps. Synthetic files cover what the golden ones do not: odd sizes and the
 * multi-threaded path (bitwise equal to one thread), .diff / .diff_b / modulation deltas, the keys diffusers drops,
 * unprefixed names, PEFT adapter metadata, shape mismatches and modules the model lacks.
 * The golden check of the DiT output with LoRA against diffusers runs through `radial eval dit --lora`. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/half.h"
#include "base/mem.h"
#include "base/threads.h"
#include "io/lora.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"

static char g_dir[64];

static const char *golden(char *buf, size_t n, const char *file) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden2/lora/%s", file);
    return rad_test_path(buf, n, rel);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Reference merge: W + s * scale * B·A in double from the file's own tensors (named here, not by the library). */

static bool ref_check(const char *what, rad_lora *l, const rad_st_file *f, const char *target, const char *down_key,
                      const char *up_key, double scale, double strength) {
    const rad_st_tensor *ta, *tb;
    float *a = NULL, *b = NULL;
    bool ok = true;
    CHECK_OK(rad_st_read_f32(f, down_key, &ta, &a));
    CHECK_OK(rad_st_read_f32(f, up_key, &tb, &b));
    if (!a || !b) {
        rad_free(a);
        rad_free(b);
        return false;
    }
    const int64_t r = ta->shape[0], in = ta->shape[1], out = tb->shape[0];
    int64_t shape[2] = {out, in};
    float *w = malloc((size_t)(out * in) * sizeof(float));
    double *e = malloc((size_t)(out * in) * sizeof(double));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)out;
    for (int64_t i = 0; i < out * in; i++) w[i] = rad_test_uniform(&seed);
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            double s = 0;
            for (int64_t k = 0; k < r; k++) s += (double)b[o * r + k] * (double)a[k * in + i];
            e[o * in + i] = (double)w[o * in + i] + strength * scale * s;
        }
    bool touched = false;
    CHECK_OK(rad_lora_apply(l, target, 2, shape, w, &touched));
    CHECK(touched);
    double max_err = 0, max_ref = 0;
    for (int64_t i = 0; i < out * in; i++) {
        double d = fabs((double)w[i] - e[i]);
        if (d > max_err) max_err = d;
        if (fabs(e[i]) > max_ref) max_ref = fabs(e[i]);
    }
    /* fp32 sums of `r` products then one scaled add: a few fp32 ulps of the largest value. */
    if (!(max_err <= 4e-7 * (max_ref + 1) * (1 + (double)r / 16))) {
        fprintf(stderr, "%s: '%s' merged with max error %.3g (max |W| %.3g)\n", what, target, max_err, max_ref);
        rad_test_failures++;
        ok = false;
    } else {
        printf("  %s: %s [%lld, %lld] rank %lld, scale %g, strength %g: max error %.2g\n", what, target, (long long)out,
               (long long)in, (long long)r, scale, strength, max_err);
    }
    free(w);
    free(e);
    rad_free(a);
    rad_free(b);
    return ok;
}

/* bias += s * diff_b, from the raw tensor. */
static void ref_bias(const char *what, rad_lora *l, const rad_st_file *f, const char *target, const char *key,
                     double strength) {
    const rad_st_tensor *t;
    float *d = NULL;
    CHECK_OK(rad_st_read_f32(f, key, &t, &d));
    if (!d) return;
    int64_t n = t->shape[0];
    float *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = 0.25f * (float)i;
    bool touched = false;
    CHECK_OK(rad_lora_apply(l, target, 1, &n, w, &touched));
    CHECK(touched);
    double max_err = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = 0.25 * (double)i + strength * (double)d[i];
        if (fabs(w[i] - e) > max_err) max_err = fabs(w[i] - e);
    }
    CHECK(max_err < 1e-6);
    printf("  %s: %s [%lld] bias delta: max error %.2g\n", what, target, (long long)n, max_err);
    free(w);
    rad_free(d);
}

static size_t count_suffix(const rad_lora *l, const char *suffix) {
    size_t n = 0, k = strlen(suffix);
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        const char *t;
        rad_lora_module_at(l, i, &t, NULL, NULL);
        size_t m = strlen(t);
        n += m >= k && !strcmp(t + m - k, suffix);
    }
    return n;
}

static bool has_target(const rad_lora *l, const char *target) {
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        const char *t;
        rad_lora_module_at(l, i, &t, NULL, NULL);
        if (!strcmp(t, target)) return true;
    }
    return false;
}

/* Every weight module has this rank and alpha (NAN: none), every bias module rank 0 and no alpha. */
static void check_ranks(const rad_lora *l, int rank, float alpha) {
    for (size_t i = 0; i < rad_lora_module_count(l); i++) {
        const char *t;
        int r;
        float a;
        rad_lora_module_at(l, i, &t, &r, &a);
        bool bias = strstr(t, ".bias") != NULL;
        CHECK(r == (bias ? 0 : rank));
        CHECK(bias ? isnan(a) : (isnan(alpha) ? isnan(a) : a == alpha));
    }
}

/* Applies the LoRA to every DiT tensor of the tiny model (tests/data/tiny-wan); every module must be used. */
static void apply_to_tiny_model(rad_lora *l, size_t expect_touched) {
    char p[1024];
    rad_weights *w = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(p, sizeof p, "tiny-wan"), RAD_COMP_DIT, &w));
    if (!w) return;
    size_t touched_n = 0;
    for (size_t i = 0; i < rad_weights_count(w); i++) {
        const char *off;
        const rad_st_tensor *t = rad_weights_at(w, i, &off);
        if (!off) continue;
        float *x = NULL;
        CHECK_OK(rad_weights_f32(w, off, t->ndim, t->shape, &x));
        if (!x) continue;
        bool touched = false;
        CHECK_OK(rad_lora_apply(l, off, t->ndim, t->shape, x, &touched));
        touched_n += touched;
        rad_free(x);
    }
    CHECK(touched_n == expect_touched);
    CHECK(rad_lora_applied_count(l) == rad_lora_module_count(l));
    CHECK_OK(rad_lora_check_all_used(l));
    rad_weights_close(w);
}

static void golden_files(void) {
    char p[1024];
    rad_lora *l = NULL;
    rad_st_file *f = NULL;

    /* ComfyUI/official, BF16, alpha 8 (scale 2), diff_b on every module. */
    printf("lora_comfy_alpha_bf16:\n");
    CHECK_OK(rad_lora_open(golden(p, sizeof p, "lora_comfy_alpha_bf16.safetensors"), 0.7f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        printf("  style: %s\n", rad_lora_style(l));
        CHECK(!strcmp(rad_lora_style(l), "ComfyUI/official (diffusion_model., lora_down/lora_up)"));
        CHECK(rad_lora_module_count(l) == 40);
        CHECK(count_suffix(l, ".weight") == 20 && count_suffix(l, ".bias") == 20);
        CHECK(rad_lora_strength(l) == 0.7f);
        CHECK(!strcmp(rad_lora_path(l), p));
        check_ranks(l, 4, 8.0f);
        CHECK(has_target(l, "blocks.0.self_attn.q.weight") && has_target(l, "blocks.1.cross_attn.o.bias") &&
              has_target(l, "blocks.1.ffn.2.weight") && has_target(l, "blocks.0.ffn.0.bias"));
        const char *t0;
        rad_lora_module_at(l, 0, &t0, NULL, NULL);
        CHECK(!strcmp(t0, "blocks.0.cross_attn.k.bias")); /* sorted by target */
        ref_check("comfy", l, f, "blocks.1.ffn.0.weight", "diffusion_model.blocks.1.ffn.0.lora_down.weight",
                  "diffusion_model.blocks.1.ffn.0.lora_up.weight", 8.0 / 4, 0.7);
        ref_check("comfy", l, f, "blocks.0.cross_attn.v.weight",
                  "diffusion_model.blocks.0.cross_attn.v.lora_down.weight",
                  "diffusion_model.blocks.0.cross_attn.v.lora_up.weight", 8.0 / 4, 0.7);
        ref_bias("comfy", l, f, "blocks.1.ffn.0.bias", "diffusion_model.blocks.1.ffn.0.diff_b", 0.7);
        ref_bias("comfy", l, f, "blocks.0.self_attn.o.bias", "diffusion_model.blocks.0.self_attn.o.diff_b", 0.7);
        CHECK(rad_lora_applied_count(l) == 4);
        CHECK_FAILS(rad_lora_check_all_used(l)); /* 36 modules not applied yet */
    }
    rad_st_close(f);
    rad_lora_close(l);
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) apply_to_tiny_model(l, 40);
    rad_lora_close(l);

    /* musubi-tuner, F32, alpha 2 (scale 0.5). */
    printf("lora_musubi_alpha:\n");
    CHECK_OK(rad_lora_open(golden(p, sizeof p, "lora_musubi_alpha.safetensors"), 0.5f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        printf("  style: %s\n", rad_lora_style(l));
        CHECK(!strcmp(rad_lora_style(l), "musubi-tuner (lora_unet_)"));
        CHECK(rad_lora_module_count(l) == 20 && count_suffix(l, ".weight") == 20);
        check_ranks(l, 4, 2.0f);
        CHECK(rad_lora_module_scale(l, 0) == 0.5f);
        ref_check("musubi", l, f, "blocks.0.cross_attn.o.weight", "lora_unet_blocks_0_cross_attn_o.lora_down.weight",
                  "lora_unet_blocks_0_cross_attn_o.lora_up.weight", 0.5, 0.5);
        ref_check("musubi", l, f, "blocks.1.ffn.2.weight", "lora_unet_blocks_1_ffn_2.lora_down.weight",
                  "lora_unet_blocks_1_ffn_2.lora_up.weight", 0.5, 0.5);
    }
    rad_st_close(f);
    rad_lora_close(l);
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) apply_to_tiny_model(l, 20);
    rad_lora_close(l);

    /* diffusers/PEFT names, F16, no alpha (scale 1). */
    printf("lora_peft_fp16:\n");
    CHECK_OK(rad_lora_open(golden(p, sizeof p, "lora_peft_fp16.safetensors"), 0.8f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        printf("  style: %s\n", rad_lora_style(l));
        CHECK(!strcmp(rad_lora_style(l), "diffusers/PEFT (transformer.)"));
        CHECK(rad_lora_module_count(l) == 20);
        check_ranks(l, 4, NAN);
        CHECK(has_target(l, "blocks.0.self_attn.o.weight") && has_target(l, "blocks.1.ffn.0.weight") &&
              has_target(l, "blocks.1.cross_attn.o.weight"));
        ref_check("peft", l, f, "blocks.1.self_attn.o.weight", "transformer.blocks.1.attn1.to_out.0.lora_A.weight",
                  "transformer.blocks.1.attn1.to_out.0.lora_B.weight", 1.0, 0.8);
        ref_check("peft", l, f, "blocks.0.ffn.0.weight", "transformer.blocks.0.ffn.net.0.proj.lora_A.weight",
                  "transformer.blocks.0.ffn.net.0.proj.lora_B.weight", 1.0, 0.8);
        ref_check("peft", l, f, "blocks.0.cross_attn.k.weight", "transformer.blocks.0.attn2.to_k.lora_A.weight",
                  "transformer.blocks.0.attn2.to_k.lora_B.weight", 1.0, 0.8);
    }
    rad_st_close(f);
    rad_lora_close(l);
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) apply_to_tiny_model(l, 20);
    rad_lora_close(l);

    /* ComfyUI lora_A/lora_B, self-attention only, F32, no alpha. */
    printf("lora_comfy_ab_partial:\n");
    CHECK_OK(rad_lora_open(golden(p, sizeof p, "lora_comfy_ab_partial.safetensors"), 1.0f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        printf("  style: %s\n", rad_lora_style(l));
        CHECK(!strcmp(rad_lora_style(l), "ComfyUI/official (diffusion_model., lora_A/lora_B)"));
        CHECK(rad_lora_module_count(l) == 8);
        check_ranks(l, 4, NAN);
        for (size_t i = 0; i < rad_lora_module_count(l); i++) {
            const char *t;
            rad_lora_module_at(l, i, &t, NULL, NULL);
            CHECK(strstr(t, ".self_attn.") != NULL);
        }
        ref_check("partial", l, f, "blocks.0.self_attn.v.weight", "diffusion_model.blocks.0.self_attn.v.lora_A.weight",
                  "diffusion_model.blocks.0.self_attn.v.lora_B.weight", 1.0, 1.0);
        /* A tensor the LoRA does not touch. */
        int64_t shape[2] = {48, 48};
        float w[48 * 48] = {0};
        bool touched = true;
        CHECK_OK(rad_lora_apply(l, "blocks.0.cross_attn.q.weight", 2, shape, w, &touched));
        CHECK(!touched);
    }
    rad_st_close(f);
    rad_lora_close(l);
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) apply_to_tiny_model(l, 8);
    rad_lora_close(l);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Synthetic files */

static float *rnd(size_t n, uint64_t seed, float amp) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = amp * rad_test_uniform(&seed);
    return x;
}

/* F16 / BF16 copies (nearest even); the reference reads the stored values back, so only validity matters here. */
static uint16_t *to_half(const float *x, size_t n, rad_dtype dt) {
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        if (dt == RAD_DT_BF16) {
            h[i] = rad_f32_to_bf16(x[i]);
            continue;
        }
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint32_t s = (u >> 16) & 0x8000u, m = u & 0x7fffffu;
        int e = (int)((u >> 23) & 0xffu) - 127 + 15;
        if (e <= 0) { /* below fp16's normal range (|x| < 2^-14): store zero */
            h[i] = (uint16_t)s;
            continue;
        }
        uint32_t v = ((uint32_t)e << 10) | (m >> 13), rem = m & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (v & 1))) v++;
        h[i] = (uint16_t)(s | v);
    }
    return h;
}

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

/* Odd sizes (remainders of every tile), a non-power-of-two scale, F16 and BF16, and the threaded path. */
static void synthetic_merge(void) {
    printf("synthetic merge:\n");
    enum { O1 = 70, I1 = 37, R1 = 5, O2 = 1030, I2 = 1029, R2 = 16 };
    float *a1 = rnd(R1 * I1, 1, 0.5f), *b1 = rnd(O1 * R1, 2, 0.5f);
    float *a2 = rnd(R2 * I2, 3, 0.1f), *b2 = rnd((size_t)O2 * R2, 4, 0.1f);
    uint16_t *a2h = to_half(a2, R2 * I2, RAD_DT_F16), *b2h = to_half(b2, (size_t)O2 * R2, RAD_DT_BF16);
    float alpha1 = 3.0f, alpha2 = 16.0f;
    rad_st_out t[] = {
        {"diffusion_model.blocks.0.ffn.0.lora_down.weight", RAD_DT_F32, 2, {R1, I1}, a1},
        {"diffusion_model.blocks.0.ffn.0.lora_up.weight", RAD_DT_F32, 2, {O1, R1}, b1},
        {"diffusion_model.blocks.0.ffn.0.alpha", RAD_DT_F32, 0, {0}, &alpha1},
        {"diffusion_model.blocks.0.ffn.2.lora_down.weight", RAD_DT_F16, 2, {R2, I2}, a2h},
        {"diffusion_model.blocks.0.ffn.2.lora_up.weight", RAD_DT_BF16, 2, {O2, R2}, b2h},
        {"diffusion_model.blocks.0.ffn.2.alpha", RAD_DT_F32, 1, {1}, &alpha2},
    };
    char p[512];
    CHECK_OK(rad_st_write(tmp_path(p, sizeof p, "synth.safetensors"), t, 6, NULL, 0));
    rad_lora *l = NULL;
    rad_st_file *f = NULL;
    CHECK_OK(rad_lora_open(p, -1.25f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        CHECK(rad_lora_module_count(l) == 2);
        ref_check("odd sizes", l, f, "blocks.0.ffn.0.weight", "diffusion_model.blocks.0.ffn.0.lora_down.weight",
                  "diffusion_model.blocks.0.ffn.0.lora_up.weight", 3.0 / 5, -1.25);
        rad_set_threads(4);
        ref_check("4 threads", l, f, "blocks.0.ffn.2.weight", "diffusion_model.blocks.0.ffn.2.lora_down.weight",
                  "diffusion_model.blocks.0.ffn.2.lora_up.weight", 1.0, -1.25);
        /* The same bits on 1 and 7 threads: every sum runs k = 0..r-1 whatever the split. */
        int64_t shape[2] = {O2, I2};
        float *w1 = calloc((size_t)O2 * I2, sizeof(float)), *w7 = calloc((size_t)O2 * I2, sizeof(float));
        bool touched;
        rad_set_threads(1);
        CHECK_OK(rad_lora_apply(l, "blocks.0.ffn.2.weight", 2, shape, w1, &touched));
        rad_set_threads(7);
        CHECK_OK(rad_lora_apply(l, "blocks.0.ffn.2.weight", 2, shape, w7, &touched));
        rad_set_threads(0);
        CHECK(!memcmp(w1, w7, (size_t)O2 * I2 * sizeof(float)));
        free(w1);
        free(w7);
        /* The model tensor must have the delta's shape. */
        int64_t bad[2] = {O1, I1 + 1};
        float *w = calloc(O1 * (I1 + 1), sizeof(float));
        rad_status s = rad_lora_apply(l, "blocks.0.ffn.0.weight", 2, bad, w, &touched);
        CHECK(s == RADIAL_ERR_MODEL);
        printf("  shape mismatch: %s\n", rad_last_error());
        CHECK(strstr(rad_last_error(), "diffusion_model.blocks.0.ffn.0.lora_up.weight") &&
              strstr(rad_last_error(), "[70, 37]") && strstr(rad_last_error(), "[70, 38]") &&
              strstr(rad_last_error(), "blocks.0.ffn.0.weight"));
        CHECK(rad_lora_apply(l, "blocks.0.ffn.0.weight", 1, bad, w, &touched) == RADIAL_ERR_MODEL);
        CHECK(rad_lora_apply(l, "blocks.0.ffn.0.weight", 0, bad, w, &touched) == RADIAL_ERR_INVALID_ARG);
        free(w);
    }
    rad_st_close(f);
    rad_lora_close(l);
    free(a1), free(b1), free(a2), free(b2), free(a2h), free(b2h);
}

/* .diff, .diff_b, modulation, head.head.diff, dropped keys, and a module the model lacks. */
static void synthetic_deltas(void) {
    printf("synthetic deltas:\n");
    float *d = rnd(6 * 4, 5, 1.0f), *db = rnd(4, 6, 1.0f), *dn = rnd(4, 7, 1.0f), *dm = rnd(6 * 4, 8, 1.0f);
    float *a = rnd(2 * 4, 9, 1.0f), *b = rnd(4 * 2, 10, 1.0f);
    rad_st_out t[] = {
        {"diffusion_model.head.head.diff", RAD_DT_F32, 2, {6, 4}, d},
        {"diffusion_model.head.head.diff_b", RAD_DT_F32, 1, {4}, db},
        {"diffusion_model.blocks.3.modulation.diff", RAD_DT_F32, 3, {1, 6, 4}, dm},
        {"diffusion_model.blocks.3.norm3.diff", RAD_DT_F32, 1, {4}, dn},              /* dropped: norm */
        {"diffusion_model.blocks.3.self_attn.norm_q.diff_b", RAD_DT_F32, 1, {4}, dn}, /* dropped: norm */
        {"diffusion_model.time_projection.1.diff_b", RAD_DT_F32, 1, {4}, db}, /* dropped: no time_projection weight */
        {"diffusion_model.blocks.35.self_attn.q.lora_down.weight", RAD_DT_F32, 2, {2, 4}, a},
        {"diffusion_model.blocks.35.self_attn.q.lora_up.weight", RAD_DT_F32, 2, {4, 2}, b},
    };
    char p[512];
    CHECK_OK(rad_st_write(tmp_path(p, sizeof p, "deltas.safetensors"), t, 8, NULL, 0));
    rad_lora *l = NULL;
    CHECK_OK(rad_lora_open(p, 0.5f, &l));
    if (l) {
        printf("  style: %s, %zu modules\n", rad_lora_style(l), rad_lora_module_count(l));
        CHECK(rad_lora_module_count(l) == 4);
        CHECK(has_target(l, "head.head.weight") && has_target(l, "head.head.bias") &&
              has_target(l, "blocks.3.modulation") && has_target(l, "blocks.35.self_attn.q.weight"));
        CHECK(!has_target(l, "time_projection.1.bias") && !has_target(l, "blocks.3.norm3.weight"));
        float w[24] = {0}, m[24] = {0}, bias[4] = {1, 1, 1, 1};
        int64_t sw[2] = {6, 4}, sm[3] = {1, 6, 4}, sb[1] = {4};
        bool touched;
        CHECK_OK(rad_lora_apply(l, "head.head.weight", 2, sw, w, &touched));
        CHECK(touched);
        CHECK_OK(rad_lora_apply(l, "head.head.bias", 1, sb, bias, &touched));
        CHECK_OK(rad_lora_apply(l, "blocks.3.modulation", 3, sm, m, &touched));
        bool ok = true;
        for (int i = 0; i < 24; i++) ok &= w[i] == 0.5f * d[i] && m[i] == 0.5f * dm[i];
        for (int i = 0; i < 4; i++) ok &= bias[i] == 1 + 0.5f * db[i];
        CHECK(ok);
        int64_t sm2[2] = {6, 4};
        CHECK(rad_lora_apply(l, "blocks.3.modulation", 2, sm2, m, &touched) == RADIAL_ERR_MODEL);
        printf("  diff shape mismatch: %s\n", rad_last_error());
        /* blocks.35 is beyond a 30-layer model: nothing applied it. */
        rad_status s = rad_lora_check_all_used(l);
        CHECK(s == RADIAL_ERR_MODEL && strstr(rad_last_error(), "blocks.35.self_attn.q"));
        printf("  unused module: %s\n", rad_last_error());
    }
    rad_lora_close(l);
    free(d), free(db), free(dn), free(dm), free(a), free(b);
}

/* Unprefixed official / diffusers names, time_projection kept when its weight is there, PEFT metadata. */
static void synthetic_styles(void) {
    printf("synthetic styles:\n");
    float *a = rnd(4 * 8, 11, 1.0f), *b = rnd(8 * 4, 12, 1.0f), *a2 = rnd(2 * 8, 13, 1.0f), *b2 = rnd(8 * 2, 14, 1.0f);
    float *bias = rnd(8, 15, 1.0f);
    char p[512];
    rad_lora *l = NULL;
    rad_st_file *f = NULL;

    rad_st_out bare[] = {
        {"blocks.2.cross_attn.k.lora_down.weight", RAD_DT_F32, 2, {4, 8}, a},
        {"blocks.2.cross_attn.k.lora_up.weight", RAD_DT_F32, 2, {8, 4}, b},
        {"time_projection.1.lora_A.weight", RAD_DT_F32, 2, {4, 8}, a},
        {"time_projection.1.lora_B.weight", RAD_DT_F32, 2, {8, 4}, b},
        {"time_projection.1.diff_b", RAD_DT_F32, 1, {8}, bias}, /* kept: the file has the weight keys */
    };
    CHECK_OK(rad_st_write(tmp_path(p, sizeof p, "bare.safetensors"), bare, 5, NULL, 0));
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) {
        printf("  %s: %zu modules\n", rad_lora_style(l), rad_lora_module_count(l));
        CHECK(!strcmp(rad_lora_style(l), "official names, no prefix"));
        CHECK(rad_lora_module_count(l) == 3 && has_target(l, "time_projection.1.bias") &&
              has_target(l, "time_projection.1.weight") && has_target(l, "blocks.2.cross_attn.k.weight"));
    }
    rad_lora_close(l);

    /* ModelMixin.save_lora_adapter: diffusers names, no prefix, config with lora_alpha 8, r 4, a rank pattern. */
    rad_st_out peft[] = {
        {"blocks.0.attn2.to_out.0.lora_A.weight", RAD_DT_F32, 2, {4, 8}, a},
        {"blocks.0.attn2.to_out.0.lora_B.weight", RAD_DT_F32, 2, {8, 4}, b},
        {"blocks.0.attn2.to_out.0.lora_B.bias", RAD_DT_F32, 1, {8}, bias},
        {"proj_out.lora_A.weight", RAD_DT_F32, 2, {2, 8}, a2},
        {"proj_out.lora_B.weight", RAD_DT_F32, 2, {8, 2}, b2},
    };
    const char *config = "{\"r\": 4, \"lora_alpha\": 8, \"rank_pattern\": {\"^proj_out\": 2}, "
                         "\"alpha_pattern\": {\"proj_out\": 1}, \"use_dora\": false}";
    const char *meta[] = {"format", "pt", "lora_adapter_metadata", config};
    CHECK_OK(rad_st_write(tmp_path(p, sizeof p, "peft_meta.safetensors"), peft, 5, meta, 2));
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    CHECK_OK(rad_st_open(p, &f));
    if (l && f) {
        printf("  %s: %zu modules\n", rad_lora_style(l), rad_lora_module_count(l));
        CHECK(!strcmp(rad_lora_style(l), "diffusers/PEFT names, no prefix"));
        CHECK(rad_lora_module_count(l) == 3);
        for (size_t i = 0; i < rad_lora_module_count(l); i++) {
            const char *t;
            rad_lora_module_at(l, i, &t, NULL, NULL);
            float want = !strcmp(t, "head.head.weight") ? 0.5f : 2.0f; /* alpha 1 / r 2; alpha 8 / r 4 */
            CHECK(rad_lora_module_scale(l, i) == want);
        }
        ref_check("peft metadata", l, f, "blocks.0.cross_attn.o.weight", "blocks.0.attn2.to_out.0.lora_A.weight",
                  "blocks.0.attn2.to_out.0.lora_B.weight", 2.0, 1.0);
        ref_check("peft metadata", l, f, "head.head.weight", "proj_out.lora_A.weight", "proj_out.lora_B.weight", 0.5,
                  1.0);
        /* PEFT scales lora_B's bias with the module's scaling too. */
        float w[8] = {0};
        int64_t n = 8;
        bool touched;
        CHECK_OK(rad_lora_apply(l, "blocks.0.cross_attn.o.bias", 1, &n, w, &touched));
        bool ok = touched;
        for (int i = 0; i < 8; i++) ok &= w[i] == 2.0f * bias[i];
        CHECK(ok);
    }
    rad_st_close(f);
    rad_lora_close(l);

    /* diffusers-named file with a stray text-encoder key: ignored, as diffusers' prefix filter ignores it. */
    rad_st_out te[] = {
        {"transformer.blocks.0.attn1.to_q.lora_A.weight", RAD_DT_F32, 2, {4, 8}, a},
        {"transformer.blocks.0.attn1.to_q.lora_B.weight", RAD_DT_F32, 2, {8, 4}, b},
        {"text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight", RAD_DT_F32, 2, {4, 8}, a},
        {"transformer.blocks.0.attn1.to_q.dora_scale", RAD_DT_F32, 1, {8}, bias}, /* dropped, as diffusers does */
    };
    CHECK_OK(rad_st_write(tmp_path(p, sizeof p, "te.safetensors"), te, 4, NULL, 0));
    CHECK_OK(rad_lora_open(p, 1.0f, &l));
    if (l) {
        CHECK(rad_lora_module_count(l) == 1 && has_target(l, "blocks.0.self_attn.q.weight"));
    }
    rad_lora_close(l);
    free(a), free(b), free(a2), free(b2), free(bias);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "rad_lora_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    golden_files();
    synthetic_merge();
    synthetic_deltas();
    synthetic_styles();
    const char *names[] = {"synth.safetensors", "deltas.safetensors", "bare.safetensors", "peft_meta.safetensors",
                           "te.safetensors"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_path(p, sizeof p, names[i]));
    rmdir(g_dir);
    TEST_MAIN_END();
}
