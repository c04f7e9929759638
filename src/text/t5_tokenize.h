/* The token ids Wan feeds to umT5 for a prompt: the prompt cleaned as Wan does (prompt_clean.h), encoded
 * with sentencepiece, truncated to max_len-1 text tokens and closed with eos (transformers' tokenizer call
 * with truncation=True, max_length=512, add_special_tokens=True; no bos). Padding is the caller's: T5 runs
 * on the real tokens only (wan21.md §2.4). */
#ifndef RAD_T5_TOKENIZE_H
#define RAD_T5_TOKENIZE_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "text/spm.h"

#define RAD_T5_TEXT_LEN 512

/* *ids is rad_alloc'ed (rad_free it); 1 <= *n <= max_len; the last id is the model's eos. */
rad_status rad_t5_tokenize(const rad_spm *spm, const char *prompt, size_t max_len, int32_t **ids, size_t *n);
#endif
