/* Streamed weights and the memory counts of the CUDA backend (backend.h weight_new_host, stage, mem_stats, trim):
 * - a staged host weight computes exactly what the same weight resident on the device computes (bf16 from an
 *   F32 source, fp8 kept as stored with a per-row scale): linear outputs bit-identical;
 * - a chain of layers run the way the models run it (stage layer i + 1, then queue layer i) over weights large
 *   enough that each upload takes longer than a small GEMM, equals the resident chain bit for bit (an upload
 *   that raced its readers or a slot reused too early would change the result);
 * - a streamed weight used without staging, or after its slot was reused, is an error naming it;
 * - the DiT with every block streamed and with one block resident equals the resident DiT bit for bit; parked in
 *   host memory it frees its device memory and, brought back, computes the same;
 * - mem_stats: the device count covers the backend's own buffers, page-locked bytes are counted and returned,
 *   trim frees the scratch and staging buffers.
 * Exits 77 (skipped) without a CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn/radial_mask.h"
#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "base/half.h"
#include "dit/dit.h"
#include "gpu_test_util.h"
#include "test_util.h"

static rad_backend *gpu;

static void check_same(const char *what, const float *a, const float *b, size_t n) {
    const bool same = !memcmp(a, b, n * sizeof(float));
    printf("  %-70s %s\n", what, same ? "bit-identical" : "DIFFERENT");
    CHECK(same);
}

/* One [rows, cols] weight in both placements, F32 source (kept as bf16) or e4m3 bytes with a per-row scale. */
static void test_linear_placements(int fp8) {
    const int64_t m = 130, k = 512, n = 384;
    float *x = host_rand((size_t)(m * k), 1.0f), *wf = host_rand((size_t)(n * k), 0.05f);
    uint8_t *w8 = malloc((size_t)(n * k));
    float *scale = host_rand((size_t)n, 0.01f);
    for (int64_t i = 0; i < n * k; i++) /* magnitudes 0..100 (no NaN pattern), either sign */
        w8[i] = (uint8_t)((uint8_t)((urand() + 1.0f) * 50.0f) | (i & 1) << 7);
    for (int64_t i = 0; i < n; i++) scale[i] = 0.02f + scale[i] * scale[i];
    const rad_weight_src src = fp8 ? (rad_weight_src){RAD_DT_F8_E4M3, w8, scale, n} : rad_weight_src_f32(wf);
    rad_weight *wd = NULL, *wh = NULL;
    CHECK_OK(gpu->weight_new(gpu, &src, n, k, "resident", &wd));
    CHECK_OK(gpu->weight_new_host(gpu, &src, n, k, "streamed", &wh));
    float *dx = dev_copy(gpu, x, (size_t)(m * k)), *dy = dev_poison(gpu, (size_t)(m * n)), *dz = dev_poison(gpu, (size_t)(m * n));
    CHECK_OK(gpu->linear(gpu, dx, m, k, wd, NULL, dy));
    CHECK_OK(gpu->stage(gpu, &wh, 1));
    CHECK_OK(gpu->linear(gpu, dx, m, k, wh, NULL, dz));
    float *y = download(gpu, dy, (size_t)(m * n)), *z = download(gpu, dz, (size_t)(m * n));
    check_same(fp8 ? "linear, fp8 weight (per-row scale): streamed vs resident" : "linear, bf16 weight: streamed vs resident",
               z, y, (size_t)(m * n));
    rad_mem_stats st;
    gpu->mem_stats(gpu, 0, &st);
    CHECK(st.host_pinned >= (size_t)(n * k) * (fp8 ? 1 : 2));
    gpu->weight_free(gpu, wh);
    rad_mem_stats after;
    gpu->mem_stats(gpu, 0, &after);
    CHECK(st.host_pinned - after.host_pinned == (size_t)(n * k) * (fp8 ? 1 : 2));
    gpu->weight_free(gpu, wd);
    gpu->free(gpu, dx), gpu->free(gpu, dy), gpu->free(gpu, dz);
    free(x), free(wf), free(w8), free(scale), free(y), free(z);
}

/* x <- linear_i(x) for 8 layers of 2048 x 2048 (8 MiB each as bf16) over 64 rows: the uploads take far longer
 * than the GEMMs, so stream ordering is what the result depends on. */
static void test_double_buffering(void) {
    enum { LAYERS = 8 };
    const int64_t m = 64, d = 2048;
    float *w[LAYERS], *x = host_rand((size_t)(m * d), 1.0f);
    rad_weight *res[LAYERS], *str[LAYERS];
    for (int i = 0; i < LAYERS; i++) {
        w[i] = host_rand((size_t)(d * d), 0.03f);
        const rad_weight_src src = rad_weight_src_f32(w[i]);
        CHECK_OK(gpu->weight_new(gpu, &src, d, d, "resident layer", &res[i]));
        CHECK_OK(gpu->weight_new_host(gpu, &src, d, d, "streamed layer", &str[i]));
    }
    float *a = dev_copy(gpu, x, (size_t)(m * d)), *b = dev_poison(gpu, (size_t)(m * d));
    float *c = dev_copy(gpu, x, (size_t)(m * d)), *e = dev_poison(gpu, (size_t)(m * d));
    for (int i = 0; i < LAYERS; i++) {
        CHECK_OK(gpu->linear(gpu, i % 2 ? b : a, m, d, res[i], NULL, i % 2 ? a : b));
    }
    CHECK_OK(gpu->stage(gpu, &str[0], 1));
    for (int i = 0; i < LAYERS; i++) {
        if (i + 1 < LAYERS) CHECK_OK(gpu->stage(gpu, &str[i + 1], 1));
        CHECK_OK(gpu->linear(gpu, i % 2 ? e : c, m, d, str[i], NULL, i % 2 ? c : e));
    }
    float *ya = download(gpu, a, (size_t)(m * d)), *yc = download(gpu, c, (size_t)(m * d));
    check_same("8-layer chain, one layer staged ahead: streamed vs resident", yc, ya, (size_t)(m * d));

    /* staleness: str[0] sat in a slot that two later stage calls reused; an unstaged weight */
    CHECK_OK(gpu->stage(gpu, &str[0], 1));
    CHECK_OK(gpu->stage(gpu, &str[1], 1));
    CHECK_OK(gpu->stage(gpu, &str[2], 1));
    rad_status s = gpu->linear(gpu, c, m, d, str[0], NULL, e);
    printf("  reused slot: %s\n", s == RAD_OK ? "accepted (WRONG)" : rad_last_error());
    CHECK(s != RAD_OK && strstr(rad_last_error(), "streamed layer"));
    s = gpu->linear(gpu, c, m, d, str[5], NULL, e);
    CHECK(s != RAD_OK);
    CHECK_OK(gpu->linear(gpu, c, m, d, str[2], NULL, e)); /* the latest group is placed */

    /* trim: scratch, shadows and staging buffers go; a placed group goes stale */
    rad_mem_stats before, after;
    gpu->mem_stats(gpu, 0, &before);
    CHECK_OK(gpu->trim(gpu));
    gpu->mem_stats(gpu, 0, &after);
    printf("  trim: backend buffers %.1f -> %.1f MiB\n", before.held / 1048576.0, after.held / 1048576.0);
    CHECK(after.held + (size_t)(2 * d * d * 2) <= before.held); /* at least the two staging buffers */
    CHECK(gpu->linear(gpu, c, m, d, str[2], NULL, e) != RAD_OK);
    for (int i = 0; i < LAYERS; i++) gpu->weight_free(gpu, res[i]), gpu->weight_free(gpu, str[i]), free(w[i]);
    gpu->free(gpu, a), gpu->free(gpu, b), gpu->free(gpu, c), gpu->free(gpu, e);
    free(x), free(ya), free(yc);
}

static void test_dit_offload(void) {
    const rad_dit_config c = {.dim = 256, .ffn_dim = 512, .num_heads = 2, .head_dim = 128, .num_layers = 4,
                              .in_dim = 16, .out_dim = 16, .text_dim = 64, .text_len = 512, .freq_dim = 256,
                              .patch_t = 1, .patch_h = 2, .patch_w = 2, .eps = 1e-6f};
    const int T = 3, H = 16, W = 24, L = 20;
    const size_t n = (size_t)16 * T * H * W;
    float *x = host_rand(n, 1.0f), *ctx = host_rand((size_t)L * 64, 1.0f);
    float *v[3] = {malloc(n * sizeof(float)), malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    const rad_radial_cfg rc = {.frames = T, .tokens_per_frame = (H / 2) * (W / 2), .decay = 1.0, .block = 128};
    rad_dit_attn_policy pol = {.mask = NULL, .dense_layers = 1};
    CHECK_OK(rad_radial_layout(&rc, &pol.mask));
    const int resident[3] = {-1, 0, 1};
    for (int i = 0; i < 3; i++) {
        rad_dit *d = NULL;
        CHECK_OK(rad_dit_random(gpu, &c, 7, resident[i], &d));
        if (!d) continue;
        CHECK(rad_dit_resident_blocks(d) == (resident[i] < 0 ? c.num_layers : resident[i]));
        /* two forwards (the CFG pair): the second restages from the first block */
        CHECK_OK(rad_dit_forward(d, x, T, H, W, 700.0f, ctx, L, &pol, v[i]));
        CHECK_OK(rad_dit_forward(d, x, T, H, W, 700.0f, ctx, L, &pol, v[i]));
        rad_dit_free(d);
    }
    check_same("DiT forward, every block streamed vs resident", v[1], v[0], n);
    /* parked (the pipeline's decode): the device memory goes, the next forward brings the weights back */
    rad_dit *d = NULL;
    CHECK_OK(rad_dit_random(gpu, &c, 7, -1, &d));
    if (d) {
        rad_mem_stats m0, m1;
        gpu->mem_stats(gpu, 0, &m0);
        CHECK_OK(rad_dit_park(d, true));
        gpu->mem_stats(gpu, 0, &m1);
        const size_t blocks = (size_t)c.num_layers * 2 * (8 * 256 * 256 + 2 * 256 * 512);
        printf("  parked: backend buffers %.2f -> %.2f MiB, pinned %.2f MiB\n", m0.held / 1048576.0, m1.held / 1048576.0,
               m1.host_pinned / 1048576.0);
        CHECK(m0.held >= m1.held + blocks && m1.host_pinned >= m0.host_pinned + blocks && rad_dit_parked(d));
        float *vp = malloc(n * sizeof(float));
        CHECK_OK(rad_dit_forward(d, x, T, H, W, 700.0f, ctx, L, &pol, vp));
        CHECK(!rad_dit_parked(d));
        CHECK_OK(rad_dit_park(d, true)); /* again: the host copy is kept, no second copy */
        CHECK_OK(rad_dit_forward(d, x, T, H, W, 700.0f, ctx, L, &pol, vp));
        check_same("DiT forward after parking twice vs resident", vp, v[0], n);
        free(vp);
        rad_dit_free(d);
    }
    check_same("DiT forward, block 0 resident and 3 streamed vs resident", v[2], v[0], n);
    free(x), free(ctx), free(v[0]), free(v[1]), free(v[2]);
}

static void test_mem_stats(void) {
    rad_mem_stats a, b;
    gpu->mem_stats(gpu, 1, &a);
    void *p = NULL;
    CHECK_OK(gpu->alloc(gpu, (size_t)256 << 20, "256 MiB", &p));
    gpu->mem_stats(gpu, 0, &b);
    printf("  device in use %.1f MiB of %.1f (backend %.1f MiB)\n", b.device_used / 1048576.0, b.device_total / 1048576.0,
           b.held / 1048576.0);
    CHECK(b.held >= a.held + ((size_t)256 << 20) && b.peak >= b.held);
    CHECK(b.device_used >= b.held && b.device_total >= b.device_used && b.device_peak >= b.device_used);
    CHECK(b.device_used >= a.device_used + ((size_t)250 << 20)); /* the driver saw the allocation */
    gpu->free(gpu, p);
    gpu->mem_stats(gpu, 1, &a); /* reads, then restarts the peaks from now */
    gpu->mem_stats(gpu, 0, &b);
    CHECK(a.peak >= b.held + ((size_t)256 << 20)); /* the peak it read still held the buffer */
    CHECK(b.peak == b.held && b.device_peak >= b.device_used && b.device_peak + ((size_t)250 << 20) <= a.device_peak);
}

int main(void) {
    char name[160];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s\n", name);
    CHECK_OK(rad_backend_cuda(0, &gpu));
    if (!gpu) TEST_MAIN_END();
    test_mem_stats();
    test_linear_placements(0);
    test_linear_placements(1);
    test_double_buffering();
    test_dit_offload();
    gpu->destroy(gpu);
    TEST_MAIN_END();
}
