/* GGUF reader and block dequantisation (spec formats.md §1.2, §1.3):
 * - the three golden Wan files of tests/data/golden2/gguf: counts, metadata, shapes in PyTorch order, dtypes, and
 *   the quantised weights against the F16 file's;
 * - ggml's own output: tests/data/gguf/quants_ref.safetensors holds blocks quantised by ggml's
 *   quantize_row_*_ref and what ggml's dequantize_row_* made of them, and kquants.gguf holds the same blocks as
 *   written by ggml's GGUF writer (README there); our dequantisation must match bit for bit;
 * - a hand-built malformed corpus covering ggml's tests/test-gguf.cpp list and more, every truncation of a
 *   golden file, and seeded random valid files. Each rejection prints one line with the reader's message.
 * Run under ASan/UBSan (label parser): every image is copied into an allocation of its exact size, so a read past
 * the end is caught. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "io/gguf.h"
#include "io/quants.h"
#include "io/safetensors.h"
#include "test_util.h"

/* ---------------------------------------------------------------------------------------------------------- */
/* Image builder */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 4);
}
static void put_u64(buf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, 8);
}
static void put_strn(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}
static void put_str(buf *b, const char *s) { put_strn(b, s, strlen(s)); }
static void pad_to(buf *b, size_t align) {
    while (b->n % align) put_u8(b, 0);
}
static void zeros(buf *b, size_t n) {
    for (size_t i = 0; i < n; i++) put_u8(b, (uint8_t)(i * 37 + 11));
}

enum { VT_U8, VT_I8, VT_U16, VT_I16, VT_U32, VT_I32, VT_F32, VT_BOOL, VT_STR, VT_ARR, VT_U64, VT_I64, VT_F64 };
enum { GT_F32 = 0, GT_F16 = 1, GT_Q4_0 = 2, GT_Q8_0 = 8, GT_Q2_K = 10, GT_Q4_K = 12, GT_Q6_K = 14, GT_BF16 = 30 };

static void kv_str(buf *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, VT_STR);
    put_str(b, v);
}
static void kv_u32(buf *b, const char *k, uint32_t v) {
    put_str(b, k);
    put_u32(b, VT_U32);
    put_u32(b, v);
}
static void header(buf *b, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
/* A tensor info; ne in GGUF order (ne[0] innermost). */
static void tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    put_str(b, name);
    put_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, off);
}

/* The baseline valid file: architecture + alignment keys (+ extra_kv KVs the caller adds between begin and
 * tensors), tensors a.weight F32 ne {8, 4} at 0 (128 bytes) and b.weight Q8_0 ne {32, 2} at 128 (68 bytes). */
static const uint64_t NE_A[2] = {8, 4}, NE_B[2] = {32, 2};

/* ---------------------------------------------------------------------------------------------------------- */
/* Expectations */

static int n_cases;

/* Parses b (copied into an exact-size allocation); expects rejection with `fault` and the label in the
 * message, and a NULL handle. */
static void rejects(int line, const char *cname, buf *b, const char *fault) {
    uint8_t *img = malloc(b->n ? b->n : 1);
    if (b->n) memcpy(img, b->p, b->n);
    rad_gguf *g = (rad_gguf *)(uintptr_t)1;
    rad_status s = rad_gguf_open_memory(img, b->n, "bad.gguf", &g);
    n_cases++;
    if (s == RAD_OK) {
        fprintf(stderr, "line %d: %s: expected rejection (%s), but the image was accepted\n", line, cname, fault);
        rad_test_failures++;
        rad_gguf_close(g);
    } else if (g != NULL || (fault && !strstr(rad_last_error(), fault)) || !strstr(rad_last_error(), "bad.gguf")) {
        fprintf(stderr, "line %d: %s: expected a message with '%s', found: %s\n", line, cname, fault ? fault : "(any)",
                rad_last_error());
        rad_test_failures++;
    } else {
        printf("  %-28s rejected: %.220s\n", cname, rad_last_error());
    }
    free(img);
    free(b->p);
    *b = (buf){0};
}
#define REJECT(name, b, fault) rejects(__LINE__, name, &(b), fault)

/* Parses b; expects acceptance with n_tensors tensors. Returns the handle (over *img, which the caller frees
 * after closing) when keep, else closes it. */
static rad_gguf *accepts(int line, const char *cname, buf *b, size_t n_tensors, uint8_t **img_out) {
    uint8_t *img = malloc(b->n ? b->n : 1);
    if (b->n) memcpy(img, b->p, b->n);
    free(b->p);
    size_t n = b->n;
    *b = (buf){0};
    rad_gguf *g = NULL;
    n_cases++;
    if (rad_gguf_open_memory(img, n, "good.gguf", &g) != RAD_OK) {
        fprintf(stderr, "line %d: %s: expected acceptance: %s\n", line, cname, rad_last_error());
        rad_test_failures++;
        free(img);
        return NULL;
    }
    if (rad_gguf_count(g) != n_tensors) {
        fprintf(stderr, "line %d: %s: expected %zu tensors, found %zu\n", line, cname, n_tensors, rad_gguf_count(g));
        rad_test_failures++;
    }
    printf("  %-28s accepted (%zu tensors, %zu keys)\n", cname, rad_gguf_count(g), rad_gguf_meta_count(g));
    if (img_out) {
        *img_out = img;
        return g;
    }
    rad_gguf_close(g);
    free(img);
    return NULL;
}
#define ACCEPT(name, b, n) accepts(__LINE__, name, &(b), n, NULL)

static bool valid_utf8(const char *s) {
    uint32_t cp;
    size_t k, n = strlen(s);
    for (size_t i = 0; i < n; i += k)
        if (!rad_utf8_decode((const uint8_t *)s + i, n - i, &cp, &k)) return false;
    return true;
}

static const char *meta_text(const rad_gguf *g, const char *key) {
    for (size_t i = 0; i < rad_gguf_meta_count(g); i++) {
        const char *k, *v;
        rad_gguf_meta_at(g, i, &k, &v);
        if (!strcmp(k, key)) return v;
    }
    return NULL;
}

static bool shape_is(const rad_st_tensor *t, int nd, const int64_t *s) {
    if (!t || t->ndim != nd) return false;
    for (int i = 0; i < nd; i++)
        if (t->shape[i] != s[i]) return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* The baseline and the header cases */

/* Writes the baseline file with the given header fields; kv_extra adds KVs after the two standard ones. */
static void baseline(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
    kv_str(b, "general.architecture", "wan");
    kv_u32(b, "general.alignment", 32);
    tinfo(b, "a.weight", 2, NE_A, GT_F32, 0);
    tinfo(b, "b.weight", 2, NE_B, GT_Q8_0, 128);
    pad_to(b, 32);
    zeros(b, 128 + 68);
}

static void header_cases(void) {
    printf("header:\n");
    buf b = {0};
    baseline(&b, 3, 2, 2);
    uint8_t *img;
    rad_gguf *g = accepts(__LINE__, "BASELINE", &b, 2, &img);
    if (g) {
        const int64_t sa[2] = {4, 8}, sb[2] = {2, 32};
        CHECK(shape_is(rad_gguf_find(g, "a.weight"), 2, sa) && shape_is(rad_gguf_find(g, "b.weight"), 2, sb));
        CHECK(rad_gguf_find(g, "b.weight")->dtype == RAD_DT_Q8_0 && rad_gguf_find(g, "b.weight")->nbytes == 68);
        CHECK(rad_gguf_version(g) == 3 && !strcmp(rad_gguf_path(g), "good.gguf"));
        rad_gguf_close(g);
        free(img);
    }

    b = (buf){0};
    baseline(&b, 3, 2, 2);
    memcpy(b.p, "FUGG", 4);
    REJECT("HEADER_BAD_MAGIC", b, "HEADER_BAD_MAGIC");
    put(&b, "GGU", 3);
    REJECT("HEADER_BAD_MAGIC (3 bytes)", b, "HEADER_BAD_MAGIC");
    REJECT("HEADER_EMPTY_FILE", b, "HEADER_BAD_MAGIC");
    baseline(&b, 0, 2, 2);
    REJECT("HEADER_BAD_VERSION_0", b, "HEADER_BAD_VERSION");
    baseline(&b, 1, 2, 2);
    REJECT("HEADER_BAD_VERSION_1", b, "version 1 is no longer supported");
    baseline(&b, 2, 2, 2);
    REJECT("HEADER_BAD_VERSION_2", b, "version 2 is no longer supported");
    baseline(&b, 4, 2, 2);
    REJECT("HEADER_BAD_VERSION_FUTURE", b, "version 4 is newer");
    baseline(&b, 0x03000000u, 2, 2);
    REJECT("HEADER_BIG_ENDIAN", b, "big-endian");
    baseline(&b, 3, UINT64_MAX, 2);
    REJECT("HEADER_BAD_N_TENSORS", b, "HEADER_BAD_N_TENSORS");
    baseline(&b, 3, 1000, 2); /* under the cap, but 1000 infos cannot fit in this file */
    REJECT("HEADER_BAD_N_TENSORS (room)", b, "HEADER_BAD_N_TENSORS");
    baseline(&b, 3, 2, UINT64_MAX);
    REJECT("HEADER_BAD_N_KV", b, "HEADER_BAD_N_KV");
    baseline(&b, 3, 2, 40);
    REJECT("HEADER_BAD_N_KV (room)", b, "HEADER_BAD_N_KV");
    baseline(&b, 3, 2, 3); /* one KV more than present: the tensor infos are read as a KV */
    REJECT("HEADER_N_KV_ONE_MORE", b, NULL);
    baseline(&b, 3, 3, 2); /* one tensor more than present */
    REJECT("HEADER_N_TENSORS_ONE_MORE", b, NULL);
    header(&b, 0, 0);
    pad_to(&b, 32);
    REJECT("HEADER_EMPTY", b, "KV_NO_ARCHITECTURE"); /* ggml accepts it; an architecture is required here */
    for (size_t n = 0; n < 24; n++) {                 /* every prefix of the fixed header */
        header(&b, 0, 1);
        b.n = n;
        REJECT("HEADER_TRUNCATED", b, NULL);
    }
    /* The smallest valid file: the architecture and nothing else (no tensors, so no data section). */
    header(&b, 0, 1);
    kv_str(&b, "general.architecture", "wan");
    g = accepts(__LINE__, "HEADER_ONLY_ARCH", &b, 0, &img);
    if (g) {
        CHECK(rad_gguf_meta_count(g) == 1 && !strcmp(rad_gguf_meta_str(g, "general.architecture"), "wan"));
        CHECK(rad_gguf_at(g, 0) == NULL && rad_gguf_find(g, "x") == NULL);
        rad_gguf_close(g);
        free(img);
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Key-value pairs */

/* A file of no tensors with the architecture and then the bytes of `extra` as n_extra more KVs. */
static void kv_file(buf *b, const buf *extra, uint64_t n_extra) {
    header(b, 0, 1 + n_extra);
    kv_str(b, "general.architecture", "wan");
    put(b, extra->p, extra->n);
}

#define KV_REJECT(name, fault, ...)      \
    do {                                 \
        buf e_ = {0}, f_ = {0};          \
        __VA_ARGS__;                     \
        kv_file(&f_, &e_, 1);            \
        free(e_.p);                      \
        rejects(__LINE__, name, &f_, fault); \
    } while (0)

static void kv_cases(void) {
    printf("key-value pairs:\n");
    KV_REJECT("KV_BAD_KEY_SIZE", "KV_BAD_KEY_SIZE", put_u64(&e_, UINT64_MAX); put(&e_, "my_key", 6); put_u32(&e_, VT_U8); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_KEY_SIZE (0)", "KV_BAD_KEY_SIZE", put_u64(&e_, 0); put_u32(&e_, VT_U8); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_KEY_SIZE (past EOF)", "KV_BAD_KEY_SIZE", put_u64(&e_, 100); put(&e_, "my_key", 6));
    {
        char *big = malloc(65536);
        memset(big, 'k', 65536);
        KV_REJECT("KV_BAD_KEY_SIZE (65536)", "KV_BAD_KEY_SIZE", put_strn(&e_, big, 65536); put_u32(&e_, VT_U8); put_u8(&e_, 1));
        buf e = {0}, f = {0}; /* 65535 bytes is the limit, and fine */
        put_strn(&e, big, 65535);
        put_u32(&e, VT_U8);
        put_u8(&e, 1);
        kv_file(&f, &e, 1);
        free(e.p);
        ACCEPT("KV_KEY_SIZE_65535", f, 0);
        free(big);
    }
    KV_REJECT("KV_BAD_KEY (not UTF-8)", "KV_BAD_KEY", put_str(&e_, "my_\xff_key"); put_u32(&e_, VT_U8); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_KEY (overlong)", "KV_BAD_KEY", put_str(&e_, "\xc0\xaf"); put_u32(&e_, VT_U8); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_KEY (NUL)", "KV_BAD_KEY", put_strn(&e_, "a\0b", 3); put_u32(&e_, VT_U8); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_TYPE", "KV_BAD_TYPE", put_str(&e_, "my_key"); put_u32(&e_, 13); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_TYPE (negative)", "KV_BAD_TYPE", put_str(&e_, "my_key"); put_u32(&e_, 0xffffffffu); put_u64(&e_, 1));
    KV_REJECT("KV_BAD_TYPE (array of 13)", "KV_BAD_TYPE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, 13);
              put_u64(&e_, 1); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_TYPE (arrays depth 3)", "nested deeper", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_ARR);
              put_u64(&e_, 1); put_u32(&e_, VT_ARR); put_u64(&e_, 1); put_u32(&e_, VT_U8); put_u64(&e_, 0));
    KV_REJECT("KV_BAD_VALUE (bool 2)", "KV_BAD_VALUE", put_str(&e_, "my_key"); put_u32(&e_, VT_BOOL); put_u8(&e_, 2));
    KV_REJECT("KV_BAD_VALUE (bool array)", "KV_BAD_VALUE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_BOOL);
              put_u64(&e_, 3); put_u8(&e_, 0); put_u8(&e_, 1); put_u8(&e_, 0xff));
    KV_REJECT("KV_BAD_VALUE_SIZE (u32 cut)", "TRUNCATED", put_str(&e_, "my_key"); put_u32(&e_, VT_U32); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_VALUE_SIZE (string)", "TRUNCATED", put_str(&e_, "my_key"); put_u32(&e_, VT_STR); put_u64(&e_, 1ull << 40);
              put(&e_, "abc", 3));
    KV_REJECT("KV_BAD_VALUE_SIZE (str -1)", "TRUNCATED", put_str(&e_, "my_key"); put_u32(&e_, VT_STR); put_u64(&e_, UINT64_MAX));
    KV_REJECT("KV_BAD_ARRAY_SIZE (-1)", "KV_BAD_ARRAY_SIZE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_U8);
              put_u64(&e_, UINT64_MAX); put_u8(&e_, 1));
    KV_REJECT("KV_BAD_ARRAY_SIZE (u32 room)", "KV_BAD_ARRAY_SIZE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_U32);
              put_u64(&e_, 3); put_u32(&e_, 1); put_u32(&e_, 2));
    KV_REJECT("KV_BAD_ARRAY_SIZE (strings)", "KV_BAD_ARRAY_SIZE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_STR);
              put_u64(&e_, 1ull << 32); put_str(&e_, "a"));
    KV_REJECT("KV_BAD_ARRAY_SIZE (nested)", "KV_BAD_ARRAY_SIZE", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_ARR);
              put_u64(&e_, 1); put_u32(&e_, VT_U64); put_u64(&e_, 1ull << 61));
    KV_REJECT("KV_BAD_ARRAY (string item cut)", "TRUNCATED", put_str(&e_, "my_key"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_STR);
              put_u64(&e_, 2); put_str(&e_, "a"); put_u64(&e_, 5); put(&e_, "abcd", 4));
    KV_REJECT("KV_DUPLICATE_KEY (arch)", "KV_DUPLICATE_KEY", kv_str(&e_, "general.architecture", "wan"));
    {
        buf e = {0}, f = {0};
        for (int i = 0; i < 10; i++) {
            char k[32];
            snprintf(k, sizeof k, "my_key_%d", i / 2);
            kv_u32(&e, k, (uint32_t)i);
        }
        kv_file(&f, &e, 10);
        free(e.p);
        REJECT("KV_DUPLICATE_KEY", f, "KV_DUPLICATE_KEY");
    }
    KV_REJECT("KV_BAD_ALIGN (13)", "KV_BAD_ALIGN", kv_u32(&e_, "general.alignment", 13));
    KV_REJECT("KV_BAD_ALIGN (0)", "KV_BAD_ALIGN", kv_u32(&e_, "general.alignment", 0));
    KV_REJECT("KV_BAD_ALIGN (2 MiB)", "KV_BAD_ALIGN", kv_u32(&e_, "general.alignment", 2u << 20));
    KV_REJECT("KV_BAD_ALIGN (2^31)", "KV_BAD_ALIGN", kv_u32(&e_, "general.alignment", 1u << 31));
    KV_REJECT("KV_BAD_ALIGN (u64)", "KV_BAD_ALIGN", put_str(&e_, "general.alignment"); put_u32(&e_, VT_U64); put_u64(&e_, 32));
    KV_REJECT("KV_BAD_ALIGN (string)", "KV_BAD_ALIGN", kv_str(&e_, "general.alignment", "32"));
    KV_REJECT("KV_BAD_ALIGN (array)", "KV_BAD_ALIGN", put_str(&e_, "general.alignment"); put_u32(&e_, VT_ARR); put_u32(&e_, VT_U32);
              put_u64(&e_, 1); put_u32(&e_, 32));
    {
        buf f = {0};
        header(&f, 0, 1);
        kv_u32(&f, "general.architecture", 7);
        REJECT("KV_BAD_ARCHITECTURE (u32)", f, "KV_BAD_ARCHITECTURE");
        header(&f, 0, 1);
        kv_str(&f, "general.architecture", "");
        REJECT("KV_BAD_ARCHITECTURE (empty)", f, "KV_BAD_ARCHITECTURE");
        header(&f, 0, 1);
        put_str(&f, "general.architecture");
        put_u32(&f, VT_STR);
        put_strn(&f, "w\0n", 3);
        REJECT("KV_BAD_ARCHITECTURE (NUL)", f, "KV_BAD_ARCHITECTURE");
        header(&f, 0, 1);
        kv_str(&f, "general.name", "no architecture");
        REJECT("KV_NO_ARCHITECTURE", f, "KV_NO_ARCHITECTURE");
    }

    /* Values of every type, rendered for listing; string values need not be UTF-8 (only keys must be). */
    buf e = {0}, f = {0};
    kv_u32(&e, "k.u32", 4000000000u);
    put_str(&e, "k.i8"), put_u32(&e, VT_I8), put_u8(&e, 0x80);
    put_str(&e, "k.i16"), put_u32(&e, VT_I16), put_u8(&e, 0xff), put_u8(&e, 0xff);
    put_str(&e, "k.i32"), put_u32(&e, VT_I32), put_u32(&e, (uint32_t)-5);
    put_str(&e, "k.i64"), put_u32(&e, VT_I64), put_u64(&e, (uint64_t)INT64_MIN);
    put_str(&e, "k.u64"), put_u32(&e, VT_U64), put_u64(&e, UINT64_MAX);
    put_str(&e, "k.f32"), put_u32(&e, VT_F32), put_u32(&e, 0x3f000000u);
    put_str(&e, "k.f64"), put_u32(&e, VT_F64), put_u64(&e, 0x3ff8000000000000ull);
    put_str(&e, "k.bool"), put_u32(&e, VT_BOOL), put_u8(&e, 1);
    kv_str(&e, "k.str", "a \"quoted\" line\n\xff\xc3\xa9");
    put_str(&e, "k.arr3"), put_u32(&e, VT_ARR), put_u32(&e, VT_U32), put_u64(&e, 3);
    for (uint32_t i = 1; i <= 3; i++) put_u32(&e, i);
    put_str(&e, "k.arr10"), put_u32(&e, VT_ARR), put_u32(&e, VT_I32), put_u64(&e, 10);
    for (uint32_t i = 0; i < 10; i++) put_u32(&e, i);
    put_str(&e, "k.strs"), put_u32(&e, VT_ARR), put_u32(&e, VT_STR), put_u64(&e, 2), put_str(&e, "x"), put_str(&e, "y\"");
    put_str(&e, "k.nested"), put_u32(&e, VT_ARR), put_u32(&e, VT_ARR), put_u64(&e, 2);
    put_u32(&e, VT_U8), put_u64(&e, 2), put_u8(&e, 1), put_u8(&e, 2), put_u32(&e, VT_U8), put_u64(&e, 0);
    put_str(&e, "k.empty"), put_u32(&e, VT_ARR), put_u32(&e, VT_F64), put_u64(&e, 0);
    put_str(&e, "k.bools"), put_u32(&e, VT_ARR), put_u32(&e, VT_BOOL), put_u64(&e, 2), put_u8(&e, 0), put_u8(&e, 1);
    {
        char big[1000];
        memset(big, 'z', sizeof big);
        big[sizeof big - 1] = 0;
        big[100] = '\xc3', big[101] = '\xa9';
        for (size_t i = 158; i < 163; i += 2) big[i] = '\xc3', big[i + 1] = '\xa9'; /* a 2-byte char across the cut */
        kv_str(&e, "k.long", big);
    }
    kv_file(&f, &e, 17);
    free(e.p);
    uint8_t *img;
    rad_gguf *g = accepts(__LINE__, "KV_ALL_TYPES", &f, 0, &img);
    if (g) {
        static const char *const expect[][2] = {
            {"k.u32", "4000000000"},
            {"k.i8", "-128"},
            {"k.i16", "-1"},
            {"k.i32", "-5"},
            {"k.i64", "-9223372036854775808"},
            {"k.u64", "18446744073709551615"},
            {"k.f32", "0.5"},
            {"k.f64", "1.5"},
            {"k.bool", "true"},
            {"k.str", "a \"quoted\" line\\x0a\\xff\xc3\xa9"},
            {"k.arr3", "[u32 x 3: 1, 2, 3]"},
            {"k.arr10", "[i32 x 10: 0, 1, 2, 3, 4, 5, 6, 7, ...]"},
            {"k.strs", "[str x 2: \"x\", \"y\\\"\"]"},
            {"k.nested", "[arr x 2: [u8 x 2: 1, 2], [u8 x 0]]"},
            {"k.empty", "[f64 x 0]"},
            {"k.bools", "[bool x 2: false, true]"},
        };
        for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
            const char *v = meta_text(g, expect[i][0]);
            if (!v || strcmp(v, expect[i][1])) {
                fprintf(stderr, "%s rendered as '%s', expected '%s'\n", expect[i][0], v ? v : "(none)", expect[i][1]);
                rad_test_failures++;
            }
        }
        const char *lv = meta_text(g, "k.long");
        CHECK(lv && strlen(lv) <= 163 && strstr(lv, "...") && valid_utf8(lv));
        CHECK(rad_gguf_meta_count(g) == 18);
        CHECK(rad_gguf_meta_str(g, "k.str") && !strcmp(rad_gguf_meta_str(g, "k.str"), "a \"quoted\" line\n\xff\xc3\xa9"));
        CHECK(rad_gguf_meta_str(g, "k.u32") == NULL && rad_gguf_meta_str(g, "nope") == NULL);
        const char *k0, *v0;
        rad_gguf_meta_at(g, 0, &k0, &v0);
        CHECK(!strcmp(k0, "general.architecture") && !strcmp(v0, "wan"));
        rad_gguf_meta_at(g, 18, &k0, &v0);
        CHECK(k0 == NULL && v0 == NULL);
        rad_gguf_close(g);
        free(img);
    }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Tensor infos and data */

/* A file with the architecture (and `align` when non-zero as general.alignment), one tensor info given by the
 * caller's bytes (written with tinfo), padding to pad_align, and data_bytes bytes of data. */
#define T_FILE(b, align, nt, infos, pad_align, data_bytes) \
    do {                                                   \
        const uint32_t al_ = (align);                      \
        header(&(b), nt, al_ ? 2 : 1);                     \
        kv_str(&(b), "general.architecture", "wan");       \
        if (al_) kv_u32(&(b), "general.alignment", al_);   \
        infos;                                             \
        pad_to(&(b), pad_align);                           \
        zeros(&(b), data_bytes);                           \
    } while (0)

static void tensor_cases(void) {
    printf("tensor infos:\n");
    buf b = {0};
    const uint64_t ne1[1] = {32}, ne2[2] = {32, 2};
    char name65[66];
    memset(name65, 'n', 65);
    name65[65] = 0;
    T_FILE(b, 0, 1, tinfo(&b, name65, 1, ne1, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_NAME_SIZE", b, "TENSORS_BAD_NAME_SIZE");
    T_FILE(b, 0, 1, tinfo(&b, name65 + 1, 1, ne1, GT_F32, 0), 32, 128);
    uint8_t *img;
    rad_gguf *g = accepts(__LINE__, "TENSORS_NAME_SIZE_64", &b, 1, &img);
    if (g) rad_gguf_close(g), free(img);
    T_FILE(b, 0, 1, tinfo(&b, "", 1, ne1, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_NAME_SIZE (0)", b, "TENSORS_BAD_NAME_SIZE");
    T_FILE(b, 0, 1, (put_u64(&b, UINT64_MAX), put(&b, "abc", 3)), 32, 128);
    REJECT("TENSORS_BAD_NAME_SIZE (-1)", b, "TENSORS_BAD_NAME_SIZE");
    T_FILE(b, 0, 1, tinfo(&b, "bad\xfe", 1, ne1, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_NAME (UTF-8)", b, "TENSORS_BAD_NAME");
    T_FILE(b, 0, 1, tinfo(&b, "x", 0, ne1, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_N_DIMS (0)", b, "TENSORS_BAD_N_DIMS");
    {
        const uint64_t ne9[9] = {32, 1, 1, 1, 1, 1, 1, 1, 1};
        T_FILE(b, 0, 1, tinfo(&b, "x", 9, ne9, GT_F32, 0), 32, 128);
        REJECT("TENSORS_BAD_N_DIMS (9)", b, "TENSORS_BAD_N_DIMS");
        T_FILE(b, 0, 1, tinfo(&b, "x", 8, ne9, GT_F32, 0), 32, 128);
        g = accepts(__LINE__, "TENSORS_N_DIMS_8", &b, 1, &img);
        if (g) rad_gguf_close(g), free(img);
    }
    /* ggml's BAD_N_DIMS: n_dims 5 with only the dims of the real shape written (so the rest is misread) */
    T_FILE(b, 0, 1, (put_str(&b, "x"), put_u32(&b, 5), put_u64(&b, 32), put_u32(&b, GT_F32), put_u64(&b, 0)), 32, 128);
    REJECT("TENSORS_BAD_N_DIMS (ggml)", b, NULL);
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, (const uint64_t[]){UINT64_MAX}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_SHAPE (-1)", b, "TENSORS_BAD_SHAPE");
    T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){32, 0}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_BAD_SHAPE (0)", b, "TENSORS_BAD_SHAPE");
    T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){4ull * INT32_MAX, 4ull * INT32_MAX}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_NE_TOO_BIG", b, "TENSORS_NE_TOO_BIG");
    T_FILE(b, 0, 1, tinfo(&b, "x", 3, (const uint64_t[]){1ull << 21, 1ull << 21, 1ull << 21}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_NE_TOO_BIG (2^63)", b, "TENSORS_NE_TOO_BIG");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, (const uint64_t[]){0x7FFFFFFFFFFFFFC0ull}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_NBYTES_TOO_BIG", b, "TENSORS_NBYTES_TOO_BIG");
    T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){1ull << 31, 1ull << 31}, GT_F32, 0), 32, 128);
    REJECT("TENSORS_NBYTES_TOO_BIG (2^64)", b, "TENSORS_NBYTES_TOO_BIG");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, 43, 0), 32, 128);
    REJECT("TENSORS_BAD_TYPE (COUNT)", b, "TENSORS_BAD_TYPE");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, 0xffffffffu, 0), 32, 128);
    REJECT("TENSORS_BAD_TYPE (negative)", b, "TENSORS_BAD_TYPE");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, 4, 0), 32, 128);
    REJECT("TENSORS_BAD_TYPE (removed Q4_2)", b, "removed");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, 31, 0), 32, 128);
    REJECT("TENSORS_BAD_TYPE (Q4_0_4_4)", b, "removed");
    static const struct {
        uint32_t id;
        const char *name;
    } unsup[] = {{9, "Q8_1"},     {10, "Q2_K"},   {11, "Q3_K"},  {15, "Q8_K"},  {16, "IQ2_XXS"}, {20, "IQ4_NL"},
                 {23, "IQ4_XS"},  {24, "I8"},     {26, "I32"},   {28, "F64"},   {29, "IQ1_M"},   {34, "TQ1_0"},
                 {39, "MXFP4"},   {40, "NVFP4"},  {41, "Q1_0"},  {42, "Q2_0"}};
    for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
        char want[64], cname[64];
        snprintf(want, sizeof want, "unsupported GGUF tensor type %s", unsup[i].name);
        snprintf(cname, sizeof cname, "TENSORS_UNSUPPORTED (%s)", unsup[i].name);
        T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){256, 1}, unsup[i].id, 0), 32, 1024);
        uint8_t *im = malloc(b.n);
        memcpy(im, b.p, b.n);
        g = NULL;
        CHECK(rad_gguf_open_memory(im, b.n, "bad.gguf", &g) == RADIAL_ERR_UNSUPPORTED && g == NULL);
        free(im);
        REJECT(cname, b, want);
    }
    T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){48, 2}, GT_Q8_0, 0), 32, 128);
    REJECT("TENSORS_BAD_ROW_SIZE (Q8_0)", b, "TENSORS_BAD_ROW_SIZE");
    T_FILE(b, 0, 1, tinfo(&b, "x", 2, (const uint64_t[]){2, 256}, GT_Q4_K, 0), 32, 128 * 144);
    REJECT("TENSORS_BAD_ROW_SIZE (Q4_K)", b, "not a whole number of Q4_K blocks");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, GT_F32, UINT64_MAX), 32, 128);
    REJECT("TENSORS_BAD_OFFSET (-1)", b, "TENSORS_BAD_ALIGN"); /* -1 is also unaligned */
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, GT_F32, UINT64_MAX - 31), 32, 128);
    REJECT("TENSORS_BAD_OFFSET (-32)", b, "TENSORS_BAD_OFFSET");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, GT_F32, 1ull << 40), 32, 128);
    REJECT("TENSORS_BAD_OFFSET (2^40)", b, "TENSORS_BAD_OFFSET");
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, ne1, GT_F32, 0), tinfo(&b, "x", 1, ne1, GT_F32, 128)), 32, 256);
    REJECT("TENSORS_DUPLICATE_NAME", b, "TENSORS_DUPLICATE_NAME");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, GT_F32, 16), 32, 256);
    REJECT("TENSORS_BAD_ALIGN", b, "TENSORS_BAD_ALIGN");
    T_FILE(b, 64, 2, (tinfo(&b, "x", 1, ne1, GT_F32, 0), tinfo(&b, "y", 1, ne1, GT_F32, 160)), 64, 512);
    REJECT("TENSORS_BAD_ALIGN (64)", b, "multiple of the alignment 64");
    /* ggml's INCONSISTENT_ALIGN: offsets packed with alignment 1 while the file says the default 32 */
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, (const uint64_t[]){3}, GT_F32, 0), tinfo(&b, "y", 1, (const uint64_t[]){3}, GT_F32, 12)), 1, 0);
    REJECT("TENSORS_INCONSISTENT_ALIGN", b, "DATA_NOT_ENOUGH_DATA"); /* ggml writes no data for this case */
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, (const uint64_t[]){3}, GT_F32, 0), tinfo(&b, "y", 1, (const uint64_t[]){3}, GT_F32, 12)), 1, 24);
    REJECT("DATA_INCONSISTENT_ALIGN", b, "DATA_NOT_ENOUGH_DATA"); /* padded to 1, so the data ends too early for 32 */
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, (const uint64_t[]){3}, GT_F32, 0), tinfo(&b, "y", 1, (const uint64_t[]){3}, GT_F32, 12)), 1, 64);
    REJECT("TENSORS_INCONSISTENT_ALIGN+", b, "TENSORS_BAD_ALIGN"); /* with bytes enough, the offset is unaligned */
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, ne1, GT_F32, 0), tinfo(&b, "y", 1, ne1, GT_F32, 96)), 32, 256);
    REJECT("TENSORS_OVERLAP", b, "TENSORS_OVERLAP");
    T_FILE(b, 0, 2, (tinfo(&b, "y", 1, ne1, GT_F32, 96), tinfo(&b, "x", 1, ne1, GT_F32, 0)), 32, 256);
    REJECT("TENSORS_OVERLAP (unsorted)", b, "TENSORS_OVERLAP");
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, ne1, GT_F32, 0), tinfo(&b, "y", 1, ne1, GT_F32, 0)), 32, 256);
    REJECT("TENSORS_OVERLAP (same offset)", b, "TENSORS_OVERLAP");
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, ne1, GT_F32, 0), tinfo(&b, "y", 2, ne2, GT_Q8_0, 128)), 32, 128 + 68 - 1);
    REJECT("DATA_NOT_ENOUGH_DATA", b, "DATA_NOT_ENOUGH_DATA");
    T_FILE(b, 0, 1, tinfo(&b, "x", 1, ne1, GT_F32, 0), 1, 0); /* the file ends inside the padding */
    CHECK(b.n % 32 != 0);
    REJECT("DATA_NOT_ENOUGH_DATA (padding)", b, "DATA_NOT_ENOUGH_DATA");
    /* ggml's DATA_MEM_SIZE_OVERFLOW: two huge I8 tensors (I8 is not read here), and the same with F32 and U8-sized
     * counts whose bytes fit in 64 bits but not in the file */
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, (const uint64_t[]){0x7FFFFFFFFFFFFFC0ull}, 24, 0),
                      tinfo(&b, "y", 1, (const uint64_t[]){0x7FFFFFFFFFFFFFC0ull}, 24, 0x7FFFFFFFFFFFFFC0ull)), 32, 32);
    REJECT("DATA_MEM_SIZE_OVERFLOW (I8)", b, "unsupported GGUF tensor type I8");
    T_FILE(b, 0, 2, (tinfo(&b, "x", 1, (const uint64_t[]){0x1FFFFFFFFFFFFFF0ull}, GT_F32, 0),
                      tinfo(&b, "y", 1, (const uint64_t[]){0x1FFFFFFFFFFFFFF0ull}, GT_F32, 0x7FFFFFFFFFFFFFC0ull)), 32, 32);
    REJECT("DATA_MEM_SIZE_OVERFLOW (F32)", b, "DATA_NOT_ENOUGH_DATA");
    T_FILE(b, 13, 1, tinfo(&b, "x", 1, ne1, GT_F32, 0), 13, 128);
    REJECT("DATA_BAD_ALIGN", b, "KV_BAD_ALIGN"); /* ggml's: an alignment of 13, with the data padded to it */
    /* a custom alignment of 1 is fine (ggml's TENSORS_CUSTOM_ALIGN / DATA_CUSTOM_ALIGN) */
    T_FILE(b, 1, 2, (tinfo(&b, "x", 1, (const uint64_t[]){3}, GT_F32, 0), tinfo(&b, "y", 1, (const uint64_t[]){3}, GT_F32, 12)), 1, 24);
    g = accepts(__LINE__, "TENSORS_CUSTOM_ALIGN (1)", &b, 2, &img);
    if (g) {
        CHECK((const uint8_t *)rad_gguf_find(g, "y")->data - (const uint8_t *)rad_gguf_find(g, "x")->data == 12);
        rad_gguf_close(g), free(img);
    }
    /* Gaps between tensors, tensors out of offset order and trailing bytes are allowed. */
    T_FILE(b, 0, 2, (tinfo(&b, "y", 1, ne1, GT_F32, 256), tinfo(&b, "x", 1, ne1, GT_F32, 0)), 32, 1000);
    g = accepts(__LINE__, "TENSORS_GAPS_TRAILING", &b, 2, &img);
    if (g) {
        CHECK(!strcmp(rad_gguf_at(g, 0)->name, "y") && !strcmp(rad_gguf_at(g, 1)->name, "x")); /* file order */
        CHECK((const uint8_t *)rad_gguf_at(g, 0)->data - (const uint8_t *)rad_gguf_at(g, 1)->data == 256);
        rad_gguf_close(g), free(img);
    }
    /* A 1 MiB alignment (the largest) with a 5-D tensor; the data section starts at 1 MiB. */
    T_FILE(b, 1u << 20, 1, tinfo(&b, "p", 5, (const uint64_t[]){2, 2, 1, 16, 48}, GT_F16, 0), 1u << 20, 2 * 2 * 16 * 48 * 2);
    g = accepts(__LINE__, "TENSORS_ALIGN_1MIB_5D", &b, 1, &img);
    if (g) {
        const int64_t s[5] = {48, 16, 1, 2, 2};
        CHECK(shape_is(rad_gguf_find(g, "p"), 5, s) && rad_gguf_find(g, "p")->data == img + (1u << 20));
        rad_gguf_close(g), free(img);
    }
}

/* comfy.gguf.orig_shape.<name> */
static void orig_shape_cases(void) {
    printf("comfy.gguf.orig_shape:\n");
    buf b = {0};
    const uint64_t ne[2] = {256, 3};
#define ORIG_FILE(b, extra)                                                       \
    do {                                                                          \
        header(&(b), 1, 2);                                                       \
        kv_str(&(b), "general.architecture", "wan");                              \
        extra;                                                                    \
        tinfo(&(b), "w", 2, ne, GT_Q8_0, 0);                                      \
        pad_to(&(b), 32);                                                         \
        zeros(&(b), 24 * 34);                                                     \
    } while (0)
#define ARR(b, key, et, n) (put_str(&(b), key), put_u32(&(b), VT_ARR), put_u32(&(b), et), put_u64(&(b), n))
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I64, 5), put_u64(&b, 3), put_u64(&b, 16), put_u64(&b, 2), put_u64(&b, 4),
                  put_u64(&b, 2)));
    uint8_t *img;
    rad_gguf *g = accepts(__LINE__, "ORIG_SHAPE (i64)", &b, 1, &img);
    if (g) {
        const int64_t s[5] = {3, 16, 2, 4, 2};
        CHECK(shape_is(rad_gguf_find(g, "w"), 5, s) && rad_gguf_find(g, "w")->numel == 768);
        rad_gguf_close(g), free(img);
    }
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I32, 2), put_u32(&b, 768), put_u32(&b, 1)));
    g = accepts(__LINE__, "ORIG_SHAPE (i32)", &b, 1, &img);
    if (g) {
        const int64_t s[2] = {768, 1};
        CHECK(shape_is(rad_gguf_find(g, "w"), 2, s));
        rad_gguf_close(g), free(img);
    }
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I32, 2), put_u32(&b, 700), put_u32(&b, 1)));
    REJECT("ORIG_SHAPE (count)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I32, 2), put_u32(&b, (uint32_t)-768), put_u32(&b, (uint32_t)-1)));
    REJECT("ORIG_SHAPE (negative)", b, "not a positive count");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_U64, 2), put_u64(&b, 1ull << 62), put_u64(&b, 1ull << 62)));
    REJECT("ORIG_SHAPE (overflow)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_F32, 1), put_u32(&b, 0x44400000u)));
    REJECT("ORIG_SHAPE (f32)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I32, 0)));
    REJECT("ORIG_SHAPE (empty)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.w", VT_I32, 9), zeros(&b, 36)));
    REJECT("ORIG_SHAPE (9 dims)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, kv_u32(&b, "comfy.gguf.orig_shape.w", 768));
    REJECT("ORIG_SHAPE (scalar)", b, "KV_BAD_ORIG_SHAPE");
    ORIG_FILE(b, (ARR(b, "comfy.gguf.orig_shape.v", VT_I32, 1), put_u32(&b, 768)));
    REJECT("ORIG_SHAPE (no tensor)", b, "names no tensor");
#undef ORIG_FILE
#undef ARR
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Seeded random valid files (ggml's random-KV/random-tensor cases, with the types read here) */

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 32) % n);
}

static void random_files(void) {
    printf("random valid files:\n");
    static const struct {
        uint32_t id;
        rad_dtype dt;
        uint64_t be, bb;
    } types[] = {{0, RAD_DT_F32, 1, 4},       {1, RAD_DT_F16, 1, 2},       {30, RAD_DT_BF16, 1, 2},
                 {2, RAD_DT_Q4_0, 32, 18},    {3, RAD_DT_Q4_1, 32, 20},    {6, RAD_DT_Q5_0, 32, 22},
                 {7, RAD_DT_Q5_1, 32, 24},    {8, RAD_DT_Q8_0, 32, 34},    {12, RAD_DT_Q4_K, 256, 144},
                 {13, RAD_DT_Q5_K, 256, 176}, {14, RAD_DT_Q6_K, 256, 210}};
    const int NTY = (int)(sizeof types / sizeof types[0]);
    int ok = 0;
    for (int file = 0; file < 20; file++) {
        const uint32_t align = file % 4 == 3 ? 1u << rnd(10) : 32;
        const size_t nt = 1 + rnd(30);
        struct {
            int ty, nd;
            uint64_t ne[4], off, bytes;
        } t[32];
        uint64_t off = 0;
        for (size_t i = 0; i < nt; i++) {
            t[i].ty = (int)rnd((uint32_t)NTY);
            t[i].nd = 1 + (int)rnd(4);
            uint64_t numel = 1;
            for (int d = 0; d < t[i].nd; d++) {
                t[i].ne[d] = d == 0 ? (1 + rnd(4)) * types[t[i].ty].be : 1 + rnd(5);
                numel *= t[i].ne[d];
            }
            t[i].bytes = numel / types[t[i].ty].be * types[t[i].ty].bb;
            t[i].off = off;
            off += (t[i].bytes + align - 1) / align * align;
        }
        buf b = {0};
        const size_t nkv = rnd(20);
        header(&b, nt, nkv + 2);
        kv_str(&b, "general.architecture", "wan");
        kv_u32(&b, "general.alignment", align);
        for (size_t k = 0; k < nkv; k++) {
            char key[32];
            snprintf(key, sizeof key, "my_key_%zu", k);
            put_str(&b, key);
            uint32_t vt = rnd(13);
            put_u32(&b, vt);
            if (vt == VT_ARR) {
                uint32_t et = rnd(13);
                if (et == VT_ARR) et = VT_STR;
                put_u32(&b, et);
                uint64_t n = rnd(12);
                put_u64(&b, n);
                for (uint64_t j = 0; j < n; j++) {
                    if (et == VT_STR) {
                        uint8_t s[5];
                        for (int q = 0; q < 5; q++) s[q] = (uint8_t)rnd(256);
                        put_strn(&b, (const char *)s, rnd(6));
                    } else if (et == VT_BOOL) {
                        put_u8(&b, (uint8_t)rnd(2));
                    } else {
                        const size_t sz = et <= VT_I8 ? 1 : et <= VT_I16 ? 2 : et <= VT_F32 ? 4 : 8;
                        for (size_t q = 0; q < sz; q++) put_u8(&b, (uint8_t)rnd(256));
                    }
                }
            } else if (vt == VT_STR) {
                uint8_t s[64];
                const size_t n = rnd(64);
                for (size_t q = 0; q < n; q++) s[q] = (uint8_t)(rnd(255) + 1);
                put_strn(&b, (const char *)s, n);
            } else if (vt == VT_BOOL) {
                put_u8(&b, (uint8_t)rnd(2));
            } else {
                const size_t sz = vt <= VT_I8 ? 1 : vt <= VT_I16 ? 2 : vt <= VT_F32 ? 4 : 8;
                for (size_t q = 0; q < sz; q++) put_u8(&b, (uint8_t)rnd(256));
            }
        }
        for (size_t i = 0; i < nt; i++) {
            char name[32];
            snprintf(name, sizeof name, "my_tensor_%zu", i);
            tinfo(&b, name, (uint32_t)t[i].nd, t[i].ne, types[t[i].ty].id, t[i].off);
        }
        pad_to(&b, align);
        const size_t data_at = b.n;
        for (uint64_t i = 0; i < off; i++) put_u8(&b, (uint8_t)(i % 251));
        uint8_t *img;
        rad_gguf *g = accepts(__LINE__, "RANDOM_FILE", &b, nt, &img);
        if (!g) continue;
        bool good = rad_gguf_meta_count(g) == nkv + 2;
        for (size_t i = 0; i < nt && good; i++) {
            const rad_st_tensor *x = rad_gguf_at(g, i);
            good = x->dtype == types[t[i].ty].dt && x->ndim == t[i].nd && x->nbytes == t[i].bytes &&
                   (const uint8_t *)x->data == img + data_at + t[i].off && rad_gguf_find(g, x->name) == x;
            for (int d = 0; d < t[i].nd && good; d++) good = x->shape[d] == (int64_t)t[i].ne[t[i].nd - 1 - d];
            float *f = malloc((size_t)x->numel * sizeof(float));
            good = good && rad_st_to_f32(x, f) == RAD_OK;
            free(f);
        }
        for (size_t k = 0; k < rad_gguf_meta_count(g) && good; k++) {
            const char *key, *val;
            rad_gguf_meta_at(g, k, &key, &val);
            good = val && valid_utf8(val) && strlen(val) <= 163;
        }
        CHECK(good);
        ok += good;
        rad_gguf_close(g);
        free(img);
    }
    printf("  %d of 20 random files read back exactly\n", ok);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Truncation of a golden file at every offset */

static uint8_t *read_all(const char *rel, size_t *n) {
    char p[512];
    FILE *f = fopen(rad_test_path(p, sizeof p, rel), "rb");
    CHECK(f != NULL);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(*n);
    CHECK(fread(d, 1, *n, f) == *n);
    fclose(f);
    return d;
}

static void truncations(const char *rel) {
    size_t n;
    uint8_t *d = read_all(rel, &n);
    if (!d) return;
    rad_gguf *g = NULL;
    CHECK_OK(rad_gguf_open_memory(d, n, rel, &g));
    rad_gguf_close(g);
    size_t accepted = 0, copied = 0;
    char last[256] = "";
    for (size_t k = 0; k < n; k++) {
        /* Prefixes that end in the header are copied to an exact-size allocation (so ASan sees a read past the
         * end); longer ones only differ in where the data ends, which the reader compares without reading. */
        const bool header_part = k < 8192;
        uint8_t *cut = header_part ? malloc(k ? k : 1) : d;
        if (header_part) memcpy(cut, d, k), copied++;
        if (rad_gguf_open_memory(cut, k, "cut.gguf", &g) == RAD_OK) {
            accepted++;
            rad_gguf_close(g);
        } else if (!strstr(rad_last_error(), "cut.gguf")) {
            fprintf(stderr, "truncation at %zu: the message does not name the file: %s\n", k, rad_last_error());
            rad_test_failures++;
        } else if (k == n - 1) {
            snprintf(last, sizeof last, "%s", rad_last_error());
        }
        if (header_part) free(cut);
    }
    CHECK(accepted == 0);
    printf("  %s: all %zu truncations rejected (%zu in exact-size copies); one byte short: %.160s\n", rel, n, copied, last);
    free(d);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* The golden Wan GGUF files */

static void golden_files(void) {
    printf("golden files:\n");
    static const char *const quants[3] = {"F16", "Q8_0", "Q4_0"};
    char p[512], rel[128];
    rad_gguf *gf[3] = {NULL, NULL, NULL};
    for (int q = 0; q < 3; q++) {
        snprintf(rel, sizeof rel, "golden2/gguf/wan_tiny-%s.gguf", quants[q]);
        CHECK(rad_gguf_sniff(rad_test_path(p, sizeof p, rel)));
        CHECK_OK(rad_gguf_open(p, &gf[q]));
        rad_gguf *g = gf[q];
        if (!g) continue;
        CHECK(rad_gguf_version(g) == 3 && rad_gguf_count(g) == 69 && rad_gguf_meta_count(g) == 3);
        CHECK(rad_gguf_meta_str(g, "general.architecture") && !strcmp(rad_gguf_meta_str(g, "general.architecture"), "wan"));
        CHECK(meta_text(g, "general.alignment") && !strcmp(meta_text(g, "general.alignment"), "32"));
        CHECK(meta_text(g, "general.quantization_version") && !strcmp(meta_text(g, "general.quantization_version"), "2"));
        const rad_st_tensor *pe = rad_gguf_find(g, "patch_embedding.weight");
        const int64_t spe[5] = {48, 16, 1, 2, 2}, sffn2[2] = {48, 96}, sffn0[2] = {96, 48}, smod[3] = {1, 6, 48},
                      stp[2] = {288, 48};
        CHECK(shape_is(pe, 5, spe) && pe->dtype == (q == 0 ? RAD_DT_F16 : RAD_DT_F32)); /* rows of 2: not quantised */
        const rad_st_tensor *f2 = rad_gguf_find(g, "blocks.1.ffn.2.weight");
        const rad_dtype want = q == 0 ? RAD_DT_F16 : q == 1 ? RAD_DT_Q8_0 : RAD_DT_Q4_0;
        CHECK(shape_is(f2, 2, sffn2) && f2->dtype == want && !strcmp(f2->dtype_name, quants[q]));
        CHECK(shape_is(rad_gguf_find(g, "blocks.0.ffn.0.weight"), 2, sffn0));
        CHECK(shape_is(rad_gguf_find(g, "blocks.0.modulation"), 3, smod));
        CHECK(shape_is(rad_gguf_find(g, "time_projection.1.weight"), 2, stp));
        CHECK(rad_gguf_find(g, "head.head.bias") && rad_gguf_find(g, "head.head.bias")->dtype == RAD_DT_F32);
        int n_block = 0;
        for (size_t i = 0; i < rad_gguf_count(g); i++) {
            const rad_st_tensor *t = rad_gguf_at(g, i);
            n_block += rad_dtype_is_block(t->dtype);
            float *a = malloc((size_t)t->numel * sizeof(float)), *b = malloc((size_t)t->numel * sizeof(float));
            CHECK_OK(rad_st_to_f32(t, a));
            bool finite = true;
            for (int64_t j = 0; j < t->numel; j++) finite = finite && isfinite(a[j]);
            CHECK(finite);
            if (rad_dtype_is_block(t->dtype)) { /* the threaded conversion is the direct dequantisation */
                rad_quant_dequant(t->dtype, t->data, b, t->numel);
                CHECK(!memcmp(a, b, (size_t)t->numel * sizeof(float)));
            }
            free(a), free(b);
        }
        CHECK(n_block == (q == 0 ? 0 : 2)); /* the FFN down projections, the only rows that are whole blocks */
        printf("  %s: 69 tensors (%d quantised), architecture %s\n", rel, n_block, rad_gguf_meta_str(g, "general.architecture"));
    }
    /* The quantised FFN weights against the F16 file's (the same fp32 weights): close, in the same orientation. */
    if (gf[0] && gf[1] && gf[2]) {
        static const char *const names[4] = {"blocks.0.ffn.2.weight", "blocks.1.ffn.2.weight", "blocks.0.ffn.0.weight",
                                             "head.head.weight"};
        for (int k = 0; k < 4; k++) {
            const rad_st_tensor *r = rad_gguf_find(gf[0], names[k]);
            float *ref = malloc((size_t)r->numel * sizeof(float)), *x = malloc((size_t)r->numel * sizeof(float));
            CHECK_OK(rad_st_to_f32(r, ref));
            for (int q = 1; q < 3; q++) {
                const rad_st_tensor *t = rad_gguf_find(gf[q], names[k]);
                CHECK(t->numel == r->numel && t->ndim == r->ndim && !memcmp(t->shape, r->shape, sizeof t->shape));
                CHECK_OK(rad_st_to_f32(t, x));
                const double e = rad_rel_err(x, ref, (size_t)r->numel);
                const double lim = !rad_dtype_is_block(t->dtype) ? 1e-3 : q == 1 ? 1e-2 : 0.15;
                printf("  %-24s %-5s vs F16: rel err %.2e (limit %.0e)\n", names[k], t->dtype_name, e, lim);
                CHECK(e < lim);
            }
            free(ref), free(x);
        }
    }
    for (int q = 0; q < 3; q++) rad_gguf_close(gf[q]);
    /* Files that are not GGUF, and missing ones. */
    CHECK(!rad_gguf_sniff(rad_test_path(p, sizeof p, "golden2/gguf/case_F16.safetensors")));
    CHECK(!rad_gguf_sniff(rad_test_path(p, sizeof p, "golden2/gguf/nope.gguf")));
    CHECK(!rad_gguf_sniff(rad_test_path(p, sizeof p, "golden2/gguf")));
    rad_gguf *g = NULL;
    CHECK_FAILS(rad_gguf_open(rad_test_path(p, sizeof p, "golden2/gguf/nope.gguf"), &g));
    CHECK_FAILS(rad_gguf_open(rad_test_path(p, sizeof p, "golden2/gguf/case_F16.safetensors"), &g));
    CHECK(g == NULL);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Dequantisation against ggml's own output */

static int max_ulp(const float *a, const float *b, size_t n, size_t *n_diff) {
    int worst = 0;
    *n_diff = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t x, y;
        memcpy(&x, &a[i], 4), memcpy(&y, &b[i], 4);
        if (x == y) continue;
        (*n_diff)++;
        if (x < 0) x = INT32_MIN - x; /* monotone integer order of the floats */
        if (y < 0) y = INT32_MIN - y;
        const int64_t d = (int64_t)x - y;
        const int u = d > 1000000 || d < -1000000 ? 1000000 : (int)(d < 0 ? -d : d);
        if (u > worst) worst = u;
    }
    return worst;
}

static void dequant_goldens(void) {
    printf("dequantisation vs ggml (bit-exact expected):\n");
    char p[512];
    rad_st_file *ref = NULL;
    rad_gguf *g = NULL;
    CHECK_OK(rad_st_open(rad_test_path(p, sizeof p, "gguf/quants_ref.safetensors"), &ref));
    CHECK_OK(rad_gguf_open(rad_test_path(p, sizeof p, "gguf/kquants.gguf"), &g));
    if (!ref || !g) {
        rad_st_close(ref), rad_gguf_close(g);
        return;
    }
    static const struct {
        const char *name;
        rad_dtype dt;
    } types[8] = {{"q4_0", RAD_DT_Q4_0}, {"q4_1", RAD_DT_Q4_1}, {"q5_0", RAD_DT_Q5_0}, {"q5_1", RAD_DT_Q5_1},
                  {"q8_0", RAD_DT_Q8_0}, {"q4_k", RAD_DT_Q4_K}, {"q5_k", RAD_DT_Q5_K}, {"q6_k", RAD_DT_Q6_K}};
    const int64_t s4x256[2] = {4, 256};
    float out[1024], out2[1024];
    for (int k = 0; k < 8; k++) {
        for (int rnd_blocks = 0; rnd_blocks < 2; rnd_blocks++) {
            char qn[64], dn[64];
            snprintf(qn, sizeof qn, "%s%s.quant", types[k].name, rnd_blocks ? ".random" : "");
            snprintf(dn, sizeof dn, "%s%s.dequant", types[k].name, rnd_blocks ? ".random" : "");
            const rad_st_tensor *q = rad_st_find(ref, qn), *d = rad_st_find(ref, dn);
            CHECK(q && d && d->numel == 1024 && q->dtype == RAD_DT_U8);
            if (!q || !d || d->numel != 1024) continue;
            size_t nb = 0;
            CHECK_OK(rad_quant_bytes(types[k].dt, 1024, qn, &nb));
            CHECK(q->nbytes == nb);
            float want[1024];
            CHECK_OK(rad_st_to_f32(d, want));
            memset(out, 0xff, sizeof out);
            rad_quant_dequant(types[k].dt, q->data, out, 1024);
            CHECK(rad_dtype_to_f32(types[k].dt, q->data, out2, 1024) && !memcmp(out, out2, sizeof out));
            size_t n_diff;
            const int ulp = max_ulp(out, want, 1024, &n_diff);
            printf("  %-5s %-13s 1024 values: %zu differ from ggml (max %d ulp)\n", rad_dtype_name(types[k].dt),
                   rnd_blocks ? "random blocks" : "ggml-quantised", n_diff, ulp);
            CHECK(n_diff == 0);
            if (rnd_blocks) continue;
            /* The same blocks read from kquants.gguf (ggml's GGUF writer), through the weights' conversion. */
            char tn[64];
            snprintf(tn, sizeof tn, "%s.weight", types[k].name);
            const rad_st_tensor *t = rad_gguf_find(g, tn);
            CHECK(t && t->dtype == types[k].dt && shape_is(t, 2, s4x256) && !strcmp(t->dtype_name, rad_dtype_name(types[k].dt)));
            if (!t) continue;
            CHECK(t->nbytes == q->nbytes && !memcmp(t->data, q->data, q->nbytes));
            memset(out2, 0xff, sizeof out2);
            CHECK_OK(rad_st_to_f32(t, out2));
            CHECK(!memcmp(out2, want, sizeof want));
        }
    }
    /* Plain dtypes of kquants.gguf against ggml's conversions; the input stored as F32. */
    static const char *const plain[3][2] = {{"f32.weight", "input"}, {"f16.weight", "f16.dequant"}, {"bf16.weight", "bf16.dequant"}};
    for (int k = 0; k < 3; k++) {
        const rad_st_tensor *t = rad_gguf_find(g, plain[k][0]), *d = rad_st_find(ref, plain[k][1]);
        CHECK(t && d && shape_is(t, 2, s4x256));
        if (!t || !d) continue;
        float want[1024];
        CHECK_OK(rad_st_to_f32(d, want));
        CHECK_OK(rad_st_to_f32(t, out));
        size_t n_diff;
        max_ulp(out, want, 1024, &n_diff);
        printf("  %-5s 1024 values: %zu differ from ggml\n", t->dtype_name, n_diff);
        CHECK(n_diff == 0);
    }
    /* The ComfyUI-style flattened tensor: stored ne {256, 12}, restored to [48, 16, 1, 2, 2]. */
    const rad_st_tensor *pe = rad_gguf_find(g, "patch_embedding.weight"), *pd = rad_st_find(ref, "patch.dequant");
    const int64_t spe[5] = {48, 16, 1, 2, 2};
    CHECK(pe && pd && shape_is(pe, 5, spe) && pe->dtype == RAD_DT_Q8_0 && pe->numel == 3072);
    if (pe && pd) {
        float *a = malloc(3072 * sizeof(float)), *b = malloc(3072 * sizeof(float));
        CHECK_OK(rad_st_to_f32(pe, a));
        CHECK_OK(rad_st_to_f32(pd, b));
        CHECK(!memcmp(a, b, 3072 * sizeof(float)));
        free(a), free(b);
    }
    CHECK(rad_gguf_count(g) == 12 && rad_gguf_meta_str(g, "general.name") &&
          !strcmp(rad_gguf_meta_str(g, "general.name"), "radial kquants test"));
    const char *os = meta_text(g, "comfy.gguf.orig_shape.patch_embedding.weight");
    CHECK(os && !strcmp(os, "[i32 x 5: 48, 16, 1, 2, 2]"));
    rad_gguf_close(g);
    rad_st_close(ref);
}

/* Block dtypes have names but a safetensors header cannot declare them. */
static void dtype_names(void) {
    static const struct {
        rad_dtype d;
        const char *n;
        int64_t be;
        size_t bb;
    } k[8] = {{RAD_DT_Q4_0, "Q4_0", 32, 18},   {RAD_DT_Q4_1, "Q4_1", 32, 20},   {RAD_DT_Q5_0, "Q5_0", 32, 22},
              {RAD_DT_Q5_1, "Q5_1", 32, 24},   {RAD_DT_Q8_0, "Q8_0", 32, 34},   {RAD_DT_Q4_K, "Q4_K", 256, 144},
              {RAD_DT_Q5_K, "Q5_K", 256, 176}, {RAD_DT_Q6_K, "Q6_K", 256, 210}};
    for (int i = 0; i < 8; i++) {
        CHECK(!strcmp(rad_dtype_name(k[i].d), k[i].n) && rad_dtype_is_block(k[i].d));
        CHECK(rad_quant_block_elems(k[i].d) == k[i].be && rad_quant_block_bytes(k[i].d) == k[i].bb);
        char hdr[128];
        const int n = snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"%s\",\"shape\":[32],\"data_offsets\":[0,%zu]}}", k[i].n,
                               k[i].bb);
        const size_t total = 8 + (size_t)n + k[i].bb;
        uint8_t *img = calloc(total, 1);
        for (int j = 0; j < 8; j++) img[j] = (uint8_t)((uint64_t)n >> (8 * j));
        memcpy(img + 8, hdr, (size_t)n);
        rad_st_file *f = NULL;
        CHECK(rad_st_open_memory(img, total, "st", &f) != RAD_OK && f == NULL && strstr(rad_last_error(), "unknown dtype"));
        free(img);
    }
    size_t nb;
    CHECK(rad_quant_bytes(RAD_DT_Q4_K, 255, "x", &nb) == RADIAL_ERR_FORMAT);
    CHECK(rad_quant_bytes(RAD_DT_F32, INT64_MAX, "x", &nb) == RADIAL_ERR_FORMAT); /* bytes overflow */
    CHECK(!rad_dtype_is_block(RAD_DT_F32) && !rad_dtype_is_block(RAD_DT_BF16));
    printf("block dtype names and sizes: ok\n");
}

/* rad_st_to_f32 splits a tensor over threads in chunks of whole blocks: on tensors of several chunks (2^20
 * elements) it must give exactly the direct dequantisation. Random block bytes, fp16 scales made finite. */
static void threaded_conversion(void) {
    static const struct {
        uint32_t id;
        rad_dtype dt;
        size_t bb, half_at;
    } k[4] = {{12, RAD_DT_Q4_K, 144, 0}, {14, RAD_DT_Q6_K, 210, 208}, {6, RAD_DT_Q5_0, 22, 0}, {3, RAD_DT_Q4_1, 20, 0}};
    const uint64_t ne[2] = {4096, 256};
    const size_t n = 4096 * 256;
    float *a = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
    for (int i = 0; i < 4; i++) {
        const size_t be = (size_t)rad_quant_block_elems(k[i].dt), bytes = n / be * k[i].bb;
        buf b = {0};
        header(&b, 1, 1);
        kv_str(&b, "general.architecture", "wan");
        tinfo(&b, "w", 2, ne, k[i].id, 0);
        pad_to(&b, 32);
        const size_t at = b.n;
        for (size_t j = 0; j < bytes; j++) put_u8(&b, (uint8_t)(rnd(256)));
        for (size_t blk = 0; blk < n / be; blk++) b.p[at + blk * k[i].bb + k[i].half_at + 1] &= 0x3f; /* |scale| < 2 */
        uint8_t *img;
        rad_gguf *g = accepts(__LINE__, "THREADED_CONVERSION", &b, 1, &img);
        if (!g) continue;
        const rad_st_tensor *t = rad_gguf_at(g, 0);
        CHECK(t->dtype == k[i].dt && t->numel == (int64_t)n && t->nbytes == bytes);
        CHECK_OK(rad_st_to_f32(t, a));
        rad_quant_dequant(t->dtype, t->data, d, t->numel);
        CHECK(!memcmp(a, d, n * sizeof(float)));
        rad_gguf_close(g);
        free(img);
    }
    free(a), free(d);
}

/* The fuzzer's seed corpus (tests/gguf/seeds): the valid seeds stay valid, the invalid ones invalid. */
static void seeds(void) {
    printf("fuzz seeds:\n");
    static const struct {
        const char *name;
        bool valid;
        size_t n_tensors;
    } k[] = {{"minimal.gguf", true, 0},      {"two_tensors.gguf", true, 2},     {"all_kv.gguf", true, 1},
             {"orig_shape.gguf", true, 1},   {"kquant_align64.gguf", true, 2},  {"kquants.gguf", true, 12},
             {"bad_version2.gguf", false, 0}, {"truncated.gguf", false, 0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char rel[128], p[512];
        snprintf(rel, sizeof rel, "../gguf/seeds/%s", k[i].name);
        rad_gguf *g = NULL;
        const rad_status st = rad_gguf_open(rad_test_path(p, sizeof p, rel), &g);
        CHECK((st == RAD_OK) == k[i].valid);
        if (g) {
            CHECK(rad_gguf_count(g) == k[i].n_tensors);
            for (size_t j = 0; j < rad_gguf_count(g); j++) {
                const rad_st_tensor *t = rad_gguf_at(g, j);
                float *f = malloc((size_t)t->numel * sizeof(float));
                CHECK_OK(rad_st_to_f32(t, f));
                free(f);
            }
            rad_gguf_close(g);
        }
        printf("  %-20s %s%s\n", k[i].name, st == RAD_OK ? "valid" : "rejected: ", st == RAD_OK ? "" : rad_last_error());
    }
}

int main(void) {
    dtype_names();
    dequant_goldens();
    golden_files();
    header_cases();
    kv_cases();
    tensor_cases();
    orig_shape_cases();
    random_files();
    threaded_conversion();
    seeds();
    printf("truncations:\n");
    truncations("gguf/kquants.gguf");
    truncations("golden2/gguf/wan_tiny-Q4_0.gguf");
    printf("%d hand-built cases\n", n_cases);
    TEST_MAIN_END();
}
