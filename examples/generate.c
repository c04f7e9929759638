/* generate: a prompt to a video file through radial's public API (radial.h) and nothing else.
 *   generate MODEL_DIR "PROMPT" OUT.{mp4,y4m,png} [WIDTH HEIGHT FRAMES STEPS]
 * Build against an installed radial: cc generate.c $(pkg-config --cflags --libs radial) -o generate */
#include <radial.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *call, radial_status s) {
    fprintf(stderr, "generate: %s failed (%s): %s\n", call, radial_status_name(s), radial_last_error());
    return 1;
}

static int on_step(int step, int steps, double seconds, void *user_data) {
    (void)user_data;
    fprintf(stderr, "\rstep %d/%d (%.2f s)", step, steps, seconds); /* step counts from 1 */
    if (step == steps) fputc('\n', stderr);
    return 0; /* nonzero would cancel */
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 8) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT OUT.{mp4,y4m,png} [WIDTH HEIGHT FRAMES STEPS]\n", argv[0]);
        return 2;
    }
    printf("radial %s\n", radial_version());

    radial_gen_params g = radial_default_gen_params();
    g.prompt = argv[2];
    g.seed = 42;
    if (argc == 8) {
        g.width = atoi(argv[4]), g.height = atoi(argv[5]), g.frames = atoi(argv[6]), g.steps = atoi(argv[7]);
    }
    g.on_step = on_step;

    /* Check the output path before any work, then load (every model file is opened and checked here). */
    radial_write_params w = radial_default_write_params();
    radial_status s = radial_video_check_path(argv[3], g.frames, &w);
    if (s != RADIAL_OK) return fail("radial_video_check_path", s);
    radial_params p = radial_default_params();
    radial_ctx *ctx = NULL;
    if ((s = radial_init(argv[1], &p, &ctx)) != RADIAL_OK) return fail("radial_init", s);
    printf("backend: %s\n", radial_backend_info(ctx)); /* AUTO: the GPU when there is one, else the CPU */

    radial_video video = {0};
    radial_timings t;
    s = radial_generate(ctx, &g, &video, &t);
    radial_free(ctx);
    if (s != RADIAL_OK) return fail("radial_generate", s);

    s = radial_video_write(argv[3], &video, &w);
    if (s != RADIAL_OK) {
        radial_video_free(&video);
        return fail("radial_video_write", s);
    }
    printf("%s: %d frames of %dx%d, seed %lld\n", argv[3], video.frames, video.width, video.height,
           (long long)t.seed_used);
    printf("load %.2f s, text encoder %.2f s, denoise %.2f s (%.3f s/step), VAE %.2f s, total %.2f s, "
           "peak %.1f MiB\n", t.load_s, t.text_encoder_s, t.denoise_s, t.denoise_per_step_s, t.vae_s, t.total_s,
           (double)t.peak_bytes / (1024.0 * 1024.0));
    radial_video_free(&video);
    return 0;
}
