/* Multi-rank collectives and the Ulysses DiT forward on the CPU (issue 12): loopback ranks are threads of this
 * process.
 * 1. all_to_all (both directions) and all_gather against a direct index computation, for several (N, heads, u)
 *    including N % u != 0, and the round trip; argument and group refusals.
 *    broadcast: root 1 of 3 ranks into the others, an empty one, ranks that disagree on the length, a bad root.
 *    split (sub-groups): 6 ranks into halves and pairs (ranked by key, ties by rank), their collectives at the
 *    same time, a rank of no color, a bad color on one rank failing all, and an abort in one sub-group that
 *    releases ranks waiting in a sibling and in the parent.
 * 2. A random tiny DiT (12 heads, head_dim 6) over 45 tokens: the Ulysses forward with u = 2, 3, 4 and 6
 *    loopback ranks equals the single-rank forward bit for bit (the same operations per element in the same
 *    order: rows are independent in every op but attention, whose rows and heads are independent too, and the
 *    exchange only copies), dense and with a block mask (partial last block), on every rank; u = 5 is refused. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "attn/bsr.h"
#include "backend/backend.h"
#include "backend/group.h"
#include "dit/dit.h"
#include "test_util.h"

/* ---------------------------------------------------------------------------------------- collectives */

typedef struct {
    rad_backend *be;
    rad_group *g;
    int64_t n, heads, hd;
    float *tok_in;   /* rank's token rows [n_r, heads, hd] */
    float *head_out; /* [n, heads/u, hd] */
    float *tok_back; /* [n_r, heads, hd] */
    float *gath;     /* [n, heads*hd] gathered from tok_in */
    rad_status s;
} coll_job;

static float value_of(int64_t t, int64_t h, int64_t e) { return (float)(t * 1000 + h * 10 + e) + 0.5f; }

static void *coll_rank(void *arg) {
    coll_job *j = arg;
    rad_backend *be = j->be;
    j->s = be->all_to_all(be, j->g, j->tok_in, j->head_out, j->n, j->heads, j->hd, RAD_A2A_TOKENS_TO_HEADS);
    if (j->s == RAD_OK)
        j->s = be->all_to_all(be, j->g, j->head_out, j->tok_back, j->n, j->heads, j->hd, RAD_A2A_HEADS_TO_TOKENS);
    if (j->s == RAD_OK) j->s = be->all_gather(be, j->g, j->tok_in, j->gath, j->n, j->heads * j->hd);
    return NULL;
}

static void check_collectives(rad_backend *be, int64_t n, int64_t heads, int64_t hd, int u) {
    rad_group *g[8];
    coll_job job[8];
    pthread_t tid[8];
    CHECK_OK(rad_group_loopback_new(u, g));
    const int64_t hs = heads / u, row = heads * hd;
    for (int r = 0; r < u; r++) {
        const int64_t t0 = rad_split_start(n, u, r), nr = rad_split_count(n, u, r);
        job[r] = (coll_job){be, g[r], n, heads, hd, malloc((size_t)(nr * row + 1) * sizeof(float)),
                            malloc((size_t)(n * hs * hd + 1) * sizeof(float)),
                            malloc((size_t)(nr * row + 1) * sizeof(float)), malloc((size_t)(n * row + 1) * sizeof(float)),
                            RAD_OK};
        for (int64_t t = 0; t < nr; t++)
            for (int64_t h = 0; h < heads; h++)
                for (int64_t e = 0; e < hd; e++) job[r].tok_in[(t * heads + h) * hd + e] = value_of(t0 + t, h, e);
    }
    for (int r = 0; r < u; r++) pthread_create(&tid[r], NULL, coll_rank, &job[r]);
    for (int r = 0; r < u; r++) pthread_join(tid[r], NULL);
    int bad = 0;
    int64_t covered = 0;
    for (int r = 0; r < u; r++) {
        CHECK_OK(job[r].s);
        const int64_t t0 = rad_split_start(n, u, r), nr = rad_split_count(n, u, r);
        CHECK(t0 == covered && (nr == n / u || nr == n / u + 1)); /* contiguous, balanced, uneven when it must */
        covered += nr;
        for (int64_t t = 0; t < n; t++) /* head split: rank r holds heads [r·hs, (r+1)·hs) of every token */
            for (int64_t h = 0; h < hs; h++)
                for (int64_t e = 0; e < hd; e++) bad += job[r].head_out[(t * hs + h) * hd + e] != value_of(t, r * hs + h, e);
        bad += memcmp(job[r].tok_back, job[r].tok_in, (size_t)(nr * row) * sizeof(float)) != 0;
        for (int64_t t = 0; t < n; t++)
            for (int64_t h = 0; h < heads; h++)
                for (int64_t e = 0; e < hd; e++) bad += job[r].gath[(t * heads + h) * hd + e] != value_of(t, h, e);
        free(job[r].tok_in), free(job[r].head_out), free(job[r].tok_back), free(job[r].gath);
    }
    CHECK(covered == n);
    if (bad) fprintf(stderr, "collectives N=%lld heads=%lld hd=%lld u=%d: %d wrong\n", (long long)n, (long long)heads,
                     (long long)hd, u, bad);
    CHECK(bad == 0);
    for (int r = 0; r < u; r++) rad_group_free(g[r]);
}

/* Ranks that disagree on the shape fail alike (none waits forever). */
typedef struct {
    rad_backend *be;
    rad_group *g;
    int64_t n;
    rad_status s;
} odd_job;
static void *odd_rank(void *arg) {
    odd_job *j = arg;
    float src[64] = {0}, dst[64];
    j->s = j->be->all_gather(j->be, j->g, src, dst, j->n, 2);
    return NULL;
}

static void check_refusals(rad_backend *be) {
    rad_group *g[2];
    CHECK_OK(rad_group_loopback_new(2, g));
    float a[16] = {0}, b[16];
    CHECK_FAILS(be->all_to_all(be, g[0], a, b, 4, 3, 2, RAD_A2A_TOKENS_TO_HEADS)); /* 3 heads over 2 ranks */
    CHECK_FAILS(be->all_to_all(be, g[0], a, a, 4, 2, 2, RAD_A2A_TOKENS_TO_HEADS)); /* in place */
    CHECK_FAILS(be->all_to_all(be, g[0], a, b, 4, 2, 2, 7));                       /* direction */
    CHECK_FAILS(be->all_gather(be, NULL, a, b, 4, 2));
    pthread_t t[2];
    odd_job j[2] = {{be, g[0], 4, RAD_OK}, {be, g[1], 6, RAD_OK}};
    for (int r = 0; r < 2; r++) pthread_create(&t[r], NULL, odd_rank, &j[r]);
    for (int r = 0; r < 2; r++) pthread_join(t[r], NULL);
    CHECK(j[0].s != RAD_OK && j[1].s != RAD_OK);
    /* an aborted group releases the rank that waits in it */
    rad_group_abort(g[1]);
    CHECK_FAILS(be->all_gather(be, g[0], a, b, 4, 2));
    rad_group_free(g[0]), rad_group_free(g[1]);
    CHECK_FAILS(rad_group_loopback_new(0, g));
    rad_group *ng = NULL;
    unsigned char id[RAD_NCCL_ID_BYTES] = {0};
#ifndef RAD_HAVE_NCCL
    CHECK_FAILS(rad_group_nccl_new(be, 0, 1, id, &ng)); /* no NCCL in this build */
#else
    CHECK_FAILS(rad_group_nccl_new(be, 0, 1, id, &ng)); /* not a CUDA backend */
#endif
    CHECK(ng == NULL);
}

/* broadcast: every rank calls with its own buffer; afterwards each holds the root's. */
typedef struct {
    rad_backend *be;
    rad_group *g;
    int64_t n;
    int root;
    float buf[16];
    rad_status s;
} bcast_job;
static void *bcast_rank(void *arg) {
    bcast_job *j = arg;
    j->s = j->be->broadcast(j->be, j->g, j->buf, j->n, j->root);
    return NULL;
}

static void run_bcast(rad_backend *be, rad_group **g, const int64_t *n, int root, bcast_job *j) {
    pthread_t t[3];
    for (int r = 0; r < 3; r++) {
        j[r] = (bcast_job){be, g[r], n[r], root, {0}, RAD_OK};
        for (int i = 0; i < 16; i++) j[r].buf[i] = (float)(r * 100 + i);
        pthread_create(&t[r], NULL, bcast_rank, &j[r]);
    }
    for (int r = 0; r < 3; r++) pthread_join(t[r], NULL);
}

static void check_broadcast(rad_backend *be) {
    rad_group *g[3];
    bcast_job j[3];
    CHECK_OK(rad_group_loopback_new(3, g));
    const int64_t ten[3] = {10, 10, 10}, none[3] = {0, 0, 0}, odd[3] = {10, 10, 9};
    run_bcast(be, g, ten, 1, j);
    int bad = 0;
    for (int r = 0; r < 3; r++) {
        CHECK_OK(j[r].s);
        for (int i = 0; i < 16; i++) bad += j[r].buf[i] != (float)(i < 10 ? 100 + i : r * 100 + i); /* only n */
    }
    CHECK(bad == 0);
    run_bcast(be, g, none, 2, j);
    for (int r = 0; r < 3; r++) {
        CHECK_OK(j[r].s);
        CHECK(j[r].buf[0] == (float)(r * 100));
    }
    run_bcast(be, g, odd, 0, j); /* rank 2 asks for 9: every rank fails alike */
    for (int r = 0; r < 3; r++) CHECK(j[r].s != RAD_OK);
    float a[4] = {0};
    CHECK_FAILS(be->broadcast(be, g[0], a, 4, 3)); /* root outside the group */
    CHECK_FAILS(be->broadcast(be, g[0], NULL, 4, 0));
    CHECK_FAILS(be->broadcast(be, NULL, a, 4, 0));
    for (int r = 0; r < 3; r++) rad_group_free(g[r]);
}

/* split: rank r of 6 passes colors[r] and keys[r] for the first split; then every sub-group all-gathers its ranks'
 * parent ranks, concurrently. */
typedef struct {
    rad_backend *be;
    rad_group *g, *sub;
    int color, key;
    float gathered[8];
    int role; /* abort test: 0 wait in the sub-group, 1 abort, 2 wait in the parent, 3 do nothing */
    rad_status s, s2;
    char err[512];
} split_job;

static void *split_rank(void *arg) {
    split_job *j = arg;
    j->s = rad_group_split(j->g, j->color, j->key, &j->sub);
    snprintf(j->err, sizeof j->err, "%s", j->s == RAD_OK ? "" : rad_last_error());
    if (j->s == RAD_OK && j->sub) {
        const float mine = (float)j->g->rank;
        const int n = j->sub->size;
        j->s2 = j->be->all_gather(j->be, j->sub, &mine, j->gathered, n, 1); /* row r: sub-rank r's parent rank */
    }
    return NULL;
}

static void *abort_rank(void *arg) {
    split_job *j = arg;
    float one = 1, all[8];
    if (j->role == 0) j->s2 = j->be->all_gather(j->be, j->sub, &one, all, j->sub->size, 1);
    if (j->role == 1) rad_group_abort(j->sub);
    if (j->role == 2) j->s2 = j->be->all_gather(j->be, j->g, &one, all, j->g->size, 1);
    snprintf(j->err, sizeof j->err, "%s", j->s2 == RAD_OK ? "" : rad_last_error());
    return NULL;
}

static void run_split(rad_backend *be, rad_group **g, int n, const int *colors, const int *keys, split_job *j,
                      void *(*fn)(void *)) {
    pthread_t t[8];
    for (int r = 0; r < n; r++) {
        if (fn == split_rank) j[r] = (split_job){.be = be, .g = g[r], .color = colors[r], .key = keys[r]};
        pthread_create(&t[r], NULL, fn, &j[r]);
    }
    for (int r = 0; r < n; r++) pthread_join(t[r], NULL);
}

static void check_split(rad_backend *be) {
    rad_group *g[6];
    split_job j[6], pj[6];
    CHECK_OK(rad_group_loopback_new(6, g));
    /* halves {0,1,2} and {3,4,5}, ranked by key = rank; pairs {r, r+3}, key = -rank: rank r+3 first */
    const int half[6] = {0, 0, 0, 1, 1, 1}, by_rank[6] = {0, 1, 2, 3, 4, 5}, pair[6] = {0, 1, 2, 0, 1, 2},
              reverse[6] = {0, -1, -2, -3, -4, -5};
    run_split(be, g, 6, half, by_rank, j, split_rank);
    run_split(be, g, 6, pair, reverse, pj, split_rank);
    for (int r = 0; r < 6; r++) {
        CHECK_OK(j[r].s);
        CHECK_OK(pj[r].s);
        if (!j[r].sub || !pj[r].sub) continue;
        CHECK(j[r].sub->size == 3 && j[r].sub->rank == r % 3);
        CHECK_OK(j[r].s2);
        for (int q = 0; q < 3; q++) CHECK(j[r].gathered[q] == (float)(r / 3 * 3 + q)); /* its half, in order */
        CHECK(pj[r].sub->size == 2 && pj[r].sub->rank == (r < 3 ? 1 : 0));
        CHECK_OK(pj[r].s2);
        CHECK(pj[r].gathered[0] == (float)(r % 3 + 3) && pj[r].gathered[1] == (float)(r % 3));
    }
    /* sub-groups outlive their parent's handles: the halves still all-gather with the parent and pairs freed */
    for (int r = 0; r < 6; r++) rad_group_free(pj[r].sub), rad_group_free(g[r]);
    for (int r = 0; r < 6; r++) j[r].role = 0, j[r].s2 = RADIAL_ERR_BACKEND;
    run_split(be, g, 6, NULL, NULL, j, abort_rank);
    for (int r = 0; r < 6; r++) {
        CHECK_OK(j[r].s2);
        rad_group_free(j[r].sub);
    }

    /* ties broken by the rank in the parent; rank 5 joins no sub-group */
    CHECK_OK(rad_group_loopback_new(6, g));
    const int one_color[6] = {0, 0, 0, 0, 0, RAD_GROUP_NO_COLOR}, same_key[6] = {7, 7, 7, 7, 7, 7};
    run_split(be, g, 6, one_color, same_key, j, split_rank);
    for (int r = 0; r < 6; r++) {
        CHECK_OK(j[r].s);
        CHECK(r == 5 ? j[r].sub == NULL : j[r].sub && j[r].sub->size == 5 && j[r].sub->rank == r);
        if (r < 5) CHECK_OK(j[r].s2);
        for (int q = 0; r < 5 && q < 5; q++) CHECK(j[r].gathered[q] == (float)q);
        rad_group_free(j[r].sub);
    }
    /* a bad color on rank 2 fails every rank, naming rank 2 */
    const int bad[6] = {0, 0, -2, 1, 1, 1};
    run_split(be, g, 6, bad, by_rank, j, split_rank);
    for (int r = 0; r < 6; r++) {
        CHECK(j[r].s != RAD_OK && j[r].sub == NULL);
        CHECK(strstr(j[r].err, "rank 2 passed color -2") != NULL);
    }
    /* an abort in sub-group {3,4,5} (rank 3) releases ranks 0 and 1, waiting in {0,1,2} for rank 2 (which never
     * comes), and rank 4 and 5, waiting in the parent */
    run_split(be, g, 6, half, by_rank, j, split_rank);
    const int roles[6] = {0, 0, 3, 1, 2, 2};
    for (int r = 0; r < 6; r++) {
        CHECK_OK(j[r].s);
        j[r].role = roles[r], j[r].s2 = RAD_OK;
    }
    run_split(be, g, 6, NULL, NULL, j, abort_rank);
    for (int r = 0; r < 6; r++) {
        if (roles[r] == 0 || roles[r] == 2) CHECK(j[r].s2 != RAD_OK && strstr(j[r].err, "aborted") != NULL);
        rad_group_free(j[r].sub);
    }
    /* the whole family stays aborted: the parent too, and a split of it */
    float a = 0, b[6];
    CHECK_FAILS(be->all_gather(be, g[0], &a, b, 6, 1));
    rad_group *sub = NULL;
    CHECK_FAILS(rad_group_split(g[0], 0, 0, &sub));
    CHECK(sub == NULL);
    for (int r = 0; r < 6; r++) rad_group_free(g[r]);
    CHECK_FAILS(rad_group_split(NULL, 0, 0, &sub));
}

/* ---------------------------------------------------------------------------------------- DiT forward */

enum { T_ = 3, H_ = 6, W_ = 10, L_ = 5 };

typedef struct {
    rad_dit *d;
    rad_group *g;
    int u;
    const float *x, *ctx;
    const rad_dit_attn_policy *pol;
    float *v;
    rad_status s;
} dit_job;

static void *dit_rank(void *arg) {
    dit_job *j = arg;
    const rad_dit_parallel par = {j->g, j->u};
    j->s = rad_dit_forward_parallel(j->d, j->x, T_, H_, W_, 700.0f, j->ctx, L_, j->pol, &par, j->v);
    return NULL;
}

/* u ranks, each its own DiT (the same seeded weights) on the shared CPU backend; every rank's velocity must
 * equal `ref` bit for bit. */
static void check_ulysses(rad_backend *be, const rad_dit_config *c, int u, const float *x, const float *ctx,
                          const rad_dit_attn_policy *pol, const float *ref, size_t nv) {
    rad_group *g[8];
    dit_job job[8];
    pthread_t tid[8];
    CHECK_OK(rad_group_loopback_new(u, g));
    for (int r = 0; r < u; r++) {
        job[r] = (dit_job){NULL, g[r], u, x, ctx, pol, calloc(nv, sizeof(float)), RAD_OK};
        CHECK_OK(rad_dit_random(be, c, 77, -1, &job[r].d));
    }
    for (int r = 0; r < u; r++) pthread_create(&tid[r], NULL, dit_rank, &job[r]);
    for (int r = 0; r < u; r++) pthread_join(tid[r], NULL);
    for (int r = 0; r < u; r++) {
        CHECK_OK(job[r].s);
        const int same = memcmp(job[r].v, ref, nv * sizeof(float)) == 0;
        if (!same)
            fprintf(stderr, "Ulysses u=%d rank %d (%s): differs from one rank, rel err %g\n", u, r,
                    pol ? "mask" : "dense", rad_rel_err(job[r].v, ref, nv));
        CHECK(same);
        rad_dit_free(job[r].d);
        free(job[r].v);
        rad_group_free(g[r]);
    }
}

int main(void) {
    rad_backend *be;
    CHECK_OK(rad_backend_cpu(&be));
    if (!be) TEST_MAIN_END();

    static const int cases[][4] = {/* N, heads, head_dim, u */
                                   {10, 4, 3, 2}, {11, 4, 3, 2}, {7, 6, 2, 3}, {45, 12, 6, 4}, {45, 12, 6, 6},
                                   {3, 8, 1, 8},  {2, 8, 2, 4},  {5, 2, 4, 1}, {0, 4, 2, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_collectives(be, cases[i][0], cases[i][1], cases[i][2], cases[i][3]);
    check_refusals(be);
    check_broadcast(be);
    check_split(be);

    const rad_dit_config c = {.dim = 72, .ffn_dim = 96, .num_heads = 12, .head_dim = 6, .num_layers = 2,
                              .in_dim = 16, .out_dim = 16, .text_dim = 32, .text_len = 8, .freq_dim = 16,
                              .patch_t = 1, .patch_h = 2, .patch_w = 2, .eps = 1e-6f};
    const size_t nv = (size_t)16 * T_ * H_ * W_;
    const int64_t ntok = (int64_t)T_ * (H_ / 2) * (W_ / 2); /* 45 */
    float *x = malloc(nv * sizeof *x), *ctx = malloc((size_t)L_ * 32 * sizeof *ctx), *ref = malloc(nv * sizeof *ref),
          *refm = malloc(nv * sizeof *refm);
    uint64_t st = 99;
    for (size_t i = 0; i < nv; i++) x[i] = rad_test_uniform(&st);
    for (int i = 0; i < L_ * 32; i++) ctx[i] = rad_test_uniform(&st);

    /* a block mask over 45 tokens in blocks of 8 (6 blocks, the last one partial): diagonal, first block column,
     * a neighbour; the last layer only (dense_layers 1) */
    uint8_t mk[36] = {0};
    for (int i = 0; i < 6; i++) mk[i * 6 + i] = mk[i * 6] = 1, mk[i * 6 + (i + 1) % 6] = 1;
    rad_bsr m;
    CHECK_OK(rad_bsr_from_mask(mk, 6, ntok, 8, &m));
    const rad_dit_attn_policy pol = {&m, 1};

    rad_dit *d = NULL;
    CHECK_OK(rad_dit_random(be, &c, 77, -1, &d));
    if (!d) TEST_MAIN_END();
    CHECK_OK(rad_dit_forward(d, x, T_, H_, W_, 700.0f, ctx, L_, NULL, ref));
    CHECK_OK(rad_dit_forward(d, x, T_, H_, W_, 700.0f, ctx, L_, &pol, refm));
    CHECK(rad_rel_err(refm, ref, nv) > 1e-4); /* the mask matters, so the masked comparison can fail */
    /* degree 1 is the single-rank forward */
    float *v1 = malloc(nv * sizeof *v1);
    const rad_dit_parallel one = {NULL, 1};
    CHECK_OK(rad_dit_forward_parallel(d, x, T_, H_, W_, 700.0f, ctx, L_, NULL, &one, v1));
    CHECK(memcmp(v1, ref, nv * sizeof *v1) == 0);

    static const int degrees[] = {2, 3, 4, 6};
    for (size_t i = 0; i < sizeof degrees / sizeof degrees[0]; i++) {
        check_ulysses(be, &c, degrees[i], x, ctx, NULL, ref, nv);
        check_ulysses(be, &c, degrees[i], x, ctx, &pol, refm, nv);
    }

    /* refusals: 12 heads over 5 ranks; a group of another size than the degree; the step cache */
    rad_group *g5[5];
    CHECK_OK(rad_group_loopback_new(5, g5));
    const rad_dit_parallel p5 = {g5[0], 5}, p_wrong = {g5[0], 2};
    CHECK_FAILS(rad_dit_forward_parallel(d, x, T_, H_, W_, 700.0f, ctx, L_, NULL, &p5, v1));
    CHECK_FAILS(rad_dit_forward_parallel(d, x, T_, H_, W_, 700.0f, ctx, L_, NULL, &p_wrong, v1));
    for (int r = 0; r < 5; r++) rad_group_free(g5[r]);
    /* the single-rank forward after all that still gives the same bits */
    CHECK_OK(rad_dit_forward(d, x, T_, H_, W_, 700.0f, ctx, L_, NULL, v1));
    CHECK(memcmp(v1, ref, nv * sizeof *v1) == 0);

    rad_bsr_free(&m);
    rad_dit_free(d);
    free(x), free(ctx), free(ref), free(refm), free(v1);
    be->destroy(be);
    TEST_MAIN_END();
}
