/* Shared between the attention kernel files and their dispatch (attn_dispatch.cu): the launch arguments
 * and the error check that turns a CUDA error into a rad_err message naming the call, file and line. */
#ifndef RAD_ATTN_INTERNAL_CUH
#define RAD_ATTN_INTERNAL_CUH
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "base/status.h"
}

#define RAD_CUDA_TRY(call)                                                                                  \
    do {                                                                                                    \
        cudaError_t rad_e_ = (call);                                                                        \
        if (rad_e_ != cudaSuccess)                                                                          \
            return rad_err(RADIAL_ERR_BACKEND, "%s:%d: %s failed: %s", __FILE__, __LINE__, #call,            \
                           cudaGetErrorString(rad_e_));                                                     \
    } while (0)

/* One attention call. Pointers are device pointers; the layout arrays come from rad_cuda_bsr. */
struct rad_attn_args {
    const __nv_bfloat16 *q, *k, *v;
    __nv_bfloat16 *o;
    int64_t n_tokens; /* query rows */
    int64_t n_keys;   /* key/value rows (== n_tokens for self-attention); keys past it are excluded */
    int heads;
    float scale;
    const int32_t *row_ptr, *col_idx, *row_order; /* row_order NULL: block rows in natural order */
    int n_blocks;
    cudaStream_t stream;
};

/* The portable kernel (attn_fa2.cu, sm_80+) in configuration cfg (a rad_fa2_cfg of attn_fa2_plan.h). */
rad_status rad_attn_fa2_launch(const rad_attn_args *a, int cfg);
/* Its resources on the current device; an error naming the architecture when this build has no code for it. */
struct rad_fa2_info {
    int regs, local_bytes, smem_bytes, ctas_per_sm, binary_version;
};
rad_status rad_attn_fa2_info(int cfg, rad_fa2_info *info);

/* Whether the code this build holds for the current device contains the Hopper kernels (sm_90a): false on
 * other devices and in builds without 90a in RADIAL_CUDA_ARCHS (their v3 kernels are stubs that trap). */
bool rad_attn_v3_built(void);
/* pingpong: the two consumer warpgroups alternate their matrix-instruction issue (FA3's schedule);
 * stages: depth of the K/V shared-memory ring (2 or 3); early_rescale: O's rescale overlaps the S GEMM.
 * (Variants are exclusive: pingpong and stages 3 run without early_rescale.) */
rad_status rad_attn_v3_launch(const rad_attn_args *a, bool pingpong, int stages, bool early_rescale);

/* One fp8 attention call (attn_fp8_wgmma.cu; numerics: backend/fp8_attn_emul.h): the quantised tensors of one
 * scratch (rad_fp8_attn_layout), self-attention over n_tokens. */
struct rad_attn_fp8_args {
    const uint8_t *q8, *k8, *vt8; /* [n_tokens][heads * 128], the same, [heads * 128][n_pad] */
    const float *sq, *sk, *sv;    /* [heads][n_blocks], [heads][n_blocks], [heads][128] */
    __nv_bfloat16 *o;             /* [n_tokens][heads * 128] */
    int64_t n_tokens, n_pad;
    int heads;
    float scale;
    const int32_t *row_ptr, *col_idx, *row_order; /* row_order NULL: block rows in natural order */
    int n_blocks;
    cudaStream_t stream;
};
/* Whether the code this build holds for the current device contains the fp8 kernel (sm_90a). */
bool rad_attn_fp8_built(void);
/* stages: depth of the K/V ring, 2, 3 or 4. */
rad_status rad_attn_fp8_launch(const rad_attn_fp8_args *a, int stages);
/* The quantisation pre-pass (attn_fp8_quant.cu): bf16 q, k, v [n_tokens, heads * 128] into the scratch of the
 * layout (offsets and sizes of rad_fp8_attn_layout, passed as plain numbers so this header needs no C header). */
struct rad_attn_fp8_quant_args {
    const __nv_bfloat16 *q, *k, *v;
    int64_t n_tokens, n_blocks, n_pad;
    int heads;
    uint8_t *q8, *k8, *vt8;
    float *sq, *sk, *sv, *vinv, *kmean, *ksum, *vmax;
    cudaStream_t stream;
};
rad_status rad_attn_fp8_quant_launch(const rad_attn_fp8_quant_args *a);
#endif
