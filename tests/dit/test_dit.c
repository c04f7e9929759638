/* DiT forward against the official golden (tests/data/cases/dit_forward.safetensors) from every weight layout,
 * plus shape-generic checks: the dense path through an all-ones block-CSR layout, the per-layer policy, token
 * grids of other shapes, and rejected inputs. */
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "dit/dit.h"
#include "io/safetensors.h"
#include "test_util.h"

static float *tensor(const rad_st_file *f, const char *name, const rad_st_tensor **t) {
    *t = rad_st_find(f, name);
    if (!*t) return NULL;
    float *p = malloc((size_t)(*t)->numel * sizeof *p);
    if (rad_st_to_f32(*t, p) != RAD_OK) return free(p), NULL;
    return p;
}

static rad_dit *load(rad_backend *be, const char *rel) {
    char path[1024];
    rad_weights *w = NULL;
    rad_dit *d = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(path, sizeof path, rel), RAD_COMP_DIT, &w));
    if (w) CHECK_OK(rad_dit_load(be, w, NULL, 0, -1, &d));
    rad_weights_close(w);
    return d;
}

static int finite_all(const float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return 0;
    return 1;
}

int main(void) {
    rad_backend *be;
    CHECK_OK(rad_backend_cpu(&be));
    char path[1024];
    rad_st_file *cf = NULL;
    CHECK_OK(rad_st_open(rad_test_path(path, sizeof path, "cases/dit_forward.safetensors"), &cf));
    if (!cf) TEST_MAIN_END();
    const rad_st_tensor *tx, *tt, *tc, *tv;
    float *x = tensor(cf, "x", &tx), *t = tensor(cf, "t", &tt), *ctx = tensor(cf, "context", &tc);
    float *vref = tensor(cf, "v", &tv);
    CHECK(x && t && ctx && vref);
    const int T = (int)tx->shape[1], H = (int)tx->shape[2], W = (int)tx->shape[3], L = (int)tc->shape[0];
    const size_t nv = (size_t)tv->numel;
    float *v = malloc(nv * sizeof *v), *v2 = malloc(nv * sizeof *v2);

    /* the golden, from the diffusers folder, the diffusers root and the official single file */
    static const char *const layouts[] = {"tiny-wan/transformer", "tiny-wan",
                                          "tiny-wan-original/diffusion_pytorch_model.safetensors"};
    for (int i = 0; i < 3; i++) {
        rad_dit *d = load(be, layouts[i]);
        if (!d) continue;
        CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, NULL, v));
        double e = rad_rel_err(v, vref, nv);
        printf("%s: rel err %.3g\n", layouts[i], e);
        CHECK(e < 1e-4);
        rad_dit_free(d);
    }

    rad_dit *d = load(be, "tiny-wan/transformer");
    if (!d) TEST_MAIN_END();
    const int n_layers = rad_dit_config_of(d)->num_layers;
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, NULL, v));

    /* dense attention through an all-ones layout (blocks of 16 over 72 tokens: a partial last block) */
    rad_bsr ones;
    const int64_t ntok = (int64_t)T * (H / 2) * (W / 2);
    CHECK_OK(rad_bsr_dense(ntok, 16, &ones));
    rad_dit_attn_policy pol = {&ones, 0};
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, &pol, v2));
    CHECK(rad_rel_err(v2, v, nv) < 1e-6);
    CHECK(rad_rel_err(v2, vref, nv) < 1e-4);
    /* all layers dense by policy: the mask is never used, the result is bit-identical */
    pol.dense_layers = n_layers;
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, &pol, v2));
    CHECK(memcmp(v, v2, nv * sizeof *v) == 0);
    /* a diagonal-only layout in the last layer must change the result */
    uint8_t diag[25] = {0};
    for (int i = 0; i < 5; i++) diag[i * 5 + i] = 1;
    rad_bsr db;
    CHECK_OK(rad_bsr_from_mask(diag, 5, ntok, 16, &db));
    pol = (rad_dit_attn_policy){&db, n_layers - 1};
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, &pol, v2));
    CHECK(rad_rel_err(v2, v, nv) > 1e-4 && finite_all(v2, nv));
    rad_bsr_free(&db);

    /* the same forward again reuses the workspace and gives the same bits */
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, NULL, v2));
    CHECK(memcmp(v, v2, nv * sizeof *v) == 0);

    /* other token grids: T=1 with 1x3 tokens, T=5 with 3x1 tokens (odd counts, smaller and larger workspace),
     * no context rows */
    static const int grids[][3] = {{1, 2, 6}, {5, 6, 2}, {2, 16, 14}};
    for (int g = 0; g < 3; g++) {
        const int gT = grids[g][0], gH = grids[g][1], gW = grids[g][2];
        const size_t n = (size_t)16 * gT * gH * gW;
        float *gx = malloc(n * sizeof *gx), *gv = malloc(n * sizeof *gv);
        for (size_t i = 0; i < n; i++) gx[i] = x[i % (size_t)tx->numel];
        CHECK_OK(rad_dit_forward(d, gx, gT, gH, gW, 500.0f, ctx, g == 1 ? 0 : L, NULL, gv));
        CHECK(finite_all(gv, n));
        free(gx), free(gv);
    }
    CHECK_OK(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, NULL, v2)); /* back to the golden shape */
    CHECK(memcmp(v, v2, nv * sizeof *v) == 0);

    /* rejected inputs */
    CHECK_FAILS(rad_dit_forward(d, x, T, H - 1, W, t[0], ctx, L, NULL, v2));
    CHECK_FAILS(rad_dit_forward(d, x, 0, H, W, t[0], ctx, L, NULL, v2));
    CHECK_FAILS(rad_dit_forward(d, x, T, H, W, t[0], ctx, 513, NULL, v2));
    CHECK_FAILS(rad_dit_forward(d, x, T, H, W, NAN, ctx, L, NULL, v2));
    CHECK_FAILS(rad_dit_forward(d, x, 1 << 30, 1 << 30, 1 << 30, t[0], ctx, L, NULL, v2));
    rad_bsr small;
    CHECK_OK(rad_bsr_dense(ntok - 1, 16, &small));
    pol = (rad_dit_attn_policy){&small, 0};
    CHECK_FAILS(rad_dit_forward(d, x, T, H, W, t[0], ctx, L, &pol, v2));
    rad_bsr_free(&small);
    rad_bsr_free(&ones);
    rad_dit_free(d);

    /* weights of another component are not a DiT */
    rad_weights *w = NULL;
    CHECK_FAILS(rad_weights_open(rad_test_path(path, sizeof path, "tiny-wan-original/wan_vae_tiny.safetensors"),
                                 RAD_COMP_DIT, &w));
    /* a copy of the official file with one tensor of the wrong shape, then with one tensor missing */
    rad_st_file *of = NULL;
    CHECK_OK(rad_st_open(rad_test_path(path, sizeof path, "tiny-wan-original/diffusion_pytorch_model.safetensors"), &of));
    if (of) {
        const size_t nt = rad_st_count(of);
        rad_st_out *o = calloc(nt, sizeof *o);
        /* its config.json goes next to it */
        FILE *src = fopen(rad_test_path(path, sizeof path, "tiny-wan-original/config.json"), "rb");
        FILE *dst = fopen("config.json", "wb");
        CHECK(src && dst);
        for (int ch; src && dst && (ch = fgetc(src)) != EOF;) fputc(ch, dst);
        if (src) fclose(src);
        if (dst) fclose(dst);
        for (int variant = 0; variant < 2; variant++) {
            size_t k = 0;
            for (size_t i = 0; i < nt; i++) {
                const rad_st_tensor *st = rad_st_at(of, i);
                const int target = !strcmp(st->name, "blocks.1.ffn.2.weight");
                if (target && variant == 1) continue;
                o[k] = rad_test_st_out(st);
                if (target) o[k].shape[1] -= 1;
                k++;
            }
            CHECK_OK(rad_st_write("dit_bad.safetensors", o, k, NULL, 0));
            w = NULL;
            CHECK_OK(rad_weights_open("dit_bad.safetensors", RAD_COMP_DIT, &w));
            if (w) {
                CHECK_FAILS(rad_dit_load(be, w, NULL, 0, -1, &d));
                rad_weights_close(w);
            }
        }
        /* the count and the model checks: every variant is refused at load or at config time, naming the tensor */
        static const struct {
            const char *what, *expect; /* the message must contain `expect` */
        } k_refused[] = {
            {"extra tensor", "blocks.0.self_attn.extra.weight"},
            {"img_emb (image-to-video)", "image-to-video"},
            {"in_dim 36 (image-to-video)", "image-to-video (in_dim 36)"},
            {"vace_blocks", "VACE"},
            {"bias scale_weight", "cross_attn.o.scale_weight"},
        };
        o = calloc(nt + 1, sizeof *o);
        float *extra = calloc(48 * 36 * 4, sizeof *extra); /* big enough for every added tensor */
        for (size_t v = 0; v < sizeof k_refused / sizeof k_refused[0]; v++) {
            size_t k = 0;
            for (size_t i = 0; i < nt; i++) {
                o[k] = rad_test_st_out(rad_st_at(of, i));
                if (v == 2 && !strcmp(o[k].name, "patch_embedding.weight")) {
                    o[k].shape[1] = 36; /* 36 input channels: an image-to-video patch embedding */
                    o[k].dtype = RAD_DT_F32, o[k].data = extra;
                }
                k++;
            }
            static const char *const k_added[] = {"blocks.0.self_attn.extra.weight", "img_emb.proj.1.weight", NULL,
                                                  "vace_blocks.0.before_proj.weight", "blocks.0.cross_attn.o.scale_weight"};
            if (k_added[v]) o[k++] = (rad_st_out){.name = k_added[v], .dtype = RAD_DT_F32, .ndim = 1, .shape = {4}, .data = extra};
            CHECK_OK(rad_st_write("dit_bad.safetensors", o, k, NULL, 0));
            w = NULL;
            d = NULL;
            rad_status st = rad_weights_open("dit_bad.safetensors", RAD_COMP_DIT, &w);
            if (st == RAD_OK) st = rad_dit_load(be, w, NULL, 0, -1, &d);
            if (w) rad_weights_close(w);
            CHECK(st != RAD_OK && strstr(rad_last_error(), k_refused[v].expect));
            printf("refused (%s): %s\n", k_refused[v].what, rad_last_error());
            rad_dit_free(d);
        }
        free(extra);
        free(o);
        rad_st_close(of);
    }

    rad_st_close(cf);
    free(x), free(t), free(ctx), free(vref), free(v), free(v2);
    be->destroy(be);
    TEST_MAIN_END();
}
