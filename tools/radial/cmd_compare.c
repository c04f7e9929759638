/* radial compare A B: the fidelity of video B to video A, per frame and overall: PSNR, SSIM on luma and on RGB,
 * max and mean absolute difference (src/video/compare.h has the definitions; src/video/video_reader.h the
 * formats). Text by default, JSON with --json. */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threads.h"
#include "cli_args.h"
#include "commands.h"
#include "video/compare_videos.h"

#define CMD "compare"

static const cli_usage usage = {
    .synopsis = "radial compare A B [options]",
    .about =
        "Compares video B with video A frame by frame: PSNR (peak 255; inf when the frames are equal), SSIM on "
        "luma and on RGB (Wang et al. 2004 as skimage's structural_similarity with gaussian_weights=True, sigma 1.5, "
        "use_sample_covariance=False, data_range 255: an 11x11 Gaussian window, K1 0.01, K2 0.03; RGB is the mean "
        "of the three channels' SSIM; luma is Y = 0.299 R + 0.587 G + 0.114 B, BT.601, unrounded), and the max and "
        "mean absolute difference in 8-bit levels. The overall PSNR comes from the mean squared error of the whole "
        "video; the overall SSIMs and mean difference are means over frames.\n"
        "A and B may be MP4 (or MOV, MKV, WebM, AVI: decoded with FFmpeg), Y4M (4:4:4, 4:2:2, 4:2:0, mono; BT.601, "
        "the range from XCOLORRANGE, limited when absent; subsampled chroma replicated, as ffmpeg's default "
        "conversion to rgb24 does, for MP4 too), PNG frames given as a pattern like frame_%04d.png "
        "(numbered from 0, or from 1 when there is no frame 0), a single PNG, or a `radial eval` output "
        "(.safetensors): its tensor video [3, F, H, W] in [-1, 1] is compared in float, clamped to [-1, 1] and "
        "mapped by (x + 1) / 2 * 255 without rounding, so PSNR and SSIM are those of the float video with data "
        "range 2; frames_u8 and frames_f32 [F, 3, H, W] in [0, 1] are read too (--tensor, --tensor-b). The formats "
        "may differ; the width, height and frame count must not.\n"
        "In JSON, a PSNR that is infinite (mse 0) is null, and SSIM is null for frames smaller than 11x11. "
        "Exit status: 0 compared, 1 a file could not be read or the sizes differ, 2 bad usage.",
};

/* PSNR as text: "inf" when infinite. */
static void fmt_psnr(double v, char *buf, size_t size) {
    if (isinf(v))
        snprintf(buf, size, "inf");
    else
        snprintf(buf, size, "%.3f", v);
}

static void fmt_ssim(double v, char *buf, size_t size) {
    if (isnan(v))
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, "%.6f", v);
}

static void print_row(const char *label, double psnr, double psnr_y, double ssim_y, double ssim_rgb, double max_abs,
                      double mean_abs) {
    char p[32], py[32], sy[32], s[32];
    fmt_psnr(psnr, p, sizeof p);
    fmt_psnr(psnr_y, py, sizeof py);
    fmt_ssim(ssim_y, sy, sizeof sy);
    fmt_ssim(ssim_rgb, s, sizeof s);
    printf("%-7s %10s %10s %9s %9s %8.6g %9.4f\n", label, p, py, sy, s, max_abs, mean_abs);
}

static void print_text(const char *a, const rad_video_info *ia, const char *b, const rad_video_info *ib,
                       const rad_cmp_frame *fr, const rad_cmp_summary *s, bool summary) {
    printf("A: %s: %s; %dx%d (WxH), %lld frames\n", a, ia->format, ia->width, ia->height, (long long)s->frames);
    printf("B: %s: %s\n", b, ib->format);
    printf("%-7s %10s %10s %9s %9s %8s %9s\n", "frame", "PSNR dB", "PSNR-Y dB", "SSIM-Y", "SSIM-RGB", "max|d|",
           "mean|d|");
    for (int64_t t = 0; !summary && t < s->frames; t++) {
        char label[24];
        snprintf(label, sizeof label, "%lld", (long long)t);
        print_row(label, fr[t].psnr, fr[t].psnr_y, fr[t].ssim_y, fr[t].ssim_rgb, fr[t].max_abs, fr[t].mean_abs);
    }
    print_row("all", s->psnr, s->psnr_y, s->ssim_y, s->ssim_rgb, s->max_abs, s->mean_abs);
    char p[32], ss[32];
    fmt_psnr(s->psnr_min, p, sizeof p);
    fmt_ssim(s->ssim_rgb_min, ss, sizeof ss);
    if (s->frames > 1)
        printf("worst frame: PSNR %s dB (frame %lld), SSIM-RGB %s (frame %lld)\n", p, (long long)s->psnr_min_frame, ss,
               (long long)s->ssim_rgb_min_frame);
    if (!rad_ssim_defined(ia->width, ia->height))
        printf("SSIM: n/a, the frames are smaller than its %dx%d window\n", RAD_SSIM_WINDOW, RAD_SSIM_WINDOW);
}

/* A number, or null when it is not finite (an infinite PSNR, an undefined SSIM). */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *input_json(const char *path, const rad_video_info *in) {
    return json_pack("{s:s, s:s, s:i, s:i, s:I}", "path", path, "format", in->format, "width", in->width, "height",
                     in->height, "frames", (json_int_t)in->frames);
}

static int write_json(const char *out, const char *a, const rad_video_info *ia, const char *b,
                      const rad_video_info *ib, const rad_cmp_frame *fr, const rad_cmp_summary *s) {
    json_t *root = json_object(), *frames = json_array(), *all = json_object();
    json_object_set_new(root, "a", input_json(a, ia));
    json_object_set_new(root, "b", input_json(b, ib));
    json_object_set_new(root, "definitions",
                        json_pack("{s:f, s:s, s:s, s:{s:i, s:f, s:f, s:f, s:f, s:b}}", "peak", RAD_CMP_PEAK,
                                  "psnr_null", "infinite: mse is 0", "luma", "BT.601 Y = 0.299 R + 0.587 G + 0.114 B",
                                  "ssim", "window", RAD_SSIM_WINDOW, "sigma", RAD_SSIM_SIGMA, "k1", RAD_SSIM_K1, "k2",
                                  RAD_SSIM_K2, "data_range", RAD_CMP_PEAK, "defined",
                                  rad_ssim_defined(ia->width, ia->height)));
    json_object_set_new(all, "mse", json_real(s->mse));
    json_object_set_new(all, "psnr", num(s->psnr));
    json_object_set_new(all, "mse_y", json_real(s->mse_y));
    json_object_set_new(all, "psnr_y", num(s->psnr_y));
    json_object_set_new(all, "ssim_y", num(s->ssim_y));
    json_object_set_new(all, "ssim_rgb", num(s->ssim_rgb));
    json_object_set_new(all, "ssim_r", num(s->ssim_c[0]));
    json_object_set_new(all, "ssim_g", num(s->ssim_c[1]));
    json_object_set_new(all, "ssim_b", num(s->ssim_c[2]));
    json_object_set_new(all, "max_abs", json_real(s->max_abs));
    json_object_set_new(all, "mean_abs", json_real(s->mean_abs));
    json_object_set_new(all, "psnr_min", num(s->psnr_min));
    json_object_set_new(all, "psnr_min_frame", json_integer((json_int_t)s->psnr_min_frame));
    json_object_set_new(all, "ssim_rgb_min", num(s->ssim_rgb_min));
    json_object_set_new(all, "ssim_rgb_min_frame", json_integer((json_int_t)s->ssim_rgb_min_frame));
    json_object_set_new(root, "overall", all);
    for (int64_t t = 0; t < s->frames; t++) {
        const rad_cmp_frame *f = &fr[t];
        json_t *o = json_object();
        json_object_set_new(o, "frame", json_integer((json_int_t)t));
        json_object_set_new(o, "mse", json_real(f->mse));
        json_object_set_new(o, "psnr", num(f->psnr));
        json_object_set_new(o, "mse_y", json_real(f->mse_y));
        json_object_set_new(o, "psnr_y", num(f->psnr_y));
        json_object_set_new(o, "ssim_y", num(f->ssim_y));
        json_object_set_new(o, "ssim_rgb", num(f->ssim_rgb));
        json_object_set_new(o, "ssim_r", num(f->ssim_c[0]));
        json_object_set_new(o, "ssim_g", num(f->ssim_c[1]));
        json_object_set_new(o, "ssim_b", num(f->ssim_c[2]));
        json_object_set_new(o, "max_abs", json_real(f->max_abs));
        json_object_set_new(o, "mean_abs", json_real(f->mean_abs));
        json_array_append_new(frames, o);
    }
    json_object_set_new(root, "frames", frames);
    const size_t flags = JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(12);
    int rc;
    if (!strcmp(out, "-")) {
        rc = json_dumpf(root, stdout, flags);
        if (rc == 0) rc = fputc('\n', stdout) == EOF ? -1 : 0;
    } else {
        rc = json_dump_file(root, out, flags);
    }
    json_decref(root);
    if (rc != 0) {
        fprintf(stderr, "radial %s: cannot write the JSON to %s\n", CMD, out);
        return 1;
    }
    return 0;
}

int cmd_compare(int argc, char **argv) {
    const char *a = NULL, *b = NULL, *json = NULL, *tensor = NULL, *tensor_b = NULL;
    bool summary = false;
    int threads = 0;
    const cli_flag flags[] = {
        {NULL, NULL, CLI_TEXT, .value = &a, .arg = "A", .help = "the reference video"},
        {NULL, NULL, CLI_TEXT, .value = &b, .arg = "B", .help = "the video compared with it"},
        {"--json", NULL, CLI_TEXT, .value = &json, .arg = "FILE",
         .help = "also write the results as JSON to FILE; '-' writes them to stdout instead of the text"},
        {"--tensor", NULL, CLI_TEXT, .value = &tensor, .arg = "NAME",
         .help = "the tensor of a .safetensors input: video, frames_u8 or frames_f32; when not given, the first of "
                 "these the file holds"},
        {"--tensor-b", NULL, CLI_TEXT, .value = &tensor_b, .arg = "NAME",
         .help = "B's tensor, when it is not --tensor's (video against frames_u8: the float output against its "
                 "8-bit frames)"},
        {"--summary", NULL, CLI_SWITCH, .value = &summary, .help = "print the overall line only, not each frame's"},
        {"--threads", NULL, CLI_INT, .value = &threads, .min = 0, .max = 256, .help = "CPU threads, 0 = all cores"},
    };
    const int rc = cli_parse(CMD, &usage, flags, CLI_N(flags), argc, argv);
    if (rc >= 0) return rc;
    if (!a || !b) return cli_usage_error(CMD, "two videos are required: radial compare A B");
    rad_set_threads(threads);
    rad_cmp_result res;
    if (rad_cmp_videos(a, b, tensor, tensor_b ? tensor_b : tensor, &res) != RAD_OK) return cli_error(CMD);
    const bool json_stdout = json && !strcmp(json, "-");
    if (!json_stdout) print_text(a, &res.a, b, &res.b, res.frames, &res.summary, summary);
    const int status = json ? write_json(json, a, &res.a, b, &res.b, res.frames, &res.summary) : 0;
    rad_cmp_result_free(&res);
    return status;
}
