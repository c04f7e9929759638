/* The Hopper (sm_90a) building blocks the warp-specialised attention kernels share (attn_v3_wgmma.cu: bf16;
 * attn_fp8_wgmma.cu: e4m3): mbarriers, TMA bulk-tensor copies, named barriers, wgmma shared-memory descriptors and
 * fences, and the driver's tensor-map encoder. The device functions exist in the sm_90a pass only
 * (RAD_SM90A_DEVICE); the other architectures of the fat binary compile the kernels as stubs. */
#ifndef RAD_SM90_UTIL_CUH
#define RAD_SM90_UTIL_CUH
#include <cuda.h>
#include <cudaTypedefs.h>

#include "backend/cuda/attn_internal.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RAD_SM90A_DEVICE 1
#endif

namespace rk_sm90 {
#ifdef RAD_SM90A_DEVICE
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Spins until the phase with this parity has completed (a fresh barrier counts parity 1 as complete). */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
    asm volatile(
        "{\n"
        ".reg .pred P1;\n"
        "LAB_WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
        "@P1 bra DONE;\n"
        "bra LAB_WAIT;\n"
        "DONE:\n"
        "}\n" ::"r"(bar),
        "r"(parity)
        : "memory");
}
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0, int c1) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::
            "r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}
__device__ __forceinline__ void named_sync(uint32_t id, uint32_t n) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void named_arrive(uint32_t id, uint32_t n) {
    asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

/* wgmma shared-memory matrix descriptor with the 128-byte swizzle: start address, leading and stride byte
 * offsets (all >> 4). K-major tiles (Q, K): 8-row groups 1024 B apart (SBO); LBO unused. MN-major V: LBO =
 * distance between the two 64-column halves along N (one TMA box), SBO = distance between 8-key groups. */
__device__ __forceinline__ uint64_t make_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) |
           ((uint64_t)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Pins accumulator registers at this point of the program (nothing moves a read of them above a wait). */
__device__ __forceinline__ void fence_regs(float *r) {
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+f"(r[i])::"memory");
}
#endif /* RAD_SM90A_DEVICE */

/* The driver's tensor-map encoder, fetched through the runtime (no -lcuda at link time); who names the caller in
 * the message. */
inline rad_status get_encoder(PFN_cuTensorMapEncodeTiled_v12000 *out, const char *who) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
    if (!fn) {
        void *p = nullptr;
        cudaDriverEntryPointQueryResult q;
        RAD_CUDA_TRY(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
        if (q != cudaDriverEntryPointSuccess || !p)
            return rad_err(RADIAL_ERR_BACKEND, "%s: the driver has no cuTensorMapEncodeTiled", who);
        fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
    }
    *out = fn;
    return RAD_OK;
}
} // namespace rk_sm90
#endif
