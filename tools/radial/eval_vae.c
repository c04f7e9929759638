/* radial eval vae: one Wan-VAE decode of a reference case's latent (tests/data/cases/vae_decode.safetensors);
 * `usage` says what it reads and writes. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/timer.h"
#include "cli_args.h"
#include "eval.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "vae/vae.h"

#define CMD "eval vae"

static const cli_usage usage = {
    .synopsis = "radial eval vae --model PATH --in CASE --out FILE [options]",
    .about = "Decodes CASE's latent [16, T, H, W] (normalised, as the sampler leaves it) with the Wan-VAE and writes "
             "video [3, 1+4(T-1), 8H, 8W] before clamping. Prints the decode time and the memory it used to stderr.",
};

typedef struct {
    rad_backend *be;
    rad_weights *w;
    rad_vae *vae;
    rad_st_file *in;
    float *latent, *video;
} vae_run;

static void run_free(vae_run *r) {
    rad_vae_free(r->vae);
    rad_weights_close(r->w);
    if (r->be) r->be->destroy(r->be);
    rad_st_close(r->in);
    rad_free(r->latent);
    rad_free(r->video);
}

static rad_status run_case(vae_run *r, const char *model, const char *in_path, const char *out_path, int backend) {
    RAD_TRY(rad_st_open(in_path, &r->in));
    const rad_st_tensor *lt;
    RAD_TRY(rad_st_read_f32(r->in, "latent", &lt, &r->latent));
    if (lt->ndim != 4 || lt->shape[0] != 16)
        return rad_err(RADIAL_ERR_FORMAT, "%s: 'latent' must be [16, T, H, W], found %d dims with %lld channels",
                       in_path, lt->ndim, lt->ndim ? (long long)lt->shape[0] : 0LL);
    const int64_t T = lt->shape[1], H = lt->shape[2], W = lt->shape[3];

    RAD_TRY(rad_backend_open(backend, 0, &r->be));
    RAD_TRY(rad_weights_open(model, RAD_COMP_VAE, &r->w));
    RAD_TRY(rad_vae_load(r->be, r->w, &r->vae));
    const int64_t F = rad_vae_out_frames(r->vae, T), sf = rad_vae_spatial_factor(r->vae);
    size_t bytes;
    const int64_t shape[4] = {3, F, sf * H, sf * W};
    RAD_TRY(rad_shape_bytes(shape, 4, sizeof(float), &bytes));
    RAD_TRY(rad_alloc((void **)&r->video, bytes, "video"));

    const double t0 = rad_now();
    RAD_TRY(rad_vae_decode(r->vae, r->latent, T, H, W, r->video));
    const double dt = rad_now() - t0;
    fprintf(stderr, "vae decode %lldx%lldx%lld -> %lld frames %lldx%lld: %.3f s, %d threads; weights %.1f MiB, "
                    "activations + caches peak %.1f MiB, host peak %.1f MiB\n",
            (long long)T, (long long)H, (long long)W, (long long)F, (long long)(sf * H), (long long)(sf * W), dt,
            rad_get_threads(), rad_vae_last_stats(r->vae).weight_bytes / 1048576.0,
            rad_vae_last_stats(r->vae).work_peak_bytes / 1048576.0,
            rad_mem_peak() / 1048576.0);
    const rad_st_out out = {.name = "video", .dtype = RAD_DT_F32, .ndim = 4, .shape = {3, F, sf * H, sf * W},
                            .data = r->video};
    const char *meta[] = {"component", "vae", "backend", r->be->name};
    return rad_st_write(out_path, &out, 1, meta, 2);
}

int eval_vae(int argc, char **argv) {
    eval_model_args a;
    const int rc = eval_model_args_parse(
        CMD, &usage, "a vae/ folder, a diffusers root or the official single file (Wan2.1_VAE as safetensors)", argc,
        argv, &a);
    if (rc >= 0) return rc;
    vae_run r = {0};
    rad_status st = run_case(&r, a.model, a.in, a.out, a.backend);
    run_free(&r);
    return st == RAD_OK ? 0 : cli_error(CMD);
}
