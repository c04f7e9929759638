/* The umT5 from a scaled-fp8 file (ComfyUI's umt5_xxl_fp8_e4m3fn_scaled): every matrix and the token embedding
 * stored as e4m3 bytes with NAME.scale_weight (per tensor for some, one per row for others), against the same
 * model stored as the fp32 values W8 · scale. The two files hold the same weights, so the encodings must be
 * bit-identical: this checks that the loader pairs each scale with its weight and applies it everywhere (the
 * matrices through the backend, the embedding rows read on the host). e4m3 decoding itself is checked against
 * torch by the DiT fp8 golden (tests/dit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "base/half.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"
#include "text/t5.h"

static int is_matrix(const rad_st_tensor *t) {
    return t->ndim == 2 && t->dtype != RAD_DT_U8 && !strstr(t->name, "pos_embedding");
}

/* Writes the fp8 and the fp32 file; returns 0 on success. */
static int make_files(const char *fp8_path, const char *f32_path) {
    char p[1024];
    rad_st_file *f;
    if (rad_st_open(rad_test_path(p, sizeof p, "tiny-wan-original/models_t5_tiny_wan_names.safetensors"), &f) != RAD_OK)
        return 1;
    const size_t n = rad_st_count(f);
    rad_st_out *a = calloc(2 * n + 1, sizeof *a), *b = calloc(n, sizeof *b);
    void **bufs = calloc(3 * n, sizeof *bufs);
    char (*names)[128] = calloc(n, sizeof *names);
    size_t na = 0, nb = 0, nbuf = 0;
    uint64_t rng = 7;
    for (size_t i = 0; i < n; i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        if (!is_matrix(t)) {
            a[na++] = rad_test_st_out(t);
            b[nb++] = rad_test_st_out(t);
            continue;
        }
        const int64_t rows = t->shape[0], cols = t->shape[1];
        const int per_row = i % 2; /* alternate per-tensor and per-row scales */
        uint8_t *w8 = malloc((size_t)(rows * cols));
        float *sc = malloc((size_t)rows * sizeof *sc), *wf = malloc((size_t)(rows * cols) * sizeof *wf);
        for (int64_t r = 0; r < rows; r++) sc[r] = per_row || r == 0 ? 0.002f + 0.01f * fabsf(rad_test_uniform(&rng)) : sc[0];
        for (int64_t e = 0; e < rows * cols; e++) {
            uint8_t v = (uint8_t)(fabsf(rad_test_uniform(&rng)) * 255.0f);
            if ((v & 0x7f) == 0x7f) v ^= 1; /* e4m3fn's only NaNs */
            w8[e] = v;
            wf[e] = rad_f8e4m3_to_f32(v) * sc[per_row ? e / cols : 0];
        }
        bufs[nbuf++] = w8, bufs[nbuf++] = sc, bufs[nbuf++] = wf;
        a[na] = rad_test_st_out(t);
        a[na].dtype = RAD_DT_F8_E4M3, a[na++].data = w8;
        snprintf(names[i], sizeof names[i], "%.*s.scale_weight", (int)(strlen(t->name) - 7), t->name);
        a[na++] = (rad_st_out){.name = names[i], .dtype = RAD_DT_F32, .ndim = 1, .shape = {per_row ? rows : 1}, .data = sc};
        b[nb] = rad_test_st_out(t);
        b[nb].dtype = RAD_DT_F32, b[nb++].data = wf;
    }
    static const uint8_t marker = 0;
    a[na++] = (rad_st_out){.name = "scaled_fp8", .dtype = RAD_DT_F8_E4M3, .ndim = 1, .shape = {0}, .data = &marker};
    int rc = rad_st_write(fp8_path, a, na, NULL, 0) != RAD_OK || rad_st_write(f32_path, b, nb, NULL, 0) != RAD_OK;
    for (size_t i = 0; i < nbuf; i++) free(bufs[i]);
    free(bufs), free(names), free(a), free(b);
    rad_st_close(f);
    return rc;
}

static float *encode(rad_backend *be, const char *path, const int32_t *ids, int n, int64_t *d) {
    rad_weights *w = NULL;
    rad_t5 *t5 = NULL;
    float *out = NULL;
    CHECK_OK(rad_weights_open(path, RAD_COMP_T5, &w));
    if (w) CHECK_OK(rad_t5_load(be, w, &t5));
    if (t5) {
        *d = rad_t5_config_of(t5)->d_model;
        out = calloc((size_t)n * (size_t)*d, sizeof *out);
        CHECK_OK(rad_t5_encode(t5, ids, n, out));
    }
    rad_t5_free(t5);
    rad_weights_close(w);
    return out;
}

int main(void) {
    rad_backend *be;
    CHECK_OK(rad_backend_cpu(&be));
    CHECK(make_files("t5_fp8_scaled.safetensors", "t5_fp8_as_f32.safetensors") == 0);
    const int32_t ids[] = {5, 17, 250, 3, 99, 1};
    const int n = (int)(sizeof ids / sizeof ids[0]);
    int64_t d8 = 0, d32 = 0;
    float *h8 = encode(be, "t5_fp8_scaled.safetensors", ids, n, &d8);
    float *h32 = encode(be, "t5_fp8_as_f32.safetensors", ids, n, &d32);
    CHECK(h8 && h32 && d8 == d32 && d8 > 0);
    if (h8 && h32) {
        int finite = 1;
        for (int64_t i = 0; i < n * d8; i++) finite &= isfinite(h8[i]) != 0;
        CHECK(finite);
        CHECK(memcmp(h8, h32, (size_t)(n * d8) * sizeof *h8) == 0);
        printf("scaled fp8 umT5 == its fp32 dequantisation: %s (rel %.3g)\n",
               memcmp(h8, h32, (size_t)(n * d8) * sizeof *h8) ? "NO" : "bit-identical", rad_rel_err(h8, h32, (size_t)(n * d8)));
    }
    free(h8), free(h32);
    be->destroy(be);
    TEST_MAIN_END();
}
