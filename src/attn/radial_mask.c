/* Radial Attention block mask: the reference `gen_log_mask_shrinked(model_type="wan")` (spec §1.2) computed
 * analytically, one block at a time, instead of by materialising a tpf x tpf token mask per frame pair.
 *
 * The reference, per frame pair (i, j) (query frame i, key frame j, d = |i - j|):
 *   L = all ones                              if j == 0 (attention sink)
 *     = |x - y| <= width(d)                   if keep(d)       (x key, y query, frame-local raster indices)
 *     = zeros                                 otherwise
 * placed at offset (rr, rc) = (i*tpf % B, j*tpf % B) on a canvas of nb*B x nb*B (nb = ceil(tpf/B)), shrunk to
 * nb x nb blocks and OR-ed into the global mask at block (i*tpf/B, j*tpf/B). The shrink keeps block (a, b) when,
 * over the B columns c of the block, with count(c) = the rows of the block set in column c,
 *   hi / (nz + 1e-9) > 0.6,  nz = #{c: count/B > 0},  hi = #{c: count/B > 1/3}.
 *
 * Exact integer form of those float tests (torch computes them in float32):
 * - count/B > 1/3: count/B is float32(count/B), 1/3 becomes float32(1/3) = 0.33333334. A tie count/B == 1/3
 *   rounds to the same float and is not "greater"; any other count/B is at least 1/(3B) away from 1/3, far
 *   beyond float32 rounding for B < 2^20. So the test is exactly 3*count > B.
 * - hi/(nz + 1e-9) > 0.6: nz + 1e-9 rounds to nz in float32 for nz >= 1 (and hi = 0 when nz = 0), the quotient
 *   is float32(hi/nz), 0.6 becomes float32(0.6). A tie hi/nz == 3/5 rounds to float32(0.6): not greater; any
 *   other ratio is at least 1/(5*nz) away. So the test is exactly nz > 0 and 5*hi > 3*nz.
 * - |x - y| <= width: width(d) for d >= 2 is x = 2^(bitlen(tpf) - bitlen(d)) * decay in double; when it is
 *   below B the reference returns the int B, otherwise the Python float x, which torch compares with the int64
 *   differences in float32 (int64 tensor vs Python float promotes to float32). Differences are exact in float32
 *   (< 2^24), so the band is |x - y| <= floor(float32(x)).
 *
 * Counting in O(1) per block: for a block whose frame rows are [y0, y1) and frame columns [x0, x1),
 *   count(x) = |[y0, y1) ∩ [x - W, x + W]| = min(y1, x + W + 1) - max(y0, x - W),
 * and count(x) >= t holds exactly when y1 - y0 >= t, 2W + 1 >= t and y0 - W - 1 + t <= x <= y1 + W - t.
 * So nz and hi are the sizes of two integer intervals intersected with [x0, x1) (t = 1 and t = floor(B/3) + 1).
 * A block row holding at most B/3 of the frame's rows can never pass (hi = 0) and is skipped, and only block
 * columns that the band reaches are visited, so a 61 x 3600 mask takes a few milliseconds. */
#include "attn/radial_mask.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "base/mem.h"

enum {
    MAX_FRAMES = 4096,    /* the pair loop is O(frames^2) */
    MAX_BLOCKS = 32768,   /* the byte mask is n_blocks^2: at most 1 GiB */
    MAX_BLOCK = 1 << 16,  /* block edge */
    SPLIT_THRESHOLD = 128 /* get_diagonal_split_mask's hard-coded 128, whatever the block size */
};

static int bit_length(int64_t x) { return x <= 0 ? 0 : 64 - __builtin_clzll((unsigned long long)x); }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* get_diagonal_split_mask: whether the pair at distance d keeps its band at all. y = 2^(bitlen(tpf) -
 * bitlen(d)) (no decay); y >= 128 keeps; otherwise only every (128/y)-th distance is kept. */
static int keep_distance(int64_t d, int64_t tpf) {
    int e = bit_length(tpf) - bit_length(d); /* y = 2^e */
    if (e >= 7) return 1;                     /* 2^7 = SPLIT_THRESHOLD */
    int s = 7 - e;                            /* split factor 2^s */
    if (s >= 62) return d == 0;               /* split beyond any distance */
    return d % ((int64_t)1 << s) == 0;
}

/* get_window_width for the band |x - y| <= W (returned as the integer W), "wan" at HEAD: full for d <= 1. */
static int64_t band_width(int64_t d, int64_t tpf, double decay, int32_t block) {
    if (d <= 1) return tpf;
    double x = ldexp(1.0, bit_length(tpf) - bit_length(d)) * decay;
    if (!(x >= (double)block)) return block; /* floored at one block (an int: compared exactly) */
    if (x >= (double)tpf) return tpf;        /* wider than the frame: full (and keeps the float cast finite) */
    return (int64_t)floorf((float)x);        /* torch compares in float32, see the header comment */
}

/* Integers in [lo, hi] ∩ [a, b). */
static int64_t overlap(int64_t lo, int64_t hi, int64_t a, int64_t b) {
    lo = max64(lo, a);
    hi = min64(hi, b - 1);
    return hi >= lo ? hi - lo + 1 : 0;
}

/* ORs the shrunk blocks of one frame pair (band half-width W, frame-local) into the n x n mask m. */
static void or_pair(uint8_t *m, int64_t n, int64_t i, int64_t j, int64_t tpf, int64_t B, int64_t W) {
    const int64_t nb = (tpf + B - 1) / B, t_hi = B / 3 + 1; /* smallest count with 3*count > B */
    const int64_t rr = i * tpf % B, rc = j * tpf % B, R0 = i * tpf / B, C0 = j * tpf / B;
    for (int64_t a = 0; a < nb && R0 + a < n; a++) {
        const int64_t y0 = max64(a * B - rr, 0), y1 = min64(a * B + B - rr, tpf); /* frame rows in block row a */
        if (3 * (y1 - y0) <= B) continue;                                          /* hi = 0: never kept */
        const int64_t c_lo = max64(y0 - W + rc, 0), c_hi = y1 - 1 + W + rc;     /* canvas columns the band reaches */
        const int64_t b_end = min64(c_hi / B + 1, nb);
        const int hi_possible = y1 - y0 >= t_hi && 2 * W + 1 >= t_hi;
        uint8_t *row = m + (R0 + a) * n + C0;
        for (int64_t b = c_lo / B; b < b_end && C0 + b < n; b++) {
            const int64_t x0 = max64(b * B - rc, 0), x1 = min64(b * B + B - rc, tpf); /* frame columns */
            const int64_t nz = overlap(y0 - W, y1 - 1 + W, x0, x1);
            const int64_t hi = hi_possible ? overlap(y0 - W - 1 + t_hi, y1 + W - t_hi, x0, x1) : 0;
            if (nz > 0 && 5 * hi > 3 * nz) row[b] = 1;
        }
    }
}

static rad_status check_cfg(const rad_radial_cfg *c, int64_t *n_tokens, int32_t *n_blocks) {
    if (c->frames < 1 || c->frames > MAX_FRAMES)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block mask: frames must be in [1, %d], got %lld", MAX_FRAMES,
                       (long long)c->frames);
    if (c->tokens_per_frame < 1)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block mask: tokens per frame must be >= 1, got %lld",
                       (long long)c->tokens_per_frame);
    if (c->block < 1 || c->block > MAX_BLOCK)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block mask: block must be in [1, %d], got %d", MAX_BLOCK,
                       (int)c->block);
    if (!isfinite(c->decay) || c->decay < 0)
        return rad_err(RADIAL_ERR_INVALID_ARG, "block mask: decay must be finite and >= 0, got %g", c->decay);
    int64_t n;
    if (__builtin_mul_overflow(c->frames, c->tokens_per_frame, &n) || n / c->block + (n % c->block != 0) > MAX_BLOCKS)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "block mask: %lld frames x %lld tokens in blocks of %d exceed %d block rows",
                       (long long)c->frames, (long long)c->tokens_per_frame, (int)c->block, MAX_BLOCKS);
    *n_tokens = n;
    *n_blocks = (int32_t)(n / c->block + (n % c->block != 0));
    return RAD_OK;
}

rad_status rad_radial_block_mask(const rad_radial_cfg *cfg, uint8_t **mask, int32_t *n_blocks) {
    *mask = NULL;
    *n_blocks = 0;
    int64_t N = 0;
    int32_t S = 0;
    RAD_TRY(check_cfg(cfg, &N, &S));
    const int64_t F = cfg->frames, tpf = cfg->tokens_per_frame, B = cfg->block;
    uint8_t *m;
    RAD_TRY(rad_calloc((void **)&m, (size_t)S * (size_t)S, 1, "radial block mask"));
    /* Block rows/columns from N / B on hold tokens past the last whole block: the reference marks them dense. */
    const int64_t border = N / B;
    for (int64_t r = 0; r < S; r++)
        for (int64_t c = 0; c < S; c++)
            if (r >= border || c >= border) m[r * S + c] = 1;
    for (int64_t i = 0; i < F; i++)
        for (int64_t j = 0; j < F; j++) {
            const int64_t d = i > j ? i - j : j - i;
            if (j == 0)
                or_pair(m, S, i, j, tpf, B, tpf); /* attention sink: key frame 0, all ones */
            else if (keep_distance(d, tpf))
                or_pair(m, S, i, j, tpf, B, band_width(d, tpf, cfg->decay, cfg->block));
        }
    *mask = m;
    *n_blocks = S;
    return RAD_OK;
}

/* ---- the per-process cache of layouts ---- */

typedef struct cache_entry {
    rad_radial_cfg cfg;
    rad_bsr bsr;
    struct cache_entry *next;
} cache_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_entry *cache_head;

static int same_cfg(const rad_radial_cfg *a, const rad_radial_cfg *b) {
    return a->frames == b->frames && a->tokens_per_frame == b->tokens_per_frame && a->decay == b->decay &&
           a->block == b->block;
}

static rad_status build_entry(const rad_radial_cfg *cfg, cache_entry **out) {
    uint8_t *m;
    int32_t S = 0;
    RAD_TRY(rad_radial_block_mask(cfg, &m, &S));
    cache_entry *e;
    rad_status s = rad_calloc((void **)&e, 1, sizeof *e, "radial layout cache entry");
    if (s == RAD_OK) {
        e->cfg = *cfg;
        s = rad_bsr_from_mask(m, S, cfg->frames * cfg->tokens_per_frame, cfg->block, &e->bsr);
        if (s != RAD_OK) rad_free(e);
    }
    rad_free(m);
    if (s == RAD_OK) *out = e;
    return s;
}

rad_status rad_radial_layout(const rad_radial_cfg *cfg, const rad_bsr **out) {
    *out = NULL;
    pthread_mutex_lock(&cache_lock);
    cache_entry *e = cache_head;
    while (e && !same_cfg(&e->cfg, cfg)) e = e->next;
    rad_status s = RAD_OK;
    if (!e) {
        s = build_entry(cfg, &e);
        if (s == RAD_OK) {
            e->next = cache_head;
            cache_head = e;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    if (s == RAD_OK) *out = &e->bsr;
    return s;
}

void rad_radial_cache_clear(void) {
    pthread_mutex_lock(&cache_lock);
    while (cache_head) {
        cache_entry *e = cache_head;
        cache_head = e->next;
        rad_bsr_free(&e->bsr);
        rad_free(e);
    }
    pthread_mutex_unlock(&cache_lock);
}

rad_status rad_radial_video_dims(int64_t width, int64_t height, int64_t video_frames, int64_t *frames,
                                 int64_t *tokens_per_frame) {
    if (width < 16 || height < 16 || width % 16 || height % 16 || width > 65536 || height > 65536)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "video size %lldx%lld: width and height must be positive multiples of 16 (at most 65536)",
                       (long long)width, (long long)height);
    if (video_frames < 1 || (video_frames - 1) % 4 || video_frames > (1 << 20))
        return rad_err(RADIAL_ERR_INVALID_ARG, "video frames %lld: must be 4n+1 (1, 5, ..., 81, ...)",
                       (long long)video_frames);
    /* The VAE keeps the first frame and compresses each following group of 4: (F-1)/4 + 1 latent frames. The
     * Radial reference's Wan2.1 script computes 1 + F//4, which is the same number for every valid F = 4n+1
     * (and we accept no other F). */
    *frames = (video_frames - 1) / 4 + 1;
    *tokens_per_frame = (height / 16) * (width / 16);
    return RAD_OK;
}
