/* radial bench gemm: the CUDA backend's linear in bf16 and in fp8 (set_gemm RAD_GEMM_FP8, gemm_fp8.cu) on the Wan
 * DiT's GEMM shapes, through the backend's own linear op (what the model calls).
 *
 * Per model size (1.3B: 32,760 tokens = 81 frames at 480x832, dim 1536, FFN 8960; 14B: 75,600 tokens = 81 frames
 * at 720x1280, dim 5120, FFN 13824), three shapes: the attention projections (q, k, v, o; D -> D), FFN up (D -> F)
 * and FFN down (F -> D), each with its bias. Random inputs (fixed seed): x like a DiT block's GEMM input (unit
 * normal-ish values, per-token magnitudes between 0.5 and 2, every 64th channel 8x larger: the channel outliers
 * that make per-token quantisation lossy), w uniform with unit gain, bias small.
 *
 * Timings (CUDA events, calls queued back to back, medians):
 * - bf16: the bf16 GEMM, its input's bf16 copy present (as in the model, where the op that made x wrote it);
 * - fp8 GEMM: the fp8 GEMM with x already quantised (as for k and v, which reuse q's quantisation);
 * - fp8 + quant: the quantisation of x (from its bf16 copy) and the fp8 GEMM, every call;
 * TFLOP/s = 2 m n k / time. The weights are quantised once, before the timings (untimed, as at load).
 * Errors: relative L2 of each output against an fp32 GEMM of the same fp32 inputs (x, w, bias), computed in double
 * on the host for 16 rows spread over the tokens.
 * The "DiT block" lines add the shapes up as one block runs them: 6 D -> D GEMMs (self-attention q, k, v, o and
 * cross-attention q, o; the cross-attention k, v over the 512 text tokens are left out, they stay bf16), FFN up and
 * down, with 6 quantisations (q/k/v share one; o, cross q, cross o, FFN up and down one each). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"

static const char *CMD = "bench gemm";

static const cli_usage usage = {
    .synopsis = "radial bench gemm [--model LIST] [--tokens N] [--reps R] [options]",
    .about = "Times the CUDA backend's linear in bf16 and in fp8 (e4m3 operands, per-token and per-channel scales, "
             "the activation quantisation included or not) on the Wan DiT's GEMM shapes, with TFLOP/s, the fp8 "
             "speedup, and the relative error of each against an fp32 GEMM of the same inputs. LIST: 1.3b, 14b.",
};

typedef struct gemm_opts {
    const char *models, *json, *record;
    long long tokens, seed;
    int reps, warmup;
    bool accurate_accum;
} gemm_opts;

#ifdef RAD_HAVE_CUDA
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/cuda/gemm_fp8.h"
#include "base/mem.h"
#include "base/threads.h"

enum { N_SAMPLE = 16 };

typedef struct {
    const char *model, *name;
    long long m, n, k;
    double bf16_ms, fp8_ms, fp8q_ms, err_bf16, err_fp8;
    rad_cuda_fp8_info info;
} record;

/* ---- reproducible inputs: a hash of (seed, stream, index) per element, so any row can be made again ---- */

static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double u01(uint64_t h, int part) { return (double)((h >> (21 * part)) & 0x1fffff) / 2097152.0; }

typedef struct {
    float *dst;
    int64_t cols;
    uint64_t seed;
    int kind; /* 0: x, 1: w */
} gen_job;

static float x_value(uint64_t seed, int64_t row, int64_t col, int64_t cols) {
    const uint64_t h = mix(seed ^ mix((uint64_t)(row * cols + col)));
    const double g = (u01(h, 0) + u01(h, 1) + u01(h, 2) - 1.5) * 2.0; /* mean 0, variance 1 */
    const double r = 0.5 + 1.5 * u01(mix(seed ^ 0x51ull ^ mix((uint64_t)row)), 0);
    return (float)(g * r * (col % 64 == 7 ? 8.0 : 1.0));
}
static float w_value(uint64_t seed, int64_t row, int64_t col, int64_t cols) {
    const uint64_t h = mix(seed ^ 0xa5a5ull ^ mix((uint64_t)(row * cols + col)));
    return (float)((2.0 * u01(h, 0) - 1.0) * sqrt(3.0 / (double)cols));
}

static void gen_range(void *ctx, int64_t r0, int64_t r1) {
    const gen_job *j = ctx;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c = 0; c < j->cols; c++)
            j->dst[r * j->cols + c] = j->kind ? w_value(j->seed, r, c, j->cols) : x_value(j->seed, r, c, j->cols);
}

typedef struct {
    const float *xs, *w, *bias; /* xs: the sampled rows of x */
    int64_t n, k;
    double *ref; /* [N_SAMPLE][n] */
} ref_job;

static void ref_range(void *ctx, int64_t c0, int64_t c1) {
    const ref_job *j = ctx;
    for (int64_t c = c0; c < c1; c++)
        for (int s = 0; s < N_SAMPLE; s++) {
            double acc = j->bias[c];
            const float *xr = j->xs + (int64_t)s * j->k, *wr = j->w + c * j->k;
            for (int64_t l = 0; l < j->k; l++) acc += (double)xr[l] * (double)wr[l];
            j->ref[(int64_t)s * j->n + c] = acc;
        }
}

static int64_t sample_row(int s, int64_t m) { return s == N_SAMPLE - 1 ? m - 1 : (int64_t)s * (m / (N_SAMPLE - 1)); }

/* Relative L2 error of y's sampled rows against ref. */
static rad_status sample_err(rad_backend *be, const float *y, int64_t m, int64_t n, const double *ref, float *row,
                             double *err) {
    double num = 0, den = 0;
    for (int s = 0; s < N_SAMPLE; s++) {
        RAD_TRY(be->download(be, row, y + sample_row(s, m) * n, (size_t)n * sizeof(float)));
        for (int64_t c = 0; c < n; c++) {
            const double d = (double)row[c] - ref[(int64_t)s * n + c];
            num += d * d, den += ref[(int64_t)s * n + c] * ref[(int64_t)s * n + c];
        }
    }
    *err = sqrt(num / den);
    return RAD_OK;
}

static double median_f(float *v, int n) {
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            const float t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

static const char *bias_name(int b) {
    static const char *const names[] = {"none", "fp32 epilogue", "bf16 epilogue", "fp32 add"};
    return b >= 0 && b < 4 ? names[b] : "?";
}

/* One shape: w [n, k] made here, x (device, [m, k]) and xs (its sampled rows, host) given. */
static rad_status run_shape(rad_backend *be, const gemm_opts *o, const char *model, const char *name, const float *x,
                            const float *xs, int64_t m, int64_t n, int64_t k, float *y, record *r) {
    float *w = NULL, *bias = NULL, *dbias = NULL, *row = NULL, *ms = NULL;
    double *ref = NULL;
    rad_weight *wt = NULL;
    memset(r, 0, sizeof *r);
    r->model = model, r->name = name, r->m = m, r->n = n, r->k = k;
    rad_status s = rad_alloc((void **)&w, (size_t)(n * k) * sizeof(float), "bench weight");
    if (s == RAD_OK) s = rad_alloc((void **)&bias, (size_t)n * sizeof(float), "bench bias");
    if (s == RAD_OK) s = rad_alloc((void **)&row, (size_t)n * sizeof(float), "bench row");
    if (s == RAD_OK) s = rad_alloc((void **)&ref, (size_t)N_SAMPLE * (size_t)n * sizeof(double), "bench reference");
    if (s == RAD_OK) s = rad_alloc((void **)&ms, (size_t)o->reps * sizeof(float), "bench times");
    if (s == RAD_OK) {
        gen_job g = {w, k, (uint64_t)o->seed ^ (uint64_t)(n * 131 + k), 1};
        rad_parallel_for(n, 64, gen_range, &g);
        for (int64_t c = 0; c < n; c++) bias[c] = 0.1f * (float)(2.0 * u01(mix((uint64_t)o->seed ^ 0xb1a5ull ^ mix((uint64_t)c)), 0) - 1.0);
        ref_job rj = {xs, w, bias, n, k, ref};
        rad_parallel_for(n, 16, ref_range, &rj);
        const rad_weight_src src = rad_weight_src_f32(w);
        s = be->weight_new(be, &src, n, k, name, &wt);
    }
    if (s == RAD_OK) s = be->alloc(be, (size_t)n * sizeof(float), "bench bias", (void **)&dbias);
    if (s == RAD_OK) s = be->upload(be, dbias, bias, (size_t)n * sizeof(float));
    /* bf16 first: the fp8 mode converts the weight to e4m3 at its first fp8 GEMM */
    if (s == RAD_OK) s = be->set_gemm(be, RAD_GEMM_BF16);
    if (s == RAD_OK) s = rad_cuda_linear_time(be, x, m, k, wt, dbias, y, o->warmup, o->reps, 0, ms);
    if (s == RAD_OK) r->bf16_ms = median_f(ms, o->reps), s = sample_err(be, y, m, n, ref, row, &r->err_bf16);
    if (s == RAD_OK) s = be->set_gemm(be, RAD_GEMM_FP8);
    if (s == RAD_OK) s = rad_cuda_linear_time(be, x, m, k, wt, dbias, y, o->warmup, o->reps, 0, ms);
    if (s == RAD_OK) r->fp8_ms = median_f(ms, o->reps), s = rad_cuda_fp8_last(be, &r->info);
    if (s == RAD_OK) s = sample_err(be, y, m, n, ref, row, &r->err_fp8);
    if (s == RAD_OK) s = rad_cuda_linear_time(be, x, m, k, wt, dbias, y, o->warmup, o->reps, 1, ms);
    if (s == RAD_OK) r->fp8q_ms = median_f(ms, o->reps);
    if (s == RAD_OK) s = be->set_gemm(be, RAD_GEMM_BF16);
    if (s == RAD_OK && !r->info.fp8)
        s = rad_err(RADIAL_ERR_BACKEND, "%s %s: the fp8 mode ran the bf16 GEMM: %s", model, name, r->info.why);
    if (wt) be->weight_free(be, wt);
    if (dbias) be->free(be, dbias);
    rad_free(w), rad_free(bias), rad_free(row), rad_free(ref), rad_free(ms);
    return s;
}

static double tflops(const record *r, double ms) { return 2.0 * (double)r->m * (double)r->n * (double)r->k / (ms * 1e-3) * 1e-12; }

static int line(char *buf, size_t cap, const record *r) {
    return snprintf(buf, cap, "| %s | %s | %lld | %lld | %lld | %.3f | %.0f | %.3f | %.0f | %.3f | %.3f | %.0f | %.2fx | "
                              "%.2fx | %.4f | %.4f |\n",
                    r->model, r->name, r->m, r->n, r->k, r->bf16_ms, tflops(r, r->bf16_ms), r->fp8_ms, tflops(r, r->fp8_ms),
                    r->fp8q_ms - r->fp8_ms, r->fp8q_ms, tflops(r, r->fp8q_ms), r->bf16_ms / r->fp8_ms,
                    r->bf16_ms / r->fp8q_ms, r->err_bf16, r->err_fp8);
}

static int run(const gemm_opts *o, int argc, char **argv) {
    static const struct {
        const char *name;
        long long tokens, dim, ffn;
    } models[] = {{"1.3b", 32760, 1536, 8960}, {"14b", 75600, 5120, 13824}};
    int use[2] = {0, 0};
    {
        char buf[64];
        if (strlen(o->models) >= sizeof buf) return cli_usage_error(CMD, "--model: expected 1.3b, 14b or 1.3b,14b");
        strcpy(buf, o->models);
        for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (!strcmp(t, "1.3b")) use[0] = 1;
            else if (!strcmp(t, "14b")) use[1] = 1;
            else return cli_usage_error(CMD, "--model: expected 1.3b and/or 14b, found '%s'", t);
        }
    }
    rad_backend *be = NULL;
    if (rad_backend_cuda(0, &be) != RAD_OK) return cli_error(CMD);
    char dev[160];
    int cc_major = 0, cc_minor = 0;
    if (rad_cuda_device_info(dev, sizeof dev, &cc_major, &cc_minor) != RAD_OK || be->set_gemm(be, RAD_GEMM_FP8) != RAD_OK) {
        be->destroy(be);
        return cli_error(CMD);
    }
    if (o->accurate_accum && rad_cuda_fp8_set_fast_accum(be, 0) != RAD_OK) {
        be->destroy(be);
        return cli_error(CMD);
    }
    printf("device: %s (sm_%d%d), cuBLASLt %zu\nseed %lld; %d warm-up + %d timed calls per point, medians; errors vs an fp32 GEMM of "
           "the same inputs on %d sampled rows; fp8 accumulation: %s\n\n",
           dev, cc_major, cc_minor, rad_cuda_cublaslt_version(), o->seed, o->warmup, o->reps, N_SAMPLE,
           o->accurate_accum ? "promoted to fp32 (--accurate-accum)" : "fast (cuBLASLt FAST_ACCUM, the default)");
    const char *head = "| model | GEMM | m | n | k | bf16 ms | bf16 TFLOP/s | fp8 GEMM ms | fp8 TFLOP/s | quant ms | "
                       "fp8+quant ms | fp8+quant TFLOP/s | speedup (GEMM) | speedup (with quant) | rel err bf16 | "
                       "rel err fp8 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    size_t cap = 16384, len = 0;
    char *body = malloc(cap);
    if (!body) return 1;
    len += (size_t)snprintf(body, cap, "%s", head);
    printf("%s", head);
    record recs[6];
    int n_recs = 0, rc = 0;
    char notes[4096] = "";
    size_t nl = 0;
    for (int mi = 0; mi < 2 && !rc; mi++) {
        if (!use[mi]) continue;
        const int64_t m = o->tokens ? o->tokens : models[mi].tokens, D = models[mi].dim, F = models[mi].ffn;
        float *hx[2] = {NULL, NULL}, *hs[2] = {NULL, NULL}, *dx[2] = {NULL, NULL}, *y = NULL;
        const int64_t ks[2] = {D, F};
        rad_status s = RAD_OK;
        for (int t = 0; t < 2 && s == RAD_OK; t++) { /* x [m, D] and x [m, F], and their sampled rows */
            s = rad_alloc((void **)&hx[t], (size_t)(m * ks[t]) * sizeof(float), "bench x");
            if (s == RAD_OK) s = rad_alloc((void **)&hs[t], (size_t)N_SAMPLE * (size_t)ks[t] * sizeof(float), "bench rows");
            if (s != RAD_OK) break;
            gen_job g = {hx[t], ks[t], (uint64_t)o->seed ^ (uint64_t)(t + 1), 0};
            rad_parallel_for(m, 64, gen_range, &g);
            for (int q = 0; q < N_SAMPLE; q++)
                memcpy(hs[t] + q * ks[t], hx[t] + sample_row(q, m) * ks[t], (size_t)ks[t] * sizeof(float));
            s = be->alloc(be, (size_t)(m * ks[t]) * sizeof(float), "bench x", (void **)&dx[t]);
            if (s == RAD_OK) s = be->upload(be, dx[t], hx[t], (size_t)(m * ks[t]) * sizeof(float));
            rad_free(hx[t]);
            hx[t] = NULL;
        }
        if (s == RAD_OK) s = be->alloc(be, (size_t)(m * F) * sizeof(float), "bench y", (void **)&y);
        const struct {
            const char *name;
            int x;
            int64_t n, k;
        } shapes[3] = {{"q/k/v/o", 0, D, D}, {"ffn up", 0, F, D}, {"ffn down", 1, D, F}};
        record *mr = &recs[n_recs];
        for (int si = 0; si < 3 && s == RAD_OK; si++) {
            record *r = &recs[n_recs];
            s = run_shape(be, o, models[mi].name, shapes[si].name, dx[shapes[si].x], hs[shapes[si].x], m, shapes[si].n,
                          shapes[si].k, y, r);
            if (s != RAD_OK) break;
            n_recs++;
            char buf[512];
            line(buf, sizeof buf, r);
            printf("%s", buf);
            fflush(stdout);
            if (len + strlen(buf) + 1 < cap) len += (size_t)snprintf(body + len, cap - len, "%s", buf);
            if (nl + 1 < sizeof notes)
                nl += (size_t)snprintf(notes + nl, sizeof notes - nl, "- %s %s: %s; bias: %s; activations from %s\n",
                                       r->model, r->name, r->info.why, bias_name(r->info.bias_mode),
                                       r->info.act_source == 16 ? "their bf16 copy" : "fp32");
            if (nl >= sizeof notes) nl = sizeof notes - 1;
        }
        if (s == RAD_OK) { /* one DiT block's GEMMs: 6 x (D -> D), FFN up, FFN down; 6 quantisations */
            const double qd = mr[0].fp8q_ms - mr[0].fp8_ms, qf = mr[2].fp8q_ms - mr[2].fp8_ms;
            const double b16 = 6 * mr[0].bf16_ms + mr[1].bf16_ms + mr[2].bf16_ms;
            const double b8 = 6 * mr[0].fp8_ms + mr[1].fp8_ms + mr[2].fp8_ms + 5 * qd + qf;
            char buf[512];
            snprintf(buf, sizeof buf, "\n%s DiT block GEMMs (6 x q/k/v/o, ffn up, ffn down; 6 quantisations): bf16 %.3f ms, "
                                      "fp8 %.3f ms: %.2fx\n",
                     models[mi].name, b16, b8, b16 / b8);
            printf("%s", buf);
            if (len + strlen(buf) + 1 < cap) len += (size_t)snprintf(body + len, cap - len, "%s", buf);
        }
        for (int t = 0; t < 2; t++) {
            rad_free(hx[t]), rad_free(hs[t]);
            if (dx[t]) be->free(be, dx[t]);
        }
        if (y) be->free(be, y);
        if (s != RAD_OK) rc = cli_error(CMD);
        else if (mi == 0 && use[1]) printf("\n%s", head);
    }
    if (!rc) printf("\n%s", notes);
    if (!rc && len + strlen(notes) + 2 < cap) len += (size_t)snprintf(body + len, cap - len, "\n%s", notes);
    if (!rc && o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) {
            fprintf(stderr, "radial %s: cannot create '%s'\n", CMD, o->json);
            rc = 1;
        } else {
            fprintf(f, "{\"device\": \"%s\", \"reps\": %d, \"warmup\": %d, \"seed\": %lld, \"fast_accum\": %d,\n \"records\": [\n",
                    dev, o->reps, o->warmup, o->seed, o->accurate_accum ? 0 : 1);
            for (int i = 0; i < n_recs; i++) {
                const record *r = &recs[i];
                fprintf(f, "  {\"model\": \"%s\", \"gemm\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, \"bf16_ms\": %.4f, "
                           "\"fp8_gemm_ms\": %.4f, \"fp8_with_quant_ms\": %.4f, \"bf16_tflops\": %.1f, \"fp8_tflops\": %.1f, "
                           "\"fp8_with_quant_tflops\": %.1f, \"rel_err_bf16\": %.6f, \"rel_err_fp8\": %.6f, \"outer_vec\": %d, "
                           "\"bias\": \"%s\", \"path\": \"%s\"}%s\n",
                        r->model, r->name, r->m, r->n, r->k, r->bf16_ms, r->fp8_ms, r->fp8q_ms, tflops(r, r->bf16_ms),
                        tflops(r, r->fp8_ms), tflops(r, r->fp8q_ms), r->err_bf16, r->err_fp8, r->info.outer_vec,
                        bias_name(r->info.bias_mode), r->info.why, i + 1 < n_recs ? "," : "");
            }
            fprintf(f, " ]}\n");
            if (fclose(f) != 0) rc = 1;
        }
    }
    if (!rc && o->record) {
        bench_env env;
        bench_env_get(&env, argc, argv);
        rc = bench_record(o->record, "bench gemm: bf16 vs fp8 linear at the Wan DiT's shapes", &env, dev, body);
    }
    free(body);
    be->destroy(be);
    return rc;
}
#endif

int bench_gemm(int argc, char **argv) {
    gemm_opts o = {.models = "1.3b,14b", .reps = 20, .warmup = 3, .seed = 1234};
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &o.models, .arg = "LIST",
         .help = "1.3b (32,760 tokens; dim 1536, FFN 8960) and/or 14b (75,600 tokens; dim 5120, FFN 13824)"},
        {"--tokens", NULL, CLI_INT64, .value = &o.tokens, .min = 1024, .max = 1 << 20, .arg = "N",
         .help = "rows (tokens) of every GEMM instead of the model's 81-frame count"},
        {"--reps", NULL, CLI_INT, .value = &o.reps, .min = 1, .max = 10000, .help = "timed calls per point"},
        {"--warmup", NULL, CLI_INT, .value = &o.warmup, .min = 1, .max = 1000,
         .help = "untimed calls before them (the first fp8 one quantises the weight)"},
        {"--accurate-accum", NULL, CLI_SWITCH, .value = &o.accurate_accum,
         .help = "fp8 GEMMs with their partial sums promoted to fp32 (cuBLASLt FAST_ACCUM off; slower, the default is "
                 "fast accumulation)"},
        {"--seed", NULL, CLI_INT64, .value = &o.seed, .min = 1, .max = 1LL << 62, .help = "of the random inputs"},
        {"--json", NULL, CLI_TEXT, .value = &o.json, .arg = "FILE", .help = "write one record per shape as JSON"},
        {"--record", NULL, CLI_TEXT, .value = &o.record, .arg = "FILE",
         .help = "append the table as a section to a Markdown file such as bench/RESULTS.md"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
#ifdef RAD_HAVE_CUDA
    return run(&o, argc, argv);
#else
    fprintf(stderr, "radial %s: this build has no CUDA backend (configure with nvcc available and -DRADIAL_CUDA=ON); "
                    "the GEMM benchmark times the GPU's bf16 and fp8 GEMMs\n", CMD);
    return 1;
#endif
}
