/* LoRA files for the Wan DiT, in every key style diffusers reads (its loaders/lora_conversion_utils.py:
 * _convert_non_diffusers_wan_lora_to_diffusers, _convert_musubi_wan_lora_to_diffusers, and native PEFT):
 *   - `diffusion_model.blocks.N.self_attn.q.lora_down.weight` / `lora_up.weight` (or `lora_A` / `lora_B`), with
 *     an optional `.alpha`, `.diff_b` (bias delta) and `.diff` (full weight delta), official module names;
 *   - musubi-tuner `lora_unet_blocks_N_self_attn_q.lora_down.weight` / `lora_up.weight` / `.alpha`;
 *   - diffusers/PEFT `transformer.blocks.N.attn1.to_q.lora_A.weight` / `lora_B.weight` (diffusers names).
 * Stored tensors may be F32, F16 or BF16; they are rounded from their dtype to fp32 first, then the delta is
 * formed in fp32 (golden2/README.md): W += strength · scale · B·A with scale = alpha / rank (1 without alpha),
 * bias += strength · diff_b, W += strength · diff.
 *
 * Every module of a LoRA is matched to an official DiT tensor name when the file is opened; a key that fits no
 * style, a module that the model does not have, or a shape that does not fit the model is an error naming the
 * key and both shapes. */
#ifndef RAD_LORA_H
#define RAD_LORA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef struct rad_lora rad_lora;

rad_status rad_lora_open(const char *path, float strength, rad_lora **out);
void rad_lora_close(rad_lora *l);

/* Adds this LoRA's deltas for the official tensor `name` (e.g. "blocks.3.self_attn.q.weight" [rows, cols], or
 * "blocks.3.self_attn.q.bias" [rows]) to `data` (fp32, shape as given, row-major). *touched tells whether
 * the LoRA has a delta for it. A delta whose shape does not fit `shape` is RADIAL_ERR_MODEL naming the LoRA
 * key and both shapes. Multi-threaded for large products. */
rad_status rad_lora_apply(rad_lora *l, const char *name, int ndim, const int64_t *shape, float *data, bool *touched);

/* After loading: RAD_OK when every module of the LoRA was applied to some tensor, else RADIAL_ERR_MODEL naming the
 * first key that maps to no tensor of the model. */
rad_status rad_lora_check_all_used(const rad_lora *l);

/* For messages and `radial inspect`. */
const char *rad_lora_path(const rad_lora *l);
const char *rad_lora_style(const rad_lora *l); /* "ComfyUI/official (lora_down/lora_up)", "musubi-tuner", ... */
float rad_lora_strength(const rad_lora *l);
size_t rad_lora_module_count(const rad_lora *l);  /* modules (weight deltas, bias deltas) the file holds */
size_t rad_lora_applied_count(const rad_lora *l); /* of those, applied so far */
/* Module i: official tensor name it targets, rank (0 for diff/diff_b), alpha (NAN when absent). */
void rad_lora_module_at(const rad_lora *l, size_t i, const char **target, int *rank, float *alpha);

/* Additions (lora.c documents the key rules, what diffusers drops and the merge arithmetic). */
#define RAD_LORA_MAX_DIMS 8 /* = RAD_MAX_DIMS of io/safetensors.h */
/* rad_lora_open on an in-memory safetensors image (the fuzzer); `data` must outlive the handle. */
rad_status rad_lora_open_memory(const void *data, size_t size, const char *label, float strength, rad_lora **out);
/* Module i: the LoRA key named in messages (lora_up of a pair, else the delta's key), its scale (alpha / rank or
 * 1, times the PEFT adapter-config factor; strength not included), and the shape of the delta it adds (the
 * number of dims is returned). */
const char *rad_lora_module_key(const rad_lora *l, size_t i);
float rad_lora_module_scale(const rad_lora *l, size_t i);
int rad_lora_module_shape(const rad_lora *l, size_t i, int64_t shape[RAD_LORA_MAX_DIMS]);
#endif
