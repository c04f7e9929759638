/* radial eval pipeline: a whole generation as a reference case file describes it (the settings from its
 * __metadata__, the initial noise from its `noise` tensor); `usage` says what it reads and writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "cli_args.h"
#include "eval.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "pipeline/pipeline.h"
#include "vae/vae.h"

static const char *meta_or_fail(const rad_st_file *f, const char *key, const char *path) {
    const char *v = rad_st_meta(f, key);
    if (!v) fprintf(stderr, "radial eval pipeline: %s: __metadata__ has no '%s'\n", path, key);
    return v;
}

static const cli_usage usage = {
    .synopsis = "radial eval pipeline --model DIR --in CASE --out FILE [options]\n"
                "radial eval pipeline --dit FILE --t5 FILE --vae FILE --in CASE --out FILE [options]",
    .about = "Runs a whole generation as a reference case describes it. CASE holds noise [16, T, H/8, W/8] and "
             "__metadata__ prompt, negative_prompt, steps, shift, guidance, width, height, frames (optional: sampler "
             "unipc|unipc-diffusers|euler, timesteps, guidance_2; two experts come from the model folder). Writes frames_u8 "
             "[F, H, W, 3], video [3, F, H, W] (clamped to [-1, 1]) and frames_f32 [F, 3, H, W] in [0, 1].",
};

int eval_pipeline(int argc, char **argv) {
    const char *cmd = "eval pipeline", *model = NULL, *in = NULL, *out = NULL;
    radial_params rp = radial_default_params();
    int backend = rp.backend;
    static cli_loras loras;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model, .arg = "DIR",
         .help = "Wan 2.1 T2V model folder (diffusers, official or ComfyUI file names)"},
        {"--dit", NULL, CLI_TEXT, .value = &rp.dit, .arg = "FILE", .help = "the DiT file"},
        {"--t5", NULL, CLI_TEXT, .value = &rp.t5, .arg = "FILE", .help = "the umT5 text encoder file"},
        {"--vae", NULL, CLI_TEXT, .value = &rp.vae, .arg = "FILE", .help = "the VAE file"},
        {"--lora", NULL, CLI_LORA, .value = &loras,
         .help = "a LoRA for the DiT at strength STRENGTH (1.0 when not given); repeatable, stacked"},
        {"--in", NULL, CLI_TEXT, .value = &in, .arg = "CASE", .help = "the case file (safetensors) to read"},
        {"--out", NULL, CLI_TEXT, .value = &out, .arg = "FILE", .help = "the safetensors file to write"},
        {"--tokenizer", NULL, CLI_TEXT, .value = &rp.tokenizer, .arg = "PATH",
         .help = "spiece.model, when neither the folder nor the umT5 file has one"},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names,
         .help = "auto: the GPU when there is one"},
    };
    const int rc = cli_parse(cmd, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if ((!model && !(rp.dit && rp.t5 && rp.vae)) || !in || !out)
        return cli_usage_error(cmd, "--model (or --dit, --t5 and --vae), --in and --out are required");
    rp.backend = (radial_backend)backend;
    rp.loras = loras.items, rp.n_loras = loras.n;
    rad_st_file *cf;
    if (rad_st_open(in, &cf) != RAD_OK) return cli_error(cmd);
    radial_gen_params g = radial_default_gen_params();
    const char *keys[] = {"prompt", "negative_prompt", "steps", "shift", "guidance", "width", "height", "frames"};
    const char *vals[8];
    for (int k = 0; k < 8; k++)
        if (!(vals[k] = meta_or_fail(cf, keys[k], in))) {
            rad_st_close(cf);
            return 1;
        }
    long long steps, width, height, frames;
    double shift, guidance;
    if (!cli_int(cmd, "steps", vals[2], 1, 1000, &steps) || !cli_float(cmd, "shift", vals[3], 1e-3, 1e3, &shift) ||
        !cli_float(cmd, "guidance", vals[4], 0, 100, &guidance) ||
        !cli_int(cmd, "width", vals[5], 16, 8192, &width) || !cli_int(cmd, "height", vals[6], 16, 8192, &height) ||
        !cli_int(cmd, "frames", vals[7], 1, 4097, &frames)) {
        rad_st_close(cf);
        return 1;
    }
    g.prompt = vals[0], g.negative_prompt = vals[1];
    g.steps = (int)steps, g.shift = (float)shift, g.guidance = (float)guidance;
    /* Optional settings (radial_gen_params): the sampler by the CLI's names (the official UniPC when absent, as
     * the case format began), explicit unshifted timesteps, the low-noise expert's guidance. A value that cannot
     * be honoured is an error. */
    const char *sm = rad_st_meta(cf, "sampler"), *tsm = rad_st_meta(cf, "timesteps"), *g2 = rad_st_meta(cf, "guidance_2");
    static double ts[CLI_MAX_TIMESTEPS];
    double guidance_2 = 0;
    int known = 0;
    g.sampler = RADIAL_SAMPLER_UNIPC;
    for (int k = 0; sm && k < RADIAL_SAMPLER_AUTO; k++) /* a case names the sampler it was made with, never auto */
        if (!strcmp(sm, cli_sampler_names[k])) g.sampler = (radial_sampler)k, known = 1;
    if ((sm && !known) || (tsm && !cli_timesteps(cmd, "timesteps", tsm, ts, CLI_MAX_TIMESTEPS, &g.n_timesteps)) ||
        (g2 && !cli_float(cmd, "guidance_2", g2, 0, 100, &guidance_2))) {
        if (sm && !known) fprintf(stderr, "radial %s: %s: sampler '%s' is not unipc, unipc-diffusers or euler\n", cmd, in, sm);
        rad_st_close(cf);
        return 1;
    }
    if (tsm) g.timesteps = ts;
    if (g2) g.guidance_2 = (float)guidance_2;
    g.width = (int)width, g.height = (int)height, g.frames = (int)frames;

    float *noise = NULL, *video = NULL, *f01 = NULL;
    uint8_t *u8 = NULL;
    radial_ctx *ctx = NULL;
    const int T = (int)rad_latent_frames(g.frames);
    const int64_t want[4] = {RAD_LATENT_CHANNELS, T, g.height / RAD_VAE_SPACE_FACTOR, g.width / RAD_VAE_SPACE_FACTOR};
    const rad_st_tensor *nt;
    rad_status s = rad_st_read_f32(cf, "noise", &nt, &noise);
    if (s == RAD_OK && (nt->ndim != 4 || memcmp(nt->shape, want, sizeof want))) {
        char found[160], expected[160];
        rad_shape_str(nt->shape, nt->ndim, found, sizeof found);
        rad_shape_str(want, 4, expected, sizeof expected);
        s = rad_err(RADIAL_ERR_FORMAT, "%s: tensor 'noise' is %s, expected %s for %dx%d, %d frames", in, found,
                    expected, g.width, g.height, g.frames);
    }
    g.noise = noise;
    int F = 0;
    if (s == RAD_OK) s = radial_init(model, &rp, &ctx);
    if (s == RAD_OK) s = rad_pipeline_generate(ctx, &g, &video, &F, NULL);
    const size_t n_pix = (size_t)F * g.height * g.width;
    if (s == RAD_OK) s = rad_alloc((void **)&u8, n_pix * 3, "frames");
    if (s == RAD_OK) s = rad_alloc((void **)&f01, n_pix * 3 * sizeof(float), "frames in [0, 1]");
    if (s == RAD_OK) {
        rad_vae_to_u8(video, F, g.height, g.width, u8);
        for (size_t i = 0; i < 3 * n_pix; i++) video[i] = video[i] < -1.f ? -1.f : video[i] > 1.f ? 1.f : video[i];
        /* frames_f32 [F, 3, H, W] = (clamp(video) + 1) / 2, as diffusers' pipelines return frames */
        const size_t hw = (size_t)g.height * g.width;
        for (size_t c = 0; c < 3; c++)
            for (size_t f = 0; f < (size_t)F; f++)
                for (size_t p = 0; p < hw; p++) f01[(f * 3 + c) * hw + p] = (video[(c * (size_t)F + f) * hw + p] + 1.0f) / 2.0f;
        rad_st_out outs[3] = {
            {"frames_u8", RAD_DT_U8, 4, {F, g.height, g.width, 3}, u8},
            {"video", RAD_DT_F32, 4, {3, F, g.height, g.width}, video},
            {"frames_f32", RAD_DT_F32, 4, {F, 3, g.height, g.width}, f01},
        };
        s = rad_st_write(out, outs, 3, NULL, 0);
    }
    const int status = s == RAD_OK ? 0 : cli_error(cmd);
    radial_free(ctx);
    rad_free(noise);
    rad_free(video);
    rad_free(f01);
    rad_free(u8);
    rad_st_close(cf);
    return status;
}
