/* umT5 encoder: loading by official Wan names and the forward pass through the backend ops (see t5.h). */
#include "text/t5.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "base/threads.h"
#include "load/loader.h"

typedef struct t5_layer {
    float *norm1, *norm2;         /* [d_model] backend buffers */
    rad_weight *q, *k, *v, *o;    /* q/k/v [inner, d_model], o [d_model, inner] */
    rad_weight *gate, *fc1, *fc2; /* gate/fc1 [d_ff, d_model], fc2 [d_model, d_ff] */
    float *pos;                   /* host [num_buckets, num_heads]: this layer's bias table */
} t5_layer;

struct rad_t5 {
    rad_backend *be;
    rad_t5_config cfg;
    int64_t inner;            /* num_heads * d_kv */
    rad_weight_src emb; /* token_embedding.weight [vocab, d_model] as stored, in the mapped file */
    t5_layer *layers;
    float *norm; /* final norm [d_model] */
    rad_load_stats load;
};

int rad_t5_rel_bucket(int64_t rel, int num_buckets, int max_distance) {
    int half = num_buckets / 2, max_exact = half / 2;
    int bucket = rel > 0 ? half : 0;
    int64_t n = rel < 0 ? -rel : rel;
    if (n < max_exact) return bucket + (int)n;
    /* Float32 arithmetic as in the references (torch: float tensor / python scalar), truncated toward 0. */
    float big =
        logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) * (float)(half - max_exact);
    int large = max_exact + (int)big;
    return bucket + (large < half - 1 ? large : half - 1);
}

/* ---- loading ---- */

static rad_status load_vec(rad_t5 *t5, rad_loader *w, const char *name, int64_t d, float **out) {
    float *host;
    int64_t shape[1] = {d};
    RAD_TRY(rad_loader_f32(w, name, 1, shape, &host));
    rad_status s = t5->be->alloc(t5->be, (size_t)d * sizeof(float), name, (void **)out);
    if (s == RAD_OK) s = t5->be->upload(t5->be, *out, host, (size_t)d * sizeof(float));
    rad_free(host);
    return s;
}

static rad_status load_mat(rad_loader *w, const char *name, int64_t rows, int64_t cols, rad_weight **out) {
    int64_t shape[2] = {rows, cols};
    return rad_loader_weight(w, name, 2, shape, rows, cols, out);
}

static rad_status check_config(const rad_t5_config *c, const char *label) {
    if (c->vocab <= 0 || c->d_model <= 0 || c->num_heads <= 0 || c->d_kv <= 0 || c->d_ff <= 0 || c->num_layers <= 0 ||
        c->num_layers > 1000)
        return rad_err(RADIAL_ERR_MODEL,
                       "%s: T5 config out of range (vocab %d, d_model %d, heads %d, d_kv %d, d_ff %d, layers %d)",
                       label, c->vocab, c->d_model, c->num_heads, c->d_kv, c->d_ff, c->num_layers);
    if (c->num_buckets < 4 || c->num_buckets % 2 || c->num_buckets > 4096 || c->max_distance <= c->num_buckets / 4)
        return rad_err(RADIAL_ERR_MODEL,
                       "%s: T5 relative attention buckets %d / max distance %d: expected an even bucket count >= 4 "
                       "and max distance > buckets/4",
                       label, c->num_buckets, c->max_distance);
    if (!(c->eps > 0.0f && c->eps < 1.0f))
        return rad_err(RADIAL_ERR_MODEL, "%s: T5 layer_norm_epsilon %g out of range (0, 1)", label, (double)c->eps);
    size_t bytes;
    if (!rad_mul_size((size_t)c->num_heads, (size_t)c->d_kv, &bytes) || bytes > INT32_MAX)
        return rad_err(RADIAL_ERR_MODEL, "%s: T5 heads %d x d_kv %d overflows", label, c->num_heads, c->d_kv);
    return RAD_OK;
}

static rad_status load_layer(rad_t5 *t5, rad_loader *w, int i, t5_layer *L) {
    const rad_t5_config *c = &t5->cfg;
    char name[128];
#define T5_NAME(fmt) (snprintf(name, sizeof name, "blocks.%d." fmt, i), name)
    RAD_TRY(load_vec(t5, w, T5_NAME("norm1.weight"), c->d_model, &L->norm1));
    RAD_TRY(load_mat(w, T5_NAME("attn.q.weight"), t5->inner, c->d_model, &L->q));
    RAD_TRY(load_mat(w, T5_NAME("attn.k.weight"), t5->inner, c->d_model, &L->k));
    RAD_TRY(load_mat(w, T5_NAME("attn.v.weight"), t5->inner, c->d_model, &L->v));
    RAD_TRY(load_mat(w, T5_NAME("attn.o.weight"), c->d_model, t5->inner, &L->o));
    int64_t pshape[2] = {c->num_buckets, c->num_heads};
    RAD_TRY(rad_loader_f32(w, T5_NAME("pos_embedding.embedding.weight"), 2, pshape, &L->pos));
    RAD_TRY(load_vec(t5, w, T5_NAME("norm2.weight"), c->d_model, &L->norm2));
    RAD_TRY(load_mat(w, T5_NAME("ffn.gate.0.weight"), c->d_ff, c->d_model, &L->gate));
    RAD_TRY(load_mat(w, T5_NAME("ffn.fc1.weight"), c->d_ff, c->d_model, &L->fc1));
    RAD_TRY(load_mat(w, T5_NAME("ffn.fc2.weight"), c->d_model, c->d_ff, &L->fc2));
#undef T5_NAME
    return RAD_OK;
}

static rad_status t5_load(rad_t5 *t5, const rad_weights *ws, rad_loader *w) {
    const char *label = rad_weights_label(ws);
    RAD_TRY(rad_t5_config_detect(ws, &t5->cfg));
    RAD_TRY(check_config(&t5->cfg, label));
    const rad_t5_config *c = &t5->cfg;
    t5->inner = (int64_t)c->num_heads * c->d_kv;

    int64_t eshape[2] = {c->vocab, c->d_model};
    RAD_TRY(rad_loader_rows(w, "token_embedding.weight", 2, eshape, &t5->emb));

    RAD_TRY(rad_calloc((void **)&t5->layers, (size_t)c->num_layers, sizeof *t5->layers, "T5 layer table"));
    rad_loader_set_streamed(w, true); /* the layer matrices stay in host memory; encode stages them in turn */
    for (int i = 0; i < c->num_layers; i++) {
        rad_status s = load_layer(t5, w, i, &t5->layers[i]);
        if (s != RAD_OK) return rad_err_prefix(s, "loading T5 layer %d of %d: ", i, c->num_layers);
    }
    rad_loader_set_streamed(w, false);
    return load_vec(t5, w, "norm.weight", c->d_model, &t5->norm);
}

rad_status rad_t5_load(rad_backend *be, const rad_weights *w, rad_t5 **out) {
    *out = NULL;
    rad_t5 *t5;
    RAD_TRY(rad_calloc((void **)&t5, 1, sizeof *t5, "T5 encoder"));
    t5->be = be;
    rad_loader *l = NULL;
    rad_status s = rad_loader_new(w, be, NULL, 0, &l);
    if (s == RAD_OK) s = t5_load(t5, w, l);
    if (s == RAD_OK) s = rad_loader_finish(l, &t5->load);
    rad_loader_free(l);
    if (s != RAD_OK) {
        rad_t5_free(t5);
        return s;
    }
    *out = t5;
    return RAD_OK;
}

const rad_t5_config *rad_t5_config_of(const rad_t5 *t5) { return &t5->cfg; }
const rad_load_stats *rad_t5_load_stats(const rad_t5 *t5) { return &t5->load; }

void rad_t5_free(rad_t5 *t5) {
    if (!t5) return;
    rad_backend *be = t5->be;
    if (t5->layers) {
        for (int i = 0; i < t5->cfg.num_layers; i++) {
            t5_layer *L = &t5->layers[i];
            rad_weight *ws[] = {L->q, L->k, L->v, L->o, L->gate, L->fc1, L->fc2};
            for (size_t j = 0; j < sizeof ws / sizeof ws[0]; j++)
                if (ws[j]) be->weight_free(be, ws[j]);
            if (L->norm1) be->free(be, L->norm1);
            if (L->norm2) be->free(be, L->norm2);
            rad_free(L->pos);
        }
        rad_free(t5->layers);
    }
    if (t5->norm) be->free(be, t5->norm);
    rad_free((void *)t5->emb.scale);
    rad_free(t5);
}

/* ---- forward ---- */

/* Activation buffers of one encode, all on the backend: x per prompt (the residual stream, kept across layers),
 * the rest shared by the prompts (sized for the longest). */
typedef struct t5_bufs {
    float *x[RAD_T5_MAX_PROMPTS];
    float *h, *q, *k, *v, *att, *a, *g, *bias;
} t5_bufs;

/* Embedding rows of ids, read straight from the mapped table (one row converted at a time). */
static void gather_embeddings(const rad_t5 *t5, const int32_t *ids, int n, float *dst) {
    for (int i = 0; i < n; i++)
        rad_weight_src_rows_f32(&t5->emb, t5->cfg.d_model, ids[i], ids[i] + 1, dst + (size_t)i * t5->cfg.d_model);
}

/* bias [heads, n, n] of one layer from its bucket table and the bucket index of every (i, j), a head per item. */
typedef struct bias_job {
    const float *pos;
    const uint16_t *bucket;
    int heads;
    size_t nn;
    float *out;
} bias_job;

static void bias_heads(void *ctx, int64_t h0, int64_t h1) {
    const bias_job *j = ctx;
    for (int64_t h = h0; h < h1; h++)
        for (size_t ij = 0; ij < j->nn; ij++) j->out[(size_t)h * j->nn + ij] = j->pos[(size_t)j->bucket[ij] * j->heads + h];
}

static void layer_bias(const rad_t5 *t5, const float *pos, const uint16_t *bucket, int n, float *bias_host) {
    bias_job j = {pos, bucket, t5->cfg.num_heads, (size_t)n * n, bias_host};
    rad_parallel_for(t5->cfg.num_heads, 1, bias_heads, &j);
}

/* Streaming (backend.h stage): the attention matrices and the FFN matrices of each layer are two staging groups,
 * so the two staging buffers hold the larger half of a layer each; the attention half of layer i + 1 uploads
 * while the FFN halves of layer i run, the FFN half of layer i + 1 while the attention halves of layer i + 1 run. */
static rad_status stage_attention(rad_t5 *t5, int i) {
    const t5_layer *L = &t5->layers[i];
    rad_weight *ws[] = {L->q, L->k, L->v, L->o};
    return t5->be->stage(t5->be, ws, 4);
}

static rad_status stage_ffn(rad_t5 *t5, int i) {
    const t5_layer *L = &t5->layers[i];
    rad_weight *ws[] = {L->fc1, L->gate, L->fc2};
    return t5->be->stage(t5->be, ws, 3);
}

/* x += o(attention(norm1(x))) for one prompt of n tokens: T5 has no 1/sqrt(d_kv) scaling (scale 1). */
static rad_status attention_half(rad_t5 *t5, const t5_bufs *b, int i, float *x, const uint16_t *bucket,
                                 float *bias_host, int n) {
    rad_backend *be = t5->be;
    const rad_t5_config *c = &t5->cfg;
    const t5_layer *L = &t5->layers[i];
    const int64_t d = c->d_model, m = n;
    layer_bias(t5, L->pos, bucket, n, bias_host);
    RAD_TRY(be->upload(be, b->bias, bias_host, (size_t)c->num_heads * n * n * sizeof(float)));
    RAD_TRY(be->rmsnorm(be, x, m, d, L->norm1, c->eps, b->h));
    RAD_TRY(be->linear(be, b->h, m, d, L->q, NULL, b->q));
    RAD_TRY(be->linear(be, b->h, m, d, L->k, NULL, b->k));
    RAD_TRY(be->linear(be, b->h, m, d, L->v, NULL, b->v));
    RAD_TRY(be->attention(be, b->q, b->k, b->v, b->att, m, m, c->num_heads, c->d_kv, 1.0f, b->bias, NULL));
    RAD_TRY(be->linear(be, b->att, m, t5->inner, L->o, NULL, b->h));
    return be->add_gated(be, x, b->h, m, d, NULL);
}

/* x += fc2(fc1(h) * gelu_tanh(gate(h))), h = norm2(x). */
static rad_status ffn_half(rad_t5 *t5, const t5_bufs *b, int i, float *x, int n) {
    rad_backend *be = t5->be;
    const rad_t5_config *c = &t5->cfg;
    const t5_layer *L = &t5->layers[i];
    const int64_t d = c->d_model, m = n;
    RAD_TRY(be->rmsnorm(be, x, m, d, L->norm2, c->eps, b->h));
    RAD_TRY(be->linear(be, b->h, m, d, L->fc1, NULL, b->a));
    RAD_TRY(be->linear(be, b->h, m, d, L->gate, NULL, b->g));
    RAD_TRY(be->mul_gelu(be, b->a, b->g, m * c->d_ff));
    RAD_TRY(be->linear(be, b->a, m, c->d_ff, L->fc2, NULL, b->h));
    return be->add_gated(be, x, b->h, m, d, NULL);
}

/* Layer i for every prompt, staging layer i + 1 meanwhile. */
static rad_status encode_layer(rad_t5 *t5, const t5_bufs *b, int count, uint16_t *const *bucket, float *bias_host,
                               const int *n, int i) {
    const int layers = t5->cfg.num_layers;
    for (int p = 0; p < count; p++) RAD_TRY(attention_half(t5, b, i, b->x[p], bucket[p], bias_host, n[p]));
    if (i + 1 < layers) RAD_TRY(stage_attention(t5, i + 1));
    for (int p = 0; p < count; p++) RAD_TRY(ffn_half(t5, b, i, b->x[p], n[p]));
    if (i + 1 < layers) RAD_TRY(stage_ffn(t5, i + 1));
    return RAD_OK;
}

/* Every layer for every prompt, layer by layer, so the weights stream once for all prompts. */
static rad_status encode_layers(rad_t5 *t5, const t5_bufs *b, int count, uint16_t *const *bucket, float *bias_host,
                                const int *n) {
    RAD_TRY(stage_attention(t5, 0));
    RAD_TRY(stage_ffn(t5, 0));
    for (int i = 0; i < t5->cfg.num_layers; i++) {
        rad_range_push(t5->be, "t5.layer");
        const rad_status s = encode_layer(t5, b, count, bucket, bias_host, n, i);
        rad_range_pop(t5->be);
        RAD_TRY(s);
    }
    return RAD_OK;
}

rad_status rad_t5_encode(rad_t5 *t5, const int32_t *ids, int n, float *hidden_out) {
    return rad_t5_encode_many(t5, 1, &ids, &n, &hidden_out);
}

rad_status rad_t5_encode_many(rad_t5 *t5, int count, const int32_t *const *ids, const int *n, float *const *hidden_out) {
    const rad_t5_config *c = &t5->cfg;
    if (count < 1 || count > RAD_T5_MAX_PROMPTS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "T5 encode: %d prompts; expected 1 to %d", count, RAD_T5_MAX_PROMPTS);
    int n_max = 0;
    for (int p = 0; p < count; p++) {
        if (n[p] < 1 || n[p] > RAD_T5_MAX_TOKENS)
            return rad_err(RADIAL_ERR_INVALID_ARG, "T5 encode: %d tokens; expected 1 to %d", n[p], RAD_T5_MAX_TOKENS);
        for (int i = 0; i < n[p]; i++)
            if (ids[p][i] < 0 || ids[p][i] >= c->vocab)
                return rad_err(RADIAL_ERR_INVALID_ARG, "T5 encode: token %d has id %d; expected 0 to %d (vocab %d)", i,
                               ids[p][i], c->vocab - 1, c->vocab);
        if (n[p] > n_max) n_max = n[p];
    }

    /* Sizes: n <= 512 and the config was checked at load, but d_ff, d_model and heads come from the file. */
    size_t nd, ninner, nff, nbias;
    if (!rad_mul_size((size_t)n_max, (size_t)c->d_model * sizeof(float), &nd) ||
        !rad_mul_size((size_t)n_max, (size_t)t5->inner * sizeof(float), &ninner) ||
        !rad_mul_size((size_t)n_max, (size_t)c->d_ff * sizeof(float), &nff) ||
        !rad_mul_size((size_t)n_max * n_max, (size_t)c->num_heads * sizeof(float), &nbias))
        return rad_err(RADIAL_ERR_NOMEM, "T5 encode: activation sizes overflow (%d tokens)", n_max);

    rad_backend *be = t5->be;
    t5_bufs b = {0};
    uint16_t *bucket[RAD_T5_MAX_PROMPTS] = {0};
    float *bias_host = NULL, *emb = NULL;
    rad_status s = RAD_OK;
    struct {
        float **p;
        size_t bytes;
        const char *what;
    } allocs[] = {
        {&b.h, nd, "T5 normed"},   {&b.q, ninner, "T5 q"},        {&b.k, ninner, "T5 k"},
        {&b.v, ninner, "T5 v"},    {&b.att, ninner, "T5 attention out"},
        {&b.a, nff, "T5 ffn fc1"}, {&b.g, nff, "T5 ffn gate"}, {&b.bias, nbias, "T5 position bias"},
    };
    const size_t n_allocs = sizeof allocs / sizeof allocs[0];
    rad_range_push(be, "t5.encode");
    for (size_t i = 0; i < n_allocs && s == RAD_OK; i++)
        s = be->alloc(be, allocs[i].bytes, allocs[i].what, (void **)allocs[i].p);
    if (s == RAD_OK) s = rad_alloc((void **)&bias_host, nbias, "T5 position bias (host)");
    if (s == RAD_OK) s = rad_alloc((void **)&emb, nd, "T5 embeddings (host)");
    for (int p = 0; p < count && s == RAD_OK; p++) {
        const size_t bytes = (size_t)n[p] * (size_t)c->d_model * sizeof(float);
        s = be->alloc(be, bytes, "T5 residual", (void **)&b.x[p]);
        if (s == RAD_OK) gather_embeddings(t5, ids[p], n[p], emb);
        if (s == RAD_OK) s = be->upload(be, b.x[p], emb, bytes);
        /* The bucket of (i, j) is the same in every layer; each layer has its own table of values. */
        if (s == RAD_OK) s = rad_alloc((void **)&bucket[p], (size_t)n[p] * n[p] * sizeof(uint16_t), "T5 bucket table");
        for (int i = 0; s == RAD_OK && i < n[p]; i++)
            for (int j = 0; j < n[p]; j++)
                bucket[p][(size_t)i * n[p] + j] = (uint16_t)rad_t5_rel_bucket(j - i, c->num_buckets, c->max_distance);
    }
    if (s == RAD_OK) s = encode_layers(t5, &b, count, bucket, bias_host, n);
    for (int p = 0; p < count && s == RAD_OK; p++) {
        const size_t bytes = (size_t)n[p] * (size_t)c->d_model * sizeof(float);
        s = be->rmsnorm(be, b.x[p], n[p], c->d_model, t5->norm, c->eps, b.h);
        if (s == RAD_OK) s = be->download(be, hidden_out[p], b.h, bytes);
    }
    rad_range_pop(be);

    rad_free(emb);
    rad_free(bias_host);
    for (int p = 0; p < count; p++) {
        rad_free(bucket[p]);
        if (b.x[p]) be->free(be, b.x[p]);
    }
    for (size_t i = 0; i < n_allocs; i++)
        if (*allocs[i].p) be->free(be, *allocs[i].p);
    return s;
}
