/* Communication groups and the collectives of sequence (Ulysses) and CFG parallelism (issue 12).
 *
 * A group is `size` ranks that run the same model code in step, each on its own backend context; rank r holds
 * its part of every split tensor. Model code never talks to a group directly: it calls the backend ops
 * all_to_all and all_gather (backend.h), which check that the group suits the backend (its memory space) and
 * run the group's implementation:
 * - loopback (this file, group_loopback.c): the ranks are threads of one process on the CPU backend, sharing
 *   memory; a barrier and pointer exchange, pure copies, deterministic. It is what the CPU tests run.
 * - NCCL (backend/cuda/cuda_nccl.cu, built when CMake finds NCCL: RAD_HAVE_NCCL): one rank per GPU/process, the
 *   all-to-all as grouped ncclSend/ncclRecv, the all-gather as grouped send/recv of uneven pieces.
 *
 * Splits are uneven, never padded: a length n split over `size` ranks gives rank r the contiguous range
 * [rad_split_start(n, size, r), + rad_split_count(n, size, r)), the first n % size ranks one element more
 * (rad_split_range). Token splits, the all-to-all and the all-gather all use this rule.
 *
 * broadcast (the text encoder's output and the initial noise, computed on rank 0 only) copies the root rank's
 * buffer into every other rank's, in place.
 *
 * Every rank must call every collective of the group in the same order with the same shape arguments (the
 * loopback checks the shapes and fails on every rank alike when they differ). A rank that fails between
 * collectives must call rad_group_abort so that the others return an error instead of waiting for it.
 *
 * Sub-groups (rad_group_split, as MPI_Comm_split and ncclCommSplit): CFG-parallel x Ulysses runs each CFG branch
 * on one half of the ranks (a Ulysses sub-group) and exchanges the velocities between rank r of each half (a
 * 2-rank sub-group). A group made by rad_group_*_new and every group split from it, transitively, are one family:
 * rad_group_abort on any of them aborts the whole family, because a rank that fails anywhere ends the run and its
 * peers may be waiting in any of the family's groups (loopback: on every rank; NCCL: this rank's communicators,
 * the launcher stops the other processes). */
#ifndef RAD_GROUP_H
#define RAD_GROUP_H
#include <stdint.h>

#include "base/status.h"

typedef struct rad_group rad_group;
struct rad_backend;

/* Direction of the Ulysses all-to-all over [tokens, heads, head_dim] row-major activations (heads % size == 0,
 * hs = heads / size):
 * TOKENS_TO_HEADS: rank r's src is its token range [n_r, heads, head_dim] (rad_split_range(n_tokens)), its dst
 *   is every token for heads [r·hs, (r+1)·hs): [n_tokens, hs, head_dim].
 * HEADS_TO_TOKENS: the inverse (src [n_tokens, hs, head_dim], dst [n_r, heads, head_dim]). */
typedef enum rad_a2a_dir { RAD_A2A_TOKENS_TO_HEADS = 0, RAD_A2A_HEADS_TO_TOKENS = 1 } rad_a2a_dir;

/* The implementation of a group (one per kind); the backends' collective ops call these. */
typedef struct rad_group_impl {
    const char *kind;    /* "loopback", "nccl" */
    const char *backend; /* the backend name whose memory it moves ("cpu", "cuda") */
    rad_status (*all_to_all)(rad_group *g, struct rad_backend *be, const float *src, float *dst, int64_t n_tokens, int64_t heads,
                             int64_t head_dim, rad_a2a_dir dir);
    rad_status (*all_gather)(rad_group *g, struct rad_backend *be, const float *src, float *dst, int64_t n_rows, int64_t row_elems);
    rad_status (*broadcast)(rad_group *g, struct rad_backend *be, float *buf, int64_t n, int root);
    rad_status (*split)(rad_group *g, int color, int key, rad_group **out);
    void (*abort)(rad_group *g);
    void (*destroy)(rad_group *g);
} rad_group_impl;

struct rad_group {
    int rank, size;
    const rad_group_impl *impl;
    void *state; /* the implementation's (loopback: the shared exchange; NCCL: the communicator, scratch) */
};

static inline int64_t rad_split_start(int64_t n, int size, int r) {
    return (int64_t)r * (n / size) + (r < n % size ? r : n % size);
}
static inline int64_t rad_split_count(int64_t n, int size, int r) { return n / size + (r < n % size ? 1 : 0); }
static inline int64_t rad_split_max(int64_t n, int size) { return (n + size - 1) / size; }

/* Checks the arguments every implementation checks first (who names the op in the message). */
rad_status rad_group_check_a2a(const char *who, const rad_group *g, const float *src, const float *dst, int64_t n_tokens,
                               int64_t heads, int64_t head_dim, int dir);
rad_status rad_group_check_gather(const char *who, const rad_group *g, const float *src, const float *dst,
                                  int64_t n_rows, int64_t row_elems);
rad_status rad_group_check_bcast(const char *who, const rad_group *g, const float *buf, int64_t n, int root);

/* `size` loopback ranks of one process: out[r] is rank r's group (all share one exchange); free each with
 * rad_group_free (the exchange goes with the last). Rank r's collectives must be called from its own thread. */
rad_status rad_group_loopback_new(int size, rad_group **out);
/* Makes every rank's pending and future collectives of the group's family fail (a rank gave up). */
void rad_group_abort(rad_group *g);
/* Frees this rank's handle (sub-groups and their parent in any order). */
void rad_group_free(rad_group *g);

/* The color of a rank that joins no sub-group (its *out is NULL): NCCL_SPLIT_NOCOLOR, MPI_UNDEFINED. */
#define RAD_GROUP_NO_COLOR (-1)
/* Splits g, collectively (every rank of g calls it, each from its own thread or process): the ranks that pass the
 * same color >= 0 form one sub-group, ranked by key, ties by their rank in g. *out: this rank's sub-group, freed
 * with rad_group_free; NULL for RAD_GROUP_NO_COLOR. Loopback: every rank gets its sub-group or every rank fails
 * (a color below -1 on any rank fails all, naming that rank). NCCL: ncclCommSplit (NCCL 2.18 or newer; an older
 * libnccl is refused naming the version). */
rad_status rad_group_split(rad_group *g, int color, int key, rad_group **out);

/* The backend ops (backend.h all_to_all, all_gather, broadcast) of a backend whose groups are named `backend`: check that
 * the group's implementation moves that backend's memory, then run it. */
rad_status rad_group_all_to_all(const char *backend, rad_group *g, struct rad_backend *be, const float *src, float *dst,
                                int64_t n_tokens, int64_t heads, int64_t head_dim, int dir);
rad_status rad_group_all_gather(const char *backend, rad_group *g, struct rad_backend *be, const float *src, float *dst,
                                int64_t n_rows, int64_t row_elems);
rad_status rad_group_broadcast(const char *backend, rad_group *g, struct rad_backend *be, float *buf, int64_t n, int root);

/* NCCL (CUDA backend, RAD_HAVE_NCCL builds; RADIAL_ERR_UNSUPPORTED otherwise). rad_group_nccl_id: a new unique
 * id (128 bytes) on one rank, to hand to every rank (the launcher: a file, an environment variable, MPI);
 * rad_group_nccl_new: rank `rank` of `size` on the CUDA backend `be` (its device and stream), collective over the
 * ranks (ncclCommInitRank). */
#define RAD_NCCL_ID_BYTES 128
rad_status rad_group_nccl_id(unsigned char id[RAD_NCCL_ID_BYTES]);
rad_status rad_group_nccl_new(struct rad_backend *cuda_backend, int rank, int size, const unsigned char id[RAD_NCCL_ID_BYTES],
                              rad_group **out);
/* Whether the NCCL library here can split groups (ncclCommSplit, NCCL 2.18+): what --parallel cfg+ulysses checks
 * before any rank starts. */
rad_status rad_group_nccl_check_split(void);
#endif
