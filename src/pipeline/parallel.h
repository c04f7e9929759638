/* Multi-rank generation (issue 12): which parallelism a run of several ranks uses, checked before any work, and the
 * broadcast of what rank 0 alone computes. The pipeline (pipeline.c, rad_pipeline_set_parallel) runs the plan; the
 * CLI (radial generate --gpus N) checks it with the same function before it starts its ranks, so that a run that
 * cannot work fails at once with one message instead of in N processes.
 *
 * What runs where (docs/ARCHITECTURE.md "Multi-GPU"): rank 0 alone tokenises and encodes the prompts (umT5) and
 * draws the initial noise; both are broadcast to every rank (the other ranks never load the text encoder). Every
 * rank then holds the same contexts and latent, computes its share of every step (CFG: one branch; Ulysses: its
 * tokens and heads), and after the exchange every rank holds the same velocity and steps the same latent. Rank 0
 * alone decodes the video (the VAE); the other ranks return no video. */
#ifndef RAD_PIPELINE_PARALLEL_H
#define RAD_PIPELINE_PARALLEL_H
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "backend/group.h"
#include "base/status.h"
#include "radial.h"

#define RAD_MAX_RANKS 64

typedef enum rad_parallel {
    RAD_PAR_AUTO = 0,    /* 2 ranks and two CFG branches in every step: CFG; otherwise Ulysses of degree ranks */
    RAD_PAR_CFG = 1,     /* 2 ranks: the conditional branch on rank 0, the unconditional one on rank 1 */
    RAD_PAR_ULYSSES = 2, /* sequence parallelism of degree ranks inside every DiT forward (rad_dit_forward_parallel) */
    RAD_PAR_NONE = 3,    /* one rank: what every mode resolves to for 1 rank */
} rad_parallel;
/* The --parallel values "auto", "cfg", "ulysses" in rad_parallel order, NULL-terminated. */
extern const char *const rad_parallel_names[];

typedef struct rad_parallel_plan {
    rad_parallel mode; /* CFG, ULYSSES or NONE (never AUTO) */
    int ranks;
    char what[96]; /* in words: "CFG-parallel, 2 ranks", "Ulysses degree 4", "one rank" */
} rad_parallel_plan;

/* The plan for generating g over `ranks` ranks asked as `asked`. num_heads: the DiT's attention heads (two experts:
 * the greatest common divisor of both counts); two_experts: a Wan 2.2 A14B folder (guidance_2 applies). Refused,
 * saying what would work: ranks outside [1, RAD_MAX_RANKS]; CFG with other than 2 ranks, or with guidance 1 in
 * every step (one branch: nothing to split); Ulysses of a degree that does not divide the heads (the message lists
 * the degrees that do) or with fewer video tokens than ranks; step caching with more than one rank. */
rad_status rad_parallel_resolve(int ranks, rad_parallel asked, int num_heads, bool two_experts,
                                const radial_gen_params *g, rad_parallel_plan *out);

/* host[n] as rank `root` holds it, into host[n] of every other rank of g (through backend memory and the backend's
 * broadcast op; `what` names the data in messages). Every rank calls it with the same n. */
rad_status rad_parallel_bcast_host(rad_backend *be, rad_group *g, int root, float *host, int64_t n, const char *what);
#endif
