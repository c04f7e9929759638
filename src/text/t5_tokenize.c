#include "text/t5_tokenize.h"

#include <string.h>

#include "base/mem.h"
#include "text/prompt_clean.h"

rad_status rad_t5_tokenize(const rad_spm *spm, const char *prompt, size_t max_len, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (max_len < 1) return rad_err(RADIAL_ERR_INVALID_ARG, "T5 max length %zu, expected at least 1 (eos)", max_len);
    const int32_t eos = rad_spm_eos_id(spm);
    if (eos < 0 || (size_t)eos >= rad_spm_size(spm))
        return rad_err(RADIAL_ERR_MODEL, "tokenizer: eos id %d is not a piece of the %zu-piece model", eos,
                       rad_spm_size(spm));
    char *clean;
    size_t clean_len, count;
    int32_t *text_ids;
    RAD_TRY(rad_prompt_clean(prompt, strlen(prompt), &clean, &clean_len));
    rad_status s = rad_spm_encode_bytes(spm, clean, clean_len, &text_ids, &count);
    rad_free(clean);
    RAD_TRY(s);
    if (count > max_len - 1) count = max_len - 1;
    s = rad_alloc((void **)ids, (count + 1) * sizeof **ids, "T5 token ids");
    if (s == RAD_OK) {
        memcpy(*ids, text_ids, count * sizeof **ids);
        (*ids)[count] = eos;
        *n = count + 1;
    }
    rad_free(text_ids);
    return s;
}
