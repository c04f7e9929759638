/* The profile (backend/profile.h) and the stage ranges (backend.h range_push / range_pop) on the CPU backend:
 * - ops by family and ranges as nested stages, the same counts whatever the batch size, a stage's ops within its
 *   time and its stages within it, the backend's table restored bit for bit at detach;
 * - misuse found: a push without its pop (named), a pop without a push, a second profile;
 * - a whole generation of the tiny model: every stage and op family present with the counts the model implies
 *   (steps, forwards, blocks, dense vs radial attention), and the ranges balanced after a clean run, a cancelled
 *   one and runs failing inside the text encoder, a DiT block and the VAE;
 * - the table and its JSON. */
#include <jansson.h>

#include "attn/bsr.h"
#include "backend/backend.h"
#include "backend/profile.h"
#include "base/mem.h"
#include "pipeline/pipeline.h"
#include "radial.h"
#include "test_util.h"

/* Every row's ops take no more than its own time, its child rows no more than it (time, ops per family), and
 * nothing is negative. On the host clock these hold exactly (an op's timestamps lie between its stage's), up to
 * rounding. */
static void check_consistent(const rad_profile *p) {
    const int n = rad_profile_n_stages(p);
    CHECK(n >= 1 && rad_profile_stage_at(p, 0)->parent == -1 && !strcmp(rad_profile_stage_at(p, 0)->name, "all"));
    for (int i = 0; i < n; i++) {
        const rad_profile_stage *st = rad_profile_stage_at(p, i);
        double ops = 0, kids = 0;
        int64_t kid_ops[RAD_OPF_N] = {0};
        for (int f = 0; f < RAD_OPF_N; f++) {
            CHECK(st->family_s[f] >= 0 && st->family_ops[f] >= 0);
            CHECK(st->family_ops[f] > 0 || st->family_s[f] == 0);
            ops += st->family_s[f];
        }
        for (int j = i + 1; j < n; j++) {
            const rad_profile_stage *c = rad_profile_stage_at(p, j);
            if (c->parent != i) continue;
            CHECK(c->depth == st->depth + 1);
            kids += c->seconds;
            for (int f = 0; f < RAD_OPF_N; f++) kid_ops[f] += c->family_ops[f];
        }
        const double tol = 1e-9 + 1e-9 * st->seconds;
        if (!(ops <= st->seconds + tol) || !(kids <= st->seconds + tol))
            fprintf(stderr, "stage %s: %.9f s, its ops %.9f s, its stages %.9f s\n", st->name, st->seconds, ops, kids);
        CHECK(st->seconds >= 0 && ops <= st->seconds + tol && kids <= st->seconds + tol);
        for (int f = 0; f < RAD_OPF_N; f++) CHECK(kid_ops[f] <= st->family_ops[f]);
    }
}

static int64_t ops_of(const rad_profile *p, const char *stage, rad_op_family f) {
    const rad_profile_stage *st = rad_profile_find(p, stage);
    return st ? st->family_ops[f] : -1;
}

static int64_t calls_of(const rad_profile *p, const char *stage) {
    const rad_profile_stage *st = rad_profile_find(p, stage);
    return st ? st->calls : -1;
}

static void check_balanced(const rad_profile *p) {
    int64_t pushes, pops;
    rad_profile_range_counts(p, &pushes, &pops);
    if (pushes != pops || pushes == 0) fprintf(stderr, "ranges: %lld pushes, %lld pops\n", (long long)pushes, (long long)pops);
    CHECK(pushes == pops && pushes > 0);
}

/* ---------------------------------------------------------------------------------------------- ops */

typedef struct {
    float *x, *y, *q, *k, *v, *o, *kc, *vc, *bias;
    rad_weight *w;
    rad_bsr mask;
} bufs;

enum { D = 8, NQ = 4, NK = 6 };

static void bufs_make(rad_backend *be, bufs *b) {
    float host[D * D];
    uint64_t r = 7;
    for (int i = 0; i < D * D; i++) host[i] = rad_test_uniform(&r);
    float **all[] = {&b->x, &b->y, &b->q, &b->k, &b->v, &b->o, &b->kc, &b->vc, &b->bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK_OK(be->alloc(be, sizeof host, "test buffer", (void **)all[i]));
        CHECK_OK(be->upload(be, *all[i], host, sizeof host));
    }
    const rad_weight_src src = rad_weight_src_f32(host);
    CHECK_OK(be->weight_new(be, &src, D, D, "w", &b->w));
    CHECK_OK(rad_bsr_dense(NQ, 128, &b->mask));
}

static void bufs_free(rad_backend *be, bufs *b) {
    float *all[] = {b->x, b->y, b->q, b->k, b->v, b->o, b->kc, b->vc, b->bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->free(be, all[i]);
    be->weight_free(be, b->w);
    rad_bsr_free(&b->mask);
}

/* The same work: "outer" { reps x (3 linear, "inner" { attention dense, cross, radial }, layernorm) }, then a
 * linear outside every stage. 2 heads of 4. */
static void some_work(rad_backend *be, bufs *b, int reps) {
    rad_range_push(be, "outer");
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < 3; i++) CHECK_OK(be->linear(be, b->x, NQ, D, b->w, NULL, b->y));
        rad_range_push(be, "inner");
        CHECK_OK(be->attention(be, b->q, b->k, b->v, b->o, NQ, NQ, 2, 4, 0.5f, NULL, NULL));
        CHECK_OK(be->attention(be, b->q, b->kc, b->vc, b->o, NQ, NK, 2, 4, 0.5f, NULL, NULL));
        CHECK_OK(be->attention(be, b->q, b->k, b->v, b->o, NQ, NQ, 2, 4, 0.5f, NULL, &b->mask));
        rad_range_pop(be);
        CHECK_OK(be->layernorm(be, b->y, NQ, D, NULL, NULL, 1e-6f, b->y));
    }
    rad_range_pop(be);
    CHECK_OK(be->linear(be, b->x, NQ, D, b->w, NULL, b->y));
}

static void test_ops(void) {
    rad_backend *be = NULL;
    CHECK_OK(rad_backend_cpu(&be));
    if (!be) return;
    bufs b = {0};
    bufs_make(be, &b);
    rad_backend before;
    memcpy(&before, be, sizeof before); /* padding too: the table is compared bytewise after detach */
    /* 4 slots: the batch turns over at every op (the most waits); 0: the default batch */
    const int slot_counts[2] = {4, 0};
    for (int t = 0; t < 2; t++) {
        rad_profile *p = NULL;
        CHECK_OK(rad_profile_new(slot_counts[t], &p));
        if (!p) break;
        CHECK_OK(rad_profile_attach(p, be));
        CHECK(be->profile == p && be->linear != before.linear);
        some_work(be, &b, 5);
        CHECK_OK(rad_profile_detach(p));
        CHECK(!memcmp(&before, be, sizeof before)); /* every entry back as it was, the profile field cleared */
        check_consistent(p);
        check_balanced(p);
        CHECK(rad_profile_n_stages(p) == 3); /* all, outer, inner */
        CHECK(calls_of(p, "outer") == 1 && calls_of(p, "inner") == 5);
        CHECK(ops_of(p, "all", RAD_OPF_GEMM) == 16 && ops_of(p, "outer", RAD_OPF_GEMM) == 15);
        CHECK(ops_of(p, "inner", RAD_OPF_GEMM) == 0 && ops_of(p, "outer", RAD_OPF_NORM) == 5);
        CHECK(ops_of(p, "inner", RAD_OPF_ATTN_DENSE) == 5 && ops_of(p, "inner", RAD_OPF_ATTN_CROSS) == 5 &&
              ops_of(p, "inner", RAD_OPF_ATTN_RADIAL) == 5);
        CHECK(ops_of(p, "all", RAD_OPF_ATTN_RADIAL) == 5);
        CHECK(rad_profile_stage_at(p, 0)->seconds > 0 && rad_profile_find(p, "inner")->seconds > 0);
        CHECK(!strcmp(rad_profile_clock(p), "host clock"));

        char *text = NULL;
        CHECK_OK(rad_profile_table(p, &text));
        CHECK(text && strstr(text, "| stage | calls | total | gemm | attention dense | attention radial | "
                                   "attention cross | norm | other |"));
        CHECK(text && strstr(text, "| · · inner | 5 |") && strstr(text, "| · outer | 1 |"));
        CHECK(text && strstr(text, "| attention radial | 5 |") && strstr(text, "self-attention per call"));
        rad_free(text);
        json_t *j = NULL;
        CHECK_OK(rad_profile_json(p, (void **)&j));
        json_t *stages = json_object_get(j, "stages");
        CHECK(json_array_size(stages) == 3);
        CHECK(!strcmp(json_string_value(json_object_get(json_array_get(stages, 2), "path")), "all/outer/inner"));
        CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "families"), "gemm"), "ops")) == 16);
        CHECK(json_integer_value(json_object_get(j, "range_pushes")) == 6);
        json_decref(j);
        rad_profile_free(p);
    }
    bufs_free(be, &b);
    be->destroy(be);
}

static void test_misuse(void) {
    rad_backend *be = NULL, *be2 = NULL;
    CHECK_OK(rad_backend_cpu(&be));
    CHECK_OK(rad_backend_cpu(&be2));
    if (!be || !be2) return;
    rad_backend before;
    memcpy(&before, be, sizeof before);
    rad_profile *p = NULL, *q = NULL, *bad = NULL;
    CHECK_OK(rad_profile_new(0, &p));
    CHECK_OK(rad_profile_new(0, &q));
    CHECK_FAILS(rad_profile_new(3, &bad)); /* too few slots for an op and a batch turnover */
    CHECK(bad == NULL);
    if (!p || !q) return;
    CHECK_FAILS(rad_profile_detach(p)); /* not attached */
    CHECK_OK(rad_profile_attach(p, be));
    CHECK_FAILS(rad_profile_attach(q, be));  /* the backend has one */
    CHECK_FAILS(rad_profile_attach(p, be2)); /* the profile serves one backend */
    char *text = NULL;
    CHECK_FAILS(rad_profile_table(p, &text)); /* not while attached */

    /* a push without its pop: detach names it, closes it, and restores the table */
    rad_range_push(be, "left open");
    rad_range_push(be, "inner open");
    CHECK_FAILS(rad_profile_detach(p));
    CHECK(strstr(rad_last_error(), "2 range(s) still open") && strstr(rad_last_error(), "'inner open'"));
    CHECK(!memcmp(&before, be, sizeof before));
    CHECK(calls_of(p, "left open") == 1 && rad_profile_find(p, "left open")->seconds > 0);
    check_consistent(p);

    /* a pop without a push */
    CHECK_OK(rad_profile_attach(p, be));
    rad_range_pop(be);
    CHECK_FAILS(rad_profile_detach(p));
    CHECK(strstr(rad_last_error(), "without a range_push") != NULL);
    CHECK(!memcmp(&before, be, sizeof before));

    /* freeing an attached profile detaches it first */
    CHECK_OK(rad_profile_attach(q, be));
    rad_profile_free(q);
    CHECK(!memcmp(&before, be, sizeof before));
    rad_profile_free(p);
    be->destroy(be);
    be2->destroy(be2);
}

/* ---------------------------------------------------------------------------------------------- pipeline */

/* A fault injector in the pipeline's backend table: the nth call of linear or conv3d fails (0: none). */
static rad_backend real;
static int64_t linear_calls, linear_fail_at, conv_calls, conv_fail_at;
static rad_status failing_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                                 const float *bias, float *y) {
    if (++linear_calls == linear_fail_at) return rad_err(RADIAL_ERR_BACKEND, "injected failure of linear %lld", (long long)linear_calls);
    return real.linear(be, x, m, k, w, bias, y);
}
static rad_status failing_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                                 const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                                 int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    if (++conv_calls == conv_fail_at) return rad_err(RADIAL_ERR_BACKEND, "injected failure of conv3d %lld", (long long)conv_calls);
    return real.conv3d(be, x, cin, t, h, w, prev, n_prev, wt, bias, cout, kt, kh, kw, ph, pw, y);
}

static int cancel_at_2(int step, int steps, double s, void *user) {
    (void)steps, (void)s, (void)user;
    return step == 2;
}
static int cancel_decode(int done, int total, void *user) {
    (void)done, (void)total, (void)user;
    return 1;
}

/* One generation with a profile attached; the generation's status into *gen. */
static rad_profile *profiled(radial_ctx *ctx, const radial_gen_params *g, rad_status *gen) {
    rad_profile *p = NULL;
    CHECK_OK(rad_profile_new(0, &p));
    if (!p) return NULL;
    CHECK_OK(rad_profile_attach(p, rad_pipeline_backend(ctx)));
    radial_video v = {0};
    *gen = radial_generate(ctx, g, &v, NULL);
    radial_video_free(&v);
    CHECK_OK(rad_profile_detach(p)); /* fails when the ranges do not balance */
    check_balanced(p);
    check_consistent(p);
    return p;
}

static void test_pipeline(void) {
    char model[1024];
    rad_test_path(model, sizeof model, "tiny-wan");
    radial_params rp = radial_default_params();
    rp.backend = RADIAL_BACKEND_CPU, rp.n_threads = 2;
    radial_ctx *ctx = NULL;
    CHECK_OK(radial_init(model, &rp, &ctx));
    if (!ctx) return;
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "a boat";
    g.width = 96, g.height = 64, g.frames = 9, g.steps = 3, g.seed = 3;
    const int L = 2, T = 3; /* the tiny DiT's blocks; latent frames of 9 */
    rad_status gs;

    /* dense */
    rad_profile *p = profiled(ctx, &g, &gs);
    CHECK_OK(gs);
    if (p) {
        static const char *const stages[] = {"generate", "text_encoder", "t5.encode", "t5.layer", "denoise", "step",
                                             "dit.forward", "dit.time_embed", "dit.text_embed", "dit.block", "decode",
                                             "vae.decode", "vae.chunk", "vae.middle", "vae.up0", "vae.up1", "vae.up2",
                                             "vae.up3", "vae.head"};
        for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
            if (!rad_profile_find(p, stages[i])) fprintf(stderr, "no stage %s\n", stages[i]);
            CHECK(rad_profile_find(p, stages[i]) != NULL);
        }
        static const rad_op_family present[] = {RAD_OPF_GEMM, RAD_OPF_ATTN_DENSE, RAD_OPF_ATTN_CROSS, RAD_OPF_NORM,
                                                RAD_OPF_ROPE, RAD_OPF_ELEMENTWISE, RAD_OPF_CONV, RAD_OPF_TRANSFER};
        for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) CHECK(ops_of(p, "all", present[i]) > 0);
        CHECK(ops_of(p, "all", RAD_OPF_ATTN_RADIAL) == 0 && ops_of(p, "all", RAD_OPF_COLLECTIVE) == 0);
        CHECK(calls_of(p, "step") == 3 && calls_of(p, "dit.forward") == 6 && calls_of(p, "dit.block") == 6 * L);
        CHECK(calls_of(p, "vae.decode") == 1 && calls_of(p, "vae.chunk") == T);
        /* each block: one self- and one cross-attention, 9 GEMM ops (q, k, v, o, cross q, k, v, o, the FFN); the VAE
         * and the text encoder have no GEMM */
        CHECK(ops_of(p, "dit.block", RAD_OPF_ATTN_DENSE) == 6 * L && ops_of(p, "dit.block", RAD_OPF_ATTN_CROSS) == 6 * L);
        CHECK(ops_of(p, "dit.block", RAD_OPF_GEMM) == 54 * L && ops_of(p, "decode", RAD_OPF_GEMM) == 0);
        CHECK(ops_of(p, "decode", RAD_OPF_CONV) == ops_of(p, "all", RAD_OPF_CONV));
        CHECK(ops_of(p, "vae.middle", RAD_OPF_ATTN_DENSE) == T); /* the VAE's middle attention, once per chunk */
        char *text = NULL;
        CHECK_OK(rad_profile_table(p, &text));
        CHECK(text && strstr(text, "| · · · · · dit.block | 12 |") && strstr(text, "| conv |"));
        if (text) printf("%s\n", text);
        rad_free(text);
        rad_profile_free(p);
    }

    /* radial: dense for the first step and the first block of every step */
    g.attention = RADIAL_ATTN_RADIAL, g.steps = 4, g.dense_steps = 1, g.dense_layers = 1;
    p = profiled(ctx, &g, &gs);
    CHECK_OK(gs);
    if (p) {
        CHECK(ops_of(p, "dit.block", RAD_OPF_ATTN_RADIAL) == 2 * 3 * (L - 1));
        CHECK(ops_of(p, "dit.block", RAD_OPF_ATTN_DENSE) == 2 * 1 * L + 2 * 3 * 1);
        CHECK(ops_of(p, "dit.block", RAD_OPF_ATTN_CROSS) == 2 * 4 * L);
        rad_profile_free(p);
    }

    /* cancelled in the denoising loop and in the decode: still balanced (profiled checks) */
    g.attention = RADIAL_ATTN_DENSE, g.steps = 3, g.dense_steps = -1;
    g.on_step = cancel_at_2;
    p = profiled(ctx, &g, &gs);
    CHECK(gs == RADIAL_ERR_CANCELLED);
    if (p) CHECK(calls_of(p, "step") == 2 && !rad_profile_find(p, "vae.decode"));
    rad_profile_free(p);
    g.on_step = NULL, g.on_decode = cancel_decode;
    p = profiled(ctx, &g, &gs);
    CHECK(gs == RADIAL_ERR_CANCELLED);
    if (p) CHECK(calls_of(p, "vae.chunk") == 1);
    rad_profile_free(p);
    g.on_decode = NULL;

    /* failures inside the text encoder, a DiT block (second step) and the VAE: every range still closes. The calls
     * per stage come from a clean profile. */
    p = profiled(ctx, &g, &gs);
    CHECK_OK(gs);
    const int64_t te_gemm = p ? ops_of(p, "text_encoder", RAD_OPF_GEMM) : 0;
    const int64_t step_gemm = p ? ops_of(p, "denoise", RAD_OPF_GEMM) / 3 : 0;
    const int64_t convs = p ? ops_of(p, "decode", RAD_OPF_CONV) : 0;
    rad_profile_free(p);
    CHECK(te_gemm > 2 && step_gemm > 2 && convs > 2);
    rad_backend *be = rad_pipeline_backend(ctx);
    real = *be;
    be->linear = failing_linear, be->conv3d = failing_conv3d;
    /* the text encoder's middle GEMM; the 10th of step 2, which is in the first forward's first block (patch
     * embedding 1, time embedding 3, text embedding 2, then the block's) */
    const int64_t fail_linear[2] = {te_gemm / 2, te_gemm + step_gemm + 10};
    for (int i = 0; i < 2; i++) {
        linear_calls = 0, linear_fail_at = fail_linear[i], conv_calls = 0, conv_fail_at = 0;
        p = profiled(ctx, &g, &gs);
        CHECK(gs == RADIAL_ERR_BACKEND && strstr(rad_last_error(), "injected failure of linear"));
        if (p && i == 0) CHECK(calls_of(p, "t5.layer") >= 1 && !rad_profile_find(p, "denoise"));
        if (p && i == 1)
            CHECK(calls_of(p, "step") == 2 && calls_of(p, "dit.block") == 2 * L + 1 && !rad_profile_find(p, "decode"));
        rad_profile_free(p);
    }
    linear_calls = 0, linear_fail_at = 0, conv_calls = 0, conv_fail_at = convs / 2;
    p = profiled(ctx, &g, &gs);
    CHECK(gs == RADIAL_ERR_BACKEND && strstr(rad_last_error(), "injected failure of conv3d"));
    if (p) CHECK(calls_of(p, "vae.decode") == 1);
    rad_profile_free(p);
    be->linear = real.linear, be->conv3d = real.conv3d;
    radial_free(ctx);
}

int main(void) {
    test_ops();
    test_misuse();
    test_pipeline();
    TEST_MAIN_END();
}
