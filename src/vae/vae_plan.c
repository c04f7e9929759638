/* rad_vae_plan_work: the decode's working memory, from the decode's own buffer handling run on a backend that
 * allocates no memory and computes nothing, so the plan cannot drift from the code.
 *
 * The plan backend hands out addresses of an address range it never maps: the VAE only passes its buffers back
 * to the backend, whose ops check nothing and do nothing, so none is ever dereferenced. download writes zeros,
 * so that the host side of a decode (the tiled decode's blending) reads defined values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "vae/vae.h"

typedef struct {
    uintptr_t next; /* the next address handed out */
} plan_state;

enum { PLAN_ALIGN = 256 };

static rad_status p_fake(rad_backend *be, size_t bytes, void **out) {
    plan_state *s = be->state;
    size_t span;
    if (!rad_add_size(bytes, 2 * PLAN_ALIGN - 1, &span) || span > UINTPTR_MAX - s->next)
        return rad_err(RADIAL_ERR_NOMEM, "VAE plan: %zu bytes exceed the address space", bytes);
    *out = (void *)s->next;
    s->next += span / PLAN_ALIGN * PLAN_ALIGN; /* a gap after each buffer: distinct, aligned addresses */
    return RAD_OK;
}
static rad_status p_alloc(rad_backend *be, size_t bytes, const char *what, void **out) {
    (void)what;
    return p_fake(be, bytes, out);
}
static void p_free(rad_backend *be, void *p) { (void)be, (void)p; }
static rad_status p_upload(rad_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be, (void)dst, (void)src, (void)bytes;
    return RAD_OK;
}
static rad_status p_download(rad_backend *be, void *dst_host, const void *src, size_t bytes) {
    (void)be, (void)src;
    memset(dst_host, 0, bytes);
    return RAD_OK;
}
static rad_status p_weight_new(rad_backend *be, const rad_weight_src *src, int64_t rows, int64_t cols,
                               const char *name, rad_weight **out) {
    (void)src, (void)rows, (void)cols, (void)name;
    return p_fake(be, 1, (void **)out);
}
static void p_weight_free(rad_backend *be, rad_weight *w) { (void)be, (void)w; }
static rad_status p_sync(rad_backend *be) {
    (void)be;
    return RAD_OK;
}
static rad_status p_add_gated(rad_backend *be, float *x, const float *y, int64_t m, int64_t d, const float *gate) {
    (void)be, (void)x, (void)y, (void)m, (void)d, (void)gate;
    return RAD_OK;
}
static rad_status p_attention(rad_backend *be, const float *q, const float *k, const float *v, float *out,
                              int64_t lq, int64_t lk, int64_t heads, int64_t head_dim, float scale, const float *bias,
                              const rad_bsr *mask) {
    (void)be, (void)q, (void)k, (void)v, (void)out, (void)lq, (void)lk, (void)heads, (void)head_dim, (void)scale;
    (void)bias, (void)mask;
    return RAD_OK;
}
static rad_status p_to_conv_dtype(rad_backend *be, const float *x, int64_t n, void *y) {
    (void)be, (void)x, (void)n, (void)y;
    return RAD_OK;
}
static rad_status p_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                           const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                           int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    (void)be, (void)x, (void)cin, (void)t, (void)h, (void)w, (void)prev, (void)n_prev, (void)wt, (void)bias;
    (void)cout, (void)kt, (void)kh, (void)kw, (void)ph, (void)pw, (void)y;
    return RAD_OK;
}
static rad_status p_rmsnorm_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                     float *y) {
    (void)be, (void)x, (void)c, (void)s, (void)gamma, (void)y;
    return RAD_OK;
}
static rad_status p_rmsnorm_silu_channels(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma,
                                          void *y) {
    (void)be, (void)x, (void)c, (void)s, (void)gamma, (void)y;
    return RAD_OK;
}
static rad_status p_upsample2x(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y) {
    (void)be, (void)x, (void)c, (void)h, (void)w, (void)y;
    return RAD_OK;
}
static rad_status p_copy2d(rad_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch,
                           size_t row_bytes, size_t rows) {
    (void)be, (void)dst, (void)dst_pitch, (void)src, (void)src_pitch, (void)row_bytes, (void)rows;
    return RAD_OK;
}
static rad_status p_transpose(rad_backend *be, const float *x, int64_t rows, int64_t cols, float *y) {
    (void)be, (void)x, (void)rows, (void)cols, (void)y;
    return RAD_OK;
}

rad_status rad_vae_plan_work(const rad_weights *w, int64_t H, int64_t W, rad_dtype conv_dtype, int tile,
                             size_t *bytes) {
    *bytes = 0;
    if (conv_dtype != RAD_DT_F32 && conv_dtype != RAD_DT_BF16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "VAE plan: conv_dtype %s is not F32 or BF16",
                       rad_dtype_name(conv_dtype));
    plan_state ps = {.next = (uintptr_t)1 << 40};
    rad_backend be = {
        .name = "plan",
        .state = &ps,
        .alloc = p_alloc,
        .free = p_free,
        .upload = p_upload,
        .download = p_download,
        .weight_new = p_weight_new,
        .weight_free = p_weight_free,
        .sync = p_sync,
        .add_gated = p_add_gated,
        .attention = p_attention,
        .conv_dtype = conv_dtype,
        .to_conv_dtype = p_to_conv_dtype,
        .conv3d = p_conv3d,
        .rmsnorm_channels = p_rmsnorm_channels,
        .rmsnorm_silu_channels = p_rmsnorm_silu_channels,
        .upsample2x = p_upsample2x,
        .copy2d = p_copy2d,
        .transpose = p_transpose,
    };
    rad_vae *v = NULL;
    float *latent = NULL, *video = NULL;
    RAD_TRY(rad_vae_load(&be, w, &v));
    /* Two latent frames: from the second on every layer runs (time_conv skips the first) at its full size. */
    const int64_t T = 2, sf = rad_vae_spatial_factor(v), F = rad_vae_out_frames(v, T);
    const int64_t lat_shape[4] = {16, T, H, W}, vid_shape[4] = {3, F, sf * H, sf * W};
    size_t lat_bytes, vid_bytes;
    rad_status st = rad_vae_set_tiling(v, tile);
    if (st == RAD_OK && (H < 1 || W < 1))
        st = rad_err(RADIAL_ERR_INVALID_ARG, "VAE plan: latent size %lld x %lld", (long long)H, (long long)W);
    if (st == RAD_OK) st = rad_shape_bytes(lat_shape, 4, sizeof(float), &lat_bytes);
    if (st == RAD_OK) st = rad_shape_bytes(vid_shape, 4, sizeof(float), &vid_bytes);
    if (st == RAD_OK) st = rad_calloc((void **)&latent, 1, lat_bytes, "VAE plan latent");
    if (st == RAD_OK) st = rad_alloc((void **)&video, vid_bytes, "VAE plan video");
    if (st == RAD_OK) st = rad_vae_decode(v, latent, T, H, W, video);
    if (st == RAD_OK) *bytes = rad_vae_last_stats(v).work_peak_bytes;
    rad_free(latent);
    rad_free(video);
    rad_vae_free(v);
    return st == RAD_OK ? RAD_OK : rad_err_prefix(st, "VAE memory plan at %lldx%lld: ", (long long)H, (long long)W);
}
