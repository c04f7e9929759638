/* Unigram encoding: unigram_model.cc Model::EncodeOptimized (Viterbi over byte positions of the normalized
 * text) and the id output of sentencepiece_processor.cc PopulateSentencePieceText (byte fallback, merged
 * unknowns). The arithmetic keeps sentencepiece's types, so ties and near-ties resolve the same way: a piece
 * candidate is summed and compared in double (its score expression is double because of the `- 0.1` of the
 * user-defined branch) and stored as float; an unknown candidate is float throughout. */
#include <string.h>

#include "base/mem.h"
#include "text/spm_internal.h"

/* Longer prompts are not prompts. Byte positions (int32) are bounded by SPM_MAX_BUF. */
#define SPM_MAX_TEXT ((size_t)1 << 24)

typedef struct best_path {
    float score;   /* of the best path ending here */
    int32_t start; /* where its last piece starts; -1 while unset */
    int32_t id;    /* its last piece */
} best_path;

static void viterbi(const rad_spm *m, const uint8_t *s, size_t size, best_path *best) {
    const float unk_score = m->min_score - 10.0f; /* kUnkPenalty */
    for (size_t i = 0; i <= size; i++) {
        best[i].score = 0.0f;
        best[i].start = -1;
        best[i].id = -1;
    }
    size_t start = 0;
    while (start < size) {
        const float till_here = best[start].score;
        size_t mblen = spm_one_char_len(s[start]);
        if (mblen > size - start) mblen = size - start;
        bool has_single = false;
        spm_cursor c;
        spm_cursor_init(&m->vocab, &c);
        for (size_t key = start; key < size;) {
            int32_t id;
            if (!spm_cursor_step(m, &m->vocab, &c, s[key], &id)) break;
            key++;
            if (id < 0 || m->pieces[id].type == SPM_UNUSED) continue;
            const size_t length = key - start;
            /* User-defined symbols get a bonus so that they are always selected. */
            const double score = m->pieces[id].type == SPM_USER_DEFINED
                                     ? (double)((float)length * m->max_score) - 0.1
                                     : (double)m->pieces[id].score;
            const double cand = score + (double)till_here;
            best_path *t = &best[key];
            if (t->start == -1 || cand > (double)t->score) {
                t->score = (float)cand;
                t->start = (int32_t)start;
                t->id = id;
            }
            if (!has_single && length == mblen) has_single = true;
        }
        if (!has_single) { /* no piece covers this character: an unknown edge */
            best_path *t = &best[start + mblen];
            const float cand = unk_score + till_here;
            if (t->start == -1 || cand > t->score) {
                t->score = cand;
                t->start = (int32_t)start;
                t->id = m->unk_piece;
            }
        }
        start += mblen;
    }
}

/* Walks the best path back from the end; ends[0..*count) are the piece end positions in text order. */
static rad_status backtrack(const rad_spm *m, const best_path *best, size_t size, uint32_t *ends, size_t *count) {
    size_t k = 0;
    for (size_t e = size; e > 0; e = (size_t)best[e].start) {
        if (best[e].start < 0 || (size_t)best[e].start >= e)
            return rad_err(RADIAL_ERR_FORMAT, "%s: no segmentation reaches byte %zu of the normalized text", m->label,
                           e);
        ends[k++] = (uint32_t)e;
    }
    for (size_t i = 0; i < k / 2; i++) {
        uint32_t t = ends[i];
        ends[i] = ends[k - 1 - i];
        ends[k - 1 - i] = t;
    }
    *count = k;
    return RAD_OK;
}

static rad_status encode_normalized(const rad_spm *m, const uint8_t *s, size_t size, int32_t *ids, size_t *n) {
    best_path *best = NULL;
    uint32_t *ends = NULL;
    size_t count = 0;
    rad_status st = rad_calloc((void **)&best, size + 1, sizeof *best, "Viterbi lattice");
    if (st == RAD_OK) st = rad_calloc((void **)&ends, size ? size : 1, sizeof *ends, "Viterbi path");
    if (st == RAD_OK) {
        viterbi(m, s, size, best);
        st = backtrack(m, best, size, ends, &count);
    }
    if (st == RAD_OK) {
        size_t k = 0;
        bool prev_unk = false;
        for (size_t i = 0; i < count; i++) {
            const size_t end = ends[i], start = (size_t)best[end].start;
            const int32_t id = best[end].id;
            const bool is_unk = m->pieces[id].type == SPM_UNKNOWN;
            if (is_unk && m->byte_fallback) {
                for (size_t b = start; b < end; b++) ids[k++] = m->byte_piece[s[b]];
            } else if (!(is_unk && prev_unk)) { /* a run of unknowns is one <unk> */
                ids[k++] = id;
            }
            prev_unk = is_unk;
        }
        *n = k;
    }
    rad_free(best);
    rad_free(ends);
    return st;
}

rad_status rad_spm_encode_bytes(const rad_spm *m, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (len > SPM_MAX_TEXT)
        return rad_err(RADIAL_ERR_INVALID_ARG, "text of %zu bytes to tokenize, the limit is %zu", len, SPM_MAX_TEXT);
    spm_buf norm;
    RAD_TRY(spm_normalize(m, (const uint8_t *)text, len, &norm));
    /* Every piece covers at least one byte, so there are at most norm.len (<= SPM_MAX_BUF) ids. */
    rad_status st = rad_alloc((void **)ids, (norm.len ? norm.len : 1) * sizeof **ids, "token ids");
    if (st == RAD_OK) st = encode_normalized(m, (const uint8_t *)norm.p, norm.len, *ids, n);
    rad_free(norm.p);
    if (st != RAD_OK) {
        rad_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return st;
}

rad_status rad_spm_encode(const rad_spm *m, const char *text, int32_t **ids, size_t *n) {
    return rad_spm_encode_bytes(m, text, strlen(text), ids, n);
}
