/* The CPU emulation of the fp8 attention (backend/fp8_attn_emul.h), the reference the GPU test
 * (tests/cuda/test_cuda_attn_fp8.c) compares the device with:
 * - the V permutation (a bijection on each block, its inverse, SageAttention's table for the first 16);
 * - the layout (alignment, refusals);
 * - the quantisation: the K mean against a double mean, every (block, head) scale reaching ±448, each value within
 *   half an e4m3 step of its dequantisation, the transposed and permuted V with zero padding, all-zero tensors;
 * - the attention: rows on request equal the full result's, an empty block row gives zeros, and the error against
 *   the fp32 CPU attention on random inputs (the fp8 error the GPU test takes as its tolerance against fp32), with
 *   large per-channel key offsets (what smoothing is for), and on the exact-score inputs of fp8_attn_cases.h; the
 *   tensor-core accumulation model (hw_accum) beside, to show how much the accumulation can move the output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "backend/fp8_attn_emul.h"
#include "base/half.h"
#include "fp8_attn_cases.h"
#include "test_util.h"

enum { D = 128 };
/* fp8 attention against fp32 on these inputs (rel L2): the emulation measures 0.005-0.05 (e4m3's 3 mantissa bits on
 * P and V, ~2-3 % rms each, dominate); the GPU test uses the same bound. */
static const double TOL_FP32 = 8e-2;

static void test_perm(void) {
    static const int sage[16] = {0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15}; /* position of key i */
    int seen[128] = {0}, bad = 0;
    for (int t = 0; t < 128; t++) {
        const int p = rad_fp8_attn_vpos(t);
        bad += p < 0 || p >= 128 || rad_fp8_attn_vkey(p) != t || (p & ~15) != (t & ~15);
        if (p >= 0 && p < 128) seen[p]++;
    }
    for (int p = 0; p < 128; p++) bad += seen[p] != 1;
    for (int i = 0; i < 16; i++) bad += rad_fp8_attn_vpos(i) != sage[i];
    /* the thread with lane % 4 = a holds S columns 2a, 2a+1, 2a+8, 2a+9 of each 16; they must sit at 4a .. 4a+3 */
    for (int a = 0; a < 4; a++) {
        const int cols[4] = {2 * a, 2 * a + 1, 2 * a + 8, 2 * a + 9};
        for (int b = 0; b < 4; b++) bad += rad_fp8_attn_vpos(cols[b]) != 4 * a + b;
    }
    /* The whole path of attn_fp8_wgmma.cu, index by index: S accumulator element i of lane l in warp w sits at row
     * 16w + 8((i/2)%2) + l/4, column 8(i/4) + 2(l%4) + i%2 (wgmma's fp32 accumulator layout); pack_p puts elements
     * 16kk + pack[j][b] into byte b of register 4kk + j; the 8-bit A fragment of wgmma k32 reads register j, byte b as
     * row 16w + l/4 + 8(j%2), column 4(l%4) + b + 16(j/2) of k-step kk (CUTLASS's ALayout_64x32). Every A element must
     * be the score of its row and of the key that position of Vᵀ holds. */
    static const int pack[4][4] = {{0, 1, 4, 5}, {2, 3, 6, 7}, {8, 9, 12, 13}, {10, 11, 14, 15}};
    int seen_a[64][128];
    memset(seen_a, 0, sizeof seen_a);
    for (int w = 0; w < 4; w++)
        for (int l = 0; l < 32; l++)
            for (int kk = 0; kk < 4; kk++)
                for (int j = 0; j < 4; j++)
                    for (int b = 0; b < 4; b++) {
                        const int i = 16 * kk + pack[j][b];
                        const int s_row = 16 * w + 8 * ((i / 2) % 2) + l / 4, s_col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
                        const int a_row = 16 * w + l / 4 + 8 * (j % 2), a_pos = 32 * kk + 4 * (l % 4) + b + 16 * (j / 2);
                        bad += s_row != a_row || s_col != rad_fp8_attn_vkey(a_pos);
                        seen_a[a_row][a_pos]++;
                    }
    for (int m = 0; m < 64; m++)
        for (int p = 0; p < 128; p++) bad += seen_a[m][p] != 1;
    CHECK(bad == 0);
    printf("  V permutation: %s\n", bad ? "FAILED" : "a bijection per 16 keys, its inverse, and S accumulators -> "
                                                    "e4m3 registers -> A fragment = P at the keys V holds");
}

static void test_plan(void) {
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(32760, 12, &L));
    CHECK(L.n_blocks == 256 && L.n_pad == 32768);
    const size_t off[] = {L.q8, L.k8, L.vt8, L.sq, L.sk, L.sv, L.vinv, L.kmean, L.ksum, L.vmax};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) CHECK(off[i] % 256 == 0 && off[i] < L.bytes);
    CHECK(L.k8 >= L.q8 + (size_t)32760 * 1536 && L.vt8 >= L.k8 + (size_t)32760 * 1536 &&
          L.sq >= L.vt8 + (size_t)1536 * 32768);
    printf("  layout at 32,760 tokens x 12 heads: %.1f MB of scratch\n", L.bytes / 1e6);
    CHECK_FAILS(rad_fp8_attn_plan(0, 12, &L));
    CHECK_FAILS(rad_fp8_attn_plan(100, 0, &L));
    CHECK_FAILS(rad_fp8_attn_plan((int64_t)1 << 40, 12, &L));
}

static void test_quant(void) {
    enum { N = 300, H = 2, HD = H * D };
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(N, H, &L));
    uint16_t *q = malloc(N * HD * 2), *k = malloc(N * HD * 2), *v = malloc(N * HD * 2);
    uint8_t *s = calloc(1, L.bytes);
    uint64_t rng = 4242;
    fp8a_fill_random(q, k, v, N, H, 1.7, 3.0, &rng);
    for (int c = 0; c < D; c++) q[(size_t)(256 + 5) * HD + c] = fp8a_bf(0.0f); /* untouched by the checks below */
    rad_fp8_attn_quantize(&L, q, k, v, s);
    const float *kmean = (const float *)(s + L.kmean), *sq = (const float *)(s + L.sq), *sk = (const float *)(s + L.sk),
                *sv = (const float *)(s + L.sv);
    double worst_mean = 0;
    for (int c = 0; c < HD; c++) {
        double m = 0;
        for (int t = 0; t < N; t++) m += rad_bf16_to_f32(k[t * HD + c]);
        m /= N;
        const double e = fabs(kmean[c] - m) / (fabs(m) + 1e-3);
        if (e > worst_mean) worst_mean = e;
    }
    CHECK(worst_mean < 1e-5);
    /* every tile: its largest value quantises to ±448; each value within half an e4m3 step (2^-4 relative for
     * normals, 2^-10 of the scale for the subnormals) of its dequantisation */
    int bad_max = 0, bad_val = 0, bad_v = 0;
    for (int which = 0; which < 2; which++)
        for (int64_t b = 0; b < L.n_blocks; b++)
            for (int h = 0; h < H; h++) {
                const float sc = (which ? sk : sq)[h * L.n_blocks + b];
                const uint8_t *x8 = s + (which ? L.k8 : L.q8);
                const uint16_t *x = which ? k : q;
                int has448 = 0;
                for (int64_t t = b * 128; t < N && t < b * 128 + 128; t++)
                    for (int d = 0; d < D; d++) {
                        const uint8_t code = x8[t * HD + h * D + d];
                        has448 |= (code & 0x7f) == 0x7e;
                        const double want = rad_bf16_to_f32(x[t * HD + h * D + d]) - (which ? kmean[h * D + d] : 0.0f);
                        const double got = rad_f8e4m3_to_f32(code) * (double)sc;
                        if (fabs(got - want) > fabs(want) * 0x1p-4 + sc * 0x1p-10 + 1e-30) bad_val++;
                    }
                bad_max += !has448;
            }
    for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) {
            const uint8_t *row = s + L.vt8 + (size_t)(h * D + d) * (size_t)L.n_pad;
            for (int64_t t = 0; t < L.n_pad; t++) {
                const uint8_t code = row[(t & ~127) + rad_fp8_attn_vpos((int)(t & 127))];
                if (t >= N) {
                    bad_v += code != 0;
                    continue;
                }
                const double want = rad_bf16_to_f32(v[t * HD + h * D + d]), got = rad_f8e4m3_to_f32(code) * (double)sv[h * D + d];
                if (fabs(got - want) > fabs(want) * 0x1p-4 + sv[h * D + d] * 0x1p-10) bad_v++;
            }
        }
    CHECK(bad_max == 0 && bad_val == 0 && bad_v == 0);
    printf("  quantisation: K mean within %.1e, every block scale reaches 448 (%d misses), values within half a step "
           "(%d, V %d outside)\n", worst_mean, bad_max, bad_val, bad_v);

    memset(q, 0, N * HD * 2); /* an all-zero q: scales 0, codes 0 */
    rad_fp8_attn_quantize(&L, q, k, v, s);
    int nz = 0;
    for (size_t i = 0; i < (size_t)N * HD; i++) nz += s[L.q8 + i] != 0;
    for (int64_t i = 0; i < H * L.n_blocks; i++) nz += sq[i] != 0.0f;
    CHECK(nz == 0);
    free(q), free(k), free(v), free(s);
}

typedef struct {
    const char *name;
    int64_t n, heads;
    int mask;            /* 0 dense, 1 random blocks (block row 1 empty), 2 radial */
    int64_t frames, tpf; /* radial */
    double spread, k_offset;
    int exact;           /* fp8a_fill_exact inputs */
} acase;

static double run_case(const acase *ac, rad_backend *cpu) {
    const int64_t n = ac->n, H = ac->heads, HD = H * D;
    const size_t elems = (size_t)n * (size_t)HD;
    uint64_t rng = 99 + (uint64_t)n * 7 + (uint64_t)ac->mask;
    uint16_t *q = malloc(elems * 2), *k = malloc(elems * 2), *v = malloc(elems * 2);
    float *fq = malloc(elems * 4), *fk = malloc(elems * 4), *fv = malloc(elems * 4), *ref = malloc(elems * 4),
          *emu = malloc(elems * 4), *emu_hw = malloc(elems * 4);
    if (ac->exact) fp8a_fill_exact(q, k, v, n, H, &rng);
    else fp8a_fill_random(q, k, v, n, H, ac->spread, ac->k_offset, &rng);
    for (size_t i = 0; i < elems; i++)
        fq[i] = rad_bf16_to_f32(q[i]), fk[i] = rad_bf16_to_f32(k[i]), fv[i] = rad_bf16_to_f32(v[i]);
    rad_bsr own;
    memset(&own, 0, sizeof own);
    const rad_bsr *mk = NULL;
    if (ac->mask == 1) {
        const int32_t nb = (int32_t)((n + 127) / 128);
        uint8_t *bits = malloc((size_t)nb * nb);
        for (int64_t i = 0; i < (int64_t)nb * nb; i++) bits[i] = rad_test_uniform(&rng) < 0.0f;
        for (int32_t c = 0; c < nb; c++) bits[nb + c] = 0; /* block row 1 lists nothing */
        CHECK_OK(rad_bsr_from_mask(bits, nb, n, 128, &own));
        free(bits);
        mk = &own;
    } else if (ac->mask == 2) {
        const rad_radial_cfg cfg = {.frames = ac->frames, .tokens_per_frame = ac->tpf, .decay = 1.0, .block = 128};
        CHECK_OK(rad_radial_layout(&cfg, &mk));
    }
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(n, H, &L));
    uint8_t *s = calloc(1, L.bytes);
    rad_fp8_attn_quantize(&L, q, k, v, s);
    const float scale = 1.0f / sqrtf((float)D);
    const rad_fp8_attn_ref_opts hw = {.hw_accum = 1};
    CHECK_OK(cpu->attention(cpu, fq, fk, fv, ref, n, n, H, D, scale, NULL, mk));
    CHECK_OK(rad_fp8_attn_ref(&L, s, scale, mk, NULL, 0, NULL, emu));
    const int with_hw = n <= 1000; /* the model is slow */
    if (with_hw) CHECK_OK(rad_fp8_attn_ref(&L, s, scale, mk, NULL, 0, &hw, emu_hw));
    const double e = rad_rel_err(emu, ref, elems);
    const double e_hw = with_hw ? rad_rel_err(emu_hw, ref, elems) : NAN, d_hw = with_hw ? rad_rel_err(emu_hw, emu, elems) : NAN;
    int zeros_ok = 1;
    if (ac->mask == 1 && n > 256) /* the empty block row: zeros */
        for (size_t i = (size_t)128 * HD; i < (size_t)256 * HD; i++) zeros_ok &= emu[i] == 0.0f;
    CHECK(zeros_ok);
    if (ac->exact) { /* the construction: every scale 2^-8, the K mean 0 */
        const float *sq = (const float *)(s + L.sq), *sk = (const float *)(s + L.sk), *km = (const float *)(s + L.kmean);
        int bad = 0;
        for (int64_t i = 0; i < H * L.n_blocks; i++) bad += sq[i] != 0x1p-8f || sk[i] != 0x1p-8f;
        for (int64_t i = 0; i < HD; i++) bad += km[i] != 0.0f;
        CHECK(bad == 0);
    }
    /* a few rows on their own equal the same rows of the full result */
    const int64_t rows[] = {0, n - 1, n / 2, n > 129 ? 129 : 0};
    float *part = malloc(4 * (size_t)HD * 4);
    CHECK_OK(rad_fp8_attn_ref(&L, s, scale, mk, rows, 4, NULL, part));
    int same = 1;
    for (int i = 0; i < 4; i++) same &= !memcmp(part + i * HD, emu + rows[i] * HD, (size_t)HD * 4);
    CHECK(same);
    printf("  %-34s n=%-5lld heads=%-2lld density %.3f: fp8 emulation vs fp32 %.2e (tol %.0e); accumulation model "
           "%.2e, %.2e from exact sums\n", ac->name, (long long)n, (long long)H, mk ? rad_bsr_density(mk) : 1.0, e,
           TOL_FP32, e_hw, d_hw);
    CHECK(e < TOL_FP32);
    free(part), free(s);
    free(q), free(k), free(v), free(fq), free(fk), free(fv), free(ref), free(emu), free(emu_hw);
    if (mk == &own) rad_bsr_free(&own);
    return e;
}

int main(void) {
    printf("fp8 attention emulation (the CUDA --attention-precision fp8 numerics on the CPU)\n");
    test_perm();
    test_plan();
    test_quant();
    rad_backend *cpu;
    CHECK_OK(rad_backend_cpu(&cpu));
    if (!cpu) TEST_MAIN_END();
    const acase cases[] = {
        {"dense, one partial block", 77, 3, 0, 0, 0, 1.7, 0.0, 0},
        {"dense, n = 129", 129, 2, 0, 0, 0, 1.7, 0.5, 0},
        {"dense, key offsets 4 (smoothing)", 300, 2, 0, 0, 0, 1.7, 4.0, 0},
        {"dense, key offsets 30 (smoothing)", 300, 2, 0, 0, 0, 1.7, 30.0, 0},
        {"random blocks, empty block row", 1000, 2, 1, 0, 0, 2.0, 1.0, 0},
        {"radial 8 x 256", 2048, 1, 2, 8, 256, 1.7, 1.0, 0},
        {"radial 4 x 250, peaky", 1000, 1, 2, 4, 250, 3.0, 1.0, 0},
        {"exact scores, dense", 300, 2, 0, 0, 0, 0, 0, 1},
        {"exact scores, random blocks", 1000, 2, 1, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], cpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
