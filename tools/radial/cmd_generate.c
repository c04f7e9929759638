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
            "usage: radial generate --model DIR --prompt TEXT [options] -o OUTPUT\n\n"
            "  --model DIR            Wan 2.1 T2V model folder (diffusers or official layout)\n"
            "  --tokenizer PATH       spiece.model, when the model folder has none\n"
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
    long long v, fps = 16, crf = 18;
    double d;
    int quiet = !isatty(2);
    const char *prompt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
#define VALUE() \
    if (!(val = cli_value(cmd, argc, argv, &i))) return 2
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--model")) {
            VALUE();
            model = val;
        } else if (!strcmp(a, "--tokenizer")) {
            VALUE();
            rp.tokenizer = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            VALUE();
            prompt = val;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--negative-prompt")) {
            VALUE();
            g.negative_prompt = val;
        } else if (!strcmp(a, "-W") || !strcmp(a, "--width")) {
            VALUE();
            if (!cli_int(cmd, a, val, 16, 8192, &v)) return 2;
            g.width = (int)v;
        } else if (!strcmp(a, "-H") || !strcmp(a, "--height")) {
            VALUE();
            if (!cli_int(cmd, a, val, 16, 8192, &v)) return 2;
            g.height = (int)v;
        } else if (!strcmp(a, "--frames")) {
            VALUE();
            if (!cli_int(cmd, a, val, 1, 4097, &v)) return 2;
            g.frames = (int)v;
        } else if (!strcmp(a, "--steps")) {
            VALUE();
            if (!cli_int(cmd, a, val, 1, 1000, &v)) return 2;
            g.steps = (int)v;
        } else if (!strcmp(a, "--guidance") || !strcmp(a, "--cfg")) {
            VALUE();
            if (!cli_float(cmd, a, val, 0, 100, &d)) return 2;
            g.guidance = (float)d;
        } else if (!strcmp(a, "--shift")) {
            VALUE();
            if (!cli_float(cmd, a, val, 1e-3, 1000, &d)) return 2;
            g.shift = (float)d;
        } else if (!strcmp(a, "--seed")) {
            VALUE();
            if (!cli_int(cmd, a, val, -1, INT64_MAX, &v)) return 2;
            g.seed = v;
        } else if (!strcmp(a, "--sampler")) {
            VALUE();
            if (!strcmp(val, "unipc")) g.sampler = RADIAL_SAMPLER_UNIPC;
            else if (!strcmp(val, "euler")) g.sampler = RADIAL_SAMPLER_EULER;
            else {
                fprintf(stderr, "radial generate: --sampler: '%s' is not unipc or euler\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--attention")) {
            VALUE();
            if (!strcmp(val, "dense")) g.attention = RADIAL_ATTN_DENSE;
            else if (!strcmp(val, "radial")) g.attention = RADIAL_ATTN_RADIAL;
            else {
                fprintf(stderr, "radial generate: --attention: '%s' is not dense or radial\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--dense-steps")) {
            VALUE();
            if (!cli_int(cmd, a, val, 0, 1000, &v)) return 2;
            g.dense_steps = (int)v;
        } else if (!strcmp(a, "--dense-layers")) {
            VALUE();
            if (!cli_int(cmd, a, val, 0, 1000, &v)) return 2;
            g.dense_layers = (int)v;
        } else if (!strcmp(a, "--decay")) {
            VALUE();
            if (!cli_float(cmd, a, val, 1e-3, 1e3, &d)) return 2;
            g.decay = (float)d;
        } else if (!strcmp(a, "--backend")) {
            VALUE();
            if (!strcmp(val, "cpu")) rp.backend = RADIAL_BACKEND_CPU;
            else if (!strcmp(val, "cuda")) rp.backend = RADIAL_BACKEND_CUDA;
            else {
                fprintf(stderr, "radial generate: --backend: '%s' is not cpu or cuda\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--threads")) {
            VALUE();
            if (!cli_int(cmd, a, val, 0, 256, &v)) return 2;
            rp.n_threads = (int)v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            VALUE();
            output = val;
        } else if (!strcmp(a, "--fps")) {
            VALUE();
            if (!cli_int(cmd, a, val, 1, 240, &fps)) return 2;
        } else if (!strcmp(a, "--crf")) {
            VALUE();
            if (!cli_int(cmd, a, val, 0, 51, &crf)) return 2;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            fprintf(stderr, "radial generate: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef VALUE
    }
    if (!model || !prompt) {
        fprintf(stderr, "radial generate: --model and --prompt are required (see --help)\n");
        return 2;
    }
    g.prompt = prompt;
    if (g.seed < 0) g.seed = rad_random_seed();
    fprintf(stderr, "radial generate: seed %lld\n", (long long)g.seed); /* before the run: a crash keeps it */
    progress pr = {.quiet = quiet};
    g.on_step = on_step;
    g.user_data = &pr;

    if (!quiet) radial_set_log(NULL, NULL, RADIAL_LOG_INFO); /* stage messages before the progress bar */
    radial_ctx *ctx;
    if (radial_init(model, &rp, &ctx) != RADIAL_OK) {
        fprintf(stderr, "radial generate: %s\n", radial_last_error());
        return 1;
    }
    radial_video vid;
    radial_timings tm;
    radial_status s = radial_generate(ctx, &g, &vid, &tm);
    radial_free(ctx);
    if (s != RADIAL_OK) {
        fprintf(stderr, "radial generate: %s\n", radial_last_error());
        return 1;
    }
    if (rad_video_write(output, vid.data, vid.frames, vid.height, vid.width, (int)fps, (int)crf) != RADIAL_OK) {
        fprintf(stderr, "radial generate: %s\n", radial_last_error());
        radial_video_free(&vid);
        return 1;
    }
    printf("wrote %s: %d frames, %dx%d, %lld fps, seed %lld\n", output, vid.frames, vid.width, vid.height, fps,
           (long long)tm.seed_used);
    printf("time: text encoder %.2f s | denoising %.2f s (%.3f s/step) | VAE %.2f s | total %.2f s | peak memory %.1f MiB\n",
           tm.text_encoder_s, tm.denoise_s, tm.denoise_per_step_s, tm.vae_s, tm.total_s,
           (double)tm.peak_bytes / (1 << 20));
    radial_video_free(&vid);
    return 0;
}
