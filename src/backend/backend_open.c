/* Choosing a backend by its radial_backend value (backend.h rad_backend_open): AUTO takes the GPU when this build
 * has CUDA and the machine has a GPU, so a user never waits hours on the CPU by default. */
#include "backend/backend.h"
#include "base/log.h"

rad_status rad_backend_open(int kind, int device, rad_backend **out) {
    *out = NULL;
    switch (kind) {
    case 0: return rad_backend_cpu(out);
    case 1: return rad_backend_cuda(device, out);
    case 2: {
#ifdef RAD_HAVE_CUDA
        if (rad_backend_cuda(device, out) == RAD_OK) return RAD_OK;
        RAD_WARN("no usable GPU (%s); running on the CPU, which is far slower for real models", rad_last_error());
#endif
        return rad_backend_cpu(out);
    }
    default: return rad_err(RADIAL_ERR_INVALID_ARG, "unknown backend %d (0 cpu, 1 cuda, 2 auto)", kind);
    }
}
