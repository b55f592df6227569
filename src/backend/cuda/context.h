// The CUDA context of one device: a non-blocking stream, a cuBLAS handle bound to it and the
// device facts the launchers size their grids from.
#pragma once

#include "backend/cuda/common.cuh"

#include <memory>
#include <string>

namespace nibble::cuda {

struct StreamDestroy {
    void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
};
struct CublasDestroy {
    void operator()(cublasHandle_t h) const noexcept { cublasDestroy(h); }
};
using StreamPtr = std::unique_ptr<std::remove_pointer_t<cudaStream_t>, StreamDestroy>;
using CublasPtr = std::unique_ptr<std::remove_pointer_t<cublasHandle_t>, CublasDestroy>;

// Number of CUDA devices, 0 when there is no driver or no device (never aborts: tests skip on 0).
int device_count();

class Context {
  public:
    // Selects `device`, creates the stream and the cuBLAS handle. Aborts on CUDA errors.
    explicit Context(int device = 0);

    int                    device() const { return device_; }
    cudaStream_t           stream() const { return stream_.get(); }
    cublasHandle_t         cublas() const { return cublas_.get(); }
    const cudaDeviceProp & props() const { return props_; }
    int                    num_sms() const { return props_.multiProcessorCount; }
    std::string            name() const { return props_.name; }

  private:
    int            device_ = 0;
    cudaDeviceProp props_{};
    StreamPtr            stream_;
    DeviceArray<uint8_t> cublas_workspace_;  // explicit, so cuBLAS never allocates during graph capture
    CublasPtr            cublas_;            // declared last: destroyed before its workspace and stream
};

}  // namespace nibble::cuda
