/* Malformed-input corpus for the model-file layer (spec formats.md §1.1 and the reliability goal of §1.3):
 * hand-made safetensors images, each rejected with a message naming the fault; every truncation of a real
 * file; JSON configs; and index.json files (missing shards, names in the wrong shard, path traversal).
 * Run under ASan/UBSan (label parser): a crash, leak or overflow here is a failure too. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"

/* ---------------------------------------------------------------------------------------------------------- */
/* Image builders */

typedef struct {
    uint8_t *p;
    size_t n;
} image;

/* 8-byte length `len`, then hdr (hlen bytes), then `data` zero bytes. */
static image make_raw(uint64_t len, const char *hdr, size_t hlen, size_t data) {
    image im;
    im.n = 8 + hlen + data;
    im.p = calloc(im.n, 1);
    for (int i = 0; i < 8; i++) im.p[i] = (uint8_t)(len >> (8 * i));
    memcpy(im.p + 8, hdr, hlen);
    return im;
}
static image make(const char *hdr, size_t data) { return make_raw(strlen(hdr), hdr, strlen(hdr), data); }

/* Expects rejection, and that the message contains `fault`. */
static void rejects_image(int line, image im, const char *fault) {
    rad_st_file *f = NULL;
    rad_status s = rad_st_open_memory(im.p, im.n, "bad.safetensors", &f);
    if (s == RAD_OK) {
        fprintf(stderr, "line %d: expected rejection (%s), but the image was accepted\n", line, fault);
        rad_test_failures++;
        rad_st_close(f);
    } else if (f != NULL || !strstr(rad_last_error(), fault) || !strstr(rad_last_error(), "bad.safetensors")) {
        fprintf(stderr, "line %d: expected a message with '%s', found: %s\n", line, fault, rad_last_error());
        rad_test_failures++;
    } else {
        printf("  line %d rejected: %.200s\n", line, rad_last_error());
    }
    free(im.p);
}
#define REJECT(hdr, data, fault) rejects_image(__LINE__, make(hdr, data), fault)

static void accepts_image(int line, image im, size_t n_tensors) {
    rad_st_file *f = NULL;
    if (rad_st_open_memory(im.p, im.n, "good.safetensors", &f) != RAD_OK) {
        fprintf(stderr, "line %d: expected acceptance: %s\n", line, rad_last_error());
        rad_test_failures++;
    } else {
        if (rad_st_count(f) != n_tensors) {
            fprintf(stderr, "line %d: expected %zu tensors, found %zu\n", line, n_tensors, rad_st_count(f));
            rad_test_failures++;
        }
        rad_st_close(f);
    }
    free(im.p);
}
#define ACCEPT(hdr, data, n) accepts_image(__LINE__, make(hdr, data), n)

#define T(name, dt, shape, b, e) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* ---------------------------------------------------------------------------------------------------------- */

static void lengths(void) {
    /* HeaderTooSmall: 0..7 bytes. */
    for (size_t n = 0; n < 8; n++) {
        image im = {calloc(8, 1), n};
        rejects_image(__LINE__, im, "HeaderTooSmall");
    }
    /* HeaderTooLarge: just above 100,000,000 and u64 max (8 + N would overflow). */
    rejects_image(__LINE__, make_raw(100000001ull, "{}", 2, 0), "HeaderTooLarge");
    rejects_image(__LINE__, make_raw(UINT64_MAX, "{}", 2, 0), "HeaderTooLarge");
    rejects_image(__LINE__, make_raw(UINT64_MAX - 7, "{}", 2, 0), "HeaderTooLarge");
    /* InvalidHeaderLength: past the end of the file. */
    rejects_image(__LINE__, make_raw(3, "{}", 2, 0), "InvalidHeaderLength");
    rejects_image(__LINE__, make_raw(100000000ull, "{}", 2, 0), "InvalidHeaderLength");
    /* N = 0: no header at all. */
    rejects_image(__LINE__, make_raw(0, "", 0, 0), "InvalidHeaderStart");
    /* Trailing bytes / missing data. */
    REJECT("{}", 1, "MetadataIncompleteBuffer");
    REJECT("{" T("a", "F32", "[2]", 0, 8) "}", 9, "trailing bytes");
    REJECT("{" T("a", "F32", "[2]", 0, 8) "}", 7, "truncated");
    REJECT("{" T("a", "F32", "[2]", 0, 8) "}", 0, "MetadataIncompleteBuffer");
}

static void header_text(void) {
    /* Must begin with '{' (no leading whitespace, no other JSON values). */
    REJECT(" {}", 0, "InvalidHeaderStart");
    REJECT("\n{}", 0, "InvalidHeaderStart");
    REJECT("[]", 0, "InvalidHeaderStart");
    REJECT("\"x\"", 0, "InvalidHeaderStart");
    REJECT("1", 0, "InvalidHeaderStart");
    REJECT("null", 0, "InvalidHeaderStart");
    /* UTF-8: invalid byte, overlong, surrogate, beyond U+10FFFF, truncated sequence. */
    REJECT("{\"\xff\":1}", 0, "InvalidHeader");
    REJECT("{\"\xc0\xaf\":1}", 0, "not UTF-8");
    REJECT("{\"\xed\xa0\x80\":1}", 0, "not UTF-8");
    REJECT("{\"\xf4\x90\x80\x80\":1}", 0, "not UTF-8");
    REJECT("{\"a\":\"\xe2\x82\"}", 0, "not UTF-8");
    REJECT("{}\xc3", 0, "not UTF-8");
    /* Bad JSON. */
    REJECT("{", 0, "InvalidHeaderDeserialization");
    REJECT("{\"a\":}", 0, "InvalidHeaderDeserialization");
    REJECT("{} x", 0, "InvalidHeaderDeserialization");
    REJECT("{}{}", 0, "InvalidHeaderDeserialization");
    REJECT("{'a':1}", 0, "InvalidHeaderDeserialization");
    REJECT("{\"a\":NaN}", 0, "InvalidHeaderDeserialization");
    REJECT("{\"a\\u0000b\":1}", 0, "InvalidHeaderDeserialization");
    rejects_image(__LINE__, make_raw(3, "{}\0", 3, 0), "InvalidHeaderDeserialization");
    /* Padding: trailing spaces (the writer's) and other JSON whitespace are accepted. */
    ACCEPT("{}", 0, 0);
    ACCEPT("{}      ", 0, 0);
    ACCEPT("{}\n\t\r ", 0, 0);
    ACCEPT("{ \"__metadata__\" : { \"k\" : \"v\" } }  ", 0, 0);
}

static void json_bombs(void) {
    /* Deep nesting: jansson stops at depth 2048 with an error (no stack overflow). */
    size_t depth = 100000, n = 0;
    char *h = malloc(2 * depth + 16);
    n += (size_t)sprintf(h, "{\"a\":");
    for (size_t i = 0; i < depth; i++) h[n++] = '[';
    for (size_t i = 0; i < depth; i++) h[n++] = ']';
    h[n++] = '}';
    h[n] = 0;
    REJECT(h, 0, "InvalidHeaderDeserialization");
    /* Nesting inside __metadata__ and inside a tensor entry, within jansson's limit: schema errors. */
    n = (size_t)sprintf(h, "{\"__metadata__\":{\"k\":");
    for (size_t i = 0; i < 1000; i++) h[n++] = '[';
    for (size_t i = 0; i < 1000; i++) h[n++] = ']';
    h[n++] = '}', h[n++] = '}', h[n] = 0;
    REJECT(h, 0, "must be a string");
    n = (size_t)sprintf(h, "{\"t\":{\"dtype\":\"F32\",\"shape\":");
    for (size_t i = 0; i < 1000; i++) h[n++] = '[';
    for (size_t i = 0; i < 1000; i++) h[n++] = ']';
    n += (size_t)sprintf(h + n, ",\"data_offsets\":[0,0]}}");
    REJECT(h, 0, "shape[0]");
    free(h);
    /* Many tiny entries are fine (no quadratic blow-up or cap): 20000 empty tensors. */
    size_t cap = 20000 * 64 + 16;
    h = malloc(cap);
    n = (size_t)sprintf(h, "{");
    for (int i = 0; i < 20000; i++) n += (size_t)sprintf(h + n, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", i ? "," : "", i);
    h[n++] = '}', h[n] = 0;
    ACCEPT(h, 0, 20000);
    /* A name longer than 64 KiB. */
    free(h);
    h = malloc(70000 + 100);
    n = (size_t)sprintf(h, "{\"");
    memset(h + n, 'x', 70000);
    n += 70000;
    n += (size_t)sprintf(h + n, "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
    REJECT(h, 0, "longer than");
    free(h);
}

static void metadata(void) {
    REJECT("{\"__metadata__\":{\"a\":1}}", 0, "must be a string");
    REJECT("{\"__metadata__\":{\"a\":null}}", 0, "must be a string");
    REJECT("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "must be a string");
    REJECT("{\"__metadata__\":{\"a\":[\"b\"]}}", 0, "must be a string");
    REJECT("{\"__metadata__\":[]}", 0, "__metadata__ must be an object");
    REJECT("{\"__metadata__\":\"x\"}", 0, "__metadata__ must be an object");
    REJECT("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate");
    REJECT("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "duplicate");
    ACCEPT("{\"__metadata__\":{}}", 0, 0);
}

static void schema(void) {
    REJECT("{" T("a", "F32", "[1]", 0, 4) "," T("a", "F32", "[1]", 4, 8) "}", 8, "duplicate");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate");
    REJECT("{\"a\":1}", 0, "expected an object");
    REJECT("{\"a\":[]}", 0, "expected an object");
    REJECT("{\"a\":null}", 0, "expected an object");
    REJECT("{\"a\":{}}", 0, "dtype");
    REJECT("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype");
    REJECT("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype");
    REJECT("{" T("a", "F31", "[1]", 0, 4) "}", 4, "unknown dtype");
    REJECT("{" T("a", "f32", "[1]", 0, 4) "}", 4, "unknown dtype");
    REJECT("{" T("a", "", "[1]", 0, 4) "}", 4, "unknown dtype");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "shape");
    REJECT("{" T("a", "F32", "4", 0, 4) "}", 4, "shape");
    REJECT("{" T("a", "F32", "{}", 0, 4) "}", 4, "shape");
    REJECT("{" T("a", "F32", "[-1]", 0, 4) "}", 4, "non-negative");
    REJECT("{" T("a", "F32", "[1.5]", 0, 4) "}", 4, "non-negative");
    REJECT("{" T("a", "F32", "[1.0]", 0, 4) "}", 4, "non-negative");
    REJECT("{" T("a", "F32", "[\"1\"]", 0, 4) "}", 4, "non-negative");
    REJECT("{" T("a", "F32", "[null]", 0, 4) "}", 4, "non-negative");
    REJECT("{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "dimensions");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "data_offsets");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, "data_offsets");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}}", 4, "data_offsets");
    /* Every dtype name of the format is recognised; sub-byte types must fill whole bytes. */
    ACCEPT("{" T("a", "F6_E2M3", "[4]", 0, 3) "," T("b", "F4", "[2]", 3, 4) "," T("c", "F8_E8M0", "[1]", 4, 5) "," T("d", "C64", "[1]", 5, 13) "," T("e", "F8_E4M3FNUZ", "[1]", 13, 14) "," T("f", "F8_E5M2FNUZ", "[1]", 14, 15) "," T("g", "F6_E3M2", "[4]", 15, 18) "}", 18, 7);
    REJECT("{" T("a", "F4", "[3]", 0, 2) "}", 2, "MisalignedSlice");
    REJECT("{" T("a", "F6_E2M3", "[1]", 0, 1) "}", 1, "MisalignedSlice");
    /* Scalars and empty tensors are allowed, also several at one offset. */
    ACCEPT("{" T("s", "F32", "[]", 0, 4) "}", 4, 1);
    ACCEPT("{" T("e", "F32", "[0,5]", 0, 0) "," T("f", "I64", "[3,0]", 0, 0) "," T("s", "U8", "[]", 0, 1) "}", 1, 3);
    ACCEPT("{\"\xc3\xa9t\xc3\xa9\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, 1);
}

static void offsets(void) {
    /* Gap before the first tensor, gap between tensors, overlap, end before begin. */
    REJECT("{" T("a", "F32", "[1]", 4, 8) "}", 8, "InvalidOffset");
    REJECT("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 12, "gap before it");
    REJECT("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 12, "InvalidOffset");
    REJECT("{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 0, 4) "}", 4, "InvalidOffset");
    REJECT("{" T("a", "F32", "[0]", 4, 0) "}", 4, "end before begin");
    /* Size checks: offsets that disagree with shape x dtype. */
    REJECT("{" T("a", "F32", "[2]", 0, 4) "}", 4, "TensorInvalidInfo");
    REJECT("{" T("a", "F16", "[2]", 0, 8) "}", 8, "TensorInvalidInfo");
    REJECT("{" T("a", "F32", "[0]", 0, 4) "}", 4, "TensorInvalidInfo");
    /* Offsets order in the file does not matter (sorted by the reader). */
    ACCEPT("{" T("b", "F32", "[1]", 4, 8) "," T("a", "F32", "[1]", 0, 4) "}", 8, 2);
}

static void overflow(void) {
    /* Shape product over 64 bits; product times the element size over 64 bits; huge offsets. */
    REJECT("{" T("a", "F32", "[4294967296,4294967296,2]", 0, 4) "}", 4, "ValidationOverflow");
    REJECT("{" T("a", "U8", "[4294967296,4294967296]", 0, 4) "}", 4, "ValidationOverflow");
    REJECT("{" T("a", "F64", "[2305843009213693952]", 0, 4) "}", 4, "ValidationOverflow");
    REJECT("{" T("a", "F32", "[4611686018427387904]", 0, 4) "}", 4, "ValidationOverflow");
    REJECT("{" T("a", "U8", "[9223372036854775807]", 0, 9223372036854775807) "}", 0, "ValidationOverflow");
    REJECT("{" T("a", "U8", "[1152921504606846976]", 0, 1152921504606846976) "}", 0, "MetadataIncompleteBuffer");
    REJECT("{" T("a", "U8", "[18446744073709551615]", 0, 4) "}", 4, "InvalidHeaderDeserialization");
    REJECT("{" T("a", "U8", "[1]", 0, 18446744073709551615) "}", 4, "InvalidHeaderDeserialization");
    /* A zero dim makes an overflowing product harmless, as in the reference reader. */
    ACCEPT("{" T("a", "F32", "[0,4294967296,4294967296]", 0, 0) "}", 0, 1);
    /* Offsets beyond 2^63-1 (where end + 8 + N could wrap) are already refused by the JSON parser. */
    REJECT("{" T("a", "U8", "[9223372036854775807]", 0, 9223372036854775807) "," T("b", "U8", "[9223372036854775800]", 9223372036854775807, 18446744073709551607) "}", 0, "InvalidHeaderDeserialization");
}

/* Every prefix of a real file is rejected; so is every header byte replaced by 0xff (never valid UTF-8). */
static void truncations(void) {
    char p[512];
    rad_test_path(p, sizeof p, "cases/t5_forward.safetensors");
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    rad_st_file *st = NULL;
    CHECK_OK(rad_st_open_memory(buf, n, "t5_forward", &st));
    rad_st_close(st);
    int accepted = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *cut = malloc(k ? k : 1); /* exact size, so ASan sees any read past the end */
        memcpy(cut, buf, k);
        if (rad_st_open_memory(cut, k, "cut", &st) == RAD_OK) {
            accepted++;
            rad_st_close(st);
        }
        free(cut);
    }
    CHECK(accepted == 0);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    int bad = 0;
    for (size_t k = 8; k < 8 + hl && k < n; k++) {
        uint8_t save = buf[k];
        buf[k] = 0xff;
        if (rad_st_open_memory(buf, n, "flip", &st) == RAD_OK) {
            bad++;
            rad_st_close(st);
        }
        buf[k] = save;
    }
    CHECK(bad == 0);
    printf("  %zu truncations and %llu header corruptions rejected\n", n, (unsigned long long)hl);
    free(buf);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* JSON configs */

static void json_configs(void) {
    static const char *const bad[] = {
        "", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "{} {}", "{\"a\":NaN}", "{\"a\":1e999}",
        "{\"a\":\"\xff\"}", "{\"a\":\"\\ud800\"}", "{\"a\":01}", "nul", "\"str\"", "{\"a\":[1,2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = NULL;
        CHECK_FAILS(rad_json_loadb(bad[i], strlen(bad[i]), "config.json", &j));
        CHECK(j == NULL && strstr(rad_last_error(), "config.json:"));
    }
    /* A JSON bomb. */
    size_t depth = 200000;
    char *h = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++) h[i] = '[', h[depth + i] = ']';
    json_t *j = NULL;
    CHECK_FAILS(rad_json_loadb(h, 2 * depth, "bomb.json", &j));
    free(h);
    /* Getters: wrong types are errors naming the key; null and absent read as absent. */
    const char *txt = "{\"i\": 3, \"r\": 1.5, \"s\": \"x\", \"n\": null, \"big\": 9223372036854775807}";
    CHECK_OK(rad_json_loadb(txt, strlen(txt), "cfg.json", &j));
    if (!j) return;
    long long iv = 0;
    double dv = 0;
    const char *sv = NULL;
    bool found = true;
    CHECK_OK(rad_json_int(j, "i", "cfg.json", &iv, &found));
    CHECK(found && iv == 3);
    CHECK_OK(rad_json_num(j, "i", "cfg.json", &dv, &found));
    CHECK(found && dv == 3.0);
    CHECK_OK(rad_json_num(j, "r", "cfg.json", &dv, NULL));
    CHECK(dv == 1.5);
    CHECK_FAILS(rad_json_int(j, "r", "cfg.json", &iv, &found));
    CHECK(strstr(rad_last_error(), "\"r\""));
    CHECK_FAILS(rad_json_int(j, "s", "cfg.json", &iv, &found));
    CHECK_FAILS(rad_json_str(j, "i", "cfg.json", &sv, &found));
    CHECK_OK(rad_json_str(j, "s", "cfg.json", &sv, &found));
    CHECK(found && sv && !strcmp(sv, "x"));
    CHECK_OK(rad_json_int(j, "n", "cfg.json", &iv, &found));
    CHECK(!found);
    CHECK_OK(rad_json_int(j, "zz", "cfg.json", &iv, &found));
    CHECK(!found);
    CHECK_FAILS(rad_json_int(j, "zz", "cfg.json", &iv, NULL));
    CHECK_FAILS(rad_json_int(json_object_get(j, "i"), "x", "cfg.json", &iv, &found));
    json_decref(j);
    CHECK_FAILS(rad_json_load("no/such/config.json", &j));
}

/* ---------------------------------------------------------------------------------------------------------- */
/* index.json */

static char g_dir[64];

static void index_open(bool ok, const char *index_text) {
    char p[256];
    rad_test_write_text(g_dir, "m.safetensors.index.json", index_text);
    snprintf(p, sizeof p, "%s/m.safetensors.index.json", g_dir);
    rad_weights *w = NULL;
    if (ok) {
        CHECK_OK(rad_weights_open(p, RAD_COMP_DIT, &w));
        if (w) {
            CHECK(rad_weights_find(w, "patch_embedding.weight") && rad_weights_find(w, "blocks.0.self_attn.q.weight"));
            CHECK(rad_weights_file_count(w) == 2);
        }
    } else {
        CHECK_FAILS(rad_weights_open(p, RAD_COMP_DIT, &w));
        CHECK(w == NULL);
    }
    rad_weights_close(w);
}

static void index_files(void) {
    snprintf(g_dir, sizeof g_dir, "rad_idx_XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL);
    float z[16] = {0};
    rad_st_out s1[] = {{"patch_embedding.weight", RAD_DT_F32, 5, {2, 2, 1, 2, 2}, z}};
    rad_st_out s2[] = {{"blocks.0.self_attn.q.weight", RAD_DT_F32, 2, {2, 2}, z}};
    rad_st_out s3[] = {{"patch_embedding.weight", RAD_DT_F32, 1, {2}, z}, {"other", RAD_DT_F32, 1, {2}, z}};
    char p[256];
    snprintf(p, sizeof p, "%s/s1.safetensors", g_dir);
    CHECK_OK(rad_st_write(p, s1, 1, NULL, 0));
    snprintf(p, sizeof p, "%s/s2.safetensors", g_dir);
    CHECK_OK(rad_st_write(p, s2, 1, NULL, 0));
    snprintf(p, sizeof p, "%s/s3.safetensors", g_dir);
    CHECK_OK(rad_st_write(p, s3, 2, NULL, 0));

    index_open(true, "{\"metadata\":{\"total_size\":80},\"weight_map\":{\"patch_embedding.weight\":\"s1.safetensors\","
                     "\"blocks.0.self_attn.q.weight\":\"s2.safetensors\"}}");
    /* Missing shard file; a name mapped to a shard that lacks it; a tensor in two shards. */
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"s1.safetensors\",\"x\":\"s9.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"s2.safetensors\","
                      "\"blocks.0.self_attn.q.weight\":\"s2.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"s1.safetensors\",\"y\":\"s3.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"s1.safetensors\",\"other\":\"s3.safetensors\"}}");
    CHECK(strstr(rad_last_error(), "both map") != NULL);
    /* Shard names must stay inside the folder. */
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"../s1.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"/etc/passwd\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"sub/s1.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"..\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\".\"}}");
    /* Schema and syntax. */
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":1}}");
    index_open(false, "{\"weight_map\":[\"s1.safetensors\"]}");
    index_open(false, "{\"weight_map\":{}}");
    index_open(false, "{}");
    index_open(false, "[]");
    index_open(false, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s2.safetensors\"}}");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"s1.safetensors\"");
    /* A shard that is itself malformed. */
    rad_test_write_text(g_dir, "bad.safetensors", "garbage!garbage!");
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"bad.safetensors\"}}");

    /* Special files: a FIFO must be refused, not waited on. */
    snprintf(p, sizeof p, "%s/fifo.safetensors", g_dir);
    CHECK(mkfifo(p, 0600) == 0);
    rad_st_file *sf = NULL;
    CHECK_FAILS(rad_st_open(p, &sf));
    json_t *j = NULL;
    CHECK_FAILS(rad_json_load(p, &j));
    index_open(false, "{\"weight_map\":{\"patch_embedding.weight\":\"fifo.safetensors\"}}");
    CHECK_FAILS(rad_st_open(g_dir, &sf));
    unlink(p);

    const char *names[] = {"s1.safetensors", "s2.safetensors", "s3.safetensors", "bad.safetensors", "m.safetensors.index.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

int main(void) {
    lengths();
    header_text();
    json_bombs();
    metadata();
    schema();
    offsets();
    overflow();
    truncations();
    json_configs();
    index_files();
    TEST_MAIN_END();
}
