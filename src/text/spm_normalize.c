/* The sentencepiece normalizer (normalizer.cc Normalizer::Normalize / NormalizePrefix).
 * Input is consumed one "prefix" at a time: the longest USER_DEFINED piece (copied verbatim), else the
 * longest key of the precompiled charsmap (replaced by its string), else one UTF-8 character (copied), or
 * one byte of malformed UTF-8 (replaced by U+FFFD). Then spaces are trimmed, collapsed and escaped. */
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/spm_internal.h"

static const char kSpace[] = "\xe2\x96\x81"; /* U+2581, what ' ' becomes with escape_whitespaces */
static const char kReplacement[] = "\xef\xbf\xbd"; /* U+FFFD */

rad_status spm_buf_put(spm_buf *b, const void *src, size_t n) {
    if (n == 0) return RAD_OK;
    if (n > b->cap - b->len) {
        size_t need, cap = b->cap ? b->cap : 256;
        if (!rad_add_size(b->len, n, &need) || need > SPM_MAX_BUF)
            return rad_err(RADIAL_ERR_INVALID_ARG, "text grows past %zu bytes while it is normalized or cleaned",
                           (size_t)SPM_MAX_BUF);
        while (cap < need) cap *= 2;
        char *p;
        RAD_TRY(rad_alloc((void **)&p, cap, "normalized text"));
        if (b->len) memcpy(p, b->p, b->len);
        rad_free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    return RAD_OK;
}

/* Darts-clone double-array units: the fields darts.h DoubleArrayUnit packs into a u32. */
static uint32_t unit_at(const rad_spm *m, uint32_t i) {
    const uint8_t *p = m->trie + (size_t)4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t unit_value(uint32_t u) { return u & 0x7fffffffu; }
static uint32_t unit_label(uint32_t u) { return u & 0x800000ffu; } /* leaf units have the MSB set: never a byte */
static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

/* Darts commonPrefixSearch, keeping the longest key: returns its length (0 if none) and its value. Every
 * unit index is checked against the array, so a corrupt trie ends the search instead of reading past it. */
static size_t charsmap_match(const rad_spm *m, const uint8_t *s, size_t len, uint32_t *value) {
    size_t best = 0;
    uint32_t pos = unit_offset(unit_at(m, 0));
    for (size_t i = 0; i < len; i++) {
        pos ^= s[i];
        if (pos >= m->trie_units) break;
        uint32_t u = unit_at(m, pos);
        if (unit_label(u) != s[i]) break;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (pos >= m->trie_units) break;
            best = i + 1;
            *value = unit_value(unit_at(m, pos));
        }
    }
    return best;
}

/* One step of the normalizer: the out_len bytes at *out are what the first *consumed bytes of s become. */
static rad_status normalize_prefix(const rad_spm *m, const uint8_t *s, size_t len, const char **out,
                                   size_t *out_len, size_t *consumed) {
    if (m->user.n) { /* the longest user-defined symbol, verbatim */
        spm_cursor c;
        spm_cursor_init(&m->user, &c);
        size_t longest = 0;
        int32_t id;
        for (size_t i = 0; i < len && spm_cursor_step(m, &m->user, &c, s[i], &id); i++)
            if (id >= 0) longest = i + 1;
        if (longest) {
            *out = (const char *)s;
            *out_len = *consumed = longest;
            return RAD_OK;
        }
    }
    uint32_t value = 0;
    size_t n = m->trie ? charsmap_match(m, s, len, &value) : 0;
    if (n) {
        if (value >= m->repl_len)
            return rad_err(RADIAL_ERR_FORMAT,
                           "%s: precompiled_charsmap entry points at byte %u of %zu bytes of replacement strings",
                           m->label, value, m->repl_len);
        *out = m->repl + value;
        *out_len = strlen(*out); /* the strings end with NUL (checked at load) */
        *consumed = n;
        return RAD_OK;
    }
    /* string_util::IsValidDecodeUTF8: the same strict decoding (U+FFFD itself counts as valid). */
    uint32_t cp;
    size_t mblen;
    if (rad_utf8_decode(s, len, &cp, &mblen)) {
        *out = (const char *)s;
        *out_len = *consumed = mblen;
    } else {
        *out = kReplacement;
        *out_len = 3;
        *consumed = 1;
    }
    return RAD_OK;
}

static rad_status normalize(const rad_spm *m, const uint8_t *s, size_t len, spm_buf *out) {
    const char *p;
    size_t n, used;
    if (m->remove_extra_ws) { /* leading spaces */
        while (len) {
            RAD_TRY(normalize_prefix(m, s, len, &p, &n, &used));
            if (n != 1 || p[0] != ' ') break;
            s += used;
            len -= used;
        }
    }
    if (!len) return RAD_OK;
    const char *ws = m->escape_ws ? kSpace : " ";
    size_t ws_len = strlen(ws);
    if (!m->ws_suffix && m->add_dummy_prefix) RAD_TRY(spm_buf_put(out, ws, ws_len));
    bool prev_space = m->remove_extra_ws;
    while (len) {
        RAD_TRY(normalize_prefix(m, s, len, &p, &n, &used));
        while (prev_space && n && p[0] == ' ') { /* collapse runs of spaces */
            p++;
            n--;
        }
        if (n) {
            size_t run = 0;
            for (size_t i = 0; i < n; i++) {
                if (m->escape_ws && p[i] == ' ') {
                    RAD_TRY(spm_buf_put(out, p + run, i - run));
                    RAD_TRY(spm_buf_put(out, kSpace, 3));
                    run = i + 1;
                }
            }
            RAD_TRY(spm_buf_put(out, p + run, n - run));
            prev_space = p[n - 1] == ' ';
        }
        s += used;
        len -= used;
        if (!m->remove_extra_ws) prev_space = false;
    }
    if (m->remove_extra_ws) { /* trailing spaces */
        while (out->len >= ws_len && memcmp(out->p + out->len - ws_len, ws, ws_len) == 0) out->len -= ws_len;
    }
    if (m->ws_suffix && m->add_dummy_prefix) RAD_TRY(spm_buf_put(out, ws, ws_len));
    return RAD_OK;
}

rad_status spm_normalize(const rad_spm *m, const uint8_t *text, size_t len, spm_buf *out) {
    out->p = NULL;
    out->len = out->cap = 0;
    rad_status s = normalize(m, text, len, out);
    if (s != RAD_OK) {
        rad_free(out->p);
        out->p = NULL;
        out->len = out->cap = 0;
    }
    return s;
}

rad_status rad_spm_normalize(const rad_spm *m, const char *text, size_t len, char **out, size_t *out_len) {
    spm_buf b;
    *out = NULL;
    *out_len = 0;
    RAD_TRY(spm_normalize(m, (const uint8_t *)text, len, &b));
    rad_status s = spm_buf_put(&b, "", 1);
    if (s != RAD_OK) {
        rad_free(b.p);
        return s;
    }
    *out = b.p;
    *out_len = b.len - 1;
    return RAD_OK;
}
