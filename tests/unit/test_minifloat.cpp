// Unit tests for the 8-bit codecs in formats/minifloat.h (FP8 E4M3 / E5M2, UE4M3); E8M0, E2M1, fp16 and
// bf16 are in test_minifloat_half.cpp. The facts they pin down are FORMATS.md §1.4–§1.6. Decoders are checked
// exhaustively against the value tables / formulas; encoders against hand-picked edge values and against
// slow, obviously-correct references (exact double arithmetic, brute-force nearest-value search).
#include "unit/minifloat_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace nibble {
namespace {

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
} // namespace
} // namespace nibble
