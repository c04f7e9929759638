/* PSNR, SSIM and absolute differences of two frames (definitions in compare.h).
 * SSIM: the five windowed moments (means of x, y, x^2, y^2, xy) come from the separable Gaussian, first along
 * rows into H x (W - 10) buffers, then down the columns; only the positions whose window lies inside the frame
 * are computed (skimage computes the rest and crops it). Rows are spread over threads; every row's SSIM sum is
 * kept and the rows are added in order, so the result does not depend on the thread count. */
#include "video/compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/threads.h"
#include "video/output_path.h"

enum { R = RAD_SSIM_WINDOW / 2, N_MOMENTS = 5, N_PAIRS = 4, CHUNK = 256 };

struct rad_cmp {
    int W, H, Wo, Ho;   /* the frame; the SSIM map (W - 10) x (H - 10), 0 x 0 when undefined */
    double *planes;     /* R, G, B, Y of frame a, then of frame b: 8 planes of H*W */
    double *moments;    /* per plane pair: 5 row-filtered moments of H*Wo */
    double *row_sums;   /* per plane pair: the SSIM map's sum of each of its Ho rows */
    double w[RAD_SSIM_WINDOW];
};

double rad_psnr(double mse) {
    return mse > 0 ? 10.0 * log10(RAD_CMP_PEAK * RAD_CMP_PEAK / mse) : INFINITY;
}

bool rad_ssim_defined(int W, int H) { return W >= RAD_SSIM_WINDOW && H >= RAD_SSIM_WINDOW; }

void rad_ssim_weights(double w[RAD_SSIM_WINDOW]) {
    /* scipy.ndimage's _gaussian_kernel1d: exp(-0.5 x^2 / sigma^2) for x in [-5, 5], divided by the sum */
    double sum = 0;
    for (int k = 0; k < RAD_SSIM_WINDOW; k++) {
        const double x = k - R;
        w[k] = exp(-0.5 / (RAD_SSIM_SIGMA * RAD_SSIM_SIGMA) * x * x);
        sum += w[k];
    }
    for (int k = 0; k < RAD_SSIM_WINDOW; k++) w[k] /= sum;
}

void rad_cmp_free(rad_cmp *c) {
    if (!c) return;
    rad_free(c->planes);
    rad_free(c->moments);
    rad_free(c->row_sums);
    free(c);
}

rad_status rad_cmp_create(int W, int H, rad_cmp **out) {
    *out = NULL;
    if (W < 1 || H < 1 || W > RAD_VIDEO_MAX_SIDE || H > RAD_VIDEO_MAX_SIDE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "compare: frame size %dx%d (WxH) is outside [1, %d]", W, H,
                       RAD_VIDEO_MAX_SIDE);
    rad_cmp *c = calloc(1, sizeof *c);
    if (!c) return rad_err(RADIAL_ERR_NOMEM, "compare: out of memory");
    c->W = W, c->H = H;
    if (rad_ssim_defined(W, H)) c->Wo = W - 2 * R, c->Ho = H - 2 * R;
    rad_ssim_weights(c->w);
    size_t plane, bytes, mom = 0, rows = 0;
    rad_status st = RAD_OK;
    if (!rad_mul_size((size_t)W, (size_t)H, &plane) || !rad_mul_size(plane, 2 * N_PAIRS * sizeof(double), &bytes) ||
        (c->Wo && (!rad_mul_size((size_t)H * (size_t)c->Wo, (size_t)N_PAIRS * N_MOMENTS * sizeof(double), &mom) ||
                   !rad_mul_size((size_t)c->Ho, N_PAIRS * sizeof(double), &rows))))
        st = rad_err(RADIAL_ERR_NOMEM, "compare: buffer sizes for %dx%d frames overflow", W, H);
    if (st == RAD_OK) st = rad_alloc((void **)&c->planes, bytes, "compare planes");
    if (st == RAD_OK && c->Wo) st = rad_alloc((void **)&c->moments, mom, "SSIM moments");
    if (st == RAD_OK && c->Wo) st = rad_alloc((void **)&c->row_sums, rows, "SSIM row sums");
    if (st != RAD_OK) {
        rad_cmp_free(c);
        return st;
    }
    *out = c;
    return RAD_OK;
}

typedef struct {
    rad_cmp *c;
    const double *x[N_PAIRS], *y[N_PAIRS];
} ssim_job;

/* Row r of pair p: the five moments filtered along the row, at the Wo positions with a whole window. */
static void rows_fn(void *ctx, int64_t begin, int64_t end) {
    const ssim_job *j = ctx;
    const rad_cmp *c = j->c;
    const int W = c->W, H = c->H, Wo = c->Wo;
    for (int64_t it = begin; it < end; it++) {
        const int p = (int)(it / H), r = (int)(it % H);
        const double *xr = j->x[p] + (size_t)r * W, *yr = j->y[p] + (size_t)r * W;
        double *m[N_MOMENTS];
        for (int q = 0; q < N_MOMENTS; q++) {
            m[q] = c->moments + (((size_t)p * N_MOMENTS + q) * H + r) * Wo;
            memset(m[q], 0, (size_t)Wo * sizeof(double));
        }
        for (int k = 0; k < RAD_SSIM_WINDOW; k++) {
            const double wk = c->w[k];
            const double *xs = xr + k, *ys = yr + k;
            for (int i = 0; i < Wo; i++) {
                const double xv = xs[i], yv = ys[i];
                m[0][i] += wk * xv;
                m[1][i] += wk * yv;
                m[2][i] += wk * (xv * xv);
                m[3][i] += wk * (yv * yv);
                m[4][i] += wk * (xv * yv);
            }
        }
    }
}

/* SSIM from the windowed moments. Each product is its own statement so that no compiler fuses them
 * differently for the numerator and the denominator: with ux == uy, uxx == uyy == uxy (equal frames) the two
 * are then bitwise equal and S is exactly 1. */
static double ssim_of(double ux, double uy, double uxx, double uyy, double uxy) {
    const double c1 = (RAD_SSIM_K1 * RAD_CMP_PEAK) * (RAD_SSIM_K1 * RAD_CMP_PEAK);
    const double c2 = (RAD_SSIM_K2 * RAD_CMP_PEAK) * (RAD_SSIM_K2 * RAD_CMP_PEAK);
    const double pxy = ux * uy;
    const double pxx = ux * ux;
    const double pyy = uy * uy;
    const double vx = uxx - pxx;
    const double vy = uyy - pyy;
    const double vxy = uxy - pxy;
    const double a1 = 2.0 * pxy + c1;
    const double b1 = pxx + pyy + c1;
    const double a2 = 2.0 * vxy + c2;
    const double b2 = vx + vy + c2;
    const double num = a1 * a2;
    const double den = b1 * b2;
    return num / den;
}

/* Row i of pair p's SSIM map: the moments filtered down the columns, S at each position, summed in order. */
static void map_fn(void *ctx, int64_t begin, int64_t end) {
    const ssim_job *j = ctx;
    rad_cmp *c = j->c;
    const int H = c->H, Wo = c->Wo, Ho = c->Ho;
    for (int64_t it = begin; it < end; it++) {
        const int p = (int)(it / Ho), i = (int)(it % Ho);
        double sum = 0;
        for (int j0 = 0; j0 < Wo; j0 += CHUNK) {
            const int n = Wo - j0 < CHUNK ? Wo - j0 : CHUNK;
            double acc[N_MOMENTS][CHUNK];
            memset(acc, 0, sizeof acc);
            for (int k = 0; k < RAD_SSIM_WINDOW; k++) {
                const double wk = c->w[k];
                for (int q = 0; q < N_MOMENTS; q++) {
                    const double *src = c->moments + (((size_t)p * N_MOMENTS + q) * H + i + k) * Wo + j0;
                    for (int t = 0; t < n; t++) acc[q][t] += wk * src[t];
                }
            }
            for (int t = 0; t < n; t++) sum += ssim_of(acc[0][t], acc[1][t], acc[2][t], acc[3][t], acc[4][t]);
        }
        c->row_sums[(size_t)p * Ho + i] = sum;
    }
}

/* SSIM of n plane pairs into out[0 .. n). */
static void ssim_pairs(rad_cmp *c, const double *const *x, const double *const *y, int n, double *out) {
    if (!c->Wo) {
        for (int p = 0; p < n; p++) out[p] = NAN;
        return;
    }
    ssim_job j = {.c = c};
    for (int p = 0; p < n; p++) j.x[p] = x[p], j.y[p] = y[p];
    rad_parallel_for((int64_t)n * c->H, 16, rows_fn, &j);
    rad_parallel_for((int64_t)n * c->Ho, 8, map_fn, &j);
    for (int p = 0; p < n; p++) {
        double total = 0;
        for (int i = 0; i < c->Ho; i++) total += c->row_sums[(size_t)p * c->Ho + i];
        out[p] = total / ((double)c->Ho * (double)c->Wo);
    }
}

rad_status rad_ssim_plane(rad_cmp *c, const double *x, const double *y, double *out) {
    if (!c || !x || !y || !out) return rad_err(RADIAL_ERR_INVALID_ARG, "rad_ssim_plane: NULL argument");
    ssim_pairs(c, &x, &y, 1, out);
    return RAD_OK;
}

rad_status rad_cmp_frame_metrics(rad_cmp *c, const float *a, const float *b, rad_cmp_frame *out) {
    if (!c || !a || !b || !out) return rad_err(RADIAL_ERR_INVALID_ARG, "rad_cmp_frame_metrics: NULL argument");
    const size_t n = (size_t)c->W * (size_t)c->H;
    double *pa[N_PAIRS], *pb[N_PAIRS];
    for (int p = 0; p < N_PAIRS; p++) pa[p] = c->planes + (size_t)p * n, pb[p] = c->planes + (size_t)(N_PAIRS + p) * n;
    double sse = 0, sse_y = 0, sad = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        for (int ch = 0; ch < 3; ch++) {
            const double av = a[3 * i + ch], bv = b[3 * i + ch], d = av - bv, ad = fabs(d);
            pa[ch][i] = av, pb[ch][i] = bv;
            sse += d * d;
            sad += ad;
            if (ad > worst) worst = ad;
        }
        const double ya = 0.299 * pa[0][i] + 0.587 * pa[1][i] + 0.114 * pa[2][i];
        const double yb = 0.299 * pb[0][i] + 0.587 * pb[1][i] + 0.114 * pb[2][i];
        pa[3][i] = ya, pb[3][i] = yb;
        sse_y += (ya - yb) * (ya - yb);
    }
    memset(out, 0, sizeof *out);
    out->mse = sse / (3.0 * (double)n);
    out->mse_y = sse_y / (double)n;
    out->psnr = rad_psnr(out->mse);
    out->psnr_y = rad_psnr(out->mse_y);
    out->max_abs = worst;
    out->mean_abs = sad / (3.0 * (double)n);
    double s[N_PAIRS];
    ssim_pairs(c, (const double *const *)pa, (const double *const *)pb, N_PAIRS, s);
    for (int ch = 0; ch < 3; ch++) out->ssim_c[ch] = s[ch];
    out->ssim_rgb = (s[0] + s[1] + s[2]) / 3.0;
    out->ssim_y = s[3];
    return RAD_OK;
}

void rad_cmp_summarize(const rad_cmp_frame *f, int64_t n, rad_cmp_summary *s) {
    memset(s, 0, sizeof *s);
    s->frames = n;
    if (n <= 0) return;
    s->psnr_min = INFINITY, s->ssim_rgb_min = INFINITY;
    for (int64_t t = 0; t < n; t++) {
        s->mse += f[t].mse, s->mse_y += f[t].mse_y, s->mean_abs += f[t].mean_abs;
        s->ssim_y += f[t].ssim_y, s->ssim_rgb += f[t].ssim_rgb;
        for (int ch = 0; ch < 3; ch++) s->ssim_c[ch] += f[t].ssim_c[ch];
        if (f[t].max_abs > s->max_abs) s->max_abs = f[t].max_abs;
        if (f[t].psnr < s->psnr_min) s->psnr_min = f[t].psnr, s->psnr_min_frame = t;
        if (f[t].ssim_rgb < s->ssim_rgb_min || isnan(f[t].ssim_rgb))
            s->ssim_rgb_min = f[t].ssim_rgb, s->ssim_rgb_min_frame = t;
    }
    const double d = (double)n;
    s->mse /= d, s->mse_y /= d, s->mean_abs /= d, s->ssim_y /= d, s->ssim_rgb /= d;
    for (int ch = 0; ch < 3; ch++) s->ssim_c[ch] /= d;
    s->psnr = rad_psnr(s->mse);
    s->psnr_y = rad_psnr(s->mse_y);
}
