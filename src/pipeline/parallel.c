/* Multi-rank generation plans and the host-side broadcast (parallel.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/parallel.h"

const char *const rad_parallel_names[] = {"auto", "cfg", "ulysses", "cfg+ulysses", NULL};

/* The Ulysses degrees a head count allows, "1, 2, 3, 4, 6, 12" (up to RAD_MAX_RANKS). */
static void valid_degrees(int heads, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int u = 1; u <= heads && u <= RAD_MAX_RANKS && k + 8 < size; u++)
        if (heads % u == 0) k += (size_t)snprintf(buf + k, size - k, "%s%d", k ? ", " : "", u);
}

/* The rank counts CFG x Ulysses allows: 2u for each degree u >= 2 that divides the heads, "4, 6, 8, 12, 24" for 12
 * (up to RAD_MAX_RANKS); "none" when the heads do not split. */
static void valid_cfg_ulysses(int heads, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int u = 2; u <= heads && 2 * u <= RAD_MAX_RANKS && k + 8 < size; u++)
        if (heads % u == 0) k += (size_t)snprintf(buf + k, size - k, "%s%d", k ? ", " : "", 2 * u);
    if (!k) snprintf(buf, size, "none (%d head%s)", heads, heads == 1 ? "" : "s");
}

/* The video tokens of g (after the 1x2x2 patch embedding); -1 when g's size is not valid (checked elsewhere). */
static int64_t video_tokens(const radial_gen_params *g) {
    if (g->frames < 1 || g->width < 16 || g->height < 16) return -1;
    const int frames = radial_output_frames(g->frames);
    return (int64_t)((frames - 1) / 4 + 1) * (g->height / 16) * (g->width / 16);
}

rad_status rad_parallel_resolve(int ranks, rad_parallel asked, int num_heads, bool two_experts,
                                const radial_gen_params *g, rad_parallel_plan *out) {
    memset(out, 0, sizeof *out);
    if (ranks < 1 || ranks > RAD_MAX_RANKS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%d ranks (--gpus): 1 to %d", ranks, RAD_MAX_RANKS);
    if (asked < RAD_PAR_AUTO || asked > RAD_PAR_NONE)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "unknown parallel mode %d (--parallel auto, cfg, ulysses or cfg+ulysses)", (int)asked);
    if (num_heads < 1) return rad_err(RADIAL_ERR_INVALID_ARG, "parallel plan: the DiT has %d heads", num_heads);
    out->ranks = ranks, out->degree = 1;
    if (ranks == 1) {
        out->mode = RAD_PAR_NONE;
        snprintf(out->what, sizeof out->what, "one rank");
        return RAD_OK;
    }
    if (g->cache != RADIAL_CACHE_NONE)
        return rad_err(RADIAL_ERR_UNSUPPORTED,
                       "step caching (--cache) is not supported across ranks (%d ranks, --gpus): run it on one GPU",
                       ranks);
    /* a step has two CFG branches when its guidance is not 1; two experts: the low-noise one has guidance_2 */
    const float g2 = isnan(g->guidance_2) ? g->guidance : g->guidance_2;
    const bool every = g->guidance != 1.0f && (!two_experts || g2 != 1.0f);
    const bool any = g->guidance != 1.0f || (two_experts && g2 != 1.0f);
    const int half = ranks / 2;
    const bool halves_fit = ranks % 2 == 0 && ranks >= 4 && num_heads % half == 0; /* CFG x Ulysses can run */
    char degrees[256], counts[256];
    valid_degrees(num_heads, degrees, sizeof degrees);
    valid_cfg_ulysses(num_heads, counts, sizeof counts);
    rad_parallel mode = asked;
    if (mode == RAD_PAR_AUTO || mode == RAD_PAR_NONE) {
        if (ranks == 2 && every) {
            mode = RAD_PAR_CFG;
            snprintf(out->why, sizeof out->why,
                     "--parallel auto: CFG-parallel (2 ranks, two CFG branches in every step)");
        } else if (every && halves_fit && (ranks == 4 || ranks == 8 || num_heads % ranks)) {
            mode = RAD_PAR_CFG_ULYSSES;
            snprintf(out->why, sizeof out->why,
                     "--parallel auto: CFG-parallel x Ulysses degree %d (%d ranks, two CFG branches in every step, %d "
                     "divides the %d heads%s)",
                     half, ranks, half, num_heads, num_heads % ranks ? "; Ulysses over all the ranks would not" : "");
        } else {
            mode = RAD_PAR_ULYSSES;
            snprintf(out->why, sizeof out->why, "--parallel auto: Ulysses degree %d (%s)", ranks,
                     !any     ? "guidance 1: one CFG branch"
                     : !every ? "some steps have one CFG branch"
                              : "the CFG branches do not split these ranks evenly with the heads");
        }
    }
    if ((mode == RAD_PAR_CFG || mode == RAD_PAR_CFG_ULYSSES) && !any)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "CFG-parallel (--parallel %s) splits the two CFG branches of a step, but guidance 1 leaves one "
                       "branch (no CFG): use --parallel ulysses (or auto)",
                       rad_parallel_names[mode]);
    if (mode == RAD_PAR_CFG) {
        if (ranks != 2)
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "CFG-parallel (--parallel cfg) runs one CFG branch per rank: 2 ranks, not %d (--gpus); "
                           "Ulysses (--parallel ulysses) runs the degrees that divide the DiT's %d heads: %s; "
                           "CFG-parallel x Ulysses (--parallel cfg+ulysses) runs --gpus %s",
                           ranks, num_heads, degrees, counts);
        out->mode = RAD_PAR_CFG;
        snprintf(out->what, sizeof out->what, "CFG-parallel, 2 ranks%s",
                 every ? "" : " (steps with guidance 1 run their one branch on both)");
        return RAD_OK;
    }
    const int degree = mode == RAD_PAR_CFG_ULYSSES ? half : ranks;
    if (mode == RAD_PAR_CFG_ULYSSES && !halves_fit)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "CFG-parallel x Ulysses (--parallel cfg+ulysses) runs each CFG branch on half of the ranks, "
                       "Ulysses of degree ranks/2 >= 2 dividing the DiT's %d attention heads: --gpus %s, not %d%s",
                       num_heads, counts, ranks,
                       ranks == 2 ? " (2 ranks: --parallel cfg)" : ranks % 2 ? " (an odd count)" : "");
    if (mode == RAD_PAR_ULYSSES && num_heads % ranks)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "Ulysses degree %d (--gpus %d) does not divide the DiT's %d attention heads; the degrees that "
                       "do: %s (head padding and ring attention are not implemented)%s",
                       ranks, ranks, num_heads, degrees,
                       ranks == 2 || !any ? ""
                       : halves_fit       ? "; or split the CFG branches over two halves: --parallel cfg+ulysses"
                                          : "; 2 ranks can also split the CFG branches (--parallel cfg)");
    const int64_t tokens = video_tokens(g);
    if (tokens >= 0 && tokens < degree)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "Ulysses degree %d needs at least one video token per rank; %dx%d with %d frames has %lld",
                       degree, g->width, g->height, radial_output_frames(g->frames), (long long)tokens);
    out->mode = mode, out->degree = degree;
    if (mode == RAD_PAR_CFG_ULYSSES)
        snprintf(out->what, sizeof out->what, "CFG-parallel 2 x Ulysses degree %d, %d ranks%s", degree, ranks,
                 every ? "" : " (steps with guidance 1 run their one branch on both halves)");
    else
        snprintf(out->what, sizeof out->what, "Ulysses degree %d", ranks);
    return RAD_OK;
}

rad_status rad_parallel_bcast_host(rad_backend *be, rad_group *g, int root, float *host, int64_t n, const char *what) {
    if (n < 0 || (size_t)n > SIZE_MAX / sizeof(float))
        return rad_err(RADIAL_ERR_INVALID_ARG, "broadcast of %s: bad length %lld", what, (long long)n);
    const size_t bytes = (size_t)n * sizeof(float);
    float *dev = NULL;
    rad_status s = n ? be->alloc(be, bytes, what, (void **)&dev) : RAD_OK;
    if (s == RAD_OK && g->rank == root && n) s = be->upload(be, dev, host, bytes);
    /* a rank that fails before the collective returns; its caller aborts the group, which frees the others */
    if (s == RAD_OK) s = be->broadcast(be, g, dev, n, root);
    if (s == RAD_OK && g->rank != root && n) s = be->download(be, host, dev, bytes);
    if (dev) be->free(be, dev);
    if (s != RAD_OK) return rad_err_prefix(s, "broadcast of %s from rank %d: ", what, root);
    return RAD_OK;
}
