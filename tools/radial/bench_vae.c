/* radial bench vae: times one Wan-VAE decode of a random latent at a video size and reports the memory it held.
 * Without --model the decoder gets random weights at the Wan 2.1 shapes (--base-dim), written to a temporary
 * safetensors file, so the real cost can be measured without the real checkpoint. --vae-tile also decodes in
 * tiles and prints how far that is from the whole-frame decode; --plan prints the working memory of both
 * convolution input types without decoding; --profile decodes once more with a profile attached (backend/profile.h)
 * and prints where that decode's time went per VAE stage and op family. Measures; never asserts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/profile.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/timer.h"
#include "bench.h"
#include "bench_record.h"
#include "cli_args.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "vae/vae.h"

#define CMD "bench vae"

static const cli_usage usage = {
    .synopsis = "radial bench vae [--model PATH] [--width W --height H --frames F] [options]",
    .about = "Times one Wan-VAE decode of a random latent at a video size and reports the memory it held. Without "
             "--model the decoder gets random weights at the Wan 2.1 shapes (--base-dim), written to a temporary "
             "safetensors file, so the real cost can be measured without the real checkpoint. With --vae-tile the "
             "latent is then decoded again in tiles, and the difference between the two videos is printed "
             "(max and mean |diff|, relative L2). --plan prints the decode's working memory for fp32 (CPU) and bf16 "
             "(CUDA) convolution inputs, without decoding.",
};

/* Random decoder weights with the official names and shapes (spec wan21.md §3.3) for base dim `d`. */
typedef struct {
    rad_st_out *t;
    char (*names)[96];
    float **data;
    size_t n, cap;
    uint64_t rng;
} synth;

static rad_status synth_add(synth *s, const char *name, int ndim, const int64_t *shape, float scale, float offset) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        rad_st_out *t = realloc(s->t, cap * sizeof *t);
        if (t) s->t = t;
        char(*nm)[96] = realloc(s->names, cap * sizeof *nm);
        if (nm) s->names = nm;
        float **d = realloc(s->data, cap * sizeof *d);
        if (d) s->data = d;
        if (!t || !nm || !d) return rad_err(RADIAL_ERR_NOMEM, "bench vae: out of memory");
        s->cap = cap;
    }
    size_t bytes;
    RAD_TRY(rad_shape_bytes(shape, ndim, sizeof(float), &bytes));
    float *p;
    RAD_TRY(rad_alloc((void **)&p, bytes, name));
    for (size_t i = 0; i < bytes / sizeof(float); i++) {
        s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = offset + scale * ((float)(s->rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
    snprintf(s->names[s->n], sizeof s->names[s->n], "%s", name);
    rad_st_out *o = &s->t[s->n];
    *o = (rad_st_out){.name = s->names[s->n], .dtype = RAD_DT_F32, .ndim = ndim, .data = p};
    memcpy(o->shape, shape, (size_t)ndim * sizeof *shape);
    s->data[s->n++] = p;
    return RAD_OK;
}

/* Conv weight + bias; uniform with the variance of a unit-gain init so activations stay O(1). */
static rad_status synth_conv(synth *s, const char *prefix, int ndim, int64_t cout, int64_t cin, int64_t kt,
                             int64_t k) {
    char name[128];
    const int64_t sh5[5] = {cout, cin, kt, k, k}, sh4[4] = {cout, cin, k, k};
    const float scale = sqrtf(3.0f / (float)(cin * kt * k * k));
    snprintf(name, sizeof name, "%s.weight", prefix);
    RAD_TRY(synth_add(s, name, ndim, ndim == 5 ? sh5 : sh4, scale, 0.0f));
    snprintf(name, sizeof name, "%s.bias", prefix);
    return synth_add(s, name, 1, &cout, 0.01f, 0.0f);
}

static rad_status synth_gamma(synth *s, const char *name, int ndim, int64_t c) {
    const int64_t sh[4] = {c, 1, 1, 1};
    return synth_add(s, name, ndim, sh, 0.1f, 1.0f);
}

static rad_status synth_res(synth *s, const char *p, int64_t cin, int64_t cout) {
    char n[128];
    snprintf(n, sizeof n, "%s.residual.0.gamma", p);
    RAD_TRY(synth_gamma(s, n, 4, cin));
    snprintf(n, sizeof n, "%s.residual.2", p);
    RAD_TRY(synth_conv(s, n, 5, cout, cin, 3, 3));
    snprintf(n, sizeof n, "%s.residual.3.gamma", p);
    RAD_TRY(synth_gamma(s, n, 4, cout));
    snprintf(n, sizeof n, "%s.residual.6", p);
    RAD_TRY(synth_conv(s, n, 5, cout, cout, 3, 3));
    if (cin == cout) return RAD_OK;
    snprintf(n, sizeof n, "%s.shortcut", p);
    return synth_conv(s, n, 5, cout, cin, 1, 1);
}

static rad_status synth_write(int64_t d, const char *path) {
    synth s = {.rng = 42};
    const int64_t dims[5] = {4 * d, 4 * d, 4 * d, 2 * d, d};
    const int temporal[3] = {1, 1, 0};
    char p[96], q[128];
    rad_status st = synth_conv(&s, "conv2", 5, 16, 16, 1, 1);
    if (st == RAD_OK) st = synth_conv(&s, "decoder.conv1", 5, dims[0], 16, 3, 3);
    if (st == RAD_OK) st = synth_res(&s, "decoder.middle.0", dims[0], dims[0]);
    if (st == RAD_OK) st = synth_gamma(&s, "decoder.middle.1.norm.gamma", 3, dims[0]);
    if (st == RAD_OK) st = synth_conv(&s, "decoder.middle.1.to_qkv", 4, 3 * dims[0], dims[0], 1, 1);
    if (st == RAD_OK) st = synth_conv(&s, "decoder.middle.1.proj", 4, dims[0], dims[0], 1, 1);
    if (st == RAD_OK) st = synth_res(&s, "decoder.middle.2", dims[0], dims[0]);
    for (int i = 0, idx = 0; st == RAD_OK && i < 4; i++) {
        int64_t in = i == 0 ? dims[0] : dims[i] / 2;
        for (int j = 0; st == RAD_OK && j < 3; j++, idx++) {
            snprintf(p, sizeof p, "decoder.upsamples.%d", idx);
            st = synth_res(&s, p, in, dims[i + 1]);
            in = dims[i + 1];
        }
        if (i == 3 || st != RAD_OK) break;
        snprintf(p, sizeof p, "decoder.upsamples.%d", idx++);
        if (temporal[i]) {
            snprintf(q, sizeof q, "%s.time_conv", p);
            st = synth_conv(&s, q, 5, 2 * dims[i + 1], dims[i + 1], 3, 1);
        }
        snprintf(q, sizeof q, "%s.resample.1", p);
        if (st == RAD_OK) st = synth_conv(&s, q, 4, dims[i + 1] / 2, dims[i + 1], 1, 3);
    }
    if (st == RAD_OK) st = synth_gamma(&s, "decoder.head.0.gamma", 4, dims[4]);
    if (st == RAD_OK) st = synth_conv(&s, "decoder.head.2", 5, 3, dims[4], 3, 3);
    if (st == RAD_OK) st = rad_st_write(path, s.t, s.n, NULL, 0);
    for (size_t i = 0; i < s.n; i++) rad_free(s.data[i]);
    free(s.t), free(s.names), free(s.data);
    return st;
}

typedef struct {
    rad_backend *be;
    rad_weights *w;
    rad_vae *vae;
    int64_t T, H, W; /* the latent of the video size asked for */
    float *latent, *video, *tiled;
    char tmp[256];
} bench_run;

typedef struct {
    const char *model, *json;
    int64_t width, height, frames, base_dim;
    int backend, tile, plan, profile, reps;
} bench_opts;

/* One decode into `video`: seconds, and the line that reports it. */
static rad_status decode_once(bench_run *r, const bench_opts *o, int tile, float *video, double *seconds) {
    const int64_t T = r->T;
    RAD_TRY(rad_vae_set_tiling(r->vae, tile));
    const double t0 = rad_now();
    RAD_TRY(rad_vae_decode(r->vae, r->latent, T, r->H, r->W, video));
    *seconds = rad_now() - t0;
    const int64_t F = rad_vae_out_frames(r->vae, T), n_vid = 3 * F * o->height * o->width;
    double sum = 0;
    for (int64_t i = 0; i < n_vid; i++) sum += fabs(video[i]);
    const double mib = 1048576.0;
    const rad_vae_stats vs = rad_vae_last_stats(r->vae);
    char how[48] = "whole frames";
    if (tile) snprintf(how, sizeof how, "tiles of %d px", tile);
    printf("vae decode %lldx%lld, %lld frames (%lld latent), %s, backend %s, %d threads: first decode %.2f s (%.2f s per latent "
           "frame); convs %.3g FLOP in %.2f s (%.0f GFLOP/s); weights %.1f MiB, activations + caches peak "
           "%.1f MiB, host peak %.1f MiB; mean |x| %.3f\n",
           (long long)o->width, (long long)o->height, (long long)F, (long long)T, how, r->be->name, rad_get_threads(),
           *seconds, *seconds / (double)T, vs.conv_flops, vs.conv_seconds, vs.conv_flops / vs.conv_seconds * 1e-9,
           vs.weight_bytes / mib, vs.work_peak_bytes / mib, rad_mem_peak() / mib, sum / (double)n_vid);
    return RAD_OK;
}

/* One more whole-frame decode with a profile attached and without the per-convolution synchronisation: its
 * table. */
static rad_status profiled_decode(bench_run *r) {
    rad_profile *p = NULL;
    char *table = NULL;
    RAD_TRY(rad_profile_new(0, &p));
    rad_vae_set_conv_timing(r->vae, false);
    const double t0 = rad_now();
    rad_status s = rad_profile_attach(p, r->be);
    if (s == RAD_OK) {
        const rad_status sd = rad_vae_decode(r->vae, r->latent, r->T, r->H, r->W, r->video);
        s = rad_profile_detach(p);
        if (sd != RAD_OK) s = sd;
    }
    const double dt = rad_now() - t0;
    rad_vae_set_conv_timing(r->vae, true);
    if (s == RAD_OK) s = rad_profile_table(p, &table);
    if (s == RAD_OK)
        printf("\nProfile of one more decode (%.2f s in all, with the profile's timestamps and no per-convolution "
               "synchronisation):\n\n%s", dt, table);
    rad_free(table);
    rad_profile_free(p);
    return s;
}

static rad_status run(bench_run *r, const bench_opts *o) {
    if ((o->frames - 1) % 4 || o->width % 8 || o->height % 8)
        return rad_err(RADIAL_ERR_INVALID_ARG, "frames must be 4n+1 and width, height multiples of 8 (got %lld, "
                       "%lldx%lld)", (long long)o->frames, (long long)o->width, (long long)o->height);
    const char *model = o->model;
    if (!model) {
        const char *dir = getenv("TMPDIR");
        snprintf(r->tmp, sizeof r->tmp, "%s/radial_bench_vae_%ld.safetensors", dir ? dir : "/tmp", (long)getpid());
        const double t0 = rad_now();
        RAD_TRY(synth_write(o->base_dim, r->tmp));
        fprintf(stderr, "random VAE weights (base dim %lld) written in %.1f s\n", (long long)o->base_dim,
                rad_now() - t0);
        model = r->tmp;
    }
    RAD_TRY(rad_weights_open(model, RAD_COMP_VAE, &r->w));
    r->T = rad_latent_frames(o->frames), r->H = o->height / RAD_VAE_SPACE_FACTOR, r->W = o->width / RAD_VAE_SPACE_FACTOR;
    const int64_t T = r->T, H = r->H, W = r->W, n_lat = RAD_LATENT_CHANNELS * T * H * W;
    if (o->plan) {
        size_t f32 = 0, bf16 = 0;
        RAD_TRY(rad_vae_plan_work(r->w, H, W, RAD_DT_F32, o->tile, &f32));
        RAD_TRY(rad_vae_plan_work(r->w, H, W, RAD_DT_BF16, o->tile, &bf16));
        printf("vae decode %lldx%lld%s: working memory (activations + caches) %.1f MiB with fp32 convolution inputs "
               "(CPU), %.1f MiB with bf16 (CUDA)\n", (long long)o->width, (long long)o->height,
               o->tile ? ", tiled" : "", f32 / 1048576.0, bf16 / 1048576.0);
        if (o->json) {
            FILE *f = fopen(o->json, "w");
            if (!f) return rad_err(RADIAL_ERR_IO, "--json %s: cannot open for writing", o->json);
            fprintf(f, "{\"bench\":\"vae_plan\",\"width\":%lld,\"height\":%lld,\"tile\":%d,"
                       "\"work_bytes_f32\":%zu,\"work_bytes_bf16\":%zu}\n",
                    (long long)o->width, (long long)o->height, o->tile, f32, bf16);
            if (fclose(f)) return rad_err(RADIAL_ERR_IO, "--json %s: write failed", o->json);
        }
        return RAD_OK;
    }
    RAD_TRY(rad_backend_open(o->backend, 0, &r->be));
    RAD_TRY(rad_vae_load(r->be, r->w, &r->vae));
    rad_vae_set_conv_timing(r->vae, true); /* the per-convolution GFLOP/s this benchmark reports */
    const int64_t F = rad_vae_out_frames(r->vae, T), n_vid = 3 * F * o->height * o->width;
    RAD_TRY(rad_alloc((void **)&r->latent, (size_t)n_lat * sizeof(float), "latent"));
    RAD_TRY(rad_alloc((void **)&r->video, (size_t)n_vid * sizeof(float), "video"));
    uint64_t rng = 7;
    for (int64_t i = 0; i < n_lat; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        r->latent[i] = (float)(rng >> 40) / (float)(1 << 24) * 3.4641f - 1.7320f; /* unit variance */
    }
    double dt = 0, dt_tiled = 0, max_d = 0, sum_d = 0, num = 0, den = 0;
    RAD_TRY(decode_once(r, o, 0, r->video, &dt));
    const rad_vae_stats vs = rad_vae_last_stats(r->vae);
    /* The first decode makes the buffers and waits for each convolution to time it; a generation's decode does
     * neither, so the decode time is the median of --reps more without the per-convolution waits. */
    double warm[32], dt_warm = dt;
    rad_vae_set_conv_timing(r->vae, false);
    for (int i = 0; i < o->reps; i++) {
        const double t0 = rad_now();
        RAD_TRY(rad_vae_decode(r->vae, r->latent, T, H, W, r->video));
        warm[i] = rad_now() - t0;
    }
    rad_vae_set_conv_timing(r->vae, true);
    if (o->reps > 0) {
        dt_warm = bench_median(warm, o->reps);
        printf("vae decode: %.3f s (median of %d more decodes, without the first one's buffer allocation and "
               "per-convolution waits)\n", dt_warm, o->reps);
    }
    size_t tiled_peak = 0;
    if (o->profile) RAD_TRY(profiled_decode(r));
    if (o->tile) {
        RAD_TRY(rad_alloc((void **)&r->tiled, (size_t)n_vid * sizeof(float), "tiled video"));
        RAD_TRY(decode_once(r, o, o->tile, r->tiled, &dt_tiled));
        tiled_peak = rad_vae_last_stats(r->vae).work_peak_bytes;
        for (int64_t i = 0; i < n_vid; i++) {
            const double d = (double)r->tiled[i] - r->video[i];
            max_d = fabs(d) > max_d ? fabs(d) : max_d, sum_d += fabs(d);
            num += d * d, den += (double)r->video[i] * r->video[i];
        }
        printf("tiles of %d px vs whole frames: max |diff| %.4g, mean |diff| %.4g, relative L2 %.4g; working memory "
               "%.1f -> %.1f MiB, time %.2f -> %.2f s\n", o->tile, max_d, sum_d / (double)n_vid,
               den > 0 ? sqrt(num / den) : 0.0, vs.work_peak_bytes / 1048576.0, tiled_peak / 1048576.0, dt, dt_tiled);
    }
    if (o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) return rad_err(RADIAL_ERR_IO, "--json %s: cannot open for writing", o->json);
        fprintf(f, "{\"bench\":\"vae\",\"width\":%lld,\"height\":%lld,\"frames\":%lld,\"backend\":\"%s\","
                   "\"threads\":%d,\"seconds\":%.4f,\"first_seconds\":%.4f,\"reps\":%d,\"conv_seconds\":%.4f,\"conv_flops\":%.6g,"
                   "\"weight_bytes\":%zu,\"work_peak_bytes\":%zu,\"host_peak_bytes\":%zu",
                (long long)o->width, (long long)o->height, (long long)F, r->be->name, rad_get_threads(), dt_warm,
                dt, o->reps, vs.conv_seconds, vs.conv_flops, vs.weight_bytes, vs.work_peak_bytes, rad_mem_peak());
        if (o->tile)
            fprintf(f, ",\"tile\":%d,\"tiled_seconds\":%.4f,\"tiled_work_peak_bytes\":%zu,\"tile_max_abs_diff\":%.6g,"
                       "\"tile_mean_abs_diff\":%.6g,\"tile_rel_l2\":%.6g",
                    o->tile, dt_tiled, tiled_peak, max_d, sum_d / (double)n_vid, den > 0 ? sqrt(num / den) : 0.0);
        fprintf(f, "}\n");
        if (fclose(f)) return rad_err(RADIAL_ERR_IO, "--json %s: write failed", o->json);
    }
    return RAD_OK;
}

int bench_vae(int argc, char **argv) {
    bench_opts o = {.width = 832, .height = 480, .frames = 81, .base_dim = 96, .backend = RADIAL_BACKEND_CPU, .reps = 2};
    int threads = 0, tile_size = 256;
    bool tile = false, plan = false, profile = false;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &o.model, .arg = "PATH",
         .help = "the VAE to time (a vae/ folder, a diffusers root or the official file) instead of random weights"},
        {"--backend", NULL, CLI_CHOICE, .value = &o.backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--json", NULL, CLI_TEXT, .value = &o.json, .arg = "FILE", .help = "write the result as JSON"},
        {"--width", NULL, CLI_INT64, .value = &o.width, .min = 8, .max = 8192, .arg = "W",
         .help = "video width, a multiple of 8"},
        {"--height", NULL, CLI_INT64, .value = &o.height, .min = 8, .max = 8192, .arg = "H",
         .help = "video height, a multiple of 8"},
        {"--frames", NULL, CLI_INT64, .value = &o.frames, .min = 1, .max = 4097, .arg = "F",
         .help = "video frames, 4n+1; 81 are 21 latent frames"},
        {"--base-dim", NULL, CLI_INT64, .value = &o.base_dim, .min = 2, .max = 1024,
         .help = "random weights: the decoder's base dim, even; the default is Wan 2.1's"},
        {"--vae-tile", NULL, CLI_SWITCH, .value = &tile,
         .help = "after the whole-frame decode, decode in tiles (as generate --vae-tile) and print the difference"},
        {"--tile-size", NULL, CLI_INT, .value = &tile_size, .min = 32, .max = 65536, .arg = "PX",
         .help = "--vae-tile: tile size in pixels, a multiple of 32 (tiles overlap by a quarter)"},
        {"--plan", NULL, CLI_SWITCH, .value = &plan,
         .help = "print the working memory of the decode for fp32 and bf16 convolution inputs, without decoding"},
        {"--profile", NULL, CLI_SWITCH, .value = &profile,
         .help = "after the timed decode, one more with a profile attached: its time per VAE stage and op family"},
        {"--reps", NULL, CLI_INT, .value = &o.reps, .min = 0, .max = 32,
         .help = "decodes timed after the first (which allocates and times each convolution): their median is the "
                 "decode time"},
        {"--threads", NULL, CLI_INT, .value = &threads, .min = 0, .max = 256, .help = "CPU threads, 0 = all cores"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (o.base_dim % 2)
        return cli_usage_error(CMD, "--base-dim: expected an even number, found %lld", (long long)o.base_dim);
    if (tile_size % 32) return cli_usage_error(CMD, "--tile-size: expected a multiple of 32, found %d", tile_size);
    o.tile = tile ? tile_size : 0, o.plan = plan, o.profile = profile;
    rad_set_threads(threads);
    bench_run r = {0};
    rad_status st = run(&r, &o);
    rad_vae_free(r.vae);
    rad_weights_close(r.w);
    if (r.be) r.be->destroy(r.be);
    rad_free(r.latent);
    rad_free(r.video);
    rad_free(r.tiled);
    if (r.tmp[0]) unlink(r.tmp);
    return st == RAD_OK ? 0 : cli_error(CMD);
}
