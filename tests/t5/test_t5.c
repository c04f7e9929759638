/* umT5 encoder: bucket function against hand-computed values, the golden forward from both weight layouts,
 * rejection of bad ids, and "L real tokens == 512 padded tokens with key masking" against a naive double
 * reference written here from the spec (wan21.md §2). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "base/half.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"
#include "text/t5.h"

/* ---- bucket table ----
 * With 32 buckets and max distance 128: half = 16, max_exact = 8, and for n = |j - i| >= 8 the bucket is
 * 8 + floor(log(n/8)/log(16)*8) = 8 + floor(2*log2(n/8)), at most 15; keys after the query (j > i) add 16. */
static void test_buckets(void) {
    static const struct {
        int n, bucket;
    } table[] = {
        {0, 0},    {1, 1},    {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {7, 7}, {8, 8}, /* 2*log2(1)     = 0    */
        {11, 8},                                                                      /* 2*log2(1.375) = 0.92 */
        {12, 9},                                                                      /* 2*log2(1.5)   = 1.17 */
        {15, 9},                                                                      /* 2*log2(1.875) = 1.81 */
        {16, 10},                                                                     /* 2*log2(2)     = 2    */
        {23, 11},                                                                     /* 2*log2(2.875) = 3.05 */
        {31, 11},                                                                     /* 2*log2(3.875) = 3.91 */
        {32, 12},                                                                     /* 2*log2(4)     = 4    */
        {45, 12},                                                                     /* 2*log2(5.625) = 4.98 */
        {63, 13},                                                                     /* 2*log2(7.875) = 5.95 */
        {64, 14},                                                                     /* 2*log2(8)     = 6    */
        {90, 14},                                                                     /* 2*log2(11.25) = 6.98 */
        {127, 15},                                                                    /* 2*log2(15.875) = 7.98 */
        {128, 15}, /* 2*log2(16) = 8 -> 16, clamped to 15 */
        {500, 15}, {511, 15},
    };
    for (size_t t = 0; t < sizeof table / sizeof table[0]; t++) {
        int n = table[t].n, want = table[t].bucket;
        int before = rad_t5_rel_bucket(-n, 32, 128); /* key before the query: j - i = -n */
        int after = rad_t5_rel_bucket(n, 32, 128);   /* key after the query */
        if (before != want || after != (n ? want + 16 : 0)) {
            fprintf(stderr, "bucket(|rel| = %d): got %d / %d, want %d / %d\n", n, before, after, want,
                    n ? want + 16 : 0);
            rad_test_failures++;
        }
    }
}

/* ---- golden case ---- */

typedef struct golden {
    rad_st_file *f;
    int32_t ids[RAD_T5_MAX_TOKENS];
    int n;
    int64_t d;
    float *hidden;
} golden;

static int golden_open(golden *g) {
    char path[1024];
    memset(g, 0, sizeof *g);
    if (rad_st_open(rad_test_path(path, sizeof path, "cases/t5_forward.safetensors"), &g->f) != RAD_OK) {
        fprintf(stderr, "golden: %s\n", rad_last_error());
        rad_test_failures++;
        return 0;
    }
    const rad_st_tensor *ids = rad_st_find(g->f, "ids"), *hid = rad_st_find(g->f, "hidden");
    if (!ids || !hid || ids->ndim != 1 || hid->ndim != 2 || ids->numel > RAD_T5_MAX_TOKENS ||
        hid->shape[0] != ids->numel) {
        fprintf(stderr, "golden: unexpected tensors in t5_forward.safetensors\n");
        rad_test_failures++;
        return 0;
    }
    int64_t tmp[RAD_T5_MAX_TOKENS];
    CHECK_OK(rad_st_to_i64(ids, tmp));
    g->n = (int)ids->numel;
    for (int i = 0; i < g->n; i++) g->ids[i] = (int32_t)tmp[i];
    CHECK(g->ids[g->n - 1] == 1); /* ends with eos */
    g->d = hid->shape[1];
    CHECK_OK(rad_alloc((void **)&g->hidden, (size_t)hid->numel * sizeof(float), "golden hidden"));
    CHECK_OK(rad_st_to_f32(hid, g->hidden));
    return 1;
}

static void golden_close(golden *g) {
    rad_free(g->hidden);
    rad_st_close(g->f);
}

/* Loads the encoder from `rel` (under tests/data), checks the golden and the id checks. */
static void test_layout(rad_backend *be, const golden *g, const char *rel) {
    char path[1024];
    rad_weights *w = NULL;
    rad_t5 *t5 = NULL;
    printf("layout %s\n", rel);
    CHECK_OK(rad_weights_open(rad_test_path(path, sizeof path, rel), RAD_COMP_T5, &w));
    if (!w) return;
    CHECK_OK(rad_t5_load(be, w, &t5));
    if (t5) {
        const rad_t5_config *c = rad_t5_config_of(t5);
        CHECK(c->vocab == 1024 && c->d_model == 64 && c->num_heads == 4 && c->d_kv == 16 && c->d_ff == 96 &&
              c->num_layers == 2 && c->num_buckets == 32 && c->max_distance == 128);
        CHECK(c->d_model == g->d);
        float *out;
        CHECK_OK(rad_alloc((void **)&out, (size_t)g->n * g->d * sizeof(float), "out"));
        CHECK_OK(rad_t5_encode(t5, g->ids, g->n, out));
        double rel_err = rad_rel_err(out, g->hidden, (size_t)g->n * g->d);
        printf("  rel err vs golden: %.3g\n", rel_err);
        CHECK(rel_err < 1e-4);

        /* Bad input: ids outside [0, vocab), no tokens, too many tokens. */
        int32_t bad[3] = {5, -1, 1};
        CHECK_FAILS(rad_t5_encode(t5, bad, 3, out));
        bad[1] = c->vocab;
        CHECK_FAILS(rad_t5_encode(t5, bad, 3, out));
        bad[1] = c->vocab - 1; /* the last valid id works */
        CHECK_OK(rad_t5_encode(t5, bad, 3, out));
        CHECK_FAILS(rad_t5_encode(t5, bad, 0, out));
        CHECK_FAILS(rad_t5_encode(t5, g->ids, RAD_T5_MAX_TOKENS + 1, out));
        rad_free(out);
    }
    rad_t5_free(t5);
    rad_weights_close(w);
}

/* ---- naive reference: padded to 512 tokens, pad keys masked (as the official encoder runs) ---- */

static int ref_bucket(int rel) { /* the formula of wan21.md §2.2, in double */
    int bucket = rel > 0 ? 16 : 0, n = abs(rel);
    if (n < 8) return bucket + n;
    int large = 8 + (int)(log(n / 8.0) / log(128 / 8.0) * 8);
    return bucket + (large < 15 ? large : 15);
}

static void rmsnorm_ref(const double *x, const float *w, int d, double *y) {
    double ss = 0;
    for (int c = 0; c < d; c++) ss += x[c] * x[c];
    double r = 1.0 / sqrt(ss / d + 1e-6);
    for (int c = 0; c < d; c++) y[c] = x[c] * r * w[c];
}

/* y[n_out] = W[n_out, n_in] x */
static void matvec(const float *W, const double *x, int n_out, int n_in, double *y) {
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

/* Full encoder on `len` tokens where only the first `real` keys are visible (the mask of the reference).
 * Tiny config: d 64, 4 heads x 16, d_ff 96, 2 layers. */
enum { D = 64, H = 4, DK = 16, FF = 96, NL = 2, NB = 32 };
static void reference(const rad_weights *w, const int32_t *ids, int len, int real, double *x /* [len, D] */) {
    float *emb = NULL;
    int64_t eshape[2] = {1024, D};
    CHECK_OK(rad_weights_f32(w, "token_embedding.weight", 2, eshape, &emb));
    if (!emb) return;
    for (int i = 0; i < len; i++)
        for (int c = 0; c < D; c++) x[(size_t)i * D + c] = emb[(size_t)ids[i] * D + c];
    rad_free(emb);

    double *h = calloc((size_t)len * D, sizeof *h), *q = calloc((size_t)len * D, sizeof *q),
           *k = calloc((size_t)len * D, sizeof *k), *v = calloc((size_t)len * D, sizeof *v),
           *att = calloc(D, sizeof *att), *p = calloc((size_t)len, sizeof *p), *tmp = calloc(FF, sizeof *tmp),
           *a = calloc(FF, sizeof *a), *g = calloc(FF, sizeof *g);
    for (int l = 0; l < NL; l++) {
        char name[128];
        float *n1, *n2, *wq, *wk, *wv, *wo, *pos, *wg, *w1, *w2;
#define W(fmt, dst, nd, ...)                                                                                           \
    do {                                                                                                               \
        snprintf(name, sizeof name, "blocks.%d." fmt, l);                                                              \
        dst = NULL;                                                                                                    \
        CHECK_OK(rad_weights_f32(w, name, nd, (int64_t[]){__VA_ARGS__}, &dst));                                        \
    } while (0)
        W("norm1.weight", n1, 1, D);
        W("norm2.weight", n2, 1, D);
        W("attn.q.weight", wq, 2, D, D);
        W("attn.k.weight", wk, 2, D, D);
        W("attn.v.weight", wv, 2, D, D);
        W("attn.o.weight", wo, 2, D, D);
        W("pos_embedding.embedding.weight", pos, 2, NB, H);
        W("ffn.gate.0.weight", wg, 2, FF, D);
        W("ffn.fc1.weight", w1, 2, FF, D);
        W("ffn.fc2.weight", w2, 2, D, FF);
#undef W
        for (int i = 0; i < len; i++) {
            rmsnorm_ref(x + (size_t)i * D, n1, D, h + (size_t)i * D);
            matvec(wq, h + (size_t)i * D, D, D, q + (size_t)i * D);
            matvec(wk, h + (size_t)i * D, D, D, k + (size_t)i * D);
            matvec(wv, h + (size_t)i * D, D, D, v + (size_t)i * D);
        }
        for (int i = 0; i < len; i++) {
            for (int hd = 0; hd < H; hd++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < len; j++) {
                    double s = 0;
                    for (int c = 0; c < DK; c++) s += q[(size_t)i * D + hd * DK + c] * k[(size_t)j * D + hd * DK + c];
                    s += pos[ref_bucket(j - i) * H + hd];
                    p[j] = j < real ? s : -INFINITY; /* pad keys masked */
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < len; j++) sum += (p[j] = exp(p[j] - mx));
                for (int c = 0; c < DK; c++) {
                    double s = 0;
                    for (int j = 0; j < len; j++) s += p[j] * v[(size_t)j * D + hd * DK + c];
                    att[hd * DK + c] = s / sum;
                }
            }
            matvec(wo, att, D, D, tmp);
            for (int c = 0; c < D; c++) h[(size_t)i * D + c] = tmp[c]; /* q/k/v of row i already used */
        }
        for (int i = 0; i < len; i++) {
            double *xi = x + (size_t)i * D;
            for (int c = 0; c < D; c++) xi[c] += h[(size_t)i * D + c];
            double hn[D], o[D];
            rmsnorm_ref(xi, n2, D, hn);
            matvec(w1, hn, FF, D, a);
            matvec(wg, hn, FF, D, g);
            for (int f = 0; f < FF; f++) {
                double u = g[f];
                a[f] *= 0.5 * u * (1.0 + tanh(0.7978845608028654 * (u + 0.044715 * u * u * u)));
            }
            matvec(w2, a, D, FF, o);
            for (int c = 0; c < D; c++) xi[c] += o[c];
        }
        rad_free(n1), rad_free(n2), rad_free(wq), rad_free(wk), rad_free(wv), rad_free(wo), rad_free(pos);
        rad_free(wg), rad_free(w1), rad_free(w2);
    }
    float *fn = NULL;
    CHECK_OK(rad_weights_f32(w, "norm.weight", 1, (int64_t[]){D}, &fn));
    for (int i = 0; i < len && fn; i++) {
        double y[D];
        rmsnorm_ref(x + (size_t)i * D, fn, D, y);
        memcpy(x + (size_t)i * D, y, sizeof y);
    }
    rad_free(fn);
    free(h), free(q), free(k), free(v), free(att), free(p), free(tmp), free(a), free(g);
}

static void test_padding(rad_backend *be, const golden *g) {
    char path[1024];
    rad_weights *w = NULL;
    rad_t5 *t5 = NULL;
    CHECK_OK(rad_weights_open(
        rad_test_path(path, sizeof path, "tiny-wan-original/models_t5_tiny_wan_names.safetensors"), RAD_COMP_T5, &w));
    if (!w) return;
    CHECK_OK(rad_t5_load(be, w, &t5));
    if (!t5) {
        rad_weights_close(w);
        return;
    }
    int32_t ids[RAD_T5_MAX_TOKENS] = {0}; /* pad id 0 after the real tokens */
    memcpy(ids, g->ids, (size_t)g->n * sizeof *ids);
    double *ref = calloc((size_t)RAD_T5_MAX_TOKENS * D, sizeof *ref);
    float *out = calloc((size_t)g->n * D, sizeof *out), *ref_f = calloc((size_t)g->n * D, sizeof *ref_f);
    reference(w, ids, RAD_T5_MAX_TOKENS, g->n, ref);
    for (size_t i = 0; i < (size_t)g->n * D; i++) ref_f[i] = (float)ref[i];
    CHECK_OK(rad_t5_encode(t5, g->ids, g->n, out));
    double e_model = rad_rel_err(out, ref_f, (size_t)g->n * D),
           e_golden = rad_rel_err(ref_f, g->hidden, (size_t)g->n * D);
    printf("padded reference: engine (L tokens) vs reference (512, masked) %.3g; reference vs golden %.3g\n", e_model,
           e_golden);
    CHECK(e_model < 1e-5);
    CHECK(e_golden < 1e-4); /* the reference itself is right */

    /* Without the key mask the padded run differs: the property is not vacuous. */
    reference(w, ids, RAD_T5_MAX_TOKENS, RAD_T5_MAX_TOKENS, ref);
    for (size_t i = 0; i < (size_t)g->n * D; i++) ref_f[i] = (float)ref[i];
    double e_unmasked = rad_rel_err(out, ref_f, (size_t)g->n * D);
    printf("  unmasked padded reference differs by %.3g\n", e_unmasked);
    CHECK(e_unmasked > 1e-3);
    free(ref), free(out), free(ref_f);
    rad_t5_free(t5);
    rad_weights_close(w);
}

/* ---- bf16 weights (the real checkpoint's dtype) ----
 * The official tiny file rounded to bf16 and written twice: as BF16 (hand-made safetensors, so the row gather
 * of the embedding reads 2-byte rows) and as F32 holding the same rounded values. Both must encode alike. */
static int write_rounded(const char *src, const char *dst_bf16, const char *dst_f32) {
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(src, &f));
    if (!f) return 0;
    size_t n = rad_st_count(f), off = 0, hlen = 0, total = 0;
    char *hdr = calloc(1, 1 << 16);
    rad_st_out *outs = calloc(n, sizeof *outs);
    float **vals = calloc(n, sizeof *vals);
    hlen += (size_t)snprintf(hdr, 1 << 16, "{");
    for (size_t i = 0; i < n; i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        vals[i] = calloc((size_t)t->numel, sizeof(float));
        CHECK_OK(rad_st_to_f32(t, vals[i]));
        for (int64_t j = 0; j < t->numel; j++) vals[i][j] = rad_bf16_to_f32(rad_f32_to_bf16(vals[i][j]));
        outs[i] = rad_test_st_out(t);
        outs[i].dtype = RAD_DT_F32, outs[i].data = vals[i];
        hlen += (size_t)snprintf(hdr + hlen, (1 << 16) - hlen, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", i ? "," : "",
                                 t->name);
        for (int d = 0; d < t->ndim; d++)
            hlen += (size_t)snprintf(hdr + hlen, (1 << 16) - hlen, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        hlen += (size_t)snprintf(hdr + hlen, (1 << 16) - hlen, "],\"data_offsets\":[%zu,%zu]}", off,
                                 off + 2 * (size_t)t->numel);
        off += 2 * (size_t)t->numel;
    }
    hlen += (size_t)snprintf(hdr + hlen, (1 << 16) - hlen, "}");
    while (hlen % 8) hdr[hlen++] = ' ';
    FILE *o = fopen(dst_bf16, "wb");
    CHECK(o != NULL);
    if (o) {
        uint64_t h64 = hlen; /* little-endian host assumed (x86-64, aarch64) */
        fwrite(&h64, 8, 1, o);
        fwrite(hdr, 1, hlen, o);
        for (size_t i = 0; i < n; i++)
            for (int64_t j = 0; j < rad_st_at(f, i)->numel; j++) {
                uint16_t b = rad_f32_to_bf16(vals[i][j]);
                total += fwrite(&b, 2, 1, o);
            }
        CHECK(fclose(o) == 0);
    }
    CHECK(total * 2 == off);
    CHECK_OK(rad_st_write(dst_f32, outs, n, NULL, 0));
    for (size_t i = 0; i < n; i++) free(vals[i]);
    free(vals), free(outs), free(hdr);
    rad_st_close(f);
    return total * 2 == off;
}

static void test_bf16(rad_backend *be, const golden *g) {
    char src[1024];
    rad_test_path(src, sizeof src, "tiny-wan-original/models_t5_tiny_wan_names.safetensors");
    if (!write_rounded(src, "t5_tiny_bf16.safetensors", "t5_tiny_bf16_as_f32.safetensors")) return;
    float *out[2] = {calloc((size_t)g->n * D, sizeof(float)), calloc((size_t)g->n * D, sizeof(float))};
    const char *files[2] = {"t5_tiny_bf16.safetensors", "t5_tiny_bf16_as_f32.safetensors"};
    for (int k = 0; k < 2; k++) {
        rad_weights *w = NULL;
        rad_t5 *t5 = NULL;
        CHECK_OK(rad_weights_open(files[k], RAD_COMP_T5, &w));
        if (w) CHECK_OK(rad_t5_load(be, w, &t5));
        if (t5) CHECK_OK(rad_t5_encode(t5, g->ids, g->n, out[k]));
        rad_t5_free(t5);
        if (w) rad_weights_close(w);
    }
    double e_same = rad_rel_err(out[0], out[1], (size_t)g->n * D),
           e_gold = rad_rel_err(out[0], g->hidden, (size_t)g->n * D);
    printf("bf16 weights: vs the same values in F32 %.3g; vs the fp32 golden %.3g\n", e_same, e_gold);
    CHECK(e_same < 1e-6);
    CHECK(e_gold < 0.1); /* only the bf16 rounding of random weights (~2%) separates them */
    free(out[0]), free(out[1]);
}

/* ---- malformed models: a missing tensor, a wrong shape, the DiT given as T5 ---- */
static void expect_load_fails(rad_backend *be, const char *path) {
    rad_weights *w = NULL;
    rad_t5 *t5 = NULL;
    rad_status s = rad_weights_open(path, RAD_COMP_T5, &w);
    if (s != RAD_OK) {
        printf("  rejected at open: %s\n", rad_last_error());
        return;
    }
    CHECK_FAILS(rad_t5_load(be, w, &t5));
    CHECK(t5 == NULL);
    rad_weights_close(w);
}

static void test_malformed(rad_backend *be) {
    char src[1024];
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(rad_test_path(src, sizeof src, "tiny-wan-original/models_t5_tiny_wan_names.safetensors"), &f));
    if (!f) return;
    size_t n = rad_st_count(f);
    rad_st_out *outs = calloc(n, sizeof *outs);
    for (size_t i = 0; i < n; i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        CHECK(t->dtype == RAD_DT_F32);
        outs[i] = rad_test_st_out(t);
    }
    for (int variant = 0; variant < 2; variant++) {
        size_t m = 0;
        rad_st_out *v = calloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++) {
            rad_st_out o = outs[i];
            if (variant == 0 && !strcmp(o.name, "blocks.1.ffn.fc2.weight")) continue; /* missing */
            if (variant == 1 && !strcmp(o.name, "blocks.1.pos_embedding.embedding.weight"))
                o.shape[0] = 4, o.shape[1] = 32; /* transposed table */
            v[m++] = o;
        }
        CHECK_OK(rad_st_write("t5_tiny_broken.safetensors", v, m, NULL, 0));
        printf("malformed variant %d\n", variant);
        expect_load_fails(be, "t5_tiny_broken.safetensors");
        free(v);
    }
    printf("DiT weights as T5\n");
    expect_load_fails(be, rad_test_path(src, sizeof src, "tiny-wan-original/diffusion_pytorch_model.safetensors"));
    free(outs);
    rad_st_close(f);
}

int main(void) {
    test_buckets();
    rad_backend *be = NULL;
    CHECK_OK(rad_backend_cpu(&be));
    golden g;
    if (be && golden_open(&g)) {
        test_layout(be, &g, "tiny-wan/text_encoder");
        test_layout(be, &g, "tiny-wan");
        test_layout(be, &g, "tiny-wan-original/models_t5_tiny_wan_names.safetensors");
        test_layout(be, &g, "tiny-wan-original"); /* official repo folder: the file with "t5" in its name */
        test_padding(be, &g);
        test_bf16(be, &g);
        test_malformed(be);
        golden_close(&g);
    }
    if (be) be->destroy(be);
    TEST_MAIN_END();
}
