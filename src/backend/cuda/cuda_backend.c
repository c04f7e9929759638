/* Placeholder for the CUDA ops table (rad_backend_cuda, backend.h). So far the CUDA side holds only the
 * attention kernels (cuda_attention.h); the rest of the table (GEMMs through cuBLASLt, norms, RoPE, conv)
 * is still to be written, so asking for the CUDA backend fails with a message instead of a link error. */
#include "backend/backend.h"

rad_status rad_backend_cuda(rad_backend **out) {
    *out = NULL;
#ifdef RAD_HAVE_CUDA
    return rad_err(RADIAL_ERR_UNSUPPORTED,
                   "CUDA backend: the ops table is not built yet (only the attention kernels exist, "
                   "src/backend/cuda/cuda_attention.h)");
#else
    return rad_err(RADIAL_ERR_UNSUPPORTED, "this build has no CUDA backend (configure with nvcc available)");
#endif
}
