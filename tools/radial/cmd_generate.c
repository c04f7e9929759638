/* radial generate: text to video with the diffusers/Wan defaults. It uses the public API (radial.h), and for
 * several ranks (--gpus N, or a launcher's RADIAL_RANK) the pipeline's multi-rank entry points (pipeline.h) and
 * the process launcher (launch.h).
 *
 * A user's time and files come first: everything checkable (flags, the output path, the model files) is checked
 * before any model work; the output is written atomically with the settings in its metadata; a failure to write
 * after a finished generation keeps the frames in a fallback file whose name is printed; Ctrl-C (SIGINT/SIGTERM)
 * stops at the next step or frame and leaves no partial file. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "cli_args.h"
#include "commands.h"
#include "launch.h"
#include "pipeline/pipeline.h"
#include "radial.h"

static const cli_usage usage = {
    .synopsis = "radial generate --model DIR --prompt TEXT [options] -o OUTPUT\n"
                "radial generate --dit FILE --t5 FILE --vae FILE --prompt TEXT [options] -o OUTPUT",
    .about = "Text to video with the diffusers/Wan defaults. The output is written atomically, with the settings in "
             "its metadata; Ctrl-C stops at the next step or frame and leaves no partial file. --gpus N runs one "
             "process per GPU of this machine (NCCL); a launcher's processes (torchrun, mpirun, srun) set "
             "RADIAL_RANK, RADIAL_WORLD_SIZE, RADIAL_LOCAL_RANK and NCCL_COMM_ID instead (docs/multi-gpu.md).",
};

static volatile sig_atomic_t g_signal; /* set by SIGINT/SIGTERM: stop at the next step, frame or file */

static void on_signal(int sig) { g_signal = sig; }

enum { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_NONE };

typedef struct {
    int mode; /* PROGRESS_BAR, _LINES or _NONE */
    double seconds;
} progress;

static int on_step(int step, int steps, double seconds, void *user) {
    progress *p = user;
    p->seconds += seconds;
    const double per = p->seconds / step, eta = per * (steps - step);
    if (p->mode == PROGRESS_BAR) {
        const int width = 30, done = step * width / steps;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\rstep %d/%d [%s] %.2f s/it, ETA %d:%02d  ", step, steps, bar, per, (int)eta / 60,
                (int)eta % 60);
        if (step == steps) fputc('\n', stderr);
    } else if (p->mode == PROGRESS_LINES) {
        fprintf(stderr, "step %d/%d: %.2f s, %.2f s/it, ETA %d:%02d\n", step, steps, seconds, per, (int)eta / 60,
                (int)eta % 60);
    }
    fflush(stderr);
    return g_signal != 0;
}

static int on_decode(int frame, int frames, void *user) {
    const progress *p = user;
    if (p->mode == PROGRESS_BAR)
        fprintf(stderr, "\rdecoding: latent frame %d/%d  %s", frame, frames, frame == frames ? "\n" : "");
    else if (p->mode == PROGRESS_LINES)
        fprintf(stderr, "decoding: latent frame %d/%d\n", frame, frames);
    fflush(stderr);
    return g_signal != 0;
}

static int write_cancel(void *user) {
    (void)user;
    return g_signal != 0;
}

/* The settings that made the video, as metadata pairs (MP4 tags, PNG text chunks) and for the JSON summary. */
typedef struct {
    char seed[32], size[48], steps[16], guidance[32], shift[32], attention[160], cache[128], loras[1024], backend[192],
        parallel[160];
    const char *kv[48]; /* 24 pairs: make_provenance adds at most 19 */
    int n;
} provenance;

/* A decimal number >= 0 at *p (digits, '.', an exponent; no sign, hex, inf or nan), *p moved past it. */
static bool take_number(const char **p, double *out) {
    const char *s = *p;
    if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) return false;
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || s + strspn(s, "0123456789.eE+-") < end || !isfinite(v) || v < 0) return false;
    *out = v, *p = end;
    return true;
}

/* --cache none | teacache:THRESH[:ret] | magcache:THRESH[:K[:RETENTION]] into g; false after saying what is wrong
 * (exit 2). */
static bool parse_cache(const char *cmd, const char *text, radial_gen_params *g) {
    const radial_gen_params d = radial_default_gen_params();
    g->cache = RADIAL_CACHE_NONE, g->cache_threshold = 0, g->cache_ret_steps = 0;
    g->cache_k = d.cache_k, g->cache_retention = d.cache_retention;
    if (!strcmp(text, "none")) return true;
    const char *p = text;
    double t, k = 0, r;
    bool ok = false;
    if (!strncmp(p, "teacache:", 9)) {
        p += 9;
        ok = take_number(&p, &t) && (!*p || !strcmp(p, ":ret"));
        g->cache = RADIAL_CACHE_TEACACHE, g->cache_ret_steps = *p != '\0';
    } else if (!strncmp(p, "magcache:", 9)) {
        p += 9;
        ok = take_number(&p, &t);
        if (ok && *p == ':') { /* K, an integer from 1 */
            p++;
            ok = take_number(&p, &k) && k >= 1 && k <= 1000 && k == (int)k;
            g->cache_k = (int)k;
        }
        if (ok && *p == ':') { /* the retention ratio in [0, 1] */
            p++;
            ok = take_number(&p, &r) && r <= 1;
            g->cache_retention = r;
        }
        ok = ok && !*p;
        g->cache = RADIAL_CACHE_MAGCACHE;
    }
    if (!ok) {
        cli_usage_error(cmd, "--cache: expected none, teacache:THRESH[:ret] or magcache:THRESH[:K[:RETENTION]] (THRESH a "
                        "number >= 0, K an integer from 1 to 1000, RETENTION in [0, 1]), found '%s'", text);
        return false;
    }
    g->cache_threshold = t;
    return true;
}

/* x in the shortest decimal that reads back as itself. */
static void shortest(double x, char *buf, size_t size) {
    snprintf(buf, size, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, size, "%.17g", x);
}

/* The step cache as --cache takes it (MagCache with its K and retention ratio spelled out). */
static void describe_cache(const radial_gen_params *g, char *buf, size_t size) {
    char t[32], r[32];
    shortest(g->cache_threshold, t, sizeof t);
    shortest(g->cache_retention, r, sizeof r);
    if (g->cache == RADIAL_CACHE_TEACACHE)
        snprintf(buf, size, "teacache:%s%s", t, g->cache_ret_steps ? ":ret" : "");
    else if (g->cache == RADIAL_CACHE_MAGCACHE)
        snprintf(buf, size, "magcache:%s:%d:%s", t, g->cache_k, r);
    else
        snprintf(buf, size, "none");
}

static void add_kv(provenance *pv, const char *k, const char *v) {
    pv->kv[2 * pv->n] = k, pv->kv[2 * pv->n + 1] = v ? v : "";
    pv->n++;
}

static void make_provenance(provenance *pv, const radial_gen_params *g, const radial_params *rp, const char *model,
                            const char *sampler, const char *rng, const char *backend_info, const char *parallel) {
    memset(pv, 0, sizeof *pv);
    snprintf(pv->seed, sizeof pv->seed, "%lld", (long long)g->seed);
    snprintf(pv->size, sizeof pv->size, "%dx%d, %d frames", g->width, g->height, g->frames);
    snprintf(pv->steps, sizeof pv->steps, "%d", g->steps);
    snprintf(pv->guidance, sizeof pv->guidance, "%g", (double)g->guidance);
    snprintf(pv->shift, sizeof pv->shift, "%g", (double)g->shift);
    if (g->attention == RADIAL_ATTN_RADIAL)
        snprintf(pv->attention, sizeof pv->attention, "radial (decay %g; dense for the first %d steps and %d blocks)",
                 (double)g->decay, g->dense_steps, g->dense_layers);
    else
        snprintf(pv->attention, sizeof pv->attention, "dense");
    describe_cache(g, pv->cache, sizeof pv->cache);
    size_t k = 0;
    for (int i = 0; i < rp->n_loras && k < sizeof pv->loras; i++)
        k += (size_t)snprintf(pv->loras + k, sizeof pv->loras - k, "%s%s:%g", i ? ";" : "", rp->loras[i].path,
                              (double)rp->loras[i].strength);
    add_kv(pv, "prompt", g->prompt);
    add_kv(pv, "negative_prompt", g->negative_prompt ? g->negative_prompt : "(Wan's default negative prompt)");
    add_kv(pv, "seed", pv->seed);
    add_kv(pv, "rng", rng);
    add_kv(pv, "size", pv->size);
    add_kv(pv, "steps", pv->steps);
    add_kv(pv, "sampler", sampler);
    add_kv(pv, "shift", pv->shift);
    add_kv(pv, "guidance", pv->guidance);
    add_kv(pv, "attention", pv->attention);
    add_kv(pv, "cache", pv->cache);
    add_kv(pv, "gemm", rp->gemm == RADIAL_GEMM_FP8 ? "fp8 (e4m3, per-token and per-channel scales; DiT blocks)" : "bf16");
    add_kv(pv, "attention_precision", rp->attention_precision == RADIAL_ATTN_PRECISION_FP8
                                          ? "fp8 (e4m3 Q/K per block, K smoothed, P and V; self-attention)"
                                          : "bf16");
    add_kv(pv, "model", model ? model : rp->dit);
    if (rp->n_loras) add_kv(pv, "loras", pv->loras);
    if (g->vae_tile) add_kv(pv, "vae_decode", "tiles of 256 px (--vae-tile)"); /* the pixels differ near seams */
    snprintf(pv->backend, sizeof pv->backend, "%s", backend_info); /* outlives the context */
    add_kv(pv, "backend", pv->backend);
    if (parallel) { /* several ranks: bf16 noise apart, the one-GPU video (docs/multi-gpu.md) */
        snprintf(pv->parallel, sizeof pv->parallel, "%s", parallel);
        add_kv(pv, "parallel", pv->parallel);
    }
    add_kv(pv, "software", "radial " RADIAL_VERSION);
}

/* The run summary for scripts: settings (the provenance pairs), output, timings, peak memory. */
/* What ran, for the summary and the JSON record: ranks, how they were started, the parallel mode. */
typedef struct {
    int ranks;
    const char *launch; /* "one process", "processes" (--gpus), "threads" (--backend cpu), "launcher" (RADIAL_RANK) */
    const char *asked;  /* the --parallel value */
    rad_parallel_plan plan;
} ran_as;

static int write_json(const char *path, const provenance *pv, const char *output, const radial_timings *tm,
                      const ran_as *ra, const char *status, const char *error) {
    json_t *root = json_object(), *settings = json_object();
    for (int i = 0; i < pv->n; i++) json_object_set_new(settings, pv->kv[2 * i], json_string(pv->kv[2 * i + 1]));
    json_object_set_new(root, "status", json_string(status));
    if (error) json_object_set_new(root, "error", json_string(error));
    json_object_set_new(root, "output", output ? json_string(output) : json_null());
    json_object_set_new(root, "seed", json_integer((json_int_t)tm->seed_used));
    json_object_set_new(root, "settings", settings);
    static const char *const modes[] = {"auto", "cfg", "ulysses", "cfg+ulysses", "none"}; /* rad_parallel order */
    json_object_set_new(root, "parallel",
                        json_pack("{s:i, s:s, s:s, s:s, s:s}", "ranks", ra->ranks, "mode", modes[ra->plan.mode], "asked",
                                  ra->asked, "plan", ra->plan.what, "launch", ra->launch));
    json_object_set_new(root, "timings_s",
                        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "text_encoder", tm->text_encoder_s, "denoise",
                                  tm->denoise_s, "per_step", tm->denoise_per_step_s, "vae", tm->vae_s, "total",
                                  tm->total_s, "load", tm->load_s));
    json_object_set_new(root, "load_bytes", json_integer((json_int_t)tm->load_bytes));
    json_object_set_new(root, "peak_memory_bytes", json_integer((json_int_t)tm->peak_bytes));
    json_object_set_new(root, "device_peak_bytes", json_integer((json_int_t)tm->device_peak_bytes));
    static const char *const phases[3] = {"text_encoder", "dit", "vae"};
    json_t *ph = json_object();
    for (int i = 0; i < 3; i++)
        json_object_set_new(ph, phases[i], json_pack("{s:I, s:I}", "engine_bytes", (json_int_t)tm->phase_peak_bytes[i],
                                                     "device_bytes", (json_int_t)tm->phase_device_peak_bytes[i]));
    json_object_set_new(root, "phase_peaks", ph);
    json_object_set_new(root, "host_pinned_bytes", json_integer((json_int_t)tm->host_pinned_bytes));
    json_object_set_new(root, "dit_resident_blocks", json_pack("{s:i, s:i}", "resident", tm->dit_resident_blocks,
                                                               "blocks", tm->dit_blocks));
    json_object_set_new(root, "lora_modules", json_integer(tm->lora_modules));
    json_object_set_new(root, "cache",
                        json_pack("{s:{s:i, s:i}, s:{s:i, s:i}}", "forwards", "cond", tm->cache_forwards[0], "uncond",
                                  tm->cache_forwards[1], "skipped", "cond", tm->cache_skipped[0], "uncond",
                                  tm->cache_skipped[1]));
    const int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    if (rc) fprintf(stderr, "radial generate: could not write the JSON summary %s\n", path);
    return rc ? 1 : 0;
}

/* Peak memory per phase: the device as its driver counts it (the whole process: context and libraries too) and the
 * engine's own buffers; on the CPU the host memory the engine allocated. */
static void print_memory(const radial_timings *tm) {
    const double mib = 1048576.0;
    if (!tm->device_peak_bytes) {
        printf("memory: peak %.1f MiB (host, engine allocations)\n", (double)tm->peak_bytes / mib);
        return;
    }
    printf("memory: device peak %.1f MiB | text encoder %.1f | DiT %.1f | VAE %.1f MiB (driver's count: CUDA context "
           "included); engine buffers %.1f | %.1f | %.1f MiB",
           (double)tm->device_peak_bytes / mib, (double)tm->phase_device_peak_bytes[0] / mib,
           (double)tm->phase_device_peak_bytes[1] / mib, (double)tm->phase_device_peak_bytes[2] / mib,
           (double)tm->phase_peak_bytes[0] / mib, (double)tm->phase_peak_bytes[1] / mib,
           (double)tm->phase_peak_bytes[2] / mib);
    if (tm->host_pinned_bytes) printf("; %.2f GiB of weights in pinned host memory", (double)tm->host_pinned_bytes / 1073741824.0);
    if (tm->dit_resident_blocks < tm->dit_blocks)
        printf("; %d of %d DiT blocks resident", tm->dit_resident_blocks, tm->dit_blocks);
    printf("\n");
}

/* After a finished generation the output could not be written: keep the frames in the working folder, else in the
 * temporary one, as MP4 (small, when this build has FFmpeg) or Y4M (needs no library). Returns 0 when saved. */
static int save_fallback(const radial_video *v, const radial_write_params *wp, long long seed, char *path, size_t size) {
    const char *dirs[2] = {".", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"}, *exts[2] = {"mp4", "y4m"};
    radial_write_params p = *wp;
    p.cancel = NULL, p.no_overwrite = 1;
    for (int i = 0; i < 2; i++)
        for (int e = 0; e < 2; e++) {
            snprintf(path, size, "%s/radial-unsaved-%lld-%ld.%s", dirs[i], seed, (long)getpid(), exts[e]);
            if (radial_video_check_path(path, v->frames, &p) == RADIAL_OK && radial_video_write(path, v, &p) == RADIAL_OK)
                return 0;
        }
    return 1;
}

/* ---- several ranks (--gpus N; launch.h) ----
 * Every rank runs the same command line: the same flags, the same checks, its own context on its own GPU. Rank 0
 * prints the progress and the summary and writes the output; the others compute their share and exit with 0, or
 * print their error and exit with 1. */

/* Log lines: rank 0's as one process would print them; another rank's warnings and errors only, named. In
 * --backend cpu runs the ranks are threads of this process (tl_rank), otherwise processes (g_log_rank). */
static int g_log_rank;
static _Thread_local int tl_rank;

static void rank_log(radial_log_level level, const char *msg, void *user) {
    (void)user;
    static const char *const names[] = {"debug", "info", "warning", "error"};
    const int r = g_log_rank ? g_log_rank : tl_rank;
    if (r && level < RADIAL_LOG_WARN) return;
    if (r)
        fprintf(stderr, "radial: rank %d: %s: %s\n", r, names[level], msg);
    else
        fprintf(stderr, "radial: %s: %s\n", names[level], msg);
}

/* The progress callback of the ranks that print nothing: Ctrl-C still stops them at the next step. */
static int cancel_only(int step, int steps, double seconds, void *user) {
    (void)step, (void)steps, (void)seconds, (void)user;
    return g_signal != 0;
}

/* One rank's generation: its context (rank_init), then joining the group and generating (rank_generate). */
typedef struct rank_job {
    const char *model;
    radial_params rp;
    radial_gen_params g;
    int rank, world;
    rad_parallel mode;
    bool nccl;                               /* join an NCCL group with id */
    unsigned char id[RAD_NCCL_ID_BYTES];
    rad_group *lb;                           /* --backend cpu: this rank's loopback group */
    radial_ctx *ctx;
    char backend_info[192];
    radial_video vid; /* rank 0's */
    radial_timings tm;
    radial_status s;
    char err[2048]; /* the message of a failure (the library's is per thread) */
} rank_job;

static void rank_init(rank_job *j) {
    j->s = radial_init(j->model, &j->rp, &j->ctx);
    if (j->s == RADIAL_OK) snprintf(j->backend_info, sizeof j->backend_info, "%s", radial_backend_info(j->ctx));
    else snprintf(j->err, sizeof j->err, "%s", radial_last_error());
}

static void rank_generate(rank_job *j) {
    j->tm.seed_used = j->g.seed;
    if (j->s == RADIAL_OK && j->lb) j->s = rad_pipeline_set_parallel(j->ctx, j->lb, j->mode);
    if (j->s == RADIAL_OK && j->nccl) j->s = rad_pipeline_join_nccl(j->ctx, j->rank, j->world, j->id, j->mode);
    if (j->s == RADIAL_OK) j->s = radial_generate(j->ctx, &j->g, &j->vid, &j->tm);
    if (j->s != RADIAL_OK) {
        if (j->lb) rad_group_abort(j->lb); /* one that failed before generating: the others must not wait */
        snprintf(j->err, sizeof j->err, "%s", radial_last_error());
    }
    radial_free(j->ctx);
    j->ctx = NULL;
}

static void *rank_thread(void *arg) {
    rank_job *j = arg;
    tl_rank = j->rank;
    rank_init(j);
    if (j->s != RADIAL_OK && j->lb) rad_group_abort(j->lb);
    rank_generate(j);
    return NULL;
}

/* --backend cpu: ranks 1 .. world-1 as threads beside rank 0 (this thread, whose context exists), on one loopback
 * group; a rank other than 0 that fails is said here (rank 0's own failure is its job's). */
static void run_threads(rank_job *j0, int world) {
    rad_group *g[64];
    rank_job *jobs = calloc((size_t)world, sizeof *jobs);
    pthread_t t[64];
    bool started[64] = {false};
    const radial_status sg = jobs ? rad_group_loopback_new(world, g) : RADIAL_ERR_NOMEM;
    if (sg != RADIAL_OK) {
        j0->s = sg;
        snprintf(j0->err, sizeof j0->err, "%s", jobs ? radial_last_error() : "out of memory for the ranks");
        free(jobs);
        radial_free(j0->ctx), j0->ctx = NULL;
        return;
    }
    for (int r = 1; r < world; r++) {
        jobs[r] = *j0;
        jobs[r].rank = r, jobs[r].lb = g[r], jobs[r].ctx = NULL;
        jobs[r].g.on_step = cancel_only, jobs[r].g.on_decode = NULL;
        started[r] = pthread_create(&t[r], NULL, rank_thread, &jobs[r]) == 0;
        if (!started[r]) {
            jobs[r].s = RADIAL_ERR_BACKEND;
            snprintf(jobs[r].err, sizeof jobs[r].err, "cannot start the thread of rank %d", r);
            rad_group_abort(g[r]);
        }
    }
    j0->lb = g[0];
    rank_generate(j0);
    for (int r = 1; r < world; r++) {
        if (started[r]) pthread_join(t[r], NULL);
        if (jobs[r].s != RADIAL_OK && j0->s == RADIAL_OK)
            fprintf(stderr, "radial generate: rank %d failed: %s\n", r, jobs[r].err);
        radial_video_free(&jobs[r].vid);
    }
    for (int r = 0; r < world; r++) rad_group_free(g[r]);
    free(jobs);
}

/* A rank other than 0 that failed: its message, named, and exit status 1 (which rank 0 sees). */
static int rank_fail(const char *cmd, int rank, const char *msg) {
    fprintf(stderr, "radial %s: rank %d: %s\n", cmd, rank, msg);
    return 1;
}

/* The command line of the other ranks: "radial generate <the same arguments>", malloc'ed, NULL-terminated. */
static char **rank_argv(int argc, char **argv) {
    char **a = calloc((size_t)argc + 2, sizeof *a);
    if (!a) return NULL;
    a[0] = "radial";
    for (int i = 0; i < argc; i++) a[i + 1] = argv[i];
    return a;
}

/* Rank 0's record of a run another rank broke (launch_arm calls it from its thread, then ends the process). */
typedef struct {
    const char *json;
    const provenance *pv;
    const radial_timings *tm;
    const ran_as *ra;
} fail_report;

static void on_rank_failed(const char *msg, void *user) {
    const fail_report *f = user;
    char line[512];
    const bool cancelled = g_signal != 0; /* Ctrl-C reaches every rank: the first to stop ends the run */
    snprintf(line, sizeof line, "%s%s; the run is stopped", msg, cancelled ? " (interrupted)" : "");
    fprintf(stderr, "\nradial generate: %s\n", line);
    if (f->json) write_json(f->json, f->pv, NULL, f->tm, f->ra, cancelled ? "cancelled" : "failed", line);
}

int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate", *model = NULL, *output = "out.mp4", *json = NULL;
    radial_params rp = radial_default_params();
    radial_gen_params g = radial_default_gen_params();
    radial_write_params wp = radial_default_write_params();
    g.prompt = NULL; /* required */
    bool steps_given = false; /* --timesteps sets the steps unless --steps says otherwise (an error) */
    int sampler = g.sampler, attention = g.attention, backend = rp.backend, rng = g.rng, prog = PROGRESS_AUTO;
    int gemm = rp.gemm, device = -1, gpus = 0, parallel = RAD_PAR_AUTO; /* device, gpus: -1 / 0 until given */
    static const char *const gemms[] = {"bf16", "fp8", NULL}; /* radial_gemm order */
    int attn_prec = rp.attention_precision;
    static const char *const attn_precs[] = {"bf16", "fp8", NULL}; /* radial_attn_precision order */
    bool quiet = false, verbose = false, no_overwrite = false, offload = false, vae_tile = false;
    const char *timesteps = NULL, *cache = "none";
    double ts[CLI_MAX_TIMESTEPS];
    static const char *const rngs[] = {"philox", "torch-cpu", "torch-cuda", NULL};  /* radial_rng order */
    static const char *const progresses[] = {"auto", "bar", "lines", "none", NULL}; /* PROGRESS_* order */
    static cli_loras loras;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "DIR",
         .help = "Wan 2.1 T2V model folder (diffusers, official or ComfyUI file names)"},
        {"--dit", NULL, CLI_TEXT, .value = &rp.dit, .arg = "FILE",
         .help = "the DiT file (safetensors: bf16/fp16/fp32/fp8, scaled fp8; or GGUF)"},
        {"--t5", NULL, CLI_TEXT, .value = &rp.t5, .arg = "FILE", .help = "the umT5 text encoder file"},
        {"--vae", NULL, CLI_TEXT, .value = &rp.vae, .arg = "FILE", .help = "the VAE file"},
        {"--lora", NULL, CLI_LORA, .value = &loras,
         .help = "a LoRA for the DiT at strength STRENGTH (1.0 when not given); repeatable, stacked"},
        {"--tokenizer", NULL, CLI_TEXT, .value = &rp.tokenizer, .arg = "PATH",
         .help = "spiece.model, when neither the folder nor the umT5 file has one"},
        {"--prompt", "-p", CLI_TEXT, .value = &g.prompt, .help = "what to generate"},
        {"--negative-prompt", "-n", CLI_TEXT, .value = &g.negative_prompt,
         .help = "what to avoid; when not given, Wan's official negative prompt; \"\" for none"},
        {"--width", "-W", CLI_INT, .value = &g.width, .min = 16, .max = 8192, .help = "multiple of 16"},
        {"--height", "-H", CLI_INT, .value = &g.height, .min = 16, .max = 8192, .help = "multiple of 16"},
        {"--frames", "--video-frames", CLI_INT, .value = &g.frames, .min = 1, .max = 4097,
         .help = "video frames, 4n+1; others become N//4*4+1"},
        {"--steps", "--num-inference-steps", CLI_INT, .value = &g.steps, .min = 1, .max = 1000,
         .help = "denoising steps; with --timesteps, the list's length", .given = &steps_given},
        {"--guidance", "--cfg|--cfg-scale|--guidance-scale", CLI_FLOAT, .value = &g.guidance, .lo = 0, .hi = 100,
         .arg = "G", .help = "classifier-free guidance scale; 1 disables CFG"},
        {"--guidance-2", "--guidance-scale-2", CLI_FLOAT, .value = &g.guidance_2, .lo = 0, .hi = 100, .arg = "G",
         .help = "two-expert models (Wan 2.2 A14B): the low-noise expert's guidance; when not given, --guidance"},
        {"--shift", "--flow-shift", CLI_FLOAT, .value = &g.shift, .lo = 1e-3, .hi = 1000, .arg = "S",
         .help = "flow-matching sigma shift; when not given, the model folder's scheduler flow_shift, else 5"},
        {"--timesteps", NULL, CLI_TEXT, .value = &timesteps, .arg = "LIST",
         .help = "explicit unshifted timesteps for step-distilled models, e.g. 1000,750,500,250 (sets the steps; "
                 "Euler; sigma = t/1000, then shifted). The lightx2v 4-step LoRA: --timesteps 1000,750,500,250 "
                 "--shift 5 --guidance 1"},
        {"--seed", NULL, CLI_INT64, .value = &g.seed, .min = -1, .max = INT64_MAX,
         .help = "-1 = random, printed and recorded"},
        {"--rng", NULL, CLI_CHOICE, .value = &rng, .choices = rngs,
         .help = "the noise generator: philox is radial's own; torch-cpu is torch.randn with a CPU generator "
                 "(diffusers), torch-cuda with a CUDA one (Wan's generate.py), for the same seed"},
        {"--sampler", NULL, CLI_CHOICE, .value = &sampler, .choices = cli_sampler_names,
         .help = "unipc is the official FlowUniPCMultistepScheduler, unipc-diffusers diffusers' UniPC grid, euler "
                 "the first-order Euler step, auto what the model folder's scheduler config names (else unipc)"},
        {"--attention", NULL, CLI_CHOICE, .value = &attention, .choices = cli_attention_names,
         .help = "self-attention"},
        {"--dense-steps", NULL, CLI_INT, .value = &g.dense_steps, .min = 0, .max = 999,
         .help = "radial: the first N steps dense, below --steps; when not given, min(12, steps/4)"},
        {"--dense-layers", NULL, CLI_INT, .value = &g.dense_layers, .min = 0, .max = 1000,
         .help = "radial: the first N blocks dense"},
        {"--decay", NULL, CLI_FLOAT, .value = &g.decay, .lo = 1e-3, .hi = 1e3, .arg = "D",
         .help = "radial mask decay factor"},
        {"--cache", NULL, CLI_TEXT, .value = &cache, .arg = "none|teacache:T[:ret]|magcache:T[:K[:R]]",
         .help = "step caching: skip a step's transformer blocks and reuse their last residual, per CFG branch. "
                 "teacache: while the time embedding has changed little (TeaCache's rule and Wan 2.1 coefficients; "
                 "T 0.05-0.08 for 1.3B, 0.14-0.2 for 14B; :ret is its use_ret_steps). magcache: by MagCache's "
                 "published magnitude ratios (T 0.12 with K 2-4 for 1.3B, 0.24 with K 6 for 14B; K at most K steps "
                 "in a row, default 2; R the share of first steps always computed, default 0.2). T 0 skips nothing. "
                 "The run says which steps it skipped"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--gemm", NULL, CLI_CHOICE, .value = &gemm, .choices = gemms,
         .help = "GEMM precision: fp8 runs the DiT blocks' large GEMMs in e4m3 (per-token and per-channel scales; "
                 "GPUs of compute capability 8.9+), faster at a few percent of error per GEMM; bf16 elsewhere"},
        {"--attention-precision", NULL, CLI_CHOICE, .value = &attn_prec, .choices = attn_precs,
         .help = "self-attention precision: fp8 runs the DiT's self-attention (dense and radial) with e4m3 Q, K "
                 "(smoothed by its token mean), P and V and fp32 softmax (Hopper GPUs, sm_90, only), faster at ~1-5 % "
                 "error per attention; cross-attention stays bf16"},
        {"--device", NULL, CLI_INT, .value = &device, .min = 0, .max = 1023,
         .help = "CUDA device index; when not given, 0 (with --gpus, rank r runs on device r)"},
        {"--gpus", NULL, CLI_INT, .value = &gpus, .min = 1, .max = 64,
         .help = "run on N GPUs of this machine, one process per GPU (NCCL): rank 0 starts the others, prints the "
                 "progress and writes the output; --backend cpu runs N ranks as threads on the CPU (the same code "
                 "paths, for tests; not faster). When not given, 1, or RADIAL_WORLD_SIZE under a launcher"},
        {"--parallel", NULL, CLI_CHOICE, .value = &parallel, .choices = rad_parallel_names,
         .help = "with --gpus: cfg runs the two CFG branches on 2 GPUs; ulysses splits every DiT forward over the "
                 "GPUs (sequence parallelism; the count must divide the DiT's attention heads: 12 for 1.3B, 40 for "
                 "14B); cfg+ulysses runs each CFG branch on half of the GPUs as ulysses over that half (an even "
                 "count whose half divides the heads); auto, with guidance != 1, is cfg for 2 GPUs and cfg+ulysses "
                 "for 4 or 8 when their half divides the heads, else ulysses"},
        {"--offload", NULL, CLI_SWITCH, .value = &offload,
         .help = "keep the DiT blocks in host memory and stream each to the GPU one block ahead of its use (for "
                 "cards smaller than the model)"},
        {"--max-vram", NULL, CLI_DOUBLE, .value = &rp.max_vram_gib, .lo = 0.5, .hi = 1e6, .arg = "GiB",
         .help = "keep as many DiT blocks on the GPU as fit in this much device memory (the whole process, as "
                 "nvidia-smi counts it); the rest stream"},
        {"--vae-tile", NULL, CLI_SWITCH, .value = &vae_tile,
         .help = "decode the video in overlapping 256-pixel tiles (as diffusers' tiled VAE): far less GPU memory "
                 "for the decode, pixels slightly different near the seams"},
        {"--threads", NULL, CLI_INT, .value = &rp.n_threads, .min = 0, .max = 256,
         .help = "CPU threads, 0 = all cores"},
        {"--output", "-o", CLI_TEXT, .value = &output, .arg = "PATH",
         .help = "out.mp4 | frames_%03d.png | out.y4m: the extension picks the format"},
        {"--no-overwrite", NULL, CLI_SWITCH, .value = &no_overwrite,
         .help = "refuse to replace an existing output file"},
        {"--fps", NULL, CLI_INT, .value = &wp.fps, .min = 1, .max = 240, .help = "output frame rate"},
        {"--crf", NULL, CLI_INT, .value = &wp.crf, .min = 0, .max = 51,
         .help = "H.264 quality, 0-51, lower is better"},
        {"--json", NULL, CLI_TEXT, .value = &json, .arg = "FILE",
         .help = "write the run summary (settings, timings, peaks, seed) as JSON"},
        {"--progress", NULL, CLI_CHOICE, .value = &prog, .choices = progresses,
         .help = "auto: a bar on a terminal, one line per step otherwise"},
        {"--quiet", "-q", CLI_SWITCH, .value = &quiet, .help = "errors only"},
        {"--verbose", "-v", CLI_SWITCH, .value = &verbose, .help = "more detail per stage"},
    };
    const int rc = cli_parse(cmd, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if ((!model && !(rp.dit && rp.t5 && rp.vae)) || !g.prompt)
        return cli_usage_error(cmd, "--model (or --dit, --t5 and --vae) and --prompt are required");
    g.sampler = (radial_sampler)sampler;
    if (timesteps) {
        if (!cli_timesteps(cmd, "--timesteps", timesteps, ts, CLI_MAX_TIMESTEPS, &g.n_timesteps)) return 2;
        if (steps_given && g.steps != g.n_timesteps)
            return cli_usage_error(cmd, "--steps %d but --timesteps lists %d: the list sets the steps (leave --steps "
                                        "out)", g.steps, g.n_timesteps);
        g.timesteps = ts;
        g.steps = g.n_timesteps;
    }
    g.attention = (radial_attention)attention;
    if (!parse_cache(cmd, cache, &g)) return 2;
    g.rng = (radial_rng)rng;
    rp.backend = (radial_backend)backend;
    rp.gemm = (radial_gemm)gemm;
    rp.attention_precision = (radial_attn_precision)attn_prec;
    rp.loras = loras.items, rp.n_loras = loras.n;
    rp.offload = offload;
    rp.device = device < 0 ? 0 : device;
    g.vae_tile = vae_tile ? 256 : 0;
    wp.no_overwrite = no_overwrite;
    wp.cancel = write_cancel;

    /* Which rank this process is: rank 0 of --gpus N, or one of a launcher's (RADIAL_RANK ...). */
    launch_rank lr;
    if (!launch_read_env(cmd, gpus ? gpus : 1, gpus > 0, &lr)) return 2;
    ran_as ra = {.ranks = lr.world, .launch = "one process", .asked = rad_parallel_names[parallel],
                 .plan = {.mode = RAD_PAR_NONE, .ranks = 1, .degree = 1}};
    snprintf(ra.plan.what, sizeof ra.plan.what, "one rank");
    const bool threads = lr.world > 1 && rp.backend == RADIAL_BACKEND_CPU; /* loopback ranks on the CPU */
    if (lr.world > 1) {
        if (device >= 0)
            return cli_usage_error(cmd, "--device and --gpus exclude each other: rank r runs on device r (choose the "
                                        "GPUs with CUDA_VISIBLE_DEVICES)");
        if (threads && lr.from_env)
            return cli_usage_error(cmd, "--backend cpu runs the ranks of --gpus as threads of one process; a "
                                        "launcher's ranks (RADIAL_RANK) need the CUDA backend");
        if (!threads) rp.backend = RADIAL_BACKEND_CUDA, rp.device = lr.local_rank;
        ra.launch = threads ? "threads" : lr.from_env ? "launcher" : "processes";
    }

    /* Before any model work: the output path, for the frame count the pipeline will make (N // 4 * 4 + 1). Rank 0
     * alone writes. */
    const int frames = radial_output_frames(g.frames);
    if (lr.rank == 0 && radial_video_check_path(output, frames, &wp) != RADIAL_OK) return cli_error(cmd);
    if (json && lr.rank == 0) {
        FILE *jf = fopen(json, "a");
        if (!jf) {
            fprintf(stderr, "radial %s: --json %s: cannot write there\n", cmd, json);
            return 1;
        }
        fclose(jf);
    }
    /* Several ranks: the plan from the model's config (heads, guidance, size), and the GPUs, before any rank
     * starts. */
    if (lr.world > 1) {
        if (rad_pipeline_check_parallel(model, &rp, &g, lr.world, (rad_parallel)parallel, &ra.plan) != RADIAL_OK)
            return cli_error(cmd);
        int n_gpus = 0;
        if (!threads && !lr.from_env && rad_backend_cuda_device_count(&n_gpus) != RADIAL_OK) {
            fprintf(stderr, "radial %s: --gpus %d needs as many GPUs: %s (--backend cpu runs the ranks as threads on "
                            "the CPU, for tests)\n", cmd, lr.world, radial_last_error());
            return 1;
        }
        if (!threads && !lr.from_env && n_gpus < lr.world) {
            fprintf(stderr, "radial %s: --gpus %d: this machine has %d GPU%s visible%s\n", cmd, lr.world, n_gpus,
                    n_gpus == 1 ? "" : "s", getenv("CUDA_VISIBLE_DEVICES") ? " (CUDA_VISIBLE_DEVICES is set)" : "");
            return 1;
        }
    }
    if (g.seed < 0) g.seed = radial_random_seed(); /* rank 0's is the run's: the pipeline shares it */
    if (!quiet && lr.rank == 0)
        fprintf(stderr, "radial generate: seed %lld\n", (long long)g.seed); /* before the run: a crash keeps it */
    progress pr = {.mode = quiet ? PROGRESS_NONE : prog != PROGRESS_AUTO ? prog : isatty(2) ? PROGRESS_BAR : PROGRESS_LINES};
    g.on_step = on_step;
    g.on_decode = on_decode;
    g.user_data = &pr;
    g_log_rank = lr.rank;
    radial_set_log(rank_log, NULL, quiet ? RADIAL_LOG_WARN : verbose ? RADIAL_LOG_DEBUG : RADIAL_LOG_INFO);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* a read or write in progress goes on; the flag is polled between steps and frames */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
#ifdef SIGXFSZ
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit makes the write fail (and clean up) instead of killing us */
#endif

    rank_job job = {.model = model, .rp = rp, .g = g, .rank = lr.rank, .world = lr.world,
                    .mode = (rad_parallel)parallel};
    if (lr.rank != 0) { /* another rank: no progress, no output; its failure is its exit status */
        job.g.on_step = cancel_only, job.g.on_decode = NULL;
        if (launch_get_id(&lr, job.id) != RADIAL_OK) return rank_fail(cmd, lr.rank, radial_last_error());
        if (ra.plan.mode == RAD_PAR_CFG_ULYSSES && rad_group_nccl_check_split() != RADIAL_OK) /* this node's libnccl */
            return rank_fail(cmd, lr.rank, radial_last_error());
        launch_watch_parent(&lr); /* ends this process if rank 0 goes */
        job.nccl = true;
        rank_init(&job);
        if (job.s == RADIAL_OK) rank_generate(&job);
        radial_video_free(&job.vid);
        return job.s == RADIAL_OK ? 0 : rank_fail(cmd, lr.rank, job.err);
    }

    /* Rank 0 (or the only one): the context first, so that a broken model fails before other ranks start. */
    rank_init(&job);
    if (job.s != RADIAL_OK) {
        fprintf(stderr, "radial %s: %s\n", cmd, job.err);
        return 1;
    }
    provenance pv;
    make_provenance(&pv, &g, &rp, model, cli_sampler_names[sampler], rngs[rng], job.backend_info,
                    lr.world > 1 ? ra.plan.what : NULL);
    wp.meta = pv.kv, wp.n_meta = pv.n;
    radial_timings tm = {.seed_used = g.seed};
    launch_children *kids = NULL;
    fail_report fr = {json, &pv, &tm, &ra};
    if (lr.world > 1 && threads) {
        run_threads(&job, lr.world);
    } else if (lr.world > 1) {
        job.nccl = true;
        /* our --gpus: make the id, start the ranks, stop the run if one of them dies; a launcher's: get the id */
        radial_status s = lr.from_env ? launch_get_id(&lr, job.id) : rad_group_nccl_id(job.id);
        if (s == RADIAL_OK && ra.plan.mode == RAD_PAR_CFG_ULYSSES) s = rad_group_nccl_check_split(); /* NCCL 2.18+ */
        char **kid_argv = s == RADIAL_OK && !lr.from_env ? rank_argv(argc, argv) : NULL;
        if (s == RADIAL_OK && !lr.from_env)
            s = kid_argv ? launch_spawn(kid_argv, lr.world, job.id, &kids)
                         : rad_err(RADIAL_ERR_NOMEM, "out of memory starting the ranks");
        free(kid_argv);
        if (s != RADIAL_OK) {
            const int code = cli_error(cmd);
            radial_free(job.ctx);
            return code;
        }
        if (kids) launch_arm(kids, on_rank_failed, &fr);
        rank_generate(&job);
        if (kids) launch_disarm(kids);
    } else {
        rank_generate(&job);
    }
    tm = job.tm;
    if (kids && job.s != RADIAL_OK) launch_finish(kids, false, 0, NULL, 0), kids = NULL; /* stop the others now */
    if (job.s != RADIAL_OK) {
        fprintf(stderr, "radial %s: %s\n", cmd, job.err);
        if (json) write_json(json, &pv, NULL, &tm, &ra, job.s == RADIAL_ERR_CANCELLED ? "cancelled" : "failed", job.err);
        return 1;
    }
    /* the record says what ran: the seed, sampler, shift, steps and dense warm-up as the run resolved them */
    radial_gen_params ran = g;
    ran.seed = tm.seed_used, ran.shift = (float)tm.shift_used, ran.steps = tm.steps_used;
    ran.dense_steps = tm.dense_steps_used;
    make_provenance(&pv, &ran, &rp, model, cli_sampler_names[tm.sampler_used], rngs[rng], job.backend_info,
                    lr.world > 1 ? ra.plan.what : NULL);
    wp.meta = pv.kv, wp.n_meta = pv.n;
    radial_video vid = job.vid;
    radial_status s = radial_video_write(output, &vid, &wp);
    const char *written = output;
    char fallback[4096];
    int code = 0;
    if (s != RADIAL_OK) {
        code = cli_error(cmd);
        written = NULL;
        if (s != RADIAL_ERR_CANCELLED) {
            if (save_fallback(&vid, &wp, (long long)tm.seed_used, fallback, sizeof fallback) == 0) {
                fprintf(stderr, "radial %s: the generated frames are saved in %s\n", cmd, fallback);
                written = fallback;
            } else {
                fprintf(stderr, "radial %s: the frames could not be saved anywhere: %s\n", cmd, radial_last_error());
            }
        }
        if (json) write_json(json, &pv, written, &tm, &ra, "write failed", radial_last_error());
        radial_video_free(&vid);
    }
    if (kids) { /* the video is whole: the other ranks have done their part and are ending */
        char how[1024];
        if (launch_finish(kids, true, 60, how, sizeof how))
            fprintf(stderr, "radial %s: warning: after the run, %s\n", cmd, how);
    }
    if (code) return code;
    printf("wrote %s: %d frames, %dx%d, %d fps, seed %lld\n", output, vid.frames, vid.width, vid.height, wp.fps,
           (long long)tm.seed_used);
    if (lr.world > 1)
        printf("ranks: %d %s (%s)%s\n", lr.world, ra.launch, ra.plan.what,
               threads ? ", loopback on the CPU" : "; the times and memory below are rank 0's");
    printf("time: text encoder %.2f s | denoising %.2f s (%.3f s/step) | VAE %.2f s | total %.2f s\n", tm.text_encoder_s,
           tm.denoise_s, tm.denoise_per_step_s, tm.vae_s, tm.total_s);
    print_memory(&tm);
    printf("load: %.2f GB of weights in %.2f s (%.2f GB/s; part of the times above)\n", (double)tm.load_bytes / 1e9,
           tm.load_s, tm.load_s > 0 ? (double)tm.load_bytes / 1e9 / tm.load_s : 0.0);
    if (tm.lora_modules) printf("LoRA: %d modules merged\n", tm.lora_modules);
    if (g.cache != RADIAL_CACHE_NONE)
        printf("step cache: %s skipped the blocks of %d of %d DiT forwards\n", pv.cache,
               tm.cache_skipped[0] + tm.cache_skipped[1], tm.cache_forwards[0] + tm.cache_forwards[1]);
    radial_video_free(&vid);
    return json ? write_json(json, &pv, output, &tm, &ra, "ok", NULL) : 0;
}
