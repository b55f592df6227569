// Unit tests for the scalar codecs in formats/minifloat.h (FP8 E4M3 / E5M2, UE4M3, E8M0, E2M1) and
// core/half.h (fp16 / bf16). The facts they pin down are FORMATS.md §1.2–§1.8. Decoders are checked
// exhaustively against the value tables / formulas; encoders against hand-picked edge values and against
// slow, obviously-correct references (exact double arithmetic, brute-force nearest-value search).
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

std::string hex32(uint32_t u) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "0x%08X", u);
    return buf;
}

std::string describe(float x) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.9g (%s)", double(x), hex32(f32_bits(x)).c_str());
    return buf;
}

// Magnitude of an E4M3 code by the §1.4 formula; 0x7F gives 480 (the value the bit pattern would have
// without the NaN rule), which is what ggml's UE4M3 decoder computes for 0xFF.
double e4m3_formula_magnitude(uint8_t mag) {
    const int exp = (mag >> 3) & 0xF;
    const int man = mag & 0x7;
    return exp == 0 ? std::ldexp(double(man), -9) : std::ldexp(1.0 + man / 8.0, exp - 7);
}

double e5m2_formula_magnitude(uint8_t mag) {
    const int exp = (mag >> 2) & 0x1F;
    const int man = mag & 0x3;
    return exp == 0 ? std::ldexp(double(man), -16) : std::ldexp(1.0 + man / 4.0, exp - 15);
}

// Brute-force round-to-nearest-even onto a sorted grid of non-negative values indexed by code: the nearest
// value wins; on an exact tie the even code wins (adjacent codes alternate parity, and an even code has an
// even mantissa in all three formats used here). Exact because every value and |x| are exact in double.
int nearest_code_rne(double a, const std::vector<double> & values) {
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

const std::vector<double> & e4m3_grid() { // codes 0x00..0x7E
    static const std::vector<double> grid(kE4M3Table, kE4M3Table + kE4M3MaxCode + 1);
    return grid;
}

const std::vector<double> & e5m2_grid() { // codes 0x00..0x7B
    static const std::vector<double> grid = [] {
        std::vector<double> g;
        for (int c = 0; c <= kE5M2MaxCode; c++) {
            g.push_back(e5m2_formula_magnitude(uint8_t(c)));
        }
        return g;
    }();
    return grid;
}

const std::vector<double> & e2m1_grid() { // codes 0..7
    static const std::vector<double> grid(kE2M1Values, kE2M1Values + 8);
    return grid;
}

// Reference saturating RNE encoder for an 8-bit (or 4-bit) float: NaN -> nan_code | sign, |x| >= max ->
// max code, else brute-force nearest.
uint8_t ref_encode_sat(float x, const std::vector<double> & grid, uint8_t sign_bit, uint8_t nan_code) {
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
uint16_t ref_round_binary(float x, int mant_bits, int min_exp, int bias, double overflow, uint16_t inf_code) {
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

half_bits ref_fp32_to_fp16(float x) {
    return ref_round_binary(x, 10, -14, 15, 65536.0, kFp16Inf);
}

bf16_bits ref_fp32_to_bf16(float x) {
    return ref_round_binary(x, 7, -126, 127, std::ldexp(1.0, 128), kBf16Inf);
}

bool is_fp16_nan(half_bits h) {
    return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
}

// Random fp32 bit patterns plus every fp16 / bf16 rounding boundary (each midpoint and +-1, +-2 fp32 ulps
// around it, both signs): the inputs for the fp32 -> fp16 / bf16 reference comparisons.
std::vector<uint32_t> random_bit_patterns(uint64_t n) {
    std::mt19937                            rng(kSeed);
    std::uniform_int_distribution<uint32_t> dist;
    std::vector<uint32_t>                   v(n);
    for (auto & u : v) {
        u = dist(rng);
    }
    return v;
}

std::vector<uint32_t> fp16_boundary_patterns() {
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

std::vector<uint32_t> bf16_boundary_patterns() {
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
std::vector<float> probe_values(const std::vector<double> & grid, uint64_t n_random) {
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

// ---------------------------------------------------------------------------------------------
// FP8 E4M3

TEST(E4M3Decode, AllCodesMatchTableAndFormula) {
    for (int c = 0; c < 256; c++) {
        const uint8_t code = uint8_t(c);
        const uint8_t mag  = code & 0x7F;
        const float   got  = e4m3_to_fp32(code);
        if (mag == kE4M3NaNCode) {
            EXPECT_TRUE(std::isnan(got)) << "code " << c; // 0x7F and 0xFF are the only NaNs
            continue;
        }
        ASSERT_EQ(kE4M3Table[mag], e4m3_formula_magnitude(mag)) << "table/formula disagree at " << int(mag);
        const float want = float((code & kSign8) ? -kE4M3Table[mag] : kE4M3Table[mag]);
        EXPECT_EQ(f32_bits(got), f32_bits(want)) << "code " << c << ": got " << describe(got); // bitwise: -0
    }
}

TEST(E4M3Decode, NamedValues) {
    EXPECT_EQ(e4m3_to_fp32(kE4M3MaxCode), kE4M3Max);
    EXPECT_EQ(e4m3_to_fp32(kE4M3MaxCode | kSign8), -kE4M3Max);
    EXPECT_EQ(e4m3_to_fp32(kE4M3MinNormCode), kE4M3MinNormal);
    EXPECT_EQ(e4m3_to_fp32(0x01), kE4M3MinSubnormal);
    EXPECT_EQ(f32_bits(e4m3_to_fp32(0x80)), kF32Sign); // -0
    EXPECT_EQ(f32_bits(e4m3_to_fp32(0x00)), 0u);
    EXPECT_TRUE(std::isnan(e4m3_to_fp32(0x7F)));
    EXPECT_TRUE(std::isnan(e4m3_to_fp32(0xFF)));
}

TEST(E4M3Encode, Saturation) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float x :
         { kE4M3Max, std::nextafter(kE4M3Max, inf), 449.0f, kE4M3Max + kE4M3MaxHalfUlp,
           std::nextafter(kE4M3Max + kE4M3MaxHalfUlp, inf), 480.0f, 1e9f, std::numeric_limits<float>::max(), inf }) {
        EXPECT_EQ(fp32_to_e4m3_sat(x), kE4M3MaxCode) << describe(x);
        EXPECT_EQ(fp32_to_e4m3_sat(-x), kE4M3MaxCode | kSign8) << describe(-x);
    }
    // Just below the top: 432 is the tie between 416 (0x7D, odd) and 448 (0x7E, even).
    EXPECT_EQ(fp32_to_e4m3_sat(432.0f), 0x7E);
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(432.0f, 0.0f)), 0x7D);
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(kE4M3Max, 0.0f)), 0x7E);
}

TEST(E4M3Encode, NaNAndZero) {
    EXPECT_EQ(fp32_to_e4m3_sat(std::numeric_limits<float>::quiet_NaN()), kE4M3NaNCode);
    EXPECT_EQ(fp32_to_e4m3_sat(-std::numeric_limits<float>::quiet_NaN()), kE4M3NaNCode | kSign8);
    EXPECT_EQ(fp32_to_e4m3_sat(bits_f32(0x7F800001u)), kE4M3NaNCode); // signalling NaN, smallest payload
    EXPECT_EQ(fp32_to_e4m3_sat(bits_f32(0xFFFFFFFFu)), kE4M3NaNCode | kSign8);
    EXPECT_EQ(fp32_to_e4m3_sat(0.0f), 0x00);
    EXPECT_EQ(fp32_to_e4m3_sat(-0.0f), 0x80);
    EXPECT_EQ(fp32_to_e4m3_sat(bits_f32(1)), 0x00);  // fp32 min subnormal underflows
    EXPECT_EQ(fp32_to_e4m3_sat(-bits_f32(1)), 0x80); // ... keeping the sign
}

TEST(E4M3Encode, SubnormalRangeRoundsHalfToEven) {
    EXPECT_EQ(fp32_to_e4m3_sat(kE4M3MinSubnormal), 0x01);
    EXPECT_EQ(fp32_to_e4m3_sat(kE4M3HalfMinSub), 0x00); // tie 0 / 1 -> 0
    EXPECT_EQ(fp32_to_e4m3_sat(-kE4M3HalfMinSub), 0x80);
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(kE4M3HalfMinSub, 1.0f)), 0x01);
    EXPECT_EQ(fp32_to_e4m3_sat(3 * kE4M3HalfMinSub), 0x02); // tie 1 / 2 -> 2
    EXPECT_EQ(fp32_to_e4m3_sat(5 * kE4M3HalfMinSub), 0x02); // tie 2 / 3 -> 2
    EXPECT_EQ(fp32_to_e4m3_sat(7 * kE4M3HalfMinSub), 0x04); // tie 3 / 4 -> 4
    // 7.5 * 2^-9 is the tie between the largest subnormal (0x07) and the min normal (0x08, even).
    EXPECT_EQ(fp32_to_e4m3_sat(15 * kE4M3HalfMinSub), kE4M3MinNormCode);
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(15 * kE4M3HalfMinSub, 0.0f)), 0x07);
    EXPECT_EQ(fp32_to_e4m3_sat(kE4M3MinNormal), kE4M3MinNormCode);
}

TEST(E4M3Encode, NormalRangeRoundsHalfToEven) {
    EXPECT_EQ(fp32_to_e4m3_sat(1.0625f), 0x38); // tie 1.0 (m=0) / 1.125 (m=1) -> 1.0
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(1.0625f, 2.0f)), 0x39);
    EXPECT_EQ(fp32_to_e4m3_sat(1.1875f), 0x3A); // tie 1.125 / 1.25 -> 1.25
    EXPECT_EQ(fp32_to_e4m3_sat(std::nextafter(1.1875f, 0.0f)), 0x39);
    EXPECT_EQ(fp32_to_e4m3_sat(1.9375f), 0x40); // tie 1.875 / 2.0 -> 2.0, carry into the exponent
    EXPECT_EQ(fp32_to_e4m3_sat(kE4M3MinNormal * 1.0625f), 0x08);
    EXPECT_EQ(fp32_to_e4m3_sat(kE4M3MinNormal * 1.1875f), 0x0A);
    EXPECT_EQ(fp32_to_e4m3_sat(248.0f), 0x78); // tie 240 (0x77) / 256 (0x78) -> 256
    EXPECT_EQ(fp32_to_e4m3_sat(-1.0625f), 0xB8);
}

TEST(E4M3Encode, RoundTripsEveryNonNaNCode) {
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7F) == kE4M3NaNCode) {
            continue;
        }
        EXPECT_EQ(fp32_to_e4m3_sat(e4m3_to_fp32(uint8_t(c))), c) << "code " << c;
    }
}

TEST(E4M3Encode, MatchesBruteForceNearest) {
    for (float x : probe_values(e4m3_grid(), 200'000)) {
        ASSERT_EQ(fp32_to_e4m3_sat(x), ref_encode_sat(x, e4m3_grid(), kSign8, kE4M3NaNCode)) << describe(x);
    }
}

// ---------------------------------------------------------------------------------------------
// FP8 E5M2

TEST(E5M2Decode, AllCodesMatchFormula) {
    for (int c = 0; c < 256; c++) {
        const uint8_t code = uint8_t(c);
        const uint8_t mag  = code & 0x7F;
        const float   got  = e5m2_to_fp32(code);
        const bool    neg  = (code & kSign8) != 0;
        if (mag == kE5M2InfCode) {
            EXPECT_TRUE(std::isinf(got)) << "code " << c;
            EXPECT_EQ(std::signbit(got), neg) << "code " << c;
        } else if (mag > kE5M2InfCode) {
            EXPECT_TRUE(std::isnan(got)) << "code " << c; // 0x7D-0x7F, 0xFD-0xFF
        } else {
            const float want = float(neg ? -e5m2_formula_magnitude(mag) : e5m2_formula_magnitude(mag));
            EXPECT_EQ(f32_bits(got), f32_bits(want)) << "code " << c << ": got " << describe(got);
        }
    }
    EXPECT_EQ(e5m2_to_fp32(kE5M2MaxCode), kE5M2Max);
    EXPECT_EQ(e5m2_to_fp32(0x04), kE5M2MinNormal);
    EXPECT_EQ(e5m2_to_fp32(0x01), kE5M2MinSubnormal);
    EXPECT_EQ(f32_bits(e5m2_to_fp32(0x80)), kF32Sign);
}

TEST(E5M2Encode, SaturationNaNAndZero) {
    const float inf = std::numeric_limits<float>::infinity();
    // satfinite: everything at or above the max, including the tie that plain RNE would send to inf, and inf.
    for (float x : { kE5M2Max, std::nextafter(kE5M2Max, inf), std::nextafter(kE5M2OverflowTie, 0.0f), kE5M2OverflowTie,
                     65536.0f, 1e9f, std::numeric_limits<float>::max(), inf }) {
        EXPECT_EQ(fp32_to_e5m2_sat(x), kE5M2MaxCode) << describe(x);
        EXPECT_EQ(fp32_to_e5m2_sat(-x), kE5M2MaxCode | kSign8) << describe(-x);
    }
    EXPECT_EQ(fp32_to_e5m2_sat(std::numeric_limits<float>::quiet_NaN()), kE5M2NaNCode);
    EXPECT_EQ(fp32_to_e5m2_sat(-std::numeric_limits<float>::quiet_NaN()), kE5M2NaNCode | kSign8);
    EXPECT_EQ(fp32_to_e5m2_sat(bits_f32(0x7F800001u)), kE5M2NaNCode);
    EXPECT_EQ(fp32_to_e5m2_sat(0.0f), 0x00);
    EXPECT_EQ(fp32_to_e5m2_sat(-0.0f), 0x80);
}

TEST(E5M2Encode, RoundsHalfToEven) {
    EXPECT_EQ(fp32_to_e5m2_sat(kE5M2MinSubnormal), 0x01);
    EXPECT_EQ(fp32_to_e5m2_sat(kE5M2HalfMinSub), 0x00);     // tie 0 / 1 -> 0
    EXPECT_EQ(fp32_to_e5m2_sat(3 * kE5M2HalfMinSub), 0x02); // tie 1 / 2 -> 2
    EXPECT_EQ(fp32_to_e5m2_sat(7 * kE5M2HalfMinSub), 0x04); // tie 3 / 4 (min normal) -> 4
    EXPECT_EQ(fp32_to_e5m2_sat(kE5M2MinNormal), 0x04);
    EXPECT_EQ(fp32_to_e5m2_sat(1.125f), 0x3C); // tie 1.0 / 1.25 -> 1.0
    EXPECT_EQ(fp32_to_e5m2_sat(1.375f), 0x3E); // tie 1.25 / 1.5 -> 1.5
    EXPECT_EQ(fp32_to_e5m2_sat(1.875f), 0x40); // tie 1.75 / 2.0 -> 2.0 (exponent carry)
    EXPECT_EQ(fp32_to_e5m2_sat(std::nextafter(1.125f, 2.0f)), 0x3D);
    EXPECT_EQ(fp32_to_e5m2_sat(-1.375f), 0xBE);
}

TEST(E5M2Encode, RoundTripsEveryFiniteCode) {
    for (int c = 0; c < 256; c++) {
        const int mag = c & 0x7F;
        if (mag > kE5M2InfCode) {
            continue; // NaN
        }
        const int want = mag == kE5M2InfCode ? ((c & kSign8) | kE5M2MaxCode) : c; // satfinite: inf -> max
        EXPECT_EQ(fp32_to_e5m2_sat(e5m2_to_fp32(uint8_t(c))), want) << "code " << c;
    }
}

TEST(E5M2Encode, MatchesBruteForceNearest) {
    for (float x : probe_values(e5m2_grid(), 200'000)) {
        ASSERT_EQ(fp32_to_e5m2_sat(x), ref_encode_sat(x, e5m2_grid(), kSign8, kE5M2NaNCode)) << describe(x);
    }
}

// ---------------------------------------------------------------------------------------------
// UE4M3 (NVFP4 block scale)

TEST(Ue4m3GgmlDecode, AllCodes) {
    for (int c = 0; c < 256; c++) {
        const uint8_t code = uint8_t(c);
        const float   got  = ue4m3_to_fp32_half(code);
        // ggml: only the exact bytes 0x00 and 0x7F are special (-> +0); everything else reads the exponent as
        // (x >> 3) & 0xF, so bit 7 is ignored: 0x80 decodes to +0 (0 * 2^-9), and 0xFF is NOT the NaN sentinel
        // but decodes like the bit pattern 0x7F would without the NaN rule: 0.5 * 480 = 240.
        const double  want = (code == 0x00 || code == 0x7F) ? 0.0 : 0.5 * e4m3_formula_magnitude(code & 0x7F);
        EXPECT_EQ(f32_bits(got), f32_bits(float(want))) << "code " << c << ": got " << describe(got);
        if ((code & 0x7F) != 0x7F) {
            EXPECT_EQ(f32_bits(got), f32_bits(ue4m3_to_fp32_half(code & 0x7F))) << "bit 7 not ignored at " << c;
        }
    }
    EXPECT_EQ(ue4m3_to_fp32_half(kE4M3MaxCode), kE4M3Max / 2);
    EXPECT_EQ(ue4m3_to_fp32_half(0xFE), kE4M3Max / 2);
    EXPECT_EQ(ue4m3_to_fp32_half(0x7F), 0.0f);
    EXPECT_EQ(ue4m3_to_fp32_half(0xFF), 240.0f);
    EXPECT_EQ(ue4m3_to_fp32_half(0x01), kE4M3MinSubnormal / 2);
    EXPECT_EQ(ue4m3_to_fp32_half(kE4M3MinNormCode), kE4M3MinNormal / 2);
}

TEST(Ue4m3GgmlEncode, SaturatesFromCarryAt248) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float x : { kUe4m3GgmlCarryFrom, std::nextafter(kUe4m3GgmlSaturateFrom, 0.0f), kUe4m3GgmlSaturateFrom, 288.0f,
                     300.0f, 416.0f, std::nextafter(kE4M3Max, 0.0f), kE4M3Max, 449.0f, 1e9f, inf }) {
        EXPECT_EQ(fp32_to_ue4m3_ggml(x), kE4M3MaxCode) << describe(x);
    }
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(kUe4m3GgmlCarryFrom, 0.0f)), 0x77); // 240
    EXPECT_EQ(fp32_to_ue4m3_ggml(240.0f), 0x77);
}

TEST(Ue4m3GgmlEncode, SubnormalQuirks) {
    EXPECT_EQ(fp32_to_ue4m3_ggml(kUe4m3GgmlSubCapFrom), 0x07); // RNE would give 0x08
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(kE4M3MinNormal, 0.0f)), 0x07);
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(kUe4m3GgmlSubCapFrom, 0.0f)), 0x07);
    EXPECT_EQ(fp32_to_ue4m3_ggml(kE4M3MinNormal), kE4M3MinNormCode);
    EXPECT_EQ(fp32_to_ue4m3_ggml(kE4M3HalfMinSub), 0x01);     // 2^-10: half up
    EXPECT_EQ(fp32_to_ue4m3_ggml(5 * kE4M3HalfMinSub), 0x03); // half up (RNE: 0x02)
    EXPECT_EQ(fp32_to_ue4m3_ggml(3 * kE4M3HalfMinSub), 0x02);
    // trunc(x * 512 + 0.5f) is evaluated in fp32: for the float just below 2^-10, x * 512 = 0.5 - 2^-25 and the
    // fp32 addition rounds 1 - 2^-25 up to 1.0, so ggml still yields 0x01. One float further down it is 0.
    const float below = std::nextafter(kE4M3HalfMinSub, 0.0f);
    EXPECT_EQ(f32_bits(below), f32_bits(kE4M3HalfMinSub) - 1);
    EXPECT_EQ(fp32_to_ue4m3_ggml(below), 0x01);
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(below, 0.0f)), 0x00);
    EXPECT_EQ(fp32_to_ue4m3_ggml(bits_f32(1)), 0x00);
}

TEST(Ue4m3GgmlEncode, NormalTiesRoundHalfUp) {
    EXPECT_EQ(fp32_to_ue4m3_ggml(1.0625f), 0x39); // -> 1.125 (RNE: 1.0)
    EXPECT_EQ(fp32_to_ue4m3_ggml(1.1875f), 0x3A); // -> 1.25 (same as RNE)
    EXPECT_EQ(fp32_to_ue4m3_ggml(1.9375f), 0x40); // carry into the exponent
    EXPECT_EQ(fp32_to_ue4m3_ggml(kE4M3MinNormal * 1.0625f), 0x09);
    EXPECT_EQ(fp32_to_ue4m3_ggml(std::nextafter(1.0625f, 0.0f)), 0x38);
}

TEST(Ue4m3GgmlEncode, NonPositiveAndNaNGiveZero) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float x : { 0.0f, -0.0f, -1.0f, -kE4M3Max, -inf, std::numeric_limits<float>::quiet_NaN(),
                     -std::numeric_limits<float>::quiet_NaN(), bits_f32(0x7F800001u) }) {
        EXPECT_EQ(fp32_to_ue4m3_ggml(x), 0x00) << describe(x);
    }
}

TEST(Ue4m3GgmlEncode, RoundTripsReachableCodes) {
    for (int c = 1; c <= kE4M3MaxCode; c++) {
        const float x    = 2.0f * ue4m3_to_fp32_half(uint8_t(c));
        // 0x78-0x7D (256..416) are never produced: everything from 256 up encodes to 0x7E.
        const int   want = c >= 0x78 ? kE4M3MaxCode : c;
        EXPECT_EQ(fp32_to_ue4m3_ggml(x), want) << "code " << c;
    }
}

// The ggml encoder equals the RNE encoder except in the documented quirk regions (§1.6).
TEST(Ue4m3GgmlEncode, DiffersFromRneOnlyInDocumentedCases) {
    std::mt19937                            rng(kSeed);
    std::uniform_int_distribution<uint32_t> dist(1, f32_bits(512.0f)); // every positive float up to 512
    for (int i = 0; i < 2'000'000; i++) {
        const float   x    = bits_f32(dist(rng));
        const uint8_t ggml = fp32_to_ue4m3_ggml(x);
        const uint8_t rne  = fp32_to_ue4m3_rne(x);
        if (ggml == rne) {
            continue;
        }
        const double mid = rne < kE4M3MaxCode ? (kE4M3Table[rne] + kE4M3Table[rne + 1]) / 2 : -1.0;
        if (x >= kUe4m3GgmlCarryFrom) {
            EXPECT_EQ(ggml, kE4M3MaxCode) << describe(x);
        } else if (x == std::nextafter(kE4M3HalfMinSub, 0.0f)) {
            EXPECT_EQ(ggml, 0x01) << describe(x); // fp32 rounding of x * 512 + 0.5f, see SubnormalQuirks
        } else if (x >= kUe4m3GgmlSubCapFrom && x < kE4M3MinNormal) {
            EXPECT_EQ(ggml, 0x07) << describe(x);
        } else {
            EXPECT_EQ(ggml, rne + 1) << describe(x);
            EXPECT_EQ(double(x), mid) << "not a tie: " << describe(x); // random bits almost never hit one
        }
    }
}

TEST(Ue4m3Rne, TiesToEvenAndSaturates) {
    EXPECT_EQ(fp32_to_ue4m3_rne(1.0625f), 0x38);
    EXPECT_EQ(fp32_to_ue4m3_rne(kE4M3HalfMinSub), 0x00);
    EXPECT_EQ(fp32_to_ue4m3_rne(5 * kE4M3HalfMinSub), 0x02);
    EXPECT_EQ(fp32_to_ue4m3_rne(kUe4m3GgmlSubCapFrom), kE4M3MinNormCode);
    EXPECT_EQ(fp32_to_ue4m3_rne(kUe4m3GgmlSaturateFrom), 0x78);
    EXPECT_EQ(fp32_to_ue4m3_rne(300.0f), 0x79); // nearest is 288
    EXPECT_EQ(fp32_to_ue4m3_rne(kUe4m3GgmlCarryFrom), 0x78);
    EXPECT_EQ(fp32_to_ue4m3_rne(1e9f), kE4M3MaxCode);
    EXPECT_EQ(fp32_to_ue4m3_rne(std::numeric_limits<float>::infinity()), kE4M3MaxCode);
    EXPECT_EQ(fp32_to_ue4m3_rne(std::numeric_limits<float>::quiet_NaN()), kE4M3NaNCode);
    EXPECT_EQ(fp32_to_ue4m3_rne(-std::numeric_limits<float>::quiet_NaN()), kE4M3NaNCode); // no sign in UE4M3
    EXPECT_EQ(fp32_to_ue4m3_rne(-1.0f), 0x00);
    EXPECT_EQ(fp32_to_ue4m3_rne(-0.0f), 0x00);
}

TEST(Ue4m3Rne, EqualsE4M3OnPositiveInputs) {
    for (float x : probe_values(e4m3_grid(), 200'000)) {
        if (x > 0.0f) {
            ASSERT_EQ(fp32_to_ue4m3_rne(x), fp32_to_e4m3_sat(x)) << describe(x);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// E8M0

TEST(E8M0Decode, FullValueAllCodes) {
    for (int e = 0; e < 256; e++) {
        const float got = e8m0_to_fp32(uint8_t(e));
        if (e == 0) {
            EXPECT_EQ(f32_bits(got), 0x00400000u); // 2^-127, an fp32 subnormal
        } else if (e == 255) {
            // ggml does not special-case NaN: 255 << 23 is +inf (2^128 overflows). OCP MX says NaN.
            EXPECT_EQ(f32_bits(got), kF32ExpMask);
        } else {
            EXPECT_EQ(f32_bits(got), uint32_t(e) << 23) << "e = " << e;
        }
        if (e < 255) {
            EXPECT_EQ(double(got), std::ldexp(1.0, e - 127)) << "e = " << e;
        }
    }
}

TEST(E8M0Decode, HalfValueAllCodes) {
    for (int e = 0; e < 256; e++) {
        const float got = e8m0_to_fp32_half(uint8_t(e));
        EXPECT_EQ(double(got), std::ldexp(1.0, e - 128)) << "e = " << e; // exact, 2^-128 .. 2^127
        if (e < 255) {
            EXPECT_EQ(f32_bits(got), f32_bits(0.5f * e8m0_to_fp32(uint8_t(e)))) << "e = " << e;
        }
    }
    EXPECT_EQ(f32_bits(e8m0_to_fp32_half(0)), 0x00200000u);
    EXPECT_EQ(f32_bits(e8m0_to_fp32_half(1)), 0x00400000u);
    EXPECT_EQ(f32_bits(e8m0_to_fp32_half(2)), 0x00800000u);
    EXPECT_EQ(f32_bits(e8m0_to_fp32_half(255)), 0x7F000000u); // 2^127: NaN not handled
}

// ---------------------------------------------------------------------------------------------
// E2M1

TEST(E2M1Decode, AllCodes) {
    for (int c = 0; c < 16; c++) {
        // Value compare: ggml's table stores 0 for code 8, so the decoder returns +0 where the format has -0.
        EXPECT_EQ(e2m1_to_fp32(uint8_t(c)), kE2M1Values[c]) << "code " << c;
        EXPECT_EQ(float(kValuesFp4[c]), 2.0f * kE2M1Values[c]) << "code " << c;
        EXPECT_EQ(e2m1_to_fp32(uint8_t(c | 0xF0)), kE2M1Values[c]) << "high nibble must be ignored, code " << c;
    }
}

TEST(E2M1EncodeRne, Ties) {
    struct Tie {
        float   x;
        uint8_t code;
    };
    // Ties at 0.75, 1.75, 3.5 go up (to the even mantissa); at 0.25, 1.25, 2.5, 5 down.
    for (const Tie & t : { Tie{ 0.25f, 0 }, Tie{ 0.75f, 2 }, Tie{ 1.25f, 2 }, Tie{ 1.75f, 4 }, Tie{ 2.5f, 4 },
                           Tie{ 3.5f, 6 }, Tie{ 5.0f, 6 } }) {
        EXPECT_EQ(fp32_to_e2m1_rne(t.x), t.code) << describe(t.x);
        EXPECT_EQ(fp32_to_e2m1_rne(-t.x), t.code | kE2M1Sign) << describe(-t.x);
        // Off the tie, plain nearest: below goes to the lower code, above to the upper one.
        const int lower = nearest_code_rne(double(t.x) - 1e-3, e2m1_grid());
        EXPECT_EQ(fp32_to_e2m1_rne(std::nextafter(t.x, 0.0f)), lower) << describe(t.x);
        EXPECT_EQ(fp32_to_e2m1_rne(std::nextafter(t.x, 100.0f)), lower + 1) << describe(t.x);
    }
}

TEST(E2M1EncodeRne, SaturationZeroAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float x : { kE2M1Max, std::nextafter(kE2M1Max, inf), 7.0f, 100.0f, std::numeric_limits<float>::max(), inf }) {
        EXPECT_EQ(fp32_to_e2m1_rne(x), kE2M1MaxCode) << describe(x);
        EXPECT_EQ(fp32_to_e2m1_rne(-x), kE2M1MaxCode | kE2M1Sign) << describe(-x);
    }
    EXPECT_EQ(fp32_to_e2m1_rne(0.0f), 0);
    EXPECT_EQ(fp32_to_e2m1_rne(-0.0f), kE2M1Sign); // -0 is code 8
    EXPECT_EQ(fp32_to_e2m1_rne(-0.1f), kE2M1Sign);
    // The header maps NaN to a zero magnitude (sign bit = NaN's sign). CUDA's host path maps NaN to +6 instead.
    EXPECT_EQ(fp32_to_e2m1_rne(std::numeric_limits<float>::quiet_NaN()) & kE2M1MaxCode, 0);
    EXPECT_EQ(fp32_to_e2m1_rne(-std::numeric_limits<float>::quiet_NaN()) & kE2M1MaxCode, 0);
}

TEST(E2M1EncodeRne, RoundTripsAndMatchesBruteForceNearest) {
    for (int c = 0; c < 16; c++) {
        if (c != kE2M1Sign) {
            EXPECT_EQ(fp32_to_e2m1_rne(e2m1_to_fp32(uint8_t(c))), c) << "code " << c;
        }
    }
    for (float x : probe_values(e2m1_grid(), 100'000)) {
        if (std::isnan(x)) {
            continue; // NaN -> 0 is the header's choice (tested above), not an RNE property
        }
        ASSERT_EQ(fp32_to_e2m1_rne(x), ref_encode_sat(x, e2m1_grid(), kE2M1Sign, 0)) << describe(x);
    }
}

TEST(E2M1GgmlBestIndex, TiesGoToSmallerMagnitude) {
    struct Tie {
        float   x;
        uint8_t code;
    };
    // Unit scale: e = 0.5 because kvalues_fp4 is doubled. Compare the RNE column: 0.75, 1.75, 3.5 differ.
    for (const Tie & t : { Tie{ 0.25f, 0 }, Tie{ 0.75f, 1 }, Tie{ 1.25f, 2 }, Tie{ 1.75f, 3 }, Tie{ 2.5f, 4 },
                           Tie{ 3.5f, 5 }, Tie{ 5.0f, 6 } }) {
        EXPECT_EQ(best_index_fp4_ggml(t.x, kFp4GgmlUnitScale), t.code) << describe(t.x);
        // Negative ties: the first match in the scan wins, and code 0 (+0) precedes code 8 (-0).
        const int neg = t.code == 0 ? 0 : t.code | kE2M1Sign;
        EXPECT_EQ(best_index_fp4_ggml(-t.x, kFp4GgmlUnitScale), neg) << describe(-t.x);
    }
    // Same ties in doubled units (e = 1): 1.5 lies between 1 and 2.
    EXPECT_EQ(best_index_fp4_ggml(1.5f, 1.0f), 1);
    EXPECT_EQ(best_index_fp4_ggml(3.5f, 1.0f), 3);
    EXPECT_EQ(best_index_fp4_ggml(7.0f, 1.0f), 5);
}

TEST(E2M1GgmlBestIndex, SaturationZeroAndNaN) {
    const float inf = std::numeric_limits<float>::infinity();
    for (float x : { kE2M1Max, 7.0f, 100.0f, 1e6f }) {
        EXPECT_EQ(best_index_fp4_ggml(x, kFp4GgmlUnitScale), kE2M1MaxCode) << describe(x);
        EXPECT_EQ(best_index_fp4_ggml(-x, kFp4GgmlUnitScale), kE2M1MaxCode | kE2M1Sign) << describe(-x);
    }
    // Once |x| is so large that |6 - x| rounds to |x| in fp32 (and at +-inf, where every distance is inf),
    // nothing is strictly better than code 0 and ggml's scan returns 0 instead of a saturated code. The block
    // quantizers never get there (the scale maps the block maximum to 6), so this only documents the scan.
    EXPECT_EQ(best_index_fp4_ggml(std::numeric_limits<float>::max(), kFp4GgmlUnitScale), 0);
    EXPECT_EQ(best_index_fp4_ggml(inf, kFp4GgmlUnitScale), 0);
    EXPECT_EQ(best_index_fp4_ggml(-inf, kFp4GgmlUnitScale), 0);
    EXPECT_EQ(best_index_fp4_ggml(-0.0f, kFp4GgmlUnitScale), 0); // -0 (code 8) is never produced
    EXPECT_EQ(best_index_fp4_ggml(-0.1f, kFp4GgmlUnitScale), 0);
    EXPECT_EQ(best_index_fp4_ggml(std::numeric_limits<float>::quiet_NaN(), kFp4GgmlUnitScale), 0);
}

// On a grid where fp32 arithmetic is exact, ggml's scan equals RNE except at the ties that RNE rounds up, and
// never emits code 8.
TEST(E2M1GgmlBestIndex, DiffersFromRneOnlyAtUpwardTies) {
    constexpr int kSteps = 1024; // x = k / 1024, |x| <= 8
    for (int k = -8 * kSteps; k <= 8 * kSteps; k++) {
        const float   x    = float(k) / kSteps;
        const uint8_t ggml = best_index_fp4_ggml(x, kFp4GgmlUnitScale);
        const uint8_t rne  = fp32_to_e2m1_rne(x);
        ASSERT_NE(ggml, kE2M1Sign) << describe(x);
        const float ax = std::fabs(x);
        if (ax == 0.75f || ax == 1.75f || ax == 3.5f) {
            EXPECT_EQ(ggml, rne - 1) << describe(x);
        } else if (rne == kE2M1Sign) {
            EXPECT_EQ(ggml, 0) << describe(x);
        } else {
            EXPECT_EQ(ggml, rne) << describe(x);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fp16

TEST(Fp16Decode, AllCodesMatchFormula) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        const uint32_t sign = (h & kFp16Sign) << 16;
        const int      exp  = (h >> 10) & 0x1F;
        const uint32_t man  = h & 0x3FF;
        const uint32_t got  = f32_bits(fp16_to_fp32(half_bits(h)));
        uint32_t       want;
        if (exp == 0x1F) {
            // inf; or NaN with its payload kept and the quiet bit forced on (the decoder's float multiply
            // quiets signalling NaNs, as ggml's identical code and F16C's vcvtph2ps do).
            want = sign | kF32ExpMask | (man << 13) | (man != 0 ? kF32QuietBit : 0u);
        } else {
            const double mag = exp == 0 ? std::ldexp(double(man), -24) : std::ldexp(1024.0 + man, exp - 25);
            want             = sign | f32_bits(float(mag));
        }
        ASSERT_EQ(got, want) << "h = " << hex32(h);
    }
    EXPECT_EQ(fp16_to_fp32(kFp16MaxCode), kFp16Max);
    EXPECT_EQ(fp16_to_fp32(0x0001), kFp16MinSubnormal);
    EXPECT_EQ(fp16_to_fp32(0x0400), kFp16MinNormal);
}

TEST(Fp16RoundTrip, AllCodes) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        const half_bits back = fp32_to_fp16(fp16_to_fp32(half_bits(h)));
        const half_bits want =
            is_fp16_nan(half_bits(h)) ? half_bits((h & kFp16Sign) | kFp16CanonicalNaN) : half_bits(h);
        ASSERT_EQ(back, want) << "h = " << hex32(h);
    }
}

TEST(Fp16Encode, EdgeValues) {
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(fp32_to_fp16(kFp16Max), kFp16MaxCode);
    EXPECT_EQ(fp32_to_fp16(std::nextafter(kFp16OverflowTie, 0.0f)), kFp16MaxCode);
    EXPECT_EQ(fp32_to_fp16(kFp16OverflowTie), kFp16Inf); // tie -> even (inf)
    EXPECT_EQ(fp32_to_fp16(-kFp16OverflowTie), kFp16Inf | kFp16Sign);
    EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::max()), kFp16Inf);
    EXPECT_EQ(fp32_to_fp16(inf), kFp16Inf);
    EXPECT_EQ(fp32_to_fp16(-inf), kFp16Inf | kFp16Sign);
    EXPECT_EQ(fp32_to_fp16(kFp16MinSubnormal), 0x0001);
    EXPECT_EQ(fp32_to_fp16(kFp16MinSubnormal / 2), 0x0000); // tie -> even (0)
    EXPECT_EQ(fp32_to_fp16(std::nextafter(kFp16MinSubnormal / 2, 1.0f)), 0x0001);
    EXPECT_EQ(fp32_to_fp16(3 * kFp16MinSubnormal / 2), 0x0002);
    EXPECT_EQ(fp32_to_fp16(kFp16MinNormal), 0x0400);
    EXPECT_EQ(fp32_to_fp16(std::nextafter(kFp16MinNormal, 0.0f)), 0x0400); // rounds up into the normal range
    EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
    EXPECT_EQ(fp32_to_fp16(-0.0f), kFp16Sign);
    EXPECT_EQ(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3C00); // tie -> even
    EXPECT_EQ(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3C02); // tie -> even
    EXPECT_EQ(fp32_to_fp16(bits_f32(0x7FC00000u)), kFp16CanonicalNaN);
    EXPECT_EQ(fp32_to_fp16(bits_f32(0x7F800001u)), kFp16CanonicalNaN); // payload dropped, quiet
    EXPECT_EQ(fp32_to_fp16(bits_f32(0xFF800001u)), kFp16CanonicalNaN | kFp16Sign);
}

TEST(Fp16Encode, AllNaNInputsCanonicalise) {
    for (uint32_t m = 1; m <= kF32MantMask; m++) {
        const uint32_t u = kF32ExpMask | m;
        ASSERT_EQ(fp32_to_fp16(bits_f32(u)), kFp16CanonicalNaN) << hex32(u);
        ASSERT_EQ(fp32_to_fp16(bits_f32(u | kF32Sign)), kFp16CanonicalNaN | kFp16Sign) << hex32(u | kF32Sign);
    }
}

TEST(Fp16Encode, RandomAndBoundaryBitsMatchReference) {
    std::vector<uint32_t>       inputs = random_bit_patterns(kRandomSamples);
    const std::vector<uint32_t> bounds = fp16_boundary_patterns();
    inputs.insert(inputs.end(), bounds.begin(), bounds.end());
    for (uint32_t u : inputs) {
        const float     x = bits_f32(u);
        const half_bits want =
            std::isnan(x) ? half_bits((u >> 16 & kFp16Sign) | kFp16CanonicalNaN) : ref_fp32_to_fp16(x);
        ASSERT_EQ(fp32_to_fp16(x), want) << describe(x);
    }
}

// A second, independent reference: GCC's _Float16 conversion (libgcc soft-fp __truncsfhf2 when F16C is not
// enabled; available on x86-64 from GCC 12). It keeps NaN payloads, so NaNs are compared by NaN-ness only.
TEST(Fp16Encode, MatchesCompilerFloat16) {
#if defined(__FLT16_MAX__)
    std::vector<uint32_t>       inputs = random_bit_patterns(kRandomSamples / 4); // soft-fp is slow (~80 ns)
    const std::vector<uint32_t> bounds = fp16_boundary_patterns();
    inputs.insert(inputs.end(), bounds.begin(), bounds.end());
    for (uint32_t u : inputs) {
        const float    x = bits_f32(u);
        const _Float16 h = static_cast<_Float16>(x);
        uint16_t       want;
        std::memcpy(&want, &h, sizeof(want));
        const half_bits got = fp32_to_fp16(x);
        if (std::isnan(x)) {
            ASSERT_TRUE(is_fp16_nan(got) && is_fp16_nan(want)) << describe(x);
            ASSERT_EQ(got & kFp16Sign, want & kFp16Sign) << describe(x);
        } else {
            ASSERT_EQ(got, want) << describe(x);
        }
    }
#else
    GTEST_SKIP() << "_Float16 not supported by this compiler/target";
#endif
}

// ---------------------------------------------------------------------------------------------
// bf16

TEST(Bf16Decode, AllCodesAreUpperHalf) {
    for (uint32_t b = 0; b < 0x10000; b++) {
        ASSERT_EQ(f32_bits(bf16_to_fp32(bf16_bits(b))), b << 16);
    }
}

TEST(Bf16RoundTrip, AllCodes) {
    for (uint32_t b = 0; b < 0x10000; b++) {
        const bool      nan  = (b & 0x7F80) == 0x7F80 && (b & 0x7F) != 0;
        const bf16_bits want = nan ? bf16_bits(b | kBf16QuietBit) : bf16_bits(b); // signalling NaNs get quieted
        ASSERT_EQ(fp32_to_bf16(bf16_to_fp32(bf16_bits(b))), want) << hex32(b);
    }
}

TEST(Bf16Encode, EdgeValues) {
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x7F7F7FFFu)), kBf16MaxCode);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x7F7F8000u)), kBf16Inf); // tie above the max -> even -> inf
    EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), kBf16Inf);
    EXPECT_EQ(fp32_to_bf16(-std::numeric_limits<float>::max()), kBf16Inf | 0x8000);
    EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), kBf16Inf);
    EXPECT_EQ(fp32_to_bf16(1.0f + 1.0f / 256), 0x3F80); // tie -> even
    EXPECT_EQ(fp32_to_bf16(1.0f + 3.0f / 256), 0x3F82); // tie -> even
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x3F808001u)), 0x3F81);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x00008000u)), 0x0000); // subnormal tie -> even, not flushed
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x00018000u)), 0x0002);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x00010000u)), 0x0001);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x007FFFFFu)), 0x0080); // largest subnormal rounds up to the min normal
    EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x7F800001u)), 0x7FC0); // without quieting this would read as inf
    EXPECT_EQ(fp32_to_bf16(bits_f32(0xFFC00000u)), 0xFFC0);
    EXPECT_EQ(fp32_to_bf16(bits_f32(0x7FFFFFFFu)), 0x7FFF);
}

TEST(Bf16Encode, AllNaNInputsQuieted) {
    for (uint32_t m = 1; m <= kF32MantMask; m++) {
        for (uint32_t sign : { 0u, kF32Sign }) {
            const uint32_t  u   = sign | kF32ExpMask | m;
            const bf16_bits got = fp32_to_bf16(bits_f32(u));
            ASSERT_EQ(got, bf16_bits((u >> 16) | kBf16QuietBit)) << hex32(u);
        }
    }
}

TEST(Bf16Encode, RandomAndBoundaryBitsMatchReference) {
    std::vector<uint32_t>       inputs = random_bit_patterns(kRandomSamples);
    const std::vector<uint32_t> bounds = bf16_boundary_patterns();
    inputs.insert(inputs.end(), bounds.begin(), bounds.end());
    for (uint32_t u : inputs) {
        const float x = bits_f32(u);
        if (std::isnan(x)) {
            continue; // covered exhaustively above
        }
        ASSERT_EQ(fp32_to_bf16(x), ref_fp32_to_bf16(x)) << describe(x);
    }
}

} // namespace
} // namespace nibble
