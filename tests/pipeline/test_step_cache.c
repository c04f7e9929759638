/* Step caching (TeaCache; src/pipeline/step_cache.h):
 * 1. radial's rule gives the decisions of the Python transcription of the reference (tests/data/teacache:
 *    teacache_ref.py's output on indicator sequences recorded from the tiny model and on a synthetic one), with the
 *    same relative changes and sums, for every coefficient set; at threshold 0 radial skips nothing.
 * 2. A generation of the tiny model reads the recorded indicators and decides as the reference did, and says so.
 * 3. Threshold 0: the video is the uncached one bit for bit (CPU); a skipping threshold: it differs but stays
 *    close (the bound below is what was measured, with room).
 * 4. The same for MagCache (its rule reads no model output: the inputs are the step count and the settings).
 * 5. Misuse fails with a message: a bad setting, a reuse without a stored residual. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "dit/dit.h"
#include "pipeline/pipeline.h"
#include "pipeline/step_cache.h"
#include "radial.h"
#include "test_util.h"

#define MAX_CALLS 64
#define TINY_STEPS 20

typedef struct {
    int cnt, step, branch;
    float *e, *e0;
} call;

typedef struct {
    call c[MAX_CALLS];
    int n, dim;
} calls;

/* teacache_record's format: '#' lines, then "cnt step branch e[dim] e0[6*dim]" (hex floats). */
static int read_calls(const char *path, calls *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    static char line[1 << 20];
    float *vals = malloc(sizeof(float) * 100000);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (out->n == MAX_CALLS) break;
        call *c = &out->c[out->n];
        char *p = line, *end;
        c->cnt = (int)strtol(p, &end, 10), p = end;
        c->step = (int)strtol(p, &end, 10), p = end;
        c->branch = (int)strtol(p, &end, 10), p = end;
        int k = 0;
        for (double v = strtod(p, &end); end != p && k < 100000; v = strtod(p, &end)) vals[k++] = (float)v, p = end;
        if (k % 7 || (out->dim && k / 7 != out->dim)) {
            fprintf(stderr, "%s: a line of %d values\n", path, k);
            break;
        }
        out->dim = k / 7;
        c->e = malloc(sizeof(float) * (size_t)k);
        memcpy(c->e, vals, sizeof(float) * (size_t)k);
        c->e0 = c->e + out->dim;
        out->n++;
    }
    free(vals);
    fclose(f);
    return out->n;
}

static void free_calls(calls *cs) {
    for (int i = 0; i < cs->n; i++) free(cs->c[i].e);
}

/* The reference's decisions of one configuration (teacache_ref.py's output). */
typedef struct {
    char model[8], thresh_text[32];
    double thresh;
    int ret, steps, n;
    int cnt[MAX_CALLS], calc[MAX_CALLS];
    double rel[MAX_CALLS], acc[MAX_CALLS];
} ref_config;

static int read_configs(const char *path, ref_config **out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    int n = 0, cap = 64;
    ref_config *r = calloc((size_t)cap, sizeof *r);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "config ", 7)) {
            if (n == cap) break;
            ref_config *c = &r[n++];
            if (sscanf(line, "config %7s %31s %d %d", c->model, c->thresh_text, &c->ret, &c->steps) != 4) {
                fprintf(stderr, "%s: bad line %s", path, line);
                n--;
                continue;
            }
            c->thresh = strtod(c->thresh_text, NULL); /* correctly rounded, as Python's float() */
        } else if (n && strncmp(line, "end", 3)) {
            ref_config *c = &r[n - 1];
            char rel[64], acc[64];
            if (c->n < MAX_CALLS && sscanf(line, "%d %d %63s %63s", &c->cnt[c->n], &c->calc[c->n], rel, acc) == 4) {
                c->rel[c->n] = !strcmp(rel, "nan") ? NAN : strtod(rel, NULL);
                c->acc[c->n] = strtod(acc, NULL);
                c->n++;
            }
        }
    }
    fclose(f);
    *out = r;
    return n;
}

/* Part 1: the rule on the recorded inputs. Returns the number of configurations checked. */
static int check_rule(const char *calls_file, const char *decisions_file) {
    char p1[1024], p2[1024];
    rad_test_path(p1, sizeof p1, calls_file);
    rad_test_path(p2, sizeof p2, decisions_file);
    calls cs;
    ref_config *cfg = NULL;
    const int n_calls = read_calls(p1, &cs), n_cfg = read_configs(p2, &cfg);
    CHECK(n_calls == 2 * TINY_STEPS && n_cfg > 0);
    int differ_at_0 = 0;
    for (int k = 0; k < n_cfg; k++) {
        ref_config *c = &cfg[k];
        CHECK(c->n == n_calls && c->steps == TINY_STEPS);
        rad_teacache_rule rule;
        bool published;
        CHECK_OK(rad_teacache_rule_init(c->thresh, c->ret, !strcmp(c->model, "14B") ? 5120 : 1536, c->steps, &rule,
                                        &published));
        CHECK(published);
        rad_teacache_state st[2];
        memset(st, 0, sizeof st);
        int mismatches = 0, skipped = 0, ref_skipped = 0;
        for (int i = 0; i < n_calls && i < c->n; i++) {
            const call *x = &cs.c[i];
            CHECK(x->cnt == c->cnt[i] && x->cnt == 2 * x->step + x->branch);
            bool calc;
            double rel;
            CHECK_OK(rad_teacache_decide(&rule, &st[x->branch], x->cnt, false, c->ret ? x->e0 : x->e,
                                         (size_t)(c->ret ? 6 : 1) * (size_t)cs.dim, &calc, &rel));
            skipped += !calc;
            ref_skipped += i < c->n && !c->calc[i];
            /* the same float64 arithmetic in the same order: the same numbers, bit for bit */
            if (!(isnan(rel) ? isnan(c->rel[i]) : rel == c->rel[i])) mismatches++;
            if (c->thresh > 0) {
                if ((int)calc != c->calc[i] || st[x->branch].acc != c->acc[i]) mismatches++;
            } else { /* radial: threshold 0 skips nothing, where the reference may */
                CHECK(calc);
                differ_at_0 += !c->calc[i];
            }
        }
        if (mismatches)
            fprintf(stderr, "%s: %s threshold %s use_ret_steps %d: %d mismatches\n", decisions_file, c->model,
                    c->thresh_text, c->ret, mismatches);
        CHECK(mismatches == 0);
        if (c->thresh > 0)
            printf("  %s: %s threshold %-6s use_ret_steps %d: %2d of %d forwards skipped, as by the reference\n",
                   calls_file, c->model, c->thresh_text, c->ret, skipped, n_calls);
        else
            printf("  %s: %s threshold 0      use_ret_steps %d:  0 of %d forwards skipped (the reference: %d)\n",
                   calls_file, c->model, c->ret, n_calls, ref_skipped);
        for (int b = 0; b < 2; b++) rad_teacache_state_free(&st[b]);
    }
    if (differ_at_0) printf("  %s: at threshold 0 the reference skips %d forwards in all\n", calls_file, differ_at_0);
    free(cfg);
    free_calls(&cs);
    return n_cfg;
}

/* MagCache: the reference's decisions and accumulators (magcache_ref.py's output) per configuration. */
typedef struct {
    char model[16], thresh_text[32], ret_text[32];
    int k, steps, n;
    int calc[2 * 64], acc_steps[2 * 64];
    double ratio[2 * 64], err[2 * 64];
} mag_config;

static int read_mag_configs(const char *path, mag_config **out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        return 0;
    }
    int n = 0, cap = 32;
    mag_config *r = calloc((size_t)cap, sizeof *r);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "config ", 7)) {
            if (n == cap) break;
            mag_config *c = &r[n++];
            if (sscanf(line, "config %15s %31s %d %31s %d", c->model, c->thresh_text, &c->k, c->ret_text, &c->steps) != 5)
                n--;
        } else if (n && strncmp(line, "end", 3)) {
            mag_config *c = &r[n - 1];
            int cnt;
            char ratio[64], err[64];
            if (c->n < 2 * 64 && sscanf(line, "%d %d %63s %63s %d", &cnt, &c->calc[c->n], ratio, err, &c->acc_steps[c->n]) == 5 &&
                cnt == c->n) {
                c->ratio[c->n] = strtod(ratio, NULL), c->err[c->n] = strtod(err, NULL);
                c->n++;
            }
        }
    }
    fclose(f);
    *out = r;
    return n;
}

static int check_magcache_rule(void) {
    char path[1024];
    mag_config *cfg = NULL;
    const int n = read_mag_configs(rad_test_path(path, sizeof path, "teacache/decisions_magcache.txt"), &cfg);
    CHECK(n > 0);
    rad_magcache_rule *rule = malloc(sizeof *rule);
    for (int k = 0; k < n; k++) {
        const mag_config *c = &cfg[k];
        CHECK(c->n == 2 * c->steps);
        bool published;
        CHECK_OK(rad_magcache_rule_init(strtod(c->thresh_text, NULL), c->k, strtod(c->ret_text, NULL),
                                        !strcmp(c->model, "T2V-14B") ? 5120 : 1536, c->steps, rule, &published));
        CHECK(published && rule->interpolated == (c->steps != 50));
        rad_magcache_state st[2];
        rad_magcache_state_init(&st[0]), rad_magcache_state_init(&st[1]);
        int mismatches = 0, skipped = 0;
        for (int cnt = 0; cnt < c->n; cnt++) {
            bool calc;
            /* as the pipeline: a branch's first call computes */
            CHECK_OK(rad_magcache_decide(rule, &st[cnt % 2], cnt, cnt < 2, &calc));
            skipped += !calc;
            const rad_magcache_state *b = &st[cnt % 2];
            if ((int)calc != c->calc[cnt] || b->ratio != c->ratio[cnt] || b->err != c->err[cnt] ||
                b->steps != c->acc_steps[cnt])
                mismatches++;
        }
        if (mismatches) fprintf(stderr, "MagCache %s %s K %d R %s, %d steps: %d mismatches\n", c->model, c->thresh_text,
                                c->k, c->ret_text, c->steps, mismatches);
        CHECK(mismatches == 0);
        printf("  MagCache %-8s threshold %-4s K %d retention %-4s %2d steps: %2d of %3d forwards skipped, as by the "
               "reference\n", c->model, c->thresh_text, c->k, c->ret_text, c->steps, skipped, c->n);
    }
    free(rule);
    free(cfg);
    return n;
}

/* ---- part 2-3: generations of the tiny model ---- */

typedef struct {
    calls seen;
    int computed[MAX_CALLS];
} trace;

static void on_event(void *user, const rad_step_cache_event *ev) {
    trace *t = user;
    if (t->seen.n >= MAX_CALLS) return;
    call *c = &t->seen.c[t->seen.n];
    c->cnt = 2 * ev->step + ev->branch, c->step = ev->step, c->branch = ev->branch;
    c->e = malloc(sizeof(float) * 7 * (size_t)ev->dim);
    memcpy(c->e, ev->e, sizeof(float) * (size_t)ev->dim);
    memcpy(c->e + ev->dim, ev->e0, sizeof(float) * 6 * (size_t)ev->dim);
    c->e0 = c->e + ev->dim;
    t->seen.dim = (int)ev->dim;
    t->computed[t->seen.n] = ev->computed;
    t->seen.n++;
}

static char logged[8192];
static void on_log(radial_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= RADIAL_LOG_INFO && strstr(msg, "step cache"))
        snprintf(logged + strlen(logged), sizeof logged - strlen(logged), "%s\n", msg);
}

/* "3,5-9" (1-based) of the steps whose call of `branch` the reference skipped; "none". */
static void skipped_list(const ref_config *c, int branch, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (int s = 0; s < c->steps; s++) {
        if (c->calc[2 * s + branch]) continue;
        int e = s;
        while (e + 1 < c->steps && !c->calc[2 * (e + 1) + branch]) e++;
        k += (size_t)snprintf(buf + k, size - k, e > s ? "%s%d-%d" : "%s%d", k ? "," : "", s + 1, e + 1);
        s = e;
    }
    if (!k) snprintf(buf, size, "none");
}

/* ret: TeaCache's use_ret_steps; MagCache's K (0: its default) */
static rad_status generate(radial_ctx *ctx, radial_cache cache, double thresh, int ret, float guidance, trace *t,
                           float **video, radial_timings *tm) {
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "a boat", g.width = 96, g.height = 64, g.frames = 9, g.steps = TINY_STEPS, g.seed = 7;
    g.guidance = guidance;
    g.cache = cache, g.cache_threshold = thresh;
    if (cache == RADIAL_CACHE_TEACACHE) g.cache_ret_steps = ret;
    if (cache == RADIAL_CACHE_MAGCACHE && ret) g.cache_k = ret;
    if (t) memset(t, 0, sizeof *t);
    rad_pipeline_set_cache_trace(ctx, t ? on_event : NULL, t);
    int frames;
    logged[0] = 0;
    return rad_pipeline_generate(ctx, &g, video, &frames, tm);
}

static const size_t VIDEO_N = (size_t)3 * 9 * 64 * 96;

static void check_pipeline(void) {
    char model[1024];
    rad_test_path(model, sizeof model, "tiny-wan");
    radial_params p = radial_default_params();
    p.backend = RADIAL_BACKEND_CPU;
    radial_ctx *ctx = NULL;
    CHECK(radial_init(model, &p, &ctx) == RADIAL_OK);
    if (!ctx) return;
    radial_set_log(on_log, NULL, RADIAL_LOG_INFO);

    float *plain = NULL, *v = NULL;
    radial_timings tm;
    CHECK_OK(generate(ctx, RADIAL_CACHE_NONE, 0, 0, 5.0f, NULL, &plain, &tm));
    CHECK(tm.cache_forwards[0] == 0 && tm.cache_skipped[0] == 0 && !strstr(logged, "step cache"));

    /* threshold 0, both indicator settings: every forward computes, the video is the uncached one bit for bit */
    for (int ret = 0; ret < 2; ret++) {
        trace t;
        CHECK_OK(generate(ctx, RADIAL_CACHE_TEACACHE, 0, ret, 5.0f, &t, &v, &tm));
        CHECK(v && plain && !memcmp(v, plain, VIDEO_N * sizeof(float)));
        CHECK(tm.cache_forwards[0] == TINY_STEPS && tm.cache_forwards[1] == TINY_STEPS);
        CHECK(tm.cache_skipped[0] == 0 && tm.cache_skipped[1] == 0);
        CHECK(strstr(logged, "skipped the blocks of 0 of 40 forwards") != NULL);
        printf("  threshold 0%s: the video equals the uncached one bit for bit\n", ret ? " (use_ret_steps)" : "");
        /* the generation read the recorded indicators */
        calls rec;
        char path[1024];
        CHECK(read_calls(rad_test_path(path, sizeof path, "teacache/indicators.txt"), &rec) == 2 * TINY_STEPS);
        CHECK(t.seen.n == rec.n && t.seen.dim == rec.dim);
        double worst = 0;
        for (int i = 0; i < t.seen.n && i < rec.n; i++) {
            CHECK(t.seen.c[i].cnt == rec.c[i].cnt);
            for (int j = 0; j < 7 * rec.dim; j++) {
                const double d = fabs((double)t.seen.c[i].e[j] - (double)rec.c[i].e[j]);
                if (d > worst) worst = d;
            }
        }
        CHECK(worst <= 1e-6);
        if (ret == 0) printf("  the generation's indicators equal the recorded ones (max abs difference %g)\n", worst);
        free_calls(&rec);
        free_calls(&t.seen);
        rad_free(v);
        v = NULL;
    }

    /* thresholds that skip (the tiny model's random time embedding changes by about 1 per step, where the 1.3B
     * polynomial is in the thousands): the decisions of the reference, said in the log; the video close */
    ref_config *cfg = NULL;
    char path[1024];
    const int n_cfg = read_configs(rad_test_path(path, sizeof path, "teacache/decisions.txt"), &cfg);
    int tested = 0;
    for (int k = 0; k < n_cfg; k++) {
        const ref_config *c = &cfg[k];
        if (strcmp(c->model, "1.3B") || c->ret || !(c->thresh == 1000 || c->thresh == 3000)) continue;
        trace t;
        CHECK_OK(generate(ctx, RADIAL_CACHE_TEACACHE, c->thresh, 0, 5.0f, &t, &v, &tm));
        int skipped[2] = {0, 0};
        CHECK(t.seen.n == c->n);
        for (int i = 0; i < t.seen.n && i < c->n; i++) {
            CHECK(t.computed[i] == c->calc[i]);
            skipped[t.seen.c[i].branch] += !t.computed[i];
        }
        CHECK(skipped[0] > 0 && tm.cache_skipped[0] == skipped[0] && tm.cache_skipped[1] == skipped[1]);
        for (int b = 0; b < 2; b++) {
            char list[256], want[300];
            skipped_list(c, b, list, sizeof list);
            snprintf(want, sizeof want, "%s: %d of %d, steps %s", b ? "unconditional" : "conditional", skipped[b],
                     TINY_STEPS, list);
            if (!strstr(logged, want)) fprintf(stderr, "the log lacks '%s':\n%s", want, logged);
            CHECK(strstr(logged, want) != NULL);
        }
        const double err = plain && v ? rad_rel_err(v, plain, VIDEO_N) : INFINITY;
        printf("  threshold %s: %d + %d of %d forwards skipped as the reference; video rel L2 error %.4f against "
               "the uncached one\n", c->thresh_text, skipped[0], skipped[1], 2 * TINY_STEPS, err);
        CHECK(err > 0);
        CHECK(err < (c->thresh == 1000 ? 0.06 : 0.1)); /* measured 0.0419 and 0.0719 (tiny-wan, CPU, 20 steps) */
        free_calls(&t.seen);
        rad_free(v);
        v = NULL;
        tested++;
    }
    CHECK(tested == 2);
    free(cfg);

    /* MagCache: 0 skips nothing; the decisions of the reference at 20 steps (its ratios interpolated), the video
     * close */
    CHECK_OK(generate(ctx, RADIAL_CACHE_MAGCACHE, 0, 0, 5.0f, NULL, &v, &tm));
    CHECK(v && plain && !memcmp(v, plain, VIDEO_N * sizeof(float)) && tm.cache_forwards[0] == TINY_STEPS &&
          tm.cache_skipped[0] + tm.cache_skipped[1] == 0);
    printf("  MagCache threshold 0: the video equals the uncached one bit for bit\n");
    rad_free(v);
    v = NULL;
    mag_config *mcfg = NULL;
    const int n_mag = read_mag_configs(rad_test_path(path, sizeof path, "teacache/decisions_magcache.txt"), &mcfg);
    tested = 0;
    for (int k = 0; k < n_mag; k++) {
        const mag_config *c = &mcfg[k];
        if (strcmp(c->model, "T2V-1.3B") || c->steps != TINY_STEPS || strcmp(c->thresh_text, "0.12") ||
            strcmp(c->ret_text, "0.2"))
            continue;
        trace t;
        CHECK_OK(generate(ctx, RADIAL_CACHE_MAGCACHE, 0.12, c->k, 5.0f, &t, &v, &tm));
        int skipped = 0;
        CHECK(t.seen.n == c->n);
        for (int i = 0; i < t.seen.n && i < c->n; i++) {
            CHECK(t.computed[i] == c->calc[i]);
            skipped += !t.computed[i];
        }
        CHECK(skipped > 0 && tm.cache_skipped[0] + tm.cache_skipped[1] == skipped);
        CHECK(strstr(logged, "MagCache skipped the blocks of") != NULL);
        const double err = plain && v ? rad_rel_err(v, plain, VIDEO_N) : INFINITY;
        printf("  MagCache threshold 0.12 K %d: %d of %d forwards skipped as the reference; video rel L2 error %.4f\n",
               c->k, skipped, 2 * TINY_STEPS, err);
        CHECK(err > 0 && err < 0.1); /* measured 0.0760 (tiny-wan, CPU, 20 steps) */
        free_calls(&t.seen);
        rad_free(v);
        v = NULL;
        tested++;
    }
    CHECK(tested == 1);
    free(mcfg);

    /* no CFG: the conditional branch alone */
    CHECK_OK(generate(ctx, RADIAL_CACHE_TEACACHE, 1000, 0, 1.0f, NULL, &v, &tm));
    CHECK(tm.cache_forwards[0] == TINY_STEPS && tm.cache_forwards[1] == 0 && tm.cache_skipped[0] > 0);
    CHECK(strstr(logged, "conditional only") != NULL);
    rad_free(v);
    v = NULL;

    /* bad settings fail before any work, naming the setting */
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "x", g.width = 96, g.height = 64, g.frames = 9, g.steps = 2;
    radial_video out;
    const double bad[] = {-1, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        g.cache = RADIAL_CACHE_TEACACHE, g.cache_threshold = bad[i];
        CHECK(radial_generate(ctx, &g, &out, NULL) == RADIAL_ERR_INVALID_ARG);
        CHECK(strstr(radial_last_error(), "TeaCache threshold") != NULL);
    }
    g.cache = RADIAL_CACHE_MAGCACHE, g.cache_threshold = 0.1, g.cache_k = 0;
    CHECK(radial_generate(ctx, &g, &out, NULL) == RADIAL_ERR_INVALID_ARG && strstr(radial_last_error(), "MagCache K"));
    g.cache_k = 2, g.cache_retention = 1.5;
    CHECK(radial_generate(ctx, &g, &out, NULL) == RADIAL_ERR_INVALID_ARG && strstr(radial_last_error(), "retention"));
    g.cache = (radial_cache)7, g.cache_threshold = 0.1;
    CHECK(radial_generate(ctx, &g, &out, NULL) == RADIAL_ERR_INVALID_ARG);
    CHECK(strstr(radial_last_error(), "step cache") != NULL);

    radial_set_log(NULL, NULL, RADIAL_LOG_WARN);
    rad_free(plain);
    radial_free(ctx);
}

/* ---- part 4: the DiT refuses a reuse it cannot honour ---- */

static rad_status always_reuse(void *user, const float *e, const float *e0, int64_t dim, bool *reuse) {
    (void)e, (void)e0, (void)dim;
    *reuse = *(int *)user;
    return RAD_OK;
}

static void check_dit_guard(void) {
    rad_backend *be;
    CHECK_OK(rad_backend_cpu(&be));
    const rad_dit_config cfg = {.dim = 48, .ffn_dim = 96, .freq_dim = 256, .text_dim = 64, .text_len = 16,
                                .num_heads = 2, .head_dim = 24, .num_layers = 2, .in_dim = 16, .out_dim = 16,
                                .patch_t = 1, .patch_h = 2, .patch_w = 2, .eps = 1e-6f};
    rad_dit *a = NULL, *b = NULL;
    CHECK_OK(rad_dit_random(be, &cfg, 1, -1, &a));
    CHECK_OK(rad_dit_random(be, &cfg, 2, -1, &b));
    int reuse = 1;
    rad_dit_cache *dc = NULL;
    CHECK_OK(rad_dit_cache_new(be, always_reuse, &reuse, &dc));
    float x[16 * 1 * 4 * 4], ctx[3 * 64], v[16 * 16], v_plain[16 * 16], v_reused[16 * 16];
    uint64_t st = 5;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = rad_test_uniform(&st);
    for (size_t i = 0; i < sizeof ctx / sizeof ctx[0]; i++) ctx[i] = rad_test_uniform(&st);
    if (a && b && dc) {
        CHECK_FAILS(rad_dit_forward_cached(a, x, 1, 4, 4, 500.0f, ctx, 3, NULL, dc, v)); /* nothing stored yet */
        reuse = 0;
        CHECK_OK(rad_dit_forward_cached(a, x, 1, 4, 4, 500.0f, ctx, 3, NULL, dc, v));
        CHECK_OK(rad_dit_forward(a, x, 1, 4, 4, 500.0f, ctx, 3, NULL, v_plain));
        CHECK(!memcmp(v, v_plain, sizeof v)); /* storing changes nothing */
        CHECK(rad_dit_cache_bytes(dc) >= (size_t)4 * 48 * sizeof(float));
        reuse = 1;
        CHECK_OK(rad_dit_forward_cached(a, x, 1, 4, 4, 500.0f, ctx, 3, NULL, dc, v_reused));
        /* same input, same timestep: the blocks' residual added back gives the same x, up to rounding */
        CHECK(rad_rel_err(v_reused, v_plain, 16 * 16) < 1e-5);
        CHECK_FAILS(rad_dit_forward_cached(b, x, 1, 4, 4, 500.0f, ctx, 3, NULL, dc, v)); /* another DiT's residual */
        float x2[16 * 1 * 4 * 8];
        for (size_t i = 0; i < sizeof x2 / sizeof x2[0]; i++) x2[i] = rad_test_uniform(&st);
        float v2[16 * 32];
        CHECK_FAILS(rad_dit_forward_cached(a, x2, 1, 4, 8, 500.0f, ctx, 3, NULL, dc, v2)); /* another token count */
    }
    rad_dit_cache_free(dc);
    rad_dit_free(a);
    rad_dit_free(b);
    be->destroy(be);
}

int main(void) {
    const int n1 = check_rule("teacache/indicators.txt", "teacache/decisions.txt");
    const int n2 = check_rule("teacache/indicators_smooth.txt", "teacache/decisions_smooth.txt");
    const int n3 = check_magcache_rule();
    printf("rules: %d TeaCache and %d MagCache configurations agree with the references\n", n1 + n2, n3);
    check_pipeline();
    check_dit_guard();
    TEST_MAIN_END();
}
