/* radial bench pipeline: whole generations with a model folder (default: the tiny test model), median timings
 * of each stage over repetitions after one warm-up run (which also loads and converts the DiT and VAE). */
#include <stdio.h>
#include <string.h>

#include "base/threads.h"
#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"
#include "radial.h"

int bench_pipeline(int argc, char **argv) {
    const char *cmd = "bench pipeline", *model = "tests/data/tiny-wan", *record = NULL, *val;
    radial_params rp = radial_default_params();
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "A cat walks on the grass, realistic";
    g.width = 96, g.height = 64, g.frames = 9, g.steps = 10, g.seed = 42;
    long long v, reps = 3;
    double d;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: radial bench pipeline [--model DIR] [--width N --height N --frames N --steps N]\n"
                   "       [--attention dense|radial] [--backend cpu|cuda] [--threads N] [--reps N] [--record FILE.md]\n"
                   "Defaults: the tiny test model, 96x64, 9 frames, 10 steps, 3 repetitions after a warm-up.\n");
            return 0;
        }
        if (!(val = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "--model")) model = val;
        else if (!strcmp(a, "--record")) record = val;
        else if (!strcmp(a, "--backend") && (!strcmp(val, "cpu") || !strcmp(val, "cuda")))
            rp.backend = !strcmp(val, "cuda") ? RADIAL_BACKEND_CUDA : RADIAL_BACKEND_CPU;
        else if (!strcmp(a, "--attention")) g.attention = !strcmp(val, "radial") ? RADIAL_ATTN_RADIAL : RADIAL_ATTN_DENSE;
        else if (!strcmp(a, "--width") && cli_int(cmd, a, val, 16, 8192, &v)) g.width = (int)v;
        else if (!strcmp(a, "--height") && cli_int(cmd, a, val, 16, 8192, &v)) g.height = (int)v;
        else if (!strcmp(a, "--frames") && cli_int(cmd, a, val, 1, 4097, &v)) g.frames = (int)v;
        else if (!strcmp(a, "--steps") && cli_int(cmd, a, val, 1, 1000, &v)) g.steps = (int)v;
        else if (!strcmp(a, "--threads") && cli_int(cmd, a, val, 0, 256, &v)) rp.n_threads = (int)v;
        else if (!strcmp(a, "--reps") && cli_int(cmd, a, val, 1, 1000, &reps)) (void)0;
        else if (!strcmp(a, "--decay") && cli_float(cmd, a, val, 1e-3, 1e3, &d)) g.decay = (float)d;
        else {
            fprintf(stderr, "radial %s: bad option or value '%s %s'\n", cmd, a, val);
            return 2;
        }
    }
    radial_ctx *ctx;
    if (radial_init(model, &rp, &ctx) != RADIAL_OK) {
        fprintf(stderr, "radial %s: %s\n", cmd, radial_last_error());
        return 1;
    }
    enum { MAXR = 1000 };
    static double te[MAXR], step[MAXR], vae[MAXR], total[MAXR];
    size_t peak = 0;
    for (int r = -1; r < reps; r++) {
        radial_video vid;
        radial_timings tm;
        if (radial_generate(ctx, &g, &vid, &tm) != RADIAL_OK) {
            fprintf(stderr, "radial %s: %s\n", cmd, radial_last_error());
            radial_free(ctx);
            return 1;
        }
        radial_video_free(&vid);
        if (r < 0) continue; /* warm-up: loads the DiT and VAE */
        te[r] = tm.text_encoder_s, step[r] = tm.denoise_per_step_s, vae[r] = tm.vae_s, total[r] = tm.total_s;
        if (tm.peak_bytes > peak) peak = tm.peak_bytes;
    }
    radial_free(ctx);
    char body[1024];
    snprintf(body, sizeof body,
             "| model | backend | size | steps | attention | text encoder | per step | VAE | total | peak memory |\n"
             "|---|---|---|---|---|---|---|---|---|---|\n"
             "| %s | %s | %dx%dx%d | %d | %s | %.3f s | %.3f s | %.3f s | %.3f s | %.1f MiB |\n",
             model, rp.backend == RADIAL_BACKEND_CUDA ? "cuda" : "cpu", g.width, g.height, g.frames, g.steps, g.attention == RADIAL_ATTN_RADIAL ? "radial" : "dense",
             bench_median(te, (int)reps), bench_median(step, (int)reps), bench_median(vae, (int)reps),
             bench_median(total, (int)reps), (double)peak / (1 << 20));
    printf("%s(medians of %lld runs after a warm-up)\n", body, reps);
    if (record) {
        bench_env e;
        bench_env_get(&e, argc, argv);
        char device[192];
        if (rp.backend == RADIAL_BACKEND_CUDA)
            snprintf(device, sizeof device, "CUDA GPU (host CPU %s)", e.cpu);
        else
            snprintf(device, sizeof device, "CPU %s, %d threads", e.cpu, rad_get_threads());
        if (bench_record(record, rp.backend == RADIAL_BACKEND_CUDA ? "pipeline (CUDA)" : "pipeline (CPU)", &e, device, body))
            return 1;
    }
    return 0;
}
