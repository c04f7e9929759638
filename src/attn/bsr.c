/* Block-CSR layouts: construction from a 0/1 block mask, the dense (all-blocks) layout, checks and counts. */
#include "attn/bsr.h"

#include <string.h>

#include "base/mem.h"

/* Shared checks: sizes that fit the int32 indices of the layout and agree with each other. */
static rad_status check_shape(int64_t n_tokens, int32_t block, int32_t n_blocks) {
    if (n_tokens <= 0 || block <= 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: need n_tokens > 0 and block > 0, got n_tokens=%lld block=%d",
                       (long long)n_tokens, (int)block);
    int64_t want = (n_tokens + block - 1) / block;
    if (want != n_blocks)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: %lld tokens in blocks of %d make %lld block rows, got %d",
                       (long long)n_tokens, (int)block, (long long)want, (int)n_blocks);
    /* All nnz counts are int32: n_blocks^2 must fit. */
    if ((int64_t)n_blocks * n_blocks > INT32_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: %d x %d blocks exceed the int32 index range",
                       (int)n_blocks, (int)n_blocks);
    return RAD_OK;
}

static rad_status alloc_layout(int64_t n_tokens, int32_t block, int32_t n_blocks, int64_t nnz, rad_bsr *out) {
    memset(out, 0, sizeof *out);
    RAD_TRY(rad_alloc((void **)&out->row_ptr, ((size_t)n_blocks + 1) * sizeof(int32_t), "block-CSR row_ptr"));
    /* nnz may be 0 (an empty mask); keep col_idx a valid pointer anyway. */
    rad_status s = rad_alloc((void **)&out->col_idx, (size_t)(nnz > 0 ? nnz : 1) * sizeof(int32_t), "block-CSR col_idx");
    if (s != RAD_OK) {
        rad_free(out->row_ptr);
        out->row_ptr = NULL;
        return s;
    }
    out->n_tokens = n_tokens;
    out->block = block;
    out->n_blocks = n_blocks;
    return RAD_OK;
}

rad_status rad_bsr_dense(int64_t n_tokens, int32_t block, rad_bsr *out) {
    memset(out, 0, sizeof *out);
    const int64_t nb = n_tokens > 0 && block > 0 ? (n_tokens + block - 1) / block : 0; /* 0: check_shape says why */
    if (nb > INT32_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: %lld block rows exceed int32", (long long)nb);
    const int32_t n_blocks = (int32_t)nb;
    RAD_TRY(check_shape(n_tokens, block, n_blocks));
    RAD_TRY(alloc_layout(n_tokens, block, n_blocks, (int64_t)n_blocks * n_blocks, out));
    for (int32_t r = 0; r <= n_blocks; r++) out->row_ptr[r] = r * n_blocks;
    for (int32_t r = 0; r < n_blocks; r++)
        for (int32_t c = 0; c < n_blocks; c++) out->col_idx[(int64_t)r * n_blocks + c] = c;
    return RAD_OK;
}

rad_status rad_bsr_from_mask(const uint8_t *mask, int32_t n_blocks, int64_t n_tokens, int32_t block, rad_bsr *out) {
    memset(out, 0, sizeof *out);
    RAD_TRY(check_shape(n_tokens, block, n_blocks));
    int64_t nnz = 0, total = (int64_t)n_blocks * n_blocks;
    for (int64_t i = 0; i < total; i++) nnz += mask[i] != 0;
    RAD_TRY(alloc_layout(n_tokens, block, n_blocks, nnz, out));
    int32_t k = 0;
    out->row_ptr[0] = 0;
    for (int32_t r = 0; r < n_blocks; r++) {
        const uint8_t *row = mask + (int64_t)r * n_blocks;
        for (int32_t c = 0; c < n_blocks; c++)
            if (row[c]) out->col_idx[k++] = c;
        out->row_ptr[r + 1] = k;
    }
    return RAD_OK;
}

rad_status rad_bsr_check(const rad_bsr *b) {
    if (!b->row_ptr || !b->col_idx) return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: no row_ptr or col_idx");
    RAD_TRY(check_shape(b->n_tokens, b->block, b->n_blocks));
    if (b->row_ptr[0] != 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: row_ptr[0] is %d, expected 0", (int)b->row_ptr[0]);
    for (int32_t r = 0; r < b->n_blocks; r++) {
        if (b->row_ptr[r + 1] < b->row_ptr[r])
            return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: row_ptr decreases at row %d", (int)r);
        for (int32_t e = b->row_ptr[r]; e < b->row_ptr[r + 1]; e++)
            if (b->col_idx[e] < 0 || b->col_idx[e] >= b->n_blocks)
                return rad_err(RADIAL_ERR_INVALID_ARG, "block-CSR: col_idx[%d] = %d outside [0, %d) in row %d", (int)e,
                               (int)b->col_idx[e], (int)b->n_blocks, (int)r);
    }
    return RAD_OK;
}

void rad_bsr_free(rad_bsr *b) {
    if (!b) return;
    rad_free(b->row_ptr);
    rad_free(b->col_idx);
    memset(b, 0, sizeof *b);
}

/* Tokens in block row (or column) r. */
static double block_tokens(const rad_bsr *b, int64_t r) {
    return (double)((r + 1) * b->block <= b->n_tokens ? b->block : b->n_tokens - r * b->block);
}

double rad_bsr_pairs(const rad_bsr *b) {
    double pairs = 0;
    for (int32_t r = 0; r < b->n_blocks; r++)
        for (int32_t e = b->row_ptr[r]; e < b->row_ptr[r + 1]; e++)
            pairs += block_tokens(b, r) * block_tokens(b, b->col_idx[e]);
    return pairs;
}

double rad_bsr_density(const rad_bsr *b) {
    if (!b || b->n_blocks <= 0 || !b->row_ptr) return 0.0;
    return (double)b->row_ptr[b->n_blocks] / ((double)b->n_blocks * (double)b->n_blocks);
}
