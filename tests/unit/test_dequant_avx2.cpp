// The AVX2 dequantizers (backend/cpu/formats) must reproduce the scalar table's dequantize_row bit for
// bit (FORMATS.md §3.16). Random blocks with finite fp16 scales, special scale values, misaligned
// buffers, and every fp16 code. Skipped on CPUs without AVX2 + FMA + F16C.
#include "backend/cpu/formats/dequant.h"
#include "formats/format_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <vector>

namespace nibble {
namespace {

// Where each format keeps its fp16 scale fields: random bytes there may be NaN/Inf, whose NaN
// payload choice differs between operand orders, so the test draws them from finite values.
struct ScaleFields {
    Format              format;
    std::vector<size_t> half_offsets;
    bool                f32_scale_at_0 = false;  // Q8_K keeps an fp32 scale
};

std::vector<ScaleFields> scale_fields() {
    return {
        {Format::Q4_0, {offsetof(BlockQ4_0, d)}},
        {Format::Q4_1, {offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)}},
        {Format::Q5_0, {offsetof(BlockQ5_0, d)}},
        {Format::Q5_1, {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)}},
        {Format::Q8_0, {offsetof(BlockQ8_0, d)}},
        {Format::Q2_K, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}},
        {Format::Q3_K, {offsetof(BlockQ3_K, d)}},
        {Format::Q4_K, {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}},
        {Format::Q5_K, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}},
        {Format::Q6_K, {offsetof(BlockQ6_K, d)}},
        {Format::Q8_K, {}, true},
        {Format::IQ4_NL, {offsetof(BlockIQ4_NL, d)}},
        {Format::IQ4_XS, {offsetof(BlockIQ4_XS, d)}},
        {Format::MXFP4, {}},  // E8M0: every byte decodes to a finite power of two
        {Format::NVFP4, {}},  // UE4M3: every byte decodes to a finite value
        {Format::F16, {0}},   // block size 1: the element itself is the "scale"
        {Format::BF16, {}},   // pure bit shift, any pattern
    };
}

// Formats that must have an AVX2 kernel (a missing table row would silently fall back to scalar).
bool expects_avx2(Format f) { return f != Format::F32 && f != Format::E4M3 && f != Format::E5M2; }

uint16_t random_finite_half(std::mt19937_64 & rng) {
    uint16_t h = uint16_t(rng());
    if ((h & 0x7C00) == 0x7C00) {
        h ^= 0x4000;  // exponent 31 -> 15: finite, same sign and mantissa
    }
    return h;
}

// Finite fp16 values at the edges: signed zeros, smallest subnormal, largest subnormal, smallest
// normal, one, largest finite.
constexpr uint16_t kSpecialHalves[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF};

enum class ScaleMode { Random, Special };

void fill_blocks(const ScaleFields & sf, const FormatInfo & info, uint8_t * x, int64_t nblocks, ScaleMode mode,
                 std::mt19937_64 & rng) {
    for (int64_t i = 0; i < nblocks * info.type_size; ++i) {
        x[i] = uint8_t(rng());
    }
    for (int64_t i = 0; i < nblocks; ++i) {
        uint8_t * b = x + i * info.type_size;
        for (size_t off : sf.half_offsets) {
            const uint16_t h = mode == ScaleMode::Random ? random_finite_half(rng)
                                                         : kSpecialHalves[rng() % std::size(kSpecialHalves)];
            std::memcpy(b + off, &h, sizeof(h));
        }
        if (sf.f32_scale_at_0) {
            uint32_t u = uint32_t(rng());
            if (((u >> 23) & 0xFF) == 0xFF) {
                u ^= 0x40000000u;  // exponent 255 -> 127: finite
            }
            std::memcpy(b + offsetof(BlockQ8_K, d), &u, sizeof(u));
        }
    }
}

// The weakest alignment a row of this format may have: its block struct's (Q8_K: 4, because the
// scalar path reads the fp32 d through the struct; MXFP4/NVFP4: 1; everything else 2).
size_t row_alignment(Format f) {
    switch (f) {
        case Format::Q8_K:
            return alignof(BlockQ8_K);
        case Format::MXFP4:
        case Format::NVFP4:
            return 1;
        default:
            return 2;
    }
}

// Checks rows of 1..64 blocks; the input starts at a misaligned (but block-aligned) address and the
// output at a 4-byte-aligned one, so unaligned loads and stores are exercised.
void check_format(const ScaleFields & sf, ScaleMode mode, int64_t total_blocks) {
    const FormatInfo &   info = format_info(sf.format);
    const cpu::DequantFn fast = cpu::fast_dequantizer(sf.format);
    ASSERT_NE(fast, nullptr) << info.name;
    const size_t    align = row_alignment(sf.format);
    std::mt19937_64 rng(0xD15EA5Eu + uint64_t(sf.format) * 7919u + uint64_t(mode));

    int64_t done = 0;
    while (done < total_blocks) {
        const int64_t max_blocks = info.block_size == 1 ? 300 : 64;  // F16/BF16: odd lengths and tails
        const int64_t nblocks    = std::min<int64_t>(1 + int64_t(rng() % uint64_t(max_blocks)), total_blocks - done);
        const int64_t n          = nblocks * info.block_size;
        const size_t  skew       = align * (1 + rng() % 7);

        std::vector<uint8_t> in(static_cast<size_t>(nblocks * info.type_size) + 8 * align);
        uint8_t *            x = in.data() + skew;
        fill_blocks(sf, info, x, nblocks, mode, rng);

        std::vector<float> want(static_cast<size_t>(n));
        std::vector<float> got(static_cast<size_t>(n) + 8);
        info.dequantize_row(x, want.data(), n);
        fast(x, got.data() + 1, n);
        if (std::memcmp(want.data(), got.data() + 1, size_t(n) * sizeof(float)) != 0) {
            for (int64_t k = 0; k < n; ++k) {
                uint32_t a;
                uint32_t b;
                std::memcpy(&a, &want[size_t(k)], 4);
                std::memcpy(&b, &got[size_t(k) + 1], 4);
                ASSERT_EQ(a, b) << info.name << ": element " << k << " of a " << nblocks << "-block row (scalar "
                                << want[size_t(k)] << ", avx2 " << got[size_t(k) + 1] << ")";
            }
        }
        done += nblocks;
    }
}

class DequantAvx2 : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!cpu::cpu_has_avx2()) {
            GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C";
        }
    }
};

TEST_F(DequantAvx2, TableHasAKernelForEveryBlockFormat) {
    for (const FormatInfo & info : kFormats) {
        EXPECT_EQ(cpu::fast_dequantizer(info.format) != nullptr, expects_avx2(info.format)) << info.name;
    }
    EXPECT_EQ(scale_fields().size(), size_t(Format::Count) - 3);  // every format except F32, E4M3, E5M2
}

TEST_F(DequantAvx2, RandomBlocksMatchScalar) {
    for (const ScaleFields & sf : scale_fields()) {
        SCOPED_TRACE(format_name(sf.format));
        const int64_t blocks = format_info(sf.format).block_size == 1 ? 1 << 18 : 1 << 14;
        check_format(sf, ScaleMode::Random, blocks);
    }
}

TEST_F(DequantAvx2, EdgeScalesMatchScalar) {
    // Signed zeros, subnormal and largest fp16 scales: the sign of zero results and the largest
    // products (65504 * 63 * 31 in Q5_K) must come out the same.
    for (const ScaleFields & sf : scale_fields()) {
        if (sf.half_offsets.empty()) {
            continue;
        }
        SCOPED_TRACE(format_name(sf.format));
        const int64_t blocks = format_info(sf.format).block_size == 1 ? 1 << 14 : 1 << 12;
        check_format(sf, ScaleMode::Special, blocks);
    }
}

TEST_F(DequantAvx2, EveryF16Code) {
    // All 65536 codes; NaNs only need to stay NaN (payload handling is not part of the contract).
    std::vector<uint16_t> codes(65536);
    for (size_t i = 0; i < codes.size(); ++i) {
        codes[i] = uint16_t(i);
    }
    std::vector<float> want(codes.size());
    std::vector<float> got(codes.size());
    format_info(Format::F16).dequantize_row(codes.data(), want.data(), int64_t(codes.size()));
    cpu::fast_dequantizer(Format::F16)(codes.data(), got.data(), int64_t(codes.size()));
    for (size_t i = 0; i < codes.size(); ++i) {
        if (std::isnan(want[i])) {
            EXPECT_TRUE(std::isnan(got[i])) << "code " << i;
            continue;
        }
        uint32_t a;
        uint32_t b;
        std::memcpy(&a, &want[i], 4);
        std::memcpy(&b, &got[i], 4);
        ASSERT_EQ(a, b) << "code " << i;
    }
}

}  // namespace
}  // namespace nibble
