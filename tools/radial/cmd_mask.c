/* radial mask: builds the radial attention block mask for a video shape, prints its density and the attention
 * FLOPs it saves, and writes it as plain PBM (the golden files' format, byte for byte) or PNG. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/radial_mask.h"
#include "base/mem.h"
#include "io/file.h"
#include "video/video_writer.h"
#include "cli_args.h"
#include "commands.h"

static const char *CMD = "mask";

static const cli_usage usage = {
    .synopsis = "radial mask --latent-frames F --tokens-per-frame S [options] [-o FILE.pbm|FILE.png]\n"
                "radial mask --width W --height H --frames T [options] [-o FILE.pbm|FILE.png]",
    .about = "Builds the Radial Attention block mask (equal to the reference gen_log_mask_shrinked, model wan) and "
             "prints its density and the attention FLOPs it saves. The shape is F latent frames of S tokens, given "
             "so or derived from a video size as the pipeline does: W, H multiples of 16, T rounded down to 4n+1; "
             "F = (T-1)/4+1, S = (H/16)*(W/16).",
};

/* The decay as Python's repr() writes a float (the golden files' comment lines: 0.2, 1.0). */
static void format_decay(double v, char *buf, size_t size) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".einf")) strncat(buf, ".0", size - strlen(buf) - 1);
}

static int write_pbm(const char *path, const uint8_t *m, int32_t n, const rad_radial_cfg *cfg) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "radial %s: cannot create '%s': %s\n", CMD, path, strerror(errno));
        return 0;
    }
    char decay[40];
    format_decay(cfg->decay, decay, sizeof decay);
    fprintf(f, "P1\n# radial block mask: latent_frames=%lld tokens_per_frame=%lld decay=%s block=%d model=wan\n%d %d\n",
            (long long)cfg->frames, (long long)cfg->tokens_per_frame, decay, (int)cfg->block, (int)n, (int)n);
    for (int64_t r = 0; r < n; r++) {
        for (int64_t c = 0; c < n; c++) {
            putc(m[r * n + c] ? '1' : '0', f);
            putc(c + 1 < n ? ' ' : '\n', f);
        }
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "radial %s: error writing '%s'\n", CMD, path);
        return 0;
    }
    return 1;
}

/* Through the project's image writer (a one-frame video): grey as RGB, black = computed, white = skipped. */
static int write_png(const char *path, const uint8_t *m, int32_t n) {
    uint8_t *px;
    rad_status st = rad_alloc((void **)&px, (size_t)n * (size_t)n * 3, "mask image");
    if (st == RAD_OK) {
        for (int64_t k = 0; k < (int64_t)n * n; k++) px[3 * k] = px[3 * k + 1] = px[3 * k + 2] = m[k] ? 0 : 255;
        st = rad_video_write(path, px, 1, n, n, 1, 18);
        rad_free(px);
    }
    if (st != RAD_OK) cli_error(CMD);
    return st == RAD_OK;
}

int cmd_mask(int argc, char **argv) {
    int64_t frames = 0, tpf = 0, width = 0, height = 0, vframes = 0;
    int block = 128, heads = 12, head_dim = 128;
    double decay = 1.0;
    const char *out = NULL;
    const cli_flag flags[] = {
        {"--latent-frames", NULL, CLI_INT64, .value = &frames, .min = 1, .max = 1 << 20, .arg = "F",
         .help = "latent frames"},
        {"--tokens-per-frame", NULL, CLI_INT64, .value = &tpf, .min = 1, .max = 1LL << 32, .arg = "S",
         .help = "tokens per latent frame"},
        {"--width", NULL, CLI_INT64, .value = &width, .min = 16, .max = 65536, .arg = "W",
         .help = "video width, a multiple of 16 (as radial generate)"},
        {"--height", NULL, CLI_INT64, .value = &height, .min = 16, .max = 65536, .arg = "H",
         .help = "video height, a multiple of 16"},
        {"--frames", "--video-frames", CLI_INT64, .value = &vframes, .min = 1, .max = 1 << 20, .arg = "T",
         .help = "video frames, 4n+1; others become T//4*4+1 (as radial generate)"},
        {"--decay", NULL, CLI_DOUBLE, .value = &decay, .lo = 0.0, .hi = 1e6, .arg = "D",
         .help = "decay factor; the Wan scripts use 0.2"},
        {"--block", NULL, CLI_INT, .value = &block, .min = 1, .max = 1 << 16, .arg = "B",
         .help = "block edge in tokens"},
        {"--heads", NULL, CLI_INT, .value = &heads, .min = 1, .max = 1024,
         .help = "attention heads, for the FLOP count; the default is Wan2.1-1.3B's"},
        {"--head-dim", NULL, CLI_INT, .value = &head_dim, .min = 1, .max = 4096, .arg = "D",
         .help = "head dimension, for the FLOP count; the default is Wan2.1-1.3B's"},
        {"--output", "-o", CLI_TEXT, .value = &out, .arg = "FILE",
         .help = ".pbm: plain PBM, 1 = computed block, one row per line, with a comment line giving the "
                 "parameters; .png: one pixel per block, black = computed, white = skipped"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    int by_latent = frames || tpf, by_video = width || height || vframes;
    if (by_latent == by_video || (by_latent && !(frames && tpf)) || (by_video && !(width && height && vframes)))
        return cli_usage_error(CMD, "give either --latent-frames and --tokens-per-frame, or --width, --height and "
                                    "--frames");
    if (out && !rad_ends_with(out, ".pbm") && !rad_ends_with(out, ".png"))
        return cli_usage_error(CMD, "-o: '%s' must end in .pbm or .png", out);
    if (by_video) {
        if (vframes % 4 != 1) { /* as radial generate (and diffusers) do */
            const int64_t rounded = radial_output_frames((int)vframes);
            fprintf(stderr, "radial %s: frames must be 4n+1 for the VAE; using %lld instead of %lld (as radial generate)\n",
                    CMD, (long long)rounded, (long long)vframes);
            vframes = rounded;
        }
        if (rad_radial_video_dims(width, height, vframes, &frames, &tpf) != RAD_OK) {
            cli_error(CMD);
            return 2; /* a bad video size is bad usage */
        }
        printf("video %lldx%lld, %lld frames -> %lld latent frames x %lld tokens per frame\n", (long long)width,
               (long long)height, (long long)vframes, (long long)frames, (long long)tpf);
    }

    rad_radial_cfg cfg = {frames, tpf, decay, (int32_t)block};
    uint8_t *m;
    int32_t n;
    if (rad_radial_block_mask(&cfg, &m, &n) != RAD_OK) return cli_error(CMD);
    /* Computed blocks, and the token pairs they cover (the last block row/column may be partial). */
    const int64_t N = frames * tpf;
    rad_bsr layout;
    if (rad_bsr_from_mask(m, n, N, block, &layout) != RAD_OK) {
        rad_free(m);
        return cli_error(CMD);
    }
    const int64_t computed = layout.row_ptr[n];
    const double pairs = rad_bsr_pairs(&layout);
    rad_bsr_free(&layout);
    const double total = (double)n * (double)n, dense_pairs = (double)N * (double)N;
    const double per_pair = 4.0 * (double)head_dim * (double)heads; /* QKᵀ and PV: 2 FLOPs per MAC each */
    printf("mask: %lld latent frames x %lld tokens = %lld tokens, decay %g, block %d: %d x %d blocks%s\n",
           (long long)frames, (long long)tpf, (long long)N, decay, block, (int)n, (int)n,
           N % block ? " (last block row/column partial, dense)" : "");
    printf("computed blocks: %lld of %.0f (density %.4f, sparsity %.1f %%)\n", (long long)computed, total,
           (double)computed / total, 100.0 * (1.0 - (double)computed / total));
    printf("attention FLOPs per layer call (4 N^2 head_dim heads, %d heads x %d): dense %.4g TFLOP, radial "
           "%.4g TFLOP, saved %.1f %%\n",
           heads, head_dim, dense_pairs * per_pair * 1e-12, pairs * per_pair * 1e-12,
           100.0 * (1.0 - pairs / dense_pairs));
    int ok = 1;
    if (out) {
        ok = rad_ends_with(out, ".pbm") ? write_pbm(out, m, n, &cfg) : write_png(out, m, n);
        if (ok) printf("wrote %s\n", out);
    }
    rad_free(m);
    return ok ? 0 : 1;
}
