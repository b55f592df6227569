// AVX2 dequantizers of the 256-element super-block formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
// IQ4_XS). Built with -mavx2 -mfma -mf16c; only reached through fast_dequantizer(), which checks the
// CPU first.
//
// Bit-exactness with the scalar dequantizers (FORMATS.md §3.16): each group scale is formed in
// scalar code exactly as the reference groups it (d * sc, dmin * m), and every one of those
// products, and the product with the code, is exact in fp32. The single rounding of Q2_K/Q4_K/Q5_K
// is the final "- dmin * m", which _mm256_fmsub_ps performs on the exact product: same result as
// the scalar mul-then-subtract. Q8_K's fp32 scale times an int8 is one rounded multiply either way.
//
// Alignment: super-blocks are 2-byte aligned inside a row (Q8_K: whatever the caller gives), so all
// vector loads are unaligned and multi-byte scalar fields go through memcpy. No load leaves its block.
#include "backend/cpu/formats/dequant.h"
#include "formats/iq4_xs.h"
#include "formats/q2_k.h"
#include "formats/q3_k.h"
#include "formats/q4_k.h"
#include "formats/q5_k.h"
#include "formats/q6_k.h"
#include "formats/q8_k.h"
#include "formats/quant_common.h"

#include "backend/cpu/avx2_util.h"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "dequant_avx2_kquants.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu {

namespace {

using namespace avx2;

// y[0..16) = d * q[0..16) - m; the product is exact, so the FMA rounds like mul-then-sub.
inline void store16_fmsub(float * y, __m128i q, __m256 d, __m256 m) {
    _mm256_storeu_ps(y, _mm256_fmsub_ps(d, i8x8_to_ps(q), m));
    _mm256_storeu_ps(y + 8, _mm256_fmsub_ps(d, i8x8_to_ps(_mm_unpackhi_epi64(q, q)), m));
}

inline __m128i lane0(__m256i v) { return _mm256_castsi256_si128(v); }

inline __m128i lane1(__m256i v) { return _mm256_extracti128_si256(v, 1); }

// 0xFF in every byte of v that has any bit of `bit` set, else 0.
inline __m256i has_bit(__m256i v, __m256i bit) { return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit); }

inline uint32_t load_u32(const uint8_t * p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

// out[0..8) = d * (code_i - bias) for the 8 unsigned byte codes of `codes`, low byte first. The
// product is the reference's "d * sc" (exact); done 8 at a time because the scalar loop cost about
// as much as the 256-element body in L2-resident runs.
inline void scale8(uint64_t codes, int bias, float d, float * out) {
    const __m256i c = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(codes)));
    const __m256  v = _mm256_cvtepi32_ps(_mm256_sub_epi32(c, _mm256_set1_epi32(bias)));
    _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_set1_ps(d), v));
}

inline uint64_t pack64(uint32_t lo, uint32_t hi) { return uint64_t(lo) | uint64_t(hi) << 32; }

// The 6-bit (scale, min) pairs of Q4_K/Q5_K times their super-scales: ds[j] = d * sc_j, dm[j] =
// dmin * m_j. Same unpacking as get_scale_min_k4, four bytes at a time: with a = packed[0..3],
// b = packed[4..7], c = packed[8..11], groups 0..3 take the low 6 bits of a (scales) and b (mins);
// groups 4..7 take a nibble of c plus the top 2 bits of a / b as bits 4..5.
inline void k4_group_scales(const uint8_t * packed, float d, float dmin, float * ds, float * dm) {
    const uint32_t a      = load_u32(packed);
    const uint32_t b      = load_u32(packed + 4);
    const uint32_t c      = load_u32(packed + 8);
    const uint32_t sc_lo  = a & 0x3F3F3F3Fu;
    const uint32_t sc_hi  = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    const uint32_t min_lo = b & 0x3F3F3F3Fu;
    const uint32_t min_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    scale8(pack64(sc_lo, sc_hi), 0, d, ds);
    scale8(pack64(min_lo, min_hi), 0, dmin, dm);
}

// Writes one 64-element chunk of Q4_K/Q5_K: 32 low-nibble codes with group 2c, then 32 high-nibble
// codes with group 2c+1 (lo/hi hold the 32 codes each, values 0..31).
inline void k4_store_chunk(float * y, __m256i lo, __m256i hi, const float * ds, const float * dm, int c) {
    const __m256 d1 = _mm256_set1_ps(ds[2 * c]);
    const __m256 m1 = _mm256_set1_ps(dm[2 * c]);
    const __m256 d2 = _mm256_set1_ps(ds[2 * c + 1]);
    const __m256 m2 = _mm256_set1_ps(dm[2 * c + 1]);
    store16_fmsub(y, lane0(lo), d1, m1);
    store16_fmsub(y + 16, lane1(lo), d1, m1);
    store16_fmsub(y + 32, lane0(hi), d2, m2);
    store16_fmsub(y + 48, lane1(hi), d2, m2);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Q2_K: element 128h + 32s + l has code (qs[32h + l] >> 2s) & 3 and group (128h + 32s + l) / 16.

void dequantize_row_q2_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ2_K *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i m2     = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockQ2_K & b    = blocks[i];
        const float       d    = load_half(&b.d);
        const float       dmin = load_half(&b.dmin);
        float             ds[kQK_K / 16];
        float             dm[kQK_K / 16];
        {
            uint64_t sc[2];
            std::memcpy(sc, b.scales, sizeof(sc));
            const uint64_t m4 = 0x0F0F0F0F0F0F0F0FULL;
            scale8(sc[0] & m4, 0, d, ds);
            scale8(sc[1] & m4, 0, d, ds + 8);
            scale8((sc[0] >> 4) & m4, 0, dmin, dm);
            scale8((sc[1] >> 4) & m4, 0, dmin, dm + 8);
        }
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = loadu256(b.qs + 32 * h);
            for (int s = 0; s < 4; ++s) {
                // Bits 2s..2s+1 of each byte; a 16-bit shift is fine because the mask drops what
                // crossed over from the neighbouring byte.
                const __m256i q   = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), m2);
                const int     g   = 8 * h + 2 * s;
                float *       out = y + 128 * h + 32 * s;
                store16_fmsub(out, lane0(q), _mm256_set1_ps(ds[g]), _mm256_set1_ps(dm[g]));
                store16_fmsub(out + 16, lane1(q), _mm256_set1_ps(ds[g + 1]), _mm256_set1_ps(dm[g + 1]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q3_K: code (qs[32h + l] >> 2s) & 3, minus 4 unless bit 4h + s of hmask[l] is set.

void dequantize_row_q3_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ3_K *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i m2     = _mm256_set1_epi8(3);
    const __m256i four   = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockQ3_K & b = blocks[i];
        const float       d = load_half(&b.d);
        float             ds[kQK_K / 16];
        {
            // 6-bit code k (stored +32): low 4 bits from byte k (k < 8) or the high nibble of byte
            // k - 8; top 2 bits from byte 8 + k % 4 at bit 2 * (k / 4). Four codes per uint32.
            const uint32_t a  = load_u32(b.scales);
            const uint32_t bb = load_u32(b.scales + 4);
            const uint32_t c  = load_u32(b.scales + 8);
            const uint32_t m4 = 0x0F0F0F0Fu;
            const uint32_t m2 = 0x03030303u;
            const uint32_t code[4] = {
                (a & m4) | (c & m2) << 4,
                (bb & m4) | ((c >> 2) & m2) << 4,
                ((a >> 4) & m4) | ((c >> 4) & m2) << 4,
                ((bb >> 4) & m4) | ((c >> 6) & m2) << 4,
            };
            scale8(pack64(code[0], code[1]), 32, d, ds);
            scale8(pack64(code[2], code[3]), 32, d, ds + 8);
        }
        const __m256i hm = loadu256(b.hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i raw = loadu256(b.qs + 32 * h);
            for (int s = 0; s < 4; ++s) {
                const __m256i low2  = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), m2);
                const __m256i bit   = _mm256_set1_epi8(int8_t(1 << (4 * h + s)));
                const __m256i minus = _mm256_andnot_si256(has_bit(hm, bit), four);
                const __m256i q     = _mm256_sub_epi8(low2, minus);
                const int     g     = 8 * h + 2 * s;
                float *       out   = y + 128 * h + 32 * s;
                store16_mul(out, lane0(q), _mm256_set1_ps(ds[g]));
                store16_mul(out + 16, lane1(q), _mm256_set1_ps(ds[g + 1]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q4_K / Q5_K: 64-element chunk c takes qs[32c .. 32c+31]; low nibbles are elements 64c + l, high
// nibbles 64c + 32 + l. Q5_K adds 16 where bit 2c (low) / 2c+1 (high) of qh[l] is set.

void dequantize_row_q4_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ4_K *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i m4     = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockQ4_K & b = blocks[i];
        float             ds[kQK_K / 32];
        float             dm[kQK_K / 32];
        k4_group_scales(b.scales, load_half(&b.d), load_half(&b.dmin), ds, dm);
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = loadu256(b.qs + 32 * c);
            const __m256i lo  = _mm256_and_si256(raw, m4);
            const __m256i hi  = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            k4_store_chunk(y + 64 * c, lo, hi, ds, dm, c);
        }
    }
}

void dequantize_row_q5_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ5_K *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i m4     = _mm256_set1_epi8(0x0F);
    const __m256i bit4   = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockQ5_K & b = blocks[i];
        float             ds[kQK_K / 32];
        float             dm[kQK_K / 32];
        k4_group_scales(b.scales, load_half(&b.d), load_half(&b.dmin), ds, dm);
        const __m256i qh = loadu256(b.qh);
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = loadu256(b.qs + 32 * c);
            const __m256i hb1 = _mm256_and_si256(has_bit(qh, _mm256_set1_epi8(int8_t(1 << (2 * c)))), bit4);
            const __m256i hb2 = _mm256_and_si256(has_bit(qh, _mm256_set1_epi8(int8_t(2 << (2 * c)))), bit4);
            const __m256i lo  = _mm256_or_si256(_mm256_and_si256(raw, m4), hb1);
            const __m256i hi  = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), hb2);
            k4_store_chunk(y + 64 * c, lo, hi, ds, dm, c);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q6_K: per 128-half h and l < 32, qh[32h + l] carries the top 2 bits of elements l, l+32, l+64,
// l+96 (bit pairs 0, 2, 4, 6); their low 4 bits are ql[64h + l] low, ql[64h + 32 + l] low,
// ql[64h + l] high, ql[64h + 32 + l] high. Scales are per 16 elements.

void dequantize_row_q6_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockQ6_K *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i m4     = _mm256_set1_epi8(0x0F);
    const __m256i m2hi   = _mm256_set1_epi8(0x30);
    const __m256i off    = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockQ6_K & b = blocks[i];
        const float       d = load_half(&b.d);
        float             ds[kQK_K / 16];
        {
            const __m128i sc = loadu128(b.scales);  // 16 int8 scales, ends 2 bytes before the block does
            const __m256  vd = _mm256_set1_ps(d);
            _mm256_storeu_ps(ds, _mm256_mul_ps(vd, i8x8_to_ps(sc)));
            _mm256_storeu_ps(ds + 8, _mm256_mul_ps(vd, i8x8_to_ps(_mm_unpackhi_epi64(sc, sc))));
        }
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = loadu256(b.ql + 64 * h);
            const __m256i ql1 = loadu256(b.ql + 64 * h + 32);
            const __m256i qh  = loadu256(b.qh + 32 * h);
            // Move each 2-bit pair to bits 4..5 (16-bit shifts of at most 4 never carry a wanted
            // bit across bytes; the 0x30 mask drops the rest), or in the low nibble, remove 32.
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2hi));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2hi));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m2hi));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2hi));
            for (int t = 0; t < 4; ++t) {
                const __m256i v   = _mm256_sub_epi8(q[t], off);
                const int     g   = 8 * h + 2 * t;
                float *       out = y + 128 * h + 32 * t;
                store16_mul(out, lane0(v), _mm256_set1_ps(ds[g]));
                store16_mul(out + 16, lane1(v), _mm256_set1_ps(ds[g + 1]));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q8_K: fp32 scale times int8. The block's alignof is 4 but rows may be less aligned, so it is
// walked as bytes with offsetof instead of through a BlockQ8_K pointer.

void dequantize_row_q8_k_avx2(const void * x, float * y, int64_t n) {
    const auto *  base = static_cast<const uint8_t *>(x);
    const int64_t nb   = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const uint8_t * blk = base + i * int64_t(sizeof(BlockQ8_K));
        float           df;
        std::memcpy(&df, blk + offsetof(BlockQ8_K, d), sizeof(df));
        const __m256    d  = _mm256_set1_ps(df);
        const uint8_t * qs = blk + offsetof(BlockQ8_K, qs);
        for (int k = 0; k < kQK_K; k += 32) {
            // 8-byte loads feed vpmovsxbd directly; no shuffles.
            for (int j = 0; j < 32; j += 8) {
                const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(qs + k + j));
                _mm256_storeu_ps(y + k + j, _mm256_mul_ps(i8x8_to_ps(q), d));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IQ4_XS: group ib (32 elements) has 6-bit scale ls (offset 32) and 16 bytes of code-book indices,
// element r low nibble / r+16 high nibble. Two groups per 256-bit load (one per lane).

void dequantize_row_iq4_xs_avx2(const void * x, float * y, int64_t n) {
    const auto *  blocks = static_cast<const BlockIQ4_XS *>(x);
    const int64_t nb     = n / kQK_K;
    const __m256i book   = _mm256_broadcastsi128_si256(loadu128(kValuesIq4nl));
    const __m256i m4     = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
        const BlockIQ4_XS & b = blocks[i];
        const float         d = load_half(&b.d);
        uint16_t            scales_h;
        std::memcpy(&scales_h, &b.scales_h, sizeof(scales_h));
        float dl[kQK_K / 32];
        {
            // ls_ib = nibble ib % 2 of scales_l[ib / 2] | bits 2ib..2ib+1 of scales_h << 4, offset 32.
            // Spread the low nibbles to one byte per group, then OR in the high pairs.
            const uint32_t l  = load_u32(b.scales_l);
            uint64_t       ls = 0;
            for (int ib = 0; ib < kQK_K / 32; ++ib) {
                const uint32_t v = ((l >> (4 * ib)) & 0xF) | ((uint32_t(scales_h) >> (2 * ib)) & 3) << 4;
                ls |= uint64_t(v) << (8 * ib);
            }
            scale8(ls, 32, d, dl);
        }
        for (int k = 0; k < kQK_K / 64; ++k) {
            const __m256i raw = loadu256(b.qs + 32 * k);
            const __m256i lo  = _mm256_shuffle_epi8(book, _mm256_and_si256(raw, m4));
            const __m256i hi  = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
            const __m256  d0  = _mm256_set1_ps(dl[2 * k]);
            const __m256  d1  = _mm256_set1_ps(dl[2 * k + 1]);
            float *       out = y + 64 * k;
            store16_mul(out, lane0(lo), d0);
            store16_mul(out + 16, lane0(hi), d0);
            store16_mul(out + 32, lane1(lo), d1);
            store16_mul(out + 48, lane1(hi), d1);
        }
    }
}

}  // namespace nibble::cpu
