/* radial generate: text to video with the diffusers/Wan defaults. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_args.h"
#include "commands.h"
#include "pipeline/pipeline.h"
#include "radial.h"
#include "video/video_writer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: radial generate --model DIR --prompt TEXT [options] -o OUTPUT\n"
            "       radial generate --dit FILE --t5 FILE --vae FILE --prompt TEXT [options] -o OUTPUT\n\n"
            "  --model DIR            Wan 2.1 T2V model folder (diffusers, official or ComfyUI file names)\n"
            "  --dit FILE             the DiT file (safetensors: bf16/fp16/fp32/fp8, scaled fp8; or GGUF)\n"
            "  --t5 FILE              the umT5 text encoder file\n"
            "  --vae FILE             the VAE file\n"
            "  --tokenizer PATH       spiece.model, when neither the folder nor the umT5 file has one\n"
            "  --lora FILE[:S]        a LoRA for the DiT at strength S (default 1.0); repeatable, stacked\n"
            "  -p, --prompt TEXT      what to generate\n"
            "  -n, --negative-prompt TEXT\n"
            "                         what to avoid; default: Wan's official negative prompt; \"\" for none\n"
            "  -W, --width N          multiple of 16 (default 832)\n"
            "  -H, --height N         multiple of 16 (default 480)\n"
            "  --frames N             4n+1, others are rounded down (default 81)\n"
            "  --steps N              denoising steps (default 50)\n"
            "  --guidance G           classifier-free guidance scale; 1 disables CFG (default 5.0)\n"
            "  --shift S              flow-matching sigma shift (default 5.0)\n"
            "  --seed N               -1 = random, printed (default -1)\n"
            "  --sampler unipc|euler  (default unipc: the official FlowUniPCMultistepScheduler)\n"
            "  --attention dense|radial  self-attention (default dense)\n"
            "  --dense-steps N        radial: first N steps dense (default 12)\n"
            "  --dense-layers N       radial: first N blocks dense (default 1)\n"
            "  --decay D              radial mask decay factor (default 1.0)\n"
            "  --backend cpu|cuda     (default cpu)\n"
            "  --threads N            CPU threads, 0 = all cores (default 0)\n"
            "  -o, --output PATH      out.mp4 | frames_%%03d.png | out.y4m (default out.mp4)\n"
            "  --fps N                output frame rate (default 16)\n"
            "  --crf N                H.264 quality, 0-51, lower is better (default 18)\n"
            "  -q, --quiet            no progress bar\n");
}

typedef struct {
    int quiet;
    double started;
} progress;

static int on_step(int step, int steps, double seconds, void *user) {
    progress *p = user;
    if (p->quiet) return 0;
    p->started += seconds;
    double per = p->started / step, eta = per * (steps - step);
    int width = 30, done = step * width / steps;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\rstep %d/%d [%s] %.2f s/it, ETA %d:%02d  ", step, steps, bar, per, (int)eta / 60,
            (int)eta % 60);
    if (step == steps) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate", *model = NULL, *output = "out.mp4";
    radial_params rp = radial_default_params();
    radial_gen_params g = radial_default_gen_params();
    g.prompt = NULL; /* required */
    int fps = 16, crf = 18, sampler = g.sampler, attention = g.attention, backend = rp.backend;
    bool quiet = !isatty(2);
    static const char *const samplers[] = {"unipc", "euler", NULL};    /* radial_sampler order */
    static cli_loras loras;
    const cli_flag flags[] = {
        {"--model", NULL, CLI_TEXT, .value = &model},
        {"--dit", NULL, CLI_TEXT, .value = &rp.dit},
        {"--t5", NULL, CLI_TEXT, .value = &rp.t5},
        {"--vae", NULL, CLI_TEXT, .value = &rp.vae},
        {"--lora", NULL, CLI_LORA, .value = &loras},
        {"--tokenizer", NULL, CLI_TEXT, .value = &rp.tokenizer},
        {"--prompt", "-p", CLI_TEXT, .value = &g.prompt},
        {"--negative-prompt", "-n", CLI_TEXT, .value = &g.negative_prompt},
        {"--width", "-W", CLI_INT, .value = &g.width, .min = 16, .max = 8192},
        {"--height", "-H", CLI_INT, .value = &g.height, .min = 16, .max = 8192},
        {"--frames", NULL, CLI_INT, .value = &g.frames, .min = 1, .max = 4097},
        {"--steps", NULL, CLI_INT, .value = &g.steps, .min = 1, .max = 1000},
        {"--guidance", "--cfg", CLI_FLOAT, .value = &g.guidance, .lo = 0, .hi = 100},
        {"--shift", NULL, CLI_FLOAT, .value = &g.shift, .lo = 1e-3, .hi = 1000},
        {"--seed", NULL, CLI_INT64, .value = &g.seed, .min = -1, .max = INT64_MAX},
        {"--sampler", NULL, CLI_CHOICE, .value = &sampler, .choices = samplers},
        {"--attention", NULL, CLI_CHOICE, .value = &attention, .choices = cli_attention_names},
        {"--dense-steps", NULL, CLI_INT, .value = &g.dense_steps, .min = 0, .max = 1000},
        {"--dense-layers", NULL, CLI_INT, .value = &g.dense_layers, .min = 0, .max = 1000},
        {"--decay", NULL, CLI_FLOAT, .value = &g.decay, .lo = 1e-3, .hi = 1e3},
        {"--backend", NULL, CLI_CHOICE, .value = &backend, .choices = cli_backend_names},
        {"--threads", NULL, CLI_INT, .value = &rp.n_threads, .min = 0, .max = 256},
        {"--output", "-o", CLI_TEXT, .value = &output},
        {"--fps", NULL, CLI_INT, .value = &fps, .min = 1, .max = 240},
        {"--crf", NULL, CLI_INT, .value = &crf, .min = 0, .max = 51},
        {"--quiet", "-q", CLI_SWITCH, .value = &quiet},
    };
    const int rc = cli_parse(cmd, usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if ((!model && !(rp.dit && rp.t5 && rp.vae)) || !g.prompt) {
        fprintf(stderr, "radial %s: --model (or --dit, --t5 and --vae) and --prompt are required (see radial %s --help)\n",
                cmd, cmd);
        return 2;
    }
    rp.loras = loras.items, rp.n_loras = loras.n;
    g.sampler = (radial_sampler)sampler;
    g.attention = (radial_attention)attention;
    rp.backend = (radial_backend)backend;
    if (g.seed < 0) g.seed = rad_random_seed();
    fprintf(stderr, "radial generate: seed %lld\n", (long long)g.seed); /* before the run: a crash keeps it */
    progress pr = {.quiet = quiet};
    g.on_step = on_step;
    g.user_data = &pr;

    if (!quiet) radial_set_log(NULL, NULL, RADIAL_LOG_INFO); /* stage messages before the progress bar */
    radial_ctx *ctx;
    if (radial_init(model, &rp, &ctx) != RADIAL_OK) return cli_error(cmd);
    radial_video vid;
    radial_timings tm;
    radial_status s = radial_generate(ctx, &g, &vid, &tm);
    radial_free(ctx);
    if (s != RADIAL_OK) return cli_error(cmd);
    if (rad_video_write(output, vid.data, vid.frames, vid.height, vid.width, fps, crf) != RADIAL_OK) {
        radial_video_free(&vid);
        return cli_error(cmd);
    }
    printf("wrote %s: %d frames, %dx%d, %d fps, seed %lld\n", output, vid.frames, vid.width, vid.height, fps,
           (long long)tm.seed_used);
    printf("time: text encoder %.2f s | denoising %.2f s (%.3f s/step) | VAE %.2f s | total %.2f s | peak memory %.1f MiB\n",
           tm.text_encoder_s, tm.denoise_s, tm.denoise_per_step_s, tm.vae_s, tm.total_s,
           (double)tm.peak_bytes / (1 << 20));
    printf("load: %.2f GB of weights in %.2f s (%.2f GB/s; part of the times above)\n", (double)tm.load_bytes / 1e9,
           tm.load_s, tm.load_s > 0 ? (double)tm.load_bytes / 1e9 / tm.load_s : 0.0);
    if (tm.lora_modules) printf("LoRA: %d modules merged\n", tm.lora_modules);
    radial_video_free(&vid);
    return 0;
}
