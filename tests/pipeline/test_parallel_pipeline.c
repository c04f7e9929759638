/* Whole generations over several ranks on the CPU (issue 12): loopback ranks are threads of this process, each
 * with its own context on a tiny model, driven through rad_pipeline_set_parallel exactly as `radial generate
 * --gpus N` drives the NCCL ranks (pipeline/parallel.h says what runs where).
 * 1. The plans (rad_parallel_resolve): auto, the refusals and their messages.
 * 2. CFG-parallel (2 ranks), Ulysses of degree 2 and CFG-parallel x Ulysses 2 (4 ranks) on tiny-wan (2 heads), and
 *    Ulysses of degree 2 and 3 and CFG-parallel x Ulysses 3 (6 ranks) on a 6-head variant of it (the same
 *    weights: the head count splits q, k and v, no tensor changes shape), dense and radial: rank 0's video equals
 *    the one-rank video bit for bit (the DiT's Ulysses forward is bit-identical on the CPU,
 *    tests/dit/test_parallel.c; the broadcasts and exchanges only copy); the other ranks return no video and
 *    never load the text encoder (they read fewer bytes); and each rank ran the DiT forwards its plan gives it
 *    (which branches, at which Ulysses degree: rad_pipeline_set_forward_trace), so that a plan that computed
 *    everything everywhere would fail too.
 * 3. Refusals on every rank alike before any work (a degree that does not divide the heads, naming the valid
 *    ones; CFG x Ulysses over a count whose half does not divide them; step caching), and failures that must not
 *    hang: a rank that cancels mid-run (in either half of CFG x Ulysses), a rank that fails before the first
 *    collective; every rank returns an error. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/group.h"
#include "base/mem.h"
#include "pipeline/parallel.h"
#include "pipeline/pipeline.h"
#include "radial.h"
#include "test_util.h"

#define MAX_RANKS 8

typedef struct {
    const char *model;
    rad_group *g; /* NULL: one rank */
    rad_parallel mode;
    radial_gen_params gp;
    int cancel_at;    /* this rank's progress callback cancels at this step (0: never) */
    int forwards[2];  /* the DiT forwards it ran per CFG branch */
    int degree;       /* their Ulysses degree (-1: they differed) */
    float *video;
    int frames;
    radial_timings tm;
    rad_status s;
    char err[512];
} rank_job;

static int cancel_cb(int step, int steps, double sec, void *user) {
    (void)steps, (void)sec;
    const rank_job *j = user;
    return j->cancel_at && step >= j->cancel_at;
}

static void trace_forward(void *user, int step, int branch, int degree) {
    (void)step;
    rank_job *j = user;
    j->forwards[branch]++;
    j->degree = !j->degree || j->degree == degree ? degree : -1;
}

static void *run_rank(void *arg) {
    rank_job *j = arg;
    radial_params p = radial_default_params();
    p.backend = RADIAL_BACKEND_CPU; /* loopback groups move host memory */
    radial_ctx *ctx = NULL;
    j->s = radial_init(j->model, &p, &ctx);
    if (j->s == RAD_OK) rad_pipeline_set_forward_trace(ctx, trace_forward, j);
    if (j->s == RAD_OK) j->s = rad_pipeline_set_parallel(ctx, j->g, j->mode);
    j->gp.on_step = cancel_cb, j->gp.user_data = j;
    if (j->s == RAD_OK) j->s = rad_pipeline_generate(ctx, &j->gp, &j->video, &j->frames, &j->tm);
    if (j->s != RAD_OK && j->g) rad_group_abort(j->g); /* one that failed before generating (radial_init) */
    snprintf(j->err, sizeof j->err, "%s", j->s == RAD_OK ? "" : rad_last_error());
    radial_free(ctx);
    return NULL;
}

/* Runs `ranks` loopback ranks (gp[r] for rank r) and leaves their results in job[]. */
static void run_group(const char *model, int ranks, rad_parallel mode, const radial_gen_params *gp, rank_job *job) {
    rad_group *g[MAX_RANKS];
    pthread_t t[MAX_RANKS];
    CHECK_OK(rad_group_loopback_new(ranks, g));
    for (int r = 0; r < ranks; r++) {
        job[r] = (rank_job){.model = model, .g = g[r], .mode = mode, .gp = gp[r]};
        pthread_create(&t[r], NULL, run_rank, &job[r]);
    }
    for (int r = 0; r < ranks; r++) pthread_join(t[r], NULL);
    for (int r = 0; r < ranks; r++) rad_group_free(g[r]);
}

static void free_jobs(rank_job *job, int n) {
    for (int r = 0; r < n; r++) rad_free(job[r].video), job[r].video = NULL;
}

/* The DiT forwards rank r of `ranks` must run in plan `ran` over `steps` steps: which branches, at which degree. */
static void check_share(const char *label, const rank_job *j, int r, int ranks, rad_parallel ran, int steps, bool cfg) {
    int want[2] = {steps, cfg ? steps : 0}, degree = 1;
    if (ran == RAD_PAR_CFG) want[0] = r == 0 ? steps : 0, want[1] = r == 1 ? steps : 0;
    if (ran == RAD_PAR_ULYSSES) degree = ranks;
    if (ran == RAD_PAR_CFG_ULYSSES) {
        degree = ranks / 2;
        want[0] = r < degree ? steps : 0, want[1] = r < degree ? 0 : steps; /* half 0 conditional, half 1 not */
    }
    if (j->forwards[0] != want[0] || j->forwards[1] != want[1] || j->degree != degree) {
        fprintf(stderr, "%s: rank %d ran %d conditional and %d unconditional forwards at degree %d; its plan gives it "
                "%d and %d at degree %d\n", label, r, j->forwards[0], j->forwards[1], j->degree, want[0], want[1],
                degree);
        CHECK(0);
    }
}

/* rank 0 of `ranks` in `mode` (which runs as `ran`) gives the one-rank video bit for bit; the others no video,
 * fewer bytes read; every rank ran its share of the forwards. A random seed (-1) is drawn by rank 0 and shared: the
 * one-rank reference then runs rank 0's seed. */
static void check_same(const char *label, const char *model, int ranks, rad_parallel mode, rad_parallel ran,
                       const radial_gen_params *gp) {
    radial_gen_params gps[MAX_RANKS];
    for (int r = 0; r < ranks; r++) gps[r] = *gp;
    rank_job job[MAX_RANKS];
    run_group(model, ranks, mode, gps, job);
    rank_job one = {.model = model, .mode = RAD_PAR_AUTO, .gp = *gp};
    if (gp->seed < 0) one.gp.seed = job[0].tm.seed_used;
    run_rank(&one);
    CHECK_OK(one.s);
    check_share(label, &one, 0, 1, RAD_PAR_NONE, gp->steps, gp->guidance != 1.0f);
    for (int r = 0; r < ranks; r++) check_share(label, &job[r], r, ranks, ran, gp->steps, gp->guidance != 1.0f);
    const size_t n = (size_t)3 * (size_t)one.frames * (size_t)gp->height * (size_t)gp->width;
    for (int r = 0; r < ranks; r++) {
        if (job[r].s != RAD_OK) fprintf(stderr, "%s: rank %d failed: %s\n", label, r, job[r].err);
        CHECK(job[r].s == RAD_OK);
        CHECK(job[r].frames == one.frames);
        CHECK(job[r].tm.seed_used == one.tm.seed_used); /* rank 0's seed, shared */
    }
    const int same = one.video && job[0].video && memcmp(job[0].video, one.video, n * sizeof(float)) == 0;
    if (!same && one.video && job[0].video)
        fprintf(stderr, "%s: rank 0's video has rel err %g against one rank\n", label,
                rad_rel_err(job[0].video, one.video, n));
    CHECK(same);
    for (int r = 1; r < ranks; r++) {
        CHECK(job[r].video == NULL);                        /* rank 0 decodes */
        CHECK(job[r].tm.load_bytes < job[0].tm.load_bytes); /* no text encoder, no VAE */
    }
    printf("  %s: %d ranks, rank 0 bit-identical to one rank\n", label, ranks);
    free_jobs(job, ranks);
    rad_free(one.video);
}

/* Every rank fails, and `msg` is in every message (or in rank 0's when only_rank0). */
static void check_all_fail(const char *label, const char *model, int ranks, rad_parallel mode,
                           const radial_gen_params *gps, const char *msg) {
    rank_job job[MAX_RANKS];
    run_group(model, ranks, mode, gps, job);
    for (int r = 0; r < ranks; r++) {
        CHECK(job[r].s != RAD_OK);
        CHECK(job[r].video == NULL);
        if (msg && !strstr(job[r].err, msg)) {
            fprintf(stderr, "%s: rank %d says '%s', expected '%s' in it\n", label, r, job[r].err, msg);
            CHECK(0);
        }
    }
    printf("  %s: every rank failed: %s\n", label, job[0].err);
    free_jobs(job, ranks);
}

/* Rank `who` of `ranks` cancels at step 2: it returns CANCELLED, every other rank an abort instead of waiting. */
static void check_cancel(const char *model, int ranks, rad_parallel mode, int who, const radial_gen_params *gp) {
    rad_group *g[MAX_RANKS];
    pthread_t t[MAX_RANKS];
    rank_job job[MAX_RANKS];
    CHECK_OK(rad_group_loopback_new(ranks, g));
    for (int r = 0; r < ranks; r++) {
        job[r] = (rank_job){.model = model, .g = g[r], .mode = mode, .gp = *gp, .cancel_at = r == who ? 2 : 0};
        pthread_create(&t[r], NULL, run_rank, &job[r]);
    }
    for (int r = 0; r < ranks; r++) pthread_join(t[r], NULL);
    CHECK(job[who].s == RADIAL_ERR_CANCELLED);
    for (int r = 0; r < ranks; r++) {
        if (r == who) continue;
        CHECK(job[r].s != RAD_OK && strstr(job[r].err, "aborted") != NULL);
        if (r == (who + 1) % ranks)
            printf("  rank %d of %d cancels at step 2 (%s): rank %d: %s\n", who, ranks, rad_parallel_names[mode], r,
                   job[r].err);
    }
    free_jobs(job, ranks);
    for (int r = 0; r < ranks; r++) rad_group_free(g[r]);
}

/* A copy of tiny-wan whose DiT config says 6 heads of 8 (dim 48 as before): links to every file but that one. */
static void make_heads6(const char *src, const char *dst) {
    char a[900], b[900]; /* src and dst are shorter than 700 characters (main) */
    mkdir(dst, 0755);
    snprintf(b, sizeof b, "%.700s/transformer", dst);
    mkdir(b, 0755);
    static const char *const links[] = {"model_index.json", "scheduler", "text_encoder", "tokenizer", "vae",
                                        "transformer/diffusion_pytorch_model.safetensors"};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(a, sizeof a, "%.700s/%s", src, links[i]);
        snprintf(b, sizeof b, "%.700s/%s", dst, links[i]);
        unlink(b);
        CHECK(symlink(a, b) == 0);
    }
    snprintf(a, sizeof a, "%.700s/transformer/config.json", src);
    FILE *f = fopen(a, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char text[4096];
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *h = strstr(text, "\"num_attention_heads\": 2"), *d = strstr(text, "\"attention_head_dim\": 24");
    CHECK(h && d);
    if (!h || !d) return;
    h[strlen("\"num_attention_heads\": ")] = '6';
    memcpy(d + strlen("\"attention_head_dim\": "), " 8", 2);
    snprintf(b, sizeof b, "%.700s/transformer", dst);
    rad_test_write_text(b, "config.json", text);
}

static void check_plans(void) {
    radial_gen_params g = radial_default_gen_params();
    g.width = 64, g.height = 48, g.frames = 5;
    rad_parallel_plan p;
    CHECK_OK(rad_parallel_resolve(1, RAD_PAR_CFG, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_NONE);
    CHECK_OK(rad_parallel_resolve(2, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG);
    CHECK(strstr(p.why, "auto: CFG-parallel (2 ranks") != NULL);
    /* auto for 4 and 8 ranks with CFG: the branches on two halves when the half divides the heads */
    CHECK_OK(rad_parallel_resolve(4, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 2);
    CHECK(!strcmp(p.what, "CFG-parallel 2 x Ulysses degree 2, 4 ranks"));
    CHECK(strstr(p.why, "auto: CFG-parallel x Ulysses degree 2 (4 ranks") != NULL);
    CHECK_OK(rad_parallel_resolve(8, RAD_PAR_AUTO, 12, false, &g, &p)); /* Ulysses 8 would not divide 12 */
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 4 && strstr(p.why, "Ulysses over all the ranks would not"));
    CHECK_OK(rad_parallel_resolve(8, RAD_PAR_AUTO, 40, false, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 4);
    CHECK_OK(rad_parallel_resolve(6, RAD_PAR_AUTO, 12, false, &g, &p)); /* 6 divides 12: Ulysses over all six */
    CHECK(p.mode == RAD_PAR_ULYSSES && p.degree == 6 && !strcmp(p.what, "Ulysses degree 6"));
    CHECK_OK(rad_parallel_resolve(16, RAD_PAR_AUTO, 40, false, &g, &p)); /* 16 does not divide 40, 8 does */
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 8);
    CHECK_FAILS(rad_parallel_resolve(8, RAD_PAR_AUTO, 6, false, &g, &p)); /* neither 8 nor 4 divides 6 */
    CHECK_OK(rad_parallel_resolve(4, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 2 && p.why[0] == '\0');
    CHECK_OK(rad_parallel_resolve(6, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && p.degree == 3);
    CHECK_FAILS(rad_parallel_resolve(3, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "--gpus 4, 6, 8, 12, 24, not 3 (an odd count)") != NULL);
    CHECK_FAILS(rad_parallel_resolve(2, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "(2 ranks: --parallel cfg)") != NULL);
    CHECK_FAILS(rad_parallel_resolve(10, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p)); /* 5 does not divide 12 */
    CHECK(strstr(rad_last_error(), "--gpus 4, 6, 8, 12, 24, not 10") != NULL);
    CHECK_FAILS(rad_parallel_resolve(8, RAD_PAR_CFG_ULYSSES, 1, false, &g, &p));
    CHECK(strstr(rad_last_error(), "--gpus none (1 head)") != NULL);
    CHECK_FAILS(rad_parallel_resolve(8, RAD_PAR_ULYSSES, 12, false, &g, &p)); /* names the other way */
    CHECK(strstr(rad_last_error(), "--parallel cfg+ulysses") != NULL);
    CHECK_FAILS(rad_parallel_resolve(64, RAD_PAR_CFG_ULYSSES, 64, false, &g, &p)); /* 24 tokens, degree 32 */
    CHECK(strstr(rad_last_error(), "Ulysses degree 32 needs at least one video token per rank") != NULL);
    CHECK_OK(rad_parallel_resolve(2, RAD_PAR_ULYSSES, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_ULYSSES);
    /* two experts, the low-noise one without CFG: auto does not leave rank 1 idle in those steps */
    g.guidance_2 = 1.0f;
    CHECK_OK(rad_parallel_resolve(2, RAD_PAR_AUTO, 40, true, &g, &p));
    CHECK(p.mode == RAD_PAR_ULYSSES);
    CHECK_OK(rad_parallel_resolve(2, RAD_PAR_CFG, 40, true, &g, &p));
    CHECK(p.mode == RAD_PAR_CFG);
    CHECK_OK(rad_parallel_resolve(8, RAD_PAR_AUTO, 40, true, &g, &p));
    CHECK(p.mode == RAD_PAR_ULYSSES && strstr(p.why, "some steps have one CFG branch"));
    CHECK_OK(rad_parallel_resolve(8, RAD_PAR_CFG_ULYSSES, 40, true, &g, &p)); /* asked: those steps run on both */
    CHECK(p.mode == RAD_PAR_CFG_ULYSSES && strstr(p.what, "one branch on both halves"));
    g.guidance_2 = NAN;
    g.guidance = 1.0f;
    CHECK_OK(rad_parallel_resolve(2, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_ULYSSES);
    CHECK_FAILS(rad_parallel_resolve(2, RAD_PAR_CFG, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "guidance 1") != NULL);
    CHECK_OK(rad_parallel_resolve(4, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(p.mode == RAD_PAR_ULYSSES && strstr(p.why, "guidance 1"));
    CHECK_FAILS(rad_parallel_resolve(4, RAD_PAR_CFG_ULYSSES, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "guidance 1 leaves one branch") != NULL);
    g.guidance = 5.0f;
    CHECK_FAILS(rad_parallel_resolve(3, RAD_PAR_CFG, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "1, 2, 3, 4, 6, 12") != NULL);
    CHECK(strstr(rad_last_error(), "(--parallel cfg+ulysses) runs --gpus 4, 6, 8, 12, 24") != NULL);
    CHECK_FAILS(rad_parallel_resolve(5, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "the degrees that do: 1, 2, 3, 4, 6, 12") != NULL);
    CHECK_FAILS(rad_parallel_resolve(3, RAD_PAR_ULYSSES, 40, false, &g, &p));
    CHECK(strstr(rad_last_error(), "1, 2, 4, 5, 8, 10, 20, 40") != NULL);
    CHECK_FAILS(rad_parallel_resolve(0, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK_FAILS(rad_parallel_resolve(65, RAD_PAR_AUTO, 64, false, &g, &p));
    CHECK_FAILS(rad_parallel_resolve(2, (rad_parallel)7, 12, false, &g, &p));
    /* 64x48, 5 frames: 2 x 3 x 4 = 24 tokens, fewer than 32 ranks */
    CHECK_FAILS(rad_parallel_resolve(32, RAD_PAR_ULYSSES, 64, false, &g, &p));
    CHECK(strstr(rad_last_error(), "24") != NULL);
    g.cache = RADIAL_CACHE_TEACACHE, g.cache_threshold = 0.1;
    CHECK_FAILS(rad_parallel_resolve(2, RAD_PAR_AUTO, 12, false, &g, &p));
    CHECK(strstr(rad_last_error(), "--cache") != NULL);
    CHECK_OK(rad_parallel_resolve(1, RAD_PAR_AUTO, 12, false, &g, &p)); /* one rank caches as ever */
}

int main(void) {
    char model[700], heads6[700], cwd[600];
    rad_test_path(model, sizeof model, "tiny-wan");
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(heads6, sizeof heads6, "%s/tiny-wan-6heads", cwd);
    make_heads6(model, heads6);

    check_plans();

    radial_gen_params gp = radial_default_gen_params();
    gp.prompt = "a lighthouse at night";
    gp.width = 64, gp.height = 48, gp.frames = 5, gp.steps = 3, gp.seed = 11;
    radial_gen_params radial = gp;
    radial.attention = RADIAL_ATTN_RADIAL, radial.dense_steps = 1;
    radial_gen_params nocfg = gp;
    nocfg.guidance = 1.0f;
    radial_gen_params noseed = gp;
    noseed.seed = -1; /* rank 0 draws the seed; the others take its noise and its seed */

    check_same("CFG-parallel, dense", model, 2, RAD_PAR_CFG, RAD_PAR_CFG, &gp);
    check_same("CFG-parallel, radial", model, 2, RAD_PAR_CFG, RAD_PAR_CFG, &radial);
    check_same("auto (CFG), random seed", model, 2, RAD_PAR_AUTO, RAD_PAR_CFG, &noseed);
    check_same("Ulysses 2, dense", model, 2, RAD_PAR_ULYSSES, RAD_PAR_ULYSSES, &gp);
    check_same("Ulysses 2, radial", model, 2, RAD_PAR_ULYSSES, RAD_PAR_ULYSSES, &radial);
    check_same("auto (Ulysses 2), guidance 1", model, 2, RAD_PAR_AUTO, RAD_PAR_ULYSSES, &nocfg);
    check_same("Ulysses 2, 6 heads", heads6, 2, RAD_PAR_ULYSSES, RAD_PAR_ULYSSES, &gp);
    check_same("Ulysses 3, 6 heads, dense", heads6, 3, RAD_PAR_ULYSSES, RAD_PAR_ULYSSES, &gp);
    check_same("Ulysses 3, 6 heads, radial", heads6, 3, RAD_PAR_ULYSSES, RAD_PAR_ULYSSES, &radial);
    check_same("CFG x Ulysses 2, dense", model, 4, RAD_PAR_CFG_ULYSSES, RAD_PAR_CFG_ULYSSES, &gp);
    check_same("CFG x Ulysses 2, radial", model, 4, RAD_PAR_CFG_ULYSSES, RAD_PAR_CFG_ULYSSES, &radial);
    check_same("auto (CFG x Ulysses 2), random seed", model, 4, RAD_PAR_AUTO, RAD_PAR_CFG_ULYSSES, &noseed);
    check_same("CFG x Ulysses 3, 6 heads, dense", heads6, 6, RAD_PAR_CFG_ULYSSES, RAD_PAR_CFG_ULYSSES, &gp);
    check_same("CFG x Ulysses 3, 6 heads, radial", heads6, 6, RAD_PAR_CFG_ULYSSES, RAD_PAR_CFG_ULYSSES, &radial);

    /* refusals, on every rank before any work */
    radial_gen_params gps[MAX_RANKS];
    for (int r = 0; r < MAX_RANKS; r++) gps[r] = gp;
    check_all_fail("Ulysses 3 over 2 heads", model, 3, RAD_PAR_ULYSSES, gps, "the degrees that do: 1, 2 ");
    check_all_fail("Ulysses 4 over 6 heads", heads6, 4, RAD_PAR_ULYSSES, gps, "the degrees that do: 1, 2, 3, 6 ");
    check_all_fail("CFG x Ulysses 3 over 2 heads", model, 6, RAD_PAR_CFG_ULYSSES, gps, "--gpus 4, not 6");
    check_all_fail("auto over 8 ranks, 6 heads", heads6, 8, RAD_PAR_AUTO, gps, "the degrees that do: 1, 2, 3, 6 ");
    check_all_fail("CFG-parallel over 3 ranks", model, 3, RAD_PAR_CFG, gps, "takes 2");
    for (int r = 0; r < 2; r++) gps[r].cache = RADIAL_CACHE_TEACACHE, gps[r].cache_threshold = 0.1;
    check_all_fail("step cache over 2 ranks", model, 2, RAD_PAR_AUTO, gps, "--cache");

    /* failures that must not leave the other ranks waiting */
    for (int r = 0; r < MAX_RANKS; r++) gps[r] = gp;
    for (int who = 0; who < 2; who++) {
        check_cancel(model, 2, RAD_PAR_CFG, who, &gp);
        check_cancel(model, 2, RAD_PAR_ULYSSES, who, &gp);
    }
    for (int who = 0; who < 4; who += 3) /* rank 0 of half 0, rank 1 of half 1 */
        check_cancel(model, 4, RAD_PAR_CFG_ULYSSES, who, &gp);
    gps[1].width = 100; /* rank 1 alone fails its checks, before the first collective */
    check_all_fail("rank 1 fails before the first exchange", model, 2, RAD_PAR_ULYSSES, gps, NULL);
    check_all_fail("rank 1 fails before the split (CFG x Ulysses)", model, 4, RAD_PAR_CFG_ULYSSES, gps, NULL);

    /* a CFG group of the wrong size is refused when set */
    radial_params p = radial_default_params();
    p.backend = RADIAL_BACKEND_CPU;
    radial_ctx *ctx = NULL;
    CHECK_OK(radial_init(model, &p, &ctx));
    if (ctx) {
        rad_group *g3[3];
        CHECK_OK(rad_group_loopback_new(3, g3));
        CHECK_FAILS(rad_pipeline_set_parallel(ctx, g3[0], RAD_PAR_CFG));
        CHECK_FAILS(rad_pipeline_set_parallel(ctx, g3[0], RAD_PAR_CFG_ULYSSES));
        CHECK_OK(rad_pipeline_set_parallel(ctx, g3[0], RAD_PAR_ULYSSES));
        CHECK_OK(rad_pipeline_set_parallel(ctx, NULL, RAD_PAR_AUTO));
        for (int r = 0; r < 3; r++) rad_group_free(g3[r]);
        radial_free(ctx);
    }
    TEST_MAIN_END();
}
