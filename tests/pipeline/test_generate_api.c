/* The public API as an embedding application uses it: defaults, errors, the progress callback, timings. */
#include <math.h>
#include <string.h>

#include "radial.h"
#include "test_util.h"

static int steps_seen;
static int count_steps(int step, int steps, double s, void *user) {
    (void)s;
    (void)user;
    CHECK(step == steps_seen + 1 && steps == 3);
    steps_seen = step;
    return 0;
}
static int cancel_at_2(int step, int steps, double s, void *user) {
    (void)steps, (void)s, (void)user;
    return step == 2;
}

/* counts the messages a sink received */
typedef struct {
    int n;
} log_count;
static void count_log(radial_log_level level, const char *msg, void *user) {
    (void)level, (void)msg;
    ((log_count *)user)->n++;
}

int main(void) {
    char model[1024];
    rad_test_path(model, sizeof model, "tiny-wan");

    radial_gen_params d = radial_default_gen_params();
    /* diffusers / Wan defaults (spec wan21.md §4.1) */
    CHECK(d.width == 832 && d.height == 480 && d.frames == 81 && d.steps == 50);
    CHECK(d.guidance == 5.0f && d.seed == -1 && d.negative_prompt == NULL);
    /* the shift, the sampler and the low-noise guidance follow the model folder unless set (NaN / AUTO) */
    CHECK(isnan(d.shift) && isnan(d.guidance_2) && d.sampler == RADIAL_SAMPLER_AUTO && d.dense_steps == -1);

    radial_ctx *ctx = NULL;
    CHECK(radial_init("/nonexistent/model", NULL, &ctx) != RADIAL_OK && ctx == NULL);
    CHECK(strstr(radial_last_error(), "/nonexistent/model") != NULL);
    CHECK(radial_init(model, NULL, &ctx) == RADIAL_OK);
    if (!ctx) TEST_MAIN_END();

    radial_gen_params g = d;
    g.prompt = "a lighthouse at night";
    g.width = 64, g.height = 48, g.frames = 5, g.steps = 3, g.seed = 11;
    g.on_step = count_steps;
    radial_video v1 = {0}, v2 = {0};
    radial_timings tm;
    CHECK(radial_generate(ctx, &g, &v1, &tm) == RADIAL_OK);
    CHECK(steps_seen == 3);
    CHECK(v1.frames == 5 && v1.width == 64 && v1.height == 48 && v1.data);
    CHECK(tm.seed_used == 11 && tm.total_s > 0 && tm.peak_bytes > 0);
    CHECK(tm.load_bytes > 0); /* the first generation loads umT5, DiT and VAE */
    for (int i = 0; i < 3; i++) CHECK(tm.phase_peak_bytes[i] > 0 && tm.phase_peak_bytes[i] <= tm.peak_bytes);
    steps_seen = 0;
    radial_timings tm2;
    CHECK(radial_generate(ctx, &g, &v2, &tm2) == RADIAL_OK);
    CHECK(v2.data && !memcmp(v1.data, v2.data, (size_t)5 * 64 * 48 * 3)); /* same seed, same frames */
    /* the second reads no file: the text encoder, the DiT and the VAE stay in the context */
    CHECK(tm2.load_bytes == 0 && tm2.load_s == 0);
    radial_video_free(&v2);

    g.negative_prompt = ""; /* an empty negative prompt is a different (valid) condition */
    steps_seen = 0;
    CHECK(radial_generate(ctx, &g, &v2, NULL) == RADIAL_OK);
    CHECK(v2.data && memcmp(v1.data, v2.data, (size_t)5 * 64 * 48 * 3) != 0);
    radial_video_free(&v2);
    radial_video_free(&v1);

    g.on_step = cancel_at_2;
    CHECK(radial_generate(ctx, &g, &v1, NULL) == RADIAL_ERR_CANCELLED && v1.data == NULL);
    g.on_step = NULL;
    g.width = 100;
    CHECK(radial_generate(ctx, &g, &v1, NULL) == RADIAL_ERR_INVALID_ARG);
    CHECK(strstr(radial_last_error(), "multiples of 16") != NULL);
    g.width = 64, g.steps = 0;
    CHECK(radial_generate(ctx, &g, &v1, NULL) == RADIAL_ERR_INVALID_ARG);

    /* a context's own log sink gets what that context says, the process's sink nothing of it; a context without
     * one still logs to the process's */
    log_count mine = {0}, process = {0};
    radial_set_log(count_log, &process, RADIAL_LOG_INFO);
    radial_params lp = radial_default_params();
    lp.log = count_log, lp.log_user = &mine, lp.log_level = RADIAL_LOG_INFO;
    radial_ctx *lc = NULL;
    CHECK(radial_init(model, &lp, &lc) == RADIAL_OK);
    if (lc) {
        g.steps = 1;
        CHECK(radial_generate(lc, &g, &v1, NULL) == RADIAL_OK);
        radial_video_free(&v1);
        CHECK(mine.n > 0 && process.n == 0);
        const int mine_before = mine.n;
        CHECK(radial_generate(ctx, &g, &v1, NULL) == RADIAL_OK);
        radial_video_free(&v1);
        CHECK(process.n > 0 && mine.n == mine_before);
        radial_free(lc);
    }
    lp.log_level = (radial_log_level)7;
    CHECK(radial_init(model, &lp, &lc) == RADIAL_ERR_INVALID_ARG && lc == NULL);
    CHECK(strstr(radial_last_error(), "log_level") != NULL);
    radial_set_log(NULL, NULL, RADIAL_LOG_WARN);
    radial_free(ctx);
    TEST_MAIN_END();
}
