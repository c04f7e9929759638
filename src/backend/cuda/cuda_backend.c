/* rad_backend_cuda and rad_backend_cuda_device_count for builds without CUDA (the real one is in cuda_backend.cu, built when nvcc is found). */
#include "backend/backend.h"

#ifndef RAD_HAVE_CUDA
rad_status rad_backend_cuda(int device, rad_backend **out) {
    (void)device;
    *out = NULL;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "this build has no CUDA backend (configure with nvcc available)");
}
rad_status rad_backend_cuda_device_count(int *n) {
    *n = 0;
    return rad_err(RADIAL_ERR_UNSUPPORTED, "this build has no CUDA backend (configure with nvcc available)");
}
#endif
