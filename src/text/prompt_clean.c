/* Wan's prompt cleaning: html.unescape (twice) and the whitespace clean. See prompt_clean.h for what is and
 * is not reproduced. */
#include "text/prompt_clean.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"
#include "text/html_entities.h"
#include "text/spm_internal.h" /* spm_buf */

static size_t utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* html._invalid_charrefs: &#0; and the windows-1252 meanings of &#x80;..&#x9f;. */
static const uint16_t cp1252[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* html._replace_charref for a numeric reference (num saturates above 0x10FFFF). */
static rad_status put_charref(spm_buf *out, uint32_t num) {
    char u[4];
    if (num == 0) num = 0xfffd;
    else if (num >= 0x80 && num <= 0x9f) num = cp1252[num - 0x80];
    else if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) num = 0xfffd;
    else if ((num >= 0x1 && num <= 0x8) || num == 0xb || (num >= 0xe && num <= 0x1f) || num == 0x7f ||
             (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe)
        return RAD_OK; /* html._invalid_codepoints: dropped */
    return spm_buf_put(out, u, utf8_put(num, u));
}

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int hex_val(uint8_t c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the digits of a numeric reference from s[*i]; returns the value, saturated at 0x110000. */
static uint32_t read_number(const uint8_t *s, size_t len, size_t *i, unsigned base) {
    uint32_t num = 0;
    for (; *i < len; (*i)++) {
        int d = base == 10 ? (is_digit(s[*i]) ? s[*i] - '0' : -1) : hex_val(s[*i]);
        if (d < 0) break;
        num = num * base + (uint32_t)d;
        if (num > 0x10ffff) num = 0x110000;
    }
    return num;
}

/* One pass of html.unescape: the regex &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) replaced by
 * html._replace_charref, scanning left to right. */
static rad_status unescape(const uint8_t *s, size_t len, spm_buf *out) {
    size_t i = 0;
    while (i < len) {
        const uint8_t *amp = memchr(s + i, '&', len - i);
        size_t plain = amp ? (size_t)(amp - (s + i)) : len - i;
        RAD_TRY(spm_buf_put(out, s + i, plain));
        i += plain;
        if (i >= len) break;
        size_t j = i + 1; /* after the '&' */
        if (j < len && s[j] == '#') {
            size_t k = j + 1;
            uint32_t num;
            if (k < len && is_digit(s[k])) {
                num = read_number(s, len, &k, 10);
            } else if (k + 1 < len && (s[k] == 'x' || s[k] == 'X') && hex_val(s[k + 1]) >= 0) {
                k++;
                num = read_number(s, len, &k, 16);
            } else { /* "&#" without digits: not a reference */
                RAD_TRY(spm_buf_put(out, "&", 1));
                i = j;
                continue;
            }
            if (k < len && s[k] == ';') k++;
            RAD_TRY(put_charref(out, num));
            i = k;
            continue;
        }
        /* A name: 1 to 32 characters other than \t \n \f space < & # ; and an optional ';'. */
        size_t k = j;
        for (int chars = 0; chars < 32 && k < len && !memchr("\t\n\f <&#;", s[k], 8); chars++) {
            uint32_t cp;
            size_t n;
            rad_utf8_decode(s + k, len - k, &cp, &n);
            k += n;
        }
        if (k == j) {
            RAD_TRY(spm_buf_put(out, "&", 1));
            i = j;
            continue;
        }
        if (k < len && s[k] == ';') k++;
        const char *name = (const char *)s + j;
        const char *text = rad_html_entity(name, k - j);
        if (text) {
            RAD_TRY(spm_buf_put(out, text, strlen(text)));
        } else {
            /* The longest known prefix of at least 2 characters (names are ASCII, so bytes are characters
             * wherever a match is possible), followed by the rest unchanged; else everything unchanged. */
            size_t x = k - j - 1;
            for (; x >= 2 && !(text = rad_html_entity(name, x)); x--) {
            }
            if (text) {
                RAD_TRY(spm_buf_put(out, text, strlen(text)));
                RAD_TRY(spm_buf_put(out, name + x, k - j - x));
            } else {
                RAD_TRY(spm_buf_put(out, s + i, k - i));
            }
        }
        i = k;
    }
    return RAD_OK;
}

static bool is_space(uint32_t cp) {
    return (cp >= 0x9 && cp <= 0xd) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

static rad_status whitespace_clean(const uint8_t *s, size_t len, spm_buf *out) {
    bool pending = false; /* a run of spaces after some text: written as ' ' if more text follows */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (rad_utf8_decode(s + i, len - i, &cp, &n) && is_space(cp)) {
            pending = out->len > 0;
        } else {
            if (pending) RAD_TRY(spm_buf_put(out, " ", 1));
            pending = false;
            RAD_TRY(spm_buf_put(out, s + i, n));
        }
        i += n;
    }
    return RAD_OK;
}

/* Runs fn and hands back its output NUL-terminated. */
static rad_status run(rad_status (*fn)(const uint8_t *, size_t, spm_buf *), const char *in, size_t len, char **out,
                      size_t *out_len) {
    spm_buf b = {0};
    *out = NULL;
    *out_len = 0;
    rad_status s = fn((const uint8_t *)in, len, &b);
    if (s == RAD_OK) s = spm_buf_put(&b, "", 1);
    if (s != RAD_OK) {
        rad_free(b.p);
        return s;
    }
    *out = b.p;
    *out_len = b.len - 1;
    return RAD_OK;
}

rad_status rad_html_unescape(const char *in, size_t len, char **out, size_t *out_len) {
    return run(unescape, in, len, out, out_len);
}

rad_status rad_whitespace_clean(const char *in, size_t len, char **out, size_t *out_len) {
    return run(whitespace_clean, in, len, out, out_len);
}

rad_status rad_uncurl_quotes(const char *in, size_t len, char **out, size_t *out_len) {
    /* Every replaced character is 2 or 3 UTF-8 bytes and becomes 1, so the output is never longer. */
    RAD_TRY(rad_alloc((void **)out, len + 1, "uncurled prompt"));
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (i + 1 < len && u[i] == 0xCA && u[i + 1] == 0xBC) { /* U+02BC */
            (*out)[o++] = '\'', i += 2;
        } else if (i + 2 < len && u[i] == 0xE2 && u[i + 1] == 0x80 && u[i + 2] >= 0x98 && u[i + 2] <= 0x9F) {
            (*out)[o++] = u[i + 2] <= 0x9B ? '\'' : '"', i += 3; /* U+2018-201B, U+201C-201F */
        } else {
            (*out)[o++] = in[i++];
        }
    }
    (*out)[o] = '\0';
    *out_len = o;
    return RAD_OK;
}

rad_status rad_prompt_clean(const char *in, size_t len, char **out, size_t *out_len) {
    char *straight, *once, *twice;
    size_t n0, n1, n2;
    RAD_TRY(rad_uncurl_quotes(in, len, &straight, &n0));
    rad_status s = rad_html_unescape(straight, n0, &once, &n1);
    rad_free(straight);
    RAD_TRY(s);
    s = rad_html_unescape(once, n1, &twice, &n2);
    rad_free(once);
    RAD_TRY(s);
    s = rad_whitespace_clean(twice, n2, out, out_len);
    rad_free(twice);
    return s;
}
