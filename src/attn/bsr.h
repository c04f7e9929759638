/* Block-sparse layout shared by the mask builder and every attention kernel: block-CSR over square
 * blocks of `block` tokens. Row r (query tokens [r*block, min((r+1)*block, n_tokens))) attends to the key
 * blocks col_idx[row_ptr[r] .. row_ptr[r+1]), ascending. The last row/column block may be partial; kernels
 * mask its missing tokens exactly. The same layout serves every head. Dense = all blocks present. */
#ifndef RAD_BSR_H
#define RAD_BSR_H
#include <stdint.h>

#include "base/status.h"

typedef struct rad_bsr {
    int64_t n_tokens; /* query and key tokens (self-attention) */
    int32_t block;    /* block edge in tokens (128) */
    int32_t n_blocks; /* ceil(n_tokens / block) */
    int32_t *row_ptr; /* n_blocks + 1 */
    int32_t *col_idx; /* row_ptr[n_blocks] entries */
} rad_bsr;

/* All-ones layout (dense attention through the block-sparse path). */
rad_status rad_bsr_dense(int64_t n_tokens, int32_t block, rad_bsr *out);
/* From a row-major n_blocks x n_blocks 0/1 block mask. */
rad_status rad_bsr_from_mask(const uint8_t *mask, int32_t n_blocks, int64_t n_tokens, int32_t block, rad_bsr *out);
void rad_bsr_free(rad_bsr *b);
/* Checks a layout that may come from anywhere before a kernel walks it: n_blocks = ceil(n_tokens / block),
 * row_ptr starts at 0 and never decreases, every col_idx lies in [0, n_blocks). */
rad_status rad_bsr_check(const rad_bsr *b);
/* Fraction of blocks present: nnz / n_blocks^2. */
double rad_bsr_density(const rad_bsr *b);
/* Query-key token pairs inside the present blocks, partial last blocks counted by their real tokens: the
 * attention work the layout keeps (n_tokens^2 when dense). */
double rad_bsr_pairs(const rad_bsr *b);
#endif
