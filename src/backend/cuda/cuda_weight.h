/* What the CUDA backend keeps for a weight (cuda_backend.cu), for tests and tools: how it is stored on the
 * device and the bf16 matrix its GEMMs read. Plain C; implemented behind extern "C". */
#ifndef RAD_CUDA_WEIGHT_H
#define RAD_CUDA_WEIGHT_H
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dtype w is kept in on the device (RAD_DT_BF16 for F32 / F16 / BF16 sources, else the stored one) and the
 * device bytes it holds (data and scales; not the conv3d repacked copy). be must be a CUDA backend. */
rad_status rad_cuda_weight_stored(rad_backend *be, const rad_weight *w, rad_dtype *dtype, size_t *bytes);

/* host[rows * cols] = the bf16 bit patterns of the [rows, cols] matrix linear and conv3d feed to their GEMMs for
 * w (a stored fp8 / block weight: its on-device dequantisation). Waits for it. */
rad_status rad_cuda_weight_bf16(rad_backend *be, const rad_weight *w, uint16_t *host);

#ifdef __cplusplus
}
#endif
#endif
