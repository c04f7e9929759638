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

#ifndef RAD_HAVE_CUDA
int bench_attention(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "radial bench %s: this build has no CUDA backend (configure with nvcc available and "
                    "-DRADIAL_CUDA=ON); the attention benchmark times the GPU kernels only\n", argv[0]);
    return 1;
}
#else
#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/cuda/cuda_attention.h"
#include "base/half.h"
#include "base/mem.h"
#include "cli_args.h"

static const char *CMD = "bench attention";
enum { MAX_LIST = 16, HD = 128 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: radial bench attention [--frames 81,161,241] [--height 480] [--width 832] [--heads 12]\n"
            "                              [--decay 1.0] [--mode dense,radial] [--kernel auto] [--reps 20]\n"
            "                              [--warmup 3] [--seed S] [--json FILE] [--csv FILE]\n"
            "\n"
            "Times self-attention (bf16, head dim 128) through the CUDA kernels, dense and radial, at the Wan\n"
            "token counts of the given video sizes.\n"
            "  --frames LIST   video frames (4n+1); latent frames = (T-1)/4+1, tokens = latent x (H/16)(W/16)\n"
            "  --mode LIST     dense, radial (radial mask: rad_radial_layout, block 128, --decay)\n"
            "  --kernel LIST   auto, v1, v3, v3pp, v3s3, v3nat, v3e (versions, see bench/NOTES-kernels.md)\n"
            "  --reps N        timed launches per point (each timed alone with CUDA events); --warmup N untimed\n"
            "  --json/--csv    write one record per point\n");
}

/* Splits "a,b" into names matched against `names` (n of them); returns false with a message. */
static int parse_names(const char *flag, const char *val, const char *const *names, int n, int *out, int *count) {
    char buf[256];
    if (strlen(val) >= sizeof buf) {
        fprintf(stderr, "radial %s: %s: list too long\n", CMD, flag);
        return 0;
    }
    strcpy(buf, val);
    *count = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (names[i] && !strcmp(tok, names[i])) found = i;
        if (found < 0 || *count == MAX_LIST) {
            fprintf(stderr, "radial %s: %s: '%s' is not one of", CMD, flag, tok);
            for (int i = 0; i < n; i++) fprintf(stderr, " %s", names[i]);
            fprintf(stderr, "\n");
            return 0;
        }
        out[(*count)++] = found;
    }
    if (!*count) fprintf(stderr, "radial %s: %s: empty list\n", CMD, flag);
    return *count > 0;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Query-key pairs inside the layout's blocks, partial last blocks counted by their real tokens. */
static double computed_pairs(const rad_bsr *m) {
    double pairs = 0;
    for (int32_t r = 0; r < m->n_blocks; r++) {
        const double rows = (double)(((int64_t)r + 1) * m->block <= m->n_tokens ? m->block : m->n_tokens - (int64_t)r * m->block);
        for (int32_t e = m->row_ptr[r]; e < m->row_ptr[r + 1]; e++) {
            const int64_t c = m->col_idx[e];
            pairs += rows * (double)((c + 1) * m->block <= m->n_tokens ? m->block : m->n_tokens - c * m->block);
        }
    }
    return pairs;
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

static int fail(void) {
    fprintf(stderr, "radial %s: %s\n", CMD, rad_last_error());
    return 1;
}

int bench_attention(int argc, char **argv) {
    long long frames[MAX_LIST] = {81, 161, 241}, height = 480, width = 832, heads = 12, reps = 20, warmup = 3;
    long long seed = (long long)time(NULL);
    int n_frames = 3, modes[MAX_LIST] = {0, 1}, n_modes = 2, kernels[MAX_LIST] = {RAD_CUDA_ATTN_AUTO}, n_kernels = 1;
    double decay = 1.0;
    const char *json = NULL, *csv = NULL;
    static const char *const mode_names[] = {"dense", "radial"};
    const char *kernel_names[RAD_CUDA_ATTN_N_KERNELS];
    for (int i = 0; i < RAD_CUDA_ATTN_N_KERNELS; i++) kernel_names[i] = rad_cuda_attn_kernel_name(i);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        static const char *const known[] = {"--frames", "--height", "--width", "--heads", "--decay", "--mode",
                                            "--kernel", "--reps", "--warmup", "--seed", "--json", "--csv"};
        int is_known = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) is_known |= !strcmp(a, known[k]);
        if (!is_known) {
            fprintf(stderr, "radial %s: unknown option '%s'\n\n", CMD, a);
            usage(stderr);
            return 2;
        }
        if (!(v = cli_value(CMD, argc, argv, &i))) return 2;
        int ok = 1;
        if (!strcmp(a, "--frames")) ok = cli_int_list(CMD, a, v, 1, 4001, frames, MAX_LIST, &n_frames);
        else if (!strcmp(a, "--height")) ok = cli_int(CMD, a, v, 16, 8192, &height);
        else if (!strcmp(a, "--width")) ok = cli_int(CMD, a, v, 16, 8192, &width);
        else if (!strcmp(a, "--heads")) ok = cli_int(CMD, a, v, 1, 128, &heads);
        else if (!strcmp(a, "--decay")) ok = cli_float(CMD, a, v, 1e-6, 1e6, &decay);
        else if (!strcmp(a, "--mode")) ok = parse_names(a, v, mode_names, 2, modes, &n_modes);
        else if (!strcmp(a, "--kernel"))
            ok = parse_names(a, v, kernel_names, RAD_CUDA_ATTN_N_KERNELS, kernels, &n_kernels);
        else if (!strcmp(a, "--reps")) ok = cli_int(CMD, a, v, 1, 10000, &reps);
        else if (!strcmp(a, "--warmup")) ok = cli_int(CMD, a, v, 0, 1000, &warmup);
        else if (!strcmp(a, "--seed")) ok = cli_int(CMD, a, v, 1, (1LL << 62), &seed);
        else if (!strcmp(a, "--json")) json = v;
        else csv = v;
        if (!ok) return 2;
    }

    char dev[256];
    int cc_major, cc_minor;
    if (rad_cuda_device_info(dev, sizeof dev, &cc_major, &cc_minor) != RAD_OK) return fail();
    rng = (uint64_t)seed;
    printf("device: %s\nseed: %lld; q, k uniform(-1.7, 1.7), v uniform(-1, 1), bf16; %lld heads x %d, scale "
           "1/sqrt(%d); %lld warm-up + %lld timed launches per point\n",
           dev, seed, heads, HD, HD, warmup, reps);
    printf("TFLOP/s = 4 * %d * heads * (query-key pairs in computed blocks) / median time (dense: 4 N^2 %d heads)\n\n",
           HD, HD);
    printf("%6s %6s %7s  %-6s %-5s %8s %8s  %9s %9s %9s  %8s  %s\n", "frames", "latent", "tokens", "mode", "kern",
           "density", "blocks", "median ms", "min ms", "max ms", "TFLOP/s", "radial speedup");

    record *recs;
    const size_t max_recs = (size_t)n_frames * (size_t)n_modes * (size_t)n_kernels;
    if (rad_calloc((void **)&recs, max_recs, sizeof *recs, "bench records") != RAD_OK) return fail();
    size_t n_recs = 0;
    float *ms;
    if (rad_calloc((void **)&ms, (size_t)reps, sizeof *ms, "bench times") != RAD_OK) return fail();
    int rc = 0;

    for (int fi = 0; fi < n_frames && !rc; fi++) {
        int64_t latent, tpf;
        if (rad_radial_video_dims(width, height, frames[fi], &latent, &tpf) != RAD_OK) {
            rc = fail();
            break;
        }
        const int64_t n = latent * tpf;
        const size_t elems = (size_t)n * (size_t)heads * HD, bytes = elems * 2;
        uint16_t *host = NULL;
        void *d[4] = {NULL, NULL, NULL, NULL};
        if (rad_alloc((void **)&host, bytes, "bench inputs") != RAD_OK) {
            rc = fail();
            break;
        }
        for (int t = 0; t < 4 && !rc; t++) {
            if (rad_cuda_malloc(&d[t], bytes, t == 3 ? "out" : "q/k/v") != RAD_OK) rc = fail();
            if (!rc && t < 3) {
                for (size_t i = 0; i < elems; i++) host[i] = rnd_bf16(t == 2 ? 1.0 : 1.7);
                if (rad_cuda_upload(d[t], host, bytes) != RAD_OK) rc = fail();
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
                    rc = fail();
                    break;
                }
                layout = &dense;
            } else {
                rad_radial_cfg cfg = {.frames = latent, .tokens_per_frame = tpf, .decay = decay, .block = 128};
                if (rad_radial_layout(&cfg, &layout) != RAD_OK) {
                    rc = fail();
                    break;
                }
            }
            rad_cuda_bsr dm;
            if (rad_cuda_bsr_upload(layout, &dm) != RAD_OK) rc = fail();
            const double pairs = computed_pairs(layout), flop = 4.0 * HD * (double)heads * pairs;
            for (int ki = 0; ki < n_kernels && !rc; ki++) {
                if (rad_cuda_attention_time(d[0], d[1], d[2], d[3], heads, 1.0f / sqrtf((float)HD), &dm, kernels[ki],
                                            (int)warmup, (int)reps, ms) != RAD_OK) {
                    rc = fail();
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
                printf("%6lld %6lld %7lld  %-6s %-5s %8.4f %8lld  %9.3f %9.3f %9.3f  %8.1f  %s\n", r->video_frames,
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
            fprintf(f, "{\"device\": \"%s\", \"heads\": %lld, \"head_dim\": %d, \"height\": %lld, \"width\": %lld, "
                       "\"decay\": %g, \"reps\": %lld, \"warmup\": %lld, \"seed\": %lld,\n \"records\": [\n",
                    dev, heads, HD, height, width, decay, reps, warmup, seed);
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
                fprintf(f, "%lld,%lld,%lld,%lld,%s,%s,%.6f,%lld,%.6f,%.4f,%.4f,%.4f,%.2f,%.4f\n", r->video_frames,
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
