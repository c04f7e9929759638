/* radial bench attention: dense and radial self-attention through the CUDA kernels at Wan shapes.
 *
 * For each video length: random bf16 q, k, v [N, heads, 128] on the GPU, the dense (all-blocks) layout and
 * the radial layout (rad_radial_layout, the engine's own mask), then warm-up launches and CUDA-event timings
 * of every repetition: median, min and max. TFLOP/s count only the work actually done: 4 * 128 * heads per
 * (query, key) pair inside a computed block (partial blocks counted by their real tokens), so dense counts
 * 4 N^2 128 heads, as the usual attention benchmarks do. Writes a table, and JSON/CSV records on request.
 *
 * --attention-precision fp8 adds the fp8 kernel (Hopper only; cuda_attention.h, backend/fp8_attn_emul.h) beside
 * the bf16 kernels of --kernel, on the same inputs and layouts: "fp8" times the attention kernel alone (the inputs
 * quantised once before), "fp8+q" the quantisation pre-pass and the kernel per launch (what a generation pays); its
 * TFLOP/s count the same work as bf16's, its "x bf16" is the first bf16 kernel's median over its own, and its error
 * column is the relative L2 distance of its output from that bf16 kernel's output. */
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
    .about = "Times self-attention (bf16, head dim 128; with --attention-precision fp8 also the fp8 kernel) through the "
             "CUDA kernels, dense and radial, at the Wan token counts of the given video sizes. Each launch is timed "
             "alone with CUDA events; TFLOP/s count the work done in computed blocks (dense: 4 N^2 128 heads). LISTs "
             "are comma-separated.",
};

typedef struct attn_opts {
    const char *frames, *modes, *kernels, *fp8_stages; /* comma-separated lists */
    int precision;                                     /* 0 bf16, 1 fp8 (and the bf16 kernels beside) */
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
    int mode;
    char kernel[16]; /* a bf16 kernel's name, or fp8[sN][+q] */
    double density, pairs, tflop;
    long long blocks;
    float med, min, max;
    double speedup; /* dense median / this median, same kernel; 0 for dense */
    double vs_bf16; /* fp8: the first bf16 kernel's median / this median; 0 for bf16 */
    double err;     /* fp8: rel L2 of its output against the first bf16 kernel's; -1 for bf16 */
} record;

/* ||a - b|| / ||b|| of two bf16 arrays. */
static double rel_l2_bf16(const uint16_t *a, const uint16_t *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = rad_bf16_to_f32(a[i]), y = rad_bf16_to_f32(b[i]);
        num += (x - y) * (x - y), den += y * y;
    }
    return isfinite(num) ? sqrt(num / (den > 0 ? den : 1)) : INFINITY;
}

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
    long long frames[MAX_LIST], stages[MAX_LIST];
    int n_frames, modes[MAX_LIST], n_modes, kernels[MAX_LIST], n_kernels, n_stages = 0;
    const int fp8 = o->precision == 1;
    static const char *const mode_names[] = {"dense", "radial"};
    const char *kernel_names[RAD_CUDA_ATTN_N_KERNELS];
    for (int i = 0; i < RAD_CUDA_ATTN_N_KERNELS; i++) kernel_names[i] = rad_cuda_attn_kernel_name(i);
    if (!cli_int_list(CMD, "--frames", o->frames, 1, 4001, frames, MAX_LIST, &n_frames) ||
        !parse_names("--mode", o->modes, mode_names, 2, modes, &n_modes) ||
        !parse_names("--kernel", o->kernels, kernel_names, RAD_CUDA_ATTN_N_KERNELS, kernels, &n_kernels) ||
        (fp8 && !cli_int_list(CMD, "--fp8-stages", o->fp8_stages, 2, 4, stages, MAX_LIST, &n_stages)))
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
    if (fp8) {
        char why[320];
        if (!rad_cuda_attn_fp8_supported(why, sizeof why)) {
            fprintf(stderr, "radial %s: %s\n", CMD, why);
            return 1;
        }
        printf("kernel fp8 -> Hopper e4m3 wgmma kernel (sm_90a), 384 threads, K/V ring of %lld", stages[0]);
        for (int i = 1; i < n_stages; i++) printf(", %lld", stages[i]);
        printf(" stage(s); fp8 = the kernel alone, fp8+q = with the quantisation pre-pass\n");
    }
    printf("TFLOP/s = 4 * %d * heads * (query-key pairs in computed blocks) / median time (dense: 4 N^2 %d heads)\n\n",
           HD, HD);
    printf("%6s %6s %7s  %-6s %-8s %8s %8s  %9s %9s %9s  %8s  %s\n", "frames", "latent", "tokens", "mode", "kern",
           "density", "blocks", "median ms", "min ms", "max ms", "TFLOP/s", "radial speedup; fp8: x bf16, error vs bf16");

    record *recs;
    const size_t max_recs = (size_t)n_frames * (size_t)n_modes * ((size_t)n_kernels + 2 * (size_t)n_stages);
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
        uint16_t *host = NULL, *ref = NULL, *got = NULL;
        void *d[4] = {NULL, NULL, NULL, NULL}, *out8 = NULL, *f8 = NULL;
        rad_fp8_attn_layout fl;
        memset(&fl, 0, sizeof fl);
        if (rad_alloc((void **)&host, bytes, "bench inputs") != RAD_OK ||
            (fp8 && (rad_alloc((void **)&ref, bytes, "bf16 output") != RAD_OK ||
                     rad_alloc((void **)&got, bytes, "fp8 output") != RAD_OK ||
                     rad_fp8_attn_plan(n, heads, &fl) != RAD_OK || rad_cuda_malloc(&out8, bytes, "fp8 out") != RAD_OK ||
                     rad_cuda_malloc(&f8, fl.bytes, "fp8 attention scratch") != RAD_OK))) {
            rad_free(host), rad_free(ref), rad_free(got), rad_cuda_free(out8), rad_cuda_free(f8);
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
        double dense_med[RAD_CUDA_ATTN_N_KERNELS + 2 * MAX_LIST] = {0}; /* bf16 kernels by id, then fp8 rows */
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
            /* rows: the bf16 kernels, then per fp8 stage count the kernel alone and with the quantisation */
            const int n_rows = n_kernels + (fp8 ? 2 * n_stages : 0);
            float bf16_med = 0;
            for (int ri = 0; ri < n_rows && !rc; ri++) {
                const int is8 = ri >= n_kernels, st = is8 ? (int)stages[(ri - n_kernels) / 2] : 0;
                const int with_q = is8 && (ri - n_kernels) % 2, slot = is8 ? RAD_CUDA_ATTN_N_KERNELS + ri - n_kernels
                                                                           : kernels[ri];
                const float scale = 1.0f / sqrtf((float)HD);
                const rad_status ts =
                    is8 ? rad_cuda_attention_fp8_time(d[0], d[1], d[2], out8, heads, scale, &dm, f8, fl.bytes, st, with_q,
                                                      warmup, reps, ms)
                        : rad_cuda_attention_time(d[0], d[1], d[2], d[3], heads, scale, &dm, kernels[ri], warmup, reps,
                                                  ms);
                if (ts != RAD_OK) {
                    rc = cli_error(CMD);
                    break;
                }
                qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
                record *r = &recs[n_recs++];
                r->video_frames = frames[fi], r->latent = latent, r->tokens = n;
                r->mode = modes[mi];
                if (is8) snprintf(r->kernel, sizeof r->kernel, "fp8%s%s", st == 2 ? "" : st == 3 ? "s3" : "s4", with_q ? "+q" : "");
                else snprintf(r->kernel, sizeof r->kernel, "%s", kernel_names[kernels[ri]]);
                r->density = rad_bsr_density(layout), r->pairs = pairs, r->tflop = flop * 1e-12;
                r->blocks = layout->row_ptr[layout->n_blocks];
                r->med = reps % 2 ? ms[reps / 2] : 0.5f * (ms[reps / 2 - 1] + ms[reps / 2]);
                r->min = ms[0], r->max = ms[reps - 1];
                if (modes[mi] == 0) dense_med[slot] = r->med;
                r->speedup = modes[mi] == 1 && dense_med[slot] > 0 ? dense_med[slot] / r->med : 0;
                if (ri == 0) bf16_med = r->med;
                r->vs_bf16 = is8 && bf16_med > 0 ? bf16_med / r->med : 0;
                r->err = -1;
                if (ri == 0 && fp8 && rad_cuda_download(ref, d[3], bytes) != RAD_OK) rc = cli_error(CMD);
                if (is8 && !rc) { /* the output of this fp8 row (the last of its launches) against the bf16 kernel's */
                    if (rad_cuda_download(got, out8, bytes) != RAD_OK) rc = cli_error(CMD);
                    else r->err = rel_l2_bf16(got, ref, elems);
                }
                char sp[96] = "";
                size_t k = 0;
                if (r->speedup > 0)
                    k += (size_t)snprintf(sp, sizeof sp, "%.2fx (%.0f%% of dense TFLOP/s)%s", r->speedup,
                                          100.0 * (flop / r->med) /
                                              (4.0 * HD * (double)heads * (double)n * (double)n / dense_med[slot]),
                                          is8 ? "; " : "");
                if (is8) snprintf(sp + k, sizeof sp - k, "%.2fx bf16, error %.2e", r->vs_bf16, r->err);
                printf("%6lld %6lld %7lld  %-6s %-8s %8.4f %8lld  %9.3f %9.3f %9.3f  %8.1f  %s\n", r->video_frames,
                       r->latent, r->tokens, mode_names[r->mode], r->kernel, r->density, r->blocks, r->med, r->min,
                       r->max, flop / (r->med * 1e-3) * 1e-12, sp);
                fflush(stdout);
            }
            rad_cuda_bsr_free(&dm);
            rad_bsr_free(&dense);
        }
        for (int t = 0; t < 4; t++) rad_cuda_free(d[t]);
        rad_cuda_free(out8), rad_cuda_free(f8), rad_free(ref), rad_free(got);
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
                        "\"ms_min\": %.4f, \"ms_max\": %.4f, \"tflops\": %.2f, \"speedup_vs_dense\": %.4f, "
                        "\"speedup_vs_bf16\": %.4f, \"rel_err_vs_bf16\": %.4e}%s\n",
                        r->video_frames, r->latent, r->tokens, mode_names[r->mode], r->kernel, r->density, r->blocks,
                        r->tflop, r->med, r->min, r->max, r->tflop / (r->med * 1e-3), r->speedup, r->vs_bf16, r->err,
                        i + 1 < n_recs ? "," : "");
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
                       "tflops,speedup_vs_dense,speedup_vs_bf16,rel_err_vs_bf16\n");
            for (size_t i = 0; i < n_recs; i++) {
                const record *r = &recs[i];
                fprintf(f, "%lld,%lld,%lld,%d,%s,%s,%.6f,%lld,%.6f,%.4f,%.4f,%.4f,%.2f,%.4f,%.4f,%.4e\n",
                        r->video_frames, r->latent, r->tokens, heads, mode_names[r->mode], r->kernel, r->density,
                        r->blocks, r->tflop, r->med, r->min, r->max, r->tflop / (r->med * 1e-3), r->speedup,
                        r->vs_bf16, r->err);
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
    attn_opts o = {.frames = "81,161,241", .modes = "dense,radial", .kernels = "auto", .fp8_stages = "2",
                   .height = 480, .width = 832, .heads = 12, .reps = 20, .warmup = 3, .decay = 1.0};
    static const char *const precisions[] = {"bf16", "fp8", NULL};
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
        {"--attention-precision", NULL, CLI_CHOICE, .value = &o.precision, .choices = precisions,
         .help = "fp8: also the fp8 kernel (Hopper, sm_90a), alone and with its quantisation pre-pass, beside the "
                 "bf16 kernels of --kernel, with its speed and error against the first of them"},
        {"--fp8-stages", NULL, CLI_TEXT, .value = &o.fp8_stages, .arg = "LIST",
         .help = "the fp8 kernel's K/V ring depths to time (2, 3, 4)"},
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
