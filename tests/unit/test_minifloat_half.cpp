// Unit tests for E8M0 and E2M1 (formats/minifloat.h) and fp16 / bf16 (core/half.h); FORMATS.md §1.2,
// §1.3, §1.7, §1.8. Same method as test_minifloat.cpp: exhaustive decoders, encoders against edge
// values and the slow references in minifloat_reference.h.
#include "unit/minifloat_reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace nibble {
namespace {

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
