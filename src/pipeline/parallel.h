/* Multi-rank generation (issue 12): which parallelism a run of several ranks uses, checked before any work, and the
 * broadcast of what rank 0 alone computes. The pipeline (pipeline.c, rad_pipeline_set_parallel) runs the plan; the
 * CLI (radial generate --gpus N) checks it with the same function before it starts its ranks, so that a run that
 * cannot work fails at once with one message instead of in N processes.
 *
 * What runs where (docs/ARCHITECTURE.md "Multi-GPU"): rank 0 alone tokenises and encodes the prompts (umT5) and
 * draws the initial noise; both are broadcast to every rank (the other ranks never load the text encoder). Every
 * rank then holds the same contexts and latent, computes its share of every step (CFG: one branch; Ulysses: its
 * tokens and heads; CFG x Ulysses: its half's branch, its tokens and heads of it), and after the exchange every
 * rank holds the same velocity and steps the same latent. Rank 0 alone decodes the video (the VAE); the other
 * ranks return no video. */
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
    RAD_PAR_AUTO = 0,        /* see rad_parallel_resolve */
    RAD_PAR_CFG = 1,         /* 2 ranks: the conditional branch on rank 0, the unconditional one on rank 1 */
    RAD_PAR_ULYSSES = 2,     /* sequence parallelism of degree ranks in every DiT forward (rad_dit_forward_parallel) */
    RAD_PAR_CFG_ULYSSES = 3, /* 2u ranks: the conditional branch on ranks [0, u), the unconditional on [u, 2u), each
                                half Ulysses of degree u over its own sub-group; rank r and r + u exchange velocities */
    RAD_PAR_NONE = 4,        /* one rank: what every mode resolves to for 1 rank */
} rad_parallel;
/* The --parallel values "auto", "cfg", "ulysses", "cfg+ulysses" in rad_parallel order, NULL-terminated. */
extern const char *const rad_parallel_names[];

typedef struct rad_parallel_plan {
    rad_parallel mode; /* CFG, ULYSSES, CFG_ULYSSES or NONE (never AUTO) */
    int ranks;
    int degree;    /* the Ulysses degree of every DiT forward: ranks (ULYSSES), ranks / 2 (CFG_ULYSSES), else 1 */
    char what[128]; /* in words: "CFG-parallel, 2 ranks", "Ulysses degree 4", "CFG-parallel 2 x Ulysses degree 2, 4
                      ranks", "one rank" */
    char why[192]; /* --parallel auto: what it chose and why, in words; "" when the mode was asked */
} rad_parallel_plan;

/* The plan for generating g over `ranks` ranks asked as `asked`. num_heads: the DiT's attention heads (two experts:
 * the greatest common divisor of both counts); two_experts: a Wan 2.2 A14B folder (guidance_2 applies).
 * auto, with two CFG branches in every step (guidance != 1; two experts: both guidances): CFG for 2 ranks;
 * CFG x Ulysses of degree ranks/2 for 4 or 8 ranks when ranks/2 divides the heads (the all-to-alls then span half
 * the ranks, and the CFG exchange is one all-gather per step), or for another even count when the heads divide by
 * ranks/2 but not by ranks; otherwise (or with one branch in some step) Ulysses of degree ranks.
 * Refused, saying what would work: ranks outside [1, RAD_MAX_RANKS]; CFG with other than 2 ranks; CFG or CFG x
 * Ulysses with guidance 1 in every step (one branch: nothing to split); CFG x Ulysses over an odd count or fewer
 * than 4 ranks, or whose half does not divide the heads (the message lists the --gpus counts that work); Ulysses
 * of a degree that does not divide the heads (the message lists the degrees that do) or with fewer video tokens
 * than the degree; step caching with more than one rank. */
rad_status rad_parallel_resolve(int ranks, rad_parallel asked, int num_heads, bool two_experts,
                                const radial_gen_params *g, rad_parallel_plan *out);

/* host[n] as rank `root` holds it, into host[n] of every other rank of g (through backend memory and the backend's
 * broadcast op; `what` names the data in messages). Every rank calls it with the same n. */
rad_status rad_parallel_bcast_host(rad_backend *be, rad_group *g, int root, float *host, int64_t n, const char *what);
#endif
