/* Internals of the sentencepiece tokenizer shared by spm_load.c, spm_normalize.c and spm_encode.c. */
#ifndef RAD_SPM_INTERNAL_H
#define RAD_SPM_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/spm.h"

/* ModelProto.SentencePiece.Type */
enum {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER_DEFINED = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6,
};

typedef struct spm_piece {
    const uint8_t *str; /* points into rad_spm.data */
    uint32_t len;
    float score;
    uint8_t type;
} spm_piece;

/* A set of pieces sorted bytewise (a prefix sorts before its extensions), searched byte by byte: the
 * range of pieces that share the bytes read so far narrows with two binary searches per byte. This is the
 * common-prefix search sentencepiece does with a Darts trie, without building one. */
typedef struct spm_index {
    uint32_t *ids;
    uint32_t n;
} spm_index;

typedef struct spm_cursor {
    uint32_t lo, hi, depth;
} spm_cursor;

struct rad_spm {
    char *label;
    uint8_t *data; /* owned copy of the serialized model */
    size_t size;

    spm_piece *pieces;
    uint32_t n_pieces;
    spm_index vocab; /* NORMAL, USER_DEFINED and UNUSED pieces: what the Viterbi matches */
    spm_index user;  /* USER_DEFINED pieces: copied verbatim by the normalizer */
    int32_t unk_piece; /* the id of the UNKNOWN piece */
    int32_t byte_piece[256];
    float min_score, max_score; /* over NORMAL pieces, initialised as sentencepiece does */

    /* trainer_spec */
    int32_t model_type;
    bool byte_fallback;
    bool ws_suffix; /* treat_whitespace_as_suffix */
    int32_t unk_id, bos_id, eos_id, pad_id;

    /* normalizer_spec */
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    const uint8_t *charsmap; /* the precompiled_charsmap blob, split into: */
    size_t charsmap_len;
    const uint8_t *trie; /* Darts-clone double array, little-endian u32 units */
    size_t trie_units;
    const char *repl; /* NUL-separated replacement strings */
    size_t repl_len;
};

static inline void spm_cursor_init(const spm_index *ix, spm_cursor *c) {
    c->lo = 0;
    c->hi = ix->n;
    c->depth = 0;
}

/* Extends the matched prefix by byte b. Returns false when no piece of the index continues with it; on
 * true, *id is the piece equal to the prefix read so far, or -1. */
bool spm_cursor_step(const rad_spm *m, const spm_index *ix, spm_cursor *c, uint8_t b, int32_t *id);

/* A growable byte buffer for the normalizer and prompt-cleaning output, capped at SPM_MAX_BUF: real prompts
 * are kilobytes, and the cap keeps a hostile charsmap (long replacements) from growing it without bound. */
#define SPM_MAX_BUF ((size_t)1 << 26)
typedef struct spm_buf {
    char *p;
    size_t len, cap;
} spm_buf;
rad_status spm_buf_put(spm_buf *b, const void *src, size_t n);

/* Normalizes text into out (which the caller frees with rad_free(out->p)). */
rad_status spm_normalize(const rad_spm *m, const uint8_t *text, size_t len, spm_buf *out);

/* sentencepiece's string_util::OneCharLen: the length a UTF-8 lead byte announces (1 for bytes that
 * cannot lead). */
static inline size_t spm_one_char_len(uint8_t c) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}
#endif
