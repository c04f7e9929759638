/* The VAE's spatial tiling and its memory plan, on the CPU backend with the tiny model.
 * - Tiled decode == a literal transcription of diffusers' AutoencoderKLWan.tiled_decode (every tile decoded
 *   whole, then blend_v / blend_h in place row by row, the top-left stride of each tile kept), bit for bit, for
 *   tile grids with edge tiles narrower than the overlap.
 * - Its difference from the whole-frame decode is printed (max and mean |diff|); relative to mean |x| it more
 *   than halves from 64- to 128-pixel tiles and stays under 0.5. A tile as large as the video leaves the decode
 *   whole, bit for bit; bad tile sizes are rejected.
 * - rad_vae_plan_work equals the working memory a real decode measured (whole and tiled), and with bf16
 *   convolution inputs the plan is about half of the fp32 one. */
#include <string.h>

#include "backend/backend.h"
#include "io/weights.h"
#include "test_util.h"
#include "vae/vae.h"

static float *random_latent(int64_t T, int64_t H, int64_t W, uint32_t seed) {
    const int64_t n = 16 * T * H * W;
    float *lat = malloc((size_t)n * sizeof *lat);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        lat[i] = (float)(seed >> 8) / (float)(1 << 24) * 4.0f - 2.0f;
    }
    return lat;
}

static float *decode(rad_vae *vae, const float *lat, int64_t T, int64_t H, int64_t W) {
    const int64_t F = rad_vae_out_frames(vae, T);
    float *v = malloc((size_t)(3 * F * 64 * H * W) * sizeof *v);
    CHECK_OK(rad_vae_decode(vae, lat, T, H, W, v));
    return v;
}

/* diffusers: b[..., y, :] = a[..., -ext + y, :] * (1 - y / ext) + b[..., y, :] * (y / ext), fp32 tensors times
 * Python floats (rounded to fp32). Tiles are [3F, h, w]. */
static void blend_v(const float *a, int64_t ah, float *b, int64_t bh, int64_t w, int64_t nf, int64_t extent) {
    const int64_t ext = ah < bh ? (ah < extent ? ah : extent) : (bh < extent ? bh : extent);
    for (int64_t y = 0; y < ext; y++)
        for (int64_t cf = 0; cf < nf; cf++)
            for (int64_t x = 0; x < w; x++) {
                float *p = &b[(cf * bh + y) * w + x];
                *p = a[(cf * ah + ah - ext + y) * w + x] * (float)(1.0 - (double)y / ext) +
                     *p * (float)((double)y / ext);
            }
}
static void blend_h(const float *a, int64_t aw, float *b, int64_t bw, int64_t h, int64_t nf, int64_t extent) {
    const int64_t ext = aw < bw ? (aw < extent ? aw : extent) : (bw < extent ? bw : extent);
    for (int64_t x = 0; x < ext; x++)
        for (int64_t cf = 0; cf < nf; cf++)
            for (int64_t y = 0; y < h; y++) {
                float *p = &b[(cf * h + y) * bw + x];
                *p = a[(cf * h + y) * aw + aw - ext + x] * (float)(1.0 - (double)x / ext) +
                     *p * (float)((double)x / ext);
            }
}

/* tiled_decode as diffusers writes it, on whole-frame decodes of latent crops. */
static float *reference_tiled(rad_vae *vae, const float *lat, int64_t T, int64_t H, int64_t W, int tile) {
    const int64_t tl = tile / 8, sl = tl * 3 / 4, sp = sl * 8, extent = tile - sp, F = rad_vae_out_frames(vae, T);
    const int64_t nf = 3 * F, n_i = (H + sl - 1) / sl, n_j = (W + sl - 1) / sl, OH = 8 * H, OW = 8 * W;
    float **tiles = calloc((size_t)(n_i * n_j), sizeof *tiles);
    int64_t *th = calloc((size_t)n_i, sizeof *th), *tw = calloc((size_t)n_j, sizeof *tw);
    for (int64_t i = 0; i < n_i; i++)
        for (int64_t j = 0; j < n_j; j++) {
            const int64_t h = H - i * sl < tl ? H - i * sl : tl, w = W - j * sl < tl ? W - j * sl : tl;
            th[i] = h, tw[j] = w;
            float *crop = malloc((size_t)(16 * T * h * w) * sizeof *crop);
            for (int64_t c = 0; c < 16 * T; c++)
                for (int64_t y = 0; y < h; y++)
                    memcpy(&crop[(c * h + y) * w], &lat[(c * H + i * sl + y) * W + j * sl], (size_t)w * sizeof *crop);
            CHECK_OK(rad_vae_set_tiling(vae, 0));
            tiles[i * n_j + j] = decode(vae, crop, T, h, w);
            free(crop);
        }
    float *out = calloc((size_t)(nf * OH * OW), sizeof *out);
    for (int64_t i = 0; i < n_i; i++)
        for (int64_t j = 0; j < n_j; j++) {
            float *b = tiles[i * n_j + j];
            const int64_t bh = 8 * th[i], bw = 8 * tw[j];
            if (i > 0) blend_v(tiles[(i - 1) * n_j + j], 8 * th[i - 1], b, bh, bw, nf, extent);
            if (j > 0) blend_h(tiles[i * n_j + j - 1], 8 * tw[j - 1], b, bw, bh, nf, extent);
            for (int64_t cf = 0; cf < nf; cf++)
                for (int64_t y = 0; y < (bh < sp ? bh : sp); y++)
                    memcpy(&out[(cf * OH + i * sp + y) * OW + j * sp], &b[(cf * bh + y) * bw],
                           (size_t)(bw < sp ? bw : sp) * sizeof *out);
        }
    for (int64_t k = 0; k < n_i * n_j; k++) free(tiles[k]);
    free(tiles), free(th), free(tw);
    return out;
}

/* Returns the mean |tiled - whole| over mean |whole|. */
static double check_tiled(rad_vae *vae, int64_t T, int64_t H, int64_t W, int tile) {
    const int64_t n = 3 * rad_vae_out_frames(vae, T) * 64 * H * W;
    float *lat = random_latent(T, H, W, (uint32_t)(H * 131 + W));
    CHECK_OK(rad_vae_set_tiling(vae, 0));
    float *whole = decode(vae, lat, T, H, W);
    CHECK_OK(rad_vae_set_tiling(vae, tile));
    float *tiled = decode(vae, lat, T, H, W);
    const size_t tiled_peak = rad_vae_last_stats(vae).work_peak_bytes;
    float *ref = reference_tiled(vae, lat, T, H, W, tile);
    const int same = memcmp(tiled, ref, (size_t)n * sizeof *ref) == 0;
    double max_d = 0, sum_d = 0, sum_x = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)tiled[i] - whole[i]);
        max_d = d > max_d ? d : max_d, sum_d += d, sum_x += fabs((double)whole[i]);
    }
    printf("latent %lldx%lldx%lld, tile %d px: tiled %s diffusers' tiled_decode; vs whole frames: max |diff| %.4f, "
           "mean |diff| %.5f (mean |x| %.4f); working memory %zu bytes\n", (long long)T, (long long)H, (long long)W,
           tile, same ? "==" : "DIFFERS FROM", max_d, sum_d / (double)n, sum_x / (double)n, tiled_peak);
    CHECK(same);
    CHECK(max_d > 0); /* tiling did happen */
    free(lat), free(whole), free(tiled), free(ref);
    return sum_d / sum_x;
}

static void check_plan(rad_vae *vae, const rad_weights *w, int64_t T, int64_t H, int64_t W, int tile) {
    float *lat = random_latent(T, H, W, 99);
    CHECK_OK(rad_vae_set_tiling(vae, tile));
    float *v = decode(vae, lat, T, H, W);
    const size_t measured = rad_vae_last_stats(vae).work_peak_bytes;
    size_t plan = 0, plan16 = 0;
    CHECK_OK(rad_vae_plan_work(w, H, W, RAD_DT_F32, tile, &plan));
    CHECK_OK(rad_vae_plan_work(w, H, W, RAD_DT_BF16, tile, &plan16));
    printf("latent %lldx%lldx%lld, tile %d: working memory %zu bytes measured, plan %zu (bf16 inputs: %zu, %.3f of "
           "it)\n", (long long)T, (long long)H, (long long)W, tile, measured, plan, plan16,
           (double)plan16 / (double)plan);
    CHECK(plan == measured);
    CHECK(plan16 < plan * 0.6 && plan16 > plan * 0.45); /* the caches and conv inputs, half of all, halve */
    free(lat), free(v);
}

int main(void) {
    char path[1024];
    rad_backend *be;
    rad_weights *w;
    rad_vae *vae;
    CHECK_OK(rad_backend_cpu(&be));
    CHECK_OK(rad_weights_open(rad_test_path(path, sizeof path, "tiny-wan/vae"), RAD_COMP_VAE, &w));
    if (rad_test_failures) return 1;
    CHECK_OK(rad_vae_load(be, w, &vae));
    if (rad_test_failures) return 1;

    /* Tiles of 8 latent pixels every 6 (64 px, 16 px overlap): 2 x 4 tiles, the last column 16 px wide (all
     * overlap); then a last row of 24 px and a last column of 8 px, narrower than the overlap; then the smallest
     * tiles, 4 every 3 (32 px, 8 px overlap). */
    check_tiled(vae, 3, 12, 20, 64);
    check_tiled(vae, 2, 9, 19, 64);
    check_tiled(vae, 2, 7, 10, 32);
    /* The difference shrinks as the tiles grow (what a tile misses is context beyond its border), and stays well
     * below the picture itself even for tiles this small against the decoder's reach (the middle attention
     * sees the whole frame). */
    const double d64 = check_tiled(vae, 2, 24, 40, 64), d128 = check_tiled(vae, 2, 24, 40, 128);
    printf("mean |tiled - whole| / mean |whole| at 192x320: %.3f (64 px tiles), %.3f (128 px)\n", d64, d128);
    CHECK(d128 < 0.5 * d64 && d64 < 0.5);

    /* A tile as large as the video: the whole-frame decode, bit for bit. */
    {
        float *lat = random_latent(2, 6, 7, 5);
        const int64_t n = 3 * rad_vae_out_frames(vae, 2) * 64 * 6 * 7;
        CHECK_OK(rad_vae_set_tiling(vae, 0));
        float *a = decode(vae, lat, 2, 6, 7);
        CHECK_OK(rad_vae_set_tiling(vae, 64));
        float *b = decode(vae, lat, 2, 6, 7);
        CHECK(memcmp(a, b, (size_t)n * sizeof *a) == 0);
        free(lat), free(a), free(b);
    }
    CHECK_FAILS(rad_vae_set_tiling(vae, 48));
    CHECK_FAILS(rad_vae_set_tiling(vae, -32));
    CHECK_FAILS(rad_vae_set_tiling(vae, 1 << 17));

    check_plan(vae, w, 2, 12, 20, 0);
    check_plan(vae, w, 4, 7, 3, 0);
    check_plan(vae, w, 3, 12, 20, 64);
    size_t b = 0;
    CHECK_FAILS(rad_vae_plan_work(w, 12, 20, RAD_DT_F16, 0, &b));
    CHECK_FAILS(rad_vae_plan_work(w, 0, 20, RAD_DT_F32, 0, &b));

    rad_vae_free(vae);
    rad_weights_close(w);
    be->destroy(be);
    TEST_MAIN_END();
}
