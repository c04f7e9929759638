/* GGUF v3: a strict reader (spec formats.md §1.2, §1.3), held to the safetensors reader's standard: every
 * count, length, offset and product is checked before use; each kind of malformed file gets a named error
 * (the fault names of ggml's tests/test-gguf.cpp where one exists); nothing is allocated from a count the
 * remaining bytes could not hold. The file is mmapped; tensor data is not copied.
 *
 * Tensors are presented as safetensors tensors (rad_st_tensor) so the weights layer treats both formats alike:
 * shapes in PyTorch order (GGUF's ne[] reversed, ne[0] innermost), dtype one of F32, F16, BF16 or a block type
 * (io/quants.h), data pointing into the mapping. A `comfy.gguf.orig_shape.<name>` array (ComfyUI-GGUF's way of
 * storing tensors of more than 4 dims) restores that tensor's shape when the element counts agree. */
#ifndef RAD_GGUF_H
#define RAD_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

typedef struct rad_gguf rad_gguf;

/* Whether the file starts with the GGUF magic (for choosing a reader and for error messages). */
bool rad_gguf_sniff(const char *path);

rad_status rad_gguf_open(const char *path, rad_gguf **out);
/* Parses an in-memory image (the fuzzer); `data` must outlive the handle. */
rad_status rad_gguf_open_memory(const void *data, size_t size, const char *label, rad_gguf **out);
void rad_gguf_close(rad_gguf *g);

const char *rad_gguf_path(const rad_gguf *g);
uint32_t rad_gguf_version(const rad_gguf *g);
size_t rad_gguf_count(const rad_gguf *g);
const rad_st_tensor *rad_gguf_at(const rad_gguf *g, size_t i); /* in file order */
const rad_st_tensor *rad_gguf_find(const rad_gguf *g, const char *name);

/* Metadata, in file order. `value` is the value as text for listing (arrays abbreviated: "[u32 x 3: 1, 2, 3]");
 * rad_gguf_meta_str gives a string value by key (NULL when absent or not a string). */
size_t rad_gguf_meta_count(const rad_gguf *g);
void rad_gguf_meta_at(const rad_gguf *g, size_t i, const char **key, const char **value);
const char *rad_gguf_meta_str(const rad_gguf *g, const char *key);
#endif
