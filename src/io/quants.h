/* GGUF block types: ggml's block layouts and their exact dequantisation (ggml-quants.c, the reference
 * `dequantize_row_*` functions), so that a quantised file computes what ggml computes.
 *
 * A tensor of a block type stores its innermost dimension in blocks: `rad_quant_block_elems` consecutive
 * elements packed into `rad_quant_block_bytes` bytes (Q4_0: 32 elements in 18 bytes; Q4_K: 256 in 144).
 * Plain dtypes are blocks of one element, so the same size arithmetic serves every dtype. */
#ifndef RAD_QUANTS_H
#define RAD_QUANTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

bool rad_dtype_is_block(rad_dtype d); /* one of RAD_DT_Q* */
/* Elements and bytes per block: (1, rad_dtype_size) for plain dtypes; (0, 0) for RAD_DT_OTHER. */
int64_t rad_quant_block_elems(rad_dtype d);
size_t rad_quant_block_bytes(rad_dtype d);
/* Bytes of n elements of d, overflow-checked; n must be a whole number of blocks (else RADIAL_ERR_FORMAT naming
 * `what`). */
rad_status rad_quant_bytes(rad_dtype d, int64_t n, const char *what, size_t *out);
/* n elements of d from src to fp32: a float dtype (F32, F16, BF16, F8_E4M3, F8_E5M2, F64; src need not be
 * aligned) or a block type (n a whole number of blocks). False for any other dtype (nothing written). The one
 * element conversion of the engine: safetensors, GGUF and the backends' weight sources all go through it. */
bool rad_dtype_to_f32(rad_dtype d, const void *src, float *dst, int64_t n);
/* Dequantises n elements (a whole number of blocks) of block type d from src to fp32, exactly as ggml's
 * dequantize_row_* (fp16 block scales through rad_f16_to_f32). */
void rad_quant_dequant(rad_dtype d, const void *src, float *dst, int64_t n);
#endif
