/* Groups (group.h): the argument checks and dispatch every implementation shares, and the loopback
 * implementation: `size` ranks that are threads of one process on the CPU backend.
 *
 * Loopback collective, as every rank runs it: publish (src, dst, shape) in the shared exchange; barrier; check
 * that every rank published the same shape (if not, all ranks see the same mismatch and fail alike); copy the
 * rank's own dst from the other ranks' src (pull: each rank writes only its own dst); barrier (no rank reuses its
 * src before the others have read it). Pure copies in a fixed order: deterministic.
 * Each group (the one rad_group_loopback_new makes, and each sub-group split from it) has its own exchange; the
 * exchanges of one family share one mutex, condition variable and abort flag, so that an abort wakes every rank
 * waiting in any of them. */
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
rad_status rad_group_nccl_check_split(void) { return rad_group_nccl_id(NULL); }
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

rad_status rad_group_split(rad_group *g, int color, int key, rad_group **out) {
    *out = NULL;
    if (!g || !g->impl) return rad_err(RADIAL_ERR_INVALID_ARG, "group split: no group");
    if (!g->impl->split)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "group split: %s groups cannot be split", g->impl->kind);
    return g->impl->split(g, color, key, out);
}

void rad_group_abort(rad_group *g) {
    if (g && g->impl && g->impl->abort) g->impl->abort(g);
}

void rad_group_free(rad_group *g) {
    if (g && g->impl && g->impl->destroy) g->impl->destroy(g);
}

/* ------------------------------------------------------------------------------------------------ loopback */

typedef struct {
    int op; /* 1 all_to_all, 2 all_gather, 3 broadcast, 4 split */
    const float *src;
    float *dst;
    int64_t a, b, c, dir; /* the shape arguments (the same on every rank) */
    int color, key;       /* split: this rank's (they differ between ranks) */
    rad_group *made;      /* split: this rank's new sub-group, put here by its color's first rank */
} lb_slot;

/* What the exchanges of one family share. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool aborted;
    int refs; /* exchanges */
} lb_family;

/* One group's exchange. */
typedef struct {
    lb_family *fam;
    int size, refs; /* refs: the ranks' handles */
    int arrived;
    unsigned gen;
    lb_slot *slot; /* [size] */
} lb_shared;

/* Waits until every rank has arrived: true. false when the family was aborted before they all did; then every
 * rank of this barrier gets false (a rank arriving after the abort does not complete it), so the ranks never
 * disagree on whether a barrier was passed. */
static bool lb_barrier(lb_shared *x) {
    lb_family *f = x->fam;
    pthread_mutex_lock(&f->mu);
    bool ok = !f->aborted;
    if (ok) {
        const unsigned gen = x->gen;
        if (++x->arrived == x->size) {
            x->arrived = 0;
            x->gen++;
            pthread_cond_broadcast(&f->cv);
        } else {
            while (gen == x->gen && !f->aborted) pthread_cond_wait(&f->cv, &f->mu);
            ok = gen != x->gen;
        }
    }
    pthread_mutex_unlock(&f->mu);
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
    const lb_slot mine = {.op = 1, .src = src, .dst = dst, .a = n_tokens, .b = heads, .c = head_dim, .dir = dir};
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
    const lb_slot mine = {.op = 2, .src = src, .dst = dst, .a = n_rows, .b = row_elems};
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
    const lb_slot mine = {.op = 3, .src = buf, .dst = buf, .a = n, .b = root};
    RAD_TRY(lb_enter("loopback broadcast", g, &mine));
    lb_shared *x = g->state;
    if (g->rank != root && n) memcpy(buf, x->slot[root].src, (size_t)n * sizeof(float));
    if (!lb_barrier(x)) return lb_aborted("loopback broadcast", g);
    return RAD_OK;
}

#define RAD_LOOPBACK_MAX 4096 /* ranks of one loopback group (threads) */

static const rad_group_impl lb_impl;

/* A new exchange of `size` ranks in family f and its ranks' handles out[0 .. size-1]; NOMEM leaves nothing. */
static rad_status lb_exchange_new(lb_family *f, int size, rad_group **out) {
    lb_shared *x = calloc(1, sizeof *x);
    lb_slot *slot = calloc((size_t)size, sizeof *slot);
    int made = 0;
    if (x && slot)
        for (; made < size && (out[made] = calloc(1, sizeof **out)); made++) {}
    if (!x || !slot || made < size) {
        for (int r = 0; r < made; r++) free(out[r]), out[r] = NULL;
        free(x), free(slot);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory creating a loopback group of %d ranks", size);
    }
    *x = (lb_shared){.fam = f, .size = size, .refs = size, .slot = slot};
    for (int r = 0; r < size; r++) *out[r] = (rad_group){r, size, &lb_impl, x};
    pthread_mutex_lock(&f->mu);
    f->refs++;
    pthread_mutex_unlock(&f->mu);
    return RAD_OK;
}

/* Split, in three barriers: (1) every rank publishes its color and key; (2) the first rank of each color makes
 * that color's exchange and puts each member's handle in the member's slot (NULL for all when it ran out of
 * memory); (3) after every rank has checked every member's slot: all got a handle, or all fail and free theirs.
 * Between barriers each slot is written by one rank only. */
static rad_status lb_split(rad_group *g, int color, int key, rad_group **out) {
    static const char who[] = "loopback split";
    *out = NULL;
    lb_shared *x = g->state;
    const lb_slot mine = {.op = 4, .color = color, .key = key};
    RAD_TRY(lb_enter(who, g, &mine));
    const int n = g->size, me = g->rank;
    for (int r = 0; r < n; r++)
        if (x->slot[r].color < RAD_GROUP_NO_COLOR) {
            lb_barrier(x); /* every rank sees the same slots: all fail here */
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "%s (loopback rank %d of %d): rank %d passed color %d (a color is >= 0, or "
                           "RAD_GROUP_NO_COLOR for no sub-group)",
                           who, me, n, r, x->slot[r].color);
        }
    /* the first rank of a color makes the color's group: its members ranked by (key, rank in g) */
    bool first = color >= 0;
    for (int r = 0; r < me && first; r++) first = x->slot[r].color != color;
    rad_group **made = first ? calloc((size_t)n, sizeof *made) : NULL;
    int m = 0;
    if (first) {
        for (int r = 0; r < n; r++) m += x->slot[r].color == color;
        if (!made || lb_exchange_new(x->fam, m, made) != RAD_OK) m = 0; /* its members see NULL: all fail below */
        for (int r = 0; r < n; r++) {
            if (x->slot[r].color != color) continue;
            int pos = 0;
            for (int q = 0; q < n; q++) {
                const lb_slot *a = &x->slot[q], *b = &x->slot[r];
                pos += a->color == color && (a->key < b->key || (a->key == b->key && q < r));
            }
            x->slot[r].made = m ? made[pos] : NULL;
        }
    }
    if (!lb_barrier(x)) {
        /* nobody passed this barrier, so nobody took a handle: the maker frees them */
        for (int i = 0; i < m; i++) rad_group_free(made[i]);
        free(made);
        return lb_aborted(who, g);
    }
    free(made); /* the handles are in the members' slots */
    rad_group *got = x->slot[me].made;
    int missing = -1;
    for (int r = 0; r < n && missing < 0; r++)
        if (x->slot[r].color >= 0 && !x->slot[r].made) missing = r;
    const bool passed = lb_barrier(x);
    if (missing >= 0 || !passed) {
        rad_group_free(got);
        if (!passed) return lb_aborted(who, g);
        return rad_err(RADIAL_ERR_NOMEM, "%s (loopback rank %d of %d): out of memory making rank %d's sub-group", who,
                       me, n, missing);
    }
    *out = got;
    return RAD_OK;
}

static void lb_abort(rad_group *g) {
    lb_family *f = ((lb_shared *)g->state)->fam;
    pthread_mutex_lock(&f->mu);
    f->aborted = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void lb_destroy(rad_group *g) {
    lb_shared *x = g->state;
    lb_family *f = x->fam;
    pthread_mutex_lock(&f->mu);
    const bool last_rank = --x->refs == 0;
    const bool last_exchange = last_rank && --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (last_rank) free(x->slot), free(x);
    if (last_exchange) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
    }
    free(g);
}

static const rad_group_impl lb_impl = {"loopback", "cpu", lb_all_to_all, lb_all_gather, lb_broadcast, lb_split,
                                       lb_abort, lb_destroy};

rad_status rad_group_loopback_new(int size, rad_group **out) {
    if (size < 1 || size > RAD_LOOPBACK_MAX)
        return rad_err(RADIAL_ERR_INVALID_ARG, "loopback group: %d ranks (1 to %d)", size, RAD_LOOPBACK_MAX);
    for (int r = 0; r < size; r++) out[r] = NULL;
    lb_family *f = calloc(1, sizeof *f);
    if (!f) return rad_err(RADIAL_ERR_NOMEM, "out of memory creating a loopback group of %d ranks", size);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    const rad_status s = lb_exchange_new(f, size, out);
    if (s != RAD_OK) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        free(f);
    }
    return s;
}
