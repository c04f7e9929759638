/* radial bench pipeline: whole generations with a model folder (default: the tiny test model), median timings
 * of each stage over repetitions after one warm-up run (which also loads and converts the DiT and VAE).
 * --profile adds one more run with a profile attached to the backend (backend/profile.h): where its time went
 * per stage and op family, printed, recorded and in the JSON record. It is a run of its own because its
 * timestamps cost (a CUDA event pair per op), so the medians stay those of unprofiled runs. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/profile.h"
#include "base/mem.h"
#include "base/threads.h"
#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"
#include "pipeline/pipeline.h"
#include "radial.h"

#ifndef RAD_SOURCE_DIR /* set by the build to the source tree */
#define RAD_SOURCE_DIR "."
#endif

static const cli_usage usage = {
    .synopsis = "radial bench pipeline [--model DIR] [options] [--profile] [--record FILE.md] [--json FILE]",
    .about = "Times whole generations with a model folder: the median of each stage over repetitions after one "
             "warm-up run (which also loads and converts the DiT and VAE). --profile: one more run with a profile "
             "attached, and a table of where its time went per stage and op family.",
};

/* One generation with a profile attached to the context's backend: its table (*table, rad_alloc'ed), its JSON
 * (*json, when asked) and its total time. */
static rad_status profiled_run(radial_ctx *ctx, const radial_gen_params *g, char **table, json_t **json,
                               double *total_s) {
    rad_profile *p = NULL;
    RAD_TRY(rad_profile_new(0, &p));
    rad_status s = rad_profile_attach(p, rad_pipeline_backend(ctx));
    if (s == RAD_OK) {
        radial_video vid;
        radial_timings tm;
        const rad_status sg = radial_generate(ctx, g, &vid, &tm);
        radial_video_free(&vid);
        s = rad_profile_detach(p);
        if (sg != RAD_OK) s = sg; /* the generation's failure first (detach succeeds without touching its message) */
        *total_s = tm.total_s;
    }
    if (s == RAD_OK) s = rad_profile_table(p, table);
    if (s == RAD_OK && json) s = rad_profile_json(p, (void **)json);
    rad_profile_free(p);
    return s;
}

/* The record as JSON (one object; the profile's, when there is one, under "profile"). */
static int write_json(const char *path, const bench_env *e, const char *device, const char *model,
                      const radial_gen_params *g, int reps, const double med[4], size_t peak, const size_t phase[3],
                      const size_t dev_phase[3], json_t *profile, double profile_total_s) {
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:i, s:s, s:i, "
                             "s:{s:f, s:f, s:f, s:f}, s:I, s:[I, I, I], s:[I, I, I]}",
                             "bench", "pipeline", "date", e->date, "commit", e->commit, "command", e->command,
                             "device", device, "model", model, "size", "width", g->width, "height", g->height,
                             "frames", g->frames, "steps", g->steps, "attention", cli_attention_names[g->attention],
                             "reps", reps, "medians_s", "text_encoder", med[0], "per_step", med[1], "vae", med[2],
                             "total", med[3], "peak_bytes", (json_int_t)peak, "phase_peak_bytes", (json_int_t)phase[0],
                             (json_int_t)phase[1], (json_int_t)phase[2], "phase_device_peak_bytes",
                             (json_int_t)dev_phase[0], (json_int_t)dev_phase[1], (json_int_t)dev_phase[2]);
    if (root && profile) {
        json_object_set_new(root, "profile_run_total_s", json_real(profile_total_s));
        json_object_set(root, "profile", profile);
    }
    if (!root || json_dump_file(root, path, JSON_INDENT(2) | JSON_ENSURE_ASCII)) {
        fprintf(stderr, "radial bench pipeline: --json %s: cannot write the record there\n", path);
        json_decref(root);
        return 1;
    }
    json_decref(root);
    return 0;
}

int bench_pipeline(int argc, char **argv) {
    enum { MAXR = 1000 };
    /* the tiny test model of this source tree, found from any working directory */
    const char *cmd = "bench pipeline", *model = RAD_SOURCE_DIR "/tests/data/tiny-wan", *record = NULL, *json = NULL;
    bool profile = false;
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
        {"--json", NULL, CLI_TEXT, .value = &json, .arg = "FILE", .help = "write the result as a JSON record"},
        {"--profile", NULL, CLI_SWITCH, .value = &profile,
         .help = "after the timed runs, one more with a profile attached: where its time went per stage (text "
                 "encoder, steps, DiT forwards and blocks, VAE stages) and op family (GEMM, attention dense / radial "
                 "/ cross, norms, RoPE, elementwise, conv, transfers), as device time from CUDA events on the GPU "
                 "and from the host clock on the CPU; printed, and in --record and --json"},
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
    const int parsed = cli_parse(cmd, &usage, flags, CLI_N(flags), argc, argv);
    if (parsed >= 0) return parsed;
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
    char *table = NULL;
    json_t *prof_json = NULL;
    double prof_total = 0;
    if (profile && profiled_run(ctx, &g, &table, json ? &prof_json : NULL, &prof_total) != RAD_OK) {
        cli_error(cmd);
        radial_free(ctx);
        return 1;
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
    /* the profile's run follows the table of medians, in the output and in the record */
    char *full = NULL;
    int rc = 0;
    if (table) {
        const size_t n = strlen(body) + strlen(table) + 256;
        full = malloc(n);
        if (!full) {
            fprintf(stderr, "radial %s: out of memory\n", cmd);
            rc = 1;
        } else {
            snprintf(full, n, "%s\nProfile of one more run (%.3f s in all, with the profile's timestamps):\n\n%s", body,
                     prof_total, table);
            printf("%s", full + strlen(body));
        }
    }
    if (!rc && (record || json)) {
        bench_env e;
        bench_env_get(&e, argc, argv);
        char device[512];
        snprintf(device, sizeof device, "%s (host CPU %s, %d threads)", backend_info, e.cpu, rad_get_threads());
        if (record && bench_record(record, on_gpu ? "pipeline (CUDA)" : "pipeline (CPU)", &e, device, full ? full : body))
            rc = 1;
        const double med[4] = {bench_median(te, reps), bench_median(step, reps), bench_median(vae, reps),
                               bench_median(total, reps)};
        if (!rc && json && write_json(json, &e, device, model, &g, reps, med, peak, phase, dev_phase, prof_json, prof_total))
            rc = 1;
    }
    free(full);
    rad_free(table);
    json_decref(prof_json);
    return rc;
}
