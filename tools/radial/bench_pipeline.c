/* radial bench pipeline: whole generations with a model folder (default: the tiny test model), median timings
 * of each stage over repetitions after one warm-up run (which also loads and converts the DiT and VAE). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/threads.h"
#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"
#include "radial.h"

#ifndef RAD_SOURCE_DIR /* set by the build to the source tree */
#define RAD_SOURCE_DIR "."
#endif

static const cli_usage usage = {
    .synopsis = "radial bench pipeline [--model DIR] [options] [--record FILE.md]",
    .about = "Times whole generations with a model folder: the median of each stage over repetitions after one "
             "warm-up run (which also loads and converts the DiT and VAE).",
};

int bench_pipeline(int argc, char **argv) {
    enum { MAXR = 1000 };
    /* the tiny test model of this source tree, found from any working directory */
    const char *cmd = "bench pipeline", *model = RAD_SOURCE_DIR "/tests/data/tiny-wan", *record = NULL;
    radial_params rp = radial_default_params();
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "A cat walks on the grass, realistic";
    g.width = 96, g.height = 64, g.frames = 9, g.steps = 10, g.seed = 42;
    int reps = 3, attention = g.attention, backend = rp.backend;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "DIR",
         .help = "Wan 2.1 T2V model folder; the default is this source tree's tiny test model"},
        {"--record", NULL, CLI_TEXT, .value = &record, .arg = "FILE.md",
         .help = "append the result, with the machine, date and commit, to this Markdown file (bench/RESULTS.md)"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--attention", NULL, CLI_CHOICE, .value = &attention, .choices = cli_attention_names,
         .help = "self-attention"},
        {"--width", NULL, CLI_INT, .value = &g.width, .min = 16, .max = 8192, .help = "multiple of 16"},
        {"--height", NULL, CLI_INT, .value = &g.height, .min = 16, .max = 8192, .help = "multiple of 16"},
        {"--frames", NULL, CLI_INT, .value = &g.frames, .min = 1, .max = 4097, .help = "video frames, 4n+1"},
        {"--steps", NULL, CLI_INT, .value = &g.steps, .min = 1, .max = 1000, .help = "denoising steps"},
        {"--threads", NULL, CLI_INT, .value = &rp.n_threads, .min = 0, .max = 256,
         .help = "CPU threads, 0 = all cores"},
        {"--reps", NULL, CLI_INT, .value = &reps, .min = 1, .max = MAXR, .help = "timed runs after the warm-up"},
        {"--decay", NULL, CLI_FLOAT, .value = &g.decay, .lo = 1e-3, .hi = 1e3, .arg = "D",
         .help = "radial mask decay factor"},
    };
    const int rc = cli_parse(cmd, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    rp.backend = (radial_backend)backend;
    g.attention = (radial_attention)attention;
    radial_ctx *ctx;
    if (radial_init(model, &rp, &ctx) != RADIAL_OK) return cli_error(cmd);
    char backend_info[192];
    snprintf(backend_info, sizeof backend_info, "%s", radial_backend_info(ctx));
    const bool on_gpu = !strncmp(backend_info, "CUDA", 4);
    static double te[MAXR], step[MAXR], vae[MAXR], total[MAXR];
    size_t peak = 0, phase[3] = {0, 0, 0}, dev_phase[3] = {0, 0, 0}; /* the largest over the runs */
    for (int r = -1; r < reps; r++) {
        radial_video vid;
        radial_timings tm;
        if (radial_generate(ctx, &g, &vid, &tm) != RADIAL_OK) {
            cli_error(cmd);
            radial_free(ctx);
            return 1;
        }
        radial_video_free(&vid);
        if (r < 0) continue; /* warm-up: loads the DiT and VAE */
        te[r] = tm.text_encoder_s, step[r] = tm.denoise_per_step_s, vae[r] = tm.vae_s, total[r] = tm.total_s;
        if (tm.peak_bytes > peak) peak = tm.peak_bytes;
        for (int i = 0; i < 3; i++) {
            if (tm.phase_peak_bytes[i] > phase[i]) phase[i] = tm.phase_peak_bytes[i];
            if (tm.phase_device_peak_bytes[i] > dev_phase[i]) dev_phase[i] = tm.phase_device_peak_bytes[i];
        }
    }
    radial_free(ctx);
    char body[2048];
    const double mib = 1 << 20;
    int k = snprintf(body, sizeof body,
                     "| model | backend | size | steps | attention | text encoder | per step | VAE | total | peak memory |\n"
                     "|---|---|---|---|---|---|---|---|---|---|\n"
                     "| %s | %s | %dx%dx%d | %d | %s | %.3f s | %.3f s | %.3f s | %.3f s | %.1f MiB |\n",
                     model, on_gpu ? "cuda" : "cpu", g.width, g.height, g.frames, g.steps,
                     cli_attention_names[g.attention], bench_median(te, reps), bench_median(step, reps),
                     bench_median(vae, reps), bench_median(total, reps), peak / mib);
    if (on_gpu && k > 0 && (size_t)k < sizeof body) /* per phase: the driver's count of the device, the engine's buffers */
        snprintf(body + k, sizeof body - (size_t)k,
                 "\n| peak memory (MiB) | text encoder | DiT | VAE |\n|---|---|---|---|\n"
                 "| device (driver: CUDA context included) | %.1f | %.1f | %.1f |\n| engine buffers | %.1f | %.1f | %.1f |\n",
                 dev_phase[0] / mib, dev_phase[1] / mib, dev_phase[2] / mib, phase[0] / mib, phase[1] / mib, phase[2] / mib);
    printf("%s(medians of %d runs after a warm-up)\n", body, reps);
    if (record) {
        bench_env e;
        bench_env_get(&e, argc, argv);
        char device[512];
        snprintf(device, sizeof device, "%s (host CPU %s, %d threads)", backend_info, e.cpu, rad_get_threads());
        if (bench_record(record, on_gpu ? "pipeline (CUDA)" : "pipeline (CPU)", &e, device, body))
            return 1;
    }
    return 0;
}
