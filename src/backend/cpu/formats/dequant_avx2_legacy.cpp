// AVX2 dequantizers of the 32/64-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, MXFP4,
// NVFP4) and of F16/BF16 rows. Built with -mavx2 -mfma -mf16c; only reached through
// fast_dequantizer(), which checks the CPU first.
//
// Bit-exactness with the scalar dequantizers (FORMATS.md §3.16): codes become small integers that
// int->float converts exactly, and fp16/E8M0/UE4M3 scales decode exactly, so every code * scale
// product is exact in fp32. Q4_1/Q5_1 add m afterwards; an FMA of an exact product rounds that sum
// once, exactly like the scalar mul-then-add. Nothing else rounds.
//
// Alignment: blocks are only 2-byte (MXFP4/NVFP4: 1-byte) aligned inside a row, so every vector
// load is unaligned and every multi-byte scalar field goes through memcpy. No load reaches past the
// block it belongs to, so the last block of a buffer can sit right before an unmapped page.
#include "backend/cpu/formats/dequant.h"
#include "formats/iq4_nl.h"
#include "formats/minifloat.h"
#include "formats/mxfp4.h"
#include "formats/nvfp4.h"
#include "formats/q4_0.h"
#include "formats/q4_1.h"
#include "formats/q5_0.h"
#include "formats/q5_1.h"
#include "formats/q8_0.h"
#include "formats/quant_common.h"

#include "backend/cpu/avx2_util.h"

#include <immintrin.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "dequant_avx2_legacy.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu {

namespace {

using namespace avx2;

// y[0..16) = q[0..16) * d + m; the FMA rounds once, as mul (exact) + add does.
inline void store16_fmadd(float * y, __m128i q, __m256 d, __m256 m) {
    _mm256_storeu_ps(y, _mm256_fmadd_ps(i8x8_to_ps(q), d, m));
    _mm256_storeu_ps(y + 8, _mm256_fmadd_ps(i8x8_to_ps(_mm_unpackhi_epi64(q, q)), d, m));
}

// Low and high nibbles of 16 packed bytes: element j / j+16 of a 32-element block.
struct Nibbles {
    __m128i lo;
    __m128i hi;
};

inline Nibbles split_nibbles(const uint8_t * qs) {
    const __m128i raw = loadu128(qs);
    const __m128i m4  = _mm_set1_epi8(0x0F);
    return {_mm_and_si128(raw, m4), _mm_and_si128(_mm_srli_epi16(raw, 4), m4)};
}

// The 32 fifth bits of Q5_0/Q5_1 (qh, bit e = element e) as 32 bytes: 0xFF where set, else 0.
inline __m256i expand_qh(const uint8_t * qh_bytes) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, sizeof(qh));
    // Byte e takes qh byte e/8 (pshufb works per 128-bit lane, and set1 fills both lanes), then
    // tests its own bit e%8.
    const __m256i pick   = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bitsel = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
    const __m256i bytes  = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(qh)), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bitsel), bitsel);
}

// The 32 4-bit codes of a block in element order (byte j holds element j low, j+16 high).
inline __m256i nibbles32(const uint8_t * qs) {
    const Nibbles n = split_nibbles(qs);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(n.lo), n.hi, 1);
}

// UE4M3 code -> half its value, as ggml's CPU decodes it: 0x00 and 0x7F -> 0, otherwise bit 7 is
// simply not read (so 0xFF is not special). A table because NVFP4 needs four scales per 64 outputs
// and the branchy scalar decode would cost more than the 64 conversions.
constexpr float ue4m3_half_value(unsigned code) {
    if (code == 0 || code == 0x7F) {
        return 0.0f;
    }
    const unsigned exp = (code >> 3) & 0xF;
    const unsigned man = code & 0x7;
    if (exp == 0) {
        return float(man) * (1.0f / 1024.0f);  // man * 2^-9 * 0.5, exact
    }
    // (1 + man/8) * 2^(exp-7) * 0.5: biased exponent exp - 8 + 127, mantissa man in the top bits.
    return std::bit_cast<float>(((exp + 119u) << 23) | (man << 20));
}

struct Ue4m3Table {
    float v[256];
};

constexpr Ue4m3Table make_ue4m3_table() {
    Ue4m3Table t{};
    for (unsigned c = 0; c < 256; ++c) {
        t.v[c] = ue4m3_half_value(c);
    }
    return t;
}

constexpr Ue4m3Table kUe4m3Half = make_ue4m3_table();

}  // namespace

// ---------------------------------------------------------------------------------------------
// F16 / BF16 rows: block size 1, so n is arbitrary; tails go through the same exact conversion.

void dequantize_row_f16_avx2(const void * x, float * y, int64_t n) {
    const auto * src = static_cast<const uint8_t *>(x);
    int64_t      i   = 0;
    // 32 per iteration: four independent load-convert-store chains per loop branch.
    for (; i + 32 <= n; i += 32) {
        const uint8_t * p = src + 2 * i;
        _mm256_storeu_ps(y + i + 0, _mm256_cvtph_ps(loadu128(p + 0)));
        _mm256_storeu_ps(y + i + 8, _mm256_cvtph_ps(loadu128(p + 16)));
        _mm256_storeu_ps(y + i + 16, _mm256_cvtph_ps(loadu128(p + 32)));
        _mm256_storeu_ps(y + i + 24, _mm256_cvtph_ps(loadu128(p + 48)));
    }
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(loadu128(src + 2 * i)));
    }
    for (; i < n; ++i) {
        y[i] = load_half(src + 2 * i);
    }
}

void dequantize_row_bf16_avx2(const void * x, float * y, int64_t n) {
    const auto * src = static_cast<const uint8_t *>(x);
    int64_t      i   = 0;
    // bf16 is the top half of an fp32: zero-extend to 32 bits and shift, no float arithmetic.
    for (; i + 16 <= n; i += 16) {
        const __m256i a = _mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(src + 2 * i)), 16);
        const __m256i b = _mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(src + 2 * i + 16)), 16);
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(a));
        _mm256_storeu_ps(y + i + 8, _mm256_castsi256_ps(b));
    }
    for (; i + 8 <= n; i += 8) {
        const __m256i a = _mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(src + 2 * i)), 16);
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(a));
    }
    for (; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, sizeof(b));
        y[i] = std::bit_cast<float>(uint32_t(b) << 16);
    }
}

// ---------------------------------------------------------------------------------------------
// 32-element blocks with one fp16 scale.

void dequantize_row_q4_0_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ4_0 *>(x);
    const int64_t nb     = n / kQK4_0;
    const __m128i eight  = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
        const BlockQ4_0 & b = blocks[i];
        const __m256      d = _mm256_set1_ps(load_half(&b.d));
        const Nibbles     q = split_nibbles(b.qs);
        store16_mul(y, _mm_sub_epi8(q.lo, eight), d);
        store16_mul(y + 16, _mm_sub_epi8(q.hi, eight), d);
    }
}

void dequantize_row_q4_1_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ4_1 *>(x);
    const int64_t nb     = n / kQK4_1;
    for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
        const BlockQ4_1 & b = blocks[i];
        const __m256      d = _mm256_set1_ps(load_half(&b.d));
        const __m256      m = _mm256_set1_ps(load_half(&b.m));
        const Nibbles     q = split_nibbles(b.qs);
        store16_fmadd(y, q.lo, d, m);
        store16_fmadd(y + 16, q.hi, d, m);
    }
}

void dequantize_row_q5_0_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ5_0 *>(x);
    const int64_t nb     = n / kQK5_0;
    const __m256i high   = _mm256_set1_epi8(int8_t(0xF0));
    for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
        const BlockQ5_0 & b = blocks[i];
        const __m256      d = _mm256_set1_ps(load_half(&b.d));
        // q - 16 = low4 + 16*hb - 16: with the fifth bit set that is low4, else low4 - 16, which as
        // int8 is low4 | 0xF0. One andnot + or instead of an add and a subtract.
        const __m256i q = _mm256_or_si256(nibbles32(b.qs), _mm256_andnot_si256(expand_qh(b.qh), high));
        store16_mul(y, _mm256_castsi256_si128(q), d);
        store16_mul(y + 16, _mm256_extracti128_si256(q, 1), d);
    }
}

void dequantize_row_q5_1_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ5_1 *>(x);
    const int64_t nb     = n / kQK5_1;
    const __m256i bit4   = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
        const BlockQ5_1 & b = blocks[i];
        const __m256      d = _mm256_set1_ps(load_half(&b.d));
        const __m256      m = _mm256_set1_ps(load_half(&b.m));
        const __m256i     q = _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(expand_qh(b.qh), bit4));
        store16_fmadd(y, _mm256_castsi256_si128(q), d, m);
        store16_fmadd(y + 16, _mm256_extracti128_si256(q, 1), d, m);
    }
}

void dequantize_row_q8_0_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ8_0 *>(x);
    const int64_t nb     = n / kQK8_0;
    for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
        const BlockQ8_0 & b = blocks[i];
        const __m256      d = _mm256_set1_ps(load_half(&b.d));
        // Two 16-byte loads rather than four 8-byte ones: fewer loads queued behind the stores
        // measured 5-50% faster on a Xeon (L2-resident, 2026-11), the same on EPYC.
        store16_mul(y, loadu128(b.qs), d);
        store16_mul(y + 16, loadu128(b.qs + 16), d);
    }
}

// ---------------------------------------------------------------------------------------------
// Code-book formats: pshufb maps the 4-bit index to its int8 code-book value (16-entry table).

void dequantize_row_iq4_nl_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockIQ4_NL *>(x);
    const int64_t nb     = n / kQK4_NL;
    const __m128i book   = loadu128(kValuesIq4nl);
    for (int64_t i = 0; i < nb; ++i, y += kQK4_NL) {
        const BlockIQ4_NL & b = blocks[i];
        const __m256        d = _mm256_set1_ps(load_half(&b.d));
        const Nibbles       q = split_nibbles(b.qs);
        store16_mul(y, _mm_shuffle_epi8(book, q.lo), d);
        store16_mul(y + 16, _mm_shuffle_epi8(book, q.hi), d);
    }
}

void dequantize_row_mxfp4_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockMXFP4 *>(x);
    const int64_t nb     = n / kQKMxfp4;
    const __m128i book   = loadu128(kValuesFp4);
    for (int64_t i = 0; i < nb; ++i, y += kQKMxfp4) {
        const BlockMXFP4 & b = blocks[i];
        const __m256       d = _mm256_set1_ps(e8m0_to_fp32_half(b.e));
        const Nibbles      q = split_nibbles(b.qs);
        store16_mul(y, _mm_shuffle_epi8(book, q.lo), d);
        store16_mul(y + 16, _mm_shuffle_epi8(book, q.hi), d);
    }
}

void dequantize_row_nvfp4_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockNVFP4 *>(x);
    const int64_t nb     = n / kQKNvfp4;
    const __m256i book   = _mm256_broadcastsi128_si256(loadu128(kValuesFp4));
    const __m256i m4     = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; ++i, y += kQKNvfp4) {
        const BlockNVFP4 & b   = blocks[i];
        const __m256i      raw = loadu256(b.qs);
        const __m256i      lo  = _mm256_shuffle_epi8(book, _mm256_and_si256(raw, m4));
        const __m256i      hi  = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
        // Sub-block s owns qs bytes 8s..8s+7: low nibbles are its elements 0..7, high nibbles 8..15.
        // Interleaving 64-bit halves puts each sub-block's 16 codes in order: lane 0 / lane 1 of
        // s02 are sub-blocks 0 / 2, of s13 sub-blocks 1 / 3.
        const __m256i s02 = _mm256_unpacklo_epi64(lo, hi);
        const __m256i s13 = _mm256_unpackhi_epi64(lo, hi);
        store16_mul(y, _mm256_castsi256_si128(s02), _mm256_set1_ps(kUe4m3Half.v[b.d[0]]));
        store16_mul(y + 16, _mm256_castsi256_si128(s13), _mm256_set1_ps(kUe4m3Half.v[b.d[1]]));
        store16_mul(y + 32, _mm256_extracti128_si256(s02, 1), _mm256_set1_ps(kUe4m3Half.v[b.d[2]]));
        store16_mul(y + 48, _mm256_extracti128_si256(s13, 1), _mm256_set1_ps(kUe4m3Half.v[b.d[3]]));
    }
}

}  // namespace nibble::cpu
