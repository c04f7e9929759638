/* radial bench attention: dense and radial self-attention through the CUDA kernels at Wan shapes.
 *
 * For each video length: random bf16 q, k, v [N, heads, 128] on the GPU, the dense (all-blocks) layout and
 * the radial layout (rad_radial_layout, the engine's own mask), then warm-up launches and CUDA-event timings
 * of every repetition: median, min and max. TFLOP/s count only the work actually done: 4 * 128 * heads per
 * (query, key) pair inside a computed block (partial blocks counted by their real tokens), so dense counts
 * 4 N^2 128 heads, as the usual attention benchmarks do. Writes a table, and JSON/CSV records on request. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#include "cli_args.h"

static const char *CMD = "bench attention";

static const cli_usage usage = {
    .synopsis = "radial bench attention [--frames LIST] [--mode LIST] [--kernel LIST] [options]",
    .about = "Times self-attention (bf16, head dim 128) through the CUDA kernels, dense and radial, at the Wan token "
             "counts of the given video sizes. Each launch is timed alone with CUDA events; TFLOP/s count the work "
             "done in computed blocks (dense: 4 N^2 128 heads). LISTs are comma-separated.",
};

typedef struct attn_opts {
    const char *frames, *modes, *kernels; /* comma-separated lists */
    const char *json, *csv;
    int64_t height, width, seed;
    int heads, reps, warmup;
    double decay;
} attn_opts;

#ifdef RAD_HAVE_CUDA
#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/cuda/cuda_attention.h"
#include "base/half.h"
#include "base/mem.h"

enum { MAX_LIST = 16, HD = 128 };

/* Splits "a,b" into names matched against `names` (n of them); returns false with a message. */
static int parse_names(const char *flag, const char *val, const char *const *names, int n, int *out, int *count) {
    char buf[256];
    if (strlen(val) >= sizeof buf) {
        fprintf(stderr, "radial %s: %s: a list of %zu characters, expected at most %zu\n", CMD, flag, strlen(val),
                sizeof buf - 1);
        return 0;
    }
    strcpy(buf, val);
    *count = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (names[i] && !strcmp(tok, names[i])) found = i;
        if (found < 0 || *count == MAX_LIST) {
            fprintf(stderr, "radial %s: %s: expected at most %d of", CMD, flag, MAX_LIST);
            for (int i = 0; i < n; i++) fprintf(stderr, "%s %s", i ? "," : "", names[i]);
            fprintf(stderr, "; found '%s'\n", tok);
            return 0;
        }
        out[(*count)++] = found;
    }
    if (!*count) fprintf(stderr, "radial %s: %s: expected a list of names, found an empty one\n", CMD, flag);
    return *count > 0;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct {
    long long video_frames, latent, tokens;
    int mode, kernel;
    double density, pairs, tflop;
    long long blocks;
    float med, min, max;
    double speedup; /* dense median / this median, same kernel; 0 for dense */
} record;

static uint64_t rng;
static uint16_t rnd_bf16(double a) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    const double u = (double)((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    return rad_f32_to_bf16((float)((2.0 * u - 1.0) * a));
}

static int run(const attn_opts *o) {
    const int64_t height = o->height, width = o->width;
    const int heads = o->heads, reps = o->reps, warmup = o->warmup;
    const double decay = o->decay;
    const char *json = o->json, *csv = o->csv;
    long long frames[MAX_LIST];
    int n_frames, modes[MAX_LIST], n_modes, kernels[MAX_LIST], n_kernels;
    static const char *const mode_names[] = {"dense", "radial"};
    const char *kernel_names[RAD_CUDA_ATTN_N_KERNELS];
    for (int i = 0; i < RAD_CUDA_ATTN_N_KERNELS; i++) kernel_names[i] = rad_cuda_attn_kernel_name(i);
    if (!cli_int_list(CMD, "--frames", o->frames, 1, 4001, frames, MAX_LIST, &n_frames) ||
        !parse_names("--mode", o->modes, mode_names, 2, modes, &n_modes) ||
        !parse_names("--kernel", o->kernels, kernel_names, RAD_CUDA_ATTN_N_KERNELS, kernels, &n_kernels))
        return 2;
    const int64_t seed = o->seed ? o->seed : (int64_t)time(NULL);

    char dev[256];
    int cc_major, cc_minor;
    if (rad_cuda_device_info(dev, sizeof dev, &cc_major, &cc_minor) != RAD_OK) return cli_error(CMD);
    rng = (uint64_t)seed;
    printf("device: %s\nseed: %lld; q, k uniform(-1.7, 1.7), v uniform(-1, 1), bf16; %d heads x %d, scale "
           "1/sqrt(%d); %d warm-up + %d timed launches per point\n",
           dev, (long long)seed, heads, HD, HD, warmup, reps);
    for (int ki = 0; ki < n_kernels; ki++) {
        char info[256];
        if (rad_cuda_attn_describe(kernels[ki], info, sizeof info) != RAD_OK) return cli_error(CMD);
        printf("kernel %s -> %s\n", kernel_names[kernels[ki]], info);
    }
    printf("TFLOP/s = 4 * %d * heads * (query-key pairs in computed blocks) / median time (dense: 4 N^2 %d heads)\n\n",
           HD, HD);
    printf("%6s %6s %7s  %-6s %-8s %8s %8s  %9s %9s %9s  %8s  %s\n", "frames", "latent", "tokens", "mode", "kern",
           "density", "blocks", "median ms", "min ms", "max ms", "TFLOP/s", "radial speedup");

    record *recs;
    const size_t max_recs = (size_t)n_frames * (size_t)n_modes * (size_t)n_kernels;
    if (rad_calloc((void **)&recs, max_recs, sizeof *recs, "bench records") != RAD_OK) return cli_error(CMD);
    size_t n_recs = 0;
    float *ms;
    if (rad_calloc((void **)&ms, (size_t)reps, sizeof *ms, "bench times") != RAD_OK) return cli_error(CMD);
    int rc = 0;

    for (int fi = 0; fi < n_frames && !rc; fi++) {
        int64_t latent, tpf;
        if (rad_radial_video_dims(width, height, frames[fi], &latent, &tpf) != RAD_OK) {
            rc = cli_error(CMD);
            break;
        }
        const int64_t n = latent * tpf;
        const size_t elems = (size_t)n * (size_t)heads * HD, bytes = elems * 2;
        uint16_t *host = NULL;
        void *d[4] = {NULL, NULL, NULL, NULL};
        if (rad_alloc((void **)&host, bytes, "bench inputs") != RAD_OK) {
            rc = cli_error(CMD);
            break;
        }
        for (int t = 0; t < 4 && !rc; t++) {
            if (rad_cuda_malloc(&d[t], bytes, t == 3 ? "out" : "q/k/v") != RAD_OK) rc = cli_error(CMD);
            if (!rc && t < 3) {
                for (size_t i = 0; i < elems; i++) host[i] = rnd_bf16(t == 2 ? 1.0 : 1.7);
                if (rad_cuda_upload(d[t], host, bytes) != RAD_OK) rc = cli_error(CMD);
            }
        }
        rad_free(host);
        double dense_med[RAD_CUDA_ATTN_N_KERNELS] = {0};
        for (int mi = 0; mi < n_modes && !rc; mi++) {
            rad_bsr dense;
            const rad_bsr *layout = NULL;
            memset(&dense, 0, sizeof dense);
            if (modes[mi] == 0) {
                if (rad_bsr_dense(n, 128, &dense) != RAD_OK) {
                    rc = cli_error(CMD);
                    break;
                }
                layout = &dense;
            } else {
                rad_radial_cfg cfg = {.frames = latent, .tokens_per_frame = tpf, .decay = decay, .block = 128};
                if (rad_radial_layout(&cfg, &layout) != RAD_OK) {
                    rc = cli_error(CMD);
                    break;
                }
            }
            rad_cuda_bsr dm;
            if (rad_cuda_bsr_upload(layout, &dm) != RAD_OK) rc = cli_error(CMD);
            const double pairs = rad_bsr_pairs(layout), flop = 4.0 * HD * (double)heads * pairs;
            for (int ki = 0; ki < n_kernels && !rc; ki++) {
                if (rad_cuda_attention_time(d[0], d[1], d[2], d[3], heads, 1.0f / sqrtf((float)HD), &dm, kernels[ki],
                                            warmup, reps, ms) != RAD_OK) {
                    rc = cli_error(CMD);
                    break;
                }
                qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
                record *r = &recs[n_recs++];
                r->video_frames = frames[fi], r->latent = latent, r->tokens = n;
                r->mode = modes[mi], r->kernel = kernels[ki];
                r->density = rad_bsr_density(layout), r->pairs = pairs, r->tflop = flop * 1e-12;
                r->blocks = layout->row_ptr[layout->n_blocks];
                r->med = reps % 2 ? ms[reps / 2] : 0.5f * (ms[reps / 2 - 1] + ms[reps / 2]);
                r->min = ms[0], r->max = ms[reps - 1];
                if (modes[mi] == 0) dense_med[kernels[ki]] = r->med;
                r->speedup = modes[mi] == 1 && dense_med[kernels[ki]] > 0 ? dense_med[kernels[ki]] / r->med : 0;
                char sp[32] = "";
                if (r->speedup > 0)
                    snprintf(sp, sizeof sp, "%.2fx (%.0f%% of dense TFLOP/s)", r->speedup,
                             100.0 * (flop / r->med) /
                                 (4.0 * HD * (double)heads * (double)n * (double)n / dense_med[kernels[ki]]));
                printf("%6lld %6lld %7lld  %-6s %-8s %8.4f %8lld  %9.3f %9.3f %9.3f  %8.1f  %s\n", r->video_frames,
                       r->latent, r->tokens, mode_names[r->mode], kernel_names[r->kernel], r->density, r->blocks,
                       r->med, r->min, r->max, flop / (r->med * 1e-3) * 1e-12, sp);
                fflush(stdout);
            }
            rad_cuda_bsr_free(&dm);
            rad_bsr_free(&dense);
        }
        for (int t = 0; t < 4; t++) rad_cuda_free(d[t]);
    }

    if (!rc && json) {
        FILE *f = fopen(json, "w");
        if (!f) {
            fprintf(stderr, "radial %s: cannot create '%s'\n", CMD, json);
            rc = 1;
        } else {
            fprintf(f, "{\"device\": \"%s\", \"heads\": %d, \"head_dim\": %d, \"height\": %lld, \"width\": %lld, "
                       "\"decay\": %g, \"reps\": %d, \"warmup\": %d, \"seed\": %lld,\n \"records\": [\n",
                    dev, heads, HD, (long long)height, (long long)width, decay, reps, warmup, (long long)seed);
            for (size_t i = 0; i < n_recs; i++) {
                const record *r = &recs[i];
                fprintf(f,
                        "  {\"frames\": %lld, \"latent_frames\": %lld, \"tokens\": %lld, \"mode\": \"%s\", \"kernel\": "
                        "\"%s\", \"density\": %.6f, \"blocks\": %lld, \"tflop\": %.6f, \"ms_median\": %.4f, "
                        "\"ms_min\": %.4f, \"ms_max\": %.4f, \"tflops\": %.2f, \"speedup_vs_dense\": %.4f}%s\n",
                        r->video_frames, r->latent, r->tokens, mode_names[r->mode], kernel_names[r->kernel],
                        r->density, r->blocks, r->tflop, r->med, r->min, r->max, r->tflop / (r->med * 1e-3),
                        r->speedup, i + 1 < n_recs ? "," : "");
            }
            fprintf(f, " ]}\n");
            if (fclose(f) != 0) rc = 1;
        }
    }
    if (!rc && csv) {
        FILE *f = fopen(csv, "w");
        if (!f) {
            fprintf(stderr, "radial %s: cannot create '%s'\n", CMD, csv);
            rc = 1;
        } else {
            fprintf(f, "frames,latent_frames,tokens,heads,mode,kernel,density,blocks,tflop,ms_median,ms_min,ms_max,"
                       "tflops,speedup_vs_dense\n");
            for (size_t i = 0; i < n_recs; i++) {
                const record *r = &recs[i];
                fprintf(f, "%lld,%lld,%lld,%d,%s,%s,%.6f,%lld,%.6f,%.4f,%.4f,%.4f,%.2f,%.4f\n", r->video_frames,
                        r->latent, r->tokens, heads, mode_names[r->mode], kernel_names[r->kernel], r->density,
                        r->blocks, r->tflop, r->med, r->min, r->max, r->tflop / (r->med * 1e-3), r->speedup);
            }
            if (fclose(f) != 0) rc = 1;
        }
    }
    rad_free(ms);
    rad_free(recs);
    return rc;
}
#endif

int bench_attention(int argc, char **argv) {
    /* the lists' defaults are text, as given, so that --help shows them; seed 0: not given */
    attn_opts o = {.frames = "81,161,241", .modes = "dense,radial", .kernels = "auto", .height = 480, .width = 832,
                   .heads = 12, .reps = 20, .warmup = 3, .decay = 1.0};
    const cli_flag flags[] = {
        {"--frames", NULL, CLI_TEXT, .value = &o.frames, .arg = "LIST",
         .help = "video frames (4n+1); latent frames = (T-1)/4+1, tokens = latent x (H/16)(W/16)"},
        {"--height", NULL, CLI_INT64, .value = &o.height, .min = 16, .max = 8192, .help = "video height"},
        {"--width", NULL, CLI_INT64, .value = &o.width, .min = 16, .max = 8192, .help = "video width"},
        {"--heads", NULL, CLI_INT, .value = &o.heads, .min = 1, .max = 128, .help = "attention heads"},
        {"--decay", NULL, CLI_DOUBLE, .value = &o.decay, .lo = 1e-6, .hi = 1e6, .arg = "D",
         .help = "radial mask decay factor"},
        {"--mode", NULL, CLI_TEXT, .value = &o.modes, .arg = "LIST",
         .help = "dense, radial (radial mask: rad_radial_layout, block 128, --decay)"},
        {"--kernel", NULL, CLI_TEXT, .value = &o.kernels, .arg = "LIST",
         .help = "auto, portable, fa2s4, fa2s3, fa2s2, fa2n32, v3, v3pp, v3s3, v3nat, v3e (versions, see "
                 "bench/NOTES-kernels.md; portable = the fa2 configuration this device suits; auto follows "
                 "RADIAL_ATTN_KERNEL when set)"},
        {"--reps", NULL, CLI_INT, .value = &o.reps, .min = 1, .max = 10000, .help = "timed launches per point"},
        {"--warmup", NULL, CLI_INT, .value = &o.warmup, .min = 0, .max = 1000,
         .help = "untimed launches before them"},
        {"--seed", NULL, CLI_INT64, .value = &o.seed, .min = 1, .max = 1LL << 62,
         .help = "of the random q, k, v; when not given, the current time (printed)"},
        {"--json", NULL, CLI_TEXT, .value = &o.json, .arg = "FILE", .help = "write one record per point as JSON"},
        {"--csv", NULL, CLI_TEXT, .value = &o.csv, .arg = "FILE", .help = "write one record per point as CSV"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
#ifdef RAD_HAVE_CUDA
    return run(&o);
#else
    fprintf(stderr, "radial %s: this build has no CUDA backend (configure with nvcc available and -DRADIAL_CUDA=ON); "
                    "the attention benchmark times the GPU kernels only\n", CMD);
    return 1;
#endif
}
