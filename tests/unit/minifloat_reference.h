// Constants and slow, obviously-correct references shared by the scalar-codec tests
// (test_minifloat.cpp: FP8 and UE4M3; test_minifloat_half.cpp: E8M0, E2M1, fp16, bf16).
#pragma once

#include "core/half.h"
#include "formats/minifloat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace nibble {
namespace {

// ---------------------------------------------------------------------------------------------
// Named constants (FORMATS.md §1.2–§1.8). Powers of two are written with ldexp-free literals so that
// the tests do not depend on the code under test to build their expectations.

constexpr uint8_t kSign8 = 0x80; // sign bit of an 8-bit float

constexpr float   kE4M3Max          = 448.0f;
constexpr float   kE4M3MaxHalfUlp   = 16.0f;         // ulp at the top binade is 32
constexpr float   kE4M3MinNormal    = 0.015625f;     // 2^-6
constexpr float   kE4M3MinSubnormal = 0.001953125f;  // 2^-9
constexpr float   kE4M3HalfMinSub   = 0.0009765625f; // 2^-10: tie between 0 and the min subnormal
constexpr uint8_t kE4M3MaxCode      = 0x7E;
constexpr uint8_t kE4M3NaNCode      = 0x7F;
constexpr uint8_t kE4M3MinNormCode  = 0x08;

constexpr float   kE5M2Max          = 57344.0f;
constexpr float   kE5M2OverflowTie  = 61440.0f;           // halfway between 57344 and 2^16
constexpr float   kE5M2MinNormal    = 6.103515625e-05f;   // 2^-14
constexpr float   kE5M2MinSubnormal = 1.52587890625e-05f; // 2^-16
constexpr float   kE5M2HalfMinSub   = 7.62939453125e-06f; // 2^-17
constexpr uint8_t kE5M2MaxCode      = 0x7B;
constexpr uint8_t kE5M2InfCode      = 0x7C;
constexpr uint8_t kE5M2NaNCode      = 0x7F; // what our encoder emits for NaN (| sign)

constexpr float     kFp16Max          = 65504.0f;
constexpr float     kFp16OverflowTie  = 65520.0f;                // halfway between 65504 and 2^16: ties to even -> inf
constexpr float     kFp16MinNormal    = 6.103515625e-05f;        // 2^-14
constexpr float     kFp16MinSubnormal = 5.9604644775390625e-08f; // 2^-24
constexpr half_bits kFp16Inf          = 0x7C00;
constexpr half_bits kFp16CanonicalNaN = 0x7E00; // ggml's NaN output (sign kept), §1.2
constexpr half_bits kFp16Sign         = 0x8000;
constexpr half_bits kFp16MaxCode      = 0x7BFF;

constexpr bf16_bits kBf16Inf      = 0x7F80;
constexpr bf16_bits kBf16QuietBit = 0x0040; // forced on for NaN inputs, §1.3
constexpr bf16_bits kBf16MaxCode  = 0x7F7F;
constexpr uint32_t  kF32Sign      = 0x80000000u;
constexpr uint32_t  kF32ExpMask   = 0x7F800000u;
constexpr uint32_t  kF32MantMask  = 0x007FFFFFu;
constexpr uint32_t  kF32QuietBit  = 0x00400000u;

constexpr float   kE2M1Max          = 6.0f;
constexpr uint8_t kE2M1MaxCode      = 0x7;
constexpr uint8_t kE2M1Sign         = 0x8;
// ggml's FP4 code book is doubled (kvalues = 2 * value), so best_index_fp4_ggml(x, e) with e = 0.5 works on
// plain E2M1 values (§1.8).
constexpr float   kFp4GgmlUnitScale = 0.5f;

// ggml UE4M3 encoder thresholds (§1.6).
constexpr float kUe4m3GgmlSaturateFrom = 256.0f; // E + 7 >= 15 -> 0x7E
constexpr float kUe4m3GgmlCarryFrom    = 248.0f; // 240 (0x77) + half ulp: mantissa carry reaches exponent 15
constexpr float kUe4m3GgmlSubCapFrom   = 7.5f * kE4M3MinSubnormal; // [7.5*2^-9, 2^-6) -> 0x07, not 0x08

constexpr uint64_t kRandomSamples = 4'000'000; // random fp32 bit patterns per fp16/bf16 reference test
constexpr uint32_t kSeed          = 0x5EED1234u;

// E4M3 positive value table, copied from FORMATS.md §1.4 (row = exponent field, column = mantissa).
// Index 0x7F is NaN. Kept as literal numbers so the decoder is checked against data, not a formula.
constexpr double kNaN            = std::numeric_limits<double>::quiet_NaN();
constexpr double kE4M3Table[128] = {
    0.0,      0.001953125, 0.00390625, 0.005859375, 0.0078125, 0.009765625, 0.01171875, 0.013671875, // 0x00
    0.015625, 0.017578125, 0.01953125, 0.021484375, 0.0234375, 0.025390625, 0.02734375, 0.029296875, // 0x08
    0.03125,  0.03515625,  0.0390625,  0.04296875,  0.046875,  0.05078125,  0.0546875,  0.05859375,  // 0x10
    0.0625,   0.0703125,   0.078125,   0.0859375,   0.09375,   0.1015625,   0.109375,   0.1171875,   // 0x18
    0.125,    0.140625,    0.15625,    0.171875,    0.1875,    0.203125,    0.21875,    0.234375,    // 0x20
    0.25,     0.28125,     0.3125,     0.34375,     0.375,     0.40625,     0.4375,     0.46875,     // 0x28
    0.5,      0.5625,      0.625,      0.6875,      0.75,      0.8125,      0.875,      0.9375,      // 0x30
    1.0,      1.125,       1.25,       1.375,       1.5,       1.625,       1.75,       1.875,       // 0x38
    2.0,      2.25,        2.5,        2.75,        3.0,       3.25,        3.5,        3.75,        // 0x40
    4.0,      4.5,         5.0,        5.5,         6.0,       6.5,         7.0,        7.5,         // 0x48
    8.0,      9.0,         10.0,       11.0,        12.0,      13.0,        14.0,       15.0,        // 0x50
    16.0,     18.0,        20.0,       22.0,        24.0,      26.0,        28.0,       30.0,        // 0x58
    32.0,     36.0,        40.0,       44.0,        48.0,      52.0,        56.0,       60.0,        // 0x60
    64.0,     72.0,        80.0,       88.0,        96.0,      104.0,       112.0,      120.0,       // 0x68
    128.0,    144.0,       160.0,      176.0,       192.0,     208.0,       224.0,      240.0,       // 0x70
    256.0,    288.0,       320.0,      352.0,       384.0,     416.0,       448.0,      kNaN,        // 0x78
};

// E2M1 code -> value (§1.8). Code 8 is -0.
constexpr float kE2M1Values[16] = { 0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f };

// ---------------------------------------------------------------------------------------------
// Helpers.

inline std::string hex32(uint32_t u) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08X", u);
    return buf;
}

inline std::string describe(float x) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.9g (%s)", double(x), hex32(f32_bits(x)).c_str());
    return buf;
}

// Magnitude of an E4M3 code by the §1.4 formula; 0x7F gives 480 (the value the bit pattern would have
// without the NaN rule), which is what ggml's UE4M3 decoder computes for 0xFF.
inline double e4m3_formula_magnitude(uint8_t mag) {
    const int exp = (mag >> 3) & 0xF;
    const int man = mag & 0x7;
    return exp == 0 ? std::ldexp(double(man), -9) : std::ldexp(1.0 + man / 8.0, exp - 7);
}

inline double e5m2_formula_magnitude(uint8_t mag) {
    const int exp = (mag >> 2) & 0x1F;
    const int man = mag & 0x3;
    return exp == 0 ? std::ldexp(double(man), -16) : std::ldexp(1.0 + man / 4.0, exp - 15);
}

// Brute-force round-to-nearest-even onto a sorted grid of non-negative values indexed by code: the nearest
// value wins; on an exact tie the even code wins (adjacent codes alternate parity, and an even code has an
// even mantissa in all three formats used here). Exact because every value and |x| are exact in double.
inline int nearest_code_rne(double a, const std::vector<double> & values) {
    int    best     = 0;
    double best_err = std::fabs(values[0] - a);
    for (int c = 1; c < int(values.size()); c++) {
        const double err = std::fabs(values[size_t(c)] - a);
        if (err < best_err || (err == best_err && (c & 1) == 0)) {
            best     = c;
            best_err = err;
        }
    }
    return best;
}

inline const std::vector<double> & e4m3_grid() { // codes 0x00..0x7E
    static const std::vector<double> grid(kE4M3Table, kE4M3Table + kE4M3MaxCode + 1);
    return grid;
}

inline const std::vector<double> & e5m2_grid() { // codes 0x00..0x7B
    static const std::vector<double> grid = [] {
        std::vector<double> g;
        for (int c = 0; c <= kE5M2MaxCode; c++) {
            g.push_back(e5m2_formula_magnitude(uint8_t(c)));
        }
        return g;
    }();
    return grid;
}

inline const std::vector<double> & e2m1_grid() { // codes 0..7
    static const std::vector<double> grid(kE2M1Values, kE2M1Values + 8);
    return grid;
}

// Reference saturating RNE encoder for an 8-bit (or 4-bit) float: NaN -> nan_code | sign, |x| >= max ->
// max code, else brute-force nearest.
inline uint8_t ref_encode_sat(float x, const std::vector<double> & grid, uint8_t sign_bit, uint8_t nan_code) {
    const uint8_t sign = std::signbit(x) ? sign_bit : 0;
    if (std::isnan(x)) {
        return uint8_t(sign | nan_code);
    }
    const double a = std::fabs(double(x));
    if (a >= grid.back()) {
        return uint8_t(sign | (grid.size() - 1));
    }
    return uint8_t(sign | nearest_code_rne(a, grid));
}

// Slow, obviously-correct fp32 -> binary16 / bfloat16: exact double arithmetic and an explicit RNE of the
// value scaled by its quantum (nearbyint in the default rounding mode). NaN is handled by the callers.
//   mant_bits: explicit mantissa bits (10 / 7); min_exp: exponent of the min normal (-14 / -126);
//   bias: exponent bias (15 / 127); overflow: first power of two that is not finite in the target.
inline uint16_t ref_round_binary(float x, int mant_bits, int min_exp, int bias, double overflow, uint16_t inf_code) {
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    const double   a    = std::fabs(double(x));
    if (std::isinf(a)) {
        return uint16_t(sign | inf_code);
    }
    if (a == 0.0) {
        return sign;
    }
    const int    e     = std::max(std::ilogb(a), min_exp); // quantum exponent base: subnormals share min_exp
    const int    q_exp = e - mant_bits;
    const double n     = std::nearbyint(std::ldexp(a, -q_exp)); // exact scaling, then RNE to an integer
    const double r     = std::ldexp(n, q_exp);
    if (r >= overflow) {
        return uint16_t(sign | inf_code);
    }
    if (r < std::ldexp(1.0, min_exp)) {
        return uint16_t(sign | uint16_t(n)); // subnormal: the code is the multiple of the quantum
    }
    const int re   = std::ilogb(r); // may be e + 1 after a carry
    const int mant = int(std::ldexp(r, -re) * double(1 << mant_bits)) - (1 << mant_bits);
    return uint16_t(sign | uint16_t(((re + bias) << mant_bits) | mant));
}

inline half_bits ref_fp32_to_fp16(float x) {
    return ref_round_binary(x, 10, -14, 15, 65536.0, kFp16Inf);
}

inline bf16_bits ref_fp32_to_bf16(float x) {
    return ref_round_binary(x, 7, -126, 127, std::ldexp(1.0, 128), kBf16Inf);
}

inline bool is_fp16_nan(half_bits h) {
    return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
}

// Random fp32 bit patterns plus every fp16 / bf16 rounding boundary (each midpoint and +-1, +-2 fp32 ulps
// around it, both signs): the inputs for the fp32 -> fp16 / bf16 reference comparisons.
inline std::vector<uint32_t> random_bit_patterns(uint64_t n) {
    std::mt19937                            rng(kSeed);
    std::uniform_int_distribution<uint32_t> dist;
    std::vector<uint32_t>                   v(n);
    for (auto & u : v) {
        u = dist(rng);
    }
    return v;
}

inline std::vector<uint32_t> fp16_boundary_patterns() {
    std::vector<uint32_t> v;
    for (uint32_t h = 0; h <= kFp16MaxCode; h++) {
        // Midpoint between h and h + 1 (0x7C00 stands for 2^16 here): needs 12 significant bits, exact in fp32.
        const double lo  = double(fp16_to_fp32(half_bits(h)));
        const double hi  = h == kFp16MaxCode ? 65536.0 : double(fp16_to_fp32(half_bits(h + 1)));
        const float  mid = float((lo + hi) / 2);
        for (int d = -2; d <= 2; d++) {
            const uint32_t u = uint32_t(int64_t(f32_bits(mid)) + d);
            v.push_back(u);
            v.push_back(u | kF32Sign);
        }
    }
    return v;
}

inline std::vector<uint32_t> bf16_boundary_patterns() {
    std::vector<uint32_t> v;
    for (uint32_t b = 0; b <= kBf16MaxCode; b++) {
        const uint32_t mid = (b << 16) | 0x8000u; // exact midpoint between bf16 codes b and b + 1
        for (int d = -2; d <= 2; d++) {
            const uint32_t u = uint32_t(int64_t(mid) + d);
            v.push_back(u);
            v.push_back(u | kF32Sign);
        }
    }
    return v;
}

// Dense probe set for the 8/4-bit encoders: all midpoints between adjacent grid values and their fp32
// neighbours, every grid value, plus random values over the whole range and random bit patterns.
inline std::vector<float> probe_values(const std::vector<double> & grid, uint64_t n_random) {
    std::vector<float> v;
    for (size_t c = 0; c < grid.size(); c++) {
        v.push_back(float(grid[c]));
        if (c + 1 < grid.size()) {
            const float mid = float((grid[c] + grid[c + 1]) / 2); // exact: one extra bit
            v.push_back(mid);
            v.push_back(std::nextafter(mid, 0.0f));
            v.push_back(std::nextafter(mid, std::numeric_limits<float>::infinity()));
        }
    }
    std::mt19937                            rng(kSeed);
    std::uniform_real_distribution<float>   uni(0.0f, float(grid.back()) * 1.25f);
    std::uniform_int_distribution<uint32_t> bits;
    for (uint64_t i = 0; i < n_random; i++) {
        v.push_back(uni(rng));
        v.push_back(bits_f32(bits(rng)));
    }
    const size_t n = v.size();
    for (size_t i = 0; i < n; i++) {
        v.push_back(-v[i]);
    }
    return v;
}

} // namespace
} // namespace nibble
