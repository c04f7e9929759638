/* radial bench pipeline: whole generations with a model folder (default: the tiny test model), median timings
 * of each stage over repetitions after a warm-up run (which also loads and converts the DiT and VAE), for dense
 * and/or radial attention. The presets are the seed project's two measurements: 480x832 at 81 frames (standard)
 * and at 241 frames (long), 50 steps, dense against radial; fewstep is the lightx2v 4-step recipe (issue 7) at
 * 480x832x81: Euler on the unshifted timesteps 1000,750,500,250, shift 5, guidance 1 (one forward per step).
 * --profile adds one more run per attention mode with a profile attached to the backend (backend/profile.h):
 * where its time went per stage and op family, printed, recorded and in the JSON record. It is a run of its own
 * because its timestamps cost (a CUDA event pair per op), so the medians stay those of unprofiled runs. */
#include <jansson.h>
#include <stdarg.h>
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

enum { MAXR = 1000 };

static const char *const CMD = "bench pipeline";
static const char *const presets[] = {"standard", "long", "fewstep", NULL};
enum { PRESET_FEWSTEP = 2 };
static const int preset_frames[] = {81, 241, 81};
static const double fewstep_timesteps[] = {1000, 750, 500, 250};
static const char *const attention_lists[] = {"dense", "radial", "dense,radial", NULL};

static const cli_usage usage = {
    .synopsis = "radial bench pipeline [--model DIR] [--preset standard|long|fewstep] [options] [--profile] "
                "[--record FILE.md] [--json FILE]",
    .about = "Times whole generations with a model folder: the median of each stage over repetitions after a "
             "warm-up run (which also loads and converts the DiT and VAE; its total is reported as the first run), "
             "for each attention mode asked for. --preset standard is 480x832 with 81 frames, long 241 frames, both "
             "50 steps, dense and radial (the seed project's two measurements); fewstep the lightx2v 4-step recipe at "
             "480x832x81 (Euler, timesteps 1000,750,500,250, shift 5, guidance 1). --profile: one more run per mode with "
             "a profile attached, and a table of where its time went per stage and op family.",
};

/* What one attention mode measured. */
typedef struct {
    radial_attention attention;
    double med[4];       /* medians: text encoder, per step, VAE, total */
    double first_s;      /* the context's first generation in all (its loads included); 0: not this mode's */
    size_t peak, phase[3], dev_phase[3]; /* the largest over the timed runs */
    char *table;         /* --profile: the profiled run's table (rad_alloc'ed) */
    json_t *profile;     /* and its JSON (with --json) */
    double profile_s;    /* and its total */
    radial_sampler sampler; /* what ran (radial_timings: the defaults resolved) */
    double shift;
} mode_result;

/* One generation with a profile attached to the context's backend: its table, its JSON (when asked) and total. */
static rad_status profiled_run(radial_ctx *ctx, const radial_gen_params *g, mode_result *r, bool want_json) {
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
        r->profile_s = tm.total_s;
    }
    if (s == RAD_OK) s = rad_profile_table(p, &r->table);
    if (s == RAD_OK && want_json) s = rad_profile_json(p, (void **)&r->profile);
    rad_profile_free(p);
    return s;
}

/* warmup + reps generations of g (the first of the context says *first_done), then the profiled one. */
static rad_status run_mode(radial_ctx *ctx, const radial_gen_params *g, int warmup, int reps, bool profile,
                           bool want_json, bool *first_done, mode_result *r) {
    static double te[MAXR], step[MAXR], vae[MAXR], total[MAXR];
    r->attention = g->attention;
    for (int i = -warmup; i < reps; i++) {
        radial_video vid;
        radial_timings tm;
        RAD_TRY(radial_generate(ctx, g, &vid, &tm));
        radial_video_free(&vid);
        if (!*first_done) r->first_s = tm.total_s, *first_done = true;
        r->sampler = tm.sampler_used, r->shift = tm.shift_used;
        if (i < 0) continue; /* warm-up: the first loads the text encoder, the DiT and the VAE */
        te[i] = tm.text_encoder_s, step[i] = tm.denoise_per_step_s, vae[i] = tm.vae_s, total[i] = tm.total_s;
        if (tm.peak_bytes > r->peak) r->peak = tm.peak_bytes;
        for (int k = 0; k < 3; k++) {
            if (tm.phase_peak_bytes[k] > r->phase[k]) r->phase[k] = tm.phase_peak_bytes[k];
            if (tm.phase_device_peak_bytes[k] > r->dev_phase[k]) r->dev_phase[k] = tm.phase_device_peak_bytes[k];
        }
    }
    r->med[0] = bench_median(te, reps), r->med[1] = bench_median(step, reps);
    r->med[2] = bench_median(vae, reps), r->med[3] = bench_median(total, reps);
    return profile ? profiled_run(ctx, g, r, want_json) : RAD_OK;
}

/* A growing text (the record's body); false when out of memory. */
typedef struct {
    char *s;
    size_t n, cap;
} text;

static bool text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool text_add(text *t, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return false;
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return true;
        }
        char *s = realloc(t->s, t->cap + (size_t)k + 4096);
        if (!s) return false;
        t->s = s, t->cap += (size_t)k + 4096;
        t->s[t->n] = '\0';
    }
}

/* The record's body: a row per mode, radial against dense, the memory per phase (GPU), the profile tables. */
static bool body_text(text *t, const char *model, bool on_gpu, const radial_gen_params *g, const mode_result *m, int n,
                      int warmup, int reps) {
    const double mib = 1 << 20;
    bool ok = text_add(t, "| model | backend | size | steps | attention | text encoder | per step | VAE | total | first "
                          "run (loads) | peak memory |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        char first[32] = "-"; /* the mode that ran the process's first generation */
        if (m[i].first_s > 0) snprintf(first, sizeof first, "%.3f s", m[i].first_s);
        ok = ok && text_add(t, "| %s | %s | %dx%dx%d | %d | %s | %.3f s | %.3f s | %.3f s | %.3f s | %s | %.1f MiB |\n",
                            model, on_gpu ? "cuda" : "cpu", g->width, g->height, g->frames, g->steps,
                            cli_attention_names[m[i].attention], m[i].med[0], m[i].med[1], m[i].med[2], m[i].med[3],
                            first, (double)m[i].peak / mib);
    }
    ok = ok && text_add(t, "(medians of %d run%s after %d warm-up run%s; the first run of the process loads the models)\n",
                        reps, reps == 1 ? "" : "s", warmup, warmup == 1 ? "" : "s");
    ok = ok && text_add(t, "schedule: sampler %s, shift %g, guidance %g (%s)", cli_sampler_names[m[0].sampler],
                        m[0].shift, (double)g->guidance,
                        g->guidance == 1.0f ? "one forward per step" : "two forwards per step");
    for (int i = 0; i < g->n_timesteps; i++)
        ok = ok && text_add(t, "%s%g", i ? "," : ", timesteps ", g->timesteps[i]);
    ok = ok && text_add(t, "\n");
    if (n == 2 && m[1].med[3] > 0)
        ok = ok && text_add(t, "\nradial's speed-up over dense: %.2fx per step, %.2fx in all\n", m[0].med[1] / m[1].med[1],
                            m[0].med[3] / m[1].med[3]);
    for (int i = 0; on_gpu && i < n; i++) /* per phase: the driver's count of the device, the engine's buffers */
        ok = ok && text_add(t, "\n| peak memory (MiB), %s | text encoder | DiT | VAE |\n|---|---|---|---|\n"
                               "| device (driver: CUDA context included) | %.1f | %.1f | %.1f |\n"
                               "| engine buffers | %.1f | %.1f | %.1f |\n",
                            cli_attention_names[m[i].attention], m[i].dev_phase[0] / mib, m[i].dev_phase[1] / mib,
                            m[i].dev_phase[2] / mib, m[i].phase[0] / mib, m[i].phase[1] / mib, m[i].phase[2] / mib);
    for (int i = 0; i < n; i++)
        if (m[i].table)
            ok = ok && text_add(t, "\nProfile of one more %s run (%.3f s in all, with the profile's timestamps):\n\n%s",
                                cli_attention_names[m[i].attention], m[i].profile_s, m[i].table);
    return ok;
}

/* The JSON record: the settings once, a run per attention mode (its profile under "profile"). */
static int write_json(const char *path, const bench_env *e, const char *device, const char *model, const char *preset,
                      const radial_gen_params *g, int warmup, int reps, const mode_result *m, int n) {
    json_t *runs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *r = json_pack("{s:s, s:{s:f, s:f, s:f, s:f}, s:f, s:I, s:[I, I, I], s:[I, I, I]}", "attention",
                              cli_attention_names[m[i].attention], "medians_s", "text_encoder", m[i].med[0], "per_step",
                              m[i].med[1], "vae", m[i].med[2], "total", m[i].med[3], "first_run_total_s", m[i].first_s,
                              "peak_bytes", (json_int_t)m[i].peak, "phase_peak_bytes", (json_int_t)m[i].phase[0],
                              (json_int_t)m[i].phase[1], (json_int_t)m[i].phase[2], "phase_device_peak_bytes",
                              (json_int_t)m[i].dev_phase[0], (json_int_t)m[i].dev_phase[1],
                              (json_int_t)m[i].dev_phase[2]);
        if (r && m[i].profile) {
            json_object_set_new(r, "profile_run_total_s", json_real(m[i].profile_s));
            json_object_set(r, "profile", m[i].profile);
        }
        json_array_append_new(runs, r);
    }
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:{s:i, s:i, s:i}, s:i, s:i, s:i, s:o}", "bench",
                             "pipeline", "date", e->date, "commit", e->commit, "command", e->command, "device", device,
                             "model", model, "preset", preset, "size", "width", g->width, "height", g->height, "frames",
                             g->frames, "steps", g->steps, "warmup", warmup, "reps", reps, "runs", runs);
    if (!root || json_dump_file(root, path, JSON_INDENT(2) | JSON_ENSURE_ASCII)) {
        fprintf(stderr, "radial %s: --json %s: cannot write the record there\n", CMD, path);
        json_decref(root);
        return 1;
    }
    json_decref(root);
    return 0;
}

int bench_pipeline(int argc, char **argv) {
    /* the tiny test model of this source tree, found from any working directory */
    const char *model = RAD_SOURCE_DIR "/tests/data/tiny-wan", *record = NULL, *json = NULL;
    radial_params rp = radial_default_params();
    radial_gen_params g = radial_default_gen_params();
    g.prompt = "A cat walks on the grass, realistic";
    g.width = g.height = g.frames = g.steps = 0; /* not given: the tiny model's size, or the preset's */
    g.seed = 42;
    int reps = 0, warmup = 1, attention = -1, preset = -1, backend = rp.backend;
    bool profile = false;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "DIR",
         .help = "Wan 2.1 T2V model folder; the default is this source tree's tiny test model"},
        {"--preset", NULL, CLI_CHOICE, .value = &preset, .choices = presets,
         .help = "standard: 832x480, 81 frames; long: 832x480, 241 frames; both 50 steps, dense and radial, 1 timed "
                 "run (the seed project's measurements); fewstep: 832x480, 81 frames, the lightx2v 4-step schedule "
                 "(Euler, timesteps 1000,750,500,250, shift 5, guidance 1), dense and radial, 3 timed runs; sets the "
                 "size (leave --width, --height, --frames out) and fewstep the schedule (leave --steps out)"},
        {"--record", NULL, CLI_TEXT, .value = &record, .arg = "FILE.md",
         .help = "append the result, with the machine, date and commit, to this Markdown file (bench/RESULTS.md)"},
        {"--json", NULL, CLI_TEXT, .value = &json, .arg = "FILE",
         .help = "write the result as a JSON record (the settings, then a run per attention mode)"},
        {"--profile", NULL, CLI_SWITCH, .value = &profile,
         .help = "after the timed runs of each mode, one more with a profile attached: where its time went per stage "
                 "(text encoder, steps, DiT forwards and blocks, VAE stages) and op family (GEMM, attention dense / "
                 "radial / cross, norms, RoPE, elementwise, conv, transfers), as device time from CUDA events on the "
                 "GPU and from the host clock on the CPU; printed, and in --record and --json"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--attention", NULL, CLI_CHOICE, .value = &attention, .choices = attention_lists,
         .help = "self-attention of the timed runs, one mode after the other; without it dense, or dense,radial "
                 "with a preset"},
        {"--width", NULL, CLI_INT, .value = &g.width, .min = 16, .max = 8192,
         .help = "multiple of 16; without it 96, or the preset's"},
        {"--height", NULL, CLI_INT, .value = &g.height, .min = 16, .max = 8192,
         .help = "multiple of 16; without it 64, or the preset's"},
        {"--frames", NULL, CLI_INT, .value = &g.frames, .min = 1, .max = 4097,
         .help = "video frames, 4n+1; without it 9, or the preset's"},
        {"--steps", NULL, CLI_INT, .value = &g.steps, .min = 1, .max = 1000,
         .help = "denoising steps; without it 10, or 50 with a preset (radial: the first min(12, steps/4) dense)"},
        {"--threads", NULL, CLI_INT, .value = &rp.n_threads, .min = 0, .max = 256,
         .help = "CPU threads, 0 = all cores"},
        {"--reps", NULL, CLI_INT, .value = &reps, .min = 1, .max = MAXR,
         .help = "timed runs per mode after the warm-up; without it 3, or 1 with a preset"},
        {"--warmup", NULL, CLI_INT, .value = &warmup, .min = 0, .max = 100,
         .help = "untimed runs per mode before them (the process's first run loads the models)"},
        {"--decay", NULL, CLI_FLOAT, .value = &g.decay, .lo = 1e-3, .hi = 1e3, .arg = "D",
         .help = "radial mask decay factor"},
    };
    const int parsed = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (parsed >= 0) return parsed;
    if (preset >= 0 && (g.width || g.height || g.frames))
        return cli_usage_error(CMD, "--preset %s sets the size: leave --width, --height and --frames out",
                               presets[preset]);
    if (preset == PRESET_FEWSTEP && g.steps)
        return cli_usage_error(CMD, "--preset fewstep sets the schedule (4 timesteps): leave --steps out");
    if (preset >= 0) g.width = 832, g.height = 480, g.frames = preset_frames[preset];
    if (preset == PRESET_FEWSTEP) {
        g.timesteps = fewstep_timesteps, g.steps = g.n_timesteps = (int)(sizeof fewstep_timesteps / sizeof(double));
        g.sampler = RADIAL_SAMPLER_EULER, g.shift = 5.0f, g.guidance = 1.0f;
    }
    if (!g.width) g.width = 96;
    if (!g.height) g.height = 64;
    if (!g.frames) g.frames = 9;
    if (!g.steps) g.steps = preset >= 0 ? 50 : 10;
    if (!reps) reps = preset >= 0 && preset != PRESET_FEWSTEP ? 1 : 3;
    if (attention < 0) attention = preset >= 0 ? 2 : 0;
    const radial_attention modes[2] = {attention == 1 ? RADIAL_ATTN_RADIAL : RADIAL_ATTN_DENSE, RADIAL_ATTN_RADIAL};
    const int n_modes = attention == 2 ? 2 : 1;
    rp.backend = (radial_backend)backend;
    rad_set_threads(rp.n_threads); /* the process's too: the record names the count */

    radial_ctx *ctx;
    if (radial_init(model, &rp, &ctx) != RADIAL_OK) return cli_error(CMD);
    char backend_info[192];
    snprintf(backend_info, sizeof backend_info, "%s", radial_backend_info(ctx));
    const bool on_gpu = !strncmp(backend_info, "CUDA", 4);
    mode_result m[2];
    memset(m, 0, sizeof m);
    bool first_done = false;
    int rc = 0;
    for (int i = 0; i < n_modes && !rc; i++) {
        radial_gen_params gi = g;
        gi.attention = modes[i];
        if (run_mode(ctx, &gi, warmup, reps, profile, json != NULL, &first_done, &m[i]) != RAD_OK) rc = cli_error(CMD);
    }
    radial_free(ctx);

    text body = {0};
    if (!rc && !body_text(&body, model, on_gpu, &g, m, n_modes, warmup, reps)) {
        fprintf(stderr, "radial %s: out of memory\n", CMD);
        rc = 1;
    }
    if (!rc) printf("%s", body.s);
    if (!rc && (record || json)) {
        bench_env e;
        bench_env_get(&e, argc, argv);
        char device[512];
        snprintf(device, sizeof device, "%s (host CPU %s, %d threads)", backend_info, e.cpu, rad_get_threads());
        char title[96];
        snprintf(title, sizeof title, "pipeline (%s%s%s)", on_gpu ? "CUDA" : "CPU", preset >= 0 ? ", preset " : "",
                 preset >= 0 ? presets[preset] : "");
        if (record && bench_record(record, title, &e, device, body.s)) rc = 1;
        if (!rc && json &&
            write_json(json, &e, device, model, preset >= 0 ? presets[preset] : NULL, &g, warmup, reps, m, n_modes))
            rc = 1;
    }
    free(body.s);
    for (int i = 0; i < 2; i++) {
        rad_free(m[i].table);
        json_decref(m[i].profile);
    }
    return rc;
}
