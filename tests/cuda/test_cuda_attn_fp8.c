/* The fp8 attention (cuda_attention.h rad_cuda_attention_fp8, the backend's set_attention RAD_ATTN_FP8) against the
 * CPU emulation of its numerics (backend/fp8_attn_emul.h) and the fp32 attention, on fresh random inputs every run
 * (the seed is printed; RAD_TEST_SEED replays one). Exit 77 (ctest: skipped) without a CUDA device, and on a device
 * that cannot run it (not Hopper, or no sm_90a code in the build) after checking that set_attention refuses it there
 * with a reason.
 *
 * 1. The quantisation pre-pass, byte for byte: every region of the device's scratch (e4m3 q, smoothed k, transposed
 *    and permuted v, the scales, the K mean and the per-block statistics) equals the CPU's rad_fp8_attn_quantize,
 *    at sizes with partial last blocks (n = 1, 77, 129, 300, 2049) and large per-channel key offsets.
 * 2. The attention, dense, random block masks (block row 1 empty: zeros) and radial masks, n multiples of 128 and
 *    not: the output is poisoned first and every element must be written and finite, two launches must agree bit for
 *    bit, and the relative L2 error must stay within
 *      - TOL_EXACT (3e-3) of the emulation on the exact-score inputs of tests/fp8_attn_cases.h, where the device and
 *        the emulation agree on every score bit for bit (what is left: the tensor cores' accumulation of P·V,
 *        ex2.approx, bf16 output rounding);
 *      - TOL_EMUL (1e-2) of the emulation on random inputs (the tensor cores' fp32 accumulation of S, ~14
 *        significant bits per 32-term group, moves some P across an e4m3 rounding boundary; the emulation's model of
 *        that accumulation (hw_accum) puts the distance at 1-3e-3 on these inputs, printed beside);
 *      - TOL_FP32 (8e-2) of the fp32 attention (the fp8 error itself: 0.5-5 % on these inputs,
 *        tests/cpu_ops/test_fp8_attn_emul.c), with the bf16 kernel's error on the same inputs printed for scale.
 *    Wan shapes (32,760 tokens, 12 heads, dense and radial) on sampled rows, the partial last block row included.
 * 3. Through the backend: set_attention(fp8) gives the direct call's bits for self-attention on fp32 tensors (dense
 *    and radial), leaves cross-attention (lq != lk) on the bf16 kernels bit for bit, and set_attention(bf16) brings
 *    back the bf16 output; an unknown mode is refused.
 * RAD_TEST_SMALL=1 skips the Wan-size shapes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attn/bsr.h"
#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "backend/fp8_attn_emul.h"
#include "base/half.h"
#include "base/mem.h"
#include "attn_ref.h"
#include "fp8_attn_cases.h"
#include "test_util.h"

enum { D = 128 };
static const double TOL_EXACT = 3e-3, TOL_EMUL = 1e-2, TOL_FP32 = 8e-2;
static uint64_t rng;

typedef enum { MASK_DENSE, MASK_RANDOM, MASK_RADIAL } mask_kind;

typedef struct {
    const char *name;
    int64_t n, heads;
    mask_kind mask;
    double density;      /* MASK_RANDOM */
    int64_t frames, tpf; /* MASK_RADIAL */
    double spread, k_offset;
    int exact;   /* fp8a_fill_exact inputs */
    int sampled; /* references on sampled rows only */
} tcase;

static rad_status make_mask(const tcase *tc, rad_bsr *own, const rad_bsr **use) {
    memset(own, 0, sizeof *own);
    if (tc->mask == MASK_DENSE) {
        RAD_TRY(rad_bsr_dense(tc->n, 128, own));
        *use = own;
        return RAD_OK;
    }
    if (tc->mask == MASK_RADIAL) {
        const rad_radial_cfg cfg = {.frames = tc->frames, .tokens_per_frame = tc->tpf, .decay = 1.0, .block = 128};
        return rad_radial_layout(&cfg, use); /* cached, not ours to free */
    }
    const int32_t nb = (int32_t)((tc->n + 127) / 128);
    uint8_t *bits;
    RAD_TRY(rad_alloc((void **)&bits, (size_t)nb * (size_t)nb, "test mask"));
    for (int64_t i = 0; i < (int64_t)nb * nb; i++) bits[i] = (rad_test_uniform(&rng) + 1.0f) * 0.5f < tc->density;
    if (nb > 2) memset(bits + nb, 0, (size_t)nb); /* block row 1 sees nothing: its rows must come out zero */
    rad_status s = rad_bsr_from_mask(bits, nb, tc->n, 128, own);
    rad_free(bits);
    *use = own;
    return s;
}

/* rel L2 of got (bf16, rows `rows` of an [n, heads, 128] tensor; rows NULL: all) against ref (floats, n_rows rows). */
static double rel_rows(const uint16_t *got, const float *ref, const int64_t *rows, int64_t n_rows, int64_t hd) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n_rows; i++)
        for (int64_t c = 0; c < hd; c++) {
            const double o = rad_bf16_to_f32(got[(rows ? rows[i] : i) * hd + c]), r = ref[i * hd + c];
            num += (o - r) * (o - r), den += r * r;
        }
    return isfinite(num) ? sqrt(num / (den > 0 ? den : 1)) : INFINITY;
}

/* Compares every region of two scratch images of layout L; returns the number of differing bytes. */
static size_t scratch_diff(const rad_fp8_attn_layout *L, const uint8_t *a, const uint8_t *b, const char *what) {
    const int64_t hd = L->heads * D;
    const struct {
        const char *name;
        size_t off, bytes;
    } reg[] = {{"q8", L->q8, (size_t)L->n_tokens * hd},
               {"k8", L->k8, (size_t)L->n_tokens * hd},
               {"vt8", L->vt8, (size_t)hd * L->n_pad},
               {"sq", L->sq, (size_t)L->heads * L->n_blocks * 4},
               {"sk", L->sk, (size_t)L->heads * L->n_blocks * 4},
               {"sv", L->sv, (size_t)hd * 4},
               {"vinv", L->vinv, (size_t)hd * 4},
               {"kmean", L->kmean, (size_t)hd * 4},
               {"ksum", L->ksum, (size_t)L->n_blocks * hd * 4},
               {"vmax", L->vmax, (size_t)L->n_blocks * hd * 4}};
    size_t total = 0;
    for (size_t r = 0; r < sizeof reg / sizeof reg[0]; r++) {
        size_t bad = 0;
        for (size_t i = 0; i < reg[r].bytes; i++) bad += a[reg[r].off + i] != b[reg[r].off + i];
        if (bad) printf("    %s: %s differs in %zu of %zu bytes\n", what, reg[r].name, bad, reg[r].bytes);
        total += bad;
    }
    return total;
}

/* q, k, v of a case: bf16 on the host, their fp32 values, and device copies. */
typedef struct {
    uint16_t *h[3];
    float *f[3];
    void *d[3];
    size_t elems;
} inputs;

static void inputs_make(const tcase *tc, inputs *in) {
    memset(in, 0, sizeof *in);
    in->elems = (size_t)tc->n * (size_t)tc->heads * D;
    for (int t = 0; t < 3; t++) {
        CHECK_OK(rad_alloc((void **)&in->h[t], in->elems * 2, "input"));
        CHECK_OK(rad_alloc((void **)&in->f[t], in->elems * 4, "input f32"));
        CHECK_OK(rad_cuda_malloc(&in->d[t], in->elems * 2, "input"));
    }
    if (rad_test_failures) return;
    if (tc->exact) fp8a_fill_exact(in->h[0], in->h[1], in->h[2], tc->n, tc->heads, &rng);
    else fp8a_fill_random(in->h[0], in->h[1], in->h[2], tc->n, tc->heads, tc->spread, tc->k_offset, &rng);
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < in->elems; i++) in->f[t][i] = rad_bf16_to_f32(in->h[t][i]);
        CHECK_OK(rad_cuda_upload(in->d[t], in->h[t], in->elems * 2));
    }
}

static void inputs_free(inputs *in) {
    for (int t = 0; t < 3; t++) rad_free(in->h[t]), rad_free(in->f[t]), rad_cuda_free(in->d[t]);
}

/* 1: the pre-pass byte for byte. */
static void test_quant(int64_t n, int64_t heads, double k_offset) {
    const tcase tc = {.n = n, .heads = heads, .spread = 1.7, .k_offset = k_offset};
    inputs in;
    inputs_make(&tc, &in);
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(n, heads, &L));
    uint8_t *dev = NULL, *host = NULL;
    void *ds = NULL;
    CHECK_OK(rad_alloc((void **)&dev, L.bytes, "scratch image"));
    CHECK_OK(rad_calloc((void **)&host, 1, L.bytes, "scratch image"));
    CHECK_OK(rad_cuda_malloc(&ds, L.bytes, "scratch"));
    if (rad_test_failures) return;
    CHECK_OK(rad_cuda_attn_fp8_quantize(in.d[0], in.d[1], in.d[2], &L, ds, NULL));
    CHECK_OK(rad_cuda_sync());
    CHECK_OK(rad_cuda_download(dev, ds, L.bytes));
    rad_fp8_attn_quantize(&L, in.h[0], in.h[1], in.h[2], host);
    const size_t bad = scratch_diff(&L, dev, host, "quantisation");
    printf("  quantisation n=%-5lld heads=%-2lld key offsets %-4.0f: %s\n", (long long)n, (long long)heads, k_offset,
           bad ? "DIFFERS from the CPU" : "every region bit-identical to the CPU's");
    CHECK(bad == 0);
    rad_cuda_free(ds), rad_free(dev), rad_free(host);
    inputs_free(&in);
}

/* 2: one attention case. */
static void test_case(const tcase *tc, rad_backend *cpu) {
    const int64_t n = tc->n, H = tc->heads, hd = H * D;
    const float scale = 1.0f / sqrtf((float)D);
    int fails = rad_test_failures;
    rad_bsr own;
    const rad_bsr *mk = NULL;
    CHECK_OK(make_mask(tc, &own, &mk));
    inputs in;
    inputs_make(tc, &in);
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(n, H, &L));
    uint16_t *o8 = NULL, *o8b = NULL, *o16 = NULL;
    uint8_t *himg = NULL, *dimg = NULL;
    void *ds = NULL, *dout = NULL;
    rad_cuda_bsr dm;
    memset(&dm, 0, sizeof dm);
    CHECK_OK(rad_alloc((void **)&o8, in.elems * 2, "out"));
    CHECK_OK(rad_alloc((void **)&o8b, in.elems * 2, "out"));
    CHECK_OK(rad_alloc((void **)&o16, in.elems * 2, "out"));
    CHECK_OK(rad_calloc((void **)&himg, 1, L.bytes, "scratch image"));
    CHECK_OK(rad_alloc((void **)&dimg, L.bytes, "scratch image"));
    CHECK_OK(rad_cuda_malloc(&ds, L.bytes, "scratch"));
    CHECK_OK(rad_cuda_malloc(&dout, in.elems * 2, "out"));
    if (mk) CHECK_OK(rad_cuda_bsr_upload(mk, &dm));
    if (rad_test_failures != fails) return;

    /* the device: twice, each on a poisoned output (0xff bytes: bf16 NaN) */
    for (int run = 0; run < 2; run++) {
        CHECK_OK(rad_cuda_memset(dout, 0xff, in.elems * 2));
        CHECK_OK(rad_cuda_attention_fp8(in.d[0], in.d[1], in.d[2], dout, H, scale, &dm, ds, L.bytes, NULL));
        CHECK_OK(rad_cuda_sync());
        CHECK_OK(rad_cuda_download(run ? o8b : o8, dout, in.elems * 2));
    }
    CHECK_OK(rad_cuda_download(dimg, ds, L.bytes));
    /* the bf16 kernel on the same inputs, for scale */
    CHECK_OK(rad_cuda_attention_bf16(in.d[0], in.d[1], in.d[2], dout, H, scale, &dm, RAD_CUDA_ATTN_AUTO, NULL));
    CHECK_OK(rad_cuda_sync());
    CHECK_OK(rad_cuda_download(o16, dout, in.elems * 2));
    size_t unwritten = 0;
    for (size_t i = 0; i < in.elems; i++) unwritten += !isfinite(rad_bf16_to_f32(o8[i]));
    const int same = !memcmp(o8, o8b, in.elems * 2);
    rad_fp8_attn_quantize(&L, in.h[0], in.h[1], in.h[2], himg);
    const size_t qbad = scratch_diff(&L, dimg, himg, tc->name);

    /* references: every row, or sampled rows (the first and last of blocks, the partial last block row) */
    int64_t rows[32], n_rows = 0;
    const int64_t *rp = NULL;
    if (tc->sampled) {
        const int64_t nb = (n + 127) / 128;
        const int64_t picks[] = {0, 1, 127, 128 + 5, (nb / 2) * 128 + 64, (nb - 2) * 128 + 127, (nb - 1) * 128, n - 1};
        for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) rows[n_rows++] = picks[i];
        for (int i = 0; i < 8; i++) rows[n_rows++] = (int64_t)((rad_test_uniform(&rng) + 1.0f) * 0.5f * (float)(n - 1));
        rp = rows;
    } else {
        n_rows = n;
    }
    float *emu = NULL, *emu_hw = NULL, *ref = NULL;
    CHECK_OK(rad_alloc((void **)&emu, (size_t)n_rows * hd * 4, "emulation"));
    CHECK_OK(rad_alloc((void **)&ref, (size_t)n_rows * hd * 4, "fp32 reference"));
    const int with_hw = n <= 2100; /* the accumulation model is slow */
    if (with_hw) CHECK_OK(rad_alloc((void **)&emu_hw, (size_t)n_rows * hd * 4, "emulation (model)"));
    if (rad_test_failures != fails) return;
    CHECK_OK(rad_fp8_attn_ref(&L, himg, scale, mk, rp, n_rows, NULL, emu));
    if (with_hw) {
        const rad_fp8_attn_ref_opts hw = {.hw_accum = 1};
        CHECK_OK(rad_fp8_attn_ref(&L, himg, scale, mk, rp, n_rows, &hw, emu_hw));
    }
    if (!tc->sampled) {
        CHECK_OK(cpu->attention(cpu, in.f[0], in.f[1], in.f[2], ref, n, n, H, D, scale, NULL, mk));
    } else {
        double r[D];
        for (int64_t i = 0; i < n_rows; i++)
            for (int64_t h = 0; h < H; h++) {
                attn_ref_row(in.f[0], in.f[1], in.f[2], n, H, D, rows[i], h, mk, r);
                for (int d = 0; d < D; d++) ref[(i * H + h) * D + d] = (float)r[d];
            }
    }
    const double e_emu = rel_rows(o8, emu, rp, n_rows, hd), e_fp32 = rel_rows(o8, ref, rp, n_rows, hd);
    const double e_bf16 = rel_rows(o16, ref, rp, n_rows, hd);
    double e_hw = NAN, d_hw = NAN;
    if (with_hw) {
        e_hw = rel_rows(o8, emu_hw, rp, n_rows, hd);
        d_hw = rad_rel_err(emu_hw, emu, (size_t)n_rows * hd);
    }
    int zeros = 1; /* MASK_RANDOM: block row 1 lists nothing */
    if (tc->mask == MASK_RANDOM && n > 256)
        for (size_t i = (size_t)128 * hd; i < (size_t)256 * hd; i++) zeros &= o8[i] == 0;
    const double tol = tc->exact ? TOL_EXACT : TOL_EMUL;
    const int ok = unwritten == 0 && same && qbad == 0 && zeros && e_emu < tol && e_fp32 < TOL_FP32;
    printf("  %-30s n=%-6lld heads=%-2lld density %.3f %s: vs emulation %.2e (tol %.0e), vs fp32 %.2e (tol %.0e; bf16 "
           "kernel %.2e); model emulation %.2e (%.2e from exact sums); unwritten %zu, repeatable %s  %s\n",
           tc->name, (long long)n, (long long)H, rad_bsr_density(mk), tc->sampled ? "sampled rows" : "all rows", e_emu,
           tol, e_fp32, TOL_FP32, e_bf16, e_hw, d_hw, unwritten, same ? "yes" : "NO", ok ? "ok" : "FAIL");
    CHECK(unwritten == 0);
    CHECK(same);
    CHECK(qbad == 0);
    CHECK(zeros);
    CHECK(e_emu < tol);
    CHECK(e_fp32 < TOL_FP32);

    rad_free(emu), rad_free(emu_hw), rad_free(ref);
    rad_cuda_bsr_free(&dm);
    rad_cuda_free(ds), rad_cuda_free(dout);
    rad_free(o8), rad_free(o8b), rad_free(o16), rad_free(himg), rad_free(dimg);
    inputs_free(&in);
    if (mk == &own) rad_bsr_free(&own);
}

/* 3: through the backend's attention op on fp32 tensors. */
static void test_backend(void) {
    rad_backend *gpu = NULL, *gpu16 = NULL;
    CHECK_OK(rad_backend_cuda(0, &gpu));
    CHECK_OK(rad_backend_cuda(0, &gpu16));
    if (!gpu || !gpu16) return;
    const int64_t n = 1000, H = 3, lk = 77, hd = H * D;
    const tcase tc = {.n = n, .heads = H, .spread = 1.7, .k_offset = 2.0};
    const float scale = 1.0f / sqrtf((float)D);
    inputs in;
    inputs_make(&tc, &in);
    const rad_radial_cfg cfg = {.frames = 4, .tokens_per_frame = 250, .decay = 1.0, .block = 128};
    const rad_bsr *radial = NULL;
    CHECK_OK(rad_radial_layout(&cfg, &radial));
    rad_bsr dense;
    CHECK_OK(rad_bsr_dense(n, 128, &dense));
    rad_fp8_attn_layout L;
    CHECK_OK(rad_fp8_attn_plan(n, H, &L));
    void *ds = NULL, *dout = NULL;
    CHECK_OK(rad_cuda_malloc(&ds, L.bytes, "scratch"));
    CHECK_OK(rad_cuda_malloc(&dout, in.elems * 2, "out"));
    uint16_t *direct = malloc(in.elems * 2);
    const size_t nb = in.elems * 4;
    float *q = NULL, *k = NULL, *v = NULL, *o = NULL, *q16 = NULL, *k16 = NULL, *v16 = NULL, *o16 = NULL;
    CHECK_OK(gpu->alloc(gpu, nb, "q", (void **)&q));
    CHECK_OK(gpu->alloc(gpu, nb, "k", (void **)&k));
    CHECK_OK(gpu->alloc(gpu, nb, "v", (void **)&v));
    CHECK_OK(gpu->alloc(gpu, nb, "o", (void **)&o));
    CHECK_OK(gpu16->alloc(gpu16, nb, "q", (void **)&q16));
    CHECK_OK(gpu16->alloc(gpu16, nb, "k", (void **)&k16));
    CHECK_OK(gpu16->alloc(gpu16, nb, "v", (void **)&v16));
    CHECK_OK(gpu16->alloc(gpu16, nb, "o", (void **)&o16));
    float *got = malloc(nb), *want = malloc(nb);
    if (rad_test_failures || !direct || !got || !want) return;
    CHECK_OK(gpu->upload(gpu, q, in.f[0], nb));
    CHECK_OK(gpu->upload(gpu, k, in.f[1], nb));
    CHECK_OK(gpu->upload(gpu, v, in.f[2], nb));
    CHECK_OK(gpu16->upload(gpu16, q16, in.f[0], nb));
    CHECK_OK(gpu16->upload(gpu16, k16, in.f[1], nb));
    CHECK_OK(gpu16->upload(gpu16, v16, in.f[2], nb));
    CHECK_FAILS(gpu->set_attention(gpu, 7));
    CHECK_OK(gpu->set_attention(gpu, RAD_ATTN_FP8));
    for (int m = 0; m < 2; m++) { /* dense (mask NULL, as the DiT passes it) and radial */
        const rad_bsr *mask = m ? radial : NULL;
        rad_cuda_bsr dm;
        CHECK_OK(rad_cuda_bsr_upload(m ? radial : &dense, &dm));
        CHECK_OK(rad_cuda_attention_fp8(in.d[0], in.d[1], in.d[2], dout, H, scale, &dm, ds, L.bytes, NULL));
        CHECK_OK(rad_cuda_sync());
        CHECK_OK(rad_cuda_download(direct, dout, in.elems * 2));
        rad_cuda_bsr_free(&dm);
        CHECK_OK(gpu->attention(gpu, q, k, v, o, n, n, H, D, scale, NULL, mask));
        CHECK_OK(gpu->download(gpu, got, o, nb));
        int same = 1;
        for (size_t i = 0; i < in.elems; i++) same &= got[i] == rad_bf16_to_f32(direct[i]);
        CHECK_OK(gpu16->attention(gpu16, q16, k16, v16, o16, n, n, H, D, scale, NULL, mask));
        CHECK_OK(gpu16->download(gpu16, want, o16, nb));
        const double e = rad_rel_err(got, want, in.elems);
        printf("  backend %s self-attention, set_attention fp8: %s the direct fp8 call; %.2e from the bf16 backend\n",
               m ? "radial" : "dense", same ? "bit-identical to" : "DIFFERS from", e);
        CHECK(same);
        CHECK(e < TOL_FP32 && e > 0);
    }
    /* cross-attention (lq != lk) stays on the bf16 kernels */
    CHECK_OK(gpu->attention(gpu, q, k, v, o, n, lk, H, D, scale, NULL, NULL));
    CHECK_OK(gpu16->attention(gpu16, q16, k16, v16, o16, n, lk, H, D, scale, NULL, NULL));
    CHECK_OK(gpu->download(gpu, got, o, (size_t)n * hd * 4));
    CHECK_OK(gpu16->download(gpu16, want, o16, (size_t)n * hd * 4));
    const int cross_same = !memcmp(got, want, (size_t)n * hd * 4);
    printf("  backend cross-attention (lk = %lld) with fp8 on: %s\n", (long long)lk,
           cross_same ? "bit-identical to bf16" : "DIFFERS from bf16");
    CHECK(cross_same);
    /* back to bf16 */
    CHECK_OK(gpu->set_attention(gpu, RAD_ATTN_BF16));
    CHECK_OK(gpu->attention(gpu, q, k, v, o, n, n, H, D, scale, NULL, radial));
    CHECK_OK(gpu16->attention(gpu16, q16, k16, v16, o16, n, n, H, D, scale, NULL, radial));
    CHECK_OK(gpu->download(gpu, got, o, nb));
    CHECK_OK(gpu16->download(gpu16, want, o16, nb));
    const int back = !memcmp(got, want, nb);
    printf("  backend after set_attention bf16: %s\n", back ? "bit-identical to the bf16 backend" : "DIFFERS");
    CHECK(back);
    gpu->free(gpu, q), gpu->free(gpu, k), gpu->free(gpu, v), gpu->free(gpu, o);
    gpu16->free(gpu16, q16), gpu16->free(gpu16, k16), gpu16->free(gpu16, v16), gpu16->free(gpu16, o16);
    gpu->destroy(gpu), gpu16->destroy(gpu16);
    rad_cuda_free(ds), rad_cuda_free(dout);
    free(direct), free(got), free(want);
    rad_bsr_free(&dense);
    inputs_free(&in);
}

int main(void) {
    char dev[256];
    int major = 0, minor = 0;
    if (rad_cuda_device_info(dev, sizeof dev, &major, &minor) != RAD_OK) {
        printf("skipped: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s\n", dev);
    char why[320];
    if (!rad_cuda_attn_fp8_supported(why, sizeof why)) { /* the refusal, then skip */
        rad_backend *gpu = NULL;
        CHECK_OK(rad_backend_cuda(0, &gpu));
        if (gpu) {
            const rad_status s = gpu->set_attention(gpu, RAD_ATTN_FP8);
            printf("  set_attention fp8 on this device -> %s\n", s == RAD_OK ? "accepted (WRONG)" : rad_last_error());
            CHECK(s == RADIAL_ERR_UNSUPPORTED);
            CHECK_OK(gpu->set_attention(gpu, RAD_ATTN_BF16));
            gpu->destroy(gpu);
        }
        printf("skipped: %s\n", why);
        return rad_test_failures ? 1 : 77;
    }
    const char *seed_env = getenv("RAD_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
    if (!seed) seed = 1;
    rng = seed;
    printf("seed: %llu (RAD_TEST_SEED=%llu replays this run)\n", (unsigned long long)seed, (unsigned long long)seed);
    rad_backend *cpu = NULL;
    CHECK_OK(rad_backend_cpu(&cpu));
    if (!cpu) TEST_MAIN_END();

    printf("1. quantisation pre-pass against the CPU\n");
    test_quant(1, 1, 0.0);
    test_quant(77, 3, 4.0);
    test_quant(129, 2, 30.0);
    test_quant(300, 12, 1.0);
    test_quant(2049, 2, 4.0);

    printf("2. attention against the emulation and fp32\n");
    const tcase cases[] = {
        {"dense", 77, 3, MASK_DENSE, 0, 0, 0, 1.7, 0.0, 0, 0},
        {"dense", 128, 2, MASK_DENSE, 0, 0, 0, 3.0, 2.0, 0, 0},
        {"dense", 129, 1, MASK_DENSE, 0, 0, 0, 1.7, 0.5, 0, 0},
        {"dense, key offsets 30", 300, 12, MASK_DENSE, 0, 0, 0, 1.0, 30.0, 0, 0},
        {"random blocks, empty row", 1000, 5, MASK_RANDOM, 0.5, 0, 0, 2.0, 1.0, 0, 0},
        {"random blocks, peaky", 2049, 2, MASK_RANDOM, 0.3, 0, 0, 3.0, 1.0, 0, 0},
        {"radial 8 x 256", 2048, 3, MASK_RADIAL, 0, 8, 256, 1.7, 1.0, 0, 0},
        {"radial 6 x 390", 2340, 4, MASK_RADIAL, 0, 6, 390, 2.5, 1.0, 0, 0},
        {"exact scores, dense", 300, 2, MASK_DENSE, 0, 0, 0, 0, 0, 1, 0},
        {"exact scores, random blocks", 1000, 2, MASK_RANDOM, 0.5, 0, 0, 0, 0, 1, 0},
        {"exact scores, radial 6 x 390", 2340, 2, MASK_RADIAL, 0, 6, 390, 0, 0, 1, 0},
        {"Wan radial 21 x 1560", 21 * 1560, 12, MASK_RADIAL, 0, 21, 1560, 1.7, 1.0, 0, 1},
        {"Wan dense", 21 * 1560, 12, MASK_DENSE, 0, 0, 0, 1.7, 1.0, 0, 1},
    };
    const int small_only = getenv("RAD_TEST_SMALL") != NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (small_only && cases[i].n > 4096) continue;
        test_case(&cases[i], cpu);
    }

    printf("3. through the backend\n");
    test_backend();
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
