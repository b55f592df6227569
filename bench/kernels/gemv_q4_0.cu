/*
Kernel lab: Q4_0 matrix-vector product y = W x at batch 1 (llm.c dev/cuda style).

Versions, each validated against the CPU reference (dequantize_row + fp64 dot) before it is timed:
  1  one thread per row, GGUF blocks, fp32 dequant, fp16 x from global memory
  2  one warp per row, GGUF blocks (lane = block: 18-byte strided loads), fp32
  3  the library kernel (src/backend/cuda): planes repacked at load, 16-byte coalesced quant loads,
     x quantized to int8 per 32 in shared memory, dp4a, two register buffers of weights in flight;
     W warps per block x R rows per warp; without programmatic dependent launch (PDL), with PDL
     triggered at kernel entry ("early") and after the main loop ("late")

Build: cmake --build build --target gemv_q4_0      Run: build/bench/kernels/gemv_q4_0
Measured numbers are in docs/performance.md (the run's table is printed last).
*/
#include "lab.cuh"

#include <cuda_fp16.h>

#include <cstring>
#include <string>

namespace nibble::lab {
namespace {

__device__ float q4_0_block_dot(const BlockQ4_0 & blk, const __half * x) {
    const float d = __half2float(__ushort_as_half(blk.d));
    float       s = 0.0f;
    for (int j = 0; j < 16; ++j) {
        s += float(int(blk.qs[j] & 15) - 8) * __half2float(x[j]);
        s += float(int(blk.qs[j] >> 4) - 8) * __half2float(x[j + 16]);
    }
    return d * s;
}

// Version 1: one thread per row. Adjacent threads read addresses a row (2304 B) apart: every load
// is its own transaction.
__global__ void kernel1(const BlockQ4_0 * w, const __half * x, float * y, int rows, int cols) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) {
        return;
    }
    const int         nb  = cols / 32;
    const BlockQ4_0 * row = w + int64_t(r) * nb;
    float             s   = 0.0f;
    for (int b = 0; b < nb; ++b) {
        s += q4_0_block_dot(row[b], x + 32 * b);
    }
    y[r] = s;
}

// Version 2: one warp per row, lane l takes blocks l, l + 32, ...: coalesced across the warp, but
// 18-byte blocks only allow 2-byte loads (9 per block) and the fp32 dequant costs ~4 instructions
// per weight.
__global__ void kernel2(const BlockQ4_0 * w, const __half * x, float * y, int rows, int cols) {
    const int r    = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) {
        return;
    }
    const int         nb  = cols / 32;
    const BlockQ4_0 * row = w + int64_t(r) * nb;
    float             s   = 0.0f;
    for (int b = lane; b < nb; b += 32) {
        s += q4_0_block_dot(row[b], x + 32 * b);
    }
    s = cuda::warp_sum(s);
    if (lane == 0) {
        y[r] = s;
    }
}

struct Result {
    std::string name;
    double      nmse = 0.0, us = 0.0;
};

}  // namespace
}  // namespace nibble::lab

int main() {
    using namespace nibble;
    using namespace nibble::lab;
    cuda::Context ctx;
    cudaStream_t  s      = ctx.stream();
    const CopyBandwidth cb = measure_copy(s, ctx.num_sms());
    const double        copy = cb.best();
    const double  read   = measure_read_gbps(s, ctx.num_sms());
    std::printf("device: %s, %d SMs; copy %.0f GB/s (read+write; cudaMemcpy %.0f, copy kernel %.0f),\n"
                "read-only stream %.0f GB/s\n\n",
                ctx.name().c_str(), ctx.num_sms(), copy, cb.memcpy_gbps, cb.kernel_gbps, read);

    for (const auto & [rows, cols] : { std::pair{ 4096, 4096 }, std::pair{ 14336, 4096 } }) {
        const Template t     = make_template(Format::Q4_0, 256, cols, 1);
        const int64_t  bytes = int64_t(rows) * row_size(Format::Q4_0, cols);
        // Enough distinct copies that one pass is > 5x the 50-60 MB L2.
        const int ncopies = int(std::max<int64_t>(1, (int64_t(300) << 20) / bytes));
        std::vector<DeviceMatrix>         packed;
        std::vector<DeviceArray<uint8_t>> gguf;
        for (int i = 0; i < ncopies; ++i) {
            packed.push_back(tile_matrix(t, rows, s));
            gguf.push_back(device_alloc<uint8_t>(size_t(bytes)));
            for (int r0 = 0; r0 < rows; r0 += t.rows) {
                CUDA_CHECK(cudaMemcpyAsync(gguf.back().get() + r0 * row_size(Format::Q4_0, cols), t.gguf.data(),
                                           size_t(t.rows * row_size(Format::Q4_0, cols)), cudaMemcpyHostToDevice, s));
            }
        }
        const DeviceX x = make_x(1, cols, 2);
        auto          y = device_alloc<float>(size_t(rows));
        CUDA_CHECK(cudaStreamSynchronize(s));

        std::vector<Result> results;
        auto run = [&](const std::string & name, const std::function<void(int)> & launch) {
            CUDA_CHECK(cudaMemsetAsync(y.get(), 0xff, size_t(rows) * 4, s));
            launch(0);
            CUDA_CHECK(cudaStreamSynchronize(s));
            Result res{ name, nmse_vs_template(t, x, 1, y.get(), rows, rows), 0.0 };
            if (!(res.nmse < 1e-3)) {  // validate before timing; NaN (unwritten output) fails too
                std::printf("%s: FAILED validation, nmse %.3g\n", name.c_str(), res.nmse);
                std::exit(1);
            }
            const int n = 8 * ncopies;
            res.us      = time_graph_ms(s, n, launch) * 1e3 / n;
            results.push_back(res);
        };
        const auto * xh = reinterpret_cast<const __half *>(x.dev.get());
        run("1 thread/row, GGUF", [&](int i) {
            kernel1<<<(rows + 127) / 128, 128, 0, s>>>(reinterpret_cast<const BlockQ4_0 *>(gguf[i % ncopies].get()),
                                                        xh, y.get(), rows, cols);
        });
        run("2 warp/row, GGUF", [&](int i) {
            kernel2<<<(rows + 3) / 4, 128, 0, s>>>(reinterpret_cast<const BlockQ4_0 *>(gguf[i % ncopies].get()), xh,
                                                    y.get(), rows, cols);
        });
        // Block shapes (warps per block x rows per warp), each without PDL and with PDL triggered at
        // kernel entry ("early") or after the main loop ("late").
        for (int mode = 0; mode < 3; ++mode) {
            for (const auto & [w, rpw] : { std::pair{ 4, 1 }, std::pair{ 4, 4 }, std::pair{ 8, 1 }, std::pair{ 8, 2 },
                                         std::pair{ 8, 4 } }) {
                const char *      tag  = mode == 0 ? "" : mode == 1 ? " +PDL early" : " +PDL late";
                const std::string name = "3 library W=" + std::to_string(w) + " R=" + std::to_string(rpw) + tag;
                run(name, [&, w, rpw, mode](int i) {
                    const cuda::GemvOptions opt{ .rows_per_warp    = rpw,
                                                 .warps_per_block  = w,
                                                 .pdl              = mode != 0,
                                                 .pdl_trigger_late = mode == 2,
                                                 .blocks_per_sm    = 0 };
                    const cuda::GemvError   e = cuda::gemv(packed[i % ncopies].weights(), x.dev.get(),
                                                           cuda::ActType::F16, 1, x.ldx, { y.get(), rows }, s, opt);
                    if (e != cuda::GemvError::Ok) {
                        std::printf("gemv: %s\n", cuda::gemv_error_string(e));
                        std::exit(1);
                    }
                });
            }
        }
        std::printf("### Q4_0 %d x %d, batch 1 (%.1f MB, %d copies rotated)\n\n", rows, cols, bytes / 1e6, ncopies);
        std::printf("| version | nmse | us | GB/s | %% of copy |\n|---|---|---|---|---|\n");
        for (const Result & r : results) {
            const double gbps = double(bytes) / (r.us * 1e3);
            std::printf("| %s | %.2e | %.2f | %.0f | %.1f |\n", r.name.c_str(), r.nmse, r.us, gbps,
                        100.0 * gbps / copy);
        }
        std::printf("\n");
    }
    return 0;
}
