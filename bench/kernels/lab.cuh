// Shared pieces of the GEMV kernel labs: device ceilings measured in the same run (copy and read
// bandwidth), weight matrices of any size tiled from a CPU-quantized template, graph timing, the
// cuBLAS BF16 reference and NMSE validation. Labs print markdown tables.
#pragma once

#include "backend/cuda/context.h"
#include "backend/cuda/gemv.h"
#include "core/half.h"
#include "formats/format_table.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <thread>
#include <vector>

namespace nibble::lab {

using cuda::DeviceArray;
using cuda::device_alloc;

// --------------------------------------------------------------------------------------------
// Timing: capture `launch(i)` for i = 0..n-1 into one CUDA graph and replay it; returns the median
// time of one replay in milliseconds. Graphs take the CPU launch overhead out of the numbers, as
// a decode loop that replays its graph would.
inline double time_graph_ms(cudaStream_t s, int n, const std::function<void(int)> & launch, int reps = 7) {
    cudaGraph_t graph;
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < n; ++i) {
        launch(i);
    }
    CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    cudaGraphExec_t exec;
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    CUDA_CHECK(cudaGraphLaunch(exec, s));  // warm-up
    CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<float> t(size_t(reps), 0.0f);
    for (float & ms : t) {
        CUDA_CHECK(cudaEventRecord(e0, s));
        CUDA_CHECK(cudaGraphLaunch(exec, s));
        CUDA_CHECK(cudaEventRecord(e1, s));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    }
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    CUDA_CHECK(cudaGraphExecDestroy(exec));
    CUDA_CHECK(cudaGraphDestroy(graph));
    std::sort(t.begin(), t.end());
    return double(t[t.size() / 2]);
}

// --------------------------------------------------------------------------------------------
// Ceilings, measured in the same run. Copy: bytes read + written by cudaMemcpy device-to-device
// and by a 16-byte-per-thread copy kernel; the larger is "copy" in the tables. (On an H200 of this
// workplace, 2026-11-22, graph-captured cudaMemcpy D2D moved only 2.7 TB/s, the kernel far more.)
__global__ void copy_kernel(const uint4 * src, uint4 * dst, size_t n) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
        dst[i] = cuda::ld_stream(src + i);
    }
}

struct CopyBandwidth {
    double memcpy_gbps = 0.0, kernel_gbps = 0.0;
    double best() const { return std::max(memcpy_gbps, kernel_gbps); }
};

inline CopyBandwidth measure_copy(cudaStream_t s, int sms, size_t bytes = size_t(2) << 30) {
    auto a = device_alloc<uint8_t>(bytes);
    auto b = device_alloc<uint8_t>(bytes);
    CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, s));
    CopyBandwidth c;
    double        ms = time_graph_ms(s, 4, [&](int) {
        CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s));
    });
    c.memcpy_gbps = 4.0 * 2.0 * double(bytes) / (ms * 1e6);
    ms            = time_graph_ms(s, 4, [&](int) {
        copy_kernel<<<sms * 8, 512, 0, s>>>(reinterpret_cast<const uint4 *>(a.get()),
                                            reinterpret_cast<uint4 *>(b.get()), bytes / 16);
    });
    c.kernel_gbps = 4.0 * 2.0 * double(bytes) / (ms * 1e6);
    return c;
}

__global__ void read_kernel(const uint4 * p, size_t n, uint32_t * sink) {
    uint32_t acc = 0;
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
        const uint4 v = cuda::ld_stream(p + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) {
        *sink = acc;  // practically never: keeps the loads alive
    }
}

// Read-only streaming bandwidth: what a GEMV could reach if it did nothing but load.
inline double measure_read_gbps(cudaStream_t s, int sms, size_t bytes = size_t(2) << 30) {
    auto a    = device_alloc<uint8_t>(bytes);
    auto sink = device_alloc<uint32_t>(1);
    CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, s));
    const double ms = time_graph_ms(s, 4, [&](int) {
        read_kernel<<<sms * 8, 512, 0, s>>>(reinterpret_cast<const uint4 *>(a.get()), bytes / 16, sink.get());
    });
    return 4.0 * double(bytes) / (ms * 1e6);
}

// --------------------------------------------------------------------------------------------
// Weights. A template of `rows` rows is quantized on the CPU (Gaussian weights, all threads) and
// repacked; bigger matrices repeat its rows, plane by plane, on the device.
struct Template {
    Format               format;
    int                  rows = 0, cols = 0;
    std::vector<uint8_t> gguf;
    std::vector<float>   deq;
    cuda::PackedLayout   layout;
    DeviceArray<uint8_t> dev;
};

inline Template make_template(Format f, int rows, int cols, uint32_t seed) {
    const FormatInfo & info = format_info(f);
    Template           t;
    t.format = f;
    t.rows   = rows;
    t.cols   = cols;
    std::vector<float> w(size_t(rows) * cols);
    std::mt19937       rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float & v : w) {
        v = dist(rng);
    }
    const int64_t rs = row_size(f, cols);
    t.gguf.resize(size_t(rows * rs));
    t.deq.resize(w.size());
    const int                nthreads = std::max(1, std::min(16, int(std::thread::hardware_concurrency())));
    std::vector<std::thread> pool;
    for (int i = 0; i < nthreads; ++i) {
        pool.emplace_back([&, i] {
            for (int r = i; r < rows; r += nthreads) {
                info.quantize_rows(w.data() + size_t(r) * cols, t.gguf.data() + r * rs, 1, cols, QuantParams{});
                info.dequantize_row(t.gguf.data() + r * rs, t.deq.data() + size_t(r) * cols, cols);
            }
        });
    }
    for (std::thread & th : pool) {
        th.join();
    }
    t.layout = cuda::gemv_layout(f, rows, cols);
    std::vector<uint8_t> packed(size_t(t.layout.bytes));
    cuda::gemv_repack(t.layout, t.gguf.data(), packed.data());
    t.dev = device_alloc<uint8_t>(packed.size());
    CUDA_CHECK(cudaMemcpy(t.dev.get(), packed.data(), packed.size(), cudaMemcpyHostToDevice));
    return t;
}

struct DeviceMatrix {
    cuda::PackedLayout   layout;
    DeviceArray<uint8_t> dev;
    int64_t              gguf_bytes = 0;  // what the model stores; bandwidth is counted on these

    cuda::GemvWeights weights() const { return { layout, dev.get(), 1.0f, nullptr }; }
};

inline DeviceMatrix tile_matrix(const Template & t, int rows, cudaStream_t s) {
    DeviceMatrix m;
    m.layout     = cuda::gemv_layout(t.format, rows, t.cols);
    m.dev        = device_alloc<uint8_t>(size_t(m.layout.bytes));
    m.gguf_bytes = int64_t(rows) * row_size(t.format, t.cols);
    for (int p = 0; p < m.layout.nplanes; ++p) {
        const int64_t rb = m.layout.plane_row_bytes[p];
        for (int r0 = 0; r0 < rows; r0 += t.rows) {
            const int n = std::min(t.rows, rows - r0);
            CUDA_CHECK(cudaMemcpyAsync(m.dev.get() + m.layout.plane_offset[p] + r0 * rb,
                                       t.dev.get() + t.layout.plane_offset[p], size_t(n * rb),
                                       cudaMemcpyDeviceToDevice, s));
        }
    }
    return m;
}

// Random fp16 activations (batch x ldx) on the device and their values on the host.
struct DeviceX {
    int64_t               ldx = 0;
    std::vector<float>    values;
    DeviceArray<uint16_t> dev;
};

inline DeviceX make_x(int batch, int cols, uint32_t seed) {
    DeviceX x;
    x.ldx = (cols + 7) / 8 * 8;
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<uint16_t>           bits(size_t(batch) * x.ldx);
    x.values.resize(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) {
        bits[i]     = fp32_to_fp16(dist(rng));
        x.values[i] = fp16_to_fp32(bits[i]);
    }
    x.dev = device_alloc<uint16_t>(bits.size());
    CUDA_CHECK(cudaMemcpy(x.dev.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
    return x;
}

// CPU reference y[b][r] (r < t.rows: tiled matrices repeat the template rows) and NMSE of `y`.
inline double nmse_vs_template(const Template & t, const DeviceX & x, int batch, const float * y_dev, int rows,
                               int64_t ldy) {
    std::vector<float> y(size_t(batch) * ldy);
    CUDA_CHECK(cudaMemcpy(y.data(), y_dev, y.size() * 4, cudaMemcpyDeviceToHost));
    double err = 0.0, ref2 = 0.0;
    for (int b = 0; b < batch; ++b) {
        for (int r = 0; r < rows; ++r) {
            const float * w = t.deq.data() + size_t(r % t.rows) * t.cols;
            double        s = 0.0;
            for (int k = 0; k < t.cols; ++k) {
                s += double(w[k]) * double(x.values[size_t(b) * x.ldx + k]);
            }
            const double d = double(y[size_t(b) * ldy + r]) - s;
            err += d * d;
            ref2 += s * s;
        }
    }
    return err / ref2;
}

// --------------------------------------------------------------------------------------------
// cuBLAS BF16 reference: y (fp32, rows x batch, column-major) = W (rows x cols, row-major bf16) x.
__global__ void fill_bf16(__nv_bfloat16 * p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
        uint32_t h = uint32_t(i) * 0x9e3779b9u ^ seed;
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        p[i] = __float2bfloat16((float(h & 0xffff) - 32768.0f) * (1.0f / 32768.0f));
    }
}

inline void cublas_bf16_gemv(cublasHandle_t h, const __nv_bfloat16 * w, int rows, int cols, const __nv_bfloat16 * x,
                             int batch, float * y) {
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, rows, batch, cols, &alpha, w, CUDA_R_16BF, cols, x,
                              CUDA_R_16BF, cols, &beta, y, CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

inline const char * fmt_name(Format f) { return format_name(f); }

inline double bits_per_weight(Format f) { return format_info(f).bits_per_weight(); }

// The formats with a GEMV kernel, in the order the tables list them (4-bit first).
inline const std::vector<Format> & lab_formats() {
    static const std::vector<Format> v = { Format::NVFP4, Format::MXFP4, Format::Q4_0, Format::Q4_1,  Format::IQ4_NL,
                                           Format::IQ4_XS, Format::Q4_K, Format::Q5_0, Format::Q5_1,  Format::Q5_K,
                                           Format::Q6_K,  Format::Q8_0, Format::Q2_K, Format::Q3_K,  Format::E4M3,
                                           Format::BF16,  Format::F16 };
    return v;
}

}  // namespace nibble::lab
