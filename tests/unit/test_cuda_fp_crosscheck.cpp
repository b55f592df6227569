// Cross-checks the scalar codecs in formats/minifloat.h and core/half.h against the HOST-side conversions in
// CUDA's cuda_fp8.h / cuda_fp4.h / cuda_fp16.h / cuda_bf16.h. Compiled by the host compiler with
// -I<cuda>/include only: no nvcc, no GPU, no CUDA runtime. Without __CUDA_ARCH__ the headers fall back to
// portable C++ (FP8/FP4 go through an exact double-based RNE, fp16/bf16 through bit manipulation) that stands
// in for the device cvt.rn(.satfinite) instructions. Checked with CUDA 13.0 and g++ 12: every function used
// below has a host path, so nothing had to be skipped.
//
// Coverage per encoder: (1) every fp32 pattern within +-kBoundaryUlps (fp16: kFp16BoundaryUlps) of every
// representable value and of every midpoint between neighbours (= every rounding boundary, including the
// saturation threshold and half the min subnormal), both signs; (2) a strided sweep over the full 2^32 range
// (odd stride, so every residue of the low mantissa bits occurs; ~70M patterns); (3) for E4M3, E5M2 and ggml's
// UE4M3 encoder, EVERY positive pattern in the band where rounding happens at all (below it everything flushes
// to 0, above it everything saturates; the sign is handled separately by construction and (1), (2) check
// negative inputs). A full 2^32 sweep per format would cost ~30 s of CPU (CUDA's host FP8 path takes ~5 ns a
// call), too slow for a unit test.
//
// Intentional semantic differences (not bugs), each asserted below so a change on either side is noticed:
//  * FP8 encode of NaN: CUDA's host path first canonicalises any NaN to +NaN, so it returns 0x7F for E4M3 and
//    E5M2 alike; ours keeps the sign (0x7F | sign). Both are NaN encodings, so NaNs are compared by NaN-ness.
//  * FP8 decode of NaN: CUDA returns the canonical fp16 NaN 0x7FFF (sign dropped); ours keeps sign/payload.
//  * E2M1 encode of NaN: CUDA returns +6 (code 0x7, "NaN converts to positive MAXNORM"); ours returns a zero
//    magnitude. E2M1 has no NaN; nothing in the quantizers feeds it one.
//  * E2M1 decode of code 8: CUDA gives -0 (0x8000); ours gives +0 (ggml's doubled code book stores 0).
//  * fp16 / bf16 encode of NaN: CUDA returns 0x7FFF; ggml (and we) return 0x7E00 | sign for fp16 and
//    (bits >> 16) | 0x0040 for bf16 (FORMATS.md §1.2, §1.3).
//  * E8M0 decode of 0xFF: CUDA gives NaN (OCP MX); ggml (and we) give +inf (2^128 overflows; §1.7).
//  * UE4M3: ggml's encoder (fp32_to_ue4m3_ggml) is not CUDA's RNE: it rounds half up, maps [248, 448] to 0x7E,
//    caps subnormals at 0x07 and rounds x * 512 + 0.5 in fp32. Its differences from CUDA are classified
//    exhaustively below; fp32_to_ue4m3_rne is the variant that must equal CUDA on positive inputs.
//  * ggml's UE4M3 decoder ignores bit 7 and returns half the value; CUDA's E4M3 decode treats bit 7 as sign.
#include "core/half.h"
#include "formats/minifloat.h"

#include <gtest/gtest.h>

#if __has_include(<cuda_fp8.h>) && __has_include(<cuda_fp4.h>) && __has_include(<cuda_fp16.h>) && \
    __has_include(<cuda_bf16.h>)
#define NIBBLE_HAVE_CUDA_FP_HEADERS 1
// The host fallbacks in cuda_fp4.hpp leave their fp4_interpretation parameter unused (only E2M1 exists),
// which -Wextra -Werror would reject. The headers are not ours, so silence just that, just for them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp4.h>
#include <cuda_fp8.h>
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace nibble {
namespace {

#if defined(NIBBLE_HAVE_CUDA_FP_HEADERS)

// ---------------------------------------------------------------------------------------------
// Constants.

constexpr uint32_t kF32Sign         = 0x80000000u;
constexpr uint32_t kF32AbsMask      = 0x7FFFFFFFu;
constexpr uint32_t kF32Inf          = 0x7F800000u;
constexpr uint64_t kAllPatterns     = uint64_t(1) << 32;
// Odd, so bits = i * stride (mod 2^32) walks through every residue of the low mantissa bits; gives ~70M
// patterns per strided sweep.
constexpr uint32_t kFullRangeStride = 61;

constexpr uint8_t  kFp8NaNMag   = 0x7F; // |code| of the NaN our FP8 encoders emit
constexpr uint8_t  kCudaFp8NaN  = 0x7F; // CUDA host: canonical (positive) NaN for E4M3 and E5M2
constexpr uint8_t  kE4M3MaxCode = 0x7E;
constexpr uint8_t  kSign8       = 0x80;
constexpr uint8_t  kE2M1MaxCode = 0x7;
constexpr uint8_t  kE2M1NegZero = 0x8;
constexpr uint16_t kCudaHalfNaN = 0x7FFF;
constexpr uint16_t kCudaBf16NaN = 0x7FFF;

constexpr float kE4M3MinNormal       = 0.015625f;    // 2^-6
constexpr float kE4M3MinSubnormal    = 0.001953125f; // 2^-9
constexpr float kUe4m3GgmlCarryFrom  = 248.0f;       // 240 + half ulp: ggml's carry reaches exponent 15 -> 0x7E
constexpr float kUe4m3GgmlSubCapFrom = 7.5f * kE4M3MinSubnormal; // [7.5*2^-9, 2^-6) -> 0x07

// Bands of |x| in which an encoder actually rounds: [lo, hi). Below lo the result is +-0 (lo is half of half
// the min subnormal), from hi up it saturates (hi is above max + half ulp). Every code boundary lies inside.
struct Band {
    float lo;
    float hi;
};
constexpr Band kE4M3Band = { 0.00048828125f, 512.0f };        // [2^-11, 2^9)
constexpr Band kE5M2Band = { 3.814697265625e-06f, 65536.0f }; // [2^-18, 2^16): 61440 is the last boundary

// Half-width, in fp32 ulps, of the neighbourhood checked around every code value and rounding boundary.
constexpr int kBoundaryUlps     = 4096;
constexpr int kFp16BoundaryUlps = 64;  // 63489 centres per sign: keeps the fp16 check at ~16M calls
constexpr int kBf16MidpointUlps = 128; // 65536 midpoints (sign included): ~17M calls

// Positive grids (code -> value, ascending) plus the first value past the max, whose midpoint with the max is
// the saturation / overflow threshold.
std::vector<double> e4m3_grid() {
    std::vector<double> g;
    for (int c = 0; c <= kE4M3MaxCode; c++) {
        g.push_back(double(e4m3_to_fp32(uint8_t(c))));
    }
    g.push_back(480.0);
    return g;
}

std::vector<double> e5m2_grid() {
    std::vector<double> g;
    for (int c = 0; c <= 0x7B; c++) {
        g.push_back(double(e5m2_to_fp32(uint8_t(c))));
    }
    g.push_back(65536.0);
    return g;
}

std::vector<double> e2m1_grid() {
    std::vector<double> g;
    for (int c = 0; c <= kE2M1MaxCode; c++) {
        g.push_back(double(e2m1_to_fp32(uint8_t(c))));
    }
    g.push_back(8.0);
    return g;
}

std::vector<double> fp16_grid() {
    std::vector<double> g;
    for (uint32_t h = 0; h <= 0x7C00; h++) { // 0x7C00 read by the formula is 2^16
        g.push_back(h == 0x7C00 ? 65536.0 : double(fp16_to_fp32(half_bits(h))));
    }
    return g;
}

// fp32 bit patterns of every grid value and every midpoint (all exact: <= 12 significant bits).
std::vector<uint32_t> boundary_centres(const std::vector<double> & grid) {
    std::vector<uint32_t> c;
    for (size_t i = 0; i < grid.size(); i++) {
        c.push_back(f32_bits(float(grid[i])));
        if (i + 1 < grid.size()) {
            c.push_back(f32_bits(float((grid[i] + grid[i + 1]) / 2)));
        }
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// CUDA host-side reference wrappers.

uint8_t cuda_e4m3(float x) {
    return uint8_t(__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3));
}
uint8_t cuda_e5m2(float x) {
    return uint8_t(__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2));
}
uint8_t cuda_e2m1(float x) {
    return uint8_t(__nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest));
}

uint16_t cuda_fp16(float x) {
    const __half_raw r = __float2half_rn(x);
    return r.x;
}

uint16_t cuda_bf16(float x) {
    const __nv_bfloat16_raw r = __float2bfloat16_rn(x);
    return r.x;
}

float cuda_fp8_decode(uint8_t code, __nv_fp8_interpretation_t kind) {
    return fp16_to_fp32(__nv_cvt_fp8_to_halfraw(code, kind).x);
}

// ---------------------------------------------------------------------------------------------
// Parallel sweep over fp32 bit patterns.

std::string describe(float x) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.9g (0x%08X)", double(x), f32_bits(x));
    return buf;
}

struct SweepResult {
    uint64_t checked    = 0;
    uint64_t mismatches = 0;
    uint64_t first_i    = UINT64_MAX; // index of the first mismatch (for a deterministic report)
    uint32_t first_bits = 0;
};

// For i in [0, count), on all hardware threads: pattern(i) gives an fp32 bit pattern (or a negative number to
// skip i), and ok(bits) says whether the two implementations agree on it.
template <typename Pattern, typename Ok> SweepResult sweep(uint64_t count, const Pattern & pattern, const Ok & ok) {
    const unsigned           n_threads = std::clamp(std::thread::hardware_concurrency(), 1u, 64u);
    std::vector<SweepResult> parts(n_threads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < n_threads; t++) {
        threads.emplace_back([&, t] {
            const uint64_t begin = count * t / n_threads;
            const uint64_t end   = count * (t + 1) / n_threads;
            SweepResult &  r     = parts[t];
            for (uint64_t i = begin; i < end; i++) {
                const int64_t u = pattern(i);
                if (u < 0) {
                    continue;
                }
                r.checked++;
                if (!ok(uint32_t(u)) && r.mismatches++ == 0) {
                    r.first_i    = i;
                    r.first_bits = uint32_t(u);
                }
            }
        });
    }
    for (auto & th : threads) {
        th.join();
    }
    SweepResult total;
    for (const SweepResult & r : parts) {
        total.checked += r.checked;
        total.mismatches += r.mismatches;
        if (r.first_i < total.first_i) {
            total.first_i    = r.first_i;
            total.first_bits = r.first_bits;
        }
    }
    return total;
}

// Every positive pattern in [band.lo, band.hi).
template <typename Ok> SweepResult sweep_band(Band band, const Ok & ok) {
    const uint32_t lo = f32_bits(band.lo);
    const uint32_t hi = f32_bits(band.hi);
    return sweep(
        hi - lo, [lo](uint64_t i) { return int64_t(lo + i); }, ok);
}

// bits = i * stride (mod 2^32) for i in [0, limit / stride): with limit 2^32 the whole range, with 2^31 the
// positive half.
template <typename Ok> SweepResult sweep_strided(uint64_t limit, const Ok & ok) {
    return sweep(
        limit / kFullRangeStride, [](uint64_t i) { return int64_t(uint32_t(i * kFullRangeStride)); }, ok);
}

// Every pattern within +-ulps of every grid value and midpoint; both signs unless positive_only.
template <typename Ok>
SweepResult sweep_boundaries(const std::vector<double> & grid, int ulps, bool positive_only, const Ok & ok) {
    const std::vector<uint32_t> centres = boundary_centres(grid);
    const uint64_t              width   = uint64_t(2 * ulps + 1);
    const uint64_t              signs   = positive_only ? 1 : 2;
    const auto                  pattern = [&](uint64_t i) {
        const uint64_t j = i / signs;
        const int64_t  u = int64_t(centres[j / width]) + int64_t(j % width) - ulps;
        if (u < 0) {
            return int64_t(-1); // below +0: not a neighbour of this centre
        }
        return (i % signs) != 0 ? int64_t(uint32_t(u) | kF32Sign) : u;
    };
    return sweep(centres.size() * width * signs, pattern, ok);
}

// Reports the first mismatch with both sides' outputs (mine/theirs are re-evaluated for the message).
template <typename Mine, typename Theirs>
void expect_clean(const SweepResult & r, uint64_t min_checked, const Mine & mine, const Theirs & theirs) {
    EXPECT_GE(r.checked, min_checked);
    if (r.mismatches != 0) {
        const float x = bits_f32(r.first_bits);
        ADD_FAILURE() << r.mismatches << " mismatches out of " << r.checked << "; first at x = " << describe(x)
                      << ": ours 0x" << std::hex << unsigned(mine(x)) << ", CUDA 0x" << unsigned(theirs(x));
    }
}

// ---------------------------------------------------------------------------------------------
// FP8 encoders vs __nv_cvt_float_to_fp8(x, __NV_SATFINITE, ...).

bool e4m3_agrees(float x) {
    const uint8_t ours = fp32_to_e4m3_sat(x);
    const uint8_t cuda = cuda_e4m3(x);
    if (std::isnan(x)) {
        return (ours & 0x7F) == kFp8NaNMag && cuda == kCudaFp8NaN;
    }
    return ours == cuda;
}

bool e5m2_agrees(float x) {
    const uint8_t ours = fp32_to_e5m2_sat(x);
    const uint8_t cuda = cuda_e5m2(x);
    if (std::isnan(x)) {
        return (ours & 0x7F) == kFp8NaNMag && cuda == kCudaFp8NaN;
    }
    return ours == cuda;
}

TEST(CudaFp8Encode, E4M3EveryPositivePatternInRoundingBand) {
    const auto r = sweep_band(kE4M3Band, [](uint32_t u) { return e4m3_agrees(bits_f32(u)); });
    expect_clean(r, 150'000'000, fp32_to_e4m3_sat, cuda_e4m3);
}

TEST(CudaFp8Encode, E4M3AroundEveryBoundary) {
    const auto r =
        sweep_boundaries(e4m3_grid(), kBoundaryUlps, false, [](uint32_t u) { return e4m3_agrees(bits_f32(u)); });
    expect_clean(r, 1'000'000, fp32_to_e4m3_sat, cuda_e4m3);
}

TEST(CudaFp8Encode, E4M3StridedFullRange) {
    const auto r = sweep_strided(kAllPatterns, [](uint32_t u) { return e4m3_agrees(bits_f32(u)); });
    expect_clean(r, 50'000'000, fp32_to_e4m3_sat, cuda_e4m3);
}

TEST(CudaFp8Encode, E5M2EveryPositivePatternInRoundingBand) {
    const auto r = sweep_band(kE5M2Band, [](uint32_t u) { return e5m2_agrees(bits_f32(u)); });
    expect_clean(r, 250'000'000, fp32_to_e5m2_sat, cuda_e5m2);
}

TEST(CudaFp8Encode, E5M2AroundEveryBoundary) {
    const auto r =
        sweep_boundaries(e5m2_grid(), kBoundaryUlps, false, [](uint32_t u) { return e5m2_agrees(bits_f32(u)); });
    expect_clean(r, 1'000'000, fp32_to_e5m2_sat, cuda_e5m2);
}

TEST(CudaFp8Encode, E5M2StridedFullRange) {
    const auto r = sweep_strided(kAllPatterns, [](uint32_t u) { return e5m2_agrees(bits_f32(u)); });
    expect_clean(r, 50'000'000, fp32_to_e5m2_sat, cuda_e5m2);
}

TEST(CudaFp8Encode, SpecialValues) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (float x : { 0.0f, -0.0f, inf, -inf, 448.0f, 464.0f, 57344.0f, 61440.0f, 1e30f, -1e30f }) {
        EXPECT_EQ(fp32_to_e4m3_sat(x), cuda_e4m3(x)) << describe(x);
        EXPECT_EQ(fp32_to_e5m2_sat(x), cuda_e5m2(x)) << describe(x);
    }
    // The documented NaN-sign difference.
    EXPECT_EQ(cuda_e4m3(-nan), kCudaFp8NaN);
    EXPECT_EQ(fp32_to_e4m3_sat(-nan), kFp8NaNMag | kSign8);
    EXPECT_EQ(cuda_e5m2(-nan), kCudaFp8NaN);
    EXPECT_EQ(fp32_to_e5m2_sat(-nan), kFp8NaNMag | kSign8);
}

// ---------------------------------------------------------------------------------------------
// FP8 decoders vs __nv_cvt_fp8_to_halfraw (exact: every E4M3 / E5M2 value is an fp16 value).

TEST(CudaFp8Decode, E4M3AllCodes) {
    for (int c = 0; c < 256; c++) {
        const float ours = e4m3_to_fp32(uint8_t(c));
        const float cuda = cuda_fp8_decode(uint8_t(c), __NV_E4M3);
        if ((c & 0x7F) == 0x7F) {
            EXPECT_TRUE(std::isnan(ours) && std::isnan(cuda)) << "code " << c;
        } else {
            EXPECT_EQ(f32_bits(ours), f32_bits(cuda)) << "code " << c << ": ours " << describe(ours);
        }
    }
}

TEST(CudaFp8Decode, E5M2AllCodes) {
    for (int c = 0; c < 256; c++) {
        const float ours = e5m2_to_fp32(uint8_t(c));
        const float cuda = cuda_fp8_decode(uint8_t(c), __NV_E5M2);
        if (std::isnan(cuda)) {
            EXPECT_TRUE(std::isnan(ours)) << "code " << c;
        } else {
            EXPECT_EQ(f32_bits(ours), f32_bits(cuda)) << "code " << c << ": ours " << describe(ours);
        }
    }
}

// ggml's UE4M3 decoder: half the E4M3 value for 0x01..0x7E. 0x7F is 0 for ggml but NaN for CUDA; 0x80..0xFF
// differ because CUDA reads bit 7 as a sign (and 0xFF as NaN) while ggml ignores it.
TEST(CudaFp8Decode, Ue4m3GgmlHalfEqualsHalfOfE4M3) {
    for (int c = 0; c < 0x7F; c++) {
        const float cuda = cuda_fp8_decode(uint8_t(c), __NV_E4M3);
        EXPECT_EQ(f32_bits(ue4m3_to_fp32_half(uint8_t(c))), f32_bits(0.5f * cuda)) << "code " << c;
        EXPECT_EQ(f32_bits(ue4m3_to_fp32_half(uint8_t(c | kSign8))), f32_bits(0.5f * std::fabs(cuda)))
            << "code " << (c | kSign8);
    }
    EXPECT_EQ(ue4m3_to_fp32_half(0x7F), 0.0f);
    EXPECT_TRUE(std::isnan(cuda_fp8_decode(0x7F, __NV_E4M3)));
}

// ---------------------------------------------------------------------------------------------
// UE4M3 encoders vs the CUDA E4M3 encoder on positive inputs.

bool ue4m3_rne_agrees(float x) {
    return fp32_to_ue4m3_rne(x) == cuda_e4m3(x);
}

TEST(CudaUe4m3, RneEqualsCudaE4M3AroundEveryPositiveBoundary) {
    const auto r =
        sweep_boundaries(e4m3_grid(), kBoundaryUlps, true, [](uint32_t u) { return ue4m3_rne_agrees(bits_f32(u)); });
    expect_clean(r, 500'000, fp32_to_ue4m3_rne, cuda_e4m3);
}

TEST(CudaUe4m3, RneEqualsCudaE4M3OnPositiveStridedRange) {
    // Positive half of the fp32 patterns, including +0, subnormals, +inf and positive NaNs (0x7F both).
    const auto r = sweep_strided(uint64_t(kF32AbsMask) + 1, [](uint32_t u) { return ue4m3_rne_agrees(bits_f32(u)); });
    expect_clean(r, 30'000'000, fp32_to_ue4m3_rne, cuda_e4m3);
}

// Exhaustive classification of where ggml's encoder leaves RNE (FORMATS.md §1.6). Each positive pattern in
// the band must either agree with CUDA or fall into exactly one documented case; every case must occur.
TEST(CudaUe4m3, GgmlDiffersFromCudaOnlyInDocumentedCases) {
    const float kSubTieQuirk = std::nextafter(0.5f * kE4M3MinSubnormal, 0.0f); // 2^-10 - 2^-34
    const auto  r            = sweep_band(kE4M3Band, [&](uint32_t u) {
        const float   x    = bits_f32(u);
        const uint8_t ggml = fp32_to_ue4m3_ggml(x);
        const uint8_t cuda = cuda_e4m3(x);
        if (ggml == cuda) {
            return true;
        }
        if (x >= kUe4m3GgmlCarryFrom) { // (a) [248, 448): ggml saturates to 448
            return ggml == kE4M3MaxCode;
        }
        if (x >= kUe4m3GgmlSubCapFrom && x < kE4M3MinNormal) { // (b) subnormal cap at 0x07
            return ggml == 0x07 && cuda == 0x08;
        }
        if (x == kSubTieQuirk) { // (c) x * 512 + 0.5f rounds up to 1.0 in fp32
            return ggml == 0x01 && cuda == 0x00;
        }
        // (d) exact ties: ggml rounds half up, CUDA to the even code below.
        const double mid = (double(e4m3_to_fp32(cuda)) + double(e4m3_to_fp32(uint8_t(cuda + 1)))) / 2;
        return ggml == cuda + 1 && (cuda & 1) == 0 && double(x) == mid;
    });
    expect_clean(r, 150'000'000, fp32_to_ue4m3_ggml, cuda_e4m3);

    // Each documented case really occurs (so the classification is not vacuous).
    EXPECT_EQ(fp32_to_ue4m3_ggml(300.0f), kE4M3MaxCode);
    EXPECT_EQ(cuda_e4m3(300.0f), 0x79);
    EXPECT_EQ(fp32_to_ue4m3_ggml(kUe4m3GgmlCarryFrom), kE4M3MaxCode);
    EXPECT_EQ(cuda_e4m3(kUe4m3GgmlCarryFrom), 0x78);
    EXPECT_EQ(fp32_to_ue4m3_ggml(kUe4m3GgmlSubCapFrom), 0x07);
    EXPECT_EQ(cuda_e4m3(kUe4m3GgmlSubCapFrom), 0x08);
    EXPECT_EQ(fp32_to_ue4m3_ggml(kSubTieQuirk), 0x01);
    EXPECT_EQ(cuda_e4m3(kSubTieQuirk), 0x00);
    EXPECT_EQ(fp32_to_ue4m3_ggml(1.0625f), 0x39);
    EXPECT_EQ(cuda_e4m3(1.0625f), 0x38);
    // Outside the band both saturate (ggml clamps to 448 first) or give 0.
    for (float x : { 512.0f, 1e9f, std::numeric_limits<float>::infinity() }) {
        EXPECT_EQ(fp32_to_ue4m3_ggml(x), cuda_e4m3(x)) << describe(x);
    }
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(kE4M3Band.lo, 0.0f)), 0x00);
    EXPECT_EQ(cuda_e4m3(std::nextafter(kE4M3Band.lo, 0.0f)), 0x00);
}

// ---------------------------------------------------------------------------------------------
// E2M1 vs __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest) and __nv_cvt_fp4_to_halfraw.

bool e2m1_agrees(float x) {
    if (std::isnan(x)) {
        return true; // documented difference (CUDA: +6, ours: zero magnitude), asserted separately
    }
    return fp32_to_e2m1_rne(x) == cuda_e2m1(x);
}

TEST(CudaE2M1, EncodeAroundEveryBoundary) {
    const auto r =
        sweep_boundaries(e2m1_grid(), kBoundaryUlps, false, [](uint32_t u) { return e2m1_agrees(bits_f32(u)); });
    expect_clean(r, 100'000, fp32_to_e2m1_rne, cuda_e2m1);
}

TEST(CudaE2M1, EncodeStridedFullRange) {
    const auto r = sweep_strided(kAllPatterns, [](uint32_t u) { return e2m1_agrees(bits_f32(u)); });
    expect_clean(r, 50'000'000, fp32_to_e2m1_rne, cuda_e2m1);
}

TEST(CudaE2M1, NaNDifference) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    EXPECT_EQ(cuda_e2m1(nan), kE2M1MaxCode);
    EXPECT_EQ(cuda_e2m1(-nan), kE2M1MaxCode);
    EXPECT_EQ(fp32_to_e2m1_rne(nan) & kE2M1MaxCode, 0);
}

TEST(CudaE2M1, DecodeAllCodes) {
    for (int c = 0; c < 16; c++) {
        const uint16_t h    = __nv_cvt_fp4_to_halfraw(__nv_fp4_storage_t(c), __NV_E2M1).x;
        const float    cuda = fp16_to_fp32(h);
        const float    ours = e2m1_to_fp32(uint8_t(c));
        if (c == kE2M1NegZero) {
            EXPECT_EQ(h, 0x8000);          // CUDA: -0
            EXPECT_EQ(f32_bits(ours), 0u); // ours: +0 (ggml code book)
        } else {
            EXPECT_EQ(f32_bits(ours), f32_bits(cuda)) << "code " << c;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fp16 vs __float2half_rn / __half2float.

bool fp16_agrees(float x) {
    const uint16_t ours = fp32_to_fp16(x);
    const uint16_t cuda = cuda_fp16(x);
    if (std::isnan(x)) {
        // NaN-ness only: ggml emits 0x7E00 | sign, CUDA's host path 0x7FFF.
        return (ours & 0x7FFF) == 0x7E00 && cuda == kCudaHalfNaN;
    }
    return ours == cuda;
}

TEST(CudaFp16, EncodeAroundEveryBoundary) {
    const auto r =
        sweep_boundaries(fp16_grid(), kFp16BoundaryUlps, false, [](uint32_t u) { return fp16_agrees(bits_f32(u)); });
    expect_clean(r, 8'000'000, fp32_to_fp16, cuda_fp16);
}

TEST(CudaFp16, EncodeStridedFullRange) {
    const auto r = sweep_strided(kAllPatterns, [](uint32_t u) { return fp16_agrees(bits_f32(u)); });
    expect_clean(r, 50'000'000, fp32_to_fp16, cuda_fp16);
}

TEST(CudaFp16, DecodeAllCodes) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        __half_raw raw;
        raw.x            = uint16_t(h);
        const float cuda = __half2float(__half(raw));
        const float ours = fp16_to_fp32(half_bits(h));
        if (std::isnan(cuda)) {
            ASSERT_TRUE(std::isnan(ours)) << h;
        } else {
            ASSERT_EQ(f32_bits(ours), f32_bits(cuda)) << h;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bf16 vs __float2bfloat16_rn / __bfloat162float. bf16 rounds at every binade, so there is no narrow band:
// strided full range plus every bf16 midpoint and its neighbours.

bool bf16_agrees(float x) {
    const uint16_t ours = fp32_to_bf16(x);
    const uint16_t cuda = cuda_bf16(x);
    if (std::isnan(x)) {
        return (ours & 0x7F80) == 0x7F80 && (ours & 0x007F) != 0 && cuda == kCudaBf16NaN;
    }
    return ours == cuda;
}

TEST(CudaBf16, EncodeStridedFullRange) {
    const auto r = sweep_strided(kAllPatterns, [](uint32_t u) { return bf16_agrees(bits_f32(u)); });
    expect_clean(r, 50'000'000, fp32_to_bf16, cuda_bf16);
}

TEST(CudaBf16, EncodeAroundEveryMidpoint) {
    // For every bf16 code b (both signs), the fp32 patterns within +-kBf16MidpointUlps of the midpoint
    // (b << 16) | 0x8000 between b and b + 1.
    constexpr int  kWidth  = 2 * kBf16MidpointUlps + 1;
    constexpr auto pattern = [](uint64_t i) {
        const int64_t mid = int64_t(((i / kWidth) << 16) | 0x8000u);
        return mid + int64_t(i % kWidth) - kBf16MidpointUlps;
    };
    const auto r = sweep((uint64_t(1) << 16) * kWidth, pattern, [](uint32_t u) { return bf16_agrees(bits_f32(u)); });
    expect_clean(r, (uint64_t(1) << 16) * kWidth, fp32_to_bf16, cuda_bf16);
}

TEST(CudaBf16, DecodeAllCodes) {
    for (uint32_t b = 0; b < 0x10000; b++) {
        __nv_bfloat16_raw raw;
        raw.x            = uint16_t(b);
        const float cuda = __bfloat162float(__nv_bfloat16(raw));
        const float ours = bf16_to_fp32(bf16_bits(b));
        if (std::isnan(cuda)) {
            ASSERT_TRUE(std::isnan(ours)) << b;
        } else {
            ASSERT_EQ(f32_bits(ours), f32_bits(cuda)) << b;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// E8M0 vs __nv_cvt_e8m0_to_bf16raw (every E8M0 value is a bf16 value).

TEST(CudaE8M0, DecodeAllCodes) {
    for (int e = 0; e < 255; e++) {
        const uint32_t cuda = uint32_t(__nv_cvt_e8m0_to_bf16raw(__nv_fp8_storage_t(e)).x) << 16;
        EXPECT_EQ(f32_bits(e8m0_to_fp32(uint8_t(e))), cuda) << "e = " << e;
        EXPECT_EQ(e8m0_to_fp32_half(uint8_t(e)), 0.5f * bits_f32(cuda)) << "e = " << e;
    }
    // 0xFF: OCP NaN in CUDA, +inf in ggml (documented difference).
    EXPECT_TRUE(std::isnan(bf16_to_fp32(__nv_cvt_e8m0_to_bf16raw(0xFF).x)));
    EXPECT_EQ(f32_bits(e8m0_to_fp32(0xFF)), kF32Inf);
}

#else // !NIBBLE_HAVE_CUDA_FP_HEADERS

TEST(CudaFpCrosscheck, HeadersUnavailable) {
    GTEST_SKIP() << "CUDA headers (cuda_fp8.h, cuda_fp4.h, cuda_fp16.h, cuda_bf16.h) not on the include path";
}

#endif

} // namespace
} // namespace nibble
