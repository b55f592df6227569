// CUDA backend basics: error checks that name file, line and call; device-memory RAII; warp
// reductions and the few PTX wrappers the kernels share. Host-only translation units may include
// this file (the device helpers are compiled only under nvcc).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace nibble::cuda {

[[noreturn]] inline void fail_cuda(const char * what, const char * call, const char * file, int line) {
    std::fprintf(stderr, "CUDA error: %s\n  in %s\n  at %s:%d\n", what, call, file, line);
    std::abort();
}

// Programming errors and broken devices abort (calm's CUDA_CHECK); shape errors are returned by
// the launchers instead (see GemvError in gemv.h).
#define CUDA_CHECK(call)                                                                    \
    do {                                                                                    \
        const cudaError_t nibble_err_ = (call);                                             \
        if (nibble_err_ != cudaSuccess) {                                                   \
            ::nibble::cuda::fail_cuda(cudaGetErrorString(nibble_err_), #call, __FILE__, __LINE__); \
        }                                                                                   \
    } while (0)

#define CUBLAS_CHECK(call)                                                                  \
    do {                                                                                    \
        const cublasStatus_t nibble_st_ = (call);                                           \
        if (nibble_st_ != CUBLAS_STATUS_SUCCESS) {                                          \
            ::nibble::cuda::fail_cuda(cublasGetStatusString(nibble_st_), #call, __FILE__, __LINE__); \
        }                                                                                   \
    } while (0)

// Device memory: one unique_ptr with a deleter (ggml-cpp.h style), no hand-written classes.
struct CudaFree {
    void operator()(void * p) const noexcept { cudaFree(p); }
};
template <class T> using DeviceArray = std::unique_ptr<T[], CudaFree>;

template <class T> DeviceArray<T> device_alloc(size_t count) {
    void * p = nullptr;
    if (count > 0) {
        CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
    }
    return DeviceArray<T>(static_cast<T *>(p));
}

#ifdef __CUDACC__

inline constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(kFullMask, v, o);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
    }
    return v;
}

// Weights are read exactly once per token: keep them out of L1 so the activations that every warp
// re-reads stay there (Marlin's evict-first reasoning; the .nc path needs read-only data).
__device__ __forceinline__ uint4 ld_stream(const void * p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// Programmatic dependent launch (sm_90): the next kernel in the stream may start as soon as every
// block of this one has called launch_dependents; it then must wait before touching our outputs.
// Both are no-ops when the kernel was launched without the attribute.
__device__ __forceinline__ void griddep_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void griddep_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

#endif  // __CUDACC__

// A kernel launch configuration with programmatic dependent launch on or off: the attribute lives
// beside the config it is attached to, so the object is not copyable. Use: `PdlLaunch l(...);
// CUDA_CHECK(cudaLaunchKernelEx(&l.cfg, kernel, args...));`.
struct PdlLaunch {
    cudaLaunchConfig_t  cfg{};
    cudaLaunchAttribute attr{};

    PdlLaunch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, bool pdl) {
        cfg.gridDim                                     = grid;
        cfg.blockDim                                    = block;
        cfg.dynamicSmemBytes                            = smem;
        cfg.stream                                      = stream;
        attr.id                                         = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr.val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs                                       = pdl ? &attr : nullptr;
        cfg.numAttrs                                    = pdl ? 1 : 0;
    }
    PdlLaunch(const PdlLaunch &)             = delete;
    PdlLaunch & operator=(const PdlLaunch &) = delete;
};

}  // namespace nibble::cuda
