/* The VAE decode on the CUDA backend, tiny model (exits 77, skipped, without a GPU).
 * - bf16 convolution inputs (the conv caches, every conv input, the held and upsampled frames, as the decode
 *   keeps them) against the same decode keeping all of them in fp32: a wrapper of the CUDA backend whose
 *   conv_dtype is F32 and whose conv3d rounds x and prev to bf16 on the way in, the arithmetic conv3d had
 *   before its inputs became bf16. Bit for bit, on the implicit-GEMM and the im2col conv paths.
 * - Each path against the CPU decode (the fp32 reference) at the golden tolerance (rel < 2e-2), on the golden
 *   latent and on a longer random one; the tiled decode against the CPU's tiled decode likewise.
 * - The working memory measured equals rad_vae_plan_work (bf16 for CUDA, F32 for the wrapper), and bf16 is
 *   about half. */
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_attention.h"
#include "gpu_test_util.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "vae/vae.h"

static rad_backend *cpu, *gpu, *gpu_im2col;

/* ---- the fp32-input wrapper: the CUDA backend `real` with conv inputs kept in fp32 ---- */
static rad_backend *real;

static rad_status w_to_conv(rad_backend *be, const float *x, int64_t n, void *y) {
    (void)be;
    const size_t bytes = (size_t)n * sizeof(float);
    return real->copy2d(real, y, bytes, x, bytes, bytes, n ? 1 : 0);
}
static void *rounded(const float *x, int64_t n) { /* a bf16 copy of fp32 device data, rounded by the backend */
    void *y = NULL;
    CHECK_OK(real->alloc(real, (size_t)(n ? n : 1) * 2, "wrapper bf16 input", &y));
    CHECK_OK(real->to_conv_dtype(real, x, n, y));
    return y;
}
static rad_status w_conv3d(rad_backend *be, const void *x, int64_t cin, int64_t t, int64_t h, int64_t w,
                           const void *prev, int64_t n_prev, const rad_weight *wt, const float *bias, int64_t cout,
                           int64_t kt, int64_t kh, int64_t kw, int64_t ph, int64_t pw, float *y) {
    (void)be;
    void *x16 = rounded(x, cin * t * h * w), *p16 = prev ? rounded(prev, cin * n_prev * h * w) : NULL;
    const rad_status st = real->conv3d(real, x16, cin, t, h, w, p16, n_prev, wt, bias, cout, kt, kh, kw, ph, pw, y);
    real->free(real, x16);
    if (p16) real->free(real, p16);
    return st;
}
static rad_status w_upsample2x(rad_backend *be, const void *x, int64_t c, int64_t h, int64_t w, void *y) {
    (void)be; /* fp32 nearest 2x through the host: the wrapper's inputs are not bf16 */
    float *hx = download(real, x, (size_t)(c * h * w)), *hy = malloc((size_t)(4 * c * h * w) * sizeof *hy);
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t yo = 0; yo < 2 * h; yo++)
            for (int64_t xo = 0; xo < 2 * w; xo++)
                hy[(ch * 2 * h + yo) * 2 * w + xo] = hx[(ch * h + yo / 2) * w + xo / 2];
    const rad_status st = real->upload(real, y, hy, (size_t)(4 * c * h * w) * sizeof *hy);
    free(hx), free(hy);
    return st;
}
/* rmsnorm_silu_channels with fp32 convolution inputs: the norm and the SiLU of the real backend, kept in fp32 */
static rad_status w_rmsnorm_silu(rad_backend *be, const float *x, int64_t c, int64_t s, const float *gamma, void *y) {
    (void)be;
    RAD_TRY(real->rmsnorm_channels(real, x, c, s, gamma, (float *)y));
    return real->silu(real, (float *)y, c * s);
}
static rad_backend fp32_inputs(rad_backend *of) {
    rad_backend b = *of;
    b.conv_dtype = RAD_DT_F32, b.to_conv_dtype = w_to_conv, b.conv3d = w_conv3d, b.upsample2x = w_upsample2x;
    b.rmsnorm_silu_channels = w_rmsnorm_silu;
    return b;
}

static float *decode(rad_vae *vae, const float *lat, int64_t T, int64_t H, int64_t W, size_t *n, size_t *peak) {
    *n = (size_t)(3 * rad_vae_out_frames(vae, T) * 64 * H * W);
    float *v = malloc(*n * sizeof *v);
    CHECK_OK(rad_vae_decode(vae, lat, T, H, W, v));
    *peak = rad_vae_last_stats(vae).work_peak_bytes;
    return v;
}

static void check_latent(const rad_weights *w, const char *what, const float *lat, int64_t T, int64_t H, int64_t W) {
    rad_vae *vc = NULL, *vg = NULL, *vi = NULL, *vw = NULL, *vwi = NULL;
    rad_backend wrap = fp32_inputs(gpu), wrap_im2col = fp32_inputs(gpu_im2col);
    CHECK_OK(rad_vae_load(cpu, w, &vc));
    CHECK_OK(rad_vae_load(gpu, w, &vg));
    CHECK_OK(rad_vae_load(gpu_im2col, w, &vi));
    CHECK_OK(rad_vae_load(&wrap, w, &vw));
    CHECK_OK(rad_vae_load(&wrap_im2col, w, &vwi));
    if (rad_test_failures) return;
    size_t n, pc, pg, pi, pw, pwi, plan16 = 0, plan32 = 0;
    float *ref = decode(vc, lat, T, H, W, &n, &pc), *g = decode(vg, lat, T, H, W, &n, &pg);
    float *i = decode(vi, lat, T, H, W, &n, &pi);
    real = gpu;
    float *g32 = decode(vw, lat, T, H, W, &n, &pw);
    real = gpu_im2col;
    float *i32 = decode(vwi, lat, T, H, W, &n, &pwi);
    char line[160];
    printf("%s (latent %lldx%lldx%lld):\n", what, (long long)T, (long long)H, (long long)W);
    snprintf(line, sizeof line, "implicit GEMM, bf16 inputs vs fp32 inputs");
    check_rel(line, g, g32, n, 0.0);
    CHECK(memcmp(g, g32, n * sizeof *g) == 0);
    snprintf(line, sizeof line, "im2col, bf16 inputs vs fp32 inputs");
    check_rel(line, i, i32, n, 0.0);
    CHECK(memcmp(i, i32, n * sizeof *i) == 0);
    check_rel("implicit GEMM vs CPU", g, ref, n, 2e-2);
    check_rel("im2col vs CPU", i, ref, n, 2e-2);
    CHECK_OK(rad_vae_plan_work(w, H, W, RAD_DT_BF16, 0, &plan16));
    CHECK_OK(rad_vae_plan_work(w, H, W, RAD_DT_F32, 0, &plan32));
    printf("  working memory: bf16 inputs %zu bytes (plan %zu), fp32 inputs %zu (plan %zu), CPU %zu\n", pg, plan16,
           pw, plan32, pc);
    if (T >= 2) CHECK(pg == plan16 && pw == plan32 && pc == plan32);
    CHECK(pg == pi && pw == pwi && pg < 0.6 * pw);
    free(ref), free(g), free(i), free(g32), free(i32);
    rad_vae_free(vc), rad_vae_free(vg), rad_vae_free(vi), rad_vae_free(vw), rad_vae_free(vwi);
}

static void check_tiled(const rad_weights *w, const float *lat, int64_t T, int64_t H, int64_t W, int tile) {
    rad_vae *vc = NULL, *vg = NULL;
    CHECK_OK(rad_vae_load(cpu, w, &vc));
    CHECK_OK(rad_vae_load(gpu, w, &vg));
    if (rad_test_failures) return;
    CHECK_OK(rad_vae_set_tiling(vc, tile));
    CHECK_OK(rad_vae_set_tiling(vg, tile));
    size_t n, pc, pg, plan = 0;
    float *ref = decode(vc, lat, T, H, W, &n, &pc), *g = decode(vg, lat, T, H, W, &n, &pg);
    char line[160];
    snprintf(line, sizeof line, "tiles of %d px (latent %lldx%lldx%lld): GPU vs CPU", tile, (long long)T, (long long)H,
             (long long)W);
    check_rel(line, g, ref, n, 2e-2);
    CHECK_OK(rad_vae_plan_work(w, H, W, RAD_DT_BF16, tile, &plan));
    CHECK(pg == plan);
    free(ref), free(g);
    rad_vae_free(vc), rad_vae_free(vg);
}

int main(void) {
    char name[160], path[1024];
    if (rad_cuda_device_info(name, sizeof name, NULL, NULL) != RAD_OK) {
        printf("SKIP: %s\n", rad_last_error());
        return 77;
    }
    printf("device: %s\n", name);
    if (!gpu_test_backends(&cpu, &gpu, &gpu_im2col)) TEST_MAIN_END();
    rad_weights *w = NULL;
    CHECK_OK(rad_weights_open(rad_test_path(path, sizeof path, "tiny-wan/vae"), RAD_COMP_VAE, &w));
    rad_st_file *f = NULL;
    CHECK_OK(rad_st_open(rad_test_path(path, sizeof path, "cases/vae_decode.safetensors"), &f));
    if (rad_test_failures) TEST_MAIN_END();
    const rad_st_tensor *t = rad_st_find(f, "latent");
    CHECK(t && t->ndim == 4 && t->shape[0] == 16);
    if (t && t->ndim == 4) {
        float *lat = malloc((size_t)t->numel * sizeof *lat);
        CHECK_OK(rad_st_to_f32(t, lat));
        check_latent(w, "golden latent", lat, t->shape[1], t->shape[2], t->shape[3]);
        free(lat);
    }
    rad_st_close(f);
    const int64_t T = 5, H = 12, W = 20;
    float *rnd = host_rand((size_t)(16 * T * H * W), 2.0f);
    check_latent(w, "random latent", rnd, T, H, W);
    check_tiled(w, rnd, T, H, W, 64);
    free(rnd);
    rad_weights_close(w);
    printf("peak device bytes: %.1f MiB\n", (double)rad_backend_peak(gpu) / 1048576.0);
    gpu_im2col->destroy(gpu_im2col);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
