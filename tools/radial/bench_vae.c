/* radial bench vae: times one Wan-VAE decode of a random latent at a video size and reports the memory it held.
 * Without --model the decoder gets random weights at the Wan 2.1 shapes (--base-dim), written to a temporary
 * safetensors file, so the real cost can be measured without the real checkpoint. Measures; never asserts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/timer.h"
#include "bench.h"
#include "cli_args.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "vae/vae.h"

#define CMD "bench vae"

static const cli_usage usage = {
    .synopsis = "radial bench vae [--model PATH] [--width W --height H --frames F] [options]",
    .about = "Times one Wan-VAE decode of a random latent at a video size and reports the memory it held. Without "
             "--model the decoder gets random weights at the Wan 2.1 shapes (--base-dim), written to a temporary "
             "safetensors file, so the real cost can be measured without the real checkpoint.",
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
    float *latent, *video;
    char tmp[256];
} bench_run;

static rad_status run(bench_run *r, const char *model, int64_t width, int64_t height, int64_t frames,
                      int64_t base_dim, int backend, const char *json) {
    if ((frames - 1) % 4 || width % 8 || height % 8)
        return rad_err(RADIAL_ERR_INVALID_ARG, "frames must be 4n+1 and width, height multiples of 8 (got %lld, "
                       "%lldx%lld)", (long long)frames, (long long)width, (long long)height);
    if (!model) {
        const char *dir = getenv("TMPDIR");
        snprintf(r->tmp, sizeof r->tmp, "%s/radial_bench_vae_%ld.safetensors", dir ? dir : "/tmp", (long)getpid());
        const double t0 = rad_now();
        RAD_TRY(synth_write(base_dim, r->tmp));
        fprintf(stderr, "random VAE weights (base dim %lld) written in %.1f s\n", (long long)base_dim,
                rad_now() - t0);
        model = r->tmp;
    }
    RAD_TRY(rad_backend_open(backend, 0, &r->be));
    RAD_TRY(rad_weights_open(model, RAD_COMP_VAE, &r->w));
    RAD_TRY(rad_vae_load(r->be, r->w, &r->vae));
    const int64_t T = (frames - 1) / 4 + 1, H = height / 8, W = width / 8, n_lat = 16 * T * H * W;
    const int64_t F = rad_vae_out_frames(r->vae, T), n_vid = 3 * F * height * width;
    RAD_TRY(rad_alloc((void **)&r->latent, (size_t)n_lat * sizeof(float), "latent"));
    RAD_TRY(rad_alloc((void **)&r->video, (size_t)n_vid * sizeof(float), "video"));
    uint64_t rng = 7;
    for (int64_t i = 0; i < n_lat; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        r->latent[i] = (float)(rng >> 40) / (float)(1 << 24) * 3.4641f - 1.7320f; /* unit variance */
    }
    const double t0 = rad_now();
    RAD_TRY(rad_vae_decode(r->vae, r->latent, T, H, W, r->video));
    const double dt = rad_now() - t0;
    double sum = 0;
    for (int64_t i = 0; i < n_vid; i++) sum += fabs(r->video[i]);
    const double mib = 1048576.0;
    const rad_vae_stats vs = rad_vae_last_stats(r->vae);
    printf("vae decode %lldx%lld, %lld frames (%lld latent), backend %s, %d threads: %.2f s (%.2f s per latent "
           "frame); convs %.3g FLOP in %.2f s (%.0f GFLOP/s); weights %.1f MiB, activations + caches peak "
           "%.1f MiB, host peak %.1f MiB; mean |x| %.3f\n",
           (long long)width, (long long)height, (long long)F, (long long)T, r->be->name, rad_get_threads(), dt,
           dt / (double)T, vs.conv_flops, vs.conv_seconds, vs.conv_flops / vs.conv_seconds * 1e-9,
           vs.weight_bytes / mib, vs.work_peak_bytes / mib,
           rad_mem_peak() / mib, sum / (double)n_vid);
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) return rad_err(RADIAL_ERR_IO, "--json %s: cannot open for writing", json);
        fprintf(f, "{\"bench\":\"vae\",\"width\":%lld,\"height\":%lld,\"frames\":%lld,\"backend\":\"%s\","
                   "\"threads\":%d,\"seconds\":%.4f,\"conv_seconds\":%.4f,\"conv_flops\":%.6g,"
                   "\"weight_bytes\":%zu,\"work_peak_bytes\":%zu,\"host_peak_bytes\":%zu}\n",
                (long long)width, (long long)height, (long long)F, r->be->name, rad_get_threads(), dt,
                vs.conv_seconds, vs.conv_flops, vs.weight_bytes, vs.work_peak_bytes, rad_mem_peak());
        if (fclose(f)) return rad_err(RADIAL_ERR_IO, "--json %s: write failed", json);
    }
    return RAD_OK;
}

int bench_vae(int argc, char **argv) {
    const char *model = NULL, *json = NULL;
    int64_t width = 832, height = 480, frames = 81, base_dim = 96;
    int backend = RADIAL_BACKEND_CPU, threads = 0;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "PATH",
         .help = "the VAE to time (a vae/ folder, a diffusers root or the official file) instead of random weights"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
        {"--json", NULL, CLI_TEXT, .value = &json, .arg = "FILE", .help = "write the result as JSON"},
        {"--width", NULL, CLI_INT64, .value = &width, .min = 8, .max = 8192, .arg = "W",
         .help = "video width, a multiple of 8"},
        {"--height", NULL, CLI_INT64, .value = &height, .min = 8, .max = 8192, .arg = "H",
         .help = "video height, a multiple of 8"},
        {"--frames", NULL, CLI_INT64, .value = &frames, .min = 1, .max = 4097, .arg = "F",
         .help = "video frames, 4n+1; 81 are 21 latent frames"},
        {"--base-dim", NULL, CLI_INT64, .value = &base_dim, .min = 2, .max = 1024,
         .help = "random weights: the decoder's base dim, even; the default is Wan 2.1's"},
        {"--threads", NULL, CLI_INT, .value = &threads, .min = 0, .max = 256, .help = "CPU threads, 0 = all cores"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (base_dim % 2)
        return cli_usage_error(CMD, "--base-dim: expected an even number, found %lld", (long long)base_dim);
    rad_set_threads(threads);
    bench_run r = {0};
    rad_status st = run(&r, model, width, height, frames, base_dim, backend, json);
    rad_vae_free(r.vae);
    rad_weights_close(r.w);
    if (r.be) r.be->destroy(r.be);
    rad_free(r.latent);
    rad_free(r.video);
    if (r.tmp[0]) unlink(r.tmp);
    return st == RAD_OK ? 0 : cli_error(CMD);
}
