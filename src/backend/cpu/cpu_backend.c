/* The CPU backend: the numerical reference (fp32 everywhere). */
#include <stdio.h>
#include <stdlib.h>

#include "backend/cpu/cpu_ops.h"
#include "base/mem.h"
#include "base/threads.h"

static void cpu_destroy(rad_backend *be) {
    rad_mem_account_release(be->state);
    free(be);
}
static rad_status cpu_sync(rad_backend *be) {
    (void)be;
    return RAD_OK; /* every CPU op has finished when it returns */
}
static rad_status cpu_trim(rad_backend *be) {
    (void)be;
    return RAD_OK; /* the CPU backend keeps no buffers between ops */
}
/* Host memory is where CPU weights live anyway: a streamed weight is an ordinary one, and staging and parking are
 * no-ops. */
static rad_status cpu_weight_park(rad_backend *be, rad_weight *w, int park) {
    (void)be, (void)w, (void)park;
    return RAD_OK;
}
static rad_status cpu_stage(rad_backend *be, rad_weight *const *ws, int n) {
    (void)be, (void)ws;
    return n >= 0 ? RAD_OK : rad_err(RADIAL_ERR_INVALID_ARG, "cpu stage: %d weights", n);
}

/* The CPU is the fp32 reference: its GEMMs are fp32 in either mode name but fp8 (fp8_emul.h emulates that). */
static rad_status cpu_set_gemm(rad_backend *be, int mode) {
    (void)be;
    if (mode == RAD_GEMM_BF16) return RAD_OK;
    if (mode == RAD_GEMM_FP8)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "fp8 GEMMs (--gemm fp8) need the CUDA backend on a GPU with fp8 tensor "
                                               "cores (compute capability 8.9+); the CPU backend computes in fp32");
    return rad_err(RADIAL_ERR_INVALID_ARG, "cpu set_gemm: unknown GEMM mode %d", mode);
}

/* Likewise for attention: the CPU computes it in fp32; the fp8 kernel's numerics are emulated by fp8_attn_emul.h. */
static rad_status cpu_set_attention(rad_backend *be, int mode) {
    (void)be;
    if (mode == RAD_ATTN_BF16) return RAD_OK;
    if (mode == RAD_ATTN_FP8)
        return rad_err(RADIAL_ERR_UNSUPPORTED, "fp8 attention (--attention-precision fp8) needs the CUDA backend on a Hopper "
                                               "GPU (sm_90: H100, H200); the CPU backend computes attention in fp32");
    return rad_err(RADIAL_ERR_INVALID_ARG, "cpu set_attention: unknown attention precision %d", mode);
}

/* Ranges mark stages for tools that watch a device (NVTX on CUDA); on the CPU there is none, and a profile times
 * them itself (backend/profile.h, with the host clock: prof_mark stays NULL). */
static void cpu_range_push(rad_backend *be, const char *name) { (void)be, (void)name; }
static void cpu_range_pop(rad_backend *be) { (void)be; }

/* Collectives: the CPU backend runs loopback groups (ranks as threads sharing host memory). */
static rad_status cpu_all_to_all(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_tokens,
                                 int64_t heads, int64_t head_dim, int dir) {
    return rad_group_all_to_all("cpu", g, be, src, dst, n_tokens, heads, head_dim, dir);
}
static rad_status cpu_all_gather(rad_backend *be, rad_group *g, const float *src, float *dst, int64_t n_rows,
                                 int64_t row_elems) {
    return rad_group_all_gather("cpu", g, be, src, dst, n_rows, row_elems);
}

static rad_status cpu_broadcast(rad_backend *be, rad_group *g, float *buf, int64_t n, int root) {
    return rad_group_broadcast("cpu", g, be, buf, n, root);
}

rad_status rad_backend_cpu(rad_backend **out) {
    rad_backend *be = calloc(1, sizeof *be);
    rad_mem_account *mem = NULL;
    if (!be || rad_mem_account_new(&mem) != RAD_OK) {
        free(be);
        return rad_err(RADIAL_ERR_NOMEM, "out of memory creating the CPU backend");
    }
    *be = (rad_backend){
        .state = mem,
        .name = "cpu",
        .alloc = rad_cpu_alloc,
        .free = rad_cpu_free,
        .upload = rad_cpu_upload,
        .download = rad_cpu_download,
        .weight_new = rad_cpu_weight_new,
        .weight_free = rad_cpu_weight_free,
        .weight_new_host = rad_cpu_weight_new,
        .stage = cpu_stage,
        .weight_park = cpu_weight_park,
        .mem_stats = rad_cpu_mem_stats,
        .trim = cpu_trim,
        .sync = cpu_sync,
        .linear = rad_cpu_linear,
        .set_gemm = cpu_set_gemm,
        .ffn = rad_cpu_ffn,
        .layernorm = rad_cpu_layernorm,
        .rmsnorm = rad_cpu_rmsnorm,
        .gelu_tanh = rad_cpu_gelu_tanh,
        .silu = rad_cpu_silu,
        .mul_gelu = rad_cpu_mul_gelu,
        .modulate = rad_cpu_modulate,
        .add_gated = rad_cpu_add_gated,
        .rope3d = rad_cpu_rope3d,
        .add_norm_modulate = rad_cpu_add_norm_modulate,
        .rmsnorm_rope3d = rad_cpu_rmsnorm_rope3d,
        .attention = rad_cpu_attention,
        .set_attention = cpu_set_attention,
        .conv_dtype = RAD_DT_F32, /* the reference convolves in fp32 */
        .to_conv_dtype = rad_cpu_to_conv_dtype,
        .conv3d = rad_cpu_conv3d,
        .rmsnorm_channels = rad_cpu_rmsnorm_channels,
        .rmsnorm_silu_channels = rad_cpu_rmsnorm_silu_channels,
        .upsample2x = rad_cpu_upsample2x,
        .copy2d = rad_cpu_copy2d,
        .transpose = rad_cpu_transpose,
        .all_to_all = cpu_all_to_all,
        .all_gather = cpu_all_gather,
        .broadcast = cpu_broadcast,
        .range_push = cpu_range_push,
        .range_pop = cpu_range_pop,
        .destroy = cpu_destroy,
    };
    snprintf(be->info, sizeof be->info, "CPU, %d threads (fp32 reference)", rad_get_threads());
    *out = be;
    return RAD_OK;
}
