/* Multi-rank generation plans and the host-side broadcast (parallel.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/parallel.h"

const char *const rad_parallel_names[] = {"auto", "cfg", "ulysses", NULL};

/* The Ulysses degrees a head count allows, "1, 2, 3, 4, 6, 12" (up to RAD_MAX_RANKS). */
static void valid_degrees(int heads, char *buf, size_t size) {
    size_t k = 0;
    buf[0] = '\0';
    for (int u = 1; u <= heads && u <= RAD_MAX_RANKS && k + 8 < size; u++)
        if (heads % u == 0) k += (size_t)snprintf(buf + k, size - k, "%s%d", k ? ", " : "", u);
}

rad_status rad_parallel_resolve(int ranks, rad_parallel asked, int num_heads, bool two_experts,
                                const radial_gen_params *g, rad_parallel_plan *out) {
    memset(out, 0, sizeof *out);
    if (ranks < 1 || ranks > RAD_MAX_RANKS)
        return rad_err(RADIAL_ERR_INVALID_ARG, "%d ranks (--gpus): 1 to %d", ranks, RAD_MAX_RANKS);
    if (asked < RAD_PAR_AUTO || asked > RAD_PAR_NONE)
        return rad_err(RADIAL_ERR_INVALID_ARG, "unknown parallel mode %d (--parallel auto, cfg or ulysses)", (int)asked);
    if (num_heads < 1) return rad_err(RADIAL_ERR_INVALID_ARG, "parallel plan: the DiT has %d heads", num_heads);
    out->ranks = ranks;
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
    char degrees[256];
    valid_degrees(num_heads, degrees, sizeof degrees);
    rad_parallel mode = asked;
    if (mode == RAD_PAR_AUTO || mode == RAD_PAR_NONE) mode = ranks == 2 && every ? RAD_PAR_CFG : RAD_PAR_ULYSSES;
    if (mode == RAD_PAR_CFG) {
        if (ranks != 2)
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "CFG-parallel (--parallel cfg) runs one CFG branch per rank: 2 ranks, not %d (--gpus); "
                           "Ulysses (--parallel ulysses) runs the degrees that divide the DiT's %d heads: %s",
                           ranks, num_heads, degrees);
        if (!any)
            return rad_err(RADIAL_ERR_INVALID_ARG,
                           "CFG-parallel (--parallel cfg) splits the two CFG branches of a step, but guidance 1 "
                           "leaves one branch (no CFG): use --parallel ulysses (or auto)");
        out->mode = RAD_PAR_CFG;
        snprintf(out->what, sizeof out->what, "CFG-parallel, 2 ranks%s",
                 every ? "" : " (steps with guidance 1 run their one branch on both)");
        return RAD_OK;
    }
    if (num_heads % ranks)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "Ulysses degree %d (--gpus %d) does not divide the DiT's %d attention heads; the degrees that "
                       "do: %s (head padding and ring attention are not implemented)%s",
                       ranks, ranks, num_heads, degrees,
                       ranks == 2 ? "" : any ? "; 2 ranks can also split the CFG branches (--parallel cfg)" : "");
    const int frames = radial_output_frames(g->frames);
    const int64_t tokens = (int64_t)((frames - 1) / 4 + 1) * (g->height / 16) * (g->width / 16);
    if (g->frames >= 1 && g->width >= 16 && g->height >= 16 && tokens < ranks)
        return rad_err(RADIAL_ERR_INVALID_ARG,
                       "Ulysses degree %d needs at least one video token per rank; %dx%d with %d frames has %lld",
                       ranks, g->width, g->height, frames, (long long)tokens);
    out->mode = RAD_PAR_ULYSSES;
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
