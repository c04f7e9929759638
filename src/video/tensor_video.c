/* A video tensor of a safetensors file, frame by frame (tensor_video.h): each frame's planes are converted to
 * fp32 from the mapping as they are needed, so a long video is never held twice. */
#include "video/tensor_video.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "io/safetensors.h"
#include "video/output_path.h"

typedef enum { LAYOUT_VIDEO, LAYOUT_U8, LAYOUT_F01 } layout;

struct rad_tensor_video {
    rad_st_file *file;
    const rad_st_tensor *t;
    layout kind;
    int64_t next;
    float *plane; /* one frame's values (H*W*3) as fp32 */
    rad_tensor_video_info info;
};

static const struct {
    const char *name;
    layout kind;
} k_names[] = {{"video", LAYOUT_VIDEO}, {"frames_u8", LAYOUT_U8}, {"frames_f32", LAYOUT_F01}};

const rad_tensor_video_info *rad_tensor_video_get_info(const rad_tensor_video *v) { return &v->info; }

void rad_tensor_video_close(rad_tensor_video *v) {
    if (!v) return;
    rad_st_close(v->file);
    rad_free(v->plane);
    free(v);
}

static bool is_float(rad_dtype d) {
    return d == RAD_DT_F16 || d == RAD_DT_BF16 || d == RAD_DT_F32 || d == RAD_DT_F64 || d == RAD_DT_F8_E4M3 ||
           d == RAD_DT_F8_E5M2;
}

/* Checks the tensor against its layout; sets the sizes. */
static rad_status check_layout(rad_tensor_video *v, const char *path) {
    const rad_st_tensor *t = v->t;
    char shape[160];
    rad_shape_str(t->shape, t->ndim, shape, sizeof shape);
    static const char *const want[] = {"[3, F, H, W] of a float dtype", "[F, H, W, 3] of U8",
                                       "[F, 3, H, W] of a float dtype"};
    const int ch_dim = v->kind == LAYOUT_VIDEO ? 0 : v->kind == LAYOUT_U8 ? 3 : 1;
    const bool dtype_ok = v->kind == LAYOUT_U8 ? t->dtype == RAD_DT_U8 : is_float(t->dtype);
    if (t->ndim != 4 || !dtype_ok || t->shape[ch_dim] != 3)
        return rad_err(RADIAL_ERR_FORMAT, "%s: tensor '%s' is %s %s; a video tensor of that name is %s", path, t->name,
                       t->dtype_name, shape, want[v->kind]);
    const int64_t F = t->shape[v->kind == LAYOUT_VIDEO ? 1 : 0];
    const int64_t H = t->shape[v->kind == LAYOUT_U8 ? 1 : 2], W = t->shape[v->kind == LAYOUT_U8 ? 2 : 3];
    if (H < 1 || W < 1 || H > RAD_VIDEO_MAX_SIDE || W > RAD_VIDEO_MAX_SIDE)
        return rad_err(RADIAL_ERR_FORMAT, "%s: tensor '%s' %s: frames of %lldx%lld (WxH); sizes in [1, %d] are read",
                       path, t->name, shape, (long long)W, (long long)H, RAD_VIDEO_MAX_SIDE);
    v->info.width = (int)W, v->info.height = (int)H, v->info.frames = F;
    static const char *const range[] = {"values in [-1, 1]", "8-bit values", "values in [0, 1]"};
    snprintf(v->info.describe, sizeof v->info.describe, "tensor '%s' %s %s, %s", t->name, t->dtype_name, shape,
             range[v->kind]);
    return RAD_OK;
}

rad_status rad_tensor_video_open(const char *path, const char *name, rad_tensor_video **out) {
    *out = NULL;
    rad_tensor_video *v = calloc(1, sizeof *v);
    if (!v) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", path);
    rad_status st = rad_st_open(path, &v->file);
    for (size_t i = 0; st == RAD_OK && !v->t && i < sizeof k_names / sizeof k_names[0]; i++) {
        if (name && strcmp(name, k_names[i].name)) continue;
        v->t = rad_st_find(v->file, k_names[i].name);
        v->kind = k_names[i].kind;
    }
    if (st == RAD_OK && !v->t) {
        if (name && strcmp(name, "video") && strcmp(name, "frames_u8") && strcmp(name, "frames_f32"))
            st = rad_err(RADIAL_ERR_INVALID_ARG, "%s: tensor name '%s' is not a video layout this reader knows (video "
                                                 "[3, F, H, W] in [-1, 1], frames_u8 [F, H, W, 3], frames_f32 "
                                                 "[F, 3, H, W] in [0, 1])", path, name);
        else if (name)
            st = rad_err(RADIAL_ERR_FORMAT, "%s: no tensor '%s'", path, name);
        else
            st =
                rad_err(RADIAL_ERR_FORMAT, "%s: no video tensor (video, frames_u8 or frames_f32) among its %zu tensors",
                        path, rad_st_count(v->file));
    }
    if (st == RAD_OK) st = check_layout(v, path);
    if (st == RAD_OK && rad_dtype_size(v->t->dtype) == 0)
        st = rad_err(RADIAL_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s", path, v->t->name, v->t->dtype_name);
    if (st == RAD_OK)
        st = rad_alloc((void **)&v->plane, (size_t)v->info.width * (size_t)v->info.height * 3 * sizeof(float),
                       "video frame");
    if (st != RAD_OK) {
        rad_tensor_video_close(v);
        return st;
    }
    *out = v;
    return RAD_OK;
}

/* n elements of the tensor from element `at` to fp32. */
static rad_status convert(const rad_tensor_video *v, size_t at, size_t n, float *dst) {
    rad_st_tensor part = *v->t;
    const size_t es = rad_dtype_size(part.dtype);
    part.ndim = 1, part.shape[0] = (int64_t)n, part.numel = (int64_t)n;
    part.data = (const unsigned char *)v->t->data + at * es;
    part.nbytes = n * es;
    return rad_st_to_f32(&part, dst);
}

rad_status rad_tensor_video_read(rad_tensor_video *v, float *rgb, bool *got) {
    *got = false;
    if (v->next >= v->info.frames) return RAD_OK;
    const size_t f = (size_t)v->next, F = (size_t)v->info.frames, hw = (size_t)v->info.width * (size_t)v->info.height;
    if (v->kind == LAYOUT_U8) {
        RAD_TRY(convert(v, f * hw * 3, hw * 3, rgb));
    } else {
        for (size_t c = 0; c < 3; c++) {
            const size_t at = v->kind == LAYOUT_VIDEO ? (c * F + f) * hw : (f * 3 + c) * hw;
            RAD_TRY(convert(v, at, hw, v->plane + c * hw));
        }
        for (size_t c = 0; c < 3; c++)
            for (size_t p = 0; p < hw; p++) {
                float x = v->plane[c * hw + p];
                if (isnan(x))
                    return rad_err(
                        RADIAL_ERR_FORMAT, "%s: tensor '%s' holds NaN at frame %zu, channel %zu, pixel (%zu, %zu)",
                        rad_st_path(v->file), v->t->name, f, c, p % (size_t)v->info.width, p / (size_t)v->info.width);
                if (v->kind == LAYOUT_VIDEO) {
                    x = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
                    rgb[3 * p + c] = (x + 1.0f) / 2.0f * 255.0f;
                } else {
                    x = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
                    rgb[3 * p + c] = x * 255.0f;
                }
            }
    }
    v->next++;
    *got = true;
    return RAD_OK;
}
