/* The CUDA backend's device and stream (cuda_backend.cu), for the other CUDA files that queue work beside its ops
 * (the NCCL collectives, the GEMM timing): -1 / the legacy stream for a backend that is not CUDA. */
#ifndef RAD_CUDA_STREAM_CUH
#define RAD_CUDA_STREAM_CUH
#include <cuda_runtime.h>

extern "C" {
typedef struct rad_backend rad_backend; /* backend/backend.h */
}
extern "C" int rad_cuda_backend_device(rad_backend *be);
extern "C" cudaStream_t rad_cuda_backend_stream(rad_backend *be);
#endif
