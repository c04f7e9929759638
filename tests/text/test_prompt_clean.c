/* Wan's prompt cleaning and the T5 tokenization wrapper. The expected strings are written by hand from the
 * semantics of Python's html.unescape (html/__init__.py) and of str.strip / re \s (Python's whitespace set);
 * tokenizer_extra.json holds more, computed by Python itself. */
#include <string.h>

#include "base/mem.h"
#include "test_util.h"
#include "text/prompt_clean.h"
#include "text/spm.h"
#include "text/t5_tokenize.h"

static int same(rad_status (*fn)(const char *, size_t, char **, size_t *), const char *in, size_t in_len,
                const char *expect) {
    char *out;
    size_t n;
    if (fn(in, in_len, &out, &n) != RAD_OK) {
        fprintf(stderr, "failed on '%s': %s\n", in, rad_last_error());
        return 0;
    }
    int ok = n == strlen(expect) && !memcmp(out, expect, n) && out[n] == '\0';
    if (!ok) fprintf(stderr, "'%s' -> '%s', expected '%s'\n", in, out, expect);
    rad_free(out);
    return ok;
}

#define UNESCAPES(in, expect) CHECK(same(rad_html_unescape, in, strlen(in), expect))
#define WS_CLEANS(in, expect) CHECK(same(rad_whitespace_clean, in, strlen(in), expect))
#define CLEANS(in, expect) CHECK(same(rad_prompt_clean, in, strlen(in), expect))

static void check_unescape(void) {
    UNESCAPES("no entities", "no entities");
    UNESCAPES("", "");
    UNESCAPES("Tom &amp; Jerry", "Tom & Jerry");
    UNESCAPES("&lt;3 &gt; &quot;q&quot; &apos;a&apos;", "<3 > \"q\" 'a'");
    UNESCAPES("&amp;amp;", "&amp;"); /* one pass only */
    UNESCAPES("caf&eacute; &Eacute; &copy;&reg;", "caf\xc3\xa9 \xc3\x89 \xc2\xa9\xc2\xae");
    /* Names are case-sensitive; legacy names work without ';' and as a prefix of a longer word. */
    UNESCAPES("&AMP; &Amp; &amp &ampx &copy2024", "& &Amp; & &x \xc2\xa9" "2024");
    UNESCAPES("&notit; &notin; &not", "\xc2\xac" "it; \xe2\x88\x89 \xc2\xac");
    /* A name that is no reference stays as written, ';' included; '&' followed by a delimiter too. */
    UNESCAPES("&unknown; &; & x &&amp; &#; &#x; &#xg;", "&unknown; &; & x && &#; &#x; &#xg;");
    /* Numeric references, with and without ';', decimal and hex (either case of x and of digits). */
    UNESCAPES("&#65;&#66&#x43;&#X44&#x6a;&#x6A;", "ABCDjj");
    UNESCAPES("&#128049;", "\xf0\x9f\x90\xb1");
    UNESCAPES("&#0065;&#x000041;", "AA");
    /* html._invalid_charrefs: 0 and 0x80..0x9f (windows-1252), 0x0d stays CR. */
    UNESCAPES("&#0;", "\xef\xbf\xbd");
    UNESCAPES("&#13;", "\r");
    UNESCAPES("&#x80;&#x85;&#x9f;&#x81;", "\xe2\x82\xac\xe2\x80\xa6\xc5\xb8\xc2\x81");
    /* Surrogates and values past U+10FFFF become U+FFFD, however many digits. */
    UNESCAPES("&#xD800;&#xdfff;&#x110000;&#99999999999999999999999;",
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* html._invalid_codepoints are dropped: C0 controls but tab/LF/FF/CR... and noncharacters. */
    UNESCAPES("a&#1;&#8;&#11;&#14;&#31;&#127;&#xfdd0;&#xFFFE;&#x1FFFF;&#x10FFFF;b", "ab");
    UNESCAPES("&#9;&#10;&#12;&#32;", "\t\n\f ");
    UNESCAPES("&#xFDCF;&#xFDF0;&#x10FFFD;", "\xef\xb7\x8f\xef\xb7\xb0\xf4\x8f\xbf\xbd");
    /* Multi-character references. */
    UNESCAPES("&NotEqualTilde;&fjlig;", "\xe2\x89\x82\xcc\xb8" "fj");
    /* Non-ASCII after a name ends the lookup at the longest known prefix. */
    UNESCAPES("&amp\xc3\xa9", "&\xc3\xa9");
    /* Bytes that are not UTF-8 pass through. */
    UNESCAPES("\xff&amp;\xfe", "\xff&\xfe");
}

static void check_whitespace(void) {
    WS_CLEANS("  a \t\n b  ", "a b");
    WS_CLEANS("", "");
    WS_CLEANS(" \t\r\n\v\f", "");
    WS_CLEANS("a\x1c" "b\x1d" "c\x1e" "d\x1f" "e", "a b c d e");
    /* U+0085, U+00A0, U+1680, U+2000, U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 are spaces. */
    WS_CLEANS("\xc2\x85" "a\xc2\xa0" "b\xe1\x9a\x80" "c\xe2\x80\x80" "d\xe2\x80\x8a" "e\xe2\x80\xa8" "f\xe2\x80\xa9"
              "g\xe2\x80\xaf" "h\xe2\x81\x9f" "i\xe3\x80\x80",
              "a b c d e f g h i");
    /* U+200B (zero width), U+180E (no longer a space since Unicode 6.3), U+FEFF are not. */
    WS_CLEANS("a\xe2\x80\x8b" "b\xe1\xa0\x8e" "c\xef\xbb\xbf" "d", "a\xe2\x80\x8b" "b\xe1\xa0\x8e" "c\xef\xbb\xbf" "d");
    /* Malformed UTF-8 is a non-space character: C2 alone is not U+0085. */
    WS_CLEANS(" \xc2 x \xff ", "\xc2 x \xff");
}

static void check_clean(void) {
    CLEANS("  A cat\twalks  ", "A cat walks");
    CLEANS("&amp;lt;b&amp;gt;", "<b>"); /* unescaped twice */
    CLEANS("&amp;amp;amp;", "&amp;");
    CLEANS("&amp;nbsp;x&#10;y&nbsp;", "x y"); /* whitespace produced by unescaping is cleaned too */
    CLEANS("&#32;&#32;", "");
    /* ftfy's uncurl_quotes docstring: '\u201chere\u2019s a test\u201d' -> '"here's a test"'. */
    CLEANS("\xe2\x80\x9c" "here" "\xe2\x80\x99" "s a test" "\xe2\x80\x9d", "\"here's a test\"");
    CLEANS("\xe2\x80\x98" "a" "\xe2\x80\x9b \xca\xbc \xe2\x80\x9e\xe2\x80\x9f", "'a' ' \"\"");
    CLEANS("a\xe2\x80\x94" "b\xe2\x80\x97", "a\xe2\x80\x94" "b\xe2\x80\x97"); /* U+2014, U+2017 are not quotes */
}

static void check_t5(void) {
    char path[1024];
    rad_spm *spm;
    CHECK_OK(rad_spm_load(rad_test_path(path, sizeof path, "tiny-wan"), &spm));
    if (!spm) return;
    int32_t *ids;
    size_t n;
    /* "A cat" -> ▁A ▁cat (ids 308 573 in tokenizer.json) + eos 1. */
    CHECK_OK(rad_t5_tokenize(spm, "  A &#99;at ", 512, &ids, &n));
    CHECK(n == 3 && ids[0] == 308 && ids[1] == 573 && ids[2] == 1);
    rad_free(ids);
    CHECK_OK(rad_t5_tokenize(spm, "A cat", 2, &ids, &n));
    CHECK(n == 2 && ids[0] == 308 && ids[1] == 1);
    rad_free(ids);
    CHECK_OK(rad_t5_tokenize(spm, "A cat", 1, &ids, &n));
    CHECK(n == 1 && ids[0] == 1);
    rad_free(ids);
    CHECK_OK(rad_t5_tokenize(spm, "", 512, &ids, &n));
    CHECK(n == 1 && ids[0] == 1);
    rad_free(ids);
    CHECK_FAILS(rad_t5_tokenize(spm, "A cat", 0, &ids, &n));
    /* 2000 "a" -> ▁a + 1999 a: truncated to 511 text tokens + eos. */
    static char longp[2001];
    memset(longp, 'a', 2000);
    CHECK_OK(rad_t5_tokenize(spm, longp, 512, &ids, &n));
    CHECK(n == 512 && ids[0] == 278 && ids[1] == 286 && ids[510] == 286 && ids[511] == 1);
    rad_free(ids);
    rad_spm_free(spm);

    /* A model whose eos_id is -1 (disabled) cannot close a T5 sequence. */
    static const unsigned char model[] = {
        0x0a, 0x0e, 0x0a, 0x05, '<', 'u', 'n', 'k', '>', 0x15, 0, 0, 0, 0, 0x18, 0x02, /* <unk> UNKNOWN */
        0x0a, 0x03, 0x0a, 0x01, 'a',                                                   /* "a" NORMAL */
        0x12, 0x0c, 0xd0, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* eos_id (42) -1 */
    };
    CHECK_OK(rad_spm_load_memory(model, sizeof model, "no-eos", &spm));
    if (spm) {
        CHECK(rad_spm_eos_id(spm) == -1);
        CHECK_FAILS(rad_t5_tokenize(spm, "a", 512, &ids, &n));
        rad_spm_free(spm);
    }
}

int main(void) {
    check_unescape();
    check_whitespace();
    check_clean();
    check_t5();
    TEST_MAIN_END();
}
