/* The double-precision attention reference the CUDA attention tests share (one test program includes it once). */
#ifndef RAD_ATTN_REF_H
#define RAD_ATTN_REF_H
#include <math.h>
#include <stdint.h>

#include "attn/bsr.h"

/* Attention of one (row, head) of [n, heads, head_dim] q against k, v over the blocks of 128 keys that layout mk
 * lists for the row's block (mk NULL: all nk keys), scale 1/sqrt(head_dim), in double: two passes over the keys
 * (the max, then the weighted sum). out gets head_dim values (0 for a row that sees no key). */
static inline void attn_ref_row(const float *q, const float *k, const float *v, int64_t nk, int64_t heads,
                                int64_t head_dim, int64_t row, int64_t h, const rad_bsr *mk, double *out) {
    const int64_t stride = heads * head_dim, rb = row / 128;
    const float *qr = q + row * stride + h * head_dim;
    double mx = -INFINITY, sum = 0.0;
    for (int64_t d = 0; d < head_dim; d++) out[d] = 0.0;
    const int32_t e_begin = mk ? mk->row_ptr[rb] : 0, e_end = mk ? mk->row_ptr[rb + 1] : (int32_t)((nk + 127) / 128);
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t e = e_begin; e < e_end; e++) {
            const int64_t k0 = (int64_t)(mk ? mk->col_idx[e] : e) * 128, k1 = k0 + 128 < nk ? k0 + 128 : nk;
            for (int64_t j = k0; j < k1; j++) {
                const float *kr = k + j * stride + h * head_dim;
                double s = 0.0;
                for (int64_t d = 0; d < head_dim; d++) s += (double)qr[d] * kr[d];
                s /= sqrt((double)head_dim);
                if (pass == 0) {
                    if (s > mx) mx = s;
                } else {
                    const double p = exp(s - mx);
                    sum += p;
                    const float *vr = v + j * stride + h * head_dim;
                    for (int64_t d = 0; d < head_dim; d++) out[d] += p * vr[d];
                }
            }
        }
    }
    for (int64_t d = 0; d < head_dim; d++) out[d] = sum > 0 ? out[d] / sum : 0.0;
}
#endif
