/* CFG-parallel on the CPU (issue 12): two loopback ranks (threads), each its own context on the tiny model,
 * rank 0 computing the conditional branch and rank 1 the unconditional one every step, give the single-rank
 * video bit for bit (the same forwards, the exchange only copies, both ranks combine and step alike), dense and
 * radial; refusals: a group of another size, step caching. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/group.h"
#include "base/mem.h"
#include "pipeline/pipeline.h"
#include "radial.h"
#include "test_util.h"

typedef struct {
    const char *model;
    rad_group *g;
    radial_gen_params gp;
    float *video;
    int frames;
    rad_status s;
} rank_job;

static rad_status make_ctx(const char *model, radial_ctx **ctx) {
    radial_params p = radial_default_params();
    p.backend = RADIAL_BACKEND_CPU; /* loopback groups move host memory */
    return radial_init(model, &p, ctx);
}

static void *run_rank(void *arg) {
    rank_job *j = arg;
    radial_ctx *ctx = NULL;
    j->s = make_ctx(j->model, &ctx);
    if (j->s == RAD_OK && j->g) j->s = rad_pipeline_set_cfg_group(ctx, j->g);
    radial_timings tm;
    if (j->s == RAD_OK) j->s = rad_pipeline_generate(ctx, &j->gp, &j->video, &j->frames, &tm);
    if (j->s != RAD_OK && j->g) rad_group_abort(j->g); /* a rank that failed before its first exchange */
    radial_free(ctx);
    return NULL;
}

static void check_cfg_parallel(const char *model, const radial_gen_params *gp) {
    rank_job one = {model, NULL, *gp, NULL, 0, RAD_OK};
    run_rank(&one);
    CHECK_OK(one.s);
    rad_group *g[2];
    CHECK_OK(rad_group_loopback_new(2, g));
    rank_job job[2] = {{model, g[0], *gp, NULL, 0, RAD_OK}, {model, g[1], *gp, NULL, 0, RAD_OK}};
    pthread_t t[2];
    for (int r = 0; r < 2; r++) pthread_create(&t[r], NULL, run_rank, &job[r]);
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    const size_t n = (size_t)3 * (size_t)one.frames * (size_t)gp->height * (size_t)gp->width;
    for (int r = 0; r < 2; r++) {
        CHECK_OK(job[r].s);
        const int same = one.video && job[r].video && job[r].frames == one.frames &&
                         memcmp(job[r].video, one.video, n * sizeof(float)) == 0;
        if (!same && one.video && job[r].video)
            fprintf(stderr, "CFG-parallel rank %d (%s): rel err %g against one rank\n", r,
                    gp->attention == RADIAL_ATTN_RADIAL ? "radial" : "dense", rad_rel_err(job[r].video, one.video, n));
        CHECK(same);
        rad_free(job[r].video);
        rad_group_free(g[r]);
    }
    rad_free(one.video);
}

int main(void) {
    char model[1024];
    rad_test_path(model, sizeof model, "tiny-wan");
    radial_gen_params gp = radial_default_gen_params();
    gp.prompt = "a lighthouse at night";
    gp.width = 64, gp.height = 48, gp.frames = 5, gp.steps = 3, gp.seed = 11;
    check_cfg_parallel(model, &gp);
    gp.attention = RADIAL_ATTN_RADIAL, gp.dense_steps = 1;
    check_cfg_parallel(model, &gp);

    /* refusals */
    radial_ctx *ctx = NULL;
    CHECK_OK(make_ctx(model, &ctx));
    if (!ctx) TEST_MAIN_END();
    rad_group *g3[3], *g2[2];
    CHECK_OK(rad_group_loopback_new(3, g3));
    CHECK_FAILS(rad_pipeline_set_cfg_group(ctx, g3[0]));
    for (int r = 0; r < 3; r++) rad_group_free(g3[r]);
    CHECK_OK(rad_group_loopback_new(2, g2));
    CHECK_OK(rad_pipeline_set_cfg_group(ctx, g2[0]));
    radial_gen_params gc = gp;
    gc.cache = RADIAL_CACHE_TEACACHE, gc.cache_threshold = 0.1;
    float *video = NULL;
    int frames = 0;
    radial_timings tm;
    CHECK_FAILS(rad_pipeline_generate(ctx, &gc, &video, &frames, &tm));
    CHECK(video == NULL);
    radial_free(ctx);
    for (int r = 0; r < 2; r++) rad_group_free(g2[r]);
    TEST_MAIN_END();
}
