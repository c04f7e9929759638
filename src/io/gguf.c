/* GGUF v3 reader (spec formats.md §1.2; the reliability goal of §1.3). The image is parsed front to back with a
 * bounds-checked cursor: every length, count, dimension and offset is checked against a cap and against the
 * bytes that remain before anything is allocated from it or read past it, so a malformed file gets an error that
 * names the file and the fault, never a crash, a hang or a huge allocation. The fault names are those of ggml's
 * tests/test-gguf.cpp (HEADER_BAD_MAGIC, KV_DUPLICATE_KEY, TENSORS_BAD_ALIGN, DATA_NOT_ENOUGH_DATA, ...) where
 * one exists, so that a rejection can be matched to ggml's list. Tensor data stays in the mapping. */
#include "io/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/utf8.h"
#include "io/file.h"
#include "io/quants.h"

#define GGUF_VERSION 3
#define GGUF_MAX_TENSORS (1u << 20) /* Wan 14B has ~1,100 tensors; the largest LLM files a few thousand */
#define GGUF_MAX_KV (1u << 20)
#define GGUF_MAX_KEY 65535          /* formats.md §1.2 */
#define GGUF_MAX_NAME 64            /* ggml's GGML_MAX_NAME (ggml itself keeps a byte of it for the NUL) */
#define GGUF_MAX_ALIGN (1u << 20)   /* 1 MiB (ggml PR #1516's proposal): padding cannot be used to hide data */
#define GGUF_MAX_ARRAY_DEPTH 2      /* an array of arrays at most */
#define GGUF_DEFAULT_ALIGN 32
#define GGUF_TEXT_MAX 160           /* rendered metadata values are cut here (with "...") */
#define GGUF_TEXT_ITEMS 8           /* array items shown before "..." */
#define ORIG_SHAPE_PREFIX "comfy.gguf.orig_shape."

/* GGUF metadata value types (gguf.md). */
enum {
    GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64, GT_COUNT
};
static const char *const k_vt_names[GT_COUNT] = {"u8",  "i8",  "u16", "i16", "u32", "i32", "f32",
                                                 "bool", "str", "arr", "u64", "i64", "f64"};
/* Bytes of a fixed-size value; for strings and arrays the least bytes one can take (length/type+count fields),
 * which bounds how many items the rest of the file could hold. */
static const size_t k_vt_min[GT_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

static bool vt_is_int(uint32_t t) { return t <= GT_I32 || t == GT_U64 || t == GT_I64; }

/* ggml's tensor types by id (ggml.h enum ggml_type): the name for messages and what radial maps it to. Ids
 * marked removed are holes ggml no longer accepts in files. */
typedef enum { TY_OK, TY_UNSUPPORTED, TY_REMOVED } ty_kind;
static const struct {
    const char *name;
    ty_kind kind;
    rad_dtype dt;
} k_types[] = {
    {"F32", TY_OK, RAD_DT_F32},                   {"F16", TY_OK, RAD_DT_F16},
    {"Q4_0", TY_OK, RAD_DT_Q4_0},                 {"Q4_1", TY_OK, RAD_DT_Q4_1},
    {"Q4_2", TY_REMOVED, RAD_DT_OTHER},           {"Q4_3", TY_REMOVED, RAD_DT_OTHER},
    {"Q5_0", TY_OK, RAD_DT_Q5_0},                 {"Q5_1", TY_OK, RAD_DT_Q5_1},
    {"Q8_0", TY_OK, RAD_DT_Q8_0},                 {"Q8_1", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"Q2_K", TY_UNSUPPORTED, RAD_DT_OTHER},       {"Q3_K", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"Q4_K", TY_OK, RAD_DT_Q4_K},                 {"Q5_K", TY_OK, RAD_DT_Q5_K},
    {"Q6_K", TY_OK, RAD_DT_Q6_K},                 {"Q8_K", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"IQ2_XXS", TY_UNSUPPORTED, RAD_DT_OTHER},    {"IQ2_XS", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"IQ3_XXS", TY_UNSUPPORTED, RAD_DT_OTHER},    {"IQ1_S", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"IQ4_NL", TY_UNSUPPORTED, RAD_DT_OTHER},     {"IQ3_S", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"IQ2_S", TY_UNSUPPORTED, RAD_DT_OTHER},      {"IQ4_XS", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"I8", TY_UNSUPPORTED, RAD_DT_OTHER},         {"I16", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"I32", TY_UNSUPPORTED, RAD_DT_OTHER},        {"I64", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"F64", TY_UNSUPPORTED, RAD_DT_OTHER},        {"IQ1_M", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"BF16", TY_OK, RAD_DT_BF16},                 {"Q4_0_4_4", TY_REMOVED, RAD_DT_OTHER},
    {"Q4_0_4_8", TY_REMOVED, RAD_DT_OTHER},       {"Q4_0_8_8", TY_REMOVED, RAD_DT_OTHER},
    {"TQ1_0", TY_UNSUPPORTED, RAD_DT_OTHER},      {"TQ2_0", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"IQ4_NL_4_4", TY_REMOVED, RAD_DT_OTHER},     {"IQ4_NL_4_8", TY_REMOVED, RAD_DT_OTHER},
    {"IQ4_NL_8_8", TY_REMOVED, RAD_DT_OTHER},     {"MXFP4", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"NVFP4", TY_UNSUPPORTED, RAD_DT_OTHER},      {"Q1_0", TY_UNSUPPORTED, RAD_DT_OTHER},
    {"Q2_0", TY_UNSUPPORTED, RAD_DT_OTHER},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

typedef struct gguf_kv {
    char *key;
    char *text;       /* the value rendered for listing */
    char *str;        /* a top-level string value, NUL-terminated (NULL for other types or one holding a NUL) */
    uint32_t type;    /* GT_* */
    uint32_t arr_type; /* element type when type == GT_ARR */
    uint64_t count;   /* array items */
    size_t val_off;   /* image offset of the value (of the first item for arrays) */
} gguf_kv;

struct rad_gguf {
    char *label;
    void *map; /* the mmap of a file (size bytes), or NULL for an in-memory image */
    const uint8_t *base;
    size_t size;
    uint32_t version;
    gguf_kv *kv;
    size_t n_kv;
    rad_st_tensor *tensors; /* file order */
    char *names;            /* the tensors' names, GGUF_MAX_NAME + 1 bytes each (one allocation, not one per tensor) */
    uint64_t *offsets;      /* data-section offset of each tensor */
    size_t n;
    const rad_st_tensor **by_name; /* sorted by name */
};

/* ---------------------------------------------------------------------------------------------------------- */
/* Bounds-checked cursor */

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *label;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

static rad_status need(const cursor *c, size_t n, const char *what) {
    if (n > left(c))
        return rad_err(RADIAL_ERR_FORMAT, "%s: TRUNCATED (%s at byte %zu needs %zu bytes; the file ends at byte %zu)", c->label,
                       what, c->pos, n, c->size);
    return RAD_OK;
}

static uint64_t le_at(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static rad_status rd_u32(cursor *c, const char *what, uint32_t *v) {
    RAD_TRY(need(c, 4, what));
    *v = (uint32_t)le_at(c->p + c->pos, 4);
    c->pos += 4;
    return RAD_OK;
}

static rad_status rd_u64(cursor *c, const char *what, uint64_t *v) {
    RAD_TRY(need(c, 8, what));
    *v = le_at(c->p + c->pos, 8);
    c->pos += 8;
    return RAD_OK;
}

/* A string (u64 length + bytes), the bytes left in the image (*s, *len). */
static rad_status rd_str(cursor *c, const char *what, const uint8_t **s, uint64_t *len) {
    RAD_TRY(rd_u64(c, what, len));
    if (*len > left(c))
        return rad_err(RADIAL_ERR_FORMAT, "%s: TRUNCATED (%s at byte %zu is %llu bytes long; only %zu bytes remain)", c->label, what,
                       c->pos - 8, (unsigned long long)*len, left(c));
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return RAD_OK;
}

/* Whether s[0 .. n) is strict UTF-8 without NUL bytes (keys and names become C strings). */
static bool text_ok(const uint8_t *s, size_t n) {
    uint32_t cp;
    size_t k;
    for (size_t i = 0; i < n; i += k)
        if (!rad_utf8_decode(s + i, n - i, &cp, &k) || cp == 0) return false;
    return true;
}

static char *dup_bytes(const uint8_t *s, size_t n) {
    char *r = malloc(n + 1);
    if (r) {
        if (n) memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Rendering values as short text */

typedef struct {
    char s[GGUF_TEXT_MAX + 4];
    size_t n;
    bool cut;
} text_buf;

static void tb_put(text_buf *b, const char *s, size_t len) {
    if (b->cut) return;
    if (len > GGUF_TEXT_MAX - b->n) {
        size_t k = GGUF_TEXT_MAX - b->n;
        while (k > 0 && (s[k] & 0xc0) == 0x80) k--; /* do not split a UTF-8 character */
        memcpy(b->s + b->n, s, k);
        b->n += k;
        memcpy(b->s + b->n, "...", 4);
        b->n += 3;
        b->cut = true;
        return;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void tb_puts(text_buf *b, const char *s) { tb_put(b, s, strlen(s)); }

/* Text as is where it is printable UTF-8; control characters and bytes that are not UTF-8 as \xNN. */
static void tb_string(text_buf *b, const uint8_t *s, size_t n, bool quoted) {
    if (quoted) tb_puts(b, "\"");
    uint32_t cp;
    size_t k;
    for (size_t i = 0; i < n && !b->cut; i += k) {
        if (!rad_utf8_decode(s + i, n - i, &cp, &k) || cp < 0x20 || cp == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", s[i]);
            tb_puts(b, esc);
            k = 1;
        } else if (quoted && (cp == '"' || cp == '\\')) {
            char esc[3] = {'\\', (char)cp, 0};
            tb_puts(b, esc);
        } else {
            tb_put(b, (const char *)s + i, k);
        }
    }
    if (quoted) tb_puts(b, "\"");
}

static void tb_scalar(text_buf *b, uint32_t t, const uint8_t *p) {
    char v[40];
    const uint64_t u = le_at(p, (int)k_vt_min[t]);
    switch (t) {
    case GT_U8: case GT_U16: case GT_U32: case GT_U64: snprintf(v, sizeof v, "%llu", (unsigned long long)u); break;
    case GT_I8: snprintf(v, sizeof v, "%d", (int)(int8_t)u); break;
    case GT_I16: snprintf(v, sizeof v, "%d", (int)(int16_t)u); break;
    case GT_I32: snprintf(v, sizeof v, "%ld", (long)(int32_t)u); break;
    case GT_I64: snprintf(v, sizeof v, "%lld", (long long)(int64_t)u); break;
    case GT_F32: {
        float f;
        uint32_t w = (uint32_t)u;
        memcpy(&f, &w, 4);
        snprintf(v, sizeof v, "%.9g", (double)f);
        break;
    }
    case GT_F64: {
        double f;
        memcpy(&f, &u, 8);
        snprintf(v, sizeof v, "%.17g", f);
        break;
    }
    default: snprintf(v, sizeof v, "%s", u ? "true" : "false"); break; /* GT_BOOL */
    }
    tb_puts(b, v);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Metadata */

/* Walks one value of type t (validating it), rendering it into b when b is not NULL. depth: arrays enclosing it. */
static rad_status walk_value(cursor *c, const char *key, uint32_t t, int depth, text_buf *b) {
    const char *L = c->label;
    if (t == GT_STR) {
        const uint8_t *s = NULL;
        uint64_t n = 0;
        RAD_TRY(rd_str(c, "a string value", &s, &n));
        if (b) tb_string(b, s, (size_t)n, depth > 0);
        return RAD_OK;
    }
    if (t != GT_ARR) {
        RAD_TRY(need(c, k_vt_min[t], "a metadata value"));
        const uint8_t *p = c->p + c->pos;
        if (t == GT_BOOL && *p > 1)
            return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_VALUE (key '%.128s': bool value %u at byte %zu is neither 0 nor 1)", L, key, *p,
                           c->pos);
        if (b) tb_scalar(b, t, p);
        c->pos += k_vt_min[t];
        return RAD_OK;
    }
    uint32_t et;
    uint64_t count;
    RAD_TRY(rd_u32(c, "an array type", &et));
    if (et >= GT_COUNT)
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_TYPE (key '%.128s': array element type %lu is not a GGUF value type 0..12)", L, key,
                       (unsigned long)et);
    if (et == GT_ARR && depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_TYPE (key '%.128s': arrays nested deeper than %d levels)", L, key,
                       GGUF_MAX_ARRAY_DEPTH);
    RAD_TRY(rd_u64(c, "an array length", &count));
    if (count > left(c) / k_vt_min[et])
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: KV_BAD_ARRAY_SIZE (key '%.128s': %llu items of %s cannot fit in the %zu bytes that remain)", L, key,
                       (unsigned long long)count, k_vt_names[et], left(c));
    if (b) {
        char h[48];
        snprintf(h, sizeof h, "[%s x %llu%s", k_vt_names[et], (unsigned long long)count, count ? ": " : "");
        tb_puts(b, h);
    }
    if (et != GT_STR && et != GT_ARR && et != GT_BOOL) {
        /* fixed-size items, checked above to fit and holding nothing to validate: render the first few, skip */
        for (uint64_t i = 0; b && i < count && i < GGUF_TEXT_ITEMS; i++) {
            if (i) tb_puts(b, ", ");
            tb_scalar(b, et, c->p + c->pos + (size_t)i * k_vt_min[et]);
        }
        c->pos += (size_t)count * k_vt_min[et];
    } else {
        for (uint64_t i = 0; i < count; i++) {
            text_buf *ib = b && i < GGUF_TEXT_ITEMS ? b : NULL;
            if (ib && i) tb_puts(b, ", ");
            RAD_TRY(walk_value(c, key, et, depth + 1, ib));
        }
    }
    if (b) tb_puts(b, count > GGUF_TEXT_ITEMS ? ", ...]" : "]");
    return RAD_OK;
}

static rad_status parse_kv(rad_gguf *g, cursor *c, gguf_kv *kv, uint64_t i) {
    const char *L = g->label;
    const uint8_t *k;
    uint64_t klen;
    RAD_TRY(rd_u64(c, "a key length", &klen));
    if (klen == 0 || klen > GGUF_MAX_KEY)
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_KEY_SIZE (key %llu at byte %zu: length %llu is not in 1..%d)", L,
                       (unsigned long long)i, c->pos - 8, (unsigned long long)klen, GGUF_MAX_KEY);
    if (klen > left(c))
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_KEY_SIZE (key %llu at byte %zu: length %llu goes past the end of the file)", L,
                       (unsigned long long)i, c->pos - 8, (unsigned long long)klen);
    k = c->p + c->pos;
    c->pos += (size_t)klen;
    if (!text_ok(k, (size_t)klen))
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_KEY (key %llu at byte %zu is not UTF-8 text without NUL bytes)", L,
                       (unsigned long long)i, c->pos - (size_t)klen);
    if (!(kv->key = dup_bytes(k, (size_t)klen))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
    RAD_TRY(rd_u32(c, "a value type", &kv->type));
    if (kv->type >= GT_COUNT)
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_TYPE (key '%.128s': value type %lu is not a GGUF value type 0..12)", L, kv->key,
                       (unsigned long)kv->type);
    text_buf b = {.n = 0};
    b.s[0] = 0;
    kv->val_off = c->pos;
    if (kv->type == GT_ARR) {
        /* note the element type and count for typed lookups (orig_shape) before walking */
        if (left(c) >= 12) {
            kv->arr_type = (uint32_t)le_at(c->p + c->pos, 4);
            kv->count = le_at(c->p + c->pos + 4, 8);
            kv->val_off = c->pos + 12;
        }
    }
    const size_t start = c->pos;
    RAD_TRY(walk_value(c, kv->key, kv->type, 0, &b));
    if (kv->type == GT_STR) {
        const size_t n = c->pos - start - 8;
        const uint8_t *s = c->p + start + 8;
        if (!memchr(s, 0, n) && !(kv->str = dup_bytes(s, n))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
    }
    if (!(kv->text = dup_bytes((const uint8_t *)b.s, b.n))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
    return RAD_OK;
}

static int cmp_kv_ptr(const void *a, const void *b) {
    return strcmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}

static const gguf_kv *find_kv(const rad_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

/* Duplicate keys, general.alignment and general.architecture. */
static rad_status check_kv(rad_gguf *g, uint32_t *alignment) {
    const char *L = g->label;
    if (g->n_kv > 1) {
        const gguf_kv **idx = malloc(g->n_kv * sizeof *idx);
        if (!idx) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
        for (size_t i = 0; i < g->n_kv; i++) idx[i] = &g->kv[i];
        qsort(idx, g->n_kv, sizeof *idx, cmp_kv_ptr);
        for (size_t i = 1; i < g->n_kv; i++)
            if (!strcmp(idx[i - 1]->key, idx[i]->key)) {
                rad_status st = rad_err(RADIAL_ERR_FORMAT, "%s: KV_DUPLICATE_KEY (key '%.128s' appears more than once)", L, idx[i]->key);
                free(idx);
                return st;
            }
        free(idx);
    }
    *alignment = GGUF_DEFAULT_ALIGN;
    const gguf_kv *a = find_kv(g, "general.alignment");
    if (a) {
        if (a->type != GT_U32)
            return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ALIGN (general.alignment must be a u32, found %s)", L, k_vt_names[a->type]);
        const uint32_t v = (uint32_t)le_at(g->base + a->val_off, 4);
        if (v == 0 || (v & (v - 1)) || v > GGUF_MAX_ALIGN)
            return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ALIGN (general.alignment %lu is not a power of two in 1..%u)", L,
                           (unsigned long)v, GGUF_MAX_ALIGN);
        *alignment = v;
    }
    const gguf_kv *arch = find_kv(g, "general.architecture");
    if (!arch)
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_NO_ARCHITECTURE (the required key general.architecture is missing)", L);
    if (arch->type != GT_STR || !arch->str || !arch->str[0] || !text_ok((const uint8_t *)arch->str, strlen(arch->str)))
        return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ARCHITECTURE (general.architecture must be a non-empty UTF-8 string, found %s)",
                       L, arch->type == GT_STR ? "another string" : k_vt_names[arch->type]);
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Tensor infos */

static rad_status parse_tensor(rad_gguf *g, cursor *c, uint64_t i, rad_st_tensor *t, uint64_t *offset) {
    const char *L = g->label;
    const uint8_t *s;
    uint64_t nlen;
    RAD_TRY(rd_u64(c, "a tensor name length", &nlen));
    if (nlen == 0 || nlen > GGUF_MAX_NAME)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_NAME_SIZE (tensor %llu at byte %zu: name length %llu is not in 1..%d)", L,
                       (unsigned long long)i, c->pos - 8, (unsigned long long)nlen, GGUF_MAX_NAME);
    RAD_TRY(need(c, (size_t)nlen, "a tensor name"));
    s = c->p + c->pos;
    c->pos += (size_t)nlen;
    if (!text_ok(s, (size_t)nlen))
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_NAME (tensor %llu: the name is not UTF-8 text without NUL bytes)", L,
                       (unsigned long long)i);
    char *name = g->names + (size_t)i * (GGUF_MAX_NAME + 1); /* zeroed: the NUL is already there */
    memcpy(name, s, (size_t)nlen);
    t->name = name;

    uint32_t nd;
    RAD_TRY(rd_u32(c, "n_dims", &nd));
    /* ggml stops at 4 dims, but the Python gguf writer stores Wan's 5-D patch_embedding as is */
    if (nd < 1 || nd > RAD_MAX_DIMS)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_N_DIMS (tensor '%s': n_dims %lu is not in 1..%d)", L, name,
                       (unsigned long)nd, RAD_MAX_DIMS);
    uint64_t ne[RAD_MAX_DIMS], numel = 1;
    RAD_TRY(need(c, (size_t)nd * 8, "tensor dims"));
    for (uint32_t d = 0; d < nd; d++) {
        RAD_TRY(rd_u64(c, "a tensor dim", &ne[d]));
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX)
            return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_SHAPE (tensor '%s': ne[%lu] = %lld is not a positive count)", L, name,
                           (unsigned long)d, (long long)ne[d]);
    }
    for (uint32_t d = 0; d < nd; d++)
        if (__builtin_mul_overflow(numel, ne[d], &numel) || numel > (uint64_t)INT64_MAX)
            return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_NE_TOO_BIG (tensor '%s': the element count overflows 63 bits)", L, name);

    uint32_t type;
    RAD_TRY(rd_u32(c, "a tensor type", &type));
    if (type >= N_TYPES)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_TYPE (tensor '%s': ggml type %lu is out of range 0..%zu)", L, name,
                       (unsigned long)type, N_TYPES - 1);
    if (k_types[type].kind == TY_REMOVED)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_TYPE (tensor '%s': ggml type %lu (%s) was removed from GGUF)", L, name,
                       (unsigned long)type, k_types[type].name);
    if (k_types[type].kind == TY_UNSUPPORTED)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported GGUF tensor type %s", L, name, k_types[type].name);
    t->dtype = k_types[type].dt;
    t->dtype_name = k_types[type].name;
    const int64_t be = rad_quant_block_elems(t->dtype);
    if ((int64_t)ne[0] % be)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_ROW_SIZE (tensor '%s': ne[0] = %lld is not a whole number of %s blocks of %lld)",
                       L, name, (long long)ne[0], t->dtype_name, (long long)be);
    if (rad_quant_bytes(t->dtype, (int64_t)numel, name, &t->nbytes) != RAD_OK)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_NBYTES_TOO_BIG (tensor '%s': %llu elements of %s overflow a size)", L, name,
                       (unsigned long long)numel, t->dtype_name);
    /* PyTorch order: GGUF's ne[0] is the innermost (fastest) dim */
    t->ndim = (int)nd;
    for (uint32_t d = 0; d < nd; d++) t->shape[d] = (int64_t)ne[nd - 1 - d];
    t->numel = (int64_t)numel;
    return rd_u64(c, "a tensor offset", offset);
}

typedef struct {
    uint64_t begin, end;
    size_t idx;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const rad_st_tensor *const *)a)->name, (*(const rad_st_tensor *const *)b)->name);
}

/* Offsets: aligned, inside the file, not overlapping; then the data pointers. */
static rad_status place_tensors(rad_gguf *g, size_t data_start, uint32_t alignment) {
    const char *L = g->label;
    const size_t avail = g->size - data_start;
    span *sp = malloc(g->n * sizeof *sp);
    if (!sp) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
    rad_status st = RAD_OK;
    for (size_t i = 0; i < g->n && st == RAD_OK; i++) {
        const rad_st_tensor *t = &g->tensors[i];
        const uint64_t off = g->offsets[i];
        if (off % alignment)
            st = rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_BAD_ALIGN (tensor '%s': offset %llu is not a multiple of the alignment %lu)", L,
                         t->name, (unsigned long long)off, (unsigned long)alignment);
        else if (off > avail)
            st = rad_err(RADIAL_ERR_FORMAT,
                         "%s: TENSORS_BAD_OFFSET (tensor '%s': offset %llu is past the end of the %zu-byte data section)", L, t->name,
                         (unsigned long long)off, avail);
        else if (t->nbytes > avail - off)
            st = rad_err(RADIAL_ERR_FORMAT,
                         "%s: DATA_NOT_ENOUGH_DATA (tensor '%s': %zu bytes at offset %llu of the data section, which has %zu: truncated)",
                         L, t->name, t->nbytes, (unsigned long long)off, avail);
        sp[i] = (span){off, off + t->nbytes, i};
    }
    if (st == RAD_OK) {
        qsort(sp, g->n, sizeof *sp, cmp_span);
        for (size_t k = 1; k < g->n && st == RAD_OK; k++)
            if (sp[k].begin < sp[k - 1].end)
                st = rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_OVERLAP (tensor '%s' at %llu..%llu overlaps '%s' at %llu..%llu)", L,
                             g->tensors[sp[k].idx].name, (unsigned long long)sp[k].begin, (unsigned long long)sp[k].end,
                             g->tensors[sp[k - 1].idx].name, (unsigned long long)sp[k - 1].begin, (unsigned long long)sp[k - 1].end);
    }
    free(sp);
    if (st != RAD_OK) return st;
    for (size_t i = 0; i < g->n; i++) g->tensors[i].data = g->base + data_start + g->offsets[i];
    return RAD_OK;
}

/* comfy.gguf.orig_shape.<name>: the PyTorch shape of a tensor stored flattened (ComfyUI-GGUF's convert.py). */
static rad_status apply_orig_shapes(rad_gguf *g) {
    const char *L = g->label;
    const size_t plen = strlen(ORIG_SHAPE_PREFIX);
    for (size_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        if (strncmp(kv->key, ORIG_SHAPE_PREFIX, plen)) continue;
        const char *name = kv->key + plen;
        const rad_st_tensor *found = rad_gguf_find(g, name);
        if (!found) return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ORIG_SHAPE (%.160s names no tensor of the file)", L, kv->key);
        if (kv->type != GT_ARR || !vt_is_int(kv->arr_type) || kv->count < 1 || kv->count > RAD_MAX_DIMS)
            return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ORIG_SHAPE (%.160s must be an array of 1..%d integers, found %s)", L, kv->key,
                           RAD_MAX_DIMS, kv->text);
        rad_st_tensor *t = &g->tensors[found - g->tensors];
        int64_t shape[RAD_MAX_DIMS];
        uint64_t numel = 1;
        const size_t es = k_vt_min[kv->arr_type];
        for (uint64_t d = 0; d < kv->count; d++) {
            const uint64_t u = le_at(g->base + kv->val_off + d * es, (int)es);
            int64_t v;
            switch (kv->arr_type) { /* sign-extend the signed types */
            case GT_I8: v = (int8_t)u; break;
            case GT_I16: v = (int16_t)u; break;
            case GT_I32: v = (int32_t)u; break;
            default: v = u > (uint64_t)INT64_MAX ? -1 : (int64_t)u; break;
            }
            if (v < 1)
                return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ORIG_SHAPE (%.160s: dim %llu = %lld is not a positive count)", L, kv->key,
                               (unsigned long long)d, (long long)v);
            shape[d] = v;
            if (__builtin_mul_overflow(numel, (uint64_t)v, &numel))
                return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ORIG_SHAPE (%.160s: the element count overflows)", L, kv->key);
        }
        if (numel != (uint64_t)t->numel) {
            char a[96], b[96];
            rad_shape_str(shape, (int)kv->count, a, sizeof a);
            rad_shape_str(t->shape, t->ndim, b, sizeof b);
            return rad_err(RADIAL_ERR_FORMAT, "%s: KV_BAD_ORIG_SHAPE (%.160s = %s has %llu elements, the tensor %s has %lld)", L, kv->key, a,
                           (unsigned long long)numel, b, (long long)t->numel);
        }
        t->ndim = (int)kv->count;
        memset(t->shape, 0, sizeof t->shape);
        memcpy(t->shape, shape, (size_t)kv->count * sizeof *shape);
    }
    return RAD_OK;
}

/* ---------------------------------------------------------------------------------------------------------- */

static rad_status parse_image(rad_gguf *g) {
    const char *L = g->label;
    cursor c = {g->base, g->size, 0, L};
    if (g->size < 4 || memcmp(g->base, "GGUF", 4))
        return rad_err(RADIAL_ERR_FORMAT, "%s: HEADER_BAD_MAGIC (expected the magic 'GGUF' (47 47 55 46) at byte 0, found %s)", L,
                       g->size < 4 ? "a file shorter than 4 bytes" : "other bytes");
    c.pos = 4;
    RAD_TRY(rd_u32(&c, "the version", &g->version));
    if (g->version != GGUF_VERSION) {
        if (g->version == 0x03000000u)
            return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: HEADER_BAD_VERSION (a big-endian GGUF file; only little-endian is read)", L);
        if (g->version == 1 || g->version == 2)
            return rad_err(RADIAL_ERR_UNSUPPORTED,
                           "%s: HEADER_BAD_VERSION (GGUF version %lu is no longer supported; only version 3 is read: convert the file with a current gguf writer)",
                           L, (unsigned long)g->version);
        if (g->version > GGUF_VERSION)
            return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: HEADER_BAD_VERSION (GGUF version %lu is newer than this reader, which reads version 3)",
                           L, (unsigned long)g->version);
        return rad_err(RADIAL_ERR_FORMAT, "%s: HEADER_BAD_VERSION (GGUF version 0 does not exist)", L);
    }
    uint64_t n_tensors, n_kv;
    RAD_TRY(rd_u64(&c, "the tensor count", &n_tensors));
    RAD_TRY(rd_u64(&c, "the metadata count", &n_kv));
    /* The least bytes a tensor info can take: name length + 1-byte name, n_dims, one dim, type, offset. And a KV:
     * key length + 1-byte key, type, a 1-byte value. */
    const size_t min_tensor = 8 + 1 + 4 + 8 + 4 + 8, min_kv = 8 + 1 + 4 + 1;
    if (n_tensors > GGUF_MAX_TENSORS || n_tensors > left(&c) / min_tensor)
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: HEADER_BAD_N_TENSORS (%llu tensors: more than the limit of %u or than the %zu bytes left could describe)", L,
                       (unsigned long long)n_tensors, GGUF_MAX_TENSORS, left(&c));
    if (n_kv > GGUF_MAX_KV || n_kv > left(&c) / min_kv)
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: HEADER_BAD_N_KV (%llu metadata pairs: more than the limit of %u or than the %zu bytes left could hold)", L,
                       (unsigned long long)n_kv, GGUF_MAX_KV, left(&c));
    if (n_tensors * min_tensor + n_kv * min_kv > left(&c)) /* both capped at 2^20 above: no overflow */
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: HEADER_BAD_N_TENSORS (%llu tensors and %llu metadata pairs cannot fit in the %zu bytes left)", L,
                       (unsigned long long)n_tensors, (unsigned long long)n_kv, left(&c));
    if (n_kv && !(g->kv = calloc((size_t)n_kv, sizeof *g->kv))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv++; /* counted before parsing so that close() frees a partial entry */
        RAD_TRY(parse_kv(g, &c, &g->kv[i], i));
    }
    uint32_t alignment = GGUF_DEFAULT_ALIGN;
    RAD_TRY(check_kv(g, &alignment));

    if (n_tensors && (!(g->tensors = calloc((size_t)n_tensors, sizeof *g->tensors)) ||
                      !(g->offsets = calloc((size_t)n_tensors, sizeof *g->offsets)) ||
                      !(g->names = calloc((size_t)n_tensors, GGUF_MAX_NAME + 1)) ||
                      !(g->by_name = calloc((size_t)n_tensors, sizeof *g->by_name))))
        return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for %llu tensors", L, (unsigned long long)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n++;
        RAD_TRY(parse_tensor(g, &c, i, &g->tensors[i], &g->offsets[i]));
        g->by_name[i] = &g->tensors[i];
    }
    if (g->n > 1) qsort(g->by_name, g->n, sizeof *g->by_name, cmp_tensor_ptr); /* NULL is not a valid qsort array */
    for (size_t i = 1; i < g->n; i++)
        if (!strcmp(g->by_name[i - 1]->name, g->by_name[i]->name))
            return rad_err(RADIAL_ERR_FORMAT, "%s: TENSORS_DUPLICATE_NAME (tensor name '%s' appears more than once)", L,
                           g->by_name[i]->name);
    if (g->n) {
        /* the data section starts at the aligned end of the tensor infos */
        size_t data_start = c.pos;
        const size_t padding = (alignment - data_start % alignment) % alignment;
        if (__builtin_add_overflow(data_start, padding, &data_start) || data_start > g->size)
            return rad_err(RADIAL_ERR_FORMAT,
                           "%s: DATA_NOT_ENOUGH_DATA (the data section should start at byte %zu, after the padding to %lu, but the file ends at byte %zu)",
                           L, data_start, (unsigned long)alignment, g->size);
        RAD_TRY(place_tensors(g, data_start, alignment));
    }
    return apply_orig_shapes(g);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Open / close / lookup */

bool rad_gguf_sniff(const char *path) {
    int fd;
    size_t size;
    if (rad_file_open(path, &fd, &size) != RAD_OK) return false;
    uint8_t m[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, m + got, 4 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    return got == 4 && !memcmp(m, "GGUF", 4);
}

static rad_status new_handle(const char *label, rad_gguf **out) {
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->label = strdup(label ? label : "(memory)"))) {
        free(*out);
        *out = NULL;
        return rad_err(RADIAL_ERR_NOMEM, "out of memory opening %s", label ? label : "(memory)");
    }
    return RAD_OK;
}

rad_status rad_gguf_open_memory(const void *data, size_t size, const char *label, rad_gguf **out) {
    rad_gguf *g;
    *out = NULL;
    RAD_TRY(new_handle(label, &g));
    g->base = size ? data : (const uint8_t *)"";
    g->size = size;
    rad_status st = parse_image(g);
    if (st != RAD_OK) {
        rad_gguf_close(g);
        return st;
    }
    *out = g;
    return RAD_OK;
}

rad_status rad_gguf_open(const char *path, rad_gguf **out) {
    *out = NULL;
    rad_gguf *g;
    RAD_TRY(new_handle(path, &g));
    rad_status st = rad_file_map(path, &g->map, &g->base, &g->size);
    if (st == RAD_OK) st = parse_image(g);
    if (st != RAD_OK) {
        rad_gguf_close(g);
        return st;
    }
    *out = g;
    return RAD_OK;
}

void rad_gguf_close(rad_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].text);
        free(g->kv[i].str);
    }
    free(g->kv);
    free(g->names);
    free(g->tensors);
    free(g->offsets);
    free(g->by_name);
    rad_file_unmap(g->map, g->size);
    free(g->label);
    free(g);
}

const char *rad_gguf_path(const rad_gguf *g) { return g->label; }
uint32_t rad_gguf_version(const rad_gguf *g) { return g->version; }
size_t rad_gguf_count(const rad_gguf *g) { return g->n; }
const rad_st_tensor *rad_gguf_at(const rad_gguf *g, size_t i) { return i < g->n ? &g->tensors[i] : NULL; }

static int cmp_name_key(const void *name, const void *entry) {
    return strcmp(name, (*(const rad_st_tensor *const *)entry)->name);
}

const rad_st_tensor *rad_gguf_find(const rad_gguf *g, const char *name) {
    const rad_st_tensor *const *e = g->n ? bsearch(name, g->by_name, g->n, sizeof *g->by_name, cmp_name_key) : NULL;
    return e ? *e : NULL;
}

size_t rad_gguf_meta_count(const rad_gguf *g) { return g->n_kv; }

void rad_gguf_meta_at(const rad_gguf *g, size_t i, const char **key, const char **value) {
    *key = i < g->n_kv ? g->kv[i].key : NULL;
    *value = i < g->n_kv ? g->kv[i].text : NULL;
}

const char *rad_gguf_meta_str(const rad_gguf *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    return kv && kv->type == GT_STR ? kv->str : NULL;
}
