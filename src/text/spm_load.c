/* Loading a sentencepiece ModelProto: a strict protobuf wire-format reader, the checks sentencepiece makes
 * when it builds its model (model_interface.cc InitializePieces, unigram_model.cc, normalizer.cc), and the
 * sorted piece indices the encoder searches. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "text/spm_internal.h"

/* Larger than any real model (umT5's is 4.3 MB), small enough to read into memory without a second thought. */
#define SPM_MAX_FILE ((size_t)1 << 28)
/* sentencepiece rejects pieces of 8000 bytes or more (model_interface.cc kMaxPieceSize). */
#define SPM_MAX_PIECE 8000

/* ---- protobuf wire format ---------------------------------------------------------------------------- */

typedef struct pb {
    const uint8_t *base; /* start of the file, for offsets in messages */
    const uint8_t *p, *end;
    const char *label;
    const char *msg; /* the message being read, for messages: "ModelProto", "piece 12", ... */
} pb;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct pb_field {
    uint32_t num, wt;
    const uint8_t *at; /* where the key starts */
    uint64_t u;        /* VARINT, I64 and I32 values */
    const uint8_t *ptr; /* LEN payload */
    size_t len;
} pb_field;

static rad_status pb_fail(const pb *r, const uint8_t *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static rad_status pb_fail(const pb *r, const uint8_t *at, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rad_err(RADIAL_ERR_FORMAT, "%s: byte %zu (%s): %s", r->label, (size_t)(at - r->base), r->msg, what);
}

static rad_status pb_varint(pb *r, uint64_t *out) {
    const uint8_t *start = r->p;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return pb_fail(r, start, "varint runs past the end of the data");
        uint8_t c = *r->p++;
        if (i == 9 && c > 1) return pb_fail(r, start, "varint overflows 64 bits");
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c < 0x80) {
            *out = v;
            return RAD_OK;
        }
    }
    return pb_fail(r, start, "varint longer than 10 bytes");
}

/* Reads one field (key and value); r->p must be before r->end. */
static rad_status pb_next(pb *r, pb_field *f) {
    uint64_t key;
    f->at = r->p;
    RAD_TRY(pb_varint(r, &key));
    if (key > UINT32_MAX || (key >> 3) == 0)
        return pb_fail(r, f->at, "invalid field key %llu (field number 0 or above 2^29-1)", (unsigned long long)key);
    f->num = (uint32_t)(key >> 3);
    f->wt = (uint32_t)(key & 7);
    size_t left;
    switch (f->wt) {
    case WT_VARINT:
        return pb_varint(r, &f->u);
    case WT_I64:
    case WT_I32: {
        size_t n = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return pb_fail(r, f->at, "field %u: %zu-byte value runs past the end (%zu bytes left)", f->num, n,
                           (size_t)(r->end - r->p));
        f->u = 0;
        for (size_t i = 0; i < n; i++) f->u |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        return RAD_OK;
    }
    case WT_LEN:
        RAD_TRY(pb_varint(r, &f->u));
        left = (size_t)(r->end - r->p);
        if (f->u > left)
            return pb_fail(r, f->at, "field %u: length %llu runs past the end (%zu bytes left)", f->num,
                           (unsigned long long)f->u, left);
        f->ptr = r->p;
        f->len = (size_t)f->u;
        r->p += f->len;
        return RAD_OK;
    case 3:
    case 4:
        return pb_fail(r, f->at, "field %u: group wire type %u is not used by sentencepiece", f->num, f->wt);
    default:
        return pb_fail(r, f->at, "field %u: invalid wire type %u", f->num, f->wt);
    }
}

static rad_status pb_want(const pb *r, const pb_field *f, uint32_t wt, const char *name) {
    static const char *const wt_name[] = {"varint", "fixed64", "length-delimited", "?", "?", "fixed32"};
    if (f->wt == wt) return RAD_OK;
    return pb_fail(r, f->at, "field %u (%s): wire type %u (%s), expected %u (%s)", f->num, name, f->wt,
                   f->wt < 6 ? wt_name[f->wt] : "?", wt, wt_name[wt]);
}

static pb pb_sub(const pb *parent, const pb_field *f, const char *msg) {
    pb r = {parent->base, f->ptr, f->ptr + f->len, parent->label, msg};
    return r;
}

/* int32 fields are varints of the sign-extended value; protobuf keeps the low 32 bits. */
static int32_t pb_i32(uint64_t u) { return (int32_t)(uint32_t)u; }

/* ---- messages ---------------------------------------------------------------------------------------- */

static rad_status parse_piece(const pb *parent, const pb_field *outer, uint32_t index, spm_piece *pc) {
    char msg[48];
    snprintf(msg, sizeof msg, "piece %u", index);
    pb r = pb_sub(parent, outer, msg);
    pc->str = NULL;
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = SPM_NORMAL;
    while (r.p < r.end) {
        pb_field f;
        RAD_TRY(pb_next(&r, &f));
        if (f.num == 1) {
            RAD_TRY(pb_want(&r, &f, WT_LEN, "piece"));
            if (f.len >= SPM_MAX_PIECE)
                return pb_fail(&r, f.at, "piece of %zu bytes, the limit is %d", f.len, SPM_MAX_PIECE - 1);
            pc->str = f.ptr;
            pc->len = (uint32_t)f.len;
        } else if (f.num == 2) {
            RAD_TRY(pb_want(&r, &f, WT_I32, "score"));
            uint32_t bits = (uint32_t)f.u;
            memcpy(&pc->score, &bits, sizeof bits);
        } else if (f.num == 3) {
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "type"));
            if (f.u < SPM_NORMAL || f.u > SPM_BYTE)
                return pb_fail(&r, f.at, "piece type %llu, expected 1..6 (NORMAL..BYTE)", (unsigned long long)f.u);
            pc->type = (uint8_t)f.u;
        }
    }
    return RAD_OK;
}

static rad_status parse_trainer(rad_spm *m, const pb *parent, const pb_field *outer) {
    pb r = pb_sub(parent, outer, "trainer_spec");
    while (r.p < r.end) {
        pb_field f;
        RAD_TRY(pb_next(&r, &f));
        switch (f.num) {
        case 3:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "model_type"));
            m->model_type = pb_i32(f.u);
            break;
        case 24:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "treat_whitespace_as_suffix"));
            m->ws_suffix = f.u != 0;
            break;
        case 35:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "byte_fallback"));
            m->byte_fallback = f.u != 0;
            break;
        case 40:
        case 41:
        case 42:
        case 43: {
            static const char *const names[] = {"unk_id", "bos_id", "eos_id", "pad_id"};
            int32_t *dst[] = {&m->unk_id, &m->bos_id, &m->eos_id, &m->pad_id};
            RAD_TRY(pb_want(&r, &f, WT_VARINT, names[f.num - 40]));
            *dst[f.num - 40] = pb_i32(f.u);
            break;
        }
        default:
            break;
        }
    }
    return RAD_OK;
}

static rad_status parse_normalizer(rad_spm *m, const pb *parent, const pb_field *outer) {
    pb r = pb_sub(parent, outer, "normalizer_spec");
    while (r.p < r.end) {
        pb_field f;
        RAD_TRY(pb_next(&r, &f));
        switch (f.num) {
        case 1: /* the normalizer's name: checked, not needed (the charsmap says it all) */
            RAD_TRY(pb_want(&r, &f, WT_LEN, "name"));
            break;
        case 2:
            RAD_TRY(pb_want(&r, &f, WT_LEN, "precompiled_charsmap"));
            m->charsmap = f.ptr;
            m->charsmap_len = f.len;
            break;
        case 3:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "add_dummy_prefix"));
            m->add_dummy_prefix = f.u != 0;
            break;
        case 4:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "remove_extra_whitespaces"));
            m->remove_extra_ws = f.u != 0;
            break;
        case 5:
            RAD_TRY(pb_want(&r, &f, WT_VARINT, "escape_whitespaces"));
            m->escape_ws = f.u != 0;
            break;
        default:
            break;
        }
    }
    return RAD_OK;
}

/* The charsmap blob is <u32 trie size><trie: u32 units><NUL-terminated replacement strings>
 * (normalizer.cc DecodePrecompiledCharsMap). */
static rad_status split_charsmap(rad_spm *m) {
    const uint8_t *blob = m->charsmap;
    size_t size = m->charsmap_len;
    if (size == 0) return RAD_OK; /* identity normalization */
    if (size <= 4)
        return rad_err(RADIAL_ERR_FORMAT, "%s: precompiled_charsmap of %zu bytes is too short for its header",
                       m->label, size);
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 |
                         (uint32_t)blob[3] << 24;
    if (trie_size == 0 || trie_size % 4 != 0 || trie_size > size - 4)
        return rad_err(RADIAL_ERR_FORMAT,
                       "%s: precompiled_charsmap trie size %u, expected a non-zero multiple of 4 within the %zu "
                       "bytes after the header",
                       m->label, trie_size, size - 4);
    m->trie = blob + 4;
    m->trie_units = trie_size / 4;
    m->repl = (const char *)blob + 4 + trie_size;
    m->repl_len = size - 4 - trie_size;
    if (m->repl_len > 0 && m->repl[m->repl_len - 1] != '\0')
        return rad_err(RADIAL_ERR_FORMAT, "%s: precompiled_charsmap replacement strings do not end with NUL",
                       m->label);
    return RAD_OK;
}

/* ---- piece checks and indices ------------------------------------------------------------------------ */

typedef struct sort_key {
    const uint8_t *s;
    uint32_t len, id;
} sort_key;

static int cmp_key(const void *pa, const void *pb_) {
    const sort_key *a = pa, *b = pb_;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, n);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static bool in_vocab(uint8_t type) { return type == SPM_NORMAL || type == SPM_USER_DEFINED || type == SPM_UNUSED; }

/* Sorts the pieces that `want` selects into *ix (ids) and rejects duplicates. */
static rad_status build_index(rad_spm *m, sort_key *keys, bool (*want)(uint8_t), spm_index *ix) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->n_pieces; i++) {
        if (!want(m->pieces[i].type)) continue;
        keys[n].s = m->pieces[i].str;
        keys[n].len = m->pieces[i].len;
        keys[n].id = i;
        n++;
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    for (uint32_t i = 1; i < n; i++) {
        if (cmp_key(&keys[i - 1], &keys[i]) == 0) {
            uint32_t a = keys[i - 1].id < keys[i].id ? keys[i - 1].id : keys[i].id;
            uint32_t b = keys[i - 1].id ^ keys[i].id ^ a;
            return rad_err(RADIAL_ERR_FORMAT, "%s: piece %u '%.*s' is already defined as piece %u", m->label, b,
                           (int)(keys[i].len < 64 ? keys[i].len : 64), (const char *)keys[i].s, a);
        }
    }
    ix->n = n;
    if (n == 0) return RAD_OK;
    RAD_TRY(rad_alloc((void **)&ix->ids, (size_t)n * sizeof *ix->ids, "sentencepiece index"));
    for (uint32_t i = 0; i < n; i++) ix->ids[i] = keys[i].id;
    return RAD_OK;
}

static bool is_reserved(uint8_t type) { return !in_vocab(type); }
static bool is_user(uint8_t type) { return type == SPM_USER_DEFINED; }

/* "<0x41>" -> 0x41 (uppercase hex only, as ByteToPiece writes it); -1 otherwise. */
static int byte_of_piece(const spm_piece *p) {
    static const char hex[] = "0123456789ABCDEF";
    if (p->len != 6 || memcmp(p->str, "<0x", 3) != 0 || p->str[5] != '>') return -1;
    const char *hi = memchr(hex, p->str[3], 16), *lo = memchr(hex, p->str[4], 16);
    if (!hi || !lo) return -1;
    return (int)((hi - hex) * 16 + (lo - hex));
}

static rad_status check_pieces(rad_spm *m) {
    if (m->model_type != 1) {
        static const char *const types[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
        return rad_err(RADIAL_ERR_UNSUPPORTED, "%s: model_type %d (%s) is not supported, expected 1 (UNIGRAM)",
                       m->label, m->model_type,
                       m->model_type >= 1 && m->model_type <= 4 ? types[m->model_type] : "unknown");
    }
    m->unk_piece = -1;
    for (int b = 0; b < 256; b++) m->byte_piece[b] = -1;
    m->min_score = 3.402823466e+38f; /* FLT_MAX */
    m->max_score = 1.175494351e-38f; /* FLT_MIN, as unigram_model.cc starts it */
    for (uint32_t i = 0; i < m->n_pieces; i++) {
        const spm_piece *p = &m->pieces[i];
        if (p->len == 0) return rad_err(RADIAL_ERR_FORMAT, "%s: piece %u is empty", m->label, i);
        if (memchr(p->str, 0, p->len))
            return rad_err(RADIAL_ERR_FORMAT, "%s: piece %u contains a NUL byte", m->label, i);
        if (p->type == SPM_UNKNOWN) {
            if (m->unk_piece >= 0)
                return rad_err(RADIAL_ERR_FORMAT, "%s: pieces %d and %u are both UNKNOWN, expected one <unk>",
                               m->label, m->unk_piece, i);
            m->unk_piece = (int32_t)i;
        }
        if (p->type == SPM_BYTE) {
            if (!m->byte_fallback)
                return rad_err(RADIAL_ERR_FORMAT, "%s: byte piece %u '%.*s' found although byte_fallback is false",
                               m->label, i, (int)(p->len < 64 ? p->len : 64), (const char *)p->str);
            int b = byte_of_piece(p);
            if (b < 0)
                return rad_err(RADIAL_ERR_FORMAT, "%s: byte piece %u '%.*s' is not of the form <0xHH>", m->label, i,
                               (int)(p->len < 64 ? p->len : 64), (const char *)p->str);
            m->byte_piece[b] = (int32_t)i; /* duplicates are caught by the reserved-piece index */
        }
        if (p->type == SPM_NORMAL) {
            if (p->score < m->min_score) m->min_score = p->score;
            if (p->score > m->max_score) m->max_score = p->score;
        }
    }
    if (m->unk_piece < 0) return rad_err(RADIAL_ERR_FORMAT, "%s: no UNKNOWN piece (<unk>) is defined", m->label);
    if (m->byte_fallback) {
        for (int b = 0; b < 256; b++)
            if (m->byte_piece[b] < 0)
                return rad_err(RADIAL_ERR_FORMAT, "%s: byte_fallback is set but byte piece <0x%02X> is missing",
                               m->label, b);
    }

    sort_key *keys;
    RAD_TRY(rad_alloc((void **)&keys, (size_t)m->n_pieces * sizeof *keys, "sentencepiece sort"));
    spm_index reserved = {0};
    rad_status s = build_index(m, keys, in_vocab, &m->vocab);
    if (s == RAD_OK) s = build_index(m, keys, is_reserved, &reserved);
    if (s == RAD_OK) s = build_index(m, keys, is_user, &m->user);
    rad_free(reserved.ids);
    rad_free(keys);
    RAD_TRY(s);
    if (m->vocab.n == 0)
        return rad_err(RADIAL_ERR_FORMAT, "%s: no NORMAL, USER_DEFINED or UNUSED pieces to encode with", m->label);
    return RAD_OK;
}

/* ---- loading ----------------------------------------------------------------------------------------- */

/* Parses m->data (owned); m->label is set. */
static rad_status parse_model(rad_spm *m) {
    pb r = {m->data, m->data, m->data + m->size, m->label, "ModelProto"};
    /* Pass 1: walk the top level (which validates its framing) and count the pieces. */
    size_t n_pieces = 0;
    while (r.p < r.end) {
        pb_field f;
        RAD_TRY(pb_next(&r, &f));
        if (f.num <= 3) RAD_TRY(pb_want(&r, &f, WT_LEN, f.num == 1 ? "pieces" : f.num == 2 ? "trainer_spec"
                                                                                          : "normalizer_spec"));
        if (f.num == 1) n_pieces++;
    }
    if (n_pieces == 0) return rad_err(RADIAL_ERR_FORMAT, "%s: the model has no pieces", m->label);
    if (n_pieces > INT32_MAX)
        return rad_err(RADIAL_ERR_FORMAT, "%s: %zu pieces, more than int32 ids can number", m->label, n_pieces);
    RAD_TRY(rad_calloc((void **)&m->pieces, n_pieces, sizeof *m->pieces, "sentencepiece pieces"));

    /* proto2 defaults */
    m->model_type = 1;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;

    /* Pass 2: the fields. A message field that occurs twice is merged, as protobuf does. */
    r.p = m->data;
    while (r.p < r.end) {
        pb_field f;
        RAD_TRY(pb_next(&r, &f));
        if (f.num == 1) {
            RAD_TRY(parse_piece(&r, &f, m->n_pieces, &m->pieces[m->n_pieces]));
            m->n_pieces++;
        } else if (f.num == 2) {
            RAD_TRY(parse_trainer(m, &r, &f));
        } else if (f.num == 3) {
            RAD_TRY(parse_normalizer(m, &r, &f));
        }
    }
    RAD_TRY(split_charsmap(m));
    return check_pieces(m);
}

static rad_status spm_new(const char *label, rad_spm **out) {
    rad_spm *m;
    *out = NULL;
    RAD_TRY(rad_calloc((void **)&m, 1, sizeof *m, "sentencepiece model"));
    size_t n = strlen(label) + 1;
    rad_status s = rad_alloc((void **)&m->label, n, "sentencepiece label");
    if (s != RAD_OK) {
        rad_free(m);
        return s;
    }
    memcpy(m->label, label, n);
    *out = m;
    return RAD_OK;
}

rad_status rad_spm_load_memory(const void *buf, size_t len, const char *label, rad_spm **out) {
    *out = NULL;
    if (!label) label = "spiece.model";
    if (len > SPM_MAX_FILE)
        return rad_err(RADIAL_ERR_FORMAT, "%s: %zu bytes, larger than the %zu-byte limit for a sentencepiece model",
                       label, len, SPM_MAX_FILE);
    rad_spm *m;
    RAD_TRY(spm_new(label, &m));
    rad_status s = rad_alloc((void **)&m->data, len ? len : 1, "sentencepiece model bytes");
    if (s == RAD_OK) {
        if (len) memcpy(m->data, buf, len);
        m->size = len;
        s = parse_model(m);
    }
    if (s != RAD_OK) {
        rad_spm_free(m);
        return s;
    }
    *out = m;
    return RAD_OK;
}

/* ComfyUI's single-file T5 keeps the serialized model as a 1-D uint8 tensor named spiece_model. */
static rad_status load_safetensors(const char *path, rad_spm **out) {
    rad_st_file *f;
    RAD_TRY(rad_st_open(path, &f));
    const rad_st_tensor *t = rad_st_find(f, "spiece_model");
    rad_status s;
    if (!t)
        s = rad_err(RADIAL_ERR_MODEL, "%s: no tensor spiece_model (the tokenizer) in this safetensors file", path);
    else if (t->dtype != RAD_DT_U8 || t->ndim != 1)
        s = rad_err(RADIAL_ERR_MODEL, "%s: tensor spiece_model is %s with %d dims, expected a 1-D U8 tensor", path,
                    t->dtype_name, t->ndim);
    else
        s = rad_spm_load_memory(t->data, t->nbytes, path, out);
    rad_st_close(f);
    return s;
}

static rad_status load_file(const char *file, rad_spm **out) {
    if (rad_ends_with(file, ".safetensors")) return load_safetensors(file, out);
    rad_spm *m;
    RAD_TRY(spm_new(file, &m));
    rad_status s = rad_file_read(file, SPM_MAX_FILE, "sentencepiece model", &m->data, &m->size);
    if (s == RAD_OK) s = parse_model(m);
    if (s != RAD_OK) {
        rad_spm_free(m);
        return s;
    }
    *out = m;
    return RAD_OK;
}

rad_status rad_spm_load(const char *path, rad_spm **out) {
    *out = NULL;
    if (!rad_is_dir(path)) return load_file(path, out);
    static const char *const rel[] = {"spiece.model", "tokenizer/spiece.model", "google/umt5-xxl/spiece.model"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char *file;
        RAD_TRY(rad_path_join(path, rel[i], &file));
        const bool here = rad_is_file(file);
        rad_status s = here ? load_file(file, out) : RAD_OK;
        free(file);
        if (here) return s;
    }
    return rad_err(RADIAL_ERR_IO,
                   "%s: no spiece.model in the folder (looked for spiece.model, tokenizer/spiece.model, "
                   "google/umt5-xxl/spiece.model)",
                   path);
}

void rad_spm_free(rad_spm *m) {
    if (!m) return;
    rad_free(m->vocab.ids);
    rad_free(m->user.ids);
    rad_free(m->pieces);
    rad_free(m->data);
    rad_free(m->label);
    rad_free(m);
}

/* ---- accessors and the prefix search ------------------------------------------------------------------ */

size_t rad_spm_size(const rad_spm *m) { return m->n_pieces; }

const char *rad_spm_piece(const rad_spm *m, int32_t id, size_t *len) {
    if (id < 0 || (uint32_t)id >= m->n_pieces) return NULL;
    *len = m->pieces[id].len;
    return (const char *)m->pieces[id].str;
}

int32_t rad_spm_unk_id(const rad_spm *m) { return m->unk_id; }
int32_t rad_spm_bos_id(const rad_spm *m) { return m->bos_id; }
int32_t rad_spm_eos_id(const rad_spm *m) { return m->eos_id; }
int32_t rad_spm_pad_id(const rad_spm *m) { return m->pad_id; }
bool rad_spm_byte_fallback(const rad_spm *m) { return m->byte_fallback; }

bool spm_cursor_step(const rad_spm *m, const spm_index *ix, spm_cursor *c, uint8_t b, int32_t *id) {
    uint32_t lo = c->lo, hi = c->hi, d = c->depth;
    /* All pieces in [lo, hi) share the first d bytes; the one of length d (if any) sorts first. */
    if (lo < hi && m->pieces[ix->ids[lo]].len == d) lo++;
    uint32_t a = lo, z = hi;
    while (a < z) { /* first piece whose byte d is >= b */
        uint32_t mid = a + (z - a) / 2;
        if (m->pieces[ix->ids[mid]].str[d] < b)
            a = mid + 1;
        else
            z = mid;
    }
    uint32_t first = a;
    z = hi;
    while (a < z) { /* first piece whose byte d is > b */
        uint32_t mid = a + (z - a) / 2;
        if (m->pieces[ix->ids[mid]].str[d] <= b)
            a = mid + 1;
        else
            z = mid;
    }
    if (first == a) return false;
    c->lo = first;
    c->hi = a;
    c->depth = d + 1;
    *id = m->pieces[ix->ids[first]].len == d + 1 ? (int32_t)ix->ids[first] : -1;
    return true;
}
