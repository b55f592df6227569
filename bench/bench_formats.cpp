// Quantize / dequantize throughput per format, single thread, on N(0, 0.02) weights shaped like a
// 4096-wide matrix (bytes processed = f32 bytes in for quantize, f32 bytes out for dequantize).
//   build/bench/nibble_bench_formats --benchmark_min_time=0.2
#include "backend/cpu/formats/dequant.h"
#include "formats/format_table.h"
#include "formats/nvfp4.h"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

namespace nibble {
namespace {

constexpr int64_t kCols = 4096;
constexpr int64_t kRows = 64;  // 1 MiB of f32 per iteration

const std::vector<float> & weights() {
    static const std::vector<float> w = [] {
        std::mt19937                    rng(1234);
        std::normal_distribution<float> dist(0.0f, 0.02f);
        std::vector<float>              v(static_cast<size_t>(kRows * kCols));
        for (float & x : v) {
            x = dist(rng);
        }
        return v;
    }();
    return w;
}

const std::vector<float> & importance() {
    static const std::vector<float> w = [] {
        std::mt19937                          rng(99);
        std::uniform_real_distribution<float> dist(0.1f, 2.0f);
        std::vector<float>                    v(static_cast<size_t>(kCols));
        for (float & x : v) {
            x = dist(rng);
        }
        return v;
    }();
    return w;
}

void bm_quantize(benchmark::State & state, Format f, bool imatrix, int search) {
    const FormatInfo & info = format_info(f);
    std::vector<char>  q(size_t(row_size(f, kCols) * kRows));
    QuantParams        p;
    p.imatrix      = imatrix ? importance().data() : nullptr;
    p.nvfp4_search = search;
    for (auto _ : state) {
        info.quantize_rows(weights().data(), q.data(), kRows, kCols, p);
        benchmark::DoNotOptimize(q.data());
    }
    state.SetBytesProcessed(state.iterations() * kRows * kCols * int64_t(sizeof(float)));
}

void bm_dequantize(benchmark::State & state, Format f, bool fast) {
    const FormatInfo & info = format_info(f);
    const int64_t      rs   = row_size(f, kCols);
    std::vector<char>  q(size_t(rs * kRows));
    info.quantize_rows(weights().data(), q.data(), kRows, kCols, QuantParams{});
    cpu::DequantFn deq = fast ? cpu::fast_dequantizer(f) : info.dequantize_row;
    if (!deq) {
        state.SkipWithError("no fast path for this format on this CPU");
        return;
    }
    std::vector<float> y(size_t(kRows * kCols));
    for (auto _ : state) {
        for (int64_t r = 0; r < kRows; ++r) {
            deq(q.data() + r * rs, y.data() + r * kCols, kCols);
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(state.iterations() * kRows * kCols * int64_t(sizeof(float)));
}

int register_all() {
    for (const FormatInfo & info : kFormats) {
        const std::string n = info.name;
        benchmark::RegisterBenchmark(("quantize/" + n).c_str(), bm_quantize, info.format, false, 0);
        if (info.quantized) {
            benchmark::RegisterBenchmark(("quantize_imatrix/" + n).c_str(), bm_quantize, info.format, true, 0);
        }
        benchmark::RegisterBenchmark(("dequantize_scalar/" + n).c_str(), bm_dequantize, info.format, false);
        if (cpu::fast_dequantizer(info.format)) {
            benchmark::RegisterBenchmark(("dequantize_avx2/" + n).c_str(), bm_dequantize, info.format, true);
        }
    }
    const std::string w = std::to_string(kNvfp4DefaultSearch);
    benchmark::RegisterBenchmark(("quantize/nvfp4_search" + w).c_str(), bm_quantize, Format::NVFP4, false,
                                 kNvfp4DefaultSearch);
    benchmark::RegisterBenchmark(("quantize_imatrix/nvfp4_search" + w).c_str(), bm_quantize, Format::NVFP4, true,
                                 kNvfp4DefaultSearch);
    return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace nibble

BENCHMARK_MAIN();
