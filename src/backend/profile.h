/* Where the time of a run goes: a profile attached to a backend times every op by family and every
 * range_push/range_pop range (backend.h) as a stage, and prints the result as a table (per stage, per op family,
 * attention dense vs radial vs cross).
 *
 * How: attaching replaces the backend's op entries (in the table the models already hold) by timed ones that
 * call the originals, and detaching puts the originals back, so nothing is measured, and nothing costs, while no
 * profile is attached. Each timed op takes a timestamp before and after it; so does each range. On a backend
 * that queues ops (CUDA) the timestamps are its prof_mark events, resolved in batches (one wait for the device
 * every RAD_PROF_SLOTS timestamps), so the times are the device's; on the CPU, whose ops have finished when they
 * return, they are the host clock. A stage's time is from its push to its pop as the device sees it: its ops
 * plus whatever the device waited for meanwhile (the host's own work, launch gaps), which the table shows as
 * "other". Times are inclusive: a stage's family columns and total contain those of the stages inside it.
 *
 * A profile serves one backend at a time, from one thread (the one that runs the ops). */
#ifndef RAD_PROFILE_H
#define RAD_PROFILE_H
#include <stdint.h>

#include "base/status.h"

struct rad_backend;

/* The op families of the table (and of the CUDA backend's NVTX op ranges, which carry these names). */
typedef enum rad_op_family {
    RAD_OPF_GEMM,        /* linear, ffn */
    RAD_OPF_ATTN_DENSE,  /* self-attention (as many queries as keys) without a mask: T5, DiT dense, VAE */
    RAD_OPF_ATTN_RADIAL, /* self-attention over a block-sparse mask (Radial Attention) */
    RAD_OPF_ATTN_CROSS,  /* queries and keys of different lengths (the DiT's 512 text keys) */
    RAD_OPF_NORM,        /* layernorm, rmsnorm, add_norm_modulate, rmsnorm_channels */
    RAD_OPF_ROPE,        /* rope3d, rmsnorm_rope3d */
    RAD_OPF_ELEMENTWISE, /* gelu_tanh, silu, mul_gelu, modulate, add_gated, to_conv_dtype, upsample2x, transpose,
                            copy2d */
    RAD_OPF_CONV,        /* conv3d */
    RAD_OPF_TRANSFER,    /* upload, download, stage (streamed weights) */
    RAD_OPF_COLLECTIVE,  /* all_to_all, all_gather */
    RAD_OPF_N
} rad_op_family;

/* "gemm", "attention dense", "attention radial", "attention cross", "norm", "rope", "elementwise", "conv",
 * "transfer", "collective"; NULL for another value. */
const char *rad_op_family_name(int family);

/* The family of an attention call (backend.h attention): radial with a mask, cross when lq != lk, else dense. */
static inline rad_op_family rad_attention_family(int64_t lq, int64_t lk, const void *mask) {
    return mask ? RAD_OPF_ATTN_RADIAL : lq != lk ? RAD_OPF_ATTN_CROSS : RAD_OPF_ATTN_DENSE;
}

typedef struct rad_profile rad_profile;

/* One row of the table: a stage at one place in the nesting (the same name under another parent is another
 * row). Row 0 is "all", from attach to detach. */
typedef struct rad_profile_stage {
    const char *name;
    int depth;  /* 0 for "all", 1 for the stages directly in it, ... */
    int parent; /* row index; -1 for "all" */
    int64_t calls;
    double seconds;                /* push to pop, summed over the calls */
    double family_s[RAD_OPF_N];    /* the ops inside, by family (nested stages included) */
    int64_t family_ops[RAD_OPF_N]; /* how many */
} rad_profile_stage;

/* A profile with `slots` timestamps per batch (0: RAD_PROF_SLOTS, the most; fewer: more frequent waits, which
 * tests use to exercise the batching). */
rad_status rad_profile_new(int slots, rad_profile **out);
void rad_profile_free(rad_profile *p);

/* Starts a profile on be (which must not have one), from an empty table. */
rad_status rad_profile_attach(rad_profile *p, struct rad_backend *be);
/* Stops it: waits for the last timestamps, restores be's op entries. Fails, after restoring them, when a
 * timestamp failed or the ranges did not balance (a push without its pop, naming the innermost open range, or a
 * pop without a push): the stages still open are closed here so the table stays consistent. */
rad_status rad_profile_detach(rad_profile *p);

/* The table (valid after detach, until the next attach). */
int rad_profile_n_stages(const rad_profile *p);
const rad_profile_stage *rad_profile_stage_at(const rad_profile *p, int i);
/* The first row named `name` (any depth), or NULL. */
const rad_profile_stage *rad_profile_find(const rad_profile *p, const char *name);
/* range_push and range_pop calls seen while attached. */
void rad_profile_range_counts(const rad_profile *p, int64_t *pushes, int64_t *pops);
/* What the timestamps were: "CUDA events (device time)" or "host clock". */
const char *rad_profile_clock(const rad_profile *p);

/* The table as Markdown (per stage, then per op family), rad_alloc'ed into *text (rad_free it). */
rad_status rad_profile_table(const rad_profile *p, char **text);
/* The same as a JSON object (a jansson json_t *, returned as void * so this header needs no jansson): stages
 * with their per-family times, the families over the whole profile, the range counts and the clock. The caller
 * owns the reference. */
rad_status rad_profile_json(const rad_profile *p, void **json);
#endif
