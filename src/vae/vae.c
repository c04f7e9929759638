/* Wan-VAE decoder, chunked causal decode (spec wan21.md §3.2-3.4).
 *
 * Layout: activations are channel-first [C, t, h, w] backend buffers. A chunk is one latent frame; from chunk 1
 * on, each upsample3d doubles its frames (1 -> 2 -> 4 in Wan 2.1). Those frames then go through the rest of
 * the decoder one at a time (run_from): every later layer is per frame or causal through its cache, so this is
 * the whole-chunk result bit for bit, and the large full-resolution stages hold one frame, not four.
 *
 * Caches: every 3-tap CausalConv3d owns a slot holding the last two frames of its input, [cin, 2, h, w]
 * (n = 0 before the first chunk). A conv reads them as `prev` and the backend zero-pads the frames that do
 * not exist, which is the official cat(cache, x) + F.pad. When a chunk brings one frame and the slot has
 * none yet, the slot becomes [zeros, x] (what the official code stores in its "Rep" branch); a zero frame
 * in `prev` is arithmetically the same as zero padding.
 *
 * upsample3d: at chunk 0 time_conv does not run (official "Rep"); from chunk 1 on it is a causal conv over
 * the frames after the first, with its own slot, whose output channels [0, C) and [C, 2C) become frames 2f
 * and 2f+1. */
#include "vae/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "load/loader.h"
#include "base/timer.h"

enum { N_STAGES = 4, CACHE_T = 2 };

typedef struct vbuf {
    float *p;
    size_t cap; /* floats */
} vbuf;

typedef struct {
    rad_weight *w;
    float *b; /* backend buffer [cout] */
    int64_t cin, cout, kt, kh, kw, ph, pw;
    int slot; /* cache slot for kt > 1, else -1 */
} vae_conv;

typedef struct {
    int64_t cin, cout;
    float *gamma1, *gamma2; /* residual.0 / residual.3 */
    vae_conv conv1, conv2;  /* residual.2 / residual.6 */
    vae_conv shortcut;      /* when cin != cout; w == NULL otherwise */
} vae_res;

typedef struct {
    int64_t c;
    float *gamma;
    vae_conv qkv, proj;
} vae_attn;

typedef struct {
    int64_t c; /* input channels; output c/2 */
    int temporal;
    vae_conv time_conv; /* temporal only: c -> 2c, (3,1,1) */
    vae_conv conv;      /* resample.1: Conv2d(c, c/2, 3, p=1) as a 1x3x3 conv */
    int seen;           /* temporal: chunk 0 went through ("Rep") */
    vbuf held;          /* a multi-frame output, while its frames go on one at a time */
} vae_up;

typedef enum { L_RES, L_ATTN, L_UP } layer_kind;

typedef struct {
    layer_kind kind;
    char name[64]; /* official prefix, for messages */
    union {
        vae_res res;
        vae_attn attn;
        vae_up up;
    } u;
} vae_layer;

typedef struct {
    float *buf; /* [cin, 2, h, w] backend buffer, allocated on first use */
    int64_t n;  /* frames held: 0 or 2 */
    size_t cap;
} vae_cache;

struct rad_vae {
    rad_backend *be;
    rad_vae_config cfg;
    vae_conv post_quant; /* conv2 */
    vae_conv conv_in;    /* decoder.conv1 */
    vae_layer *layers;   /* middle.0-2, upsamples.* */
    int n_layers;
    float *head_gamma;
    vae_conv head;
    vae_cache *caches;
    int n_slots;
    /* Activation buffers reused across chunks; they grow to the largest size seen (chunk 1 has the most). */
    vbuf act[3], tmp[4];
    float *video; /* host output of the running decode, [3, F, OH, OW], and the next frame to write */
    int64_t F, OH, OW, f_next;
    size_t work_bytes; /* activation buffers and caches of the running decode */
    rad_vae_stats stats;
    rad_load_stats load;
    int (*progress)(int done, int total, void *user); /* after each latent frame; nonzero cancels */
    void *progress_user;
};

/* ------------------------------------------------------------------------------------------------------
 * Loading */

static rad_status upload_vec(rad_vae *v, const float *host, int64_t n, const char *what, float **out) {
    RAD_TRY(v->be->alloc(v->be, (size_t)n * sizeof(float), what, (void **)out));
    v->stats.weight_bytes += (size_t)n * sizeof(float);
    return v->be->upload(v->be, *out, host, (size_t)n * sizeof(float));
}

/* A conv weight `prefix`.weight of shape [cout, cin, (kt,) kh, kw] plus its bias. `ndim` 5 for Conv3d
 * (kt as given), 4 for Conv2d (kt = 1). */
static rad_status load_conv(rad_vae *v, rad_loader *w, const char *prefix, int ndim, int64_t cin,
                            int64_t cout, int64_t kt, int64_t k, int64_t pad, int use_cache, vae_conv *cv) {
    char name[128];
    float *host = NULL;
    const int64_t shape5[5] = {cout, cin, kt, k, k}, shape4[4] = {cout, cin, k, k};
    *cv = (vae_conv){.cin = cin, .cout = cout, .kt = kt, .kh = k, .kw = k, .ph = pad, .pw = pad, .slot = -1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    rad_status st = rad_loader_weight(w, name, ndim, ndim == 5 ? shape5 : shape4, cout, cin * kt * k * k, &cv->w);
    v->stats.weight_bytes += (size_t)(cout * cin * kt * k * k) * sizeof(float);
    RAD_TRY(st);
    snprintf(name, sizeof name, "%s.bias", prefix);
    RAD_TRY(rad_loader_f32(w, name, 1, &cout, &host));
    st = upload_vec(v, host, cout, name, &cv->b);
    rad_free(host);
    RAD_TRY(st);
    if (use_cache && kt > 1) cv->slot = v->n_slots++;
    return RAD_OK;
}

/* An RMS_norm gamma of c channels, stored [c,1,1,1] (ndim 4) or [c,1,1] (ndim 3). */
static rad_status load_gamma(rad_vae *v, rad_loader *w, const char *name, int ndim, int64_t c,
                             float **out) {
    const int64_t shape[4] = {c, 1, 1, 1};
    float *host;
    RAD_TRY(rad_loader_f32(w, name, ndim, shape, &host));
    rad_status st = upload_vec(v, host, c, name, out);
    rad_free(host);
    return st;
}

static rad_status load_res(rad_vae *v, rad_loader *w, const char *prefix, int64_t cin, int64_t cout,
                           vae_res *r) {
    char name[128];
    r->cin = cin, r->cout = cout;
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    RAD_TRY(load_gamma(v, w, name, 4, cin, &r->gamma1));
    snprintf(name, sizeof name, "%s.residual.2", prefix);
    RAD_TRY(load_conv(v, w, name, 5, cin, cout, 3, 3, 1, 1, &r->conv1));
    snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
    RAD_TRY(load_gamma(v, w, name, 4, cout, &r->gamma2));
    snprintf(name, sizeof name, "%s.residual.6", prefix);
    RAD_TRY(load_conv(v, w, name, 5, cout, cout, 3, 3, 1, 1, &r->conv2));
    if (cin != cout) {
        snprintf(name, sizeof name, "%s.shortcut", prefix);
        RAD_TRY(load_conv(v, w, name, 5, cin, cout, 1, 1, 0, 0, &r->shortcut));
    }
    return RAD_OK;
}

static rad_status add_layer(rad_vae *v, layer_kind kind, const char *name, vae_layer **out) {
    vae_layer *l = &v->layers[v->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    *out = l;
    return RAD_OK;
}

static void free_conv(rad_backend *be, vae_conv *cv) {
    if (cv->w) be->weight_free(be, cv->w);
    if (cv->b) be->free(be, cv->b);
    cv->w = NULL, cv->b = NULL;
}

static void work_free(rad_vae *v, float *p, size_t n_floats);

static void release_buffers(rad_vae *v) {
    for (int i = 0; v->caches && i < v->n_slots; i++) {
        work_free(v, v->caches[i].buf, v->caches[i].cap);
        v->caches[i] = (vae_cache){0};
    }
    for (int i = 0; i < 3; i++) {
        work_free(v, v->act[i].p, v->act[i].cap);
        v->act[i] = (vbuf){0};
    }
    for (int i = 0; i < 4; i++) {
        work_free(v, v->tmp[i].p, v->tmp[i].cap);
        v->tmp[i] = (vbuf){0};
    }
    for (int i = 0; v->layers && i < v->n_layers; i++)
        if (v->layers[i].kind == L_UP) {
            work_free(v, v->layers[i].u.up.held.p, v->layers[i].u.up.held.cap);
            v->layers[i].u.up.held = (vbuf){0};
        }
}

void rad_vae_free(rad_vae *v) {
    if (!v) return;
    rad_backend *be = v->be;
    release_buffers(v);
    free_conv(be, &v->post_quant);
    free_conv(be, &v->conv_in);
    free_conv(be, &v->head);
    if (v->head_gamma) be->free(be, v->head_gamma);
    for (int i = 0; v->layers && i < v->n_layers; i++) {
        vae_layer *l = &v->layers[i];
        if (l->kind == L_RES) {
            be->free(be, l->u.res.gamma1), be->free(be, l->u.res.gamma2);
            free_conv(be, &l->u.res.conv1), free_conv(be, &l->u.res.conv2), free_conv(be, &l->u.res.shortcut);
        } else if (l->kind == L_ATTN) {
            be->free(be, l->u.attn.gamma);
            free_conv(be, &l->u.attn.qkv), free_conv(be, &l->u.attn.proj);
        } else {
            free_conv(be, &l->u.up.time_conv), free_conv(be, &l->u.up.conv);
        }
    }
    free(v->layers);
    free(v->caches);
    free(v);
}

static rad_status load_all(rad_vae *v, rad_loader *w) {
    const rad_vae_config *c = &v->cfg;
    const int64_t z = c->z_dim, nrb = c->num_res_blocks;
    /* Decoder widths (vae.py Decoder3d): dims = [dim_mult[-1], dim_mult reversed...] x base. */
    int64_t dims[N_STAGES + 1];
    dims[0] = (int64_t)c->base_dim * c->dim_mult[N_STAGES - 1];
    for (int i = 0; i < N_STAGES; i++) dims[i + 1] = (int64_t)c->base_dim * c->dim_mult[N_STAGES - 1 - i];

    RAD_TRY(load_conv(v, w, "conv2", 5, z, z, 1, 1, 0, 0, &v->post_quant));
    RAD_TRY(load_conv(v, w, "decoder.conv1", 5, z, dims[0], 3, 3, 1, 1, &v->conv_in));

    v->layers = calloc((size_t)(3 + N_STAGES * (nrb + 2)), sizeof *v->layers);
    if (!v->layers) return rad_err(RADIAL_ERR_NOMEM, "out of memory for the VAE layer list");
    vae_layer *l;
    RAD_TRY(add_layer(v, L_RES, "decoder.middle.0", &l));
    RAD_TRY(load_res(v, w, l->name, dims[0], dims[0], &l->u.res));
    RAD_TRY(add_layer(v, L_ATTN, "decoder.middle.1", &l));
    {
        vae_attn *a = &l->u.attn;
        a->c = dims[0];
        RAD_TRY(load_gamma(v, w, "decoder.middle.1.norm.gamma", 3, a->c, &a->gamma));
        RAD_TRY(load_conv(v, w, "decoder.middle.1.to_qkv", 4, a->c, 3 * a->c, 1, 1, 0, 0, &a->qkv));
        RAD_TRY(load_conv(v, w, "decoder.middle.1.proj", 4, a->c, a->c, 1, 1, 0, 0, &a->proj));
    }
    RAD_TRY(add_layer(v, L_RES, "decoder.middle.2", &l));
    RAD_TRY(load_res(v, w, l->name, dims[0], dims[0], &l->u.res));

    int idx = 0;
    char name[64];
    for (int i = 0; i < N_STAGES; i++) {
        int64_t in = i == 0 ? dims[0] : dims[i] / 2; /* the previous stage's resample halved the channels */
        const int64_t out = dims[i + 1];
        for (int64_t j = 0; j < nrb + 1; j++, idx++) {
            snprintf(name, sizeof name, "decoder.upsamples.%d", idx);
            RAD_TRY(add_layer(v, L_RES, name, &l));
            RAD_TRY(load_res(v, w, name, in, out, &l->u.res));
            in = out;
        }
        if (i == N_STAGES - 1) break;
        snprintf(name, sizeof name, "decoder.upsamples.%d", idx++);
        RAD_TRY(add_layer(v, L_UP, name, &l));
        vae_up *u = &l->u.up;
        u->c = out;
        u->temporal = c->temporal_upsample[i];
        char sub[96];
        if (u->temporal) {
            /* time_conv: CausalConv3d(c, 2c, (3,1,1), padding (1,0,0)) */
            snprintf(sub, sizeof sub, "%s.time_conv", name);
            RAD_TRY(load_conv(v, w, sub, 5, out, 2 * out, 3, 1, 0, 1, &u->time_conv));
        } else {
            snprintf(sub, sizeof sub, "%s.time_conv.weight", name);
            if (rad_weights_find(rad_loader_weights(w), sub))
                return rad_err(RADIAL_ERR_MODEL, "%s: tensor '%s' exists but the configuration says stage %d has "
                               "no temporal upsample", rad_weights_label(rad_loader_weights(w)), sub, i);
        }
        snprintf(sub, sizeof sub, "%s.resample.1", name);
        RAD_TRY(load_conv(v, w, sub, 4, out, out / 2, 1, 3, 1, 0, &u->conv));
    }
    RAD_TRY(load_gamma(v, w, "decoder.head.0.gamma", 4, dims[N_STAGES], &v->head_gamma));
    RAD_TRY(load_conv(v, w, "decoder.head.2", 5, dims[N_STAGES], 3, 3, 3, 1, 1, &v->head));

    v->caches = calloc((size_t)v->n_slots, sizeof *v->caches);
    if (!v->caches) return rad_err(RADIAL_ERR_NOMEM, "out of memory for the VAE cache table");
    return RAD_OK;
}

rad_status rad_vae_load(rad_backend *be, const rad_weights *w, rad_vae **out) {
    *out = NULL;
    rad_vae *v = calloc(1, sizeof *v);
    if (!v) return rad_err(RADIAL_ERR_NOMEM, "out of memory loading the VAE");
    v->be = be;
    rad_status st = rad_vae_config_detect(w, &v->cfg); /* z_dim 16, latents_std > 0 */
    const rad_vae_config *c = &v->cfg;
    for (int i = 0; st == RAD_OK && i < N_STAGES; i++)
        if (c->base_dim < 1 || c->dim_mult[i] < 1 || (c->base_dim * c->dim_mult[i]) % 2 || c->num_res_blocks < 1)
            st = rad_err(RADIAL_ERR_MODEL, "%s: unsupported VAE configuration (base_dim %d, dim_mult[%d] %d, "
                         "num_res_blocks %d)", rad_weights_label(w), c->base_dim, i, c->dim_mult[i],
                         c->num_res_blocks);
    rad_loader *l = NULL;
    if (st == RAD_OK) st = rad_loader_new(w, be, NULL, 0, &l);
    if (st == RAD_OK) st = load_all(v, l);
    if (st == RAD_OK) st = rad_loader_finish(l, &v->load);
    rad_loader_free(l);
    if (st != RAD_OK) {
        rad_vae_free(v);
        return rad_err_prefix(st, "loading the VAE: ");
    }
    *out = v;
    return RAD_OK;
}

int64_t rad_vae_spatial_factor(const rad_vae *v) {
    (void)v;
    return 1 << (N_STAGES - 1);
}

int64_t rad_vae_out_frames(const rad_vae *v, int64_t T) {
    int64_t tf = 1;
    for (int i = 0; i < N_STAGES - 1; i++)
        if (v->cfg.temporal_upsample[i]) tf *= 2;
    return T < 1 ? 0 : 1 + tf * (T - 1);
}

rad_vae_stats rad_vae_last_stats(const rad_vae *v) { return v->stats; }

void rad_vae_set_progress(rad_vae *v, int (*fn)(int done, int total, void *user), void *user) {
    v->progress = fn, v->progress_user = user;
}
const rad_load_stats *rad_vae_load_stats(const rad_vae *v) { return &v->load; }

/* Backend allocation of the decode's working memory, counted in stats.work_peak_bytes. */
static rad_status work_alloc(rad_vae *v, size_t n_floats, const char *what, float **out) {
    size_t bytes;
    if (!rad_mul_size(n_floats, sizeof(float), &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "VAE %s: size overflows", what);
    RAD_TRY(v->be->alloc(v->be, bytes, what, (void **)out));
    v->work_bytes += bytes;
    if (v->work_bytes > v->stats.work_peak_bytes) v->stats.work_peak_bytes = v->work_bytes;
    return RAD_OK;
}

static void work_free(rad_vae *v, float *p, size_t n_floats) {
    if (!p) return;
    v->be->free(v->be, p);
    v->work_bytes -= n_floats * sizeof(float);
}

/* ------------------------------------------------------------------------------------------------------
 * Decoding */

/* Makes b hold at least n floats (contents are not kept). */
static rad_status ensure(rad_vae *v, vbuf *b, size_t n, const char *what) {
    if (b->cap >= n) return RAD_OK;
    work_free(v, b->p, b->cap);
    b->p = NULL, b->cap = 0;
    RAD_TRY(work_alloc(v, n, what, &b->p));
    b->cap = n;
    return RAD_OK;
}

static void swap_buf(vbuf *a, vbuf *b) {
    vbuf t = *a;
    *a = *b;
    *b = t;
}

/* y = conv(x) for x [cin, t, h, w], with the conv's cache slot as `prev`; then the slot keeps the last two
 * input frames of cat(cache, x). */
static rad_status conv_run(rad_vae *v, const vae_conv *cv, const float *x, int64_t t, int64_t h, int64_t w,
                           float *y) {
    rad_backend *be = v->be;
    vae_cache *cache = cv->slot >= 0 ? &v->caches[cv->slot] : NULL;
    RAD_TRY(be->sync(be)); /* conv time only: the queued ops before it finish first (no-op on the CPU) */
    const double t0 = rad_now();
    RAD_TRY(be->conv3d(be, x, cv->cin, t, h, w, cache ? cache->buf : NULL, cache ? cache->n : 0, cv->w, cv->b,
                       cv->cout, cv->kt, cv->kh, cv->kw, cv->ph, cv->pw, y));
    RAD_TRY(be->sync(be));
    v->stats.conv_seconds += rad_now() - t0;
    v->stats.conv_flops += 2.0 * (double)(cv->cout * cv->cin * cv->kt * cv->kh * cv->kw) *
                (double)(t * (h + 2 * cv->ph - cv->kh + 1) * (w + 2 * cv->pw - cv->kw + 1));
    if (!cache) return RAD_OK;
    const size_t fb = (size_t)(h * w) * sizeof(float), pitch2 = CACHE_T * fb, cin = (size_t)cv->cin;
    if (cache->cap < cin * CACHE_T * (size_t)(h * w)) {
        work_free(v, cache->buf, cache->cap);
        cache->buf = NULL, cache->n = 0, cache->cap = 0;
        RAD_TRY(work_alloc(v, cin * CACHE_T * (size_t)(h * w), "VAE conv cache", &cache->buf));
        cache->cap = cin * CACHE_T * (size_t)(h * w);
    }
    char *buf = (char *)cache->buf;
    if (t >= CACHE_T) {
        RAD_TRY(be->copy2d(be, buf, pitch2, x + (t - CACHE_T) * h * w, (size_t)t * fb, pitch2, cin));
    } else if (cache->n == CACHE_T) { /* one new frame: shift the newer cached frame down, append x */
        RAD_TRY(be->copy2d(be, buf, pitch2, buf + fb, pitch2, fb, cin));
        RAD_TRY(be->copy2d(be, buf + fb, pitch2, x, fb, fb, cin));
    } else { /* first frame ever: [zeros, x] */
        float *zero = NULL;
        rad_status st = rad_calloc((void **)&zero, (size_t)(h * w), sizeof(float), "VAE zero frame");
        for (size_t c = 0; st == RAD_OK && c < cin; c++) st = be->upload(be, buf + c * pitch2, zero, fb);
        rad_free(zero);
        RAD_TRY(st);
        RAD_TRY(be->copy2d(be, buf + fb, pitch2, x, fb, fb, cin));
    }
    cache->n = CACHE_T;
    return RAD_OK;
}

/* act[0] = ResBlock(act[0]); [cin, t, h, w] -> [cout, t, h, w]. */
static rad_status res_run(rad_vae *v, const vae_res *r, int64_t t, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t s = t * h * w;
    const size_t n_out = (size_t)(r->cout * s), n_in = (size_t)(r->cin * s), n_max = n_in > n_out ? n_in : n_out;
    float *x = v->act[0].p;
    RAD_TRY(ensure(v, &v->act[1], n_max, "VAE activation"));
    RAD_TRY(ensure(v, &v->act[2], n_max, "VAE activation"));
    float *a = v->act[1].p, *b = v->act[2].p;
    RAD_TRY(be->rmsnorm_channels(be, x, r->cin, s, r->gamma1, a));
    RAD_TRY(be->silu(be, a, (int64_t)n_in));
    RAD_TRY(conv_run(v, &r->conv1, a, t, h, w, b));
    RAD_TRY(be->rmsnorm_channels(be, b, r->cout, s, r->gamma2, b));
    RAD_TRY(be->silu(be, b, (int64_t)n_out));
    RAD_TRY(conv_run(v, &r->conv2, b, t, h, w, a));
    if (r->shortcut.w) { /* out = residual + shortcut(x) */
        RAD_TRY(conv_run(v, &r->shortcut, x, t, h, w, b));
        RAD_TRY(be->add_gated(be, a, b, 1, (int64_t)n_out, NULL));
        swap_buf(&v->act[0], &v->act[1]);
        return RAD_OK;
    }
    return be->add_gated(be, x, a, 1, (int64_t)n_out, NULL); /* out = residual + x */
}

/* act[0] += proj(attention(norm(act[0]))) per frame, single head over the h·w tokens, scale 1/sqrt(C). */
static rad_status attn_run(rad_vae *v, const vae_attn *at, int64_t t, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t C = at->c, hw = h * w, s = t * hw;
    float *x = v->act[0].p;
    RAD_TRY(ensure(v, &v->act[1], (size_t)(C * s), "VAE activation"));
    RAD_TRY(ensure(v, &v->act[2], (size_t)(3 * C * s), "VAE activation"));
    for (int i = 0; i < 3; i++) RAD_TRY(ensure(v, &v->tmp[i], (size_t)(C * s), "VAE attention"));
    float *a = v->act[1].p, *qkv = v->act[2].p, *qt = v->tmp[0].p, *kt = v->tmp[1].p, *vt = v->tmp[2].p;
    RAD_TRY(be->rmsnorm_channels(be, x, C, s, at->gamma, a));
    RAD_TRY(conv_run(v, &at->qkv, a, t, h, w, qkv));
    /* [C, t·hw] channel ranges -> token-major [t·hw, C]; a frame's tokens are then contiguous rows. */
    RAD_TRY(be->transpose(be, qkv, C, s, qt));
    RAD_TRY(be->transpose(be, qkv + C * s, C, s, kt));
    RAD_TRY(be->transpose(be, qkv + 2 * C * s, C, s, vt));
    const float scale = (float)(1.0 / sqrt((double)C));
    for (int64_t f = 0; f < t; f++)
        RAD_TRY(be->attention(be, qt + f * hw * C, kt + f * hw * C, vt + f * hw * C, a + f * hw * C, hw, hw, 1, C,
                              scale, NULL, NULL));
    RAD_TRY(be->transpose(be, a, s, C, qt));
    RAD_TRY(conv_run(v, &at->proj, qt, t, h, w, a));
    return be->add_gated(be, x, a, 1, C * s, NULL);
}

/* out [c/2, t, 2h, 2w] = resample.1(nearest 2x(in [c, t, h, w])), one frame at a time so that the 4x larger
 * upsampled tensor exists for one frame only. */
static rad_status resample_run(rad_vae *v, const vae_up *u, const float *in, int64_t t, int64_t h, int64_t w,
                               float *out) {
    rad_backend *be = v->be;
    const int64_t c = u->c, hw = h * w, hw4 = 4 * hw;
    const size_t fb = (size_t)hw * sizeof(float);
    RAD_TRY(ensure(v, &v->tmp[0], (size_t)(c * hw), "VAE resample"));
    RAD_TRY(ensure(v, &v->tmp[1], (size_t)(c * hw4), "VAE resample"));
    RAD_TRY(ensure(v, &v->tmp[2], (size_t)(c / 2 * hw4), "VAE resample"));
    for (int64_t f = 0; f < t; f++) {
        const float *frame = in;
        if (t > 1) { /* frame f of every channel -> [c, h, w] */
            RAD_TRY(be->copy2d(be, v->tmp[0].p, fb, in + f * hw, (size_t)t * fb, fb, (size_t)c));
            frame = v->tmp[0].p;
        }
        RAD_TRY(be->upsample2x(be, frame, c, h, w, v->tmp[1].p));
        float *dst = t > 1 ? v->tmp[2].p : out;
        RAD_TRY(conv_run(v, &u->conv, v->tmp[1].p, 1, 2 * h, 2 * w, dst));
        if (t > 1)
            RAD_TRY(be->copy2d(be, out + f * hw4, (size_t)t * hw4 * sizeof(float), dst, (size_t)hw4 * sizeof(float),
                               (size_t)hw4 * sizeof(float), (size_t)(c / 2)));
    }
    return RAD_OK;
}

/* act[0] = Resample(act[0]); *t doubles for a temporal upsample after chunk 0. */
static rad_status up_run(rad_vae *v, vae_up *u, int64_t *t, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t c = u->c, hw = h * w;
    const float *in = v->act[0].p;
    if (u->temporal && u->seen) {
        const int64_t tt = *t;
        RAD_TRY(ensure(v, &v->act[1], (size_t)(2 * c * tt * hw), "VAE activation"));
        RAD_TRY(ensure(v, &v->act[2], (size_t)(2 * c * tt * hw), "VAE activation"));
        RAD_TRY(conv_run(v, &u->time_conv, v->act[0].p, tt, h, w, v->act[1].p));
        /* [2, c, tt] channel halves -> [c, 2tt]: row r = ch·tt + f of half s goes to frame row 2r + s. */
        const size_t fb = (size_t)hw * sizeof(float);
        for (int64_t s = 0; s < 2; s++)
            RAD_TRY(be->copy2d(be, v->act[2].p + s * hw, 2 * fb, v->act[1].p + s * c * tt * hw, fb, fb,
                               (size_t)(c * tt)));
        *t = 2 * tt;
        in = v->act[2].p;
    }
    u->seen = 1;
    RAD_TRY(ensure(v, &v->act[1], (size_t)(c / 2 * *t * 4 * hw), "VAE activation"));
    RAD_TRY(resample_run(v, u, in, *t, h, w, v->act[1].p));
    swap_buf(&v->act[0], &v->act[1]);
    return RAD_OK;
}

/* Runs layers [i, n) and the head on act[0] = [C, t, h, w] and writes the frames into the video.
 * After an upsample that leaves several frames, they continue one at a time: every later layer works per frame
 * or through its conv cache, so this equals running the chunk whole, bit for bit, and the full-resolution
 * stages hold one frame instead of four. */
static rad_status run_from(rad_vae *v, int i, int64_t t, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    for (; i < v->n_layers; i++) {
        vae_layer *l = &v->layers[i];
        rad_status st = l->kind == L_RES    ? res_run(v, &l->u.res, t, h, w)
                        : l->kind == L_ATTN ? attn_run(v, &l->u.attn, t, h, w)
                                            : up_run(v, &l->u.up, &t, h, w);
        if (st != RAD_OK) return rad_err_prefix(st, "%s: ", l->name);
        if (l->kind != L_UP) continue;
        h *= 2, w *= 2;
        if (t == 1) continue;
        vae_up *u = &l->u.up;
        const int64_t c = u->c / 2;
        const size_t fb = (size_t)(h * w) * sizeof(float);
        swap_buf(&u->held, &v->act[0]);
        RAD_TRY(ensure(v, &v->act[0], (size_t)(c * h * w), "VAE activation"));
        for (int64_t f = 0; f < t; f++) {
            RAD_TRY(be->copy2d(be, v->act[0].p, fb, u->held.p + f * h * w, (size_t)t * fb, fb, (size_t)c));
            RAD_TRY(run_from(v, i + 1, 1, h, w));
        }
        return RAD_OK;
    }
    const int64_t C = v->head.cin, s = t * h * w;
    if (h != v->OH || w != v->OW || v->f_next + t > v->F)
        return rad_err(RADIAL_ERR_MODEL, "VAE decode: the decoder made %lld frames of %lldx%lld at frame %lld of "
                       "%lld x %lldx%lld", (long long)t, (long long)h, (long long)w, (long long)v->f_next,
                       (long long)v->F, (long long)v->OH, (long long)v->OW);
    RAD_TRY(ensure(v, &v->act[1], (size_t)(C * s), "VAE activation"));
    RAD_TRY(ensure(v, &v->act[2], (size_t)(3 * s), "VAE activation"));
    RAD_TRY(be->rmsnorm_channels(be, v->act[0].p, C, s, v->head_gamma, v->act[1].p));
    RAD_TRY(be->silu(be, v->act[1].p, C * s));
    RAD_TRY(conv_run(v, &v->head, v->act[1].p, t, h, w, v->act[2].p));
    for (int64_t c = 0; c < 3; c++)
        RAD_TRY(be->download(be, v->video + (c * v->F + v->f_next) * s, v->act[2].p + c * s,
                             (size_t)s * sizeof(float)));
    v->f_next += t;
    return RAD_OK;
}

rad_status rad_vae_decode(rad_vae *v, const float *latent, int64_t T, int64_t H, int64_t W, float *video) {
    rad_backend *be = v->be;
    const int64_t z = v->cfg.z_dim, sf = rad_vae_spatial_factor(v);
    if (T < 1 || H < 1 || W < 1 || T > 1 << 20 || H > 1 << 16 || W > 1 << 16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "VAE decode: latent size %lld x %lld x %lld is out of range",
                       (long long)T, (long long)H, (long long)W);
    const int64_t F = rad_vae_out_frames(v, T), OH = sf * H, OW = sf * W;
    size_t bytes;
    const int64_t out_shape[4] = {3, F, OH, OW};
    RAD_TRY(rad_shape_bytes(out_shape, 4, sizeof(float), &bytes)); /* the caller's buffer must hold this */
    if (!be->copy2d || !be->conv3d || !be->rmsnorm_channels || !be->upsample2x)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "VAE decode: backend '%s' lacks a VAE op", be->name);

    const int64_t hw = H * W;
    float *zc;
    RAD_TRY(rad_alloc((void **)&zc, (size_t)(z * hw) * sizeof(float), "VAE latent chunk"));
    /* The official scale is [mean, 1/std] and decode computes z_n / (1/std) + mean, in fp32. */
    float inv_std[16];
    for (int c = 0; c < 16; c++) inv_std[c] = 1.0f / v->cfg.latents_std[c];

    rad_status st = RAD_OK;
    const double t_start = rad_now();
    v->stats.work_peak_bytes = 0;
    v->stats.conv_flops = v->stats.conv_seconds = 0;
    v->video = video, v->F = F, v->OH = OH, v->OW = OW, v->f_next = 0;
    for (int i = 0; i < v->n_layers; i++)
        if (v->layers[i].kind == L_UP) v->layers[i].u.up.seen = 0;
    for (int i = 0; i < v->n_slots; i++) v->caches[i].n = 0;
    for (int64_t i = 0; st == RAD_OK && i < T; i++) {
        for (int64_t c = 0; c < z; c++)
            for (int64_t p = 0; p < hw; p++)
                zc[c * hw + p] = latent[(c * T + i) * hw + p] / inv_std[c] + v->cfg.latents_mean[c];
        /* act[0] = conv1(conv2(z)), one latent frame, then the rest of the decoder. */
        st = ensure(v, &v->act[1], (size_t)(z * hw), "VAE activation");
        if (st == RAD_OK) st = ensure(v, &v->act[2], (size_t)(z * hw), "VAE activation");
        if (st == RAD_OK) st = ensure(v, &v->act[0], (size_t)(v->conv_in.cout * hw), "VAE activation");
        if (st == RAD_OK) st = be->upload(be, v->act[1].p, zc, (size_t)(z * hw) * sizeof(float));
        if (st == RAD_OK) st = conv_run(v, &v->post_quant, v->act[1].p, 1, H, W, v->act[2].p);
        if (st == RAD_OK) st = conv_run(v, &v->conv_in, v->act[2].p, 1, H, W, v->act[0].p);
        if (st == RAD_OK) st = run_from(v, 0, 1, H, W);
        if (st != RAD_OK) st = rad_err_prefix(st, "VAE decode, latent frame %lld: ", (long long)i);
        if (st == RAD_OK && v->progress && v->progress((int)i + 1, (int)T, v->progress_user))
            st = rad_err(RADIAL_ERR_CANCELLED, "VAE decode cancelled after latent frame %lld of %lld", (long long)i + 1,
                         (long long)T);
    }
    if (st == RAD_OK && v->f_next != F)
        st = rad_err(RADIAL_ERR_MODEL, "VAE decode: produced %lld frames, expected %lld", (long long)v->f_next,
                     (long long)F);
    v->video = NULL;
    rad_free(zc);
    release_buffers(v);
    v->stats.total_seconds = rad_now() - t_start;
    return st;
}

void rad_vae_to_u8(const float *video, int64_t F, int64_t H, int64_t W, uint8_t *frames) {
    const int64_t plane = F * H * W;
    for (int64_t f = 0; f < F; f++)
        for (int64_t p = 0; p < H * W; p++)
            for (int64_t c = 0; c < 3; c++) {
                float x = video[c * plane + f * H * W + p];
                x = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
                if (x != x) x = -1.0f; /* NaN: clamp keeps it; map it to black rather than cast it */
                frames[(f * H * W + p) * 3 + c] = (uint8_t)(((x + 1.0f) / 2.0f) * 255.0f);
            }
}
