/* Wan-VAE decoder on the CPU backend.
 * - Causality: decoding the first k latent frames gives exactly the first 1+4(k-1) frames of the full
 *   decode (a property of the causal chunked decode, independent of our numbers), on the golden latent and on
 *   a longer random one.
 * - The pipeline golden: its final latent decodes (then clamps) to its video, and the uint8 conversion of its
 *   clamped video reproduces its frames_u8 exactly.
 * - Bad sizes and wrong weights are rejected.
 * (The vae_decode golden from both layouts runs through the CLI: tests/vae/CMakeLists.txt.) */
#include <string.h>

#include "backend/backend.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"
#include "vae/vae.h"

static float *read_tensor(const char *file, const char *name, int64_t *shape4) {
    char path[1024];
    rad_st_file *f;
    float *out = NULL;
    rad_test_path(path, sizeof path, file);
    CHECK_OK(rad_st_open(path, &f));
    if (rad_test_failures) return NULL;
    const rad_st_tensor *t = rad_st_find(f, name);
    CHECK(t != NULL);
    if (t) {
        out = malloc((size_t)t->numel * sizeof *out);
        CHECK_OK(rad_st_to_f32(t, out));
        for (int i = 0; i < 4 && shape4; i++) shape4[i] = i < t->ndim ? t->shape[i] : 1;
    }
    rad_st_close(f);
    return out;
}

/* Frames [0, k) of a [c, T, h, w] tensor. */
static float *first_frames(const float *x, int64_t c, int64_t T, int64_t hw, int64_t k) {
    float *y = malloc((size_t)(c * k * hw) * sizeof *y);
    for (int64_t i = 0; i < c; i++) memcpy(y + i * k * hw, x + i * T * hw, (size_t)(k * hw) * sizeof *y);
    return y;
}

static float *decode(rad_vae *vae, const float *lat, int64_t T, int64_t H, int64_t W, int64_t *n_out) {
    const int64_t F = rad_vae_out_frames(vae, T), sf = rad_vae_spatial_factor(vae);
    *n_out = 3 * F * sf * H * sf * W;
    float *v = malloc((size_t)*n_out * sizeof *v);
    CHECK_OK(rad_vae_decode(vae, lat, T, H, W, v));
    return v;
}

/* Decodes every prefix of lat [16, T, H, W] and compares it with the head of the full decode. */
static void check_causal(rad_vae *vae, const float *lat, int64_t T, int64_t H, int64_t W) {
    int64_t n_full, n;
    const int64_t hw_out = 64 * H * W, F = rad_vae_out_frames(vae, T);
    float *full = decode(vae, lat, T, H, W, &n_full);
    for (int64_t k = 1; k < T; k++) {
        float *sub = first_frames(lat, 16, T, H * W, k);
        float *part = decode(vae, sub, k, H, W, &n);
        const int64_t Fk = rad_vae_out_frames(vae, k);
        CHECK(Fk == 1 + 4 * (k - 1));
        float *head = first_frames(full, 3, F, hw_out, Fk);
        const int same = memcmp(head, part, (size_t)n * sizeof *part) == 0;
        printf("T=%lld %lldx%lld: first %lld latent frames -> first %lld video frames %s\n", (long long)T,
               (long long)H, (long long)W, (long long)k, (long long)Fk, same ? "identical" : "DIFFER");
        CHECK(same);
        free(sub), free(part), free(head);
    }
    free(full);
}

int main(void) {
    char path[1024];
    rad_backend *be;
    rad_weights *w;
    rad_vae *vae;
    CHECK_OK(rad_backend_cpu(&be));
    CHECK_OK(rad_weights_open(rad_test_path(path, sizeof path, "tiny-wan-original/wan_vae_tiny.safetensors"),
                              RAD_COMP_VAE, &w));
    if (rad_test_failures) return 1;
    CHECK_OK(rad_vae_load(be, w, &vae));
    if (rad_test_failures) return 1;
    CHECK(rad_vae_spatial_factor(vae) == 8 && rad_vae_out_frames(vae, 21) == 81);

    /* Causality on the golden latent and on a longer random one. */
    int64_t s[4];
    float *lat = read_tensor("cases/vae_decode.safetensors", "latent", s);
    CHECK(s[0] == 16 && s[1] == 3);
    check_causal(vae, lat, s[1], s[2], s[3]);
    free(lat);
    const int64_t T = 5, H = 3, W = 5;
    float *rnd = malloc(16 * T * H * W * sizeof *rnd);
    uint32_t r = 12345;
    for (int64_t i = 0; i < 16 * T * H * W; i++) {
        r = r * 1664525u + 1013904223u;
        rnd[i] = (float)(r >> 8) / (float)(1 << 24) * 4.0f - 2.0f;
    }
    check_causal(vae, rnd, T, H, W);
    free(rnd);
    printf("working memory peak of the last decode: %.2f MiB (weights %.2f MiB)\n",
           rad_vae_last_stats(vae).work_peak_bytes / 1048576.0, rad_vae_last_stats(vae).weight_bytes / 1048576.0);

    /* Pipeline golden: final latent -> video (clamped) and the uint8 frames. */
    float *lat5 = read_tensor("cases/pipeline.safetensors", "latent_005", s);
    float *vid_ref = read_tensor("cases/pipeline.safetensors", "video", NULL);
    int64_t n;
    float *vid = decode(vae, lat5, s[1], s[2], s[3], &n);
    for (int64_t i = 0; i < n; i++) vid[i] = vid[i] < -1.0f ? -1.0f : (vid[i] > 1.0f ? 1.0f : vid[i]);
    const double err = rad_rel_err(vid, vid_ref, (size_t)n);
    printf("pipeline latent_005 -> clamped video: rel err %.2e\n", err);
    CHECK(err < 1e-4);
    char upath[1024];
    rad_st_file *pf;
    CHECK_OK(rad_st_open(rad_test_path(upath, sizeof upath, "cases/pipeline.safetensors"), &pf));
    const rad_st_tensor *u8t = rad_st_find(pf, "frames_u8");
    CHECK(u8t && u8t->dtype == RAD_DT_U8 && u8t->numel == n);
    if (u8t && u8t->numel == n) {
        uint8_t *mine = malloc((size_t)n), *mine_ref = malloc((size_t)n);
        const int64_t F = u8t->shape[0], OH = u8t->shape[1], OW = u8t->shape[2];
        rad_vae_to_u8(vid_ref, F, OH, OW, mine_ref);
        rad_vae_to_u8(vid, F, OH, OW, mine);
        int64_t exact_bad = 0, max_diff = 0;
        const uint8_t *gold = u8t->data;
        for (int64_t i = 0; i < n; i++) {
            exact_bad += mine_ref[i] != gold[i];
            const int64_t d = mine[i] > gold[i] ? mine[i] - gold[i] : gold[i] - mine[i];
            if (d > max_diff) max_diff = d;
        }
        printf("frames_u8 from the golden video: %lld of %lld differ; from our decode: max diff %lld levels\n",
               (long long)exact_bad, (long long)n, (long long)max_diff);
        CHECK(exact_bad == 0);
        CHECK(max_diff <= 2);
        free(mine), free(mine_ref);
    }
    rad_st_close(pf);
    free(lat5), free(vid_ref), free(vid);

    /* Conversion edge cases: clamping, truncation, NaN. */
    const float edge[3] = {-2.0f, 1.5f, 0.0f};
    uint8_t px[3];
    rad_vae_to_u8(edge, 1, 1, 1, px);
    CHECK(px[0] == 0 && px[1] == 255 && px[2] == 127); /* 0 -> 127.5 truncates to 127 */

    float dummy[16 * 4] = {0}, out[3 * 64];
    CHECK_FAILS(rad_vae_decode(vae, dummy, 0, 1, 1, out));
    CHECK_FAILS(rad_vae_decode(vae, dummy, 1, 0, 1, out));
    CHECK_FAILS(rad_vae_decode(vae, dummy, 1, 1, -3, out));
    rad_vae_free(vae);
    rad_weights_close(w);

    /* The DiT file is not a VAE: a clear error, no crash. */
    rad_vae *bad = NULL;
    rad_test_path(path, sizeof path, "tiny-wan-original/diffusion_pytorch_model.safetensors");
    rad_status st = rad_weights_open(path, RAD_COMP_VAE, &w);
    if (st == RAD_OK) {
        CHECK_FAILS(rad_vae_load(be, w, &bad));
        CHECK(bad == NULL);
        rad_weights_close(w);
    } else {
        printf("  rejected as expected: %s\n", rad_last_error());
    }
    be->destroy(be);
    TEST_MAIN_END();
}
