/* Groups (group.h): the argument checks and dispatch every implementation shares, and the loopback
 * implementation: `size` ranks that are threads of one process on the CPU backend.
 *
 * Loopback collective, as every rank runs it: publish (src, dst, shape) in the shared exchange; barrier; check
 * that every rank published the same shape (if not, all ranks see the same mismatch and fail alike); copy the
 * rank's own dst from the other ranks' src (pull: each rank writes only its own dst); barrier (no rank reuses its
 * src before the others have read it). Pure copies in a fixed order: deterministic. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/group.h"

#ifndef RAD_HAVE_NCCL
rad_status rad_group_nccl_id(unsigned char id[RAD_NCCL_ID_BYTES]) {
    (void)id;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "this build has no NCCL (configure with CUDA, nccl.h and libnccl found, "
                                           "RADIAL_NCCL=ON)");
}
rad_status rad_group_nccl_new(struct rad_backend *cuda_backend, int rank, int size,
                              const unsigned char id[RAD_NCCL_ID_BYTES], rad_group **out) {
    (void)cuda_backend, (void)rank, (void)size, (void)id;
    *out = NULL;
    return rad_group_nccl_id(NULL);
}
#endif

rad_status rad_group_check_a2a(const char *who, const rad_group *g, const float *src, const float *dst, int64_t n_tokens,
                               int64_t heads, int64_t head_dim, int dir) {
    if (!g || g->size < 1 || g->rank < 0 || g->rank >= g->size)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no group, or rank %d outside its size %d", who, g ? g->rank : -1,
                       g ? g->size : 0);
    if (dir != RAD_A2A_TOKENS_TO_HEADS && dir != RAD_A2A_HEADS_TO_TOKENS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: unknown direction %d", who, dir);
    if (n_tokens < 0 || heads <= 0 || head_dim <= 0 || n_tokens > INT64_MAX / heads / head_dim)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: bad shape [%lld tokens, %lld heads, %lld head_dim]", who,
                       (long long)n_tokens, (long long)heads, (long long)head_dim);
    if (heads % g->size)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "%s: %lld heads do not divide over %d ranks (Ulysses needs heads %% degree == 0; head padding "
                       "and ring attention are not implemented)",
                       who, (long long)heads, g->size);
    if (n_tokens && (!src || !dst)) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: NULL buffer", who);
    if (n_tokens && src == dst) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: cannot run in place (src == dst)", who);
    return RAD_OK;
}

rad_status rad_group_check_gather(const char *who, const rad_group *g, const float *src, const float *dst,
                                  int64_t n_rows, int64_t row_elems) {
    if (!g || g->size < 1 || g->rank < 0 || g->rank >= g->size)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no group, or rank %d outside its size %d", who, g ? g->rank : -1,
                       g ? g->size : 0);
    if (n_rows < 0 || row_elems < 0 || (row_elems && n_rows > INT64_MAX / row_elems))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: bad shape [%lld rows, %lld]", who, (long long)n_rows,
                       (long long)row_elems);
    if (n_rows && row_elems && !dst) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: NULL destination", who);
    if (rad_split_count(n_rows, g->size, g->rank) && row_elems && !src)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: NULL source", who);
    return RAD_OK;
}

rad_status rad_group_check_bcast(const char *who, const rad_group *g, const float *buf, int64_t n, int root) {
    if (!g || g->size < 1 || g->rank < 0 || g->rank >= g->size)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: no group, or rank %d outside its size %d", who, g ? g->rank : -1,
                       g ? g->size : 0);
    if (root < 0 || root >= g->size)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: root rank %d outside the group's %d ranks", who, root, g->size);
    if (n < 0 || n > INT64_MAX / (int64_t)sizeof(float))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s: bad length %lld", who, (long long)n);
    if (n && !buf) return rad_err(RADIAL_ERR_INVALID_ARG, "%s: NULL buffer", who);
    return RAD_OK;
}

static rad_status check_impl(const char *op, const char *backend, const rad_group *g) {
    if (!g || !g->impl) return rad_err(RADIAL_ERR_INVALID_ARG, "%s %s: no group", backend, op);
    if (strcmp(g->impl->backend, backend))
        return rad_err(RADIAL_ERR_INVALID_ARG, "%s %s: the group is a %s group for the %s backend, not for this one",
                       backend, op, g->impl->kind, g->impl->backend);
    return RAD_OK;
}

rad_status rad_group_all_to_all(const char *backend, rad_group *g, struct rad_backend *be, const float *src, float *dst,
                                int64_t n_tokens, int64_t heads, int64_t head_dim, int dir) {
    RAD_TRY(check_impl("all_to_all", backend, g));
    return g->impl->all_to_all(g, be, src, dst, n_tokens, heads, head_dim, (rad_a2a_dir)dir);
}

rad_status rad_group_all_gather(const char *backend, rad_group *g, struct rad_backend *be, const float *src, float *dst,
                                int64_t n_rows, int64_t row_elems) {
    RAD_TRY(check_impl("all_gather", backend, g));
    return g->impl->all_gather(g, be, src, dst, n_rows, row_elems);
}

rad_status rad_group_broadcast(const char *backend, rad_group *g, struct rad_backend *be, float *buf, int64_t n, int root) {
    RAD_TRY(check_impl("broadcast", backend, g));
    return g->impl->broadcast(g, be, buf, n, root);
}

void rad_group_abort(rad_group *g) {
    if (g && g->impl && g->impl->abort) g->impl->abort(g);
}

void rad_group_free(rad_group *g) {
    if (g && g->impl && g->impl->destroy) g->impl->destroy(g);
}

/* ------------------------------------------------------------------------------------------------ loopback */

typedef struct {
    int op; /* 1 all_to_all, 2 all_gather, 3 broadcast */
    const float *src;
    float *dst;
    int64_t a, b, c, dir; /* the shape arguments */
} lb_slot;

typedef struct {
    int size, refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived;
    unsigned gen;
    bool aborted;
    lb_slot *slot; /* [size] */
} lb_shared;

/* Waits until every rank has arrived (or the group was aborted: false). */
static bool lb_barrier(lb_shared *x) {
    pthread_mutex_lock(&x->mu);
    const unsigned gen = x->gen;
    if (++x->arrived == x->size) {
        x->arrived = 0;
        x->gen++;
        pthread_cond_broadcast(&x->cv);
    } else {
        while (gen == x->gen && !x->aborted) pthread_cond_wait(&x->cv, &x->mu);
    }
    const bool ok = !x->aborted;
    pthread_mutex_unlock(&x->mu);
    return ok;
}

static rad_status lb_aborted(const char *who, const rad_group *g) {
    return rad_err(RADIAL_ERR_BACKEND, "%s (loopback rank %d of %d): the group was aborted by a failing rank", who,
                   g->rank, g->size);
}

/* Publishes this rank's slot, waits for all, checks that the shapes agree. */
static rad_status lb_enter(const char *who, rad_group *g, const lb_slot *mine) {
    lb_shared *x = g->state;
    x->slot[g->rank] = *mine;
    if (!lb_barrier(x)) return lb_aborted(who, g);
    for (int r = 0; r < g->size; r++) {
        const lb_slot *o = &x->slot[r];
        if (o->op != mine->op || o->a != mine->a || o->b != mine->b || o->c != mine->c || o->dir != mine->dir) {
            /* when the slots are not all equal, every rank's own differs from some other: all ranks get here */
            lb_barrier(x);
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s (loopback rank %d of %d): rank %d called op %d with shape (%lld, %lld, %lld, dir %lld), "
                           "this rank op %d with (%lld, %lld, %lld, dir %lld): the ranks are out of step",
                           who, g->rank, g->size, r, o->op, (long long)o->a, (long long)o->b, (long long)o->c,
                           (long long)o->dir, mine->op, (long long)mine->a, (long long)mine->b, (long long)mine->c,
                           (long long)mine->dir);
        }
    }
    return RAD_OK;
}

static rad_status lb_all_to_all(rad_group *g, struct rad_backend *be, const float *src, float *dst, int64_t n_tokens,
                                int64_t heads, int64_t head_dim, rad_a2a_dir dir) {
    (void)be;
    RAD_TRY(rad_group_check_a2a("loopback all_to_all", g, src, dst, n_tokens, heads, head_dim, dir));
    const lb_slot mine = {1, src, dst, n_tokens, heads, head_dim, dir};
    RAD_TRY(lb_enter("loopback all_to_all", g, &mine));
    lb_shared *x = g->state;
    const int u = g->size, me = g->rank;
    const int64_t hs = heads / u, piece = hs * head_dim, row = heads * head_dim;
    for (int r = 0; r < u; r++) { /* rank r's token range */
        const int64_t t0 = rad_split_start(n_tokens, u, r), nt = rad_split_count(n_tokens, u, r);
        if (dir == RAD_A2A_TOKENS_TO_HEADS) {
            /* my heads of rank r's tokens: from r's src [nt, heads, hd] to my dst rows t0.. [*, hs, hd] */
            const float *s = x->slot[r].src;
            for (int64_t t = 0; t < nt; t++)
                memcpy(dst + (t0 + t) * piece, s + t * row + me * piece, (size_t)piece * sizeof(float));
        } else if (r == me) {
            /* my tokens of every rank p's heads: from p's src rows t0.. [*, hs, hd] into my dst [nt, heads, hd] */
            for (int p = 0; p < u; p++) {
                const float *s = x->slot[p].src;
                for (int64_t t = 0; t < nt; t++)
                    memcpy(dst + t * row + p * piece, s + (t0 + t) * piece, (size_t)piece * sizeof(float));
            }
        }
    }
    if (!lb_barrier(x)) return lb_aborted("loopback all_to_all", g);
    return RAD_OK;
}

static rad_status lb_all_gather(rad_group *g, struct rad_backend *be, const float *src, float *dst, int64_t n_rows,
                                int64_t row_elems) {
    (void)be;
    RAD_TRY(rad_group_check_gather("loopback all_gather", g, src, dst, n_rows, row_elems));
    const lb_slot mine = {2, src, dst, n_rows, row_elems, 0, 0};
    RAD_TRY(lb_enter("loopback all_gather", g, &mine));
    lb_shared *x = g->state;
    for (int r = 0; r < g->size; r++) {
        const int64_t r0 = rad_split_start(n_rows, g->size, r), nr = rad_split_count(n_rows, g->size, r);
        if (nr && row_elems)
            memcpy(dst + r0 * row_elems, x->slot[r].src, (size_t)(nr * row_elems) * sizeof(float));
    }
    if (!lb_barrier(x)) return lb_aborted("loopback all_gather", g);
    return RAD_OK;
}

/* Every rank but the root copies the root's buffer into its own. */
static rad_status lb_broadcast(rad_group *g, struct rad_backend *be, float *buf, int64_t n, int root) {
    (void)be;
    RAD_TRY(rad_group_check_bcast("loopback broadcast", g, buf, n, root));
    const lb_slot mine = {3, buf, buf, n, root, 0, 0};
    RAD_TRY(lb_enter("loopback broadcast", g, &mine));
    lb_shared *x = g->state;
    if (g->rank != root && n) memcpy(buf, x->slot[root].src, (size_t)n * sizeof(float));
    if (!lb_barrier(x)) return lb_aborted("loopback broadcast", g);
    return RAD_OK;
}

static void lb_abort(rad_group *g) {
    lb_shared *x = g->state;
    pthread_mutex_lock(&x->mu);
    x->aborted = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void lb_destroy(rad_group *g) {
    lb_shared *x = g->state;
    pthread_mutex_lock(&x->mu);
    const int left = --x->refs;
    pthread_mutex_unlock(&x->mu);
    if (!left) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->mu);
        free(x->slot);
        free(x);
    }
    free(g);
}

static const rad_group_impl lb_impl = {"loopback", "cpu", lb_all_to_all, lb_all_gather, lb_broadcast, lb_abort,
                                       lb_destroy};

rad_status rad_group_loopback_new(int size, rad_group **out) {
    if (size < 1 || size > 4096) return rad_err(RADIAL_ERR_INVALID_ARG, "loopback group: %d ranks (1 to 4096)", size);
    for (int r = 0; r < size; r++) out[r] = NULL;
    lb_shared *x = calloc(1, sizeof *x);
    lb_slot *slot = calloc((size_t)size, sizeof *slot);
    if (!x || !slot) {
        free(x), free(slot);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory creating a loopback group of %d ranks", size);
    }
    x->size = size, x->slot = slot;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    for (int r = 0; r < size; r++) {
        rad_group *g = calloc(1, sizeof *g);
        if (!g) {
            for (int q = 0; q < r; q++) rad_group_free(out[q]), out[q] = NULL;
            if (!r) pthread_cond_destroy(&x->cv), pthread_mutex_destroy(&x->mu), free(slot), free(x);
            return rad_err(RADIAL_ERR_NOMEM, "out of memory creating a loopback group of %d ranks", size);
        }
        *g = (rad_group){r, size, &lb_impl, x};
        x->refs++;
        out[r] = g;
    }
    return RAD_OK;
}
