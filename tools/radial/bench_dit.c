/* radial bench dit: the Wan DiT at full model width with random weights (fixed seed), on either backend.
 *
 * Block mode (default): one block over a token grid, timed per op family. The backend's linear and attention
 * entries are wrapped by timing shims (which wait for the device around each op), so the numbers come from
 * the same ops the model calls.
 * Forward mode (--forward): whole forwards (patch embedding, time and text embeddings, every block, head,
 * host in and out, as the pipeline calls it) with --layers blocks, dense and/or radial self-attention; reports
 * ms per forward and the backend's peak memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/timer.h"
#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"
#include "dit/dit.h"

static const char *CMD = "bench dit";

/* Timing shim around a backend: the wrapper is a rad_backend whose linear/ffn/attention/weight_new forward to the
 * inner table (the other entries are the inner ones, reaching the same state through be->state). Each timed op
 * is bracketed by sync so that device backends are timed, not just queued. */
#define MAX_WEIGHTS 4096
typedef struct {
    rad_backend pub; /* first member: the model calls through this table */
    rad_backend *inner;
    const rad_weight *wptr[MAX_WEIGHTS];
    int64_t wrows[MAX_WEIGHTS];
    int n_weights;
    double t_lin, t_att, f_lin, f_att;
} shim;

static rad_status shim_weight_new(rad_backend *be, const rad_weight_src *host, int64_t rows, int64_t cols,
                                  const char *name, rad_weight **out) {
    shim *s = (shim *)be;
    if (s->n_weights == MAX_WEIGHTS) return rad_err(RADIAL_ERR_UNSUPPORTED, "bench shim: more than %d weights", MAX_WEIGHTS);
    RAD_TRY(s->inner->weight_new(s->inner, host, rows, cols, name, out));
    s->wptr[s->n_weights] = *out;
    s->wrows[s->n_weights++] = rows;
    return RAD_OK;
}

static rad_status shim_linear(rad_backend *be, const float *x, int64_t m, int64_t k, const rad_weight *w,
                              const float *bias, float *y) {
    shim *s = (shim *)be;
    int64_t n = 0;
    for (int i = 0; i < s->n_weights; i++)
        if (s->wptr[i] == w) n = s->wrows[i];
    RAD_TRY(s->inner->sync(s->inner));
    const double t0 = rad_now();
    rad_status st = s->inner->linear(s->inner, x, m, k, w, bias, y);
    if (st == RAD_OK) st = s->inner->sync(s->inner);
    s->t_lin += rad_now() - t0;
    s->f_lin += 2.0 * (double)m * (double)k * (double)n;
    return st;
}

/* ffn: its two GEMMs count as linear (on CUDA the GELU runs in the first one's epilogue). */
static rad_status shim_ffn(rad_backend *be, const float *x, int64_t m, int64_t d, const rad_weight *w1, const float *b1,
                           const rad_weight *w2, const float *b2, float *hidden, size_t hidden_floats, float *y) {
    shim *s = (shim *)be;
    int64_t f = 0;
    for (int i = 0; i < s->n_weights; i++)
        if (s->wptr[i] == w1) f = s->wrows[i];
    RAD_TRY(s->inner->sync(s->inner));
    const double t0 = rad_now();
    rad_status st = s->inner->ffn(s->inner, x, m, d, w1, b1, w2, b2, hidden, hidden_floats, y);
    if (st == RAD_OK) st = s->inner->sync(s->inner);
    s->t_lin += rad_now() - t0;
    s->f_lin += 4.0 * (double)m * (double)d * (double)f;
    return st;
}

static rad_status shim_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                                 int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale,
                                 const float *bias, const rad_bsr *mask) {
    shim *s = (shim *)be;
    RAD_TRY(s->inner->sync(s->inner));
    const double t0 = rad_now();
    rad_status st = s->inner->attention(s->inner, q, k, v, out, lq, lk, heads, head_dim, scale, bias, mask);
    if (st == RAD_OK) st = s->inner->sync(s->inner);
    s->t_att += rad_now() - t0;
    const double keys = mask ? rad_bsr_density(mask) * (double)lk : (double)lk; /* nominal, per query */
    s->f_att += 4.0 * (double)lq * keys * (double)heads * (double)head_dim;
    return st;
}

static const cli_usage usage = {
    .synopsis = "radial bench dit [--latent-frames F --token-rows H --token-cols W | --tokens N] [options]\n"
                "radial bench dit --forward [--layers L] [--attention LIST] [--model PATH] [--out FILE] [options]",
    .about = "Times the Wan DiT at full model width with random weights (fixed seed). Block mode (the default): one "
             "block over a token grid, timed per op family. Forward mode (--forward): whole forwards as the pipeline "
             "calls them, dense and/or radial; reports ms per forward and the backend's peak memory. The grid is in "
             "tokens: latent frames x latent rows/2 x latent columns/2; the default 3 x 30 x 52 = 4680 tokens is 3 "
             "latent frames of 480x832, and 81 frames of 480x832 are 21 x 30 x 52 = 32,760 tokens.",
};

typedef struct {
    long long frames, height, width, reps, layers, dense_layers;
    double decay;
    int forward, run_dense, run_radial;
    const char *size, *backend;
} bench_opts;

/* Forward mode: medians of whole forwards, dense and/or radial, on one model. */
static rad_status run_forward(rad_backend *be, rad_dit *dit, const bench_opts *o, const float *x, const float *ctx,
                              int L, float *v) {
    const int T = (int)o->frames, H = (int)(2 * o->height), W = (int)(2 * o->width);
    double *t = calloc((size_t)o->reps, sizeof(double));
    if (!t) return rad_err(RADIAL_ERR_NOMEM, "out of memory");
    rad_status s = RAD_OK;
    for (int pass = 0; pass < 2 && s == RAD_OK; pass++) {
        if ((pass == 0 && !o->run_dense) || (pass == 1 && !o->run_radial)) continue;
        rad_dit_attn_policy policy = {.mask = NULL, .dense_layers = 0};
        double density = 1.0;
        if (pass == 1) {
            const rad_radial_cfg rc = {.frames = o->frames, .tokens_per_frame = o->height * o->width,
                                       .decay = o->decay, .block = 128};
            s = rad_radial_layout(&rc, &policy.mask);
            if (s != RAD_OK) break;
            policy.dense_layers = (int)o->dense_layers;
            density = rad_bsr_density(policy.mask);
        }
        s = rad_dit_forward(dit, x, T, H, W, 500.0f, ctx, L, &policy, v); /* warm-up */
        for (long long r = 0; s == RAD_OK && r < o->reps; r++) {
            const double t0 = rad_now();
            s = rad_dit_forward(dit, x, T, H, W, 500.0f, ctx, L, &policy, v); /* ends with a blocking download */
            t[r] = rad_now() - t0;
        }
        if (s == RAD_OK) {
            double mn = t[0], mx = t[0];
            for (long long r = 1; r < o->reps; r++) mn = t[r] < mn ? t[r] : mn, mx = t[r] > mx ? t[r] : mx;
            if (pass == 0)
                printf("forward dense   %9.1f ms  (min %.1f, max %.1f over %lld)\n", bench_median(t, (int)o->reps) * 1e3,
                       mn * 1e3, mx * 1e3, o->reps);
            else
                printf("forward radial  %9.1f ms  (min %.1f, max %.1f over %lld; mask density %.4f, first %lld "
                       "blocks dense, decay %g)\n",
                       bench_median(t, (int)o->reps) * 1e3, mn * 1e3, mx * 1e3, o->reps, density, o->dense_layers, o->decay);
            fflush(stdout);
        }
    }
    if (s == RAD_OK) printf("peak backend memory %.1f MiB (%.2f GiB)\n", (double)rad_backend_peak(be) / 1048576.0,
                            (double)rad_backend_peak(be) / 1073741824.0);
    free(t);
    return s;
}

/* Block mode: one block, per op family. */
static rad_status run_block(shim *sh, rad_dit *dit, const bench_opts *o) {
    const long long reps = o->reps;
    double *t_blk = calloc((size_t)reps, sizeof(double)), *t_lin = calloc((size_t)reps, sizeof(double)),
           *t_att = calloc((size_t)reps, sizeof(double));
    rad_status s = t_blk && t_lin && t_att ? RAD_OK : rad_err(RADIAL_ERR_NOMEM, "out of memory");
    if (s == RAD_OK) s = rad_dit_run_block(dit, 0, NULL); /* warm-up */
    for (long long r = 0; s == RAD_OK && r < reps; r++) {
        sh->t_lin = sh->t_att = sh->f_lin = sh->f_att = 0;
        s = sh->inner->sync(sh->inner);
        const double t0 = rad_now();
        if (s == RAD_OK) s = rad_dit_run_block(dit, 0, NULL);
        if (s == RAD_OK) s = sh->inner->sync(sh->inner);
        t_blk[r] = rad_now() - t0, t_lin[r] = sh->t_lin, t_att[r] = sh->t_att;
    }
    if (s == RAD_OK) {
        const double f_lin = sh->f_lin, f_att = sh->f_att;
        const double mb = bench_median(t_blk, (int)reps), ml = bench_median(t_lin, (int)reps), ma = bench_median(t_att, (int)reps);
        printf("block      %9.2f ms  %8.1f GFLOP  %7.1f GFLOP/s\n", mb * 1e3, (f_lin + f_att) * 1e-9,
               (f_lin + f_att) * 1e-9 / mb);
        printf("  linear   %9.2f ms  %8.1f GFLOP  %7.1f GFLOP/s\n", ml * 1e3, f_lin * 1e-9, f_lin * 1e-9 / ml);
        printf("  attention%9.2f ms  %8.1f GFLOP  %7.1f GFLOP/s  (self + cross over 512 keys)\n", ma * 1e3,
               f_att * 1e-9, f_att * 1e-9 / ma);
        printf("  other    %9.2f ms  (norms, modulation, rope, residual adds; the FFN GELU counts as linear; medians do not add up exactly)\n",
               (mb - ml - ma) * 1e3);
        printf("peak backend memory %.1f MiB\n", (double)rad_backend_peak(sh->inner) / 1048576.0);
    }
    free(t_blk), free(t_lin), free(t_att);
    return s;
}

int bench_dit(int argc, char **argv) {
    bench_opts o = {.frames = 3, .height = 30, .width = 52, .reps = 5, .layers = 30, .dense_layers = 1,
                    .decay = 1.0, .run_dense = 1, .size = "1.3b", .backend = "cpu"};
    long long tokens = 0, resident = -1;
    int threads = 0, size = 0, backend = 0, attention = 0, gemm = 0, attn_prec = 0;
    static const char *const gemms[] = {"bf16", "fp8", NULL};
    bool forward = false;
    const char *model = NULL, *out = NULL;
    static const char *const sizes[] = {"1.3b", "14b", NULL};
    static const char *const attentions[] = {"dense", "radial", "dense,radial", NULL};
    const cli_flag flags[] = {
        {"--size", NULL, CLI_CHOICE, .value = &size, .choices = sizes,
         .help = "model width: 1.3b is dim 1536, 12 heads, ffn 8960; 14b dim 5120, 40 heads, ffn 13824"},
        {"--latent-frames", NULL, CLI_INT64, .value = &o.frames, .min = 1, .max = 1024, .arg = "F",
         .help = "token grid: latent frames"},
        {"--token-rows", NULL, CLI_INT64, .value = &o.height, .min = 1, .max = 1024, .arg = "H",
         .help = "token grid: latent rows / 2"},
        {"--token-cols", NULL, CLI_INT64, .value = &o.width, .min = 1, .max = 1024, .arg = "W",
         .help = "token grid: latent columns / 2"},
        {"--tokens", NULL, CLI_INT64, .value = &tokens, .min = 1, .max = 1 << 20, .help = "a 1 x 1 x N grid instead"},
        {"--reps", NULL, CLI_INT64, .value = &o.reps, .min = 1, .max = 1000, .arg = "R",
         .help = "timed repetitions after one warm-up; medians are reported"},
        {"--threads", NULL, CLI_INT, .value = &threads, .min = 0, .max = 256, .help = "CPU threads, 0 = all cores"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--gemm", NULL, CLI_CHOICE, .value = &gemm, .choices = gemms,
         .help = "GEMM precision (fp8: CUDA, compute capability 8.9+; as generate --gemm)"},
        {"--attention-precision", NULL, CLI_CHOICE, .value = &attn_prec, .choices = gemms,
         .help = "self-attention precision (fp8: CUDA on Hopper, sm_90; as generate --attention-precision)"},
        {"--forward", NULL, CLI_SWITCH, .value = &forward, .help = "forward mode"},
        {"--layers", NULL, CLI_INT64, .value = &o.layers, .min = 1, .max = 64, .arg = "L",
         .help = "forward mode: the model's blocks; the default is the 1.3B depth"},
        {"--attention", NULL, CLI_CHOICE, .value = &attention, .choices = attentions,
         .help = "forward mode: the self-attention of the timed forwards"},
        {"--dense-layers", NULL, CLI_INT64, .value = &o.dense_layers, .min = 0, .max = 64,
         .help = "radial forwards: the first N blocks stay dense, as in the pipeline"},
        {"--decay", NULL, CLI_DOUBLE, .value = &o.decay, .lo = 1e-3, .hi = 1e3, .arg = "D",
         .help = "radial mask decay, as in the pipeline"},
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "PATH",
         .help = "forward mode on the DiT of these files instead of random weights (any format radial loads: "
                 "bf16/fp16/fp32, fp8, scaled fp8, GGUF); reports the load (time, GB/s) and the device memory the "
                 "weights take; the config comes from the files"},
        {"--resident-blocks", NULL, CLI_INT64, .value = &resident, .min = -1, .max = 64, .arg = "N",
         .help = "forward mode: keep the first N blocks on the device and stream the others from host memory one "
                 "block ahead (what generate --offload does; -1: all resident)"},
        {"--out", NULL, CLI_TEXT, .value = &out, .arg = "FILE",
         .help = "forward mode: write the last forward's output v (to compare formats)"},
    };
    int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    o.forward = forward;
    if ((model || out || resident >= 0) && !forward)
        return cli_usage_error(CMD, "--model, --out and --resident-blocks go with --forward");
    o.size = sizes[size];
    o.backend = cli_backend_names[backend];
    o.run_dense = attention != 1, o.run_radial = attention != 0;
    if (tokens) o.frames = 1, o.height = 1, o.width = tokens;
    const long long n_tok = o.frames * o.height * o.width;
    if (n_tok > (1 << 20))
        return cli_usage_error(CMD, "%lld tokens is more than the 1048576 this benchmark allows", n_tok);
    rad_dit_config c = {.dim = 1536, .ffn_dim = 8960, .num_heads = 12, .head_dim = 128, .num_layers = 1,
                        .in_dim = 16, .out_dim = 16, .text_dim = 4096, .text_len = 512, .freq_dim = 256,
                        .patch_t = 1, .patch_h = 2, .patch_w = 2, .eps = 1e-6f};
    if (size == 1) c.dim = 5120, c.ffn_dim = 13824, c.num_heads = 40;
    if (o.forward) c.num_layers = (int)o.layers;
    rad_set_threads(threads);

    shim sh = {0};
    rad_dit *dit = NULL;
    float *x = NULL, *ctx = NULL, *v = NULL;
    const size_t lat = (size_t)16 * (size_t)o.frames * (size_t)(2 * o.height) * (size_t)(2 * o.width);
    const int L = 32; /* context rows (padded to 512 in the model) */
    rad_status s = rad_backend_open(backend, 0, &sh.inner);
    if (s == RAD_OK && gemm) s = sh.inner->set_gemm(sh.inner, RAD_GEMM_FP8);
    if (s == RAD_OK && attn_prec) s = sh.inner->set_attention(sh.inner, RAD_ATTN_FP8);
    rad_backend *be = sh.inner;
    if (s == RAD_OK && !o.forward) { /* block mode times through the shim */
        sh.pub = *sh.inner;
        sh.pub.weight_new = shim_weight_new;
        sh.pub.linear = shim_linear;
        sh.pub.ffn = shim_ffn;
        sh.pub.attention = shim_attention;
        be = &sh.pub;
    }
    const double t_load = rad_now();
    if (s == RAD_OK && model) {
        rad_weights *w = NULL;
        s = rad_weights_open(model, RAD_COMP_DIT, &w);
        if (s == RAD_OK) s = rad_dit_load(be, w, NULL, 0, (int)resident, &dit);
        rad_weights_close(w);
        if (s == RAD_OK) {
            const rad_load_stats *ls = rad_dit_load_stats(dit);
            c = *rad_dit_config_of(dit);
            printf("loaded %s: %zu tensors, %.3f GB of file data in %.2f s (%.2f GB/s); backend memory after load %.1f MiB\n",
                   model, ls->tensors, (double)ls->file_bytes / 1e9, ls->seconds,
                   ls->seconds > 0 ? (double)ls->file_bytes / 1e9 / ls->seconds : 0.0,
                   (double)rad_backend_peak(be) / 1048576.0);
        }
    } else if (s == RAD_OK) {
        s = rad_dit_random(be, &c, 1234, (int)resident, &dit);
    }
    if (s == RAD_OK) s = rad_alloc((void **)&x, lat * sizeof(float), "bench latent");
    if (s == RAD_OK) s = rad_alloc((void **)&v, lat * sizeof(float), "bench output");
    if (s == RAD_OK) s = rad_alloc((void **)&ctx, (size_t)L * (size_t)c.text_dim * sizeof(float), "bench context");
    if (s == RAD_OK) {
        uint64_t r = 42;
        for (size_t i = 0; i < lat; i++) r = r * 6364136223846793005ULL + 1442695040888963407ULL, x[i] = (float)((double)(r >> 40) / 16777216.0 * 2 - 1);
        for (size_t i = 0; i < (size_t)L * (size_t)c.text_dim; i++) ctx[i] = 0.1f * x[i % lat];
        printf("radial bench dit: backend %s, %d threads, %s %s (dim %d, %d heads, ffn %d, %d layers), %lld tokens "
               "(%lld x %lld x %lld), %lld reps; %s weights ready in %.1f s; %d of %d blocks resident; GEMMs %s, "
               "self-attention %s\n",
               o.backend, rad_get_threads(), model ? "model" : o.size, o.forward ? "forward" : "block", c.dim,
               c.num_heads, c.ffn_dim, c.num_layers, n_tok, o.frames, o.height, o.width, o.reps,
               model ? "file" : "random", rad_now() - t_load, rad_dit_resident_blocks(dit), c.num_layers, gemms[gemm],
               gemms[attn_prec]);
        fflush(stdout);
    }
    if (s == RAD_OK && o.forward) {
        s = run_forward(sh.inner, dit, &o, x, ctx, L, v);
        if (s == RAD_OK && out) {
            rad_st_out t = {.name = "v", .dtype = RAD_DT_F32, .ndim = 4,
                            .shape = {16, o.frames, 2 * o.height, 2 * o.width}, .data = v};
            s = rad_st_write(out, &t, 1, NULL, 0);
        }
    } else if (s == RAD_OK) {
        /* a whole forward sets up the block inputs */
        s = rad_dit_forward(dit, x, (int)o.frames, (int)(2 * o.height), (int)(2 * o.width), 500.0f, ctx, L, NULL, v);
        if (s == RAD_OK) s = run_block(&sh, dit, &o);
    }
    rad_dit_free(dit);
    if (sh.inner) sh.inner->destroy(sh.inner);
    rad_free(x), rad_free(v), rad_free(ctx);
    if (s != RAD_OK) {
        return cli_error(CMD);
    }
    return 0;
}
