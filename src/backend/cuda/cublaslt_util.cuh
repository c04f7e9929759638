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

/* cuBLASLt's best algorithm for op over the layouts (D laid out as C) within ws_bytes of workspace, told the
 * operands' alignments (rk_align_of; D's is C's). *found is 0 when there is none. */
static inline cublasStatus_t rk_lt_heuristic(cublasLtHandle_t lt, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t la,
                                             cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc, uint64_t ws_bytes,
                                             int align_a, int align_b, int align_c,
                                             cublasLtMatmulHeuristicResult_t *res, int *found) {
    *found = 0;
    cublasLtMatmulPreference_t pref = NULL;
    cublasStatus_t e = cublasLtMatmulPreferenceCreate(&pref);
    if (e != CUBLAS_STATUS_SUCCESS) return e;
    const uint32_t aa = (uint32_t)align_a, ab = (uint32_t)align_b, ac = (uint32_t)align_c;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof aa);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab, sizeof ab);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof ac);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ac, sizeof ac);
    e = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, res, found);
    cublasLtMatmulPreferenceDestroy(pref);
    return e;
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
