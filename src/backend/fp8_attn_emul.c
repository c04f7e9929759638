/* fp8 attention's quantisation and softmax arithmetic on the CPU (fp8_attn_emul.h). The quantisation is one IEEE
 * single-precision operation per step, in the order the device kernels (cuda/attn_fp8_quant.cu) do them, so its
 * bytes and scales are the device's bit for bit; the attention follows the kernel's fp32 softmax operation by
 * operation, with exact sums where the tensor cores accumulate. */
#include "backend/fp8_attn_emul.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/fp8_emul.h"
#include "base/half.h"
#include "base/threads.h"

enum { D = RAD_FP8A_D, BLK = RAD_FP8A_BLOCK, G = RAD_FP8A_GROUPS };

static size_t up256(size_t x) { return (x + 255) & ~(size_t)255; }

rad_status rad_fp8_attn_plan(int64_t n_tokens, int64_t heads, rad_fp8_attn_layout *out) {
    memset(out, 0, sizeof *out);
    /* 2^31 tokens and 4096 heads bound every product below by 2^50 bytes; the device grid is n_blocks x heads */
    if (n_tokens < 1 || n_tokens > INT32_MAX - BLK || heads < 1 || heads > 4096 ||
        ((n_tokens + BLK - 1) / BLK) * heads > INT32_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention: %lld tokens x %lld heads out of range",
                       (long long)n_tokens, (long long)heads);
    const int64_t nb = (n_tokens + BLK - 1) / BLK, hd = heads * D;
    out->n_tokens = n_tokens, out->heads = heads, out->n_blocks = nb, out->n_pad = nb * BLK;
    size_t at = 0;
    out->q8 = at, at = up256(at + (size_t)n_tokens * (size_t)hd);
    out->k8 = at, at = up256(at + (size_t)n_tokens * (size_t)hd);
    out->vt8 = at, at = up256(at + (size_t)hd * (size_t)out->n_pad);
    out->sq = at, at = up256(at + (size_t)heads * (size_t)nb * sizeof(float));
    out->sk = at, at = up256(at + (size_t)heads * (size_t)nb * sizeof(float));
    out->sv = at, at = up256(at + (size_t)hd * sizeof(float));
    out->vinv = at, at = up256(at + (size_t)hd * sizeof(float));
    out->kmean = at, at = up256(at + (size_t)hd * sizeof(float));
    out->ksum = at, at = up256(at + (size_t)nb * (size_t)hd * sizeof(float));
    out->vmax = at, at = up256(at + (size_t)nb * (size_t)hd * sizeof(float));
    out->bytes = at;
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------------------ quantisation */

typedef struct {
    const rad_fp8_attn_layout *L;
    const uint16_t *q, *k, *v;
    uint8_t *s;
} quant_job;

static float bf(uint16_t h) { return rad_bf16_to_f32(h); }

/* The per-tensor scale rule of fp8_emul.h: s = amax / 448 and its factor 448 / amax, (0, 0) below 2^-64. */
static float scale_of(float amax, float *inv) {
    if (!(amax >= RAD_FP8_TINY)) {
        *inv = 0.0f;
        return 0.0f;
    }
    *inv = RAD_FP8_E4M3_MAX / amax;
    return amax / RAD_FP8_E4M3_MAX;
}

/* Step 1's per-block sums and the per-block amax of v, for blocks [b0, b1) (the device's stats kernel). */
static void stats_range(void *ctx, int64_t b0, int64_t b1) {
    const quant_job *j = ctx;
    const rad_fp8_attn_layout *L = j->L;
    const int64_t n = L->n_tokens, hd = L->heads * D;
    float *ksum = (float *)(j->s + L->ksum), *vmax = (float *)(j->s + L->vmax);
    for (int64_t b = b0; b < b1; b++)
        for (int64_t c = 0; c < hd; c++) {
            float part[G], m = 0.0f;
            for (int g = 0; g < G; g++) {
                part[g] = 0.0f;
                for (int i = 0; i < BLK / G; i++) {
                    const int64_t t = b * BLK + g + G * i;
                    if (t >= n) break;
                    part[g] += bf(j->k[t * hd + c]);
                    m = fmaxf(m, fabsf(bf(j->v[t * hd + c])));
                }
            }
            float s = part[0];
            for (int g = 1; g < G; g++) s += part[g];
            ksum[b * hd + c] = s, vmax[b * hd + c] = m;
        }
}

/* kmean, sv, vinv of every channel (the device's finish kernel: blocks in order, in double). */
static void finish(const quant_job *j) {
    const rad_fp8_attn_layout *L = j->L;
    const int64_t hd = L->heads * D;
    const float *ksum = (const float *)(j->s + L->ksum), *vmax = (const float *)(j->s + L->vmax);
    float *kmean = (float *)(j->s + L->kmean), *sv = (float *)(j->s + L->sv), *vinv = (float *)(j->s + L->vinv);
    for (int64_t c = 0; c < hd; c++) {
        double s = 0.0;
        float m = 0.0f;
        for (int64_t b = 0; b < L->n_blocks; b++) {
            s += (double)ksum[b * hd + c];
            m = fmaxf(m, vmax[b * hd + c]);
        }
        kmean[c] = (float)(s / (double)L->n_tokens);
        sv[c] = scale_of(m, &vinv[c]);
    }
}

/* Steps 2 and 3 for tiles (block, head) = [t0, t1) in block-major order (the device's quantisation kernel). */
static void quant_range(void *ctx, int64_t t0, int64_t t1) {
    const quant_job *j = ctx;
    const rad_fp8_attn_layout *L = j->L;
    const int64_t n = L->n_tokens, H = L->heads, hd = H * D, nb = L->n_blocks;
    const float *kmean = (const float *)(j->s + L->kmean), *vinv = (const float *)(j->s + L->vinv);
    uint8_t *q8 = j->s + L->q8, *k8 = j->s + L->k8, *vt8 = j->s + L->vt8;
    float *sq = (float *)(j->s + L->sq), *sk = (float *)(j->s + L->sk);
    for (int64_t tile = t0; tile < t1; tile++) {
        const int64_t b = tile / H, h = tile % H, r0 = b * BLK, r1 = r0 + BLK < n ? r0 + BLK : n;
        for (int which = 0; which < 2; which++) { /* q, then the smoothed k */
            const uint16_t *x = which ? j->k : j->q;
            const float *mean = which ? kmean + h * D : NULL;
            float amax = 0.0f, inv;
            for (int64_t t = r0; t < r1; t++)
                for (int d = 0; d < D; d++) {
                    const float v = bf(x[t * hd + h * D + d]);
                    amax = fmaxf(amax, fabsf(mean ? v - mean[d] : v));
                }
            const float s = scale_of(amax, &inv);
            (which ? sk : sq)[h * nb + b] = s;
            uint8_t *dst = which ? k8 : q8;
            for (int64_t t = r0; t < r1; t++)
                for (int d = 0; d < D; d++) {
                    const float v = bf(x[t * hd + h * D + d]);
                    dst[t * hd + h * D + d] = rad_f32_to_f8e4m3((mean ? v - mean[d] : v) * inv);
                }
        }
        for (int d = 0; d < D; d++) { /* v: per-channel factor, transposed and permuted, zeros past n */
            uint8_t *row = vt8 + (size_t)(h * D + d) * (size_t)L->n_pad + (size_t)r0;
            for (int t = 0; t < BLK; t++) {
                const int64_t tok = r0 + t;
                row[rad_fp8_attn_vpos(t)] =
                    tok < n ? rad_f32_to_f8e4m3(bf(j->v[tok * hd + h * D + d]) * vinv[h * D + d]) : 0;
            }
        }
    }
}

void rad_fp8_attn_quantize(const rad_fp8_attn_layout *L, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                           uint8_t *scratch) {
    quant_job j = {L, q, k, v, scratch};
    rad_parallel_for(L->n_blocks, 1, stats_range, &j);
    finish(&j);
    rad_parallel_for(L->n_blocks * L->heads, 4, quant_range, &j);
}

/* ------------------------------------------------------------------------------------------------ attention */

/* The truncation model of rad_fp8_attn_ref_opts.hw_accum: x truncated toward zero to a multiple of 2^q. */
static double trunc_to(double x, int q) { return ldexp(trunc(ldexp(x, -q)), q); }
static int expo(double x) { /* floor(log2 |x|); very negative for 0 */
    if (x == 0.0) return -10000;
    int e;
    (void)frexp(x, &e);
    return e - 1;
}

/* acc + Σ a[i] b[i] over 32 terms, exactly (hw 0) or as the model sums one group (hw 1). */
static double group_sum(double acc, const double *a, const double *b, int hw) {
    if (!hw) {
        for (int i = 0; i < 32; i++) acc += a[i] * b[i];
        return acc;
    }
    double p[32];
    int e = expo(acc);
    for (int i = 0; i < 32; i++) {
        p[i] = a[i] * b[i];
        const int ei = expo(p[i]);
        if (ei > e) e = ei;
    }
    double s = trunc_to(acc, e - 13);
    for (int i = 0; i < 32; i++) s += trunc_to(p[i], e - 13);
    return s == 0.0 ? 0.0 : trunc_to(s, expo(s) - 13);
}

typedef struct {
    const rad_fp8_attn_layout *L;
    const uint8_t *s;
    float scale;
    const rad_bsr *mask;
    const int64_t *rows;
    int hw;
    float *out;
    float lut[256];
} attn_job;

static void attn_range(void *ctx, int64_t i0, int64_t i1) {
    const attn_job *j = ctx;
    const rad_fp8_attn_layout *L = j->L;
    const int64_t n = L->n_tokens, H = L->heads, hd = H * D, nb = L->n_blocks;
    const uint8_t *q8 = j->s + L->q8, *k8 = j->s + L->k8, *vt8 = j->s + L->vt8;
    const float *sq = (const float *)(j->s + L->sq), *sk = (const float *)(j->s + L->sk),
                *sv = (const float *)(j->s + L->sv);
    const float scale_log2 = j->scale * 1.4426950408889634f;
    for (int64_t ii = i0; ii < i1; ii++) {
        const int64_t row = j->rows ? j->rows[ii] : ii, rb = row / BLK;
        const int32_t e0 = j->mask ? j->mask->row_ptr[rb] : 0, e1 = j->mask ? j->mask->row_ptr[rb + 1] : (int32_t)nb;
        for (int64_t h = 0; h < H; h++) {
            float *o = j->out + (ii * H + h) * D;
            double qv[D], O[D], blk[D];
            for (int d = 0; d < D; d++) qv[d] = j->lut[q8[row * hd + h * D + d]], O[d] = 0.0;
            const float qs = sq[h * nb + rb] * scale_log2;
            float m = -INFINITY;
            double l = 0.0;
            for (int32_t e = e0; e < e1; e++) {
                const int64_t cb = j->mask ? j->mask->col_idx[e] : e, key0 = cb * BLK;
                const int kvalid = n - key0 < BLK ? (int)(n - key0) : BLK;
                float c = qs * sk[h * nb + cb];
                if (!(c >= FLT_MIN)) c = FLT_MIN; /* fmaxf(c, FLT_MIN), NaN aside */
                float S[BLK], mx = -INFINITY;
                for (int t = 0; t < BLK; t++) {
                    if (t >= kvalid) { /* keys past n do not exist */
                        S[t] = -INFINITY;
                        continue;
                    }
                    const uint8_t *kr = k8 + (key0 + t) * hd + h * D;
                    double acc = 0.0, kv[32];
                    for (int kk = 0; kk < D / 32; kk++) {
                        for (int i = 0; i < 32; i++) kv[i] = j->lut[kr[32 * kk + i]];
                        acc = group_sum(acc, qv + 32 * kk, kv, j->hw);
                    }
                    S[t] = (float)acc;
                    mx = fmaxf(mx, S[t]);
                }
                const float m_new = fmaxf(m, mx * c), base = m_new == -INFINITY ? 0.0f : m_new;
                const float alpha = exp2f(m - base), nbase = RAD_FP8A_P_LOG2 - base;
                m = m_new;
                double pf[BLK], psum = 0.0;
                for (int t = 0; t < BLK; t++) {
                    const float p = exp2f(fmaf(S[t], c, nbase));
                    psum += p;
                    pf[t] = j->lut[rad_f32_to_f8e4m3(p)];
                }
                /* P·V of the block by positions of vt8, 32 at a time (the k-steps of the device's GEMM) */
                double pp[BLK], vv[32];
                for (int p = 0; p < BLK; p++) pp[p] = pf[rad_fp8_attn_vkey(p)];
                for (int d = 0; d < D; d++) {
                    const uint8_t *vr = vt8 + (size_t)(h * D + d) * (size_t)L->n_pad + (size_t)key0;
                    double acc = 0.0;
                    for (int kk = 0; kk < BLK / 32; kk++) {
                        for (int i = 0; i < 32; i++) vv[i] = j->lut[vr[32 * kk + i]];
                        acc = group_sum(acc, pp + 32 * kk, vv, j->hw);
                    }
                    blk[d] = acc;
                }
                l = l * alpha + psum;
                for (int d = 0; d < D; d++) O[d] = O[d] * alpha + blk[d];
            }
            for (int d = 0; d < D; d++)
                o[d] = l > 0.0 ? rad_bf16_to_f32(rad_f32_to_bf16((float)(O[d] * (double)sv[h * D + d] / l))) : 0.0f;
        }
    }
}

rad_status rad_fp8_attn_ref(const rad_fp8_attn_layout *L, const uint8_t *scratch, float scale, const rad_bsr *mask,
                            const int64_t *rows, int64_t n_rows, const rad_fp8_attn_ref_opts *opts, float *out) {
    if (!L || !scratch || !out || !(scale > 0.0f) || !isfinite(scale))
        return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention reference: bad arguments (scale %g)", (double)scale);
    if (mask) {
        RAD_TRY(rad_bsr_check(mask));
        if (mask->n_tokens != L->n_tokens || mask->block != BLK)
            return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention reference: layout of %lld tokens, block %d, for %lld tokens",
                           (long long)mask->n_tokens, (int)mask->block, (long long)L->n_tokens);
    }
    if (rows)
        for (int64_t i = 0; i < n_rows; i++)
            if (rows[i] < 0 || rows[i] >= L->n_tokens)
                return rad_err(RADIAL_ERR_INVALID_ARG, "fp8 attention reference: row %lld of %lld", (long long)rows[i],
                               (long long)L->n_tokens);
    attn_job j = {.L = L, .s = scratch, .scale = scale, .mask = mask, .rows = rows, .hw = opts ? opts->hw_accum : 0,
                  .out = out};
    for (int b = 0; b < 256; b++) j.lut[b] = rad_f8e4m3_to_f32((uint8_t)b);
    rad_parallel_for(rows ? n_rows : L->n_tokens, 1, attn_range, &j);
    return RAD_OK;
}
