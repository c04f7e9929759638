/* Wan 2.1 DiT forward (spec wan21.md §1.2–1.4) on the backend ops.
 *
 * Numerics follow the official fp32 path: fp32 residual stream; block modulation = blocks.i.modulation + e0,
 * head modulation = head.modulation + e (not e0); the text context is zero-padded to text_len rows before
 * text_embedding and all text_len keys take part in cross-attention; unpatchify channel order (q, r, c).
 *
 * Host-side work is limited to layout (patch gather, context padding, unpatchify), the sinusoidal time
 * embedding (float64, as in the official code) and copies of small vectors; everything else is backend ops. */
#include "dit/dit.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"

/* The FFN's hidden buffer holds this many rows of fp32 (the backend's ffn runs as many rows at a time as fit). */
#define FFN_CHUNK 8192

typedef struct {
    rad_weight *w;
    float *b; /* backend buffer [rows] */
} lin;

typedef struct {
    float *mod; /* host copy of blocks.i.modulation [6, D] (added to e0 each forward) */
    lin sq, sk, sv, so, cq, ck, cv, co, f1, f2;
    float *s_nq, *s_nk, *c_nq, *c_nk, *n3w, *n3b; /* backend buffers [D] */
} dit_block;

/* Activation buffers of one forward (backend memory), sized for `tokens` video tokens. */
typedef struct {
    int64_t tokens;
    float *x, *xn, *q, *k, *v; /* [tokens, D] */
    float *ffh;                /* [min(tokens, FFN_CHUNK), F] */
    float *patch;              /* [tokens, max(patch in, patch out)] */
    float *ctx_in;             /* [text_len, text_dim] */
    float *ctx, *ck, *cv;      /* [text_len, D] */
    float *tsin, *e, *es, *e0, *mods, *hmod; /* time embedding: [freq_dim], [D], [D], [6D], [layers·6D], [2D] */
} dit_ws;

struct rad_dit {
    rad_backend *be;
    rad_dit_config c;
    int resident_blocks; /* blocks [0, resident_blocks) are resident on the backend, the rest streamed (offload) */
    bool loading_streamed; /* load_lin_shape makes streamed weights (a block at or past resident_blocks) */
    bool parked;           /* the resident matrices wait in host memory (rad_dit_park) */
    lin patch, txt1, txt2, tim1, tim2, tproj, head;
    float *head_mod; /* host copy of head.modulation [2, D] */
    rad_load_stats load;
    dit_block *blocks;
    dit_ws ws;
    int64_t grid[3]; /* token grid (f, h, w) of the last forward, whose state rad_dit_run_block reuses */
    /* Ulysses (rad_dit_forward_parallel): k and v of this rank's heads over all tokens [tokens, dim/degree] */
    float *kh, *vh;
    size_t head_floats;
};

/* A rank's part of a Ulysses forward (rad_dit_forward_parallel): NULL in a single-rank forward. */
typedef struct {
    rad_group *g;
    int u;            /* degree = g->size */
    int64_t n_all;    /* every token of the grid */
    int64_t t0, nl;   /* this rank's token range [t0, t0 + nl) */
} par_ctx;

const rad_dit_config *rad_dit_config_of(const rad_dit *d) { return &d->c; }
const rad_load_stats *rad_dit_load_stats(const rad_dit *d) { return &d->load; }

/* ---------------------------------------------------------------------------------------------------- load */

/* Where tensors come from: the model files (through the loader), or (l == NULL) seeded random values for
 * benchmarks. */
typedef struct {
    rad_loader *l;
    uint64_t seed;
} tensor_src;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Random stand-in for a tensor, seeded by (seed, name): matrices uniform in ±1/√fan_in, norm weights near 1,
 * modulation tables and biases small, so activations stay in a realistic range over many blocks. */
static rad_status random_f32(uint64_t seed, const char *name, int ndim, const int64_t *shape, float **out) {
    size_t n;
    RAD_TRY(rad_shape_bytes(shape, ndim, 1, &n));
    RAD_TRY(rad_alloc((void **)out, n * sizeof(float), name));
    uint64_t st = seed;
    for (const char *c = name; *c; c++) st = st * 1099511628211ULL ^ (unsigned char)*c;
    const size_t fan_in = ndim >= 2 && shape[0] > 0 ? n / (size_t)shape[0] : 1;
    const int is_norm = strstr(name, "norm") != NULL, is_bias = strstr(name, ".bias") != NULL;
    const float amp = strstr(name, "modulation") || is_bias || is_norm ? 0.1f : (float)(1.0 / sqrt((double)fan_in));
    const float base = is_norm && !is_bias ? 1.0f : 0.0f;
    for (size_t i = 0; i < n; i++)
        (*out)[i] = base + amp * (float)((double)(splitmix64(&st) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    return RAD_OK;
}

static rad_status src_f32(tensor_src *src, const char *name, int ndim, const int64_t *shape, float **out) {
    if (src->l) return rad_loader_f32(src->l, name, ndim, shape, out);
    return random_f32(src->seed, name, ndim, shape, out);
}

static rad_status be_buffer(rad_backend *be, const float *host, int64_t n, const char *what, float **out) {
    RAD_TRY(be->alloc(be, (size_t)n * sizeof(float), what, (void **)out));
    return be->upload(be, *out, host, (size_t)n * sizeof(float));
}

/* A tensor of any rank as a backend buffer (vectors: biases, norm weights). */
static rad_status load_vec(rad_dit *d, tensor_src *w, const char *name, int64_t n, float **out) {
    float *h;
    RAD_TRY(src_f32(w, name, 1, &n, &h));
    rad_status s = be_buffer(d->be, h, n, name, out);
    rad_free(h);
    return s;
}

/* `<prefix>.weight` [rows, cols] (or the given shape, flattened to rows x cols) and `<prefix>.bias` [rows]. */
static rad_status load_lin_shape(rad_dit *d, tensor_src *w, const char *prefix, int ndim,
                                 const int64_t *shape, int64_t rows, int64_t cols, lin *out) {
    char name[160];
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (w->l) {
        RAD_TRY(rad_loader_weight(w->l, name, ndim, shape, rows, cols, &out->w));
    } else {
        float *h;
        RAD_TRY(random_f32(w->seed, name, ndim, shape, &h));
        const rad_weight_src src = rad_weight_src_f32(h);
        rad_status s = (d->loading_streamed ? d->be->weight_new_host : d->be->weight_new)(d->be, &src, rows, cols, name, &out->w);
        rad_free(h);
        RAD_TRY(s);
    }
    snprintf(name, sizeof name, "%s.bias", prefix);
    return load_vec(d, w, name, rows, &out->b);
}

static rad_status load_lin(rad_dit *d, tensor_src *w, const char *prefix, int64_t rows, int64_t cols,
                           lin *out) {
    const int64_t shape[2] = {rows, cols};
    return load_lin_shape(d, w, prefix, 2, shape, rows, cols, out);
}

static rad_status load_block(rad_dit *d, tensor_src *w, int i, dit_block *b) {
    const int64_t D = d->c.dim, F = d->c.ffn_dim;
    char p[128], n[160];
    const int64_t mshape[3] = {1, 6, D};
    snprintf(n, sizeof n, "blocks.%d.modulation", i);
    RAD_TRY(src_f32(w, n, 3, mshape, &b->mod));
    static const char *const att[2] = {"self_attn", "cross_attn"};
    for (int a = 0; a < 2; a++) {
        lin *l = a ? &b->cq : &b->sq;
        static const char qkvo[4] = {'q', 'k', 'v', 'o'};
        for (int j = 0; j < 4; j++) {
            snprintf(p, sizeof p, "blocks.%d.%s.%c", i, att[a], qkvo[j]);
            RAD_TRY(load_lin(d, w, p, D, D, &l[j]));
        }
        snprintf(n, sizeof n, "blocks.%d.%s.norm_q.weight", i, att[a]);
        RAD_TRY(load_vec(d, w, n, D, a ? &b->c_nq : &b->s_nq));
        snprintf(n, sizeof n, "blocks.%d.%s.norm_k.weight", i, att[a]);
        RAD_TRY(load_vec(d, w, n, D, a ? &b->c_nk : &b->s_nk));
    }
    snprintf(n, sizeof n, "blocks.%d.norm3.weight", i);
    RAD_TRY(load_vec(d, w, n, D, &b->n3w));
    snprintf(n, sizeof n, "blocks.%d.norm3.bias", i);
    RAD_TRY(load_vec(d, w, n, D, &b->n3b));
    snprintf(p, sizeof p, "blocks.%d.ffn.0", i);
    RAD_TRY(load_lin(d, w, p, F, D, &b->f1));
    snprintf(p, sizeof p, "blocks.%d.ffn.2", i);
    return load_lin(d, w, p, D, F, &b->f2);
}

static rad_status check_config(const rad_dit_config *c) {
    if (c->dim <= 0 || c->num_heads <= 0 || c->dim % c->num_heads || c->head_dim != c->dim / c->num_heads ||
        c->head_dim % 2 || c->head_dim < 6 || c->ffn_dim <= 0 || c->num_layers <= 0 || c->num_layers > 4096 ||
        c->in_dim <= 0 || c->out_dim <= 0 || c->text_dim <= 0 || c->text_len <= 0 || c->freq_dim <= 0 ||
        c->freq_dim % 2 || c->patch_t <= 0 || c->patch_h <= 0 || c->patch_w <= 0 || c->patch_t > 16 ||
        c->patch_h > 16 || c->patch_w > 16 || !(c->eps > 0))
        return rad_err(RADIAL_ERR_MODEL,
                       "DiT config is inconsistent: dim %d, heads %d, head_dim %d, ffn %d, layers %d, in %d, out %d, "
                       "text %d x %d, freq %d, patch (%d,%d,%d)",
                       c->dim, c->num_heads, c->head_dim, c->ffn_dim, c->num_layers, c->in_dim, c->out_dim,
                       c->text_len, c->text_dim, c->freq_dim, c->patch_t, c->patch_h, c->patch_w);
    return RAD_OK;
}

static rad_status dit_load_all(rad_dit *d, tensor_src *w) {
    const rad_dit_config *c = &d->c;
    const int64_t D = c->dim, P = (int64_t)c->patch_t * c->patch_h * c->patch_w;
    const int64_t pshape[5] = {D, c->in_dim, c->patch_t, c->patch_h, c->patch_w};
    RAD_TRY(load_lin_shape(d, w, "patch_embedding", 5, pshape, D, c->in_dim * P, &d->patch));
    RAD_TRY(load_lin(d, w, "text_embedding.0", D, c->text_dim, &d->txt1));
    RAD_TRY(load_lin(d, w, "text_embedding.2", D, D, &d->txt2));
    RAD_TRY(load_lin(d, w, "time_embedding.0", D, c->freq_dim, &d->tim1));
    RAD_TRY(load_lin(d, w, "time_embedding.2", D, D, &d->tim2));
    RAD_TRY(load_lin(d, w, "time_projection.1", 6 * D, D, &d->tproj));
    RAD_TRY(load_lin(d, w, "head.head", c->out_dim * P, D, &d->head));
    const int64_t hshape[3] = {1, 2, D};
    RAD_TRY(src_f32(w, "head.modulation", 3, hshape, &d->head_mod));
    RAD_TRY(rad_calloc((void **)&d->blocks, (size_t)c->num_layers, sizeof *d->blocks, "DiT blocks"));
    for (int i = 0; i < c->num_layers; i++) {
        d->loading_streamed = i >= d->resident_blocks;
        if (w->l) rad_loader_set_streamed(w->l, d->loading_streamed);
        RAD_TRY(load_block(d, w, i, &d->blocks[i]));
    }
    d->loading_streamed = false;
    if (w->l) rad_loader_set_streamed(w->l, false);
    /* the blocks must end at num_layers: a further block means the config is wrong */
    char n[64];
    snprintf(n, sizeof n, "blocks.%d.modulation", c->num_layers);
    if (w->l && rad_weights_find(rad_loader_weights(w->l), n))
        return rad_err(RADIAL_ERR_MODEL, "%s: has tensor %s but the config says %d layers",
                       rad_weights_label(rad_loader_weights(w->l)), n, c->num_layers);
    return RAD_OK;
}

rad_status rad_dit_load(rad_backend *be, const rad_weights *w, rad_lora *const *loras, size_t n_loras,
                        int resident_blocks, rad_dit **out) {
    *out = NULL;
    rad_dit *d;
    RAD_TRY(rad_calloc((void **)&d, 1, sizeof *d, "DiT"));
    d->be = be;
    rad_status s = rad_dit_config_detect(w, &d->c);
    if (s == RAD_OK) s = check_config(&d->c);
    d->resident_blocks = resident_blocks < 0 || resident_blocks > d->c.num_layers ? d->c.num_layers : resident_blocks;
    rad_loader *l = NULL;
    if (s == RAD_OK) s = rad_loader_new(w, be, loras, n_loras, &l);
    tensor_src src = {l, 0};
    if (s == RAD_OK) s = dit_load_all(d, &src);
    if (s == RAD_OK) s = rad_loader_finish(l, &d->load);
    rad_loader_free(l);
    if (s != RAD_OK) {
        rad_dit_free(d);
        return rad_err_prefix(s, "loading the DiT from %s: ", rad_weights_label(w));
    }
    *out = d;
    return RAD_OK;
}

rad_status rad_dit_random(rad_backend *be, const rad_dit_config *c, uint64_t seed, int resident_blocks, rad_dit **out) {
    *out = NULL;
    rad_dit *d;
    RAD_TRY(rad_calloc((void **)&d, 1, sizeof *d, "DiT"));
    d->be = be;
    d->c = *c;
    d->resident_blocks = resident_blocks < 0 || resident_blocks > c->num_layers ? c->num_layers : resident_blocks;
    tensor_src src = {NULL, seed};
    rad_status s = check_config(&d->c);
    if (s == RAD_OK) s = dit_load_all(d, &src);
    if (s != RAD_OK) {
        rad_dit_free(d);
        return rad_err_prefix(s, "building a random DiT: ");
    }
    *out = d;
    return RAD_OK;
}

static void lin_free(rad_backend *be, lin *l) {
    if (l->w) be->weight_free(be, l->w);
    if (l->b) be->free(be, l->b);
}

/* The workspace, buffer by buffer: its field, name and size in floats (a x b) for n video tokens. One table for
 * the allocation, the release and the plan (rad_dit_plan_activations), so the printed plan is what is held. */
typedef struct {
    size_t off; /* offsetof(dit_ws, field) */
    const char *name;
    size_t a, b;
} ws_entry;
enum { N_WS = 17 };

static void ws_layout(const rad_dit_config *c, size_t n, ws_entry e[N_WS]) {
    const size_t D = (size_t)c->dim, P = (size_t)c->patch_t * c->patch_h * c->patch_w;
    const size_t pw = (size_t)(c->in_dim > c->out_dim ? c->in_dim : c->out_dim) * P;
    const size_t TL = (size_t)c->text_len, L = (size_t)c->num_layers;
    int k = 0;
#define WS(field, what, rows, cols) e[k++] = (ws_entry){offsetof(dit_ws, field), what, rows, cols}
    WS(x, "x: residual stream [tokens, dim]", n, D);
    WS(xn, "xn: normed/modulated input, attention output [tokens, dim]", n, D);
    WS(q, "q: query; projection outputs [tokens, dim]", n, D);
    WS(k, "k: key [tokens, dim]", n, D);
    WS(v, "v: value [tokens, dim]", n, D);
    WS(ffh, "ffh: FFN hidden, row chunks [min(tokens, 8192), ffn_dim] (CUDA: twice the rows in bf16)", n < FFN_CHUNK ? n : FFN_CHUNK, (size_t)c->ffn_dim);
    WS(patch, "patch: patch embedding in / head out [tokens, patch values]", n, pw);
    WS(ctx_in, "ctx_in: padded text context [text_len, text_dim]", TL, (size_t)c->text_dim);
    WS(ctx, "ctx: embedded text [text_len, dim]", TL, D);
    WS(ck, "ck: cross-attention key [text_len, dim]", TL, D);
    WS(cv, "cv: cross-attention value [text_len, dim]", TL, D);
    WS(tsin, "tsin: timestep sinusoid", 1, (size_t)c->freq_dim);
    WS(e, "e: time embedding", 1, D);
    WS(es, "es: SiLU(e)", 1, D);
    WS(e0, "e0: time projection [6, dim]", 6, D);
    WS(mods, "mods: block modulations [layers, 6, dim]", L * 6, D);
    WS(hmod, "hmod: head modulation [2, dim]", 2, D);
#undef WS
}

static void ws_free(rad_backend *be, dit_ws *ws) {
    ws_entry e[N_WS];
    rad_dit_config none = {0};
    ws_layout(&none, 0, e); /* only the fields' offsets are read: they do not depend on the sizes */
    for (int i = 0; i < N_WS; i++) {
        float **f = (float **)((char *)ws + e[i].off);
        if (*f) be->free(be, *f);
        *f = NULL;
    }
    ws->tokens = 0;
}

static void par_free(rad_dit *d) {
    if (d->kh) d->be->free(d->be, d->kh);
    if (d->vh) d->be->free(d->be, d->vh);
    d->kh = d->vh = NULL;
    d->head_floats = 0;
}

void rad_dit_free(rad_dit *d) {
    if (!d) return;
    rad_backend *be = d->be;
    lin *ls[] = {&d->patch, &d->txt1, &d->txt2, &d->tim1, &d->tim2, &d->tproj, &d->head};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) lin_free(be, ls[i]);
    if (d->blocks) {
        for (int i = 0; i < d->c.num_layers; i++) {
            dit_block *b = &d->blocks[i];
            lin *bl[] = {&b->sq, &b->sk, &b->sv, &b->so, &b->cq, &b->ck, &b->cv, &b->co, &b->f1, &b->f2};
            for (size_t j = 0; j < sizeof bl / sizeof bl[0]; j++) lin_free(be, bl[j]);
            float *v[] = {b->s_nq, b->s_nk, b->c_nq, b->c_nk, b->n3w, b->n3b};
            for (size_t j = 0; j < sizeof v / sizeof v[0]; j++)
                if (v[j]) be->free(be, v[j]);
            rad_free(b->mod);
        }
        rad_free(d->blocks);
    }
    rad_free(d->head_mod);
    ws_free(be, &d->ws);
    par_free(d);
    rad_free(d);
}

/* ------------------------------------------------------------------------------------------------- forward */

/* The bytes of one workspace buffer, checked for overflow. */
static rad_status ws_entry_bytes(const ws_entry *e, size_t *bytes) {
    if (!rad_mul_size(e->a, e->b, bytes) || !rad_mul_size(*bytes, sizeof(float), bytes))
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT buffer %s: %zu x %zu floats overflow a size", e->name, e->a, e->b);
    return RAD_OK;
}

rad_status rad_dit_plan_activations(const rad_dit_config *c, int64_t tokens, rad_dit_plan *out) {
    memset(out, 0, sizeof *out);
    if (tokens < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT plan: %lld tokens", (long long)tokens);
    ws_entry e[N_WS];
    ws_layout(c, (size_t)tokens, e);
    for (int i = 0; i < N_WS; i++) {
        size_t bytes;
        RAD_TRY(ws_entry_bytes(&e[i], &bytes));
        if (!rad_add_size(out->total, bytes, &out->total))
            return rad_err(RADIAL_ERR_INVALID_ARG, "DiT plan: %lld tokens overflow a size", (long long)tokens);
        out->buf[out->n++] = (rad_dit_buffer){e[i].name, bytes};
    }
    return RAD_OK;
}

/* Makes the workspace fit `tokens` video tokens (kept across calls; regrown only when a call needs more). */
static rad_status ws_ensure(rad_dit *d, int64_t tokens) {
    dit_ws *ws = &d->ws;
    if (ws->x && ws->tokens >= tokens) return RAD_OK;
    ws_free(d->be, ws);
    if (tokens < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT workspace: %lld tokens", (long long)tokens);
    ws_entry e[N_WS];
    ws_layout(&d->c, (size_t)tokens, e);
    rad_status s = RAD_OK;
    for (int i = 0; i < N_WS && s == RAD_OK; i++) {
        size_t bytes = 0;
        s = ws_entry_bytes(&e[i], &bytes);
        if (s == RAD_OK) s = d->be->alloc(d->be, bytes, e[i].name, (void **)((char *)ws + e[i].off));
    }
    if (s != RAD_OK) {
        ws_free(d->be, ws);
        return s;
    }
    ws->tokens = tokens;
    return RAD_OK;
}

static rad_status linear(rad_dit *d, const float *x, int64_t m, int64_t k, const lin *l, float *y) {
    return d->be->linear(d->be, x, m, k, l->w, l->b, y);
}

/* e = time_embedding(sinusoid(t)), e0 = time_projection(SiLU(e)); mods[i] = blocks.i.modulation + e0;
 * hmod = head.modulation + e. */
static rad_status time_embed(rad_dit *d, float timestep) {
    rad_backend *be = d->be;
    dit_ws *ws = &d->ws;
    const int64_t D = d->c.dim, half = d->c.freq_dim / 2;
    float *host;
    size_t hn = (size_t)(6 * D > d->c.freq_dim ? 6 * D : d->c.freq_dim);
    RAD_TRY(rad_alloc((void **)&host, hn * sizeof(float), "DiT time embedding (host)"));
    for (int64_t k = 0; k < half; k++) { /* float64 like sinusoidal_embedding_1d; cos first */
        const double s = (double)timestep * pow(10000.0, -(double)k / (double)half);
        host[k] = (float)cos(s);
        host[half + k] = (float)sin(s);
    }
    rad_status s = be->upload(be, ws->tsin, host, (size_t)d->c.freq_dim * sizeof(float));
    if (s == RAD_OK) s = linear(d, ws->tsin, 1, d->c.freq_dim, &d->tim1, ws->es);
    if (s == RAD_OK) s = be->silu(be, ws->es, D);
    if (s == RAD_OK) s = linear(d, ws->es, 1, D, &d->tim2, ws->e);
    /* es = SiLU(e), keeping e for the head (a copy through the host: D floats) */
    if (s == RAD_OK) s = be->download(be, host, ws->e, (size_t)D * sizeof(float));
    if (s == RAD_OK) s = be->upload(be, ws->es, host, (size_t)D * sizeof(float));
    if (s == RAD_OK) s = be->silu(be, ws->es, D);
    if (s == RAD_OK) s = linear(d, ws->es, 1, D, &d->tproj, ws->e0);
    for (int i = 0; s == RAD_OK && i < d->c.num_layers; i++) {
        float *m = ws->mods + (size_t)i * 6 * D;
        s = be->upload(be, m, d->blocks[i].mod, (size_t)(6 * D) * sizeof(float));
        if (s == RAD_OK) s = be->add_gated(be, m, ws->e0, 1, 6 * D, NULL);
    }
    if (s == RAD_OK) s = be->upload(be, ws->hmod, d->head_mod, (size_t)(2 * D) * sizeof(float));
    if (s == RAD_OK) s = be->add_gated(be, ws->hmod, ws->e, 1, D, NULL);
    if (s == RAD_OK) s = be->add_gated(be, ws->hmod + D, ws->e, 1, D, NULL);
    rad_free(host);
    return s;
}

/* ctx = text_embedding(context zero-padded to text_len rows). */
static rad_status text_embed(rad_dit *d, const float *context, int L) {
    rad_backend *be = d->be;
    dit_ws *ws = &d->ws;
    const size_t TL = (size_t)d->c.text_len, TD = (size_t)d->c.text_dim;
    float *host;
    RAD_TRY(rad_calloc((void **)&host, TL * TD, sizeof(float), "DiT padded context (host)"));
    if (L > 0) memcpy(host, context, (size_t)L * TD * sizeof(float));
    rad_status s = be->upload(be, ws->ctx_in, host, TL * TD * sizeof(float));
    rad_free(host);
    RAD_TRY(s);
    RAD_TRY(linear(d, ws->ctx_in, (int64_t)TL, (int64_t)TD, &d->txt1, ws->ck));
    RAD_TRY(be->gelu_tanh(be, ws->ck, (int64_t)(TL * (size_t)d->c.dim)));
    return linear(d, ws->ck, (int64_t)TL, d->c.dim, &d->txt2, ws->ctx);
}

/* Places block i's matrices for the ops queued next when they are streamed (offload; backend.h stage); a resident
 * block has nothing to place. The forward stages block i + 1 before it queues block i, so with two staging
 * buffers one block uploads while the previous one computes. */
static rad_status stage_block(rad_dit *d, int i) {
    if (i < d->resident_blocks) return RAD_OK;
    dit_block *b = &d->blocks[i];
    rad_weight *ws[] = {b->sq.w, b->sk.w, b->sv.w, b->so.w, b->cq.w, b->ck.w, b->cv.w, b->co.w, b->f1.w, b->f2.w};
    return d->be->stage(d->be, ws, (int)(sizeof ws / sizeof ws[0]));
}

/* Ulysses self-attention of one rank (par_ctx) on its rows of ws->xn [nl, D]; the output goes to ws->xn [nl, D].
 * The q/k RMSNorm runs over whole rows, so before the exchange; RoPE after it, on all N tokens of this rank's
 * heads, so that it sees global positions without a row offset (rope3d is per head, the same for every head).
 * Per element the same operations as the single-rank path (rmsnorm_rope3d is rmsnorm then rope3d bit for bit;
 * the exchange only copies). Buffers: q -> xn (heads), k -> kh, v -> vh, attention -> q, back -> xn. */
static rad_status self_attn_ulysses(rad_dit *d, const dit_block *b, int64_t f, int64_t h, int64_t w,
                                    const rad_bsr *mask, const par_ctx *pc) {
    rad_backend *be = d->be;
    dit_ws *ws = &d->ws;
    const rad_dit_config *c = &d->c;
    const int64_t nl = pc->nl, N = pc->n_all, D = c->dim, H = c->num_heads, hd = c->head_dim, Hu = H / pc->u;
    const float eps = c->eps, scale = (float)(1.0 / sqrt((double)hd));
    RAD_TRY(linear(d, ws->xn, nl, D, &b->sq, ws->q));
    RAD_TRY(linear(d, ws->xn, nl, D, &b->sk, ws->k));
    RAD_TRY(linear(d, ws->xn, nl, D, &b->sv, ws->v));
    RAD_TRY(be->rmsnorm(be, ws->q, nl, D, b->s_nq, eps, ws->q));
    RAD_TRY(be->rmsnorm(be, ws->k, nl, D, b->s_nk, eps, ws->k));
    RAD_TRY(be->all_to_all(be, pc->g, ws->q, ws->xn, N, H, hd, RAD_A2A_TOKENS_TO_HEADS));
    RAD_TRY(be->all_to_all(be, pc->g, ws->k, d->kh, N, H, hd, RAD_A2A_TOKENS_TO_HEADS));
    RAD_TRY(be->all_to_all(be, pc->g, ws->v, d->vh, N, H, hd, RAD_A2A_TOKENS_TO_HEADS));
    RAD_TRY(be->rope3d(be, ws->xn, f, h, w, Hu, hd));
    RAD_TRY(be->rope3d(be, d->kh, f, h, w, Hu, hd));
    RAD_TRY(be->attention(be, ws->xn, d->kh, d->vh, ws->q, N, N, Hu, hd, scale, NULL, mask));
    return be->all_to_all(be, pc->g, ws->q, ws->xn, N, H, hd, RAD_A2A_HEADS_TO_TOKENS);
}

/* One transformer block (spec §1.3) on ws->x [n, D] over the (f, h, w) token grid (pc: this rank's nl rows of
 * ws->x in a Ulysses forward). */
static rad_status block_forward(rad_dit *d, int li, int64_t f, int64_t h, int64_t w, const rad_bsr *mask,
                                const par_ctx *pc) {
    rad_backend *be = d->be;
    dit_ws *ws = &d->ws;
    const dit_block *b = &d->blocks[li];
    const rad_dit_config *c = &d->c;
    const int64_t n = pc ? pc->nl : f * h * w, D = c->dim, TL = c->text_len, H = c->num_heads, hd = c->head_dim;
    const float eps = c->eps, scale = (float)(1.0 / sqrt((double)hd));
    const float *m = ws->mods + (size_t)li * 6 * D; /* shift_sa, scale_sa, gate_sa, shift_ff, scale_ff, gate_ff */

    /* self-attention (the norm + modulation and the q/k norm + RoPE chains are fused backend ops, equal to
     * layernorm, modulate and rmsnorm, rope3d one after the other) */
    RAD_TRY(be->add_norm_modulate(be, ws->x, NULL, NULL, n, D, NULL, NULL, eps, m, m + D, ws->xn));
    if (pc) {
        RAD_TRY(self_attn_ulysses(d, b, f, h, w, mask, pc));
    } else {
        RAD_TRY(linear(d, ws->xn, n, D, &b->sq, ws->q));
        RAD_TRY(linear(d, ws->xn, n, D, &b->sk, ws->k));
        RAD_TRY(linear(d, ws->xn, n, D, &b->sv, ws->v));
        RAD_TRY(be->rmsnorm_rope3d(be, ws->q, b->s_nq, eps, f, h, w, H, hd));
        RAD_TRY(be->rmsnorm_rope3d(be, ws->k, b->s_nk, eps, f, h, w, H, hd));
        RAD_TRY(be->attention(be, ws->q, ws->k, ws->v, ws->xn, n, n, H, hd, scale, NULL, mask));
    }
    /* each sublayer's output before its residual add goes to y: the q buffer, free once its attention is done */
    float *const y = ws->q;
    RAD_TRY(linear(d, ws->xn, n, D, &b->so, y));

    /* cross-attention: the gated residual of self-attention, then norm3 (affine), no modulation, no gate */
    RAD_TRY(be->add_norm_modulate(be, ws->x, y, m + 2 * D, n, D, b->n3w, b->n3b, eps, NULL, NULL, ws->xn));
    RAD_TRY(linear(d, ws->xn, n, D, &b->cq, ws->q));
    RAD_TRY(be->rmsnorm(be, ws->q, n, D, b->c_nq, eps, ws->q));
    RAD_TRY(linear(d, ws->ctx, TL, D, &b->ck, ws->ck));
    RAD_TRY(be->rmsnorm(be, ws->ck, TL, D, b->c_nk, eps, ws->ck));
    RAD_TRY(linear(d, ws->ctx, TL, D, &b->cv, ws->cv));
    RAD_TRY(be->attention(be, ws->q, ws->ck, ws->cv, ws->xn, n, TL, H, hd, scale, NULL, NULL));
    RAD_TRY(linear(d, ws->xn, n, D, &b->co, y));

    /* FFN: the plain residual of cross-attention, norm2 (no affine) with modulation; then row chunks */
    RAD_TRY(be->add_norm_modulate(be, ws->x, y, NULL, n, D, NULL, NULL, eps, m + 3 * D, m + 4 * D, ws->xn));
    const size_t ffh_floats = (size_t)(ws->tokens < FFN_CHUNK ? ws->tokens : FFN_CHUNK) * (size_t)c->ffn_dim;
    RAD_TRY(be->ffn(be, ws->xn, n, D, b->f1.w, b->f1.b, b->f2.w, b->f2.b, ws->ffh, ffh_floats, y));
    return be->add_gated(be, ws->x, y, n, D, m + 5 * D);
}

/* ---------------------------------------------------------------------------------------------- step cache */

struct rad_dit_cache {
    rad_backend *be;
    rad_dit_cache_decide_fn decide;
    void *user;
    /* x_before - x_after of the blocks in the last forward that ran them: the residual negated, so that both the
     * store (res = x_before, then res += x_after · -1) and the reuse (x += res · -1) are one add_gated each, exact
     * as x_after - x_before and x + (x_after - x_before) (negation and multiplication by -1 are exact). */
    float *res;
    float *neg1;           /* backend [dim] of -1: the gate of those adds */
    int64_t tokens, dim;   /* res holds [tokens, dim] (0: nothing allocated) */
    const rad_dit *owner;  /* the DiT whose blocks made res; NULL: no residual stored */
    float *host;           /* host copies of e [dim] and e0 [6, dim] for decide */
};

rad_status rad_dit_cache_new(rad_backend *be, rad_dit_cache_decide_fn decide, void *user, rad_dit_cache **out) {
    *out = NULL;
    if (!be || !decide) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT step cache: a backend and a decide function are needed");
    rad_dit_cache *c;
    RAD_TRY(rad_calloc((void **)&c, 1, sizeof *c, "DiT step cache"));
    c->be = be, c->decide = decide, c->user = user;
    *out = c;
    return RAD_OK;
}

static void cache_release(rad_dit_cache *c) {
    if (c->res) c->be->free(c->be, c->res);
    if (c->neg1) c->be->free(c->be, c->neg1);
    rad_free(c->host);
    c->res = c->neg1 = c->host = NULL;
    c->tokens = c->dim = 0;
    c->owner = NULL;
}

void rad_dit_cache_free(rad_dit_cache *c) {
    if (!c) return;
    cache_release(c);
    rad_free(c);
}

size_t rad_dit_cache_bytes(const rad_dit_cache *c) {
    return c && c->res ? (size_t)(c->tokens + 1) * (size_t)c->dim * sizeof(float) : 0;
}

/* Sizes the cache for [n, D] (keeping what it holds when it fits) and asks the caller whether to reuse. */
static rad_status cache_decide(rad_dit *d, rad_dit_cache *c, int64_t n, bool *reuse) {
    rad_backend *be = d->be;
    const int64_t D = d->c.dim;
    *reuse = false;
    if (c->be != be) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT step cache: made for another backend than the DiT's");
    if (c->tokens != n || c->dim != D) {
        cache_release(c);
        rad_status s = rad_alloc((void **)&c->host, (size_t)7 * (size_t)D * sizeof(float), "DiT step cache (host)");
        if (s == RAD_OK) s = be->alloc(be, (size_t)n * (size_t)D * sizeof(float), "DiT step cache: residual [tokens, dim]", (void **)&c->res);
        if (s == RAD_OK) s = be->alloc(be, (size_t)D * sizeof(float), "DiT step cache: -1 [dim]", (void **)&c->neg1);
        for (int64_t i = 0; s == RAD_OK && i < D; i++) c->host[i] = -1.0f;
        if (s == RAD_OK) s = be->upload(be, c->neg1, c->host, (size_t)D * sizeof(float));
        if (s != RAD_OK) {
            cache_release(c);
            return rad_err_prefix(s, "DiT step cache for %lld tokens: ", (long long)n);
        }
        c->tokens = n, c->dim = D;
    }
    RAD_TRY(be->download(be, c->host, d->ws.e, (size_t)D * sizeof(float)));
    RAD_TRY(be->download(be, c->host + D, d->ws.e0, (size_t)(6 * D) * sizeof(float)));
    RAD_TRY(c->decide(c->user, c->host, c->host + D, D, reuse));
    if (*reuse && c->owner != d)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT step cache: a step was to reuse the blocks' residual, but %s",
                       c->owner ? "it was stored by another DiT (a model switch must compute)"
                                : "none is stored for this latent size (a branch's first step must compute)");
    return RAD_OK;
}

rad_status rad_dit_forward(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                           int L, const rad_dit_attn_policy *policy, float *v_out) {
    return rad_dit_forward_cached(d, x, T, H, W, timestep, context, L, policy, NULL, v_out);
}

/* The rank's part of a Ulysses forward (checked), or *pc_out = NULL for a single-rank one. */
static rad_status par_setup(rad_dit *d, const rad_dit_parallel *par, int64_t n, const rad_dit_cache *cache,
                            par_ctx *pc, const par_ctx **pc_out) {
    *pc_out = NULL;
    if (!par || par->degree == 1) return RAD_OK;
    const int u = par->degree, H = d->c.num_heads;
    if (u < 1 || !par->group || par->group->size != u)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT Ulysses forward: degree %d needs a group of that size (got %s%d)", u,
                       par->group ? "size " : "no group, ", par->group ? par->group->size : 0);
    if (H % u)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "DiT Ulysses forward: %d heads do not divide over degree %d (Ulysses needs num_heads %% degree "
                       "== 0; head padding and ring attention are not implemented)",
                       H, u);
    if (n < u)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT Ulysses forward: %lld tokens for %d ranks (at least one each)",
                       (long long)n, u);
    if (cache)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "DiT Ulysses forward: the step cache is not supported with degree %d", u);
    const int r = par->group->rank;
    *pc = (par_ctx){par->group, u, n, rad_split_start(n, u, r), rad_split_count(n, u, r)};
    const size_t hf = (size_t)n * (size_t)(d->c.dim / u);
    if (d->head_floats < hf) {
        par_free(d);
        rad_status s = d->be->alloc(d->be, hf * sizeof(float), "kh: Ulysses key, this rank's heads [tokens, dim/degree]",
                                    (void **)&d->kh);
        if (s == RAD_OK)
            s = d->be->alloc(d->be, hf * sizeof(float), "vh: Ulysses value, this rank's heads [tokens, dim/degree]",
                             (void **)&d->vh);
        if (s != RAD_OK) {
            par_free(d);
            return s;
        }
        d->head_floats = hf;
    }
    *pc_out = pc;
    return RAD_OK;
}

static rad_status forward_impl(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                               int L, const rad_dit_attn_policy *policy, rad_dit_cache *cache,
                               const rad_dit_parallel *par, float *v_out);

rad_status rad_dit_forward_cached(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                                  int L, const rad_dit_attn_policy *policy, rad_dit_cache *cache, float *v_out) {
    rad_range_push(d->be, "dit.forward");
    const rad_status s = forward_impl(d, x, T, H, W, timestep, context, L, policy, cache, NULL, v_out);
    rad_range_pop(d->be);
    return s;
}

rad_status rad_dit_forward_parallel(rad_dit *d, const float *x, int T, int H, int W, float timestep,
                                    const float *context, int L, const rad_dit_attn_policy *policy,
                                    const rad_dit_parallel *par, float *v_out) {
    rad_range_push(d->be, "dit.forward");
    rad_status s = forward_impl(d, x, T, H, W, timestep, context, L, policy, NULL, par, v_out);
    rad_range_pop(d->be);
    /* a rank that failed will not reach the next collective: release the others instead of leaving them waiting */
    if (s != RAD_OK && par && par->degree > 1 && par->group) rad_group_abort(par->group);
    return s;
}

static rad_status forward_impl(rad_dit *d, const float *x, int T, int H, int W, float timestep, const float *context,
                               int L, const rad_dit_attn_policy *policy, rad_dit_cache *cache,
                               const rad_dit_parallel *par, float *v_out) {
    const rad_dit_config *c = &d->c;
    rad_backend *be = d->be;
    const int pt = c->patch_t, ph = c->patch_h, pw = c->patch_w, cin = c->in_dim, cout = c->out_dim;
    if (T < 1 || H < 1 || W < 1 || T % pt || H % ph || W % pw)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "DiT forward: latent [%d, %d, %d, %d] must have T >= 1 and T, H, W multiples of the patch "
                       "(%d, %d, %d)",
                       cin, T, H, W, pt, ph, pw);
    if (L < 0 || L > c->text_len)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT forward: context has %d rows, at most text_len = %d allowed", L,
                       c->text_len);
    if (!isfinite(timestep)) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT forward: timestep is not finite");
    const int64_t f = T / pt, h = H / ph, w = W / pw, P = (int64_t)pt * ph * pw;
    size_t n_tok, vol, tmp;
    if (!rad_mul_size((size_t)f, (size_t)h, &n_tok) || !rad_mul_size(n_tok, (size_t)w, &n_tok) ||
        !rad_mul_size((size_t)T, (size_t)H, &vol) || !rad_mul_size(vol, (size_t)W, &vol) ||
        !rad_mul_size(vol, (size_t)(cin > cout ? cin : cout), &tmp) || !rad_mul_size(n_tok, (size_t)c->dim, &tmp) ||
        !rad_mul_size(tmp, sizeof(float), &tmp) || n_tok > (size_t)INT64_MAX / 2)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT forward: latent [%d, %d, %d, %d] is too large", cin, T, H, W);
    const int64_t n = (int64_t)n_tok;
    const rad_bsr *mask = policy ? policy->mask : NULL;
    if (mask && mask->n_tokens != n)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT forward: the attention mask covers %lld tokens, the latent has %lld",
                       (long long)mask->n_tokens, (long long)n);
    d->grid[0] = 0;
    par_ctx pcs;
    const par_ctx *pc;
    RAD_TRY(par_setup(d, par, n, cache, &pcs, &pc));
    const int64_t t0 = pc ? pc->t0 : 0, nl = pc ? pc->nl : n; /* this rank's token rows */
    if (d->parked) RAD_TRY(rad_dit_park(d, false)); /* back from host memory (the pipeline parks it for the decode) */
    RAD_TRY(ws_ensure(d, pc ? rad_split_max(n, pc->u) : n));
    dit_ws *ws = &d->ws;

    /* patch embedding as a linear over gathered patches: row (f, i, j), column ((c·pt + a)·ph + q)·pw + r */
    float *host;
    RAD_TRY(rad_alloc((void **)&host, n_tok * (size_t)(cin > cout ? cin : cout) * (size_t)P * sizeof(float), "DiT patches (host)"));
    const int64_t K = (int64_t)cin * P;
    for (int64_t tok = t0; tok < t0 + nl; tok++) {
        const int64_t fi = tok / (h * w), i = tok / w % h, j = tok % w;
        float *row = host + (tok - t0) * K;
        for (int64_t ch = 0; ch < cin; ch++)
            for (int a = 0; a < pt; a++)
                for (int q = 0; q < ph; q++)
                    for (int r = 0; r < pw; r++)
                        *row++ = x[((ch * T + fi * pt + a) * (int64_t)H + i * ph + q) * W + j * pw + r];
    }
    rad_status s = be->upload(be, ws->patch, host, (size_t)nl * (size_t)K * sizeof(float));
    if (s == RAD_OK) s = linear(d, ws->patch, nl, K, &d->patch, ws->x);
    if (s == RAD_OK) {
        rad_range_push(be, "dit.time_embed");
        s = time_embed(d, timestep);
        rad_range_pop(be);
    }
    bool reuse = false; /* step cache: skip the blocks, add the residual they left in an earlier step */
    if (s == RAD_OK && cache) s = cache_decide(d, cache, n, &reuse);
    if (s == RAD_OK && reuse) s = be->add_gated(be, ws->x, cache->res, n, c->dim, cache->neg1);
    if (s == RAD_OK && !reuse) {
        rad_range_push(be, "dit.text_embed");
        s = text_embed(d, context, L);
        rad_range_pop(be);
    }
    if (s == RAD_OK && !reuse && cache) {
        cache->owner = NULL; /* until the blocks have run */
        s = be->copy2d(be, cache->res, (size_t)c->dim * sizeof(float), ws->x, (size_t)c->dim * sizeof(float),
                       (size_t)c->dim * sizeof(float), n_tok);
    }
    if (s == RAD_OK && !reuse) s = stage_block(d, 0);
    for (int li = 0; s == RAD_OK && !reuse && li < c->num_layers; li++) {
        const rad_bsr *m = policy && li >= policy->dense_layers ? mask : NULL;
        if (li + 1 < c->num_layers) s = stage_block(d, li + 1); /* uploads while this block computes */
        if (s == RAD_OK) {
            rad_range_push(be, "dit.block");
            s = block_forward(d, li, f, h, w, m, pc);
            rad_range_pop(be);
        }
        if (s != RAD_OK) rad_err_prefix(s, "DiT block %d: ", li);
    }
    if (s == RAD_OK && !reuse && cache) {
        s = be->add_gated(be, cache->res, ws->x, n, c->dim, cache->neg1); /* x_before - x_after */
        if (s == RAD_OK) cache->owner = d;
    }
    if (s == RAD_OK && !reuse && !pc) d->grid[0] = f, d->grid[1] = h, d->grid[2] = w;
    /* head: LN(x)·(1 + scale) + shift with (shift, scale) = head.modulation + e, then head.head */
    const int64_t KO = cout * P;
    if (s == RAD_OK)
        s = be->add_norm_modulate(be, ws->x, NULL, NULL, nl, c->dim, NULL, NULL, c->eps, ws->hmod, ws->hmod + c->dim,
                                  ws->xn);
    if (s == RAD_OK) s = linear(d, ws->xn, nl, c->dim, &d->head, ws->patch);
    if (s == RAD_OK && pc) { /* every rank's rows of the head output, on every rank */
        float *all = NULL;
        s = be->alloc(be, n_tok * (size_t)KO * sizeof(float), "DiT Ulysses head output [tokens, patch values]", (void **)&all);
        if (s == RAD_OK) s = be->all_gather(be, pc->g, ws->patch, all, n, KO);
        if (s == RAD_OK) s = be->download(be, host, all, n_tok * (size_t)KO * sizeof(float));
        if (all) be->free(be, all);
    } else if (s == RAD_OK) {
        s = be->download(be, host, ws->patch, n_tok * (size_t)KO * sizeof(float));
    }
    if (s == RAD_OK) {
        /* unpatchify: token (f, i, j), channel ((a·ph + q)·pw + r)·cout + ch -> v[ch, f·pt + a, i·ph + q, j·pw + r] */
        for (int64_t fi = 0; fi < f; fi++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    const float *row = host + ((fi * h + i) * w + j) * KO;
                    for (int a = 0; a < pt; a++)
                        for (int q = 0; q < ph; q++)
                            for (int r = 0; r < pw; r++)
                                for (int64_t ch = 0; ch < cout; ch++)
                                    v_out[((ch * T + fi * pt + a) * (int64_t)H + i * ph + q) * W + j * pw + r] =
                                        *row++;
                }
    }
    rad_free(host);
    return s;
}

rad_status rad_dit_run_block(rad_dit *d, int layer, const rad_bsr *mask) {
    if (d->grid[0] <= 0) return rad_err(RADIAL_ERR_INVALID_ARG, "DiT run_block: no completed forward to continue from");
    if (layer < 0 || layer >= d->c.num_layers)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT run_block: layer %d out of [0, %d)", layer, d->c.num_layers);
    const int64_t n = d->grid[0] * d->grid[1] * d->grid[2];
    if (mask && mask->n_tokens != n)
        return rad_err(RADIAL_ERR_INVALID_ARG, "DiT run_block: the mask covers %lld tokens, the state has %lld",
                       (long long)mask->n_tokens, (long long)n);
    RAD_TRY(stage_block(d, layer));
    rad_range_push(d->be, "dit.block");
    const rad_status s = block_forward(d, layer, d->grid[0], d->grid[1], d->grid[2], mask, NULL);
    rad_range_pop(d->be);
    return s;
}

rad_status rad_dit_park(rad_dit *d, bool park) {
    rad_backend *be = d->be;
    lin *top[] = {&d->patch, &d->txt1, &d->txt2, &d->tim1, &d->tim2, &d->tproj, &d->head};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) RAD_TRY(be->weight_park(be, top[i]->w, park));
    for (int i = 0; i < d->resident_blocks; i++) {
        dit_block *b = &d->blocks[i];
        lin *bl[] = {&b->sq, &b->sk, &b->sv, &b->so, &b->cq, &b->ck, &b->cv, &b->co, &b->f1, &b->f2};
        for (size_t j = 0; j < sizeof bl / sizeof bl[0]; j++) RAD_TRY(be->weight_park(be, bl[j]->w, park));
    }
    d->parked = park;
    return RAD_OK;
}

bool rad_dit_parked(const rad_dit *d) { return d->parked; }

void rad_dit_release(rad_dit *d) {
    if (d) ws_free(d->be, &d->ws), par_free(d);
}

int rad_dit_resident_blocks(const rad_dit *d) { return d->resident_blocks; }
