// Round-trip error per format on fixed pseudo-random data, against named tolerances (STYLE.md
// Do #5), plus thread-count determinism of matrix quantization.
#include "formats/format_table.h"
#include "formats/nvfp4.h"
#include "formats/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace nibble {
namespace {

// Normalised squared error sum (x - x')^2 / sum x^2 on N(0, 1) rows of 1024 (seed 7), measured
// with the ggml-exact quantizers on 2026-11-22 (value in parentheses) with ~25% headroom.
constexpr double kMaxNmse8Bit  = 3.6e-5;  // q8_0 (2.84e-5)
constexpr double kMaxNmseQ8K   = 6.0e-5;  // q8_K: one scale per 256 (4.75e-5)
constexpr double kMaxNmse6Bit  = 4.0e-4;  // q6_K (3.14e-4)
constexpr double kMaxNmse5Bit  = 2.3e-3;  // q5_0 (1.79e-3) / q5_1 / q5_K
constexpr double kMaxNmse4Bit  = 9.2e-3;  // q4_0 (7.32e-3) / q4_1 / q4_K / iq4_nl / iq4_xs
constexpr double kMaxNmseFp4   = 1.65e-2; // mxfp4 (1.30e-2) / nvfp4 (9.1e-3): coarser E2M1 grid
constexpr double kMaxNmse3Bit  = 2.9e-2;  // q3_K (2.27e-2)
constexpr double kMaxNmse2Bit  = 1.1e-1;  // q2_K (8.77e-2)
constexpr double kMaxNmseFloat = 3.4e-6;  // bf16 (2.71e-6); f16 is 4.3e-8
constexpr double kMaxNmseFp8   = 8.8e-4;  // e4m3, 3-bit mantissa (6.99e-4)
constexpr double kMaxNmseFp8E5 = 3.4e-3;  // e5m2, 2-bit mantissa (2.73e-3)

double tolerance(Format f) {
    switch (f) {
        case Format::F32:
            return 0;
        case Format::F16:
        case Format::BF16:
            return kMaxNmseFloat;
        case Format::Q8_0:
            return kMaxNmse8Bit;
        case Format::Q8_K:
            return kMaxNmseQ8K;
        case Format::Q6_K:
            return kMaxNmse6Bit;
        case Format::Q5_0:
        case Format::Q5_1:
        case Format::Q5_K:
            return kMaxNmse5Bit;
        case Format::Q4_0:
        case Format::Q4_1:
        case Format::Q4_K:
        case Format::IQ4_NL:
        case Format::IQ4_XS:
            return kMaxNmse4Bit;
        case Format::MXFP4:
        case Format::NVFP4:
            return kMaxNmseFp4;
        case Format::Q3_K:
            return kMaxNmse3Bit;
        case Format::Q2_K:
            return kMaxNmse2Bit;
        case Format::E4M3:
            return kMaxNmseFp8;
        case Format::E5M2:
            return kMaxNmseFp8E5;
        case Format::Count:
            break;
    }
    return 0;
}

constexpr int64_t kRows = 16;
constexpr int64_t kCols = 1024;

std::vector<float> gaussian(size_t n, unsigned seed, float sigma) {
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float>              v(n);
    for (float & x : v) {
        x = dist(rng);
    }
    return v;
}

double nmse(Format f, const std::vector<float> & x, const QuantParams & p) {
    std::vector<char> q(size_t(row_size(f, kCols) * kRows));
    quantize_matrix(f, x.data(), q.data(), kRows, kCols, p, nullptr);
    std::vector<float> y(x.size());
    const int64_t      rs = row_size(f, kCols);
    for (int64_t r = 0; r < kRows; ++r) {
        format_info(f).dequantize_row(q.data() + r * rs, y.data() + r * kCols, kCols);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        den += double(x[i]) * x[i];
    }
    return num / den;
}

TEST(QuantizeRoundTrip, ErrorWithinNamedTolerance) {
    const std::vector<float> x = gaussian(size_t(kRows * kCols), 7, 1.0f);
    const std::vector<float> imat = [] {
        std::vector<float> v = gaussian(size_t(kCols), 11, 1.0f);
        for (float & w : v) {
            w = w * w + 0.1f;
        }
        return v;
    }();
    for (const FormatInfo & info : kFormats) {
        SCOPED_TRACE(info.name);
        const double e = nmse(info.format, x, QuantParams{});
        std::printf("  %-8s nmse %.3e (tolerance %.1e)\n", info.name, e, tolerance(info.format));
        EXPECT_LE(e, tolerance(info.format));
        if (info.quantized) {
            // The importance-matrix path must stay in the same class of error.
            QuantParams p;
            p.imatrix = imat.data();
            EXPECT_LE(nmse(info.format, x, p), 1.25 * tolerance(info.format));
        }
    }
}

TEST(QuantizeRoundTrip, Nvfp4SearchNeverWorseThanRtnUnweighted) {
    // Small weights (sigma 0.02) put amax/6 into UE4M3's subnormal range: where the search pays.
    const std::vector<float> x = gaussian(size_t(kRows * kCols), 3, 0.02f);
    QuantParams              rtn;
    QuantParams              search;
    search.nvfp4_search = kNvfp4DefaultSearch;
    EXPECT_LT(nmse(Format::NVFP4, x, search), nmse(Format::NVFP4, x, rtn));
}

TEST(QuantizeDeterminism, SameBytesForAnyThreadCount) {
    const int64_t            rows = 37;  // not a multiple of any chunking
    const std::vector<float> x    = gaussian(size_t(rows * kCols), 5, 0.05f);
    const std::vector<float> imat = gaussian(size_t(kCols), 6, 1.0f);
    for (const FormatInfo & info : kFormats) {
        for (int search : {0, kNvfp4DefaultSearch}) {
            if (search && info.format != Format::NVFP4) {
                continue;
            }
            SCOPED_TRACE(std::string(info.name) + " search " + std::to_string(search));
            QuantParams p;
            p.nvfp4_search = search;
            std::vector<float> w(imat.size());
            for (size_t i = 0; i < w.size(); ++i) {
                w[i] = imat[i] * imat[i];
            }
            p.imatrix = info.quantized ? w.data() : nullptr;
            const size_t      bytes = size_t(row_size(info.format, kCols) * rows);
            std::vector<char> ref(bytes);
            quantize_matrix(info.format, x.data(), ref.data(), rows, kCols, p, nullptr);
            for (int threads : {2, 3, 8}) {
                ThreadPool        pool(threads);
                std::vector<char> q(bytes, char(0x5A));
                quantize_matrix(info.format, x.data(), q.data(), rows, kCols, p, &pool);
                EXPECT_EQ(q, ref) << threads << " threads";
            }
        }
    }
}

TEST(QuantizeMatrix, RejectsRowsThatAreNotWholeBlocks) {
    std::vector<float> x(100);
    std::vector<char>  q(1000);
    EXPECT_THROW(quantize_matrix(Format::Q4_K, x.data(), q.data(), 1, 100, QuantParams{}, nullptr),
                 std::invalid_argument);
}

}  // namespace
}  // namespace nibble
