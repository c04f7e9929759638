/* Wan-VAE decoder, chunked causal decode (spec wan21.md §3.2-3.4).
 *
 * Streaming: a chunk is one latent frame, and every layer works on one frame [C, h, w] at a time. From chunk 1
 * on, each temporal upsample3d turns its frame into two (1 -> 2 -> 4 frames per chunk in Wan 2.1), which go on
 * through the rest of the decoder one after the other (run_from): every later layer is per frame or causal
 * through its cache, so this is the whole chunk's result bit for bit, and the large full-resolution stages hold
 * one frame, not four.
 *
 * Working memory (stats.work_peak_bytes) is the conv caches plus a few buffers every layer shares, each grown to
 * its largest use and kept for the rest of the decode:
 *   x  the running activation, fp32 [C, h, w] (layers update it in place);
 *   s  fp32 scratch: norm and conv outputs; also the attention's q, k, v, a time_conv's two output frames and a
 *      resample's upsampled input, which are never alive together with another use of s;
 *   c  the input of the next convolution, in the backend's conv_dtype;
 *   and per temporal upsample its second output frame (conv_dtype), kept while the first goes on.
 * What only a convolution reads (its input, its cache, the upsampled frames) is kept in the backend's conv_dtype
 * (backend.h): fp32 on the CPU, bf16 on CUDA, whose convolution takes bf16 operands, so there these tensors cost
 * half and the convolutions compute the same bits as from fp32. At 480x832 (latent 60x104) on CUDA that is
 * 1.76 GiB of caches (1.00 at full resolution, 0.43 at 240x416, 0.23 at 120x208, 0.10 at 60x104) and 0.38 GiB of
 * buffers (x 146 MiB, s 146 MiB, c 73 MiB, the two held frames 23 MiB): 2.14 GiB in all (rad_vae_plan_work
 * computes it for any size). Spatial tiling (rad_vae_set_tiling) makes it follow the tile instead.
 *
 * Caches: every 3-tap CausalConv3d owns a slot holding the last two frames of its input, [cin, 2, h, w]
 * (conv_dtype; n = 0 before the first chunk). A conv reads them as `prev` and the backend zero-pads the frames
 * that do not exist, which is the official cat(cache, x) + F.pad. After the first frame the slot is
 * [zeros, x] (what the official code stores in its "Rep" branch); a zero frame in `prev` is arithmetically the
 * same as zero padding.
 *
 * upsample3d: at chunk 0 time_conv does not run (official "Rep"); from chunk 1 on it is a causal conv over the
 * frames after the first, with its own slot, whose output channels [0, C) and [C, 2C) are frames 2f and 2f+1.
 *
 * Tiling: the latent is cut into overlapping tiles as diffusers' AutoencoderKLWan.tiled_decode does (tiles of
 * `tile` pixels every 3/4 tile, rows of tiles top to bottom, left to right), each decoded whole (all frames,
 * its own caches); each tile is blended with the tile above over the first rows of the overlap and then with
 * the tile to its left over the first columns, linearly (weights y/overlap), and its top-left 3/4 tile goes
 * into the video. Only the strips the next tiles blend with are kept between tiles. What a tile cannot see (the
 * middle attention spans the whole frame, the convolutions reach far) changes the pixels: at 832x480 with
 * 256-pixel tiles and random weights at Wan 2.1's shapes (bench vae --vae-tile, one frame, CPU) the tiled video
 * is 0.058 from the whole-frame one in relative L2 (mean |diff| 0.014 at mean |x| 0.27, max 0.19), for 1.66x the
 * convolutions; test_vae_tiling prints the tiny model's figures. */
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
    void *p;
    size_t cap; /* bytes */
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
    vbuf held;          /* temporal: time_conv's second frame [c, h, w] (conv_dtype) while the first goes on */
} vae_up;

typedef enum { L_RES, L_ATTN, L_UP } layer_kind;

typedef struct {
    layer_kind kind;
    char name[64];     /* official prefix, for messages */
    const char *range; /* the decoder stage it belongs to, as a backend range (vae.middle, vae.up0 ... vae.up3) */
    union {
        vae_res res;
        vae_attn attn;
        vae_up up;
    } u;
} vae_layer;

typedef struct {
    void *buf;    /* [cin, 2, h, w] conv_dtype backend buffer, allocated on first use */
    int64_t n;    /* frames held: 0 or 2 */
    size_t bytes; /* of buf */
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
    vbuf x, s, c;  /* the shared buffers of the top comment */
    size_t esz;    /* bytes of one element of the backend's conv_dtype */
    int tile;      /* rad_vae_set_tiling: tile size in output pixels, 0 = whole frames */
    float *video;  /* host output of the running (tile) decode, [3, F, OH, OW], and the next frame to write */
    int64_t F, OH, OW, f_next;
    size_t work_bytes; /* buffers and caches of the running decode */
    rad_vae_stats stats;
    rad_load_stats load;
    int (*progress)(int done, int total, void *user); /* after each latent frame; nonzero cancels */
    void *progress_user;
    int64_t progress_done, progress_total; /* latent frames decoded and to decode (x tiles) */
    bool time_convs; /* rad_vae_set_conv_timing: wait for the device around each convolution */
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

/* The decoder's stages by resolution, as ranges (backend.h range_push): the middle, then each upsampling stage
 * (its residual blocks and the resample that ends it). */
static const char *const stage_ranges[1 + N_STAGES] = {"vae.middle", "vae.up0", "vae.up1", "vae.up2", "vae.up3"};

static rad_status add_layer(rad_vae *v, layer_kind kind, const char *name, int stage, vae_layer **out) {
    vae_layer *l = &v->layers[v->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->range = stage_ranges[stage];
    snprintf(l->name, sizeof l->name, "%s", name);
    *out = l;
    return RAD_OK;
}

static void free_conv(rad_backend *be, vae_conv *cv) {
    if (cv->w) be->weight_free(be, cv->w);
    if (cv->b) be->free(be, cv->b);
    cv->w = NULL, cv->b = NULL;
}

static void work_free(rad_vae *v, void *p, size_t bytes);

static void release_buf(rad_vae *v, vbuf *b) {
    work_free(v, b->p, b->cap);
    *b = (vbuf){0};
}

static void release_buffers(rad_vae *v) {
    for (int i = 0; v->caches && i < v->n_slots; i++) {
        work_free(v, v->caches[i].buf, v->caches[i].bytes);
        v->caches[i] = (vae_cache){0};
    }
    release_buf(v, &v->x), release_buf(v, &v->s), release_buf(v, &v->c);
    for (int i = 0; v->layers && i < v->n_layers; i++)
        if (v->layers[i].kind == L_UP) release_buf(v, &v->layers[i].u.up.held);
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
    RAD_TRY(add_layer(v, L_RES, "decoder.middle.0", 0, &l));
    RAD_TRY(load_res(v, w, l->name, dims[0], dims[0], &l->u.res));
    RAD_TRY(add_layer(v, L_ATTN, "decoder.middle.1", 0, &l));
    {
        vae_attn *a = &l->u.attn;
        a->c = dims[0];
        RAD_TRY(load_gamma(v, w, "decoder.middle.1.norm.gamma", 3, a->c, &a->gamma));
        RAD_TRY(load_conv(v, w, "decoder.middle.1.to_qkv", 4, a->c, 3 * a->c, 1, 1, 0, 0, &a->qkv));
        RAD_TRY(load_conv(v, w, "decoder.middle.1.proj", 4, a->c, a->c, 1, 1, 0, 0, &a->proj));
    }
    RAD_TRY(add_layer(v, L_RES, "decoder.middle.2", 0, &l));
    RAD_TRY(load_res(v, w, l->name, dims[0], dims[0], &l->u.res));

    int idx = 0;
    char name[64];
    for (int i = 0; i < N_STAGES; i++) {
        int64_t in = i == 0 ? dims[0] : dims[i] / 2; /* the previous stage's resample halved the channels */
        const int64_t out = dims[i + 1];
        for (int64_t j = 0; j < nrb + 1; j++, idx++) {
            snprintf(name, sizeof name, "decoder.upsamples.%d", idx);
            RAD_TRY(add_layer(v, L_RES, name, 1 + i, &l));
            RAD_TRY(load_res(v, w, name, in, out, &l->u.res));
            in = out;
        }
        if (i == N_STAGES - 1) break;
        snprintf(name, sizeof name, "decoder.upsamples.%d", idx++);
        RAD_TRY(add_layer(v, L_UP, name, 1 + i, &l));
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
    v->esz = rad_dtype_size(be->conv_dtype);
    rad_status st = v->esz && be->to_conv_dtype && be->conv3d && be->rmsnorm_channels && be->rmsnorm_silu_channels &&
                            be->upsample2x && be->copy2d
                        ? rad_vae_config_detect(w, &v->cfg) /* z_dim 16, latents_std > 0 */
                        : rad_err(RADIAL_ERR_UNSUPPORTED, "backend '%s' lacks the VAE ops", be->name);
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

void rad_vae_set_conv_timing(rad_vae *v, bool on) { v->time_convs = on; }
const rad_load_stats *rad_vae_load_stats(const rad_vae *v) { return &v->load; }

rad_status rad_vae_set_tiling(rad_vae *v, int tile) {
    if (tile < 0 || tile % 32 || tile > (1 << 16))
        return rad_err(RADIAL_ERR_INVALID_ARG, "VAE tiling: tile size %d pixels is not 0 (off) or a multiple of 32 up "
                       "to 65536", tile);
    v->tile = tile;
    return RAD_OK;
}

/* Backend allocation of the decode's working memory, counted in stats.work_peak_bytes. */
static rad_status work_alloc(rad_vae *v, size_t bytes, const char *what, void **out) {
    RAD_TRY(v->be->alloc(v->be, bytes, what, out));
    v->work_bytes += bytes;
    if (v->work_bytes > v->stats.work_peak_bytes) v->stats.work_peak_bytes = v->work_bytes;
    return RAD_OK;
}

static void work_free(rad_vae *v, void *p, size_t bytes) {
    if (!p) return;
    v->be->free(v->be, p);
    v->work_bytes -= bytes;
}

/* ------------------------------------------------------------------------------------------------------
 * Decoding */

/* Makes b hold at least n elements of elem bytes (contents are not kept). */
static rad_status ensure(rad_vae *v, vbuf *b, int64_t n, size_t elem, const char *what) {
    size_t bytes;
    if (n < 0 || !rad_mul_size((size_t)n, elem, &bytes))
        return rad_err(RADIAL_ERR_NOMEM, "VAE %s: %lld elements of %zu bytes overflow", what, (long long)n, elem);
    if (b->cap >= bytes) return RAD_OK;
    release_buf(v, b);
    RAD_TRY(work_alloc(v, bytes, what, &b->p));
    b->cap = bytes;
    return RAD_OK;
}

static float *f32_of(vbuf *b) { return (float *)b->p; }

/* dst = x[0 .. n) in the backend's conv_dtype. */
static rad_status to_conv(rad_vae *v, const float *x, int64_t n, vbuf *dst, const char *what) {
    RAD_TRY(ensure(v, dst, n, v->esz, what));
    return v->be->to_conv_dtype(v->be, x, n, dst->p);
}

/* The slot of a 3-tap conv keeps the last two frames of its input: [cin, 2, h, w] <- the newer frame, x. Made
 * on first use with a zero older frame. */
static rad_status cache_push(rad_vae *v, vae_cache *cache, int64_t cin, const void *x, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const size_t fb = (size_t)(h * w) * v->esz, pitch2 = CACHE_T * fb, rows = (size_t)cin;
    size_t bytes;
    if (!rad_mul_size(pitch2, rows, &bytes)) return rad_err(RADIAL_ERR_NOMEM, "VAE conv cache: size overflows");
    if (cache->buf && cache->bytes != bytes)
        return rad_err(RADIAL_ERR_MODEL, "VAE conv cache of %zu bytes reused for %zu", cache->bytes, bytes);
    char *buf = cache->buf;
    if (!buf) {
        RAD_TRY(work_alloc(v, bytes, "VAE conv cache", &cache->buf));
        cache->bytes = bytes, cache->n = 0;
        buf = cache->buf;
    }
    if (cache->n == CACHE_T) { /* shift the newer cached frame down */
        RAD_TRY(be->copy2d(be, buf, pitch2, buf + fb, pitch2, fb, rows));
    } else { /* first frame ever: the older frame is zeros (all-zero bytes: +0 in fp32 and bf16), uploaded for
              * channel 0 and copied on the device to the others, doubling (a few calls, not one upload each) */
        void *zero = NULL;
        rad_status st = rad_calloc(&zero, 1, fb, "VAE zero frame");
        if (st == RAD_OK) st = be->upload(be, buf, zero, fb);
        rad_free(zero);
        for (size_t k = 1; st == RAD_OK && k < rows; k *= 2)
            st = be->copy2d(be, buf + k * pitch2, pitch2, buf, pitch2, fb, k < rows - k ? k : rows - k);
        RAD_TRY(st);
    }
    RAD_TRY(be->copy2d(be, buf + fb, pitch2, x, fb, fb, rows));
    cache->n = CACHE_T;
    return RAD_OK;
}

/* y = conv(x) for one frame x [cin, h, w] (conv_dtype), with the conv's cache slot as `prev`; then the slot
 * takes x. */
static rad_status conv_run(rad_vae *v, const vae_conv *cv, const void *x, int64_t h, int64_t w, float *y) {
    rad_backend *be = v->be;
    vae_cache *cache = cv->slot >= 0 ? &v->caches[cv->slot] : NULL;
    /* conv time only (rad_vae_set_conv_timing): the queued ops before it finish first (no-op on the CPU) */
    if (v->time_convs) RAD_TRY(be->sync(be));
    const double t0 = rad_now();
    RAD_TRY(be->conv3d(be, x, cv->cin, 1, h, w, cache ? cache->buf : NULL, cache ? cache->n : 0, cv->w, cv->b,
                       cv->cout, cv->kt, cv->kh, cv->kw, cv->ph, cv->pw, y));
    if (v->time_convs) {
        RAD_TRY(be->sync(be));
        v->stats.conv_seconds += rad_now() - t0;
    }
    v->stats.conv_flops += 2.0 * (double)(cv->cout * cv->cin * cv->kt * cv->kh * cv->kw) *
                           (double)((h + 2 * cv->ph - cv->kh + 1) * (w + 2 * cv->pw - cv->kw + 1));
    return cache ? cache_push(v, cache, cv->cin, x, h, w) : RAD_OK;
}

/* y = conv(silu(norm(x))) with x [cin, h, w] fp32 and norm the channel RMS norm with gamma, through c. */
static rad_status norm_silu_conv(rad_vae *v, const vae_conv *cv, const float *x, const float *gamma, int64_t h,
                                 int64_t w, float *y) {
    RAD_TRY(ensure(v, &v->c, cv->cin * h * w, v->esz, "VAE conv input"));
    RAD_TRY(v->be->rmsnorm_silu_channels(v->be, x, cv->cin, h * w, gamma, v->c.p));
    return conv_run(v, cv, v->c.p, h, w, y);
}

/* x = ResBlock(x), [cin, h, w] -> [cout, h, w]: residual conv2(silu(norm(conv1(silu(norm(x)))))) plus x, or plus
 * shortcut(x) when the widths differ. */
static rad_status res_run(rad_vae *v, const vae_res *r, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t s = h * w;
    if (r->shortcut.w) { /* the shortcut first, into s; then x is dead and the residual branch runs in x */
        RAD_TRY(to_conv(v, f32_of(&v->x), r->cin * s, &v->c, "VAE conv input"));
        RAD_TRY(ensure(v, &v->s, r->cout * s, sizeof(float), "VAE scratch"));
        RAD_TRY(conv_run(v, &r->shortcut, v->c.p, h, w, f32_of(&v->s)));
        RAD_TRY(ensure(v, &v->c, r->cin * s, v->esz, "VAE conv input"));
        RAD_TRY(be->rmsnorm_silu_channels(be, f32_of(&v->x), r->cin, s, r->gamma1, v->c.p));
        RAD_TRY(ensure(v, &v->x, r->cout * s, sizeof(float), "VAE activation"));
        RAD_TRY(conv_run(v, &r->conv1, v->c.p, h, w, f32_of(&v->x)));
        RAD_TRY(norm_silu_conv(v, &r->conv2, f32_of(&v->x), r->gamma2, h, w, f32_of(&v->x)));
        return be->add_gated(be, f32_of(&v->x), f32_of(&v->s), 1, r->cout * s, NULL);
    }
    RAD_TRY(ensure(v, &v->s, r->cout * s, sizeof(float), "VAE scratch"));
    float *x = f32_of(&v->x), *a = f32_of(&v->s);
    RAD_TRY(norm_silu_conv(v, &r->conv1, x, r->gamma1, h, w, a));
    RAD_TRY(norm_silu_conv(v, &r->conv2, a, r->gamma2, h, w, a));
    return be->add_gated(be, x, a, 1, r->cout * s, NULL); /* out = residual + x */
}

/* x += proj(attention(norm(x))), single head over the h·w tokens, scale 1/sqrt(C). s holds qkv [3C, hw] and then
 * the attention output, followed by q, k, v token-major [hw, C] (the first also the norm before them). */
static rad_status attn_run(rad_vae *v, const vae_attn *at, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t C = at->c, hw = h * w, n = C * hw;
    RAD_TRY(ensure(v, &v->s, 6 * n, sizeof(float), "VAE attention"));
    float *x = f32_of(&v->x), *qkv = f32_of(&v->s), *qt = qkv + 3 * n, *kt = qkv + 4 * n, *vt = qkv + 5 * n;
    RAD_TRY(be->rmsnorm_channels(be, x, C, hw, at->gamma, qt));
    RAD_TRY(to_conv(v, qt, n, &v->c, "VAE conv input"));
    RAD_TRY(conv_run(v, &at->qkv, v->c.p, h, w, qkv));
    /* [C, hw] channel ranges -> token-major [hw, C] */
    RAD_TRY(be->transpose(be, qkv, C, hw, qt));
    RAD_TRY(be->transpose(be, qkv + n, C, hw, kt));
    RAD_TRY(be->transpose(be, qkv + 2 * n, C, hw, vt));
    RAD_TRY(be->attention(be, qt, kt, vt, qkv, hw, hw, 1, C, (float)(1.0 / sqrt((double)C)), NULL, NULL));
    RAD_TRY(be->transpose(be, qkv, hw, C, qt));
    RAD_TRY(to_conv(v, qt, n, &v->c, "VAE conv input"));
    RAD_TRY(conv_run(v, &at->proj, v->c.p, h, w, kt));
    return be->add_gated(be, x, kt, 1, n, NULL);
}

/* x [c/2, 2h, 2w] = resample.1(nearest 2x(in)) for a frame `in` [c, h, w] (conv_dtype); the upsampled frame goes
 * through s. */
static rad_status resample_run(rad_vae *v, const vae_up *u, const void *in, int64_t h, int64_t w) {
    RAD_TRY(ensure(v, &v->s, u->c * 4 * h * w, v->esz, "VAE upsampled frame"));
    RAD_TRY(v->be->upsample2x(v->be, in, u->c, h, w, v->s.p));
    RAD_TRY(ensure(v, &v->x, u->c / 2 * 4 * h * w, sizeof(float), "VAE activation"));
    return conv_run(v, &u->conv, v->s.p, 2 * h, 2 * w, f32_of(&v->x));
}

/* x = upsample3d(x), [c, h, w] -> [c/2, 2h, 2w]. From chunk 1 on a temporal one makes two frames: x is the
 * first, and the second waits in `held` (conv_dtype, before its resample) until the first has gone through the
 * rest of the decoder; *two says so. */
static rad_status up_run(rad_vae *v, vae_up *u, int64_t h, int64_t w, int *two) {
    const int64_t n = u->c * h * w;
    *two = 0;
    RAD_TRY(to_conv(v, f32_of(&v->x), n, &v->c, "VAE conv input"));
    if (!u->temporal || !u->seen) {
        u->seen = 1;
        return resample_run(v, u, v->c.p, h, w);
    }
    RAD_TRY(ensure(v, &v->s, 2 * n, sizeof(float), "VAE time_conv output"));
    RAD_TRY(conv_run(v, &u->time_conv, v->c.p, h, w, f32_of(&v->s)));
    RAD_TRY(to_conv(v, f32_of(&v->s) + n, n, &u->held, "VAE held frame"));
    RAD_TRY(v->be->to_conv_dtype(v->be, f32_of(&v->s), n, v->c.p));
    *two = 1;
    return resample_run(v, u, v->c.p, h, w);
}

/* The head on x [C, h, w]: video frame f_next = conv(silu(norm(x))), written to the host video. */
static rad_status head_run(rad_vae *v, int64_t h, int64_t w) {
    rad_backend *be = v->be;
    const int64_t C = v->head.cin, s = h * w;
    if (h != v->OH || w != v->OW || v->f_next >= v->F)
        return rad_err(RADIAL_ERR_MODEL, "VAE decode: the decoder made a frame of %lldx%lld at frame %lld of %lld x "
                       "%lldx%lld", (long long)h, (long long)w, (long long)v->f_next, (long long)v->F,
                       (long long)v->OH, (long long)v->OW);
    RAD_TRY(ensure(v, &v->s, C * s, sizeof(float), "VAE scratch"));
    RAD_TRY(norm_silu_conv(v, &v->head, f32_of(&v->x), v->head_gamma, h, w, f32_of(&v->s)));
    for (int64_t c = 0; c < 3; c++)
        RAD_TRY(be->download(be, v->video + (c * v->F + v->f_next) * s, f32_of(&v->s) + c * s,
                             (size_t)s * sizeof(float)));
    v->f_next++;
    return RAD_OK;
}

/* Runs layers [i, n) and the head on x [C, h, w], one frame. */
static rad_status run_from(rad_vae *v, int i, int64_t h, int64_t w) {
    for (; i < v->n_layers; i++) {
        vae_layer *l = &v->layers[i];
        int two = 0;
        rad_range_push(v->be, l->range);
        rad_status st = l->kind == L_RES    ? res_run(v, &l->u.res, h, w)
                        : l->kind == L_ATTN ? attn_run(v, &l->u.attn, h, w)
                                            : up_run(v, &l->u.up, h, w, &two);
        rad_range_pop(v->be);
        if (st != RAD_OK) return rad_err_prefix(st, "%s: ", l->name);
        if (l->kind != L_UP) continue;
        h *= 2, w *= 2;
        if (!two) continue;
        RAD_TRY(run_from(v, i + 1, h, w));
        rad_range_push(v->be, l->range); /* the held second frame's resample, after the first went through */
        st = resample_run(v, &l->u.up, l->u.up.held.p, h / 2, w / 2);
        rad_range_pop(v->be);
        if (st != RAD_OK) return rad_err_prefix(st, "%s: ", l->name);
        return run_from(v, i + 1, h, w);
    }
    rad_range_push(v->be, "vae.head");
    const rad_status st = head_run(v, h, w);
    rad_range_pop(v->be);
    return st;
}

/* The whole-frame decode of latent [z, T, H, W] (normalised) into video [3, F, sf·H, sf·W]. */
static rad_status decode_frames(rad_vae *v, const float *latent, int64_t T, int64_t H, int64_t W, float *video) {
    rad_backend *be = v->be;
    const int64_t z = v->cfg.z_dim, hw = H * W, sf = rad_vae_spatial_factor(v);
    float *zc;
    RAD_TRY(rad_alloc((void **)&zc, (size_t)(z * hw) * sizeof(float), "VAE latent chunk"));
    /* The official scale is [mean, 1/std] and decode computes z_n / (1/std) + mean, in fp32. */
    float inv_std[16];
    for (int c = 0; c < 16; c++) inv_std[c] = 1.0f / v->cfg.latents_std[c];

    rad_status st = RAD_OK;
    v->video = video, v->F = rad_vae_out_frames(v, T), v->OH = sf * H, v->OW = sf * W, v->f_next = 0;
    for (int i = 0; i < v->n_layers; i++)
        if (v->layers[i].kind == L_UP) v->layers[i].u.up.seen = 0;
    for (int i = 0; i < v->n_slots; i++) v->caches[i].n = 0;
    for (int64_t i = 0; st == RAD_OK && i < T; i++) {
        for (int64_t c = 0; c < z; c++)
            for (int64_t p = 0; p < hw; p++)
                zc[c * hw + p] = latent[(c * T + i) * hw + p] / inv_std[c] + v->cfg.latents_mean[c];
        /* x = conv1(conv2(z)), one latent frame, then the rest of the decoder. */
        rad_range_push(be, "vae.chunk");
        st = ensure(v, &v->s, z * hw, sizeof(float), "VAE scratch");
        if (st == RAD_OK) st = be->upload(be, v->s.p, zc, (size_t)(z * hw) * sizeof(float));
        if (st == RAD_OK) st = to_conv(v, f32_of(&v->s), z * hw, &v->c, "VAE conv input");
        if (st == RAD_OK) st = ensure(v, &v->x, z * hw, sizeof(float), "VAE activation");
        if (st == RAD_OK) st = conv_run(v, &v->post_quant, v->c.p, H, W, f32_of(&v->x));
        if (st == RAD_OK) st = to_conv(v, f32_of(&v->x), z * hw, &v->c, "VAE conv input");
        if (st == RAD_OK) st = ensure(v, &v->x, v->conv_in.cout * hw, sizeof(float), "VAE activation");
        if (st == RAD_OK) st = conv_run(v, &v->conv_in, v->c.p, H, W, f32_of(&v->x));
        if (st == RAD_OK) st = run_from(v, 0, H, W);
        rad_range_pop(be);
        if (st != RAD_OK) st = rad_err_prefix(st, "VAE decode, latent frame %lld: ", (long long)i);
        v->progress_done++;
        if (st == RAD_OK && v->progress &&
            v->progress((int)v->progress_done, (int)v->progress_total, v->progress_user))
            st = rad_err(RADIAL_ERR_CANCELLED, "VAE decode cancelled after latent frame %lld of %lld",
                         (long long)v->progress_done, (long long)v->progress_total);
    }
    if (st == RAD_OK && v->f_next != v->F)
        st = rad_err(RADIAL_ERR_MODEL, "VAE decode: produced %lld frames, expected %lld", (long long)v->f_next,
                     (long long)v->F);
    v->video = NULL;
    rad_free(zc);
    release_buffers(v); /* a tile's buffers and caches fit that tile only */
    return st;
}

/* Tiled decode (top comment): tiles of tl latent pixels every sl, blended over `blend` output pixels. A tile's
 * video is [3, F, ph, pw] (ph x pw pixels); cf below runs over its 3·F channel frames. */
typedef struct {
    int64_t F, tl, sl, tp, sp, blend; /* frames; tile and stride in latent and output pixels; overlap (pixels) */
    float *crop, *tile;               /* host: the tile's latent [z, T, th, tw] and video */
    float *below;                     /* per tile column: the bottom rows of the tile above, [3F, rows, pw] */
    int64_t *below_h, *below_rows;    /* that tile's height (pixels) and the rows kept */
    float *right;                     /* the right columns of the tile to the left, [3F, ph, cols] */
    int64_t right_w, right_cols;      /* that tile's width (pixels) and the columns kept */
} tiling;

static void tiling_free(tiling *t) {
    rad_free(t->crop), rad_free(t->tile), rad_free(t->below), rad_free(t->below_h), rad_free(t->below_rows);
    rad_free(t->right);
}

static int64_t min3(int64_t a, int64_t b, int64_t c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }

/* b = a·(1 - i/ext) + b·(i/ext), diffusers' blend_v / blend_h, with the weights rounded to fp32 as torch rounds
 * a Python float factor. */
static float blend1(float a, float b, int64_t i, int64_t ext) {
    const float wb = (float)((double)i / (double)ext), wa = (float)(1.0 - (double)i / (double)ext);
    return a * wa + b * wb;
}

/* Blends tile (ti, tj) of ph x pw pixels with the tile above over its first min(above height, ph, blend) rows,
 * then with the tile to the left over its first min(left width, pw, blend) columns (both as already blended),
 * and keeps its own bottom rows and right columns for the tiles below and to the right. */
static void tile_blend(tiling *t, int64_t ti, int64_t tj, int64_t ph, int64_t pw) {
    const int64_t nf = 3 * t->F, bl = t->blend;
    float *T = t->tile, *below = t->below + tj * nf * bl * t->tp;
    if (ti > 0) {
        const int64_t ext = min3(t->below_h[tj], ph, bl), rows = t->below_rows[tj];
        for (int64_t cf = 0; cf < nf; cf++)
            for (int64_t y = 0; y < ext; y++)
                for (int64_t x = 0; x < pw; x++) {
                    float *b = &T[(cf * ph + y) * pw + x];
                    *b = blend1(below[(cf * rows + rows - ext + y) * pw + x], *b, y, ext);
                }
    }
    if (tj > 0) {
        const int64_t ext = min3(t->right_w, pw, bl), cols = t->right_cols;
        for (int64_t cf = 0; cf < nf; cf++)
            for (int64_t y = 0; y < ph; y++)
                for (int64_t x = 0; x < ext; x++) {
                    float *b = &T[(cf * ph + y) * pw + x];
                    *b = blend1(t->right[(cf * ph + y) * cols + cols - ext + x], *b, x, ext);
                }
    }
    const int64_t rows = ph < bl ? ph : bl, cols = pw < bl ? pw : bl;
    for (int64_t cf = 0; cf < nf; cf++) {
        memcpy(&below[cf * rows * pw], &T[(cf * ph + ph - rows) * pw], (size_t)(rows * pw) * sizeof(float));
        for (int64_t y = 0; y < ph; y++)
            memcpy(&t->right[(cf * ph + y) * cols], &T[(cf * ph + y) * pw + pw - cols], (size_t)cols * sizeof(float));
    }
    t->below_h[tj] = ph, t->below_rows[tj] = rows, t->right_w = pw, t->right_cols = cols;
}

static rad_status decode_tiled(rad_vae *v, const float *latent, int64_t T, int64_t H, int64_t W, float *video) {
    const int64_t z = v->cfg.z_dim, sf = rad_vae_spatial_factor(v), OH = sf * H, OW = sf * W;
    tiling t = {.F = rad_vae_out_frames(v, T), .tp = v->tile, .tl = v->tile / sf};
    t.sl = t.tl * 3 / 4, t.sp = t.sl * sf, t.blend = t.tp - t.sp;
    const int64_t n_ti = (H + t.sl - 1) / t.sl, n_tj = (W + t.sl - 1) / t.sl, nf = 3 * t.F;
    v->progress_total = n_ti * n_tj * T;
    rad_status st = rad_alloc((void **)&t.crop, (size_t)(z * T * t.tl * t.tl) * sizeof(float), "VAE tile latent");
    if (st == RAD_OK) st = rad_alloc((void **)&t.tile, (size_t)(nf * t.tp * t.tp) * sizeof(float), "VAE tile");
    if (st == RAD_OK)
        st = rad_alloc((void **)&t.below, (size_t)(n_tj * nf * t.blend * t.tp) * sizeof(float), "VAE tile rows");
    if (st == RAD_OK) st = rad_calloc((void **)&t.below_h, (size_t)n_tj, sizeof(int64_t), "VAE tile rows");
    if (st == RAD_OK) st = rad_calloc((void **)&t.below_rows, (size_t)n_tj, sizeof(int64_t), "VAE tile rows");
    if (st == RAD_OK)
        st = rad_alloc((void **)&t.right, (size_t)(nf * t.tp * t.blend) * sizeof(float), "VAE tile columns");
    for (int64_t ti = 0; st == RAD_OK && ti < n_ti; ti++)
        for (int64_t tj = 0; st == RAD_OK && tj < n_tj; tj++) {
            const int64_t i0 = ti * t.sl, j0 = tj * t.sl;
            const int64_t th = H - i0 < t.tl ? H - i0 : t.tl, tw = W - j0 < t.tl ? W - j0 : t.tl;
            const int64_t ph = th * sf, pw = tw * sf;
            for (int64_t c = 0; c < z * T; c++)
                for (int64_t y = 0; y < th; y++)
                    memcpy(&t.crop[(c * th + y) * tw], &latent[(c * H + i0 + y) * W + j0], (size_t)tw * sizeof(float));
            rad_range_push(v->be, "vae.tile");
            st = decode_frames(v, t.crop, T, th, tw, t.tile);
            rad_range_pop(v->be);
            if (st != RAD_OK) {
                st = rad_err_prefix(st, "tile (%lld, %lld) at latent (%lld, %lld): ", (long long)ti, (long long)tj,
                                    (long long)i0, (long long)j0);
                break;
            }
            tile_blend(&t, ti, tj, ph, pw);
            const int64_t rows = ph < t.sp ? ph : t.sp, cols = pw < t.sp ? pw : t.sp;
            for (int64_t cf = 0; cf < nf; cf++)
                for (int64_t y = 0; y < rows; y++)
                    memcpy(&video[(cf * OH + i0 * sf + y) * OW + j0 * sf], &t.tile[(cf * ph + y) * pw],
                           (size_t)cols * sizeof(float));
        }
    tiling_free(&t);
    return st;
}

rad_status rad_vae_decode(rad_vae *v, const float *latent, int64_t T, int64_t H, int64_t W, float *video) {
    const int64_t sf = rad_vae_spatial_factor(v);
    if (T < 1 || H < 1 || W < 1 || T > 1 << 20 || H > 1 << 16 || W > 1 << 16)
        return rad_err(RADIAL_ERR_INVALID_ARG, "VAE decode: latent size %lld x %lld x %lld is out of range",
                       (long long)T, (long long)H, (long long)W);
    size_t bytes;
    const int64_t out_shape[4] = {3, rad_vae_out_frames(v, T), sf * H, sf * W};
    RAD_TRY(rad_shape_bytes(out_shape, 4, sizeof(float), &bytes)); /* the caller's buffer must hold this */
    const int64_t tl = v->tile / sf;
    const double t_start = rad_now();
    v->stats.work_peak_bytes = 0;
    v->stats.conv_flops = v->stats.conv_seconds = 0;
    v->progress_done = 0, v->progress_total = T;
    rad_range_push(v->be, "vae.decode");
    rad_status st = v->tile && (H > tl || W > tl) ? decode_tiled(v, latent, T, H, W, video)
                                                  : decode_frames(v, latent, T, H, W, video);
    rad_range_pop(v->be);
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
