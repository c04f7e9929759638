/* safetensors reader and writer. The reader follows the reference Rust reader check by check (spec
 * formats.md §1.1); the fault names in messages are the reference error names so that a rejection can be
 * matched against it. Every size is computed with overflow checks before it is used. */
#include "io/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/half.h"
#include "base/mem.h"
#include "base/threads.h"
#include "base/utf8.h"
#include "io/file.h"
#include "io/quants.h"

#define ST_MAX_HEADER 100000000ull /* MAX_HEADER_SIZE of the reference reader */
#define ST_MAX_NAME 65536          /* names and metadata keys (formats.md §1.3 caps) */

/* Every dtype name of the format, with its size in bits. */
static const struct {
    const char *name;
    rad_dtype dt;
    unsigned bits;
} k_dtypes[] = {
    {"BOOL", RAD_DT_BOOL, 8},           {"U8", RAD_DT_U8, 8},
    {"I8", RAD_DT_I8, 8},               {"I16", RAD_DT_I16, 16},
    {"U16", RAD_DT_U16, 16},            {"F16", RAD_DT_F16, 16},
    {"BF16", RAD_DT_BF16, 16},          {"I32", RAD_DT_I32, 32},
    {"U32", RAD_DT_U32, 32},            {"F32", RAD_DT_F32, 32},
    {"F64", RAD_DT_F64, 64},            {"I64", RAD_DT_I64, 64},
    {"U64", RAD_DT_U64, 64},            {"F8_E4M3", RAD_DT_F8_E4M3, 8},
    {"F8_E5M2", RAD_DT_F8_E5M2, 8},     {"F4", RAD_DT_OTHER, 4},
    {"F6_E2M3", RAD_DT_OTHER, 6},       {"F6_E3M2", RAD_DT_OTHER, 6},
    {"F8_E8M0", RAD_DT_OTHER, 8},       {"F8_E4M3FNUZ", RAD_DT_OTHER, 8},
    {"F8_E5M2FNUZ", RAD_DT_OTHER, 8},   {"C64", RAD_DT_OTHER, 64},
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

const char *rad_dtype_name(rad_dtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dt == d) return k_dtypes[i].name;
    /* GGUF block types have names (ggml's, upper case) but are kept out of k_dtypes: that table is what a
     * safetensors header may declare, and a safetensors file must never be able to claim a block layout. */
    switch (d) {
    case RAD_DT_Q4_0: return "Q4_0";
    case RAD_DT_Q4_1: return "Q4_1";
    case RAD_DT_Q5_0: return "Q5_0";
    case RAD_DT_Q5_1: return "Q5_1";
    case RAD_DT_Q8_0: return "Q8_0";
    case RAD_DT_Q4_K: return "Q4_K";
    case RAD_DT_Q5_K: return "Q5_K";
    case RAD_DT_Q6_K: return "Q6_K";
    default: return "OTHER";
    }
}

size_t rad_dtype_size(rad_dtype d) {
    if (d == RAD_DT_OTHER) return 0;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dt == d) return k_dtypes[i].bits / 8;
    return 0;
}

void rad_shape_str(const int64_t *shape, int ndim, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += shape[i] < 0 ? (size_t)snprintf(buf + n, size - n, i ? ", *" : "*")
                          : (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

struct rad_st_file {
    char *label;
    void *map; /* the mmap of a file (size bytes), or NULL for an in-memory image */
    const uint8_t *base;
    size_t size;
    rad_st_tensor *tensors; /* sorted by data offsets */
    size_t n;
    const rad_st_tensor **by_name; /* sorted by name */
    char **meta;     /* key, value, key, value, ... */
    size_t n_meta;
};

/* ---------------------------------------------------------------------------------------------------------- */
/* Header checks */

/* The offset of the first byte that is not strict UTF-8, or len when all is. */
static size_t utf8_check(const uint8_t *s, size_t len) {
    uint32_t cp;
    size_t n;
    for (size_t i = 0; i < len; i += n)
        if (!rad_utf8_decode(s + i, len - i, &cp, &n)) return i;
    return len;
}

/* Index into k_dtypes, or -1. */
static int lookup_dtype(const char *name) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (!strcmp(k_dtypes[i].name, name)) return (int)i;
    return -1;
}

/* A JSON integer >= 0 (jansson holds integers as long long, so values above 2^63-1 fail at parse time). */
static bool json_uint(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Parsed entry before the offsets are known to be valid. */
typedef struct st_entry {
    uint64_t begin, end;
    size_t idx; /* into f->tensors in header order */
    const char *name;
} st_entry;

static rad_status parse_metadata(rad_st_file *f, const json_t *meta) {
    if (!json_is_object(meta))
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization: __metadata__ must be an object of strings, found %s",
                       f->label, json_is_array(meta) ? "an array" : "a scalar");
    size_t n = json_object_size(meta);
    if (n && !(f->meta = calloc(2 * n, sizeof *f->meta))) return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", f->label);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return rad_err(RADIAL_ERR_FORMAT,
                           "%s: InvalidHeaderDeserialization: __metadata__ value of '%.64s' must be a string (arbitrary JSON is not allowed)",
                           f->label, key);
        if (strlen(key) > ST_MAX_NAME)
            return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization: __metadata__ key longer than %d bytes", f->label,
                           ST_MAX_NAME);
        f->meta[2 * f->n_meta] = strdup(key);
        f->meta[2 * f->n_meta + 1] = strdup(json_string_value(val));
        f->n_meta++;
        if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
            return rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", f->label);
    }
    return RAD_OK;
}

/* Schema of one tensor entry: {"dtype": str, "shape": [uint...], "data_offsets": [uint, uint]}. Computes the
 * byte size with checked arithmetic. */
static rad_status parse_entry(rad_st_file *f, const char *name, const json_t *v, rad_st_tensor *t, st_entry *e) {
    const char *L = f->label;
    if (strlen(name) > ST_MAX_NAME)
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization: tensor name longer than %d bytes", L, ST_MAX_NAME);
    if (!json_is_object(v))
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (tensor '%s': expected an object with dtype, shape, data_offsets)", L,
                       name);
    const json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (tensor '%s': expected a string \"dtype\", found %s)", L, name,
                       dt ? "another type" : "none");
    int di = lookup_dtype(json_string_value(dt));
    if (di < 0)
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (tensor '%s': unknown dtype '%.32s')", L, name,
                       json_string_value(dt));
    unsigned bits = k_dtypes[di].bits;
    t->dtype = k_dtypes[di].dt;
    t->dtype_name = k_dtypes[di].name;
    if (!json_is_array(shape))
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (tensor '%s': expected an array \"shape\", found %s)", L, name,
                       shape ? "another type" : "none");
    size_t nd = json_array_size(shape);
    if (nd > RAD_MAX_DIMS)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions, at most %d are supported", L, name, nd,
                       RAD_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_uint(json_array_get(shape, i), &d))
            return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (tensor '%s': shape[%zu] must be a non-negative integer)", L,
                           name, i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(numel, d, &numel))
            return rad_err(RADIAL_ERR_FORMAT, "%s: ValidationOverflow (tensor '%s': the shape's element count overflows 64 bits)", L,
                           name);
    }
    uint64_t nbits;
    if (__builtin_mul_overflow(numel, (uint64_t)bits, &nbits) || numel > (uint64_t)INT64_MAX)
        return rad_err(RADIAL_ERR_FORMAT, "%s: ValidationOverflow (tensor '%s': size in bits overflows 64 bits)", L, name);
    if (nbits % 8)
        return rad_err(RADIAL_ERR_FORMAT, "%s: MisalignedSlice (tensor '%s': %llu elements of %u bits are not whole bytes)", L, name,
                       (unsigned long long)numel, bits);
    t->numel = (int64_t)numel;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_uint(json_array_get(offs, 0), &e->begin) ||
        !json_uint(json_array_get(offs, 1), &e->end))
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: InvalidHeaderDeserialization (tensor '%s': expected \"data_offsets\": [begin, end] of non-negative integers)", L,
                       name);
    if (e->end >= e->begin && e->end - e->begin != nbits / 8)
        return rad_err(RADIAL_ERR_FORMAT, "%s: TensorInvalidInfo (tensor '%s': expected %llu bytes for %s x %llu, found offsets %llu..%llu)", L,
                       name, (unsigned long long)(nbits / 8), json_string_value(dt), (unsigned long long)numel,
                       (unsigned long long)e->begin, (unsigned long long)e->end);
    t->nbytes = (size_t)(nbits / 8);
    return RAD_OK;
}

static int cmp_offsets(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name); /* empty tensors may share an offset: keep a fixed order */
}

static int cmp_names(const void *a, const void *b) {
    return strcmp((*(const rad_st_tensor *const *)a)->name, (*(const rad_st_tensor *const *)b)->name);
}

/* Parses the header JSON, validates it, and fills f->tensors in offset order. */
static rad_status parse_header(rad_st_file *f, const uint8_t *hdr, uint64_t n) {
    const char *L = f->label;
    if (n == 0 || hdr[0] != '{')
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderStart (expected the JSON header to begin with '{', found %s)", L,
                       n == 0 ? "an empty header" : "another byte");
    size_t bad = utf8_check(hdr, (size_t)n);
    if (bad != n) return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeader (not UTF-8 at header byte %zu)", L, bad);

    /* jansson rejects duplicate keys, nesting deeper than 2048 and anything but whitespace after the object. */
    json_error_t jerr;
    json_t *root = json_loadb((const char *)hdr, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (header JSON line %d column %d: %s)", L, jerr.line,
                       jerr.column, jerr.text);
    rad_status st = RAD_OK;
    st_entry *ent = NULL;
    rad_st_tensor *tmp = NULL;
    if (!json_is_object(root)) {
        st = rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderDeserialization (expected a JSON object)", L);
        goto done;
    }
    size_t cap = json_object_size(root) + 1;
    tmp = calloc(cap, sizeof *tmp);
    ent = calloc(cap, sizeof *ent);
    if (!tmp || !ent) {
        st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory for %zu header entries", L, cap);
        goto done;
    }
    size_t n_t = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if ((st = parse_metadata(f, val)) != RAD_OK) goto done;
            continue;
        }
        if ((st = parse_entry(f, key, val, &tmp[n_t], &ent[n_t])) != RAD_OK) goto done;
        ent[n_t].idx = n_t;
        ent[n_t].name = key; /* owned by root until done */
        n_t++;
    }

    /* Offsets: sorted, each tensor starts where the previous ended (no gaps, no overlaps). */
    qsort(ent, n_t, sizeof *ent, cmp_offsets);
    uint64_t pos = 0;
    for (size_t k = 0; k < n_t; k++) {
        const st_entry *e = &ent[k];
        if (e->begin != pos || e->end < e->begin) {
            st = rad_err(RADIAL_ERR_FORMAT,
                         "%s: InvalidOffset (tensor '%s': expected data_offsets to begin at %llu, found [%llu, %llu]: %s)", L, e->name,
                         (unsigned long long)pos, (unsigned long long)e->begin, (unsigned long long)e->end,
                         e->end < e->begin ? "end before begin" : e->begin > pos ? "gap before it" : "overlaps the previous tensor");
            goto done;
        }
        pos = e->end;
    }
    uint64_t data_start = 8 + n, total;
    if (__builtin_add_overflow(pos, data_start, &total) || total != f->size) {
        st = rad_err(RADIAL_ERR_FORMAT,
                     "%s: MetadataIncompleteBuffer (expected 8 + %llu header + %llu data bytes, found a %zu-byte file%s)", L,
                     (unsigned long long)n, (unsigned long long)pos, f->size,
                     total < f->size ? ": trailing bytes" : ": truncated");
        goto done;
    }
    /* Keep the tensors in offset order, pointing at their data, with a name index for lookups. */
    f->tensors = calloc(cap, sizeof *f->tensors);
    f->by_name = calloc(cap, sizeof *f->by_name);
    if (!f->tensors || !f->by_name) {
        st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
        goto done;
    }
    for (size_t k = 0; k < n_t; k++) {
        rad_st_tensor *t = &f->tensors[k];
        *t = tmp[ent[k].idx];
        t->data = f->base + data_start + ent[k].begin;
        if (!(t->name = strdup(ent[k].name))) {
            st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", L);
            goto done;
        }
        f->n++;
        f->by_name[k] = t;
    }
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_names);
done:
    free(tmp);
    free(ent);
    json_decref(root);
    return st;
}

static rad_status parse_image(rad_st_file *f) {
    const char *L = f->label;
    if (f->size < 8)
        return rad_err(RADIAL_ERR_FORMAT, "%s: HeaderTooSmall (expected at least 8 bytes, found %zu)", L, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->base[i];
    if (n > ST_MAX_HEADER)
        return rad_err(RADIAL_ERR_FORMAT, "%s: HeaderTooLarge (header length %llu exceeds the limit of %llu bytes)", L,
                       (unsigned long long)n, ST_MAX_HEADER);
    if (n > f->size - 8)
        return rad_err(RADIAL_ERR_FORMAT, "%s: InvalidHeaderLength (header length %llu goes past the end of the %zu-byte file)", L,
                       (unsigned long long)n, f->size);
    return parse_header(f, f->base + 8, n);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Open / close / lookup */

static rad_status new_file(const char *label, rad_st_file **out) {
    *out = calloc(1, sizeof **out);
    if (!*out || !((*out)->label = strdup(label ? label : "(memory)"))) {
        free(*out);
        *out = NULL;
        return rad_err(RADIAL_ERR_NOMEM, "out of memory opening %s", label ? label : "(memory)");
    }
    return RAD_OK;
}

rad_status rad_st_open_memory(const void *data, size_t size, const char *label, rad_st_file **out) {
    rad_st_file *f;
    *out = NULL;
    RAD_TRY(new_file(label, &f));
    f->base = data;
    f->size = size;
    rad_status st = parse_image(f);
    if (st != RAD_OK) {
        rad_st_close(f);
        return st;
    }
    *out = f;
    return RAD_OK;
}

rad_status rad_st_open(const char *path, rad_st_file **out) {
    *out = NULL;
    rad_st_file *f;
    RAD_TRY(new_file(path, &f));
    rad_status st = rad_file_map(path, &f->map, &f->base, &f->size);
    if (st == RAD_OK) st = parse_image(f);
    if (st != RAD_OK) {
        rad_st_close(f);
        return st;
    }
    *out = f;
    return RAD_OK;
}

void rad_st_close(rad_st_file *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
    for (size_t i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->meta);
    free(f->tensors);
    free(f->by_name);
    rad_file_unmap(f->map, f->size);
    free(f->label);
    free(f);
}

const char *rad_st_path(const rad_st_file *f) { return f->label; }
size_t rad_st_count(const rad_st_file *f) { return f->n; }
const rad_st_tensor *rad_st_at(const rad_st_file *f, size_t i) { return i < f->n ? &f->tensors[i] : NULL; }

static int cmp_name_key(const void *name, const void *entry) {
    return strcmp(name, (*(const rad_st_tensor *const *)entry)->name);
}

const rad_st_tensor *rad_st_find(const rad_st_file *f, const char *name) {
    const rad_st_tensor *const *e = f->n ? bsearch(name, f->by_name, f->n, sizeof *f->by_name, cmp_name_key) : NULL;
    return e ? *e : NULL;
}

const char *rad_st_meta(const rad_st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

size_t rad_st_meta_count(const rad_st_file *f) { return f->n_meta; }

void rad_st_meta_at(const rad_st_file *f, size_t i, const char **key, const char **value) {
    *key = i < f->n_meta ? f->meta[2 * i] : NULL;
    *value = i < f->n_meta ? f->meta[2 * i + 1] : NULL;
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Conversions (the data is not aligned in general: every load goes through memcpy) */

#define LOADER(T, fn)                                         \
    static inline T fn(const void *p, size_t i) {             \
        T v;                                                  \
        memcpy(&v, (const uint8_t *)p + i * sizeof(T), sizeof(T)); \
        return v;                                             \
    }
LOADER(uint16_t, ld_u16)
LOADER(int16_t, ld_i16)
LOADER(uint32_t, ld_u32)
LOADER(int32_t, ld_i32)
LOADER(uint64_t, ld_u64)
LOADER(int64_t, ld_i64)

/* Converts elements [b, e) of t into dst; false for a dtype without an fp32 conversion. Float and block dtypes
 * go through the engine's one element conversion (io/quants.h); b and e are whole blocks. */
static bool to_f32_range(const rad_st_tensor *t, float *dst, size_t b, size_t e) {
    const void *p = t->data;
    const uint8_t *u8 = p;
    switch (t->dtype) {
    case RAD_DT_BOOL:
    case RAD_DT_U8: for (size_t i = b; i < e; i++) dst[i] = (float)u8[i]; return true;
    case RAD_DT_I8: for (size_t i = b; i < e; i++) dst[i] = (float)(int8_t)u8[i]; return true;
    case RAD_DT_I16: for (size_t i = b; i < e; i++) dst[i] = (float)ld_i16(p, i); return true;
    case RAD_DT_U16: for (size_t i = b; i < e; i++) dst[i] = (float)ld_u16(p, i); return true;
    case RAD_DT_I32: for (size_t i = b; i < e; i++) dst[i] = (float)ld_i32(p, i); return true;
    case RAD_DT_U32: for (size_t i = b; i < e; i++) dst[i] = (float)ld_u32(p, i); return true;
    case RAD_DT_I64: for (size_t i = b; i < e; i++) dst[i] = (float)ld_i64(p, i); return true;
    case RAD_DT_U64: for (size_t i = b; i < e; i++) dst[i] = (float)ld_u64(p, i); return true;
    default: break;
    }
    const int64_t be = rad_quant_block_elems(t->dtype);
    if (be <= 0) return false;
    const size_t bb = rad_quant_block_bytes(t->dtype);
    return rad_dtype_to_f32(t->dtype, u8 + b / (size_t)be * bb, dst + b, (int64_t)(e - b));
}

typedef struct {
    const rad_st_tensor *t;
    float *dst;
    int64_t block; /* elements per block: ranges are counted in blocks */
} f32_job;

static void f32_range_fn(void *ctx, int64_t b, int64_t e) {
    const f32_job *j = ctx;
    (void)to_f32_range(j->t, j->dst, (size_t)(b * j->block), (size_t)(e * j->block));
}

rad_status rad_st_to_f32(const rad_st_tensor *t, float *dst) {
    const int64_t block = rad_quant_block_elems(t->dtype);
    if (t->dtype == RAD_DT_OTHER || block <= 0 || t->numel % block)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "tensor '%s': dtype %s cannot be converted to F32", t->name, t->dtype_name);
    /* Large weights (a bf16 14B checkpoint is 14e9 elements) are converted on every core; pages of the
     * mapping are read once, here. */
    f32_job j = {t, dst, block};
    rad_parallel_for(t->numel / block, (1 << 18) / block, f32_range_fn, &j);
    return RAD_OK;
}

rad_status rad_st_read_f32(const rad_st_file *f, const char *name, const rad_st_tensor **t, float **out) {
    *out = NULL;
    const rad_st_tensor *found = rad_st_find(f, name);
    if (t) *t = found;
    if (!found) return rad_err(RADIAL_ERR_FORMAT, "%s: no tensor '%s'", f->label, name);
    RAD_TRY(rad_calloc((void **)out, (size_t)found->numel, sizeof(float), name));
    rad_status st = rad_st_to_f32(found, *out);
    if (st != RAD_OK) {
        rad_free(*out);
        *out = NULL;
        return rad_err_prefix(st, "%s: ", f->label);
    }
    return RAD_OK;
}

rad_status rad_st_to_i64(const rad_st_tensor *t, int64_t *dst) {
    const void *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case RAD_DT_BOOL:
    case RAD_DT_U8: for (size_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)p)[i]; return RAD_OK;
    case RAD_DT_I8: for (size_t i = 0; i < n; i++) dst[i] = ((const int8_t *)p)[i]; return RAD_OK;
    case RAD_DT_I16: for (size_t i = 0; i < n; i++) dst[i] = ld_i16(p, i); return RAD_OK;
    case RAD_DT_U16: for (size_t i = 0; i < n; i++) dst[i] = ld_u16(p, i); return RAD_OK;
    case RAD_DT_I32: for (size_t i = 0; i < n; i++) dst[i] = ld_i32(p, i); return RAD_OK;
    case RAD_DT_U32: for (size_t i = 0; i < n; i++) dst[i] = ld_u32(p, i); return RAD_OK;
    case RAD_DT_I64: memcpy(dst, p, n * sizeof(int64_t)); return RAD_OK;
    case RAD_DT_U64:
        for (size_t i = 0; i < n; i++) {
            uint64_t v = ld_u64(p, i);
            if (v > (uint64_t)INT64_MAX)
                return rad_err(RADIAL_ERR_FORMAT, "tensor '%s': element %zu = %llu does not fit in int64", t->name, i,
                               (unsigned long long)v);
            dst[i] = (int64_t)v;
        }
        return RAD_OK;
    default: break;
    }
    return rad_err(RADIAL_ERR_UNSUPPORTED, "tensor '%s': expected an integer dtype, found %s", t->name, t->dtype_name);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Writer */

rad_status rad_st_write(const char *path, const rad_st_out *tensors, size_t n, const char *const *meta_kv, size_t n_meta) {
    rad_status st = RAD_OK;
    json_t *root = json_object();
    char *hdr = NULL;
    FILE *fp = NULL;
    size_t *sizes = calloc(n ? n : 1, sizeof *sizes);
    if (!root || !sizes) {
        st = rad_err(RADIAL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (n_meta) {
        json_t *m = json_object();
        json_object_set_new(root, "__metadata__", m);
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta_kv[2 * i] || !meta_kv[2 * i + 1] || json_object_set_new(m, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]))) {
                st = rad_err(RADIAL_ERR_INVALID_ARG, "%s: metadata pair %zu is not a valid UTF-8 key/value", path, i);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const rad_st_out *t = &tensors[i];
        size_t es = rad_dtype_size(t->dtype);
        if (!t->name || !es || t->ndim < 0 || t->ndim > RAD_MAX_DIMS || !strcmp(t->name, "__metadata__")) {
            st = rad_err(RADIAL_ERR_INVALID_ARG, "%s: tensor %zu ('%s') has an invalid name, dtype or rank", path, i,
                         t->name ? t->name : "(null)");
            goto done;
        }
        if (json_object_get(root, t->name)) {
            st = rad_err(RADIAL_ERR_INVALID_ARG, "%s: tensor name '%s' appears twice", path, t->name);
            goto done;
        }
        if ((st = rad_shape_bytes(t->shape, t->ndim, es, &sizes[i])) != RAD_OK) {
            rad_err_prefix(st, "%s: tensor '%s': ", path, t->name);
            goto done;
        }
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", rad_dtype_name(t->dtype), "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + sizes[i]));
        if (!e || json_object_set_new(root, t->name, e)) {
            st = rad_err(RADIAL_ERR_INVALID_ARG, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
            goto done;
        }
        off += sizes[i];
    }
    hdr = json_dumps(root, JSON_COMPACT);
    if (!hdr) {
        st = rad_err(RADIAL_ERR_NOMEM, "%s: cannot serialise the header", path);
        goto done;
    }
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7; /* pad with spaces so the data is 8-aligned */
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fp = fopen(path, "wb");
    if (!fp) {
        st = rad_err(RADIAL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    bool ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (size_t i = 0; ok && i < n; i++) ok = sizes[i] == 0 || fwrite(tensors[i].data, 1, sizes[i], fp) == sizes[i];
    if (fclose(fp) != 0) ok = false;
    fp = NULL;
    if (!ok) st = rad_err(RADIAL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
done:
    free(hdr);
    free(sizes);
    json_decref(root);
    return st;
}
