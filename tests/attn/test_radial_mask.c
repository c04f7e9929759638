/* The radial block mask against (1) the golden masks written by the reference builder, (2) a direct,
 * token-level port of the reference pseudo-code (spec radial_attention.md §1.2) written here, which
 * materialises every frame pair's token mask and shrinks it with torch's float32 arithmetic, for many shapes that
 * are not in the goldens, and (3) the numbers the spec states (densities, kept blocks per frame pair). */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attn/radial_mask.h"
#include "base/mem.h"
#include "base/timer.h"
#include "test_util.h"

/* ---- (2) the token-level port: literal, slow, small shapes only ---- */

static int bitlen(int64_t x) {
    int n = 0;
    while (x > 0) n++, x >>= 1;
    return n;
}

/* shrinkMaskStrict on a rows x cols canvas: crops to nb*B x nb*B with nb = rows / B (shape[0] for both). */
static void ref_shrink(const uint8_t *canvas, int64_t rows, int64_t cols, int64_t B, uint8_t *blk, int64_t *nb_out) {
    int64_t nb = rows / B;
    for (int64_t a = 0; a < nb; a++)
        for (int64_t b = 0; b < nb; b++) {
            int64_t nz = 0, hi = 0;
            for (int64_t c = b * B; c < (b + 1) * B; c++) {
                int64_t count = 0;
                for (int64_t r = a * B; r < (a + 1) * B; r++) count += canvas[r * cols + c];
                float cov = (float)count / (float)B; /* mask.sum(dim=1) / block_size, float32 */
                nz += cov > 0.0f;
                hi += cov > (float)(1.0 / 3.0); /* python 1/3 compared in float32 */
            }
            float frac = (float)hi / ((float)nz + (float)1e-9);
            blk[a * nb + b] = frac > (float)0.6;
        }
    *nb_out = nb;
}

static void ref_mask(int64_t F, int64_t tpf, double decay, int64_t B, uint8_t *out, int64_t S) {
    int64_t N = F * tpf, border = N / B, nb = (tpf - 1) / B + 1;
    double P = (double)((int64_t)1 << bitlen(tpf)); /* 2 ** token_per_frame.bit_length() */
    memset(out, 0, (size_t)(S * S));
    for (int64_t r = 0; r < S; r++)
        for (int64_t c = 0; c < S; c++)
            if (r >= border || c >= border) out[r * S + c] = 1;
    uint8_t *L = malloc((size_t)(tpf * tpf));
    int64_t maxdim = B + nb * B;
    uint8_t *canvas = malloc((size_t)(maxdim * maxdim)), *blk = malloc((size_t)(nb * nb));
    for (int64_t i = 0; i < F; i++)
        for (int64_t j = 0; j < F; j++) {
            int64_t d = i > j ? i - j : j - i;
            if (j == 0) {
                memset(L, 1, (size_t)(tpf * tpf));
            } else {
                /* get_window_width (wan, HEAD): an int for d <= 1 or when floored, else a python float */
                int is_float = 0;
                int64_t wi = 0;
                double wf = 0;
                if (d <= 1) {
                    wi = tpf;
                } else {
                    double x = P / ldexp(1.0, bitlen(d)) * decay;
                    if (x >= (double)B) is_float = 1, wf = x;
                    else wi = B;
                }
                /* get_diagonal_split_mask */
                double y = P / ldexp(1.0, bitlen(d));
                int keep = y >= 128 ? 1 : d % (int64_t)(128 / y) == 0;
                for (int64_t r = 0; r < tpf; r++)
                    for (int64_t c = 0; c < tpf; c++) {
                        int64_t diff = c > r ? c - r : r - c;
                        int band = is_float ? (float)diff <= (float)wf : diff <= wi; /* int64 vs float: float32 */
                        L[r * tpf + c] = (uint8_t)(band && keep);
                    }
            }
            int64_t rr = (i * tpf) % B, rc = (j * tpf) % B;
            int64_t rows = rr + nb * B, cols = rc + nb * B;
            memset(canvas, 0, (size_t)(rows * cols));
            for (int64_t r = 0; r < tpf; r++) memcpy(canvas + (rr + r) * cols + rc, L + r * tpf, (size_t)tpf);
            int64_t bn;
            ref_shrink(canvas, rows, cols, B, blk, &bn);
            int64_t R0 = (i * tpf) / B, C0 = (j * tpf) / B;
            for (int64_t a = 0; a < bn; a++)
                for (int64_t b = 0; b < bn; b++)
                    if (blk[a * bn + b]) {
                        /* with S = ceil(N/B) the slice always fits (spec §6); a kept block past it would be a bug */
                        CHECK(R0 + a < S && C0 + b < S);
                        if (R0 + a < S && C0 + b < S) out[(R0 + a) * S + C0 + b] = 1;
                    }
        }
    free(L), free(canvas), free(blk);
}

static int n_compared;
static void compare_with_port(int64_t F, int64_t tpf, double decay, int32_t B) {
    rad_radial_cfg cfg = {F, tpf, decay, B};
    uint8_t *m;
    int32_t S;
    CHECK_OK(rad_radial_block_mask(&cfg, &m, &S));
    if (!m) return;
    CHECK(S == (F * tpf + B - 1) / B);
    uint8_t *ref = malloc((size_t)S * (size_t)S);
    ref_mask(F, tpf, decay, B, ref, S);
    int64_t diff = 0, ones = 0;
    for (int64_t k = 0; k < (int64_t)S * S; k++) diff += m[k] != ref[k], ones += ref[k];
    if (diff) printf("  MISMATCH F=%lld tpf=%lld decay=%.17g block=%d: %lld of %lld blocks differ\n", (long long)F,
                     (long long)tpf, decay, (int)B, (long long)diff, (long long)S * S);
    CHECK(diff == 0);
    n_compared++;
    free(ref);
    rad_free(m);
}

/* ---- (1) golden PBM files ---- */

static int read_pbm(const char *path, rad_radial_cfg *cfg, uint8_t **bits, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int ok = fgets(line, sizeof line, f) && !strncmp(line, "P1", 2) && fgets(line, sizeof line, f);
    long long F = 0, tpf = 0;
    double decay = 0;
    int block = 0, w = 0, h = 0;
    ok = ok && sscanf(line, "# radial block mask: latent_frames=%lld tokens_per_frame=%lld decay=%lf block=%d", &F,
                      &tpf, &decay, &block) == 4;
    ok = ok && fscanf(f, "%d %d", &w, &h) == 2 && w == h && w > 0;
    if (ok) {
        *bits = malloc((size_t)w * (size_t)h);
        for (long k = 0; k < (long)w * h && ok; k++) {
            int v;
            ok = fscanf(f, "%d", &v) == 1 && (v == 0 || v == 1);
            (*bits)[k] = (uint8_t)v;
        }
    }
    fclose(f);
    *cfg = (rad_radial_cfg){F, tpf, decay, block};
    *n = w;
    return ok;
}

static double check_golden(const char *name, double density_spec) {
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "masks/%s", name);
    rad_radial_cfg cfg;
    uint8_t *g = NULL;
    int n = 0;
    int ok = read_pbm(rad_test_path(path, sizeof path, rel), &cfg, &g, &n);
    CHECK(ok);
    if (!ok) return 0;
    uint8_t *m;
    int32_t S;
    double t0 = rad_now();
    CHECK_OK(rad_radial_block_mask(&cfg, &m, &S));
    double ms = 1e3 * (rad_now() - t0);
    CHECK(S == n);
    int64_t diff = 0, ones = 0;
    if (S == n)
        for (int64_t k = 0; k < (int64_t)n * n; k++) diff += m[k] != g[k], ones += g[k];
    double density = (double)ones / ((double)n * n);
    printf("  golden %-22s %dx%d blocks, %lld differ, density %.4f (spec %.4f), built in %.2f ms\n", name, n, n,
           (long long)diff, density, density_spec, ms);
    CHECK(diff == 0);
    CHECK(fabs(density - density_spec) < 5e-5 + 1e-9); /* spec: 4 decimals */
    rad_free(m);
    free(g);
    return density;
}

/* ---- (3) spec numbers ---- */

static double density_of(int64_t F, int64_t tpf, double decay) {
    rad_radial_cfg cfg = {F, tpf, decay, 128};
    const rad_bsr *b = NULL;
    CHECK_OK(rad_radial_layout(&cfg, &b));
    return b ? rad_bsr_density(b) : -1;
}

/* Kept blocks in the region of frame pair (i, j) of a block-aligned mask (pairs do not share blocks). */
static int64_t pair_blocks(const uint8_t *m, int32_t S, int64_t tpf, int64_t i, int64_t j) {
    int64_t nb = tpf / 128, cnt = 0;
    for (int64_t a = 0; a < nb; a++)
        for (int64_t b = 0; b < nb; b++) cnt += m[(i * nb + a) * S + j * nb + b];
    return cnt;
}

int main(void) {
    const char *env = getenv("RAD_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    printf("seed %llu (RAD_TEST_SEED replays this run)\n", (unsigned long long)seed);
    srand((unsigned)seed);

    /* (1) The goldens, bit for bit, and their densities as spec §6 states them (4 decimals). */
    check_golden("f8_tpf256_d1.0.pbm", 0.9063);
    check_golden("f21_tpf1560_d1.0.pbm", 0.4492);
    check_golden("f18_tpf3600_d0.2.pbm", 0.2922);

    /* (2) The token-level port on shapes not in the goldens: F = 1, 2, 3 (and more), tpf not a multiple of 128,
     * below 128, and block 64. */
    const int64_t Fs[] = {1, 2, 3, 5};
    const int64_t tpfs[] = {1, 7, 50, 100, 127, 128, 129, 200, 256, 300, 500};
    const double decays[] = {0.2, 0.5, 1.0, 2.0};
    for (size_t a = 0; a < sizeof Fs / sizeof Fs[0]; a++)
        for (size_t b = 0; b < sizeof tpfs / sizeof tpfs[0]; b++)
            for (size_t c = 0; c < sizeof decays / sizeof decays[0]; c++) compare_with_port(Fs[a], tpfs[b], decays[c], 128);
    /* Longer videos reach the decimated distances (keep every 2nd, 4th... frame pair). */
    compare_with_port(9, 640, 1.0, 128);
    compare_with_port(17, 300, 0.5, 128);
    compare_with_port(33, 100, 1.0, 128);
    compare_with_port(40, 60, 0.3, 128);
    compare_with_port(12, 390, 0.2, 128);
    /* Block 64 (Wan2.2: the floor follows the block, the split threshold stays 128). */
    compare_with_port(5, 200, 1.0, 64);
    compare_with_port(9, 100, 0.8, 64);
    compare_with_port(6, 96, 0.5, 64);
    /* A decay whose width 512 * decay lies just below an integer in double but rounds onto it in float32. */
    compare_with_port(6, 600, nextafter(0.75, 0.0), 128);
    compare_with_port(6, 600, 0.75, 128);
    /* Random shapes from this run's seed. */
    for (int r = 0; r < 20; r++) {
        int64_t F = 1 + rand() % 12, tpf = 1 + rand() % 400;
        double decay = 0.05 + 2.5 * rand() / (double)RAND_MAX;
        compare_with_port(F, tpf, decay, rand() % 2 ? 128 : 64);
    }
    printf("  token-level port: %d configurations equal\n", n_compared);

    /* (3a) Densities from spec §4 (3 decimals; 768x1280 -> 3840 tokens/frame, 720x1280 -> 3600, 512x768 ->
     * 1536). The latent frame counts come from rad_radial_video_dims. */
    const struct {
        int64_t w, h, vf;
        double decay, density;
    } dens[] = {{1280, 768, 69, 0.2, 0.287},  {1280, 768, 69, 1.0, 0.431},  {1280, 768, 81, 0.2, 0.261},
                {1280, 768, 81, 1.0, 0.394},  {1280, 768, 161, 0.2, 0.182}, {1280, 768, 161, 1.0, 0.264},
                {1280, 768, 321, 0.2, 0.123}, {1280, 768, 321, 1.0, 0.169}, {1280, 720, 29, 1.0, 0.666},
                {1280, 720, 61, 1.0, 0.464},  {1280, 720, 93, 1.0, 0.365},  {1280, 720, 125, 1.0, 0.305},
                {1280, 720, 157, 1.0, 0.264}, {768, 512, 81, 0.2, 0.369},   {768, 512, 161, 0.2, 0.264},
                {768, 512, 241, 0.2, 0.210},  {768, 512, 321, 0.2, 0.176},  {768, 512, 81, 1.0, 0.468},
                {768, 512, 161, 1.0, 0.321},  {768, 512, 241, 1.0, 0.250},  {768, 512, 321, 1.0, 0.207}};
    for (size_t k = 0; k < sizeof dens / sizeof dens[0]; k++) {
        int64_t F = 0, tpf = 0;
        CHECK_OK(rad_radial_video_dims(dens[k].w, dens[k].h, dens[k].vf, &F, &tpf));
        double t0 = rad_now();
        double d = density_of(F, tpf, dens[k].decay);
        double ms = 1e3 * (rad_now() - t0);
        printf("  %lldx%lldx%lld (F=%lld tpf=%lld) decay %.1f: density %.5f (spec %.3f) %.1f ms\n",
               (long long)dens[k].w, (long long)dens[k].h, (long long)dens[k].vf, (long long)F, (long long)tpf,
               dens[k].decay, d, dens[k].density, ms);
        /* The spec rounds to 3 decimals; 768x512x241 d1.0 = 0.24948 is listed as 0.250 (rounded twice, via
         * 0.2495), hence the half-unit plus a little. One block more or less moves these by < 4e-6. */
        CHECK(fabs(d - dens[k].density) < 5.5e-4);
    }

    /* (3b) Kept 128-blocks per frame pair, tpf = 3840 (spec §1.3 table), in a block-aligned mask long enough to
     * reach the decimated distances (d up to 66). Key frame 0 is the sink (900 for every query frame). */
    {
        rad_radial_cfg c1 = {70, 3840, 1.0, 128}, c2 = {70, 3840, 0.2, 128};
        uint8_t *m1, *m2;
        int32_t S1, S2;
        CHECK_OK(rad_radial_block_mask(&c1, &m1, &S1));
        CHECK_OK(rad_radial_block_mask(&c2, &m2, &S2));
        const struct {
            int64_t d, k1, k02;
        } kept[] = {{0, 900, 900}, {1, 900, 900}, {2, 438, 88}, {3, 438, 88}, {4, 250, 88}, {7, 250, 88},
                    {8, 144, 88},  {15, 144, 88}, {16, 88, 88},  {31, 88, 88},  {32, 88, 88}, {33, 0, 0},
                    {34, 88, 88},  {63, 0, 0},    {64, 88, 88},  {65, 0, 0},    {66, 0, 0}};
        for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++) {
            int64_t j = 1, i = j + kept[k].d; /* key frame 1: not the sink */
            CHECK(pair_blocks(m1, S1, 3840, i, j) == kept[k].k1);
            CHECK(pair_blocks(m1, S1, 3840, j, i) == kept[k].k1); /* symmetric in d */
            CHECK(pair_blocks(m2, S2, 3840, i, j) == kept[k].k02);
        }
        for (int64_t i = 0; i < 70; i += 23) CHECK(pair_blocks(m1, S1, 3840, i, 0) == 900);
        rad_free(m1), rad_free(m2);
        /* Saturation (issue #61): d = 2..3 stays tri-diagonal while 1024 * decay < 234. */
        rad_radial_cfg c3 = {4, 3840, 0.228, 128}, c4 = {4, 3840, 0.23, 128};
        CHECK_OK(rad_radial_block_mask(&c3, &m1, &S1));
        CHECK_OK(rad_radial_block_mask(&c4, &m2, &S2));
        CHECK(pair_blocks(m1, S1, 3840, 3, 1) == 88);
        CHECK(pair_blocks(m2, S2, 3840, 3, 1) > 88);
        rad_free(m1), rad_free(m2);
    }

    /* Speed: 61 latent frames x 3600 tokens (720p, 241 frames) on one core. */
    {
        rad_radial_cfg c = {61, 3600, 1.0, 128};
        uint8_t *m;
        int32_t S;
        double t0 = rad_now();
        CHECK_OK(rad_radial_block_mask(&c, &m, &S));
        double ms = 1e3 * (rad_now() - t0);
        printf("  61 x 3600 (%d x %d blocks) built in %.2f ms\n", (int)S, (int)S, ms);
        CHECK(ms < 200); /* target well under 50 ms; generous here because the test machine is shared */
        rad_free(m);
    }

    /* The cache: one layout per configuration, shared. */
    {
        rad_radial_cfg a = {5, 300, 1.0, 128}, b = {5, 300, 0.5, 128};
        const rad_bsr *l1, *l2, *l3;
        CHECK_OK(rad_radial_layout(&a, &l1));
        CHECK_OK(rad_radial_layout(&b, &l2));
        CHECK_OK(rad_radial_layout(&a, &l3));
        CHECK(l1 == l3 && l1 != l2);
        CHECK(l1->n_tokens == 1500 && l1->block == 128 && l1->n_blocks == 12);
        /* The layout lists the mask's blocks in row order. */
        uint8_t *m;
        int32_t S;
        CHECK_OK(rad_radial_block_mask(&a, &m, &S));
        int64_t k = 0, bad = 0;
        for (int32_t r = 0; r < S; r++)
            for (int32_t c = 0; c < S; c++)
                if (m[r * S + c]) bad += k >= l1->row_ptr[S] || l1->col_idx[k++] != c;
        CHECK(bad == 0 && k == l1->row_ptr[S]);
        rad_free(m);
        rad_radial_cache_clear();
    }

    /* Video size -> latent frames and tokens per frame. */
    {
        int64_t F, tpf;
        CHECK_OK(rad_radial_video_dims(832, 480, 81, &F, &tpf));
        CHECK(F == 21 && tpf == 1560);
        CHECK_OK(rad_radial_video_dims(1280, 720, 69, &F, &tpf));
        CHECK(F == 18 && tpf == 3600);
        CHECK_OK(rad_radial_video_dims(16, 16, 1, &F, &tpf));
        CHECK(F == 1 && tpf == 1);
        CHECK_FAILS(rad_radial_video_dims(832, 480, 80, &F, &tpf));
        CHECK_FAILS(rad_radial_video_dims(830, 480, 81, &F, &tpf));
        CHECK_FAILS(rad_radial_video_dims(832, 0, 81, &F, &tpf));
        CHECK_FAILS(rad_radial_video_dims(832, 480, 0, &F, &tpf));
    }

    /* Rejections. */
    {
        uint8_t *m;
        int32_t S;
        const rad_bsr *l;
        rad_radial_cfg bad[] = {{0, 100, 1.0, 128},       {5, 0, 1.0, 128},          {5, 100, -1.0, 128},
                                {5, 100, NAN, 128},       {5, 100, 1.0, 0},          {100000, 10, 1.0, 128},
                                {4000, 1000000, 1.0, 128}, {2, INT64_MAX / 2, 1.0, 128}};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            CHECK_FAILS(rad_radial_block_mask(&bad[k], &m, &S));
            CHECK(m == NULL);
        }
        CHECK_FAILS(rad_radial_layout(&bad[0], &l));
    }
    TEST_MAIN_END();
}
