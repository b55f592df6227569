#include "backend/cuda/context.h"

namespace nibble::cuda {

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error
        return 0;
    }
    return n;
}

Context::Context(int device) : device_(device) {
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaGetDeviceProperties(&props_, device));
    cudaStream_t s = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_.reset(s);
    cublasHandle_t h = nullptr;
    CUBLAS_CHECK(cublasCreate(&h));
    cublas_.reset(h);
    CUBLAS_CHECK(cublasSetStream(h, s));
    constexpr size_t kWorkspace = size_t(32) << 20;
    cublas_workspace_           = device_alloc<uint8_t>(kWorkspace);
    CUBLAS_CHECK(cublasSetWorkspace(h, cublas_workspace_.get(), kWorkspace));
}

}  // namespace nibble::cuda
