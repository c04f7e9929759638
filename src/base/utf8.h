/* Strict UTF-8, the one decoder of the project (safetensors headers, prompt cleaning, the sentencepiece
 * normalizer): shortest form only, no surrogates, nothing above U+10FFFF. */
#ifndef RAD_UTF8_H
#define RAD_UTF8_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s[0 .. len) (len >= 1): true with its code point *cp and byte length *n; false when
 * s does not start a valid character (then *n = 1: the caller treats the byte on its own). */
static inline bool rad_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp, size_t *n) {
    const uint8_t c = s[0];
    const size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    *n = 1;
    if (k == 1) {
        *cp = c;
        return true;
    }
    if (k == 0 || k > len) return false;
    uint32_t v = c & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return false;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return false;
    *cp = v;
    *n = k;
    return true;
}
#endif
