/*
Kernel lab: the library GEMV (src/backend/cuda/gemv.cu) for every format, one shape at a time.

For each format x shape x batch {1, 2, 4, 8}: validate against the CPU reference (first and last
512 rows), then time a CUDA graph of launches that rotates through enough distinct copies of the
matrix (> 300 MB per pass) that the 50-60 MB L2 cannot serve it. Reports GB/s of GGUF weight bytes,
% of the device-to-device copy bandwidth measured in the same run, and the speed-up over cuBLAS
BF16 (cublasGemmEx) at the same shape and batch. A block-shape sweep (warps per block x rows per warp)
at batch 1 backs the heuristic in gemv.cu.

Build: cmake --build build --target gemv_formats     Run: build/bench/kernels/gemv_formats [--quick]
*/
#include "lab.cuh"

#include <cstring>
#include <map>
#include <string>

namespace nibble::lab {
namespace {

struct Shape {
    int         rows, cols;
    const char * what;
};

const Shape kShapes[] = {
    { 4096, 4096, "q/o proj" },     { 1024, 4096, "k/v proj" },    { 14336, 4096, "gate/up" },
    { 4096, 14336, "down" },        { 128256, 4096, "lm_head" },   { 3000, 4608, "odd" },
    { 8193, 2048, "odd" },
};

constexpr int64_t kRotateBytes = int64_t(300) << 20;

double nmse_rows(const Template & t, const DeviceX & x, int batch, const float * y_dev, int rows) {
    std::vector<float> y(size_t(batch) * rows);
    CUDA_CHECK(cudaMemcpy(y.data(), y_dev, y.size() * 4, cudaMemcpyDeviceToHost));
    double err = 0.0, ref2 = 0.0;
    for (int b = 0; b < batch; ++b) {
        for (int r = 0; r < rows; ++r) {
            if (r >= 512 && r < rows - 512) {
                r = rows - 512;
            }
            const float * w = t.deq.data() + size_t(r % t.rows) * t.cols;
            double        s = 0.0;
            for (int k = 0; k < t.cols; ++k) {
                s += double(w[k]) * double(x.values[size_t(b) * x.ldx + k]);
            }
            const double d = double(y[size_t(b) * rows + r]) - s;
            err += d * d;
            ref2 += s * s;
        }
    }
    return err / ref2;
}

struct Timing {
    double us[4] = {};  // batch 1, 2, 4, 8
};

const int kBatches[4] = { 1, 2, 4, 8 };

Timing time_cublas(cuda::Context & ctx, const Shape & sh) {
    cudaStream_t  s       = ctx.stream();
    const int64_t bytes   = int64_t(sh.rows) * sh.cols * 2;
    const int     ncopies = int(std::max<int64_t>(1, kRotateBytes / bytes));
    std::vector<DeviceArray<__nv_bfloat16>> w;
    for (int i = 0; i < ncopies; ++i) {
        w.push_back(device_alloc<__nv_bfloat16>(size_t(sh.rows) * sh.cols));
        fill_bf16<<<1024, 256, 0, s>>>(w.back().get(), size_t(sh.rows) * sh.cols, uint32_t(i));
    }
    auto   x = device_alloc<__nv_bfloat16>(size_t(8) * sh.cols);
    auto   y = device_alloc<float>(size_t(8) * sh.rows);
    fill_bf16<<<64, 256, 0, s>>>(x.get(), size_t(8) * sh.cols, 99);
    Timing t;
    for (int bi = 0; bi < 4; ++bi) {
        const int n = std::clamp(2 * ncopies, 16, 256);
        t.us[bi]    = time_graph_ms(s, n, [&](int i) {
                       cublas_bf16_gemv(ctx.cublas(), w[i % ncopies].get(), sh.rows, sh.cols, x.get(), kBatches[bi],
                                        y.get());
                   }) * 1e3 / n;
    }
    return t;
}

// Returns per-batch timings; shape = 10 * rows per warp + warps per block, 0 = library heuristic.
Timing time_format(cuda::Context & ctx, const Template & t, const Shape & sh, int shape, bool validate,
                   int max_batch_index = 3) {
    cudaStream_t  s       = ctx.stream();
    const int64_t bytes   = int64_t(sh.rows) * row_size(t.format, sh.cols);
    const int     ncopies = int(std::max<int64_t>(1, kRotateBytes / bytes));
    std::vector<DeviceMatrix> m;
    for (int i = 0; i < ncopies; ++i) {
        m.push_back(tile_matrix(t, sh.rows, s));
    }
    const DeviceX x = make_x(8, sh.cols, 7);
    auto          y = device_alloc<float>(size_t(8) * sh.rows);
    Timing        tm;
    for (int bi = 0; bi <= max_batch_index; ++bi) {
        const int               batch = kBatches[bi];
        // shape 0: gemv()'s defaults; others: that block shape on the grid in waves.
        const cuda::GemvOptions opt{ .rows_per_warp   = shape / 10,
                                     .warps_per_block = shape % 10,
                                     .blocks_per_sm   = shape == 0 ? -1 : 0 };
        auto                    launch = [&](int i) {
            const cuda::GemvError e = cuda::gemv(m[i % ncopies].weights(), x.dev.get(), cuda::ActType::F16, batch,
                                                 x.ldx, { y.get(), sh.rows }, s, opt);
            if (e != cuda::GemvError::Ok) {
                std::printf("gemv %s: %s\n", fmt_name(t.format), cuda::gemv_error_string(e));
                std::exit(1);
            }
        };
        if (validate && (batch == 1 || batch == 8)) {
            CUDA_CHECK(cudaMemsetAsync(y.get(), 0xff, size_t(8) * sh.rows * 4, s));
            launch(0);
            CUDA_CHECK(cudaStreamSynchronize(s));
            const double e = nmse_rows(t, x, batch, y.get(), sh.rows);
            if (!(e < 1e-3)) {  // report and go on: one broken format must not hide the others' numbers
                std::printf("%s %dx%d batch %d: FAILED validation, nmse %.3g\n", fmt_name(t.format), sh.rows, sh.cols,
                            batch, e);
                return Timing{};
            }
        }
        const int n = std::clamp(2 * ncopies, 16, 256);
        tm.us[bi]   = time_graph_ms(s, n, launch) * 1e3 / n;
    }
    return tm;
}

}  // namespace
}  // namespace nibble::lab

int main(int argc, char ** argv) {
    using namespace nibble;
    using namespace nibble::lab;
    const bool    quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    cuda::Context ctx;
    const CopyBandwidth cb = measure_copy(ctx.stream(), ctx.num_sms());
    const double        copy = cb.best();
    const double  read = measure_read_gbps(ctx.stream(), ctx.num_sms());
    std::printf("device: %s, %d SMs, L2 %d MB; copy %.0f GB/s (read+write; cudaMemcpy %.0f, copy kernel %.0f),\n"
                "read-only stream %.0f GB/s\n\n",
                ctx.name().c_str(), ctx.num_sms(), ctx.props().l2CacheSize >> 20, copy, cb.memcpy_gbps,
                cb.kernel_gbps, read);

    std::map<int, std::map<Format, Template>> templates;  // by cols
    auto get_template = [&](Format f, int cols) -> const Template & {
        auto & byf = templates[cols];
        auto   it  = byf.find(f);
        if (it == byf.end()) {
            it = byf.emplace(f, make_template(f, 256, cols, 11)).first;
        }
        return it->second;
    };

    // Block-shape sweep at batch 1 for the formats the issue ranks first.
    const int kSweep[] = { 14, 44, 18, 28, 48, 0 };  // 10 * rows per warp + warps per block; 0 = heuristic
    std::printf("### Block shape, batch 1 (us; W warps per block, R rows per warp; heuristic = gemv()'s pick)\n\n");
    std::printf("| format | shape | W4 R1 | W4 R4 | W8 R1 | W8 R2 | W8 R4 | heuristic |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (Format f : { Format::NVFP4, Format::Q4_0, Format::Q4_K, Format::Q8_0, Format::BF16 }) {
        for (const Shape & sh : kShapes) {
            if (quick && sh.rows > 20000) {
                continue;
            }
            const Template & t = get_template(f, sh.cols);
            std::printf("| %s | %dx%d |", fmt_name(f), sh.rows, sh.cols);
            for (int shape : kSweep) {
                std::printf(" %.2f |", time_format(ctx, t, sh, shape, false, 0).us[0]);
            }
            std::printf("\n");
        }
    }

    std::printf("\n### Each shape alone (L2 defeated by rotation), fp16 x, PDL on\n\n");
    std::printf("GB/s counts GGUF weight bytes; x cuBLAS = cuBLAS BF16 time / our time at the same shape and "
                "batch.\n\n");
    std::printf("| format | shape | MB | b1 us | b1 GB/s | b1 %% copy | b1 x cuBLAS | b2 us | b4 us | b8 us | b8/b1 | "
                "b8 x cuBLAS |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<Timing> cublas;
    for (const Shape & sh : kShapes) {
        cublas.push_back(time_cublas(ctx, sh));
        const Timing & c     = cublas.back();
        const double   bytes = double(sh.rows) * sh.cols * 2;
        std::printf("| cuBLAS bf16 | %dx%d %s | %.1f | %.2f | %.0f | %.1f | 1.00 | %.2f | %.2f | %.2f | %.2f | "
                    "1.00 |\n",
                    sh.rows, sh.cols, sh.what, bytes / 1e6, c.us[0], bytes / (c.us[0] * 1e3),
                    100.0 * bytes / (c.us[0] * 1e3) / copy, c.us[1], c.us[2], c.us[3], c.us[3] / c.us[0]);
    }
    for (Format f : lab_formats()) {
        for (size_t si = 0; si < std::size(kShapes); ++si) {
            const Shape & sh = kShapes[si];
            if (quick && sh.rows > 20000) {
                continue;
            }
            const Template & t     = get_template(f, sh.cols);
            const Timing     tm    = time_format(ctx, t, sh, 0, true);
            const double     bytes = double(sh.rows) * double(row_size(f, sh.cols));
            const double     gbps  = bytes / (tm.us[0] * 1e3);
            std::printf("| %s | %dx%d %s | %.1f | %.2f | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
                        fmt_name(f), sh.rows, sh.cols, sh.what, bytes / 1e6, tm.us[0], gbps, 100.0 * gbps / copy,
                        cublas[si].us[0] / tm.us[0], tm.us[1], tm.us[2], tm.us[3], tm.us[3] / tm.us[0],
                        cublas[si].us[3] / tm.us[3]);
        }
        templates.clear();  // keep host memory flat: templates are per format
    }
    return 0;
}
