/* Step caching: the TeaCache rule and the per-branch state of a generation (step_cache.h). */
#include "pipeline/step_cache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

/* ------------------------------------------------------------------------------------------- the rule */

/* TeaCache4Wan2.1/teacache_generate.py, generate(), the t2v branch: `coefficients` by '1.3B' / '14B' in the
 * checkpoint folder's name, for use_ret_steps False and True. */
static const double coef_13b[5] = {2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01};
static const double coef_14b[5] = {-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404};
static const double coef_13b_ret[5] = {-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01,
                                       -4.99875664e-02};
static const double coef_14b_ret[5] = {-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01,
                                       -3.15583525e-01};

rad_status rad_teacache_rule_init(double thresh, bool use_ret_steps, int dim, int steps, rad_teacache_rule *out,
                                  bool *published) {
    memset(out, 0, sizeof *out);
    if (!(thresh >= 0 && isfinite(thresh)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "TeaCache threshold %g: expected a finite number >= 0", thresh);
    if (steps < 1 || steps > 1000) return rad_err(RADIAL_ERR_INVALID_ARG, "TeaCache: %d steps (1 to 1000)", steps);
    const bool is14 = dim == 5120;
    *published = dim == 1536 || is14;
    memcpy(out->coef, is14 ? (use_ret_steps ? coef_14b_ret : coef_14b) : (use_ret_steps ? coef_13b_ret : coef_13b),
           sizeof out->coef);
    out->coef_of = is14 ? "Wan2.1 T2V 14B" : "Wan2.1 T2V 1.3B";
    out->thresh = thresh;
    out->use_ret_steps = use_ret_steps;
    /* ret_steps = 5*2, cutoff_steps = sample_steps*2; else ret_steps = 1*2, cutoff_steps = sample_steps*2 - 2 */
    out->ret_steps = use_ret_steps ? 5 * 2 : 1 * 2;
    out->cutoff_steps = use_ret_steps ? steps * 2 : steps * 2 - 2;
    return RAD_OK;
}

void rad_teacache_state_free(rad_teacache_state *st) {
    rad_free(st->prev);
    st->prev = NULL;
    st->n = 0;
    st->acc = 0;
}

/* np.poly1d(coefficients)(x): numpy's polyval, y = 0, then y = y * x + c for each coefficient. */
static double poly(const double c[5], double x) {
    double y = 0.0;
    for (int i = 0; i < 5; i++) y = y * x + c[i];
    return y;
}

/* (cur - prev).abs().mean() / prev.abs().mean(), summed in order in float64. */
static double rel_l1(const float *cur, const float *prev, size_t n) {
    double sd = 0.0, sp = 0.0;
    for (size_t i = 0; i < n; i++) {
        sd += fabs((double)cur[i] - (double)prev[i]);
        sp += fabs((double)prev[i]);
    }
    return (sd / (double)n) / (sp / (double)n);
}

rad_status rad_teacache_decide(const rad_teacache_rule *r, rad_teacache_state *st, int cnt, bool force, const float *ind,
                               size_t n, bool *calc, double *rel) {
    if (rel) *rel = NAN;
    if (n == 0 || (st->prev && st->n != n))
        return rad_err(RADIAL_ERR_INVALID_ARG, "TeaCache call %d: an indicator of %zu values after one of %zu", cnt, n,
                       st->n);
    if (cnt < r->ret_steps || cnt >= r->cutoff_steps || force) {
        *calc = true;
        st->acc = 0;
    } else {
        if (!st->prev)
            return rad_err(RADIAL_ERR_INVALID_ARG, "TeaCache call %d: no previous indicator in this branch", cnt);
        const double d = rel_l1(ind, st->prev, n);
        if (rel) *rel = d;
        st->acc += poly(r->coef, d);
        if (r->thresh > 0 && st->acc < r->thresh) { /* radial: threshold 0 never skips */
            *calc = false;
        } else {
            *calc = true;
            st->acc = 0;
        }
    }
    if (!st->prev) {
        RAD_TRY(rad_alloc((void **)&st->prev, n * sizeof(float), "TeaCache previous indicator"));
        st->n = n;
    }
    memcpy(st->prev, ind, n * sizeof(float));
    return RAD_OK;
}

/* ------------------------------------------------------------------------------------ the MagCache rule */

/* MagCache4Wan2.1/magcache_generate.py, generate(), the t2v branch: mag_ratios = [1.0]*2 + [...] for 'T2V-1.3B' and
 * 'T2V-14B' in the checkpoint folder's name (50 steps, conditional and unconditional interleaved). */
static const double mag_13b[100] = {
    1.0, 1.0, 1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762, 0.99634, 0.99685, 0.99567,
    0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552,
    0.99549, 0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481,
    0.99479, 0.99415, 0.99413, 0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309,
    0.99304, 0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063, 0.99005,
    0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836,
    0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411, 0.97003, 0.97002, 0.96538,
    0.96541, 0.9593, 0.95933, 0.95086, 0.95089, 0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821,
    0.86868, 0.81838, 0.81939};
static const double mag_14b[100] = {
    1.0, 1.0, 1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771, 0.9966, 0.99658, 0.99482,
    0.99476, 0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465, 0.99438,
    0.99434, 0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516, 0.99409, 0.99408, 0.99428,
    0.99426, 0.99347, 0.99343, 0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218,
    0.99215, 0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898, 0.98996, 0.98995, 0.9887,
    0.98866, 0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857, 0.98501, 0.98498, 0.9838, 0.98376, 0.98177,
    0.98173, 0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543, 0.97184, 0.97183, 0.96711, 0.96708, 0.96349,
    0.96345, 0.95629, 0.95625, 0.94926, 0.94929, 0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796,
    0.87945, 0.86111, 0.86189};

/* nearest_interp(src, n): src[round(i · (len - 1) / (n - 1))] (np.round: half to even, as nearbyint), src[-1]
 * alone for n == 1. */
static void nearest_interp(const double *src, int len, int stride, int n, double *dst, int dst_stride) {
    if (n == 1) {
        dst[0] = src[(size_t)(len - 1) * (size_t)stride];
        return;
    }
    const double scale = (double)(len - 1) / (double)(n - 1);
    for (int i = 0; i < n; i++) dst[(size_t)i * (size_t)dst_stride] = src[(size_t)nearbyint((double)i * scale) * (size_t)stride];
}

rad_status rad_magcache_rule_init(double thresh, int K, double retention_ratio, int dim, int steps,
                                  rad_magcache_rule *out, bool *published) {
    memset(out, 0, sizeof *out);
    if (!(thresh >= 0 && isfinite(thresh)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache threshold %g: expected a finite number >= 0", thresh);
    if (K < 1 || K > 1000) return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache K %d: expected 1 to 1000", K);
    if (!(retention_ratio >= 0 && retention_ratio <= 1))
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache retention ratio %g: expected a number in [0, 1]", retention_ratio);
    if (steps < 1 || steps > RAD_MAGCACHE_MAX_STEPS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache: %d steps (1 to %d)", steps, RAD_MAGCACHE_MAX_STEPS);
    const bool is14 = dim == 5120;
    *published = dim == 1536 || is14;
    const double *src = is14 ? mag_14b : mag_13b;
    out->ratios_of = is14 ? "Wan2.1 T2V 14B" : "Wan2.1 T2V 1.3B";
    out->thresh = thresh, out->K = K, out->retention_ratio = retention_ratio;
    out->num_steps = steps * 2;
    out->retention_calls = (int)((double)out->num_steps * retention_ratio); /* int(): toward zero */
    if (steps == 50) {
        memcpy(out->ratios, src, sizeof mag_13b);
    } else { /* the conditional and unconditional halves each, then interleaved again */
        nearest_interp(src, 50, 2, steps, out->ratios, 2);
        nearest_interp(src + 1, 50, 2, steps, out->ratios + 1, 2);
        out->interpolated = true;
    }
    return RAD_OK;
}

void rad_magcache_state_init(rad_magcache_state *st) { *st = (rad_magcache_state){1.0, 0.0, 0}; }

rad_status rad_magcache_decide(const rad_magcache_rule *r, rad_magcache_state *st, int cnt, bool force, bool *calc) {
    if (cnt < 0 || cnt >= r->num_steps)
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache call %d outside [0, %d)", cnt, r->num_steps);
    *calc = true;
    if (force) {
        rad_magcache_state_init(st);
    } else if (cnt >= r->retention_calls) {
        st->ratio = st->ratio * r->ratios[cnt]; /* magnitude ratio between the current step and the cached one */
        st->steps += 1;
        st->err += fabs(1 - st->ratio);
        if (st->err < r->thresh && st->steps <= r->K) *calc = false;
        else rad_magcache_state_init(st);
    }
    return RAD_OK;
}

/* --------------------------------------------------------------------------------------- the pipeline */

typedef struct branch {
    struct rad_step_cache *owner;
    int index; /* 0 conditional, 1 unconditional */
    rad_teacache_state st;
    rad_magcache_state mst;
    rad_dit_cache *dit;
    bool force;   /* the next call runs the blocks (its first call, a model switch) */
    int forwards, skipped;
    char *skips;  /* [steps]: 1 where this branch skipped the blocks */
} branch;

struct rad_step_cache {
    radial_cache method;
    const char *name; /* "TeaCache", "MagCache" */
    rad_teacache_rule rule;
    rad_magcache_rule mag;
    int steps, step, model;
    branch br[2];
    rad_step_cache_trace_fn trace;
    void *trace_user;
};

static const char *const branch_names[2] = {"conditional", "unconditional"};

static rad_status decide(void *user, const float *e, const float *e0, int64_t dim, bool *reuse) {
    branch *b = user;
    struct rad_step_cache *c = b->owner;
    bool calc = true;
    double rel, acc;
    const int cnt = 2 * c->step + b->index;
    if (c->method == RADIAL_CACHE_TEACACHE) {
        const float *ind = c->rule.use_ret_steps ? e0 : e;
        const size_t n = (size_t)(c->rule.use_ret_steps ? 6 * dim : dim);
        RAD_TRY(rad_teacache_decide(&c->rule, &b->st, cnt, b->force, ind, n, &calc, &rel));
        acc = b->st.acc;
    } else {
        RAD_TRY(rad_magcache_decide(&c->mag, &b->mst, cnt, b->force, &calc));
        rel = b->mst.ratio, acc = b->mst.err;
    }
    b->force = false;
    *reuse = !calc;
    b->forwards++;
    if (!calc) {
        b->skipped++;
        if (c->step >= 0 && c->step < c->steps) b->skips[c->step] = 1;
    }
    RAD_DEBUG("%s step %d, %s: %s %.6g, %s %.6g -> %s", c->name, c->step + 1, branch_names[b->index],
              c->method == RADIAL_CACHE_TEACACHE ? "rel L1" : "ratio", rel,
              c->method == RADIAL_CACHE_TEACACHE ? "accumulated" : "error", acc, calc ? "computed" : "skipped");
    if (c->trace) {
        const rad_step_cache_event ev = {c->step, b->index, e, e0, dim, rel, acc, calc};
        c->trace(c->trace_user, &ev);
    }
    return RAD_OK;
}

rad_status rad_step_cache_new(rad_backend *be, const radial_gen_params *g, int dim, rad_step_cache_trace_fn trace,
                              void *trace_user, rad_step_cache **out) {
    *out = NULL;
    RAD_TRY(rad_step_cache_check(g));
    if (g->cache == RADIAL_CACHE_NONE) return RAD_OK;
    struct rad_step_cache *c;
    RAD_TRY(rad_calloc((void **)&c, 1, sizeof *c, "step cache"));
    c->method = g->cache, c->steps = g->steps, c->model = -1, c->trace = trace, c->trace_user = trace_user;
    c->name = g->cache == RADIAL_CACHE_TEACACHE ? "TeaCache" : "MagCache";
    bool published = false;
    rad_status s = g->cache == RADIAL_CACHE_TEACACHE
                       ? rad_teacache_rule_init(g->cache_threshold, g->cache_ret_steps != 0, dim, g->steps, &c->rule, &published)
                       : rad_magcache_rule_init(g->cache_threshold, g->cache_k, g->cache_retention, dim, g->steps, &c->mag,
                                                &published);
    for (int i = 0; s == RAD_OK && i < 2; i++) {
        branch *b = &c->br[i];
        b->owner = c, b->index = i, b->force = true; /* a branch's first call computes */
        rad_magcache_state_init(&b->mst);
        s = rad_calloc((void **)&b->skips, (size_t)g->steps, 1, "step cache: skipped steps");
        if (s == RAD_OK) s = rad_dit_cache_new(be, decide, b, &b->dit);
    }
    if (s != RAD_OK) {
        rad_step_cache_free(c);
        return s;
    }
    const char *unpublished = published ? "" : " (none published for this model width)";
    if (c->method == RADIAL_CACHE_TEACACHE) {
        const rad_teacache_rule *r = &c->rule;
        RAD_INFO("step cache: TeaCache, threshold %g, indicator %s, the %s coefficients%s; always computed: step%s 1%s%s",
                 r->thresh, r->use_ret_steps ? "e0 (use_ret_steps)" : "e", r->coef_of, unpublished,
                 r->use_ret_steps ? "s" : "", r->use_ret_steps ? "-5" : "", r->use_ret_steps ? "" : " and the last");
    } else {
        const rad_magcache_rule *r = &c->mag;
        RAD_INFO("step cache: MagCache, threshold %g, K %d, retention ratio %g (always computed: the first %d steps of "
                 "the conditional branch, %d of the unconditional), the %s magnitude ratios%s%s",
                 r->thresh, r->K, r->retention_ratio, (r->retention_calls + 1) / 2, r->retention_calls / 2, r->ratios_of,
                 r->interpolated ? " (nearest-interpolated from their 50 steps)" : "", unpublished);
    }
    *out = c;
    return RAD_OK;
}

void rad_step_cache_begin(rad_step_cache *c, int step, int model) {
    if (!c) return;
    c->step = step;
    if (c->model >= 0 && model != c->model) c->br[0].force = c->br[1].force = true;
    c->model = model;
}

rad_dit_cache *rad_step_cache_branch(rad_step_cache *c, int branch) {
    return c && branch >= 0 && branch < 2 ? c->br[branch].dit : NULL;
}

size_t rad_step_cache_bytes(const rad_step_cache *c) {
    return c ? rad_dit_cache_bytes(c->br[0].dit) + rad_dit_cache_bytes(c->br[1].dit) : 0;
}

/* "3,5-9,12" (1-based) into buf, "none" when empty; cut with "..." when it does not fit. */
static void list_steps(const char *skips, int steps, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < steps; i++) {
        if (!skips[i]) continue;
        int j = i;
        while (j + 1 < steps && skips[j + 1]) j++;
        char item[32];
        if (j > i) snprintf(item, sizeof item, "%s%d-%d", k ? "," : "", i + 1, j + 1);
        else snprintf(item, sizeof item, "%s%d", k ? "," : "", i + 1);
        if (k + strlen(item) + 4 >= size) {
            snprintf(buf + k, size - k, ",...");
            return;
        }
        k += (size_t)snprintf(buf + k, size - k, "%s", item);
        i = j;
    }
    if (!k) snprintf(buf, size, "none");
}

void rad_step_cache_finish(const rad_step_cache *c, radial_timings *tm) {
    if (!c) return;
    char lists[2][512];
    for (int i = 0; i < 2; i++) {
        tm->cache_forwards[i] = c->br[i].forwards;
        tm->cache_skipped[i] = c->br[i].skipped;
        list_steps(c->br[i].skips, c->steps, lists[i], sizeof lists[i]);
    }
    if (c->br[1].forwards)
        RAD_INFO("step cache: %s skipped the blocks of %d of %d forwards (conditional: %d of %d, steps %s; "
                 "unconditional: %d of %d, steps %s)",
                 c->name, c->br[0].skipped + c->br[1].skipped, c->br[0].forwards + c->br[1].forwards, c->br[0].skipped,
                 c->br[0].forwards, lists[0], c->br[1].skipped, c->br[1].forwards, lists[1]);
    else
        RAD_INFO("step cache: %s skipped the blocks of %d of %d forwards (conditional only, no CFG: steps %s)", c->name,
                 c->br[0].skipped, c->br[0].forwards, lists[0]);
    RAD_DEBUG("step cache: the residuals held %.1f MiB of backend memory", (double)rad_step_cache_bytes(c) / 1048576.0);
}

void rad_step_cache_free(rad_step_cache *c) {
    if (!c) return;
    for (int i = 0; i < 2; i++) {
        rad_dit_cache_free(c->br[i].dit);
        rad_teacache_state_free(&c->br[i].st);
        rad_free(c->br[i].skips);
    }
    rad_free(c);
}

/* ---------------------------------------------------------------------------------------- settings */

rad_status rad_step_cache_check(const radial_gen_params *g) {
    if (g->cache == RADIAL_CACHE_NONE) return RAD_OK;
    if (g->cache != RADIAL_CACHE_TEACACHE && g->cache != RADIAL_CACHE_MAGCACHE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "unknown step cache %d (0 none, 1 TeaCache, 2 MagCache)", (int)g->cache);
    const char *name = g->cache == RADIAL_CACHE_TEACACHE ? "TeaCache" : "MagCache";
    if (!(g->cache_threshold >= 0 && isfinite(g->cache_threshold)))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s threshold %g: expected a finite number >= 0", name, g->cache_threshold);
    if (g->cache == RADIAL_CACHE_MAGCACHE && (g->cache_k < 1 || g->cache_k > 1000))
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache K %d: expected 1 to 1000", g->cache_k);
    if (g->cache == RADIAL_CACHE_MAGCACHE && !(g->cache_retention >= 0 && g->cache_retention <= 1))
        return rad_err(RADIAL_ERR_INVALID_ARG, "MagCache retention ratio %g: expected a number in [0, 1]", g->cache_retention);
    return RAD_OK;
}
