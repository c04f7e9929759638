/* CPU ops of the DiT area against independent double-precision math: linear on odd shapes (and bitwise
 * equal across thread counts), layernorm/rmsnorm, the elementwise ops, rope3d from its direct formula,
 * transpose. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"
#include "test_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL; /* rad_test_uniform state */

static float *rnd(size_t n) {
    float *p = malloc(n * sizeof *p + 4);
    for (size_t i = 0; i < n; i++) p[i] = rad_test_uniform(&rng);
    return p;
}

static void test_linear(rad_backend *be, int64_t m, int64_t k, int64_t n, int with_bias) {
    float *x = rnd((size_t)(m * k)), *w = rnd((size_t)(n * k)), *b = rnd((size_t)n);
    float *y1 = malloc((size_t)(m * n) * sizeof *y1 + 4), *y2 = malloc((size_t)(m * n) * sizeof *y2 + 4);
    rad_weight *wt;
    CHECK_OK(be->weight_new(be, &(rad_weight_src){RAD_DT_F32, w, NULL, 0}, n, k, "test.w", &wt));
    rad_set_threads(1);
    CHECK_OK(be->linear(be, x, m, k, wt, with_bias ? b : NULL, y1));
    rad_set_threads(3);
    CHECK_OK(be->linear(be, x, m, k, wt, with_bias ? b : NULL, y2));
    rad_set_threads(0);
    CHECK(memcmp(y1, y2, (size_t)(m * n) * sizeof *y1) == 0); /* same bits whatever the thread count */
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = with_bias ? b[j] : 0.0, sa = with_bias ? fabs(b[j]) : 0.0;
            for (int64_t p = 0; p < k; p++) {
                s += (double)x[i * k + p] * w[j * k + p];
                sa += fabs((double)x[i * k + p] * w[j * k + p]);
            }
            /* fp32 sequential sum: error below k·2^-24·Σ|terms|; use a much tighter typical bound */
            double tol = 1e-6 * sa * sqrt((double)k) + 1e-7;
            if (fabs(y1[i * n + j] - s) > tol && bad++ < 3)
                fprintf(stderr, "linear m=%lld k=%lld n=%lld: y[%lld,%lld]=%.9g want %.9g\n", (long long)m,
                        (long long)k, (long long)n, (long long)i, (long long)j, y1[i * n + j], s);
        }
    CHECK(bad == 0);
    be->weight_free(be, wt);
    free(x), free(w), free(b), free(y1), free(y2);
}

/* ffn against its definition in double (gelu_tanh(x·w1ᵀ + b1)·w2ᵀ + b2) with a hidden buffer of 7 rows, so that
 * 20 rows take three chunks, the last one partial; and its argument errors. */
static void test_ffn(rad_backend *be) {
    const int64_t m = 20, d = 24, F = 40, chunk = 7;
    float *x = rnd((size_t)(m * d)), *w1 = rnd((size_t)(F * d)), *w2 = rnd((size_t)(d * F)), *b1 = rnd((size_t)F);
    float *b2 = rnd((size_t)d), *h = malloc((size_t)(chunk * F) * sizeof *h), *y = malloc((size_t)(m * d) * sizeof *y);
    for (int64_t i = 0; i < F * d; i++) w1[i] *= 2.0f; /* pre-activations over about [-8, 8] */
    rad_weight *a, *b;
    CHECK_OK(be->weight_new(be, &(rad_weight_src){RAD_DT_F32, w1, NULL, 0}, F, d, "test.w1", &a));
    CHECK_OK(be->weight_new(be, &(rad_weight_src){RAD_DT_F32, w2, NULL, 0}, d, F, "test.w2", &b));
    CHECK_OK(be->ffn(be, x, m, d, a, b1, b, b2, h, (size_t)(chunk * F), y));
    double worst = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t c = 0; c < d; c++) {
            double s = b2[c], sa = fabs(b2[c]);
            for (int64_t j = 0; j < F; j++) {
                double u = b1[j];
                for (int64_t p = 0; p < d; p++) u += (double)x[r * d + p] * w1[j * d + p];
                const double g = 0.5 * u * (1 + tanh(sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
                s += g * w2[c * F + j], sa += fabs(g * w2[c * F + j]);
            }
            worst = fmax(worst, fabs(y[r * d + c] - s) / (sa + 1e-6));
        }
    CHECK(worst < 1e-5);
    CHECK_FAILS(be->ffn(be, x, m, d, a, b1, b, b2, h, (size_t)F - 1, y)); /* less than one hidden row */
    CHECK_FAILS(be->ffn(be, x, m, d, b, b2, a, b1, h, (size_t)(chunk * F), y)); /* w1, w2 swapped */
    be->weight_free(be, a), be->weight_free(be, b);
    free(x), free(w1), free(w2), free(b1), free(b2), free(h), free(y);
}

static void test_norms(rad_backend *be) {
    const int64_t m = 37, d = 301;
    float *x = rnd((size_t)(m * d)), *w = rnd((size_t)d), *b = rnd((size_t)d), *y = malloc(m * d * sizeof *y);
    for (int64_t i = 0; i < m * d; i++) x[i] = x[i] * 3.0f + 5.0f; /* a large mean tests the two-pass variance */
    CHECK_OK(be->layernorm(be, x, m, d, w, b, 1e-6f, y));
    double maxe = 0;
    for (int64_t r = 0; r < m; r++) {
        double mu = 0, var = 0;
        for (int64_t c = 0; c < d; c++) mu += x[r * d + c];
        mu /= d;
        for (int64_t c = 0; c < d; c++) var += (x[r * d + c] - mu) * (x[r * d + c] - mu);
        var /= d;
        for (int64_t c = 0; c < d; c++) {
            double ref = (x[r * d + c] - mu) / sqrt(var + 1e-6) * w[c] + b[c];
            maxe = fmax(maxe, fabs(y[r * d + c] - ref));
        }
    }
    CHECK(maxe < 2e-6);
    /* no affine, in place */
    float *z = malloc(m * d * sizeof *z);
    memcpy(z, x, m * d * sizeof *z);
    CHECK_OK(be->layernorm(be, z, m, d, NULL, NULL, 1e-6f, z));
    maxe = 0;
    for (int64_t r = 0; r < m; r++) {
        double mu = 0, var = 0;
        for (int64_t c = 0; c < d; c++) mu += x[r * d + c];
        mu /= d;
        for (int64_t c = 0; c < d; c++) var += (x[r * d + c] - mu) * (x[r * d + c] - mu);
        var /= d;
        for (int64_t c = 0; c < d; c++) maxe = fmax(maxe, fabs(z[r * d + c] - (x[r * d + c] - mu) / sqrt(var + 1e-6)));
    }
    CHECK(maxe < 2e-6);
    CHECK_OK(be->rmsnorm(be, x, m, d, w, 1e-6f, y));
    maxe = 0;
    for (int64_t r = 0; r < m; r++) {
        double ss = 0;
        for (int64_t c = 0; c < d; c++) ss += (double)x[r * d + c] * x[r * d + c];
        for (int64_t c = 0; c < d; c++)
            maxe = fmax(maxe, fabs(y[r * d + c] - x[r * d + c] / sqrt(ss / d + 1e-6) * w[c]));
    }
    CHECK(maxe < 2e-6);
    free(x), free(w), free(b), free(y), free(z);
}

static void test_elementwise(rad_backend *be) {
    const int64_t n = 40001, m = 7, d = 13;
    float *x = rnd(n), *g = rnd(n), *a = malloc(n * sizeof *a);
    for (int64_t i = 0; i < n; i++) x[i] *= 8.0f, g[i] *= 8.0f;
    double e1 = 0, e2 = 0, e3 = 0;
    memcpy(a, x, n * sizeof *a);
    CHECK_OK(be->gelu_tanh(be, a, n));
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        e1 = fmax(e1, fabs(a[i] - ref) / (fabs(ref) + 1e-3));
    }
    memcpy(a, x, n * sizeof *a);
    CHECK_OK(be->silu(be, a, n));
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], ref = v / (1 + exp(-v));
        e2 = fmax(e2, fabs(a[i] - ref) / (fabs(ref) + 1e-3));
    }
    memcpy(a, x, n * sizeof *a);
    CHECK_OK(be->mul_gelu(be, a, g, n));
    for (int64_t i = 0; i < n; i++) {
        double v = g[i], ref = x[i] * 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
        e3 = fmax(e3, fabs(a[i] - ref) / (fabs(ref) + 1e-3));
    }
    if (!(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5)) fprintf(stderr, "gelu %g silu %g mul_gelu %g\n", e1, e2, e3);
    CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5);
    /* modulate / add_gated on m x d */
    float *sh = rnd(d), *sc = rnd(d), *y = malloc(m * d * sizeof *y), *acc = rnd(m * d), *acc0 = malloc(m * d * sizeof *acc0);
    CHECK_OK(be->modulate(be, x, m, d, sh, sc, y));
    int bad = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t c = 0; c < d; c++) bad += fabs(y[r * d + c] - (x[r * d + c] * (1.0 + sc[c]) + sh[c])) > 1e-5 * (1 + fabs(x[r * d + c]));
    memcpy(acc0, acc, m * d * sizeof *acc);
    CHECK_OK(be->add_gated(be, acc, x, m, d, sc));
    for (int64_t i = 0; i < m * d; i++) bad += fabs(acc[i] - (acc0[i] + (double)x[i] * sc[i % d])) > 1e-5 * (1 + fabs(x[i]));
    memcpy(acc, acc0, m * d * sizeof *acc);
    CHECK_OK(be->add_gated(be, acc, x, m, d, NULL));
    for (int64_t i = 0; i < m * d; i++) bad += acc[i] != acc0[i] + x[i];
    CHECK(bad == 0);
    free(x), free(g), free(a), free(sh), free(sc), free(y), free(acc), free(acc0);
}

/* Direct formula of spec §1.4: channel pair m of the head belongs to the frame axis for m < t_dim/2, then
 * height, then width; within its axis it is pair j with angle pos · 10000^(−2j/dim_axis). */
static void test_rope(rad_backend *be, int64_t f, int64_t h, int64_t w, int64_t heads, int64_t hd) {
    const int64_t n = f * h * w * heads * hd;
    float *x = rnd((size_t)n), *y = malloc((size_t)n * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    CHECK_OK(be->rope3d(be, y, f, h, w, heads, hd));
    const int64_t tdim = hd - 4 * (hd / 6), hdim = 2 * (hd / 6);
    double maxe = 0;
    for (int64_t fi = 0; fi < f; fi++)
        for (int64_t hi = 0; hi < h; hi++)
            for (int64_t wi = 0; wi < w; wi++)
                for (int64_t he = 0; he < heads; he++)
                    for (int64_t c = 0; c < hd; c += 2) {
                        int64_t pos, jj, dim;
                        if (c < tdim) pos = fi, jj = c / 2, dim = tdim;
                        else if (c < tdim + hdim) pos = hi, jj = (c - tdim) / 2, dim = hdim;
                        else pos = wi, jj = (c - tdim - hdim) / 2, dim = hdim;
                        double ang = pos * pow(10000.0, -2.0 * jj / dim);
                        int64_t o = (((fi * h + hi) * w + wi) * heads + he) * hd + c;
                        double a = x[o], b = x[o + 1];
                        maxe = fmax(maxe, fabs(y[o] - (a * cos(ang) - b * sin(ang))));
                        maxe = fmax(maxe, fabs(y[o + 1] - (a * sin(ang) + b * cos(ang))));
                    }
    CHECK(maxe < 1e-6);
    free(x), free(y);
}

static void test_transpose(rad_backend *be, int64_t r, int64_t c) {
    float *x = rnd((size_t)(r * c)), *y = malloc((size_t)(r * c) * sizeof *y + 4);
    CHECK_OK(be->transpose(be, x, r, c, y));
    int bad = 0;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) bad += y[j * r + i] != x[i * c + j];
    CHECK(bad == 0);
    free(x), free(y);
}

/* Two backends count their own buffers: what one holds and its peak are not the other's (two contexts of one
 * process report their own memory). */
static void test_mem_per_backend(void) {
    rad_backend *a, *b;
    CHECK_OK(rad_backend_cpu(&a));
    CHECK_OK(rad_backend_cpu(&b));
    void *pa, *pb;
    CHECK_OK(a->alloc(a, 1000, "a", &pa));
    CHECK_OK(b->alloc(b, 300, "b", &pb));
    rad_mem_stats ma, mb;
    a->mem_stats(a, 0, &ma);
    b->mem_stats(b, 0, &mb);
    CHECK(ma.held == 1000 && ma.peak == 1000);
    CHECK(mb.held == 300 && mb.peak == 300);
    a->free(a, pa);
    a->mem_stats(a, 1, &ma); /* read, then the peak restarts from what is held */
    CHECK(ma.held == 0 && ma.peak == 1000);
    a->mem_stats(a, 0, &ma);
    b->mem_stats(b, 0, &mb);
    CHECK(ma.held == 0 && ma.peak == 0 && mb.held == 300 && mb.peak == 300);
    b->free(b, pb);
    a->destroy(a);
    b->destroy(b);
}

int main(void) {
    test_mem_per_backend();
    rad_backend *be;
    CHECK_OK(rad_backend_cpu(&be));
    static const int64_t shapes[][3] = {{1, 1, 1},    {1, 7, 5},     {3, 256, 33},  {7, 257, 31}, {97, 513, 65},
                                        {100, 48, 300}, {13, 1000, 9}, {200, 96, 257}, {5, 4096, 48}, {33, 33, 33}};
    for (int isa = 2; isa >= 0; isa--) { /* each micro-kernel this CPU can run */
        rad_cpu_gemm_max_isa(isa);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            test_linear(be, shapes[i][0], shapes[i][1], shapes[i][2], (int)(i % 2));
    }
    rad_cpu_gemm_max_isa(2);
    test_norms(be);
    test_elementwise(be);
    test_ffn(be);
    test_rope(be, 3, 4, 6, 2, 24);  /* tiny model: 8/8/8 */
    test_rope(be, 2, 3, 5, 1, 128); /* Wan: 44/42/42 */
    test_rope(be, 1, 1, 7, 3, 64);
    test_transpose(be, 1, 1);
    test_transpose(be, 37, 70);
    test_transpose(be, 64, 33);

    /* errors */
    float one = 1.0f, y;
    rad_weight *wt;
    CHECK_FAILS(be->weight_new(be, &(rad_weight_src){RAD_DT_F32, &one, NULL, 0}, 0, 4, "w0", &wt));
    CHECK_OK(be->weight_new(be, &(rad_weight_src){RAD_DT_F32, &one, NULL, 0}, 1, 1, "w1", &wt));
    CHECK_FAILS(be->linear(be, &one, 1, 2, wt, NULL, &y));
    be->weight_free(be, wt);
    CHECK_FAILS(be->rope3d(be, &one, 1, 1, 1, 1, 7));
    void *p;
    CHECK_FAILS(be->alloc(be, SIZE_MAX - 8, "huge", &p));
    CHECK(rad_backend_peak(be) > 0);
    be->destroy(be);
    TEST_MAIN_END();
}
