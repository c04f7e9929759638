/* The spiece.model parser on hand-built and corrupted models: every malformed input is rejected with a
 * message (truncations at many offsets, bad varints, lengths past the end, wire types, charsmap headers,
 * piece sets sentencepiece refuses, non-unigram models), and a hand-built model encodes as worked out by hand
 * (including a hand-assembled Darts charsmap). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "text/spm.h"

/* ---- a protobuf writer for building models ---- */
typedef struct buf {
    unsigned char d[1 << 16];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > sizeof b->d) abort(); /* test bug */
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void varint(buf *b, uint64_t v) {
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}
static void key(buf *b, unsigned field, unsigned wt) { varint(b, (uint64_t)field << 3 | wt); }
static void field_bytes(buf *b, unsigned field, const void *p, size_t n) {
    key(b, field, 2);
    varint(b, n);
    put(b, p, n);
}
static void field_varint(buf *b, unsigned field, uint64_t v) {
    key(b, field, 0);
    varint(b, v);
}
static void field_float(buf *b, unsigned field, float f) {
    key(b, field, 5);
    put(b, &f, 4); /* little-endian host */
}

/* A piece message: piece, score, type (type 0 = leave the field out, i.e. NORMAL). */
static void piece(buf *m, const char *s, float score, unsigned type) {
    buf p = {.n = 0};
    field_bytes(&p, 1, s, strlen(s));
    field_float(&p, 2, score);
    if (type) field_varint(&p, 3, type);
    field_bytes(m, 1, p.d, p.n);
}

enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

/* trainer_spec with model_type, byte_fallback and eos_id. */
static void trainer(buf *m, unsigned model_type, int byte_fallback, int eos_id) {
    buf t = {.n = 0};
    field_varint(&t, 3, model_type);
    if (byte_fallback) field_varint(&t, 35, 1);
    field_varint(&t, 42, (uint64_t)(int64_t)eos_id); /* negative int32: 10-byte sign extension */
    field_bytes(m, 2, t.d, t.n);
}

/* The base model: 0 <unk>, 1 </s> (control), 2 "▁", 3 "a", 4 "b", 5 "ab", 6 "▁a". */
static void base_pieces(buf *m) {
    piece(m, "<unk>", 0, UNKNOWN);
    piece(m, "</s>", 0, CONTROL);
    piece(m, "\xe2\x96\x81", -2.0f, 0);
    piece(m, "a", -3.0f, 0);
    piece(m, "b", -3.0f, 0);
    piece(m, "ab", -4.0f, 0);
    piece(m, "\xe2\x96\x81" "a", -4.5f, 0);
}

static rad_spm *load(const buf *m, int expect_ok) {
    rad_spm *spm = NULL;
    if (expect_ok)
        CHECK_OK(rad_spm_load_memory(m->d, m->n, "test.model", &spm));
    else
        CHECK_FAILS(rad_spm_load_memory(m->d, m->n, "test.model", &spm));
    return spm;
}

static int encodes_to(const rad_spm *spm, const char *text, const int32_t *expect, size_t n_expect) {
    int32_t *ids;
    size_t n;
    if (rad_spm_encode(spm, text, &ids, &n) != RAD_OK) {
        fprintf(stderr, "encode '%s': %s\n", text, rad_last_error());
        return 0;
    }
    int ok = n == n_expect && (n == 0 || memcmp(ids, expect, n * sizeof *ids) == 0);
    if (!ok) {
        fprintf(stderr, "encode '%s':", text);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    rad_free(ids);
    return ok;
}

/* ---- valid hand-built models ---- */
static void check_hand_model(void) {
    buf m = {.n = 0};
    base_pieces(&m);
    trainer(&m, 1, 0, 1);
    rad_spm *spm = load(&m, 1);
    if (!spm) return;
    CHECK(rad_spm_eos_id(spm) == 1 && rad_spm_unk_id(spm) == 0 && rad_spm_pad_id(spm) == -1);
    /* "ab" -> "▁ab": ▁+ab = -6 beats ▁a+b = -7.5 and ▁+a+b = -8. */
    CHECK(encodes_to(spm, "ab", (int32_t[]){2, 5}, 2));
    /* "a" -> "▁a" (-4.5) beats ▁ + a (-5). */
    CHECK(encodes_to(spm, "a", (int32_t[]){6}, 1));
    /* Unknown characters score min_score-10 = -14 each and merge into one <unk> without byte fallback. */
    CHECK(encodes_to(spm, "a\xc3\xa9\xc3\xa9 b", (int32_t[]){6, 0, 2, 4}, 4));
    /* No charsmap: identity, but spaces are still collapsed and trimmed. */
    CHECK(encodes_to(spm, "  a   b  ", (int32_t[]){6, 2, 4}, 3));
    CHECK(encodes_to(spm, "", NULL, 0));
    /* Reserved pieces are never matched in text. */
    CHECK(encodes_to(spm, "</s>", (int32_t[]){2, 0}, 2));
    rad_spm_free(spm);

    /* USER_DEFINED "b" scores len*max_score-0.1, with max_score = FLT_MIN here (sentencepiece starts it there
     * and all NORMAL scores are negative): -0.1. UNUSED "▁a" is never matched. */
    m.n = 0;
    piece(&m, "<unk>", 0, UNKNOWN);
    piece(&m, "\xe2\x96\x81", -2.0f, 0);
    piece(&m, "a", -3.0f, 0);
    piece(&m, "b", 0, USER_DEFINED);
    piece(&m, "ab", -4.0f, 0);
    piece(&m, "\xe2\x96\x81" "a", -1.0f, UNUSED);
    piece(&m, "\xe2\x96\x81" "ab", -5.05f, 0);
    piece(&m, "\xe2\x96\x81" "b", -2.5f, 0);
    trainer(&m, 1, 0, 1);
    spm = load(&m, 1);
    if (spm) {
        /* ▁ab = -5.05 beats ▁ a b = -2-3-0.1 = -5.1 (it would lose with the +1.0 bonus of older versions). */
        CHECK(encodes_to(spm, "ab", (int32_t[]){6}, 1));
        /* ▁ b = -2.1 beats ▁b = -2.5 (it would lose if max_score started below the scores). */
        CHECK(encodes_to(spm, "b", (int32_t[]){1, 3}, 2));
        CHECK(encodes_to(spm, "a", (int32_t[]){1, 2}, 2));
        rad_spm_free(spm);
    }

    /* Byte fallback: 256 byte pieces; an unknown character becomes its UTF-8 bytes. */
    m.n = 0;
    base_pieces(&m);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        piece(&m, name, 0, BYTE);
    }
    trainer(&m, 1, 1, 1);
    spm = load(&m, 1);
    if (spm) {
        CHECK(rad_spm_byte_fallback(spm));
        /* é = C3 A9 -> pieces 7+0xC3, 7+0xA9 */
        CHECK(encodes_to(spm, "a\xc3\xa9", (int32_t[]){6, 7 + 0xc3, 7 + 0xa9}, 3));
        /* Malformed UTF-8: one byte becomes U+FFFD (EF BF BD), which is unknown here. */
        CHECK(encodes_to(spm, "\xff", (int32_t[]){2, 7 + 0xef, 7 + 0xbf, 7 + 0xbd}, 4));
        rad_spm_free(spm);
    }
}

/* A Darts double array for the single key "a" -> replacement at `value`: the root's offset is 1, so 'a'
 * (0x61) lands on unit 1^0x61 = 96; that unit carries label 'a', the has-leaf bit and offset 1, so its leaf
 * is unit 96^1 = 97, whose value has the MSB set as Darts leaves do. */
static void charsmap_model(buf *m, uint32_t value, const char *repl, size_t repl_len) {
    uint32_t units[98] = {0};
    units[0] = 1u << 10;
    units[96] = 1u << 10 | 1u << 8 | 0x61;
    units[97] = 0x80000000u | value;
    static unsigned char blob[4 + sizeof units + 40000];
    if (repl_len > 40000) abort(); /* test bug */
    uint32_t size = sizeof units;
    memcpy(blob, &size, 4);
    memcpy(blob + 4, units, sizeof units);
    memcpy(blob + 4 + sizeof units, repl, repl_len);
    buf n = {.n = 0};
    field_bytes(&n, 1, "test", 4);
    field_bytes(&n, 2, blob, 4 + sizeof units + repl_len);
    base_pieces(m);
    trainer(m, 1, 0, 1);
    field_bytes(m, 3, n.d, n.n);
}

static void check_charsmap(void) {
    buf m = {.n = 0};
    charsmap_model(&m, 2, "x\0ba\0", 5); /* "a" -> "ba" */
    rad_spm *spm = load(&m, 1);
    if (spm) {
        char *norm;
        size_t len;
        CHECK_OK(rad_spm_normalize(spm, "a b", 3, &norm, &len));
        CHECK(norm && !strcmp(norm, "\xe2\x96\x81" "ba\xe2\x96\x81" "b"));
        rad_free(norm);
        CHECK(encodes_to(spm, "a", (int32_t[]){2, 4, 3}, 3)); /* "▁ba": only ▁ b a covers it */
        rad_spm_free(spm);
    }
    /* A value past the replacement strings loads (it is only found by a lookup) but fails to encode. */
    m.n = 0;
    charsmap_model(&m, 50, "x\0", 2);
    spm = load(&m, 1);
    if (spm) {
        int32_t *ids;
        size_t n;
        CHECK_FAILS(rad_spm_encode(spm, "a", &ids, &n));
        CHECK_OK(rad_spm_encode(spm, "b", &ids, &n)); /* no lookup hit: fine */
        rad_free(ids);
        rad_spm_free(spm);
    }
    /* A replacement of 30000 bytes for "a": 2300 a's would normalize to 69 MB, past the 64 MiB cap. */
    static char big[30001], text[2301];
    memset(big, 'b', 30000);
    memset(text, 'a', 2300);
    m.n = 0;
    charsmap_model(&m, 0, big, sizeof big);
    spm = load(&m, 1);
    if (spm) {
        int32_t *ids;
        size_t n;
        CHECK_FAILS(rad_spm_encode(spm, text, &ids, &n));
        CHECK_OK(rad_spm_encode(spm, "a", &ids, &n)); /* ▁ + 30000 b */
        CHECK(n == 30001);
        rad_free(ids);
        rad_spm_free(spm);
    }
    /* Broken charsmap headers. */
    struct {
        const char *what;
        unsigned char blob[16];
        size_t len;
    } bad[] = {
        {"3 bytes", {0, 0, 0}, 3},
        {"4 bytes (header only)", {4, 0, 0, 0}, 4},
        {"trie size 0", {0, 0, 0, 0, 1, 2, 3, 4}, 8},
        {"trie size not a multiple of 4", {3, 0, 0, 0, 1, 2, 3, 4}, 8},
        {"trie size past the blob", {8, 0, 0, 0, 1, 2, 3, 4}, 8},
        {"trie size huge", {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, 8},
        {"strings without NUL", {4, 0, 0, 0, 0, 0, 0, 0, 'x'}, 9},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.n = 0;
        base_pieces(&m);
        trainer(&m, 1, 0, 1);
        buf n = {.n = 0};
        field_bytes(&n, 2, bad[i].blob, bad[i].len);
        field_bytes(&m, 3, n.d, n.n);
        printf("charsmap %s:\n", bad[i].what);
        load(&m, 0);
    }
}

/* ---- malformed wire format and piece sets ---- */
static void check_malformed(void) {
    buf m;
    rad_spm *spm;
    /* Empty input, and a model with no pieces. */
    CHECK_FAILS(rad_spm_load_memory("", 0, "empty", &spm));
    m.n = 0;
    trainer(&m, 1, 0, 1);
    load(&m, 0);

    static const unsigned char raw[][16] = {
        {0x0a, 100, 'x'},                                                 /* length past the end */
        {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* length 2^64-1 */
        {0x0a, 0x80},                                                      /* truncated varint */
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* 11-byte varint */
        {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02},       /* overflows 64 bits */
        {0x80, 0x80, 0x80, 0x80, 0x80, 0x01},                              /* key above 2^32 */
        {0x00, 0x00},                                                      /* field number 0 */
        {0x0b, 0x0c},                                                      /* group start/end */
        {0x0e, 0x00},                                                      /* wire type 6 */
        {0x0f, 0x00},                                                      /* wire type 7 */
        {0x08, 0x01},                                                      /* pieces as a varint */
        {0x15, 1, 2, 3, 4},                                                /* trainer_spec as fixed32 */
        {0x21, 1, 2, 3},                                                   /* fixed64 cut short */
        {0x0a, 0x03, 0x0a, 0x05, 'a'},                                     /* piece string past its message */
        {0x0a, 0x02, 0x15, 0x00},                                          /* score cut short */
        {0x0a, 0x02, 0x10, 0x01},                                          /* score as a varint */
        {0x0a, 0x02, 0x18, 0x07},                                          /* piece type 7 */
        {0x0a, 0x02, 0x18, 0x00},                                          /* piece type 0 */
    };
    static const size_t raw_len[] = {3, 11, 2, 11, 10, 6, 2, 2, 2, 2, 2, 5, 4, 5, 4, 4, 4, 4};
    for (size_t i = 0; i < sizeof raw_len / sizeof raw_len[0]; i++) {
        m.n = 0;
        base_pieces(&m);
        trainer(&m, 1, 0, 1);
        put(&m, raw[i], raw_len[i]);
        load(&m, 0);
    }

    /* Piece sets sentencepiece refuses. */
    static const char *const sets[] = {
        "empty piece",    "NUL in piece",    "duplicate",       "two unknowns",
        "no unknown",     "byte piece without byte_fallback", "bad byte piece name", "255 byte pieces",
        "8000-byte piece", "only reserved pieces", "BPE", "model type 9",
    };
    static char longp[8001];
    memset(longp, 'x', 8000);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        m.n = 0;
        int fallback = 0;
        unsigned model_type = 1;
        switch (i) {
        case 0: base_pieces(&m); piece(&m, "", 0, 0); break;
        case 1: base_pieces(&m); field_bytes(&m, 1, "\x0a\x03" "a\0b", 5); break;
        case 2: base_pieces(&m); piece(&m, "ab", -1, USER_DEFINED); break;
        case 3: base_pieces(&m); piece(&m, "<unk2>", 0, UNKNOWN); break;
        case 4: piece(&m, "a", -1, 0); break;
        case 5: base_pieces(&m); piece(&m, "<0x41>", 0, BYTE); break;
        case 6: base_pieces(&m); piece(&m, "<0x4g>", 0, BYTE); fallback = 1; break;
        case 7:
            base_pieces(&m);
            for (int b = 0; b < 255; b++) {
                char name[8];
                snprintf(name, sizeof name, "<0x%02X>", b);
                piece(&m, name, 0, BYTE);
            }
            fallback = 1;
            break;
        case 8: base_pieces(&m); piece(&m, longp, -1, 0); break;
        case 9: piece(&m, "<unk>", 0, UNKNOWN); piece(&m, "<s>", 0, CONTROL); break;
        case 10: base_pieces(&m); model_type = 2; break;
        case 11: base_pieces(&m); model_type = 9; break;
        }
        trainer(&m, model_type, fallback, 1);
        printf("%s:\n", sets[i]);
        load(&m, 0);
    }
    /* A NORMAL and a CONTROL piece may share a string (they live in different maps). */
    m.n = 0;
    base_pieces(&m);
    piece(&m, "</s>", -9, 0);
    trainer(&m, 1, 0, 1);
    rad_spm_free(load(&m, 1));
    /* Unknown fields of every wire type are skipped. */
    m.n = 0;
    base_pieces(&m);
    field_varint(&m, 99, 5);
    key(&m, 98, 1);
    put(&m, "12345678", 8);
    key(&m, 97, 5);
    put(&m, "1234", 4);
    field_bytes(&m, 4, "\x0a\x00", 2); /* self_test_data */
    trainer(&m, 1, 0, 1);
    rad_spm_free(load(&m, 1));
    /* A size beyond the limit is refused before anything is read. */
    static const char tiny[1];
    CHECK_FAILS(rad_spm_load_memory(tiny, ((size_t)1 << 28) + 1, "huge", &spm));
}

/* Offsets where a top-level field starts or the data ends: truncating there leaves a well-formed (if
 * incomplete) message. Walked here independently of the library. */
static int top_level_boundary(const unsigned char *d, size_t n, size_t cut) {
    size_t i = 0;
    while (i < n) {
        if (i == cut) return 1;
        uint64_t k = 0, v = 0;
        int s = 0;
        while (d[i] & 0x80) k |= (uint64_t)(d[i++] & 0x7f) << (7 * s++);
        k |= (uint64_t)d[i++] << (7 * s);
        if ((k & 7) == 0) {
            while (d[i++] & 0x80) {
            }
        } else if ((k & 7) == 2) {
            s = 0;
            while (d[i] & 0x80) v |= (uint64_t)(d[i++] & 0x7f) << (7 * s++);
            v |= (uint64_t)d[i++] << (7 * s);
            i += v;
        } else {
            i += (k & 7) == 1 ? 8 : 4;
        }
    }
    return i == cut;
}

static unsigned char *read_all(const char *rel, size_t *n) {
    char path[1024];
    FILE *f = fopen(rad_test_path(path, sizeof path, rel), "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(*n);
    if (d && fread(d, 1, *n, f) != *n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    return d;
}

/* Truncated real models: every cut inside a field must be rejected; a model that does load must encode. */
static void check_truncations(const char *rel, size_t step_after) {
    size_t n;
    unsigned char *d = read_all(rel, &n);
    CHECK(d != NULL);
    if (!d) return;
    size_t tried = 0, rejected = 0, loaded = 0;
    for (size_t cut = 0; cut < n; cut += cut < 4096 ? 1 : step_after) {
        rad_spm *spm;
        rad_status s = rad_spm_load_memory(d, cut, rel, &spm);
        tried++;
        if (s == RAD_OK) {
            loaded++;
            CHECK(top_level_boundary(d, n, cut));
            int32_t *ids;
            size_t k;
            CHECK_OK(rad_spm_encode(spm, "A cat \xf0\x9f\x90\xb1 walks", &ids, &k));
            rad_free(ids);
            rad_spm_free(spm);
        } else {
            rejected++;
            CHECK(strlen(rad_last_error()) > 10);
        }
    }
    printf("%s: %zu truncations, %zu rejected, %zu loaded (at field boundaries); e.g. %s\n", rel, tried, rejected,
           loaded, rad_last_error());
    CHECK(rejected > 0);
    free(d);
}

/* Flipping bytes of a real model never crashes; whatever loads also encodes. */
static void check_corruptions(const char *rel) {
    size_t n;
    unsigned char *d = read_all(rel, &n);
    if (!d) return;
    unsigned seed = 12345;
    size_t loaded = 0;
    for (int trial = 0; trial < 3000; trial++) {
        unsigned char *c = malloc(n);
        memcpy(c, d, n);
        for (int k = 0; k < 1 + trial % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            c[(seed >> 8) % n] = (unsigned char)(seed >> 20);
        }
        rad_spm *spm;
        if (rad_spm_load_memory(c, n, rel, &spm) == RAD_OK) {
            loaded++;
            int32_t *ids;
            size_t k;
            if (rad_spm_encode(spm, "the Ａ cat ① \xf0\x9f\x90\xb1 walks  on\tgrass \xff", &ids, &k) == RAD_OK)
                rad_free(ids);
            rad_spm_free(spm);
        }
        free(c);
    }
    printf("%s: 3000 corruptions, %zu still loaded\n", rel, loaded);
    free(d);
}

static void check_files(void) {
    rad_spm *spm;
    char path[1024];
    CHECK_FAILS(rad_spm_load("/nonexistent/spiece.model", &spm));
    CHECK_FAILS(rad_spm_load(rad_test_path(path, sizeof path, "masks"), &spm)); /* a folder without one */
    CHECK_FAILS(rad_spm_load(rad_test_path(path, sizeof path, "cases/tokenizer.json"), &spm));

    /* ComfyUI single-file T5: the model bytes as a U8 tensor spiece_model. */
    size_t n;
    unsigned char *d = read_all("spm/ident.model", &n);
    CHECK(d != NULL);
    if (!d) return;
    char tmp[] = "/tmp/rad_spm_XXXXXX.safetensors";
    int fd = mkstemps(tmp, 12);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    float w = 1.0f;
    rad_st_out t[2] = {{"spiece_model", RAD_DT_U8, 1, {(int64_t)n}, d}, {"shared.weight", RAD_DT_F32, 1, {1}, &w}};
    CHECK_OK(rad_st_write(tmp, t, 2, NULL, 0));
    CHECK_OK(rad_spm_load(tmp, &spm));
    if (spm) {
        CHECK(rad_spm_size(spm) == 150);
        rad_spm_free(spm);
    }
    t[0].dtype = RAD_DT_F32; /* wrong dtype */
    t[0].shape[0] = (int64_t)n / 4;
    CHECK_OK(rad_st_write(tmp, t, 2, NULL, 0));
    CHECK_FAILS(rad_spm_load(tmp, &spm));
    CHECK_OK(rad_st_write(tmp, t + 1, 1, NULL, 0)); /* no tokenizer */
    CHECK_FAILS(rad_spm_load(tmp, &spm));
    remove(tmp);
    free(d);
}

int main(void) {
    check_hand_model();
    check_charsmap();
    check_malformed();
    check_truncations("spm/ident.model", 1);
    check_truncations("spm/suffix.model", 1);
    check_truncations("tiny-wan/tokenizer/spiece.model", 499);
    check_corruptions("spm/suffix.model");
    check_files();
    TEST_MAIN_END();
}
