/* Wan's prompt cleaning before the T5 tokenizer (wan/modules/tokenizers.py, clean='whitespace'; diffusers'
 * prompt_clean is the same):
 *     ftfy.fix_text -> html.unescape -> html.unescape -> strip -> re.sub(r'\s+', ' ') -> strip
 *
 * html.unescape is reproduced exactly (Python 3 html/__init__.py): all 2231 HTML5 named references, with the
 * longest-prefix rule for names written without ';' ("&notit;" -> "¬it;"), the 32-character name limit,
 * decimal and hex numeric references with the same replacements (&#0; and surrogates/out of range ->
 * U+FFFD, &#x80;..&#x9f; -> windows-1252, noncharacters and most C0/C1 controls -> nothing). Whitespace is
 * Python's str.isspace() set, which is also what `\s` matches: U+0009-000D, U+001C-001F, U+0020, U+0085,
 * U+00A0, U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 *
 * ftfy.fix_text is reproduced only in its quote straightening (uncurl_quotes: U+02BC and U+2018-201B become
 * ', U+201C-201F become "), done first as ftfy does. Its mojibake repair is a large heuristic and is not
 * reproduced; for ordinary prompts the rest changes nothing that the nmt_nfkc normalizer does not also do (NFC,
 * full-width and ligature folding), except:
 *   - mojibake such as "cafÃ©" is repaired by ftfy, kept here;
 *   - ftfy itself also unescapes HTML entities (when the text has no '<'), so text escaped more than twice
 *     ("&amp;amp;amp;") comes out differently;
 *   - the control characters and terminal escapes ftfy removes are left to the normalizer.
 * Bytes that are not valid UTF-8 (which a Python str cannot hold) are copied through unchanged and count as
 * one non-space character each. */
#ifndef RAD_PROMPT_CLEAN_H
#define RAD_PROMPT_CLEAN_H
#include <stddef.h>

#include "base/status.h"

/* Python's html.unescape. *out is rad_alloc'ed and NUL-terminated. */
rad_status rad_html_unescape(const char *in, size_t len, char **out, size_t *out_len);
/* Strips leading and trailing whitespace and turns every inner run of it into one ' '. */
rad_status rad_whitespace_clean(const char *in, size_t len, char **out, size_t *out_len);
/* ftfy's uncurl_quotes. */
rad_status rad_uncurl_quotes(const char *in, size_t len, char **out, size_t *out_len);
/* The whole cleaning: uncurl quotes, unescape twice, then the whitespace clean. */
rad_status rad_prompt_clean(const char *in, size_t len, char **out, size_t *out_len);
#endif
