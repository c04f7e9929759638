/* safetensors reader on the real golden files, the writer round trip, and the dtype conversions against
 * values worked out by hand from the IEEE/OCP bit layouts. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "test_util.h"

static void golden(void) {
    char p[512];
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(rad_test_path(p, sizeof p, "cases/unipc.safetensors"), &f));
    if (!f) return;
    /* 19 tensors: sigmas, timesteps, v_000..007, x_000..007, x_init (README "Cases"). */
    CHECK(rad_st_count(f) == 19);
    const rad_st_tensor *t = rad_st_find(f, "timesteps");
    CHECK(t && t->dtype == RAD_DT_I32 && t->ndim == 1 && t->shape[0] == 8 && t->nbytes == 32);
    t = rad_st_find(f, "x_init");
    CHECK(t && t->dtype == RAD_DT_F32 && t->ndim == 4 && t->shape[0] == 16 && t->shape[1] == 2 && t->shape[3] == 4 &&
          t->numel == 512);
    t = rad_st_find(f, "sigmas");
    CHECK(t && t->shape[0] == 9);
    CHECK(!rad_st_find(f, "x_008") && !rad_st_find(f, "__metadata__"));
    CHECK(rad_st_meta(f, "steps") && !strcmp(rad_st_meta(f, "steps"), "8"));
    CHECK(rad_st_meta(f, "shift") && !strcmp(rad_st_meta(f, "shift"), "5.0"));
    CHECK(!rad_st_meta(f, "nope"));
    /* Values as the reference scheduler stored them (read independently with Python's struct module). */
    int64_t ts[8];
    float sg[9];
    CHECK_OK(rad_st_to_i64(rad_st_find(f, "timesteps"), ts));
    CHECK_OK(rad_st_to_f32(rad_st_find(f, "sigmas"), sg));
    CHECK(ts[0] == 999 && ts[1] == 972 && ts[7] == 416);
    CHECK(fabsf(sg[0] - 0.9997998476f) < 1e-9f && fabsf(sg[6] - 0.6246873736f) < 1e-9f && sg[8] == 0.0f);
    CHECK_FAILS(rad_st_to_i64(rad_st_find(f, "sigmas"), ts));
    /* Offset order: contiguous, and the data pointers follow each other. */
    for (size_t i = 1; i < rad_st_count(f); i++) {
        const rad_st_tensor *a = rad_st_at(f, i - 1), *b = rad_st_at(f, i);
        CHECK((const char *)a->data + a->nbytes == (const char *)b->data);
    }
    CHECK(rad_st_at(f, 19) == NULL);
    rad_st_close(f);

    f = NULL;
    CHECK_OK(rad_st_open(rad_test_path(p, sizeof p, "cases/dit_forward.safetensors"), &f));
    if (f) {
        CHECK(rad_st_count(f) == 4);
        t = rad_st_find(f, "context");
        CHECK(t && t->ndim == 2 && t->shape[0] == 7 && t->shape[1] == 64);
        CHECK(rad_st_meta(f, "model") && !strcmp(rad_st_meta(f, "model"), "tiny-wan"));
        rad_st_close(f);
    }
}

static void roundtrip(void) {
    const char *path = "test_safetensors_rt.safetensors";
    float a[6] = {1, 2, 3, 4, 5, 6};
    int32_t b[3] = {-7, 0, 7};
    uint8_t c[1] = {0};
    rad_st_out outs[3] = {
        {"b.int", RAD_DT_I32, 1, {3}, b},
        {"a", RAD_DT_F32, 2, {2, 3}, a},
        {"empty", RAD_DT_U8, 2, {0, 5}, c},
    };
    const char *meta[] = {"k", "v", "prompt", "a cat"};
    CHECK_OK(rad_st_write(path, outs, 3, meta, 2));
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(path, &f));
    if (f) {
        CHECK(rad_st_count(f) == 3);
        const rad_st_tensor *t = rad_st_find(f, "a");
        float got[6];
        CHECK(t && t->shape[0] == 2 && t->shape[1] == 3);
        if (t) {
            CHECK_OK(rad_st_to_f32(t, got));
            CHECK(!memcmp(got, a, sizeof a));
        }
        int64_t bi[3];
        CHECK_OK(rad_st_to_i64(rad_st_find(f, "b.int"), bi));
        CHECK(bi[0] == -7 && bi[2] == 7);
        t = rad_st_find(f, "empty");
        CHECK(t && t->numel == 0 && t->nbytes == 0);
        CHECK(!strcmp(rad_st_meta(f, "prompt"), "a cat"));
        rad_st_close(f);
    }
    /* The header is padded to a multiple of 8 so the data is aligned. */
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8] = {0};
    CHECK(fp && fread(len8, 1, 8, fp) == 8);
    if (fp) fclose(fp);
    CHECK(len8[0] % 8 == 0);
    remove(path);
    /* Writer rejects duplicate names and bad ranks. */
    rad_st_out dup[2] = {{"x", RAD_DT_F32, 1, {1}, a}, {"x", RAD_DT_F32, 1, {1}, a}};
    CHECK_FAILS(rad_st_write(path, dup, 2, NULL, 0));
    rad_st_out neg[1] = {{"x", RAD_DT_F32, 1, {-1}, a}};
    CHECK_FAILS(rad_st_write(path, neg, 1, NULL, 0));
    remove(path);
}

/* Builds an image holding one tensor of the given dtype and raw bytes, and converts it. */
static void conv_case(const char *dtype, const void *bytes, size_t nbytes, int n, const float *expect) {
    char hdr[256], img[512];
    int h = snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[0,%zu]}}", dtype, n, nbytes);
    uint64_t len = (uint64_t)h;
    for (int i = 0; i < 8; i++) img[i] = (char)(len >> (8 * i));
    memcpy(img + 8, hdr, (size_t)h);
    memcpy(img + 8 + h, bytes, nbytes);
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open_memory(img, 8 + (size_t)h + nbytes, dtype, &f));
    if (!f) return;
    float got[8];
    CHECK_OK(rad_st_to_f32(rad_st_at(f, 0), got));
    for (int i = 0; i < n; i++) {
        bool ok = isnan(expect[i]) ? isnan(got[i]) : got[i] == expect[i];
        if (!ok) {
            fprintf(stderr, "%s[%d]: expected %g, found %g\n", dtype, i, expect[i], got[i]);
            rad_test_failures++;
        }
    }
    rad_st_close(f);
}

static void conversions(void) {
    const uint16_t f16[4] = {0x3c00, 0xc000, 0x7bff, 0x0001}; /* 1, -2, 65504, 2^-24 */
    conv_case("F16", f16, 8, 4, (const float[]){1, -2, 65504, ldexpf(1, -24)});
    const uint16_t bf[3] = {0x3f80, 0xc040, 0x4049}; /* 1, -3, 3.140625 */
    conv_case("BF16", bf, 6, 3, (const float[]){1, -3, 3.140625f});
    const uint8_t e4[4] = {0x38, 0x7e, 0x01, 0xb8}; /* 1, 448, 2^-9, -1 */
    conv_case("F8_E4M3", e4, 4, 4, (const float[]){1, 448, ldexpf(1, -9), -1});
    const uint8_t e5[4] = {0x3c, 0x7b, 0x7c, 0x01}; /* 1, 57344, inf, 2^-16 */
    conv_case("F8_E5M2", e5, 4, 4, (const float[]){1, 57344, INFINITY, ldexpf(1, -16)});
    const double f64[2] = {2.5, -0.125};
    conv_case("F64", f64, 16, 2, (const float[]){2.5f, -0.125f});
    const int16_t i16[2] = {-300, 300};
    conv_case("I16", i16, 4, 2, (const float[]){-300, 300});
    const int64_t i64[1] = {-5};
    conv_case("I64", i64, 8, 1, (const float[]){-5});
    const uint8_t b[2] = {0, 1};
    conv_case("BOOL", b, 2, 2, (const float[]){0, 1});
    /* A format dtype we recognise but do not convert opens fine, then fails to convert with a message. */
    char img[128];
    const char *h = "{\"t\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
    size_t hl = strlen(h);
    memset(img, 0, sizeof img);
    img[0] = (char)hl;
    memcpy(img + 8, h, hl);
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open_memory(img, 8 + hl + 8, "c64", &f));
    if (f) {
        float x[2];
        CHECK(!strcmp(rad_st_at(f, 0)->dtype_name, "C64"));
        CHECK_FAILS(rad_st_to_f32(rad_st_at(f, 0), x));
        rad_st_close(f);
    }
}

/* A tensor large enough to be converted by several threads: every element must land in its place. */
static void large_conversion(void) {
    const size_t n = (size_t)1 << 21;
    const char *hfmt = "{\"t\":{\"dtype\":\"BF16\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}";
    char hdr[128];
    size_t hl = (size_t)snprintf(hdr, sizeof hdr, hfmt, n, 2 * n);
    uint8_t *img = malloc(8 + hl + 2 * n);
    float *out = malloc(n * sizeof(float));
    for (int i = 0; i < 8; i++) img[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(img + 8, hdr, hl);
    for (size_t i = 0; i < n; i++) { /* bf16 bits of (i % 128) + 128: exact in bf16 (8 significant bits) */
        float v = (float)(i % 128 + 128);
        uint32_t u;
        memcpy(&u, &v, 4);
        img[8 + hl + 2 * i] = (uint8_t)(u >> 16);
        img[8 + hl + 2 * i + 1] = (uint8_t)(u >> 24);
    }
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open_memory(img, 8 + hl + 2 * n, "large", &f));
    if (f) {
        CHECK_OK(rad_st_to_f32(rad_st_at(f, 0), out));
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += out[i] != (float)(i % 128 + 128);
        CHECK(bad == 0);
        rad_st_close(f);
    }
    free(out);
    free(img);
}

int main(void) {
    large_conversion();
    golden();
    roundtrip();
    conversions();
    TEST_MAIN_END();
}
