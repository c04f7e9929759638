/* Records the inputs of TeaCache's rule from a generation of the tiny model: for every DiT forward, in call order,
 * the time embedding e [dim] and e0 [6, dim] the step cache read (tests/data/teacache/README.md).
 *   teacache_record MODEL_DIR STEPS OUT.txt
 * The generation: 96x64, 9 frames, seed 7, prompt "a boat", guidance 5, the folder's sampler and shift, with
 * --cache teacache:0 (every forward computes; the indicators depend on the timestep alone, not on the
 * decisions). Values are written as C99 hex floats: the exact float32 numbers, for C and Python alike. */
#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"
#include "pipeline/pipeline.h"
#include "radial.h"

typedef struct {
    FILE *f;
    int calls;
} recorder;

static void record(void *user, const rad_step_cache_event *ev) {
    recorder *r = user;
    fprintf(r->f, "%d %d %d", 2 * ev->step + ev->branch, ev->step, ev->branch);
    for (int64_t i = 0; i < ev->dim; i++) fprintf(r->f, " %a", (double)ev->e[i]);
    for (int64_t i = 0; i < 6 * ev->dim; i++) fprintf(r->f, " %a", (double)ev->e0[i]);
    fputc('\n', r->f);
    r->calls++;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: teacache_record MODEL_DIR STEPS OUT.txt\n");
        return 2;
    }
    const int steps = atoi(argv[2]);
    radial_params p = radial_default_params();
    p.backend = RADIAL_BACKEND_CPU;
    radial_ctx *ctx;
    if (radial_init(argv[1], &p, &ctx) != RADIAL_OK) {
        fprintf(stderr, "teacache_record: %s\n", radial_last_error());
        return 1;
    }
    recorder r = {fopen(argv[3], "w"), 0};
    if (!r.f) {
        fprintf(stderr, "teacache_record: cannot write %s\n", argv[3]);
        return 1;
    }
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "a boat", g.width = 96, g.height = 64, g.frames = 9, g.steps = steps, g.seed = 7;
    g.cache = RADIAL_CACHE_TEACACHE, g.cache_threshold = 0;
    fprintf(r.f, "# TeaCache inputs recorded by tests/pipeline/teacache_record.c from %s: 96x64, 9 frames, %d steps,\n"
                 "# seed 7, prompt \"a boat\", guidance 5, the folder's sampler and shift, CPU backend.\n"
                 "# One line per DiT forward in call order: cnt (2*step + branch), step, branch (0 cond, 1 uncond),\n"
                 "# then e [dim] and e0 [6*dim] as C99 hex floats (exact float32 values).\n",
            argv[1], steps);
    rad_pipeline_set_cache_trace(ctx, record, &r);
    float *video = NULL;
    int frames = 0;
    radial_timings tm;
    const rad_status s = rad_pipeline_generate(ctx, &g, &video, &frames, &tm);
    rad_free(video);
    radial_free(ctx);
    fclose(r.f);
    if (s != RAD_OK) {
        fprintf(stderr, "teacache_record: %s\n", radial_last_error());
        return 1;
    }
    printf("teacache_record: %d forwards written to %s\n", r.calls, argv[3]);
    return 0;
}
