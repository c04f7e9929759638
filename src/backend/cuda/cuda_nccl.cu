/* NCCL groups (backend/group.h) for the CUDA backend: one rank per GPU, the collectives queued on the backend's
 * stream. Built only when CMake finds NCCL (RADIAL_NCCL, RAD_HAVE_NCCL); otherwise group_loopback.c's stubs refuse.
 *
 * - all_to_all (Ulysses): NCCL has no all-to-all primitive; it is one ncclGroupStart/End of ncclSend + ncclRecv
 *   per peer (the rank itself included). The strided side of the exchange goes through a scratch buffer (backend
 *   memory, counted by the backend) with cudaMemcpy2DAsync: TOKENS_TO_HEADS packs [n_me, heads, hd] into per-peer
 *   [n_me, hs, hd] pieces and receives straight into dst rows; HEADS_TO_TOKENS sends dst-contiguous row ranges
 *   and unpacks the received pieces into dst's head columns.
 * - all_gather: ncclAllGather when the rows divide evenly, else grouped send/recv of the uneven pieces
 *   (rad_split_range), received straight into place.
 * - broadcast: ncclBroadcast in place.
 * - split (sub-groups for CFG-parallel x Ulysses): ncclCommSplit, which NCCL has since 2.18; it is looked up on its
 *   own, so an older libnccl still runs the other modes and a split names the version it would need. A rank's
 *   communicators of one family (the group made by rad_group_nccl_new and those split from it) are aborted
 *   together (group.h).
 * libnccl is loaded at run time (dlopen of $RADIAL_NCCL_LIB, else libnccl.so.2, else libnccl.so) on the first
 * NCCL call, not linked: a build that has NCCL still runs on a machine without it (single GPU), and a missing
 * library is an error naming it when a group is made. nccl.h gives the types and prototypes at compile time.
 * Compile-checked only: no multi-GPU machine has run this file yet (docs/ARCHITECTURE.md, "Multi-GPU"). */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/cuda_stream.cuh"
#include "backend/group.h"
}


/* The NCCL entry points this file uses, from the library loaded at run time. */
typedef struct {
    ncclResult_t (*GetUniqueId)(ncclUniqueId *);
    ncclResult_t (*CommInitRank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*CommDestroy)(ncclComm_t);
    ncclResult_t (*CommAbort)(ncclComm_t);
    ncclResult_t (*Send)(const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*Recv)(void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*AllGather)(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*Broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t);
    ncclResult_t (*GroupStart)(void);
    ncclResult_t (*GroupEnd)(void);
    const char *(*GetErrorString)(ncclResult_t);
    ncclResult_t (*CommCount)(const ncclComm_t, int *);
    ncclResult_t (*CommUserRank)(const ncclComm_t, int *);
    ncclResult_t (*GetVersion)(int *);
    /* NCCL 2.18+, NULL in an older library; the config is NULL (inherit the parent's), so a void * suffices and
     * an nccl.h older than 2.14 (no ncclConfig_t) still compiles */
    ncclResult_t (*CommSplit)(ncclComm_t, int, int, ncclComm_t *, void *);
} nccl_api;
static nccl_api api;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static char api_error[512] = "not loaded"; /* empty once loaded (api_load runs once) */

template <typename F> static bool sym(void *h, const char *name, F *out) {
    *out = (F)dlsym(h, name);
    if (!*out) snprintf(api_error, sizeof api_error, "%s has no %s (NCCL older than 2.7?)", "libnccl", name);
    return *out != NULL;
}

static void api_load(void) {
    const char *env = getenv("RADIAL_NCCL_LIB");
    const char *names[3] = {env && *env ? env : NULL, "libnccl.so.2", "libnccl.so"};
    void *h = NULL;
    for (int i = 0; i < 3 && !h; i++)
        if (names[i]) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(api_error, sizeof api_error, "NCCL is not installed here: dlopen(%s) failed: %s",
                 env && *env ? env : "libnccl.so.2", dlerror());
        return;
    }
    if (sym(h, "ncclGetUniqueId", &api.GetUniqueId) && sym(h, "ncclCommInitRank", &api.CommInitRank) &&
        sym(h, "ncclCommDestroy", &api.CommDestroy) && sym(h, "ncclCommAbort", &api.CommAbort) &&
        sym(h, "ncclSend", &api.Send) && sym(h, "ncclRecv", &api.Recv) && sym(h, "ncclAllGather", &api.AllGather) &&
        sym(h, "ncclBroadcast", &api.Broadcast) && sym(h, "ncclGroupStart", &api.GroupStart) &&
        sym(h, "ncclGroupEnd", &api.GroupEnd) && sym(h, "ncclCommCount", &api.CommCount) &&
        sym(h, "ncclCommUserRank", &api.CommUserRank) && sym(h, "ncclGetVersion", &api.GetVersion) &&
        sym(h, "ncclGetErrorString", &api.GetErrorString))
        api_error[0] = 0;
    api.CommSplit = (ncclResult_t(*)(ncclComm_t, int, int, ncclComm_t *, void *))dlsym(h, "ncclCommSplit");
}

static rad_status api_ready(const char *who) {
    pthread_once(&api_once, api_load);
    return api_error[0] ? rad_err(RADIAL_ERR_UNSUPPORTED, "%s: %s (set RADIAL_NCCL_LIB to libnccl.so.2)", who, api_error)
                        : RAD_OK;
}

struct nccl_family;

typedef struct nccl_state {
    ncclComm_t comm; /* NULL once aborted */
    rad_backend *be;
    cudaStream_t st;
    float *scratch;
    size_t scratch_bytes;
    struct nccl_family *fam;
    struct nccl_state *next; /* the family's list */
} nccl_state;

/* This rank's communicators of one family, aborted together (group.h). */
typedef struct nccl_family {
    pthread_mutex_t mu;
    nccl_state *head;
} nccl_family;

static void family_add(nccl_family *f, nccl_state *x) {
    pthread_mutex_lock(&f->mu);
    x->fam = f, x->next = f->head, f->head = x;
    pthread_mutex_unlock(&f->mu);
}

/* Takes x out of its family; true when it was the last (the caller frees the family). */
static bool family_remove(nccl_state *x) {
    nccl_family *f = x->fam;
    pthread_mutex_lock(&f->mu);
    nccl_state **p = &f->head;
    while (*p && *p != x) p = &(*p)->next;
    if (*p) *p = x->next;
    const bool last = f->head == NULL;
    pthread_mutex_unlock(&f->mu);
    return last;
}

static rad_status check_live(const rad_group *g, const char *op) {
    if (!((const nccl_state *)g->state)->comm)
        return rad_err(RADIAL_ERR_BACKEND, "nccl %s (rank %d of %d): the group was aborted by a failing rank", op,
                       g->rank, g->size);
    return RAD_OK;
}

#define NCK(g, op, call)                                                                                          \
    do {                                                                                                           \
        ncclResult_t nck_r_ = (call);                                                                              \
        if (nck_r_ != ncclSuccess && nck_r_ != ncclInProgress)                                                     \
            return rad_err(RADIAL_ERR_BACKEND, "nccl %s (rank %d of %d): %s failed: %s", op, (g)->rank, (g)->size, \
                           #call, api.GetErrorString(nck_r_));                                                     \
    } while (0)
#define CCK(g, op, call)                                                                                          \
    do {                                                                                                           \
        cudaError_t cck_e_ = (call);                                                                               \
        if (cck_e_ != cudaSuccess)                                                                                 \
            return rad_err(RADIAL_ERR_BACKEND, "nccl %s (rank %d of %d): %s failed: %s", op, (g)->rank, (g)->size, \
                           #call, cudaGetErrorString(cck_e_));                                                     \
    } while (0)

static rad_status scratch_fit(rad_group *g, size_t bytes) {
    nccl_state *x = (nccl_state *)g->state;
    if (bytes <= x->scratch_bytes) return RAD_OK;
    if (x->scratch) x->be->free(x->be, x->scratch); /* the backend's free waits for the queued ops that use it */
    x->scratch = NULL, x->scratch_bytes = 0;
    RAD_TRY(x->be->alloc(x->be, bytes, "NCCL all_to_all scratch", (void **)&x->scratch));
    x->scratch_bytes = bytes;
    return RAD_OK;
}

static rad_status nccl_all_to_all(rad_group *g, rad_backend *be, const float *src, float *dst, int64_t n_tokens,
                                  int64_t heads, int64_t head_dim, rad_a2a_dir dir) {
    RAD_TRY(rad_group_check_a2a("nccl all_to_all", g, src, dst, n_tokens, heads, head_dim, dir));
    RAD_TRY(check_live(g, "all_to_all"));
    nccl_state *x = (nccl_state *)g->state;
    if (be != x->be)
        return rad_err(RADIAL_ERR_INVALID_ARG, "nccl all_to_all: the group was made for another CUDA backend");
    const int u = g->size, me = g->rank;
    const int64_t hs = heads / u, piece = hs * head_dim, row = heads * head_dim;
    const int64_t n_me = rad_split_count(n_tokens, u, me);
    const size_t fpiece = (size_t)piece * sizeof(float);
    RAD_TRY(scratch_fit(g, (size_t)u * (size_t)(n_me * piece) * sizeof(float)));
    float *sc = x->scratch;
    if (dir == RAD_A2A_TOKENS_TO_HEADS) {
        if (n_me)
            for (int p = 0; p < u; p++) /* peer p's heads of my tokens, packed */
                CCK(g, "all_to_all", cudaMemcpy2DAsync(sc + (size_t)p * n_me * piece, fpiece, src + p * piece,
                                                       (size_t)row * sizeof(float), fpiece, (size_t)n_me,
                                                       cudaMemcpyDeviceToDevice, x->st));
        NCK(g, "all_to_all", api.GroupStart());
        for (int p = 0; p < u; p++) {
            const int64_t np = rad_split_count(n_tokens, u, p), tp = rad_split_start(n_tokens, u, p);
            NCK(g, "all_to_all", api.Send(sc + (size_t)p * n_me * piece, (size_t)(n_me * piece), ncclFloat, p, x->comm, x->st));
            NCK(g, "all_to_all", api.Recv(dst + tp * piece, (size_t)(np * piece), ncclFloat, p, x->comm, x->st));
        }
        NCK(g, "all_to_all", api.GroupEnd());
    } else {
        NCK(g, "all_to_all", api.GroupStart());
        for (int p = 0; p < u; p++) {
            const int64_t np = rad_split_count(n_tokens, u, p), tp = rad_split_start(n_tokens, u, p);
            NCK(g, "all_to_all", api.Send(src + tp * piece, (size_t)(np * piece), ncclFloat, p, x->comm, x->st));
            NCK(g, "all_to_all", api.Recv(sc + (size_t)p * n_me * piece, (size_t)(n_me * piece), ncclFloat, p, x->comm, x->st));
        }
        NCK(g, "all_to_all", api.GroupEnd());
        if (n_me)
            for (int p = 0; p < u; p++) /* peer p's heads of my tokens into their columns */
                CCK(g, "all_to_all", cudaMemcpy2DAsync(dst + p * piece, (size_t)row * sizeof(float),
                                                       sc + (size_t)p * n_me * piece, fpiece, fpiece, (size_t)n_me,
                                                       cudaMemcpyDeviceToDevice, x->st));
    }
    return RAD_OK;
}

static rad_status nccl_all_gather(rad_group *g, rad_backend *be, const float *src, float *dst, int64_t n_rows,
                                  int64_t row_elems) {
    RAD_TRY(rad_group_check_gather("nccl all_gather", g, src, dst, n_rows, row_elems));
    RAD_TRY(check_live(g, "all_gather"));
    nccl_state *x = (nccl_state *)g->state;
    if (be != x->be)
        return rad_err(RADIAL_ERR_INVALID_ARG, "nccl all_gather: the group was made for another CUDA backend");
    const int u = g->size, me = g->rank;
    if (!n_rows || !row_elems) return RAD_OK;
    if (n_rows % u == 0) {
        NCK(g, "all_gather", api.AllGather(src, dst, (size_t)(n_rows / u * row_elems), ncclFloat, x->comm, x->st));
        return RAD_OK;
    }
    const int64_t n_me = rad_split_count(n_rows, u, me);
    NCK(g, "all_gather", api.GroupStart());
    for (int p = 0; p < u; p++) {
        const int64_t np = rad_split_count(n_rows, u, p), rp = rad_split_start(n_rows, u, p);
        if (n_me) NCK(g, "all_gather", api.Send(src, (size_t)(n_me * row_elems), ncclFloat, p, x->comm, x->st));
        if (np) NCK(g, "all_gather", api.Recv(dst + rp * row_elems, (size_t)(np * row_elems), ncclFloat, p, x->comm, x->st));
    }
    NCK(g, "all_gather", api.GroupEnd());
    return RAD_OK;
}

static rad_status nccl_broadcast(rad_group *g, rad_backend *be, float *buf, int64_t n, int root) {
    RAD_TRY(rad_group_check_bcast("nccl broadcast", g, buf, n, root));
    RAD_TRY(check_live(g, "broadcast"));
    nccl_state *x = (nccl_state *)g->state;
    if (be != x->be)
        return rad_err(RADIAL_ERR_INVALID_ARG, "nccl broadcast: the group was made for another CUDA backend");
    if (!n) return RAD_OK;
    NCK(g, "broadcast", api.Broadcast(buf, buf, (size_t)n, ncclFloat, root, x->comm, x->st));
    return RAD_OK;
}

#ifdef NCCL_SPLIT_NOCOLOR
static_assert(NCCL_SPLIT_NOCOLOR == RAD_GROUP_NO_COLOR, "radial's no-color is NCCL's: the color goes through as is");
#endif

/* ncclCommSplit; the new communicator inherits the parent's device, stream (the backend's) and configuration. */
static rad_status nccl_split(rad_group *g, int color, int key, rad_group **out) {
    *out = NULL;
    nccl_state *x = (nccl_state *)g->state;
    RAD_TRY(check_live(g, "split"));
    if (color < RAD_GROUP_NO_COLOR)
        return rad_err(RADIAL_ERR_INVALID_ARG, "nccl split (rank %d of %d): color %d (>= 0, or RAD_GROUP_NO_COLOR)",
                       g->rank, g->size, color);
    if (!api.CommSplit) return rad_group_nccl_check_split();
    nccl_state *y = (nccl_state *)calloc(1, sizeof *y);
    rad_group *sub = (rad_group *)calloc(1, sizeof *sub);
    if (!y || !sub) {
        free(y), free(sub);
        return rad_err(RADIAL_ERR_NOMEM, "nccl split (rank %d of %d): out of memory", g->rank, g->size);
    }
    const int dev = rad_cuda_backend_device(x->be);
    cudaError_t e = cudaSetDevice(dev);
    ncclComm_t nc = NULL;
    ncclResult_t r = e == cudaSuccess ? api.CommSplit(x->comm, color, key, &nc, NULL)
                                      : ncclSuccess;
    int n = 0, rank = 0;
    if (e == cudaSuccess && r == ncclSuccess && nc) r = api.CommCount(nc, &n);
    if (e == cudaSuccess && r == ncclSuccess && nc) r = api.CommUserRank(nc, &rank);
    if (e != cudaSuccess || r != ncclSuccess || !nc) {
        if (nc) api.CommDestroy(nc);
        free(y), free(sub);
        if (e != cudaSuccess || r != ncclSuccess)
            return rad_err(RADIAL_ERR_BACKEND, "nccl split (rank %d of %d, color %d) on CUDA device %d: %s", g->rank,
                           g->size, color, dev, e != cudaSuccess ? cudaGetErrorString(e) : api.GetErrorString(r));
        return RAD_OK; /* RAD_GROUP_NO_COLOR: no sub-group */
    }
    y->comm = nc, y->be = x->be, y->st = x->st;
    sub->rank = rank, sub->size = n, sub->impl = g->impl, sub->state = y; /* g's impl: the NCCL one */
    family_add(x->fam, y);
    *out = sub;
    return RAD_OK;
}

extern "C" rad_status rad_group_nccl_check_split(void) {
    RAD_TRY(api_ready("nccl split"));
    if (api.CommSplit) return RAD_OK;
    int v = 0;
    api.GetVersion(&v);
    return rad_err(RADIAL_ERR_UNSUPPORTED,
                   "nccl split: the NCCL library loaded (version code %d) has no ncclCommSplit; sub-groups (--parallel "
                   "cfg+ulysses) need NCCL 2.18 or newer (RADIAL_NCCL_LIB names the libnccl to load); --parallel cfg "
                   "or ulysses run without it",
                   v);
}

static void nccl_abort(rad_group *g) {
    nccl_family *f = ((nccl_state *)g->state)->fam;
    pthread_mutex_lock(&f->mu);
    for (nccl_state *x = f->head; x; x = x->next) {
        if (x->comm) api.CommAbort(x->comm);
        x->comm = NULL;
    }
    pthread_mutex_unlock(&f->mu);
}

static void nccl_destroy(rad_group *g) {
    nccl_state *x = (nccl_state *)g->state;
    if (x->comm) api.CommDestroy(x->comm);
    if (x->scratch) x->be->free(x->be, x->scratch);
    if (family_remove(x)) {
        pthread_mutex_destroy(&x->fam->mu);
        free(x->fam);
    }
    free(x);
    free(g);
}

static const rad_group_impl nccl_impl = {"nccl", "cuda", nccl_all_to_all, nccl_all_gather, nccl_broadcast, nccl_split,
                                         nccl_abort, nccl_destroy};

extern "C" rad_status rad_group_nccl_id(unsigned char id[RAD_NCCL_ID_BYTES]) {
    static_assert(sizeof(ncclUniqueId) == RAD_NCCL_ID_BYTES, "NCCL unique id size");
    RAD_TRY(api_ready("nccl unique id"));
    ncclUniqueId u;
    ncclResult_t r = api.GetUniqueId(&u);
    if (r != ncclSuccess) return rad_err(RADIAL_ERR_BACKEND, "nccl: ncclGetUniqueId failed: %s", api.GetErrorString(r));
    memcpy(id, &u, sizeof u);
    return RAD_OK;
}

extern "C" rad_status rad_group_nccl_new(rad_backend *be, int rank, int size, const unsigned char id[RAD_NCCL_ID_BYTES],
                                         rad_group **out) {
    *out = NULL;
    const int dev = rad_cuda_backend_device(be);
    if (dev < 0) return rad_err(RADIAL_ERR_INVALID_ARG, "nccl group: the backend is not the CUDA backend");
    if (size < 1 || rank < 0 || rank >= size)
        return rad_err(RADIAL_ERR_INVALID_ARG, "nccl group: rank %d of %d", rank, size);
    RAD_TRY(api_ready("nccl group"));
    nccl_state *x = (nccl_state *)calloc(1, sizeof *x);
    rad_group *g = (rad_group *)calloc(1, sizeof *g);
    nccl_family *f = (nccl_family *)calloc(1, sizeof *f);
    if (!x || !g || !f) {
        free(x), free(g), free(f);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory creating an NCCL group");
    }
    x->be = be, x->st = rad_cuda_backend_stream(be);
    g->rank = rank, g->size = size, g->impl = &nccl_impl, g->state = x;
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    cudaError_t e = cudaSetDevice(dev);
    ncclResult_t r = e == cudaSuccess ? api.CommInitRank(&x->comm, size, u, rank) : ncclSuccess;
    if (e != cudaSuccess || r != ncclSuccess) {
        free(x), free(g), free(f);
        return rad_err(RADIAL_ERR_BACKEND, "nccl group: rank %d of %d on CUDA device %d: %s", rank, size, dev,
                       e != cudaSuccess ? cudaGetErrorString(e) : api.GetErrorString(r));
    }
    pthread_mutex_init(&f->mu, NULL);
    family_add(f, x);
    *out = g;
    return RAD_OK;
}
