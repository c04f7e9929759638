/* Small cuBLASLt helpers the bf16 GEMMs (cuda_backend.cu) and the fp8 GEMMs (gemm_fp8.cu) share. */
#ifndef RAD_CUBLASLT_UTIL_CUH
#define RAD_CUBLASLT_UTIL_CUH
#include <cublasLt.h>
#include <stdint.h>

/* The largest power of two up to 256 that p is aligned to (cuBLASLt's heuristics take the operands' alignment). */
static inline int rk_align_of(const void *p) {
    const uintptr_t u = (uintptr_t)p;
    int a = 256;
    while (a > 1 && u % (uintptr_t)a) a /= 2;
    return a;
}

/* Destroys a GEMM plan's descriptor and its three matrix layouts (A, B, C). */
static inline void rk_lt_plan_destroy(cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb,
                                      cublasLtMatrixLayout_t lc) {
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
}
#endif
