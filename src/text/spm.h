/* SentencePiece unigram tokenizer (the umT5 spiece.model), exact to google/sentencepiece.
 *
 * Loading parses the ModelProto (protobuf wire format) strictly: every length is checked against the bytes
 * left, unknown fields are skipped, and anything sentencepiece would refuse to load (empty or duplicate
 * pieces, no <unk>, byte pieces missing while byte_fallback is set, a broken charsmap, ...) is an error
 * naming the file and the fault. Only model_type UNIGRAM is supported; self_test_data and the
 * denormalizer are ignored (encoding does not use them).
 *
 * Encoding follows sentencepiece: normalizer.cc (precompiled charsmap longest match, user-defined symbols
 * copied verbatim, malformed UTF-8 -> U+FFFD one byte at a time, dummy prefix, extra-whitespace removal,
 * ' ' -> U+2581), unigram_model.cc EncodeOptimized (Viterbi over bytes, UNUSED pieces skipped,
 * USER_DEFINED scored len*max_score-0.1, an unknown character scored min_score-10), and
 * sentencepiece_processor.cc (unknown pieces become <0xXX> byte pieces with byte_fallback, otherwise runs
 * of unknowns merge into one <unk>). Ids are the piece indices of the model. A loaded model is read-only:
 * encoding from several threads at once is safe. */
#ifndef RAD_SPM_H
#define RAD_SPM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_spm rad_spm;

/* path: a spiece.model file; a folder holding spiece.model, tokenizer/spiece.model (diffusers root) or
 * google/umt5-xxl/spiece.model (official Wan root); or a .safetensors file with the model bytes as a uint8
 * tensor `spiece_model` (ComfyUI single-file T5). */
rad_status rad_spm_load(const char *path, rad_spm **out);
/* Parses a serialized ModelProto; the bytes are copied. `label` names the source in messages. */
rad_status rad_spm_load_memory(const void *buf, size_t len, const char *label, rad_spm **out);
void rad_spm_free(rad_spm *spm);

/* Encodes NUL-terminated UTF-8 text into piece ids (no bos/eos). *ids is allocated with rad_alloc (free it
 * with rad_free) and is non-NULL even when *n is 0. */
rad_status rad_spm_encode(const rad_spm *spm, const char *text, int32_t **ids, size_t *n);
/* The same for text of explicit length (may hold NUL bytes). */
rad_status rad_spm_encode_bytes(const rad_spm *spm, const char *text, size_t len, int32_t **ids, size_t *n);
/* The normalized text (what spm_normalize prints, with U+2581 for spaces); *out is rad_alloc'ed and
 * NUL-terminated. */
rad_status rad_spm_normalize(const rad_spm *spm, const char *text, size_t len, char **out, size_t *out_len);

size_t rad_spm_size(const rad_spm *spm);
/* The piece string of an id (not NUL-terminated; *len is set), or NULL when id is out of range. */
const char *rad_spm_piece(const rad_spm *spm, int32_t id, size_t *len);
/* Special ids as the trainer_spec records them (-1 when disabled). */
int32_t rad_spm_unk_id(const rad_spm *spm);
int32_t rad_spm_bos_id(const rad_spm *spm);
int32_t rad_spm_eos_id(const rad_spm *spm);
int32_t rad_spm_pad_id(const rad_spm *spm);
bool rad_spm_byte_fallback(const rad_spm *spm);
#endif
