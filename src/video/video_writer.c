/* Writing a video: radial_default_write_params, radial_video_check_path, radial_video_write and the internal
 * rad_video_write (all one implementation, rad_video_write_ex). The checks come from output_check.c, the
 * atomic placement of each file from atomic_file.c, the encoding from the per-format writers (formats.h); the
 * rules for temporary files and for a PNG sequence that fails part-way are in video_writer.h. */
#include "video/video_writer.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "video/atomic_file.h"
#include "video/formats.h"
#include "video/output_path.h"

radial_write_params radial_default_write_params(void) {
    radial_write_params p;
    memset(&p, 0, sizeof p);
    p.fps = 16;
    p.crf = 18;
    return p;
}

rad_status rad_write_poll_cancel(const radial_write_params *p, const char *dest, int t, int T) {
    if (p->cancel && p->cancel(p->user_data))
        return rad_err(RADIAL_ERR_CANCELLED, "%s: writing cancelled after %d of %d frames; no file was written or "
                                             "changed", dest, t, T);
    return RAD_OK;
}

radial_status radial_video_check_path(const char *path, int frames, const radial_write_params *params) {
    radial_write_params defaults = radial_default_write_params();
    const radial_write_params *p = params ? params : &defaults;
    rad_output o;
    RAD_TRY(rad_output_parse(path, frames, p, &o));
    return rad_output_check_files(&o, frames, p->no_overwrite, 1);
}

/* One file (MP4, Y4M, a single PNG): temporary file, encode, fsync, cancel poll, rename. */
static rad_status write_single(const rad_output *o, const uint8_t *frames, int T, int H, int W,
                               const radial_write_params *p) {
    rad_png_texts *texts = NULL;
    if (o->kind == RAD_OUT_PNG) RAD_TRY(rad_png_texts_make(o->path, p->meta, p->n_meta, &texts));
    rad_atomic a;
    rad_status st = rad_atomic_begin(&a, o->path);
    FILE *f = NULL;
    if (st == RAD_OK && o->kind != RAD_OUT_MP4) st = rad_atomic_stdio(&a, &f);
    if (st == RAD_OK) {
        switch (o->kind) {
        case RAD_OUT_MP4: st = rad_write_mp4(a.tmp, o->path, frames, T, H, W, p); break;
        case RAD_OUT_Y4M: st = rad_write_y4m(f, o->path, frames, T, H, W, p); break;
        default:
            st = rad_write_poll_cancel(p, o->path, 0, T);
            if (st == RAD_OK) st = rad_write_png(f, o->path, frames, H, W, texts);
            break;
        }
    }
    if (st == RAD_OK) st = rad_atomic_finish(&a);
    if (st == RAD_OK) st = rad_write_poll_cancel(p, o->path, T, T);
    bool replaced;
    if (st == RAD_OK) st = rad_atomic_place(&a, p->no_overwrite != 0, &replaced);
    if (st == RAD_OK) rad_fsync_dir(a.dir);
    rad_atomic_discard(&a); /* removes the temporary file unless it was renamed into place */
    rad_png_texts_free(texts);
    return st;
}

/* A PNG pattern: every frame to its temporary file, then every rename (see video_writer.h for the rules). */
static rad_status write_sequence(const rad_output *o, const uint8_t *frames, int T, int H, int W,
                                 const radial_write_params *p) {
    rad_png_texts *texts = NULL;
    RAD_TRY(rad_png_texts_make(o->path, p->meta, p->n_meta, &texts));
    rad_atomic *files = calloc((size_t)T, sizeof *files);
    bool *replaced = calloc((size_t)T, sizeof *replaced);
    if (!files || !replaced) {
        free(files);
        free(replaced);
        rad_png_texts_free(texts);
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for %d frame files", o->path, T);
    }
    const size_t frame_bytes = (size_t)H * (size_t)W * 3;
    char file[PATH_MAX];
    rad_status st = RAD_OK;
    for (int t = 0; st == RAD_OK && t < T; t++) {
        st = rad_write_poll_cancel(p, o->path, t, T);
        if (st != RAD_OK) break;
        st = rad_output_file(o, t, file, sizeof file);
        if (st == RAD_OK) st = rad_atomic_begin(&files[t], file);
        FILE *f = NULL;
        if (st == RAD_OK) st = rad_atomic_stdio(&files[t], &f);
        if (st == RAD_OK) st = rad_write_png(f, file, frames + (size_t)t * frame_bytes, H, W, texts);
        if (st == RAD_OK) st = rad_atomic_finish(&files[t]);
        if (st != RAD_OK) st = rad_err_prefix(st, "frame %d of %d (pattern %s), nothing changed: ", t, T, o->path);
    }
    if (st == RAD_OK) st = rad_write_poll_cancel(p, o->path, T, T);
    int placed = 0;
    for (int t = 0; st == RAD_OK && t < T; t++) {
        st = rad_atomic_place(&files[t], p->no_overwrite != 0, &replaced[t]);
        if (st == RAD_OK) placed = t + 1;
    }
    if (st != RAD_OK && placed > 0) {
        int kept = 0;
        for (int t = 0; t < placed; t++) {
            if (replaced[t])
                kept++;
            else
                rad_atomic_unplace(&files[t]);
        }
        char note[96] = "";
        if (kept) snprintf(note, sizeof note, "; %d that replaced an older file keep the new frame", kept);
        st = rad_err_prefix(st, "putting frame %d of %d (pattern %s) in place failed, so the %d frame file(s) placed "
                                "before it were taken back (removed where new%s): ", placed, T, o->path, placed, note);
    }
    for (int t = 0; t < placed; t++)
        if (t == 0 || strcmp(files[t].dir, files[t - 1].dir)) rad_fsync_dir(files[t].dir);
    for (int t = 0; t < T; t++) rad_atomic_discard(&files[t]);
    free(files);
    free(replaced);
    rad_png_texts_free(texts);
    return st;
}

rad_status rad_video_write_ex(const char *path, const uint8_t *frames, int T, int H, int W,
                              const radial_write_params *params) {
    radial_write_params defaults = radial_default_write_params();
    const radial_write_params *p = params ? params : &defaults;
    rad_output o;
    RAD_TRY(rad_output_parse(path, T, p, &o));
    if (!frames) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no frames given", path);
    if (H < 1 || W < 1 || H > RAD_VIDEO_MAX_SIDE || W > RAD_VIDEO_MAX_SIDE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: frame size %dx%d (WxH) is outside [1, %d]", path, W, H,
                       RAD_VIDEO_MAX_SIDE);
    int64_t shape[4] = {T, H, W, 3};
    size_t bytes;
    RAD_TRY(rad_shape_bytes(shape, 4, 1, &bytes)); /* cannot overflow with the bounds above; kept as a guard */
    if (o.kind == RAD_OUT_MP4 && (H % 2 || W % 2))
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "%s: H.264 yuv420p needs an even width and height, got %dx%d (WxH); crop the frames or "
                       "write .y4m / frames_%%03d.png", path, W, H);
    /* no_overwrite is checked here, before anything is written, and again by each rename (race-free). */
    RAD_TRY(rad_output_check_files(&o, T, p->no_overwrite, 0));
    if (o.kind == RAD_OUT_PNG_SEQ) return write_sequence(&o, frames, T, H, W, p);
    return write_single(&o, frames, T, H, W, p);
}

radial_status radial_video_write(const char *path, const radial_video *video, const radial_write_params *params) {
    if (!video) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no video given", path ? path : "video output");
    return rad_video_write_ex(path, video->data, video->frames, video->height, video->width, params);
}

rad_status rad_video_write(const char *path, const uint8_t *frames, int T, int H, int W, int fps, int crf) {
    radial_write_params p = radial_default_write_params();
    p.fps = fps;
    p.crf = crf;
    return rad_video_write_ex(path, frames, T, H, W, &p);
}
